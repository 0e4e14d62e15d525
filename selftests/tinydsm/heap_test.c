// SPDX-License-Identifier: GPL-2.0
/*
 * libtinydsm's shared heap and job (heap.c, job.c) on the host, without
 * the module: tdsm_mock.h stands in for it, over one shared mapping at the
 * region's base. A job's ranks are fork()ed processes, each on the node
 * its mock_node says (several on one node share that node's arena, as
 * processes of a node do), with threads of their own.
 *
 * Every block is filled with a pattern of its owner and a sequence number
 * and checked before it is freed or moved, so a block handed out twice,
 * or overlapping another, or a realloc that lost bytes, shows; blocks go
 * from rank to rank through a mailbox in the region and are freed by
 * whoever takes them, so frees from other nodes are exercised; at the end
 * every node's arena must have nothing in use.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "tdsm_mock.h"

#include "kselftest_harness.h"

#define JOB_ID		4242
#define NSLOTS		64

/* In a rank or its threads (not the harness's process): fail the rank. */
#define CHECK(cond, fmt, ...)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "rank %d node %u: %s:%d: " fmt	\
				" (%s)\n", tdsm_rank(), mock_node,	\
				__FILE__, __LINE__, ##__VA_ARGS__,	\
				tdsm_strerror_detail());		\
			_exit(1);					\
		}							\
	} while (0)

/* The block's first 16 bytes name it; the rest is a pattern of them. */
struct tag {
	uint32_t owner;
	uint32_t seq;
	uint64_t size;
};

static uint8_t pat(uint32_t owner, uint32_t seq, size_t i)
{
	return (uint8_t)(owner * 131 + seq * 7 + i * 13 + (i >> 8));
}

static void fill(void *p, size_t n, uint32_t owner, uint32_t seq)
{
	struct tag t = { owner, seq, n };
	uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = pat(owner, seq, i);
	if (n >= sizeof(t))
		memcpy(p, &t, sizeof(t));
}

/* The first @n bytes as fill() left them: the index of a bad one, or -1. */
static long bad_byte(const void *p, size_t n, uint32_t owner, uint32_t seq,
		     size_t from)
{
	const uint8_t *b = p;
	size_t i;

	for (i = from; i < n; i++)
		if (b[i] != pat(owner, seq, i))
			return i;
	return -1;
}

/* The first @n bytes of a block fill() made @filled bytes long. */
static int intact(const void *p, size_t n, size_t filled, uint32_t owner,
		  uint32_t seq)
{
	struct tag t = { owner, seq, filled };
	size_t head = filled >= sizeof(t) ? sizeof(t) : 0;

	if (head && memcmp(p, &t, n < head ? n : head))
		return 0;
	return bad_byte(p, n, owner, seq, head) < 0;
}

/* A tagged block, as fill() left it. */
static int tag_ok(const void *p, size_t n)
{
	struct tag t;

	memcpy(&t, p, sizeof(t));
	return t.size == n && bad_byte(p, n, t.owner, t.seq, sizeof(t)) < 0;
}

static void unset_env(void)
{
	unsetenv("TINYDSM_RANK");
	unsetenv("TINYDSM_NRANKS");
	unsetenv("TINYDSM_JOB");
	unsetenv("TINYDSM_ROOT");
	unsetenv("TINYDSM_PLACEMENT");
}

/*
 * A job of @nranks ranks on @nodes, made by this process (the launcher,
 * on node 1), each rank running @fn: how many ranks failed.
 */
static int run_job(int nranks, const unsigned int *nodes,
		   void (*fn)(int rank), void **rootp)
{
	int r, status, failed = 0;
	pid_t pid[16];
	void *root;

	if (!mock_attached && tdsm_attach(0))
		return -1;
	if (tdsm_job_create(nranks, JOB_ID, &root))
		return -1;
	for (r = 0; r < nranks; r++) {
		pid[r] = fork();
		if (pid[r] < 0)
			return -1;
		if (!pid[r]) {
			mock_node = nodes[r];
			set_env(r, nranks, JOB_ID, root);
			CHECK(tdsm_init() == 0, "tdsm_init");
			CHECK(tdsm_rank() == r && tdsm_nranks() == nranks &&
			      tdsm_job() == JOB_ID, "rank %d of %d, job %llu",
			      tdsm_rank(), tdsm_nranks(),
			      (unsigned long long)tdsm_job());
			fn(r);
			_exit(0);
		}
	}
	for (r = 0; r < nranks; r++) {
		if (waitpid(pid[r], &status, 0) != pid[r] ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			failed++;
	}
	if (rootp)
		*rootp = root;
	return failed;
}

/* ---- one process ------------------------------------------------------ */

TEST(single_rank_job)
{
	struct tdsm_heap_stats st;
	int v = 7;
	void *p;

	ASSERT_EQ(0, mock_setup());
	unset_env();
	ASSERT_EQ(-1, tdsm_rank());
	ASSERT_EQ(0, tdsm_init()) TH_LOG("%s", tdsm_strerror_detail());
	ASSERT_EQ(1, tdsm_attached());
	ASSERT_EQ(0, tdsm_init());	/* once is enough; twice is harmless */
	ASSERT_EQ(0, tdsm_rank());
	ASSERT_EQ(1, tdsm_nranks());
	ASSERT_NE(0, tdsm_job());
	ASSERT_EQ(0, tdsm_share(&v, sizeof(v)));
	ASSERT_EQ(7, v);
	ASSERT_EQ(TDSM_BARRIER_SERIAL, tdsm_job_barrier());
	p = tdsm_malloc(100);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, tdsm_mfree(p));
	ASSERT_EQ(0, tdsm_heap_stats(&st));
	ASSERT_EQ(1, st.node);
	ASSERT_EQ(1, st.mallocs);
	ASSERT_EQ(1, st.frees);
	ASSERT_EQ(0, st.bytes_in_use);
}

static int by_addr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

/* Blocks of every small size and some large ones: aligned, disjoint. */
TEST(sizes_and_overlap)
{
	enum { N = 3000 };
	static uintptr_t blk[N][2];	/* address, size */
	struct tdsm_heap_stats st;
	size_t n, large_bytes = 0;
	int i;

	ASSERT_EQ(0, mock_setup());
	unset_env();
	ASSERT_EQ(0, tdsm_init());
	srand(1);
	for (i = 0; i < N; i++) {
		n = i < 2000 ? (size_t)i * 8 : (size_t)rand() % 70000;
		blk[i][0] = (uintptr_t)tdsm_malloc(n);
		blk[i][1] = n;
		ASSERT_NE(0, blk[i][0]) TH_LOG("malloc(%zu): %s", n,
					       tdsm_strerror_detail());
		ASSERT_EQ(0, blk[i][0] % 16);
		fill((void *)blk[i][0], n, 1, i);
		if (n > TDSM_SMALL_MAX)
			large_bytes += (n + 16 + 4095) / 4096 * 4096;
	}
	for (i = 0; i < N; i++) {
		n = blk[i][1];
		ASSERT_TRUE(intact((void *)blk[i][0], n, n, 1, i))
			TH_LOG("block %d of %zu bytes", i, n);
	}
	qsort(blk, N, sizeof(blk[0]), by_addr);
	for (i = 1; i < N; i++)
		ASSERT_LE(blk[i - 1][0] + blk[i - 1][1], blk[i][0]);
	ASSERT_EQ(0, tdsm_heap_stats(&st));
	ASSERT_EQ(N, st.mallocs);
	/* Chunks of 256 KiB: the small blocks cost few ALLOCs. */
	ASSERT_LT(st.chunks, 80);
	for (i = 0; i < N; i++)
		ASSERT_EQ(0, tdsm_mfree((void *)blk[i][0]));
	ASSERT_EQ(0, tdsm_heap_stats(&st));
	ASSERT_EQ(N, st.frees);
	ASSERT_EQ(0, st.bytes_in_use);
	ASSERT_EQ(st.chunks * 256 * 1024 + 4096 + st.bytes_kept,
		  st.bytes_mapped);
	/*
	 * Every large run given back, one FREE each, or kept for reuse (at
	 * most 8 MiB of them); the most held was after the last malloc:
	 * every chunk and every large run.
	 */
	ASSERT_NE(0, st.large);
	ASSERT_NE(0, st.runs_kept);
	ASSERT_LE(st.bytes_kept, 8 << 20);
	ASSERT_EQ(st.large, st.run_frees + st.runs_kept);
	ASSERT_EQ(1 + st.chunks + st.large, st.allocs);
	ASSERT_EQ(st.bytes_mapped - st.bytes_kept + large_bytes,
		  st.bytes_mapped_peak);
}

/*
 * A large block freed on its node keeps its run for the next large malloc
 * of about its size (no ALLOC, no FREE), calloc zeroes a kept run, a run
 * too small or far too big is not taken, and finalize gives them back.
 */
TEST(large_runs_kept)
{
	struct tdsm_heap_stats st;
	uint64_t allocs, frees;
	uint8_t *p, *q, *r, *t;

	ASSERT_EQ(0, mock_setup());
	unset_env();
	p = tdsm_malloc(100000);		/* 25 pages with the header */
	ASSERT_NE(NULL, p);
	memset(p, 0x77, 100000);
	ASSERT_EQ(0, tdsm_heap_stats(&st));
	allocs = st.allocs;
	frees = st.run_frees;
	ASSERT_EQ(0, tdsm_mfree(p));
	q = tdsm_calloc(1, 90000);		/* 22 pages: 25 is within +25% */
	ASSERT_EQ(p, q);
	ASSERT_EQ(0, q[0] | q[89999]);
	r = tdsm_malloc(200000);		/* 49 pages: not the kept run */
	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, tdsm_mfree(q));
	t = tdsm_malloc(60000);		/* 15 pages: 25 is too big */
	ASSERT_NE(NULL, t);
	ASSERT_NE(q, t);
	ASSERT_EQ(0, tdsm_heap_stats(&st));
	ASSERT_EQ(allocs + 2, st.allocs);	/* r's run, and the 60000 */
	ASSERT_EQ(frees, st.run_frees);
	ASSERT_EQ(1, st.runs_reused);
	ASSERT_EQ(1, st.runs_kept);
	ASSERT_EQ(25 * 4096, st.bytes_kept);
	ASSERT_EQ(0, tdsm_mfree(r));
	ASSERT_EQ(0, tdsm_heap_stats(&st));
	ASSERT_EQ(2, st.runs_kept);
}

/* Many small mallocs, few ALLOCs: what a benchmark would print. */
TEST(mallocs_per_alloc)
{
	struct tdsm_heap_stats st;
	int i;

	ASSERT_EQ(0, mock_setup());
	unset_env();
	for (i = 0; i < 20000; i++)
		ASSERT_NE(NULL, tdsm_malloc(48));
	ASSERT_EQ(0, tdsm_heap_stats(&st));
	/* 64-byte blocks, 4096 a chunk: 5 chunks and the arena's page */
	ASSERT_EQ(5, st.chunks);
	ASSERT_EQ(6, st.allocs);
	ASSERT_EQ(0, st.run_frees);
	ASSERT_EQ(20000 * 64, st.bytes_in_use);
	ASSERT_EQ(5 * 256 * 1024 + 4096, st.bytes_mapped_peak);
	TH_LOG("%llu mallocs, %llu ALLOCs", (unsigned long long)st.mallocs,
	       (unsigned long long)st.allocs);
}

TEST(calloc_realloc_aligned)
{
	size_t n, sizes[] = { 1, 24, 100, 1000, 5000, 16368, 16369, 40000,
			      300000, 5000, 200, 3 };
	uint8_t *p, *q;
	size_t al, i;

	ASSERT_EQ(0, mock_setup());
	unset_env();
	/* A freed block, reused dirty: calloc zeroes it. */
	p = tdsm_malloc(200);
	ASSERT_NE(NULL, p);
	memset(p, 0xa5, 200);
	ASSERT_EQ(0, tdsm_mfree(p));
	q = tdsm_calloc(10, 20);
	ASSERT_EQ(p, q);
	for (i = 0; i < 200; i++)
		ASSERT_EQ(0, q[i]);
	ASSERT_EQ(0, tdsm_mfree(q));
	q = tdsm_calloc(1, 100000);
	ASSERT_NE(NULL, q);
	for (i = 0; i < 100000; i++)
		ASSERT_EQ(0, q[i]);
	ASSERT_EQ(0, tdsm_mfree(q));
	errno = 0;
	ASSERT_EQ(NULL, tdsm_calloc(SIZE_MAX / 2, 3));
	ASSERT_EQ(ENOMEM, errno);

	/* realloc: growth and shrinking keep what fits. */
	p = tdsm_realloc(NULL, 1);
	ASSERT_NE(NULL, p);
	fill(p, 1, 2, 0);
	for (i = 1; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		n = sizes[i - 1] < sizes[i] ? sizes[i - 1] : sizes[i];
		p = tdsm_realloc(p, sizes[i]);
		ASSERT_NE(NULL, p);
		ASSERT_EQ(0, (uintptr_t)p % 16);
		ASSERT_TRUE(intact(p, n, sizes[i - 1], 2, i - 1))
			TH_LOG("%zu -> %zu bytes", sizes[i - 1], sizes[i]);
		fill(p, sizes[i], 2, i);
	}
	errno = 0;
	ASSERT_EQ(NULL, tdsm_realloc(p, 0));	/* frees */
	ASSERT_EQ(-EINVAL, tdsm_mfree(p));
	p = tdsm_malloc(10);
	ASSERT_EQ(NULL, tdsm_realloc(p, SIZE_MAX - 100));
	ASSERT_EQ(ENOMEM, errno);
	ASSERT_EQ(0, tdsm_mfree(p));		/* untouched by the failure */

	/* aligned_alloc, of every power of two up to 64 KiB */
	for (al = 1; al <= 65536; al *= 2) {
		for (n = 1; n < 100000; n = n * 5 + 3) {
			p = tdsm_aligned_alloc(al, n);
			ASSERT_NE(NULL, p);
			ASSERT_EQ(0, (uintptr_t)p % al);
			fill(p, n, 3, al);
			q = tdsm_realloc(p, n + 50);
			ASSERT_NE(NULL, q);
			ASSERT_TRUE(intact(q, n, n, 3, al));
			ASSERT_EQ(0, tdsm_mfree(q));
			ASSERT_EQ(-EINVAL, tdsm_mfree(q));
		}
	}
	errno = 0;
	ASSERT_EQ(NULL, tdsm_aligned_alloc(24, 10));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(NULL, tdsm_aligned_alloc(0, 10));
}

TEST(errors)
{
	struct tdsm_heap_stats st;
	size_t huge[] = { SIZE_MAX, SIZE_MAX - 16, SIZE_MAX / 2, 1ULL << 40,
			  MOCK_SLICE };
	int stack_var;
	uint8_t *p;
	size_t i;

	ASSERT_EQ(0, mock_setup());
	unset_env();
	for (i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		errno = 0;
		ASSERT_EQ(NULL, tdsm_malloc(huge[i])) TH_LOG("%zu", huge[i]);
		ASSERT_EQ(ENOMEM, errno) TH_LOG("%zu: %s", huge[i],
						tdsm_strerror_detail());
	}
	/* size 0: a block of its own, as glibc's */
	p = tdsm_malloc(0);
	ASSERT_NE(NULL, p);
	ASSERT_NE(p, tdsm_malloc(0));
	ASSERT_EQ(0, tdsm_mfree(p));
	ASSERT_EQ(0, tdsm_mfree(NULL));
	/* double frees, small and large, and what was never a block */
	p = tdsm_malloc(50);
	ASSERT_EQ(0, tdsm_mfree(p));
	ASSERT_EQ(-EINVAL, tdsm_mfree(p));
	ASSERT_NE(NULL, strstr(tdsm_strerror_detail(), "free already"));
	p = tdsm_malloc(100000);
	ASSERT_EQ(0, tdsm_mfree(p));
	ASSERT_EQ(-EINVAL, tdsm_mfree(p));
	ASSERT_EQ(-EINVAL, tdsm_mfree(&stack_var));
	ASSERT_EQ(-EINVAL, tdsm_mfree((void *)(TINYDSM_REGION_BASE +
					       MOCK_SLICE - 4096)));
	p = tdsm_malloc(64);
	ASSERT_EQ(-EINVAL, tdsm_mfree(p + 8));
	ASSERT_EQ(-EINVAL, tdsm_mfree(p + 16));
	ASSERT_EQ(0, tdsm_mfree(p));
	ASSERT_EQ(0, tdsm_heap_stats(&st));
	ASSERT_EQ(st.mallocs - 1, st.frees);	/* the second malloc(0) */
	/* The large block was kept for the next large malloc. */
	ASSERT_EQ(1, st.runs_kept);
	ASSERT_EQ(st.chunks + 2 + 1, mock_runs(0));	/* arena, root, kept */
}

TEST(placement)
{
	void *p;

	ASSERT_EQ(0, mock_setup());
	unset_env();
	p = tdsm_malloc_placed(100000, TDSM_PLACE_LOCAL);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, tdsm_mfree(p));
	/* Interleaved over a job of this node alone: all here, no PLACE. */
	p = tdsm_malloc_placed(100000, TDSM_PLACE_INTERLEAVE);
	ASSERT_NE(NULL, p) TH_LOG("%s", tdsm_strerror_detail());
	ASSERT_EQ(0, mock->nplaces);
	ASSERT_EQ(0, tdsm_mfree(p));
	errno = 0;
	ASSERT_EQ(NULL, tdsm_malloc_placed(100000, TDSM_PLACE_FIRST_TOUCH));
	ASSERT_EQ(EOPNOTSUPP, errno);
	ASSERT_NE(NULL, strstr(tdsm_strerror_detail(), "first-touch"));
	ASSERT_EQ(NULL, tdsm_malloc_placed(100000, 9));
	ASSERT_EQ(EINVAL, errno);
	/* Small blocks are this node's arena's, whatever the policy. */
	p = tdsm_malloc_placed(100, TDSM_PLACE_INTERLEAVE);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, tdsm_mfree(p));
}

TEST(placement_from_env)
{
	ASSERT_EQ(0, mock_setup());
	unset_env();
	setenv("TINYDSM_PLACEMENT", "interleave", 1);
	ASSERT_EQ(0, tdsm_init());
	ASSERT_NE(NULL, tdsm_malloc(1000));
	/* This node alone in the job: interleaved is all here. */
	ASSERT_NE(NULL, tdsm_malloc(1 << 20));
	ASSERT_EQ(0, mock->nplaces);
	ASSERT_NE(NULL, tdsm_malloc_placed(1 << 20, TDSM_PLACE_LOCAL));
}

/*
 * Interleave (TINYDSM_PLACEMENT) in a job on nodes 1, 2, 3 (and 2 again),
 * node 3 full: rank 0 (node 1) allocates 1 MiB + a page. Its groups of 64 pages go round
 * robin from node 1: 1, 2, 3, 1, 2; node 3's is left here. The data is
 * the caller's whatever the homes, and the FREE takes the placements.
 */
static void interleave_rank(int rank)
{
	const uintptr_t group = 64 * MOCK_PAGE;
	struct tdsm_heap_stats st;
	uintptr_t first, end, g;
	unsigned int i;
	uint8_t *p;

	CHECK(tdsm_job_barrier() >= 0, "barrier");
	if (rank == 0) {
		mock->place_refuse = 3;
		p = tdsm_malloc((1 << 20) + 4096 - 16);	/* the env's */
		CHECK(p, "malloc");
		first = (uintptr_t)p - 16;
		end = first + 257 * MOCK_PAGE;
		memset(p, 0xa5, (1 << 20) + 4096 - 16);
		/* Groups 1, 4 of the run go to node 2; 2 (, 5) to node 3. */
		g = (first - TINYDSM_REGION_BASE) / group;
		i = (end - 1 - TINYDSM_REGION_BASE) / group - g + 1;
		CHECK(i >= 5 && i <= 6, "%u groups", i);
		CHECK(mock->nplaces == i / 3 + (i % 3 > 1), "%u placements",
		      mock->nplaces);
		for (i = 0; i < mock->nplaces; i++) {
			const struct mock_run *pl = &mock->places[i];

			CHECK(pl->node == 2, "placement %u on node %u", i,
			      pl->node);
			CHECK(pl->addr >= first && pl->addr + pl->npages *
			      MOCK_PAGE <= end, "placement %u inside", i);
			CHECK((pl->addr - TINYDSM_REGION_BASE) / group ==
			      (pl->addr + pl->npages * MOCK_PAGE - 1 -
			       TINYDSM_REGION_BASE) / group,
			      "placement %u in one group", i);
		}
		CHECK(tdsm_heap_stats(&st) == 0, "stats");
		CHECK(st.place_failures >= 1, "%llu failures",
		      (unsigned long long)st.place_failures);
		CHECK(st.pages_placed >= 64, "%llu pages placed",
		      (unsigned long long)st.pages_placed);
		for (i = 0; i < (1 << 20) + 4096 - 16; i++)
			CHECK(p[i] == 0xa5, "byte %u", i);
		CHECK(tdsm_mfree(p) == 0, "free");
		CHECK(tdsm_heap_stats(&st) == 0, "stats");
		CHECK(mock->nplaces == 0, "%u placements after the free",
		      mock->nplaces);
		CHECK(st.runs_kept == 0, "a placed run kept");
	}
	CHECK(tdsm_job_barrier() >= 0, "barrier");
}

TEST(interleave)
{
	static const unsigned int nodes[4] = { 1, 2, 3, 2 };

	ASSERT_EQ(0, mock_setup());
	unset_env();
	setenv("TINYDSM_PLACEMENT", "interleave", 1);
	ASSERT_EQ(0, run_job(4, nodes, interleave_rank, NULL));
}

/* A node that homes no slice: its runs are homed on node (3 - 1) % 2 + 1. */
TEST(cache_only_node)
{
	uint8_t *p, *q;

	ASSERT_EQ(0, mock_setup());
	unset_env();
	mock_node = 3;
	mock_info.home_nodes = 2;
	p = tdsm_malloc(100);
	q = tdsm_malloc(100000);
	ASSERT_NE(NULL, p) TH_LOG("%s", tdsm_strerror_detail());
	ASSERT_NE(NULL, q);
	ASSERT_LT((uintptr_t)p - TINYDSM_REGION_BASE, MOCK_SLICE);
	ASSERT_LT((uintptr_t)q - TINYDSM_REGION_BASE, MOCK_SLICE);
	ASSERT_EQ(0, tdsm_mfree(p));
	ASSERT_EQ(0, tdsm_mfree(q));
	ASSERT_EQ(4, mock_runs(3));	/* root, arena, chunk, q's run kept */
}

/* ---- tdsm_init() and the environment ---------------------------------- */

struct env_case {
	const char *rank, *nranks, *job, *root, *placement;
	int err;
	const char *detail;	/* in tdsm_strerror_detail() */
};

#define OK_ROOT		"root"	/* the job's root */

TEST(init_env)
{
	char root_s[32], off_s[32], unaligned_s[32], zero_s[32];
	const struct env_case cases[] = {
		{ "1", "3", "4242", OK_ROOT, NULL, 0, "" },
		{ "2", "3", "4242", OK_ROOT, "first-touch", 0, "" },
		{ "0", NULL, NULL, NULL, NULL, -EINVAL,
		  "TINYDSM_RANK is set but TINYDSM_NRANKS is not" },
		{ NULL, "3", "4242", OK_ROOT, NULL, -EINVAL,
		  "TINYDSM_RANK is not" },
		{ "0", "3", "4242", NULL, NULL, -EINVAL, "TINYDSM_ROOT is not" },
		{ "x", "3", "4242", OK_ROOT, NULL, -EINVAL, "TINYDSM_RANK=\"x\"" },
		{ "", "3", "4242", OK_ROOT, NULL, -EINVAL, "TINYDSM_RANK=\"\"" },
		{ "-1", "3", "4242", OK_ROOT, NULL, -EINVAL, "TINYDSM_RANK" },
		{ "1 ", "3", "4242", OK_ROOT, NULL, -EINVAL, "TINYDSM_RANK" },
		{ "3", "3", "4242", OK_ROOT, NULL, -EINVAL,
		  "TINYDSM_RANK=3: not in 0 .. 2" },
		{ "0", "0", "4242", OK_ROOT, NULL, -EINVAL, "TINYDSM_NRANKS=0" },
		{ "0", "65537", "4242", OK_ROOT, NULL, -EINVAL,
		  "TINYDSM_NRANKS" },
		{ "0", "99999999999999999999", "4242", OK_ROOT, NULL, -EINVAL,
		  "TINYDSM_NRANKS" },
		{ "0", "3", "0", OK_ROOT, NULL, -EINVAL, "TINYDSM_JOB=0" },
		{ "0", "3", "42x", OK_ROOT, NULL, -EINVAL, "TINYDSM_JOB" },
		{ "0", "3", "4242", "nothex", NULL, -EINVAL, "TINYDSM_ROOT" },
		{ "0", "3", "4242", "0x1000", NULL, -EINVAL,
		  "not a page of the region" },
		{ "0", "3", "4242", off_s, NULL, -EINVAL,
		  "not a page of the region" },
		{ "0", "3", "4242", unaligned_s, NULL, -EINVAL,
		  "not a page of the region" },
		{ "0", "3", "4242", zero_s, NULL, -EPROTO, "no job's root" },
		{ "0", "3", "4243", OK_ROOT, NULL, -EPROTO, "is job 4242" },
		{ "0", "4", "4242", OK_ROOT, NULL, -EPROTO, "of 3 ranks" },
		{ "0", "3", "4242", OK_ROOT, "near", -EINVAL,
		  "TINYDSM_PLACEMENT" },
		{ NULL, NULL, NULL, NULL, "Local", -EINVAL,
		  "TINYDSM_PLACEMENT" },
	};
	const struct env_case *c;
	int status, err;
	void *root;
	pid_t pid;
	size_t i;

	ASSERT_EQ(0, mock_setup());
	unset_env();
	ASSERT_EQ(0, tdsm_attach(0));
	ASSERT_EQ(0, tdsm_job_create(3, JOB_ID, &root));
	snprintf(root_s, sizeof(root_s), "%p", root);
	snprintf(off_s, sizeof(off_s), "%llx",
		 TINYDSM_REGION_BASE + MOCK_SIZE);
	snprintf(unaligned_s, sizeof(unaligned_s), "%p", (char *)root + 64);
	snprintf(zero_s, sizeof(zero_s), "%p", (char *)root + (1 << 20));
	ASSERT_EQ(-EINVAL, tdsm_job_create(0, 1, &root));
	ASSERT_EQ(-EINVAL, tdsm_job_create(2, 0, &root));
	ASSERT_EQ(-EINVAL, tdsm_job_create(TDSM_MAX_RANKS + 1, 1, &root));

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = &cases[i];
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			unset_env();
			if (c->rank)
				setenv("TINYDSM_RANK", c->rank, 1);
			if (c->nranks)
				setenv("TINYDSM_NRANKS", c->nranks, 1);
			if (c->job)
				setenv("TINYDSM_JOB", c->job, 1);
			if (c->root)
				setenv("TINYDSM_ROOT", strcmp(c->root, OK_ROOT) ?
				       c->root : root_s, 1);
			if (c->placement)
				setenv("TINYDSM_PLACEMENT", c->placement, 1);
			err = tdsm_init();
			if (err != c->err ||
			    !strstr(tdsm_strerror_detail(), c->detail)) {
				fprintf(stderr, "case %zu: %d (%s), not %d "
					"(%s)\n", i, err,
					tdsm_strerror_detail(), c->err,
					c->detail);
				_exit(1);
			}
			if (!err && (tdsm_rank() != atoi(c->rank) ||
				     tdsm_nranks() != 3 || tdsm_job() != JOB_ID))
				_exit(2);
			if (err && (tdsm_rank() != -1 || tdsm_job()))
				_exit(3);
			_exit(0);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
			TH_LOG("case %zu: exit %d", i, WEXITSTATUS(status));
	}
	ASSERT_EQ(0, tdsm_job_destroy(root));
	ASSERT_EQ(-EPROTO, tdsm_job_destroy(root));
	ASSERT_EQ(0, mock_runs(0));
}

/* ---- ranks on several nodes ------------------------------------------- */

static void share_rank(int rank)
{
	struct { int a; char s[40]; double d; } v;
	static uint8_t big[TDSM_SHARE_MAX];
	size_t i;
	int x, round;

	for (round = 0; round < 20; round++) {
		memset(&v, 0, sizeof(v));
		if (rank == 0) {
			v.a = round;
			snprintf(v.s, sizeof(v.s), "round %d", round);
			v.d = round * 0.5;
		}
		CHECK(tdsm_share(&v, sizeof(v)) == 0, "share round %d", round);
		CHECK(v.a == round && v.d == round * 0.5 &&
		      !strcmp(v.s, "round 0") == !round, "round %d: %d %s",
		      round, v.a, v.s);
	}
	for (i = 0; i < sizeof(big); i++)
		big[i] = rank == 0 ? (uint8_t)(i * 7) : 0;
	CHECK(tdsm_share(big, sizeof(big)) == 0, "share of %zu", sizeof(big));
	for (i = 0; i < sizeof(big); i++)
		CHECK(big[i] == (uint8_t)(i * 7), "byte %zu", i);
	/* A rank that disagrees on the size fails alone. */
	x = 5;
	CHECK(tdsm_share(&x, rank == 2 ? 2 : sizeof(x)) == (rank == 2 ?
	      -EINVAL : 0), "size mismatch");
	/* Too big for everyone: every rank fails, nobody hangs. */
	CHECK(tdsm_share(big, TDSM_SHARE_MAX + 1) == -E2BIG, "too big");
	CHECK(tdsm_share(NULL, 4) == -EINVAL, "NULL");
	/* Rank 0 fails: the others learn it. */
	CHECK(tdsm_share(rank ? (void *)&x : NULL, sizeof(x)) == -EINVAL,
	      "rank 0 failed");
	x = rank ? -1 : 99;
	CHECK(tdsm_share(&x, sizeof(x)) == 0 && x == 99, "after: %d", x);
}

TEST(share)
{
	static const unsigned int nodes[] = { 1, 2, 3, 1 };

	ASSERT_EQ(0, mock_setup());
	unset_env();
	ASSERT_EQ(0, run_job(4, nodes, share_rank, NULL));
}

/* Random mallocs, frees and reallocs in threads of ranks on 3 nodes. */
#define STRESS_RANKS	4
#define STRESS_THREADS	3
#define STRESS_ITERS	40000
#define LIVE		48

struct mailbox {
	uint64_t slot[NSLOTS];		/* blocks in transit, 0 if none */
	uint64_t remote_frees[MOCK_NODES + 1];
	uint64_t posted, taken;
};

static struct mailbox *box;

static size_t pick_size(unsigned int *seed)
{
	unsigned int r = rand_r(seed) % 100;

	if (r < 80)
		return 16 + rand_r(seed) % 500;
	if (r < 97)
		return 16 + rand_r(seed) % TDSM_SMALL_MAX;
	return 16 + rand_r(seed) % 150000;
}

static void take_one(unsigned int i)
{
	uint64_t p = __atomic_exchange_n(&box->slot[i], 0, __ATOMIC_ACQ_REL);
	struct tag t;

	if (!p)
		return;
	memcpy(&t, (void *)p, sizeof(t));
	CHECK(tag_ok((void *)p, t.size), "taken block %#llx of %llu bytes",
	      (unsigned long long)p, (unsigned long long)t.size);
	CHECK(tdsm_mfree((void *)p) == 0, "free of a taken block");
	__atomic_fetch_add(&box->taken, 1, __ATOMIC_RELAXED);
}

static void *stress_thread(void *arg)
{
	uint32_t owner = (uint32_t)(uintptr_t)arg, seq = 0;
	unsigned int seed = owner * 7919 + 1, op, i, nlive = 0;
	struct { uint8_t *p; size_t n; uint32_t seq; } live[LIVE];
	size_t n, al;
	uint8_t *p;
	int it;

	for (it = 0; it < STRESS_ITERS; it++) {
		op = rand_r(&seed) % 100;
		i = nlive ? rand_r(&seed) % nlive : 0;
		if (op < 40 && nlive < LIVE) {
			n = pick_size(&seed);
			al = op < 5 ? 32u << rand_r(&seed) % 8 : 16;
			p = al > 16 ? tdsm_aligned_alloc(al, n) :
				tdsm_malloc(n);
			CHECK(p, "malloc of %zu (align %zu)", n, al);
			CHECK((uintptr_t)p % al == 0, "%p, align %zu",
			      (void *)p, al);
			fill(p, n, owner, ++seq);
			live[nlive].p = p;
			live[nlive].n = n;
			live[nlive++].seq = seq;
		} else if (op < 60 && nlive) {
			CHECK(tag_ok(live[i].p, live[i].n), "block of %zu",
			      live[i].n);
			CHECK(tdsm_mfree(live[i].p) == 0, "free");
			live[i] = live[--nlive];
		} else if (op < 70 && nlive) {
			n = pick_size(&seed);
			p = tdsm_realloc(live[i].p, n);
			CHECK(p, "realloc to %zu", n);
			CHECK(intact(p, n < live[i].n ? n : live[i].n,
				     live[i].n, owner, live[i].seq),
			      "realloc %zu -> %zu lost bytes", live[i].n, n);
			fill(p, n, owner, ++seq);
			live[i].p = p;
			live[i].n = n;
			live[i].seq = seq;
		} else if (op < 80 && nlive) {
			/* Post it: someone on any node will free it. */
			if (__atomic_compare_exchange_n(
				    &box->slot[rand_r(&seed) % NSLOTS],
				    &(uint64_t){ 0 }, (uintptr_t)live[i].p,
				    0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
				__atomic_fetch_add(&box->posted, 1,
						   __ATOMIC_RELAXED);
				live[i] = live[--nlive];
			}
		} else if (op < 92) {
			take_one(rand_r(&seed) % NSLOTS);
		} else {
			for (i = 0; i < nlive; i++)
				CHECK(tag_ok(live[i].p, live[i].n),
				      "live block %u of %zu bytes", i,
				      live[i].n);
		}
	}
	while (nlive--) {
		CHECK(tag_ok(live[nlive].p, live[nlive].n), "at the end");
		CHECK(tdsm_mfree(live[nlive].p) == 0, "free at the end");
	}
	return NULL;
}

static void stress_rank(int rank)
{
	pthread_t th[STRESS_THREADS];
	struct tdsm_heap_stats st;
	uint64_t sum = 0;
	unsigned int i;

	if (rank == 0) {
		box = tdsm_alloc(1, 0);
		CHECK(box, "the mailbox");
	}
	CHECK(tdsm_share(&box, sizeof(box)) == 0, "share the mailbox");
	for (i = 0; i < STRESS_THREADS; i++)
		CHECK(!pthread_create(&th[i], NULL, stress_thread,
				      (void *)(uintptr_t)(rank * 16 + i + 1)),
		      "thread");
	for (i = 0; i < STRESS_THREADS; i++)
		pthread_join(th[i], NULL);
	CHECK(tdsm_job_barrier() >= 0, "barrier: done");
	if (rank == 0) {
		for (i = 0; i < NSLOTS; i++)
			take_one(i);
		CHECK(box->posted == box->taken, "%llu posted, %llu taken",
		      (unsigned long long)box->posted,
		      (unsigned long long)box->taken);
	}
	CHECK(tdsm_job_barrier() >= 0, "barrier: drained");
	/* Every block went back to its node's arena. */
	CHECK(tdsm_heap_stats(&st) == 0, "stats");
	CHECK(st.bytes_in_use == 0 && st.mallocs == st.frees,
	      "%llu bytes in use, %llu mallocs, %llu frees",
	      (unsigned long long)st.bytes_in_use,
	      (unsigned long long)st.mallocs, (unsigned long long)st.frees);
	box->remote_frees[mock_node] = st.remote_frees;
	CHECK(tdsm_job_barrier() >= 0, "barrier: counted");
	if (rank == 0) {
		for (i = 1; i <= MOCK_NODES; i++)
			sum += box->remote_frees[i];
		fprintf(stderr, "# %llu blocks through the mailbox, %llu "
			"frees from other nodes, %llu mallocs on node 1 "
			"for %llu ALLOCs\n",
			(unsigned long long)box->taken,
			(unsigned long long)sum,
			(unsigned long long)st.mallocs,
			(unsigned long long)st.allocs);
		CHECK(sum > 0, "no free from another node");
		CHECK(tdsm_free(box, 1) == 0, "the mailbox");
	}
}

TEST(stress_nodes_threads)
{
	static const unsigned int nodes[STRESS_RANKS] = { 1, 2, 3, 2 };
	void *root;
	int err;

	ASSERT_EQ(0, mock_setup());
	unset_env();
	ASSERT_EQ(0, run_job(STRESS_RANKS, nodes, stress_rank, &root));
	/*
	 * The launcher frees its own node's runs; the others' are theirs
	 * (the module's FREE rule), so the destroy says EPERM.
	 */
	err = tdsm_job_destroy(root);
	ASSERT_EQ(-EPERM, err);
	ASSERT_EQ(0, mock_runs(1));
	ASSERT_NE(0, mock_runs(2));
}

/* A job on one node: tdsm_job_destroy() gives every run back. */
static void small_rank(int rank)
{
	void *p[100];
	int i;

	for (i = 0; i < 100; i++)
		CHECK(p[i] = tdsm_malloc(rank * 1000 + i * 100), "malloc");
	for (i = 0; i < 100; i += 2)
		CHECK(tdsm_mfree(p[i]) == 0, "free");
	CHECK(tdsm_malloc(50000), "large");	/* left for the destroy */
}

TEST(destroy)
{
	static const unsigned int nodes[] = { 1, 1 };
	void *root;

	ASSERT_EQ(0, mock_setup());
	unset_env();
	ASSERT_EQ(0, run_job(2, nodes, small_rank, &root));
	ASSERT_NE(0, mock_runs(1));
	ASSERT_EQ(0, tdsm_job_destroy(root));
	/* The large blocks in use are not known to the heap: they stay. */
	ASSERT_EQ(2, mock_runs(0));
}

/*
 * tdsm_finalize(): ranks on nodes 1, 2, 3 and 2 free blocks of each
 * other's (large ones too) and finalize; then no node but the launcher's
 * holds a run (the last rank of each node gave its arena back), and the
 * launcher holds only the root, which the destroy frees.
 */
static void finalize_rank(int rank)
{
	uint64_t *slots;
	void *mine[2];
	int i, err;

	/* Rank 0's table of every rank's two blocks, shared. */
	slots = rank ? NULL : tdsm_calloc(8, sizeof(*slots));
	CHECK(tdsm_share(&slots, sizeof(slots)) == 0 && slots, "share");
	mine[0] = tdsm_malloc(100 + rank);
	mine[1] = tdsm_malloc(3 * TDSM_SMALL_MAX);
	CHECK(mine[0] && mine[1], "malloc");
	slots[2 * rank] = (uintptr_t)mine[0];
	slots[2 * rank + 1] = (uintptr_t)mine[1];
	CHECK(tdsm_job_barrier() >= 0, "barrier");
	/* The next rank's blocks, freed here. */
	for (i = 0; i < 2; i++)
		CHECK(tdsm_mfree((void *)(uintptr_t)slots[2 * ((rank + 1) % 4) + i]) == 0,
		      "free of rank %d's block %d", (rank + 1) % 4, i);
	CHECK(tdsm_job_barrier() >= 0, "barrier");
	if (!rank)
		CHECK(tdsm_mfree(slots) == 0, "free of the table");
	err = tdsm_finalize();
	CHECK(err == 0, "tdsm_finalize: %d (%s)", err, tdsm_strerror_detail());
	CHECK(tdsm_rank() == -1, "in no job after finalize");
}

TEST(finalize)
{
	static const unsigned int nodes[] = { 1, 2, 3, 2 };
	void *root;

	ASSERT_EQ(0, mock_setup());
	unset_env();
	ASSERT_EQ(0, run_job(4, nodes, finalize_rank, &root));
	EXPECT_EQ(0, mock_runs(2));
	EXPECT_EQ(0, mock_runs(3));
	EXPECT_EQ(1, mock_runs(1));	/* the root */
	ASSERT_EQ(0, tdsm_job_destroy(root));
	EXPECT_EQ(0, mock_runs(0));
}

TEST_HARNESS_MAIN
