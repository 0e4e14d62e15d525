// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm's connections under stress (2 lab nodes): what must not tear a
 * connection down, what must not hang, and what must come back.
 *
 *   kill_mid_fault  node1 SIGKILLs processes in the middle of faults on
 *                   pages homed on node2 (node2 keeps taking them back),
 *                   while a bystander process faults on the same pages.
 *                   The bystander never gets SIGBUS, the connection never
 *                   goes down (no "node N: disconnected" in either kernel
 *                   log), and afterwards every page reads its last written
 *                   value on both nodes.
 *   lossy_link      node1 drops 5% of its own packets (netem loss, which
 *                   Soft-RoCE does not notice: it retransmits) while four
 *                   of its processes fault on pages homed on node2, which
 *                   keeps taking them back: so requests carrying a buffer
 *                   are sent behind ones not yet acknowledged, and are
 *                   retransmitted. node1 must have retransmitted (its rxe
 *                   counters say so), no fault gets SIGBUS, the connection
 *                   never goes down, and every page reads right on both.
 *   word_storm      node1 owns a page homed on node2 and delays its own
 *                   packets by 4 s (netem, longer than timeout_ms) while
 *                   300 threads store to the page with TINYDSM_IOC_WORD
 *                   and 100 threads on node2 store to it too. Every access
 *                   ends within a bound; once the delay is gone, the nodes
 *                   reconnect and both read the same value.
 *   link_flap       node2 drops every packet for 6 s (tc), then takes
 *                   eth0 down and up a few times, while node1 (the side
 *                   that connects) keeps faulting and node2 keeps writing
 *                   (so that requests are in flight, and time out, at
 *                   every flap), so the link goes away during reconnects.
 *                   After each flap node2 re-creates its rxe device, which
 *                   rxe leaves unable to connect (rxe_revive.sh: an rxe
 *                   defect, not one of ours). Then both nodes
 *                   reconnect; node1 writes every page before it reads
 *                   any (it dropped its read copies when the connection
 *                   went down), and every page reads right on both.
 *   del_add_loop    both nodes delete and add each other (tinydsmctl node
 *                   del/add) in a loop while node1 faults; then the same
 *                   checks as link_flap.
 *   device_removal  node1 deletes its RDMA device (rdma link delete rxe0)
 *                   while it faults, twice: the removal must finish
 *                   within a bound (the module releases every connection
 *                   and buffer on it); with the device back, the nodes
 *                   reconnect and every page reads right.
 *   slow_registration
 *                   node1's registration QP answers late: with the knob
 *                   local_op_late_ms (1000 ms) and timeout_ms 300, the
 *                   REG_MR of a fault's buffer completes after its
 *                   waiter's bound. The waiter must kill the connection
 *                   ('disconnected (-110' in node1's log), the fault end
 *                   within a bound (data or SIGBUS, never a hang), and,
 *                   with the knob off again, the nodes reconnect and every
 *                   page reads right. Skips without debugfs.
 *   proof_lost      node1 drops node2's next proof of the cluster key (the
 *                   knob drop_proofs), node2 the CM disconnect requests
 *                   that reach it (a tc filter), then node1 deletes and
 *                   adds node2: node1's proof exchange times out and
 *                   gives the new connection up, while node2, which had
 *                   node1's proof, made it UP and hears of no disconnect
 *                   (its probe must find out).
 *                   Within a bound node2 must answer node1 again (word
 *                   loads), and every page reads right on both. Skips
 *                   without debugfs.
 *
 * The kernel logs are checked by the lab (KASAN, lockdep, WARN, hangs).
 * TDSM_CONN_TESTS="word_storm ..." runs only those tests (the others skip).
 * TDSM_FLAPS (4) and TDSM_BLACKOUT_S (6) size link_flap; TDSM_LOSSY_S (10)
 * and TDSM_LOSS_PCT (5) size lossy_link.
 * TDSM_LINK_DEV names the link (default eth0).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tdsm_cluster.h"

#define NPAGES		16
#define W_NODE2		0	/* word node2 writes on each page */
#define W_KILLED	1	/* word node1's killed children write */
#define W_FINAL1	2	/* node1's final word */
#define W_FINAL2	3	/* node2's final word */
#define FINAL1		0x1111111111111111ull
#define FINAL2		0x2222222222222222ull
#define STORM_THREADS	300
#define HOME_THREADS	100

FIXTURE(conn) {
	struct tc_node n;
	struct tc_sync s;
	int ready;
	int netem;		/* this node added a netem qdisc */
	int link_down;		/* this node took its link down */
	int blackout;		/* this node drops every packet (tc clsact) */
	unsigned int timeout_ms;	/* set lower by this test: put back */
	int late;		/* this node set local_op_late_ms */
	int proofs;		/* this node set drop_proofs */
	int dreq;		/* this node drops DREQs that reach it (tc) */
	char setup_err[256];
};

/* Is test @name selected by TDSM_CONN_TESTS (all if unset)? */
static int selected(const char *name)
{
	const char *list = getenv("TDSM_CONN_TESTS");
	size_t len = strlen(name);
	const char *p;

	if (!list || !*list)
		return 1;
	for (p = strstr(list, name); p; p = strstr(p + 1, name))
		if ((p == list || p[-1] == ' ') && (!p[len] || p[len] == ' '))
			return 1;
	return 0;
}

#define SELECTED() do {							\
	if (!selected(_metadata->name))					\
		SKIP(return, "not in TDSM_CONN_TESTS");			\
} while (0)

#define LATE_KNOB	"local_op_late_ms"
#define PROOF_KNOB	"drop_proofs"

static int blackout(int on);
static int link_up_revive(void);
static int drop_dreq(int on);

/*
 * fork() for a test's helper process, which dies with the test: a test that
 * stops at a failed assertion does not kill its children itself, and one
 * left running would keep the lab's output open, so the lab would hang.
 */
static pid_t fork_kid(void)
{
	pid_t pid = fork();

	if (!pid)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	return pid;
}

FIXTURE_SETUP(conn)
{
	tc_sync_init(&self->s, "conn", _metadata->name);
	TC_NODE_OPEN();
}

FIXTURE_TEARDOWN(conn)
{
	if (self->netem)
		tc_shell("tc qdisc del dev %s root 2>/dev/null", tc_link_dev());
	if (self->blackout)
		blackout(0);
	if (self->link_down)
		link_up_revive();
	if (self->late)
		tc_inject_set(LATE_KNOB, 0);
	if (self->proofs)
		tc_inject_set(PROOF_KNOB, 0);
	if (self->dreq)
		drop_dreq(0);
	if (self->timeout_ms)
		tc_module_param_set("timeout_ms", self->timeout_ms);
	TC_MARK_FAILED();
	tc_node_close(&self->n);
}

#define BARRIER(step) TC_BARRIER(step, self->s.timeout_s)

static volatile uint64_t *word_at(uint64_t page, long psz, unsigned int w)
{
	(void)psz;
	return (volatile uint64_t *)(uintptr_t)(page + 8 * w);
}

static sigjmp_buf fault_jmp;

static void on_bus(int sig)
{
	siglongjmp(fault_jmp, sig);
}

/* Read the word at @p, catching SIGBUS: 0 and *@val, or the signal. */
static int try_read(volatile uint64_t *p, uint64_t *val)
{
	struct sigaction sa = { .sa_handler = on_bus }, old;
	volatile int sig;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old);
	sig = sigsetjmp(fault_jmp, 1);
	if (!sig)
		*val = *p;
	sigaction(SIGBUS, &old, NULL);
	return sig;
}

static int try_write(volatile uint64_t *p, uint64_t val)
{
	struct sigaction sa = { .sa_handler = on_bus }, old;
	volatile int sig;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old);
	sig = sigsetjmp(fault_jmp, 1);
	if (!sig)
		*p = val;
	sigaction(SIGBUS, &old, NULL);
	return sig;
}

/* node2 ALLOCs NPAGES pages homed on it; every node gets the address. */
static int shared_run(struct __test_metadata *_metadata,
		      FIXTURE_DATA(conn) *self, uint64_t *addr)
{
	char val[64];

	if (self->n.id == 2) {
		if (tc_alloc(&self->n, 2, NPAGES, addr)) {
			TH_LOG("ALLOC %u pages: %s", NPAGES, strerror(errno));
			return -1;
		}
		snprintf(val, sizeof(val), "%#llx", (unsigned long long)*addr);
		if (tc_put(&self->s, "run", val))
			return -1;
	}
	{
		char err[256];

		if (tc_barrier(&self->s, "run", TC_ALL, self->s.timeout_s,
			       err, sizeof(err))) {
			TH_LOG("barrier run: %s", err);
			return -1;
		}
	}
	if (tc_get(&self->s, "run", val, sizeof(val)))
		return -1;
	*addr = strtoull(val, NULL, 0);
	return 0;
}

/* Read word @w of every page until it works (reconnect), at most @secs. */
static int wait_readable(uint64_t addr, long psz, unsigned int w, int secs)
{
	double end = tc_now() + secs;
	uint64_t v;
	int i;

	for (;;) {
		for (i = 0; i < NPAGES; i++)
			if (try_read(word_at(addr + i * psz, psz, w), &v))
				break;
		if (i == NPAGES)
			return 0;
		if (tc_now() > end)
			return -1;
		usleep(200000);
	}
}

static int word_load(int fd, uint64_t addr, uint64_t *v);

/* Wait until a word load of @addr works (the home answers), at most @secs. */
static int wait_home(int fd, uint64_t addr, int secs)
{
	double end = tc_now() + secs;
	uint64_t v;

	while (word_load(fd, addr, &v)) {
		if (tc_now() > end)
			return -1;
		usleep(200000);
	}
	return 0;
}

/*
 * The common end of a test: node1 writes FINAL1, then node2 writes FINAL2
 * into every page; both read both back, and node2's word @node2_val. Every
 * access must work. @write_first: node1 writes before it reads anything
 * (its read copies were dropped when the connection went down, while the
 * home still counts it as a holder).
 */
static void final_check(struct __test_metadata *_metadata,
			FIXTURE_DATA(conn) *self, uint64_t addr,
			uint64_t node2_val, int write_first)
{
	struct tc_node *n = &self->n;
	unsigned int bad = 0;
	uint64_t v;
	int i;

	if (write_first && n->id == 1) {
		ASSERT_EQ(0, wait_home(n->fd, addr, 60))
			TH_LOG("node1: node2 did not answer word loads");
	} else {
		ASSERT_EQ(0, wait_readable(addr, n->psz, W_NODE2, 60))
			TH_LOG("node%u: the pages of node2 did not become readable",
			       n->id);
	}
	BARRIER("readable");
	if (n->id == 1)
		for (i = 0; i < NPAGES; i++)
			bad += !!try_write(word_at(addr + i * n->psz, n->psz,
						   W_FINAL1), FINAL1);
	EXPECT_EQ(0, bad) TH_LOG("node1: %u final writes got SIGBUS", bad);
	BARRIER("final1");
	if (n->id == 2)
		for (i = 0; i < NPAGES; i++)
			bad += !!try_write(word_at(addr + i * n->psz, n->psz,
						   W_FINAL2), FINAL2);
	EXPECT_EQ(0, bad) TH_LOG("node2: %u final writes got SIGBUS", bad);
	BARRIER("final2");
	for (i = 0; i < NPAGES; i++) {
		uint64_t page = addr + i * n->psz;

		if (try_read(word_at(page, n->psz, W_FINAL1), &v) || v != FINAL1)
			bad++;
		if (try_read(word_at(page, n->psz, W_FINAL2), &v) || v != FINAL2)
			bad++;
		if (node2_val &&
		    (try_read(word_at(page, n->psz, W_NODE2), &v) || v != node2_val))
			bad++;
	}
	EXPECT_EQ(0, bad) TH_LOG("node%u: %u final words read wrong or SIGBUS",
				 n->id, bad);
	BARRIER("checked");
}

/*
 * node2's part of a storm: keep taking the pages back (so that node1
 * keeps faulting) until node1 says "stormed", then publish the last value
 * written as "last".
 */
static void take_back(struct __test_metadata *_metadata,
		      FIXTURE_DATA(conn) *self, uint64_t addr)
{
	struct tc_node *n = &self->n;
	uint64_t last = 0;
	char buf[64];
	int i;

	while (tc_get(&self->s, "stormed", buf, sizeof(buf))) {
		last++;
		for (i = 0; i < NPAGES; i++)
			*word_at(addr + i * n->psz, n->psz, W_NODE2) = last;
		usleep(2000);
	}
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)last);
	ASSERT_EQ(0, tc_put(&self->s, "last", buf));
}

/*
 * The end of a storm, on both nodes: every page reads node2's last value,
 * the final writes of both read back (final_check()), and the kernel log
 * shows no more "disconnected" than @down0 (else @why).
 */
static void storm_end(struct __test_metadata *_metadata,
		      FIXTURE_DATA(conn) *self, uint64_t addr, int down0,
		      const char *why)
{
	struct tc_node *n = &self->n;
	uint64_t last, v;
	char buf[64];
	int i, down1;

	TC_BARRIER("storm", self->s.timeout_s + 60);
	ASSERT_EQ(0, tc_get(&self->s, "last", buf, sizeof(buf)));
	last = strtoull(buf, NULL, 0);
	for (i = 0; i < NPAGES; i++) {
		int sig = try_read(word_at(addr + i * n->psz, n->psz, W_NODE2), &v);

		EXPECT_EQ(0, sig) TH_LOG("node%u: page %d: SIGBUS", n->id, i);
		if (!sig)
			EXPECT_EQ(last, v) TH_LOG("node%u: page %d reads %llu, want %llu",
						  n->id, i, (unsigned long long)v,
						  (unsigned long long)last);
	}
	final_check(_metadata, self, addr, last, 0);
	down1 = klog_count("disconnected");
	TH_LOG("node%u: 'disconnected' in the kernel log: %d before, %d after",
	       n->id, down0, down1);
	EXPECT_EQ(down0, down1) TH_LOG("%s", why);
}

/* A child of kill_mid_fault: fault on random pages until killed. */
static void faulter(uint64_t addr, long psz, unsigned int seed)
{
	uint64_t v;

	for (;;) {
		unsigned int i = rand_r(&seed) % NPAGES;
		uint64_t page = addr + i * psz;

		if (rand_r(&seed) & 1)
			try_read(word_at(page, psz, W_NODE2), &v);
		else
			try_write(word_at(page, psz, W_KILLED), seed);
	}
}

static volatile sig_atomic_t bystander_stop;
static void on_term(int sig)
{
	(void)sig;
	bystander_stop = 1;
}

/* The bystander: reads every page in turn, reports its SIGBUS count. */
static void bystander(uint64_t addr, long psz, int fd)
{
	unsigned int sigbus = 0, reads = 0;
	uint64_t v;
	int i;

	signal(SIGTERM, on_term);
	while (!bystander_stop) {
		for (i = 0; i < NPAGES && !bystander_stop; i++) {
			sigbus += !!try_read(word_at(addr + i * psz, psz,
						     W_NODE2), &v);
			reads++;
		}
	}
	dprintf(fd, "%u %u\n", sigbus, reads);
	_exit(0);
}

TEST_F_TIMEOUT(conn, kill_mid_fault, 300)
{
	struct tc_node *n = &self->n;
	unsigned int rounds = tc_env_uint("TDSM_KILL_ROUNDS", 40), r, k;
	unsigned int seed = 1234 + n->id, sigbus = ~0u, reads = 0;
	int down0, pfd[2];
	uint64_t addr;
	char buf[64];
	pid_t by, kids[4];
	int i;

	SELECTED();
	if (self->s.nodes != 2)
		SKIP(return, "needs 2 nodes, this run has %u", self->s.nodes);
	ASSERT_TRUE(self->ready) TH_LOG("setup: %s", self->setup_err);
	down0 = klog_count("disconnected");
	ASSERT_EQ(0, shared_run(_metadata, self, &addr));
	if (n->id == 2)
		for (i = 0; i < NPAGES; i++)
			*word_at(addr + i * n->psz, n->psz, W_NODE2) = 1;
	BARRIER("filled");

	if (n->id == 2) {
		take_back(_metadata, self, addr);
	} else {
		ASSERT_EQ(0, pipe(pfd));
		by = fork_kid();
		ASSERT_LE(0, by);
		if (!by) {
			close(pfd[0]);
			bystander(addr, n->psz, pfd[1]);
		}
		close(pfd[1]);
		for (r = 0; r < rounds; r++) {
			for (k = 0; k < 4; k++) {
				kids[k] = fork_kid();
				if (!kids[k])
					faulter(addr, n->psz, seed + 77 * r + k);
			}
			usleep(20000 + rand_r(&seed) % 80000);
			for (k = 0; k < 4; k++)
				if (kids[k] > 0)
					kill(kids[k], SIGKILL);
			for (k = 0; k < 4; k++)
				if (kids[k] > 0)
					waitpid(kids[k], NULL, 0);
		}
		kill(by, SIGTERM);
		waitpid(by, NULL, 0);
		memset(buf, 0, sizeof(buf));
		if (read(pfd[0], buf, sizeof(buf) - 1) > 0)
			sscanf(buf, "%u %u", &sigbus, &reads);
		close(pfd[0]);
		TH_LOG("node1: %u rounds of kills; bystander: %u reads, %u SIGBUS",
		       rounds, reads, sigbus);
		EXPECT_EQ(0, sigbus);
		ASSERT_EQ(0, tc_put(&self->s, "stormed", "1"));
	}
	storm_end(_metadata, self, addr, down0, "a kill tore the connection down");
}

/*
 * Soft-RoCE's counter @name, summed over this node's links (rdma
 * statistic); -1 if there is none.
 */
static long long rxe_counter(const char *name)
{
	FILE *f = popen("rdma statistic show 2>/dev/null", "r");
	char tok[128], prev[128] = "";
	long long sum = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%127s", tok) == 1) {
		if (!strcmp(prev, name))
			sum = (sum < 0 ? 0 : sum) + atoll(tok);
		snprintf(prev, sizeof(prev), "%s", tok);
	}
	pclose(f);
	return sum;
}

/* Requests this node sent again (timeout or NAK), by rxe's counters. */
static long long rxe_resends(void)
{
	long long retry = rxe_counter("completer_retry_err");
	long long nak = rxe_counter("rcvd_seq_err");

	return retry < 0 || nak < 0 ? -1 : retry + nak;
}

/*
 * A child of lossy_link: fault on random pages for @secs, then write
 * "SIGBUS-count accesses" to @fd.
 */
static void lossy_faulter(uint64_t addr, long psz, unsigned int seed,
			  unsigned int secs, int fd)
{
	double end = tc_now() + secs;
	unsigned int sigbus = 0, ops = 0;
	uint64_t v;

	while (tc_now() < end) {
		unsigned int i = rand_r(&seed) % NPAGES;
		uint64_t page = addr + i * psz;

		if (rand_r(&seed) & 1)
			sigbus += !!try_read(word_at(page, psz, W_NODE2), &v);
		else
			sigbus += !!try_write(word_at(page, psz, W_KILLED), seed);
		ops++;
	}
	dprintf(fd, "%u %u\n", sigbus, ops);
	_exit(0);
}

/*
 * The storm lasts TDSM_LOSSY_S, 10 s. In 20 s node1 sent 343 requests
 * again on the stock kernel and 96 on the debug one (the lab's runs),
 * where the check needs one: half the time still sends dozens again,
 * behind requests not yet acknowledged, on the same paths. It was 20 s,
 * 10 s more on each kernel.
 */
TEST_F_TIMEOUT(conn, lossy_link, 300)
{
	unsigned int secs = tc_env_uint("TDSM_LOSSY_S", 10);
	unsigned int pct = tc_env_uint("TDSM_LOSS_PCT", 5);
	unsigned int k, sigbus = 0, ops = 0, s1, o1, seed = 99;
	struct tc_node *n = &self->n;
	long long resends0, resends1;
	int down0, pfd[2];
	uint64_t addr;
	char out[256] = "", *line;
	ssize_t got = 0, r;
	pid_t kids[4];
	int i;

	SELECTED();
	if (self->s.nodes != 2)
		SKIP(return, "needs 2 nodes, this run has %u", self->s.nodes);
	ASSERT_TRUE(self->ready) TH_LOG("setup: %s", self->setup_err);
	down0 = klog_count("disconnected");
	resends0 = rxe_resends();
	ASSERT_LE(0, resends0) TH_LOG("node%u: no rxe counters (rdma statistic)",
				      n->id);
	ASSERT_EQ(0, shared_run(_metadata, self, &addr));
	if (n->id == 2)
		for (i = 0; i < NPAGES; i++)
			*word_at(addr + i * n->psz, n->psz, W_NODE2) = 1;
	BARRIER("filled");
	if (n->id == 1) {
		tc_shell("modprobe sch_netem 2>/dev/null");
		ASSERT_EQ(0, tc_shell("tc qdisc add dev %s root netem loss %u%%",
				      tc_link_dev(), pct))
			TH_LOG("tc netem: see the output");
		self->netem = 1;
	}
	BARRIER("lossy");

	if (n->id == 2) {
		take_back(_metadata, self, addr);
	} else {
		ASSERT_EQ(0, pipe(pfd));
		for (k = 0; k < 4; k++) {
			kids[k] = fork_kid();
			ASSERT_LE(0, kids[k]);
			if (!kids[k]) {
				close(pfd[0]);
				lossy_faulter(addr, n->psz, seed + k, secs, pfd[1]);
			}
		}
		close(pfd[1]);
		for (k = 0; k < 4; k++)
			waitpid(kids[k], NULL, 0);
		while (got < (ssize_t)sizeof(out) - 1 &&
		       (r = read(pfd[0], out + got, sizeof(out) - 1 - got)) > 0)
			got += r;
		close(pfd[0]);
		for (line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
			if (sscanf(line, "%u %u", &s1, &o1) == 2) {
				sigbus += s1;
				ops += o1;
			}
		ASSERT_EQ(0, tc_shell("tc qdisc del dev %s root", tc_link_dev()));
		self->netem = 0;
		resends1 = rxe_resends();
		TH_LOG("node1: %u%% loss for %u s: %u accesses, %u SIGBUS, %lld requests sent again",
		       pct, secs, ops, sigbus, resends1 - resends0);
		EXPECT_LT(0, ops);
		EXPECT_EQ(0, sigbus);
		EXPECT_LT(resends0, resends1)
			TH_LOG("nothing was sent again: the loss did not happen");
		ASSERT_EQ(0, tc_put(&self->s, "stormed", "1"));
	}
	storm_end(_metadata, self, addr, down0, "a lost packet tore the connection down");
}

struct storm_arg {
	int fd;
	uint64_t addr;
	int store;
	uint64_t value;
	int err;
	double secs;
};

static void *storm_thread(void *p)
{
	struct storm_arg *a = p;
	struct tinydsm_word w = {
		.addr = a->addr,
		.width = 8,
		.flags = a->store ? TINYDSM_WORD_F_STORE : 0,
		.value = a->value,
	};
	double t0 = tc_now();

	a->err = ioctl(a->fd, TINYDSM_IOC_WORD, &w) ? errno : 0;
	a->secs = tc_now() - t0;
	return NULL;
}

/* @n threads of one WORD access each; returns the slowest, in seconds. */
static double storm(int fd, uint64_t addr, int store, int n, int *failed)
{
	struct storm_arg *a = calloc(n, sizeof(*a));
	pthread_t *t = calloc(n, sizeof(*t));
	double worst = 0;
	int i, started = 0;

	*failed = 0;
	if (!a || !t) {
		free(a);
		free(t);
		return 1e9;
	}
	for (i = 0; i < n; i++) {
		a[i] = (struct storm_arg){ .fd = fd, .addr = addr, .store = store,
					   .value = 1000 + i };
		if (pthread_create(&t[i], NULL, storm_thread, &a[i]))
			break;
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		if (a[i].secs > worst)
			worst = a[i].secs;
		*failed += a[i].err != 0;
	}
	free(a);
	free(t);
	return started == n ? worst : 1e9;
}

static int word_load(int fd, uint64_t addr, uint64_t *v)
{
	struct tinydsm_word w = { .addr = addr, .width = 8 };

	if (ioctl(fd, TINYDSM_IOC_WORD, &w))
		return -errno;
	*v = w.value;
	return 0;
}

TEST_F_TIMEOUT(conn, word_storm, 300)
{
	unsigned int timeout_ms = tc_module_param("timeout_ms",
						  TC_DEFAULT_PEER_TIMEOUT_MS);
	/* queueing for a slot, the reply, the teardown, and TCG's slowness */
	double bound = 4.0 * timeout_ms / 1000 + 20;
	struct tc_node *n = &self->n;
	uint64_t addr, v1 = 0, v2 = 0, v;
	double worst, end;
	int failed, err;

	SELECTED();
	if (self->s.nodes != 2)
		SKIP(return, "needs 2 nodes, this run has %u", self->s.nodes);
	ASSERT_TRUE(self->ready) TH_LOG("setup: %s", self->setup_err);
	ASSERT_EQ(0, shared_run(_metadata, self, &addr));
	/* node1 owns the page, node2 (its home) holds a read copy. */
	if (n->id == 1)
		*word_at(addr, n->psz, 0) = 7;
	BARRIER("owned");
	if (n->id == 2)
		ASSERT_EQ(7, *word_at(addr, n->psz, 0));
	BARRIER("shared");

	if (n->id == 1) {
		tc_shell("modprobe sch_netem 2>/dev/null");
		/*
		 * A queue long enough for the whole storm: at netem's
		 * default of 1000 packets the qdisc drops, and a dropped
		 * send of rxe's GSI QP kills it on 6.12 (rxe_revive.sh), so
		 * no connection could be made after the storm.
		 */
		ASSERT_EQ(0, tc_shell("tc qdisc add dev %s root netem delay 4s limit 1000000",
				      tc_link_dev()))
			TH_LOG("tc netem: see the output");
		self->netem = 1;
	}
	BARRIER("delayed");
	/*
	 * node1's stores go to the home, whose handlers queue on the page's
	 * directory lock behind one that waits for node1's ack; node2's own
	 * stores queue there too.
	 */
	worst = storm(n->fd, addr, 1, n->id == 1 ? STORM_THREADS : HOME_THREADS,
		      &failed);
	TH_LOG("node%u: %d word stores, %d failed, slowest %.1f s (bound %.0f s)",
	       n->id, n->id == 1 ? STORM_THREADS : HOME_THREADS, failed, worst,
	       bound);
	EXPECT_LT(worst, bound);
	TC_BARRIER("stormed", self->s.timeout_s + (int)bound);
	if (n->id == 1) {
		/* Its drops, if any (there should be none: the limit). */
		tc_shell("tc -s qdisc show dev %s >&2", tc_link_dev());
		ASSERT_EQ(0, tc_shell("tc qdisc del dev %s root", tc_link_dev()));
		self->netem = 0;
	}
	BARRIER("undelayed");

	/* Back to normal: the page answers, within a bound, on both nodes. */
	end = tc_now() + 60;
	while ((err = word_load(n->fd, addr, &v)) && tc_now() < end)
		usleep(200000);
	if (err)	/* rxe's GSI QP: in ERR, no connection can be made */
		tc_shell("rdma resource show qp lqpn 1 >&2");
	ASSERT_EQ(0, err) TH_LOG("node%u: word load after the storm: %s", n->id,
				 strerror(-err));
	BARRIER("loaded");
	if (n->id == 1) {
		struct tinydsm_word w = { .addr = addr, .width = 8,
					  .flags = TINYDSM_WORD_F_STORE,
					  .value = 4242 };

		ASSERT_EQ(0, ioctl(n->fd, TINYDSM_IOC_WORD, &w))
			TH_LOG("word store: %s", strerror(errno));
	}
	BARRIER("stored");
	ASSERT_EQ(0, word_load(n->fd, addr, &v1));
	ASSERT_EQ(0, try_read(word_at(addr, n->psz, 0), &v2));
	EXPECT_EQ(4242, v1);
	EXPECT_EQ(4242, v2);
	BARRIER("done");
}

/* node1's child in link_flap and del_add_loop: fault until told to stop. */
static pid_t start_faulter(uint64_t addr, long psz)
{
	pid_t pid = fork_kid();

	if (!pid) {
		unsigned int seed = getpid();
		uint64_t v;

		signal(SIGTERM, SIG_DFL);
		for (;;) {
			unsigned int i = rand_r(&seed) % NPAGES;

			try_read(word_at(addr + i * psz, psz, W_NODE2), &v);
			usleep(1000);
		}
	}
	return pid;
}

/* node2's child in link_flap: store to its pages until told to stop. */
static pid_t start_writer(uint64_t addr, long psz)
{
	pid_t pid = fork_kid();

	if (!pid) {
		uint64_t v = 0;
		int i;

		signal(SIGTERM, SIG_DFL);
		for (;;) {
			for (i = 0; i < NPAGES; i++)
				try_write(word_at(addr + i * psz, psz, W_KILLED),
					  ++v);
			usleep(5000);
		}
	}
	return pid;
}

/*
 * Bring node2's link up again and re-create its rxe device, as an operator
 * on Soft-RoCE must (selftests/lab/rxe_revive.sh says why). 1 if rxe had
 * moved the device's GSI QP to ERR meanwhile, 0 if not, -1 on failure.
 */
static int link_up_revive(void)
{
	const char *tree = getenv("TDSM_TREE");
	char out[512];
	int st, err_qp1 = 0;
	FILE *f;

	if (tc_shell("ip link set %s up", tc_link_dev()))
		return -1;
	snprintf(out, sizeof(out), "%s/selftests/lab/rxe_revive.sh %s 2>&1",
		 tree ? tree : ".", tc_link_dev());
	f = popen(out, "r");
	if (!f)
		return -1;
	/* Whatever it says goes to the TAP output as comments. */
	while (fgets(out, sizeof(out), f)) {
		printf("# %s", out);
		err_qp1 |= strstr(out, "QP1 was state ERR") != NULL;
	}
	st = pclose(f);
	if (st)
		return -1;
	return err_qp1;
}

/* Drop every packet in and out of node2's link (tc), or stop doing so. */
static int blackout(int on)
{
	const char *d = tc_link_dev();

	if (!on)
		return tc_shell("tc qdisc del dev %s clsact", d);
	/* The lab's guests do not autoload modules: load what tc needs. */
	return tc_shell("modprobe -a sch_ingress cls_matchall act_gact && "
		  "tc qdisc add dev %s clsact && "
		  "tc filter add dev %s ingress matchall action drop && "
		  "tc filter add dev %s egress matchall action drop", d, d, d);
}

TEST_F_TIMEOUT(conn, link_flap, 600)
{
	unsigned int flaps = tc_env_uint("TDSM_FLAPS", 4), f;
	unsigned int dark_s = tc_env_uint("TDSM_BLACKOUT_S", 6);
	unsigned int timeout_ms = tc_module_param("timeout_ms",
						  TC_DEFAULT_PEER_TIMEOUT_MS);
	/* A flap, and re-creating the device: the module lets go of it. */
	int flap_s = 5 + 4 * timeout_ms / 1000 + 30;
	struct tc_node *n = &self->n;
	int i, revived = 0, r;
	uint64_t addr;
	pid_t kid = -1;

	SELECTED();
	if (self->s.nodes != 2)
		SKIP(return, "needs 2 nodes, this run has %u", self->s.nodes);
	ASSERT_TRUE(self->ready) TH_LOG("setup: %s", self->setup_err);
	ASSERT_EQ(0, shared_run(_metadata, self, &addr));
	if (n->id == 2)
		for (i = 0; i < NPAGES; i++)
			*word_at(addr + i * n->psz, n->psz, W_NODE2) = 5;
	BARRIER("filled");
	if (n->id == 1)
		kid = start_faulter(addr, n->psz);
	if (n->id == 2) {
		/*
		 * node2 keeps writing its pages, so that node1's copies keep
		 * being invalidated and messages are in flight whenever the
		 * link goes: requests time out on both sides while it is down.
		 */
		kid = start_writer(addr, n->psz);
		/* First every packet dropped, the link up; then the link down. */
		ASSERT_EQ(0, blackout(1));
		self->blackout = 1;
		sleep(dark_s);
		ASSERT_EQ(0, blackout(0));
		self->blackout = 0;
		/* 6.12's rxe takes the drops as failed sends: see the script. */
		ASSERT_EQ(0, tc_shell("%s/selftests/lab/rxe_revive.sh --if-err %s",
				      getenv("TDSM_TREE") ?: ".", tc_link_dev()));
		for (f = 0; f < flaps; f++) {
			ASSERT_EQ(0, tc_shell("ip link set %s down", tc_link_dev()));
			self->link_down = 1;
			usleep(1000000 + 700000 * f);
			r = link_up_revive();
			ASSERT_LE(0, r) TH_LOG("node2: link up or rxe revival failed");
			self->link_down = 0;
			revived += r;
			usleep(300000 + 400000 * f);
		}
		TH_LOG("node2: %u link flaps, the rxe device re-created after each; its GSI QP was in ERR after %d of them",
		       flaps, revived);
	}
	TC_BARRIER("flapped", self->s.timeout_s + dark_s + flaps * flap_s);
	if (kid > 0) {
		kill(kid, SIGKILL);
		waitpid(kid, NULL, 0);
	}
	final_check(_metadata, self, addr, 5, 1);
}

TEST_F_TIMEOUT(conn, del_add_loop, 300)
{
	unsigned int loops = tc_env_uint("TDSM_DEL_LOOPS", 8), l;
	struct tc_node *n = &self->n;
	unsigned int other = 3 - n->id;
	const char *tree = getenv("TDSM_TREE");
	char ctl[512], ip[64], var[32];
	uint64_t addr;
	pid_t kid = -1;
	int i;

	SELECTED();
	if (self->s.nodes != 2)
		SKIP(return, "needs 2 nodes, this run has %u", self->s.nodes);
	ASSERT_TRUE(self->ready) TH_LOG("setup: %s", self->setup_err);
	snprintf(ctl, sizeof(ctl), "%s/build/tools/tinydsmctl", tree ? tree : ".");
	snprintf(var, sizeof(var), "TDSM_IP_%u", other);
	ASSERT_NE(NULL, getenv(var)) TH_LOG("%s is not set", var);
	snprintf(ip, sizeof(ip), "%s", getenv(var));
	ASSERT_EQ(0, shared_run(_metadata, self, &addr));
	if (n->id == 2)
		for (i = 0; i < NPAGES; i++)
			*word_at(addr + i * n->psz, n->psz, W_NODE2) = 9;
	BARRIER("filled");
	if (n->id == 1)
		kid = start_faulter(addr, n->psz);
	for (l = 0; l < loops; l++) {
		/*
		 * The last round drops node1's read copies with the connection,
		 * and nothing reads them back before final_check() writes.
		 */
		if (l == loops - 1 && kid > 0) {
			kill(kid, SIGKILL);
			waitpid(kid, NULL, 0);
			kid = -1;
		}
		tc_shell("%s node del %u >/dev/null 2>&1", ctl, other);
		usleep(50000 + 100000 * (l % 4) + 30000 * n->id);
		ASSERT_EQ(0, tc_shell("%s node add %u %s >/dev/null", ctl, other, ip));
		usleep(100000 + 250000 * (l % 3));
	}
	TC_BARRIER("looped", self->s.timeout_s + 30);
	if (kid > 0) {
		kill(kid, SIGKILL);
		waitpid(kid, NULL, 0);
	}
	final_check(_metadata, self, addr, 9, 1);
}

TEST_F_TIMEOUT(conn, device_removal, 300)
{
	unsigned int timeout_ms = tc_module_param("timeout_ms",
						  TC_DEFAULT_PEER_TIMEOUT_MS);
	double bound = 4.0 * timeout_ms / 1000 + 20, t0, took;
	const char *rxe = getenv("TDSM_RXE_DEV");
	struct tc_node *n = &self->n;
	uint64_t addr;
	pid_t kid = -1;
	int i, r;

	SELECTED();
	if (self->s.nodes != 2)
		SKIP(return, "needs 2 nodes, this run has %u", self->s.nodes);
	ASSERT_TRUE(self->ready) TH_LOG("setup: %s", self->setup_err);
	if (!rxe || !*rxe)
		rxe = "rxe0";
	ASSERT_EQ(0, shared_run(_metadata, self, &addr));
	if (n->id == 2)
		for (i = 0; i < NPAGES; i++)
			*word_at(addr + i * n->psz, n->psz, W_NODE2) = 11;
	BARRIER("filled");
	if (n->id == 1) {
		kid = start_faulter(addr, n->psz);
		for (r = 0; r < 2; r++) {
			usleep(500000);
			t0 = tc_now();
			EXPECT_EQ(0, tc_shell("rdma link delete %s", rxe));
			took = tc_now() - t0;
			TH_LOG("node1: rdma link delete %s took %.1f s (bound %.0f s)",
			       rxe, took, bound);
			EXPECT_LT(took, bound);
			ASSERT_EQ(0, tc_shell("rdma link add %s type rxe netdev %s", rxe,
					tc_link_dev()));
			ASSERT_EQ(0, tc_shell("for i in $(seq 60); do rdma link show %s/1 2>/dev/null | grep -q 'state ACTIVE' && exit 0; sleep 0.5; done; exit 1",
					rxe));
		}
		kill(kid, SIGKILL);
		waitpid(kid, NULL, 0);
	}
	TC_BARRIER("removed", self->s.timeout_s + 2 * (int)bound);
	final_check(_metadata, self, addr, 11, 1);
}

/*
 * The registration QP's completion comes after its waiter's bound
 * (PROTOCOL.md, "The registration queue pair"): the waiter kills the
 * connection and waits for the completion, the fault ends, and the
 * connection comes back.
 */
TEST_F_TIMEOUT(conn, slow_registration, 300)
{
	unsigned int timeout_ms = tc_module_param("timeout_ms",
						  TC_DEFAULT_PEER_TIMEOUT_MS);
	/* A fault waits for its REG_MR, its reply and a reconnect: each 300 ms. */
	double bound = 20, t0, took;
	struct tc_node *n = &self->n;
	int i, sig, down0, down1;
	uint64_t addr, v = 0;

	SELECTED();
	if (self->s.nodes != 2)
		SKIP(return, "needs 2 nodes, this run has %u", self->s.nodes);
	ASSERT_TRUE(self->ready) TH_LOG("setup: %s", self->setup_err);
	if (!tc_inject_has(LATE_KNOB))
		SKIP(return, "no %s/%s (no debugfs)", TC_INJECT_DIR, LATE_KNOB);
	ASSERT_EQ(0, shared_run(_metadata, self, &addr));
	if (n->id == 2)
		for (i = 0; i < NPAGES; i++)
			*word_at(addr + i * n->psz, n->psz, W_NODE2) = 13;
	BARRIER("filled");
	if (n->id == 1) {
		down0 = klog_count("disconnected (-110");
		self->timeout_ms = timeout_ms;
		ASSERT_EQ(0, tc_module_param_set("timeout_ms", 300));
		self->late = 1;
		ASSERT_EQ(0, tc_inject_set(LATE_KNOB, 1000));
		t0 = tc_now();
		sig = try_read(word_at(addr, n->psz, W_NODE2), &v);
		took = tc_now() - t0;
		EXPECT_EQ(0, tc_inject_set(LATE_KNOB, 0));
		self->late = 0;
		EXPECT_EQ(0, tc_module_param_set("timeout_ms", timeout_ms));
		self->timeout_ms = 0;
		/* The teardown logs it: it may end after the fault did. */
		for (i = 0; i < 50; i++) {
			down1 = klog_count("disconnected (-110");
			if (down1 > down0)
				break;
			usleep(200000);
		}
		TH_LOG("node1: fault with a late REG_MR: %s after %.1f s (bound %.0f s); 'disconnected (-110' %d before, %d after",
		       sig ? "SIGBUS" : "read", took, bound, down0, down1);
		EXPECT_LT(took, bound);
		if (!sig)
			EXPECT_EQ(13, v);
		EXPECT_LT(down0, down1) TH_LOG("the late REG_MR did not time out");
		/* Back: the pages read again, as node2 wrote them. */
		EXPECT_EQ(0, wait_readable(addr, n->psz, W_NODE2, 60))
			TH_LOG("node1: node2's pages did not come back");
	}
	TC_BARRIER("late", self->s.timeout_s + 90);
	final_check(_metadata, self, addr, 13, 1);
}

/*
 * Drop the CM disconnect requests (DREQ) that reach this node, or stop
 * dropping them: RoCEv2 (UDP port 4791) to QP 1 (the CM's), a MAD of the
 * CM class (7) whose attribute is DREQ (0x0015). On the way in, as a
 * packet lost on the wire would be: Soft-RoCE retries a send that its
 * own egress drops, and its QP 1 would then send nothing more. Offsets
 * from the IP header, which rxe sends without options: UDP at 20, the BTH
 * at 28 (its destination QP in bytes 33-35), the DETH at 40, the MAD at 48
 * (class in byte 49, attribute at 64).
 */
static int drop_dreq(int on)
{
	const char *d = tc_link_dev();

	if (!on)
		return tc_shell("tc qdisc del dev %s clsact", d);
	return tc_shell("modprobe -a sch_ingress cls_u32 act_gact && "
		  "tc qdisc add dev %s clsact && "
		  "tc filter add dev %s ingress protocol ip u32 "
		  "match u16 0x12b7 0xffff at 22 "
		  "match u32 0x00000001 0x00ffffff at 32 "
		  "match u32 0x00070000 0x00ff0000 at 48 "
		  "match u32 0x00150000 0xffff0000 at 64 action drop", d, d);
}

/* How many DREQs drop_dreq()'s filter dropped so far (its action's count). */
static int dreqs_dropped(void)
{
	char cmd[128], line[256];
	int n = -1, pkts;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "tc -s filter show dev %s ingress 2>/dev/null",
		 tc_link_dev());
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " Sent %*u bytes %d pkt", &pkts) == 1)
			n = pkts;
	pclose(f);
	return n;
}

TEST_F_TIMEOUT(conn, proof_lost, 300)
{
	unsigned int timeout_ms = tc_module_param("timeout_ms",
						  TC_DEFAULT_PEER_TIMEOUT_MS);
	/*
	 * node1's exchange times out (timeout_ms), node2 learns of it (the
	 * disconnect, or its probe of the UP connection when node1 connects
	 * again: timeout_ms with the retries), and they connect again.
	 */
	double bound = 4.0 * timeout_ms / 1000 + 15, t0, took;
	const char *tree = getenv("TDSM_TREE");
	struct tc_node *n = &self->n;
	int i, lost0, lost1, dreqs, err = 0;
	char ctl[512];
	uint64_t addr;

	SELECTED();
	if (self->s.nodes != 2)
		SKIP(return, "needs 2 nodes, this run has %u", self->s.nodes);
	ASSERT_TRUE(self->ready) TH_LOG("setup: %s", self->setup_err);
	if (!tc_inject_has(PROOF_KNOB))
		SKIP(return, "no %s/%s (no debugfs)", TC_INJECT_DIR, PROOF_KNOB);
	snprintf(ctl, sizeof(ctl), "%s/build/tools/tinydsmctl", tree ? tree : ".");
	ASSERT_NE(NULL, getenv("TDSM_IP_2"));
	ASSERT_EQ(0, shared_run(_metadata, self, &addr));
	if (n->id == 2)
		for (i = 0; i < NPAGES; i++)
			*word_at(addr + i * n->psz, n->psz, W_NODE2) = 21;
	if (n->id == 2) {
		/* node2 hears of no disconnect: only its probe tells it. */
		self->dreq = 1;
		ASSERT_EQ(0, drop_dreq(1));
	}
	BARRIER("filled");
	if (n->id == 1) {
		lost0 = klog_count("dropped its proof");
		self->proofs = 1;
		ASSERT_EQ(0, tc_inject_set(PROOF_KNOB, 1));
		tc_shell("%s node del 2 >/dev/null 2>&1", ctl);
		ASSERT_EQ(0, tc_shell("%s node add 2 %s >/dev/null", ctl,
				      getenv("TDSM_IP_2")));
		t0 = tc_now();
		err = wait_home(n->fd, addr, 150);
		took = tc_now() - t0;
		EXPECT_EQ(0, tc_inject_set(PROOF_KNOB, 0));
		self->proofs = 0;
		lost1 = klog_count("dropped its proof");
		TH_LOG("node1: node2's proof dropped %d time(s); node2 answered again after %.1f s (bound %.0f s)",
		       lost1 - lost0, took, bound);
		EXPECT_EQ(lost0 + 1, lost1)
			TH_LOG("no proof was dropped: the test tested nothing");
		EXPECT_EQ(0, err) TH_LOG("node2 did not answer within 150 s");
		EXPECT_LT(took, bound);
	}
	TC_BARRIER("answered", self->s.timeout_s + 160);
	if (n->id == 2) {
		dreqs = dreqs_dropped();
		EXPECT_EQ(0, drop_dreq(0));
		self->dreq = 0;
		TH_LOG("node2: %d disconnect requests from node1 dropped", dreqs);
		EXPECT_GT(dreqs, 0)
			TH_LOG("no DREQ was dropped: node2 heard of the disconnects");
	}
	final_check(_metadata, self, addr, 21, 1);
}

TEST_HARNESS_MAIN
