// SPDX-License-Identifier: GPL-2.0
/*
 * The file barriers of tdsm_cluster.h, which the multi-node tests rely on:
 * processes play the nodes of a run (TDSM_NODE_ID, TDSM_NODES,
 * TDSM_SHARED), no module needed. A barrier lets nobody through before the
 * last node arrives; a node that marked the test failed releases the
 * others at once; a missing node times them out, bounded, and later
 * barriers of the run wait less; published values round-trip.
 *
 * Runs anywhere (on the host too); the directory is a fresh one under
 * TDSM_SYNC_TEST_DIR (default /tmp). In the lab, run_cluster_tests.sh
 * points it at the 9p result share, which is what the nodes use.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "tdsm_cluster.h"

FIXTURE(sync) {
	char dir[PATH_MAX];
};

FIXTURE_SETUP(sync)
{
	const char *parent = getenv("TDSM_SYNC_TEST_DIR");
	int r;

	r = snprintf(self->dir, sizeof(self->dir), "%s/tdsm-sync.XXXXXX",
		     parent && *parent ? parent : "/tmp");
	ASSERT_LT(r, (int)sizeof(self->dir));
	ASSERT_NE(NULL, mkdtemp(self->dir)) TH_LOG("mkdtemp: %s", strerror(errno));
}

FIXTURE_TEARDOWN(sync)
{
	char cmd[PATH_MAX + 16];

	if (snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->dir) < (int)sizeof(cmd) &&
	    system(cmd))
		TH_LOG("could not remove %s", self->dir);
}

/* Become node @id of @nodes, meeting in @dir, in test @test. */
static void be_node(struct tc_sync *s, const char *dir, unsigned int id,
		    unsigned int nodes, const char *test)
{
	char v[16];

	setenv("TDSM_SHARED", dir, 1);
	snprintf(v, sizeof(v), "%u", id);
	setenv("TDSM_NODE_ID", v, 1);
	snprintf(v, sizeof(v), "%u", nodes);
	setenv("TDSM_NODES", v, 1);
	tc_sync_init(s, "sync", test);
}

struct result {
	double arrived, left;
	int ret;
	char err[200];
};

/*
 * Fork node @id: sleep @delay_ms, then barrier @step with @timeout_s;
 * report through @res (a shared mapping). @fail: instead of arriving,
 * mark the test failed (1), or die of SIGBUS (FAIL_SIGBUS), as a node
 * whose fault the module could not serve does.
 */
#define FAIL_SIGBUS	2

static pid_t spawn(const char *dir, unsigned int id, unsigned int nodes,
		   unsigned int delay_ms, const char *step, int timeout_s,
		   int fail, struct result *res)
{
	struct tc_sync s;
	pid_t pid = fork();

	if (pid)
		return pid;
	be_node(&s, dir, id, nodes, "t");
	usleep(delay_ms * 1000);
	res->arrived = tc_now();
	if (fail == FAIL_SIGBUS)
		raise(SIGBUS);
	if (fail) {
		tc_mark_failed(&s);
		_exit(0);
	}
	res->ret = tc_barrier(&s, step, TC_ALL, timeout_s, res->err,
			      sizeof(res->err));
	res->left = tc_now();
	_exit(0);
}

static struct result *shared_results(unsigned int n)
{
	void *m = mmap(NULL, n * sizeof(struct result), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return m == MAP_FAILED ? NULL : m;
}

static int reap(pid_t *pids, unsigned int n)
{
	unsigned int i;
	int status, bad = 0;

	for (i = 0; i < n; i++)
		if (waitpid(pids[i], &status, 0) != pids[i] ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			bad++;
	return bad;
}

/*
 * Three nodes arrive 0, 300 and 600 ms late: nobody leaves before the last,
 * and each is let through by the barrier, not by its 10 s timeout (how soon
 * after is the machine's speed: 9p under a debug kernel is slow, so the
 * bound is half the timeout, not a latency).
 */
#define STEP_TIMEOUT_S	10

TEST_F(sync, nobody_leaves_early)
{
	struct result *res = shared_results(4);
	double last = 0;
	pid_t pids[3];
	unsigned int i;

	ASSERT_NE(NULL, res);
	for (i = 1; i <= 3; i++)
		pids[i - 1] = spawn(self->dir, i, 3, (i - 1) * 300, "step",
				    STEP_TIMEOUT_S, 0, &res[i]);
	ASSERT_EQ(0, reap(pids, 3));
	for (i = 1; i <= 3; i++)
		if (res[i].arrived > last)
			last = res[i].arrived;
	for (i = 1; i <= 3; i++) {
		EXPECT_EQ(0, res[i].ret) TH_LOG("node%u: %s", i, res[i].err);
		EXPECT_GE(res[i].left, last) TH_LOG("node%u left before node3 arrived", i);
		EXPECT_LT(res[i].left - last, STEP_TIMEOUT_S / 2.0)
			TH_LOG("node%u left %.2f s after the last arrival", i,
			       res[i].left - last);
	}
	munmap(res, 4 * sizeof(*res));
}

/*
 * node2 fails the test: the others give up as soon as they see it (well
 * before their 30 s timeout), naming it.
 */
TEST_F(sync, failed_node_releases_the_others)
{
	struct result *res = shared_results(4);
	pid_t pids[3];
	unsigned int i;

	ASSERT_NE(NULL, res);
	pids[0] = spawn(self->dir, 1, 3, 0, "step", 30, 0, &res[1]);
	pids[1] = spawn(self->dir, 2, 3, 200, "step", 30, 1, &res[2]);
	pids[2] = spawn(self->dir, 3, 3, 0, "step", 30, 0, &res[3]);
	ASSERT_EQ(0, reap(pids, 3));
	for (i = 1; i <= 3; i += 2) {
		EXPECT_EQ(-1, res[i].ret);
		EXPECT_LT(res[i].left - res[2].arrived, 30 / 2.0);
		EXPECT_NE(NULL, strstr(res[i].err, "node2 failed")) TH_LOG("%s", res[i].err);
	}
	munmap(res, 4 * sizeof(*res));
}

/*
 * node2 dies of SIGBUS instead of arriving, as a node whose fault the
 * module could not serve does: it runs no teardown, but the handler
 * tc_sync_init() armed marks the test failed first, so the others give up
 * at once (well before their 30 s), naming it; node2 still dies of SIGBUS.
 */
TEST_F(sync, node_killed_by_signal_releases_the_others)
{
	struct result *res = shared_results(4);
	pid_t pids[3];
	unsigned int i;
	int status;

	ASSERT_NE(NULL, res);
	pids[0] = spawn(self->dir, 1, 3, 0, "step", 30, 0, &res[1]);
	pids[1] = spawn(self->dir, 2, 3, 200, "step", 30, FAIL_SIGBUS, &res[2]);
	pids[2] = spawn(self->dir, 3, 3, 0, "step", 30, 0, &res[3]);
	ASSERT_EQ(pids[1], waitpid(pids[1], &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS)
		TH_LOG("node2: status %#x, not killed by SIGBUS", status);
	ASSERT_EQ(0, reap((pid_t[]){ pids[0], pids[2] }, 2));
	for (i = 1; i <= 3; i += 2) {
		EXPECT_EQ(-1, res[i].ret);
		EXPECT_LT(res[i].left - res[2].arrived, 30 / 2.0);
		EXPECT_NE(NULL, strstr(res[i].err, "node2 failed")) TH_LOG("%s", res[i].err);
	}
	munmap(res, 4 * sizeof(*res));
}

/*
 * node3 never comes: node1 and node2 time out after 1 s, naming node3, and
 * the run is marked degraded (later barriers wait at most the short time).
 */
TEST_F(sync, missing_node_times_out)
{
	struct result *res = shared_results(4);
	struct tc_sync s;
	pid_t pids[2];
	unsigned int i;

	ASSERT_NE(NULL, res);
	be_node(&s, self->dir, 1, 3, "t");
	EXPECT_EQ(0, tc_run_degraded(&s));
	pids[0] = spawn(self->dir, 1, 3, 0, "step", 1, 0, &res[1]);
	pids[1] = spawn(self->dir, 2, 3, 0, "step", 1, 0, &res[2]);
	ASSERT_EQ(0, reap(pids, 2));
	for (i = 1; i <= 2; i++) {
		EXPECT_EQ(-1, res[i].ret);
		EXPECT_GE(res[i].left - res[i].arrived, 1.0);
		/* Bounded: the timeout, plus what a slow 9p poll may add. */
		EXPECT_LT(res[i].left - res[i].arrived, 6.0);
		EXPECT_NE(NULL, strstr(res[i].err, "timed out")) TH_LOG("%s", res[i].err);
		EXPECT_NE(NULL, strstr(res[i].err, "node3")) TH_LOG("%s", res[i].err);
		EXPECT_EQ(NULL, strstr(res[i].err, "node1 ")) TH_LOG("%s", res[i].err);
	}
	EXPECT_EQ(1, tc_run_degraded(&s));
	munmap(res, 4 * sizeof(*res));
}

/* A barrier among some nodes does not wait for the others. */
TEST_F(sync, subset_barrier)
{
	struct tc_sync s;
	char err[200];
	pid_t pid;
	int status;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		be_node(&s, self->dir, 2, 3, "t");
		_exit(tc_barrier(&s, "pair", TC_NODE(1) | TC_NODE(2), 5, err,
				 sizeof(err)) ? 1 : 0);
	}
	be_node(&s, self->dir, 1, 3, "t");
	EXPECT_EQ(0, tc_barrier(&s, "pair", TC_NODE(1) | TC_NODE(2), 5, err,
				sizeof(err))) TH_LOG("%s", err);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* One node, or a barrier of this node alone: no waiting, no directory. */
TEST(single_node_needs_nothing)
{
	struct tc_sync s;
	char err[200];

	unsetenv("TDSM_SHARED");
	setenv("TDSM_NODE_ID", "1", 1);
	setenv("TDSM_NODES", "1", 1);
	tc_sync_init(&s, "sync", "t");
	EXPECT_EQ(0, tc_barrier(&s, "x", TC_ALL, 1, err, sizeof(err)));
	setenv("TDSM_NODES", "2", 1);
	tc_sync_init(&s, "sync", "t");
	EXPECT_EQ(0, tc_barrier(&s, "x", TC_NODE(1), 1, err, sizeof(err)));
	EXPECT_EQ(-1, tc_barrier(&s, "x", TC_ALL, 1, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "TDSM_SHARED")) TH_LOG("%s", err);
}

/* Published values round-trip; absent ones are absent; tests are apart. */
TEST_F(sync, publish_and_read)
{
	struct tc_sync a, b, other;
	char buf[64];

	be_node(&a, self->dir, 1, 2, "t");
	be_node(&b, self->dir, 2, 2, "t");
	be_node(&other, self->dir, 2, 2, "another_test");
	EXPECT_EQ(-1, tc_get(&b, "addr", buf, sizeof(buf)));
	ASSERT_EQ(0, tc_put(&a, "addr", "0x400000010000"));
	ASSERT_EQ(0, tc_get(&b, "addr", buf, sizeof(buf)));
	EXPECT_STREQ("0x400000010000", buf);
	ASSERT_EQ(0, tc_put(&a, "addr", "0x1"));
	ASSERT_EQ(0, tc_get(&b, "addr", buf, sizeof(buf)));
	EXPECT_STREQ("0x1", buf);
	EXPECT_EQ(-1, tc_get(&other, "addr", buf, sizeof(buf)));
}

TEST_HARNESS_MAIN
