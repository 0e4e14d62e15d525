// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl tests on one node (lab, module loaded, node id $TDSM_NODE_ID):
 * the exit codes scripts rely on (0 ok, 1 the kernel said no, 2 usage,
 * 3 module not loaded), the table, TSV and JSON output, and the kernel's
 * error message reaching the user.
 *
 * The tool is $TDSM_CTL, else build/tools/tinydsmctl next to this test's
 * build/selftests/. JSON is checked with python3's json module when the
 * host has python3, else by looking for the expected members.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"

#define NOBODY		65534
#define OUT_MAX		16384

enum { AS_ROOT, AS_NOBODY, IN_NEW_NETNS };

struct run {
	int rc;				/* exit status, -1 if killed */
	char out[OUT_MAX];		/* stdout */
	char err[OUT_MAX];		/* stderr */
};

static char ctl[PATH_MAX];

static unsigned int this_node(void)
{
	const char *id = getenv("TDSM_NODE_ID");

	return id ? (unsigned int)atoi(id) : 1;
}

static unsigned int peer_id(int i)
{
	unsigned int id = 2 + i;

	return id >= this_node() ? id + 1 : id;
}

static const char *find_ctl(void)
{
	const char *env = getenv("TDSM_CTL");
	char exe[PATH_MAX], *slash;
	ssize_t n;

	if (env)
		return env;
	/* build/selftests/<this test> -> build/tools/tinydsmctl */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	if (snprintf(ctl, sizeof(ctl), "%.*s/../tools/tinydsmctl",
		     (int)(sizeof(ctl) - 32), exe) >= (int)sizeof(ctl))
		return NULL;
	return ctl;
}

static void slurp(int fd, char *buf, size_t size)
{
	ssize_t n;
	size_t len = 0;

	lseek(fd, 0, SEEK_SET);
	while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += n;
	buf[len] = '\0';
	close(fd);
}

/*
 * Run @prog with @argv (NULL-terminated, argv[0] included), stdin from
 * @in (or nothing), as root, as nobody or in a new network namespace.
 */
static void run_prog(struct run *r, int how, const char *in, const char *prog,
		     char *const argv[])
{
	int ofd = memfd_create("out", 0), efd = memfd_create("err", 0);
	int ifd = memfd_create("in", 0), status;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->rc = -1;
	if (ofd < 0 || efd < 0 || ifd < 0)
		return;
	if (in && write(ifd, in, strlen(in)) != (ssize_t)strlen(in))
		return;
	lseek(ifd, 0, SEEK_SET);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		dup2(ifd, 0);
		dup2(ofd, 1);
		dup2(efd, 2);
		if (how == AS_NOBODY &&
		    (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY)))
			_exit(120);
		if (how == IN_NEW_NETNS && unshare(CLONE_NEWNET))
			_exit(121);
		execvp(prog, argv);
		_exit(127);
	}
	close(ifd);
	if (waitpid(pid, &status, 0) == pid && WIFEXITED(status))
		r->rc = WEXITSTATUS(status);
	slurp(ofd, r->out, sizeof(r->out));
	slurp(efd, r->err, sizeof(r->err));
}

/* tinydsmctl with the arguments given as one string, split at blanks. */
static void ctl_how(struct run *r, int how, const char *fmt, ...)
{
	char line[512], *argv[32], *tok, *save;
	va_list ap;
	int argc = 0;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	argv[argc++] = (char *)find_ctl();
	for (tok = strtok_r(line, " ", &save); tok && argc < 31;
	     tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	run_prog(r, how, NULL, argv[0], argv);
}

#define ctl_run(r, ...) ctl_how(r, AS_ROOT, __VA_ARGS__)

/* The lines of -t node show, i.e. the number of nodes. */
static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/*
 * Is @json a valid JSON array holding node @id with the "self" flag iff
 * @self? 1 yes, 0 no, -1 no python3 here.
 */
static int json_has_node(const char *json, unsigned int id, bool self)
{
	char script[512];
	char *argv[] = { "python3", "-c", script, NULL };
	struct run *r = malloc(sizeof(*r));
	int ok;

	if (!r)
		return 0;
	snprintf(script, sizeof(script),
		 "import json, sys\n"
		 "d = json.load(sys.stdin)\n"
		 "assert isinstance(d, list)\n"
		 "n = [x for x in d if x['id'] == %u]\n"
		 "assert len(n) == 1, n\n"
		 "assert ('self' in n[0].get('flags', [])) == %s, n\n"
		 "assert isinstance(n[0]['state'], str)\n"
		 "for k in ('tx_msgs', 'rx_msgs', 'rx_bad', 'error'):\n"
		 "    assert isinstance(n[0][k], int), k\n",
		 id, self ? "True" : "False");
	run_prog(r, AS_ROOT, json, "python3", argv);
	ok = r->rc == 127 ? -1 : r->rc == 0;
	if (r->rc != 0 && r->rc != 127)
		fprintf(stderr, "# python3: %s", r->err);
	free(r);
	return ok;
}

FIXTURE(ctl) {
	struct run r;
};

FIXTURE_SETUP(ctl)
{
	const char *path = find_ctl();

	if (!path || access(path, X_OK))
		SKIP(return, "no tinydsmctl binary at %s (set TDSM_CTL)",
		     path ? path : "?");
}

FIXTURE_TEARDOWN(ctl)
{
	struct run *r = malloc(sizeof(*r));

	if (!r)
		return;
	ctl_run(r, "node del %u", peer_id(0));
	ctl_run(r, "node del %u", peer_id(1));
	free(r);
}

#define EXPECT_RC(want, r) \
	EXPECT_EQ(want, (r)->rc) TH_LOG("stdout: %s\nstderr: %s", (r)->out, (r)->err)
#define ASSERT_RC(want, r) \
	ASSERT_EQ(want, (r)->rc) TH_LOG("stdout: %s\nstderr: %s", (r)->out, (r)->err)

TEST_F(ctl, version_and_help)
{
	static const char *const helps[] = {
		"-h", "help", "node -h", "node help", "node show -h",
		"node add -h", "node del -h", "node add help",
	};
	unsigned int i;

	ctl_run(&self->r, "-V");
	ASSERT_RC(0, &self->r);
	EXPECT_NE(NULL, strstr(self->r.out, "tinydsmctl"));
	for (i = 0; i < ARRAY_SIZE(helps); i++) {
		ctl_run(&self->r, "%s", helps[i]);
		EXPECT_RC(0, &self->r);
		EXPECT_NE(NULL, strstr(self->r.out, "Usage:"))
			TH_LOG("%s: %s", helps[i], self->r.out);
		EXPECT_STREQ("", self->r.err);
	}
}

/* Exit 2, a message on stderr, nothing on stdout, nothing changed. */
TEST_F(ctl, usage_errors)
{
	static const char *const bad[] = {
		"", "bogus", "node bogus", "-Z node", "-p node show",
		"-j -t node show", "node show extra",
		"node add", "node add 2", "node add 2 10.77.0.99 x",
		"node add x 10.77.0.99", "node add -1 10.77.0.99",
		"node add 4294967296 10.77.0.99", "node add 2 10.77.0.999",
		"node add 2 10.77.99", "node add 2 10.77.0.99:70000",
		"node add 2 10.77.0.99:", "node add 2 10.77.0.99:x",
		"node add 2 [fd00::1", "node add 2 [fd00::1]x",
		"node add 2 [10.77.0.99]", "node add 2 fd00::zz",
		"node add 2 host.example", "node del", "node del 2 3",
		"node del two",
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ctl_run(&self->r, "%s", bad[i]);
		EXPECT_EQ(2, self->r.rc)
			TH_LOG("\"%s\": rc %d, stderr: %s", bad[i], self->r.rc,
			       self->r.err);
		EXPECT_STRNE("", self->r.err);
		EXPECT_STREQ("", self->r.out);
	}
	ctl_run(&self->r, "-t node show");
	ASSERT_RC(0, &self->r);
	EXPECT_EQ(1, count_lines(self->r.out)) TH_LOG("%s", self->r.out);
}

TEST_F(ctl, show_table)
{
	char *want;

	ctl_run(&self->r, "node show");
	ASSERT_RC(0, &self->r);
	/* A header (ID right-aligned over the ids), then this node. */
	EXPECT_EQ(0, strncmp(self->r.out + strspn(self->r.out, " "), "ID ", 3))
		TH_LOG("%s", self->r.out);
	EXPECT_NE(NULL, strstr(self->r.out, "ADDRESS"));
	EXPECT_NE(NULL, strstr(self->r.out, "self"));
	EXPECT_EQ(2, count_lines(self->r.out));
	/* The default command is show. */
	want = strdup(self->r.out);
	ASSERT_NE(NULL, want);
	ctl_run(&self->r, "node");
	EXPECT_RC(0, &self->r);
	EXPECT_STREQ(want, self->r.out);
	free(want);
}

TEST_F(ctl, show_tsv)
{
	char want[32];
	const char *p;
	int tabs = 0;

	ctl_run(&self->r, "-t node show");
	ASSERT_RC(0, &self->r);
	ASSERT_EQ(1, count_lines(self->r.out)) TH_LOG("%s", self->r.out);
	snprintf(want, sizeof(want), "%u\t", this_node());
	EXPECT_EQ(0, strncmp(self->r.out, want, strlen(want)));
	/* 8 columns, the flags fourth. */
	for (p = self->r.out; *p && *p != '\n'; p++)
		tabs += *p == '\t';
	EXPECT_EQ(7, tabs);
	EXPECT_NE(NULL, strstr(self->r.out, "\tself\t"));
}

TEST_F(ctl, show_json)
{
	int ok;

	ctl_run(&self->r, "-j node show");
	ASSERT_RC(0, &self->r);
	EXPECT_STREQ("", self->r.err);
	ok = json_has_node(self->r.out, this_node(), true);
	if (ok < 0) {
		char want[32];

		TH_LOG("no python3: checking the text only");
		snprintf(want, sizeof(want), "\"id\":%u,", this_node());
		EXPECT_NE(NULL, strstr(self->r.out, want)) TH_LOG("%s", self->r.out);
		EXPECT_NE(NULL, strstr(self->r.out, "\"flags\":[\"self\"]"));
		EXPECT_EQ('[', self->r.out[0]);
	} else {
		EXPECT_EQ(1, ok) TH_LOG("%s", self->r.out);
	}
	EXPECT_EQ(1, count_lines(self->r.out));

	ctl_run(&self->r, "-j -p node show");
	ASSERT_RC(0, &self->r);
	EXPECT_LT(1, count_lines(self->r.out));
	ok = json_has_node(self->r.out, this_node(), true);
	if (ok >= 0)
		EXPECT_EQ(1, ok) TH_LOG("%s", self->r.out);
}

TEST_F(ctl, add_show_del)
{
	unsigned int id = peer_id(0);
	char want[64];
	int ok;

	ctl_run(&self->r, "node add %u 10.77.0.99:7471", id);
	ASSERT_RC(0, &self->r);
	EXPECT_STREQ("", self->r.out);

	ctl_run(&self->r, "-t node show");
	ASSERT_RC(0, &self->r);
	EXPECT_EQ(2, count_lines(self->r.out)) TH_LOG("%s", self->r.out);
	snprintf(want, sizeof(want), "\n%u\t10.77.0.99:7471\t", id);
	EXPECT_NE(NULL, strstr(self->r.out, want)) TH_LOG("%s", self->r.out);
	EXPECT_TRUE(strstr(self->r.out, "\tconnecting\t") ||
		    strstr(self->r.out, "\tdown\t")) TH_LOG("%s", self->r.out);

	ctl_run(&self->r, "-j node show");
	ASSERT_RC(0, &self->r);
	ok = json_has_node(self->r.out, id, false);
	if (ok >= 0)
		EXPECT_EQ(1, ok) TH_LOG("%s", self->r.out);

	/* The kernel says no: 1, and the errno by name. */
	ctl_run(&self->r, "node add %u 10.77.0.99", id);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "EEXIST")) TH_LOG("%s", self->r.err);

	ctl_run(&self->r, "node del %u", id);
	ASSERT_RC(0, &self->r);
	ctl_run(&self->r, "node del %u", id);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "ENOENT")) TH_LOG("%s", self->r.err);

	ctl_run(&self->r, "-t node show");
	ASSERT_RC(0, &self->r);
	EXPECT_EQ(1, count_lines(self->r.out));
}

TEST_F(ctl, add_ipv6)
{
	unsigned int id = peer_id(1);

	ctl_run(&self->r, "node add %u [fd00:77::99]:7471", id);
	ASSERT_RC(0, &self->r);
	ctl_run(&self->r, "node show");
	ASSERT_RC(0, &self->r);
	EXPECT_NE(NULL, strstr(self->r.out, "[fd00:77::99]:7471"))
		TH_LOG("%s", self->r.out);
	ctl_run(&self->r, "node del %u", id);
	ASSERT_RC(0, &self->r);

	/* Bare, no port: the module's default port. */
	ctl_run(&self->r, "node add %u fd00:77::98", id);
	ASSERT_RC(0, &self->r);
	ctl_run(&self->r, "node show");
	ASSERT_RC(0, &self->r);
	EXPECT_NE(NULL, strstr(self->r.out, "fd00:77::98")) TH_LOG("%s", self->r.out);
	ctl_run(&self->r, "node del %u", id);
	ASSERT_RC(0, &self->r);
}

/* What the kernel refuses comes back as 1 with its own message. */
TEST_F(ctl, kernel_refuses)
{
	ctl_run(&self->r, "node add %u 10.77.0.99", this_node());
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "EINVAL")) TH_LOG("%s", self->r.err);

	ctl_run(&self->r, "node add 0 10.77.0.99");
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "ERANGE")) TH_LOG("%s", self->r.err);
	/* The extack message: "integer out of range". */
	EXPECT_NE(NULL, strstr(self->r.err, "range")) TH_LOG("%s", self->r.err);

	ctl_run(&self->r, "node add %u 10.77.0.99", TINYDSM_MAX_NODES);
	EXPECT_RC(1, &self->r);
	ctl_run(&self->r, "node del %u", TINYDSM_MAX_NODES);
	EXPECT_RC(1, &self->r);

	ctl_run(&self->r, "-t node show");
	ASSERT_RC(0, &self->r);
	EXPECT_EQ(1, count_lines(self->r.out));
}

TEST_F(ctl, unprivileged)
{
	if (getuid() != 0)
		SKIP(return, "needs root to drop privileges");
	ctl_how(&self->r, AS_NOBODY, "-t node show");
	ASSERT_RC(0, &self->r);
	EXPECT_EQ(1, count_lines(self->r.out));
	ctl_how(&self->r, AS_NOBODY, "node add %u 10.77.0.99", peer_id(0));
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "EPERM")) TH_LOG("%s", self->r.err);
	ctl_how(&self->r, AS_NOBODY, "node del %u", peer_id(0));
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "EPERM")) TH_LOG("%s", self->r.err);
}

/*
 * In a new network namespace the family does not exist (it is not
 * netnsok): that is what "the module is not loaded" looks like, exit 3.
 */
TEST_F(ctl, no_family)
{
	if (getuid() != 0)
		SKIP(return, "needs root for a network namespace");
	ctl_how(&self->r, IN_NEW_NETNS, "node show");
	EXPECT_RC(3, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "not loaded")) TH_LOG("%s", self->r.err);
	ctl_how(&self->r, IN_NEW_NETNS, "node add %u 10.77.0.99", peer_id(0));
	EXPECT_RC(3, &self->r);
	ctl_how(&self->r, IN_NEW_NETNS, "node del %u", peer_id(0));
	EXPECT_RC(3, &self->r);
	/* A usage error is still a usage error. */
	ctl_how(&self->r, IN_NEW_NETNS, "node add x y");
	EXPECT_RC(2, &self->r);
}

TEST_HARNESS_MAIN
