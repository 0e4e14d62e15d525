// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl tests on one node (lab, module loaded, node id $TDSM_NODE_ID):
 * the exit codes scripts rely on (0 ok, 1 the kernel said no, 2 usage,
 * 3 module not loaded), the table, TSV and JSON output, and the kernel's
 * error message reaching the user; region, page and stats against the
 * ioctls they show, and monitor against the events a lone node can cause:
 * fault-error (a fault on a page whose home is not connected) and
 * fault-storm (with the module parameter storm_faults lowered to 1).
 *
 * The module keeps its pages while it is loaded, so the page tests use
 * pages of their own near the end of this node's home slice (PG_*).
 *
 * The tool is $TDSM_CTL, else build/tools/tinydsmctl next to this test's
 * build/selftests/. JSON is checked with python3's json module when the
 * host has python3, else by looking for the expected members.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tdsm_util.h"

#define DEV_PATH	"/dev/tinydsm"

/* Pages of this test, counted back from the end of this node's slice. */
#define PG_SHOW		200	/* 8 pages */
#define PG_SHOW_N	8
#define PG_STATS	180	/* 2 pages */
#define PG_STORM	170	/* 4 pages */

static char ctl[PATH_MAX];

static unsigned int peer_id(int i)
{
	unsigned int id = 2 + i;

	return id >= tu_node_id() ? id + 1 : id;
}

static const char *find_ctl(void)
{
	const char *env = getenv("TDSM_CTL");

	return env ? env : tu_beside(ctl, sizeof(ctl), "tools/tinydsmctl");
}

/* tinydsmctl with the arguments given as one string, split at blanks. */
#define ctl_how(r, how, ...) tu_run_str(r, how, find_ctl(), __VA_ARGS__)
#define ctl_run(r, ...) ctl_how(r, TU_AS_ROOT, __VA_ARGS__)

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
 * @self? 1 yes, 0 no, -1 no python3 here. setup_us and auth_us: both or
 * neither, never for this node (measurements: no bound on their values).
 */
static int json_has_node(const char *json, unsigned int id, bool self)
{
	char script[1024];
	char *argv[] = { "python3", "-c", script, NULL };
	struct tu_run *r = malloc(sizeof(*r));
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
		 "for k in ('tx_msgs', 'rx_msgs', 'rx_bad', 'error', 'auth_fails', 'rx_unmatched'):\n"
		 "    assert isinstance(n[0][k], int), k\n"
		 "assert n[0]['auth'] in ('key', 'off', 'failed', 'none'), n\n"
		 "assert ('setup_us' in n[0]) == ('auth_us' in n[0]), n\n"
		 "assert not %s or 'setup_us' not in n[0], n\n"
		 "if 'setup_us' in n[0]:\n"
		 "    assert isinstance(n[0]['setup_us'], int), n\n"
		 "    assert isinstance(n[0]['auth_us'], int), n\n"
		 "    assert n[0]['setup_us'] >= n[0]['auth_us'], n\n",
		 id, self ? "True" : "False", self ? "True" : "False");
	tu_run_prog(r, TU_AS_ROOT, json, "python3", argv);
	ok = r->rc == 127 ? -1 : r->rc == 0;
	if (r->rc != 0 && r->rc != 127)
		fprintf(stderr, "# python3: %s", r->err);
	free(r);
	return ok;
}

/*
 * Run the python3 @asserts on @json, loaded as d (or, with @lines, on each
 * line loaded into the list d). 1 passed, 0 failed, -1 no python3 here.
 */
static int py_check(const char *json, bool lines, const char *fmt, ...)
{
	char script[4096];
	char *argv[] = { "python3", "-c", script, NULL };
	struct tu_run *r = malloc(sizeof(*r));
	va_list ap;
	int n, ok;

	if (!r)
		return 0;
	n = snprintf(script, sizeof(script), "import json, sys\n%s",
		     lines ? "d = [json.loads(l) for l in sys.stdin.read().splitlines()]\n" :
			     "d = json.load(sys.stdin)\n");
	va_start(ap, fmt);
	vsnprintf(script + n, sizeof(script) - n, fmt, ap);
	va_end(ap);
	tu_run_prog(r, TU_AS_ROOT, json, "python3", argv);
	ok = r->rc == 127 ? -1 : r->rc == 0;
	if (r->rc != 0 && r->rc != 127)
		fprintf(stderr, "# python3: %s", r->err);
	free(r);
	return ok;
}

#define EXPECT_PY(json, lines, ...) do {				\
	int __ok = py_check(json, lines, __VA_ARGS__);			\
	if (__ok < 0)							\
		TH_LOG("no python3: JSON not parsed");			\
	else								\
		EXPECT_EQ(1, __ok) TH_LOG("%s", json);			\
} while (0)

/* ---- the region, as the tests see it ---- */

struct geo {
	int fd;
	struct tinydsm_region_info ri;
	unsigned long npages;
	unsigned int max_nodes;		/* ri's, or the module parameter's */
	unsigned int home_nodes;	/* ri's, or max_nodes */
	unsigned long slice_pages;	/* ri's, or npages / home_nodes */
};

static unsigned int module_param(const char *name, unsigned int dflt)
{
	char path[128];
	unsigned int v;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/tinydsm/parameters/%s", name);
	f = fopen(path, "r");
	if (!f)
		return dflt;
	if (fscanf(f, "%u", &v) != 1)
		v = dflt;
	fclose(f);
	return v;
}

/* 0, or why not; the geometry falls back to the module parameters. */
static const char *geo_open(struct geo *g)
{
	memset(g, 0, sizeof(*g));
	g->fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	if (g->fd < 0)
		return "cannot open " DEV_PATH;
	if (ioctl(g->fd, TINYDSM_IOC_REGION_INFO, &g->ri))
		return "REGION_INFO failed";
	g->npages = g->ri.size / g->ri.page_size;
	g->max_nodes = g->ri.max_nodes ? g->ri.max_nodes :
		       module_param("max_nodes", 4);
	g->home_nodes = g->ri.home_nodes ? g->ri.home_nodes : g->max_nodes;
	if (!g->home_nodes || g->npages / g->home_nodes < 256)
		return "the slices are too small for this test";
	g->slice_pages = g->ri.slice_pages ? g->ri.slice_pages :
			 g->npages / g->home_nodes;
	return NULL;
}

/* The address of page @idx of node @node's home slice. */
static uint64_t slice_page(const struct geo *g, unsigned int node,
			   unsigned long idx)
{
	return g->ri.base + ((uint64_t)(node - 1) * g->slice_pages + idx) *
			    g->ri.page_size;
}

/* Page @back pages before the end of this node's slice. */
static uint64_t my_page(const struct geo *g, unsigned long back)
{
	return slice_page(g, tu_node_id(), g->slice_pages - back);
}

static void *geo_map(const struct geo *g, uint64_t addr, unsigned long pages)
{
	void *p = mmap(NULL, pages * g->ri.page_size, PROT_READ | PROT_WRITE,
		       MAP_SHARED, g->fd, addr - g->ri.base);

	return p == MAP_FAILED ? NULL : p;
}

static int page_info(const struct geo *g, uint64_t addr,
		     struct tinydsm_page_info *pi)
{
	memset(pi, 0, sizeof(*pi));
	pi->addr = addr;
	return ioctl(g->fd, TINYDSM_IOC_PAGE_INFO, pi);
}

static const char *state_name(unsigned int state)
{
	static const char *const names[] = { "invalid", "shared", "exclusive" };

	return state < 3 ? names[state] : "?";
}

/* "1,3" or "-": how the tool prints a node set (bit n - 1 = node n). */
static void nodes_text(uint64_t set, char *buf, size_t size)
{
	size_t len = 0;
	int n;

	buf[0] = '\0';
	for (n = 1; n < TINYDSM_MAX_NODES && len < size; n++)
		if (set >> (n - 1) & 1)
			len += snprintf(buf + len, size - len, "%s%d",
					len ? "," : "", n);
	if (!len)
		snprintf(buf, size, "-");
}

/* The line -t page show must print for @pi: the contract of its columns. */
static void page_line(uint64_t addr, const struct tinydsm_page_info *pi,
		      char *buf, size_t size)
{
	char home[16] = "-", owner[16] = "-", copyset[200], flags[64] = "";
	char ip[24] = "-";

	if (pi->home)
		snprintf(home, sizeof(home), "%u", pi->home);
	if (pi->owner)
		snprintf(owner, sizeof(owner), "%u", pi->owner);
	nodes_text(pi->holders, copyset, sizeof(copyset));
	if (pi->flags & TINYDSM_PAGE_F_PRESENT)
		strcat(flags, "present");
	if (pi->flags & TINYDSM_PAGE_F_WRITTEN)
		strcat(flags, *flags ? ",written" : "written");
	if (pi->flags & TINYDSM_PAGE_F_MOVED)
		strcat(flags, *flags ? ",moved" : "moved");
	if (!*flags)
		strcpy(flags, "-");
	if (pi->fault_ip)
		snprintf(ip, sizeof(ip), "%#llx", (unsigned long long)pi->fault_ip);
	snprintf(buf, size, "%#llx\t%s\t%s\t%s\t%s\t%s\t%u\t%s\n",
		 (unsigned long long)addr, home, owner, state_name(pi->state),
		 copyset, flags, pi->faults, ip);
}

/* The value of "key<TAB>value" in -t output; -1 if absent. */
static long long tsv_value(const char *out, const char *key, char *str,
			   size_t size)
{
	const char *p = out;
	size_t klen = strlen(key);
	const char *v, *nl;

	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == '\t') {
			v = p + klen + 1;
			nl = strchr(v, '\n');
			if (str)
				snprintf(str, size, "%.*s",
					 (int)(nl ? nl - v : (long)strlen(v)), v);
			return strtoll(v, NULL, 0);
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

static int count_prefix(const char *s, const char *prefix)
{
	int n = 0;

	for (; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL)
		n += !strncmp(s, prefix, strlen(prefix));
	return n;
}

FIXTURE(ctl) {
	struct tu_run r;
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
	struct tu_run *r = malloc(sizeof(*r));

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
		"region -h", "region help", "region show -h", "region set -h",
		"page -h", "page help", "page show -h", "page show 0x1 -h",
		"page show --present -h", "page --help",
		"stats -h", "stats help", "stats show -h",
		"monitor -h", "monitor help", "monitor --timeout 1 -h",
		"migrate -h",
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
		"node del two", "node evict", "node evict 2 3", "node evict two",
		"region bogus", "region show x", "region set", "region set cache",
		"region set cache 1Q", "region set cache -1", "region set home 1M",
		"region set cache 1M 2M", "region set cache 99999999999T",
		"region set home-budget", "region set home-budget 1Q",
		"region set home-budget -1", "region set home-budget 16M 1M",
		"region set home-budget 99999999999T", "region set home_budget 16M",
		"stats bogus", "stats show x",
		"page bogus", "page show 0xzz", "page show zz", "page show -5",
		"page show 0x1000+0", "page show 0x1000+x", "page show 0x2000-0x1000",
		"page show 0x1000-0x1000", "page show 0x1000 0x2000",
		"page show 99999999999999999999999", "page show --state",
		"page show --state foo", "page show --owner", "page show --owner 0",
		"page show --owner node0", "page show --owner 65",
		"page show --owner nodex", "page show --home", "page show --home x",
		"page show --bogus", "page --bogus",
		"monitor bogus", "monitor --count", "monitor --count 0",
		"monitor --count x", "monitor --timeout", "monitor --timeout x",
		"monitor --timeout -1", "monitor --timeout 1s",
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
	snprintf(want, sizeof(want), "%u\t", tu_node_id());
	EXPECT_EQ(0, strncmp(self->r.out, want, strlen(want)));
	/* 13 columns, the flags fourth. */
	for (p = self->r.out; *p && *p != '\n'; p++)
		tabs += *p == '\t';
	EXPECT_EQ(12, tabs);
	/* No setup time for this node: the last two are "-". */
	EXPECT_NE(NULL, strstr(self->r.out, "\t-\t-\n")) TH_LOG("%s", self->r.out);
	EXPECT_NE(NULL, strstr(self->r.out, "\tself\t"));
}

TEST_F(ctl, show_json)
{
	int ok;

	ctl_run(&self->r, "-j node show");
	ASSERT_RC(0, &self->r);
	EXPECT_STREQ("", self->r.err);
	ok = json_has_node(self->r.out, tu_node_id(), true);
	if (ok < 0) {
		char want[32];

		TH_LOG("no python3: checking the text only");
		snprintf(want, sizeof(want), "\"id\":%u,", tu_node_id());
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
	ok = json_has_node(self->r.out, tu_node_id(), true);
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
	ctl_run(&self->r, "node add %u 10.77.0.99", tu_node_id());
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

	/* Evicting this node, or one it does not know. */
	ctl_run(&self->r, "node evict %u", tu_node_id());
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "EINVAL")) TH_LOG("%s", self->r.err);
	ctl_run(&self->r, "node evict %u", peer_id(0));
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "ENOENT")) TH_LOG("%s", self->r.err);

	ctl_run(&self->r, "-t node show");
	ASSERT_RC(0, &self->r);
	EXPECT_EQ(1, count_lines(self->r.out));
}

TEST_F(ctl, unprivileged)
{
	if (getuid() != 0)
		SKIP(return, "needs root to drop privileges");
	ctl_how(&self->r, TU_AS_NOBODY, "-t node show");
	ASSERT_RC(0, &self->r);
	EXPECT_EQ(1, count_lines(self->r.out));
	ctl_how(&self->r, TU_AS_NOBODY, "node add %u 10.77.0.99", peer_id(0));
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "EPERM")) TH_LOG("%s", self->r.err);
	ctl_how(&self->r, TU_AS_NOBODY, "node del %u", peer_id(0));
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "EPERM")) TH_LOG("%s", self->r.err);
	ctl_how(&self->r, TU_AS_NOBODY, "node evict %u", peer_id(0));
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
	ctl_how(&self->r, TU_IN_NEW_NETNS, "node show");
	EXPECT_RC(3, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "not loaded")) TH_LOG("%s", self->r.err);
	ctl_how(&self->r, TU_IN_NEW_NETNS, "node add %u 10.77.0.99", peer_id(0));
	EXPECT_RC(3, &self->r);
	ctl_how(&self->r, TU_IN_NEW_NETNS, "node del %u", peer_id(0));
	EXPECT_RC(3, &self->r);
	ctl_how(&self->r, TU_IN_NEW_NETNS, "monitor --timeout 1");
	EXPECT_RC(3, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "not loaded")) TH_LOG("%s", self->r.err);
	/* A usage error is still a usage error. */
	ctl_how(&self->r, TU_IN_NEW_NETNS, "node add x y");
	EXPECT_RC(2, &self->r);
}

/* No device: the module is not loaded, exit 3, for every ioctl object. */
TEST_F(ctl, no_device)
{
	static const char *const cmds[] = {
		"region show", "page show", "page show 0x400000000000", "stats",
		"-j stats show",
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		ctl_how(&self->r, TU_NO_DEVICE, "%s", cmds[i]);
		EXPECT_RC(3, &self->r);
		EXPECT_NE(NULL, strstr(self->r.err, "not loaded"))
			TH_LOG("%s: %s", cmds[i], self->r.err);
		EXPECT_STREQ("", self->r.out);
	}
	/* Usage comes first: nothing is opened for a bad command line. */
	ctl_how(&self->r, TU_NO_DEVICE, "page show 0xzz");
	EXPECT_RC(2, &self->r);
}

/* The device is root's: anyone else gets 1 and EACCES. */
TEST_F(ctl, device_unprivileged)
{
	struct stat st;

	if (getuid() != 0)
		SKIP(return, "needs root to drop privileges");
	if (stat(DEV_PATH, &st) || (st.st_mode & S_IROTH))
		SKIP(return, DEV_PATH " is readable by anyone here");
	ctl_how(&self->r, TU_AS_NOBODY, "region show");
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "EACCES")) TH_LOG("%s", self->r.err);
	ctl_how(&self->r, TU_AS_NOBODY, "stats");
	EXPECT_RC(1, &self->r);
}

TEST_F(ctl, region_show)
{
	char str[64], want[128];
	unsigned long slices, i;
	struct tinydsm_stats st;
	const char *why;
	struct geo g;
	long long chunks;

	why = geo_open(&g);
	if (why)
		SKIP(return, "%s", why);

	/* The contract of the new fields (0 from a module without them). */
	EXPECT_EQ(module_param("max_nodes", g.ri.max_nodes), g.ri.max_nodes);
	EXPECT_LE(1, g.ri.max_nodes);
	EXPECT_EQ(module_param("home_nodes", g.ri.home_nodes), g.ri.home_nodes);
	EXPECT_LE(1, g.ri.home_nodes);
	EXPECT_LE(g.ri.home_nodes, g.ri.max_nodes);
	/* home_nodes slices of whole 64-page chunks make the region. */
	EXPECT_EQ(g.npages, g.ri.home_nodes * g.ri.slice_pages);
	EXPECT_EQ(0, g.ri.slice_pages % 64);

	/* One node caches nothing homed elsewhere: cached_pages stays. */
	ASSERT_EQ(0, ioctl(g.fd, TINYDSM_IOC_STATS, &st));
	ctl_run(&self->r, "-t region show");
	ASSERT_RC(0, &self->r);
	EXPECT_STREQ("", self->r.err);
	EXPECT_EQ(g.ri.node_id, tsv_value(self->r.out, "node_id", NULL, 0));
	EXPECT_EQ(g.ri.abi_version, tsv_value(self->r.out, "abi_version", NULL, 0));
	tsv_value(self->r.out, "base", str, sizeof(str));
	snprintf(want, sizeof(want), "%#llx", (unsigned long long)g.ri.base);
	EXPECT_STREQ(want, str);
	tsv_value(self->r.out, "end", str, sizeof(str));
	snprintf(want, sizeof(want), "%#llx",
		 (unsigned long long)(g.ri.base + g.ri.size));
	EXPECT_STREQ(want, str);
	EXPECT_EQ((long long)g.ri.size, tsv_value(self->r.out, "size", NULL, 0));
	EXPECT_EQ((long long)g.npages, tsv_value(self->r.out, "pages", NULL, 0));
	EXPECT_EQ(g.ri.page_size, tsv_value(self->r.out, "page_size", NULL, 0));
	EXPECT_EQ(g.ri.meta_bytes_per_page,
		  tsv_value(self->r.out, "meta_bytes_per_page", NULL, 0));
	EXPECT_EQ(g.ri.max_nodes, tsv_value(self->r.out, "max_nodes", NULL, 0));
	EXPECT_EQ(g.ri.home_nodes, tsv_value(self->r.out, "home_nodes", NULL, 0));
	EXPECT_EQ((long long)g.ri.slice_pages,
		  tsv_value(self->r.out, "slice_pages", NULL, 0));
	/* The cache and the metadata, as STATS has them. */
	EXPECT_EQ((long long)(st.cache_budget_pages * g.ri.page_size),
		  tsv_value(self->r.out, "cache_budget", NULL, 0));
	EXPECT_EQ((long long)st.cached_pages,
		  tsv_value(self->r.out, "cached_pages", NULL, 0));
	/* Gauges the chunk worker moves: there, and chunks have bytes. */
	chunks = tsv_value(self->r.out, "chunks", NULL, 0);
	EXPECT_LE(0, chunks) TH_LOG("%s", self->r.out);
	EXPECT_LE(chunks > 0 ? 1 : 0, tsv_value(self->r.out, "meta_bytes", NULL, 0))
		TH_LOG("%s", self->r.out);

	/* One "slices" line per slice: HOME START END PAGES FLAGS. */
	slices = 0;
	for (i = 0; g.ri.slice_pages && i < g.ri.home_nodes &&
		    i * g.ri.slice_pages < g.npages; i++)
		slices++;
	EXPECT_EQ((int)slices, count_prefix(self->r.out, "slices\t"))
		TH_LOG("%s", self->r.out);
	if (g.ri.slice_pages) {
		snprintf(want, sizeof(want), "slices\t%u\t%#llx\t%#llx\t%llu\tself\n",
			 g.ri.node_id,
			 (unsigned long long)slice_page(&g, g.ri.node_id, 0),
			 (unsigned long long)slice_page(&g, g.ri.node_id,
							g.ri.slice_pages),
			 (unsigned long long)g.ri.slice_pages);
		EXPECT_NE(NULL, strstr(self->r.out, want))
			TH_LOG("no \"%s\" in\n%s", want, self->r.out);
	}

	ctl_run(&self->r, "region");
	ASSERT_RC(0, &self->r);
	EXPECT_EQ(0, strncmp(self->r.out, "node_id ", 8)) TH_LOG("%s", self->r.out);
	EXPECT_NE(NULL, strstr(self->r.out, "HOME")) TH_LOG("%s", self->r.out);

	ctl_run(&self->r, "-j region show");
	ASSERT_RC(0, &self->r);
	EXPECT_EQ(1, count_lines(self->r.out));
	EXPECT_PY(self->r.out, false,
		  "assert d['node_id'] == %u\n"
		  "assert d['base'] == '%#llx'\n"
		  "assert d['size'] == %llu and d['pages'] == %lu\n"
		  "assert d['page_size'] == %u\n"
		  "assert d['meta_bytes_per_page'] == %u\n"
		  "assert d['max_nodes'] == %u and d['slice_pages'] == %llu\n"
		  "assert d['home_nodes'] == %u\n"
		  "for k in ('cache_budget', 'cached_pages', 'meta_bytes', 'chunks'):\n"
		  "    assert isinstance(d[k], int) and d[k] >= 0, k\n"
		  "assert len(d['slices']) == %lu\n"
		  "for s in d['slices']:\n"
		  "    assert int(s['end'], 16) - int(s['start'], 16) == s['pages'] * %u\n"
		  "    assert s['flags'] == (['self'] if s['node'] == %u else [])\n",
		  g.ri.node_id, (unsigned long long)g.ri.base,
		  (unsigned long long)g.ri.size, g.npages, g.ri.page_size,
		  g.ri.meta_bytes_per_page, g.ri.max_nodes,
		  (unsigned long long)g.ri.slice_pages, g.ri.home_nodes, slices,
		  g.ri.page_size,
		  g.ri.node_id);
	ctl_run(&self->r, "-j -p region show");
	ASSERT_RC(0, &self->r);
	EXPECT_PY(self->r.out, false, "assert d['node_id'] == %u\n", g.ri.node_id);
	close(g.fd);
}

static int run_lines(const struct tu_run *r)
{
	return r->rc ? -1 : count_lines(r->out);
}

/* How many of @pi[n] @want says yes to. */
static int page_count(const struct tinydsm_page_info *pi, int n,
		      bool (*want)(const struct tinydsm_page_info *pi, unsigned int arg),
		      unsigned int arg)
{
	int i, c = 0;

	for (i = 0; i < n; i++)
		c += want(&pi[i], arg);
	return c;
}

static bool pi_state(const struct tinydsm_page_info *pi, unsigned int s)
{
	return pi->state == s;
}

static bool pi_present(const struct tinydsm_page_info *pi, unsigned int unused)
{
	(void)unused;
	return pi->flags & TINYDSM_PAGE_F_PRESENT;
}

static bool pi_owner(const struct tinydsm_page_info *pi, unsigned int n)
{
	return pi->owner == n;
}

static bool pi_home(const struct tinydsm_page_info *pi, unsigned int n)
{
	return pi->home == n;
}

TEST_F_TIMEOUT(ctl, page_show, 180)
{
	struct tinydsm_page_info pi[PG_SHOW_N];
	char want[PG_SHOW_N][256], all[PG_SHOW_N * 256] = "";
	unsigned int me = tu_node_id();
	unsigned long long addr, psz;
	struct timespec t0, t1;
	const char *why;
	struct geo g;
	uint8_t *p;
	char *out;
	int i;

	why = geo_open(&g);
	if (why)
		SKIP(return, "%s", why);
	psz = g.ri.page_size;
	addr = my_page(&g, PG_SHOW);
	p = geo_map(&g, addr, PG_SHOW_N);
	ASSERT_NE(NULL, p) TH_LOG("mmap: %s", strerror(errno));
	/* Page 0 read, pages 1 and 2 written, the others never touched. */
	tu_read_byte(p);
	tu_write_byte(p + psz, 1);
	tu_write_byte(p + 2 * psz, 2);
	for (i = 0; i < PG_SHOW_N; i++) {
		ASSERT_EQ(0, page_info(&g, addr + i * psz, &pi[i]));
		page_line(addr + i * psz, &pi[i], want[i], sizeof(want[i]));
		strcat(all, want[i]);
	}
	/* What the module says, through the tool: every column. */
	ctl_run(&self->r, "-t page show %#llx+%d", addr, PG_SHOW_N);
	ASSERT_RC(0, &self->r);
	EXPECT_STREQ(all, self->r.out);
	EXPECT_STREQ("", self->r.err);

	/* What the pages must look like (the module's part). */
	EXPECT_NE(TINYDSM_PAGE_INVALID, pi[0].state);
	EXPECT_TRUE(pi[0].flags & TINYDSM_PAGE_F_PRESENT);
	for (i = 1; i <= 2; i++) {
		EXPECT_EQ(TINYDSM_PAGE_EXCLUSIVE, pi[i].state);
		EXPECT_EQ(me, pi[i].owner);
		EXPECT_EQ(TINYDSM_PAGE_F_PRESENT | TINYDSM_PAGE_F_WRITTEN, pi[i].flags);
	}
	for (i = 3; i < PG_SHOW_N; i++) {
		EXPECT_EQ(TINYDSM_PAGE_INVALID, pi[i].state);
		EXPECT_FALSE(pi[i].flags & TINYDSM_PAGE_F_PRESENT);
	}
	/* Contract: the home of a page of this node's slice is this node. */
	for (i = 0; i < PG_SHOW_N; i++)
		EXPECT_EQ(me, pi[i].home) TH_LOG("page %d", i);

	/* The other ways to say the same range. */
	ctl_run(&self->r, "-t page show %#llx-%#llx", addr, addr + PG_SHOW_N * psz);
	EXPECT_RC(0, &self->r);
	EXPECT_STREQ(all, self->r.out);
	ctl_run(&self->r, "-t page show %#llx-%#llx", addr + 5,
		addr + PG_SHOW_N * psz - 1);
	EXPECT_RC(0, &self->r);
	EXPECT_STREQ(all, self->r.out);
	ctl_run(&self->r, "-t page show %llu+%d", addr, PG_SHOW_N);
	EXPECT_RC(0, &self->r);
	EXPECT_STREQ(all, self->r.out);
	ctl_run(&self->r, "-t page %#llx+%d", addr, PG_SHOW_N);
	EXPECT_RC(0, &self->r);
	EXPECT_STREQ(all, self->r.out);
	/* One address: its page, by its page's address. */
	ctl_run(&self->r, "-t page show %#llx", addr + psz + 123);
	EXPECT_RC(0, &self->r);
	EXPECT_STREQ(want[1], self->r.out);

	/* Filters. */
	ctl_run(&self->r, "-t page show %#llx+%d --state exclusive", addr, PG_SHOW_N);
	EXPECT_EQ(page_count(pi, PG_SHOW_N, pi_state, TINYDSM_PAGE_EXCLUSIVE),
		  run_lines(&self->r)) TH_LOG("%s", self->r.out);
	EXPECT_NE(NULL, strstr(self->r.out, want[1]));
	EXPECT_NE(NULL, strstr(self->r.out, want[2]));
	ctl_run(&self->r, "-t page show --state invalid %#llx+%d", addr, PG_SHOW_N);
	EXPECT_EQ(page_count(pi, PG_SHOW_N, pi_state, TINYDSM_PAGE_INVALID),
		  run_lines(&self->r)) TH_LOG("%s", self->r.out);
	ctl_run(&self->r, "-t page show %#llx+%d --state shared", addr, PG_SHOW_N);
	EXPECT_EQ(page_count(pi, PG_SHOW_N, pi_state, TINYDSM_PAGE_SHARED),
		  run_lines(&self->r)) TH_LOG("%s", self->r.out);
	ctl_run(&self->r, "-t page show %#llx+%d --present", addr, PG_SHOW_N);
	EXPECT_EQ(page_count(pi, PG_SHOW_N, pi_present, 0), run_lines(&self->r));
	EXPECT_LE(3, run_lines(&self->r));
	ctl_run(&self->r, "-t page show %#llx+%d --owner %u", addr, PG_SHOW_N, me);
	EXPECT_EQ(page_count(pi, PG_SHOW_N, pi_owner, me), run_lines(&self->r));
	out = strdup(self->r.out);
	ASSERT_NE(NULL, out);
	ctl_run(&self->r, "-t page show %#llx+%d --owner node%u", addr, PG_SHOW_N, me);
	EXPECT_STREQ(out, self->r.out);
	free(out);
	ctl_run(&self->r, "-t page show %#llx+%d --owner %u --state exclusive --present",
		addr, PG_SHOW_N, me);
	EXPECT_EQ(2, run_lines(&self->r)) TH_LOG("%s", self->r.out);
	ctl_run(&self->r, "-t page show %#llx+%d --home %u", addr, PG_SHOW_N, me);
	EXPECT_EQ(page_count(pi, PG_SHOW_N, pi_home, me), run_lines(&self->r));
	ctl_run(&self->r, "-t page show %#llx+%d --home %u", addr, PG_SHOW_N,
		peer_id(0));
	EXPECT_EQ(page_count(pi, PG_SHOW_N, pi_home, peer_id(0)),
		  run_lines(&self->r));

	/* No range: the whole region, the pages never touched left out. */
	ctl_run(&self->r, "-t page show");
	ASSERT_RC(0, &self->r);
	for (i = 0; i < 3; i++)
		EXPECT_NE(NULL, strstr(self->r.out, want[i])) TH_LOG("page %d", i);
	for (i = 3; i < PG_SHOW_N; i++)
		EXPECT_EQ(NULL, strstr(self->r.out, want[i])) TH_LOG("page %d", i);
	ctl_run(&self->r, "-t page show --state exclusive --owner %u", me);
	ASSERT_RC(0, &self->r);
	EXPECT_NE(NULL, strstr(self->r.out, want[1]));
	if (pi[0].state != TINYDSM_PAGE_EXCLUSIVE)
		EXPECT_EQ(NULL, strstr(self->r.out, want[0]));
	/* --all: every page of the region, fast enough to be usable. */
	{
		char cmd[PATH_MAX + 64];
		char *argv[] = { "sh", "-c", cmd, NULL };
		struct tu_run *r = malloc(sizeof(*r));

		ASSERT_NE(NULL, r);
		snprintf(cmd, sizeof(cmd), "%s -t page show --all | wc -l",
			 find_ctl());
		clock_gettime(CLOCK_MONOTONIC, &t0);
		tu_run_prog(r, TU_AS_ROOT, NULL, "sh", argv);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		EXPECT_EQ(0, r->rc);
		EXPECT_EQ((long)g.npages, atol(r->out)) TH_LOG("%s", r->out);
		TH_LOG("page show --all: %lu pages in %.2f s", g.npages,
		       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
		free(r);
	}

	/* The table: a header, then the rows. */
	ctl_run(&self->r, "page show %#llx+%d", addr, PG_SHOW_N);
	ASSERT_RC(0, &self->r);
	EXPECT_EQ(PG_SHOW_N + 1, count_lines(self->r.out));
	EXPECT_EQ(0, strncmp(self->r.out, "ADDR ", 5)) TH_LOG("%s", self->r.out);
	EXPECT_NE(NULL, strstr(self->r.out, "FAULT_IP"));
	EXPECT_NE(NULL, strstr(self->r.out, "present,written"));

	ctl_run(&self->r, "-j page show %#llx+%d", addr, PG_SHOW_N);
	ASSERT_RC(0, &self->r);
	EXPECT_PY(self->r.out, false,
		  "assert len(d) == %d\n"
		  "for i, p in enumerate(d):\n"
		  "    assert int(p['addr'], 16) == %llu + i * %llu, p\n"
		  "    assert p['state'] in ('invalid', 'shared', 'exclusive'), p\n"
		  "    assert isinstance(p['flags'], list) and isinstance(p['copyset'], list), p\n"
		  "    assert all(isinstance(n, int) for n in p['copyset']), p\n"
		  "    assert isinstance(p['faults'], int), p\n"
		  "for i in (1, 2):\n"
		  "    assert d[i]['state'] == 'exclusive' and d[i]['owner'] == %u, d[i]\n"
		  "    assert d[i]['flags'] == ['present', 'written'], d[i]\n"
		  "    assert int(d[i]['fault_ip'], 16) > 0, d[i]\n"
		  "assert 'owner' not in d[7] and 'fault_ip' not in d[7], d[7]\n"
		  "assert d[7]['flags'] == [] and d[7]['faults'] == 0, d[7]\n",
		  PG_SHOW_N, addr, psz, me);

	/* Not a range: usage. Outside the region: 1, ERANGE. */
	ctl_run(&self->r, "page show 0x4000zz");
	EXPECT_RC(2, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "0x4000zz")) TH_LOG("%s", self->r.err);
	ctl_run(&self->r, "page show 0x1000");
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "ERANGE")) TH_LOG("%s", self->r.err);
	EXPECT_STREQ("", self->r.out);
	ctl_run(&self->r, "page show %#llx", (unsigned long long)(g.ri.base + g.ri.size));
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "ERANGE")) TH_LOG("%s", self->r.err);
	ctl_run(&self->r, "page show %#llx+2",
		(unsigned long long)(g.ri.base + g.ri.size - psz));
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "ERANGE")) TH_LOG("%s", self->r.err);
	ctl_run(&self->r, "page show %#llx-%#llx", addr,
		(unsigned long long)(g.ri.base + g.ri.size + 1));
	EXPECT_RC(1, &self->r);
	EXPECT_STREQ("", self->r.out);

	munmap(p, PG_SHOW_N * psz);
	close(g.fd);
}

static const char *const stat_keys[] = {
	"read_faults", "write_faults", "frames", "frames_allocated",
	"remote_faults", "invalidations", "fetches", "migrated_in",
	"migrated_out", "repopulated", "prefaults", "forwards",
	"sites_direct", "sites_lookup", "word_remote", "word_served",
	"cached_pages", "cache_budget_pages", "evicted_clean",
	"evicted_written", "evict_released", "evict_failed", "evict_batches",
	"evict_batch_pages", "reclaim_runs", "reclaim_ns",
	"meta_bytes", "chunks", "home_frames", "home_charged",
	"home_budget_pages", "home_refused", "shrinker_freed", "clock_young",
	"readahead_batches", "readahead_pages",
};

/*
 * Counters that move at any time, not only with faults: the gauges of the
 * chunk worker, what the kernel's memory pressure freed, and what the
 * cache's clock found used (its reclaim work runs on its own).
 */
static bool stat_moves_alone(const char *key)
{
	return !strcmp(key, "meta_bytes") || !strcmp(key, "chunks") ||
	       !strcmp(key, "shrinker_freed") || !strcmp(key, "clock_young");
}

static long long stat_of(const struct tinydsm_stats *st, unsigned int i)
{
	return (long long)(&st->read_faults)[i];
}

TEST_F(ctl, stats)
{
	struct tinydsm_stats st;
	long long before, after;
	const char *why;
	struct geo g;
	unsigned int i;
	uint8_t *p;

	why = geo_open(&g);
	if (why)
		SKIP(return, "%s", why);
	/* Nothing faults in between: the tool shows what the ioctl says. */
	ASSERT_EQ(0, ioctl(g.fd, TINYDSM_IOC_STATS, &st));
	ctl_run(&self->r, "-t stats");
	ASSERT_RC(0, &self->r);
	EXPECT_EQ((int)ARRAY_SIZE(stat_keys), count_lines(self->r.out));
	for (i = 0; i < ARRAY_SIZE(stat_keys); i++)
		if (!stat_moves_alone(stat_keys[i]))
			EXPECT_EQ(stat_of(&st, i),
				  tsv_value(self->r.out, stat_keys[i], NULL, 0))
				TH_LOG("counter %u of stat_keys[]", i);
	/* Present (tsv_value() is -1 for a missing key); checked below. */
	EXPECT_LE(0, tsv_value(self->r.out, "meta_bytes", NULL, 0));
	EXPECT_LE(0, tsv_value(self->r.out, "chunks", NULL, 0));
	before = tsv_value(self->r.out, "read_faults", NULL, 0) +
		 tsv_value(self->r.out, "write_faults", NULL, 0);

	p = geo_map(&g, my_page(&g, PG_STATS), 2);
	ASSERT_NE(NULL, p);
	tu_read_byte(p);
	tu_write_byte(p + g.ri.page_size, 7);
	ctl_run(&self->r, "-t stats show");
	ASSERT_RC(0, &self->r);
	after = tsv_value(self->r.out, "read_faults", NULL, 0) +
		tsv_value(self->r.out, "write_faults", NULL, 0);
	EXPECT_LE(before + 2, after) TH_LOG("%s", self->r.out);
	EXPECT_LE(2, tsv_value(self->r.out, "frames", NULL, 0));
	EXPECT_LE(tsv_value(self->r.out, "frames", NULL, 0),
		  tsv_value(self->r.out, "frames_allocated", NULL, 0));
	/* The two pages have frames here: their chunk stays, and its bytes. */
	EXPECT_LE(1, tsv_value(self->r.out, "chunks", NULL, 0)) TH_LOG("%s", self->r.out);
	EXPECT_LT(0, tsv_value(self->r.out, "meta_bytes", NULL, 0)) TH_LOG("%s", self->r.out);

	ctl_run(&self->r, "stats");
	ASSERT_RC(0, &self->r);
	EXPECT_EQ((int)ARRAY_SIZE(stat_keys), count_lines(self->r.out));
	EXPECT_EQ(0, strncmp(self->r.out, "read_faults ", 12)) TH_LOG("%s", self->r.out);

	ASSERT_EQ(0, ioctl(g.fd, TINYDSM_IOC_STATS, &st));
	ctl_run(&self->r, "-j stats");
	ASSERT_RC(0, &self->r);
	EXPECT_EQ(1, count_lines(self->r.out));
	EXPECT_PY(self->r.out, false,
		  "k = ['read_faults', 'write_faults', 'frames', 'frames_allocated',\n"
		  "     'remote_faults', 'invalidations', 'fetches', 'migrated_in',\n"
		  "     'migrated_out', 'repopulated', 'prefaults', 'forwards',\n"
		  "     'sites_direct', 'sites_lookup', 'word_remote', 'word_served',\n"
		  "     'cached_pages', 'cache_budget_pages', 'evicted_clean',\n"
		  "     'evicted_written', 'evict_released', 'evict_failed',\n"
		  "     'evict_batches', 'evict_batch_pages', 'reclaim_runs', 'reclaim_ns',\n"
		  "     'meta_bytes', 'chunks', 'home_frames', 'home_charged',\n"
		  "     'home_budget_pages', 'home_refused', 'shrinker_freed',\n"
		  "     'clock_young', 'readahead_batches', 'readahead_pages']\n"
		  "assert list(d.keys()) == k, d\n"
		  "assert all(isinstance(v, int) for v in d.values()), d\n"
		  "assert d['read_faults'] == %lld and d['write_faults'] == %lld, d\n",
		  (long long)st.read_faults, (long long)st.write_faults);
	munmap(p, 2 * g.ri.page_size);
	close(g.fd);
}

/* The budget in force, in bytes: the stats field at @off, in pages. */
static unsigned long long budget_bytes(struct __test_metadata *_metadata,
				       const struct geo *g, size_t off)
{
	struct tinydsm_stats st;
	uint64_t pages;

	EXPECT_EQ(0, ioctl(g->fd, TINYDSM_IOC_STATS, &st));
	memcpy(&pages, (const char *)&st + off, sizeof(pages));
	return (unsigned long long)pages * g->ri.page_size;
}

/*
 * region set @word (a budget): @mb MiB round-trips through the module (its
 * stats, and the stats field @key of tinydsmctl stats), the kernel refuses
 * a budget under 1 MiB with its reason, and only an admin may set it. The
 * budget is unlimited again at the end.
 */
static void budget_round_trip(struct __test_metadata *_metadata,
			      struct tu_run *r, const struct geo *g,
			      const char *word, const char *key, size_t off,
			      unsigned int mb)
{
	ctl_run(r, "region set %s %uM", word, mb);
	ASSERT_RC(0, r);
	EXPECT_EQ((unsigned long long)mb << 20, budget_bytes(_metadata, g, off));
	ctl_run(r, "-t stats");
	ASSERT_RC(0, r);
	EXPECT_EQ((long long)((unsigned long long)mb << 20) / g->ri.page_size,
		  tsv_value(r->out, key, NULL, 0));

	ctl_run(r, "region set %s 1000", word);
	EXPECT_RC(1, r);
	EXPECT_NE(NULL, strstr(r->err, "EINVAL")) TH_LOG("%s", r->err);
	EXPECT_NE(NULL, strstr(r->err, "at least 1 MiB")) TH_LOG("%s", r->err);
	EXPECT_EQ((unsigned long long)mb << 20, budget_bytes(_metadata, g, off))
		TH_LOG("a refused budget changed the one in force");
	if (getuid() == 0) {
		ctl_how(r, TU_AS_NOBODY, "region set %s 1G", word);
		EXPECT_RC(1, r);
		EXPECT_NE(NULL, strstr(r->err, "EPERM")) TH_LOG("%s", r->err);
	}

	ctl_run(r, "region set %s 0", word);
	ASSERT_RC(0, r);
	EXPECT_EQ(0ull, budget_bytes(_metadata, g, off));
}

/*
 * region set cache: budget_round_trip(), STATS_V1 still answers, and
 * region show's cache_budget follows the budget.
 */
TEST_F(ctl, region_set_cache)
{
	struct tinydsm_stats st;
	const char *line;
	const char *why;
	struct geo g;

	why = geo_open(&g);
	if (why)
		SKIP(return, "%s", why);
	budget_round_trip(_metadata, &self->r, &g, "cache", "cache_budget_pages",
			  offsetof(struct tinydsm_stats, cache_budget_pages), 64);
	ASSERT_EQ(0, ioctl(g.fd, TINYDSM_IOC_STATS_V1, &st));

	/* region show reports the budget in force, in bytes. */
	ctl_run(&self->r, "region set cache 64M");
	ASSERT_RC(0, &self->r);
	ctl_run(&self->r, "-t region show");
	ASSERT_RC(0, &self->r);
	EXPECT_EQ(64ll << 20, tsv_value(self->r.out, "cache_budget", NULL, 0))
		TH_LOG("%s", self->r.out);
	ctl_run(&self->r, "region set cache 0");
	ASSERT_RC(0, &self->r);
	ctl_run(&self->r, "region");
	ASSERT_RC(0, &self->r);
	line = strstr(self->r.out, "\ncache_budget ");
	ASSERT_NE(NULL, line) TH_LOG("%s", self->r.out);
	line += strlen("\ncache_budget ");
	line += strspn(line, " ");
	EXPECT_EQ(0, strncmp(line, "0\n", 2)) TH_LOG("%s", self->r.out);
	close(g.fd);
}

/*
 * region set home-budget: budget_round_trip(); a size that is no size is
 * a usage error (exit 2) that names it; the stats never show more home
 * frames than pages charged.
 */
TEST_F(ctl, region_set_home_budget)
{
	const char *why;
	struct geo g;

	why = geo_open(&g);
	if (why)
		SKIP(return, "%s", why);
	budget_round_trip(_metadata, &self->r, &g, "home-budget", "home_budget_pages",
			  offsetof(struct tinydsm_stats, home_budget_pages), 16);
	ctl_run(&self->r, "region set home-budget 16Q");
	EXPECT_RC(2, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "\"16Q\" is not a size")) TH_LOG("%s", self->r.err);
	ctl_run(&self->r, "-t stats");
	ASSERT_RC(0, &self->r);
	EXPECT_LE(tsv_value(self->r.out, "home_frames", NULL, 0),
		  tsv_value(self->r.out, "home_charged", NULL, 0)) TH_LOG("%s", self->r.out);
	close(g.fd);
}

TEST_F(ctl, monitor_timeout)
{
	struct timespec t0, t1;
	double s;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ctl_run(&self->r, "monitor --timeout 1");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	EXPECT_RC(0, &self->r);
	EXPECT_STREQ("", self->r.out);
	EXPECT_STREQ("", self->r.err);
	EXPECT_LE(0.95, s);
	EXPECT_GE(10.0, s);

	ctl_run(&self->r, "-j monitor --count 3 --timeout 0.3");
	EXPECT_RC(0, &self->r);
	EXPECT_STREQ("", self->r.out);
}

/*
 * A fault on a page whose home is a node this node does not know fails at
 * once (EHOSTUNREACH, SIGBUS): the one event a lone node can raise.
 */
static int touch_unreachable(const struct geo *g, uint64_t addr)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		uint8_t *p = geo_map(g, addr, 1);

		if (!p)
			_exit(1);
		tu_read_byte(p);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

/* A monitor running in the background, its output collected. */
struct mon {
	pid_t pid;
	int fd;
	size_t len;
	char buf[8192];
};

static int mon_start(struct mon *m, char *const argv[])
{
	int fds[2];

	memset(m, 0, sizeof(*m));
	if (pipe2(fds, O_CLOEXEC))
		return -1;
	fflush(stdout);
	m->pid = fork();
	if (m->pid < 0)
		return -1;
	if (m->pid == 0) {
		dup2(fds[1], 1);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	m->fd = fds[0];
	return 0;
}

/* Read what @m printed until it holds @what, for up to @ms. */
static bool mon_wait_for(struct mon *m, const char *what, int ms)
{
	struct pollfd pfd = { .fd = m->fd, .events = POLLIN };
	ssize_t n;

	while (!strstr(m->buf, what) && m->len < sizeof(m->buf) - 1 &&
	       poll(&pfd, 1, ms) > 0) {
		n = read(m->fd, m->buf + m->len, sizeof(m->buf) - 1 - m->len);
		if (n <= 0)
			break;
		m->len += n;
		m->buf[m->len] = '\0';
	}
	return strstr(m->buf, what);
}

/* The exit status of @m; SIGTERM first if @term. */
static int mon_stop(struct mon *m, bool term)
{
	int status;

	if (term)
		kill(m->pid, SIGTERM);
	close(m->fd);
	if (waitpid(m->pid, &status, 0) != m->pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST_F_TIMEOUT(ctl, monitor_fault_error, 90)
{
	unsigned int peer = peer_id(0);
	char *json_argv[] = { (char *)find_ctl(), "-j", "monitor", "--timeout",
			      "60", NULL };
	char *text_argv[] = { (char *)find_ctl(), "monitor", "--count", "1",
			      "--timeout", "60", NULL };
	struct mon *js = malloc(sizeof(*js)), *tx = malloc(sizeof(*tx));
	char want[128];
	const char *why, *line;
	uint64_t addr;
	struct geo g;
	int tries;

	ASSERT_TRUE(js && tx);
	why = geo_open(&g);
	if (why)
		SKIP(return, "%s", why);
	if (peer > g.home_nodes)
		SKIP(return, "no slice for another node (home_nodes %u)", g.home_nodes);
	addr = slice_page(&g, peer, g.slice_pages - PG_SHOW);

	ASSERT_EQ(0, mon_start(js, json_argv));
	ASSERT_EQ(0, mon_start(tx, text_argv));
	/* The monitors may join a little after they start: fault until seen. */
	for (tries = 0; tries < 5; tries++) {
		usleep(tries ? 200000 : 1000000);
		EXPECT_EQ(SIGBUS, touch_unreachable(&g, addr));
		if (mon_wait_for(js, "fault-error", 3000) &&
		    mon_wait_for(tx, "fault-error", 3000))
			break;
	}
	/* Text: --count 1 ends it by itself. JSON: SIGTERM, a normal end. */
	mon_wait_for(tx, "\n", 3000);
	EXPECT_EQ(0, mon_stop(tx, false));
	EXPECT_EQ(0, mon_stop(js, true));
	TH_LOG("monitor: %s", tx->buf);
	TH_LOG("monitor -j: %s", js->buf);

	snprintf(want, sizeof(want), "fault-error addr=%#llx node=%u errno=E",
		 (unsigned long long)addr, peer);
	EXPECT_EQ(0, strncmp(tx->buf, want, strlen(want))) TH_LOG("%s", tx->buf);
	EXPECT_EQ(1, count_lines(tx->buf)) TH_LOG("%s", tx->buf);

	line = strstr(js->buf, "{\"event\":\"fault-error\"");
	ASSERT_NE(NULL, line) TH_LOG("no fault-error event in \"%s\"", js->buf);
	snprintf(want, sizeof(want), "\"addr\":\"%#llx\"", (unsigned long long)addr);
	EXPECT_NE(NULL, strstr(line, want)) TH_LOG("%s", line);
	snprintf(want, sizeof(want), "\"node\":%u", peer);
	EXPECT_NE(NULL, strstr(line, want)) TH_LOG("%s", line);
	EXPECT_NE(NULL, strstr(line, "\"errno\":-")) TH_LOG("%s", line);
	/* Every line is one JSON object. */
	EXPECT_PY(js->buf, true,
		  "e = [x for x in d if x['event'] == 'fault-error']\n"
		  "assert e and int(e[0]['addr'], 16) == %llu, e\n"
		  "assert e[0]['node'] == %u and e[0]['errno'] < 0, e\n",
		  (unsigned long long)addr, peer);
	free(js);
	free(tx);
	close(g.fd);
}

/* Write module parameter @name; 0 or -errno. */
static int set_module_param(const char *name, unsigned int v)
{
	char path[128];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "/sys/module/tinydsm/parameters/%s", name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	if (fprintf(f, "%u\n", v) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

/* A new process reads @n pages from @addr: a fault each (a new mapping). */
static int touch_pages(const struct geo *g, uint64_t addr, int n)
{
	int status, i;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		uint8_t *p = geo_map(g, addr, n);

		if (!p)
			_exit(1);
		for (i = 0; i < n; i++)
			tu_read_byte(p + i * g->ri.page_size);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * storm_faults (writable) set to 1 fault per second: faults a second apart
 * make a fault-storm event, the page that faulted last one of ours.
 */
TEST_F_TIMEOUT(ctl, monitor_fault_storm, 90)
{
	char *argv[] = { (char *)find_ctl(), "-j", "monitor", "--timeout", "60",
			 NULL };
	unsigned int old = module_param("storm_faults", 0);
	struct mon *js = malloc(sizeof(*js));
	const char *why, *line;
	uint64_t addr;
	struct geo g;
	int tries, err;

	ASSERT_NE(NULL, js);
	why = geo_open(&g);
	if (why)
		SKIP(return, "%s", why);
	if (access("/sys/module/tinydsm/parameters/storm_faults", W_OK))
		SKIP(return, "no writable module parameter storm_faults");
	addr = my_page(&g, PG_STORM);
	ASSERT_EQ(0, mon_start(js, argv));
	err = set_module_param("storm_faults", 1);
	ASSERT_EQ(0, err) TH_LOG("storm_faults: %s", strerror(-err));
	for (tries = 0; tries < 4; tries++) {
		usleep(tries ? 200000 : 1000000);
		EXPECT_EQ(0, touch_pages(&g, addr, 4));
		usleep(1200000);
		EXPECT_EQ(0, touch_pages(&g, addr, 4));
		if (mon_wait_for(js, "fault-storm", 2000))
			break;
	}
	EXPECT_EQ(0, set_module_param("storm_faults", old));
	EXPECT_EQ(0, mon_stop(js, true));
	TH_LOG("monitor -j: %s", js->buf);
	line = strstr(js->buf, "{\"event\":\"fault-storm\"");
	ASSERT_NE(NULL, line) TH_LOG("no fault-storm event in \"%s\"", js->buf);
	EXPECT_NE(NULL, strstr(line, "\"rate\":")) TH_LOG("%s", line);
	EXPECT_PY(js->buf, true,
		  "e = [x for x in d if x['event'] == 'fault-storm']\n"
		  "assert e and e[0]['rate'] >= 1, e\n"
		  "assert %llu <= int(e[0]['addr'], 16) < %llu, e\n",
		  (unsigned long long)addr,
		  (unsigned long long)(addr + 4 * g.ri.page_size));
	free(js);
	close(g.fd);
}

/* ---- the cluster key ---- */

static int key_file_mode(const char *path)
{
	struct stat st;

	if (lstat(path, &st) || !S_ISREG(st.st_mode))
		return -1;
	return st.st_mode & 07777;
}

static int read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	tu_slurp(fd, buf, size);
	return 0;
}

/*
 * key generate: a new file of 64 hex digits and a newline, mode 0600 even
 * under umask 0; never over an existing file (EEXIST, the file unchanged)
 * unless --force, which replaces it (mode 0600, a new key, no file left
 * beside it).
 */
TEST_F(ctl, key_generate)
{
	char dir[] = "/tmp/tdsm_key.XXXXXX", path[64], a[128], b[128], ls[256];
	mode_t old = umask(0);
	size_t i;

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/cluster.key", dir);
	ctl_run(&self->r, "key generate %s", path);
	umask(old);
	ASSERT_RC(0, &self->r);
	EXPECT_STREQ("", self->r.out);
	EXPECT_EQ(0600, key_file_mode(path));
	ASSERT_EQ(0, read_text(path, a, sizeof(a)));
	EXPECT_EQ(65, (int)strlen(a)) TH_LOG("%s", a);
	for (i = 0; i < 64; i++)
		EXPECT_NE(NULL, strchr("0123456789abcdef", a[i])) TH_LOG("%s", a);
	EXPECT_EQ('\n', a[64]);

	ctl_run(&self->r, "key generate %s", path);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "EEXIST")) TH_LOG("%s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.err, "--force")) TH_LOG("%s", self->r.err);
	ASSERT_EQ(0, read_text(path, b, sizeof(b)));
	EXPECT_STREQ(a, b);

	ASSERT_EQ(0, chmod(path, 0400));
	ctl_run(&self->r, "key generate --force %s", path);
	ASSERT_RC(0, &self->r);
	EXPECT_EQ(0600, key_file_mode(path));
	ASSERT_EQ(0, read_text(path, b, sizeof(b)));
	EXPECT_EQ(65, (int)strlen(b));
	EXPECT_STRNE(a, b);
	/* Nothing but the key in the directory: the temporary file is gone. */
	snprintf(ls, sizeof(ls), "test $(ls -A %s | wc -l) = 1", dir);
	EXPECT_EQ(0, system(ls));

	/* Usage, and a directory that does not exist. */
	ctl_run(&self->r, "key generate");
	EXPECT_RC(2, &self->r);
	ctl_run(&self->r, "key generate %s %s", path, path);
	EXPECT_RC(2, &self->r);
	ctl_run(&self->r, "key generate %s/none/cluster.key", dir);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "ENOENT")) TH_LOG("%s", self->r.err);

	unlink(path);
	rmdir(dir);
}

/*
 * key set: a file that group or others may read is refused before anything
 * is sent (EACCES, its mode, and the chmod to run), and so is one that is
 * not a key; without CAP_NET_ADMIN (nobody, who may read the file) the
 * module says EPERM; as root the key is set and node show says so.
 */
TEST_F(ctl, key_set)
{
	char dir[] = "/tmp/tdsm_key.XXXXXX", path[64], want[128];
	const char *lab = getenv("TDSM_KEY_FILE");
	int ok;

	ASSERT_NE(NULL, mkdtemp(dir));
	ASSERT_EQ(0, chmod(dir, 0755));
	snprintf(path, sizeof(path), "%s/cluster.key", dir);
	ctl_run(&self->r, "key generate %s", path);
	ASSERT_RC(0, &self->r);

	ASSERT_EQ(0, chmod(path, 0644));
	ctl_run(&self->r, "key set %s", path);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "EACCES")) TH_LOG("%s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.err, "mode 0644")) TH_LOG("%s", self->r.err);
	snprintf(want, sizeof(want), "chmod 600 %s", path);
	EXPECT_NE(NULL, strstr(self->r.err, want)) TH_LOG("%s", self->r.err);
	ASSERT_EQ(0, chmod(path, 0640));
	ctl_run(&self->r, "key set %s", path);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "mode 0640")) TH_LOG("%s", self->r.err);
	ASSERT_EQ(0, chmod(path, 0600));

	/* Without CAP_NET_ADMIN: the module's EPERM, said clearly. */
	if (getuid() == 0) {
		ASSERT_EQ(0, chown(path, TU_NOBODY, TU_NOBODY));
		ctl_how(&self->r, TU_AS_NOBODY, "key set %s", path);
		EXPECT_RC(1, &self->r);
		EXPECT_NE(NULL, strstr(self->r.err, "EPERM")) TH_LOG("%s", self->r.err);
		EXPECT_NE(NULL, strstr(self->r.err, "CAP_NET_ADMIN")) TH_LOG("%s", self->r.err);
		ASSERT_EQ(0, chown(path, 0, 0));
	}

	/* Not a key: nothing sent. */
	ASSERT_EQ(0, truncate(path, 10));
	ctl_run(&self->r, "key set %s", path);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "EINVAL")) TH_LOG("%s", self->r.err);
	ctl_run(&self->r, "key set %s", dir);
	EXPECT_RC(1, &self->r);
	EXPECT_NE(NULL, strstr(self->r.err, "not a regular file")) TH_LOG("%s", self->r.err);
	ctl_run(&self->r, "key set");
	EXPECT_RC(2, &self->r);

	/* As root: set (the lab's key, if the run has one: it stays the key). */
	if (!lab) {
		unlink(path);
		ctl_run(&self->r, "key generate %s", path);
		ASSERT_RC(0, &self->r);
	}
	ctl_run(&self->r, "key set %s", lab ? lab : path);
	EXPECT_RC(0, &self->r);
	ctl_run(&self->r, "-j node show");
	ASSERT_RC(0, &self->r);
	EXPECT_STREQ("", self->r.err);
	ok = py_check(self->r.out, false,
		      "n = [x for x in d if 'self' in x.get('flags', [])]\n"
		      "assert len(n) == 1 and n[0]['auth'] == 'key', n\n");
	if (ok < 0) {
		EXPECT_NE(NULL, strstr(self->r.out, "\"auth\":\"key\"")) TH_LOG("%s", self->r.out);
	} else {
		EXPECT_EQ(1, ok) TH_LOG("%s", self->r.out);
	}
	ctl_run(&self->r, "node show");
	EXPECT_NE(NULL, strstr(self->r.out, "AUTH-FAILS")) TH_LOG("%s", self->r.out);
	EXPECT_NE(NULL, strstr(self->r.out, "UNMATCHED")) TH_LOG("%s", self->r.out);

	unlink(path);
	rmdir(dir);
}

TEST_HARNESS_MAIN
