// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm's bounded cache on 2 nodes: node2 homes and fills a run, node1
 * reads it.
 *
 *   count_follows_copies   no budget: node1's cached_pages grows by one per
 *                          page it reads, and falls back when node2's
 *                          writes invalidate the copies.
 *   read_four_times_budget node1 sets a 4 MiB budget (tinydsmctl region
 *                          set cache) and reads a 16 MiB run twice (on a
 *                          debug kernel 12 MiB once), every word checked; cached_pages, sampled as it goes,
 *                          stays under the hard watermark, read copies are
 *                          evicted in batches (evict_batch_pages /
 *                          evict_batches > 1). Then node2 writes every page
 *                          again and node1 must read the new words: a
 *                          node's notice never takes it out of a copyset
 *                          while it holds a copy, so no stale read.
 *   write_four_times_budget node1 sets a 4 MiB budget and writes every word
 *                          of a 16 MiB run homed on node2, then reads and
 *                          checks it, twice (other words each pass; on a
 *                          debug kernel 12 MiB once):
 *                          cached_pages stays under the hard watermark, so
 *                          pages node1 owns are written back
 *                          (evicted_written > 0, each released after). Then
 *                          node2 finds itself the owner of all but the pages
 *                          node1 still caches, and reads node1's last words
 *                          in every page: the write-backs landed.
 *
 * Every node of a 2-node lab run executes this binary (tdsm_cluster.h);
 * the tests skip on other node counts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tdsm_cluster.h"

#define PAIR		2
#define HOME		2	/* homes and writes the run */
#define READER		1	/* reads it, with a budget */
#define BUDGET_MB	4
/*
 * The run: 4 budgets, gone over twice; on a debug kernel (tc_debug_kernel)
 * 3 budgets once, still a budget more than the hard watermark lets stay.
 */
#define DATA_MB		(4 * BUDGET_MB)
#define DEBUG_DATA_MB	(3 * BUDGET_MB)
#define COUNT_PAGES	64
/* Stats are sampled every this many pages read. */
#define SAMPLE_PAGES	16
/* Reading 16 MiB three times, a fault a page, under TCG: be generous. */
#define READ_TIMEOUT_S	300

FIXTURE(cache) {
	struct tc_node n;
	struct tc_sync s;
	int ready;
	char setup_err[256];
	int budget_set;
	unsigned int data_mb;	/* the run's size */
	unsigned int passes;	/* how many times it is gone over */
};

/* tinydsmctl region set cache @mb M on this node: its exit status. */
static int set_budget(unsigned int mb)
{
	const char *tree = getenv("TDSM_TREE");

	return tc_shell("'%s/build/tools/tinydsmctl' region set cache %uM >&2",
			tree && *tree ? tree : ".", mb);
}

FIXTURE_SETUP(cache)
{
	tc_sync_init(&self->s, "cache", _metadata->name);
	self->data_mb = tc_debug_kernel() ? DEBUG_DATA_MB : DATA_MB;
	self->passes = tc_debug_kernel() ? 1 : 2;
	if (self->s.nodes != PAIR)
		return;
	TC_NODE_OPEN();
}

FIXTURE_TEARDOWN(cache)
{
	TC_MARK_FAILED();
	if (self->budget_set && set_budget(0))
		TH_LOG("could not set the cache budget back to unlimited");
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
 * node1 sets its budget to BUDGET_MB: its stats then in *@s0, the budget
 * in pages in *@budget, the hard watermark in *@hard.
 */
static void reader_budget(struct __test_metadata *_metadata,
			  FIXTURE_DATA(cache) *self, struct tinydsm_stats *s0,
			  uint64_t *budget, uint64_t *hard)
{
	ASSERT_EQ(0, set_budget(BUDGET_MB));
	self->budget_set = 1;
	ASSERT_EQ(0, tc_stats(&self->n, s0));
	*budget = s0->cache_budget_pages;
	ASSERT_EQ((uint64_t)(BUDGET_MB << 20) / self->n.psz, *budget);
	/* The hard watermark: budget + max(budget / 8, 1024 pages). */
	*hard = *budget + (*budget / 8 > 1024 ? *budget / 8 : 1024);
	EXPECT_GE(*hard, s0->cached_pages)
		TH_LOG("more cached before the test than it allows");
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
	if (self->n.slice_pages < npages)
		SKIP(return, "a slice of %lu pages, the run needs %lu",
		     self->n.slice_pages, npages);
	if (self->s.id == READER)
		reader_budget(_metadata, self, &s0, &budget, &hard);
	addr = tc_shared_run(_metadata, &self->n, &self->s, HOME, npages, 1,
			     self->s.timeout_s);
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
		EXPECT_LE(self->passes * (npages - hard),
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
	const size_t len = (size_t)self->data_mb << 20;
	const unsigned long npages = len / self->n.psz;
	uint64_t addr, budget = 0, hard = 0;
	struct tinydsm_stats s0, s1;
	struct tinydsm_page_info pi;
	unsigned long bad = 0, owned = 0, i;
	unsigned long long cached;
	char val[32];

	START();
	if (self->n.slice_pages < npages)
		SKIP(return, "a slice of %lu pages, the run needs %lu",
		     self->n.slice_pages, npages);
	if (self->s.id == READER)
		reader_budget(_metadata, self, &s0, &budget, &hard);
	addr = tc_shared_run(_metadata, &self->n, &self->s, HOME, npages, 1,
			     self->s.timeout_s);
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
		EXPECT_LE(self->passes * (npages - hard),
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

TEST_HARNESS_MAIN
