// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmd on one node (lab, module loaded, node id $TDSM_NODE_ID, address
 * $TDSM_IP): the configuration checks (every kind of malformed file exits 1
 * with "FILE:LINE:"), the exit codes, the control socket's permission check,
 * the requests `tinydsmctl migrate` must refuse, `tinydsmctl member show`,
 * garbage on both sockets, and how tinydsmctl reads an answer (up to its
 * last line, against a fake daemon).
 * Real migrations need 3 nodes and are tested elsewhere.
 *
 * The configuration names this node and a "ghost" node that never answers
 * (10.77.0.99), and a cluster key made for the test (key-file); the
 * teardown deletes the ghost from the module again. Some tests play the
 * ghost's daemon on the loopback device, with the daemons' authentication
 * (daemon/auth.c, linked in): with the key, without it, with another key,
 * and replaying or altering a line. The daemon (this node, the lower id)
 * connects to the ghost.
 *
 * Binaries: $TDSM_TREE/build/daemon/tinydsmd and build/tools/tinydsmctl
 * (TDSM_CTL overrides the latter); without TDSM_TREE, next to this test's
 * build/selftests/.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/tinydsm.h>
#include <sodium.h>

#include "auth.h"
#include "tdd_ctl.h"
#include "keyfile.h"
#include "kselftest_harness.h"

#define TU_OUT_MAX	16384	/* what a run keeps of stdout, of stderr */
#include "tdsm_util.h"

#define GHOST_ADDR	"10.77.0.99"
/* Nothing listens there: the module's RDMA connects to the ghost fail. */
#define GHOST_RDMA_PORT	"9"

static char daemon_bin[PATH_MAX], ctl_bin[PATH_MAX];

/*
 * $TDSM_TREE/@rel, else build/selftests/../@sub next to this binary. Not
 * inlined: the SKIP messages print what it returns, and inlined, gcc
 * -Wformat-truncation takes a PATH_MAX path for it there.
 */
static __attribute__((noinline)) const char *tool(char *buf, const char *rel, const char *sub)
{
	const char *tree = getenv("TDSM_TREE");

	if (!tree)
		return tu_beside(buf, PATH_MAX, sub);
	snprintf(buf, PATH_MAX, "%s/%s", tree, rel);
	return buf;
}

static const char *daemon_path(void)
{
	return tool(daemon_bin, "build/daemon/tinydsmd", "daemon/tinydsmd");
}

static const char *ctl_path(void)
{
	if (getenv("TDSM_CTL"))
		return getenv("TDSM_CTL");
	return tool(ctl_bin, "build/tools/tinydsmctl", "tools/tinydsmctl");
}

/* @prog with the arguments in one string, as root or (@nobody) as nobody. */
#define run_str(r, nobody, prog, ...)					\
	tu_run_str(r, (nobody) ? TU_AS_NOBODY : TU_AS_ROOT, prog, __VA_ARGS__)

static unsigned int ghost_id(void)
{
	return tu_node_id() % 3 + 1;
}

static const char *this_ip(char *buf, size_t size)
{
	const char *ip = getenv("TDSM_IP");

	if (ip)
		return ip;
	snprintf(buf, size, "10.77.0.%u", tu_node_id());
	return buf;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

#define EXPECT_RC(want, r) \
	EXPECT_EQ(want, (r)->rc) TH_LOG("stdout: %s\nstderr: %s", (r)->out, (r)->err)
#define ASSERT_RC(want, r) \
	ASSERT_EQ(want, (r)->rc) TH_LOG("stdout: %s\nstderr: %s", (r)->out, (r)->err)

/* ---- the configuration file, no daemon running ---- */

/* This harness runs the test after a SKIP in the setup: tests check. */
#define NEED(ok) do { if (!(ok)) SKIP(return, "see the setup's reason"); } while (0)

FIXTURE(conf) {
	char dir[64];
	char file[128];
	char key[128];
	struct tu_run r;
};

FIXTURE_SETUP(conf)
{
	const char *bin = daemon_path();

	if (!bin || access(bin, X_OK))
		SKIP(return, "no tinydsmd at %s (set TDSM_TREE)", bin ? bin : "?");
	snprintf(self->dir, sizeof(self->dir), "/tmp/tinydsmd_test.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->file, sizeof(self->file), "%s/bad.conf", self->dir);
	snprintf(self->key, sizeof(self->key), "%s/cluster.key", self->dir);
}

FIXTURE_TEARDOWN(conf)
{
	unlink(self->file);
	unlink(self->key);
	rmdir(self->dir);
}

static const struct {
	const char *what;
	const char *text;
	int line;		/* the line the error must name */
	const char *says;	/* and a word of the message */
} bad_confs[] = {
	{ "empty file", "", 1, "no node" },
	{ "only comments", "# nothing\n\n   # here\n", 3, "no node" },
	{ "unknown keyword", "node 1 name a addr 10.0.0.1\nfrobnicate 3\n", 2, "unknown keyword" },
	{ "node id 0", "node 0 name a addr 10.0.0.1\n", 1, "node id" },
	{ "node id 65", "node 65 name a addr 10.0.0.1\n", 1, "node id" },
	{ "node id not a number", "node x name a addr 10.0.0.1\n", 1, "node id" },
	{ "node id signed", "node +1 name a addr 10.0.0.1\n", 1, "node id" },
	{ "no node id", "node\n", 1, "id" },
	{ "duplicate id", "node 1 name a addr 10.0.0.1\nnode 1 name b addr 10.0.0.2\n", 2, "duplicate node id" },
	{ "duplicate name", "node 1 name a addr 10.0.0.1\n\nnode 2 name a addr 10.0.0.2\n", 3, "duplicate node name" },
	{ "duplicate address", "node 1 name a addr 10.0.0.1\nnode 2 name b addr 10.0.0.1\n", 2, "address" },
	{ "bad name", "node 1 name Node_A addr 10.0.0.1\n", 1, "name" },
	{ "no name", "node 1 addr 10.0.0.1\n", 1, "no name" },
	{ "bad IPv4", "node 1 name a addr 10.0.0.300\n", 1, "address" },
	{ "bad IPv6", "node 1 name a addr fd00::zz\n", 1, "address" },
	{ "host name", "node 1 name a addr node1.example\n", 1, "address" },
	{ "no addr", "node 1 name a\n", 1, "no addr" },
	{ "addr without value", "node 1 name a addr\n", 1, "address" },
	{ "unknown node option", "node 1 name a addr 10.0.0.1 speed 10\n", 1, "unknown node option" },
	{ "port 0", "node 1 name a addr 10.0.0.1 control-port 0\n", 1, "port" },
	{ "port 65536", "node 1 name a addr 10.0.0.1 rdma-port 65536\n", 1, "port" },
	{ "port not a number", "node 1 name a addr 10.0.0.1 control-port http\n", 1, "port" },
	{ "missing self", "node 1 name a addr 10.0.0.1\nself b\n", 2, "self" },
	{ "self twice", "node 1 name a addr 10.0.0.1\nself a\nself a\n", 3, "twice" },
	{ "heartbeat not a number", "node 1 name a addr 10.0.0.1\nheartbeat-ms fast\n", 2, "heartbeat-ms" },
	{ "dead-after too short", "node 1 name a addr 10.0.0.1\nheartbeat-ms 500\ndead-after-ms 600\n", 3, "twice" },
	{ "setting twice", "node 1 name a addr 10.0.0.1\nheartbeat-ms 100\nheartbeat-ms 100\n", 3, "twice" },
	{ "relative socket", "node 1 name a addr 10.0.0.1\nsocket run/x.sock\n", 2, "socket" },
	{ "control character", "node 1 name a addr 10.0.0.1\x01\n", 1, "control character" },
	{ "run-allow-root maybe", "node 1 name a addr 10.0.0.1\nrun-allow-root maybe\n", 2, "run-allow-root" },
	{ "run-allow-root twice", "node 1 name a addr 10.0.0.1\nrun-allow-root no\nrun_allow_root = yes\n", 3, "twice" },
	{ "run-kill-grace-ms too short", "node 1 name a addr 10.0.0.1\nrun-kill-grace-ms 99\n", 2, "run-kill-grace-ms" },
	{ "run-kill-grace-ms too long", "node 1 name a addr 10.0.0.1\n\nrun-kill-grace-ms 60001\n", 3, "run-kill-grace-ms" },
};

/* Every malformed file: exit 1, "tinydsmd: FILE:LINE: why", with and without --check. */
/*
 * tdd_ctl_request() (tinydsmctl's side of the control socket) reads an
 * answer up to its last line, "ok ..." or "error ...", whatever the lines
 * before it hold and however the answer is cut into writes: a fake daemon
 * sends a listing whose lines hold "error " and "\nok" in their text, and
 * its last line in two pieces. It used to stop at the first "error "
 * anywhere, or at an "ok" at the start of any line.
 */
TEST(ctl_answer_read_to_its_last_line)
{
	static const char *const parts[] = {
		"job id=1 cmd=grep error log\n",
		"job id=2 cmd=oklahoma\nok",
		"ay\n",
		"ok jo",
		"bs=2\n",
	};
	char dir[] = "/tmp/tdsm-ctl-XXXXXX", path[64], buf[512], want[512] = "";
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t i;
	pid_t pid;
	int ls, status;

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, ls);
	ASSERT_EQ(0, bind(ls, (struct sockaddr *)&sun, sizeof(sun)));
	ASSERT_EQ(0, listen(ls, 1));
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		strcat(want, parts[i]);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char req[64];
		int c = accept(ls, NULL, NULL);

		if (c < 0 || read(c, req, sizeof(req)) <= 0)
			_exit(1);
		for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
			if (write(c, parts[i], strlen(parts[i])) < 0)
				_exit(1);
			usleep(100 * 1000);	/* each its own read */
		}
		usleep(500 * 1000);	/* the reader ends first, on "ok jobs=2" */
		_exit(0);
	}
	close(ls);
	EXPECT_EQ(0, tdd_ctl_request(path, "job show\n", buf, sizeof(buf), 10));
	EXPECT_STREQ(want, buf);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status);
	unlink(path);
	rmdir(dir);
}

TEST_F(conf, malformed)
{
	NEED(self->dir[0]);
	char want[192];
	unsigned int i;
	int check;

	for (i = 0; i < ARRAY_SIZE(bad_confs); i++) {
		ASSERT_EQ(0, write_file(self->file, bad_confs[i].text));
		snprintf(want, sizeof(want), "tinydsmd: %s:%d: ", self->file,
			 bad_confs[i].line);
		for (check = 0; check < 2; check++) {
			run_str(&self->r, false, daemon_path(), "-c %s -s %s/s.sock%s",
				self->file, self->dir, check ? " --check" : "");
			EXPECT_EQ(1, self->r.rc)
				TH_LOG("%s: rc %d, stderr: %s", bad_confs[i].what,
				       self->r.rc, self->r.err);
			EXPECT_NE(NULL, strstr(self->r.err, want))
				TH_LOG("%s: want \"%s\" in: %s", bad_confs[i].what,
				       want, self->r.err);
			EXPECT_NE(NULL, strstr(self->r.err, bad_confs[i].says))
				TH_LOG("%s: want \"%s\" in: %s", bad_confs[i].what,
				       bad_confs[i].says, self->r.err);
		}
	}
}

TEST_F(conf, line_too_long)
{
	NEED(self->dir[0]);
	char *text = malloc(2100);

	ASSERT_NE(NULL, text);
	strcpy(text, "node 1 name a addr 10.0.0.1\n# ");
	memset(text + strlen(text), 'x', 1500);
	strcpy(text + strlen("node 1 name a addr 10.0.0.1\n# ") + 1500, "\n");
	ASSERT_EQ(0, write_file(self->file, text));
	free(text);
	run_str(&self->r, false, daemon_path(), "-c %s --check", self->file);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, ":2: line too long")) TH_LOG("%s", self->r.err);
}

TEST_F(conf, missing_file)
{
	NEED(self->dir[0]);
	run_str(&self->r, false, daemon_path(), "-c %s/none.conf", self->dir);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "none.conf:0: cannot open")) TH_LOG("%s", self->r.err);
}

TEST_F(conf, check_ok)
{
	NEED(self->dir[0]);
	ASSERT_EQ(0, write_file(self->file,
				"# a cluster\n"
				"node 1 name node1 addr 10.0.0.1 rdma-port 7471 control-port 7472\n"
				"node 2 name node2 addr fd00::2   # IPv6\n"
				"node 31 name n_31-x addr 10.0.0.31\n"
				"self node2\n"
				"heartbeat-ms 250\n"
				"dead-after-ms 1000\n"
				"request-timeout-ms 5000\n"
				"migrate-chunk-pages 128\n"
				"socket /run/tinydsm/x.sock\n"
				"allow-unauthenticated no\n"
				"key-file /etc/tinydsm/cluster.key\n"));
	/* The key file is read at --check too: --key for one of our own. */
	run_str(&self->r, false, daemon_path(), "-c %s --check", self->file);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "/etc/tinydsm/cluster.key")) TH_LOG("%s", self->r.err);
	ASSERT_EQ(0, tdsm_key_generate(self->key, false, NULL, 0));
	run_str(&self->r, false, daemon_path(), "-c %s --key %s --check", self->file,
		self->key);
	EXPECT_RC(0, &self->r);
	EXPECT_NE(NULL, strstr(self->r.out, "OK, 3 node(s), self node2, cluster key read"))
		TH_LOG("%s", self->r.out);
}

/*
 * The key: without key-file the daemon refuses to start, unless
 * allow-unauthenticated yes (then --check says NOT AUTHENTICATED); a key
 * file that others may read is refused with its mode and the chmod to run;
 * "key_file = PATH" is "key-file PATH".
 */
TEST_F(conf, key_file)
{
	NEED(self->dir[0]);
	char text[512];

	ASSERT_EQ(0, write_file(self->file, "node 1 name a addr 10.0.0.1\n"));
	run_str(&self->r, false, daemon_path(), "-c %s --check", self->file);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "no key-file")) TH_LOG("%s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.err, "allow-unauthenticated yes")) TH_LOG("%s", self->r.err);

	ASSERT_EQ(0, write_file(self->file, "node 1 name a addr 10.0.0.1\nallow_unauthenticated = yes\n"));
	run_str(&self->r, false, daemon_path(), "-c %s --check", self->file);
	EXPECT_RC(0, &self->r);
	EXPECT_NE(NULL, strstr(self->r.out, "NOT AUTHENTICATED")) TH_LOG("%s", self->r.out);

	ASSERT_EQ(0, tdsm_key_generate(self->key, false, NULL, 0));
	snprintf(text, sizeof(text), "node 1 name a addr 10.0.0.1\nkey_file = %s\n", self->key);
	ASSERT_EQ(0, write_file(self->file, text));
	run_str(&self->r, false, daemon_path(), "-c %s --check", self->file);
	EXPECT_RC(0, &self->r);
	EXPECT_NE(NULL, strstr(self->r.out, "cluster key read")) TH_LOG("%s", self->r.out);

	/* Group or others may read it: refused, with the mode and the fix. */
	ASSERT_EQ(0, chmod(self->key, 0644));
	run_str(&self->r, false, daemon_path(), "-c %s --check", self->file);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "mode 0644")) TH_LOG("%s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.err, "chmod 600")) TH_LOG("%s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.err, "EACCES")) TH_LOG("%s", self->r.err);
	ASSERT_EQ(0, chmod(self->key, 0600));

	/* Not a key: refused. */
	ASSERT_EQ(0, write_file(self->key, "0123\n"));
	run_str(&self->r, false, daemon_path(), "-c %s --check", self->file);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "64 hex digits")) TH_LOG("%s", self->r.err);

	/* Both: a contradiction, on its line. */
	snprintf(text, sizeof(text), "node 1 name a addr 10.0.0.1\nkey-file %s\nallow-unauthenticated yes\n",
		 self->key);
	ASSERT_EQ(0, write_file(self->file, text));
	run_str(&self->r, false, daemon_path(), "-c %s --check", self->file);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, ":3: allow-unauthenticated yes contradicts key-file"))
		TH_LOG("%s", self->r.err);
	ASSERT_EQ(0, write_file(self->file, "node 1 name a addr 10.0.0.1\nkey-file relative.key\n"));
	run_str(&self->r, false, daemon_path(), "-c %s --check", self->file);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, ":2: key-file needs one absolute path")) TH_LOG("%s", self->r.err);
}

TEST_F(conf, usage)
{
	NEED(self->dir[0]);
	run_str(&self->r, false, daemon_path(), "-h");
	EXPECT_RC(0, &self->r);
	EXPECT_NE(NULL, strstr(self->r.out, "Usage:"));
	run_str(&self->r, false, daemon_path(), "--bogus");
	EXPECT_RC(2, &self->r);
	run_str(&self->r, false, daemon_path(), "-c %s extra", self->file);
	EXPECT_RC(2, &self->r);
	run_str(&self->r, false, daemon_path(), "-s relative.sock");
	EXPECT_RC(2, &self->r);
	run_str(&self->r, false, daemon_path(), "-V");
	EXPECT_RC(0, &self->r);
	EXPECT_NE(NULL, strstr(self->r.out, "tinydsmd"));
}

/* ---- a running daemon ---- */

FIXTURE(daemon) {
	char dir[64];
	char conf[128];
	char key[128];
	uint8_t subkey[TDD_AUTH_KEY_LEN];	/* the daemons' key, for the ghost */
	char sock[128];
	char log[128];
	char me[16];
	pid_t pid;
	struct tu_run r;
};

static void log_tail(const char *path)
{
	char buf[4096];
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return;
	tu_slurp(fd, buf, sizeof(buf));
	fprintf(stderr, "# tinydsmd log:\n%s", buf);
}

FIXTURE_SETUP(daemon)
{
	const char *bin = daemon_path();
	char ip[32], text[512];
	int i, fd;

	self->pid = -1;
	if (!bin || access(bin, X_OK))
		SKIP(return, "no tinydsmd at %s (set TDSM_TREE)", bin ? bin : "?");
	if (getuid() != 0)
		SKIP(return, "needs root (the daemon adds nodes to the module)");
	if (access("/dev/" TINYDSM_DEVICE_NAME, F_OK))
		SKIP(return, "the tinydsm module is not loaded");
	snprintf(self->dir, sizeof(self->dir), "/tmp/tinydsmd_test.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	ASSERT_EQ(0, chmod(self->dir, 0755));	/* nobody reaches the socket */
	snprintf(self->conf, sizeof(self->conf), "%s/tinydsm.conf", self->dir);
	snprintf(self->sock, sizeof(self->sock), "%s/tinydsmd.sock", self->dir);
	snprintf(self->log, sizeof(self->log), "%s/tinydsmd.log", self->dir);
	snprintf(self->me, sizeof(self->me), "node%u", tu_node_id());
	snprintf(self->key, sizeof(self->key), "%s/cluster.key", self->dir);
	{
		uint8_t key[TINYDSM_KEY_LEN];
		char err[256];

		ASSERT_EQ(0, tdsm_key_generate(self->key, false, err, sizeof(err))) TH_LOG("%s", err);
		ASSERT_EQ(0, tdsm_key_read(self->key, key, err, sizeof(err))) TH_LOG("%s", err);
		ASSERT_EQ(0, tdd_auth_subkey(self->subkey, key));
	}
	snprintf(text, sizeof(text),
		 "node %u name %s addr %s\n"
		 "node %u name ghost addr " GHOST_ADDR " rdma-port " GHOST_RDMA_PORT "\n"
		 "self %s\nheartbeat-ms 100\ndead-after-ms 1000\nsocket %s\nkey-file %s\n",
		 tu_node_id(), self->me, this_ip(ip, sizeof(ip)), ghost_id(),
		 self->me, self->sock, self->key);
	ASSERT_EQ(0, write_file(self->conf, text));

	fflush(stdout);
	fflush(stderr);
	self->pid = fork();
	ASSERT_LE(0, self->pid);
	if (self->pid == 0) {
		fd = open(self->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(bin, bin, "-c", self->conf, "-v", (char *)NULL);
		_exit(127);
	}
	/* Ready when the socket answers; TCG is slow: up to 30 s. */
	for (i = 0; i < 300; i++) {
		int status;

		fd = tdd_ctl_connect(self->sock, 0);
		if (fd >= 0) {
			close(fd);
			return;
		}
		if (waitpid(self->pid, &status, WNOHANG) == self->pid) {
			self->pid = -1;
			log_tail(self->log);
			ASSERT_TRUE(false) TH_LOG("tinydsmd exited at start");
		}
		usleep(100000);
	}
	log_tail(self->log);
	kill(self->pid, SIGKILL);
	waitpid(self->pid, NULL, 0);
	self->pid = -1;
	ASSERT_TRUE(false) TH_LOG("tinydsmd did not open %s in 30 s", self->sock);
}

FIXTURE_TEARDOWN(daemon)
{
	int status = -1, i;

	if (self->pid > 0) {
		kill(self->pid, SIGTERM);
		for (i = 0; i < 100; i++) {
			if (waitpid(self->pid, &status, WNOHANG) == self->pid)
				break;
			usleep(100000);
		}
		if (i == 100) {
			kill(self->pid, SIGKILL);
			waitpid(self->pid, &status, 0);
		}
		/* SIGTERM is a clean exit, status 0, and the socket is gone. */
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			log_tail(self->log);
		EXPECT_NE(0, access(self->sock, F_OK));
	}
	/* fake_peer's address, whatever became of the test (usually absent). */
	status = system("ip addr del " GHOST_ADDR "/32 dev lo 2>/dev/null");
	if (self->dir[0]) {
		char ghost[16];

		/* The daemon leaves its nodes in the module: take the ghost out. */
		snprintf(ghost, sizeof(ghost), "%u", ghost_id());
		run_str(&self->r, false, ctl_path(), "node del %s", ghost);
		unlink(self->conf);
		unlink(self->key);
		unlink(self->log);
		unlink(self->sock);
		rmdir(self->dir);
	}
}

TEST_F(daemon, status)
{
	NEED(self->pid > 0);
	char buf[4096], want[64];

	ASSERT_EQ(0, tdd_ctl_request(self->sock, "status\n", buf, sizeof(buf), 5));
	snprintf(want, sizeof(want), "member name=%s id=%u self=1 state=alive",
		 self->me, tu_node_id());
	EXPECT_NE(NULL, strstr(buf, want)) TH_LOG("%s", buf);
	EXPECT_NE(NULL, strstr(buf, "member name=ghost")) TH_LOG("%s", buf);
	EXPECT_NE(NULL, strstr(buf, "ok members=2")) TH_LOG("%s", buf);

	ASSERT_EQ(0, tdd_ctl_request(self->sock, "frobnicate\n", buf, sizeof(buf), 5));
	EXPECT_EQ(0, strncmp(buf, "error errno=EINVAL", 18)) TH_LOG("%s", buf);
}

/*
 * The ghost never answers: after dead-after-ms it is dead, and then evicted
 * from the module (NODE_EVICT, a job of the daemon's worker thread).
 */
TEST_F(daemon, ghost_dies)
{
	NEED(self->pid > 0);
	char buf[4096], line[512], *g;
	int i;

	for (i = 0; i < 100; i++) {
		ASSERT_EQ(0, tdd_ctl_request(self->sock, "status\n", buf, sizeof(buf), 5));
		g = strstr(buf, "name=ghost");
		snprintf(line, sizeof(line), "%.*s", g ? (int)strcspn(g, "\n") : 0,
			 g ? g : "");
		if (strstr(line, "state=dead") && strstr(line, "evicted=1"))
			break;
		usleep(100000);
	}
	EXPECT_LT(i, 100) TH_LOG("%s", buf);
}

/*
 * tinydsmctl member show: this node alive, heard 0 ms ago; the ghost, never
 * heard, dead after dead-after-ms (1000 ms here), in every format; anyone
 * may ask; no daemon is exit 4.
 */
TEST_F(daemon, member_show)
{
	NEED(self->pid > 0);
	char me[96], ghost[96], ip[32];
	int i;

	snprintf(me, sizeof(me), "%s\t%u\talive\t0\t%s\t-\n", self->me, tu_node_id(),
		 this_ip(ip, sizeof(ip)));
	snprintf(ghost, sizeof(ghost), "ghost\t%u\tdead\t-\t" GHOST_ADDR "\t0\n",
		 ghost_id());
	for (i = 0; i < 100; i++) {
		run_str(&self->r, false, ctl_path(), "-t member show --socket %s",
			self->sock);
		ASSERT_RC(0, &self->r);
		if (strstr(self->r.out, ghost))
			break;
		usleep(100000);
	}
	EXPECT_LT(i, 100) TH_LOG("no \"%s\" in:\n%s", ghost, self->r.out);
	EXPECT_NE(NULL, strstr(self->r.out, me)) TH_LOG("%s", self->r.out);

	/* The table, with its header; "member" alone is show. */
	run_str(&self->r, false, ctl_path(), "member --socket %s", self->sock);
	EXPECT_RC(0, &self->r);
	EXPECT_EQ(0, strncmp(self->r.out, "NAME", 4)) TH_LOG("%s", self->r.out);
	EXPECT_NE(NULL, strstr(self->r.out, "LAST-HEARD-MS")) TH_LOG("%s", self->r.out);
	EXPECT_NE(NULL, strstr(self->r.out, GHOST_ADDR)) TH_LOG("%s", self->r.out);

	/* JSON: never heard is no last_heard_ms member; as nobody. */
	run_str(&self->r, true, ctl_path(), "-j member show --socket %s", self->sock);
	EXPECT_RC(0, &self->r);
	snprintf(ghost, sizeof(ghost), "{\"name\":\"ghost\",\"id\":%u,\"state\":\"dead\",\"addr\":\"" GHOST_ADDR "\",\"auth_fails\":0}",
		 ghost_id());
	EXPECT_NE(NULL, strstr(self->r.out, ghost)) TH_LOG("%s", self->r.out);
	snprintf(me, sizeof(me), "{\"name\":\"%s\",\"id\":%u,\"state\":\"alive\",\"last_heard_ms\":0,",
		 self->me, tu_node_id());
	EXPECT_NE(NULL, strstr(self->r.out, me)) TH_LOG("%s", self->r.out);

	/* Usage errors: 2; no daemon on that socket: 4. */
	run_str(&self->r, false, ctl_path(), "member show --bogus");
	EXPECT_RC(2, &self->r);
	run_str(&self->r, false, ctl_path(), "member show --socket %s/none.sock", self->dir);
	EXPECT_RC(4, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "not running")) TH_LOG("%s", self->r.err);
}

/* ---- the ghost's daemon, played by the test ---- */

struct peer {
	int fd;
	char buf[8192];
	size_t len;
	int hb;				/* "hb" lines received */
	struct tdd_auth a;		/* a.key set: lines are MACed */
	bool bad_mac;			/* a line from the daemon failed its MAC */
	bool eof;			/* the daemon closed the connection */
};

/*
 * The next line from the daemon (without "\n" and its MAC) within @ms;
 * "hb" counted. -1 on timeout, EOF, or a line with a bad MAC.
 */
static int peer_line(struct peer *p, char *line, size_t size, int ms)
{
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
	char *nl;
	ssize_t n;

	for (;;) {
		nl = memchr(p->buf, '\n', p->len);
		if (nl) {
			n = nl - p->buf < (ssize_t)size ? nl - p->buf : (ssize_t)size - 1;
			memcpy(line, p->buf, n);
			line[n] = '\0';
			p->len -= nl + 1 - p->buf;
			memmove(p->buf, nl + 1, p->len);
			if (p->a.key && tdd_auth_open(&p->a, line)) {
				p->bad_mac = true;
				return -1;
			}
			if (!strcmp(line, "hb") || !strncmp(line, "hb ", 3))
				p->hb++;
			return 0;
		}
		if (poll(&pfd, 1, ms) <= 0)
			return -1;
		n = read(p->fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len);
		if (n <= 0) {
			p->eof = true;
			return -1;
		}
		p->len += n;
	}
}

/* Has the daemon closed the connection (within @ms, reading what comes)? */
static bool peer_closed(struct peer *p, int ms)
{
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
	uint64_t end;
	char buf[4096];
	ssize_t n;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	end = (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ms;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if ((uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= end)
			return false;
		if (poll(&pfd, 1, 100) != 1)
			continue;
		n = read(p->fd, buf, sizeof(buf));
		if (n <= 0)
			return true;
	}
}

/* Send one line (a trailing "\n" in @fmt is optional), MACed once armed. */
static int ghost_send(struct peer *p, const char *fmt, ...)
{
	char buf[TDD_HELLO_MAX * 2 + 128];
	size_t len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - TDD_MAC_SUFFIX - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	len = strlen(buf);
	if (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (p->a.key)
		len = tdd_auth_seal(&p->a, buf, len, sizeof(buf) - 1);
	buf[len++] = '\n';
	if (send(p->fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len)
		return 0;
	p->eof = errno == EPIPE || errno == ECONNRESET;
	return -1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The ghost's address on lo and a listener on its control port: *@lfd. */
static int ghost_listen(int *lfd, char *why, size_t size)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(7472) };
	int one = 1;

	*lfd = -1;
	if (system("ip addr add " GHOST_ADDR "/32 dev lo 2>/dev/null")) {
		snprintf(why, size, "cannot add " GHOST_ADDR " to lo");
		return -1;
	}
	*lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*lfd < 0)
		goto fail;
	setsockopt(*lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	inet_pton(AF_INET, GHOST_ADDR, &sin.sin_addr);
	if (bind(*lfd, (struct sockaddr *)&sin, sizeof(sin)) || listen(*lfd, 4))
		goto fail;
	return 0;
fail:
	snprintf(why, size, "%s", strerror(errno));
	return -1;
}

enum ghost_kind {
	GHOST_KEY,		/* holds the cluster key */
	GHOST_NO_KEY,		/* a hello without a nonce, no auth line */
	GHOST_WRONG_KEY,	/* another key's auth line */
};

/*
 * One try of ghost_accept(), until @end: the daemon connects (backoff at
 * most dead-after-ms / 2) and says hello; the ghost answers as @kind.
 */
static int ghost_handshake(struct peer *p, int lfd, const uint8_t *subkey,
			   enum ghost_kind kind, uint64_t end, char *why,
			   size_t size)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	char line[1024], hello[TDD_HELLO_MAX], mac[TDD_MAC_HEX + 1];
	char nonce[2 * TDD_NONCE_LEN + 1];
	uint8_t wrong[TDD_AUTH_KEY_LEN];
	int ms = (int)(end - now_ms());
	const char *h, *n;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	line[0] = '\0';
	if (ms <= 0 || poll(&pfd, 1, ms) != 1) {
		snprintf(why, size, "the daemon did not connect in 10 s");
		return -1;
	}
	p->fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (p->fd < 0) {
		snprintf(why, size, "accept: %s", strerror(errno));
		return -1;
	}
	if (peer_line(p, line, sizeof(line), 5000) || strncmp(line, "hello proto=2 ", 14) ||
	    !(h = strstr(line, " config=")) || !(n = strstr(line, " nonce=")) ||
	    strlen(line) >= TDD_HELLO_MAX || tdd_auth_nonce_parse(p->a.nonce_c, n + 7)) {
		snprintf(why, size, "no hello with a nonce from the daemon: '%.200s'", line);
		return -1;
	}
	snprintf(p->a.hello_c, sizeof(p->a.hello_c), "%s", line);
	tdd_auth_nonce(p->a.nonce_a);
	tdd_auth_nonce_hex(nonce, p->a.nonce_a);
	snprintf(hello, sizeof(hello), "hello proto=2 id=%u name=ghost config=%.8s%s%s",
		 ghost_id(), h + 8, kind == GHOST_NO_KEY ? "" : " nonce=",
		 kind == GHOST_NO_KEY ? "" : nonce);
	snprintf(p->a.hello_a, sizeof(p->a.hello_a), "%s", hello);
	if (ghost_send(p, "%s", hello))
		goto fail;
	if (kind == GHOST_NO_KEY)
		return 0;
	randombytes_buf(wrong, sizeof(wrong));
	tdd_auth_hello_mac(mac, kind == GHOST_WRONG_KEY ? wrong : subkey, false,
			   tu_node_id(), ghost_id(), p->a.nonce_c, p->a.nonce_a,
			   p->a.hello_c, p->a.hello_a);
	if (ghost_send(p, "auth mac=%s", mac))
		goto fail;
	if (kind == GHOST_WRONG_KEY)
		return 0;
	if (peer_line(p, line, sizeof(line), 5000) || strncmp(line, "auth mac=", 9) ||
	    !tdd_auth_hello_ok(line + 9, subkey, true, tu_node_id(), ghost_id(),
			       p->a.nonce_c, p->a.nonce_a, p->a.hello_c, p->a.hello_a)) {
		snprintf(why, size, "no good auth line from the daemon: '%.200s'", line);
		return -1;
	}
	p->a.connector = false;
	p->a.key = subkey;
	return 0;
fail:
	snprintf(why, size, "%s", strerror(errno));
	return -1;
}

/*
 * The daemon connects and says hello; the ghost answers as @kind. With
 * the key, the daemon's auth line is checked and the lines are MACed from
 * then on. 0, or -1 with @why. On a slow node the daemon may declare the
 * ghost dead (dead-after-ms is 1000 here, and its first connect can take
 * that long while the ghost's address is not up yet) in the middle of
 * the exchange and close the connection: it connects again, and so the
 * exchange starts over, within 10 s in all.
 */
static int ghost_accept(struct peer *p, int lfd, const uint8_t *subkey,
			enum ghost_kind kind, char *why, size_t size)
{
	uint64_t end = now_ms() + 10000;

	for (;;) {
		if (!ghost_handshake(p, lfd, subkey, kind, end, why, size))
			return 0;
		if (!p->eof || now_ms() >= end)
			return -1;
		close(p->fd);
		p->fd = -1;
	}
}

/* ghost_listen() and ghost_accept() with the key. */
static int ghost_up(struct peer *p, int *lfd, const uint8_t *subkey, char *why,
		    size_t size)
{
	p->fd = -1;
	if (ghost_listen(lfd, why, size))
		return -1;
	return ghost_accept(p, *lfd, subkey, GHOST_KEY, why, size);
}

/* Skip the test if the ghost's address cannot be had, fail on the rest. */
#define GHOST_UP(p, lfd, why) do {						\
	if (ghost_up((p), (lfd), self->subkey, (why), sizeof(why))) {		\
		if ((p)->fd >= 0)						\
			close((p)->fd);						\
		if (*(lfd) >= 0)						\
			close(*(lfd));						\
		if (strstr((why), "cannot add"))				\
			SKIP(return, "%s", (why));				\
		ASSERT_TRUE(false) TH_LOG("%s", (why));				\
	}									\
} while (0)

/* The region as this node's module has it. */
static void region_info(struct __test_metadata *_metadata,
			struct tinydsm_region_info *ri)
{
	int fd = open("/dev/" TINYDSM_DEVICE_NAME, O_RDONLY);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_REGION_INFO, ri));
	close(fd);
}

/* The first page of this node's slice of @ri. */
static unsigned long long own_slice(const struct tinydsm_region_info *ri)
{
	return ri->base + (uint64_t)(tu_node_id() - 1) * ri->slice_pages * ri->page_size;
}

/*
 * The ghost comes to life (its address on lo, a listener on its control
 * port; the daemon has the lower id and connects) and asks this node's
 * daemon to run a MIGRATE: the module's call runs on the daemon's worker,
 * and heartbeats keep coming meanwhile ("hb busy=1" of old daemons is
 * ignored). Then this node's daemon sends the ghost a request, the ghost
 * goes silent, and the request fails as soon as the ghost is declared dead,
 * long before request-timeout-ms (30 s).
 */
TEST_F(daemon, fake_peer)
{
	NEED(self->pid > 0);
	struct tinydsm_region_info ri = { 0 };
	struct peer p = { .fd = -1 };
	char line[1024], req[256], buf[4096], why[256];
	uint64_t t0, t1, slice;
	int lfd, cfd, i;
	ssize_t n;

	region_info(_metadata, &ri);
	GHOST_UP(&p, &lfd, why);
	ASSERT_EQ(0, ghost_send(&p, "hb busy=1"));

	/* A MIGRATE of one page of the ghost's slice, from the ghost. */
	slice = (uint64_t)ri.slice_pages * ri.page_size;
	ASSERT_EQ(0, ghost_send(&p, "req id=7 op=migrate addr=%#llx npages=1 from=%u",
				(unsigned long long)(ri.base + (ghost_id() - 1) * slice),
				ghost_id()));
	t0 = now_ms();
	p.hb = 0;
	line[0] = '\0';
	while (now_ms() - t0 < 20000 && strncmp(line, "rep id=7 ", 9)) {
		if (peer_line(&p, line, sizeof(line), 100) < 0 && p.len == 0)
			line[0] = '\0';
		/* We heartbeat too, or we die meanwhile. */
		if (p.bad_mac || ghost_send(&p, "hb"))
			break;
	}
	t1 = now_ms();
	ASSERT_FALSE(p.bad_mac) TH_LOG("a line from the daemon failed its MAC");
	ASSERT_EQ(0, strncmp(line, "rep id=7 err=", 13)) TH_LOG("no answer in 20 s: %s", line);
	TH_LOG("MIGRATE answered in %llu ms: %s; %d heartbeats meanwhile",
	       (unsigned long long)(t1 - t0), line, p.hb);
	/* Heartbeats every 100 ms while the module worked. */
	if (t1 - t0 >= 1000)
		EXPECT_LE((int)((t1 - t0) / 500), p.hb);
	ASSERT_EQ(0, tdd_ctl_request(self->sock, "status\n", buf, sizeof(buf), 5));
	EXPECT_NE(NULL, strstr(buf, "name=ghost")) TH_LOG("%s", buf);
	EXPECT_NE(NULL, strstr(strstr(buf, "name=ghost"), "state=alive")) TH_LOG("%s", buf);
	EXPECT_NE(NULL, strstr(buf, " auth=key ")) TH_LOG("%s", buf);

	/* Now this node asks the ghost, and the ghost goes silent. */
	cfd = tdd_ctl_connect(self->sock, 0);
	ASSERT_LE(0, cfd);
	snprintf(req, sizeof(req), "migrate from=%s to=ghost addr=%#llx npages=1\n",
		 self->me, (unsigned long long)(ri.base + (tu_node_id() - 1) * slice));
	ASSERT_EQ((ssize_t)strlen(req), write(cfd, req, strlen(req)));
	for (i = 0; i < 50; i++) {
		if (peer_line(&p, line, sizeof(line), 100) == 0 &&
		    !strncmp(line, "req id=", 7))
			break;
		if (ghost_send(&p, "hb"))
			break;
	}
	ASSERT_EQ(0, strncmp(line, "req id=", 7)) TH_LOG("no request came: %s", line);
	EXPECT_NE(NULL, strstr(line, "op=migrate")) TH_LOG("%s", line);
	t0 = now_ms();
	{
		struct pollfd pfd = { .fd = cfd, .events = POLLIN };
		size_t len = 0;

		buf[0] = '\0';
		while (!strstr(buf, "error ") && !strstr(buf, "\nok") &&
		       poll(&pfd, 1, 15000) == 1) {
			n = read(cfd, buf + len, sizeof(buf) - 1 - len);
			if (n <= 0)
				break;
			len += n;
			buf[len] = '\0';
		}
	}
	t1 = now_ms();
	close(cfd);
	EXPECT_NE(NULL, strstr(buf, "error errno=EHOSTUNREACH")) TH_LOG("%s", buf);
	EXPECT_NE(NULL, strstr(buf, "ghost is not answering")) TH_LOG("%s", buf);
	/* dead-after-ms is 1000: well before request-timeout-ms (30000). */
	EXPECT_GT(8000, t1 - t0) TH_LOG("failed after %llu ms", (unsigned long long)(t1 - t0));

	close(p.fd);
	close(lfd);
	/* The teardown takes GHOST_ADDR off lo again. */
}

/* The ghost's auth_fails in the daemon's status; -1 if not there. */
static long long ghost_auth_fails(const char *sock)
{
	char buf[4096];
	const char *g, *f;

	if (tdd_ctl_request(sock, "status\n", buf, sizeof(buf), 5))
		return -1;
	g = strstr(buf, "name=ghost ");
	f = g ? strstr(g, " auth_fails=") : NULL;
	if (!f || memchr(g, '\n', f - g))
		return -1;
	return strtoll(f + 12, NULL, 10);
}

/* How often @what is in the daemon's log. */
static int log_count(const char *path, const char *what)
{
	static char buf[1 << 20];
	int fd = open(path, O_RDONLY), n = 0;
	const char *p;

	if (fd < 0)
		return -1;
	tu_slurp(fd, buf, sizeof(buf));
	for (p = buf; (p = strstr(p, what)); p++)
		n++;
	return n;
}

/*
 * A ghost without the key, then one with another key: the daemon drops the
 * connection before anything else, counts it (status auth_fails) and logs
 * it; the ghost never becomes alive. Then one with the key: it does.
 */
TEST_F(daemon, forged_hello)
{
	NEED(self->pid > 0);
	static const enum ghost_kind kinds[] = { GHOST_NO_KEY, GHOST_WRONG_KEY };
	struct peer p = { .fd = -1 };
	char why[256], line[512], buf[4096];
	long long fails = 0, f;
	unsigned int i;
	int lfd;

	if (ghost_listen(&lfd, why, sizeof(why))) {
		if (lfd >= 0)
			close(lfd);
		if (strstr(why, "cannot add"))
			SKIP(return, "%s", why);
		ASSERT_TRUE(false) TH_LOG("%s", why);
	}
	for (i = 0; i < ARRAY_SIZE(kinds); i++) {
		ASSERT_EQ(0, ghost_accept(&p, lfd, self->subkey, kinds[i], why, sizeof(why)))
			TH_LOG("%s", why);
		/* Refused: it closes, and sends nothing but its hello. */
		EXPECT_NE(0, peer_line(&p, line, sizeof(line), 5000)) TH_LOG("sent: %s", line);
		EXPECT_TRUE(peer_closed(&p, 5000));
		close(p.fd);
		f = ghost_auth_fails(self->sock);
		EXPECT_LT(fails, f) TH_LOG("kind %u: auth_fails %lld", i, f);
		fails = f;
		ASSERT_EQ(0, tdd_ctl_request(self->sock, "status\n", buf, sizeof(buf), 5));
		EXPECT_EQ(NULL, strstr(strstr(buf, "name=ghost"), "state=alive")) TH_LOG("%s", buf);
	}
	EXPECT_LE(1, log_count(self->log, "no cluster key (no nonce in its hello)"));
	EXPECT_LE(1, log_count(self->log, "its auth MAC is wrong"));

	/* With the key: connected, and alive once heard. */
	ASSERT_EQ(0, ghost_accept(&p, lfd, self->subkey, GHOST_KEY, why, sizeof(why)))
		TH_LOG("%s", why);
	for (i = 0; i < 50; i++) {
		ASSERT_EQ(0, ghost_send(&p, "hb"));
		peer_line(&p, line, sizeof(line), 100);
		ASSERT_FALSE(p.bad_mac);
		ASSERT_EQ(0, tdd_ctl_request(self->sock, "status\n", buf, sizeof(buf), 5));
		if (strstr(strstr(buf, "name=ghost"), "state=alive"))
			break;
	}
	EXPECT_LT(i, 50) TH_LOG("%s", buf);
	EXPECT_EQ(fails, ghost_auth_fails(self->sock));
	close(p.fd);
	close(lfd);
}

/*
 * The ghost, with the key, asks for a REPOPULATE and gets its answer; then
 * it sends the same line again (a replay), or a line whose text was
 * altered after its MAC: the daemon drops the connection and runs neither
 * (its log has the one request), and counts each.
 */
TEST_F(daemon, replayed_and_altered_lines)
{
	NEED(self->pid > 0);
	struct tinydsm_region_info ri = { 0 };
	struct peer p = { .fd = -1 };
	char why[256], line[512], req[512], sealed[512];
	unsigned long long addr;
	long long fails;
	size_t len;
	int lfd, i;

	region_info(_metadata, &ri);
	/* A page of this node's slice: nothing moved away, a quick no-op. */
	addr = own_slice(&ri);
	GHOST_UP(&p, &lfd, why);

	/* The request, sealed by hand to keep its bytes for the replay. */
	len = snprintf(req, sizeof(req), "req id=41 op=repopulate addr=%#llx npages=1", addr);
	memcpy(sealed, req, len + 1);
	len = tdd_auth_seal(&p.a, sealed, len, sizeof(sealed) - 1);
	sealed[len++] = '\n';
	ASSERT_EQ((ssize_t)len, send(p.fd, sealed, len, MSG_NOSIGNAL));
	for (i = 0, line[0] = '\0'; i < 100 && strncmp(line, "rep id=41 ", 10); i++) {
		if (peer_line(&p, line, sizeof(line), 100))
			line[0] = '\0';
		ASSERT_FALSE(p.bad_mac);
		ASSERT_EQ(0, ghost_send(&p, "hb"));
	}
	ASSERT_EQ(0, strncmp(line, "rep id=41 ", 10)) TH_LOG("no answer: %s", line);
	EXPECT_EQ(1, log_count(self->log, "ghost asks: REPOPULATE"));
	fails = ghost_auth_fails(self->sock);
	ASSERT_LE(0, fails);

	/* The replay: the very same bytes. */
	ASSERT_EQ((ssize_t)len, send(p.fd, sealed, len, MSG_NOSIGNAL));
	EXPECT_TRUE(peer_closed(&p, 5000)) TH_LOG("the daemon kept the connection");
	close(p.fd);
	EXPECT_EQ(1, log_count(self->log, "ghost asks: REPOPULATE"));
	EXPECT_EQ(fails + 1, ghost_auth_fails(self->sock));
	EXPECT_LE(1, log_count(self->log, "a line failed its MAC"));

	/* A new connection; a line altered after its MAC: npages=1 -> 2. */
	ASSERT_EQ(0, ghost_accept(&p, lfd, self->subkey, GHOST_KEY, why, sizeof(why)))
		TH_LOG("%s", why);
	len = snprintf(sealed, sizeof(sealed), "req id=42 op=repopulate addr=%#llx npages=1",
		       addr);
	len = tdd_auth_seal(&p.a, sealed, len, sizeof(sealed) - 1);
	sealed[len++] = '\n';
	ASSERT_NE(NULL, strstr(sealed, "npages=1 mac="));
	strstr(sealed, "npages=1 mac=")[7] = '2';
	ASSERT_EQ((ssize_t)len, send(p.fd, sealed, len, MSG_NOSIGNAL));
	EXPECT_TRUE(peer_closed(&p, 5000)) TH_LOG("the daemon kept the connection");
	close(p.fd);
	EXPECT_EQ(1, log_count(self->log, "ghost asks: REPOPULATE"));
	EXPECT_EQ(fails + 2, ghost_auth_fails(self->sock));
	/* The operator sees the count too. */
	run_str(&self->r, false, ctl_path(), "-j member show --socket %s", self->sock);
	EXPECT_RC(0, &self->r);
	snprintf(line, sizeof(line), "\"addr\":\"" GHOST_ADDR "\",\"auth_fails\":%lld}",
		 fails + 2);
	EXPECT_NE(NULL, strstr(self->r.out, line)) TH_LOG("%s", self->r.out);
	close(lfd);
}

/*
 * The next line from the daemon that starts with @prefix, within @ms,
 * heartbeating meanwhile: 0 with it in @line, -1 (timeout, closed).
 */
static int ghost_wait(struct peer *p, const char *prefix, char *line, size_t size,
		      int ms)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end) {
		if (!peer_line(p, line, size, 100) && !strncmp(line, prefix, strlen(prefix)))
			return 0;
		if (p->eof || p->bad_mac || ghost_send(p, "hb"))
			return -1;
	}
	return -1;
}

/*
 * Jobs (tinydsmctl run) over the daemons' connection, the ghost playing
 * the coordinator: a job for nobody runs as nobody and reports its pid,
 * output and exit; one for root is refused (run-allow-root no); a run-new
 * altered after its MAC (nobody's uid made 0) closes the connection and
 * runs nothing.
 */
TEST_F(daemon, run_request_needs_the_key)
{
	NEED(self->pid > 0);
	struct peer p = { .fd = -1 };
	char why[256], line[512], want[64], sealed[512];
	long long fails;
	size_t len;
	int lfd;

	GHOST_UP(&p, &lfd, why);
	ASSERT_EQ(0, ghost_send(&p, "run-new job=5 uid=%d gid=%d nranks=2 first=1 step=1 count=1",
				TU_NOBODY, TU_NOBODY));
	ASSERT_EQ(0, ghost_send(&p, "run-cwd job=5 v=/"));
	ASSERT_EQ(0, ghost_send(&p, "run-arg job=5 v=/bin/sh"));
	ASSERT_EQ(0, ghost_send(&p, "run-arg job=5 v=-c"));
	ASSERT_EQ(0, ghost_send(&p, "run-arg job=5 v=echo%%20$(id%%20-u)%%20$TINYDSM_RANK/$TINYDSM_NRANKS/$TINYDSM_JOB"));
	ASSERT_EQ(0, ghost_send(&p, "run-env job=5 v=PATH=/usr/bin:/bin"));
	ASSERT_EQ(0, ghost_send(&p, "run-start job=5"));
	ASSERT_EQ(0, ghost_wait(&p, "run-pid job=5 rank=1 pid=", line, sizeof(line), 10000))
		TH_LOG("no run-pid: '%s'", line);
	ASSERT_EQ(0, ghost_wait(&p, "run-out job=5 rank=1 fd=1 ", line, sizeof(line), 10000))
		TH_LOG("no output: '%s'", line);
	snprintf(want, sizeof(want), "eol=1 v=%d%%201/2/5", TU_NOBODY);
	EXPECT_NE(NULL, strstr(line, want)) TH_LOG("'%s', want '%s'", line, want);
	ASSERT_EQ(0, ghost_wait(&p, "run-exit job=5 rank=1 ", line, sizeof(line), 10000));
	EXPECT_STREQ("run-exit job=5 rank=1 status=0", line);

	/* root: refused at once, nothing runs. */
	ASSERT_EQ(0, ghost_send(&p, "run-new job=6 uid=0 gid=0 nranks=1 first=0 step=1 count=1"));
	ASSERT_EQ(0, ghost_wait(&p, "run-failed job=6 ", line, sizeof(line), 10000));
	EXPECT_NE(NULL, strstr(line, "err=EPERM")) TH_LOG("%s", line);
	EXPECT_NE(NULL, strstr(line, "run-allow-root")) TH_LOG("%s", line);

	/* Altered after its MAC: the connection goes, job 7 never is. */
	fails = ghost_auth_fails(self->sock);
	len = snprintf(sealed, sizeof(sealed),
		       "run-new job=7 uid=%d gid=%d nranks=1 first=0 step=1 count=1",
		       TU_NOBODY, TU_NOBODY);
	len = tdd_auth_seal(&p.a, sealed, len, sizeof(sealed) - 1);
	sealed[len++] = '\n';
	memcpy(strstr(sealed, " uid=") + 5, "00000", 5);	/* uid=0, padded */
	ASSERT_EQ((ssize_t)len, send(p.fd, sealed, len, MSG_NOSIGNAL));
	EXPECT_TRUE(peer_closed(&p, 5000)) TH_LOG("the daemon kept the connection");
	close(p.fd);
	EXPECT_EQ(fails + 1, ghost_auth_fails(self->sock));
	EXPECT_EQ(0, log_count(self->log, "job 7"));
	EXPECT_EQ(1, log_count(self->log, "job 5 from ghost: 1 rank(s)"));
	close(lfd);
}

/*
 * The ghost comes to life with the key (ghost_up). The next request (a
 * "req" line), heartbeating meanwhile: 0 with its id, address and page
 * count, or -1 after @ms.
 */
static int ghost_req(struct peer *p, unsigned int *id, unsigned long long *addr,
		     unsigned int *npages, char *line, size_t size, int ms)
{
	uint64_t end = now_ms() + ms;
	const char *a, *n;

	line[0] = '\0';
	while (now_ms() < end) {
		if (!peer_line(p, line, size, 100) && !strncmp(line, "req id=", 7)) {
			a = strstr(line, " addr=");
			n = strstr(line, " npages=");
			*id = strtoul(line + 7, NULL, 10);
			*addr = a ? strtoull(a + 6, NULL, 0) : 0;
			*npages = n ? strtoul(n + 8, NULL, 0) : 0;
			return 0;
		}
		if (p->bad_mac || ghost_send(p, "hb"))
			return -1;
	}
	return -1;
}

/* What tinydsmd answered on @cfd: until an "ok"/"error" line, heartbeating. */
static void ctl_answer(struct peer *p, int cfd, char *buf, size_t size, int ms)
{
	struct pollfd pfd = { .fd = cfd, .events = POLLIN };
	uint64_t end = now_ms() + ms;
	size_t len = 0;
	ssize_t n;

	buf[0] = '\0';
	while (!strstr(buf, "error ") && !strstr(buf, "\nok ") && strncmp(buf, "ok ", 3) &&
	       now_ms() < end) {
		if (p && ghost_send(p, "hb"))
			p = NULL;
		if (poll(&pfd, 1, 100) != 1)
			continue;
		n = read(cfd, buf + len, size - 1 - len);
		if (n <= 0)
			break;
		len += n;
		buf[len] = '\0';
	}
}

#define MIG_CHUNK	256	/* migrate-chunk-pages: the daemon's default */

/*
 * What a migration reports is what moved, also when a chunk fails part-way
 * (the module answers a MIGRATE that stopped with the counts of the
 * batches it did move). This node migrates 2 chunks of its slice to the
 * ghost, whose daemon the test plays:
 *  1. chunk 1 fails with ETIMEDOUT after 64 pages moved, is retried (both
 *     nodes alive) and then moves its other 192 (the 64 are skipped now:
 *     no longer homed here); chunk 2 moves 256: 512 moved, none skipped;
 *  2. chunk 2 fails with EIO after 64 pages moved: the migration stops,
 *     saying 320 of 512 pages moved;
 *  3. the ghost stops answering during chunk 2: the migration stops, with
 *     the 256 pages known to have moved, and says that what the chunk in
 *     flight did is not known.
 */
TEST_F(daemon, migrate_reports_pages_moved)
{
	NEED(self->pid > 0);
	struct tinydsm_region_info ri = { 0 };
	struct peer p = { .fd = -1 };
	unsigned long long addr, base;
	unsigned int id, npages;
	char line[1024], req[256], buf[4096], why[256];
	int lfd, cfd, round;
	size_t k;

	region_info(_metadata, &ri);
	base = own_slice(&ri);
	GHOST_UP(&p, &lfd, why);
	snprintf(req, sizeof(req), "migrate from=%s to=ghost addr=%#llx npages=%u\n",
		 self->me, base, 2 * MIG_CHUNK);

	for (round = 1; round <= 3; round++) {
		cfd = tdd_ctl_connect(self->sock, 0);
		ASSERT_LE(0, cfd);
		ASSERT_EQ((ssize_t)strlen(req), write(cfd, req, strlen(req)));

		ASSERT_EQ(0, ghost_req(&p, &id, &addr, &npages, line, sizeof(line), 10000))
			TH_LOG("round %d: no first request: %s", round, line);
		EXPECT_NE(NULL, strstr(line, "op=migrate")) TH_LOG("%s", line);
		EXPECT_EQ(base, addr) TH_LOG("%s", line);
		ASSERT_EQ(MIG_CHUNK, npages) TH_LOG("%s", line);
		if (round == 1) {
			/* Part of the chunk moved, then a node timed out: retried. */
			ASSERT_EQ(0, ghost_send(&p, "rep id=%u err=ETIMEDOUT moved=64 skipped=0 data=64 holders=0 fetched=0 mapped=0 sites=0 nsec=1 msg=a node did not answer\n",
						id));
			ASSERT_EQ(0, ghost_req(&p, &id, &addr, &npages, line, sizeof(line), 10000))
				TH_LOG("no retry of chunk 1: %s", line);
			EXPECT_EQ(base, addr) TH_LOG("%s", line);
			ASSERT_EQ(0, ghost_send(&p, "rep id=%u err=0 moved=192 skipped=64 data=192 holders=0 fetched=0 mapped=0 sites=0 nsec=1\n",
						id));
		} else {
			ASSERT_EQ(0, ghost_send(&p, "rep id=%u err=0 moved=256 skipped=0 data=256 holders=0 fetched=0 mapped=0 sites=0 nsec=1\n",
						id));
		}

		ASSERT_EQ(0, ghost_req(&p, &id, &addr, &npages, line, sizeof(line), 10000))
			TH_LOG("round %d: no request for chunk 2: %s", round, line);
		EXPECT_EQ(base + MIG_CHUNK * (unsigned long long)ri.page_size, addr)
			TH_LOG("%s", line);
		if (round == 1) {
			ASSERT_EQ(0, ghost_send(&p, "rep id=%u err=0 moved=256 skipped=0 data=256 holders=0 fetched=0 mapped=0 sites=0 nsec=1\n",
						id));
		} else if (round == 2) {
			ASSERT_EQ(0, ghost_send(&p, "rep id=%u err=EIO moved=64 skipped=0 data=64 holders=0 fetched=0 mapped=0 sites=0 nsec=1 msg=the RDMA transfer failed\n",
						id));
		}
		/* round 3: the ghost goes silent and is declared dead */
		ctl_answer(round < 3 ? &p : NULL, cfd, buf, sizeof(buf), 15000);
		close(cfd);
		/* One line in the log: a line starting "ok " would read as TAP. */
		for (k = 0; buf[k]; k++)
			if (buf[k] == '\n')
				buf[k] = '|';
		TH_LOG("round %d: %s", round, buf);
		if (round == 1) {
			EXPECT_NE(NULL, strstr(buf, "|ok moved=512 skipped=0 ")) TH_LOG("%s", buf);
		} else if (round == 2) {
			EXPECT_NE(NULL, strstr(buf, "error errno=EIO")) TH_LOG("%s", buf);
			EXPECT_NE(NULL, strstr(buf, "320 of 512 pages moved")) TH_LOG("%s", buf);
			EXPECT_NE(NULL, strstr(buf, "run the same command again")) TH_LOG("%s", buf);
		} else {
			EXPECT_NE(NULL, strstr(buf, "error errno=EHOSTUNREACH")) TH_LOG("%s", buf);
			EXPECT_NE(NULL, strstr(buf, "256 of 512 pages moved")) TH_LOG("%s", buf);
			EXPECT_NE(NULL, strstr(buf, "ghost is not answering")) TH_LOG("%s", buf);
			EXPECT_NE(NULL, strstr(buf, "unknown")) TH_LOG("%s", buf);
		}
	}
	close(p.fd);
	close(lfd);
	/* The teardown takes GHOST_ADDR off lo again. */
}

/* Reading is free; a migration needs CAP_NET_ADMIN. */
TEST_F(daemon, unprivileged)
{
	NEED(self->pid > 0);
	char req[128];

	run_str(&self->r, true, ctl_path(), "migrate --from %s --to ghost --socket %s",
		self->me, self->sock);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "EPERM")) TH_LOG("%s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.err, "operation requires CAP_NET_ADMIN"))
		TH_LOG("%s", self->r.err);

	/* The socket itself, without tinydsmctl, as nobody. */
	snprintf(req, sizeof(req), "migrate from=%s to=ghost\n", self->me);
	fflush(stdout);
	fflush(stderr);
	{
		pid_t pid = fork();
		int status;

		ASSERT_LE(0, pid);
		if (pid == 0) {
			char buf[1024];

			if (setgroups(0, NULL) || setgid(TU_NOBODY) || setuid(TU_NOBODY))
				_exit(2);
			if (tdd_ctl_request(self->sock, req, buf, sizeof(buf), 5))
				_exit(3);
			if (strncmp(buf, "error errno=EPERM msg=operation requires CAP_NET_ADMIN", 54))
				_exit(4);
			/* status is for everyone */
			if (tdd_ctl_request(self->sock, "status\n", buf, sizeof(buf), 5) ||
			    !strstr(buf, "ok members=2"))
				_exit(5);
			_exit(0);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("child status %#x", status);
	}
}

TEST_F(daemon, migrate_refused)
{
	NEED(self->pid > 0);
	struct tinydsm_region_info ri = { 0 };

	region_info(_metadata, &ri);

	/* An unknown node: ENOENT, exit 1. */
	run_str(&self->r, false, ctl_path(), "migrate --from node9 --to %s --socket %s",
		self->me, self->sock);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "tinydsmctl: migrate: ENOENT: unknown node 'node9'"))
		TH_LOG("%s", self->r.err);
	EXPECT_STREQ("", self->r.out);

	/* To itself: EINVAL. */
	run_str(&self->r, false, ctl_path(), "migrate --from %s --to %s --socket %s",
		self->me, self->me, self->sock);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "EINVAL: cannot migrate")) TH_LOG("%s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.err, "to itself")) TH_LOG("%s", self->r.err);

	/* Outside the region: ERANGE; below it, past its end, across its end. */
	run_str(&self->r, false, ctl_path(), "migrate --from %s --to ghost --pages 0x1000+1 --socket %s",
		self->me, self->sock);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "ERANGE")) TH_LOG("%s", self->r.err);
	run_str(&self->r, false, ctl_path(), "migrate --from %s --to ghost --pages %#llx --socket %s",
		self->me, (unsigned long long)(ri.base + ri.size), self->sock);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "ERANGE")) TH_LOG("%s", self->r.err);
	run_str(&self->r, false, ctl_path(), "migrate --from %s --to ghost --pages %#llx+2 --socket %s",
		self->me, (unsigned long long)(ri.base + ri.size - 4096), self->sock);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "ERANGE")) TH_LOG("%s", self->r.err);

	/* Not page aligned: EINVAL. */
	run_str(&self->r, false, ctl_path(), "migrate --from %s --to ghost --pages %#llx+1 --socket %s",
		self->me, (unsigned long long)ri.base + 8, self->sock);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "EINVAL")) TH_LOG("%s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.err, "aligned")) TH_LOG("%s", self->r.err);

	/* A node that does not answer: EHOSTUNREACH. */
	run_str(&self->r, false, ctl_path(), "migrate --from %s --to ghost --socket %s",
		self->me, self->sock);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "EHOSTUNREACH: ghost is not answering"))
		TH_LOG("%s", self->r.err);

	/* Usage errors are the tool's: 2, nothing asked. */
	run_str(&self->r, false, ctl_path(), "migrate --from %s --socket %s",
		self->me, self->sock);
	EXPECT_RC(2, &self->r);
	run_str(&self->r, false, ctl_path(), "migrate --from %s --to ghost --strategy fast --socket %s",
		self->me, self->sock);
	EXPECT_RC(2, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "(lazy, eager, lookup)")) TH_LOG("%s", self->r.err);
	/* lookup is a strategy: the daemon is asked (and ghost does not answer). */
	run_str(&self->r, false, ctl_path(), "migrate --from %s --to ghost --strategy lookup --socket %s",
		self->me, self->sock);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "ghost")) TH_LOG("%s", self->r.err);
	run_str(&self->r, false, ctl_path(), "migrate --from %s --to ghost --pages 0x1000-0x800 --socket %s",
		self->me, self->sock);
	EXPECT_RC(2, &self->r);

	/* No daemon on that socket: 4. */
	run_str(&self->r, false, ctl_path(), "migrate --from %s --to ghost --socket %s/none.sock",
		self->me, self->dir);
	EXPECT_RC(4, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "not running")) TH_LOG("%s", self->r.err);
}

/* Garbage on the control socket and on the control port: no crash. */
TEST_F(daemon, garbage)
{
	NEED(self->pid > 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(7472) };
	char buf[4096], big[3000], ip[32];
	int fd;

	fd = tdd_ctl_connect(self->sock, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(5, write(fd, "\x01\x02\xff\n\n", 5));
	close(fd);
	fd = tdd_ctl_connect(self->sock, 0);
	ASSERT_LE(0, fd);
	memset(big, 'x', sizeof(big));
	EXPECT_EQ((ssize_t)sizeof(big), write(fd, big, sizeof(big)));
	close(fd);

	/* The peers' port: from an address that is no node, then junk. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_LE(0, fd);
	inet_pton(AF_INET, this_ip(ip, sizeof(ip)), &sin.sin_addr);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
		EXPECT_LT(0, write(fd, "GET / HTTP/1.0\r\n\r\n", 18));
	close(fd);

	usleep(300000);
	ASSERT_EQ(0, tdd_ctl_request(self->sock, "status\n", buf, sizeof(buf), 5));
	EXPECT_NE(NULL, strstr(buf, "ok members=2")) TH_LOG("%s", buf);
}

/* A second daemon with the same socket and port refuses to start. */
TEST_F(daemon, second_instance)
{
	NEED(self->pid > 0);
	run_str(&self->r, false, daemon_path(), "-c %s", self->conf);
	EXPECT_RC(1, &self->r);
	EXPECT_TRUE(strstr(self->r.err, "another tinydsmd") ||
		    strstr(self->r.err, "Address already in use")) TH_LOG("%s", self->r.err);
}

/* The module's node_id must be the self line's. */
TEST_F(daemon, wrong_self)
{
	NEED(self->pid > 0);
	char conf[160], text[512], ip[32];

	snprintf(conf, sizeof(conf), "%s/wrong.conf", self->dir);
	snprintf(text, sizeof(text),
		 "node %u name %s addr %s\nnode %u name ghost addr " GHOST_ADDR "\n"
		 "self ghost\nsocket %s/wrong.sock\nkey-file %s\n",
		 tu_node_id(), self->me, this_ip(ip, sizeof(ip)), ghost_id(), self->dir,
		 self->key);
	ASSERT_EQ(0, write_file(conf, text));
	run_str(&self->r, false, daemon_path(), "-c %s", conf);
	unlink(conf);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "wrong.conf:3: self is ghost")) TH_LOG("%s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.err, "node_id")) TH_LOG("%s", self->r.err);
}

TEST_HARNESS_MAIN
