// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm page metadata on two nodes: it is created when pages are used
 * and goes once they are idle again (kmod/PROTOCOL.md, "Metadata
 * lifetime"), as the stats' chunks and meta_bytes show.
 *
 *   run_freed:           node2 ALLOCs a run homed on itself: no chunk
 *                        yet (a run is address space until touched);
 *                        it writes every page: its chunks grow by the
 *                        run's; after FREE, once the chunk worker ran,
 *                        they fall back to what they were (meta_bytes
 *                        too, but for the translation table's pages,
 *                        which stay until unload).
 *   copies_invalidated:  node1 reads every page of a run homed on node2:
 *                        its chunks grow; node2 writes every page (each of
 *                        node1's copies invalidated): node1's chunks fall
 *                        back; node1 reads the pages again and sees
 *                        node2's data (metadata made again is a page never
 *                        seen: nothing stale survives it).
 *   cost_of_touched:     node2 writes a run of COST_MB MiB homed on
 *                        itself: its metadata grows by at most 12.5 KiB a
 *                        MiB (4 chunks of 64 pages), a page of the
 *                        translation table per 16 MiB, and 64 KiB of
 *                        slack (a table page where the run straddles
 *                        two), and by at least its chunks; what a 16 TiB
 *                        region costs at load is module_test's
 *                        region_16_tib.
 *
 * The older TINYDSM_IOC_STATS numbers are region_test's stats_old_number.
 * Every node of a 2-node lab run executes this binary (tdsm_cluster.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tdsm_cluster.h"

#define PAIR		2
#define READER		1
#define HOME		2
#define RUN_PAGES	256	/* 4 chunks of 64 pages, 5 if not aligned */
#define MIN_CHUNKS	(RUN_PAGES / 64)
#define PAGE_META	48	/* bytes of metadata per page, at least */
#define CHUNK_WAIT_S	20	/* the chunk worker looks within a second or two */
#define SETTLE_S	3	/* two passes of the chunk worker, and some */
/*
 * The metadata cost of touched memory (cost_of_touched): COST_MB MiB
 * (a quarter of a home's slice in the lab's 256 MiB region of 4 homes),
 * at most COST_PER_MB a MiB for its chunks, a table page per 16 MiB, and
 * COST_SLACK.
 */
#define COST_MB		16
#define COST_PAGES	(COST_MB * 256)	/* 4 KiB pages */
#define COST_PER_MB	12800ull	/* 12.5 KiB: 4 chunks of 3200 B */
#define COST_SLACK	(64ull << 10)
/*
 * The pages of the translation table a run needed stay until unload: one
 * covers 4096 pages, so a 256-page run adds two at most.
 */
#define TABLE_PAGES	2

FIXTURE(meta) {
	struct tc_node n;
	struct tc_sync s;
	int ready;
	char setup_err[256];
};

FIXTURE_SETUP(meta)
{
	tc_sync_init(&self->s, "meta", _metadata->name);
	TC_NODE_OPEN();
}

FIXTURE_TEARDOWN(meta)
{
	TC_MARK_FAILED();
	if (self->ready)
		tc_node_close(&self->n);
}

#define START() TC_START(PAIR)
#define BARRIER(step) TC_BARRIER(step, self->s.timeout_s)

/*
 * Wait, bounded, until this node's chunks are at most @chunks and its
 * meta_bytes at most @bytes (plus the table pages a run may leave): 0, or
 * -1 with the last stats in *@st.
 */
static int wait_meta_at_most(const struct tc_node *n, uint64_t chunks,
			     uint64_t bytes, struct tinydsm_stats *st)
{
	double end = tc_now() + CHUNK_WAIT_S;

	bytes += (uint64_t)TABLE_PAGES * n->psz;
	do {
		if (tc_stats(n, st))
			return -1;
		if (st->chunks <= chunks && st->meta_bytes <= bytes)
			return 0;
		usleep(100000);
	} while (tc_now() < end);
	return -1;
}

/*
 * This node's stats once its chunk count held still for SETTLE_S (earlier
 * tests leave idle chunks that the worker frees within a few seconds):
 * the baseline a test measures its own run against. 0, or -1.
 */
static int stats_settled(const struct tc_node *n, struct tinydsm_stats *st)
{
	double end = tc_now() + CHUNK_WAIT_S;
	struct tinydsm_stats next;

	if (tc_stats(n, st))
		return -1;
	do {
		usleep(SETTLE_S * 1000000);
		if (tc_stats(n, &next))
			return -1;
		if (next.chunks == st->chunks && next.meta_bytes == st->meta_bytes)
			return 0;
		*st = next;
	} while (tc_now() < end);
	return -1;
}

/* A run's pages got metadata here: @now holds at least theirs more than @before. */
static void expect_grown(struct __test_metadata *_metadata,
			 const struct tinydsm_stats *before,
			 const struct tinydsm_stats *now)
{
	EXPECT_LE(before->chunks + MIN_CHUNKS, now->chunks)
		TH_LOG("chunks %llu -> %llu", (unsigned long long)before->chunks,
		       (unsigned long long)now->chunks);
	EXPECT_LE(before->meta_bytes + (uint64_t)RUN_PAGES * PAGE_META,
		  now->meta_bytes)
		TH_LOG("meta_bytes %llu -> %llu",
		       (unsigned long long)before->meta_bytes,
		       (unsigned long long)now->meta_bytes);
}

/*
 * The run's pages are idle here since @what: within CHUNK_WAIT_S, this
 * node's metadata is back to @before's. Returns the stats seen last.
 */
static struct tinydsm_stats expect_back(struct __test_metadata *_metadata,
					const struct tc_node *n,
					const struct tinydsm_stats *before,
					const char *what)
{
	struct tinydsm_stats st;

	EXPECT_EQ(0, wait_meta_at_most(n, before->chunks, before->meta_bytes, &st))
		TH_LOG("%d s after %s: chunks %llu (before %llu), meta_bytes %llu (%llu)",
		       CHUNK_WAIT_S, what, (unsigned long long)st.chunks,
		       (unsigned long long)before->chunks,
		       (unsigned long long)st.meta_bytes,
		       (unsigned long long)before->meta_bytes);
	return st;
}

TEST_F_TIMEOUT(meta, run_freed, 300)
{
	struct tinydsm_stats s0, s1;
	uint64_t addr = 0;

	START();
	if (self->s.id == HOME) {
		ASSERT_EQ(0, stats_settled(&self->n, &s0))
			TH_LOG("chunks still changing after %d s", CHUNK_WAIT_S);
		ASSERT_EQ(0, tc_alloc(&self->n, HOME, RUN_PAGES, &addr))
			TH_LOG("ALLOC %u pages: %s", RUN_PAGES, strerror(errno));
		/* Address space only: nothing backed, no metadata made. */
		ASSERT_EQ(0, tc_stats(&self->n, &s1));
		EXPECT_GE(s0.chunks, s1.chunks)
			TH_LOG("ALLOC made chunks: %llu -> %llu",
			       (unsigned long long)s0.chunks,
			       (unsigned long long)s1.chunks);
		/* The home backs each page as it is written: an entry each. */
		tc_fill(addr, (size_t)RUN_PAGES * self->n.psz, 1);
		ASSERT_EQ(0, tc_stats(&self->n, &s1));
		expect_grown(_metadata, &s0, &s1);
		EXPECT_EQ(0, tc_check_mem(_metadata, addr,
					  (size_t)RUN_PAGES * self->n.psz, 1,
					  "the run"));
		ASSERT_EQ(0, tc_free(&self->n, addr, RUN_PAGES))
			TH_LOG("FREE: %s", strerror(errno));
		expect_back(_metadata, &self->n, &s0, "FREE");
	}
	BARRIER("done");
}

TEST_F_TIMEOUT(meta, copies_invalidated, 300)
{
	size_t len = (size_t)RUN_PAGES * self->n.psz;
	struct tinydsm_stats s0, s1, s2;
	uint64_t addr;
	unsigned int i;

	START();
	if (self->s.id == READER)
		ASSERT_EQ(0, stats_settled(&self->n, &s0))
			TH_LOG("chunks still changing after %d s", CHUNK_WAIT_S);
	addr = tc_shared_run(_metadata, &self->n, &self->s, HOME, RUN_PAGES, 1,
			     self->s.timeout_s);
	if (self->s.id == READER) {
		/* A read copy of every page: metadata for each, here. */
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 1, "read copies"));
		ASSERT_EQ(0, tc_stats(&self->n, &s1));
		expect_grown(_metadata, &s0, &s1);
	}
	BARRIER("read");
	/* Every copy node1 has is invalidated. */
	if (self->s.id == HOME)
		tc_fill(addr, len, 2);
	BARRIER("written");
	if (self->s.id == READER) {
		struct tinydsm_page_info pi;

		for (i = 0; i < RUN_PAGES; i += 63) {
			ASSERT_EQ(0, tc_page_info(&self->n,
						  (void *)(uintptr_t)(addr + (uint64_t)i * self->n.psz),
						  &pi));
			EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state) TH_LOG("page %u", i);
			EXPECT_EQ(HOME, pi.home) TH_LOG("page %u", i);
		}
		s2 = expect_back(_metadata, &self->n, &s0, "node2's writes");
		/* Made again on use, with the home's new data. */
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 2, "read again"));
		ASSERT_EQ(0, tc_stats(&self->n, &s1));
		expect_grown(_metadata, &s2, &s1);
	}
	BARRIER("checked");
	if (self->s.id == HOME)
		EXPECT_EQ(0, tc_free(&self->n, addr, RUN_PAGES))
			TH_LOG("FREE: %s", strerror(errno));
	BARRIER("freed");
}

TEST_F_TIMEOUT(meta, cost_of_touched, 300)
{
	size_t len = (size_t)COST_PAGES * self->n.psz;
	uint64_t addr = 0, grown, most;
	struct tinydsm_stats s0, s1;

	START();
	if (self->s.id == HOME) {
		ASSERT_EQ(COST_PAGES * 4096ull, (uint64_t)len)
			TH_LOG("the bound is for 4 KiB pages");
		ASSERT_EQ(0, stats_settled(&self->n, &s0))
			TH_LOG("chunks still changing after %d s", CHUNK_WAIT_S);
		ASSERT_EQ(0, tc_alloc(&self->n, HOME, COST_PAGES, &addr))
			TH_LOG("ALLOC %u pages: %s", COST_PAGES, strerror(errno));
		tc_fill(addr, len, 3);
		ASSERT_EQ(0, tc_stats(&self->n, &s1));
		most = COST_MB * COST_PER_MB +
		       (COST_MB + 15) / 16 * self->n.psz + COST_SLACK;
		grown = s1.meta_bytes - s0.meta_bytes;
		EXPECT_LE(grown, most)
			TH_LOG("%d MiB touched: meta_bytes %llu -> %llu (+%llu, at most %llu)",
			       COST_MB, (unsigned long long)s0.meta_bytes,
			       (unsigned long long)s1.meta_bytes,
			       (unsigned long long)grown, (unsigned long long)most);
		/* Every page of the run has its entry: its chunks at least. */
		EXPECT_LE(s0.chunks + COST_PAGES / 64, s1.chunks)
			TH_LOG("chunks %llu -> %llu", (unsigned long long)s0.chunks,
			       (unsigned long long)s1.chunks);
		EXPECT_LE(s0.meta_bytes + (uint64_t)COST_PAGES * PAGE_META, s1.meta_bytes);
		TH_LOG("%d MiB touched: +%llu bytes of metadata, +%llu chunks", COST_MB,
		       (unsigned long long)grown,
		       (unsigned long long)(s1.chunks - s0.chunks));
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 3, "the run"));
		ASSERT_EQ(0, tc_free(&self->n, addr, COST_PAGES))
			TH_LOG("FREE: %s", strerror(errno));
		expect_back(_metadata, &self->n, &s0, "FREE");
	}
	BARRIER("done");
}

TEST_HARNESS_MAIN
