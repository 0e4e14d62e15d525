// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm with a dead peer (2 lab nodes): a fault that needs a node that
 * does not answer ends in SIGBUS within a bounded time instead of a hang,
 * and the node goes on working with its own pages.
 *
 * node2 backs a page (ALLOC, home 2) and writes it, then takes its link
 * down (ip link set eth0 down: it stops answering, the 9p share that the
 * barriers use is not on that link). node1's first read of the page must
 * raise SIGBUS within 3 x timeout_ms (the module parameter; bound
 * overridable with TDSM_SIGBUS_BOUND_MS), and so must a second one; an
 * atomic on that page (TINYDSM_IOC_ATOMIC) and an ALLOC from node2 fail
 * (EHOSTUNREACH or ETIMEDOUT) within the same bound; node1's own pages
 * still read and write. node2 brings the link back up,
 * always (in the teardown too, and run_cluster_tests.sh does it again),
 * so that both nodes can unload the module at the end of the lab run.
 * Then both must reach each other again, with the data intact: node1
 * reads node2's page and node2 reads node1's pages, each retrying within
 * RECOVER_S. node2 never heard of the outage (its link was down, it sent
 * nothing), so its read is what finds its old connection dead; the test
 * ends only with a working connection, which the next test counts on.
 *
 * dead_home_mid_readahead: the same outage under a sequential read. node1
 * reads node2's pages in order until read-ahead has brought a window
 * (readahead_pages), node2 takes its link down, and node1's next page, the
 * one its stream asks for with a READV, must raise SIGBUS within the same
 * bound, and the page stay INVALID. Once the link is back, every page
 * reads as node2 wrote it.
 *
 * wait_wake_across_outage: node1 and node2 each have a task asleep in
 * TINYDSM_IOC_WAIT on a word homed on node2, node1's queued first; node2
 * takes its link down, changes the word and wakes every waiter. Its WAKE
 * ends within a call's bound although node1 does not answer, and its own
 * waiter wakes (a dead waiter's node holds nobody up); node1's waiter
 * ends with an error (ETIMEDOUT or EHOSTUNREACH), never a return of 0 (it
 * cannot see the word change), within a renewal interval and two calls'
 * bounds. Once the
 * link is back (node2 sent while it was down: its Soft-RoCE device is
 * re-created, selftests/lab/rxe_revive.sh), node1's WAIT finds the new
 * value (EAGAIN).
 *
 * TDSM_LINK_DEV names the link (default eth0). TDSM_FIXED_PAGES=1 (bring-up,
 * before ALLOC works) uses fixed pages instead of ALLOCed ones.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tdsm_cluster.h"

#define ROUND_REMOTE	0x11
#define ROUND_LOCAL	0x22
#define LOCAL_PAGES	4
#define FIXED_SLOT	256	/* TDSM_FIXED_PAGES=1: pages past the slice's middle */
#define RECOVER_S	60	/* after the link is back: both reach each other */
#define RA_PAGES	128	/* the sequential read's pages: two groups */

FIXTURE(peer) {
	struct tc_node n;
	struct tc_sync s;
	int ready;
	int link_down;		/* this node took its link down */
	char setup_err[256];
};

static const char *link_dev(void)
{
	const char *d = getenv("TDSM_LINK_DEV");

	return d && *d ? d : "eth0";
}

/* ip link set DEV up|down: 0, or the command's exit status (-1: not run). */
static int set_link(const char *updown)
{
	int status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execlp("ip", "ip", "link", "set", link_dev(), updown, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

FIXTURE_SETUP(peer)
{
	tc_sync_init(&self->s, "peer_failure", _metadata->name);
	TC_NODE_OPEN();
}

FIXTURE_TEARDOWN(peer)
{
	if (self->link_down && set_link("up"))
		TH_LOG("could not bring %s back up", link_dev());
	TC_MARK_FAILED();
	tc_node_close(&self->n);
}

static sigjmp_buf fault_jmp;
static void *volatile fault_addr;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	fault_addr = si->si_addr;
	siglongjmp(fault_jmp, sig);
}

/*
 * Read the word at @p, catching SIGBUS and SIGSEGV: 0 if the read worked
 * (*@val set), else the signal. *@ms: how long it took.
 */
static int try_read(const volatile uint64_t *p, uint64_t *val, double *ms)
{
	struct sigaction sa = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO };
	struct sigaction old_bus, old_segv;
	volatile double t0;
	volatile int sig;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old_bus);
	sigaction(SIGSEGV, &sa, &old_segv);
	fault_addr = NULL;
	t0 = tc_now();
	sig = sigsetjmp(fault_jmp, 1);
	if (!sig)
		*val = *p;
	*ms = (tc_now() - t0) * 1e3;
	sigaction(SIGBUS, &old_bus, NULL);
	sigaction(SIGSEGV, &old_segv, NULL);
	return sig;
}

static uint8_t *ptr_of(uint64_t addr)
{
	return (uint8_t *)(uintptr_t)addr;
}

/* The word at @addr in data round @round; round 0 is a zero page. */
static uint64_t pat(uint64_t addr, unsigned int round)
{
	return round ? addr ^ ((uint64_t)round << 56) : 0;
}

static void fill(uint8_t *p, size_t len, unsigned int round)
{
	volatile uint64_t *w = (volatile uint64_t *)p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = pat((uintptr_t)&w[i], round);
}

/* The number of words of [p, p + len) that do not hold @round's data. */
static size_t wrong_words(const uint8_t *p, size_t len, unsigned int round)
{
	const volatile uint64_t *w = (const volatile uint64_t *)p;
	size_t i, bad = 0;

	for (i = 0; i < len / 8; i++)
		bad += w[i] != pat((uintptr_t)&w[i], round);
	return bad;
}

/*
 * Read [p, p + len), a peer's pages, once its first word reads without a
 * signal (a reconnect may take a few tries), at most @secs: the number of
 * words that do not hold @round's data, or -1 if it never read. *@ms: how
 * long until it read.
 */
static long read_when_back(const uint8_t *p, size_t len, unsigned int round,
			   int secs, double *ms)
{
	double t0 = tc_now(), one;
	uint64_t val;

	while (try_read((const volatile uint64_t *)p, &val, &one)) {
		if (tc_now() - t0 > secs)
			return -1;
		usleep(200000);
	}
	*ms = (tc_now() - t0) * 1e3;
	return wrong_words(p, len, round);
}

/*
 * node2's side of an outage: take the link down at step "down". Then,
 * after node1's checks (step "checked", @wait_s), bring it back, and
 * read node1's pages (published as "local"), retrying: its old connection
 * is dead, and a read is what finds it so.
 */
static void node2_link_down(struct __test_metadata *_metadata,
			    FIXTURE_DATA(peer) *self)
{
	ASSERT_EQ(0, set_link("down"))
		TH_LOG("ip link set %s down failed", link_dev());
	self->link_down = 1;
	TH_LOG("node2: %s is down", link_dev());
	TC_BARRIER("down", self->s.timeout_s);
}

static void node2_link_back(struct __test_metadata *_metadata,
			    FIXTURE_DATA(peer) *self, int wait_s, bool revive)
{
	const char *tree = getenv("TDSM_TREE");
	struct tc_node *n = &self->n;
	char buf[64];
	double ms = 0;
	long bad;

	TC_BARRIER("checked", wait_s);
	EXPECT_EQ(0, set_link("up"))
		TH_LOG("ip link set %s up failed", link_dev());
	self->link_down = 0;
	/*
	 * A node that sent while its link was down (a request, a connection's
	 * teardown) may have lost Soft-RoCE's GSI QP, and with it every
	 * connection to or from it: re-create the device, as an operator on
	 * Soft-RoCE must (selftests/lab/rxe_revive.sh says why).
	 */
	if (revive)
		EXPECT_EQ(0, tc_shell("%s/selftests/lab/rxe_revive.sh %s",
				      tree ? tree : ".", link_dev()));
	TC_BARRIER("up", self->s.timeout_s);
	ASSERT_EQ(0, tc_get(&self->s, "local", buf, sizeof(buf)));
	bad = read_when_back(ptr_of(strtoull(buf, NULL, 0)),
			     LOCAL_PAGES * n->psz, ROUND_LOCAL, RECOVER_S, &ms);
	TH_LOG("node2: node1's pages read again after %.0f ms", ms);
	EXPECT_EQ(0, bad) TH_LOG("node2: node1's pages: %ld words wrong (-1: never read)",
				 bad);
}

TEST_F_TIMEOUT(peer, dead_peer_gives_sigbus_not_hang, 240)
{
	unsigned int timeout_ms = tc_module_param("timeout_ms",
						  TC_DEFAULT_PEER_TIMEOUT_MS);
	unsigned int bound_ms = tc_env_uint("TDSM_SIGBUS_BOUND_MS", 3 * timeout_ms);
	/* node2 waits for node1's checks: two faults, one ALLOC, margin */
	int wait_s = self->s.timeout_s + 3 * bound_ms / 1000;
	struct tc_node *n = &self->n;
	struct tinydsm_page_info pi;
	struct tinydsm_stats st;
	uint64_t remote = 0, local = 0, addr, val;
	char buf[64];
	double ms = 0;
	long bad;
	int sig, r;

	if (self->s.nodes != 2)
		SKIP(return, "needs 2 nodes, this run has %u (TDSM_NODES)",
		     self->s.nodes);
	ASSERT_TRUE(self->ready) TH_LOG("setup: %s", self->setup_err);
	TH_LOG("timeout_ms %u, SIGBUS bound %u ms", timeout_ms, bound_ms);

	if (tc_env_uint("TDSM_FIXED_PAGES", 0)) {	/* bring-up, no ALLOC */
		remote = tc_slice_start(n, 2) + (n->slice_pages / 2 + FIXED_SLOT) * n->psz;
		local = tc_slice_start(n, 1) + (n->slice_pages / 2 + FIXED_SLOT) * n->psz;
	} else if (n->id == 2) {
		ASSERT_EQ(0, tc_alloc(n, 2, 1, &remote))
			TH_LOG("ALLOC home 2: %s", strerror(errno));
	} else {
		ASSERT_EQ(0, tc_alloc(n, 1, LOCAL_PAGES, &local))
			TH_LOG("ALLOC home 1: %s", strerror(errno));
	}
	if (n->id == 2) {
		fill(ptr_of(remote), n->psz, ROUND_REMOTE);
		snprintf(buf, sizeof(buf), "%#llx", (unsigned long long)remote);
		ASSERT_EQ(0, tc_put(&self->s, "remote", buf));
	}
	TC_BARRIER("ready", self->s.timeout_s);

	if (n->id == 2) {
		node2_link_down(_metadata, self);
		/* Its own page is local: still fine without the link. */
		EXPECT_EQ(0, wrong_words(ptr_of(remote), n->psz, ROUND_REMOTE));
		node2_link_back(_metadata, self, wait_s, false);
		TC_BARRIER("recovered", RECOVER_S + self->s.timeout_s);
		return;
	}
	TC_BARRIER("down", self->s.timeout_s);

	ASSERT_EQ(0, tc_get(&self->s, "remote", buf, sizeof(buf)));
	remote = strtoull(buf, NULL, 0);
	ASSERT_EQ(2, tc_home_of(n, remote));

	/* The first read needs node2, which does not answer. */
	sig = try_read((const volatile uint64_t *)ptr_of(remote), &val, &ms);
	TH_LOG("node1: read of node2's page: %s after %.0f ms",
	       sig ? strsignal(sig) : "no signal", ms);
	EXPECT_EQ(SIGBUS, sig)
		TH_LOG("read %#llx (want SIGBUS)", (unsigned long long)val);
	if (sig)
		EXPECT_EQ((void *)ptr_of(remote), fault_addr);
	EXPECT_LT(ms, bound_ms);

	/* And again: the page is not left stuck half-way. */
	sig = try_read((const volatile uint64_t *)ptr_of(remote + 8), &val, &ms);
	TH_LOG("node1: second read: %s after %.0f ms",
	       sig ? strsignal(sig) : "no signal", ms);
	EXPECT_EQ(SIGBUS, sig);
	EXPECT_LT(ms, bound_ms);
	ASSERT_EQ(0, tc_page_info(n, ptr_of(remote), &pi));
	EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state)
		TH_LOG("no copy of a page that never arrived; state %s",
		       tc_state_name(pi.state));

	/*
	 * So does an atomic on it, which goes to the home (no page fault):
	 * an error within the bound, no signal. A fetch_or of 0, so that the
	 * page's data is the same whether or not the home ever did it.
	 */
	{
		struct tinydsm_atomic a = {
			.addr = remote + 16, .width = 8,
			.op = TINYDSM_ATOMIC_FETCH_OR,
		};

		ms = tc_now();
		r = ioctl(n->fd, TINYDSM_IOC_ATOMIC, &a);
		ms = (tc_now() - ms) * 1e3;
		TH_LOG("node1: atomic on node2's page: %s after %.0f ms",
		       r ? strerror(errno) : "succeeded", ms);
		EXPECT_EQ(-1, r);
		if (r)
			EXPECT_TRUE(errno == EHOSTUNREACH || errno == ETIMEDOUT)
				TH_LOG("errno %d (%s)", errno, strerror(errno));
		EXPECT_LT(ms, bound_ms);
	}

	/* Asking the dead home for pages fails, bounded too. */
	ms = tc_now();
	r = tc_alloc(n, 2, 1, &addr);
	ms = (tc_now() - ms) * 1e3;
	TH_LOG("node1: ALLOC from node2: %s after %.0f ms",
	       r ? strerror(errno) : "succeeded", ms);
	EXPECT_EQ(-1, r);
	if (r)
		EXPECT_TRUE(errno == EHOSTUNREACH || errno == ETIMEDOUT)
			TH_LOG("errno %d (%s)", errno, strerror(errno));
	EXPECT_LT(ms, bound_ms);

	/* Its own pages work: allocated ones and untouched ones. */
	fill(ptr_of(local), LOCAL_PAGES * n->psz, ROUND_LOCAL);
	EXPECT_EQ(0, wrong_words(ptr_of(local), LOCAL_PAGES * n->psz, ROUND_LOCAL));
	ASSERT_EQ(0, tc_page_info(n, ptr_of(local), &pi));
	EXPECT_EQ(TINYDSM_PAGE_EXCLUSIVE, pi.state);
	EXPECT_EQ(1, pi.owner);
	/* an untouched page of node1's slice, outside the run */
	addr = tc_slice_end(n, 1) - n->psz;
	if (addr >= local && addr < local + LOCAL_PAGES * n->psz)
		addr = tc_slice_start(n, 1);
	EXPECT_EQ(0, wrong_words(ptr_of(addr), n->psz, 0));
	fill(ptr_of(addr), n->psz, ROUND_LOCAL);
	EXPECT_EQ(0, wrong_words(ptr_of(addr), n->psz, ROUND_LOCAL));
	EXPECT_EQ(0, tc_stats(n, &st));
	snprintf(buf, sizeof(buf), "%#llx", (unsigned long long)local);
	ASSERT_EQ(0, tc_put(&self->s, "local", buf));
	TC_BARRIER("checked", wait_s);
	TC_BARRIER("up", self->s.timeout_s);

	/* The link is back: node2's page reads again, as it was. */
	bad = read_when_back(ptr_of(remote), n->psz, ROUND_REMOTE, RECOVER_S, &ms);
	TH_LOG("node1: node2's page reads again after %.0f ms", ms);
	EXPECT_EQ(0, bad) TH_LOG("node1: node2's page: %ld words wrong (-1: never read)",
				 bad);
	TC_BARRIER("recovered", RECOVER_S + self->s.timeout_s);
	if (!tc_env_uint("TDSM_FIXED_PAGES", 0))
		EXPECT_EQ(0, tc_free(n, local, LOCAL_PAGES))
			TH_LOG("FREE of a local run: %s", strerror(errno));
}

/*
 * The index of the first page of [p, p + npages) not here, from 1 on:
 * where a sequential read's stream goes on after a read-ahead. -1: none.
 */
static long first_absent(const struct tc_node *n, const uint8_t *p,
			 long npages)
{
	struct tinydsm_page_info pi;
	long i;

	for (i = 1; i < npages; i++) {
		if (tc_page_info(n, p + i * n->psz, &pi))
			return -1;
		if (pi.state == TINYDSM_PAGE_INVALID)
			return i;
	}
	return -1;
}

/*
 * node1's own run, filled and published as "local": what node2 reads
 * again once its link is back (node2_link_back()).
 */
static uint64_t publish_local(struct __test_metadata *_metadata,
			      FIXTURE_DATA(peer) *self)
{
	struct tc_node *n = &self->n;
	uint64_t local = 0;
	char buf[64];

	ASSERT_EQ(0, tc_alloc(n, 1, LOCAL_PAGES, &local))
		TH_LOG("ALLOC home 1: %s", strerror(errno));
	fill(ptr_of(local), LOCAL_PAGES * n->psz, ROUND_LOCAL);
	snprintf(buf, sizeof(buf), "%#llx", (unsigned long long)local);
	ASSERT_EQ(0, tc_put(&self->s, "local", buf));
	return local;
}

TEST_F_TIMEOUT(peer, dead_home_mid_readahead, 240)
{
	unsigned int timeout_ms = tc_module_param("timeout_ms",
						  TC_DEFAULT_PEER_TIMEOUT_MS);
	unsigned int bound_ms = tc_env_uint("TDSM_SIGBUS_BOUND_MS", 3 * timeout_ms);
	unsigned int ahead = tc_module_param("readahead_pages", 15);
	int wait_s = self->s.timeout_s + 2 * bound_ms / 1000;
	struct tc_node *n = &self->n;
	struct tinydsm_page_info pi;
	struct tinydsm_stats st0, st1;
	uint64_t remote = 0, local = 0, val;
	uint8_t *p;
	char buf[64];
	double ms = 0;
	long next, bad;
	int sig;

	if (self->s.nodes != 2)
		SKIP(return, "needs 2 nodes, this run has %u (TDSM_NODES)",
		     self->s.nodes);
	ASSERT_TRUE(self->ready) TH_LOG("setup: %s", self->setup_err);
	if (!ahead)
		SKIP(return, "readahead_pages=0: no read-ahead to fail under");
	if (n->id == 2) {
		ASSERT_EQ(0, tc_alloc(n, 2, RA_PAGES, &remote))
			TH_LOG("ALLOC home 2: %s", strerror(errno));
		fill(ptr_of(remote), RA_PAGES * n->psz, ROUND_REMOTE);
		snprintf(buf, sizeof(buf), "%#llx", (unsigned long long)remote);
		ASSERT_EQ(0, tc_put(&self->s, "remote", buf));
	} else {
		local = publish_local(_metadata, self);
	}
	TC_BARRIER("ready", self->s.timeout_s);

	if (n->id == 2) {
		TC_BARRIER("read", self->s.timeout_s);
		node2_link_down(_metadata, self);
		node2_link_back(_metadata, self, wait_s, false);
		TC_BARRIER("recovered", RECOVER_S + self->s.timeout_s);
		EXPECT_EQ(0, tc_free(n, remote, RA_PAGES));
		return;
	}

	ASSERT_EQ(0, tc_get(&self->s, "remote", buf, sizeof(buf)));
	remote = strtoull(buf, NULL, 0);
	p = ptr_of(remote);
	ASSERT_EQ(2, tc_home_of(n, remote));
	/* Pages 0 and 1 in order: the second continues a stream. */
	ASSERT_EQ(0, tc_stats(n, &st0));
	EXPECT_EQ(0, wrong_words(p, 2 * n->psz, ROUND_REMOTE));
	ASSERT_EQ(0, tc_stats(n, &st1));
	ASSERT_LT(st0.readahead_batches, st1.readahead_batches)
		TH_LOG("two pages read in order, no read-ahead (readahead_pages %u)",
		       ahead);
	next = first_absent(n, p, RA_PAGES);
	ASSERT_LT(2, next) TH_LOG("first page not read ahead: %ld", next);
	TH_LOG("node1: pages 1..%ld read ahead (readahead_pages %u)",
	       next - 1, ahead);
	/* The window, read: local faults, the stream's next page is next. */
	EXPECT_EQ(0, wrong_words(p + 2 * n->psz, (next - 2) * n->psz,
				 ROUND_REMOTE));
	TC_BARRIER("read", self->s.timeout_s);
	TC_BARRIER("down", self->s.timeout_s);

	ASSERT_EQ(0, tc_stats(n, &st0));
	sig = try_read((const volatile uint64_t *)(p + next * n->psz), &val, &ms);
	ASSERT_EQ(0, tc_stats(n, &st1));
	TH_LOG("node1: read of page %ld, node2's link down: %s after %.0f ms",
	       next, sig ? strsignal(sig) : "no signal", ms);
	EXPECT_EQ(SIGBUS, sig)
		TH_LOG("read %#llx (want SIGBUS)", (unsigned long long)val);
	if (sig)
		EXPECT_EQ((void *)(p + next * n->psz), fault_addr);
	EXPECT_LT(ms, bound_ms);
	EXPECT_EQ(st0.readahead_batches + 1, st1.readahead_batches)
		TH_LOG("the fault was not a read-ahead: its READV count %llu",
		       (unsigned long long)(st1.readahead_batches -
					    st0.readahead_batches));
	ASSERT_EQ(0, tc_page_info(n, p + next * n->psz, &pi));
	EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state)
		TH_LOG("no copy of a page that never arrived; state %s",
		       tc_state_name(pi.state));
	TC_BARRIER("checked", wait_s);
	TC_BARRIER("up", self->s.timeout_s);

	/* The link is back: every page reads as node2 wrote it. */
	bad = read_when_back(p + next * n->psz, (RA_PAGES - next) * n->psz,
			     ROUND_REMOTE, RECOVER_S, &ms);
	TH_LOG("node1: node2's pages read again after %.0f ms", ms);
	EXPECT_EQ(0, bad) TH_LOG("node1: pages %ld..: %ld words wrong (-1: never read)",
				 next, bad);
	EXPECT_EQ(0, wrong_words(p, next * n->psz, ROUND_REMOTE));
	TC_BARRIER("recovered", RECOVER_S + self->s.timeout_s);
	EXPECT_EQ(0, tc_free(n, local, LOCAL_PAGES))
		TH_LOG("FREE of a local run: %s", strerror(errno));
}

/* TINYDSM_IOC_WAIT with no timeout of its own: 0 or -errno. */
static int wait_word(const struct tc_node *n, uint64_t addr, uint64_t expected)
{
	struct tinydsm_wait w = { .addr = addr, .expected = expected, .width = 8 };

	return ioctl(n->fd, TINYDSM_IOC_WAIT, &w) ? -errno : 0;
}

/*
 * A child that waits on @addr while it holds @expected; if @again, waits
 * again after a return of 0 (at most 3 times, counted as spurious: the
 * word did not change for it), as a futex's caller does. It writes
 * "<errno> <spurious> <ms>" to the returned pipe's read end.
 */
static int start_waiter(const struct tc_node *n, uint64_t addr,
			uint64_t expected, bool again, pid_t *pid)
{
	int fd[2];

	if (pipe(fd))
		return -1;
	fflush(stdout);
	fflush(stderr);
	*pid = fork();
	if (*pid < 0)
		return -1;
	if (*pid == 0) {
		double t0 = tc_now();
		int r, spurious = 0;
		char line[64];

		close(fd[0]);
		while ((r = wait_word(n, addr, expected)) == 0 && again &&
		       spurious < 3)
			spurious++;
		snprintf(line, sizeof(line), "%d %d %.0f\n", -r, spurious,
			 (tc_now() - t0) * 1e3);
		if (write(fd[1], line, strlen(line)) < 0)
			_exit(2);
		_exit(0);
	}
	close(fd[1]);
	return fd[0];
}

/* A waiter's result, reaped: 0 once read (its errno, spurious, ms). */
static int waiter_result(int fd, pid_t pid, int *err, int *spurious,
			 double *ms)
{
	char line[64] = "";
	ssize_t got = read(fd, line, sizeof(line) - 1);

	close(fd);
	waitpid(pid, NULL, 0);
	return got > 0 && sscanf(line, "%d %d %lf", err, spurious, ms) == 3 ?
	       0 : -1;
}

TEST_F_TIMEOUT(peer, wait_wake_across_outage, 240)
{
	unsigned int timeout_ms = tc_module_param("timeout_ms",
						  TC_DEFAULT_PEER_TIMEOUT_MS);
	unsigned int renew_ms = tc_module_param("wait_renew_ms", 0);
	unsigned int wait_bound_ms, wake_bound_ms = 2 * timeout_ms + 1000;
	struct tc_node *n = &self->n;
	struct tinydsm_wake wk = { .width = 8, .count = INT32_MAX };
	uint64_t remote = 0, local = 0, *word;
	int fd = -1, err = -1, spurious = -1, r, wait_s;
	double ms = -1, t0;
	pid_t kid;
	char buf[64];

	if (!renew_ms)
		renew_ms = timeout_ms * 2 > 1000 ? timeout_ms * 2 : 1000;
	/* a renewal and two calls' bounds (the WAIT's, a reconnect's), margin */
	wait_bound_ms = renew_ms + 4 * timeout_ms + 2000;
	wait_s = self->s.timeout_s + 2 * wait_bound_ms / 1000;
	if (self->s.nodes != 2)
		SKIP(return, "needs 2 nodes, this run has %u (TDSM_NODES)",
		     self->s.nodes);
	ASSERT_TRUE(self->ready) TH_LOG("setup: %s", self->setup_err);
	if (n->id == 2) {
		ASSERT_EQ(0, tc_alloc(n, 2, 1, &remote))
			TH_LOG("ALLOC home 2: %s", strerror(errno));
		*(volatile uint64_t *)ptr_of(remote) = 7;
		snprintf(buf, sizeof(buf), "%#llx", (unsigned long long)remote);
		ASSERT_EQ(0, tc_put(&self->s, "remote", buf));
	} else {
		local = publish_local(_metadata, self);
	}
	TC_BARRIER("ready", self->s.timeout_s);
	ASSERT_EQ(0, tc_get(&self->s, "remote", buf, sizeof(buf)));
	remote = strtoull(buf, NULL, 0);
	word = (uint64_t *)ptr_of(remote);
	wk.addr = remote;

	/* node1's waiter first, then node2's, each queued for a while. */
	if (n->id == 1) {
		fd = start_waiter(n, remote, 7, true, &kid);
		ASSERT_LE(0, fd);
		usleep(500000);
	}
	TC_BARRIER("queued1", self->s.timeout_s);
	if (n->id == 2) {
		fd = start_waiter(n, remote, 7, false, &kid);
		ASSERT_LE(0, fd);
		usleep(500000);
	}
	TC_BARRIER("queued2", self->s.timeout_s);

	if (n->id == 2) {
		node2_link_down(_metadata, self);
		*(volatile uint64_t *)word = 8;
		t0 = tc_now();
		r = ioctl(n->fd, TINYDSM_IOC_WAKE, &wk);
		ms = (tc_now() - t0) * 1e3;
		TH_LOG("node2: WAKE with node1 unreachable: %s, %u woken, after %.0f ms (bound %u)",
		       r ? strerror(errno) : "ok", wk.woken, ms, wake_bound_ms);
		EXPECT_EQ(0, r);
		EXPECT_LE(1, wk.woken);
		EXPECT_LT(ms, wake_bound_ms);
		ASSERT_EQ(0, waiter_result(fd, kid, &err, &spurious, &ms));
		TH_LOG("node2: its own waiter: %s after %.0f ms",
		       err ? strerror(err) : "woken", ms);
		EXPECT_EQ(0, err);
		node2_link_back(_metadata, self, wait_s, true);
		TC_BARRIER("recovered", RECOVER_S + self->s.timeout_s);
		EXPECT_EQ(0, tc_free(n, remote, 1));
		return;
	}
	TC_BARRIER("down", self->s.timeout_s);
	t0 = tc_now();
	ASSERT_EQ(0, waiter_result(fd, kid, &err, &spurious, &ms));
	ms = (tc_now() - t0) * 1e3;
	TH_LOG("node1: its waiter on node2's word: %s, %d spurious wake-ups, %.0f ms after the outage began (bound %u)",
	       err ? strerror(err) : "woken", spurious, ms, wait_bound_ms);
	EXPECT_TRUE(err == ETIMEDOUT || err == EHOSTUNREACH)
		TH_LOG("errno %d (%s)", err, strerror(err));
	EXPECT_EQ(0, spurious);
	EXPECT_LT(ms, wait_bound_ms);
	TC_BARRIER("checked", wait_s);
	TC_BARRIER("up", self->s.timeout_s);

	/* Back: the home's word is the new one. */
	t0 = tc_now();
	do {
		r = wait_word(n, remote, 7);
		if (r == -EAGAIN)
			break;
		usleep(200000);
	} while (tc_now() - t0 < RECOVER_S);
	EXPECT_EQ(-EAGAIN, r) TH_LOG("WAIT once node2 is back: %s", strerror(-r));
	TC_BARRIER("recovered", RECOVER_S + self->s.timeout_s);
	EXPECT_EQ(0, tc_free(n, local, LOCAL_PAGES))
		TH_LOG("FREE of a local run: %s", strerror(errno));
}

TEST_HARNESS_MAIN
