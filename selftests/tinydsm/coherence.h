/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm coherence between nodes: page contents arrive intact, ownership
 * follows writes, readers are invalidated, the home's directory (owner,
 * copyset) and every node's page state match the protocol at each step,
 * ALLOC/FREE hand out disjoint runs of the right slice, atomic
 * read-modify-writes from several nodes lose nothing, and a wake-up across
 * nodes (TINYDSM_IOC_WAIT, _WAKE) is never lost.
 *
 * Two programs, one per node count, as the lab's suites run them
 * (selftests/tinydsm/Makefile): coherence_pair_test.c holds the tests
 * written for 2 nodes (pair_*), coherence_trio_test.c those for 3
 * (trio_*); a test skips on any other count. This header, which each of
 * them includes once, holds what they share: the fixture, the helpers and
 * the tests that hold on any number of nodes (setup_time_reported,
 * alloc_free_bad_input), which so run in both.
 *
 * Every node of a lab run (selftests/lab/lab.sh --nodes 2 or 3, peers
 * connected by cluster.sh) runs the program; TDSM_NODE_ID picks the role.
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
 * TDSM_WAIT_ROUNDS (default 60 turns per node),
 * TDSM_BARRIER_TIMEOUT (default 60 s), TDSM_FIXED_PAGES.
 */
#ifndef COHERENCE_H
#define COHERENCE_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tdsm_cluster.h"

#define ANY			(-1)
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
#define SLOT_STALE_READ		148
#define SLOT_HOME_STALE		149	/* 3 pages */
#define SLOT_REMOTE_ATOMIC	152
#define SLOT_WAIT_RING		153
#define SLOT_WAIT_ERR		154
#define SLOT_FUTEX		155
#define SLOT_PIN		156	/* 2 pages */
#define SLOT_RA_SEQ		512	/* 128 pages, and a group unused */
#define SLOT_RA_RAND		704	/* 64 pages, and a group unused */
#define SLOT_RA_OFF		832	/* 64 pages */

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
	R_STALE1, R_STALE2,
	R_HSTALE1, R_HSTALE2,
	R_RA1, R_RA2,
	R_MAX
};

FIXTURE(coherence) {
	struct tc_node n;
	struct tc_sync s;
	int ready;
	int delaying;		/* this node delays its packets (tc): undo */
	int dropping;		/* this node drops packets (tc clsact): undo */
	const char *injecting;	/* this node set this debugfs knob: reset it */
	char readahead_was[16];	/* readahead_pages before the test changed it */
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

	/* Failures are reported by TC_START(), after a test had its chance to skip. */
	TC_NODE_OPEN();
}

FIXTURE_TEARDOWN(coherence)
{
	TC_MARK_FAILED();
	if (self->delaying)
		tc_shell("tc qdisc del dev %s root >&2", tc_link_dev());
	if (self->dropping)
		tc_drop_roce(NULL, 0, NULL);
	if (self->injecting)
		tc_inject_set(self->injecting, 0);
	if (self->readahead_was[0])
		param_write("readahead_pages", self->readahead_was);
	tc_node_close(&self->n);
}

#define BARRIER(step) TC_BARRIER(step, self->s.timeout_s)

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
 * Read the word at @w through this node's mapping in a loop until node
 * @writer published @key (its store of @new_v over @old_v completed),
 * within the barrier timeout. Every read must be one of the two words, and
 * the first read after the key was seen must be @new_v: the old word then
 * is a stale read.
 */
static void read_until_stored(struct __test_metadata *_metadata,
			      FIXTURE_DATA(coherence) *self,
			      volatile uint64_t *w, unsigned int writer,
			      const char *key, uint64_t old_v, uint64_t new_v)
{
	double deadline = tc_now() + self->s.timeout_s;
	unsigned long reads = 0;
	char val[16];
	int stored, r;
	uint64_t v;

	do {
		stored = !tc_get(&self->s, key, val, sizeof(val));
		v = *w;
		reads++;
		r = which_round((uintptr_t)w, v);
		ASSERT_TRUE(v == old_v || v == new_v)
			TH_LOG("node%u: read %#llx (round %d), neither its own word nor node%u's",
			       self->s.id, (unsigned long long)v, r, writer);
		ASSERT_LT(tc_now(), deadline)
			TH_LOG("node%u: node%u's store not published within %d s",
			       self->s.id, writer, self->s.timeout_s);
	} while (!stored);
	EXPECT_EQ(new_v, v)
		TH_LOG("node%u: read its old word (round %d) after node%u's store completed (read %lu of the loop): a stale read",
		       self->s.id, r, writer, reads);
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

	TC_START(0);
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

/* errno of ALLOC/FREE with these fields, 0 if it succeeded (and undone). */
static int alloc_errno(const struct tc_node *n, unsigned long cmd,
		       unsigned int home, unsigned int npages, uint64_t addr,
		       uint64_t res0, uint64_t res1)
{
	struct tinydsm_alloc a = {
		.home = home, .npages = npages, .addr = addr,
		.reserved32 = (uint32_t)res0, .reserved = { res1 },
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
 *   home 9, or the first id past this run's nodes: a node id (1..64) that
 *   names no node of this cluster -> ENOENT ("no such node");
 *   home >= TINYDSM_MAX_NODES (65, 99, ~0) is no node id at all: malformed
 *   -> EINVAL (as NODE_ADD's id policy), not ENOENT;
 *   a run the home has no room for -> ENOSPC; more pages than a whole slice
 *   -> ENOSPC too (well formed, it just never fits; EINVAL before ALLOC
 *   became lazy);
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

	TC_START(0);
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
	EXPECT_EQ(ENOSPC, e)
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
 * TINYDSM_IOC_ATOMIC @op on the word at @p: 0 and *@old, or -errno.
 * *@remote (if given): done at another node.
 */
static int ratomic(const struct tc_node *n, unsigned int op, void *p,
		   unsigned int width, uint64_t operand, uint64_t expected,
		   uint64_t *old, int *remote)
{
	struct tinydsm_atomic a = {
		.addr = (uintptr_t)p,
		.operand = operand,
		.expected = expected,
		.width = width,
		.op = op,
	};

	if (ioctl(n->fd, TINYDSM_IOC_ATOMIC, &a))
		return -errno;
	*old = a.old;
	if (remote)
		*remote = a.remote;
	return 0;
}

#define EXPECT_RATOMIC(op, p, width, operand, expected, want_old)	\
	do {								\
		uint64_t __old = ~0ull;					\
		int __r = ratomic(n, op, p, width, operand, expected,	\
				  &__old, NULL);			\
		EXPECT_EQ(0, __r) TH_LOG("atomic op %u: %s", op, strerror(-__r)); \
		EXPECT_EQ((uint64_t)(want_old), __old)			\
			TH_LOG("atomic op %u: old %#llx", op,		\
			       (unsigned long long)__old);		\
	} while (0)

/*
 * (f) Remote atomics: every node fetch_adds a 64-bit and a 32-bit counter
 * (which wraps) and increments a third with a CAS loop, TDSM_ATOMIC_ITERS
 * times each, on a page homed on node2 (HOME), with TINYDSM_IOC_ATOMIC;
 * the home, once the others are under way, does every other fetch_add with
 * the processor's own atomic on its mapping. The totals are exact, the fetch_adds
 * returned every value once and increasing on each node, and the page
 * never left its home: the other nodes took no fault for it, hold no copy
 * (INVALID), and each of their operations was one word_remote. Meanwhile
 * each node checks exchange, fetch-or, fetch-and and a failing and a
 * succeeding CAS on a word of its own on that page. Then everyone reads
 * the totals with a plain load (a read copy each: the page is still
 * coherent).
 */
TEST_F_TIMEOUT(coherence, remote_atomics_stay_home, 300)
{
	unsigned int iters = tc_env_uint("TDSM_ATOMIC_ITERS", 200);
	struct tc_node *n = &self->n;
	uint64_t *c64, *cas, *mine, old = 0, prev = 0, expect;
	unsigned long long sum = 0, total, ops = 0;
	unsigned int i, backwards = 0, retries = 0, wrong_remote = 0;
	struct tinydsm_stats st0, st1;
	struct tinydsm_page_info pi;
	int home = n->id == HOME, remote = 0, r;
	const uint32_t c32_start = 0xfffffff0u;
	uint32_t *c32;
	double t;
	uint8_t *p;

	TC_START(0);
	total = (unsigned long long)self->s.nodes * iters;
	p = shared_run(_metadata, self, "ratomic", HOME, 1, SLOT_REMOTE_ATOMIC);
	c64 = (uint64_t *)p;
	c32 = (uint32_t *)(p + 64);
	cas = (uint64_t *)(p + 128);
	mine = (uint64_t *)(p + 256 + 64 * n->id);	/* own cache line */
	if (home)
		*c32 = c32_start;	/* before anyone's first op */
	ASSERT_EQ(0, tc_stats(n, &st0));
	BARRIER("start");

	/*
	 * The home's own atomics are quick (the page is here): it starts once
	 * the others' are under way, so that they meet (bounded).
	 */
	t = tc_now() + self->s.timeout_s;
	while (home && self->s.nodes > 1 && tc_now() < t &&
	       __atomic_load_n(c64, __ATOMIC_SEQ_CST) < (self->s.nodes - 1) * iters / 4)
		usleep(1000);
	expect = 0;
	for (i = 0; i < iters; i++) {
		if (home && i % 2) {
			old = __atomic_fetch_add(c64, 1, __ATOMIC_SEQ_CST);
		} else {
			r = ratomic(n, TINYDSM_ATOMIC_FETCH_ADD, c64, 8, 1, 0,
				    &old, &remote);
			ASSERT_EQ(0, r) TH_LOG("fetch_add: %s", strerror(-r));
			ops++;
			wrong_remote += remote != !home;
		}
		if (i && old <= prev && !backwards++)
			TH_LOG("fetch_add returned %llu after %llu",
			       (unsigned long long)old, (unsigned long long)prev);
		prev = old;
		sum += old;
		r = ratomic(n, TINYDSM_ATOMIC_FETCH_ADD, c32, 4, 1, 0, &old,
			    &remote);
		ASSERT_EQ(0, r) TH_LOG("fetch_add 32: %s", strerror(-r));
		ops++;
		wrong_remote += remote != !home;
		EXPECT_GT(1ull << 32, old);
		/* increment with a CAS, from a guess, retrying with what it saw */
		for (;;) {
			r = ratomic(n, TINYDSM_ATOMIC_CAS, cas, 8, expect + 1,
				    expect, &old, &remote);
			ASSERT_EQ(0, r) TH_LOG("cas: %s", strerror(-r));
			ops++;
			wrong_remote += remote != !home;
			if (old == expect)
				break;
			retries++;
			expect = old;
		}
		expect++;
	}

	/* This node's own word: each op's effect and old value. */
	EXPECT_RATOMIC(TINYDSM_ATOMIC_XCHG, mine, 8, 0xa5a5a5a5a5a5a5a5ull, 0, 0);
	EXPECT_RATOMIC(TINYDSM_ATOMIC_XCHG, mine, 8, 0x1234, 0, 0xa5a5a5a5a5a5a5a5ull);
	EXPECT_RATOMIC(TINYDSM_ATOMIC_FETCH_OR, mine, 8, 0xff00, 0, 0x1234);
	EXPECT_RATOMIC(TINYDSM_ATOMIC_FETCH_AND, mine, 8, 0x0ff0, 0, 0xff34);
	EXPECT_RATOMIC(TINYDSM_ATOMIC_CAS, mine, 8, 7, 1, 0x0f30);	/* fails */
	EXPECT_RATOMIC(TINYDSM_ATOMIC_CAS, mine, 8, 7, 0x0f30, 0x0f30);
	EXPECT_RATOMIC(TINYDSM_ATOMIC_FETCH_ADD, mine, 8, ~0ull, 0, 7);	/* - 1 */
	/* the upper half alone, 32 bits */
	EXPECT_RATOMIC(TINYDSM_ATOMIC_CAS, (uint32_t *)mine + 1, 4, 9, 0, 0);
	EXPECT_RATOMIC(TINYDSM_ATOMIC_FETCH_OR, mine, 8, 0, 0, 9ull << 32 | 6);
	ops += 9;

	ASSERT_EQ(0, tc_stats(n, &st1));
	TH_LOG("node%u: %u x 3 atomics, %u CAS retries, %llu ioctls, word_remote +%llu, word_served +%llu, faults +%llu",
	       n->id, iters, retries, ops,
	       (unsigned long long)(st1.word_remote - st0.word_remote),
	       (unsigned long long)(st1.word_served - st0.word_served),
	       (unsigned long long)(st1.read_faults + st1.write_faults -
				    st0.read_faults - st0.write_faults));
	EXPECT_EQ(0, backwards);
	EXPECT_EQ(0, wrong_remote) TH_LOG("operations not done where the page is");
	if (!home) {
		/* The page never came here. */
		EXPECT_EQ(ops, st1.word_remote - st0.word_remote);
		EXPECT_EQ(st0.read_faults, st1.read_faults);
		EXPECT_EQ(st0.write_faults, st1.write_faults);
		ASSERT_EQ(0, tc_page_info(n, p, &pi));
		EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state)
			TH_LOG("state %s", tc_state_name(pi.state));
	}
	ASSERT_EQ(0, put_sum(self, sum));
	TC_BARRIER("done", 3 * self->s.timeout_s);

	if (home) {
		/* Every other node's operations were served here. */
		ASSERT_EQ(0, tc_page_info(n, p, &pi));
		EXPECT_EQ(TINYDSM_PAGE_EXCLUSIVE, pi.state)
			TH_LOG("state %s", tc_state_name(pi.state));
		EXPECT_EQ(HOME, pi.owner);
	}
	/* The totals, read where they are (fetch_or 0), then by a plain load. */
	EXPECT_RATOMIC(TINYDSM_ATOMIC_FETCH_OR, c64, 8, 0, 0, total);
	EXPECT_RATOMIC(TINYDSM_ATOMIC_FETCH_OR, cas, 8, 0, 0, total);
	EXPECT_RATOMIC(TINYDSM_ATOMIC_FETCH_OR, c32, 4, 0, 0,
		       (uint32_t)(c32_start + total));
	check_sums(_metadata, self, total);
	BARRIER("checked");
	EXPECT_EQ(total, __atomic_load_n(c64, __ATOMIC_SEQ_CST));
	EXPECT_EQ(total, __atomic_load_n(cas, __ATOMIC_SEQ_CST));
	EXPECT_EQ((uint32_t)(c32_start + total), __atomic_load_n(c32, __ATOMIC_SEQ_CST));
	for (i = 1; i <= self->s.nodes; i++)
		EXPECT_EQ(9ull << 32 | 6, ((uint64_t *)(p + 256))[8 * i])
			TH_LOG("node%u's own word", i);
}

/*
 * Bad TINYDSM_IOC_ATOMIC, on every node, on a page of its own: width not
 * 4 or 8, a word not aligned to it, an op out of range, expected non-zero
 * for an op but CAS, an operand or expected wider than the word, old or
 * reserved non-zero -> EINVAL; outside the region -> ERANGE; NULL -> EFAULT.
 * The word is unchanged.
 */
TEST_F(coherence, atomic_bad_input)
{
	struct tc_node *n = &self->n;
	struct tinydsm_atomic a;
	uint64_t addr, *w;
	unsigned int i;
	int r;

	TC_START(0);
	ASSERT_EQ(0, tc_alloc(n, n->id, 1, &addr)) TH_LOG("ALLOC: %s", strerror(errno));
	w = (uint64_t *)ptr(addr);
	*w = 42;
	for (i = 0; i < 11; i++) {
		memset(&a, 0, sizeof(a));
		a.addr = addr;
		a.width = 8;
		a.op = TINYDSM_ATOMIC_FETCH_ADD;
		a.operand = 1;
		switch (i) {
		case 0: a.width = 2; break;
		case 1: a.width = 16; break;
		case 2: a.addr += 4; break;
		case 3: a.width = 4; a.addr += 2; break;
		case 4: a.op = 0; break;
		case 5: a.op = __TINYDSM_ATOMIC_MAX; break;
		case 6: a.expected = 1; break;
		case 7: a.width = 4; a.operand = 1ull << 32; break;
		case 8: a.width = 4; a.op = TINYDSM_ATOMIC_CAS; a.expected = 1ull << 32; break;
		case 9: a.old = 1; break;
		default: a.reserved[4] = 1; break;
		}
		r = ioctl(n->fd, TINYDSM_IOC_ATOMIC, &a);
		EXPECT_EQ(-1, r) TH_LOG("case %u accepted", i);
		if (r)
			EXPECT_EQ(EINVAL, errno) TH_LOG("case %u: errno %d", i, errno);
	}
	memset(&a, 0, sizeof(a));
	a.addr = TINYDSM_REGION_BASE + n->info.size;
	a.width = 8;
	a.op = TINYDSM_ATOMIC_XCHG;
	EXPECT_EQ(-1, ioctl(n->fd, TINYDSM_IOC_ATOMIC, &a));
	EXPECT_EQ(ERANGE, errno);
	EXPECT_EQ(-1, ioctl(n->fd, TINYDSM_IOC_ATOMIC, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(42, *w);
	EXPECT_EQ(0, tc_free(n, addr, 1)) TH_LOG("FREE: %s", strerror(errno));
}

/* TINYDSM_IOC_WAIT: 0 or -errno; *@remote (if given) on success. */
static int rwait(const struct tc_node *n, void *p, unsigned int width,
		 uint64_t expected, uint64_t timeout_ns, int *remote)
{
	struct tinydsm_wait w = {
		.addr = (uintptr_t)p,
		.expected = expected,
		.timeout_ns = timeout_ns,
		.width = width,
	};

	if (ioctl(n->fd, TINYDSM_IOC_WAIT, &w))
		return -errno;
	if (remote)
		*remote = w.remote;
	return 0;
}

/* TINYDSM_IOC_WAKE of up to @count: how many woke, or -errno. */
static int rwake(const struct tc_node *n, void *p, unsigned int width,
		 uint32_t count)
{
	struct tinydsm_wake w = {
		.addr = (uintptr_t)p,
		.count = count,
		.width = width,
	};

	if (ioctl(n->fd, TINYDSM_IOC_WAKE, &w))
		return -errno;
	return (int)w.woken;
}

/* Publish this node's @name count under "<name>.<id>"; their sum. */
static int put_count(FIXTURE_DATA(coherence) *self, const char *name,
		     unsigned long long v)
{
	char key[32], val[32];

	snprintf(key, sizeof(key), "%s.%u", name, self->s.id);
	snprintf(val, sizeof(val), "%llu", v);
	return tc_put(&self->s, key, val);
}

static unsigned long long sum_counts(struct __test_metadata *_metadata,
				     FIXTURE_DATA(coherence) *self,
				     const char *name)
{
	unsigned long long sum = 0;
	char key[32], val[32];
	unsigned int j;

	for (j = 1; j <= self->s.nodes; j++) {
		snprintf(key, sizeof(key), "%s.%u", name, j);
		if (tc_get(&self->s, key, val, sizeof(val))) {
			TH_LOG("node%u published no '%s'", j, name);
			_metadata->passed = 0;
			continue;
		}
		sum += strtoull(val, NULL, 10);
	}
	return sum;
}

/*
 * (g) No wake-up is lost: a token passes round the nodes TDSM_WAIT_ROUNDS
 * times. The token is a counter on a page homed on node2 (HOME); node i's
 * turns are the values i - 1 modulo the node count. A node waits
 * (TINYDSM_IOC_WAIT on the value it read) until its turn, increments the
 * counter with a remote fetch-add, which must return exactly its turn,
 * and wakes every waiter (TINYDSM_IOC_WAKE); the home pauses 5 ms before
 * its increments, so that the others are asleep when it wakes them. The home's own task waits
 * too (queued locally), the others at the home. Each node's waiters renew
 * themselves only every 10 minutes here (module parameter wait_renew_ms),
 * so a lost wake-up is a WAIT that times out (30 s), not one the renewal
 * hides. And a WAKE's count is exact: the waiters all nodes' WAKEs
 * counted are the WAITs that returned 0 (woken) on all nodes.
 */
TEST_F_TIMEOUT(coherence, wait_wake_token_ring, 600)
{
	unsigned int rounds = tc_env_uint("TDSM_WAIT_ROUNDS", 60);
	unsigned int renew0 = tc_module_param("wait_renew_ms", 0);
	unsigned long long woken = 0, waits = 0, eagain = 0, wakes = 0;
	struct tc_node *n = &self->n;
	unsigned int k, nodes = self->s.nodes, bad = 0;
	int home = n->id == HOME, r = 0, remote = -1;
	uint64_t *turn, v = 0, target, old = 0;
	double t0;

	TC_START(0);
	if (nodes < 2)
		SKIP(return, "needs 2 or 3 nodes, this run has %u", nodes);
	turn = (uint64_t *)shared_run(_metadata, self, "ring", HOME, 1,
				      SLOT_WAIT_RING);
	ASSERT_EQ(0, tc_module_param_set("wait_renew_ms", 600000))
		TH_LOG("cannot set wait_renew_ms: %s", strerror(errno));
	BARRIER("ring");
	t0 = tc_now();
	for (k = 0; k < rounds && !bad; k++) {
		target = (uint64_t)k * nodes + n->id - 1;
		for (;;) {
			r = ratomic(n, TINYDSM_ATOMIC_FETCH_OR, turn, 8, 0, 0,
				    &v, NULL);
			if (r || v >= target)
				break;
			r = rwait(n, turn, 8, v, 30ull * 1000000000, &remote);
			waits++;
			if (r == -EAGAIN) {
				eagain++;
			} else if (r) {
				break;
			} else {
				woken++;
				bad += remote != !home;
			}
		}
		if (r || v != target) {
			TH_LOG("node%u, turn %llu: %s, counter %llu", n->id,
			       (unsigned long long)target,
			       r ? strerror(-r) : "overtaken",
			       (unsigned long long)v);
			bad++;
			break;
		}
		/* The home's turns are quick: let the others reach their WAIT. */
		if (home)
			usleep(5000);
		r = ratomic(n, TINYDSM_ATOMIC_FETCH_ADD, turn, 8, 1, 0, &old,
			    NULL);
		if (r || old != target) {
			TH_LOG("node%u: fetch_add: %s, old %llu want %llu",
			       n->id, strerror(-r), (unsigned long long)old,
			       (unsigned long long)target);
			bad++;
			break;
		}
		r = rwake(n, turn, 8, INT32_MAX);
		if (r < 0) {
			TH_LOG("node%u: WAKE: %s", n->id, strerror(-r));
			bad++;
			break;
		}
		wakes += r;
	}
	EXPECT_EQ(0, tc_module_param_set("wait_renew_ms", renew0));
	TH_LOG("node%u: %u turns in %.1f s: %llu WAITs, %llu woken, %llu found the word changed; its WAKEs woke %llu",
	       n->id, k, tc_now() - t0, waits, woken, eagain, wakes);
	ASSERT_EQ(0, bad);
	ASSERT_EQ(0, put_count(self, "woken", woken));
	ASSERT_EQ(0, put_count(self, "wakes", wakes));
	TC_BARRIER("turned", 3 * self->s.timeout_s);
	EXPECT_EQ(sum_counts(_metadata, self, "wakes"),
		  sum_counts(_metadata, self, "woken"))
		TH_LOG("the waiters WAKEs counted are not the WAITs woken");
	EXPECT_EQ((uint64_t)rounds * nodes, __atomic_load_n(turn, __ATOMIC_SEQ_CST));
}

static void on_alarm(int sig)
{
	(void)sig;
}

/*
 * TINYDSM_IOC_WAIT's and _WAKE's answers on every node, on a word of a
 * page of its own and on one homed on node2 (HOME, queued there): EAGAIN
 * when the word differs; ETIMEDOUT after at least the timeout; EINTR for
 * a signal whose handler does not restart; a WAKE with nobody waiting
 * wakes 0. Bad input: a width not 4 or 8, a word not aligned to it, an
 * expected value wider than the word, remote, woken or reserved non-zero,
 * a count of 0 or above INT_MAX -> EINVAL; outside the region -> ERANGE;
 * NULL -> EFAULT. Nothing changes the word.
 */
TEST_F_TIMEOUT(coherence, wait_wake_errors, 120)
{
	struct sigaction sa = { .sa_handler = on_alarm }, old_sa;
	struct itimerval it = { .it_value = { .tv_usec = 200000 } };
	struct tc_node *n = &self->n;
	struct tinydsm_wait w;
	struct tinydsm_wake k;
	uint64_t addr, *word, *far;
	unsigned int i;
	double t;
	int r;

	TC_START(0);
	far = (uint64_t *)shared_run(_metadata, self, "waiterr", HOME, 1,
				     SLOT_WAIT_ERR);
	ASSERT_EQ(0, tc_alloc(n, n->id, 1, &addr)) TH_LOG("ALLOC: %s", strerror(errno));
	word = (uint64_t *)ptr(addr);
	*word = 5;
	if (n->id == HOME)
		*far = 9;
	BARRIER("set");

	EXPECT_EQ(-EAGAIN, rwait(n, word, 8, 4, 0, NULL));
	EXPECT_EQ(-EAGAIN, rwait(n, far, 8, 4, 0, NULL));
	EXPECT_EQ(-EAGAIN, rwait(n, word, 4, 4, 0, NULL));	/* its low half */
	t = tc_now();
	EXPECT_EQ(-ETIMEDOUT, rwait(n, word, 8, 5, 300000000, NULL));
	EXPECT_LE(0.3, tc_now() - t);
	t = tc_now();
	EXPECT_EQ(-ETIMEDOUT, rwait(n, far, 8, 9, 300000000, NULL));
	EXPECT_LE(0.3, tc_now() - t);
	EXPECT_EQ(0, rwake(n, word, 8, 1));
	/* a signal: EINTR without SA_RESTART */
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(0, sigaction(SIGALRM, &sa, &old_sa));
	ASSERT_EQ(0, setitimer(ITIMER_REAL, &it, NULL));
	EXPECT_EQ(-EINTR, rwait(n, far, 8, 9, 20ull * 1000000000, NULL));
	ASSERT_EQ(0, sigaction(SIGALRM, &old_sa, NULL));
	BARRIER("waited");	/* nobody waits on far any more */
	EXPECT_EQ(0, rwake(n, far, 8, INT32_MAX));

	for (i = 0; i < 7; i++) {
		memset(&w, 0, sizeof(w));
		w.addr = addr;
		w.width = 8;
		w.expected = 5;
		w.timeout_ns = 1;
		switch (i) {
		case 0: w.width = 2; break;
		case 1: w.width = 16; break;
		case 2: w.addr += 4; break;
		case 3: w.width = 4; w.addr += 2; break;
		case 4: w.width = 4; w.expected = 1ull << 32; break;
		case 5: w.remote = 1; break;
		default: w.reserved[5] = 1; break;
		}
		r = ioctl(n->fd, TINYDSM_IOC_WAIT, &w);
		EXPECT_EQ(-1, r) TH_LOG("WAIT case %u accepted", i);
		if (r)
			EXPECT_EQ(EINVAL, errno) TH_LOG("WAIT case %u: errno %d", i, errno);
	}
	for (i = 0; i < 7; i++) {
		memset(&k, 0, sizeof(k));
		k.addr = addr;
		k.width = 8;
		k.count = 1;
		switch (i) {
		case 0: k.width = 1; break;
		case 1: k.addr += 4; break;
		case 2: k.count = 0; break;
		case 3: k.count = (uint32_t)INT32_MAX + 1; break;
		case 4: k.woken = 1; break;
		case 5: k.remote = 1; break;
		default: k.reserved[0] = 1; break;
		}
		r = ioctl(n->fd, TINYDSM_IOC_WAKE, &k);
		EXPECT_EQ(-1, r) TH_LOG("WAKE case %u accepted", i);
		if (r)
			EXPECT_EQ(EINVAL, errno) TH_LOG("WAKE case %u: errno %d", i, errno);
	}
	memset(&w, 0, sizeof(w));
	w.addr = TINYDSM_REGION_BASE + n->info.size;
	w.width = 8;
	EXPECT_EQ(-1, ioctl(n->fd, TINYDSM_IOC_WAIT, &w));
	EXPECT_EQ(ERANGE, errno);
	memset(&k, 0, sizeof(k));
	k.addr = TINYDSM_REGION_BASE - 8;
	k.width = 8;
	k.count = 1;
	EXPECT_EQ(-1, ioctl(n->fd, TINYDSM_IOC_WAKE, &k));
	EXPECT_EQ(ERANGE, errno);
	EXPECT_EQ(-1, ioctl(n->fd, TINYDSM_IOC_WAIT, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(n->fd, TINYDSM_IOC_WAKE, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(5, *word);
	EXPECT_EQ(9, __atomic_load_n(far, __ATOMIC_SEQ_CST));
	EXPECT_EQ(0, tc_free(n, addr, 1)) TH_LOG("FREE: %s", strerror(errno));
}

#endif /* COHERENCE_H */
