// SPDX-License-Identifier: GPL-2.0
/*
 * soak_worker: the workers, their supervisor, the final check and the
 * checker's own self-test of the tinydsm soak (tools/soak/README.md).
 *
 *   soak_worker supervise OPTIONS   run this node's workers until told to stop
 *   soak_worker verify OPTIONS      read every checked word and counter, compare
 *                                   with the writers' published state
 *   soak_worker layout OPTIONS      print the checked pages, one block per home
 *   soak_worker evict ID            TINYDSM_CMD_NODE_EVICT of node ID
 *   soak_worker selftest            the checker on plain memory, no module
 *
 * The checked area is H blocks of P data pages and one counter page, block
 * h - 1 in the middle of node h's home slice. Word i of the data pages
 * (512 per page) is written only by worker i % W of the cluster (W workers
 * in all, global ids 0 .. W - 1), with the value
 *
 *   (gid + 1) << 56 | (i & 0xff) << 48 | seq        seq = 1, 2, ...
 *
 * by a plain store or by TINYDSM_IOC_WORD, at random. Every worker reads
 * random words, by a plain load or TINYDSM_IOC_WORD, and checks that the
 * value is 0 or carries its word's tag, and that no word goes backwards in
 * its eyes. A writer reading its own word must see exactly its last write,
 * or one of the stores whose outcome it could not know. Counter c is word 0
 * of block c's counter page; workers add 1 with a locked xadd.
 *
 * A writer's state (per word: the last store known done, the range of
 * stores whose outcome is unknown; per counter: increments done, unknown)
 * lives in a MAP_SHARED file that outlives the writer: the value to store is
 * recorded as pending before the store, so a SIGKILL leaves it pending.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/tinydsm.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/socket.h>

#include "tdsm_nl.h"

#define PAGE_SZ		4096u
#define WORDS_PER_PAGE	(PAGE_SZ / 8)
#define SEQ_BITS	48
#define SEQ_MASK	((UINT64_C(1) << SEQ_BITS) - 1)
#define MAX_HOMES	8
#define MAX_WORKERS	255
#define STATE_MAGIC	UINT64_C(0x31544154534b4f53)	/* "SOKSTAT1" */
#define NERRNO		160
#define LOG_LIMIT	200	/* failure lines one process writes */

/* ------------------------------------------------------------ counters */

enum {
	C_PLAIN_LOAD,		/* plain loads done */
	C_WORD_LOAD,		/* TINYDSM_IOC_WORD loads done */
	C_PLAIN_STORE,		/* plain stores done */
	C_WORD_STORE,		/* TINYDSM_IOC_WORD stores done */
	C_ATOMIC,		/* xadds done */
	C_READBACK,		/* of the loads: a writer reading its own word */
	C_SIGBUS_LOAD,		/* plain loads that got SIGBUS */
	C_SIGBUS_STORE,		/* plain stores that got SIGBUS */
	C_SIGBUS_ATOMIC,	/* xadds that got SIGBUS */
	C_WORD_LOAD_ERR,	/* IOC_WORD loads that failed (errno in err[]) */
	C_WORD_STORE_ERR,	/* IOC_WORD stores that failed (errno in err[]) */
	C_AMBIGUOUS,		/* stores left pending (failed ioctl, or killed) */
	C_PEND_SEEN,		/* reads that found a pending store done */
	C_KILLED_ATOMIC,	/* xadds left unknown by a kill */
	C_FAIL_BACKWARDS,	/* a word went backwards for a reader */
	C_FAIL_READBACK,	/* a writer did not read back its own word */
	C_FAIL_GARBAGE,		/* a value no writer ever wrote there */
	C_FAIL_SIGNAL,		/* SIGSEGV or another signal on an access */
	C_FAIL_ERRNO,		/* an errno that is a bug, not a fault (EINVAL...) */
	C_NCOUNT
};

static const char *const cnames[C_NCOUNT] = {
	[C_PLAIN_LOAD] = "plain_loads",
	[C_WORD_LOAD] = "word_loads",
	[C_PLAIN_STORE] = "plain_stores",
	[C_WORD_STORE] = "word_stores",
	[C_ATOMIC] = "atomics",
	[C_READBACK] = "readbacks",
	[C_SIGBUS_LOAD] = "sigbus_loads",
	[C_SIGBUS_STORE] = "sigbus_stores",
	[C_SIGBUS_ATOMIC] = "sigbus_atomics",
	[C_WORD_LOAD_ERR] = "word_load_errors",
	[C_WORD_STORE_ERR] = "word_store_errors",
	[C_AMBIGUOUS] = "ambiguous_stores",
	[C_PEND_SEEN] = "ambiguous_seen_done",
	[C_KILLED_ATOMIC] = "ambiguous_atomics",
	[C_FAIL_BACKWARDS] = "fail_backwards",
	[C_FAIL_READBACK] = "fail_readback",
	[C_FAIL_GARBAGE] = "fail_garbage",
	[C_FAIL_SIGNAL] = "fail_signal",
	[C_FAIL_ERRNO] = "fail_errno",
};

/* ------------------------------------------------------ persistent state */

struct wword {			/* one word this writer owns */
	uint64_t certain;	/* seq of the last store known done, 0: none */
	uint64_t pend_lo;	/* stores pend_lo..pend_hi: outcome unknown */
	uint64_t pend_hi;	/* (0, 0: none) */
};

struct wctr {			/* one counter, this worker's increments */
	uint64_t certain;	/* known done */
	uint64_t ambig;		/* unknown (killed in the middle) */
	uint64_t pending;	/* 1 while an xadd is under way */
};

struct wstate {
	uint64_t magic;
	uint32_t gid, nworkers, homes, pages, nown;
	uint32_t pad;
	uint64_t seed;
	volatile uint64_t stop;		/* set by the supervisor */
	volatile uint64_t heartbeat;	/* operations attempted */
	uint64_t spawns;
	uint64_t pid;
	uint64_t logged;		/* failure lines written */
	uint64_t inflight;		/* own word index + 1 while storing */
	uint64_t c[C_NCOUNT];
	uint64_t err[NERRNO];		/* IOC_WORD errors by errno */
	struct wctr ctr[MAX_HOMES];
	struct wword w[];
};

static size_t state_size(uint32_t nown)
{
	return sizeof(struct wstate) + (size_t)nown * sizeof(struct wword);
}

/* ---------------------------------------------------------------- config */

struct cfg {
	unsigned int homes;		/* H: blocks (nodes) */
	unsigned int pages;		/* P: data pages per block */
	unsigned int nworkers;		/* W: workers in the cluster */
	uint64_t seed;
	unsigned int pace_us;		/* pause after every operation */
	unsigned int node;		/* this node, for the log */
	const char *fail_log;		/* failures, one line each */
	/* the region */
	int fd;				/* /dev/tinydsm, -1 in the self-test */
	uint8_t *base;			/* the region (or the test's memory) */
	uint64_t slice_pages;		/* pages per home slice */
	uint64_t block_off;		/* first page of a block in its slice */
	/* self-test only */
	bool sim;			/* no module: word ops on plain memory */
	unsigned int sim_fail_pct;	/* simulated failures, % of accesses */
	volatile uint8_t *poison;	/* a page whose access raises SIGBUS */
};

static struct cfg cfg = { .homes = 3, .pages = 4, .nworkers = 6, .seed = 1,
			  .pace_us = 200, .fd = -1 };

static uint64_t nwords(void)
{
	return (uint64_t)cfg.homes * cfg.pages * WORDS_PER_PAGE;
}

static uint32_t nown_of(uint32_t gid)
{
	uint64_t n = nwords();

	return gid >= n ? 0 : (uint32_t)((n - gid + cfg.nworkers - 1) / cfg.nworkers);
}

/* First page of block b (home b + 1), as an offset into the region. */
static uint64_t block_page(unsigned int b)
{
	return (uint64_t)b * cfg.slice_pages + cfg.block_off;
}

static volatile uint64_t *word_ptr(uint64_t i)
{
	uint64_t pg = i / WORDS_PER_PAGE, b = pg / cfg.pages;
	uint64_t page = block_page((unsigned int)b) + pg % cfg.pages;

	return (volatile uint64_t *)(cfg.base + page * PAGE_SZ +
				     (i % WORDS_PER_PAGE) * 8);
}

static volatile uint64_t *ctr_ptr(unsigned int c)
{
	return (volatile uint64_t *)(cfg.base +
				     (block_page(c) + cfg.pages) * PAGE_SZ);
}

static uint64_t encode(uint32_t gid, uint64_t i, uint64_t seq)
{
	return (uint64_t)(gid + 1) << 56 | (i & 0xff) << SEQ_BITS | seq;
}

static uint64_t tag_of(uint64_t i)
{
	return (uint64_t)(i % cfg.nworkers + 1) << 8 | (i & 0xff);
}

/* The seq of @v read from word @i, or -1 if no writer wrote @v there. */
static int64_t decode(uint64_t i, uint64_t v)
{
	if (!v)
		return 0;
	if (v >> SEQ_BITS != tag_of(i) || !(v & SEQ_MASK))
		return -1;
	return (int64_t)(v & SEQ_MASK);
}

/* ---------------------------------------------------------------- helpers */

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void stamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%02d:%02d:%02d.%03ldZ", tm.tm_hour, tm.tm_min,
		 tm.tm_sec, ts.tv_nsec / 1000000);
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * UINT64_C(0x2545F4914F6CDD1D);
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void rng_seed(uint64_t s)
{
	rng_state = (s ^ UINT64_C(0x9E3779B97F4A7C15)) * UINT64_C(0xBF58476D1CE4E5B9);
	if (!rng_state)
		rng_state = 1;
	rnd();
}

static const char *errno_name(int e)
{
	switch (e) {
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ENOTCONN: return "ENOTCONN";
	case ECONNRESET: return "ECONNRESET";
	case ECONNREFUSED: return "ECONNREFUSED";
	case EPROTO: return "EPROTO";
	case ELOOP: return "ELOOP";
	case EIO: return "EIO";
	case EINTR: return "EINTR";
	case EAGAIN: return "EAGAIN";
	case EBUSY: return "EBUSY";
	case ENOMEM: return "ENOMEM";
	case ENODEV: return "ENODEV";
	case ENXIO: return "ENXIO";
	case ENOENT: return "ENOENT";
	case EINVAL: return "EINVAL";
	case ERANGE: return "ERANGE";
	case EFAULT: return "EFAULT";
	case ENOTTY: return "ENOTTY";
	case EPERM: return "EPERM";
	case ESHUTDOWN: return "ESHUTDOWN";
	case ENETUNREACH: return "ENETUNREACH";
	case ENETDOWN: return "ENETDOWN";
	case ECANCELED: return "ECANCELED";
	case EREMOTEIO: return "EREMOTEIO";
	case ENOSPC: return "ENOSPC";
	case ESTALE: return "ESTALE";
	default: return NULL;
	}
}

/* The errno's name, or "E<number>". */
static const char *ename(int e)
{
	static char buf[16];
	const char *n = errno_name(e);

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

/* What made a read fail: a signal (plain) or -errno (IOC_WORD). */
static const char *unread_name(bool plain, int r)
{
	if (!plain)
		return ename(-r);
	return r == SIGBUS ? "SIGBUS" : r == SIGSEGV ? "SIGSEGV" : "SIG?";
}

/*
 * An IOC_WORD errno that the module's documentation gives for a node that
 * does not answer (or a connection being re-made): an expected outcome of
 * the injected faults. Anything else (EINVAL, ERANGE, EFAULT, ENOTTY ...)
 * says the request itself was refused: a bug, counted as a failure.
 */
static bool errno_expected(int e)
{
	switch (e) {
	case EHOSTUNREACH: case ETIMEDOUT: case ENOTCONN: case ECONNRESET:
	case ECONNREFUSED: case EPROTO: case ELOOP: case EIO: case EINTR:
	case EAGAIN: case EBUSY: case ENOMEM: case ESHUTDOWN: case ENETUNREACH:
	case ENETDOWN: case ECANCELED: case EREMOTEIO:
		return true;
	default:
		return false;
	}
}

/* ------------------------------------------------------- failure reports */

static struct wstate *me;	/* this worker's state, NULL elsewhere */
static unsigned int log_budget = LOG_LIMIT;

static void fail_line(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* One line to the failure log (O_APPEND: whole lines from every process). */
static void fail_line(const char *fmt, ...)
{
	char line[768], ts[32];
	va_list ap;
	int n, fd;

	if (!log_budget)
		return;
	log_budget--;
	stamp(ts, sizeof(ts));
	n = snprintf(line, sizeof(line), "FAIL t=%s node=%u ", ts, cfg.node);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (me)
		me->logged++;
	if (!cfg.fail_log) {
		fwrite(line, 1, (size_t)n, stderr);
		return;
	}
	fd = open(cfg.fail_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fwrite(line, 1, (size_t)n, stderr);
		return;
	}
	if (write(fd, line, (size_t)n) != n)
		fwrite(line, 1, (size_t)n, stderr);
	close(fd);
}

/* ------------------------------------------------------ guarded accesses */

static sigjmp_buf access_jb;
static volatile sig_atomic_t in_access, access_sig;

static void on_fault_signal(int sig)
{
	if (in_access) {
		access_sig = sig;
		siglongjmp(access_jb, 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_fault_handlers(void)
{
	struct sigaction sa = { .sa_handler = on_fault_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

/* Touch the poison page first (the self-test's simulated SIGBUS). */
static void sim_maybe_poison(void)
{
	if (cfg.sim && cfg.poison && rnd_below(100) < cfg.sim_fail_pct)
		(void)cfg.poison[0];
}

/* 0, or the signal that interrupted the access. */
static __attribute__((noinline)) int plain_load(const volatile uint64_t *p,
						 uint64_t *out)
{
	in_access = 1;
	if (sigsetjmp(access_jb, 1)) {
		in_access = 0;
		return access_sig;
	}
	sim_maybe_poison();
	*out = *p;
	in_access = 0;
	return 0;
}

static __attribute__((noinline)) int plain_store(volatile uint64_t *p,
						  uint64_t v)
{
	in_access = 1;
	if (sigsetjmp(access_jb, 1)) {
		in_access = 0;
		return access_sig;
	}
	sim_maybe_poison();
	*p = v;
	in_access = 0;
	return 0;
}

static __attribute__((noinline)) int plain_xadd(volatile uint64_t *p)
{
	in_access = 1;
	if (sigsetjmp(access_jb, 1)) {
		in_access = 0;
		return access_sig;
	}
	sim_maybe_poison();
	__atomic_fetch_add((uint64_t *)p, 1, __ATOMIC_SEQ_CST);
	in_access = 0;
	return 0;
}

/* TINYDSM_IOC_WORD: 0, or -errno. */
static int word_load(const volatile uint64_t *p, uint64_t *out)
{
	struct tinydsm_word w = { .addr = (uintptr_t)p, .width = 8 };

	if (cfg.sim) {
		if (rnd_below(100) < cfg.sim_fail_pct)
			return -ETIMEDOUT;
		*out = __atomic_load_n((const uint64_t *)p, __ATOMIC_SEQ_CST);
		return 0;
	}
	if (ioctl(cfg.fd, TINYDSM_IOC_WORD, &w))
		return -errno;
	*out = w.value;
	return 0;
}

static int word_store(volatile uint64_t *p, uint64_t v)
{
	struct tinydsm_word w = { .addr = (uintptr_t)p, .width = 8,
				  .flags = TINYDSM_WORD_F_STORE, .value = v };

	if (cfg.sim) {
		/* A failed store that may or may not have been done. */
		if (rnd_below(100) < cfg.sim_fail_pct) {
			if (rnd() & 1)
				__atomic_store_n((uint64_t *)p, v, __ATOMIC_SEQ_CST);
			return -ETIMEDOUT;
		}
		__atomic_store_n((uint64_t *)p, v, __ATOMIC_SEQ_CST);
		return 0;
	}
	if (ioctl(cfg.fd, TINYDSM_IOC_WORD, &w))
		return -errno;
	return 0;
}

/* --------------------------------------------------------- the checks */

/*
 * What a reader remembers of a word: the highest seq it has seen. The
 * checks are pure functions of their arguments (the self-test calls them).
 */
enum verdict { V_OK, V_GARBAGE, V_BACKWARDS, V_READBACK };

static const char *verdict_name(enum verdict v)
{
	switch (v) {
	case V_GARBAGE: return "garbage";
	case V_BACKWARDS: return "backwards";
	case V_READBACK: return "readback";
	default: return "ok";
	}
}

/* A reader's check of value @v of word @i; *last is updated. */
static enum verdict check_read(uint64_t i, uint64_t v, uint64_t *last)
{
	int64_t s = decode(i, v);

	if (s < 0)
		return V_GARBAGE;
	if ((uint64_t)s < *last)
		return V_BACKWARDS;
	*last = (uint64_t)s;
	return V_OK;
}

/*
 * The writer's check of its own word: the value must be the last store
 * known done, or one whose outcome is unknown (that one is then known
 * done, and so is nothing before it).
 */
static enum verdict check_own(uint64_t i, uint64_t v, struct wword *w,
			      bool *pend_seen)
{
	int64_t s = decode(i, v);

	*pend_seen = false;
	if (s < 0)
		return V_GARBAGE;
	if ((uint64_t)s == w->certain)
		return V_OK;
	if (w->pend_lo && (uint64_t)s >= w->pend_lo && (uint64_t)s <= w->pend_hi) {
		w->certain = (uint64_t)s;
		if ((uint64_t)s == w->pend_hi)
			w->pend_lo = w->pend_hi = 0;
		else
			w->pend_lo = (uint64_t)s + 1;
		*pend_seen = true;
		return V_OK;
	}
	return V_READBACK;
}

/* The final check: no store is under way any more. */
static bool final_ok(const struct wword *w, int64_t s)
{
	if (s < 0)
		return false;
	if ((uint64_t)s == w->certain)
		return true;
	return w->pend_lo && (uint64_t)s >= w->pend_lo && (uint64_t)s <= w->pend_hi;
}

static bool counter_ok(uint64_t v, uint64_t certain, uint64_t ambig)
{
	return v >= certain && v <= certain + ambig;
}

/* ------------------------------------------------------------ the worker */

static struct wstate *state_map(const char *path, uint32_t gid, bool create)
{
	uint32_t nown = nown_of(gid);
	size_t sz = state_size(nown);
	struct wstate *st;
	struct stat sb;
	int fd;

	fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) || (sb.st_size != (off_t)sz &&
			       (!create || sb.st_size || ftruncate(fd, (off_t)sz)))) {
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	st = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (st == MAP_FAILED)
		return NULL;
	if (!st->magic) {
		st->gid = gid;
		st->nworkers = cfg.nworkers;
		st->homes = cfg.homes;
		st->pages = cfg.pages;
		st->nown = nown;
		st->seed = cfg.seed;
		st->magic = STATE_MAGIC;
	}
	if (st->magic != STATE_MAGIC || st->gid != gid ||
	    st->nworkers != cfg.nworkers || st->homes != cfg.homes ||
	    st->pages != cfg.pages || st->nown != nown) {
		munmap(st, sz);
		errno = EINVAL;
		return NULL;
	}
	return st;
}

/*
 * A published state, read into memory (the shared directory is 9p, where a
 * shared writable mapping is refused). NULL and errno if absent or not a
 * state of this configuration.
 */
static struct wstate *state_load(const char *path, uint32_t gid)
{
	size_t sz = state_size(nown_of(gid)), got = 0;
	struct wstate *st = malloc(sz);
	ssize_t n;
	int fd;

	if (!st)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(st);
		return NULL;
	}
	while (got < sz && (n = read(fd, (char *)st + got, sz - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (got != sz || st->magic != STATE_MAGIC || st->gid != gid ||
	    st->nworkers != cfg.nworkers || st->homes != cfg.homes ||
	    st->pages != cfg.pages || st->nown != nown_of(gid)) {
		free(st);
		errno = got != sz ? EIO : EINVAL;
		return NULL;
	}
	return st;
}

static void count_word_err(int e, int ctr)
{
	me->c[ctr]++;
	me->err[e > 0 && e < NERRNO ? e : 0]++;
}

/* Read word @i for a check, plain or IOC_WORD; 0 and *v, or -1. */
static int read_word(uint64_t i, bool plain, uint64_t *v, const char *why)
{
	volatile uint64_t *p = word_ptr(i);
	int r;

	if (plain) {
		r = plain_load(p, v);
		if (!r) {
			me->c[C_PLAIN_LOAD]++;
			return 0;
		}
		if (r == SIGBUS) {
			me->c[C_SIGBUS_LOAD]++;
		} else {
			me->c[C_FAIL_SIGNAL]++;
			fail_line("gid=%u kind=signal signal=%s(%d) op=plain-load(%s) word=%" PRIu64
				  " addr=%p", me->gid, unread_name(true, r), r, why, i,
				  (void *)p);
		}
		return -1;
	}
	r = word_load(p, v);
	if (!r) {
		me->c[C_WORD_LOAD]++;
		return 0;
	}
	count_word_err(-r, C_WORD_LOAD_ERR);
	if (!errno_expected(-r)) {
		me->c[C_FAIL_ERRNO]++;
		fail_line("gid=%u kind=errno op=word-load(%s) word=%" PRIu64
			  " addr=%p errno=%s(%d)", me->gid, why, i, (void *)p,
			  ename(-r), -r);
	}
	return -1;
}

static void report_read(uint64_t i, bool plain, uint64_t v, enum verdict vd,
			uint64_t expect_lo, uint64_t expect_hi, const char *what)
{
	me->c[vd == V_GARBAGE ? C_FAIL_GARBAGE :
	      vd == V_BACKWARDS ? C_FAIL_BACKWARDS : C_FAIL_READBACK]++;
	fail_line("gid=%u kind=%s via=%s word=%" PRIu64 " addr=%p writer=%" PRIu64
		  " seen=0x%016" PRIx64 " seen_seq=%" PRId64 " %s=%" PRIu64 "..%" PRIu64,
		  me->gid, verdict_name(vd), plain ? "plain" : "word", i,
		  (void *)word_ptr(i), i % cfg.nworkers, v, decode(i, v), what,
		  expect_lo, expect_hi);
}

static uint64_t *last_seen;	/* per word, this process's reads */

static void op_read_any(void)
{
	uint64_t i = rnd_below(nwords()), v;
	bool plain = rnd() & 1;
	uint64_t before = last_seen[i];
	enum verdict vd;

	if (read_word(i, plain, &v, "read"))
		return;
	vd = check_read(i, v, &last_seen[i]);
	if (vd != V_OK) {
		report_read(i, plain, v, vd, before, before, "min_seq");
		/* Go on from what is there, so one fault is one failure. */
		if (vd == V_BACKWARDS)
			last_seen[i] = (uint64_t)decode(i, v);
	}
}

static uint64_t own_word(uint32_t k)
{
	return (uint64_t)k * cfg.nworkers + me->gid;
}

static void op_readback(void)
{
	uint32_t k = (uint32_t)rnd_below(me->nown);
	uint64_t i = own_word(k), v;
	struct wword *w = &me->w[k];
	struct wword before = *w;
	bool plain = rnd() & 1, seen;
	enum verdict vd;

	if (read_word(i, plain, &v, "readback"))
		return;
	me->c[C_READBACK]++;
	vd = check_own(i, v, w, &seen);
	if (seen)
		me->c[C_PEND_SEEN]++;
	if (vd != V_OK) {
		char what[96];

		snprintf(what, sizeof(what), "certain=%" PRIu64 " pending",
			 before.certain);
		report_read(i, plain, v, vd, before.pend_lo, before.pend_hi, what);
		/*
		 * Go on from what is there, and let the stores after it count
		 * as pending: a word that flips between two versions is one
		 * failure here, not another one in the final check.
		 */
		if (vd == V_READBACK) {
			uint64_t s = (uint64_t)decode(i, v);
			uint64_t top = before.pend_hi > before.certain ?
				       before.pend_hi : before.certain;

			w->certain = s;
			w->pend_lo = s < top ? s + 1 : 0;
			w->pend_hi = s < top ? top : 0;
		}
	} else {
		int64_t s = decode(i, v);

		if ((uint64_t)s > last_seen[i])
			last_seen[i] = (uint64_t)s;
	}
}

static void op_write(void)
{
	uint32_t k = (uint32_t)rnd_below(me->nown);
	uint64_t i = own_word(k);
	struct wword *w = &me->w[k];
	uint64_t seq = (w->pend_hi > w->certain ? w->pend_hi : w->certain) + 1;
	volatile uint64_t *p = word_ptr(i);
	bool plain = rnd() & 1, fresh = !w->pend_lo;
	int r;

	if (seq > SEQ_MASK)
		return;
	/* Pending before the store: a SIGKILL from here on leaves it so. */
	w->pend_hi = seq;
	if (fresh)
		w->pend_lo = seq;
	me->inflight = k + 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	r = plain ? plain_store(p, encode(me->gid, i, seq)) :
		    word_store(p, encode(me->gid, i, seq));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	me->inflight = 0;
	if (plain) {
		if (!r) {
			me->c[C_PLAIN_STORE]++;
		} else {
			/* The store instruction never ran: not done. */
			if (r == SIGBUS) {
				me->c[C_SIGBUS_STORE]++;
			} else {
				me->c[C_FAIL_SIGNAL]++;
				fail_line("gid=%u kind=signal signal=%s(%d) op=plain-store word=%"
					  PRIu64 " addr=%p", me->gid, unread_name(true, r), r, i,
					  (void *)p);
			}
			if (fresh)
				w->pend_lo = w->pend_hi = 0;
			else
				w->pend_hi = seq - 1;
			return;
		}
	} else {
		if (!r) {
			me->c[C_WORD_STORE]++;
		} else {
			/* Maybe done at the home, maybe not: stays pending. */
			count_word_err(-r, C_WORD_STORE_ERR);
			me->c[C_AMBIGUOUS]++;
			if (!errno_expected(-r)) {
				me->c[C_FAIL_ERRNO]++;
				fail_line("gid=%u kind=errno op=word-store word=%" PRIu64
					  " addr=%p errno=%s(%d)", me->gid, i, (void *)p,
					  ename(-r), -r);
			}
			return;
		}
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	w->certain = seq;
	w->pend_lo = w->pend_hi = 0;
	if (seq > last_seen[i])
		last_seen[i] = seq;
}

static void op_atomic(void)
{
	unsigned int c = (unsigned int)rnd_below(cfg.homes);
	struct wctr *t = &me->ctr[c];
	int r;

	t->pending = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	r = plain_xadd(ctr_ptr(c));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (!r) {
		t->certain++;
		me->c[C_ATOMIC]++;
	} else if (r == SIGBUS) {
		me->c[C_SIGBUS_ATOMIC]++;
	} else {
		me->c[C_FAIL_SIGNAL]++;
		fail_line("gid=%u kind=signal signal=%s(%d) op=atomic counter=%u addr=%p",
			  me->gid, unread_name(true, r), r, c, (void *)ctr_ptr(c));
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	t->pending = 0;
}

static int open_region(char *why, size_t len)
{
	struct tinydsm_region_info info;
	void *m;

	cfg.fd = open("/dev/tinydsm", O_RDWR | O_CLOEXEC);
	if (cfg.fd < 0) {
		snprintf(why, len, "open /dev/tinydsm: %s", strerror(errno));
		return -1;
	}
	memset(&info, 0, sizeof(info));
	if (ioctl(cfg.fd, TINYDSM_IOC_REGION_INFO, &info)) {
		snprintf(why, len, "REGION_INFO: %s", strerror(errno));
		return -1;
	}
	/* A module before home_nodes reports 0: max_nodes slices. */
	if (!info.home_nodes)
		info.home_nodes = info.max_nodes;
	if (info.page_size != PAGE_SZ || info.home_nodes < cfg.homes ||
	    info.slice_pages < 2 * (cfg.pages + 1)) {
		snprintf(why, len, "region: page %u, %u slices of %llu pages: too small for %u blocks of %u pages",
			 info.page_size, info.home_nodes,
			 (unsigned long long)info.slice_pages, cfg.homes, cfg.pages + 1);
		return -1;
	}
	cfg.slice_pages = info.slice_pages;
	cfg.block_off = info.slice_pages / 2;
	m = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, cfg.fd, 0);
	if (m == MAP_FAILED) {
		snprintf(why, len, "mmap the region: %s", strerror(errno));
		return -1;
	}
	cfg.base = m;
	return 0;
}

/* One worker process: runs until the supervisor sets stop. */
static int worker_main(const char *state_path, uint32_t gid)
{
	char why[256];
	pid_t parent = getppid();
	unsigned int c;

	me = state_map(state_path, gid, false);
	if (!me) {
		fprintf(stderr, "soak_worker: gid %u: state %s: %s\n", gid,
			state_path, strerror(errno));
		return 2;
	}
	me->spawns++;
	me->pid = (uint64_t)getpid();
	/* An xadd a kill interrupted: maybe done. */
	for (c = 0; c < MAX_HOMES; c++) {
		if (me->ctr[c].pending) {
			me->ctr[c].ambig += me->ctr[c].pending;
			me->c[C_KILLED_ATOMIC]++;
			me->ctr[c].pending = 0;
		}
	}
	/* A store a kill interrupted is pending already: count it. */
	if (me->inflight) {
		me->c[C_AMBIGUOUS]++;
		me->inflight = 0;
	}
	if (!cfg.sim && open_region(why, sizeof(why))) {
		fprintf(stderr, "soak_worker: gid %u: %s\n", gid, why);
		return 2;
	}
	last_seen = calloc(nwords(), sizeof(*last_seen));
	if (!last_seen)
		return 2;
	rng_seed(cfg.seed ^ (uint64_t)gid << 40 ^ me->spawns << 20);
	install_fault_handlers();
	while (!me->stop) {
		uint64_t r = rnd_below(100), errs_before;

		if (getppid() != parent)
			break;
		errs_before = me->c[C_SIGBUS_LOAD] + me->c[C_SIGBUS_STORE] +
			      me->c[C_SIGBUS_ATOMIC] + me->c[C_WORD_LOAD_ERR] +
			      me->c[C_WORD_STORE_ERR];
		if (r < 25)
			op_write();
		else if (r < 35)
			op_readback();
		else if (r < 88)
			op_read_any();
		else
			op_atomic();
		me->heartbeat++;
		if (me->c[C_SIGBUS_LOAD] + me->c[C_SIGBUS_STORE] +
		    me->c[C_SIGBUS_ATOMIC] + me->c[C_WORD_LOAD_ERR] +
		    me->c[C_WORD_STORE_ERR] != errs_before)
			usleep(cfg.sim ? 100 : 20000);	/* a fault: back off */
		else if (cfg.pace_us)
			usleep(cfg.pace_us);
	}
	return 0;
}

/* ------------------------------------------------------------ supervisor */

struct sup {
	const char *dir;		/* state files, pid files, stop file */
	unsigned int k;			/* workers on this node */
	uint32_t first_gid;
	unsigned int stall_s;		/* no progress this long: a failure */
	unsigned int stop_wait_s;	/* time workers get to stop */
	const char *publish;		/* copy the state files here at the end */
	const char *env;		/* write the node's totals here */
	/* outcome */
	uint64_t respawns, killed, died_other, stalls, hung;
	double max_stall;
};

struct child {
	pid_t pid;
	uint64_t hb;
	double hb_t;
	bool stalled;
	struct wstate *st;
	char path[PATH_MAX];
};

static void path_of(char *buf, size_t len, const char *dir, const char *what,
		    unsigned int n)
{
	snprintf(buf, len, "%s/%s.%u", dir, what, n);
}

static void write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fputs(text, f);
	if (fclose(f) == 0)
		rename(tmp, path);
}

/* What the kernel says a stuck task waits on (for the failure line). */
static void task_where(pid_t pid, char *buf, size_t len)
{
	char path[64], tmp[512];
	size_t n = 0;
	ssize_t r;
	int fd;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		r = read(fd, tmp, sizeof(tmp) - 1);
		close(fd);
		if (r > 0) {
			tmp[r] = '\0';
			n += (size_t)snprintf(buf + n, len - n, "wchan=%s", tmp);
		}
	}
	snprintf(path, sizeof(path), "/proc/%d/stack", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && n < len) {
		r = read(fd, tmp, sizeof(tmp) - 1);
		close(fd);
		if (r > 0) {
			char *s;

			tmp[r] = '\0';
			/* "[<0>] fn+0x.../0x...\n" lines: keep the names. */
			n += (size_t)snprintf(buf + n, len - n, " stack=");
			for (s = strtok(tmp, "\n"); s && n < len - 2; s = strtok(NULL, "\n")) {
				char *f = strchr(s, ' ');

				n += (size_t)snprintf(buf + n, len - n, "%s<",
						      f ? f + 1 : s);
			}
		}
	} else if (fd >= 0) {
		close(fd);
	}
}

static pid_t spawn(struct child *c, uint32_t gid, const struct sup *s,
		   unsigned int idx)
{
	char pidpath[PATH_MAX], txt[32];
	pid_t pid = fork();

	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		_exit(worker_main(c->path, gid));
	}
	if (pid > 0) {
		c->pid = pid;
		c->hb = c->st->heartbeat;
		c->hb_t = now_mono();
		c->stalled = false;
		path_of(pidpath, sizeof(pidpath), s->dir, "worker", idx);
		snprintf(txt, sizeof(txt), "%d\n", (int)pid);
		write_file(pidpath, txt);
	}
	return pid;
}

static volatile sig_atomic_t sup_stop;

static void on_term(int sig)
{
	(void)sig;
	sup_stop = 1;
}

static void sum_states(struct child *ch, unsigned int k, uint64_t *tot,
		       uint64_t *errs)
{
	unsigned int i, j;

	memset(tot, 0, sizeof(uint64_t) * C_NCOUNT);
	memset(errs, 0, sizeof(uint64_t) * NERRNO);
	for (i = 0; i < k; i++) {
		for (j = 0; j < C_NCOUNT; j++)
			tot[j] += ch[i].st->c[j];
		for (j = 0; j < NERRNO; j++)
			errs[j] += ch[i].st->err[j];
	}
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536], tmp[PATH_MAX + 8];
	int in, out, ok = 1;
	ssize_t n;

	snprintf(tmp, sizeof(tmp), "%s.tmp", to);
	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			ok = 0;
	if (n < 0)
		ok = 0;
	close(in);
	if (close(out) || !ok)
		return -1;
	return rename(tmp, to);
}

static int supervise(struct sup *s)
{
	struct child *ch = calloc(s->k, sizeof(*ch));
	char stopfile[PATH_MAX], why[512];
	uint64_t tot[C_NCOUNT], errs[NERRNO];
	unsigned int i, alive;
	double t_stop;
	FILE *f;
	char *buf;
	size_t blen;
	int status;
	pid_t pid;

	if (!ch)
		return 2;
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	snprintf(stopfile, sizeof(stopfile), "%s/stop", s->dir);
	for (i = 0; i < s->k; i++) {
		path_of(ch[i].path, sizeof(ch[i].path), s->dir, "state",
			s->first_gid + i);
		ch[i].st = state_map(ch[i].path, s->first_gid + i, true);
		if (!ch[i].st) {
			fprintf(stderr, "soak_worker: state %s: %s\n", ch[i].path,
				strerror(errno));
			return 2;
		}
	}
	for (i = 0; i < s->k; i++)
		if (spawn(&ch[i], s->first_gid + i, s, i) < 0)
			return 2;
	while (!sup_stop && access(stopfile, F_OK)) {
		double t = now_mono();

		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (i = 0; i < s->k && ch[i].pid != pid; i++)
				;
			if (i == s->k)
				continue;
			if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
				s->killed++;
			} else {
				s->died_other++;
				fail_line("gid=%u kind=worker-died status=0x%x (not killed by the injector)",
					  s->first_gid + i, (unsigned int)status);
			}
			ch[i].pid = 0;
			if (spawn(&ch[i], s->first_gid + i, s, i) > 0)
				s->respawns++;
		}
		for (i = 0; i < s->k; i++) {
			if (!ch[i].pid)
				continue;
			if (ch[i].st->heartbeat != ch[i].hb) {
				if (t - ch[i].hb_t > s->max_stall)
					s->max_stall = t - ch[i].hb_t;
				ch[i].hb = ch[i].st->heartbeat;
				ch[i].hb_t = t;
				ch[i].stalled = false;
			} else if (!ch[i].stalled && t - ch[i].hb_t > s->stall_s) {
				ch[i].stalled = true;
				s->stalls++;
				task_where(ch[i].pid, why, sizeof(why));
				fail_line("gid=%u kind=stall pid=%d no operation finished for %u s %s",
					  s->first_gid + i, (int)ch[i].pid, s->stall_s, why);
			}
		}
		usleep(250000);
	}
	/* Stop: every worker finishes its operation and exits. */
	for (i = 0; i < s->k; i++)
		ch[i].st->stop = 1;
	t_stop = now_mono();
	do {
		alive = 0;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			for (i = 0; i < s->k; i++)
				if (ch[i].pid == pid)
					ch[i].pid = 0;
		for (i = 0; i < s->k; i++)
			alive += ch[i].pid != 0;
		if (alive)
			usleep(100000);
	} while (alive && now_mono() - t_stop < s->stop_wait_s);
	for (i = 0; i < s->k; i++) {
		if (!ch[i].pid)
			continue;
		s->hung++;
		task_where(ch[i].pid, why, sizeof(why));
		fail_line("gid=%u kind=hung pid=%d did not stop within %u s %s",
			  s->first_gid + i, (int)ch[i].pid, s->stop_wait_s, why);
		kill(ch[i].pid, SIGKILL);
	}
	t_stop = now_mono();
	while (now_mono() - t_stop < 10) {
		alive = 0;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			for (i = 0; i < s->k; i++)
				if (ch[i].pid == pid)
					ch[i].pid = 0;
		for (i = 0; i < s->k; i++)
			alive += ch[i].pid != 0;
		if (!alive)
			break;
		usleep(100000);
	}
	/* A worker killed in an xadd: its increment is unknown. */
	for (i = 0; i < s->k; i++) {
		unsigned int c;

		for (c = 0; c < MAX_HOMES; c++) {
			if (ch[i].st->ctr[c].pending) {
				ch[i].st->ctr[c].ambig++;
				ch[i].st->ctr[c].pending = 0;
				ch[i].st->c[C_KILLED_ATOMIC]++;
			}
		}
		msync(ch[i].st, state_size(ch[i].st->nown), MS_SYNC);
	}
	if (s->publish) {
		for (i = 0; i < s->k; i++) {
			char to[PATH_MAX];

			path_of(to, sizeof(to), s->publish, "state", s->first_gid + i);
			if (copy_file(ch[i].path, to))
				fprintf(stderr, "soak_worker: cannot publish %s to %s: %s\n",
					ch[i].path, to, strerror(errno));
		}
	}
	sum_states(ch, s->k, tot, errs);
	f = open_memstream(&buf, &blen);
	if (!f)
		return 2;
	for (i = 0; i < C_NCOUNT; i++)
		fprintf(f, "%s=%" PRIu64 "\n", cnames[i], tot[i]);
	for (i = 0; i < NERRNO; i++) {
		const char *n = errno_name((int)i);

		if (!errs[i])
			continue;
		if (n)
			fprintf(f, "errno_%s=%" PRIu64 "\n", n, errs[i]);
		else
			fprintf(f, "errno_%u=%" PRIu64 "\n", i, errs[i]);
	}
	{
		uint64_t spawns = 0;

		for (i = 0; i < s->k; i++)
			spawns += ch[i].st->spawns;
		fprintf(f, "workers=%u\nspawns=%" PRIu64 "\n", s->k, spawns);
	}
	fprintf(f, "killed=%" PRIu64 "\nrespawns=%" PRIu64 "\ndied_other=%" PRIu64
		"\nstalls=%" PRIu64 "\nmax_stall_s=%.1f\nhung=%" PRIu64 "\n",
		s->killed, s->respawns, s->died_other, s->stalls, s->max_stall,
		s->hung);
	fprintf(f, "fail_worker=%" PRIu64 "\n",
		tot[C_FAIL_BACKWARDS] + tot[C_FAIL_READBACK] + tot[C_FAIL_GARBAGE] +
		tot[C_FAIL_SIGNAL] + tot[C_FAIL_ERRNO] + s->died_other +
		s->stalls + s->hung);
	fclose(f);
	if (s->env)
		write_file(s->env, buf);
	else
		fputs(buf, stdout);
	free(buf);
	return 0;
}

/* ---------------------------------------------------------------- verify */

struct vres {
	uint64_t words, reads, unreadable, mismatch, missing, counters,
		 counter_mismatch, failures;
};

/* Read @p plain and by IOC_WORD, each retried a few times; -1: unreadable. */
static int verify_read(volatile uint64_t *p, bool plain, uint64_t *v)
{
	int r = -1, t;

	for (t = 0; t < 4; t++) {
		r = plain ? plain_load(p, v) : word_load(p, v);
		if (!r)
			return 0;
		usleep(500000);
	}
	return r;
}

static int verify(const char *dir, const char *env, struct vres *res)
{
	struct wstate **st = calloc(cfg.nworkers, sizeof(*st));
	uint64_t i, certain[MAX_HOMES] = { 0 }, ambig[MAX_HOMES] = { 0 };
	char path[PATH_MAX];
	unsigned int g, c, pass;

	if (!st)
		return 2;
	memset(res, 0, sizeof(*res));
	for (g = 0; g < cfg.nworkers; g++) {
		path_of(path, sizeof(path), dir, "state", g);
		st[g] = state_load(path, g);
		if (!st[g]) {
			res->missing++;
			res->failures++;
			fail_line("gid=%u kind=verify-missing state %s: %s (its words are not checked)",
				  g, path, strerror(errno));
			continue;
		}
		for (c = 0; c < cfg.homes; c++) {
			certain[c] += st[g]->ctr[c].certain;
			ambig[c] += st[g]->ctr[c].ambig + st[g]->ctr[c].pending;
		}
	}
	install_fault_handlers();
	for (pass = 0; pass < 2; pass++) {
		bool plain = pass == 0;

		uint64_t dead_page = UINT64_MAX;

		for (i = 0; i < nwords(); i++) {
			uint32_t gid = (uint32_t)(i % cfg.nworkers);
			volatile uint64_t *p = word_ptr(i);
			struct wword *w;
			uint64_t v;
			int r;

			if (!st[gid])
				continue;
			w = &st[gid]->w[i / cfg.nworkers];
			res->words++;
			/* A page that did not answer: its other words are lost too. */
			if (i / WORDS_PER_PAGE == dead_page) {
				res->unreadable++;
				res->failures++;
				continue;
			}
			r = verify_read(p, plain, &v);
			if (r) {
				res->unreadable++;
				res->failures++;
				dead_page = i / WORDS_PER_PAGE;
				fail_line("kind=verify-unreadable via=%s word=%" PRIu64
					  " addr=%p writer=%u %s=%s(%d): the page's later words are not read",
					  plain ? "plain" : "word", i, (void *)p, gid,
					  plain ? "signal" : "errno", unread_name(plain, r),
					  plain ? r : -r);
				continue;
			}
			res->reads++;
			if (!final_ok(w, decode(i, v))) {
				res->mismatch++;
				res->failures++;
				fail_line("kind=verify-mismatch via=%s word=%" PRIu64
					  " addr=%p writer=%u seen=0x%016" PRIx64
					  " seen_seq=%" PRId64 " certain=%" PRIu64
					  " pending=%" PRIu64 "..%" PRIu64,
					  plain ? "plain" : "word", i, (void *)p, gid, v,
					  decode(i, v), w->certain, w->pend_lo, w->pend_hi);
			}
		}
		for (c = 0; c < cfg.homes; c++) {
			volatile uint64_t *p = ctr_ptr(c);
			uint64_t v;
			int r;

			res->counters++;
			r = verify_read(p, plain, &v);
			if (r) {
				res->unreadable++;
				res->failures++;
				fail_line("kind=verify-unreadable via=%s counter=%u addr=%p %s=%s(%d)",
					  plain ? "plain" : "word", c, (void *)p,
					  plain ? "signal" : "errno", unread_name(plain, r),
					  plain ? r : -r);
				continue;
			}
			/* With a state missing, some increments are not known. */
			if (!res->missing && !counter_ok(v, certain[c], ambig[c])) {
				res->counter_mismatch++;
				res->failures++;
				fail_line("kind=verify-counter via=%s counter=%u addr=%p seen=%"
					  PRIu64 " expected=%" PRIu64 "..%" PRIu64,
					  plain ? "plain" : "word", c, (void *)p, v,
					  certain[c], certain[c] + ambig[c]);
			}
		}
	}
	if (env) {
		char buf[1024];

		snprintf(buf, sizeof(buf),
			 "verify_words=%" PRIu64 "\nverify_reads=%" PRIu64
			 "\nverify_unreadable=%" PRIu64 "\nverify_mismatch=%" PRIu64
			 "\nverify_missing_states=%" PRIu64 "\nverify_counters=%" PRIu64
			 "\nverify_counter_mismatch=%" PRIu64 "\nverify_failures=%" PRIu64
			 "\n", res->words, res->reads, res->unreadable, res->mismatch,
			 res->missing, res->counters, res->counter_mismatch,
			 res->failures);
		write_file(env, buf);
	}
	for (g = 0; g < cfg.nworkers; g++)
		free(st[g]);
	free(st);
	return res->failures ? 1 : 0;
}

/* ------------------------------------------------------------ NODE_EVICT */

static int evict(uint32_t id)
{
	struct nl_sock *sk = NULL;
	struct tnl_answer r;
	struct nl_msg *msg;
	int fam, err;

	if (tnl_sock_open(&sk)) {
		fprintf(stderr, "soak_worker evict: no generic netlink socket\n");
		return 1;
	}
	fam = tnl_family(sk);
	if (fam < 0) {
		fprintf(stderr, "soak_worker evict: family %s: %s\n",
			TINYDSM_GENL_NAME, nl_geterror(fam));
		return 1;
	}
	msg = tnl_msg(fam, TINYDSM_CMD_NODE_EVICT, 0);
	if (!msg || nla_put_u32(msg, TINYDSM_A_NODE_ID, id) < 0) {
		fprintf(stderr, "soak_worker evict: cannot build the message\n");
		return 1;
	}
	err = tnl_answer_call(sk, msg, &r);
	nl_socket_free(sk);
	if (err) {
		fprintf(stderr, "soak_worker evict: %s\n", nl_geterror(err));
		return 1;
	}
	if (r.error) {
		fprintf(stderr, "soak_worker evict %u: %s\n", id, strerror(-r.error));
		return 1;
	}
	printf("evicted node%u: copies_dropped=%u pages_lost=%u\n", id, r.dropped,
	       r.lost);
	return 0;
}

/* ------------------------------------------------------------- self-test */

static unsigned int st_failed, st_passed;

static void expect(bool ok, const char *what)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	if (ok)
		st_passed++;
	else
		st_failed++;
}

/* The pure checks, case by case. */
static void selftest_units(void)
{
	struct wword w = { 0 };
	uint64_t last = 0, i = 7, j = 8;
	bool seen;

	expect(decode(i, 0) == 0, "unit: 0 is a never-written word");
	expect(decode(i, encode(i % cfg.nworkers, i, 5)) == 5, "unit: tag round trip");
	expect(decode(i, encode((i + 1) % cfg.nworkers, i, 5)) < 0,
	       "unit: another writer's tag is garbage");
	expect(decode(i, encode(i % cfg.nworkers, j, 5)) < 0,
	       "unit: another word's tag is garbage");
	expect(decode(i, encode(i % cfg.nworkers, i, 0)) < 0, "unit: seq 0 with a tag is garbage");
	expect(check_read(i, encode(i % cfg.nworkers, i, 3), &last) == V_OK && last == 3,
	       "unit: reader accepts a first value");
	expect(check_read(i, encode(i % cfg.nworkers, i, 3), &last) == V_OK,
	       "unit: reader accepts the same value again");
	expect(check_read(i, encode(i % cfg.nworkers, i, 9), &last) == V_OK && last == 9,
	       "unit: reader accepts a newer value");
	expect(check_read(i, encode(i % cfg.nworkers, i, 8), &last) == V_BACKWARDS,
	       "unit: reader catches a word going backwards");
	expect(check_read(i, 0, &last) == V_BACKWARDS, "unit: reader catches a word going back to 0");
	expect(check_read(i, 0xdeadbeef, &last) == V_GARBAGE, "unit: reader catches garbage");

	w.certain = 4;
	expect(check_own(i, encode(i % cfg.nworkers, i, 4), &w, &seen) == V_OK && !seen,
	       "unit: writer reads back its last store");
	expect(check_own(i, encode(i % cfg.nworkers, i, 3), &w, &seen) == V_READBACK,
	       "unit: writer catches an older value");
	w.certain = 4;
	expect(check_own(i, encode(i % cfg.nworkers, i, 5), &w, &seen) == V_READBACK,
	       "unit: writer catches a value it never stored");
	w.certain = 4;
	w.pend_lo = 5;
	w.pend_hi = 7;
	expect(check_own(i, encode(i % cfg.nworkers, i, 4), &w, &seen) == V_OK && !seen &&
	       w.pend_lo == 5, "unit: pending stores: the last certain one is accepted");
	expect(check_own(i, encode(i % cfg.nworkers, i, 6), &w, &seen) == V_OK && seen &&
	       w.certain == 6 && w.pend_lo == 7 && w.pend_hi == 7,
	       "unit: a pending store seen: it becomes certain, later ones stay pending");
	expect(check_own(i, encode(i % cfg.nworkers, i, 5), &w, &seen) == V_READBACK,
	       "unit: after that, the pending store before it is caught");
	w.certain = 6;
	expect(check_own(i, encode(i % cfg.nworkers, i, 7), &w, &seen) == V_OK &&
	       w.certain == 7 && !w.pend_lo, "unit: the last pending store seen clears pending");
	expect(check_own(i, encode(i % cfg.nworkers, i, 8), &w, &seen) == V_READBACK,
	       "unit: with nothing pending, a future value is caught");
	w.certain = 2;
	w.pend_lo = 3;
	w.pend_hi = 4;
	expect(final_ok(&w, 2) && final_ok(&w, 3) && final_ok(&w, 4) &&
	       !final_ok(&w, 1) && !final_ok(&w, 5) && !final_ok(&w, -1),
	       "unit: final check: certain or pending, nothing else");
	w.certain = 0;
	w.pend_lo = w.pend_hi = 0;
	expect(final_ok(&w, 0) && !final_ok(&w, 1), "unit: final check of a never-written word");
	expect(counter_ok(10, 10, 0) && counter_ok(12, 10, 2) && !counter_ok(9, 10, 2) &&
	       !counter_ok(13, 10, 2), "unit: counter within [certain, certain + ambiguous]");
}

/* Count FAIL lines of @kind in the log. */
static unsigned int count_fails(const char *log, const char *kind)
{
	char line[1024], pat[64];
	unsigned int n = 0;
	FILE *f = fopen(log, "r");

	if (!f)
		return 0;
	snprintf(pat, sizeof(pat), "kind=%s ", kind);
	while (fgets(line, sizeof(line), f))
		if (!kind[0] || strstr(line, pat))
			n++;
	fclose(f);
	return n;
}

/*
 * Run the supervisor on plain shared memory in a child for @secs seconds,
 * SIGKILLing a random worker every @kill_ms ms, and optionally writing
 * older values into random words (@corrupt times). Returns the fail_worker
 * count from its env file, or -1.
 */
static long selftest_run(const char *dir, unsigned int secs, unsigned int kill_ms,
			 unsigned int corrupt)
{
	struct sup s = { .dir = dir, .k = cfg.nworkers, .first_gid = 0,
			 .stall_s = 30, .stop_wait_s = 10 };
	char env[PATH_MAX], stopf[PATH_MAX], pidf[PATH_MAX], line[128];
	double t0 = now_mono(), next_kill = t0;
	unsigned int done = 0;
	long fails = -1;
	pid_t sup;
	FILE *f;
	int status;

	snprintf(env, sizeof(env), "%s/sup.env", dir);
	snprintf(stopf, sizeof(stopf), "%s/stop", dir);
	unlink(stopf);
	unlink(env);
	s.env = env;
	sup = fork();
	if (sup == 0)
		_exit(supervise(&s));
	rng_seed(cfg.seed ^ 0x5e1f);
	while (now_mono() - t0 < secs) {
		if (kill_ms && now_mono() >= next_kill) {
			unsigned int k = (unsigned int)rnd_below(cfg.nworkers);

			path_of(pidf, sizeof(pidf), dir, "worker", k);
			f = fopen(pidf, "r");
			if (f) {
				int pid;

				if (fscanf(f, "%d", &pid) == 1 && pid > 0)
					kill(pid, SIGKILL);
				fclose(f);
			}
			next_kill = now_mono() + kill_ms / 1000.0;
		}
		if (done < corrupt) {
			/* Put an older value of its own writer in a word. */
			uint64_t i = rnd_below(nwords()), v = *word_ptr(i);
			int64_t sq = decode(i, v);

			if (sq > 2) {
				*word_ptr(i) = encode((uint32_t)(i % cfg.nworkers), i,
						      (uint64_t)sq - 2);
				done++;
			}
		}
		usleep(2000);
	}
	write_file(stopf, "stop\n");
	waitpid(sup, &status, 0);
	f = fopen(env, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "fail_worker=%ld", &fails) == 1)
			break;
	fclose(f);
	return fails;
}

static int selftest(void)
{
	char dir[] = "/tmp/soak-selftest.XXXXXX", log[PATH_MAX], pubdir[PATH_MAX];
	struct vres vr;
	size_t sz;
	long fails;
	int pfd;
	void *poison;
	unsigned int killed;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	printf("# soak_worker self-test in %s (no module: plain shared memory)\n", dir);
	snprintf(log, sizeof(log), "%s/failures.log", dir);
	cfg.fail_log = log;
	cfg.sim = true;
	cfg.homes = 3;
	cfg.pages = 2;
	cfg.nworkers = 6;
	cfg.pace_us = 50;
	cfg.slice_pages = cfg.pages + 1 + 3;	/* blocks not adjacent */
	cfg.block_off = 1;
	sz = (size_t)cfg.slice_pages * cfg.homes * PAGE_SZ;
	cfg.base = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			-1, 0);
	pfd = memfd_create("soak-poison", MFD_CLOEXEC);
	poison = pfd < 0 ? MAP_FAILED :
		 mmap(NULL, PAGE_SZ, PROT_READ, MAP_SHARED, pfd, 0);
	if (cfg.base == MAP_FAILED || poison == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	cfg.poison = poison;	/* the file is empty: any access is SIGBUS */

	selftest_units();

	/* 1. Faults and kills, no corruption: nothing may be reported. */
	cfg.sim_fail_pct = 5;
	fails = selftest_run(dir, 4, 150, 0);
	printf("# run 1: fail_worker=%ld, failure lines %u\n", fails, count_fails(log, ""));
	expect(fails == 0 && count_fails(log, "") == 0,
	       "run with simulated SIGBUS, failed word ops, SIGKILLs: no failure reported");
	{
		FILE *f;
		char line[128], envp[PATH_MAX];
		unsigned long long amb = 0, sb = 0, ws = 0, k = 0;

		snprintf(envp, sizeof(envp), "%s/sup.env", dir);
		f = fopen(envp, "r");
		while (f && fgets(line, sizeof(line), f)) {
			sscanf(line, "ambiguous_stores=%llu", &amb);
			sscanf(line, "sigbus_stores=%llu", &sb);
			sscanf(line, "word_stores=%llu", &ws);
			sscanf(line, "killed=%llu", &k);
		}
		if (f)
			fclose(f);
		printf("# run 1: word_stores=%llu ambiguous=%llu sigbus_stores=%llu killed=%llu\n",
		       ws, amb, sb, k);
		killed = (unsigned int)k;
		expect(amb > 0 && sb > 0 && ws > 0 && killed > 0,
		       "run 1 exercised ambiguous stores, SIGBUS and kills");
	}
	cfg.sim_fail_pct = 0;
	fails = verify(dir, NULL, &vr);
	expect(fails == 0 && vr.failures == 0 && vr.words == 2 * nwords(),
	       "final check after run 1: every word and counter as expected");

	/* 2. Corruption after the run: the final check must name each one. */
	{
		uint64_t i0 = 5, i1 = 700, v;
		int64_t s;
		unsigned int before = count_fails(log, "verify-mismatch");

		/* make sure word i0 has a value to go back from */
		v = *word_ptr(i0);
		s = decode(i0, v);
		if (s < 1) {
			/* not written in run 1: write it as its writer would */
			printf("# word %llu was never written; corrupting word 0's writer state instead\n",
			       (unsigned long long)i0);
		}
		*word_ptr(i0) = s >= 1 ? encode((uint32_t)(i0 % cfg.nworkers), i0,
						(uint64_t)s + 1000) : 0x1;
		*word_ptr(i1) = 0x0123456789abcdefull;
		*ctr_ptr(1) = 0;	/* every increment lost */
		verify(dir, NULL, &vr);
		expect(vr.mismatch == 4 && vr.counter_mismatch == 2 &&
		       count_fails(log, "verify-mismatch") - before == 4,
		       "final check catches a wrong word, a garbage word, a lost increment (both read paths)");
	}

	/* 3. Older values written while the workers run: they must notice. */
	snprintf(pubdir, sizeof(pubdir), "%s/run3", dir);
	mkdir(pubdir, 0755);
	memset(cfg.base, 0, sz);
	cfg.sim_fail_pct = 2;
	fails = selftest_run(pubdir, 4, 0, 400);
	printf("# run 3: fail_worker=%ld (backwards %u, readback %u)\n", fails,
	       count_fails(log, "backwards"), count_fails(log, "readback"));
	expect(fails > 0 && count_fails(log, "backwards") + count_fails(log, "readback") > 0,
	       "words set back under running workers are caught");

	printf("%u passed, %u failed\n", st_passed, st_failed);
	if (!st_failed) {
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return st_failed ? 1 : 0;
}

/* ------------------------------------------------------------------ main */

static void usage(void)
{
	fprintf(stderr,
		"usage: soak_worker supervise --dir D --workers K --first-gid G [common]\n"
		"                  [--publish DIR] [--env FILE] [--stall-s S] [--stop-wait-s S]\n"
		"       soak_worker verify --states DIR [--env FILE] [common]\n"
		"       soak_worker layout [common]\n"
		"       soak_worker evict ID\n"
		"       soak_worker selftest\n"
		"common: --total W --homes H --pages P --seed S --pace-us U --node N\n"
		"        --fail-log FILE\n");
	exit(2);
}

static unsigned long num(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || !*s || *end)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	struct sup s = { .stall_s = 60, .stop_wait_s = 60 };
	const char *states = NULL, *env = NULL, *cmd;
	char why[256];
	int i;

	if (argc < 2)
		usage();
	cmd = argv[1];
	if (!strcmp(cmd, "selftest"))
		return selftest();
	if (!strcmp(cmd, "evict")) {
		if (argc != 3)
			usage();
		return evict((uint32_t)num(argv[2]));
	}
	for (i = 2; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (!strcmp(o, "--dir"))
			s.dir = v;
		else if (!strcmp(o, "--workers"))
			s.k = (unsigned int)num(v);
		else if (!strcmp(o, "--first-gid"))
			s.first_gid = (uint32_t)num(v);
		else if (!strcmp(o, "--publish"))
			s.publish = v;
		else if (!strcmp(o, "--env"))
			env = v;
		else if (!strcmp(o, "--stall-s"))
			s.stall_s = (unsigned int)num(v);
		else if (!strcmp(o, "--stop-wait-s"))
			s.stop_wait_s = (unsigned int)num(v);
		else if (!strcmp(o, "--states"))
			states = v;
		else if (!strcmp(o, "--total"))
			cfg.nworkers = (unsigned int)num(v);
		else if (!strcmp(o, "--homes"))
			cfg.homes = (unsigned int)num(v);
		else if (!strcmp(o, "--pages"))
			cfg.pages = (unsigned int)num(v);
		else if (!strcmp(o, "--seed"))
			cfg.seed = num(v);
		else if (!strcmp(o, "--pace-us"))
			cfg.pace_us = (unsigned int)num(v);
		else if (!strcmp(o, "--node"))
			cfg.node = (unsigned int)num(v);
		else if (!strcmp(o, "--fail-log"))
			cfg.fail_log = v;
		else
			usage();
	}
	if (!cfg.homes || cfg.homes > MAX_HOMES || !cfg.pages || cfg.pages > 4096 ||
	    !cfg.nworkers || cfg.nworkers > MAX_WORKERS)
		usage();
	if (!strcmp(cmd, "layout")) {
		unsigned int b;

		if (open_region(why, sizeof(why))) {
			fprintf(stderr, "soak_worker layout: %s\n", why);
			return 1;
		}
		/* "block HOME ADDR NPAGES": data pages then the counter page */
		for (b = 0; b < cfg.homes; b++)
			printf("block %u 0x%" PRIx64 " %u\n", b + 1,
			       (uint64_t)(uintptr_t)(cfg.base + block_page(b) * PAGE_SZ),
			       cfg.pages + 1);
		return 0;
	}
	if (!strcmp(cmd, "supervise")) {
		if (!s.dir || !s.k || s.first_gid + s.k > cfg.nworkers)
			usage();
		s.env = env;
		return supervise(&s);
	}
	if (!strcmp(cmd, "verify")) {
		struct vres r;
		int rc;

		if (!states)
			usage();
		if (open_region(why, sizeof(why))) {
			fprintf(stderr, "soak_worker verify: %s\n", why);
			return 2;
		}
		rc = verify(states, env, &r);
		printf("verify: %" PRIu64 " word reads, %" PRIu64 " counter reads, %" PRIu64
		       " failures (%" PRIu64 " unreadable, %" PRIu64 " wrong words, %" PRIu64
		       " wrong counters, %" PRIu64 " writers' states missing)\n",
		       r.words, r.counters, r.failures, r.unreadable, r.mismatch,
		       r.counter_mismatch, r.missing);
		return rc;
	}
	usage();
	return 2;
}
