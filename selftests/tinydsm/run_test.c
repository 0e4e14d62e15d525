// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl run on 2 and 3 nodes, with tinydsmd on each (daemon.sh, as
 * for daemon_cluster_test): node1 launches the jobs, as an operator
 * would; the other nodes check what is theirs to see (their ranks' files,
 * their processes, their job show) between barriers.
 *
 *   env_and_placement    every rank's TINYDSM_RANK/NRANKS/JOB, not the
 *       TINYDSM_ROOT of tinydsmctl's own, uid nobody; round-robin: each rank
 *       ran on node (rank % nodes) + 1; "[rank] " before every line
 *   no_prefix            --no-prefix
 *   per_node             --per-node 2: ranks 0,1 on node1, 2,3 on node2...
 *   first_nonzero_status a rank on the last node exits 3: status 3, the
 *       others (sleeping) ended within the bound, on every node
 *   signal_death         a rank killed by SIGKILL: 137, the others ended
 *   cwd                  the ranks run in tinydsmctl's directory
 *   sigint_and_job_show  SIGINT to tinydsmctl: 130, every rank (which
 *       ignores SIGTERM: SIGKILL after the grace) gone within it, on
 *       every node; meanwhile job show on every node lists the job
 *   forged_uid_ignored   a raw request as nobody saying uid=0 gid=0: its
 *       ranks (here and on node2) run as nobody
 *   root_refused_remote  root's job with a rank on node2: EPERM
 *       (run-allow-root no); on node1 alone root's ranks run as root
 *   job_root_and_heap    a libtinydsm program (job_count), 2 ranks per
 *       node as nobody: tinydsmctl makes the job's root, the ranks join
 *       it, share a counter, add to it, read each other's heap blocks
 *   parmacs_program      a PARMACS program (parmacs_sum), 2 ranks per
 *       node as nobody: CREATE with fork semantics across the nodes
 *   parmacs_pie          the same built as a PIE: refused, saying to use
 *       setarch -R; under setarch -R it runs
 *   apps_digests         the SPLASH-style programs of tools/apps/, one
 *       rank per node, then as many ranks on node1 alone: each checks
 *       itself, and both runs print the same digest of the result
 *   bad_input            unknown node, a node twice, -n past the bound
 *
 * A run request on a daemon connection without a valid MAC is refused:
 * daemon_test.c (daemon.run_request_needs_the_key), which plays a peer
 * daemon on one node.
 *
 * run_cluster_tests.sh starts the daemons (daemon.sh) before this test.
 * make run-sim-test runs it on the host on 2 and 3 simulated nodes
 * (run_sim_cluster.sh: no QEMU, no module).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "tdd_ctl.h"
#include "tdsm_cluster.h"

#define SOCK_PATH	"/run/tinydsm/tinydsmd.sock"
#define CWD_DIR		"/tmp/tdsm_run_test.dir"
#define WHERE_FMT	"/tmp/tdsm_run_test.where.%u"
#define OUT_MAX		16384
/* The daemons' run-kill-grace-ms (default) and what a job's end may take. */
#define GRACE_MS	2000
#define END_SLACK_MS	10000	/* TCG is slow: well under the ranks' 60 s */

FIXTURE(run) {
	struct tc_sync s;
	char ctl[PATH_MAX];
	unsigned int nodes;
	uid_t nobody;
	gid_t nogroup;
};

FIXTURE_SETUP(run)
{
	const char *tree = getenv("TDSM_TREE");
	struct passwd *pw = getpwnam("nobody");

	tc_sync_init(&self->s, "run", _metadata->name);
	self->nodes = self->s.nodes;
	snprintf(self->ctl, sizeof(self->ctl), "%s/build/tools/tinydsmctl",
		 tree ? tree : ".");
	self->nobody = pw ? pw->pw_uid : 65534;
	self->nogroup = pw ? pw->pw_gid : 65534;
	/* On every node: the ranks' working directory, nobody's. */
	mkdir(CWD_DIR, 0755);
	if (chown(CWD_DIR, self->nobody, self->nogroup))
		TH_LOG("chown %s: %s", CWD_DIR, strerror(errno));
}

FIXTURE_TEARDOWN(run)
{
	if (!_metadata->passed)
		tc_mark_failed(&self->s);
}

#define START() do {							\
	if (self->nodes < 2)						\
		SKIP(return, "needs 2 or 3 nodes (TDSM_NODES)");	\
	ASSERT_EQ(0, access(SOCK_PATH, F_OK))				\
		TH_LOG("no tinydsmd socket %s: daemons not started", SOCK_PATH); \
	BARRIER("start");						\
} while (0)

#define BARRIER(step) TC_BARRIER(step, 2 * self->s.timeout_s)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct res {
	int rc;			/* exit status, 128 + N for signal N, -1 */
	uint64_t ms;		/* how long it ran */
	uint64_t sig_ms;	/* from the SIGINT to its end */
	char out[OUT_MAX];
	char err[OUT_MAX];
};

struct how {
	bool nobody;		/* as nobody (else root) */
	const char *cwd;	/* default CWD_DIR */
	const char *root;	/* TINYDSM_ROOT in its environment */
	int sigint_after;	/* SIGINT once this many "up" lines came */
	void (*meanwhile)(void *arg);	/* after the SIGINT's lines, before it */
	void *arg;
};

/* Append what @fd has to @buf (of OUT_MAX); 0 at EOF. */
static int drain(int fd, char *buf)
{
	size_t len = strlen(buf);
	ssize_t n = read(fd, buf + len, OUT_MAX - 1 - len);

	if (n > 0)
		buf[len + n] = '\0';
	return n > 0 || (n < 0 && errno == EINTR) || len + 1 >= OUT_MAX ? 1 : 0;
}

static int count(const char *s, const char *what)
{
	int n = 0;

	for (; (s = strstr(s, what)); s += strlen(what))
		n++;
	return n;
}

/* tinydsmctl with @argv (after the program), as @h says; at most 60 s. */
static void ctl_run(FIXTURE_DATA(run) *self, struct res *r, const struct how *h,
		    const char *const *argv)
{
	int out[2], err[2], st, i, live = 2;
	const char *av[64];
	uint64_t t0 = now_ms(), tsig = 0;
	struct pollfd pfd[2];
	bool sent = false;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->rc = -1;
	av[0] = self->ctl;
	for (i = 0; argv[i] && i < 62; i++)
		av[i + 1] = argv[i];
	av[i + 1] = NULL;
	if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		if (h->root)
			setenv("TINYDSM_ROOT", h->root, 1);
		else
			unsetenv("TINYDSM_ROOT");
		if (h->nobody && (setgroups(0, NULL) || setgid(self->nogroup) ||
				  setuid(self->nobody)))
			_exit(120);
		if (chdir(h->cwd ? h->cwd : CWD_DIR))
			_exit(121);
		execv(self->ctl, (char *const *)av);
		_exit(122);
	}
	close(out[1]);
	close(err[1]);
	if (pid < 0)
		goto out;
	pfd[0] = (struct pollfd){ .fd = out[0], .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = err[0], .events = POLLIN };
	while (live && now_ms() - t0 < 60000) {
		if (poll(pfd, 2, 100) < 0 && errno != EINTR)
			break;
		for (i = 0; i < 2; i++) {
			if (pfd[i].fd >= 0 && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    !drain(pfd[i].fd, i ? r->err : r->out)) {
				pfd[i].fd = -1;
				live--;
			}
		}
		if (h->sigint_after && !sent && count(r->out, "up\n") >= h->sigint_after) {
			if (h->meanwhile)
				h->meanwhile(h->arg);
			tsig = now_ms();
			kill(pid, SIGINT);
			sent = true;
		}
	}
	if (live)
		kill(pid, SIGKILL);
	if (waitpid(pid, &st, 0) == pid)
		r->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->ms = now_ms() - t0;
	r->sig_ms = tsig ? now_ms() - tsig : 0;
out:
	close(out[0]);
	close(err[0]);
}

#define RUN(r, h, ...) do {						\
	const char *const _argv[] = { __VA_ARGS__, NULL };		\
	ctl_run(self, (r), (h), _argv);					\
	TH_LOG("tinydsmctl %s ...: status %d in %llu ms", _argv[0], (r)->rc, \
	       (unsigned long long)(r)->ms);				\
} while (0)

#define LOG_RES(r) TH_LOG("stdout:\n%s\nstderr:\n%s", (r)->out, (r)->err)

/* Nobody's processes named @name on this node: their count. */
static int nobody_procs(FIXTURE_DATA(run) *self, const char *name)
{
	char cmd[128];
	FILE *f;
	int n = 0, c;

	snprintf(cmd, sizeof(cmd), "pgrep -u %u -x %s | wc -l", (unsigned int)self->nobody, name);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	c = fscanf(f, "%d", &n);
	pclose(f);
	return c == 1 ? n : -1;
}

/* Every node: no rank of the last job left (sleep, as nobody). */
static void no_rank_left(struct __test_metadata *_metadata,
			 FIXTURE_DATA(run) *self)
{
	BARRIER("ended");
	EXPECT_EQ(0, nobody_procs(self, "sleep"))
		TH_LOG("node%u still has nobody's sleep processes", self->s.id);
}

/* Every node: no rank's file of an earlier run. */
static void clean_where(unsigned int n)
{
	char path[64];
	unsigned int r;

	for (r = 0; r < n; r++) {
		snprintf(path, sizeof(path), WHERE_FMT, r);
		unlink(path);
	}
}

TEST_F_TIMEOUT(run, env_and_placement, 300)
{
	/* A TINYDSM_ROOT of tinydsmctl's own never reaches the ranks. */
	struct how h = { .nobody = true, .root = "0x7f0000001000" };
	unsigned int n, r, rank, nranks, ok = 0;
	char want[128], path[64], num[16];
	unsigned long long job = 0, j;
	struct res res;
	const char *p;

	START();
	n = 2 * self->nodes;
	clean_where(n);
	BARRIER("clean");
	if (self->s.id == 1) {
		snprintf(num, sizeof(num), "%u", n);
		RUN(&res, &h, "run", "-n", num, "--",
		    "sh", "-c", "echo \"rank=$TINYDSM_RANK of=$TINYDSM_NRANKS job=$TINYDSM_JOB uid=$(id -u) root=${TINYDSM_ROOT-unset}\"; "
		    "touch /tmp/tdsm_run_test.where.$TINYDSM_RANK");
		LOG_RES(&res);
		EXPECT_EQ(0, res.rc);
		for (p = res.out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
			if (sscanf(p, "[%u] rank=%u of=%u job=%llu", &r, &rank, &nranks, &j) != 4)
				continue;
			EXPECT_EQ(r, rank);
			EXPECT_EQ(n, nranks);
			if (!job)
				job = j;
			EXPECT_EQ(job, j);
			snprintf(want, sizeof(want), "[%u] rank=%u of=%u job=%llu uid=%u root=",
				 r, r, n, j, (unsigned int)self->nobody);
			ok += !strncmp(p, want, strlen(want)) &&
			      strncmp(p + strlen(want), "0x7f0000001000\n", 15);
		}
		EXPECT_EQ(n, ok);
		EXPECT_NE(0, job);
	}
	BARRIER("ran");
	/* Round robin: rank r on node r % nodes + 1, each node checks its own. */
	for (r = 0; r < n; r++) {
		snprintf(path, sizeof(path), WHERE_FMT, r);
		EXPECT_EQ(r % self->nodes + 1 == self->s.id, access(path, F_OK) == 0)
			TH_LOG("node%u: rank %u's file %s", self->s.id, r,
			       access(path, F_OK) ? "missing" : "present");
		unlink(path);
	}
	BARRIER("done");
}

TEST_F_TIMEOUT(run, no_prefix, 300)
{
	struct how h = { .nobody = true };
	struct res res;

	START();
	if (self->s.id == 1) {
		RUN(&res, &h, "run", "--no-prefix", "--", "sh", "-c",
		    "echo plain-$TINYDSM_RANK; echo err-$TINYDSM_RANK >&2");
		LOG_RES(&res);
		EXPECT_EQ(0, res.rc);
		EXPECT_EQ((int)self->nodes, count(res.out, "plain-"));
		EXPECT_EQ((int)self->nodes, count(res.err, "err-"));
		EXPECT_EQ(NULL, strchr(res.out, '['));
		EXPECT_NE(NULL, strstr(res.out, "plain-0\n"));
		EXPECT_NE(NULL, strstr(res.err, "err-1\n"));
	}
	BARRIER("done");
}

TEST_F_TIMEOUT(run, per_node, 300)
{
	struct how h = { .nobody = true };
	unsigned int r, n;
	char path[64];
	struct res res;

	START();
	n = 2 * self->nodes;
	clean_where(n);
	BARRIER("clean");
	if (self->s.id == 1) {
		RUN(&res, &h, "run", "--per-node", "2", "--", "sh", "-c",
		    "touch /tmp/tdsm_run_test.where.$TINYDSM_RANK; echo $TINYDSM_RANK/$TINYDSM_NRANKS");
		LOG_RES(&res);
		EXPECT_EQ(0, res.rc);
		EXPECT_EQ((int)n, count(res.out, "/"));
	}
	BARRIER("ran");
	for (r = 0; r < n; r++) {
		snprintf(path, sizeof(path), WHERE_FMT, r);
		EXPECT_EQ(r / 2 + 1 == self->s.id, access(path, F_OK) == 0)
			TH_LOG("node%u: rank %u", self->s.id, r);
		unlink(path);
	}
	BARRIER("done");
}

TEST_F_TIMEOUT(run, first_nonzero_status, 300)
{
	struct how h = { .nobody = true };
	char script[160], num[16];
	struct res res;

	START();
	if (self->s.id == 1) {
		/* The last rank (on the last node) fails; the others sleep. */
		snprintf(num, sizeof(num), "%u", self->nodes);
		snprintf(script, sizeof(script),
			 "if [ $TINYDSM_RANK = %u ]; then sleep 1; exit 3; fi; exec sleep 60",
			 self->nodes - 1);
		RUN(&res, &h, "run", "-n", num, "--", "sh", "-c", script);
		LOG_RES(&res);
		EXPECT_EQ(3, res.rc);
		EXPECT_GT(1000 + GRACE_MS + END_SLACK_MS, res.ms);
		EXPECT_NE(NULL, strstr(res.err, "exited with status 3"));
	}
	no_rank_left(_metadata, self);
	BARRIER("done");
}

TEST_F_TIMEOUT(run, signal_death, 300)
{
	struct how h = { .nobody = true };
	struct res res;

	START();
	if (self->s.id == 1) {
		RUN(&res, &h, "run", "--", "sh", "-c",
		    "if [ $TINYDSM_RANK = 1 ]; then sleep 1; kill -KILL $$; fi; exec sleep 60");
		LOG_RES(&res);
		EXPECT_EQ(128 + SIGKILL, res.rc);
		EXPECT_GT(1000 + GRACE_MS + END_SLACK_MS, res.ms);
		EXPECT_NE(NULL, strstr(res.err, "killed by signal 9"));
	}
	no_rank_left(_metadata, self);
	BARRIER("done");
}

TEST_F_TIMEOUT(run, cwd, 300)
{
	struct how h = { .nobody = true, .cwd = CWD_DIR };
	struct res res;

	START();
	if (self->s.id == 1) {
		RUN(&res, &h, "run", "--no-prefix", "--", "pwd");
		LOG_RES(&res);
		EXPECT_EQ(0, res.rc);
		EXPECT_EQ((int)self->nodes, count(res.out, CWD_DIR "\n"));
	}
	BARRIER("done");
}

/* Between the ranks' "up" and the SIGINT: job show on every node. */
static void show_everywhere(void *arg)
{
	struct tc_sync *s = arg;
	char err[256];

	/* The other nodes look now; node1 waits for them. */
	tc_barrier(s, "running", TC_ALL, 2 * s->timeout_s, err, sizeof(err));
	tc_barrier(s, "shown", TC_ALL, 2 * s->timeout_s, err, sizeof(err));
}

TEST_F_TIMEOUT(run, sigint_and_job_show, 300)
{
	struct how h = { .nobody = true, .meanwhile = show_everywhere, .arg = &self->s };
	struct res res, show;
	char num[16], want[64];
	struct how root = { 0 };

	START();
	h.sigint_after = 2 * self->nodes;
	if (self->s.id == 1) {
		snprintf(num, sizeof(num), "%u", 2 * self->nodes);
		/* They ignore SIGTERM: SIGKILL after the grace ends them. */
		RUN(&res, &h, "run", "-n", num, "--", "sh", "-c",
		    "trap '' TERM; echo up; exec sleep 60");
		LOG_RES(&res);
		EXPECT_EQ(128 + SIGINT, res.rc);
		EXPECT_GT(GRACE_MS + END_SLACK_MS, res.sig_ms);
		EXPECT_NE(NULL, strstr(res.err, "ending every rank"));
	} else {
		BARRIER("running");
		RUN(&show, &root, "-j", "job", "show");
		LOG_RES(&show);
		EXPECT_EQ(0, show.rc);
		EXPECT_NE(NULL, strstr(show.out, "\"coordinator\":\"node1\""));
		EXPECT_NE(NULL, strstr(show.out, "\"user\":\"nobody\""));
		snprintf(want, sizeof(want), "node%u:2", self->s.id);
		EXPECT_NE(NULL, strstr(show.out, want));
		BARRIER("shown");
	}
	no_rank_left(_metadata, self);
	BARRIER("done");
}

/* A raw request as nobody, over the socket: its answer in @buf. */
static int raw_as_nobody(FIXTURE_DATA(run) *self, const char *req, char *buf,
			 size_t size)
{
	int p[2], st;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		char ans[OUT_MAX];
		int fd;

		close(p[0]);
		if (setgroups(0, NULL) || setgid(self->nogroup) || setuid(self->nobody))
			_exit(1);
		fd = tdd_ctl_connect(SOCK_PATH, 30);
		if (fd < 0 || tdd_ctl_send(fd, req))
			_exit(2);
		/* Up to the job's end: "ok ..." or "error ...". */
		while ((n = read(fd, ans + len, sizeof(ans) - 1 - len)) > 0) {
			len += n;
			ans[len] = '\0';
			if (strstr(ans, "\nok ") || strstr(ans, "error "))
				break;
		}
		if (write(p[1], ans, len) != (ssize_t)len)
			_exit(3);
		_exit(0);
	}
	close(p[1]);
	while (len + 1 < size && (n = read(p[0], buf + len, size - 1 - len)) > 0)
		len += n;
	buf[len] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST_F_TIMEOUT(run, forged_uid_ignored, 300)
{
	char buf[OUT_MAX], want[64];

	START();
	if (self->s.id == 1) {
		ASSERT_EQ(0, raw_as_nobody(self,
			"run-begin nranks=2 nodes=node1,node2 uid=0 gid=0\n"
			"run-cwd v=/tmp\nrun-arg v=id\nrun-arg v=-u\n"
			"run-env v=PATH=/usr/bin:/bin\nrun-env v=TINYDSM_RANK=99\nrun-go\n",
			buf, sizeof(buf)));
		/* One line in the log: an "ok" at a line's start reads as TAP. */
		for (char *c = buf; *c; c++)
			if (*c == '\n')
				*c = '|';
		TH_LOG("%s", buf);
		snprintf(want, sizeof(want), "eol=1 v=%u|", (unsigned int)self->nobody);
		EXPECT_EQ(2, count(buf, want));
		EXPECT_NE(NULL, strstr(buf, "|ok job="));
		EXPECT_NE(NULL, strstr(buf, " status=0 "));
		EXPECT_EQ(0, count(buf, "v=0|"));
	}
	BARRIER("done");
}

TEST_F_TIMEOUT(run, root_refused_remote, 300)
{
	struct how root = { .cwd = "/" };
	struct res res;

	START();
	if (self->s.id == 1) {
		RUN(&res, &root, "run", "--nodes", "node1,node2", "--", "true");
		LOG_RES(&res);
		EXPECT_EQ(1, res.rc);
		EXPECT_NE(NULL, strstr(res.err, "EPERM"));
		EXPECT_NE(NULL, strstr(res.err, "run-allow-root"));
		RUN(&res, &root, "run", "--nodes", "node1", "-n", "2", "--", "id", "-u");
		LOG_RES(&res);
		EXPECT_EQ(0, res.rc);
		EXPECT_EQ(2, count(res.out, "] 0\n"));
	}
	BARRIER("done");
}

TEST_F_TIMEOUT(run, bad_input, 300)
{
	struct how h = { .nobody = true };
	struct res res;

	START();
	if (self->s.id == 1) {
		RUN(&res, &h, "run", "--nodes", "node9", "--", "true");
		EXPECT_EQ(1, res.rc);
		EXPECT_NE(NULL, strstr(res.err, "ENOENT")) LOG_RES(&res);
		RUN(&res, &h, "run", "--nodes", "node1,node1", "--", "true");
		EXPECT_EQ(1, res.rc);
		EXPECT_NE(NULL, strstr(res.err, "EINVAL")) LOG_RES(&res);
		RUN(&res, &h, "run", "-n", "1000", "--nodes", "node1", "--", "true");
		EXPECT_EQ(1, res.rc);
		EXPECT_NE(NULL, strstr(res.err, "EINVAL")) LOG_RES(&res);
		RUN(&res, &h, "run", "-n", "0", "--", "true");
		EXPECT_EQ(2, res.rc);
		RUN(&res, &h, "run", "--", "/nonexistent/program");
		EXPECT_EQ(127, res.rc);
		EXPECT_NE(NULL, strstr(res.err, "No such file")) LOG_RES(&res);
		RUN(&res, &h, "run", "--socket", "/nonexistent.sock", "--", "true");
		EXPECT_EQ(4, res.rc);
	}
	BARRIER("done");
}

/*
 * A program of libtinydsm's job runtime (tools/lib/tinydsm/examples/
 * job_count.c) on every node, 2 ranks per node, as nobody: tinydsmctl
 * makes the job's root, every rank joins it (tdsm_init()), shares rank
 * 0's counter, adds to it with remote atomics, reads every other rank's
 * heap block, and prints the total. /dev/tinydsm is opened to everyone
 * for the test (nobody is in no group that may open it), then put back.
 */
/*
 * /dev/tinydsm opened to everyone on this node, for a test whose ranks
 * run as nobody (in no group that may open it): its mode before, to put
 * back; -1 without the device (simulated nodes: the test skips).
 */
static int device_open_to_all(void)
{
	struct stat st;

	if (stat("/dev/tinydsm", &st) || chmod("/dev/tinydsm", 0666))
		return -1;
	return st.st_mode & 07777;
}

/* A test's device opened on every node, or the test skips (simulated nodes). */
#define DEVICE_OPEN(mode) do {						\
	(mode) = device_open_to_all();					\
	if ((mode) < 0)							\
		SKIP(return, "no /dev/tinydsm (%s): simulated nodes, no module", \
		     strerror(errno));					\
	BARRIER("open");						\
} while (0)

/* After node1's run: the device as it was, and no rank left anywhere. */
#define DEVICE_BACK(mode) do {						\
	BARRIER("ran");							\
	EXPECT_EQ(0, chmod("/dev/tinydsm", (mode)));			\
	no_rank_left(_metadata, self);					\
	BARRIER("done");						\
} while (0)

/* The tree's program @name (build/tools/). */
static void tool_path(char *buf, size_t len, const char *name)
{
	const char *tree = getenv("TDSM_TREE");

	snprintf(buf, len, "%s/build/tools/%s", tree ? tree : ".", name);
}

TEST_F_TIMEOUT(run, job_root_and_heap, 300)
{
	struct how h = { .nobody = true };
	char num[16], prog[PATH_MAX], want[96];
	unsigned int n, r, ok = 0;
	struct res res;
	int mode;

	START();
	DEVICE_OPEN(mode);
	n = 2 * self->nodes;
	if (self->s.id == 1) {
		tool_path(prog, sizeof(prog), "job_count");
		snprintf(num, sizeof(num), "%u", n);
		RUN(&res, &h, "run", "-n", num, "--per-node", "2", "--", prog, "50");
		LOG_RES(&res);
		EXPECT_EQ(0, res.rc);
		EXPECT_EQ(NULL, strstr(res.err, "no root"));
		for (r = 0; r < n; r++) {
			snprintf(want, sizeof(want), "[%u] rank %u of %u on node %u: total %u of %u, 0 bad words\n",
				 r, r, n, r / 2 + 1, 50 * n, 50 * n);
			ok += strstr(res.out, want) != NULL;
		}
		EXPECT_EQ(n, ok);
	}
	DEVICE_BACK(mode);
}

/*
 * A PARMACS program in SPLASH-2's style (tools/lib/tinydsm/examples/
 * parmacs_sum.c), 2 ranks per node as nobody: rank 0 fills a G_MALLOC
 * array and CREATEs the workers, which see its globals as at their
 * CREATE, sum their slices under a LOCK and meet at a BARRIER.
 */
TEST_F_TIMEOUT(run, parmacs_program, 300)
{
	struct how h = { .nobody = true };
	char num[16], prog[PATH_MAX], want[96];
	struct res res;
	unsigned int n;
	int mode;

	START();
	DEVICE_OPEN(mode);
	n = 2 * self->nodes;
	if (self->s.id == 1) {
		tool_path(prog, sizeof(prog), "parmacs_sum");
		snprintf(num, sizeof(num), "%u", n);
		RUN(&res, &h, "run", "-n", num, "--per-node", "2", "--", prog, "20000");
		LOG_RES(&res);
		EXPECT_EQ(0, res.rc);
		snprintf(want, sizeof(want), "[0] sum of 1..20000 over %u processes: 200010000, right\n", n);
		EXPECT_NE(NULL, strstr(res.out, want));
	}
	DEVICE_BACK(mode);
}

/*
 * The same program as a PIE: every rank has the executable at its own
 * address, so CREATE's copy of rank 0's globals cannot work: every rank
 * refuses at once, saying what to do; under setarch -R (no address
 * randomisation, the same binary and libraries on every node) it runs.
 */
TEST_F_TIMEOUT(run, parmacs_pie, 300)
{
	struct how h = { .nobody = true };
	char num[16], prog[PATH_MAX], want[96];
	struct res res;
	unsigned int n;
	int mode;

	START();
	DEVICE_OPEN(mode);
	n = self->nodes;
	if (self->s.id == 1) {
		tool_path(prog, sizeof(prog), "parmacs_sum_pie");
		snprintf(num, sizeof(num), "%u", n);
		RUN(&res, &h, "run", "-n", num, "--", prog, "1000");
		LOG_RES(&res);
		EXPECT_EQ(1, res.rc);
		EXPECT_NE(NULL, strstr(res.err, "setarch -R"));
		RUN(&res, &h, "run", "-n", num, "--", "setarch", "-R", prog, "1000");
		LOG_RES(&res);
		EXPECT_EQ(0, res.rc);
		snprintf(want, sizeof(want), "[0] sum of 1..1000 over %u processes: 500500, right\n", n);
		EXPECT_NE(NULL, strstr(res.out, want));
	}
	DEVICE_BACK(mode);
}

/*
 * The SPLASH-style programs (tools/apps/README.md), as nobody, at sizes
 * that take seconds under TCG: one rank on each node, then the same
 * number of ranks on node1 alone. Each run checks its own result
 * ("check NAME ok") and prints a digest of it that does not depend on
 * where the ranks ran: the two must be equal.
 */
static const char *const app_runs[][8] = {
	{ "radix", "-n", "4096", "-r", "6", "-m", "4096" },	/* 2 passes */
	{ "fft", "-m", "10", NULL },
	{ "lu", "-n", "64", "-b", "16" },
	{ "ocean", "-n", "30", "-i", "60", "-t", "0" },	/* 60 sweeps */
	{ "water", "-n", "64", "-s", "2", },
};

/* The digest line of rank 0's output, as "digest NAME HEX", or "". */
static void digest_of(const char *out, const char *name, char *buf, size_t len)
{
	char key[32];
	const char *p;
	size_t n;

	snprintf(key, sizeof(key), "digest %s ", name);
	p = strstr(out, key);
	*buf = 0;
	if (!p)
		return;
	n = strcspn(p, "\n");
	snprintf(buf, len, "%.*s", (int)n, p);
}

TEST_F_TIMEOUT(run, apps_digests, 600)
{
	struct how h = { .nobody = true };
	char num[16], prog[PATH_MAX], ok[48], spread[96], one[96];
	const char *argv[20];
	struct res res;
	unsigned int a, i, k;
	int mode;

	START();
	DEVICE_OPEN(mode);
	if (self->s.id == 1) {
		snprintf(num, sizeof(num), "%u", self->nodes);
		for (a = 0; a < sizeof(app_runs) / sizeof(app_runs[0]); a++) {
			const char *name = app_runs[a][0];

			snprintf(prog, sizeof(prog), "%s/build/apps/%s",
				 getenv("TDSM_TREE") ? getenv("TDSM_TREE") : ".", name);
			snprintf(ok, sizeof(ok), "check %s ok", name);
			for (k = 0; k < 2; k++) {
				i = 0;
				argv[i++] = "run";
				argv[i++] = "-n";
				argv[i++] = num;
				if (k) {
					argv[i++] = "--nodes";
					argv[i++] = "node1";
				}
				argv[i++] = "--";
				argv[i++] = prog;
				for (unsigned int j = 1; j < 8 && app_runs[a][j]; j++)
					argv[i++] = app_runs[a][j];
				argv[i] = NULL;
				ctl_run(self, &res, &h, argv);
				TH_LOG("%s on %s: status %d in %llu ms", name,
				       k ? "node1" : "every node", res.rc,
				       (unsigned long long)res.ms);
				if (res.rc)
					LOG_RES(&res);
				EXPECT_EQ(0, res.rc);
				EXPECT_NE(NULL, strstr(res.out, ok));
				digest_of(res.out, name, k ? one : spread,
					  sizeof(one));
			}
			EXPECT_NE(0, spread[0]) TH_LOG("%s: no digest", name);
			EXPECT_STREQ(spread, one);
			TH_LOG("%s: %s (%u nodes) and %s (node1)", name, spread,
			       self->nodes, one);
		}
	}
	DEVICE_BACK(mode);
}

TEST_HARNESS_MAIN
