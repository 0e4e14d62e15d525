// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm coherence on 2 nodes (suite cluster2): a remote read, ownership
 * that follows writes and goes back and forth, a write after a dropped
 * copy, ALLOC/FREE across the nodes. Each test (pair_*) skips unless the
 * run has exactly 2 nodes. The fixture, helpers and the tests for any
 * node count are in coherence.h.
 */
#define _GNU_SOURCE
#include <infiniband/verbs.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/klog.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "coherence.h"

#define PAIR			2
#define RUN_PAGES		64

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

	TC_START(PAIR);
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

	TC_START(PAIR);
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

	TC_START(PAIR);
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

/* True once task @pid sleeps in a futex wait (its wchan), within 10 s. */
static bool sleeps_in_futex(pid_t pid)
{
	char path[64], wchan[128];
	double t = tc_now() + 10;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/wchan", pid);
	for (; tc_now() < t; usleep(10000)) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return false;
		len = read(fd, wchan, sizeof(wchan) - 1);
		close(fd);
		if (len > 0) {
			wchan[len] = 0;
			if (strstr(wchan, "futex"))
				return true;
		}
	}
	return false;
}

/*
 * A shared kernel futex on a region word, across a change of frame. A
 * child of node1 waits (FUTEX_WAIT, shared) on word 0 of a page homed on
 * node2, which node1 reads; node2 then writes another word of the page,
 * which takes node1's copy: its frame goes. Node1's FUTEX_WAKE, which
 * faults the page back into a new frame, still finds the waiter, because
 * the key is the region's inode and the page's index, not the frame.
 */
TEST_F_TIMEOUT(coherence, pair_futex_across_frame_change, 150)
{
	struct tc_node *n = &self->n;
	struct timespec ts = { .tv_sec = 60 };
	int status = -1;
	uint32_t *w;
	uint8_t *p;
	long woken;
	pid_t pid = -1;

	TC_START(PAIR);
	p = shared_run(_metadata, self, "run", HOME, 1, SLOT_FUTEX);
	w = (uint32_t *)p;
	if (n->id == 2)
		__atomic_store_n(&w[0], 0, __ATOMIC_RELEASE);
	BARRIER("zeroed");
	if (n->id == 1) {
		ASSERT_EQ(0, __atomic_load_n(&w[0], __ATOMIC_ACQUIRE));
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0)
			_exit(syscall(SYS_futex, w, FUTEX_WAIT, 0, &ts, NULL, 0) ?
			      (errno == ETIMEDOUT ? 2 : 3) : 0);
		ASSERT_TRUE(sleeps_in_futex(pid))
			TH_LOG("node1's child is not in FUTEX_WAIT after 10 s");
	}
	BARRIER("waiting");
	if (n->id == 2)
		__atomic_store_n(&w[16], 0x1234, __ATOMIC_RELEASE);
	BARRIER("taken");
	if (n->id == 1) {
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_INVALID,
					ANY, ANY, "node1 after node2 wrote"));
		woken = syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
		EXPECT_EQ(1, woken) TH_LOG("FUTEX_WAKE (shared) after the frame changed: %s",
					  woken < 0 ? strerror(errno) : "woke nobody");
		if (woken != 1)
			kill(pid, SIGKILL);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("the child's FUTEX_WAIT ended with status %#x", status);
		EXPECT_EQ(0x1234, __atomic_load_n(&w[16], __ATOMIC_ACQUIRE));
	}
}

/* True if the kernel log holds "page ADDR: pinned" (the module's rule F2). */
static bool pin_reported(const void *addr)
{
	static char log[1 << 20];
	char needle[64];
	int len;

	snprintf(needle, sizeof(needle), "page %#llx: pinned",
		 (unsigned long long)(uintptr_t)addr);
	len = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, log, sizeof(log) - 1);
	if (len <= 0)
		return false;
	log[len] = 0;
	return strstr(log, needle);
}

struct unpin_later {
	struct ibv_mr *mr;
	unsigned int ms;
};

static void *unpin_later_fn(void *arg)
{
	struct unpin_later *u = arg;

	usleep(u->ms * 1000);
	ibv_dereg_mr(u->mr);
	return NULL;
}

/*
 * Rule F2: a DMA pin does not keep a page on a node. Node1 reads two
 * pages homed on node2 and registers a read-only RDMA memory region on
 * each (a long-term pin, which 6.1 and 6.12 allow). Node2 then writes both.
 * Page A's pin goes 200 ms later, within the bound (timeout_ms / 4): the
 * take-away waited for it, and no pin is reported. Page B's pin stays: the
 * take-away gives up waiting after the bound, reports the pin in node1's
 * kernel log, and goes on; node2's write completes (no SIGBUS, its bytes
 * there), and node1, its MR gone, reads node2's write.
 */
TEST_F_TIMEOUT(coherence, pair_pin_does_not_hold_the_page, 150)
{
	struct tc_node *n = &self->n;
	struct unpin_later later = { .ms = 200 };
	struct ibv_device **devs = NULL;
	struct ibv_context *ctx = NULL;
	struct ibv_mr *mr_b = NULL;
	struct ibv_pd *pd = NULL;
	volatile uint64_t *a, *b;
	pthread_t th;
	uint8_t *p;
	int nd = 0;

	TC_START(PAIR);
	p = shared_run(_metadata, self, "run", HOME, 2, SLOT_PIN);
	a = (volatile uint64_t *)p;
	b = (volatile uint64_t *)(p + n->psz);
	if (n->id == 2) {
		a[0] = 0xa1;
		b[0] = 0xb1;
	}
	BARRIER("written");
	if (n->id == 1) {
		ASSERT_EQ(0xa1, a[0]);
		ASSERT_EQ(0xb1, b[0]);
		devs = ibv_get_device_list(&nd);
		ASSERT_TRUE(devs && nd) TH_LOG("no RDMA device on node1");
		ctx = ibv_open_device(devs[0]);
		ASSERT_NE(NULL, ctx);
		pd = ibv_alloc_pd(ctx);
		ASSERT_NE(NULL, pd);
		later.mr = ibv_reg_mr(pd, (void *)a, n->psz, IBV_ACCESS_REMOTE_READ);
		ASSERT_NE(NULL, later.mr) TH_LOG("MR of page A: %s", strerror(errno));
		mr_b = ibv_reg_mr(pd, (void *)b, n->psz, IBV_ACCESS_REMOTE_READ);
		ASSERT_NE(NULL, mr_b) TH_LOG("MR of page B: %s", strerror(errno));
		ASSERT_EQ(0, pthread_create(&th, NULL, unpin_later_fn, &later));
	}
	BARRIER("pinned");
	if (n->id == 2) {
		a[1] = 0xa2;
		b[1] = 0xb2;
		EXPECT_EQ(0xa2, a[1]);
		EXPECT_EQ(0xb2, b[1]);
	}
	BARRIER("taken");
	if (n->id == 1) {
		pthread_join(th, NULL);
		EXPECT_FALSE(pin_reported((const void *)a))
			TH_LOG("page A's pin went within the bound, yet was reported");
		EXPECT_TRUE(pin_reported((const void *)b))
			TH_LOG("page B's pin outlived the bound, and was not reported");
		EXPECT_EQ(0, ibv_dereg_mr(mr_b));
		EXPECT_EQ(0xa2, a[1]);
		EXPECT_EQ(0xb2, b[1]);
		EXPECT_EQ(0xb1, b[0]);
		ibv_dealloc_pd(pd);
		ibv_close_device(ctx);
		ibv_free_device_list(devs);
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

	TC_START(PAIR);
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

	TC_START(PAIR);
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

	TC_START(PAIR);
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

/* The home's sleep after a write grant's reply (kmod/inject.c; at most 1000). */
#define HOME_KNOB		"home_reply_delay_ms"
#define HOME_DELAY_MS		1000

/*
 * node1: store round R_HSTALE2's word into @w, then publish @key (the
 * store completed). node2: wait until @key is published, without touching
 * the page, within the barrier timeout.
 */
static void store_published(struct __test_metadata *_metadata,
			    FIXTURE_DATA(coherence) *self,
			    volatile uint64_t *w, const char *key)
{
	double deadline = tc_now() + self->s.timeout_s;
	char val[16];

	if (self->n.id == 1) {
		*w = pat((uintptr_t)w, R_HSTALE2);
		ASSERT_EQ(0, tc_put(&self->s, key, "1"))
			TH_LOG("node1: publishing '%s': %s", key, strerror(errno));
		return;
	}
	while (tc_get(&self->s, key, val, sizeof(val))) {
		ASSERT_LT(tc_now(), deadline)
			TH_LOG("node2: node1's '%s' not published within %d s",
			       key, self->s.timeout_s);
		usleep(500);
	}
}

/*
 * No stale read at a home that grants its page away. Three pages homed on
 * node2, which sets home_reply_delay_ms: it commits each write grant that
 * long after its reply went out, holding the page's DIR. node1 stores a
 * word into each page in turn and publishes each store once it completed;
 * node2's next read of that page after it saw the publication must return
 * node1's word:
 *   page 0: node2 wrote it (the owner, its copy mapped) and reads it
 *     through its mapping in a loop while node1 stores;
 *   page 1: node2 never touched it (node1's store claims the zero page at
 *     node2, which then holds a frame and no PTE): its first read faults;
 *   page 2: the same, read with a word load (TINYDSM_IOC_WORD).
 * Before the home retained its frame before answering (tdsm_write_owner()),
 * the frame stayed SHARED (page 0 mapped read-only) until the commit, after
 * the knob's sleep: node2 read its old word on page 0, and zero on pages 1
 * and 2 (a fault or a word load used the SHARED frame without asking
 * anyone, as conn_test's word_storm once saw), after node1's store had
 * completed. Now each of those reads waits for the transaction (bounded by
 * timeout_ms) and asks node1. Skips without the knob (no debugfs).
 */
TEST_F_TIMEOUT(coherence, pair_home_no_stale_read_after_grant, 150)
{
	unsigned int timeout_ms = tc_module_param("timeout_ms",
						  TC_DEFAULT_PEER_TIMEOUT_MS);
	unsigned int delay = HOME_DELAY_MS < timeout_ms / 3 ?
			     HOME_DELAY_MS : timeout_ms / 3;
	struct tinydsm_word wd = { .width = 8 };
	struct tc_node *n = &self->n;
	volatile uint64_t *w[3];
	uint64_t old_v, new_v, v;
	uint8_t *p;
	int i;

	TC_START(PAIR);
	if (!tc_inject_has(HOME_KNOB))
		SKIP(return, "no %s/%s (CONFIG_DEBUG_FS off, or debugfs not mounted)",
		     TC_INJECT_DIR, HOME_KNOB);
	p = shared_run(_metadata, self, "run", HOME, 3, SLOT_HOME_STALE);
	for (i = 0; i < 3; i++)
		w[i] = (volatile uint64_t *)(p + i * n->psz);
	old_v = pat((uintptr_t)w[0], R_HSTALE1);
	new_v = pat((uintptr_t)w[0], R_HSTALE2);
	if (n->id == HOME) {
		fill(p, n->psz, R_HSTALE1);
		EXPECT_EQ(0, check_info(_metadata, n, p, 1, TINYDSM_PAGE_EXCLUSIVE,
					HOME, TC_NODE(HOME), "home node2 after writing page 0"));
		self->injecting = HOME_KNOB;
		ASSERT_EQ(0, tc_inject_set(HOME_KNOB, delay))
			TH_LOG("node2: setting %s: %s", HOME_KNOB, strerror(errno));
	}
	BARRIER("written");

	/* Page 0: node2's mapped copy, read in a loop. */
	if (n->id == 1) {
		store_published(_metadata, self, w[0], "stored0");
	} else {
		read_until_stored(_metadata, self, w[0], 1, "stored0", old_v, new_v);
	}
	BARRIER("page0");

	/* Page 1: a frame at node2 and no PTE; its first read faults. */
	store_published(_metadata, self, w[1], "stored1");
	if (n->id == HOME) {
		v = *w[1];
		EXPECT_EQ(pat((uintptr_t)w[1], R_HSTALE2), v)
			TH_LOG("node2: its first read of page 1 after node1's store completed got round %d (0: the zero page it claimed): a stale read",
			       which_round((uintptr_t)w[1], v));
	}
	BARRIER("page1");

	/* Page 2: the same, with a word load. */
	store_published(_metadata, self, w[2], "stored2");
	if (n->id == HOME) {
		wd.addr = (uintptr_t)w[2];
		ASSERT_EQ(0, ioctl(n->fd, TINYDSM_IOC_WORD, &wd))
			TH_LOG("node2: word load of page 2: %s", strerror(errno));
		EXPECT_EQ(pat((uintptr_t)w[2], R_HSTALE2), wd.value)
			TH_LOG("node2: its word load of page 2 after node1's store completed got round %d (0: the zero page it claimed): a stale read",
			       which_round((uintptr_t)w[2], wd.value));
		EXPECT_EQ(0, tc_inject_set(HOME_KNOB, 0));
		self->injecting = NULL;
	}
	BARRIER("read");

	/* Every store is read on both nodes; node2 names node1 owner of all. */
	for (i = 0; i < 3; i++)
		EXPECT_EQ(pat((uintptr_t)w[i], R_HSTALE2), *w[i])
			TH_LOG("node%u: page %d", n->id, i);
	EXPECT_EQ(0, check_mem(_metadata, n, p + 8, n->psz - 8, R_HSTALE1,
			       "the rest of page 0, node2's"));
	BARRIER("reread");
	if (n->id == HOME)
		EXPECT_EQ(0, check_info(_metadata, n, p, 3, TINYDSM_PAGE_SHARED, 1,
					TC_NODE(1) | TC_NODE(2),
					"home node2 after both read node1's stores"));
}

/* Read the first word of each of @np pages at @p in the order @order gives. */
static void touch_pages(const struct tc_node *n, const uint8_t *p,
			unsigned long np, unsigned long (*order)(unsigned long))
{
	unsigned long k;

	for (k = 0; k < np; k++)
		(void)*(const volatile uint64_t *)(p + order(k) * n->psz);
}

static unsigned long in_order(unsigned long k)
{
	return k;
}

/*
 * A page order with no page right after the page before it, nor after
 * any of the 40 before that (37 * 45 = 1 mod 64): no stream to follow.
 */
static unsigned long scattered(unsigned long k)
{
	return (k * 37 + 5) % 64;
}

/*
 * Read-ahead (module parameter readahead_pages, default 15). node2 writes
 * 128 pages it homes; node1 reads them in order. Each page comes either
 * with its own remote fault or with the read-ahead of a fault before it,
 * never both: remote faults + pages read ahead = 128, and most came ahead.
 * The pages read ahead are read copies like any other: SHARED on node1,
 * in the home's copyset, with the right data; a write by the home
 * afterwards reaches node1 (pages 5 and 70, both read ahead). 64 more
 * pages read in a scattered order make no read-ahead (each its own remote
 * fault), nor do 64 read in order with readahead_pages=0. Between the
 * runs, 64 pages nobody touches: a window that goes past a run's end ends
 * there, as a home serves no page that was never touched (their first
 * fault claims them), so each run's counts are its own.
 */
TEST_F_TIMEOUT(coherence, pair_readahead, 200)
{
	struct tc_node *n = &self->n;
	struct tinydsm_stats st0, st1;
	const unsigned long np = 128, nr = 64;
	const size_t len = np * n->psz, rlen = nr * n->psz;
	uint8_t *p, *q, *o;
	long ra;

	TC_START(PAIR);
	p = shared_run(_metadata, self, "seq", HOME, np, SLOT_RA_SEQ);
	shared_run(_metadata, self, "gap1", HOME, 64, SLOT_RA_SEQ + np);
	q = shared_run(_metadata, self, "rand", HOME, nr, SLOT_RA_RAND);
	shared_run(_metadata, self, "gap2", HOME, 64, SLOT_RA_RAND + nr);
	o = shared_run(_metadata, self, "off", HOME, nr, SLOT_RA_OFF);
	if (n->id == HOME) {
		fill(p, len, R_RA1);
		fill(q, rlen, R_RA1);
		fill(o, rlen, R_RA1);
	}
	BARRIER("written");

	if (n->id == 1) {
		ra = tc_module_param("readahead_pages", 0);
		ASSERT_EQ(15, ra) TH_LOG("readahead_pages is not its default");
		ASSERT_EQ(0, tc_stats(n, &st0));
		EXPECT_EQ(0, check_mem(_metadata, n, p, len, R_RA1,
				       "node1 reading node2's pages in order"));
		ASSERT_EQ(0, tc_stats(n, &st1));
		TH_LOG("node1, %lu pages in order: %llu remote faults, %llu read-ahead batches, %llu pages read ahead",
		       np, (unsigned long long)(st1.remote_faults - st0.remote_faults),
		       (unsigned long long)(st1.readahead_batches - st0.readahead_batches),
		       (unsigned long long)(st1.readahead_pages - st0.readahead_pages));
		EXPECT_EQ(np, (st1.remote_faults - st0.remote_faults) +
			      (st1.readahead_pages - st0.readahead_pages))
			TH_LOG("a page fetched twice, or not at all");
		EXPECT_GE(st1.readahead_pages - st0.readahead_pages, np / 2);
		EXPECT_GE(st1.read_faults - st0.read_faults, np)
			TH_LOG("every page read ahead is still mapped by a fault");
		EXPECT_EQ(0, check_info(_metadata, n, p, np, TINYDSM_PAGE_SHARED,
					ANY, ANY, "node1 after reading in order"));
	}
	BARRIER("read");

	if (n->id == HOME) {
		EXPECT_EQ(0, check_info(_metadata, n, p, np, TINYDSM_PAGE_SHARED, HOME,
					TC_NODE(1) | TC_NODE(HOME),
					"home node2 after node1 read (ahead)"));
		fill(p + 5 * n->psz, n->psz, R_RA2);
		fill(p + 70 * n->psz, n->psz, R_RA2);
	}
	BARRIER("rewritten");

	if (n->id == 1) {
		EXPECT_EQ(0, check_mem(_metadata, n, p + 5 * n->psz, n->psz, R_RA2,
				       "node1: page 5, read ahead, after node2 wrote it"));
		EXPECT_EQ(0, check_mem(_metadata, n, p + 70 * n->psz, n->psz, R_RA2,
				       "node1: page 70, read ahead, after node2 wrote it"));
		EXPECT_EQ(0, check_mem(_metadata, n, p + 6 * n->psz, 64 * n->psz,
				       R_RA1, "node1: pages 6-69, untouched since"));

		ASSERT_EQ(0, tc_stats(n, &st0));
		touch_pages(n, q, nr, scattered);
		ASSERT_EQ(0, tc_stats(n, &st1));
		EXPECT_EQ(0, st1.readahead_batches - st0.readahead_batches)
			TH_LOG("read ahead of scattered reads");
		EXPECT_EQ(nr, st1.remote_faults - st0.remote_faults);
		EXPECT_EQ(0, check_mem(_metadata, n, q, rlen, R_RA1,
				       "node1 reading node2's pages scattered"));

		ASSERT_EQ(0, param_read("readahead_pages", self->readahead_was,
					sizeof(self->readahead_was)));
		ASSERT_EQ(0, param_write("readahead_pages", "0"))
			TH_LOG("readahead_pages=0: %s", strerror(errno));
		ASSERT_EQ(0, tc_stats(n, &st0));
		touch_pages(n, o, nr, in_order);
		ASSERT_EQ(0, tc_stats(n, &st1));
		EXPECT_EQ(0, param_write("readahead_pages", self->readahead_was));
		self->readahead_was[0] = '\0';
		EXPECT_EQ(0, st1.readahead_batches - st0.readahead_batches)
			TH_LOG("read ahead with readahead_pages=0");
		EXPECT_EQ(nr, st1.remote_faults - st0.remote_faults);
		EXPECT_EQ(0, check_mem(_metadata, n, o, rlen, R_RA1,
				       "node1 reading in order, read-ahead off"));
	}
	BARRIER("done");
}

TEST_HARNESS_MAIN
