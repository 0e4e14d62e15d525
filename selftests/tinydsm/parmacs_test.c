// SPDX-License-Identifier: GPL-2.0
/*
 * PARMACS on libtinydsm (parmacs.c, parmacs.h) on the host, over the
 * module's stand-in (tdsm_mock.h): a job's ranks are fork()ed processes of
 * this executable on several mock nodes, each running a small PARMACS
 * program's main() from its start, as `tinydsmctl run` starts them.
 *
 * The program's globals (an int, a double array, a pointer to G_MALLOC
 * memory, a string in .bss, one in .data) change between CREATEs, and
 * each worker must see them as they were at its own CREATE; libtinydsm's
 * state (and the mock's) must stay the worker's own (its rank, its node's
 * arena), so must the shared libraries' objects copied into the
 * executable (stdout, environ), which rank 0 changes before it creates.
 * Then locks, lock arrays, barriers, GETSUB, pauses, CLOCK, G_FREE and
 * WAIT_FOR_END across the workers; SPLASH-3's CREATE(fn, P), ranks no
 * CREATE takes, a worker that calls exit(); and the errors: a CREATE
 * beyond the job's ranks, a lock that is not in the region.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "tdsm_mock.h"
#include "parmacs.h"

#include "kselftest_harness.h"

#define JOB_ID		4343
#define MAXP		8
#define ROUNDS		5
#define ITERS		200
#define NSUB		64
#define NALOCK		4

extern char **environ;
extern char __data_start[], _end[];
extern char __start_tdsm_private[], __stop_tdsm_private[];

/* In a rank: fail it, and the job with it (parmacs.c's fatal path). */
#define CHECK(cond, fmt, ...)						\
	do {								\
		if (!(cond))						\
			tdsm_parmacs_fatal("%s:%d: " fmt, __FILE__,	\
					   __LINE__, ##__VA_ARGS__);	\
	} while (0)

/* ---- the ranks -------------------------------------------------------- */

static const unsigned int nodes4[MAXP] = { 1, 2, 3, 1, 2, 3, 1, 2 };

/*
 * A job of @nranks ranks (0: no job in the environment, one process),
 * rank r on node nodes4[r], each running @prog; rank 0's stderr to
 * @errfd if not -1. Each rank's exit status in @status (128 + N: killed
 * by signal N; an alarm ends a rank that hangs). 0, or -1 if the job
 * could not start.
 */
static int run_ranks(int nranks, void (*prog)(void), int *status, int errfd)
{
	int r, n = nranks ? nranks : 1, st;
	pid_t pid[MAXP];
	void *root = NULL;

	if (!mock_attached && tdsm_attach(0))
		return -1;
	if (nranks && tdsm_job_create(nranks, JOB_ID, &root))
		return -1;
	fflush(NULL);
	for (r = 0; r < n; r++) {
		pid[r] = fork();
		if (pid[r] < 0)
			return -1;
		if (!pid[r]) {
			alarm(30);
			mock_node = nodes4[r];
			if (nranks)
				set_env(r, nranks, JOB_ID, root);
			if (!r && errfd >= 0)
				dup2(errfd, 2);
			prog();
			exit(0);
		}
	}
	for (r = 0; r < n; r++) {
		if (waitpid(pid[r], &st, 0) != pid[r])
			return -1;
		status[r] = WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
	}
	return 0;
}

/* What rank 0 wrote to @fd (a temporary file), NUL-terminated. */
static void read_back(int fd, char *buf, size_t n)
{
	ssize_t got = pread(fd, buf, n - 1, 0);

	buf[got > 0 ? got : 0] = 0;
}

/* ---- a PARMACS program ------------------------------------------------ */

struct global {
	LOCKDEC(lock)
	ALOCKDEC(alock, NALOCK)
	BARDEC(bar)
	PAUSEDEC(go)
	GSDEC(gs)
	long counter;
	long acount[NALOCK];
	long got[NSUB];
	long flagval;
	long seen[MAXP];
};

/* Rank 0's, copied to each worker at its CREATE. */
static struct global *G;
static long P;
static int g_int;
static double g_arr[8];
static long *g_shared;
static char g_str[64];			/* .bss */
static char g_init[16] = "data";	/* .data */

static void check_globals(long me)
{
	char want[64];
	int i;

	CHECK(g_int == me, "g_int %d", g_int);
	for (i = 0; i < 8; i++)
		CHECK(g_arr[i] == me * 10 + i * 0.5, "g_arr[%d] %g", i,
		      g_arr[i]);
	snprintf(want, sizeof(want), "create %ld", me);
	CHECK(!strcmp(g_str, want), "g_str \"%s\"", g_str);
	CHECK(!strcmp(g_init, "data1"), "g_init \"%s\"", g_init);
	CHECK(g_shared && g_shared[0] == 4242, "g_shared %p",
	      (void *)g_shared);
	G->seen[me] = g_int;
}

/* The worker is still itself: libtinydsm, the mock, libc's objects. */
static void check_own(long me)
{
	struct tdsm_heap_stats st;
	void *p;

	CHECK(tdsm_rank() == me && tdsm_nranks() == P, "rank %d of %d",
	      tdsm_rank(), tdsm_nranks());
	CHECK(mock_node == nodes4[me] && mock_attached, "mock node %u",
	      mock_node);
	p = G_MALLOC(100);
	memset(p, 0x5a, 100);
	CHECK(tdsm_heap_stats(&st) == 0 && st.node == nodes4[me],
	      "heap of node %u", st.node);
	G_FREE(p);
	CHECK(fileno(stdout) == 1, "stdout is fd %d, rank 0's?",
	      fileno(stdout));
	CHECK(printf("# parmacs_test: worker %ld on node %u\n", me,
		     mock_node) > 0 && fflush(stdout) == 0, "printf");
	CHECK(environ && getenv("TINYDSM_RANK") &&
	      atol(getenv("TINYDSM_RANK")) == me, "environ");
	CHECK(!getenv("PARMACS_TEST_RANK0_ONLY"), "rank 0's environ");
}

static void slave(void)
{
	unsigned long t1, t2;
	long me, s, r, i;

	GET_PID(me);
	if (me) {
		check_globals(me);
		check_own(me);
	}
	CLOCK(t1);
	usleep(3000);
	CLOCK(t2);
	CHECK(t2 >= t1 + 2 && t2 < t1 + 10000, "CLOCK %lu then %lu", t1, t2);

	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; i < ITERS; i++) {
			LOCK(G->lock)
			G->counter++;
			UNLOCK(G->lock)
		}
		ALOCK(G->alock, me % NALOCK)
		G->acount[me % NALOCK]++;
		AULOCK(G->alock, me % NALOCK)
		BARRIER(G->bar, P)
		CHECK(G->counter == (r + 1) * ITERS * P, "round %ld: %ld",
		      r, G->counter);
		BARRIER(G->bar, P)
	}

	for (;;) {
		GETSUB(G->gs, s, NSUB - 1, P)
		if (s < 0)
			break;
		CHECK(s < NSUB, "GETSUB %ld", s);
		G->got[s]++;
	}
	BARRIER(G->bar, P)

	if (me == 0) {
		for (i = 0; i < NSUB; i++)
			CHECK(G->got[i] == 1, "index %ld given %ld times", i,
			      G->got[i]);
		usleep(20000);	/* the others wait */
		G->flagval = 77;
		SETPAUSE(G->go)
	} else {
		WAITPAUSE(G->go)
		CHECK(G->flagval == 77, "after the pause: %ld", G->flagval);
	}
	BARRIER(G->bar, P)
	if (me == 0) {
		CLEARPAUSE(G->go)
		CHECK(G->go.flag == 0, "CLEARPAUSE");
	}
}

static void prog_fork(void)
{
	FILE *out;
	long k;
	int i;

	MAIN_INITENV(, 1000000)
	P = tdsm_nranks();
	G = G_MALLOC(sizeof(*G));
	memset(G, 0, sizeof(*G));
	LOCKINIT(G->lock)
	ALOCKINIT(G->alock, NALOCK)
	BARINIT(G->bar)
	PAUSEINIT(G->go)
	GSINIT(G->gs)
	g_shared = G_MALLOC(16 * sizeof(long));
	g_shared[0] = 4242;
	strcpy(g_init, "data1");

	/* Rank 0's libc objects, which no worker may take. */
	out = stdout;
	stdout = fopen("/dev/null", "w");
	CHECK(stdout && fileno(stdout) != 1, "fopen");
	setenv("PARMACS_TEST_RANK0_ONLY", "a value long enough to move environ", 1);

	for (k = 1; k < P; k++) {
		g_int = k;
		for (i = 0; i < 8; i++)
			g_arr[i] = k * 10 + i * 0.5;
		snprintf(g_str, sizeof(g_str), "create %ld", k);
		CREATE(slave)
	}
	fclose(stdout);
	stdout = out;

	slave();
	WAIT_FOR_END(P - 1)
	CHECK(G->counter == (long)ROUNDS * ITERS * P, "counter %ld",
	      G->counter);
	for (k = 0, i = 0; i < NALOCK; i++)
		k += G->acount[i];
	CHECK(k == ROUNDS * P, "lock array counts %ld", k);
	for (k = 1; k < P; k++)
		CHECK(G->seen[k] == k, "worker %ld saw g_int %ld", k,
		      G->seen[k]);
	G_FREE(g_shared);
	G_FREE(G);
	MAIN_END
}

/* SPLASH-3: CREATE(fn, P), BARINIT(b, P), WAIT_FOR_END(P). */
static void slave3(void)
{
	long me;

	GET_PID(me);
	LOCK(G->lock)
	G->counter++;
	UNLOCK(G->lock)
	BARRIER(G->bar, 3)
	if (me == 2)
		exit(0);	/* a worker that exits in its function */
}

static void prog_splash3(void)
{
	MAIN_INITENV()
	G = G_MALLOC(sizeof(*G));
	memset(G, 0, sizeof(*G));
	LOCKINIT(G->lock)
	BARINIT(G->bar, 3)
	CREATE(slave3, 3)
	WAIT_FOR_END(3)
	CHECK(G->counter == 3, "counter %ld", G->counter);
	MAIN_END
}

static void nothing(void)
{
}

static void prog_beyond(void)
{
	MAIN_INITENV(, 1000)
	CREATE(nothing)
	CREATE(nothing)		/* the job has 2 ranks */
	MAIN_END
}

static tdsm_mutex_t not_shared;

static void prog_global_lock(void)
{
	MAIN_INITENV(, 1000)
	LOCK(not_shared)
	MAIN_END
}

/* ---- the tests -------------------------------------------------------- */

/* What CREATE skips is where parmacs.c looks for it. */
TEST(layout)
{
	ASSERT_LE((uintptr_t)__data_start, (uintptr_t)&g_init);
	ASSERT_GT((uintptr_t)_end, (uintptr_t)&g_str);
	/* the library's and the mock's state: one section */
	ASSERT_LE((uintptr_t)__start_tdsm_private, (uintptr_t)&mock_node);
	ASSERT_GT((uintptr_t)__stop_tdsm_private, (uintptr_t)&mock_node);
	ASSERT_LE((uintptr_t)__data_start, (uintptr_t)__start_tdsm_private);
	ASSERT_GE((uintptr_t)_end, (uintptr_t)__stop_tdsm_private);
	/* copy relocations: libc's objects in this executable's .bss */
	ASSERT_LE((uintptr_t)__data_start, (uintptr_t)&stdout);
	ASSERT_GT((uintptr_t)_end, (uintptr_t)&stdout);
	ASSERT_LE((uintptr_t)__data_start, (uintptr_t)&environ);
	ASSERT_GT((uintptr_t)_end, (uintptr_t)&environ);
}

TEST(fork_semantics)
{
	int st[MAXP], r, n = 5;

	ASSERT_EQ(0, mock_setup());
	ASSERT_EQ(0, run_ranks(n, prog_fork, st, -1));
	for (r = 0; r < n; r++)
		EXPECT_EQ(0, st[r]) TH_LOG("rank %d", r);
	/* every node's heap given back: only the launcher's root is left */
	EXPECT_EQ(1, mock_runs(0));
}

/* 5 ranks, 2 workers: ranks 3 and 4 are let go at MAIN_END. */
TEST(splash3_and_unused_ranks)
{
	int st[MAXP], r, n = 5;

	ASSERT_EQ(0, mock_setup());
	ASSERT_EQ(0, run_ranks(n, prog_splash3, st, -1));
	for (r = 0; r < n; r++)
		EXPECT_EQ(0, st[r]) TH_LOG("rank %d", r);
}

TEST(create_beyond_ranks)
{
	FILE *err = tmpfile();
	char msg[1024];
	int st[MAXP];

	ASSERT_EQ(0, mock_setup());
	ASSERT_NE(NULL, err);
	ASSERT_EQ(0, run_ranks(2, prog_beyond, st, fileno(err)));
	EXPECT_EQ(1, st[0]);
	EXPECT_EQ(1, st[1]);	/* its function ended; rank 0's abort */
	read_back(fileno(err), msg, sizeof(msg));
	EXPECT_NE(NULL, strstr(msg, "CREATE number 2 needs rank 2, but the "
			       "job has 2 ranks")) TH_LOG("stderr: %s", msg);
	fclose(err);
}

TEST(lock_outside_region)
{
	FILE *err = tmpfile();
	char msg[1024];
	int st[MAXP];

	ASSERT_EQ(0, mock_setup());
	ASSERT_NE(NULL, err);
	unsetenv("TINYDSM_RANK");
	unsetenv("TINYDSM_NRANKS");
	unsetenv("TINYDSM_JOB");
	unsetenv("TINYDSM_ROOT");
	ASSERT_EQ(0, run_ranks(0, prog_global_lock, st, fileno(err)));
	EXPECT_EQ(1, st[0]);
	read_back(fileno(err), msg, sizeof(msg));
	EXPECT_NE(NULL, strstr(msg, "is not in the region")) TH_LOG("%s", msg);
	fclose(err);
}

TEST_HARNESS_MAIN
