// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm coherence between nodes: page contents arrive intact, ownership
 * follows writes, readers are invalidated, the home's directory (owner,
 * copyset) and every node's page state match the protocol at each step,
 * ALLOC/FREE hand out disjoint runs of the right slice, and atomic
 * read-modify-writes from several nodes lose nothing.
 *
 * Every node of a lab run (selftests/lab/lab.sh --nodes 2 or 3, peers
 * connected by cluster.sh) runs this binary; TDSM_NODE_ID picks the role.
 * Tests named pair_* need exactly 2 nodes, trio_* exactly 3, and skip
 * otherwise; alloc_free_bad_input runs on any number. The lab leaves the
 * other count's tests out (-T, tdsm_harness.h; selftests/tinydsm/Makefile).
 * The nodes take turns through file barriers in TDSM_SHARED
 * (tdsm_cluster.h).
 *
 * The module keeps the region's pages while it is loaded, so every test
 * works on pages of its own: each ALLOCs its runs from the home the test
 * is about. TDSM_FIXED_PAGES=1 (bring-up, before ALLOC works) uses fixed
 * runs past the middle of the home's slice instead.
 *
 * Page info: on a page's home, PAGE_INFO gives the directory (owner,
 * copyset) and the home's own state; elsewhere only the state (and flags,
 * faults) is checked.
 *
 * Knobs (the lab forwards TDSM_* from the host): TDSM_PINGPONG_ROUNDS
 * (default 100), TDSM_ATOMIC_ITERS (default 200 per node),
 * TDSM_ATOMIC_PAUSE_US (default 1000: the pause between a node's atomics,
 * so that the nodes' loops overlap and the page really moves),
 * TDSM_BARRIER_TIMEOUT (default 60 s), TDSM_FIXED_PAGES.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
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
#include "tdsm_harness.h"

#define ANY			(-1)
#define PAIR			2
#define TRIO			3
#define HOME			2	/* the node that homes the shared runs */

/* Fixed runs for TDSM_FIXED_PAGES=1, in pages past the slice's middle. */
#define SLOT_READ		0	/* 64 pages */
#define SLOT_WRITE		64	/* 64 pages */
#define SLOT_PINGPONG		128
#define SLOT_HOME_WRITE		130
#define SLOT_THIRD_WRITE	132
#define SLOT_ATOMIC		134
#define SLOT_ATOMIC_PAGE	136
#define SLOT_DROPPED		140	/* 4 pages */
#define SLOT_ANSWER_LOST	144
#define SLOT_KILLED		145
#define SLOT_OWNER_AWAY		146
#define SLOT_DOUBT_EVICTED	147

#define RUN_PAGES		64
/* The atomics must move their page to each node at least this often. */
#define MIN_MOVES		10

/* Data rounds: each test writes its own, so a stale copy names its source. */
enum {
	R_ZERO,			/* untouched or freed: zeros */
	R_READ,
	R_WRITE1, R_WRITE2,
	R_ALLOC,
	R_HOME1, R_HOME2,
	R_THIRD1, R_THIRD2,
	R_OWNER1, R_OWNER2,
	R_DOUBT1, R_DOUBT2,
	R_MAX
};

FIXTURE(coherence) {
	struct tc_node n;
	struct tc_sync s;
	int ready;
	int delaying;		/* this node delays its packets (tc): undo */
	int dropping;		/* this node drops packets (tc clsact): undo */
	char setup_err[256];
};

/* Where a fatal signal tells the other nodes that this test died. */
static char fatal_mark[PATH_MAX];

/*
 * SIGBUS/SIGSEGV on a region access kills the test; first leave the mark,
 * so that the other nodes stop waiting for this one now rather than at the
 * barrier timeout. Only async-signal-safe calls.
 */
static void fatal_signal(int sig)
{
	static const char msg[] =
		"# fatal signal on a tinydsm access; the other nodes are told\n";
	ssize_t r;
	int fd;

	if (fatal_mark[0]) {
		fd = open(fatal_mark, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
	}
	r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)r;
	signal(sig, SIG_DFL);
	raise(sig);	/* delivered, by the default action, when we return */
}

FIXTURE_SETUP(coherence)
{
	struct sigaction sa = { .sa_handler = fatal_signal };

	tc_sync_init(&self->s, "coherence", _metadata->name);
	if (!self->s.dir[0] ||
	    tc_file(&self->s, fatal_mark, sizeof(fatal_mark), "fail.%u", self->s.id))
		fatal_mark[0] = '\0';
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);

	/* Failures are reported by START(), after a test had its chance to skip. */
	if (tc_node_open_as(&self->n, self->s.id, self->setup_err,
			    sizeof(self->setup_err)))
		return;
	self->ready = 1;
}

FIXTURE_TEARDOWN(coherence)
{
	if (!_metadata->passed)
		tc_mark_failed(&self->s);
	if (self->delaying)
		tc_shell("tc qdisc del dev %s root >&2", tc_link_dev());
	if (self->dropping)
		tc_drop_roce(NULL, 0, NULL);
	tc_node_close(&self->n);
}

static sigjmp_buf fault_jmp;

static void on_fault(int sig)
{
	siglongjmp(fault_jmp, sig);
}

/*
 * Load (@store 0) or store *@val at @p, catching SIGBUS and SIGSEGV for
 * this one access: 0 if it completed, else the signal (the access did not
 * happen). The fixture's fatal handlers are back afterwards.
 */
static int try_access(volatile uint64_t *p, uint64_t *val, int store)
{
	struct sigaction sa = { .sa_handler = on_fault };
	struct sigaction old_bus, old_segv;
	volatile int sig;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old_bus);
	sigaction(SIGSEGV, &sa, &old_segv);
	sig = sigsetjmp(fault_jmp, 1);
	if (!sig) {
		if (store)
			*p = *val;
		else
			*val = *p;
	}
	sigaction(SIGBUS, &old_bus, NULL);
	sigaction(SIGSEGV, &old_segv, NULL);
	return sig;
}

/* Skip unless the run has @want nodes (0: any), then require the setup. */
#define START(want) do {						\
	if ((want) && self->s.nodes != (unsigned int)(want))		\
		SKIP(return, "needs %u nodes, this run has %u (TDSM_NODES)", \
		     (unsigned int)(want), self->s.nodes);		\
	ASSERT_TRUE(self->ready) TH_LOG("setup: %s", self->setup_err); \
} while (0)

#define BARRIER_T(step, secs) do {					\
	char _err[256];							\
	ASSERT_EQ(0, tc_barrier(&self->s, (step), TC_ALL, (secs),	\
				_err, sizeof(_err)))			\
		TH_LOG("node%u, barrier '%s': %s", self->s.id, (step), _err); \
} while (0)

#define BARRIER(step) BARRIER_T(step, self->s.timeout_s)

/* For waits that follow long phases (the atomics under TCG). */
#define LONG_TIMEOUT (3 * self->s.timeout_s)

static uint8_t *ptr(uint64_t addr)
{
	return (uint8_t *)(uintptr_t)addr;
}

/* The 64-bit word at global address @addr in data round @round. */
static uint64_t pat(uint64_t addr, unsigned int round)
{
	uint64_t x;

	if (round == R_ZERO)
		return 0;
	x = (addr ^ ((uint64_t)round << 48)) * 0x9e3779b97f4a7c15ull;
	return x ^ (x >> 31) ^ round;
}

/* Which round's data @word at @addr is, for the log; -1 if none. */
static int which_round(uint64_t addr, uint64_t word)
{
	int r;

	for (r = R_ZERO; r < R_MAX; r++)
		if (pat(addr, r) == word)
			return r;
	return -1;
}

/* Write round @round's pattern over every byte of [p, p + len). */
static void fill(uint8_t *p, size_t len, unsigned int round)
{
	volatile uint64_t *w = (volatile uint64_t *)p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = pat((uintptr_t)&w[i], round);
}

/*
 * Check every byte of [p, p + len) against round @round; log the first
 * wrong byte and whose data the word holds. The number of wrong pages.
 */
static unsigned long check_mem(struct __test_metadata *_metadata,
			       const struct tc_node *n, const uint8_t *p,
			       size_t len, unsigned int round, const char *what)
{
	const volatile uint64_t *w = (const volatile uint64_t *)p;
	unsigned long bad = 0, last_page = ~0ul;
	uint64_t got, want;
	size_t i, b;
	int r;

	for (i = 0; i < len / 8; i++) {
		got = w[i];
		want = pat((uintptr_t)&w[i], round);
		if (got == want)
			continue;
		if ((i * 8) / n->psz == last_page)
			continue;
		last_page = (i * 8) / n->psz;
		if (!bad) {
			for (b = 0; b < 8; b++)
				if (((got ^ want) >> (8 * b)) & 0xff)
					break;
			r = which_round((uintptr_t)&w[i], got);
			TH_LOG("%s: byte %p (page %lu of the run) is %#x, want %#x (data round %u); the word is %s%.0d",
			       what, (const void *)(p + i * 8 + b), last_page,
			       (unsigned int)(got >> (8 * b)) & 0xff,
			       (unsigned int)(want >> (8 * b)) & 0xff, round,
			       r < 0 ? "no round's data" :
			       r == R_ZERO ? "zero (never written, or lost)" :
			       "stale data of round ", r > 0 ? r : 0);
		}
		bad++;
	}
	if (bad)
		TH_LOG("%s: %lu of %zu page(s) wrong", what, bad,
		       (len + n->psz - 1) / n->psz);
	return bad;
}

/*
 * Check PAGE_INFO of @npages pages at @p on this node: @state everywhere;
 * @owner and @copyset (ANY: not checked) only where this node is the
 * page's home, since only the home keeps the directory. Logs the first
 * wrong page; the number of wrong pages.
 */
static unsigned long check_info(struct __test_metadata *_metadata,
				const struct tc_node *n, const uint8_t *p,
				unsigned long npages, int state, int owner,
				long copyset, const char *what)
{
	struct tinydsm_page_info pi;
	unsigned long i, bad = 0;
	const uint8_t *a;
	int home, wrong;

	for (i = 0; i < npages; i++) {
		a = p + i * n->psz;
		home = tc_home_of(n, (uintptr_t)a) == n->id;
		if (tc_page_info(n, a, &pi)) {
			if (!bad)
				TH_LOG("%s: PAGE_INFO %p: %s", what, a, strerror(errno));
			bad++;
			continue;
		}
		wrong = (state != ANY && pi.state != state) ||
			(home && owner != ANY && pi.owner != owner) ||
			(home && copyset != ANY && pi.copyset != copyset);
		if (!wrong)
			continue;
		if (!bad)
			TH_LOG("%s: page %p on node%u (%s): state %s owner %u copyset %#x flags %#x faults %u; want state %s owner %d copyset %#lx",
			       what, a, n->id, home ? "its home" : "not its home",
			       tc_state_name(pi.state), pi.owner, pi.copyset,
			       pi.flags, pi.faults,
			       state == ANY ? "any" : tc_state_name(state), owner,
			       copyset);
		bad++;
	}
	if (bad)
		TH_LOG("%s: %lu of %lu page(s) wrong", what, bad, npages);
	return bad;
}

/*
 * A run of @npages pages homed on node @home, at the same address on every
 * node (every node calls this; it holds a barrier named @key): the home
 * ALLOCs it and publishes the address under @key.
 */
static uint8_t *shared_run(struct __test_metadata *_metadata,
			   FIXTURE_DATA(coherence) *self, const char *key,
			   unsigned int home, unsigned int npages,
			   unsigned int slot)
{
	struct tc_node *n = &self->n;
	uint64_t addr = 0, end;
	char val[64];

	if (tc_env_uint("TDSM_FIXED_PAGES", 0)) {
		addr = tc_slice_start(n, home) +
		       (uint64_t)(n->slice_pages / 2 + slot) * n->psz;
	} else if (n->id == home) {
		ASSERT_EQ(0, tc_alloc(n, home, npages, &addr))
			TH_LOG("ALLOC home %u, %u pages: %s", home, npages,
			       strerror(errno));
		snprintf(val, sizeof(val), "%#llx", (unsigned long long)addr);
		ASSERT_EQ(0, tc_put(&self->s, key, val))
			TH_LOG("publishing '%s': %s", key, strerror(errno));
	}
	BARRIER(key);
	if (!tc_env_uint("TDSM_FIXED_PAGES", 0) && n->id != home) {
		ASSERT_EQ(0, tc_get(&self->s, key, val, sizeof(val)))
			TH_LOG("node%u did not publish '%s'", home, key);
		addr = strtoull(val, NULL, 0);
	}
	end = addr + (uint64_t)npages * n->psz;
	ASSERT_EQ(0, addr % n->psz) TH_LOG("run %#llx", (unsigned long long)addr);
	ASSERT_TRUE(addr >= tc_slice_start(n, home) && end <= tc_slice_end(n, home))
		TH_LOG("run %#llx + %u pages is not inside node%u's slice %#llx-%#llx",
		       (unsigned long long)addr, npages, home,
		       (unsigned long long)tc_slice_start(n, home),
		       (unsigned long long)tc_slice_end(n, home));
	return ptr(addr);
}

/* The node whose turn it is has failed: stop waiting for it. */
static int peer_failed(const struct tc_sync *s)
{
	char path[PATH_MAX];
	unsigned int j;

	for (j = 1; j <= s->nodes; j++)
		if (j != s->id && !tc_file(s, path, sizeof(path), "fail.%u", j) &&
		    tc_exists(path))
			return j;
	return 0;
}

/*
 * Wait (bounded, sleeping) until *@ctr == @want. Only @want - 1 (this
 * node's own last write, or the start) and @want may be seen meanwhile:
 * anything else is a lost update or a stale copy.
 */
static void wait_turn(struct __test_metadata *_metadata,
		      FIXTURE_DATA(coherence) *self, uint64_t *ctr,
		      uint64_t want)
{
	double deadline = tc_now() + self->s.timeout_s;
	unsigned long polls = 0;
	uint64_t v;
	int who;

	for (;;) {
		v = __atomic_load_n(ctr, __ATOMIC_ACQUIRE);
		if (v == want)
			return;
		ASSERT_TRUE(want > 0 && v == want - 1)
			TH_LOG("node%u waiting for %llu saw %llu: lost update or stale copy",
			       self->s.id, (unsigned long long)want,
			       (unsigned long long)v);
		if (++polls % 256 == 0) {
			who = peer_failed(&self->s);
			ASSERT_EQ(0, who) TH_LOG("node%d failed; stop waiting for %llu",
						 who, (unsigned long long)want);
			ASSERT_LT(tc_now(), deadline)
				TH_LOG("no %llu after %d s (the counter stays at %llu)",
				       (unsigned long long)want, self->s.timeout_s,
				       (unsigned long long)v);
		}
		usleep(200);
	}
}

/* `tinydsmctl -j node show` (from the tree) into @buf: 0, or -1. */
static int node_show_json(char *buf, size_t len)
{
	const char *tree = getenv("TDSM_TREE");
	char cmd[PATH_MAX + 64];
	size_t n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "'%s/build/tools/tinydsmctl' -j node show",
		 tree && *tree ? tree : ".");
	fflush(stdout);
	fflush(stderr);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (n < len - 1) {
		size_t r = fread(buf + n, 1, len - 1 - n, f);

		if (!r)
			break;
		n += r;
	}
	buf[n] = '\0';
	return pclose(f) == 0 ? 0 : -1;
}

/*
 * The next node object of node show's JSON (no object nests in one) from
 * *@p into @obj, by key from then on; 0, or -1 after the last.
 */
static int next_node_obj(const char **p, char *obj, size_t len)
{
	const char *b = strchr(*p, '{'), *e = b ? strchr(b, '}') : NULL;

	if (!e || (size_t)(e - b) >= len)
		return -1;
	memcpy(obj, b, e - b);
	obj[e - b] = '\0';
	*p = e + 1;
	return 0;
}

/* The number under "@key" in @obj: 0, or -1 if it is not there. */
static int obj_u64(const char *obj, const char *key, unsigned long long *v)
{
	char pat[48];
	const char *a;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	a = strstr(obj, pat);
	return a && sscanf(a + strlen(pat), "%llu", v) == 1 ? 0 : -1;
}

/*
 * Every peer up with the cluster key says how long its last connection
 * took to set up and how much of that the proof of the key took (NODE_GET
 * SETUP_US and AUTH_US, node show's setup_us and auth_us). Measurements:
 * logged, and only their order asserted (auth_us > 0, setup_us >= it).
 */
TEST_F_TIMEOUT(coherence, setup_time_reported, 150)
{
	double deadline;
	unsigned long long id, setup, auth;
	char out[8192], obj[1024];
	const char *p;
	int down, keyed = 0;

	START(0);
	BARRIER("setup_time");
	deadline = tc_now() + self->s.timeout_s;
	for (;;) {
		ASSERT_EQ(0, node_show_json(out, sizeof(out)));
		down = 0;
		for (p = out; !next_node_obj(&p, obj, sizeof(obj));)
			down += !strstr(obj, "\"self\"") &&
				!strstr(obj, "\"state\":\"up\"");
		if (!down || tc_now() > deadline)
			break;
		usleep(200000);
	}
	EXPECT_EQ(0, down) TH_LOG("peers not up: %s", out);
	for (p = out; !next_node_obj(&p, obj, sizeof(obj));) {
		if (strstr(obj, "\"self\"") || !strstr(obj, "\"state\":\"up\"") ||
		    !strstr(obj, "\"auth\":\"key\""))
			continue;
		keyed++;
		ASSERT_EQ(0, obj_u64(obj, "id", &id)) TH_LOG("%s", obj);
		ASSERT_EQ(0, obj_u64(obj, "setup_us", &setup)) TH_LOG("%s", obj);
		ASSERT_EQ(0, obj_u64(obj, "auth_us", &auth)) TH_LOG("%s", obj);
		TH_LOG("node%u: to node%llu: setup %llu us, of which the proof of the key %llu us",
		       self->s.id, id, setup, auth);
		EXPECT_LT(0, auth);
		EXPECT_LE(auth, setup);
	}
	if (!keyed)
		TH_LOG("no peer up with the cluster key (a run without one?): nothing to check");
	BARRIER("setup_time.done");
}

/*
 * (a) node2 fills 64 pages it homes; node1 reads every byte of them. Node1
 * ends SHARED, node2 (home, was the exclusive owner) SHARED, owner 2,
 * copyset {1,2}.
 */
TEST_F_TIMEOUT(coherence, pair_remote_read, 150)
{
	struct tc_node *n = &self->n;
	struct tinydsm_stats st0, st1;
	struct tinydsm_page_info pi;
	const unsigned long np = RUN_PAGES;
	const size_t len = np * n->psz;
	unsigned long i, badflags = 0;
	uint8_t *p;
	double t;

	START(PAIR);
	p = shared_run(_metadata, self, "run", HOME, np, SLOT_READ);
	if (n->id == 2) {
		fill(p, len, R_READ);
		EXPECT_EQ(0, check_info(_metadata, n, p, np, TINYDSM_PAGE_EXCLUSIVE,
					2, TC_NODE(2), "node2 after writing"));
	} else {
		EXPECT_EQ(0, check_info(_metadata, n, p, np, TINYDSM_PAGE_INVALID,
					ANY, ANY, "node1 before reading"));
	}
	BARRIER("written");

	if (n->id == 1) {
		ASSERT_EQ(0, tc_stats(n, &st0));
		t = tc_now();
		EXPECT_EQ(0, check_mem(_metadata, n, p, len, R_READ,
				       "node1 reading node2's pages"));
		t = tc_now() - t;
		ASSERT_EQ(0, tc_stats(n, &st1));
		TH_LOG("node1: %lu remote pages read in %.0f ms (%.2f ms each)",
		       np, t * 1e3, t * 1e3 / np);
		EXPECT_EQ(0, check_info(_metadata, n, p, np, TINYDSM_PAGE_SHARED,
					ANY, ANY, "node1 after reading"));
		EXPECT_GE(st1.read_faults - st0.read_faults, np);
		EXPECT_GE((int64_t)(st1.frames - st0.frames), (int64_t)np)
			TH_LOG("a read-only copy needs a local frame");
		for (i = 0; i < np; i++) {
			ASSERT_EQ(0, tc_page_info(n, p + i * n->psz, &pi));
			if ((pi.flags & __TINYDSM_PAGE_F_ALL) == TINYDSM_PAGE_F_PRESENT &&
			    pi.faults >= 1 && pi.fault_ip)
				continue;
			if (!badflags++)
				TH_LOG("page %lu on node1: flags %#x faults %u fault_ip %#llx; want flags PRESENT only, faults >= 1, fault_ip set",
				       i, pi.flags, pi.faults,
				       (unsigned long long)pi.fault_ip);
		}
		EXPECT_EQ(0, badflags);
	}
	BARRIER("read");

	if (n->id == 2) {
		EXPECT_EQ(0, check_info(_metadata, n, p, np, TINYDSM_PAGE_SHARED, 2,
					TC_NODE(1) | TC_NODE(2),
					"home node2 after node1 read"));
		EXPECT_EQ(0, check_mem(_metadata, n, p, len, R_READ,
				       "node2's own pages after node1 read them"));
	}
}

/*
 * (b) Both nodes hold 64 pages SHARED (homed on node2); node1 writes a new
 * pattern over them: node1 EXCLUSIVE, home directory owner 1 copyset {1},
 * node2 INVALID. node2 reads back the new data: both SHARED, owner still 1,
 * copyset {1,2}.
 */
TEST_F_TIMEOUT(coherence, pair_write_moves_ownership, 150)
{
	struct tc_node *n = &self->n;
	const unsigned long np = RUN_PAGES;
	const size_t len = np * n->psz;
	struct tinydsm_page_info pi;
	uint8_t *p;

	START(PAIR);
	p = shared_run(_metadata, self, "run", HOME, np, SLOT_WRITE);
	if (n->id == 2)
		fill(p, len, R_WRITE1);
	BARRIER("written");
	if (n->id == 1)
		EXPECT_EQ(0, check_mem(_metadata, n, p, len, R_WRITE1,
				       "node1 reading node2's pages"));
	BARRIER("shared");

	if (n->id == 1) {
		fill(p, len, R_WRITE2);
		EXPECT_EQ(0, check_info(_metadata, n, p, np, TINYDSM_PAGE_EXCLUSIVE,
					ANY, ANY, "node1 after writing"));
		ASSERT_EQ(0, tc_page_info(n, p, &pi));
		EXPECT_TRUE(pi.flags & TINYDSM_PAGE_F_WRITTEN)
			TH_LOG("flags %#x", pi.flags);
		EXPECT_EQ(0, check_mem(_metadata, n, p, len, R_WRITE2,
				       "node1 reading its own writes"));
	}
	BARRIER("rewritten");

	if (n->id == 2) {
		EXPECT_EQ(0, check_info(_metadata, n, p, np, TINYDSM_PAGE_INVALID,
					1, TC_NODE(1),
					"home node2 after node1 wrote"));
		EXPECT_EQ(0, check_mem(_metadata, n, p, len, R_WRITE2,
				       "node2 reading node1's writes"));
		EXPECT_EQ(0, check_info(_metadata, n, p, np, TINYDSM_PAGE_SHARED,
					1, TC_NODE(1) | TC_NODE(2),
					"home node2 after reading node1's writes"));
	}
	BARRIER("reread");

	if (n->id == 1) {
		EXPECT_EQ(0, check_info(_metadata, n, p, np, TINYDSM_PAGE_SHARED,
					ANY, ANY, "node1 after node2 read (downgraded)"));
		EXPECT_EQ(0, check_mem(_metadata, n, p, len, R_WRITE2,
				       "node1 after the downgrade"));
	}
}

/* tinydsmctl ARGS (from the tree, as the lab builds it): its exit status. */
static int ctl(const char *fmt, ...)
{
	const char *tree = getenv("TDSM_TREE");
	char args[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	return tc_shell("%s/build/tools/tinydsmctl %s >&2", tree ? tree : ".", args);
}

/*
 * (b') A write from a node whose read copy went without the home knowing.
 * node1 reads 4 pages homed on node2, then evicts node2 (tinydsmctl node
 * evict 2): the connection goes down and node1 drops its read copies of
 * node2's pages, as after any lost connection, while node2's directory
 * still counts node1 as a reader. node1 then writes one word of each page:
 * the write must get the data (node1 has no copy, whatever the copyset
 * says) rather than fail, and every other word must still hold node2's
 * data, on node1 and then on node2.
 */
TEST_F_TIMEOUT(coherence, pair_write_after_copy_dropped, 150)
{
	struct tc_node *n = &self->n;
	const unsigned long np = 4;
	const size_t len = np * n->psz;
	struct tinydsm_page_info pi;
	volatile uint64_t *w;
	unsigned long i;
	uint8_t *p;
	double t;

	START(PAIR);
	p = shared_run(_metadata, self, "run", HOME, np, SLOT_DROPPED);
	if (n->id == 2)
		fill(p, len, R_WRITE1);
	BARRIER("written");
	if (n->id == 1) {
		EXPECT_EQ(0, check_mem(_metadata, n, p, len, R_WRITE1,
				       "node1 reading node2's pages"));
		ASSERT_EQ(0, ctl("node evict 2"));
		/* The copies go in a work item after the teardown: bounded wait. */
		for (t = tc_now() + 10; tc_now() < t; usleep(20000)) {
			for (i = 0; i < np; i++)
				if (tc_page_info(n, p + i * n->psz, &pi) ||
				    pi.state != TINYDSM_PAGE_INVALID)
					break;
			if (i == np)
				break;
		}
		ASSERT_EQ(0, check_info(_metadata, n, p, np, TINYDSM_PAGE_INVALID, ANY,
					ANY, "node1 10 s after evicting node2"));
	}
	BARRIER("dropped");

	if (n->id == 1) {
		/* Reconnects to node2 by itself; a SIGBUS here fails the test. */
		for (i = 0; i < np; i++) {
			w = (volatile uint64_t *)(p + i * n->psz);
			*w = pat((uintptr_t)w, R_WRITE2);
		}
		for (i = 0; i < np; i++) {
			w = (volatile uint64_t *)(p + i * n->psz);
			EXPECT_EQ(pat((uintptr_t)w, R_WRITE2), *w);
			EXPECT_EQ(0, check_mem(_metadata, n, (const uint8_t *)(w + 1),
					       n->psz - 8, R_WRITE1,
					       "node1: the rest of the page it wrote"));
		}
		EXPECT_EQ(0, check_info(_metadata, n, p, np, TINYDSM_PAGE_EXCLUSIVE,
					ANY, ANY, "node1 after writing"));
	}
	BARRIER("rewritten");
	if (n->id == 2) {
		for (i = 0; i < np; i++) {
			w = (volatile uint64_t *)(p + i * n->psz);
			EXPECT_EQ(pat((uintptr_t)w, R_WRITE2), *w);
			EXPECT_EQ(0, check_mem(_metadata, n, (const uint8_t *)(w + 1),
					       n->psz - 8, R_WRITE1,
					       "node2: the rest of the page node1 wrote"));
		}
	}
}

/*
 * (c) Ownership ping-pong: node1 writes the odd values, node2 the even
 * ones, each waiting until the counter shows its turn. The count ends
 * exact, no node ever sees a value other than its own last write or its
 * turn, and each node took at least one fault per turn.
 */
TEST_F_TIMEOUT(coherence, pair_ownership_ping_pong, 200)
{
	unsigned int rounds = tc_env_uint("TDSM_PINGPONG_ROUNDS", 100);
	struct tc_node *n = &self->n;
	struct tinydsm_page_info pi0, pi1;
	struct tinydsm_stats st0, st1;
	unsigned int i, half, want_faults;
	uint64_t *ctr, turn;
	uint8_t *p;
	double t;

	START(PAIR);
	rounds += rounds % 2;
	if (rounds < 2)
		rounds = 2;
	half = rounds / 2;
	p = shared_run(_metadata, self, "run", HOME, 1, SLOT_PINGPONG);
	ctr = (uint64_t *)p;
	ASSERT_EQ(0, tc_stats(n, &st0));
	ASSERT_EQ(0, tc_page_info(n, p, &pi0));
	BARRIER("start");

	t = tc_now();
	for (i = 0; i < half; i++) {
		turn = 2ull * i + (n->id == 1 ? 0 : 1);
		wait_turn(_metadata, self, ctr, turn);
		__atomic_store_n(ctr, turn + 1, __ATOMIC_RELEASE);
	}
	wait_turn(_metadata, self, ctr, rounds);
	t = tc_now() - t;
	TH_LOG("node%u: %u rounds in %.2f s (%.1f ms per hand-over)", n->id,
	       rounds, t, t * 1e3 / rounds);

	ASSERT_EQ(0, tc_stats(n, &st1));
	ASSERT_EQ(0, tc_page_info(n, p, &pi1));
	/* Every turn but the first follows the other node's write. */
	EXPECT_GE(st1.write_faults - st0.write_faults, half);
	want_faults = pi0.faults + half < 255 ? pi0.faults + half : 255;
	EXPECT_GE(pi1.faults, want_faults)
		TH_LOG("page faults %u before, %u after %u turns", pi0.faults,
		       pi1.faults, half);
	BARRIER("done");

	EXPECT_EQ(rounds, __atomic_load_n(ctr, __ATOMIC_ACQUIRE));
	BARRIER("read");
	if (n->id == 2) {	/* node2 wrote last, node1 read it */
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_SHARED, 2,
					TC_NODE(1) | TC_NODE(2),
					"home node2 after the last round"));
	} else {
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_SHARED,
					ANY, ANY, "node1 after the last round"));
	}
}

/*
 * (d) node1 ALLOCs from node2 (home 2) and from itself (home 0): runs are
 * page aligned, inside the home's slice, disjoint, and read as zeros. What
 * node1 writes node2 reads; after FREE no node holds a copy (home copyset
 * 0) and the run reads as zeros on both nodes.
 */
TEST_F_TIMEOUT(coherence, pair_alloc_free, 150)
{
	struct tc_node *n = &self->n;
	const size_t la = 4 * n->psz;
	uint64_t a = 0, b = 0, c = 0;
	char val[64];

	START(PAIR);
	if (n->id == 1) {
		ASSERT_EQ(0, tc_alloc(n, 2, 4, &a)) TH_LOG("ALLOC home 2: %s", strerror(errno));
		ASSERT_EQ(0, tc_alloc(n, 2, 4, &b)) TH_LOG("ALLOC home 2: %s", strerror(errno));
		ASSERT_EQ(0, tc_alloc(n, 0, 2, &c)) TH_LOG("ALLOC home 0: %s", strerror(errno));
		TH_LOG("home 2: %#llx, %#llx (slice %#llx-%#llx); home 0: %#llx",
		       (unsigned long long)a, (unsigned long long)b,
		       (unsigned long long)tc_slice_start(n, 2),
		       (unsigned long long)tc_slice_end(n, 2),
		       (unsigned long long)c);
		EXPECT_EQ(0, a % n->psz);
		EXPECT_EQ(0, b % n->psz);
		EXPECT_EQ(0, c % n->psz);
		EXPECT_TRUE(a >= tc_slice_start(n, 2) && a + la <= tc_slice_end(n, 2));
		EXPECT_TRUE(b >= tc_slice_start(n, 2) && b + la <= tc_slice_end(n, 2));
		EXPECT_TRUE(c >= tc_slice_start(n, 1) &&
			    c + 2 * n->psz <= tc_slice_end(n, 1))
			TH_LOG("home 0 is this node, node1");
		EXPECT_TRUE(a + la <= b || b + la <= a) TH_LOG("the two runs overlap");
		EXPECT_EQ(0, check_mem(_metadata, n, ptr(a), la, R_ZERO,
				       "a fresh run homed on node2"));
		EXPECT_EQ(0, check_mem(_metadata, n, ptr(c), 2 * n->psz, R_ZERO,
				       "a fresh run homed here"));
		fill(ptr(a), la, R_ALLOC);
		snprintf(val, sizeof(val), "%#llx", (unsigned long long)a);
		ASSERT_EQ(0, tc_put(&self->s, "a", val));
	}
	BARRIER("written");

	if (n->id == 2) {
		ASSERT_EQ(0, tc_get(&self->s, "a", val, sizeof(val)));
		a = strtoull(val, NULL, 0);
		EXPECT_EQ(0, check_mem(_metadata, n, ptr(a), la, R_ALLOC,
				       "home node2 reading node1's writes"));
	}
	BARRIER("read");

	if (n->id == 1) {
		EXPECT_EQ(0, tc_free(n, a, 4)) TH_LOG("FREE: %s", strerror(errno));
		EXPECT_EQ(0, check_info(_metadata, n, ptr(a), 4, TINYDSM_PAGE_INVALID,
					ANY, ANY, "node1 right after FREE"));
	}
	BARRIER("freed");

	if (n->id == 2)
		EXPECT_EQ(0, check_info(_metadata, n, ptr(a), 4, TINYDSM_PAGE_INVALID,
					ANY, 0, "home node2 after FREE"));
	/* before anyone reads the run again, which makes copies anew */
	BARRIER("home_checked");
	EXPECT_EQ(0, check_mem(_metadata, n, ptr(a), la, R_ZERO, "a freed run"));
	if (n->id == 1) {
		EXPECT_EQ(0, tc_free(n, b, 4)) TH_LOG("FREE: %s", strerror(errno));
		EXPECT_EQ(0, tc_free(n, c, 2)) TH_LOG("FREE: %s", strerror(errno));
		/* A second FREE of a run homed on node2 is refused there. */
		EXPECT_EQ(-1, tc_free(n, a, 4));
		EXPECT_EQ(EINVAL, errno);
	}
}

#define DISJOINT_RUNS 12

/*
 * (d) Both nodes ALLOC from node2 at the same time: every run of either
 * node lies inside node2's slice and no two overlap. Then each node FREEs
 * its own.
 */
TEST_F_TIMEOUT(coherence, pair_alloc_disjoint_across_nodes, 150)
{
	struct tc_node *n = &self->n;
	uint64_t mine[DISJOINT_RUNS], start[2 * DISJOINT_RUNS];
	unsigned int len[2 * DISJOINT_RUNS], owner[2 * DISJOINT_RUNS];
	unsigned int i, j, k, cnt = 0, np;
	unsigned long long x;
	char list[1024], key[16], *line, *save;
	size_t w = 0;
	int bad = 0;

	START(PAIR);
	BARRIER("start");
	for (i = 0; i < DISJOINT_RUNS; i++) {
		np = 1 + i % 3;
		ASSERT_EQ(0, tc_alloc(n, 2, np, &mine[i]))
			TH_LOG("ALLOC %u of home 2, %u pages: %s", i, np, strerror(errno));
		w += snprintf(list + w, sizeof(list) - w, "%#llx %u\n",
			      (unsigned long long)mine[i], np);
	}
	snprintf(key, sizeof(key), "runs.%u", n->id);
	ASSERT_EQ(0, tc_put(&self->s, key, list));
	BARRIER("published");

	for (j = 1; j <= 2; j++) {
		snprintf(key, sizeof(key), "runs.%u", j);
		ASSERT_EQ(0, tc_get(&self->s, key, list, sizeof(list)));
		for (line = strtok_r(list, "\n", &save); line && cnt < 2 * DISJOINT_RUNS;
		     line = strtok_r(NULL, "\n", &save)) {
			ASSERT_EQ(2, sscanf(line, "%llx %u", &x, &np));
			start[cnt] = x;
			len[cnt] = np;
			owner[cnt++] = j;
		}
	}
	ASSERT_EQ(2 * DISJOINT_RUNS, cnt);
	for (i = 0; i < cnt; i++) {
		if (start[i] % n->psz || start[i] < tc_slice_start(n, 2) ||
		    start[i] + (uint64_t)len[i] * n->psz > tc_slice_end(n, 2)) {
			if (!bad++)
				TH_LOG("node%u's run %#llx + %u pages is not an aligned run of node2's slice",
				       owner[i], (unsigned long long)start[i], len[i]);
		}
		for (k = i + 1; k < cnt; k++) {
			if (start[i] + (uint64_t)len[i] * n->psz <= start[k] ||
			    start[k] + (uint64_t)len[k] * n->psz <= start[i])
				continue;
			if (!bad++)
				TH_LOG("node%u's run %#llx + %u pages overlaps node%u's %#llx + %u pages",
				       owner[i], (unsigned long long)start[i], len[i],
				       owner[k], (unsigned long long)start[k], len[k]);
		}
	}
	EXPECT_EQ(0, bad);
	BARRIER("checked");

	for (i = 0; i < DISJOINT_RUNS; i++) {
		x = mine[i];
		EXPECT_EQ(0, tc_free(n, x, 1 + i % 3))
			TH_LOG("FREE %#llx: %s", x, strerror(errno));
	}
}

/* errno of ALLOC/FREE with these fields, 0 if it succeeded (and undone). */
static int alloc_errno(const struct tc_node *n, unsigned long cmd,
		       unsigned int home, unsigned int npages, uint64_t addr,
		       uint64_t res0, uint64_t res1)
{
	struct tinydsm_alloc a = {
		.home = home, .npages = npages, .addr = addr,
		.reserved = { res0, res1 },
	};

	if (ioctl(n->fd, cmd, &a))
		return errno;
	if (cmd == TINYDSM_IOC_ALLOC)
		tc_free(n, a.addr, npages);
	return 0;
}

#define EXPECT_ALLOC(err, home, np, r0, r1)				\
	EXPECT_EQ(err, alloc_errno(n, TINYDSM_IOC_ALLOC, home, np, 0, r0, r1)) \
		TH_LOG("ALLOC home %u npages %u reserved %u/%u", (unsigned int)(home), \
		       (unsigned int)(np), (unsigned int)(r0), (unsigned int)(r1))

#define EXPECT_FREE(err, addr, np, r0)					\
	EXPECT_EQ(err, alloc_errno(n, TINYDSM_IOC_FREE, 0, np, addr, r0, 0)) \
		TH_LOG("FREE addr %#llx npages %u reserved %u",		\
		       (unsigned long long)(addr), (unsigned int)(np), (unsigned int)(r0))

/*
 * (d) Bad ALLOC and FREE, on every node (no peer is asked):
 *   npages 0 -> EINVAL; reserved != 0 -> EINVAL;
 *   home 9, or the first id past this run's nodes: a node id (1..31) that
 *   names no node of this cluster -> ENOENT ("no such node");
 *   home >= TINYDSM_MAX_NODES (32, 99, ~0) is no node id at all: malformed
 *   -> EINVAL (as NODE_ADD's id policy), not ENOENT;
 *   a run the home has no room for -> ENOSPC; more pages than a whole slice
 *   -> EINVAL or ENOSPC (either: it can never fit);
 *   FREE outside the region -> ERANGE (as PAGE_INFO); FREE unaligned, of a
 *   run not allocated, or of a run past the slice -> EINVAL;
 *   a NULL argument -> EFAULT.
 */
TEST_F(coherence, alloc_free_bad_input)
{
	struct tc_node *n = &self->n;
	uint64_t base = TINYDSM_REGION_BASE, mine, last, held;
	unsigned int unknown;
	int e;

	START(0);
	mine = tc_slice_start(n, n->id);
	last = tc_slice_end(n, n->id) - n->psz;	/* first-fit leaves it free */
	unknown = self->s.nodes + 1;

	EXPECT_ALLOC(EINVAL, 0, 0, 0, 0);
	EXPECT_ALLOC(EINVAL, n->id, 0, 0, 0);
	EXPECT_ALLOC(EINVAL, 0, 1, 1, 0);
	EXPECT_ALLOC(EINVAL, 0, 1, 0, 1);
	EXPECT_ALLOC(ENOENT, 9, 1, 0, 0);
	if (unknown < TINYDSM_MAX_NODES)
		EXPECT_ALLOC(ENOENT, unknown, 1, 0, 0);
	EXPECT_ALLOC(EINVAL, TINYDSM_MAX_NODES, 1, 0, 0);
	EXPECT_ALLOC(EINVAL, 99, 1, 0, 0);
	EXPECT_ALLOC(EINVAL, UINT32_MAX, 1, 0, 0);
	e = alloc_errno(n, TINYDSM_IOC_ALLOC, 0, n->slice_pages + 1, 0, 0, 0);
	EXPECT_TRUE(e == EINVAL || e == ENOSPC)
		TH_LOG("ALLOC of %lu pages, more than a slice: errno %d",
		       n->slice_pages + 1, e);
	/* With one page of the slice taken, a whole slice is no free run. */
	ASSERT_EQ(0, tc_alloc(n, 0, 1, &held)) TH_LOG("ALLOC: %s", strerror(errno));
	EXPECT_ALLOC(ENOSPC, 0, n->slice_pages, 0, 0);
	EXPECT_EQ(0, tc_free(n, held, 1)) TH_LOG("FREE: %s", strerror(errno));
	EXPECT_EQ(-1, ioctl(n->fd, TINYDSM_IOC_ALLOC, NULL));
	EXPECT_EQ(EFAULT, errno);

	EXPECT_FREE(EINVAL, mine, 0, 0);
	EXPECT_FREE(EINVAL, mine, 1, 1);
	EXPECT_FREE(EINVAL, mine + 1, 1, 0);
	EXPECT_FREE(ERANGE, 0x1000, 1, 0);
	EXPECT_FREE(ERANGE, base - n->psz, 1, 0);
	EXPECT_FREE(ERANGE, base + n->info.size, 1, 0);
	EXPECT_FREE(ERANGE, ~0ull & ~(uint64_t)(n->psz - 1), 1, 0);
	EXPECT_FREE(EINVAL, held, 1, 0);	/* already freed */
	EXPECT_FREE(EINVAL, last, 1, 0);	/* never allocated */
	/* Runs past the end of the slice, one overflowing: refused. */
	EXPECT_FREE(EINVAL, last, 2, 0);
	e = alloc_errno(n, TINYDSM_IOC_FREE, 0, UINT32_MAX, last, 0, 0);
	EXPECT_TRUE(e == EINVAL || e == ERANGE) TH_LOG("errno %d", e);
	EXPECT_EQ(-1, ioctl(n->fd, TINYDSM_IOC_FREE, NULL));
	EXPECT_EQ(EFAULT, errno);
}

/*
 * (e) node2 writes a page it homes; node1 and node3 read it (copyset
 * {1,2,3}, owner 2); node2 writes again, which invalidates both readers
 * (node2 EXCLUSIVE, copyset {2}); their next read gets the new data.
 */
TEST_F_TIMEOUT(coherence, trio_home_write_invalidates_readers, 150)
{
	const unsigned int all = TC_NODE(1) | TC_NODE(2) | TC_NODE(3);
	struct tc_node *n = &self->n;
	uint8_t *p;

	START(TRIO);
	p = shared_run(_metadata, self, "run", HOME, 1, SLOT_HOME_WRITE);
	if (n->id == 2) {
		fill(p, n->psz, R_HOME1);
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_EXCLUSIVE,
					2, TC_NODE(2), "home node2 after writing"));
	}
	BARRIER("written");

	if (n->id != 2) {
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_INVALID,
					ANY, ANY, "reader before reading"));
		EXPECT_EQ(0, check_mem(_metadata, n, p, n->psz, R_HOME1,
				       "reader reading node2's page"));
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_SHARED,
					ANY, ANY, "reader after reading"));
	}
	BARRIER("read");

	if (n->id == 2) {
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_SHARED, 2,
					all, "home node2 with two readers"));
		fill(p, n->psz, R_HOME2);
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_EXCLUSIVE,
					2, TC_NODE(2),
					"home node2 after writing over two readers"));
	}
	BARRIER("rewritten");

	if (n->id != 2) {
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_INVALID,
					ANY, ANY, "reader after node2's write"));
		EXPECT_EQ(0, check_mem(_metadata, n, p, n->psz, R_HOME2,
				       "reader reading node2's new data"));
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_SHARED,
					ANY, ANY, "reader after reading again"));
	}
	BARRIER("reread");

	if (n->id == 2)
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_SHARED, 2,
					all, "home node2 after the readers came back"));
}

/*
 * (e) A page homed on node2, written by node1 and read by node2: two
 * readers (node1 still the owner). node3, neither home nor owner, writes
 * half of it: node1 and node2 are invalidated, node3 is EXCLUSIVE, the
 * directory says owner 3 copyset {3}, and the half node3 did not write
 * came with the ownership. Both readers then read node3's data; owner
 * stays 3, copyset {1,2,3}.
 */
TEST_F_TIMEOUT(coherence, trio_third_node_write_invalidates_readers, 150)
{
	const unsigned int all = TC_NODE(1) | TC_NODE(2) | TC_NODE(3);
	struct tc_node *n = &self->n;
	size_t half = n->psz / 2;
	uint8_t *p;

	START(TRIO);
	p = shared_run(_metadata, self, "run", HOME, 1, SLOT_THIRD_WRITE);
	if (n->id == 1) {
		fill(p, n->psz, R_THIRD1);
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_EXCLUSIVE,
					ANY, ANY, "node1 after writing"));
	}
	BARRIER("written");

	if (n->id == 2) {
		EXPECT_EQ(0, check_mem(_metadata, n, p, n->psz, R_THIRD1,
				       "home node2 reading node1's page"));
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_SHARED, 1,
					TC_NODE(1) | TC_NODE(2),
					"home node2 after reading"));
	}
	BARRIER("read");

	if (n->id == 1)
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_SHARED,
					ANY, ANY, "owner node1 after node2 read"));
	if (n->id == 3)
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_INVALID,
					ANY, ANY, "node3 before writing"));
	BARRIER("checked");

	if (n->id == 3) {
		fill(p, half, R_THIRD2);
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_EXCLUSIVE,
					ANY, ANY, "node3 after writing"));
		EXPECT_EQ(0, check_mem(_metadata, n, p, half, R_THIRD2,
				       "node3 reading its own half"));
		EXPECT_EQ(0, check_mem(_metadata, n, p + half, n->psz - half,
				       R_THIRD1, "the half node3 did not write"));
	}
	BARRIER("rewritten");

	if (n->id == 1)
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_INVALID,
					ANY, ANY, "former owner node1 after node3 wrote"));
	if (n->id == 2)
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_INVALID,
					3, TC_NODE(3), "home node2 after node3 wrote"));
	BARRIER("invalid");

	if (n->id != 3) {
		EXPECT_EQ(0, check_mem(_metadata, n, p, half, R_THIRD2,
				       "reader reading node3's half"));
		EXPECT_EQ(0, check_mem(_metadata, n, p + half, n->psz - half,
				       R_THIRD1, "reader reading node1's half"));
	}
	BARRIER("reread");

	if (n->id == 2) {
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_SHARED, 3,
					all, "home node2 after both read node3's data"));
	} else {
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_SHARED,
					ANY, ANY, "node after both read node3's data"));
	}
}

/*
 * Read *@w into *@v, again every 200 ms while it fails, for as long as
 * connections take to come back after a fault (10 timeouts + 20 s): 0, or
 * the last signal. *@tries: the reads done. A lost page never comes back.
 */
static int read_until_back(volatile uint64_t *w, uint64_t *v, int *tries)
{
	unsigned int tmo = tc_module_param("timeout_ms",
					   TC_DEFAULT_PEER_TIMEOUT_MS);
	double deadline = tc_now() + 10 * tmo / 1000.0 + 20;
	int sig;

	for (*tries = 1; ; ++*tries) {
		sig = try_access(w, v, 0);
		if (!sig || tc_now() > deadline)
			return sig;
		usleep(200000);
	}
}

/*
 * Every node: node @late's packets to the home become late by timeout_ms
 * + 2 s (tc), and node @writer's store of round @round to @w must then
 * fail with SIGBUS (the home cannot wait that long). The delay stays.
 */
static void write_while_late(struct __test_metadata *_metadata,
			     FIXTURE_DATA(coherence) *self, unsigned int late,
			     unsigned int writer, volatile uint64_t *w,
			     unsigned int round)
{
	unsigned int tmo = tc_module_param("timeout_ms",
					   TC_DEFAULT_PEER_TIMEOUT_MS);
	const char *home_ip = getenv("TDSM_IP_2");
	uint64_t v;
	double t;
	int sig;

	ASSERT_NE(NULL, home_ip) TH_LOG("TDSM_IP_2 is not set (the lab sets it)");
	if (self->n.id == late) {
		self->delaying = 1;
		ASSERT_EQ(0, tc_delay_to(home_ip, tmo + 2000))
			TH_LOG("tc: cannot delay node%u's packets to node2", late);
	}
	BARRIER("delayed");
	if (self->n.id == writer) {
		v = pat((uintptr_t)w, round);
		t = tc_now();
		sig = try_access(w, &v, 1);
		TH_LOG("node%u: write while node%u answers late: %s after %.1f s",
		       writer, late, sig ? strsignal(sig) : "done", tc_now() - t);
		ASSERT_EQ(SIGBUS, sig);
	}
	BARRIER_T("tried", 2 * self->s.timeout_s);
}

/*
 * (e') The owner's answer to a FETCH is lost after it sent the page. node1
 * owns a page homed on node2 (it wrote it), then delays every packet it
 * sends to node2 by timeout_ms + 2 s (tc: prio, netem on one band, a u32
 * filter on node2's address); node3 writes one word. node2 sends node1 a
 * FETCH that drops node1's copy and puts the page into node3's buffer:
 * node1 does so at once (its packets to node3 are not delayed), but its
 * answer reaches node2 only after node2 gave up on it, so node2 fails the
 * write (node3: SIGBUS) and its directory still names node1 the owner.
 * node1 must therefore still have the page: once the delay is gone, every
 * node reads node1's data within a bounded time (reconnections allowed
 * for), and node3's next write works. Before node1 kept the page it gave
 * up until the home committed, the page was lost for good: every access
 * failed, ESTALE at the home and node3, EPROTO at node1.
 */
TEST_F_TIMEOUT(coherence, trio_owner_answer_lost, 240)
{
	unsigned int tmo = tc_module_param("timeout_ms",
					   TC_DEFAULT_PEER_TIMEOUT_MS);
	struct tc_node *n = &self->n;
	volatile uint64_t *w;
	uint64_t v;
	int sig, tries;
	uint8_t *p;

	START(TRIO);
	p = shared_run(_metadata, self, "run", HOME, 1, SLOT_ANSWER_LOST);
	w = (volatile uint64_t *)p;
	if (n->id == 1) {
		fill(p, n->psz, R_THIRD1);
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_EXCLUSIVE,
					ANY, ANY, "node1 after writing"));
	}
	BARRIER("written");

	/* The home cannot wait for an answer that comes too late. */
	write_while_late(_metadata, self, 1, 3, w, R_THIRD2);

	if (n->id == 1) {
		EXPECT_EQ(0, tc_shell("tc qdisc del dev %s root >&2", tc_link_dev()));
		self->delaying = 0;
	}
	BARRIER("healed");

	sig = read_until_back(w, &v, &tries);
	ASSERT_EQ(0, sig)
		TH_LOG("node%u: the page still cannot be read %.0f s after the delay ended (%d tries): its data is gone",
		       n->id, 10 * tmo / 1000.0 + 20, tries);
	EXPECT_EQ(0, check_mem(_metadata, n, p, n->psz, R_THIRD1,
			       "every node reading node1's page after the lost answer"));
	BARRIER("read");

	if (n->id == 3) {
		v = pat((uintptr_t)w, R_THIRD2);
		ASSERT_EQ(0, try_access(w, &v, 1))
			TH_LOG("node3: writing the page again failed");
	}
	BARRIER("rewritten");
	EXPECT_EQ(pat((uintptr_t)w, R_THIRD2), *w);
	EXPECT_EQ(0, check_mem(_metadata, n, p + 8, n->psz - 8, R_THIRD1,
			       "the rest of the page node3 wrote"));
	BARRIER("reread");
	if (n->id == HOME)
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_SHARED, 3,
					TC_NODE(1) | TC_NODE(2) | TC_NODE(3),
					"home node2 after every node read node3's write"));
}

/*
 * The owner first (PROTOCOL.md, rule 6). node3 owns a page homed on
 * node2 (it wrote it) and node1 holds a read copy; node3's packets to
 * node2 are then late by timeout_ms + 2 s, so node3 answers nothing in
 * time. node2 writes the page: it cannot get it from node3 and fails the
 * write (SIGBUS), and node1's copy must still be there, readable without
 * asking anyone: the home deals with the owner before it invalidates the
 * other readers, whose copies may be the last ones. Before, node1's copy
 * was invalidated first, for a write that then could not happen. Once the
 * delay is gone, node2's write works and every node reads it.
 */
TEST_F_TIMEOUT(coherence, trio_owner_away_keeps_readers, 240)
{
	unsigned int tmo = tc_module_param("timeout_ms",
					   TC_DEFAULT_PEER_TIMEOUT_MS);
	struct tc_node *n = &self->n;
	volatile uint64_t *w;
	double t, deadline;
	uint64_t v;
	int sig;
	uint8_t *p;

	START(TRIO);
	p = shared_run(_metadata, self, "run", HOME, 1, SLOT_OWNER_AWAY);
	w = (volatile uint64_t *)p;
	if (n->id == 3)
		fill(p, n->psz, R_OWNER1);
	BARRIER("written");
	if (n->id == 1) {
		EXPECT_EQ(0, check_mem(_metadata, n, p, n->psz, R_OWNER1,
				       "node1 reading node3's page"));
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_SHARED,
					ANY, ANY, "node1 after reading"));
	}
	BARRIER("read");

	write_while_late(_metadata, self, 3, HOME, w, R_OWNER2);

	if (n->id == 1) {
		/* The failed write left node1's copy alone: no fault to read it. */
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_SHARED,
					ANY, ANY,
					"node1 after a write that could not reach the owner"));
		t = tc_now();
		sig = try_access(w, &v, 0);
		EXPECT_EQ(0, sig) TH_LOG("node1: its copy is gone (%s after %.1f s)",
					 strsignal(sig), tc_now() - t);
		EXPECT_EQ(0, check_mem(_metadata, n, p, n->psz, R_OWNER1,
				       "node1's copy after the failed write"));
	}
	BARRIER("checked");

	if (n->id == 3) {
		EXPECT_EQ(0, tc_shell("tc qdisc del dev %s root >&2", tc_link_dev()));
		self->delaying = 0;
	}
	BARRIER("healed");

	if (n->id == HOME) {
		/* Connections come back within seconds. */
		deadline = tc_now() + 10 * tmo / 1000.0 + 20;
		do {
			v = pat((uintptr_t)w, R_OWNER2);
			sig = try_access(w, &v, 1);
		} while (sig && tc_now() < deadline && !usleep(200000));
		ASSERT_EQ(0, sig) TH_LOG("node2: its write still fails once node3 answers");
		fill(p, n->psz, R_OWNER2);
	}
	BARRIER("rewritten");
	EXPECT_EQ(0, check_mem(_metadata, n, p, n->psz, R_OWNER2,
			       "every node reading node2's write"));
}

/* The state letter of process @pid (/proc/PID/stat), '?' if unknown. */
/*
 * A grant in doubt whose owner before is evicted (PROTOCOL.md, "Grants in
 * doubt"). node3 owns a page homed on node2 (it wrote it); node1 drops
 * every reply the home sends it (tc on its ingress: RoCE SEND ONLY WITH
 * INVALIDATE, opcode 0x17) and writes the page: node3 puts the page into
 * node1's buffer and retains its frame, and the home's grant goes out but
 * never completes, so it is in doubt; node1 never saw it (SIGBUS). node2
 * then evicts node3. When node1 reads the page, the home learns that
 * node1 did not take the grant and falls back on the owner before it:
 * node3, evicted but alive, still has its frame and must serve it, once
 * it is connected again. Before, an eviction cleared the owner before of
 * every grant in doubt, and the page was lost to every node.
 */
TEST_F_TIMEOUT(coherence, trio_doubt_owner_evicted, 240)
{
	unsigned int tmo = tc_module_param("timeout_ms",
					   TC_DEFAULT_PEER_TIMEOUT_MS);
	static const uint8_t send_inv = 0x17;	/* RoCE SEND ONLY WITH INVALIDATE */
	struct tc_node *n = &self->n;
	volatile uint64_t *w;
	uint64_t v;
	int sig, tries;
	double t;
	uint8_t *p;

	START(TRIO);
	p = shared_run(_metadata, self, "run", HOME, 1, SLOT_DOUBT_EVICTED);
	w = (volatile uint64_t *)p;
	if (n->id == 3)
		fill(p, n->psz, R_DOUBT1);
	BARRIER("written");

	if (n->id == 1) {
		self->dropping = 1;
		ASSERT_EQ(0, tc_drop_roce("ingress", 1, &send_inv))
			TH_LOG("tc: cannot drop the home's replies");
		v = pat((uintptr_t)w, R_DOUBT2);
		t = tc_now();
		sig = try_access(w, &v, 1);
		TH_LOG("node1: write whose grant never arrives: %s after %.1f s",
		       sig ? strsignal(sig) : "done", tc_now() - t);
		ASSERT_EQ(SIGBUS, sig);
		EXPECT_EQ(0, tc_drop_roce(NULL, 0, NULL));
		self->dropping = 0;
	}
	BARRIER_T("in doubt", 2 * self->s.timeout_s);
	if (n->id == HOME)
		ASSERT_EQ(0, ctl("node evict 3"));
	BARRIER("evicted");

	if (n->id == 1) {
		sig = read_until_back(w, &v, &tries);
		ASSERT_EQ(0, sig)
			TH_LOG("node1: the page still cannot be read %.0f s after node3's eviction (%d tries): it is lost",
			       10 * tmo / 1000.0 + 20, tries);
	}
	BARRIER_T("reread", 2 * self->s.timeout_s);
	EXPECT_EQ(0, check_mem(_metadata, n, p, n->psz, R_DOUBT1,
			       "every node reading node3's page after the doubt"));
}

static char proc_state(pid_t pid)
{
	char path[64], buf[512], *rp;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return '?';
	buf[len] = '\0';
	rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && rp[2] ? rp[2] : '?';
}

/*
 * (e'') A process killed in the middle of a write fault costs no page.
 * node1 owns a page homed on node2 and delays its packets to node2 by
 * timeout_ms / 2 (so node2's FETCH is answered, late); a child of node3
 * writes the page and is SIGKILLed while its fault waits (state D) for
 * the home's reply. The home commits the page to node3 when node1's
 * answer comes: node3 must install it although the access that asked is
 * gone, so that every node then reads node1's data (the killed store
 * never completed) and node3's next write works. A fault that withdrew
 * its request when killed left the home naming node3 owner of a page it
 * never took: ESTALE for good.
 */
TEST_F_TIMEOUT(coherence, trio_kill_mid_write_fault, 240)
{
	unsigned int tmo = tc_module_param("timeout_ms",
					   TC_DEFAULT_PEER_TIMEOUT_MS);
	const char *home_ip = getenv("TDSM_IP_2");
	struct tc_node *n = &self->n;
	volatile uint64_t *w;
	double deadline;
	char st = '?';
	int sig, status;
	uint64_t v;
	uint8_t *p;
	pid_t kid;

	START(TRIO);
	ASSERT_NE(NULL, home_ip) TH_LOG("TDSM_IP_2 is not set (the lab sets it)");
	p = shared_run(_metadata, self, "run", HOME, 1, SLOT_KILLED);
	w = (volatile uint64_t *)p;
	if (n->id == 1)
		fill(p, n->psz, R_THIRD1);
	BARRIER("written");

	if (n->id == 1) {
		self->delaying = 1;
		ASSERT_EQ(0, tc_delay_to(home_ip, tmo / 2))
			TH_LOG("tc: cannot delay node1's packets to node2");
	}
	BARRIER("delayed");

	if (n->id == 3) {
		kid = fork();
		ASSERT_LE(0, kid);
		if (!kid) {
			signal(SIGBUS, SIG_DFL);
			*w = pat((uintptr_t)w, R_THIRD2);
			_exit(0);
		}
		/* Kill it while its fault waits for the home. */
		for (deadline = tc_now() + tmo / 2000.0; tc_now() < deadline;
		     usleep(1000)) {
			st = proc_state(kid);
			if (st == 'D')
				break;
		}
		kill(kid, SIGKILL);
		ASSERT_EQ(kid, waitpid(kid, &status, 0));
		TH_LOG("node3: child killed in state %c, %s", st,
		       WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exited");
		/* Else the kill missed the fault, and the test proves nothing. */
		ASSERT_EQ('D', st);
		ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	}
	BARRIER("killed");

	if (n->id == 1) {
		EXPECT_EQ(0, tc_shell("tc qdisc del dev %s root >&2", tc_link_dev()));
		self->delaying = 0;
	}
	BARRIER("healed");

	deadline = tc_now() + 10 * tmo / 1000.0 + 20;
	while ((sig = try_access(w, &v, 0)) && tc_now() < deadline)
		usleep(200000);
	ASSERT_EQ(0, sig)
		TH_LOG("node%u: the page cannot be read %.0f s after the kill: its data is gone",
		       n->id, 10 * tmo / 1000.0 + 20);
	EXPECT_EQ(0, check_mem(_metadata, n, p, n->psz, R_THIRD1,
			       "every node reading the page after the killed write"));
	BARRIER("read");

	if (n->id == 3) {
		v = pat((uintptr_t)w, R_THIRD2);
		ASSERT_EQ(0, try_access(w, &v, 1))
			TH_LOG("node3: writing the page after the kill failed");
	}
	BARRIER("rewritten");
	EXPECT_EQ(pat((uintptr_t)w, R_THIRD2), *w);
	EXPECT_EQ(0, check_mem(_metadata, n, p + 8, n->psz - 8, R_THIRD1,
			       "the rest of the page node3 wrote"));
}

/* Publish this node's sum of fetch_add results under "sum.<id>". */
static int put_sum(FIXTURE_DATA(coherence) *self, unsigned long long sum)
{
	char key[16], val[32];

	snprintf(key, sizeof(key), "sum.%u", self->s.id);
	snprintf(val, sizeof(val), "%llu", sum);
	return tc_put(&self->s, key, val);
}

/*
 * Every node's fetch_add results together must be 0 .. total - 1 once
 * each; their sum is a cheap check of that (duplicates or gaps change it).
 */
static void check_sums(struct __test_metadata *_metadata,
		       FIXTURE_DATA(coherence) *self, unsigned long long total)
{
	unsigned long long sum = 0;
	char key[16], val[32];
	unsigned int j;

	for (j = 1; j <= self->s.nodes; j++) {
		snprintf(key, sizeof(key), "sum.%u", j);
		ASSERT_EQ(0, tc_get(&self->s, key, val, sizeof(val)))
			TH_LOG("node%u published no sum", j);
		sum += strtoull(val, NULL, 10);
	}
	EXPECT_EQ(total * (total - 1) / 2, sum)
		TH_LOG("the values fetch_add returned on all nodes are not 0..%llu once each",
		       total - 1);
}

/*
 * How long a node pauses between its atomics so that the others can take
 * the page: at least @pause_us, and at least twice what its first
 * fetch_add took (@first_s, right after the start barrier, when all three
 * contend), so that the nodes contend whatever the machine's speed (a
 * fault on the debug kernel costs several times one on a stock kernel).
 */
static unsigned int contend_pause(unsigned int pause_us, double first_s)
{
	double us = 2e6 * first_s;

	return us > pause_us ? (unsigned int)us : pause_us;
}

/*
 * (f) All three nodes fetch_add the same counter (homed on node2, which
 * takes part) TDSM_ATOMIC_ITERS times each: the result is exactly 3K, each
 * node saw increasing values, together they saw every value once, and the
 * page came to each node at least MIN_MOVES times (they did contend).
 */
TEST_F_TIMEOUT(coherence, trio_atomic_counter, 300)
{
	unsigned int iters = tc_env_uint("TDSM_ATOMIC_ITERS", 200);
	unsigned int pause = tc_env_uint("TDSM_ATOMIC_PAUSE_US", 1000);
	struct tc_node *n = &self->n;
	unsigned long long sum = 0, total;
	uint64_t *ctr, old, prev = 0;
	unsigned int i, backwards = 0;
	struct tinydsm_stats st0, st1;
	uint8_t *p;
	double t;

	START(TRIO);
	total = 3ull * iters;
	p = shared_run(_metadata, self, "run", HOME, 1, SLOT_ATOMIC);
	ctr = (uint64_t *)p;
	ASSERT_EQ(0, tc_stats(n, &st0));
	BARRIER("start");

	t = tc_now();
	for (i = 0; i < iters; i++) {
		old = __atomic_fetch_add(ctr, 1, __ATOMIC_SEQ_CST);
		if (!i && pause)
			pause = contend_pause(pause, tc_now() - t);
		if (i && old <= prev && !backwards++)
			TH_LOG("fetch_add returned %llu after %llu",
			       (unsigned long long)old, (unsigned long long)prev);
		prev = old;
		sum += old;
		if (pause)
			usleep(pause);	/* let the other nodes take the page */
	}
	t = tc_now() - t;
	ASSERT_EQ(0, tc_stats(n, &st1));
	TH_LOG("node%u: %u fetch_adds in %.2f s (pausing %u us), the page came here %llu times",
	       n->id, iters, t, pause,
	       (unsigned long long)(st1.write_faults - st0.write_faults));
	EXPECT_EQ(0, backwards);
	EXPECT_GE(st1.write_faults - st0.write_faults, MIN_MOVES)
		TH_LOG("the nodes hardly contended: raise TDSM_ATOMIC_PAUSE_US");
	EXPECT_LT(prev, total);
	ASSERT_EQ(0, put_sum(self, sum));
	BARRIER_T("done", LONG_TIMEOUT);

	EXPECT_EQ(total, __atomic_load_n(ctr, __ATOMIC_SEQ_CST));
	check_sums(_metadata, self, total);
}

/*
 * (f) One page, four counters: each node fetch_adds its own (at 64 *
 * node id) and the shared one (at 0), K times each. A node's own counter
 * must return exactly 0, 1, 2 ... (a write of another counter of the page
 * must never lose it); in the end each own counter is K, the shared 3K.
 */
TEST_F_TIMEOUT(coherence, trio_atomic_counters_one_page, 300)
{
	unsigned int iters = tc_env_uint("TDSM_ATOMIC_ITERS", 200);
	unsigned int pause = tc_env_uint("TDSM_ATOMIC_PAUSE_US", 1000);
	struct tc_node *n = &self->n;
	unsigned long long sum = 0, total;
	unsigned int i, j, lost = 0;
	struct tinydsm_stats st0, st1;
	uint64_t *ctr, *mine, old;
	uint8_t *p;
	double t;

	START(TRIO);
	total = 3ull * iters;
	p = shared_run(_metadata, self, "run", HOME, 1, SLOT_ATOMIC_PAGE);
	ctr = (uint64_t *)p;
	mine = ctr + 8 * n->id;		/* own cache line */
	ASSERT_EQ(0, tc_stats(n, &st0));
	BARRIER("start");

	t = tc_now();
	for (i = 0; i < iters; i++) {
		old = __atomic_fetch_add(mine, 1, __ATOMIC_SEQ_CST);
		if (!i && pause)
			pause = contend_pause(pause, tc_now() - t);
		if (old != i && !lost++)
			TH_LOG("node%u's own counter: fetch_add %u returned %llu",
			       n->id, i, (unsigned long long)old);
		if (pause)
			usleep(pause / 2);
		sum += __atomic_fetch_add(ctr, 1, __ATOMIC_SEQ_CST);
		if (pause)
			usleep(pause / 2);
	}
	t = tc_now() - t;
	ASSERT_EQ(0, tc_stats(n, &st1));
	TH_LOG("node%u: %u x 2 fetch_adds in %.2f s (pausing %u us), the page came here %llu times",
	       n->id, iters, t, pause,
	       (unsigned long long)(st1.write_faults - st0.write_faults));
	EXPECT_EQ(0, lost);
	EXPECT_GE(st1.write_faults - st0.write_faults, MIN_MOVES)
		TH_LOG("the nodes hardly contended: raise TDSM_ATOMIC_PAUSE_US");
	ASSERT_EQ(0, put_sum(self, sum));
	BARRIER_T("done", LONG_TIMEOUT);

	for (j = 1; j <= 3; j++)
		EXPECT_EQ(iters, __atomic_load_n(ctr + 8 * j, __ATOMIC_SEQ_CST))
			TH_LOG("node%u's counter", j);
	EXPECT_EQ(total, __atomic_load_n(ctr, __ATOMIC_SEQ_CST));
	check_sums(_metadata, self, total);
}

TDSM_HARNESS_MAIN
