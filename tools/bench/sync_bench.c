// SPDX-License-Identifier: GPL-2.0
/*
 * sync_bench: tinydsm's synchronisation benchmark, the C side. The lab
 * script tools/bench/sync_bench.sh drives it on the 2 or 3 nodes of one
 * lab run; tools/bench.sh runs that lab on the host and
 * tools/report/report.py prints the table. tools/bench/README.md defines
 * every figure.
 *
 * Every word measured lies in one run of RUN_PAGES pages homed on node
 * HOME (2), one page per figure, so that no figure moves another's page.
 * Every node attaches with libtinydsm (without sites).
 *
 *   sync_bench setup -n NODES        node1, once: ALLOC the run (home 2),
 *                                    initialise its barriers for NODES
 *                                    nodes; prints the run's address
 *   sync_bench rtt ADDR              one node (not the home), the others
 *                                    idle: -N samples, each one timed
 *                                    tdsm_atomic() FETCH_OR 0 of a word of
 *                                    the run (the base of every ratio), -W
 *                                    untimed first; -l LABEL
 *   sync_bench lock ADDR             one node (not the home), the others
 *                                    idle: -N samples of an uncontended
 *                                    tdsm_mutex_lock() + _unlock(), each
 *                                    timed; -W untimed first
 *   sync_bench add ADDR atomic|pingpong
 *                                    every node at once: -o OPS fetch-adds
 *                                    of 1 to one 8-byte word, with
 *                                    tdsm_fetch_add64() (atomic) or the
 *                                    processor's lock xadd on the mapping
 *                                    (pingpong); node1 then checks the word
 *                                    is NODES x OPS. Back to back, or with
 *                                    -g GAP_US (1 .. 1000000): GAP_US
 *                                    microseconds of local work after each
 *                                    (a busy loop on the clock that
 *                                    touches no region memory), on a word,
 *                                    page and barrier of their own, labelled
 *                                    fa_atomic_work, fa_pingpong_work
 *   sync_bench mutex ADDR            every node at once: -o OPS lock, a
 *                                    one-increment critical section, unlock
 *                                    of one tdsm_mutex_t
 *   sync_bench barrier ADDR          every node at once: -o ROUNDS rounds of
 *                                    tdsm_barrier_wait()
 *   sync_bench token ADDR            node1 and node -p PEER: -o HANDOFFS
 *                                    passes of a token word, each pass a
 *                                    fetch-add and a tdsm_wake(), each wait
 *                                    for it a tdsm_wait()
 *
 * The phases every node runs at once (add, mutex, barrier, token) start
 * and end at a barrier of their own (on the run's first page, initialised
 * by setup), so each node's time runs from the same moment give or take
 * one wake-up; each node puts its own time (<label>_n<id>_ns) and the
 * counters its loop moved, and the report takes the slowest node.
 *
 * Options: -n NODES, -o COUNT, -N SAMPLES (500), -W WARMUP (8), -l LABEL,
 * -g GAP_US (add: 0, back to back), -p PEER, -e ENV, -D DIR (every sample
 * of rtt and lock, ns, in DIR/<label>.ns), -T SECS (a watchdog: give up
 * after SECS, 300).
 * Figures go to stdout and, as key=value lines, to the -e file (appended).
 * A failed library call is printed and the exit status is 1; a failed
 * tdsm_fetch_add64() is a SIGBUS (exit status 3, as a failed fault).
 * Exit status: 0, 1 failure or a check that did not hold, 2 usage, 3
 * SIGBUS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "tinydsm.h"
#include "common.h"

#define HOME		2	/* the node that homes every word measured */
#define MAX_COUNT	10000000ul	/* -o, -N, -W: at most */
/* A token waiter asks again after this long (a lost wake-up shows). */
#define TOKEN_WAIT_NS	10000000000ull	/* 10 s */
/* Wake-ups one handoff of the token may take before we give up. */
#define TOKEN_MAX_SLEEPS 1000
/* -g: the local work after each fetch-add, at most (us). */
#define MAX_GAP_US	1000000ul

const char *prog = "sync_bench";

/* The run's pages: one per figure. */
enum run_page {
	PG_CONTROL,		/* the phases' own start and end barriers */
	PG_RTT,			/* the round trip's word */
	PG_LOCK_ALONE,		/* the uncontended mutex */
	PG_ADD_ATOMIC,		/* the remote atomics' word */
	PG_ADD_PINGPONG,	/* the ping-pong's word */
	PG_LOCK_SHARED,		/* the contended mutex */
	PG_BARRIER,		/* the barrier measured */
	PG_TOKEN,		/* the wait/wake token */
	PG_ADD_ATOMIC_WORK,	/* the remote atomics' word, with work between */
	PG_ADD_PINGPONG_WORK,	/* the ping-pong's word, with work between */
	RUN_PAGES
};

/* The phases every participant runs at once, each with its own barrier. */
enum phase {
	PH_ADD_ATOMIC,
	PH_ADD_PINGPONG,
	PH_LOCK_SHARED,
	PH_BARRIER,
	PH_TOKEN,
	PH_ADD_ATOMIC_WORK,
	PH_ADD_PINGPONG_WORK,
	PHASES
};

/* The control page: a barrier per phase, one per 64 bytes. */
struct control {
	struct {
		tdsm_barrier_t b;
		uint8_t pad[64 - sizeof(tdsm_barrier_t)];
	} phase[PHASES];
};

_Static_assert(sizeof(struct control) <= PAGE, "the control page");

/* The fetch-add phases, [pingpong][with work between]: label, barrier, word. */
static const struct {
	const char *label;
	enum phase ph;
	enum run_page pg;
} adds[2][2] = {
	{ { "fa_atomic", PH_ADD_ATOMIC, PG_ADD_ATOMIC },
	  { "fa_atomic_work", PH_ADD_ATOMIC_WORK, PG_ADD_ATOMIC_WORK } },
	{ { "fa_pingpong", PH_ADD_PINGPONG, PG_ADD_PINGPONG },
	  { "fa_pingpong_work", PH_ADD_PINGPONG_WORK, PG_ADD_PINGPONG_WORK } },
};

static struct {
	const char *label;
	unsigned int nodes;		/* -n: the nodes that take part */
	unsigned int peer;		/* -p: the token's other node */
	unsigned long count;		/* -o: per node */
	unsigned long samples;		/* -N */
	unsigned long warmup;		/* -W */
	unsigned long gap_us;		/* -g: local work after each fetch-add */
	unsigned int watchdog_s;	/* -T */
} opt = { .samples = 500, .warmup = 8, .watchdog_s = 300 };

static void usage(void)
{
	fprintf(stderr,
		"usage: %s setup -n NODES\n"
		"       %s rtt ADDR [-l LABEL] [-N SAMPLES] [-W WARMUP]\n"
		"       %s lock ADDR [-N SAMPLES] [-W WARMUP]\n"
		"       %s add ADDR atomic|pingpong -n NODES -o OPS [-g GAP_US]\n"
		"       %s mutex ADDR -n NODES -o OPS\n"
		"       %s barrier ADDR -n NODES -o ROUNDS\n"
		"       %s token ADDR -p PEER -o HANDOFFS\n"
		"options for all: -e ENV -D DIR -T SECS\n"
		"(see the top of tools/bench/sync_bench.c)\n",
		prog, prog, prog, prog, prog, prog, prog);
	exit(2);
}

/* ------------------------------------------------------------ helpers */

/* What this process waits for now, for the watchdog's message. */
static const char *volatile step = "start";

static void on_alarm(int sig)
{
	char msg[200];
	int n;

	(void)sig;
	n = snprintf(msg, sizeof(msg),
		     "%s: %s: not done within %u s (a node missing, or a home that does not answer)\n",
		     prog, step, opt.watchdog_s);
	if (n > 0)
		(void)!write(STDERR_FILENO, msg, (size_t)n);
	_exit(1);
}

/* No wait of this process lasts for ever: the library's sleep without one. */
static void watchdog(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	alarm(opt.watchdog_s);
}

static unsigned int node_id(void)
{
	return region_info()->node_id;
}

/* Page @pg of the run at @addr (attached, the run checked to be inside). */
static void *run_page(uint64_t addr, enum run_page pg)
{
	uint8_t *run = region_pages(addr, RUN_PAGES);

	return run + (size_t)pg * PAGE;
}

static tdsm_barrier_t *phase_barrier(uint64_t addr, enum phase ph)
{
	struct control *c = run_page(addr, PG_CONTROL);

	return &c->phase[ph].b;
}

/* The word's value, read where the page is held (FETCH_OR 0). */
static uint64_t read64(volatile uint64_t *w)
{
	uint64_t v;
	int err = tdsm_atomic(TINYDSM_ATOMIC_FETCH_OR, w, 8, 0, 0, &v);

	if (err)
		die("tdsm_atomic(FETCH_OR 0) of %p: %s", (void *)w, strerror(-err));
	return v;
}

static uint32_t read32(volatile uint32_t *w)
{
	uint64_t v;
	int err = tdsm_atomic(TINYDSM_ATOMIC_FETCH_OR, w, 4, 0, 0, &v);

	if (err)
		die("tdsm_atomic(FETCH_OR 0) of %p: %s", (void *)w, strerror(-err));
	return (uint32_t)v;
}

/* The start or end of a phase: every participant meets at its barrier. */
static void meet(uint64_t addr, enum phase ph, const char *what)
{
	int r;

	step = what;
	r = tdsm_barrier_wait(phase_barrier(addr, ph));
	if (r < 0)
		die("%s: tdsm_barrier_wait: %s", what, strerror(-r));
}

/*
 * A phase's barrier counts the nodes setup was told of: a node that
 * expects another count would wait at it for ever (or pass it early).
 */
static void check_nodes(uint64_t addr, enum phase ph, unsigned int nodes)
{
	uint32_t count = read32(&phase_barrier(addr, ph)->count);

	if (count != nodes)
		die("the run's barrier is for %u nodes, not %u (setup -n)", count, nodes);
}

/*
 * @ns of local work between two fetch-adds, as a real program does between
 * two updates of a shared counter: a busy loop reading CLOCK_MONOTONIC
 * until @ns have passed. It touches no region memory, so it neither faults
 * nor needs the page, which may leave meanwhile.
 */
static void local_work(uint64_t ns)
{
	uint64_t t0;

	if (!ns)
		return;
	t0 = now_ns();
	while (now_ns() - t0 < ns)
		;
}

/* The counters a loop moved: proof of where its operations were done. */
static void put_word_delta(const char *label, const struct tinydsm_stats *a,
			   const struct tinydsm_stats *b)
{
	PUT_DELTA(label, a, b, word_remote);
	PUT_DELTA(label, a, b, word_served);
	PUT_DELTA(label, a, b, remote_faults);
	PUT_DELTA(label, a, b, write_faults);
}

/* A figure of one node's own: not the home's, where the word is local. */
static void not_home(const char *what)
{
	if (node_id() == HOME)
		die("%s: run it on a node other than the home (node %d)", what, HOME);
}

static uint64_t *samples_buf(void)
{
	uint64_t *ns = calloc(opt.samples, sizeof(*ns));

	if (!ns)
		die("out of memory");
	return ns;
}

/* Every sample in @label.ns (-D), then the summary and the clock's cost. */
static void put_samples(const char *label, uint64_t *ns)
{
	struct summary s;

	dump_samples(label, ns, opt.samples);
	s = summarize(ns, opt.samples);
	put_summary(label, &s);
	put("%s_clock_pair_ns=%.0f", label, (double)timer_overhead_ns(1001));
	printf("%s: node%u, %lu samples: p50 %.1f us, p99 %.1f us, min %.1f us\n",
	       label, node_id(), opt.samples, s.p50, s.p99, s.min);
}

/* One node's time for a phase, and what its loop moved. */
static void put_node(const char *label, const char *what, unsigned long done,
		     uint64_t ns, const struct tinydsm_stats *a,
		     const struct tinydsm_stats *b)
{
	char key[64];

	snprintf(key, sizeof(key), "%s_n%u", label, node_id());
	put("%s_ns=%llu", key, (unsigned long long)ns);
	put("%s_%s=%lu", key, what, done);
	put_word_delta(key, a, b);
	printf("%s: node%u, %lu %s in %.3f s: %.1f us each\n", label, node_id(),
	       done, what, (double)ns / 1e9, (double)ns / 1e3 / (double)done);
}

/* ------------------------------------------------------------ commands */

static int cmd_setup(void)
{
	struct control *c;
	unsigned int ph;
	void *run;
	int err;

	attach(TDSM_ATTACH_NO_SITES);
	if (opt.nodes < 2 || opt.nodes > region_info()->max_nodes)
		die("-n %u: 2 .. max_nodes (%u) nodes", opt.nodes,
		    region_info()->max_nodes);
	run = tdsm_alloc(RUN_PAGES, HOME);
	if (!run)
		die("tdsm_alloc(%d pages, home %d): %s", RUN_PAGES, HOME,
		    tdsm_strerror_detail());
	c = run;
	for (ph = 0; ph < PHASES; ph++) {
		/* the token is passed between two nodes, whatever NODES is */
		err = tdsm_barrier_init(&c->phase[ph].b,
					ph == PH_TOKEN ? 2 : opt.nodes);
		if (err)
			die("tdsm_barrier_init: %s", strerror(-err));
	}
	err = tdsm_barrier_init((tdsm_barrier_t *)((uint8_t *)run + PG_BARRIER * PAGE),
				opt.nodes);
	if (err)
		die("tdsm_barrier_init: %s", strerror(-err));
	/* stdout is the address only, for the script */
	put_log = stderr;
	put("sync_addr=%#llx", (unsigned long long)(uintptr_t)run);
	put("sync_home=%d", HOME);
	put("sync_run_pages=%d", RUN_PAGES);
	printf("%#llx\n", (unsigned long long)(uintptr_t)run);
	tdsm_detach();
	return 0;
}

/* The base: one remote atomic's round trip, one at a time. */
static int cmd_rtt(uint64_t addr)
{
	volatile uint64_t *w = run_page(addr, PG_RTT);
	const char *label = opt.label ? opt.label : "rtt";
	struct tinydsm_stats a, b;
	uint64_t *ns = samples_buf();
	unsigned long i;

	not_home(label);
	step = label;
	for (i = 0; i < opt.warmup; i++)
		read64(w);
	a = stats_now();
	for (i = 0; i < opt.samples; i++) {
		uint64_t t0 = now_ns();

		read64(w);
		ns[i] = now_ns() - t0;
	}
	b = stats_now();
	put("%s_node=%u", label, node_id());
	put("%s_warmup=%lu", label, opt.warmup);
	put_samples(label, ns);
	put_word_delta(label, &a, &b);
	free(ns);
	tdsm_detach();
	return 0;
}

static void lock_unlock(tdsm_mutex_t *m, const char *label)
{
	int err = tdsm_mutex_lock(m);

	if (err)
		die("%s: tdsm_mutex_lock: %s", label, strerror(-err));
	err = tdsm_mutex_unlock(m);
	if (err)
		die("%s: tdsm_mutex_unlock: %s", label, strerror(-err));
}

/* An uncontended lock and unlock: two atomics at the home, by the algorithm. */
static int cmd_lock(uint64_t addr)
{
	tdsm_mutex_t *m = run_page(addr, PG_LOCK_ALONE);
	const char *label = "lock_alone";
	struct tinydsm_stats a, b;
	uint64_t *ns = samples_buf();
	unsigned long i;

	not_home(label);
	step = label;
	for (i = 0; i < opt.warmup; i++)
		lock_unlock(m, label);
	a = stats_now();
	for (i = 0; i < opt.samples; i++) {
		uint64_t t0 = now_ns();

		lock_unlock(m, label);
		ns[i] = now_ns() - t0;
	}
	b = stats_now();
	put("%s_node=%u", label, node_id());
	put("%s_warmup=%lu", label, opt.warmup);
	put_samples(label, ns);
	put_word_delta(label, &a, &b);
	/* nobody else takes it: it must be free again */
	put("%s_word_end=%u", label, read32(&m->word));
	free(ns);
	tdsm_detach();
	return 0;
}

/*
 * Fetch-adds of one word from every node at once: the remote atomic
 * (done where the page is held, at the home: the page stays there) or the
 * processor's own on the mapping (the page comes to each writer). Back to
 * back, a node that holds the page does all its fetch-adds before another
 * node's fault takes it away; with -g, GAP_US of local work after each
 * leaves the other nodes' faults time to arrive, so that the updates of the
 * nodes interleave as a shared counter's do (a task queue's next index).
 */
static int cmd_add(uint64_t addr, bool pingpong)
{
	bool work = opt.gap_us > 0;
	const char *label = adds[pingpong][work].label;
	enum phase ph = adds[pingpong][work].ph;
	volatile uint64_t *w = run_page(addr, adds[pingpong][work].pg);
	uint64_t gap_ns = (uint64_t)opt.gap_us * 1000;
	uint64_t t0, t1, final, expected = (uint64_t)opt.nodes * opt.count;
	struct tinydsm_stats a, b;
	char key[64];
	unsigned long i;

	catch_sigbus();
	check_nodes(addr, ph, opt.nodes);
	meet(addr, ph, "the start barrier");
	step = label;
	a = stats_now();
	t0 = now_ns();
	if (pingpong) {
		for (i = 0; i < opt.count; i++) {
			__atomic_fetch_add(w, 1, __ATOMIC_SEQ_CST);
			local_work(gap_ns);
		}
	} else {
		for (i = 0; i < opt.count; i++) {
			tdsm_fetch_add64(w, 1);
			local_work(gap_ns);
		}
	}
	t1 = now_ns();
	b = stats_now();
	put_node(label, "ops", opt.count, t1 - t0, &a, &b);
	/* where the page ended up, as this node sees it */
	snprintf(key, sizeof(key), "%s_n%u", label, node_id());
	put("%s_page_state=%u", key, page_info((uintptr_t)w).state);
	meet(addr, ph, "the end barrier");
	if (node_id() != 1) {
		tdsm_detach();
		return 0;
	}
	final = read64(w);
	put("%s_nodes=%u", label, opt.nodes);
	put("%s_ops=%lu", label, opt.count);
	put("%s_gap_us=%lu", label, opt.gap_us);
	put("%s_expected=%llu", label, (unsigned long long)expected);
	put("%s_final=%llu", label, (unsigned long long)final);
	tdsm_detach();
	if (final != expected) {
		fprintf(stderr, "%s: %s: the word is %llu, not %u nodes x %lu = %llu\n",
			prog, label, (unsigned long long)final, opt.nodes,
			opt.count, (unsigned long long)expected);
		return 1;
	}
	return 0;
}

/*
 * Every node locks and unlocks one mutex in a loop; the critical section
 * is one increment of this process's own counter, so the figure is the
 * lock's handoffs, not the data's. (Mutual exclusion is proved by
 * sync_cluster_test.)
 */
static int cmd_mutex(uint64_t addr)
{
	const char *label = "lock_shared";
	tdsm_mutex_t *m = run_page(addr, PG_LOCK_SHARED);
	volatile unsigned long inside = 0;
	struct tinydsm_stats a, b;
	uint64_t t0, t1;
	uint32_t word;
	unsigned long i;
	int err;

	check_nodes(addr, PH_LOCK_SHARED, opt.nodes);
	meet(addr, PH_LOCK_SHARED, "the start barrier");
	step = label;
	a = stats_now();
	t0 = now_ns();
	for (i = 0; i < opt.count; i++) {
		err = tdsm_mutex_lock(m);
		if (err)
			die("%s: tdsm_mutex_lock: %s", label, strerror(-err));
		inside++;	/* the critical section */
		err = tdsm_mutex_unlock(m);
		if (err)
			die("%s: tdsm_mutex_unlock: %s", label, strerror(-err));
	}
	t1 = now_ns();
	b = stats_now();
	put_node(label, "ops", inside, t1 - t0, &a, &b);
	meet(addr, PH_LOCK_SHARED, "the end barrier");
	if (node_id() != 1) {
		tdsm_detach();
		return 0;
	}
	word = read32(&m->word);
	put("%s_nodes=%u", label, opt.nodes);
	put("%s_ops=%lu", label, opt.count);
	put("%s_word_end=%u", label, word);
	tdsm_detach();
	if (word) {
		fprintf(stderr, "%s: %s: the mutex is %u after every node unlocked it, not 0\n",
			prog, label, word);
		return 1;
	}
	return 0;
}

/* Rounds of the barrier of all nodes; one untimed round first. */
static int cmd_barrier(uint64_t addr)
{
	const char *label = "barrier";
	tdsm_barrier_t *bar = run_page(addr, PG_BARRIER);
	unsigned long i, serial = 0;
	struct tinydsm_stats a, b;
	uint64_t t0, t1;
	char key[64];
	int r;

	check_nodes(addr, PH_BARRIER, opt.nodes);
	meet(addr, PH_BARRIER, "the start barrier");
	step = label;
	r = tdsm_barrier_wait(bar);
	if (r < 0)
		die("%s: the untimed round: %s", label, strerror(-r));
	a = stats_now();
	t0 = now_ns();
	for (i = 0; i < opt.count; i++) {
		r = tdsm_barrier_wait(bar);
		if (r < 0)
			die("%s: round %lu: %s", label, i + 1, strerror(-r));
		serial += r == TDSM_BARRIER_SERIAL;
	}
	t1 = now_ns();
	b = stats_now();
	put_node(label, "rounds", opt.count, t1 - t0, &a, &b);
	snprintf(key, sizeof(key), "%s_n%u", label, node_id());
	put("%s_serial=%lu", key, serial);
	meet(addr, PH_BARRIER, "the end barrier");
	if (node_id() == 1) {
		put("%s_nodes=%u", label, opt.nodes);
		put("%s_rounds=%lu", label, opt.count);
	}
	tdsm_detach();
	return 0;
}

/*
 * Sleep until the token reads @turn (the other node's pass makes it so):
 * how many times this slept. Bounded: TOKEN_MAX_SLEEPS wake-ups of
 * TOKEN_WAIT_NS at most.
 */
static unsigned long wait_turn(volatile uint64_t *token, uint64_t turn)
{
	unsigned long sleeps;
	uint64_t v;
	int err;

	for (sleeps = 0; sleeps < TOKEN_MAX_SLEEPS; sleeps++) {
		v = read64(token);
		if (v == turn)
			return sleeps;
		if (v > turn)
			die("token: %llu, past this node's turn %llu: does a third task pass it?",
			    (unsigned long long)v, (unsigned long long)turn);
		err = tdsm_wait(token, 8, v, TOKEN_WAIT_NS);
		if (err == -ETIMEDOUT)
			die("token: not woken within %llu s at %llu (a wake-up lost?)",
			    TOKEN_WAIT_NS / 1000000000ull, (unsigned long long)v);
		if (err && err != -EAGAIN && err != -EINTR)
			die("token: tdsm_wait: %s", strerror(-err));
	}
	die("token: still not this node's turn %llu after %d wake-ups",
	    (unsigned long long)turn, TOKEN_MAX_SLEEPS);
}

/*
 * node1 and the peer pass a token: the word counts the passes, and it is
 * node1's turn when it is even, the peer's when it is odd. A pass is a
 * fetch-add and a wake of one waiter; the other side wakes, reads the
 * word, and it is its turn.
 */
static int cmd_token(uint64_t addr)
{
	const char *label = "token";
	volatile uint64_t *token = run_page(addr, PG_TOKEN);
	unsigned long passes = 0, sleeps = 0;
	unsigned int id = node_id();
	struct tinydsm_stats a, b;
	uint64_t t0, t1, k, final;
	char key[64];
	int r;

	if (id != 1 && id != opt.peer)
		die("token: node %u takes no part (node1 and node %u do)", id, opt.peer);
	catch_sigbus();
	check_nodes(addr, PH_TOKEN, 2);
	meet(addr, PH_TOKEN, "the start barrier");
	step = label;
	a = stats_now();
	t0 = now_ns();
	for (k = id == 1 ? 0 : 1; k < opt.count; k += 2) {
		sleeps += wait_turn(token, k);
		tdsm_fetch_add64(token, 1);
		r = tdsm_wake(token, 8, 1);
		if (r < 0)
			die("token: tdsm_wake: %s", strerror(-r));
		passes++;
	}
	t1 = now_ns();
	b = stats_now();
	put_node(label, "passes", passes, t1 - t0, &a, &b);
	snprintf(key, sizeof(key), "%s_n%u", label, id);
	put("%s_sleeps=%lu", key, sleeps);
	meet(addr, PH_TOKEN, "the end barrier");
	if (id != 1) {
		tdsm_detach();
		return 0;
	}
	final = read64(token);
	put("%s_peer=%u", label, opt.peer);
	put("%s_handoffs=%lu", label, opt.count);
	put("%s_final=%llu", label, (unsigned long long)final);
	tdsm_detach();
	if (final != opt.count) {
		fprintf(stderr, "%s: token: the word is %llu after %lu handoffs\n",
			prog, (unsigned long long)final, opt.count);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------ main */

static unsigned long parse_count(const char *s, const char *what, bool zero_ok)
{
	unsigned long long v = parse_ull(s, what);

	if ((!v && !zero_ok) || v > MAX_COUNT)
		die("bad %s %s: %s .. %lu", what, s, zero_ok ? "0" : "1", MAX_COUNT);
	return v;
}

int main(int argc, char **argv)
{
	const char *cmd = subcommand(&argc, &argv, usage);
	uint64_t addr;
	int c;

	while ((c = getopt(argc, argv, "n:o:N:W:l:g:p:e:D:T:h")) != -1) {
		switch (c) {
		case 'n': opt.nodes = parse_count(optarg, "node count", false); break;
		case 'o': opt.count = parse_count(optarg, "count", false); break;
		case 'N': opt.samples = parse_count(optarg, "sample count", false); break;
		case 'W': opt.warmup = parse_count(optarg, "warm-up count", true); break;
		case 'l': opt.label = optarg; break;
		case 'g': opt.gap_us = parse_count(optarg, "gap (us)", true); break;
		case 'p': opt.peer = parse_count(optarg, "peer", false); break;
		case 'e': put_env = optarg; break;
		case 'D': dump_dir = optarg; break;
		case 'T': opt.watchdog_s = parse_count(optarg, "seconds", false); break;
		default: usage();
		}
	}
	argv += optind;
	argc -= optind;
	setvbuf(stdout, NULL, _IOLBF, 0);
	put_env_file();
	watchdog();

	if (!strcmp(cmd, "setup")) {
		if (argc || !opt.nodes)
			usage();
		return cmd_setup();
	}
	if (argc < 1)
		usage();
	addr = parse_ull(argv[0], "address");
	if (!strcmp(cmd, "rtt") && argc == 1)
		return cmd_rtt(addr);
	if (!strcmp(cmd, "lock") && argc == 1)
		return cmd_lock(addr);
	if (!strcmp(cmd, "add") && argc == 2 && opt.nodes && opt.count) {
		if (strcmp(argv[1], "atomic") && strcmp(argv[1], "pingpong"))
			usage();
		if (opt.gap_us > MAX_GAP_US)
			die("-g %lu: 0 .. %lu us of work after each fetch-add",
			    opt.gap_us, MAX_GAP_US);
		return cmd_add(addr, !strcmp(argv[1], "pingpong"));
	}
	if (!strcmp(cmd, "mutex") && argc == 1 && opt.nodes && opt.count)
		return cmd_mutex(addr);
	if (!strcmp(cmd, "barrier") && argc == 1 && opt.nodes && opt.count)
		return cmd_barrier(addr);
	if (!strcmp(cmd, "token") && argc == 1 && opt.peer && opt.count) {
		if (opt.count < 2)
			die("token: -o 2 handoffs at least (one pass each way)");
		if (opt.peer < 2)
			die("token: -p: node1's peer, another node");
		return cmd_token(addr);
	}
	usage();
	return 2;
}
