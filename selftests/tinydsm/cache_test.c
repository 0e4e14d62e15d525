// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm's bounded cache on 2 nodes: node2 homes and fills a run, node1
 * reads it.
 *
 *   count_follows_copies   no budget: node1's cached_pages grows by one per
 *                          page it reads, and falls back when node2's
 *                          writes invalidate the copies.
 *   read_four_times_budget node1 sets a 4 MiB budget (tinydsmctl region
 *                          set cache) and reads a 16 MiB run twice, every
 *                          word checked; cached_pages, sampled as it goes,
 *                          stays under the hard watermark, read copies are
 *                          evicted in batches (evict_batch_pages /
 *                          evict_batches > 1). Then node2 writes every page
 *                          again and node1 must read the new words: a
 *                          node's notice never takes it out of a copyset
 *                          while it holds a copy, so no stale read.
 *   write_four_times_budget node1 sets a 4 MiB budget and writes every word
 *                          of a 16 MiB run homed on node2, then reads and
 *                          checks it, twice (other words each pass):
 *                          cached_pages stays under the hard watermark, so
 *                          pages node1 owns are written back
 *                          (evicted_written > 0, each released after). Then
 *                          node2 finds itself the owner of all but the pages
 *                          node1 still caches, and reads node1's last words
 *                          in every page: the write-backs landed.
 *   trace_events           node1 enables tinydsm_evict and tinydsm_reclaim
 *                          in a tracefs instance of its own, sets a 1 MiB
 *                          budget, reads then writes a 2 MiB run: every
 *                          batch names node2 as its home, at most 64
 *                          pages, none failed; the batches, their clean
 *                          and dirty pages and the frames released add up
 *                          to what STATS counted, and the reclaim runs and
 *                          their time too; the runs freed what the batches
 *                          did. node2 then reads node1's words.
 *   hot_set                node1 sets a 4 MiB budget, reads a hot set of
 *                          1 MiB homed on node2 through its mapping, then
 *                          streams 16 MiB homed on node2, reading the hot
 *                          set again after every MiB: once the stream went
 *                          two budgets past, at most 5% of those hot reads
 *                          fault (the clock sees them in the PTEs' accessed
 *                          bits: they do not fault, so nothing else tells
 *                          it), at the end at least 95% of the hot pages
 *                          still have a copy on node1, every word is right,
 *                          clock_young grew by a hot set at least.
 *
 * On a debug kernel (KASAN, lockdep, kmemleak: many times slower under
 * TCG) the budget is 1 MiB, the runs and the stream 3 MiB, gone over once
 * (write_four_times_budget's run 2 MiB), the hot set 256 KiB, and
 * trace_events' run 1.5 MiB: every path runs, every assertion is kept,
 * and the counts asked for are scaled to the smaller run
 * (tc_least_evicted()).
 *
 * Every node of a 2-node lab run executes this binary (tdsm_cluster.h);
 * the tests skip on other node counts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tdsm_cluster.h"

#define PAIR		2
#define HOME		2	/* homes and writes the run */
#define READER		1	/* reads it, with a budget */
/*
 * The budget, and the run: 4 budgets, gone over twice. On a debug kernel
 * (tc_debug_kernel) the least budget and a run of 3 of them, once: under
 * the hard watermark (its floor is 1024 pages), so tc_least_evicted() then
 * asks for one eviction, not a run's worth.
 */
#define BUDGET_MB	4
#define DEBUG_BUDGET_MB	1
#define RUN_BUDGETS	4
#define DEBUG_RUN_BUDGETS 3
/*
 * write_four_times_budget's run on a debug kernel: 2 budgets (512 pages),
 * a budget past the budget. Written, then read back, every page node1
 * owns is written back to node2 (the lab's runs at 3 budgets: 768 of
 * 768), where tc_least_evicted() asks for one under the hard watermark,
 * and node2's checks are the same: 3 did the same write-back 256 times
 * more. At 3 it took 44 s there (a page written and read back, about
 * 57 ms), about 15 s more.
 */
#define DEBUG_WRITE_BUDGETS 2
#define COUNT_PAGES	64
/* Stats are sampled every this many pages read. */
#define SAMPLE_PAGES	16
/* Reading 16 MiB three times, a fault a page, under TCG: be generous. */
#define READ_TIMEOUT_S	300
/*
 * trace_events: a budget of 1 MiB (the least), a run of twice that. On a
 * debug kernel one and a half times that (384 pages): read, it goes a
 * half budget past it (clean copies evicted); written, every page of it
 * is node1's and it is 128 pages past (dirty ones written back), which
 * is all the checks need; at 512 pages it took 40 s there (a remote page
 * about 26 ms each time the run is gone over), now about 10 s less.
 */
#define TRACE_BUDGET_MB	1
#define TRACE_PAGES	512
#define TRACE_PAGES_DEBUG 384
#define TRACEFS		"/sys/kernel/tracing"
#define TRACEFS_MAGIC	0x74726163
/* node1's own buffer and events, apart from any other tracer's. */
#define TRACE_INSTANCE	TRACEFS "/instances/tinydsm_cache_test"

FIXTURE(cache) {
	struct tc_node n;
	struct tc_sync s;
	int ready;
	char setup_err[256];
	int budget_set;
	unsigned int budget_mb;	/* node1's budget */
	unsigned int data_mb;	/* the run's size */
	unsigned int passes;	/* how many times it is gone over */
	int trace_made;		/* TRACE_INSTANCE made: remove it */
};

FIXTURE_SETUP(cache)
{
	tc_sync_init(&self->s, "cache", _metadata->name);
	self->budget_mb = tc_debug_kernel() ? DEBUG_BUDGET_MB : BUDGET_MB;
	self->data_mb = self->budget_mb *
			(tc_debug_kernel() ? DEBUG_RUN_BUDGETS : RUN_BUDGETS);
	self->passes = tc_debug_kernel() ? 1 : 2;
	if (self->s.nodes != PAIR)
		return;
	TC_NODE_OPEN();
}

FIXTURE_TEARDOWN(cache)
{
	TC_MARK_FAILED();
	if (self->budget_set && tc_cache_budget_set(0))
		TH_LOG("could not set the cache budget back to unlimited");
	if (self->trace_made && rmdir(TRACE_INSTANCE))
		TH_LOG("could not remove %s: %s", TRACE_INSTANCE, strerror(errno));
	if (self->ready)
		tc_node_close(&self->n);
}

#define START() TC_START(PAIR)
#define BARRIER(step, secs) TC_BARRIER(step, secs)

TEST_F_TIMEOUT(cache, count_follows_copies, 300)
{
	size_t len = (size_t)COUNT_PAGES * self->n.psz;
	struct tinydsm_stats s0, s1;
	uint64_t addr;

	START();
	addr = tc_shared_run(_metadata, &self->n, &self->s, HOME, COUNT_PAGES,
			     1, self->s.timeout_s);
	if (self->s.id == READER) {
		ASSERT_EQ(0, tc_stats(&self->n, &s0));
		EXPECT_EQ(0u, s0.cache_budget_pages) TH_LOG("a budget is set");
		EXPECT_EQ(0ul, tc_check_mem(_metadata, addr, len, 1, "read"));
		ASSERT_EQ(0, tc_stats(&self->n, &s1));
		EXPECT_EQ(s0.cached_pages + COUNT_PAGES, s1.cached_pages)
			TH_LOG("read %u pages homed on node%u", COUNT_PAGES, HOME);
		EXPECT_EQ(s0.evicted_clean, s1.evicted_clean)
			TH_LOG("evictions without a budget");
	}
	BARRIER("read", self->s.timeout_s);
	if (self->s.id == HOME)
		tc_fill(addr, len, 2);	/* invalidates node1's copies */
	BARRIER("written", self->s.timeout_s);
	if (self->s.id == READER) {
		ASSERT_EQ(0, tc_stats(&self->n, &s1));
		EXPECT_EQ(s0.cached_pages, s1.cached_pages)
			TH_LOG("node%u's writes took every copy", HOME);
		EXPECT_EQ(0ul, tc_check_mem(_metadata, addr, len, 2, "read again"));
	}
	BARRIER("checked", self->s.timeout_s);
	if (self->s.id == HOME)
		EXPECT_EQ(0, tc_free(&self->n, addr, COUNT_PAGES)) TH_LOG("FREE: %s",
									 strerror(errno));
}

/*
 * node1 sets its budget (budget_mb): its stats then in *@s0, the budget
 * in pages in *@budget, the hard watermark in *@hard.
 */
static void reader_budget(struct __test_metadata *_metadata,
			  FIXTURE_DATA(cache) *self, struct tinydsm_stats *s0,
			  uint64_t *budget, uint64_t *hard)
{
	ASSERT_EQ(0, tc_cache_budget_set(self->budget_mb));
	self->budget_set = 1;
	ASSERT_EQ(0, tc_stats(&self->n, s0));
	*budget = s0->cache_budget_pages;
	ASSERT_EQ(((uint64_t)self->budget_mb << 20) / self->n.psz, *budget);
	*hard = tc_cache_hard(*budget);
	EXPECT_GE(*hard, s0->cached_pages)
		TH_LOG("more cached before the test than it allows");
}

/*
 * After START(): node1 sets its budget (reader_budget()), node2 homes a
 * run of @npages filled in round 1 (tc_shared_run()). Returns the run's
 * address, or 0 if a slice is too small for it (then nothing was done).
 */
static uint64_t budget_run(struct __test_metadata *_metadata,
			   FIXTURE_DATA(cache) *self, unsigned long npages,
			   struct tinydsm_stats *s0, uint64_t *budget,
			   uint64_t *hard)
{
	if (self->n.slice_pages < npages)
		return 0;
	if (self->s.id == READER)
		reader_budget(_metadata, self, s0, budget, hard);
	return tc_shared_run(_metadata, &self->n, &self->s, HOME, npages, 1,
			     self->s.timeout_s);
}

/*
 * Go over [addr, addr + len) page by page in @round: read and check each
 * page, or (@write) write each, then read all of it back and check it;
 * pages with a wrong word into *@bad. Returns the most cached_pages seen
 * (sampled every SAMPLE_PAGES pages), or UINT64_MAX if STATS failed.
 */
static uint64_t pass_sampled(struct __test_metadata *_metadata,
			     const struct tc_node *n, uint64_t addr,
			     size_t len, unsigned int round, bool write,
			     unsigned long *bad)
{
	struct tinydsm_stats st;
	uint64_t max = 0;
	size_t off;
	char what[32];

	snprintf(what, sizeof(what), "%s, round %u",
		 write ? "written" : "read", round);
	for (off = 0; off < len; off += n->psz) {
		if (write)
			tc_fill(addr + off, n->psz, round);
		else
			*bad += tc_check_mem(_metadata, addr + off, n->psz,
					     round, what);
		if ((off / n->psz) % SAMPLE_PAGES)
			continue;
		if (tc_stats(n, &st))
			return UINT64_MAX;
		if (st.cached_pages > max)
			max = st.cached_pages;
	}
	if (write)
		*bad += tc_check_mem(_metadata, addr, len, round, what);
	return max;
}

/*
 * pass_sampled() @passes times, in @round every time or, @write, in
 * @round, @round + 1, ...: cached_pages stays under the hard watermark
 * @hard.
 */
static void passes_sampled(struct __test_metadata *_metadata,
			   const struct tc_node *n, uint64_t addr, size_t len,
			   unsigned int passes, unsigned int round, bool write,
			   uint64_t hard, unsigned long *bad)
{
	unsigned int pass;
	uint64_t max;

	for (pass = 0; pass < passes; pass++) {
		max = pass_sampled(_metadata, n, addr, len,
				   round + (write ? pass : 0), write, bad);
		ASSERT_NE(UINT64_MAX, max) TH_LOG("STATS: %s", strerror(errno));
		EXPECT_GE(hard, max)
			TH_LOG("pass %u: %llu pages cached, the hard watermark is %llu",
			       pass, (unsigned long long)max,
			       (unsigned long long)hard);
	}
}

TEST_F_TIMEOUT(cache, read_four_times_budget, 2 * READ_TIMEOUT_S)
{
	const size_t len = (size_t)self->data_mb << 20;
	const unsigned long npages = len / self->n.psz;
	uint64_t addr, budget = 0, hard = 0, max;
	struct tinydsm_stats s0, s1;
	unsigned long bad = 0;

	START();
	addr = budget_run(_metadata, self, npages, &s0, &budget, &hard);
	if (!addr)
		SKIP(return, "a slice of %lu pages, the run needs %lu",
		     self->n.slice_pages, npages);
	if (self->s.id == READER) {
		passes_sampled(_metadata, &self->n, addr, len, self->passes, 1,
			       false, hard, &bad);
		EXPECT_EQ(0ul, bad) TH_LOG("pages read wrong");
		ASSERT_EQ(0, tc_stats(&self->n, &s1));
		TH_LOG("cached %llu, evicted %llu in %llu batches of %llu pages, %llu reclaim runs in %llu ms",
		       (unsigned long long)s1.cached_pages,
		       (unsigned long long)(s1.evicted_clean - s0.evicted_clean),
		       (unsigned long long)(s1.evict_batches - s0.evict_batches),
		       (unsigned long long)(s1.evict_batch_pages - s0.evict_batch_pages),
		       (unsigned long long)(s1.reclaim_runs - s0.reclaim_runs),
		       (unsigned long long)(s1.reclaim_ns - s0.reclaim_ns) / 1000000);
		EXPECT_GE(hard, s1.cached_pages);
		/*
		 * Every pass installs the run: each evicts all of it less
		 * the up to a hard watermark's worth that could stay cached.
		 */
		EXPECT_LE(tc_least_evicted(self->passes, npages, hard),
			  s1.evicted_clean - s0.evicted_clean)
			TH_LOG("a budget of %llu pages", (unsigned long long)budget);
		EXPECT_LT(s1.evict_batches - s0.evict_batches,
			  s1.evict_batch_pages - s0.evict_batch_pages)
			TH_LOG("a notice per page: no batching");
		EXPECT_LT(s0.reclaim_runs, s1.reclaim_runs);
		/*
		 * No check of evicted_written: this run is only read, but
		 * pages node1 still owns from earlier tests are written back
		 * under the budget too, as they should be.
		 */
	}
	BARRIER("read", READ_TIMEOUT_S);
	/* node2 writes every page: INVALs to every copy its copysets name. */
	if (self->s.id == HOME)
		tc_fill(addr, len, 2);
	BARRIER("written", READ_TIMEOUT_S);
	if (self->s.id == READER) {
		bad = 0;
		max = pass_sampled(_metadata, &self->n, addr, len, 2, false, &bad);
		EXPECT_EQ(0ul, bad) TH_LOG("stale reads after node%u's writes", HOME);
		EXPECT_GE(hard, max);
	}
	BARRIER("checked", READ_TIMEOUT_S);
	if (self->s.id == HOME)
		EXPECT_EQ(0, tc_free(&self->n, addr, npages)) TH_LOG("FREE: %s",
								   strerror(errno));
}

/*
 * The write-back (PROTOCOL.md "Eviction: the bounded cache", E2-E4): pages
 * node1 owns go back to node2 when the clock picks them, and node2's
 * directory and data show it.
 */
TEST_F_TIMEOUT(cache, write_four_times_budget, 3 * READ_TIMEOUT_S)
{
	const size_t len = (size_t)(tc_debug_kernel() ?
				    self->budget_mb * DEBUG_WRITE_BUDGETS :
				    self->data_mb) << 20;
	const unsigned long npages = len / self->n.psz;
	uint64_t addr, budget = 0, hard = 0;
	struct tinydsm_stats s0, s1;
	struct tinydsm_page_info pi;
	unsigned long bad = 0, owned = 0, i;
	unsigned long long cached;
	char val[32];

	START();
	addr = budget_run(_metadata, self, npages, &s0, &budget, &hard);
	if (!addr)
		SKIP(return, "a slice of %lu pages, the run needs %lu",
		     self->n.slice_pages, npages);
	if (self->s.id == READER) {
		/* Rounds 3 on: node2's round 1 is in no page any more. */
		passes_sampled(_metadata, &self->n, addr, len, self->passes, 3,
			       true, hard, &bad);
		EXPECT_EQ(0ul, bad) TH_LOG("pages read back wrong on node%u", READER);
		ASSERT_EQ(0, tc_stats(&self->n, &s1));
		TH_LOG("cached %llu; written back %llu, released %llu, failed %llu, clean %llu; %llu batches of %llu pages",
		       (unsigned long long)s1.cached_pages,
		       (unsigned long long)(s1.evicted_written - s0.evicted_written),
		       (unsigned long long)(s1.evict_released - s0.evict_released),
		       (unsigned long long)(s1.evict_failed - s0.evict_failed),
		       (unsigned long long)(s1.evicted_clean - s0.evicted_clean),
		       (unsigned long long)(s1.evict_batches - s0.evict_batches),
		       (unsigned long long)(s1.evict_batch_pages - s0.evict_batch_pages));
		EXPECT_GE(hard, s1.cached_pages);
		EXPECT_LT(s0.evicted_written, s1.evicted_written)
			TH_LOG("no page written back");
		/* Every pass over the run, less what may stay cached. */
		EXPECT_LE(tc_least_evicted(self->passes, npages, hard),
			  s1.evicted_written - s0.evicted_written)
			TH_LOG("a budget of %llu pages", (unsigned long long)budget);
		/* Every page the home took, it released: the frame went. */
		EXPECT_LE(s1.evicted_written - s0.evicted_written,
			  s1.evict_released - s0.evict_released);
		snprintf(val, sizeof(val), "%llu", (unsigned long long)s1.cached_pages);
		ASSERT_EQ(0, tc_put(&self->s, "cached", val));
	}
	BARRIER("written", 2 * READ_TIMEOUT_S);
	if (self->s.id == HOME) {
		ASSERT_EQ(0, tc_get(&self->s, "cached", val, sizeof(val)));
		cached = strtoull(val, NULL, 0);
		/*
		 * Pages node1 does not cache any more came back to node2: a
		 * page node1 owns has a frame there, which it counts.
		 */
		for (i = 0; i < npages; i++) {
			ASSERT_EQ(0, tc_page_info(&self->n,
						  (void *)(uintptr_t)(addr + i * self->n.psz),
						  &pi));
			owned += pi.owner == HOME;
		}
		TH_LOG("node%u owns %lu of %lu pages, node%u caches %llu", HOME,
		       owned, npages, READER, (unsigned long long)cached);
		EXPECT_LE(cached < npages ? npages - cached : 0, owned)
			TH_LOG("pages node%u gave up are not node%u's", READER, HOME);
		EXPECT_EQ(0ul, tc_check_mem(_metadata, addr, len,
					    3 + self->passes - 1,
					    "node2 reads node1's last round"));
	}
	BARRIER("checked", READ_TIMEOUT_S);
	if (self->s.id == HOME)
		EXPECT_EQ(0, tc_free(&self->n, addr, npages)) TH_LOG("FREE: %s",
								   strerror(errno));
}

/* ---- trace_events: the cache's tracepoints ---- */

/* Write @val to the tracefs file @dir/@name: 0, or -1 and errno. */
static int trace_write(const char *dir, const char *name, const char *val)
{
	char path[256];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	return close(fd) || !ok ? -1 : 0;
}

/*
 * A tracefs instance of this test's own (TRACE_INSTANCE, mounting tracefs
 * first if nothing is mounted there, as on the lab's guests), with only
 * tinydsm_evict and tinydsm_reclaim enabled: 0, or -1 with @why set.
 */
static int trace_start(char *why, size_t len)
{
	struct statfs sf;

	if (statfs(TRACEFS, &sf) ||
	    ((unsigned long)sf.f_type != TRACEFS_MAGIC &&
	     mount("nodev", TRACEFS, "tracefs", 0, NULL))) {
		snprintf(why, len, "tracefs on %s: %s", TRACEFS, strerror(errno));
		return -1;
	}
	/* Left by a run that was killed: its events are not this run's. */
	rmdir(TRACE_INSTANCE);
	if (mkdir(TRACE_INSTANCE, 0755)) {
		snprintf(why, len, "mkdir %s: %s", TRACE_INSTANCE, strerror(errno));
		return -1;
	}
	if (trace_write(TRACE_INSTANCE, "events/tinydsm/tinydsm_evict/enable", "1") ||
	    trace_write(TRACE_INSTANCE, "events/tinydsm/tinydsm_reclaim/enable", "1")) {
		snprintf(why, len, "enabling the tinydsm_evict and tinydsm_reclaim events: %s",
			 strerror(errno));
		return -2;
	}
	return 0;
}

/* What the instance's buffer holds (malloc'd, NUL-terminated), or NULL. */
static char *trace_read(void)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap), *nb;
	ssize_t n;
	int fd = open(TRACE_INSTANCE "/trace", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	for (;;) {
		if (cap - len < 4096) {
			nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

/* The sums of the events of one trace. */
struct trace_sums {
	uint64_t batches, clean, dirty, done, released;
	uint64_t runs, run_ns, run_freed;
	unsigned long bad;	/* events with implausible fields */
};

/*
 * A tinydsm_evict record (@ev, from its name on, as TP_printk of
 * kmod/trace.h prints it) added to @t: true if plausible: home node2, no
 * error, a batch of 1 to 64 pages from a 64-page boundary of the region,
 * the home took and released no more than it was sent.
 */
static bool trace_evict(const char *ev, unsigned long npages,
			struct trace_sums *t)
{
	unsigned int home, clean, dirty, done, released;
	unsigned long long first, ns;
	int err;

	if (sscanf(ev, "tinydsm_evict: home=%u first=%llu clean=%u dirty=%u done=%u released=%u err=%d ns=%llu",
		   &home, &first, &clean, &dirty, &done, &released, &err,
		   &ns) != 8 ||
	    home != HOME || err || !(clean + dirty) || clean + dirty > 64 ||
	    first % 64 || first >= npages || done > clean + dirty ||
	    released > dirty || !ns)
		return false;
	t->batches++;
	t->clean += clean;
	t->dirty += dirty;
	t->done += done;
	t->released += released;
	return true;
}

/* A tinydsm_reclaim record: for the budget, freed no more than scanned. */
static bool trace_reclaim(const char *ev, struct trace_sums *t)
{
	unsigned long long ns, scanned, freed;
	char reason[16];

	if (sscanf(ev, "tinydsm_reclaim: reason=%15s scanned=%llu freed=%llu ns=%llu",
		   reason, &scanned, &freed, &ns) != 4 ||
	    strcmp(reason, "budget") || freed > scanned || !ns)
		return false;
	t->runs++;
	t->run_ns += ns;
	t->run_freed += freed;
	return true;
}

/* Add up the tinydsm_evict and tinydsm_reclaim lines of @buf. */
static void trace_sum(struct __test_metadata *_metadata, const struct tc_node *n,
		      char *buf, struct trace_sums *t)
{
	char *line, *save = NULL, *ev;
	bool ok;

	memset(t, 0, sizeof(*t));
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if ((ev = strstr(line, " tinydsm_evict: ")))
			ok = trace_evict(ev + 1, n->npages, t);
		else if ((ev = strstr(line, " tinydsm_reclaim: ")))
			ok = trace_reclaim(ev + 1, t);
		else
			continue;
		if (!ok && !t->bad++)
			TH_LOG("implausible: %s", line);
	}
}

/*
 * The tracepoints of the bounded cache (kmod/trace.h), seen through
 * tracefs at node1 around a run of twice its budget (one and a half on a
 * debug kernel, TRACE_PAGES_DEBUG), read then written:
 * each event plausible, and all of them together what STATS counted.
 */
TEST_F_TIMEOUT(cache, trace_events, 2 * READ_TIMEOUT_S)
{
	const unsigned long npages = tc_debug_kernel() ? TRACE_PAGES_DEBUG :
							 TRACE_PAGES;
	const size_t len = (size_t)npages * self->n.psz;
	struct tinydsm_stats s0, s1;
	unsigned long written = 0, inbuf = 0;
	struct trace_sums t;
	char why[256], *buf, *hdr;
	uint64_t addr;
	int ret;

	START();
	addr = tc_shared_run(_metadata, &self->n, &self->s, HOME, npages,
			     1, self->s.timeout_s);
	if (self->s.id == READER) {
		ret = trace_start(why, sizeof(why));
		self->trace_made = ret != -1;
		ASSERT_EQ(0, ret) TH_LOG("%s", why);
		ASSERT_EQ(0, tc_cache_budget_set(TRACE_BUDGET_MB));
		self->budget_set = 1;
		/* What happened before is not this test's: from here on. */
		ASSERT_EQ(0, tc_cache_settle(&self->n, &s0, 60))
			TH_LOG("the reclaim work did not settle");
		ASSERT_EQ(0, trace_write(TRACE_INSTANCE, "trace", ""))
			TH_LOG("clearing the trace: %s", strerror(errno));
		ASSERT_EQ(0, tc_stats(&self->n, &s0));

		EXPECT_EQ(0ul, tc_check_mem(_metadata, addr, len, 1, "read"));
		tc_fill(addr, len, 2);
		EXPECT_EQ(0ul, tc_check_mem(_metadata, addr, len, 2, "written"));

		ASSERT_EQ(0, tc_cache_settle(&self->n, &s1, 120))
			TH_LOG("the reclaim work did not settle");
		ASSERT_EQ(0, trace_write(TRACE_INSTANCE, "tracing_on", "0"));
		ASSERT_EQ(0, tc_stats(&self->n, &s1));
		buf = trace_read();
		ASSERT_NE(NULL, buf) TH_LOG("reading %s/trace: %s",
					    TRACE_INSTANCE, strerror(errno));
		/* Nothing lost: the buffer holds every event written. */
		hdr = strstr(buf, "entries-in-buffer/entries-written: ");
		EXPECT_TRUE(hdr && sscanf(hdr, "entries-in-buffer/entries-written: %lu/%lu",
					  &inbuf, &written) == 2);
		EXPECT_EQ(written, inbuf) TH_LOG("events overwritten");
		trace_sum(_metadata, &self->n, buf, &t);
		free(buf);
		TH_LOG("%llu batches: %llu clean, %llu dirty, %llu done, %llu released; %llu reclaim runs freed %llu in %llu ms",
		       (unsigned long long)t.batches, (unsigned long long)t.clean,
		       (unsigned long long)t.dirty, (unsigned long long)t.done,
		       (unsigned long long)t.released, (unsigned long long)t.runs,
		       (unsigned long long)t.run_freed,
		       (unsigned long long)t.run_ns / 1000000);
		EXPECT_EQ(0ul, t.bad) TH_LOG("implausible events");
		/* Past the budget read, then written: both kinds evicted. */
		EXPECT_LT(0ull, (unsigned long long)t.clean);
		EXPECT_LT(0ull, (unsigned long long)t.dirty);
		/* One event per EVICTV sent, naming the pages it named. */
		EXPECT_EQ(s1.evict_batches - s0.evict_batches, t.batches);
		EXPECT_EQ(s1.evict_batch_pages - s0.evict_batch_pages,
			  t.clean + t.dirty);
		EXPECT_EQ(s1.evicted_clean - s0.evicted_clean, t.clean);
		EXPECT_EQ(s1.evict_released - s0.evict_released, t.released);
		EXPECT_LE(s1.evicted_written - s0.evicted_written, t.done);
		/* One per run of the reclaim work, its time as counted. */
		EXPECT_LT(0ull, (unsigned long long)t.runs);
		EXPECT_EQ(s1.reclaim_runs - s0.reclaim_runs, t.runs);
		EXPECT_EQ(s1.reclaim_ns - s0.reclaim_ns, t.run_ns);
		/* Only the reclaim work evicts: its runs freed what went. */
		EXPECT_EQ(t.clean + t.released, t.run_freed);
	}
	BARRIER("written", READ_TIMEOUT_S);
	if (self->s.id == HOME) {
		EXPECT_EQ(0ul, tc_check_mem(_metadata, addr, len, 2,
					    "node2 reads node1's words"));
		EXPECT_EQ(0, tc_free(&self->n, addr, npages)) TH_LOG("FREE: %s",
								     strerror(errno));
	}
}

/* ---- hot_set: the clock sees pages used without faults ---- */

/*
 * The hot set: a quarter of the budget; the stream after it: the run
 * (budget_mb, data_mb). The hot set is read again after every quarter
 * budget of the stream.
 */
#define HOT_BUDGET_DIV	4
/* Of the hot set, at least this share (%) stays, and no more faults. */
#define HOT_KEEP_PCT	95
/* Pages tlb_turnover() maps and unmaps: above the flush ceiling (33). */
#define TLB_SCRATCH_PAGES 64

/*
 * Turn this process's TLB over, as the longer runs between two uses of a
 * hot page in a real program would: map, touch and unmap
 * TLB_SCRATCH_PAGES anonymous pages. An unmap of more pages than the
 * kernel's single-page flush ceiling (x86's tlb_single_page_flush_ceiling,
 * 33) flushes the whole address space's TLB, on every CPU that runs it.
 * Why: the clock clears the accessed bits without a TLB flush (rule E10),
 * so a CPU that still caches a hot page's entry would not set the bit
 * again on the next read, and in this short test it may well still cache
 * all of them. 0, or -1.
 */
static int tlb_turnover(long psz)
{
	size_t len = (size_t)TLB_SCRATCH_PAGES * psz, off;
	volatile uint8_t *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	for (off = 0; off < len; off += psz)
		p[off] = 1;
	return munmap((void *)p, len);
}

/*
 * Read and check the hot set at @hot (the TLB turned over first): the
 * read faults that took, into *@faults; pages with a wrong word into
 * *@bad.
 */
static void hot_read(struct __test_metadata *_metadata,
		     const struct tc_node *n, uint64_t hot,
		     unsigned long hot_pages, uint64_t *faults,
		     unsigned long *bad)
{
	struct tinydsm_stats a, b;

	ASSERT_EQ(0, tlb_turnover(n->psz)) TH_LOG("scratch mapping: %s",
						  strerror(errno));
	ASSERT_EQ(0, tc_stats(n, &a));
	*bad += tc_check_mem(_metadata, hot, (size_t)hot_pages * n->psz, 1,
			     "hot set");
	ASSERT_EQ(0, tc_stats(n, &b));
	*faults += b.read_faults - a.read_faults;
}

/*
 * Rule E10 (PROTOCOL.md "Eviction: the bounded cache"): a page read
 * through the mapping without faulting is used, and the clock keeps it.
 * Without the accessed bits, a hot page mapped since its last fault loses
 * TDSM_PG_REFERENCED at the clock's first pass and goes at its second,
 * so its next read faults: about a fifth of the hot reads would fault
 * here (a model of the clock: 20 to 22%; with the bits, none). The reads before the stream went two budgets
 * past are not counted: when the count first crosses the budget every
 * page is referenced, and one run of the clock may then pass the hot set
 * twice (its first turn frees nothing).
 */
TEST_F_TIMEOUT(cache, hot_set, 2 * READ_TIMEOUT_S)
{
	const size_t psz = self->n.psz;
	const unsigned long hot_pages =
		((unsigned long)self->budget_mb << 20) / psz / HOT_BUDGET_DIV;
	const unsigned long stream = ((unsigned long)self->data_mb << 20) / psz;
	const unsigned long npages = hot_pages + stream;
	uint64_t addr, hot, cold, budget = 0, hard = 0, faults = 0, early = 0;
	unsigned long bad = 0, off, seg, reads = 0, kept = 0, i;
	struct tinydsm_stats s0, s1;
	struct tinydsm_page_info pi;

	START();
	addr = budget_run(_metadata, self, npages, &s0, &budget, &hard);
	if (!addr)
		SKIP(return, "a slice of %lu pages, the run needs %lu",
		     self->n.slice_pages, npages);
	if (self->s.id == READER) {
		hot = addr;
		cold = addr + hot_pages * psz;
		/* The first read faults every hot page in: not counted. */
		bad += tc_check_mem(_metadata, hot, hot_pages * psz, 1,
				    "hot set, first read");
		for (off = 0; off < stream; off += seg) {
			seg = stream - off < hot_pages ?
			      stream - off : hot_pages;
			bad += tc_check_mem(_metadata, cold + off * psz,
					    seg * psz, 1, "stream");
			if (off + seg >= stream)
				break;	/* the end: the check below first */
			if (off + seg < 2 * budget) {
				hot_read(_metadata, &self->n, hot, hot_pages,
					 &early, &bad);
				continue;
			}
			hot_read(_metadata, &self->n, hot, hot_pages,
				 &faults, &bad);
			reads++;
		}
		/* Right after the stream: the hot set still has its copies. */
		for (i = 0; i < hot_pages; i++) {
			ASSERT_EQ(0, tc_page_info(&self->n,
						  (void *)(uintptr_t)(hot + i * psz),
						  &pi));
			kept += pi.state != TINYDSM_PAGE_INVALID;
		}
		hot_read(_metadata, &self->n, hot, hot_pages, &faults, &bad);
		reads++;
		ASSERT_EQ(0, tc_stats(&self->n, &s1));
		TH_LOG("hot set: %lu of %lu pages kept, %llu faults in %lu reads (%llu before); clock_young +%llu, evicted %llu, cached %llu",
		       kept, hot_pages, (unsigned long long)faults, reads,
		       (unsigned long long)early,
		       (unsigned long long)(s1.clock_young - s0.clock_young),
		       (unsigned long long)(s1.evicted_clean - s0.evicted_clean),
		       (unsigned long long)s1.cached_pages);
		EXPECT_EQ(0ul, bad) TH_LOG("pages read wrong");
		/* The stream went past the budget: the clock had to choose. */
		EXPECT_LE(tc_least_evicted(1, stream, hard),
			  s1.evicted_clean - s0.evicted_clean);
		EXPECT_GE(kept * 100, (uint64_t)hot_pages * HOT_KEEP_PCT)
			TH_LOG("hot pages evicted");
		EXPECT_LE(faults * 100,
			  (uint64_t)reads * hot_pages * (100 - HOT_KEEP_PCT))
			TH_LOG("hot pages read through the mapping faulted again");
		EXPECT_LE(s0.clock_young + hot_pages, s1.clock_young)
			TH_LOG("the clock found no accessed bits");
	}
	BARRIER("read", READ_TIMEOUT_S);
	if (self->s.id == HOME)
		EXPECT_EQ(0, tc_free(&self->n, addr, npages)) TH_LOG("FREE: %s",
								   strerror(errno));
}

TEST_HARNESS_MAIN
