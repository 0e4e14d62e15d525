/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the multi-node tinydsm selftests share (coherence.h and the
 * *_cluster_test.c, conn_test.c, migration_test.c, peer_failure_test.c):
 * the node's view of the region, the home slices, the ioctls, the file
 * barriers through which the nodes of one lab run take turns, and for the
 * test bodies TC_START, TC_BARRIER and a data pattern to fill and check.
 *
 * Every node runs the same test binary; its role comes from TDSM_NODE_ID and
 * TDSM_NODES (set by selftests/lab/guest.sh). The nodes meet in TDSM_SHARED,
 * a directory every node of the run sees (9p, no cache), through files named
 *
 *   <tag>.<step>.<node>   node arrived at barrier <step> of the test
 *   <tag>.fail.<node>     node failed this test: the others stop waiting
 *   <tag>.<key>           a value one node publishes (e.g. an address)
 *   <prog>.timedout.<node> a barrier of this run timed out on that node
 *
 * where <tag> = [TDSM_SYNC_PREFIX.]<prog>.<test>. The lab gives every run a
 * fresh directory; to run a binary twice against the same directory, set
 * TDSM_SYNC_PREFIX to something new on every node.
 *
 * Every wait is bounded: TDSM_BARRIER_TIMEOUT seconds (default 60), longer
 * where a test says so. Once a barrier of the run has timed out on any
 * node, later barriers of that binary wait at most TC_SHORT_TIMEOUT_S, so
 * that a dead node costs one long timeout, not one per test.
 */
#ifndef TDSM_CLUSTER_H
#define TDSM_CLUSTER_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tdsm_params.h"

#define TC_DEV_PATH		"/dev/tinydsm"
#define TC_PARAM_DIR		"/sys/module/tinydsm/parameters"
#define TC_POLL_US		20000	/* file barrier poll: 9p stat is ~1 ms under TCG */
#define TC_SHORT_TIMEOUT_S	15
#define TC_DEFAULT_TIMEOUT_S	60
#define TC_DEFAULT_MAX_NODES	4	/* the module's max_nodes default */
#define TC_DEFAULT_PEER_TIMEOUT_MS 3000	/* the module's timeout_ms default */

/* bit n = node n, as in tinydsm_page_info.copyset and TINYDSM_A_HOLDERS */
#define TC_NODE(n)		(1u << (n))
/* bit n - 1 = node n, as in tinydsm_page_info.holders, TINYDSM_A_HOLDERS64 */
#define TC_NSET(n)		(1ull << ((n) - 1))
/* The lab's network link (TDSM_LINK_DEV, default eth0). */
static inline const char *tc_link_dev(void)
{
	const char *d = getenv("TDSM_LINK_DEV");

	return d && *d ? d : "eth0";
}

/* sh -c CMD (printf-style): its exit status, -1 if it did not run or was killed. */
static inline int __attribute__((format(printf, 1, 2)))
tc_shell(const char *fmt, ...)
{
	char cmd[PATH_MAX + 512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fflush(stdout);
	fflush(stderr);
	rc = system(cmd);
	return rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
}

/*
 * Give a freshly loaded module the run's cluster key (TDSM_KEY_FILE, from
 * the lab) with tinydsmctl key set: 0, or its exit status. 0 without a key
 * file (a lab run with --no-key).
 */
static inline int tc_key_set(void)
{
	const char *key = getenv("TDSM_KEY_FILE"), *tree = getenv("TDSM_TREE");

	if (!key || !*key)
		return 0;
	return tc_shell("'%s/build/tools/tinydsmctl' key set '%s'",
			tree && *tree ? tree : ".", key);
}

/*
 * This node's cache budget, @mb MiB (0: unlimited), with tinydsmctl
 * region set cache: 0, or its exit status.
 */
static inline int tc_cache_budget_set(unsigned int mb)
{
	const char *tree = getenv("TDSM_TREE");

	return tc_shell("'%s/build/tools/tinydsmctl' region set cache %uM >&2",
			tree && *tree ? tree : ".", mb);
}

/*
 * The hard watermark of a cache budget of @budget pages (kmod/evict.c):
 * budget + max(budget / 8, 1024 pages). cached_pages never goes past it.
 */
static inline uint64_t tc_cache_hard(uint64_t budget)
{
	return budget + (budget / 8 > 1024 ? budget / 8 : 1024);
}

/*
 * The least that @passes over a run of @npages past the budget evict:
 * each all of it but the hard watermark's worth (@hard) that may stay; a
 * run under the hard watermark at least one page (the reclaim work starts
 * at the budget).
 */
static inline uint64_t tc_least_evicted(unsigned int passes,
					unsigned long npages, uint64_t hard)
{
	return npages > hard ? passes * (npages - hard) : 1;
}

/* The module to load: $TDSM_KO, else $TDSM_TREE/build/$TDSM_KVER/tinydsm.ko. */
static inline const char *tc_ko_path(char *buf, size_t len)
{
	const char *ko = getenv("TDSM_KO"), *tree = getenv("TDSM_TREE");
	const char *kver = getenv("TDSM_KVER");

	if (ko && *ko)
		return ko;
	if (!tree || !kver)
		return NULL;
	snprintf(buf, len, "%s/build/%s/tinydsm.ko", tree, kver);
	return buf;
}

/* The loaded module's parameters, as "name=value ..." to load it again. */
static inline int tc_module_params(char *buf, size_t len)
{
	static const char *const names[] = {
		"node_id", "max_nodes", "home_nodes", "region_size_mb",
		"timeout_ms", "port", "storm_faults", "allow_unauthenticated",
		"readahead_pages", "ready_buffers",
	};
	size_t w = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char val[32];

		if (param_read(names[i], val, sizeof(val)))
			continue;
		w += snprintf(buf + w, len - w, "%s%s=%s", w ? " " : "", names[i], val);
		if (w >= len)
			return -1;
	}
	return strstr(buf, "node_id=") ? 0 : -1;
}

/* Load the module @ko with @params: 0, or -1 and errno. */
static inline int tc_module_load(const char *ko, const char *params)
{
	int fd = open(ko, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -1;
	ret = syscall(SYS_finit_module, fd, params, 0);
	close(fd);
	return ret;
}

/*
 * Drop the RoCE packets of BTH opcode @opcodes[0..n-1] that leave (@dir
 * "egress") or reach ("ingress") this node's link, with tc (clsact, u32 on
 * the opcode byte: IPv4 without options, UDP port 4791, BTH at byte 28);
 * @dir NULL removes every such filter. 0, or tc's exit status.
 */
static inline int tc_drop_roce(const char *dir, unsigned int n,
			       const uint8_t *opcodes)
{
	const char *dev = tc_link_dev();
	char cmd[1024];
	unsigned int i;
	size_t k;

	if (!dir)
		return tc_shell("tc qdisc del dev %s clsact 2>/dev/null", dev);
	/* The lab's guests do not load modules on demand. */
	k = snprintf(cmd, sizeof(cmd),
		     "modprobe -a sch_ingress cls_u32 act_gact 2>/dev/null; "
		     "tc qdisc add dev %s clsact", dev);
	for (i = 0; i < n && k < sizeof(cmd); i++)
		k += snprintf(cmd + k, sizeof(cmd) - k,
			      " && tc filter add dev %s %s protocol ip u32 "
			      "match ip protocol 17 0xff match ip dport 4791 0xffff "
			      "match u8 %#x 0xff at 28 action drop",
			      dev, dir, opcodes[i]);
	return k < sizeof(cmd) ? tc_shell("%s", cmd) : -1;
}

/*
 * Delay every packet this node sends to @ip by @ms (the others go out at
 * once): a prio qdisc, netem on its third band, a u32 filter on the
 * destination. The lab's guests load no module on demand: load them.
 * netem's queue is long enough never to drop: a send rxe's GSI QP cannot
 * make kills it on 6.12 (selftests/lab/rxe_revive.sh).
 * Undo with tc_shell("tc qdisc del dev %s root", tc_link_dev()).
 */
static inline int tc_delay_to(const char *ip, unsigned int ms)
{
	return tc_shell("modprobe -a sch_prio sch_netem cls_u32 >&2 && "
		     "tc qdisc add dev %1$s root handle 1: prio >&2 && "
		     "tc qdisc add dev %1$s parent 1:3 handle 30: netem delay %2$ums limit 1000000 >&2 && "
		     "tc filter add dev %1$s parent 1: protocol ip prio 1 u32 match ip dst %3$s/32 flowid 1:3 >&2",
		     tc_link_dev(), ms, ip);
}

/* every node of the run */
#define TC_ALL			0u

static inline unsigned int tc_env_uint(const char *name, unsigned int dflt)
{
	const char *v = getenv(name);
	char *end;
	unsigned long x;

	if (!v || !*v)
		return dflt;
	errno = 0;
	x = strtoul(v, &end, 0);
	if (errno || *end || x > UINT_MAX)
		return dflt;
	return (unsigned int)x;
}

/*
 * A kernel built with kmemleak (the lab's debug kernel, which also has
 * KASAN and lockdep) checks every allocation and access, many times
 * slower under TCG: tests that stream many megabytes scale their data
 * down on it, and keep every assertion.
 */
static inline int tc_debug_kernel(void)
{
	return access("/sys/kernel/debug/kmemleak", F_OK) == 0;
}

static inline double tc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A module parameter from sysfs, or @dflt if the module has no such one. */
static inline unsigned int tc_module_param(const char *name, unsigned int dflt)
{
	char path[128], buf[32];
	unsigned int v;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), TC_PARAM_DIR "/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dflt;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return dflt;
	buf[n] = '\0';
	return sscanf(buf, "%u", &v) == 1 ? v : dflt;
}

/* Write @val, a line, to the sysfs or debugfs file @path: 0, or -1. */
static inline int tc_write_uint(const char *path, unsigned int val)
{
	char buf[16];
	int fd, len, ok;

	len = snprintf(buf, sizeof(buf), "%u\n", val);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ok = write(fd, buf, len) == len;
	if (close(fd) || !ok)
		return -1;
	return 0;
}

/* Set the module parameter @name (one writable in sysfs): 0, or -1. */
static inline int tc_module_param_set(const char *name, unsigned int val)
{
	char path[128];

	snprintf(path, sizeof(path), TC_PARAM_DIR "/%s", name);
	return tc_write_uint(path, val);
}

/* ------------------------------------------ fault-injection knobs (debugfs) */

/* kmod/inject.c: u32 knobs, 0 (off) at load; none without CONFIG_DEBUG_FS. */
#define TC_INJECT_DIR		"/sys/kernel/debug/tinydsm"

/* Does this node's module have the knob @name? */
static inline int tc_inject_has(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), TC_INJECT_DIR "/%s", name);
	return access(path, W_OK) == 0;
}

/* Set this node's knob @name to @val: 0, or -1 with errno set. */
static inline int tc_inject_set(const char *name, unsigned int val)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), TC_INJECT_DIR "/%s", name);
	return tc_write_uint(path, val);
}

/* ------------------------------------------------------------ the region */

struct tc_node {
	int fd;
	struct tinydsm_region_info info;
	uint8_t *map;			/* the whole region, at its base */
	unsigned long npages;
	unsigned long slice_pages;	/* npages / home_nodes */
	unsigned int max_nodes;
	unsigned int home_nodes;	/* nodes 1..home_nodes home a slice */
	unsigned int id;		/* this node, from the module */
	long psz;			/* page size */
};

/*
 * Open the device and map the whole region. 0, or -1 with @why set.
 * max_nodes: the module's parameter if it has one, else TDSM_MAX_NODES,
 * else the module's default.
 */
static inline int tc_node_open(struct tc_node *n, char *why, size_t len)
{
	memset(n, 0, sizeof(*n));
	n->fd = -1;
	n->map = MAP_FAILED;
	n->psz = sysconf(_SC_PAGESIZE);
	n->fd = open(TC_DEV_PATH, O_RDWR | O_CLOEXEC);
	if (n->fd < 0) {
		snprintf(why, len, "open %s: %s", TC_DEV_PATH, strerror(errno));
		return -1;
	}
	if (ioctl(n->fd, TINYDSM_IOC_REGION_INFO, &n->info)) {
		snprintf(why, len, "REGION_INFO: %s", strerror(errno));
		return -1;
	}
	n->id = n->info.node_id;
	n->npages = n->info.size / n->psz;
	n->max_nodes = tc_module_param("max_nodes",
				       tc_env_uint("TDSM_MAX_NODES",
						   TC_DEFAULT_MAX_NODES));
	if (n->max_nodes < 1 || n->max_nodes >= TINYDSM_MAX_NODES ||
	    n->npages < n->max_nodes) {
		snprintf(why, len, "max_nodes %u does not fit %lu pages",
			 n->max_nodes, n->npages);
		return -1;
	}
	/* A module before home_nodes reports 0: its slices are max_nodes. */
	n->home_nodes = n->info.home_nodes ? n->info.home_nodes : n->max_nodes;
	n->slice_pages = n->npages / n->home_nodes;
	n->map = mmap(NULL, n->info.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      n->fd, 0);
	if (n->map == MAP_FAILED) {
		snprintf(why, len, "mmap of the region: %s", strerror(errno));
		return -1;
	}
	if (n->map != (uint8_t *)(uintptr_t)TINYDSM_REGION_BASE) {
		snprintf(why, len, "region mapped at %p, not at its base", n->map);
		return -1;
	}
	return 0;
}

/* tc_node_open(), and the module must agree that this is node @id. */
static inline int tc_node_open_as(struct tc_node *n, unsigned int id,
				  char *why, size_t len)
{
	if (tc_node_open(n, why, len))
		return -1;
	if (n->id != id) {
		snprintf(why, len, "the module says node_id=%u, TDSM_NODE_ID=%u",
			 n->id, id);
		return -1;
	}
	return 0;
}

static inline void tc_node_close(struct tc_node *n)
{
	if (n->map != MAP_FAILED)
		munmap(n->map, n->info.size);
	if (n->fd >= 0)
		close(n->fd);
	n->map = MAP_FAILED;
	n->fd = -1;
}

/* The home of the page holding @addr: slice n - 1 is homed on node n. */
static inline unsigned int tc_home_of(const struct tc_node *n, uint64_t addr)
{
	uint64_t pg = (addr - TINYDSM_REGION_BASE) / n->psz;

	return (unsigned int)(pg / n->slice_pages) + 1;
}

/* First address of node @home's slice, and one past its last. */
static inline uint64_t tc_slice_start(const struct tc_node *n, unsigned int home)
{
	return TINYDSM_REGION_BASE + (uint64_t)(home - 1) * n->slice_pages * n->psz;
}

static inline uint64_t tc_slice_end(const struct tc_node *n, unsigned int home)
{
	return tc_slice_start(n, home) + (uint64_t)n->slice_pages * n->psz;
}

static inline int tc_page_info(const struct tc_node *n, const void *addr,
			       struct tinydsm_page_info *pi)
{
	memset(pi, 0, sizeof(*pi));
	pi->addr = (uintptr_t)addr;
	return ioctl(n->fd, TINYDSM_IOC_PAGE_INFO, pi);
}

static inline int tc_stats(const struct tc_node *n, struct tinydsm_stats *st)
{
	memset(st, 0, sizeof(*st));
	return ioctl(n->fd, TINYDSM_IOC_STATS, st);
}

/*
 * Wait (up to @secs) until this node's reclaim work is idle: its counters
 * stand still for 2 s. Its last STATS in *@st; 0, or -1.
 */
static inline int tc_cache_settle(const struct tc_node *n,
				  struct tinydsm_stats *st, unsigned int secs)
{
	struct tinydsm_stats prev;
	double end = tc_now() + secs;

	if (tc_stats(n, &prev))
		return -1;
	while (tc_now() < end) {
		sleep(2);
		if (tc_stats(n, st))
			return -1;
		if (st->reclaim_runs == prev.reclaim_runs &&
		    st->reclaim_ns == prev.reclaim_ns &&
		    st->evict_batches == prev.evict_batches)
			return 0;
		prev = *st;
	}
	return -1;
}

/* TINYDSM_IOC_ALLOC: 0 and *addr, or -1 and errno. */
static inline int tc_alloc(const struct tc_node *n, unsigned int home,
			   unsigned int npages, uint64_t *addr)
{
	struct tinydsm_alloc a = { .home = home, .npages = npages };

	if (ioctl(n->fd, TINYDSM_IOC_ALLOC, &a))
		return -1;
	*addr = a.addr;
	return 0;
}

static inline int tc_free(const struct tc_node *n, uint64_t addr,
			  unsigned int npages)
{
	struct tinydsm_alloc a = { .addr = addr, .npages = npages };

	return ioctl(n->fd, TINYDSM_IOC_FREE, &a);
}

static inline const char *tc_state_name(unsigned int state)
{
	switch (state) {
	case TINYDSM_PAGE_INVALID: return "INVALID";
	case TINYDSM_PAGE_SHARED: return "SHARED";
	case TINYDSM_PAGE_EXCLUSIVE: return "EXCLUSIVE";
	default: return "?";
	}
}

/* ------------------------------------------------------- file barriers */

struct tc_sync {
	unsigned int id;		/* TDSM_NODE_ID */
	unsigned int nodes;		/* TDSM_NODES */
	int timeout_s;			/* default barrier timeout */
	char dir[PATH_MAX / 2];		/* TDSM_SHARED, "" if unset */
	char prog[64];			/* [prefix.]program */
	char tag[160];			/* prog.test */
};

static inline void tc_arm_fail_on_signal(const struct tc_sync *s);

static inline void tc_sync_init(struct tc_sync *s, const char *prog,
				const char *test)
{
	const char *dir = getenv("TDSM_SHARED");
	const char *pfx = getenv("TDSM_SYNC_PREFIX");

	memset(s, 0, sizeof(*s));
	s->id = tc_env_uint("TDSM_NODE_ID", 1);
	s->nodes = tc_env_uint("TDSM_NODES", 1);
	s->timeout_s = (int)tc_env_uint("TDSM_BARRIER_TIMEOUT",
					TC_DEFAULT_TIMEOUT_S);
	if (dir && strlen(dir) < sizeof(s->dir))
		strcpy(s->dir, dir);
	if (pfx && *pfx)
		snprintf(s->prog, sizeof(s->prog), "%.30s.%.30s", pfx, prog);
	else
		snprintf(s->prog, sizeof(s->prog), "%.60s", prog);
	snprintf(s->tag, sizeof(s->tag), "%s.%.90s", s->prog, test);
	tc_arm_fail_on_signal(s);
}

/* "<dir>/<tag>.<what>"; -1 if it does not fit. */
static inline int tc_file(const struct tc_sync *s, char *buf, size_t len,
			  const char *fmt, ...)
{
	char what[128];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= sizeof(what))
		return -1;
	r = snprintf(buf, len, "%s/%s.%s", s->dir, s->tag, what);
	return r < 0 || (size_t)r >= len ? -1 : 0;
}

/* The same, for files of the whole program: "<dir>/<prog>.<what>". */
static inline int tc_prog_file(const struct tc_sync *s, char *buf, size_t len,
			       const char *what, unsigned int node)
{
	int r = snprintf(buf, len, "%s/%s.%s.%u", s->dir, s->prog, what, node);

	return r < 0 || (size_t)r >= len ? -1 : 0;
}

static inline int tc_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static inline int tc_touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	return close(fd);
}

/* Tell the other nodes that this node failed the current test. */
static inline void tc_mark_failed(const struct tc_sync *s)
{
	char path[PATH_MAX];

	if (s->dir[0] && !tc_file(s, path, sizeof(path), "fail.%u", s->id))
		tc_touch(path);
}

/*
 * A test that dies of SIGBUS (a fault the module could not serve) or
 * SIGSEGV runs no FIXTURE_TEARDOWN, so it never told the other nodes,
 * which then waited out their barriers (at full size, most of an hour).
 * tc_sync_init() arms tc_on_fatal() for the test's own process: it marks
 * the test failed, then the process dies of the signal as before. A test
 * that catches one itself installs its handler over this one; a child it
 * forks is not the test (tc_fatal_pid) and only dies.
 */
static char tc_fatal_path[PATH_MAX];
static pid_t tc_fatal_pid;

static void tc_on_fatal(int sig)
{
	int fd;

	if (getpid() == tc_fatal_pid && tc_fatal_path[0]) {
		fd = open(tc_fatal_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			  0644);
		if (fd >= 0)
			close(fd);
	}
	/* SA_RESETHAND made it SIG_DFL: delivered when the handler returns. */
	raise(sig);
}

static inline void tc_arm_fail_on_signal(const struct tc_sync *s)
{
	struct sigaction sa = { .sa_handler = tc_on_fatal,
				.sa_flags = SA_RESETHAND };

	if (!s->dir[0] ||
	    tc_file(s, tc_fatal_path, sizeof(tc_fatal_path), "fail.%u", s->id))
		return;
	tc_fatal_pid = getpid();
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

/* Publish @val under @key (write a temporary file, then rename it). */
static inline int tc_put(const struct tc_sync *s, const char *key,
			 const char *val)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	size_t len = strlen(val);
	int fd, ok;

	if (!s->dir[0] || tc_file(s, path, sizeof(path), "%s", key) ||
	    tc_file(s, tmp, sizeof(tmp), "%s.tmp.%u", key, s->id))
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	ok = write(fd, val, len) == (ssize_t)len;
	if (close(fd) || !ok)
		return -1;
	return rename(tmp, path);
}

/* Read what some node published under @key: 0, or -1 if absent. */
static inline int tc_get(const struct tc_sync *s, const char *key, char *buf,
			 size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (!s->dir[0] || tc_file(s, path, sizeof(path), "%s", key))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

static inline unsigned int tc_mask(const struct tc_sync *s, unsigned int mask)
{
	/* nodes 1..N */
	return mask ? mask : (unsigned int)((1ull << (s->nodes + 1)) - 2);
}

/* Has a barrier of this program timed out on any node of the run? */
static inline int tc_run_degraded(const struct tc_sync *s)
{
	char path[PATH_MAX];
	unsigned int j;

	for (j = 1; j <= s->nodes; j++)
		if (!tc_prog_file(s, path, sizeof(path), "timedout", j) &&
		    tc_exists(path))
			return 1;
	return 0;
}

/*
 * Barrier @step of the current test among the nodes in @mask (TC_ALL: every
 * node; this node must be one of them): arrive, then wait until every other
 * one has arrived. Fails at once if one of them marked this test failed,
 * and after @timeout_s seconds. 0, or -1 with @err set.
 */
static inline int tc_barrier(const struct tc_sync *s, const char *step,
			     unsigned int mask, int timeout_s, char *err,
			     size_t errlen)
{
	char path[PATH_MAX], who[96];
	unsigned int j, missing;
	double deadline;
	size_t w;

	mask = tc_mask(s, mask);
	if (mask == TC_NODE(s->id))
		return 0;
	if (!s->dir[0]) {
		snprintf(err, errlen, "TDSM_SHARED is not set: nodes cannot meet");
		return -1;
	}
	if (tc_file(s, path, sizeof(path), "%s.%u", step, s->id) ||
	    tc_touch(path)) {
		snprintf(err, errlen, "cannot create %.160s: %s", path,
			 strerror(errno));
		return -1;
	}
	if (tc_run_degraded(s) && timeout_s > TC_SHORT_TIMEOUT_S)
		timeout_s = TC_SHORT_TIMEOUT_S;
	deadline = tc_now() + timeout_s;
	for (;;) {
		missing = 0;
		for (j = 1; j <= s->nodes; j++) {
			if (!(mask & TC_NODE(j)) || j == s->id)
				continue;
			if (tc_file(s, path, sizeof(path), "%s.%u", step, j) ||
			    !tc_exists(path))
				missing |= TC_NODE(j);
		}
		if (!missing)
			return 0;
		for (j = 1; j <= s->nodes; j++) {
			if (!(missing & TC_NODE(j)))
				continue;
			if (!tc_file(s, path, sizeof(path), "fail.%u", j) &&
			    tc_exists(path)) {
				snprintf(err, errlen,
					 "node%u failed this test (see its output), giving up at step '%s'",
					 j, step);
				return -1;
			}
		}
		if (tc_now() > deadline)
			break;
		usleep(TC_POLL_US);
	}
	who[0] = '\0';
	for (j = 1, w = 0; j <= s->nodes && w < sizeof(who) - 8; j++)
		if (missing & TC_NODE(j))
			w += snprintf(who + w, sizeof(who) - w, " node%u", j);
	snprintf(err, errlen, "timed out after %d s at step '%s' waiting for%s",
		 timeout_s, step, who);
	if (!tc_prog_file(s, path, sizeof(path), "timedout", s->id))
		tc_touch(path);
	return -1;
}

/*
 * The pieces of a cluster test's TEST_F body (kselftest harness): its
 * fixture holds struct tc_sync s, and for TC_START int ready and char
 * setup_err[] (why the setup failed).
 */

/*
 * FIXTURE_SETUP: open this node's device for the test (fixture fields
 * struct tc_node n, int ready, char setup_err[]): ready, or setup_err says
 * why not, for TC_START to report once the test had its chance to skip.
 */
#define TC_NODE_OPEN() do {						\
	if (!tc_node_open_as(&self->n, self->s.id, self->setup_err,	\
			     sizeof(self->setup_err)))			\
		self->ready = 1;					\
} while (0)

/* FIXTURE_TEARDOWN: a failed test tells the other nodes to stop waiting. */
#define TC_MARK_FAILED() do {						\
	if (!_metadata->passed)						\
		tc_mark_failed(&self->s);				\
} while (0)

/* Skip unless the run has @want nodes (0: any), then require the setup. */
#define TC_START(want) do {						\
	if ((want) && self->s.nodes != (unsigned int)(want))		\
		SKIP(return, "needs %u nodes, this run has %u (TDSM_NODES)", \
		     (unsigned int)(want), self->s.nodes);		\
	ASSERT_TRUE(self->ready) TH_LOG("setup: %s", self->setup_err); \
} while (0)

/* Every node of the run at barrier @step within @secs, or fail. */
#define TC_BARRIER(step, secs) do {					\
	char _err[256];							\
	ASSERT_EQ(0, tc_barrier(&self->s, (step), TC_ALL, (secs),	\
				_err, sizeof(_err)))			\
		TH_LOG("node%u, barrier '%s': %s", self->s.id, (step), _err); \
} while (0)

/*
 * A data pattern for checks across nodes: tc_pat() is the word at global
 * address @addr in data round @round, tc_fill() writes it over [addr,
 * addr + len), tc_check_mem() counts the pages there with a wrong word and
 * logs the first (@what names the check).
 */
static inline uint64_t tc_pat(uint64_t addr, unsigned int round)
{
	uint64_t x = (addr ^ ((uint64_t)round << 48)) * 0x9e3779b97f4a7c15ull;

	return x ^ (x >> 31) ^ round;
}

static inline void tc_fill(uint64_t addr, size_t len, unsigned int round)
{
	volatile uint64_t *w = (volatile uint64_t *)(uintptr_t)addr;
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = tc_pat(addr + 8 * i, round);
}

static inline unsigned long tc_check_mem(struct __test_metadata *_metadata,
					 uint64_t addr, size_t len,
					 unsigned int round, const char *what)
{
	const volatile uint64_t *w = (const volatile uint64_t *)(uintptr_t)addr;
	unsigned long bad = 0, last = ~0ul;
	size_t i;

	for (i = 0; i < len / 8; i++) {
		uint64_t got = w[i];

		if (got == tc_pat(addr + 8 * i, round) || (i * 8) / 4096 == last)
			continue;
		last = (i * 8) / 4096;
		if (!bad)
			TH_LOG("%s: word at %#llx is %#llx, want %#llx", what,
			       (unsigned long long)(addr + 8 * i),
			       (unsigned long long)got,
			       (unsigned long long)tc_pat(addr + 8 * i, round));
		bad++;
	}
	return bad;
}

/*
 * Node @home ALLOCs @npages homed on itself and tc_fill()s them with
 * @round; it publishes the address as "run", and every node meets at
 * barrier "run" (within @secs) and returns the address.
 */
static inline uint64_t tc_shared_run(struct __test_metadata *_metadata,
				     struct tc_node *n, struct tc_sync *s,
				     unsigned int home, unsigned int npages,
				     unsigned int round, unsigned int secs)
{
	uint64_t addr = 0;
	char val[64], err[256];

	if (n->id == home) {
		ASSERT_EQ(0, tc_alloc(n, home, npages, &addr))
			TH_LOG("ALLOC %u pages: %s", npages, strerror(errno));
		tc_fill(addr, (size_t)npages * n->psz, round);
		snprintf(val, sizeof(val), "%#llx", (unsigned long long)addr);
		ASSERT_EQ(0, tc_put(s, "run", val));
	}
	ASSERT_EQ(0, tc_barrier(s, "run", TC_ALL, secs, err, sizeof(err)))
		TH_LOG("node%u, barrier '%s': %s", s->id, "run", err);
	ASSERT_EQ(0, tc_get(s, "run", val, sizeof(val)));
	return strtoull(val, NULL, 0);
}

#endif /* TDSM_CLUSTER_H */
