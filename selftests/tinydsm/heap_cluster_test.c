// SPDX-License-Identifier: GPL-2.0
/*
 * libtinydsm's job and shared heap (job.c, heap.c) between the nodes of a
 * lab run (2 or 3; every node runs this binary, one rank per node, rank =
 * node id - 1). node1 makes each test's job (tdsm_job_create()) and
 * publishes its root; every node joins it through the environment a
 * launcher sets (TINYDSM_RANK, _NRANKS, _JOB, _ROOT) and tdsm_init().
 *
 *   share_and_ranks      tdsm_rank()/tdsm_nranks() match the environment;
 *                        tdsm_share() gives every rank rank 0's private
 *                        bytes, twice (the buffer is reused); a rank with
 *                        another size gets -EINVAL and nobody hangs.
 *   blocks_are_homed_here
 *                        a small and a large block of every rank are homed
 *                        on its node (PAGE_INFO), aligned as asked;
 *                        first-touch placement is -EOPNOTSUPP.
 *   interleaved_across_nodes
 *                        rank 0 mallocs 1 MiB interleaved: each group of
 *                        64 pages of its run is homed round robin on
 *                        node1, node2(, node3) (PAGE_INFO on every node),
 *                        its pattern intact; every rank writes the
 *                        groups homed on its node and reads the rest;
 *                        the heap counts the pages placed, no failure;
 *                        TINYDSM_IOC_PLACE refuses a node that is not
 *                        one, a run of another node, a page outside any
 *                        run; the free brings the pages home first (their
 *                        home is node1 again, and the node's home charge
 *                        is back where it was).
 *   random_cross_node    TDSM_HEAP_ROUNDS rounds: every rank mallocs
 *                        TDSM_HEAP_BLOCKS blocks of random sizes (16 B to
 *                        48 KiB), fills each with a pattern of its own,
 *                        lists it in a table in the heap; every rank then
 *                        checks every rank's blocks (contents, and no two
 *                        overlap) and frees the next rank's (a free on
 *                        another node); at the end every node's arena has
 *                        no byte in use and counts as many frees as
 *                        mallocs.
 *   finalize_gives_back  after blocks of every size freed on other nodes,
 *                        tdsm_finalize(): each node's pages allocated
 *                        (home_charged) are back to what they were
 *                        before the first malloc.
 *   alloc_bench_invariants
 *                        node1 runs the allocator study's program
 *                        (tools/bench/alloc_bench) once per strategy
 *                        (page, chunk, arena), each a job of one rank of
 *                        its own, small: it exits 0, and its figures say
 *                        no block changed, overlapped or left the region,
 *                        as many frees as mallocs, nothing live at the end,
 *                        page one ALLOC a malloc, arena far fewer; and its
 *                        runs went back (node1's home_charged as before).
 *   apps_digests_joined  the SPLASH-style programs of tools/apps/ as the
 *                        ranks of a job this test makes, one on each node
 *                        (they join it as a launcher's ranks would, with
 *                        TINYDSM_ROOT, _JOB, _RANK, _NRANKS: no daemon),
 *                        then as a job of one rank on node1: both runs
 *                        pass their own checks and print the same digest
 *                        (run_test does the same through tinydsmctl run).
 *
 * TDSM_HEAP_ROUNDS (default 4), TDSM_HEAP_BLOCKS (default 64).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tdsm_cluster.h"
#include "tinydsm.h"

#define MAX_BLOCK	(48 * 1024)
#define BLOCKS_MAX	256

/* A block in the table: where, how big, and the seed of its pattern. */
struct entry {
	uint64_t addr;
	uint64_t size;
	uint64_t seed;
};

FIXTURE(heap) {
	struct tc_sync s;
	int ready;
	char setup_err[256];
	void *root;		/* node1's: the job it made, to destroy */
	int finalized;		/* the test left the job itself */
};

/*
 * Each test is a job of its own: node1 makes it, every node joins it as a
 * rank started by a launcher would.
 */
FIXTURE_SETUP(heap)
{
	char val[64];
	int err;

	tc_sync_init(&self->s, "heap_cluster", _metadata->name);
	if (self->s.nodes < 2)
		return;		/* the tests skip */
	if (self->s.id == 1) {
		uint64_t job = 1000 + (uint64_t)getpid();

		err = tdsm_job_create(self->s.nodes, job, &self->root);
		if (err) {
			snprintf(self->setup_err, sizeof(self->setup_err),
				 "tdsm_job_create: %s (%s)", strerror(-err),
				 tdsm_strerror_detail());
			tc_put(&self->s, "root", "0");
			tc_put(&self->s, "job", "0");
		} else {
			snprintf(val, sizeof(val), "%p", self->root);
			tc_put(&self->s, "root", val);
			snprintf(val, sizeof(val), "%" PRIu64, job);
			tc_put(&self->s, "job", val);
		}
	}
	if (tc_barrier(&self->s, "root", TC_ALL, self->s.timeout_s,
		       self->setup_err, sizeof(self->setup_err)))
		return;
	if (tc_get(&self->s, "root", val, sizeof(val)) || !strcmp(val, "0")) {
		if (!self->setup_err[0])
			snprintf(self->setup_err, sizeof(self->setup_err),
				 "node1 made no job");
		return;
	}
	setenv("TINYDSM_ROOT", val, 1);
	if (tc_get(&self->s, "job", val, sizeof(val)))
		return;
	setenv("TINYDSM_JOB", val, 1);
	snprintf(val, sizeof(val), "%u", self->s.id - 1);
	setenv("TINYDSM_RANK", val, 1);
	snprintf(val, sizeof(val), "%u", self->s.nodes);
	setenv("TINYDSM_NRANKS", val, 1);
	err = tdsm_init();
	if (err) {
		snprintf(self->setup_err, sizeof(self->setup_err),
			 "tdsm_init: %s (%s)", strerror(-err),
			 tdsm_strerror_detail());
		return;
	}
	self->ready = 1;
}

FIXTURE_TEARDOWN(heap)
{
	char err[160];

	TC_MARK_FAILED();
	/*
	 * Every rank leaves the job (the last of each node gives its part of
	 * the heap back) before node1 destroys it: tdsm_finalize() returns
	 * once every rank arrived, not once every node gave its part back,
	 * and a destroy that took a node's arena first would leave that
	 * node's runs allocated (only their node may FREE them).
	 */
	if (self->ready && !self->finalized && tdsm_finalize())
		TH_LOG("tdsm_finalize: %s", tdsm_strerror_detail());
	if (tc_barrier(&self->s, "left", TC_ALL, self->s.timeout_s, err,
		       sizeof(err)))
		TH_LOG("%s", err);
	if (self->s.id == 1 && self->root) {
		int err = tdsm_job_destroy(self->root);

		if (err)
			TH_LOG("tdsm_job_destroy: %s (%s)", strerror(-err),
			       tdsm_strerror_detail());
	}
	tdsm_detach();
}

#define START() do {							\
	if (self->s.nodes < 2)						\
		SKIP(return, "needs 2 or 3 nodes");			\
	ASSERT_TRUE(self->ready) TH_LOG("%s", self->setup_err);		\
} while (0)

/* 0, or TDSM_BARRIER_SERIAL in the last rank to arrive. */
#define JOB_BARRIER() do {						\
	int _e = tdsm_job_barrier();					\
	ASSERT_LE(0, _e) TH_LOG("tdsm_job_barrier: %s", strerror(-_e)); \
} while (0)

TEST_F_TIMEOUT(heap, share_and_ranks, 300)
{
	struct { uint64_t magic; uint32_t v[300]; } priv;
	unsigned int i, bad = 0;
	uint64_t other;
	int err;

	START();
	EXPECT_EQ((int)self->s.id - 1, tdsm_rank());
	EXPECT_EQ((int)self->s.nodes, tdsm_nranks());
	EXPECT_NE(0u, tdsm_job());

	/* Only rank 0's value counts: the others start from garbage. */
	memset(&priv, tdsm_rank() ? 0xee : 0, sizeof(priv));
	if (tdsm_rank() == 0) {
		priv.magic = 0x5348415245ull;
		for (i = 0; i < 300; i++)
			priv.v[i] = i * 7 + 1;
	}
	err = tdsm_share(&priv, sizeof(priv));
	ASSERT_EQ(0, err) TH_LOG("tdsm_share: %s (%s)", strerror(-err),
				 tdsm_strerror_detail());
	EXPECT_EQ(0x5348415245ull, priv.magic);
	for (i = 0; i < 300; i++)
		bad += priv.v[i] != i * 7 + 1;
	EXPECT_EQ(0u, bad);

	/* Again, through the same buffer: the second value, not the first. */
	other = tdsm_rank() == 0 ? 0xabcdef : 0;
	ASSERT_EQ(0, tdsm_share(&other, sizeof(other)));
	EXPECT_EQ(0xabcdefull, other);

	/* A rank that disagrees on the size fails alone; nobody hangs. */
	err = tdsm_share(&other, tdsm_rank() == 1 ? 4 : sizeof(other));
	EXPECT_EQ(tdsm_rank() == 1 ? -EINVAL : 0, err);
}

TEST_F_TIMEOUT(heap, blocks_are_homed_here, 300)
{
	struct tinydsm_page_info pi;
	uint8_t *small, *large, *aligned;
	int err;

	START();
	small = tdsm_malloc(100);
	ASSERT_NE(NULL, small) TH_LOG("tdsm_malloc: %s", strerror(errno));
	large = tdsm_malloc(5 * 4096 + 10);
	ASSERT_NE(NULL, large) TH_LOG("tdsm_malloc large: %s", strerror(errno));
	aligned = tdsm_aligned_alloc(4096, 8192);
	ASSERT_NE(NULL, aligned) TH_LOG("tdsm_aligned_alloc: %s", strerror(errno));
	EXPECT_EQ(0u, (uintptr_t)small % 16);
	EXPECT_EQ(0u, (uintptr_t)aligned % 4096);
	memset(small, 1, 100);
	memset(large, 2, 5 * 4096 + 10);
	memset(aligned, 3, 8192);
	ASSERT_EQ(0, tdsm_page_info(small, &pi));
	EXPECT_EQ(self->s.id, pi.home) TH_LOG("a small block of node%u is homed on node%u",
					      self->s.id, pi.home);
	ASSERT_EQ(0, tdsm_page_info(large + 5 * 4096, &pi));
	EXPECT_EQ(self->s.id, pi.home) TH_LOG("a large block of node%u is homed on node%u",
					      self->s.id, pi.home);

	errno = 0;
	EXPECT_EQ(NULL, tdsm_malloc_placed(64 * 4096, TDSM_PLACE_FIRST_TOUCH));
	EXPECT_EQ(EOPNOTSUPP, errno);
	EXPECT_EQ(NULL, tdsm_malloc((size_t)1 << 62));
	EXPECT_EQ(ENOMEM, errno);

	EXPECT_EQ(0, tdsm_mfree(small));
	EXPECT_EQ(-EINVAL, tdsm_mfree(small)) TH_LOG("a double free went unnoticed");
	EXPECT_EQ(0, tdsm_mfree(large));
	err = tdsm_mfree(aligned);
	EXPECT_EQ(0, err) TH_LOG("tdsm_mfree(aligned): %s", strerror(-err));
	EXPECT_EQ(0, tdsm_mfree(NULL));
}

/* Byte i of the block with @seed. */
static uint8_t pat(uint64_t seed, size_t i)
{
	return (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

#define IL_BYTES	((1u << 20) - 16)	/* a run of 256 pages */
#define IL_GROUP	(64u * 4096)

/* The node that interleave homes the byte at @a of a run at @run on. */
static unsigned int il_node(uintptr_t run, uintptr_t a, unsigned int nodes)
{
	uintptr_t g0 = (run - TINYDSM_REGION_BASE) / IL_GROUP;

	return ((a - TINYDSM_REGION_BASE) / IL_GROUP - g0) % nodes + 1;
}

TEST_F_TIMEOUT(heap, interleaved_across_nodes, 600)
{
	unsigned int me = self->s.id, n = self->s.nodes, bad = 0, moved;
	struct tinydsm_stats before, after;
	struct tinydsm_page_info pi;
	struct tdsm_heap_stats hs;
	uint64_t placed = 0;
	uintptr_t run, a;
	uint8_t *p = NULL;
	size_t i;
	int err;

	START();
	/* The arena first: what the home charges for it stays. */
	ASSERT_EQ(0, tdsm_mfree(tdsm_malloc(100)));
	ASSERT_EQ(0, tdsm_stats(&before));
	JOB_BARRIER();	/* every rank joined: the job's nodes are known */
	if (me == 1) {
		p = tdsm_malloc_placed(IL_BYTES, TDSM_PLACE_INTERLEAVE);
		ASSERT_NE(NULL, p) TH_LOG("%s", tdsm_strerror_detail());
		for (i = 0; i < IL_BYTES; i++)
			p[i] = pat(1, i);
	}
	ASSERT_EQ(0, tdsm_share(&p, sizeof(p)));
	run = (uintptr_t)p - 16;
	for (i = 0; i < IL_BYTES; i++) {
		if (p[i] == pat(1, i) || bad++)
			continue;
		a = ((uintptr_t)p + i) & ~4095ul;
		ASSERT_EQ(0, tdsm_page_info((void *)a, &pi));
		TH_LOG("node%u: byte %zu (page %#lx) is %#x, not %#x: home %u owner %u state %u flags %#x",
		       me, i, (unsigned long)a, p[i], pat(1, i), pi.home, pi.owner,
		       pi.state, pi.flags);
	}
	EXPECT_EQ(0u, bad) TH_LOG("node%u read %u bytes wrong", me, bad);
	bad = 0;
	/* Its reads found each page's home (NOTHOME sends a node on). */
	for (a = run; a < run + 256 * 4096; a += 4096) {
		ASSERT_EQ(0, tdsm_page_info((void *)a, &pi));
		if (pi.home != il_node(run, a, n) && bad++ < 4)
			TH_LOG("node%u: page %#lx is homed on node%u, not node%u",
			       me, (unsigned long)a, pi.home,
			       il_node(run, a, n));
		placed += il_node(run, a, n) != 1;
	}
	EXPECT_EQ(0u, bad);
	bad = 0;
	JOB_BARRIER();	/* every rank read rank 0's bytes */
	/* Each rank rewrites the bytes homed on its node. */
	for (i = 0; i < IL_BYTES; i++)
		if (il_node(run, (uintptr_t)p + i, n) == me)
			p[i] = pat(me + 1, i);
	JOB_BARRIER();
	for (i = 0; i < IL_BYTES; i++)
		bad += p[i] != pat(il_node(run, (uintptr_t)p + i, n) + 1, i);
	EXPECT_EQ(0u, bad) TH_LOG("node%u read %u bytes wrong", me, bad);

	/* The module's refusals. */
	EXPECT_EQ(-EINVAL, tdsm_place((void *)run, 1, 99, NULL));
	if (me != 1)	/* node1's run, not of this node's slice */
		EXPECT_EQ(-EINVAL, tdsm_place((void *)run, 1, me, NULL));
	JOB_BARRIER();
	if (me == 1) {
		EXPECT_EQ(0, tdsm_heap_stats(&hs));
		EXPECT_EQ(placed, hs.pages_placed);
		EXPECT_EQ(0u, hs.place_failures);
		/* PLACE to itself of the run's first group: already here. */
		err = tdsm_place((void *)run, 1, 1, &moved);
		EXPECT_EQ(0, err) TH_LOG("%s", tdsm_strerror_detail());
		EXPECT_EQ(1u, moved);
		EXPECT_EQ(0, tdsm_mfree(p)) TH_LOG("%s", tdsm_strerror_detail());
		/* Its pages came home before the FREE. */
		for (a = run; a < run + 256 * 4096; a += 4096) {
			ASSERT_EQ(0, tdsm_page_info((void *)a, &pi));
			bad += pi.home != 1;
		}
		EXPECT_EQ(0u, bad) TH_LOG("%u pages not homed on node1 after the free", bad);
		EXPECT_EQ(-EINVAL, tdsm_place((void *)run, 1, 2, NULL));
	}
	JOB_BARRIER();
	/* Every home's charge for the run went with it. */
	ASSERT_EQ(0, tdsm_stats(&after));
	EXPECT_EQ(before.home_charged, after.home_charged)
		TH_LOG("node%u: %llu pages charged before, %llu after", me,
		       (unsigned long long)before.home_charged,
		       (unsigned long long)after.home_charged);
}

TEST_F_TIMEOUT(heap, random_cross_node, 300)
{
	unsigned int rounds = tc_env_uint("TDSM_HEAP_ROUNDS", 4);
	unsigned int nb = tc_env_uint("TDSM_HEAP_BLOCKS", 64);
	unsigned int n = self->s.nodes, me, next, round, i, j, k;
	unsigned long bad = 0, overlaps = 0;
	struct tdsm_heap_stats st;
	struct entry *table = NULL;
	uint64_t seed;
	int err;

	START();
	ASSERT_LE(nb, BLOCKS_MAX);
	me = tdsm_rank();
	next = (me + 1) % n;
	/* Rank 0's table, n rows of nb entries, given to every rank. */
	if (me == 0) {
		table = tdsm_calloc((size_t)n * nb, sizeof(*table));
		ASSERT_NE(NULL, table) TH_LOG("tdsm_calloc: %s", strerror(errno));
	}
	ASSERT_EQ(0, tdsm_share(&table, sizeof(table)));
	srandom(self->s.id * 7919 + getpid());

	for (round = 1; round <= rounds; round++) {
		struct entry *row = table + (size_t)me * nb;

		for (i = 0; i < nb; i++) {
			size_t size = 16 + random() % (i % 8 ? 2048 : MAX_BLOCK);
			uint8_t *p = random() % 4 ? tdsm_malloc(size) :
				     tdsm_calloc(1, size);

			ASSERT_NE(NULL, p) TH_LOG("round %u: malloc of %zu: %s",
						  round, size, strerror(errno));
			seed = ((uint64_t)me << 32) | (round << 16) | i;
			for (k = 0; k < size; k++)
				p[k] = pat(seed, k);
			row[i].addr = (uintptr_t)p;
			row[i].size = size;
			row[i].seed = seed;
		}
		JOB_BARRIER();

		/* Every rank's blocks: their bytes, and no two overlap. */
		for (j = 0; j < n * nb; j++) {
			const struct entry *e = &table[j];
			const uint8_t *p = (const uint8_t *)(uintptr_t)e->addr;

			for (k = 0; k < e->size; k++) {
				if (p[k] != pat(e->seed, k)) {
					if (!bad++)
						TH_LOG("round %u: rank %u's block %u byte %u is %#x, want %#x",
						       round, j / nb, j % nb, k,
						       p[k], pat(e->seed, k));
					break;
				}
			}
			for (i = j + 1; i < n * nb; i++) {
				const struct entry *f = &table[i];

				if (e->addr < f->addr + f->size &&
				    f->addr < e->addr + e->size && !overlaps++)
					TH_LOG("round %u: blocks %#" PRIx64 "+%" PRIu64 " and %#" PRIx64 "+%" PRIu64 " overlap",
					       round, e->addr, e->size, f->addr,
					       f->size);
			}
		}
		JOB_BARRIER();

		/* The next rank's blocks, freed here: on another node. */
		for (i = 0; i < nb; i++) {
			struct entry *e = &table[(size_t)next * nb + i];

			err = tdsm_mfree((void *)(uintptr_t)e->addr);
			EXPECT_EQ(0, err) TH_LOG("round %u: free of rank %u's block %u: %s",
						 round, next, i, strerror(-err));
		}
		JOB_BARRIER();
	}
	EXPECT_EQ(0ul, bad);
	EXPECT_EQ(0ul, overlaps);

	if (me == 0)
		EXPECT_EQ(0, tdsm_mfree(table));
	JOB_BARRIER();
	/* Every free of this node's blocks was made elsewhere; now taken back. */
	ASSERT_EQ(0, tdsm_heap_stats(&st));
	TH_LOG("node%u's arena: %" PRIu64 " mallocs, %" PRIu64 " frees (%" PRIu64 " from other nodes), %" PRIu64 " ALLOCs (%" PRIu64 " chunks, %" PRIu64 " large): %.1f mallocs per ALLOC",
	       self->s.id, st.mallocs, st.frees, st.remote_frees, st.allocs,
	       st.chunks, st.large,
	       st.allocs ? (double)st.mallocs / st.allocs : 0.0);
	EXPECT_EQ(self->s.id, st.node);
	EXPECT_EQ(st.mallocs, st.frees);
	EXPECT_EQ(0u, st.bytes_in_use);
	EXPECT_GE(st.remote_frees, (uint64_t)rounds * nb);
}

/*
 * tdsm_finalize() gives each node's part of the heap back: small blocks'
 * chunks, the arena, large blocks freed on other nodes. The node's pages
 * allocated (home_charged) are what they were before the first malloc.
 */
TEST_F_TIMEOUT(heap, finalize_gives_back, 300)
{
	struct tinydsm_stats before, after;
	uint64_t *table = NULL;
	unsigned int n = self->s.nodes, me, next, i;
	void *mine[3];
	int err;

	START();
	me = tdsm_rank();
	next = (me + 1) % n;
	ASSERT_EQ(0, tdsm_stats(&before));
	if (me == 0) {
		table = tdsm_calloc(3 * n, sizeof(*table));
		ASSERT_NE(NULL, table);
	}
	ASSERT_EQ(0, tdsm_share(&table, sizeof(table)));
	mine[0] = tdsm_malloc(64);
	mine[1] = tdsm_malloc(4000);
	mine[2] = tdsm_malloc(5 * TDSM_SMALL_MAX);	/* a run of its own */
	for (i = 0; i < 3; i++) {
		ASSERT_NE(NULL, mine[i]) TH_LOG("malloc %u: %s", i, strerror(errno));
		memset(mine[i], 0x5a, 64);
		table[3 * me + i] = (uintptr_t)mine[i];
	}
	JOB_BARRIER();
	for (i = 0; i < 3; i++) {
		err = tdsm_mfree((void *)(uintptr_t)table[3 * next + i]);
		EXPECT_EQ(0, err) TH_LOG("free of rank %u's block %u: %s", next,
					 i, strerror(-err));
	}
	JOB_BARRIER();
	if (me == 0)
		EXPECT_EQ(0, tdsm_mfree(table));
	self->finalized = 1;
	err = tdsm_finalize();
	ASSERT_EQ(0, err) TH_LOG("tdsm_finalize: %s", tdsm_strerror_detail());
	EXPECT_EQ(-1, tdsm_rank());
	ASSERT_EQ(0, tdsm_stats(&after));
	TH_LOG("node%u: home_charged %llu pages before the first malloc, %llu after tdsm_finalize()",
	       self->s.id, (unsigned long long)before.home_charged,
	       (unsigned long long)after.home_charged);
	EXPECT_EQ(before.home_charged, after.home_charged);
}

/* The programs and their sizes (run_test's): seconds under TCG. */
static const char *const apps[][8] = {
	{ "radix", "-n", "4096", "-r", "6", "-m", "4096" },
	{ "fft", "-m", "10" },
	{ "lu", "-n", "64", "-b", "16" },
	{ "ocean", "-n", "30", "-i", "60", "-t", "0" },
	{ "water", "-n", "64", "-s", "2" },
};

/*
 * Run program @a in /tmp with its output in @out: as rank @rank of
 * @nranks of the job at @root, @job, or (@root NULL) as a job of its own.
 * Its exit status, -1 if it did not run.
 */
static int app_run(unsigned int a, const char *root, const char *job,
		   unsigned int rank, unsigned int nranks, const char *out)
{
	const char *tree = getenv("TDSM_TREE");
	char prog[PATH_MAX], num[16];
	const char *argv[8];
	int status, fd;
	unsigned int i;
	pid_t pid;

	snprintf(prog, sizeof(prog), "%s/build/apps/%s", tree ? tree : ".", apps[a][0]);
	argv[0] = prog;
	for (i = 1; i < 8 && apps[a][i]; i++)
		argv[i] = apps[a][i];
	argv[i < 8 ? i : 7] = NULL;
	pid = fork();
	if (pid == 0) {
		if (root) {
			setenv("TINYDSM_ROOT", root, 1);
			setenv("TINYDSM_JOB", job, 1);
			snprintf(num, sizeof(num), "%u", rank);
			setenv("TINYDSM_RANK", num, 1);
			snprintf(num, sizeof(num), "%u", nranks);
			setenv("TINYDSM_NRANKS", num, 1);
		} else {
			unsetenv("TINYDSM_ROOT");
			unsetenv("TINYDSM_JOB");
			unsetenv("TINYDSM_RANK");
			unsetenv("TINYDSM_NRANKS");
		}
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || chdir("/tmp"))
			_exit(126);
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The "digest NAME HEX" line of the output file @path, in @buf ("" if none). */
static void app_digest(const char *path, const char *name, char *buf, size_t len)
{
	char line[256], key[32];
	FILE *f = fopen(path, "re");

	*buf = 0;
	snprintf(key, sizeof(key), "digest %s ", name);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			snprintf(buf, len, "%.*s", (int)strcspn(line, "\n"), line);
	if (f)
		fclose(f);
}

TEST_F_TIMEOUT(heap, apps_digests_joined, 900)
{
	char out[64], val[64], job[32], spread[96], one[96], err[160], key[32];
	unsigned int a;
	void *root;
	int rc;

	START();
	snprintf(out, sizeof(out), "/tmp/apps.%d.out", (int)getpid());
	for (a = 0; a < sizeof(apps) / sizeof(apps[0]); a++) {
		const char *name = apps[a][0];

		/* node1 makes the job; every node runs its rank of it. */
		snprintf(key, sizeof(key), "app-%u", a);
		if (self->s.id == 1) {
			snprintf(job, sizeof(job), "%d", 7000 + (int)getpid() % 1000 * 8 + (int)a);
			rc = tdsm_job_create(self->s.nodes, strtoull(job, NULL, 10), &root);
			ASSERT_EQ(0, rc) TH_LOG("tdsm_job_create: %s", tdsm_strerror_detail());
			snprintf(val, sizeof(val), "%p %s", root, job);
			ASSERT_EQ(0, tc_put(&self->s, key, val));
		}
		ASSERT_EQ(0, tc_barrier(&self->s, key, TC_ALL, 120, err, sizeof(err)))
			TH_LOG("%s", err);
		ASSERT_EQ(0, tc_get(&self->s, key, val, sizeof(val)));
		{
			char r[32];

			ASSERT_EQ(2, sscanf(val, "%31s %31s", r, job));
			rc = app_run(a, r, job, self->s.id - 1, self->s.nodes, out);
		}
		EXPECT_EQ(0, rc) TH_LOG("%s, rank %u: exit %d", name, self->s.id - 1, rc);
		if (self->s.id == 1) {
			app_digest(out, name, spread, sizeof(spread));
			if (rc || !spread[0])
				tc_shell("cat %s >&2", out);
		}
		/* Every rank has exited: node1 destroys the job. */
		snprintf(key, sizeof(key), "app-%u-ran", a);
		ASSERT_EQ(0, tc_barrier(&self->s, key, TC_ALL, 600, err, sizeof(err)))
			TH_LOG("%s", err);
		if (self->s.id != 1)
			continue;
		EXPECT_EQ(0, tdsm_job_destroy(root)) TH_LOG("tdsm_job_destroy: %s",
							   tdsm_strerror_detail());
		/* The same program as a job of one rank, on node1. */
		rc = app_run(a, NULL, NULL, 0, 1, out);
		EXPECT_EQ(0, rc) TH_LOG("%s alone: exit %d", name, rc);
		app_digest(out, name, one, sizeof(one));
		EXPECT_NE(0, spread[0]) TH_LOG("%s: no digest on %u nodes", name, self->s.nodes);
		EXPECT_STREQ(spread, one);
		TH_LOG("%s: %s (%u nodes), %s (node1 alone)", name, spread, self->s.nodes, one);
	}
	unlink(out);
}

/* The value of @key in the key=value file @path, or -1. */
static long long env_num(const char *path, const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long long v = -1;
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == '=')
			v = strtoll(line + klen + 1, NULL, 10);
	fclose(f);
	return v;
}

TEST_F_TIMEOUT(heap, alloc_bench_invariants, 600)
{
	static const char *const strategies[] = { "page", "chunk", "arena" };
	const char *tree = getenv("TDSM_TREE");
	struct tinydsm_stats before, after;
	char env[64], key[64];
	unsigned int i;

	START();
	if (self->s.id == 1) {
		ASSERT_EQ(0, tdsm_stats(&before));
		snprintf(env, sizeof(env), "/tmp/alloc_bench.%d.env", (int)getpid());
		for (i = 0; i < 3; i++) {
			const char *st = strategies[i];
			long long m, f;

			unlink(env);
			/* Its own job: not this test's (the variables go). */
			EXPECT_EQ(0, tc_shell("env -u TINYDSM_ROOT -u TINYDSM_JOB -u TINYDSM_RANK "
					      "-u TINYDSM_NRANKS %s/build/tools/alloc_bench -s %s "
					      "-r 2 -o 200 -t 2 -m 100 -M 65536 -T 300 -e %s >&2",
					      tree ? tree : ".", st, env));
#define NUM(k) (snprintf(key, sizeof(key), "alloc_%s_%s", st, (k)), env_num(env, key))
			m = NUM("mallocs");
			f = NUM("frees");
			TH_LOG("%s: %lld mallocs, %lld frees, %lld round trips, %lld errors",
			       st, m, f, NUM("round_trips"), NUM("errors"));
			EXPECT_LT(0, m);
			EXPECT_EQ(m, f);
			EXPECT_EQ(0, NUM("errors"));
			EXPECT_EQ(0, NUM("live_blocks_end"));
			EXPECT_EQ(0, NUM("live_bytes_end"));
			if (i == 0)
				EXPECT_EQ(m, NUM("allocs"));
			if (i == 2)
				EXPECT_GT(m / 4, NUM("round_trips"));
#undef NUM
		}
		unlink(env);
		ASSERT_EQ(0, tdsm_stats(&after));
		EXPECT_EQ(before.home_charged, after.home_charged)
			TH_LOG("node1's home_charged %llu before, %llu after",
			       (unsigned long long)before.home_charged,
			       (unsigned long long)after.home_charged);
	}
	/* The others wait for node1 (the file barrier: bounded, 600 s). */
	{
		char err[160];

		ASSERT_EQ(0, tc_barrier(&self->s, "alloc-bench", TC_ALL, 600, err,
					sizeof(err))) TH_LOG("%s", err);
	}
}

TEST_HARNESS_MAIN
