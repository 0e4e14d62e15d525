// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm coherence on 3 nodes (suite cluster3): writes that invalidate
 * readers, an owner that is lost, away or evicted while in doubt, a
 * writer killed mid-fault, and atomic counters the three nodes share.
 * Each test (trio_*) skips unless the run has exactly 3 nodes. The
 * fixture, helpers and the tests for any node count are in coherence.h.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <sys/wait.h>

#include "coherence.h"

#define TRIO			3
/* The atomics must move their page to each node at least this often. */
#define MIN_MOVES		10

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

/* For waits that follow long phases (the atomics under TCG). */
#define LONG_TIMEOUT (3 * self->s.timeout_s)

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

	TC_START(TRIO);
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

	TC_START(TRIO);
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
 * Every node: node @writer stored round @word's first word of page @p,
 * whose rest is round @rest: every node reads both, then the home's
 * directory must name @writer owner with every node a holder.
 */
static void check_word_written(struct __test_metadata *_metadata,
			       FIXTURE_DATA(coherence) *self, uint8_t *p,
			       unsigned int writer, unsigned int word,
			       unsigned int rest)
{
	struct tc_node *n = &self->n;
	char what[64];

	EXPECT_EQ(pat((uintptr_t)p, word), *(volatile uint64_t *)p);
	snprintf(what, sizeof(what), "the rest of the page node%u wrote", writer);
	EXPECT_EQ(0, check_mem(_metadata, n, p + 8, n->psz - 8, rest, what));
	BARRIER("reread");
	snprintf(what, sizeof(what), "home node2 after every node read node%u's write",
		 writer);
	if (n->id == HOME)
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_SHARED,
					writer, TC_NODE(1) | TC_NODE(2) | TC_NODE(3),
					what));
}

/* The owner's sleep after its FETCH DROP reply (kmod/inject.c; at most 1000). */
#define STALE_KNOB		"fetch_reply_delay_ms"
#define STALE_DELAY_MS		1000

/*
 * No stale read at an owner that gives its page up. node3 owns a page
 * homed on node2 (it wrote it last) and reads it in a loop through its
 * mapping; node1 stores a new word into it: node2 asks node3 for the
 * page with a FETCH DROP, relays it to node1 and grants node1 the write,
 * while node3 sleeps STALE_DELAY_MS after sending its reply (the debugfs
 * knob). node1 then publishes that its store completed, and node3's first
 * read after it sees that must return node1's word. Before the owner gave
 * the page up before answering, it unmapped the page only after that
 * sleep (after its send completed): node2 acted on the reply at once, and
 * node3 went on reading its old data through a read-only mapping after
 * node1's store had completed. Skips without the knob (no debugfs).
 */
TEST_F_TIMEOUT(coherence, trio_owner_no_stale_read_after_drop, 150)
{
	struct tc_node *n = &self->n;
	uint64_t old_v, new_v;
	volatile uint64_t *w;
	uint8_t *p;
	double t;

	TC_START(TRIO);
	if (!tc_inject_has(STALE_KNOB))
		SKIP(return, "no %s/%s (CONFIG_DEBUG_FS off, or debugfs not mounted)",
		     TC_INJECT_DIR, STALE_KNOB);
	p = shared_run(_metadata, self, "run", HOME, 1, SLOT_STALE_READ);
	w = (volatile uint64_t *)p;
	old_v = pat((uintptr_t)w, R_STALE1);
	new_v = pat((uintptr_t)w, R_STALE2);
	if (n->id == 3) {
		fill(p, n->psz, R_STALE1);
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_EXCLUSIVE,
					ANY, ANY, "owner node3 after writing"));
		self->injecting = STALE_KNOB;
		ASSERT_EQ(0, tc_inject_set(STALE_KNOB, STALE_DELAY_MS))
			TH_LOG("node3: setting %s: %s", STALE_KNOB, strerror(errno));
	}
	BARRIER("written");

	if (n->id == HOME)
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_INVALID,
					3, TC_NODE(3), "home node2 after node3 wrote"));
	BARRIER("checked");

	if (n->id == 1) {
		t = tc_now();
		*w = new_v;
		TH_LOG("node1: store done in %.3f s (node3 hides its old copy for %u ms after its reply without the fix)",
		       tc_now() - t, STALE_DELAY_MS);
		ASSERT_EQ(0, tc_put(&self->s, "stored", "1"))
			TH_LOG("node1: publishing 'stored': %s", strerror(errno));
	}
	if (n->id == 3) {
		/* Whether node1's store completed, then a read: never the old word after it. */
		read_until_stored(_metadata, self, w, 1, "stored", old_v, new_v);
		EXPECT_EQ(0, tc_inject_set(STALE_KNOB, 0));
		self->injecting = NULL;
	}
	BARRIER("read");

	check_word_written(_metadata, self, p, 1, R_STALE2, R_STALE1);
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
	TC_BARRIER("tried", 2 * self->s.timeout_s);
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

	TC_START(TRIO);
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
	check_word_written(_metadata, self, p, 3, R_THIRD2, R_THIRD1);
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

	TC_START(TRIO);
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

	TC_START(TRIO);
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
	TC_BARRIER("in doubt", 2 * self->s.timeout_s);
	if (n->id == HOME)
		ASSERT_EQ(0, ctl("node evict 3"));
	BARRIER("evicted");

	if (n->id == 1) {
		sig = read_until_back(w, &v, &tries);
		ASSERT_EQ(0, sig)
			TH_LOG("node1: the page still cannot be read %.0f s after node3's eviction (%d tries): it is lost",
			       10 * tmo / 1000.0 + 20, tries);
	}
	TC_BARRIER("reread", 2 * self->s.timeout_s);
	EXPECT_EQ(0, check_mem(_metadata, n, p, n->psz, R_DOUBT1,
			       "every node reading node3's page after the doubt"));
}

/* The state letter of process @pid (/proc/PID/stat), '?' if unknown. */
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

	TC_START(TRIO);
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

	TC_START(TRIO);
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
	TC_BARRIER("done", LONG_TIMEOUT);

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

	TC_START(TRIO);
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
	TC_BARRIER("done", LONG_TIMEOUT);

	for (j = 1; j <= 3; j++)
		EXPECT_EQ(iters, __atomic_load_n(ctr + 8 * j, __ATOMIC_SEQ_CST))
			TH_LOG("node%u's counter", j);
	EXPECT_EQ(total, __atomic_load_n(ctr, __ATOMIC_SEQ_CST));
	check_sums(_metadata, self, total);
}

TEST_HARNESS_MAIN
