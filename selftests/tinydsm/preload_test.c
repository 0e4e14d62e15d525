// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm lab test, 2 nodes: runs that belong to an open file
 * (TINYDSM_ALLOC_F_FILE), and libtinydsm-preload.so, which puts an
 * unmodified program's heap in such a run, homed on node2. node1 acts;
 * node2, the home, checks after each step that its home_charged is back
 * to what it was before the test (the run freed) and reads it each time.
 *
 *   owned_runs_freed    a run of the file's, with ALLOC_F_FILE at node2, is
 *                       freed when the file is closed, when its process
 *                       exits, and when its process is killed (SIGKILL)
 *                       while it maps the run; one freed before the close
 *                       (through another file) is not freed again at the
 *                       close, although another run now has its address;
 *                       the 65th run of a file is ENOSPC; unknown flags
 *                       and flags on FREE are EINVAL
 *   release_home_unreachable
 *                       the file is closed while node1 cannot reach node2
 *                       (its RoCE SENDs dropped): the release's FREE
 *                       gives up within its bound, the log says the run
 *                       stays allocated, and it does (node2's charges);
 *                       once the nodes are connected again, a FREE of it
 *                       works and the charges are back
 *   replacement_set     preload_check (every function of the malloc
 *                       family, threads, fork) under the library: every
 *                       block in the region, homed on node2
 *   programs            sort, xz (compress and decompress) and python3
 *                       (a large dict, PYTHONMALLOC=malloc) under the
 *                       library, heap homed on node2: the same output as
 *                       without it; node1 faulted pages in from node2;
 *                       the time with and without it is logged (not
 *                       asserted: make bench measures it); not on a
 *                       debug kernel (make check's time)
 *   bad_setup           TINYDSM_HOME by name through TINYDSM_CONF; an
 *                       unknown name, a node past max_nodes, a node that
 *                       is not a peer, a TINYDSM_HEAP_MB too small, a
 *                       device the user cannot open: exit 127, the reason
 *                       on stderr, nothing left allocated; not on a
 *                       debug kernel (make check's time)
 *
 * Every node of a 2-node lab run executes this binary (tdsm_cluster.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tdsm_cluster.h"

#define PAIR		2
#define ACTOR		1
#define HOME		2
#define RUN_PAGES	64
#define STEP_S		300
/* The inputs of the programs (not run on a debug kernel: see there). */
#define SORT_LINES	40000
#define PY_ITEMS	40000

FIXTURE(preload) {
	struct tc_node n;
	struct tc_sync s;
	int ready;
	char setup_err[256];
	char tree[PATH_MAX];
	char lib[PATH_MAX + 64];
	char dir[64];		/* node1's scratch directory */
	int dropping;		/* node1: a tc filter drops its SENDs */
	uint64_t charged0;	/* node2: home_charged before */
};

FIXTURE_SETUP(preload)
{
	const char *t = getenv("TDSM_TREE");

	tc_sync_init(&self->s, "preload", _metadata->name);
	snprintf(self->tree, sizeof(self->tree), "%s", t && *t ? t : ".");
	snprintf(self->lib, sizeof(self->lib), "%s/build/lib/libtinydsm-preload.so",
		 self->tree);
	snprintf(self->dir, sizeof(self->dir), "/tmp/preload_test.%d", (int)getpid());
	if (self->s.nodes != PAIR)
		return;
	TC_NODE_OPEN();
}

FIXTURE_TEARDOWN(preload)
{
	TC_MARK_FAILED();
	if (self->dropping)
		tc_drop_roce(NULL, 0, NULL);
	if (self->s.id == ACTOR && self->dir[0])
		tc_shell("rm -rf %s", self->dir);
	if (self->ready)
		tc_node_close(&self->n);
}

#define START() TC_START(PAIR)
#define BARRIER(step, secs) TC_BARRIER(step, secs)

static uint64_t charged(const struct tc_node *n)
{
	struct tinydsm_stats st;

	return tc_stats(n, &st) ? ~0ull : st.home_charged;
}

/*
 * node1 did @step; node2 checks that its home_charged is back to what it
 * was before the test (within a bound: a FREE at release is asked for as
 * the last mapping goes, which a killed process's exit may still be
 * doing); then both go on.
 */
#define BACK(step) do {							\
	BARRIER(step, STEP_S);						\
	if (self->s.id == HOME) {					\
		double _end = tc_now() + 30;				\
		uint64_t _c;						\
									\
		while ((_c = charged(&self->n)) != self->charged0 &&	\
		       tc_now() < _end)					\
			usleep(100 * 1000);				\
		EXPECT_EQ(self->charged0, _c)				\
			TH_LOG("after %s: node2 charges %llu pages, %llu before", \
			       (step), (unsigned long long)_c,		\
			       (unsigned long long)self->charged0);	\
	}								\
	BARRIER(step "-checked", STEP_S);				\
} while (0)

#define BEGIN() do {							\
	START();							\
	if (self->s.id == HOME)						\
		self->charged0 = charged(&self->n);			\
	BARRIER("begin", STEP_S);					\
} while (0)

/* ALLOC of @npages at node2 through @fd with @flags: the address, or 0. */
static uint64_t alloc_at_home(int fd, unsigned int npages, unsigned int flags)
{
	struct tinydsm_alloc a = { .home = HOME, .npages = npages, .flags = flags };

	return ioctl(fd, TINYDSM_IOC_ALLOC, &a) ? 0 : a.addr;
}

static int free_run(int fd, uint64_t addr, unsigned int npages)
{
	struct tinydsm_alloc a = { .addr = addr, .npages = npages };

	return ioctl(fd, TINYDSM_IOC_FREE, &a) ? -errno : 0;
}

static int dev_open(void)
{
	return open("/dev/" TINYDSM_DEVICE_NAME, O_RDWR | O_CLOEXEC);
}

/*
 * A child that allocates a run of its file's at node2, maps it, writes
 * every page, tells its address through @wfd, then exits (@wait false) or
 * waits to be killed.
 */
static void owner_child(const struct tc_node *n, int wfd, bool wait)
{
	uint64_t addr;
	uint8_t *p;
	int fd;

	/* The test's own mapping of the region is where the run must go. */
	munmap(n->map, n->info.size);
	fd = dev_open();
	addr = fd < 0 ? 0 : alloc_at_home(fd, RUN_PAGES, TINYDSM_ALLOC_F_FILE);
	if (!addr)
		_exit(1);
	p = mmap(NULL, RUN_PAGES * n->psz, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)(addr - n->info.base));
	if (p == MAP_FAILED)
		_exit(2);
	close(fd);	/* the mapping keeps the file */
	memset(p, 0x5a, RUN_PAGES * n->psz);
	if (write(wfd, &addr, sizeof(addr)) != sizeof(addr))
		_exit(3);
	if (wait)
		pause();
	_exit(0);
}

/* Start owner_child(); its run's address in *@addr. The child's pid. */
static pid_t owner_start(struct __test_metadata *_metadata,
			 const struct tc_node *n, bool wait, uint64_t *addr)
{
	int pfd[2];
	pid_t pid;

	*addr = 0;
	if (pipe(pfd))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		owner_child(n, pfd[1], wait);
	}
	close(pfd[1]);
	EXPECT_EQ((ssize_t)sizeof(*addr), read(pfd[0], addr, sizeof(*addr)));
	close(pfd[0]);
	return pid;
}

TEST_F_TIMEOUT(preload, owned_runs_freed, 600)
{
	uint64_t addr, again;
	unsigned int i;
	int fd, fd2, status;
	pid_t pid;

	BEGIN();
	if (self->s.id == ACTOR) {
		/* Closed: freed. */
		fd = dev_open();
		ASSERT_LE(0, fd);
		addr = alloc_at_home(fd, RUN_PAGES, TINYDSM_ALLOC_F_FILE);
		ASSERT_NE(0ull, addr) TH_LOG("ALLOC_F_FILE: %s", strerror(errno));
		close(fd);
	}
	BACK("closed");
	if (self->s.id == ACTOR) {
		/* Its process exits, mapping the run: freed. */
		pid = owner_start(_metadata, &self->n, false, &addr);
		ASSERT_LT(0, pid);
		EXPECT_NE(0ull, addr);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	}
	BACK("exited");
	if (self->s.id == ACTOR) {
		/* Killed while it maps the run: freed. */
		pid = owner_start(_metadata, &self->n, true, &addr);
		ASSERT_LT(0, pid);
		EXPECT_NE(0ull, addr);
		kill(pid, SIGKILL);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFSIGNALED(status));
	}
	BACK("killed");
	if (self->s.id == ACTOR) {
		/*
		 * Freed through another file before the close, and the same
		 * address allocated again (not the file's): the close must
		 * not free it.
		 */
		fd = dev_open();
		fd2 = dev_open();
		ASSERT_LE(0, fd);
		ASSERT_LE(0, fd2);
		addr = alloc_at_home(fd, RUN_PAGES, TINYDSM_ALLOC_F_FILE);
		ASSERT_NE(0ull, addr);
		EXPECT_EQ(0, free_run(fd2, addr, RUN_PAGES));
		again = alloc_at_home(fd2, RUN_PAGES, 0);
		ASSERT_NE(0ull, again);
		TH_LOG("freed %#llx, allocated %#llx again (%s)", (unsigned long long)addr,
		       (unsigned long long)again, addr == again ? "the same" : "elsewhere");
		close(fd);
		/* Still allocated: its FREE works (it would be EINVAL if gone). */
		EXPECT_EQ(0, free_run(fd2, again, RUN_PAGES));

		/* At most TINYDSM_ALLOC_FILE_MAX runs a file; all freed at close. */
		fd = dev_open();
		ASSERT_LE(0, fd);
		for (i = 0; i < TINYDSM_ALLOC_FILE_MAX; i++)
			if (!alloc_at_home(fd, 1, TINYDSM_ALLOC_F_FILE))
				break;
		EXPECT_EQ((unsigned int)TINYDSM_ALLOC_FILE_MAX, i) TH_LOG("run %u: %s", i,
									 strerror(errno));
		EXPECT_EQ(0ull, alloc_at_home(fd, 1, TINYDSM_ALLOC_F_FILE));
		EXPECT_EQ(ENOSPC, errno);
		/* Bad flags: EINVAL, nothing allocated. */
		EXPECT_EQ(0ull, alloc_at_home(fd, 1, 2));
		EXPECT_EQ(EINVAL, errno);
		{
			struct tinydsm_alloc a = { .addr = self->n.info.base, .npages = 1,
						   .flags = TINYDSM_ALLOC_F_FILE };

			EXPECT_EQ(-1, ioctl(fd, TINYDSM_IOC_FREE, &a));
			EXPECT_EQ(EINVAL, errno);
		}
		close(fd);
		close(fd2);
	}
	BACK("many");
}

/*
 * The release's FREE meets a home it cannot reach: bounded, said, and the
 * run left allocated (PROTOCOL.md, "Runs that belong to a file").
 */
TEST_F_TIMEOUT(preload, release_home_unreachable, 300)
{
	static const uint8_t send_only = 0x04;	/* RoCE RC SEND ONLY: requests */
	unsigned int tmo = tc_module_param("timeout_ms", TC_DEFAULT_PEER_TIMEOUT_MS);
	char val[32];
	uint64_t addr;
	double t, took;
	int fd, err;

	BEGIN();
	if (self->s.id == ACTOR) {
		fd = dev_open();
		ASSERT_LE(0, fd);
		addr = alloc_at_home(fd, RUN_PAGES, TINYDSM_ALLOC_F_FILE);
		ASSERT_NE(0ull, addr) TH_LOG("ALLOC_F_FILE: %s", strerror(errno));
		self->dropping = 1;
		ASSERT_EQ(0, tc_drop_roce("egress", 1, &send_only)) TH_LOG("tc failed");
		t = tc_now();
		close(fd);
		took = tc_now() - t;
		EXPECT_EQ(0, tc_drop_roce(NULL, 0, NULL));
		self->dropping = 0;
		/* One FREE call: at most twice timeout_ms, and its teardown. */
		TH_LOG("close with node2 unreachable: %.1f s (timeout_ms %u)", took, tmo);
		EXPECT_GT(2.0 * tmo / 1000 + 10, took);
		EXPECT_EQ(0, tc_shell("dmesg | grep -q 'stays allocated: FREE at its file.s release failed'"));
		snprintf(val, sizeof(val), "%#llx", (unsigned long long)addr);
		ASSERT_EQ(0, tc_put(&self->s, "left", val));
	}
	BARRIER("closed", STEP_S);
	if (self->s.id == HOME)
		EXPECT_EQ(self->charged0 + RUN_PAGES, charged(&self->n))
			TH_LOG("node2 should still charge the run");
	BARRIER("still-there", STEP_S);
	if (self->s.id == ACTOR) {
		/* Connected again (bounded): its FREE, as its user, works. */
		ASSERT_EQ(0, tc_get(&self->s, "left", val, sizeof(val)));
		addr = strtoull(val, NULL, 0);
		fd = dev_open();
		ASSERT_LE(0, fd);
		t = tc_now();
		while ((err = free_run(fd, addr, RUN_PAGES)) && tc_now() < t + 60)
			sleep(1);
		EXPECT_EQ(0, err) TH_LOG("FREE after the reconnect: %s", strerror(-err));
		close(fd);
	}
	BACK("freed");
}

/* sh -c CMD as node1's test; its exit status (-1: did not run). */
#define SH(...) tc_shell(__VA_ARGS__)

TEST_F_TIMEOUT(preload, replacement_set, 600)
{
	BEGIN();
	if (self->s.id == ACTOR) {
		/*
		 * Smaller on a debug kernel, where every first touch is a remote
		 * fault of about 25 ms, and without fork there: the child reads
		 * every page the heap handed out (89 s of make check's time
		 * with it; the fork path is the library's, 6.1 checks it).
		 */
		EXPECT_EQ(0, SH("LD_PRELOAD=%s TINYDSM_HOME=%u TINYDSM_PRELOAD_STATS=1 "
				"%s/build/selftests/preload_check %u %s >&2", self->lib, HOME,
				self->tree, HOME, tc_debug_kernel() ? "300 1 nofork" : "20000 8"));
	}
	BACK("checked");
}

/* The seconds @cmd took (sh -c), its status in *@rc. */
static double timed(int *rc, const char *cmd)
{
	double t0 = tc_now();

	*rc = tc_shell("%s", cmd);
	return tc_now() - t0;
}

TEST_F_TIMEOUT(preload, programs, 900)
{
	unsigned int lines = SORT_LINES, items = PY_ITEMS;
	char pre[PATH_MAX + 128], cmd[3 * PATH_MAX];
	struct tinydsm_stats s0, s1;
	const char *d = self->dir;
	double t_plain, t_pre;
	int rc;

	/*
	 * The debug kernel's time goes to make check's other suites: these
	 * programs take the kernel paths replacement_set takes (faults,
	 * ALLOC and FREE of a run of the file's), for 140 s there.
	 */
	if (tc_debug_kernel())
		SKIP(return, "the debug kernel: the paths of replacement_set, for 140 s of make check's time; 6.1 runs it");
	BEGIN();
	if (self->s.id == ACTOR) {
		snprintf(pre, sizeof(pre), "LD_PRELOAD=%s TINYDSM_HOME=%u TINYDSM_PRELOAD_STATS=1",
			 self->lib, HOME);
		ASSERT_EQ(0, SH("mkdir -p %s && seq %u | awk '{ srand($1); print int(rand() * 1e9) \" line \" $1 }' >%s/in",
				d, lines, d));
		ASSERT_EQ(0, tc_stats(&self->n, &s0));

		/* sort: the same lines in the same order. */
		snprintf(cmd, sizeof(cmd), "sort %s/in >%s/sort.plain", d, d);
		t_plain = timed(&rc, cmd);
		EXPECT_EQ(0, rc);
		snprintf(cmd, sizeof(cmd), "%s sort %s/in >%s/sort.pre 2>%s/sort.err", pre, d, d, d);
		t_pre = timed(&rc, cmd);
		EXPECT_EQ(0, rc);
		EXPECT_EQ(0, SH("cmp %s/sort.plain %s/sort.pre >&2", d, d));
		EXPECT_EQ(0, SH("grep -q 'home node %u' %s/sort.err", HOME, d));
		SH("cat %s/sort.err >&2", d);
		TH_LOG("sort of %u lines: %.2f s, %.2f s with the heap on node%u (x%.1f)",
		       lines, t_plain, t_pre, HOME, t_pre / t_plain);

		/* xz: the same compressed bytes, and back. */
		snprintf(cmd, sizeof(cmd), "xz -1 -T1 -c %s/in >%s/xz.plain", d, d);
		t_plain = timed(&rc, cmd);
		EXPECT_EQ(0, rc);
		snprintf(cmd, sizeof(cmd), "%s xz -1 -T1 -c %s/in >%s/xz.pre 2>%s/xz.err && "
			 "%s xz -d -c %s/xz.pre >%s/xz.back 2>>%s/xz.err", pre, d, d, d, pre, d, d, d);
		t_pre = timed(&rc, cmd);
		EXPECT_EQ(0, rc);
		EXPECT_EQ(0, SH("cmp %s/xz.plain %s/xz.pre >&2 && cmp %s/in %s/xz.back >&2",
				d, d, d, d));
		EXPECT_EQ(0, SH("test $(grep -c 'home node %u' %s/xz.err) = 2", HOME, d));
		TH_LOG("xz -1 compress: %.2f s; compress and decompress with the heap on node%u: %.2f s",
		       t_plain, HOME, t_pre);

		/* python3: a large dict, every object through malloc. */
		snprintf(cmd, sizeof(cmd),
			 "python3 -c 'import hashlib\n"
			 "d = {i: str(i) * 3 for i in range(%u)}\n"
			 "print(hashlib.sha256(repr(sorted(d.items())).encode()).hexdigest())' >%s/py.plain",
			 items, d);
		t_plain = timed(&rc, cmd);
		EXPECT_EQ(0, rc);
		snprintf(cmd, sizeof(cmd),
			 "%s PYTHONMALLOC=malloc python3 -c 'import hashlib\n"
			 "d = {i: str(i) * 3 for i in range(%u)}\n"
			 "print(hashlib.sha256(repr(sorted(d.items())).encode()).hexdigest())' >%s/py.pre 2>%s/py.err",
			 pre, items, d, d);
		t_pre = timed(&rc, cmd);
		EXPECT_EQ(0, rc);
		EXPECT_EQ(0, SH("cmp %s/py.plain %s/py.pre >&2 && test -s %s/py.pre", d, d, d));
		EXPECT_EQ(0, SH("grep -q 'home node %u' %s/py.err", HOME, d));
		SH("cat %s/py.err >&2", d);
		TH_LOG("python3, a dict of %u: %.2f s, %.2f s with the heap on node%u (x%.1f)",
		       items, t_plain, t_pre, HOME, t_pre / t_plain);

		/* Their heaps were on node2: node1 faulted pages in from it. */
		ASSERT_EQ(0, tc_stats(&self->n, &s1));
		EXPECT_LT(100ull, (unsigned long long)(s1.remote_faults - s0.remote_faults));
		TH_LOG("node1: %llu remote faults", (unsigned long long)(s1.remote_faults -
									 s0.remote_faults));
	}
	BACK("ran");
}

TEST_F_TIMEOUT(preload, bad_setup, 300)
{
	const char *d = self->dir;
	char conf[128];

	/* The library's own checks, before any kernel path: 27 s there. */
	if (tc_debug_kernel())
		SKIP(return, "the debug kernel: the library's checks of its settings, for 27 s of make check's time; 6.1 runs it");
	BEGIN();
	if (self->s.id == ACTOR) {
		ASSERT_EQ(0, SH("mkdir -p %s && printf 'node 1 name alpha addr 10.0.0.1\\n"
				"node 2 name beta addr 10.0.0.2\\nself alpha\\n' >%s/conf",
				d, d));
		snprintf(conf, sizeof(conf), "TINYDSM_CONF=%s/conf", d);
		/* By name: works. */
		EXPECT_EQ(0, SH("%s TINYDSM_HOME=beta TINYDSM_PRELOAD_STATS=1 LD_PRELOAD=%s "
				"ls / >/dev/null 2>%s/err && grep -q 'home node 2' %s/err",
				conf, self->lib, d, d));
		/* Each refusal: 127 and its reason. */
		EXPECT_EQ(127, SH("%s TINYDSM_HOME=gamma LD_PRELOAD=%s ls / 2>%s/err >/dev/null",
				  conf, self->lib, d));
		EXPECT_EQ(0, SH("grep -q 'TINYDSM_HOME=gamma: no such node in %s/conf' %s/err", d, d));
		EXPECT_EQ(127, SH("TINYDSM_HOME=99 LD_PRELOAD=%s ls / 2>%s/err >/dev/null",
				  self->lib, d));
		EXPECT_EQ(0, SH("grep -q 'TINYDSM_HOME=99: not a node' %s/err", d));
		EXPECT_EQ(127, SH("TINYDSM_HOME=3 LD_PRELOAD=%s ls / 2>%s/err >/dev/null",
				  self->lib, d));
		EXPECT_EQ(0, SH("grep -q 'no node 3 among this node.s peers' %s/err", d));
		EXPECT_EQ(127, SH("TINYDSM_HOME=2 TINYDSM_HEAP_MB=1 LD_PRELOAD=%s ls / 2>%s/err >/dev/null",
				  self->lib, d));
		EXPECT_EQ(0, SH("grep -q 'TINYDSM_HEAP_MB=1: want 4' %s/err", d));
		/* A user who may not open the device. */
		EXPECT_EQ(0, SH("stat -c %%a /dev/tinydsm >%s/mode && chmod 0600 /dev/tinydsm", d));
		EXPECT_EQ(127, SH("cd / && TINYDSM_HOME=2 LD_PRELOAD=%s setpriv --reuid=nobody "
				  "--regid=nogroup --clear-groups -- ls / 2>%s/err >/dev/null",
				  self->lib, d));
		EXPECT_EQ(0, SH("grep -q '/dev/tinydsm: Permission denied' %s/err", d));
		EXPECT_EQ(0, SH("chmod $(cat %s/mode) /dev/tinydsm", d));
		SH("cat %s/err >&2", d);
	}
	BACK("refused");
}

TEST_HARNESS_MAIN
