// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm's bounded cache on 3 nodes (suite cluster3): node1 works, with
 * a cache budget, on a data set four times that budget, homed half on
 * node2 and half on node3, and no write is lost to eviction and
 * write-back. cache_test.c has the 2-node tests of the same cache.
 *
 *   two_homes_four_times_budget
 *     1. node2 and node3 each ALLOC (home) half of the data set and fill
 *        it with round 1 words (tc_pat(): from the address and the
 *        round); node1 sets its budget (tinydsmctl region set cache).
 *     2. node1, pass 1: reads and checks every word of every page (round
 *        1), then writes every word of every page (round 2); pass 2:
 *        reads and checks round 2, writes round 3. Each phase takes a
 *        page of node2's half and then one of node3's, in turn, so that
 *        both homes' pages age alike. cached_pages, sampled every
 *        SAMPLE_PAGES pages, stays under the hard watermark throughout.
 *     3. After pass 1's reads, pages of each half have no copy left on
 *        node1 (PAGE_INFO): clean drops, from both homes. After pass 2's
 *        writes, pages of each half have none: node1 owned every page (it
 *        wrote it), so those went back to both homes. STATS agree:
 *        evicted_clean and evicted_written are at least what a data set
 *        past the hard watermark must cost (tc_least_evicted()).
 *     4. node2 and node3 then each go over their half: every page node1
 *        holds no copy of is theirs again (owner), and every word is
 *        node1's round 3: the write-backs landed, no write was lost.
 *
 * It fails if a write-back loses a write (a home's check, or node1's
 * reads of pass 2), if the budget is ignored (the cached_pages samples,
 * the copies left after a phase), or if one home's pages are never
 * evicted.
 *
 * Sizes: a budget of 4 MiB and a data set of 16 MiB (8 MiB a home), as in
 * cache_test. Knobs: TDSM_CACHE_TRIO_BUDGET_MB (default 4) and
 * TDSM_CACHE_TRIO_DATA_MB (default 4 budgets); the harness's time limit
 * grows with the data set (trio_timeout_s()). A home's half must fit its
 * slice (region_size_mb / home_nodes: 64 MiB with the module's defaults),
 * else the test skips. The full size, 64 MiB budget and 256 MiB data,
 * by hand (about 16 minutes under TCG; the harness then allows 50):
 *
 *   TDSM_CACHE_TRIO_BUDGET_MB=64 TDSM_CACHE_TRIO_DATA_MB=256 \
 *   TDSM_CLUSTER_TESTS="cluster_sync_test cache_trio_test" \
 *   selftests/lab/lab.sh --kver K --nodes 3 --timeout 3600 \
 *       --module-args region_size_mb=512 selftests/tinydsm/run_cluster_tests.sh
 *
 * On a debug kernel (tc_debug_kernel()) it skips unless a knob is set:
 * the 2-node cache_test runs the same eviction and write-back paths
 * there, and three nodes there do not fit make check's time.
 *
 * Every node of a 3-node lab run executes this binary (tdsm_cluster.h);
 * the test skips on other node counts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tdsm_cluster.h"

#define TRIO		3
#define WORKER		1	/* works on the data set, with a budget */
#define FIRST_HOME	2	/* homes the first half */
#define HOMES		2	/* node2 and node3 */
#define BUDGET_MB	4
#define DATA_BUDGETS	4	/* the data set's default size, in budgets */
/* Stats are sampled every this many pages. */
#define SAMPLE_PAGES	16
/*
 * The time limit: under TCG a remote fault takes about 2 ms. Per page of
 * the data set: 2 passes of a read fault, a write fault and a write-back,
 * then the home's check: about 15 ms. Three times that, and a minute for
 * the setup and the barriers: 16 MiB (4096 pages) get 244 s.
 */
#define MS_PER_PAGE	15
#define MARGIN		3
#define SETUP_S		60
/* What trio_timeout_s() gives without knobs (trio_set_timeout() sets it). */
#define DEFAULT_TIMEOUT_S 244

FIXTURE(cache_trio) {
	struct tc_node n;
	struct tc_sync s;
	int ready;
	char setup_err[256];
	int budget_set;
	int knob_set;		/* a TDSM_CACHE_TRIO_* knob is set */
	unsigned int budget_mb;	/* node1's budget */
	unsigned int data_mb;	/* the data set, both halves */
	unsigned int wait_s;	/* barriers that wait for node1's passes */
};

/* Is the knob @name set (not empty)? */
static bool trio_knob(const char *name)
{
	const char *v = getenv(name);

	return v && *v;
}

/* The knobs, or their defaults. */
static unsigned int trio_budget_mb(void)
{
	return tc_env_uint("TDSM_CACHE_TRIO_BUDGET_MB", BUDGET_MB);
}

static unsigned int trio_data_mb(void)
{
	return tc_env_uint("TDSM_CACHE_TRIO_DATA_MB",
			   trio_budget_mb() * DATA_BUDGETS);
}

/* The time the whole test may take, from the data set's size. */
static unsigned int trio_timeout_s(void)
{
	uint64_t pages = ((uint64_t)trio_data_mb() << 20) / sysconf(_SC_PAGESIZE);

	return (unsigned int)(MARGIN * MS_PER_PAGE * pages / 1000) + SETUP_S;
}

FIXTURE_SETUP(cache_trio)
{
	tc_sync_init(&self->s, "cache_trio", _metadata->name);
	self->knob_set = trio_knob("TDSM_CACHE_TRIO_BUDGET_MB") ||
			 trio_knob("TDSM_CACHE_TRIO_DATA_MB");
	self->budget_mb = trio_budget_mb();
	self->data_mb = trio_data_mb();
	self->wait_s = trio_timeout_s();
	if (self->s.nodes != TRIO)
		return;
	TC_NODE_OPEN();
}

FIXTURE_TEARDOWN(cache_trio)
{
	TC_MARK_FAILED();
	if (self->budget_set && tc_cache_budget_set(0))
		TH_LOG("could not set the cache budget back to unlimited");
	if (self->ready)
		tc_node_close(&self->n);
}

/* The data set: two halves of @half pages, at @base[0] (node2), @base[1]. */
struct trio_set {
	uint64_t base[HOMES];
	unsigned long half;
	long psz;
};

/* Page @i of the data set in the order node1 goes over it: homes in turn. */
static uint64_t trio_page(const struct trio_set *d, unsigned long i)
{
	return d->base[i % HOMES] + (uint64_t)(i / HOMES) * d->psz;
}

/*
 * Node1's phase over the whole data set in @round: read and check each
 * page, or (@write) write each; pages with a wrong word into *@bad.
 * Returns the most cached_pages seen (sampled every SAMPLE_PAGES pages),
 * or UINT64_MAX if STATS failed.
 */
static uint64_t trio_phase(struct __test_metadata *_metadata,
			   const struct tc_node *n, const struct trio_set *d,
			   unsigned int round, bool write, unsigned long *bad)
{
	struct tinydsm_stats st;
	uint64_t max = 0;
	unsigned long i;
	char what[48];

	snprintf(what, sizeof(what), "node1 reads round %u", round);
	for (i = 0; i < HOMES * d->half; i++) {
		if (write)
			tc_fill(trio_page(d, i), d->psz, round);
		else
			*bad += tc_check_mem(_metadata, trio_page(d, i), d->psz,
					     round, what);
		if (i % SAMPLE_PAGES)
			continue;
		if (tc_stats(n, &st))
			return UINT64_MAX;
		if (st.cached_pages > max)
			max = st.cached_pages;
	}
	return max;
}

/*
 * The pages of each half node1 holds no copy of (PAGE_INFO, at node1),
 * into @gone[0] (node2's half) and @gone[1]: 0, or -1 and errno.
 */
static int trio_gone(const struct tc_node *n, const struct trio_set *d,
		     unsigned long gone[HOMES])
{
	struct tinydsm_page_info pi;
	unsigned long i;
	unsigned int h;

	for (h = 0; h < HOMES; h++) {
		gone[h] = 0;
		for (i = 0; i < d->half; i++) {
			if (tc_page_info(n, (void *)(uintptr_t)(d->base[h] + i * d->psz),
					 &pi))
				return -1;
			gone[h] += pi.state == TINYDSM_PAGE_INVALID;
		}
	}
	return 0;
}

/*
 * A phase of node1's (trio_phase()): cached_pages stayed under @hard, no
 * wrong word; then the pages of each half without a copy into @gone.
 */
static void worker_phase(struct __test_metadata *_metadata,
			 const struct tc_node *n, const struct trio_set *d,
			 unsigned int round, bool write, uint64_t hard,
			 unsigned long gone[HOMES])
{
	unsigned long bad = 0;
	uint64_t max;

	max = trio_phase(_metadata, n, d, round, write, &bad);
	ASSERT_NE(UINT64_MAX, max) TH_LOG("STATS: %s", strerror(errno));
	EXPECT_EQ(0ul, bad) TH_LOG("round %u: pages read wrong", round);
	EXPECT_GE(hard, max)
		TH_LOG("%s round %u: %llu pages cached, the hard watermark is %llu",
		       write ? "writing" : "reading", round,
		       (unsigned long long)max, (unsigned long long)hard);
	ASSERT_EQ(0, trio_gone(n, d, gone)) TH_LOG("PAGE_INFO: %s",
						   strerror(errno));
	TH_LOG("%s round %u: at most %llu cached; no copy left of %lu pages of node2's half, %lu of node3's",
	       write ? "wrote" : "read", round, (unsigned long long)max,
	       gone[0], gone[1]);
	/* At most a hard watermark's worth of the data set stays. */
	if (HOMES * d->half > hard)
		EXPECT_LE(HOMES * d->half - hard, gone[0] + gone[1])
			TH_LOG("more of the data set cached than the budget allows");
	EXPECT_LT(0ul, gone[0]) TH_LOG("no page of node2's half evicted");
	EXPECT_LT(0ul, gone[1]) TH_LOG("no page of node3's half evicted");
}

TEST_F_TIMEOUT(cache_trio, two_homes_four_times_budget, DEFAULT_TIMEOUT_S)
{
	struct tinydsm_stats s0, s1;
	struct tinydsm_page_info pi;
	unsigned long gone[HOMES], owned = 0, i, held;
	unsigned long npages;
	struct trio_set d;
	uint64_t budget, hard;
	unsigned int h, me;
	char key[32], val[64], what[48];

	TC_START(TRIO);
	if (tc_debug_kernel() && !self->knob_set)
		SKIP(return, "the 2-node cache_test runs the same eviction and write-back paths on the debug kernel; three nodes there do not fit make check's time (set TDSM_CACHE_TRIO_BUDGET_MB or _DATA_MB to run it)");
	/* After TC_START: the node is open, its page size known. */
	npages = ((unsigned long)self->data_mb << 20) / self->n.psz;
	d = (struct trio_set){ .half = npages / HOMES, .psz = self->n.psz };
	budget = ((uint64_t)self->budget_mb << 20) / self->n.psz;
	hard = tc_cache_hard(budget);
	if (!self->budget_mb || d.half > self->n.slice_pages)
		SKIP(return, "a budget of %u MiB, a data set of %u MiB: a half of %lu pages, a slice holds %lu",
		     self->budget_mb, self->data_mb, d.half, self->n.slice_pages);
	if (npages <= hard)
		SKIP(return, "a data set of %lu pages stays under the hard watermark (%llu pages): nothing to evict",
		     npages, (unsigned long long)hard);

	/* 1. node2 and node3 home and fill a half each; node1 sets its budget. */
	me = self->s.id;
	if (me >= FIRST_HOME) {
		ASSERT_EQ(0, tc_alloc(&self->n, me, d.half, &d.base[me - FIRST_HOME]))
			TH_LOG("ALLOC %lu pages: %s", d.half, strerror(errno));
		tc_fill(d.base[me - FIRST_HOME], d.half * d.psz, 1);
		snprintf(key, sizeof(key), "half%u", me);
		snprintf(val, sizeof(val), "%#llx",
			 (unsigned long long)d.base[me - FIRST_HOME]);
		ASSERT_EQ(0, tc_put(&self->s, key, val));
	} else {
		ASSERT_EQ(0, tc_cache_budget_set(self->budget_mb));
		self->budget_set = 1;
		ASSERT_EQ(0, tc_stats(&self->n, &s0));
		ASSERT_EQ(budget, s0.cache_budget_pages);
		EXPECT_GE(hard, s0.cached_pages)
			TH_LOG("more cached before the test than it allows");
	}
	TC_BARRIER("filled", self->wait_s);
	for (h = 0; h < HOMES; h++) {
		snprintf(key, sizeof(key), "half%u", FIRST_HOME + h);
		ASSERT_EQ(0, tc_get(&self->s, key, val, sizeof(val)));
		d.base[h] = strtoull(val, NULL, 0);
		ASSERT_EQ(FIRST_HOME + h, tc_home_of(&self->n, d.base[h]));
	}

	/* 2, 3. node1's two passes: read, then write, each phase checked. */
	if (me == WORKER) {
		worker_phase(_metadata, &self->n, &d, 1, false, hard, gone);
		worker_phase(_metadata, &self->n, &d, 2, true, hard, gone);
		worker_phase(_metadata, &self->n, &d, 2, false, hard, gone);
		worker_phase(_metadata, &self->n, &d, 3, true, hard, gone);
		ASSERT_EQ(0, tc_stats(&self->n, &s1));
		TH_LOG("evicted %llu clean, %llu written back (%llu released, %llu failed), in %llu batches; %llu cached",
		       (unsigned long long)(s1.evicted_clean - s0.evicted_clean),
		       (unsigned long long)(s1.evicted_written - s0.evicted_written),
		       (unsigned long long)(s1.evict_released - s0.evict_released),
		       (unsigned long long)(s1.evict_failed - s0.evict_failed),
		       (unsigned long long)(s1.evict_batches - s0.evict_batches),
		       (unsigned long long)s1.cached_pages);
		/* Pass 1's reads: all the data set read, less a hard watermark kept. */
		EXPECT_LE(tc_least_evicted(1, npages, hard),
			  s1.evicted_clean - s0.evicted_clean);
		/* Each write phase owns every page, and keeps a watermark's worth. */
		EXPECT_LE(tc_least_evicted(2, npages, hard),
			  s1.evicted_written - s0.evicted_written);
		/* Every page a home took, it released: the frame went. */
		EXPECT_LE(s1.evicted_written - s0.evicted_written,
			  s1.evict_released - s0.evict_released);
		/*
		 * What node1 still holds, once its reclaim work is idle: a
		 * page it gave up in a write-back (INVALID) is then installed
		 * at its home, or the write-back failed (evict_failed).
		 */
		ASSERT_EQ(0, tc_cache_settle(&self->n, &s1, 120))
			TH_LOG("the reclaim work did not settle");
		ASSERT_EQ(0, trio_gone(&self->n, &d, gone)) TH_LOG("PAGE_INFO: %s",
								strerror(errno));
		for (h = 0; h < HOMES; h++) {
			snprintf(key, sizeof(key), "held%u", FIRST_HOME + h);
			snprintf(val, sizeof(val), "%lu", d.half - gone[h]);
			ASSERT_EQ(0, tc_put(&self->s, key, val));
		}
	}
	TC_BARRIER("passes", self->wait_s);

	/* 4. Each home: its pages node1 gave up are its own, with round 3. */
	if (me >= FIRST_HOME) {
		h = me - FIRST_HOME;
		snprintf(key, sizeof(key), "held%u", me);
		ASSERT_EQ(0, tc_get(&self->s, key, val, sizeof(val)));
		held = strtoul(val, NULL, 0);
		for (i = 0; i < d.half; i++) {
			ASSERT_EQ(0, tc_page_info(&self->n,
						  (void *)(uintptr_t)(d.base[h] + i * d.psz),
						  &pi));
			owned += pi.owner == me;
		}
		TH_LOG("node%u owns %lu of its %lu pages, node1 held %lu",
		       me, owned, d.half, held);
		EXPECT_LE(d.half - held, owned)
			TH_LOG("pages node1 gave up are not node%u's", me);
		snprintf(what, sizeof(what), "node%u reads node1's round 3", me);
		EXPECT_EQ(0ul, tc_check_mem(_metadata, d.base[h], d.half * d.psz,
					    3, what));
	}
	TC_BARRIER("checked", self->wait_s);
	if (me >= FIRST_HOME)
		EXPECT_EQ(0, tc_free(&self->n, d.base[me - FIRST_HOME], d.half))
			TH_LOG("FREE: %s", strerror(errno));
}

/*
 * The harness takes a test's time limit from a constant; this test's
 * grows with the data set the knobs ask for, so it is set here, before
 * main() runs the test.
 */
static void __attribute__((constructor)) trio_set_timeout(void)
{
	_cache_trio_two_homes_four_times_budget_object.timeout = trio_timeout_s();
}

TEST_HARNESS_MAIN
