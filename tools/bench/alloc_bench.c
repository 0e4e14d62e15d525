// SPDX-License-Identifier: GPL-2.0
/*
 * alloc_bench: tinydsm's allocator study, the C side. A malloc-heavy
 * workload in the manner of the MIND allocator thesis's memtest, run over
 * the shared region with one of three allocation strategies, to count what
 * each costs in allocation round trips (one TINYDSM_IOC_ALLOC or
 * TINYDSM_IOC_FREE is one round trip to the run's home), in memory held
 * against memory used, and in time. The lab script
 * tools/bench/alloc_bench.sh runs it on node1, one strategy after another;
 * tools/bench.sh --only alloc runs that lab on the host and
 * tools/report/report.py alloc prints the table. tools/bench/README.md,
 * "The allocator study", defines every figure.
 *
 *   alloc_bench -s page|chunk|arena [-r ROUNDS] [-o OPS] [-t THREADS]
 *               [-m MAX_LIVE] [-S SEED] [-L LARGE_PCT] [-M MAX_SIZE]
 *               [-e ENV] [-T SECS]
 *
 * The workload. Every thread (-t, 4) of every rank runs ROUNDS (-r, 20)
 * rounds of OPS (-o, 2000) operations, each a malloc or a free: the
 * even rounds grow the thread's live blocks (a malloc 70% of the time),
 * the odd ones shrink them (30%), never beyond MAX_LIVE (-m, 1000) live
 * blocks; a free takes a random live block. Sizes: LARGE_PCT (-L, 10)
 * percent large, 4 KiB .. MAX_SIZE (-M, 256 KiB), the rest small, 16 B ..
 * 4 KiB; either way a power of two 2^k drawn uniformly in its range, then
 * a size uniform in [2^k, 2^(k+1)] (so: log-uniform). Everything is drawn
 * from one generator per thread, seeded by (SEED, rank, thread) only, so
 * the three strategies run the very same sequence of sizes and operations.
 * Every block is filled with a pattern of (rank, thread, its serial number)
 * and checked, every byte, just before it is freed; at the end of every
 * round each process sorts all its threads' live blocks by address and
 * checks that no two overlap and that each lies in the region (blocks of
 * other processes would show in the contents). After the last round every
 * thread frees what it still holds.
 *
 * The strategies (the -s argument; the figures' prefix alloc_<strategy>_):
 *
 *   page    one tdsm_alloc(ceil(size / 4096) pages) per malloc, homed on
 *           this node, and one tdsm_free() per free: the module's run
 *           allocator used as malloc;
 *   chunk   a per-process allocator (one pthread mutex) over chunks of
 *           1 MiB, each one tdsm_alloc() homed on this node, a new one
 *           when none has room (as glibc grows its heaps); a block over
 *           512 KiB gets a run of its own (glibc's mmap threshold). The
 *           chunks are kept until the end (not trimmed);
 *   arena   libtinydsm's heap, tdsm_malloc() and tdsm_mfree() (heap.c:
 *           one arena per node, 35 size classes cut from 256 KiB chunks,
 *           a large block a run of its own).
 *
 * A rank is a process of a job (tdsm_init(): TINYDSM_RANK ... as
 * `tinydsmctl run` gives them); without those variables the program is its
 * own launcher: it makes a job of one rank and destroys it at the end. Run
 * it in a job of its own: the arena's figures are its node's since the
 * arena was made. The ranks start and end the workload at the job's
 * barrier; rank 0 adds up every rank's figures (through a run of the
 * region) and prints them.
 *
 * -C N (for the host test): flip a byte of the N-th block of rank 0's
 * thread 0 after its fill, which its check must find (exit 1).
 *
 * Figures go to stdout and, as key=value lines, to the -e file
 * (appended). The module's counters (TINYDSM_IOC_STATS, rank 0's node)
 * are n/a where there is none (the host test's mock).
 * Exit status: 0; 1 a block's contents changed, two blocks overlapped, a
 * block outside the region, a failed library call or a figure's check
 * (everything freed, the heap's own counts); 2 usage; 3 SIGBUS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "tinydsm.h"
#include "common.h"

#define MAX_THREADS	64
#define MAX_LIVE	100000ul	/* -m: at most */
#define MAX_THREAD_OPS	4000000ul	/* -r x -o: at most, per thread */
#define SMALL_MIN	16ul		/* the smallest block */
#define SMALL_TOP	4096ul		/* small blocks: SMALL_MIN .. this */
#define MAX_SIZE_LIMIT	(4ul << 20)	/* -M: at most */
#define GROW_PCT	70		/* mallocs in a growing round, % */
#define SHRINK_PCT	30		/* and in a shrinking one */
#define ERRORS_SHOWN	10		/* contents errors printed, per process */

const char *prog = "alloc_bench";

enum strategy { S_PAGE, S_CHUNK, S_ARENA, STRATEGIES };

static const char *const strategy_name[STRATEGIES] = { "page", "chunk", "arena" };

static struct {
	enum strategy s;
	unsigned long rounds;		/* -r */
	unsigned long ops;		/* -o: per round, per thread */
	unsigned int threads;		/* -t */
	unsigned long max_live;		/* -m: per thread */
	unsigned long long seed;	/* -S */
	unsigned int large_pct;		/* -L */
	unsigned long max_size;		/* -M */
	unsigned long long corrupt;	/* -C: the test's proof of the check */
	unsigned int watchdog_s;	/* -T */
} opt = { .s = STRATEGIES, .rounds = 20, .ops = 2000, .threads = 4,
	  .max_live = 1000, .seed = 1, .large_pct = 10, .max_size = 256 << 10,
	  .watchdog_s = 300 };

static void usage(void)
{
	fprintf(stderr,
		"usage: %s -s page|chunk|arena [-r ROUNDS] [-o OPS] [-t THREADS]\n"
		"       [-m MAX_LIVE] [-S SEED] [-L LARGE_PCT] [-M MAX_SIZE] [-e ENV] [-T SECS]\n"
		"(see the top of tools/bench/alloc_bench.c)\n", prog);
	exit(2);
}

/* ------------------------------------------------------------ helpers */

static const char *volatile step = "start";

static void on_alarm(int sig)
{
	char msg[200];
	int n;

	(void)sig;
	n = snprintf(msg, sizeof(msg), "%s: %s: not done within %u s\n", prog,
		     step, opt.watchdog_s);
	if (n > 0)
		(void)!write(STDERR_FILENO, msg, (size_t)n);
	_exit(1);
}

static void watchdog(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	alarm(opt.watchdog_s);
}

/* This process's counters, updated by every thread. */
static struct {
	uint64_t allocs;		/* page, chunk: TINYDSM_IOC_ALLOCs */
	uint64_t run_frees;		/* and TINYDSM_IOC_FREEs */
	uint64_t reserved, reserved_peak;	/* page, chunk: bytes of runs held */
	uint64_t live, live_peak;	/* bytes asked for, of live blocks */
	uint64_t errors;		/* contents, overlap, range */
} ctr;

static void add_peak(uint64_t *cur, uint64_t *peak, uint64_t n)
{
	uint64_t v = __atomic_add_fetch(cur, n, __ATOMIC_RELAXED);
	uint64_t p = __atomic_load_n(peak, __ATOMIC_RELAXED);

	while (v > p && !__atomic_compare_exchange_n(peak, &p, v, false,
						     __ATOMIC_RELAXED,
						     __ATOMIC_RELAXED))
		;
}

static void sub(uint64_t *cur, uint64_t n)
{
	__atomic_sub_fetch(cur, n, __ATOMIC_RELAXED);
}

static void count(uint64_t *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

/* A contents, overlap or range error: counted, the first few printed. */
static void flaw(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void flaw(const char *fmt, ...)
{
	uint64_t n = __atomic_fetch_add(&ctr.errors, 1, __ATOMIC_RELAXED);
	char line[400];
	va_list ap;

	if (n >= ERRORS_SHOWN)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: rank %d node %u: %s\n", prog, tdsm_rank(),
		region_info()->node_id, line);
}

/*
 * The home of this node's runs, as the heap chooses it (heap.c's
 * tdsm__run_home()): 0, this node, unless it homes no slice.
 */
static unsigned int run_home(void)
{
	const struct tinydsm_region_info *ri = region_info();
	unsigned int homes = ri->home_nodes ? ri->home_nodes : ri->max_nodes;

	if (!homes || ri->node_id <= homes)
		return 0;
	return (ri->node_id - 1) % homes + 1;
}

static unsigned int home;

static void *run_alloc(unsigned long npages)
{
	void *p = tdsm_alloc(npages, home);

	if (!p)
		die("tdsm_alloc(%lu pages, home %u): %s", npages, home,
		    tdsm_strerror_detail());
	count(&ctr.allocs);
	add_peak(&ctr.reserved, &ctr.reserved_peak, npages * PAGE);
	return p;
}

static void run_free(void *p, unsigned long npages)
{
	if (tdsm_free(p, npages))
		die("tdsm_free(%p, %lu pages): %s", p, npages, tdsm_strerror_detail());
	count(&ctr.run_frees);
	sub(&ctr.reserved, npages * PAGE);
}

/* ------------------------------------------------------------ page */

static unsigned long pages_of(size_t n)
{
	return (n + PAGE - 1) / PAGE;
}

static void *page_malloc(size_t n)
{
	return run_alloc(pages_of(n));
}

static void page_free(void *p, size_t n)
{
	run_free(p, pages_of(n));
}

/* ------------------------------------------------------------ chunk */

/*
 * chunk: dlmalloc in miniature over 1 MiB chunks of the region. Each block
 * has a 16-byte header (the size of the block before it, if that one is
 * free, and its own size with two flags: in use, the one before in use);
 * a free block links into a bin by its first 16 bytes. A malloc takes the
 * first block big enough in its size's bin, else the first of a larger
 * bin, and splits off the rest; a free merges the block with a free
 * neighbour on either side at once (boundary tags), then bins it.
 *
 * Why size-segregated bins with coalescing, not a plain first-fit list and
 * not exact-size lists: sizes run from 16 B to 256 KiB in 1 MiB chunks.
 * Without coalescing (exact-size lists, as the arena's classes) the chunk
 * ends up cut into fragments too small for the next large block, and the
 * heap grows: the fragmentation this study measures would be the
 * allocator's bad choice. One first-fit list, address-ordered, coalesces
 * too but walks every free block under the mutex at each malloc and free;
 * the bins (one per power of two) keep the walk short, and the boundary
 * tags make a merge O(1). The metadata is in the region, in the blocks,
 * as glibc's; the bins, the chunks' list and the mutex are the process's.
 */
#define CHUNK_BYTES	(1ul << 20)
#define CHUNK_PAGES	(CHUNK_BYTES / PAGE)
#define CH_HDR		16ul
#define CH_MIN		32ul		/* a header and the two links */
#define CH_BIG		(CHUNK_BYTES / 2)	/* above: a run of its own */
#define CH_INUSE	1ull
#define CH_PINUSE	2ull
#define CH_FLAGS	15ull
#define CH_NBINS	16		/* 2^5 .. 2^20 bytes */

struct cblk {
	uint64_t prev_size;	/* valid while the block before is free */
	uint64_t head;		/* size | CH_INUSE | CH_PINUSE */
	struct cblk *next, *prev;	/* free blocks: the bin's list */
};

static struct {
	pthread_mutex_t lock;
	struct cblk *bins[CH_NBINS];
	void **chunks;
	size_t nchunks, cap;
} ch = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t csize(const struct cblk *b)
{
	return b->head & ~CH_FLAGS;
}

static struct cblk *at(void *p, ptrdiff_t off)
{
	return (struct cblk *)((uint8_t *)p + off);
}

/* A block's size for @n bytes: header included, 16-byte multiple. */
static size_t chunk_need(size_t n)
{
	size_t need = (n + CH_HDR + 15) & ~15ul;

	return need < CH_MIN ? CH_MIN : need;
}

static unsigned int bin_of(size_t size)
{
	unsigned int b = 63 - __builtin_clzl(size) - 5;

	return b < CH_NBINS ? b : CH_NBINS - 1;
}

static void bin_in(struct cblk *b)
{
	struct cblk **head = &ch.bins[bin_of(csize(b))];

	b->prev = NULL;
	b->next = *head;
	if (*head)
		(*head)->prev = b;
	*head = b;
}

static void bin_out(struct cblk *b)
{
	if (b->prev)
		b->prev->next = b->next;
	else
		ch.bins[bin_of(csize(b))] = b->next;
	if (b->next)
		b->next->prev = b->prev;
}

/*
 * Under the lock: a new chunk, one free block, binned. The mutex is held
 * across the ALLOC's round trip, as glibc holds its arena's while it grows
 * a heap: the other threads wait for the chunk rather than make their own.
 */
static void chunk_grow(void)
{
	uint8_t *c = run_alloc(CHUNK_PAGES);
	struct cblk *b = (struct cblk *)c, *fence;

	if (ch.nchunks == ch.cap) {
		ch.cap = ch.cap ? 2 * ch.cap : 16;
		ch.chunks = realloc(ch.chunks, ch.cap * sizeof(*ch.chunks));
		if (!ch.chunks)
			die("out of memory");
	}
	ch.chunks[ch.nchunks++] = c;
	/* one free block, then a fence: in use, size 0 */
	b->head = (CHUNK_BYTES - CH_HDR) | CH_PINUSE;
	fence = at(c, (ptrdiff_t)(CHUNK_BYTES - CH_HDR));
	fence->prev_size = CHUNK_BYTES - CH_HDR;
	fence->head = CH_INUSE;
	bin_in(b);
}

/* Under the lock: the first free block of at least @need, out of its bin. */
static struct cblk *chunk_find(size_t need)
{
	unsigned int i = bin_of(need);
	struct cblk *b;

	for (b = ch.bins[i]; b; b = b->next)
		if (csize(b) >= need)
			break;
	for (i++; !b && i < CH_NBINS; i++)
		b = ch.bins[i];
	if (b)
		bin_out(b);
	return b;
}

static void *chunk_malloc(size_t n)
{
	size_t need = chunk_need(n), size;
	struct cblk *b, *rest;

	if (need > CH_BIG)
		return run_alloc(pages_of(n));
	pthread_mutex_lock(&ch.lock);
	b = chunk_find(need);
	if (!b) {
		chunk_grow();
		b = chunk_find(need);
	}
	size = csize(b);
	if (size - need >= CH_MIN) {
		rest = at(b, (ptrdiff_t)need);
		rest->head = (size - need) | CH_PINUSE;
		at(rest, (ptrdiff_t)(size - need))->prev_size = size - need;
		bin_in(rest);
		b->head = need | CH_INUSE | (b->head & CH_PINUSE);
	} else {
		b->head |= CH_INUSE;
		at(b, (ptrdiff_t)size)->head |= CH_PINUSE;
	}
	pthread_mutex_unlock(&ch.lock);
	return at(b, CH_HDR);
}

static void chunk_free(void *p, size_t n)
{
	struct cblk *b = at(p, -(ptrdiff_t)CH_HDR), *next;
	size_t size;

	if (chunk_need(n) > CH_BIG) {
		run_free(p, pages_of(n));
		return;
	}
	pthread_mutex_lock(&ch.lock);
	if (!(b->head & CH_INUSE)) {
		pthread_mutex_unlock(&ch.lock);
		flaw("chunk: free of %p: the block is free already", p);
		return;
	}
	size = csize(b);
	next = at(b, (ptrdiff_t)size);
	if (!(b->head & CH_PINUSE)) {
		b = at(b, -(ptrdiff_t)b->prev_size);
		bin_out(b);
		size += csize(b);
	}
	if (!(next->head & CH_INUSE)) {
		bin_out(next);
		size += csize(next);
	}
	b->head = size | (b->head & CH_PINUSE);
	next = at(b, (ptrdiff_t)size);
	next->prev_size = size;
	next->head &= ~CH_PINUSE;
	bin_in(b);
	pthread_mutex_unlock(&ch.lock);
}

/*
 * After the last free: every chunk is one free block again (the merges
 * lost nothing), and nothing else is in the bins. Errors are counted.
 */
static void chunk_check_empty(void)
{
	size_t i, binned = 0;
	struct cblk *b;
	unsigned int k;

	for (k = 0; k < CH_NBINS; k++)
		for (b = ch.bins[k]; b; b = b->next)
			binned++;
	if (binned != ch.nchunks)
		flaw("chunk: %zu free blocks in the bins after the last free, "
		      "not one per chunk (%zu)", binned, ch.nchunks);
	for (i = 0; i < ch.nchunks; i++) {
		b = ch.chunks[i];
		if (b->head != ((CHUNK_BYTES - CH_HDR) | CH_PINUSE))
			flaw("chunk %p: its first block's head is %#llx after the "
			      "last free, not one free block of the whole chunk",
			      (void *)b, (unsigned long long)b->head);
	}
}

/* The chunks back to the module: the teardown, not counted in the figures. */
static void chunk_release(void)
{
	size_t i;

	for (i = 0; i < ch.nchunks; i++)
		if (tdsm_free(ch.chunks[i], CHUNK_PAGES))
			die("tdsm_free of chunk %p: %s", ch.chunks[i],
			    tdsm_strerror_detail());
	ch.nchunks = 0;
}

/* ------------------------------------------------------------ arena */

static void *arena_malloc(size_t n)
{
	void *p = tdsm_malloc(n);

	if (!p)
		die("tdsm_malloc(%zu): %s", n, tdsm_strerror_detail());
	return p;
}

static void arena_free(void *p, size_t n)
{
	int err = tdsm_mfree(p);

	if (err)
		die("tdsm_mfree(%p) of %zu bytes: %s", p, n, tdsm_strerror_detail());
}

static const struct {
	void *(*malloc)(size_t n);
	void (*free)(void *p, size_t n);
} strategies[STRATEGIES] = {
	[S_PAGE] = { page_malloc, page_free },
	[S_CHUNK] = { chunk_malloc, chunk_free },
	[S_ARENA] = { arena_malloc, arena_free },
};

/* ------------------------------------------------------------ workload */

#define GOLDEN		0x9e3779b97f4a7c15ull

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

struct block {
	uint8_t *p;
	size_t n;
	uint64_t key;		/* the pattern's: (rank, thread, serial) */
	uint64_t serial;
};

struct thread {
	pthread_t th;
	unsigned int id;
	uint64_t rng;
	struct block *live;
	size_t nlive;
	uint64_t serial;
	uint64_t *malloc_ns, *free_ns;	/* every call's time */
	size_t nmalloc, nfree;
	uint64_t bytes;			/* asked for, in all */
};

static struct thread thr[MAX_THREADS];
static pthread_barrier_t round_barrier;
static struct block *all_live;		/* the overlap check's */
static int rank;
static const struct tinydsm_region_info *ri;

static uint64_t rnd(struct thread *t)
{
	t->rng += GOLDEN;
	return mix64(t->rng);
}

/*
 * 2^k, k uniform in [log2(lo), ceil(log2(hi))), then a size uniform in
 * [2^k, 2^(k+1)], capped at @hi (@lo a power of two).
 */
static size_t log_uniform(struct thread *t, size_t lo, size_t hi)
{
	unsigned int klo = 63 - __builtin_clzl(lo), khi = 64 - __builtin_clzl(hi - 1);
	unsigned int k = klo + (khi > klo ? rnd(t) % (khi - klo) : 0);
	size_t n = ((size_t)1 << k) + rnd(t) % (((size_t)1 << k) + 1);

	return n > hi ? hi : n;
}

static size_t draw_size(struct thread *t)
{
	if (rnd(t) % 100 < opt.large_pct)
		return log_uniform(t, SMALL_TOP, opt.max_size);
	return log_uniform(t, SMALL_MIN, SMALL_TOP);
}

/* Word i of a block is key + i x GOLDEN; the tail, the next word's bytes. */
static void fill(uint8_t *p, size_t n, uint64_t key)
{
	size_t i, words = n / 8;
	uint64_t w;

	for (i = 0; i < words; i++) {
		w = key + i * GOLDEN;
		memcpy(p + 8 * i, &w, 8);
	}
	if (n % 8) {
		w = key + words * GOLDEN;
		memcpy(p + 8 * words, &w, n % 8);
	}
}

/* The offset of the first byte that is not fill()'s, or -1. */
static long bad_byte(const uint8_t *p, size_t n, uint64_t key)
{
	size_t i, words = n / 8;
	uint64_t w, want;

	for (i = 0; i < words; i++) {
		want = key + i * GOLDEN;
		memcpy(&w, p + 8 * i, 8);
		if (w != want)
			break;
	}
	for (i *= 8; i < n; i++) {
		want = key + i / 8 * GOLDEN;
		if (p[i] != ((uint8_t *)&want)[i % 8])
			return (long)i;
	}
	return -1;
}

static void do_malloc(struct thread *t)
{
	size_t n = draw_size(t);
	struct block *b;
	uint64_t t0, t1;
	uint8_t *p;

	t0 = now_ns();
	p = strategies[opt.s].malloc(n);
	t1 = now_ns();
	t->malloc_ns[t->nmalloc++] = t1 - t0;
	t->bytes += n;
	if ((uintptr_t)p % 16 || (uintptr_t)p < ri->base ||
	    (uintptr_t)p - ri->base > ri->size - n)
		flaw("malloc(%zu) gave %p: not 16-byte aligned inside the "
		      "region [%#llx, +%llu)", n, (void *)p,
		      (unsigned long long)ri->base, (unsigned long long)ri->size);
	b = &t->live[t->nlive++];
	b->p = p;
	b->n = n;
	b->serial = t->serial++;
	b->key = mix64((uint64_t)rank << 40 ^ (uint64_t)t->id << 32 ^ b->serial ^
		       opt.seed << 48);
	fill(p, n, b->key);
	if (opt.corrupt && rank == 0 && t->id == 0 && b->serial == opt.corrupt - 1)
		p[n / 2] ^= 0x5a;
	add_peak(&ctr.live, &ctr.live_peak, n);
}

static void do_free(struct thread *t, size_t i)
{
	struct block b = t->live[i];
	long bad = bad_byte(b.p, b.n, b.key);
	uint64_t t0, t1;

	if (bad >= 0)
		flaw("thread %u's block %llu of %zu bytes at %p: byte %ld "
		      "changed before its free (%#x)", t->id,
		      (unsigned long long)b.serial, b.n, (void *)b.p, bad,
		      b.p[bad]);
	t->live[i] = t->live[--t->nlive];
	sub(&ctr.live, b.n);
	t0 = now_ns();
	strategies[opt.s].free(b.p, b.n);
	t1 = now_ns();
	t->free_ns[t->nfree++] = t1 - t0;
}

static int by_addr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct block *)a)->p;
	uintptr_t y = (uintptr_t)((const struct block *)b)->p;

	return x < y ? -1 : x > y;
}

/* Every live block of this process, by address: no two overlap. */
static void check_overlap(unsigned long round)
{
	size_t i, n = 0;
	unsigned int j;

	for (j = 0; j < opt.threads; j++) {
		memcpy(all_live + n, thr[j].live, thr[j].nlive * sizeof(*all_live));
		n += thr[j].nlive;
	}
	qsort(all_live, n, sizeof(*all_live), by_addr);
	for (i = 1; i < n; i++)
		if (all_live[i - 1].p + all_live[i - 1].n > all_live[i].p)
			flaw("round %lu: live blocks [%p, +%zu) and [%p, +%zu) "
			      "overlap", round, (void *)all_live[i - 1].p,
			      all_live[i - 1].n, (void *)all_live[i].p,
			      all_live[i].n);
}

static void *worker(void *arg)
{
	struct thread *t = arg;
	unsigned long r, i;
	unsigned int pct;
	uint64_t x;

	for (r = 0; r < opt.rounds; r++) {
		pct = r % 2 ? SHRINK_PCT : GROW_PCT;
		for (i = 0; i < opt.ops; i++) {
			x = rnd(t);
			if (!t->nlive || (t->nlive < opt.max_live && x % 100 < pct))
				do_malloc(t);
			else
				do_free(t, (x >> 32) % t->nlive);
		}
		/* the round's end: thread 0 checks every thread's blocks */
		pthread_barrier_wait(&round_barrier);
		if (t->id == 0)
			check_overlap(r);
		pthread_barrier_wait(&round_barrier);
	}
	while (t->nlive)
		do_free(t, t->nlive - 1);
	return NULL;
}

/* ------------------------------------------------------------ the job */

/* A rank's figures, in a run of the region that rank 0 reads. */
struct slot {
	uint64_t node;
	uint64_t mallocs, frees, bytes;
	uint64_t allocs, run_frees;
	uint64_t reserved_peak, live_peak;
	uint64_t live_end, blocks_end;
	uint64_t held_runs, held_bytes;
	uint64_t malloc_ns, free_ns;	/* sums */
	uint64_t wall_ns;
	uint64_t errors;
	uint64_t heap_mallocs, heap_frees, heap_in_use;	/* arena: the node's */
};

static void job_barrier(const char *what)
{
	int r;

	step = what;
	r = tdsm_job_barrier();
	if (r < 0)
		die("%s: tdsm_job_barrier: %s", what, tdsm_strerror_detail());
}

/* Without TINYDSM_*: a job of one rank, made here as a launcher does. */
static void *own_job(void)
{
	uint64_t id = (uint64_t)region_info()->node_id << 32 | (uint64_t)getpid();
	char v[64];
	void *root;
	int err;

	if (getenv("TINYDSM_RANK") || getenv("TINYDSM_NRANKS") ||
	    getenv("TINYDSM_JOB") || getenv("TINYDSM_ROOT"))
		return NULL;
	err = tdsm_job_create(1, id, &root);
	if (err)
		die("tdsm_job_create: %s", tdsm_strerror_detail());
	setenv("TINYDSM_RANK", "0", 1);
	setenv("TINYDSM_NRANKS", "1", 1);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)id);
	setenv("TINYDSM_JOB", v, 1);
	snprintf(v, sizeof(v), "%p", root);
	setenv("TINYDSM_ROOT", v, 1);
	return root;
}

/* The module's counters, or false where there is no module (the mock). */
static bool module_stats(struct tinydsm_stats *st)
{
	return tdsm_stats(st) == 0;
}

static void put_counter(const char *p, const char *key, bool have, uint64_t v)
{
	if (have)
		put("%s_%s=%llu", p, key, (unsigned long long)v);
	else
		put("%s_%s=n/a", p, key);
}

/* The summary of @n samples (ns), as p50 and p99 in ns. */
static void put_percentiles(const char *p, const char *what, uint64_t *ns, size_t n)
{
	struct summary s = summarize(ns, n);

	put("%s_%s_ns_p50=%.0f", p, what, s.p50 * 1e3);
	put("%s_%s_ns_p99=%.0f", p, what, s.p99 * 1e3);
}

/* Rank 0: the job's figures from every rank's slot; false if a check failed. */
static bool report(const struct slot *slots, int nranks,
		   const struct tinydsm_stats *before,
		   const struct tinydsm_stats *after, bool have_stats,
		   uint64_t *mns, size_t nm, uint64_t *fns, size_t nf)
{
	bool seen[TINYDSM_MAX_NODES] = { false }, ok = true;
	struct slot t = { 0 };
	const char *name = strategy_name[opt.s];
	char p[32];
	uint64_t rt;
	int r;

	snprintf(p, sizeof(p), "alloc_%s", name);
	for (r = 0; r < nranks; r++) {
		const struct slot *s = &slots[r];
		/* the arena's runs are its node's: count each node once */
		bool node_first = s->node < TINYDSM_MAX_NODES && !seen[s->node];

		if (s->node < TINYDSM_MAX_NODES)
			seen[s->node] = true;
		t.mallocs += s->mallocs;
		t.frees += s->frees;
		t.bytes += s->bytes;
		t.live_peak += s->live_peak;
		t.live_end += s->live_end;
		t.blocks_end += s->blocks_end;
		t.malloc_ns += s->malloc_ns;
		t.free_ns += s->free_ns;
		t.errors += s->errors;
		if (s->wall_ns > t.wall_ns)
			t.wall_ns = s->wall_ns;
		if (opt.s != S_ARENA || node_first) {
			t.allocs += s->allocs;
			t.run_frees += s->run_frees;
			t.reserved_peak += s->reserved_peak;
			t.held_runs += s->held_runs;
			t.held_bytes += s->held_bytes;
			t.heap_mallocs += s->heap_mallocs;
			t.heap_frees += s->heap_frees;
			t.heap_in_use += s->heap_in_use;
		}
	}
	rt = t.allocs + t.run_frees;

	put("%s_ranks=%d", p, nranks);
	put("%s_threads=%u", p, opt.threads);
	put("%s_rounds=%lu", p, opt.rounds);
	put("%s_ops=%lu", p, opt.ops);
	put("%s_max_live=%lu", p, opt.max_live);
	put("%s_seed=%llu", p, opt.seed);
	put("%s_large_pct=%u", p, opt.large_pct);
	put("%s_max_size=%lu", p, opt.max_size);
	put("%s_mallocs=%llu", p, (unsigned long long)t.mallocs);
	put("%s_frees=%llu", p, (unsigned long long)t.frees);
	put("%s_bytes_malloced=%llu", p, (unsigned long long)t.bytes);
	put("%s_allocs=%llu", p, (unsigned long long)t.allocs);
	put("%s_run_frees=%llu", p, (unsigned long long)t.run_frees);
	put("%s_round_trips=%llu", p, (unsigned long long)rt);
	put("%s_mallocs_per_round_trip=%.3f", p, (double)t.mallocs / (double)rt);
	put("%s_peak_reserved_bytes=%llu", p, (unsigned long long)t.reserved_peak);
	put("%s_peak_live_bytes=%llu", p, (unsigned long long)t.live_peak);
	put("%s_reserved_per_live=%.3f", p,
	    (double)t.reserved_peak / (double)t.live_peak);
	put("%s_held_runs_end=%llu", p, (unsigned long long)t.held_runs);
	put("%s_held_bytes_end=%llu", p, (unsigned long long)t.held_bytes);
	put("%s_live_bytes_end=%llu", p, (unsigned long long)t.live_end);
	put("%s_live_blocks_end=%llu", p, (unsigned long long)t.blocks_end);
	if (opt.s == S_ARENA) {
		put("%s_heap_mallocs=%llu", p, (unsigned long long)t.heap_mallocs);
		put("%s_heap_frees=%llu", p, (unsigned long long)t.heap_frees);
		put("%s_heap_in_use_end=%llu", p, (unsigned long long)t.heap_in_use);
	}
	put("%s_malloc_ns_mean=%.1f", p, (double)t.malloc_ns / (double)t.mallocs);
	put("%s_free_ns_mean=%.1f", p, (double)t.free_ns / (double)t.frees);
	put_percentiles(p, "malloc", mns, nm);
	put_percentiles(p, "free", fns, nf);
	put("%s_clock_pair_ns=%llu", p, (unsigned long long)timer_overhead_ns(1001));
	put("%s_wall_ns=%llu", p, (unsigned long long)t.wall_ns);
	put_counter(p, "remote_faults_before", have_stats, before->remote_faults);
	put_counter(p, "remote_faults_after", have_stats, after->remote_faults);
	put_counter(p, "d_remote_faults", have_stats,
		    after->remote_faults - before->remote_faults);
	put_counter(p, "d_write_faults", have_stats,
		    after->write_faults - before->write_faults);
	put("%s_errors=%llu", p, (unsigned long long)t.errors);

	printf("%s: %s, %d rank(s) x %u threads: %llu mallocs, %llu allocation "
	       "round trips (%.2f mallocs each), reserved / live %.2f at the peaks, "
	       "%.0f ns a malloc, %.0f ns a free (means)\n", prog, name, nranks,
	       opt.threads, (unsigned long long)t.mallocs, (unsigned long long)rt,
	       (double)t.mallocs / (double)rt,
	       (double)t.reserved_peak / (double)t.live_peak,
	       (double)t.malloc_ns / (double)t.mallocs,
	       (double)t.free_ns / (double)t.frees);

	if (t.errors) {
		fprintf(stderr, "%s: %s: %llu contents, overlap or range errors\n",
			prog, name, (unsigned long long)t.errors);
		ok = false;
	}
	if (t.live_end || t.blocks_end || t.mallocs != t.frees) {
		fprintf(stderr, "%s: %s: %llu blocks, %llu bytes live at the end; "
			"%llu mallocs, %llu frees\n", prog, name,
			(unsigned long long)t.blocks_end, (unsigned long long)t.live_end,
			(unsigned long long)t.mallocs, (unsigned long long)t.frees);
		ok = false;
	}
	if (opt.s == S_ARENA && (t.heap_mallocs != t.mallocs ||
				 t.heap_frees != t.frees || t.heap_in_use)) {
		fprintf(stderr, "%s: arena: the heap counts %llu mallocs, %llu frees, "
			"%llu bytes in use; the program made %llu and %llu\n", prog,
			(unsigned long long)t.heap_mallocs,
			(unsigned long long)t.heap_frees,
			(unsigned long long)t.heap_in_use,
			(unsigned long long)t.mallocs, (unsigned long long)t.frees);
		ok = false;
	}
	return ok;
}

static unsigned long parse_count(const char *s, const char *what,
				 unsigned long lo, unsigned long hi)
{
	unsigned long long v = parse_ull(s, what);

	if (v < lo || v > hi)
		die("bad %s %s: %lu .. %lu", what, s, lo, hi);
	return v;
}

int main(int argc, char **argv)
{
	struct tinydsm_stats before, after;
	struct tdsm_heap_stats hs;
	uint64_t *mns, *fns, t0, t1;
	struct slot *slots, me;
	unsigned long tab_pages;
	size_t nm = 0, nf = 0;
	bool have_stats, ok = true;
	int c, nranks, err;
	unsigned int j;
	void *root;

	while ((c = getopt(argc, argv, "s:r:o:t:m:S:L:M:C:e:T:h")) != -1) {
		switch (c) {
		case 's':
			for (opt.s = 0; opt.s < STRATEGIES; opt.s++)
				if (!strcmp(optarg, strategy_name[opt.s]))
					break;
			if (opt.s == STRATEGIES)
				usage();
			break;
		case 'r': opt.rounds = parse_count(optarg, "round count", 1, MAX_THREAD_OPS); break;
		case 'o': opt.ops = parse_count(optarg, "op count", 1, MAX_THREAD_OPS); break;
		case 't': opt.threads = parse_count(optarg, "thread count", 1, MAX_THREADS); break;
		case 'm': opt.max_live = parse_count(optarg, "live block count", 1, MAX_LIVE); break;
		case 'S': opt.seed = parse_ull(optarg, "seed"); break;
		case 'L': opt.large_pct = parse_count(optarg, "large %", 0, 100); break;
		case 'M':
			opt.max_size = parse_count(optarg, "largest size", 2 * SMALL_TOP,
						   MAX_SIZE_LIMIT);
			break;
		case 'C': opt.corrupt = parse_ull(optarg, "block to corrupt"); break;
		case 'e': put_env = optarg; break;
		case 'T': opt.watchdog_s = parse_count(optarg, "seconds", 1, 86400); break;
		default: usage();
		}
	}
	if (optind != argc || opt.s == STRATEGIES)
		usage();
	if (opt.rounds * opt.ops > MAX_THREAD_OPS)
		die("-r %lu x -o %lu: at most %lu operations a thread", opt.rounds,
		    opt.ops, MAX_THREAD_OPS);
	setvbuf(stdout, NULL, _IOLBF, 0);
	put_env_file();
	watchdog();
	catch_sigbus();

	/* the job: the launcher's, or one of our own */
	step = "joining the job";
	attach(TDSM_ATTACH_NO_SITES);
	ri = region_info();
	home = run_home();
	root = own_job();
	err = tdsm_init();
	if (err)
		die("tdsm_init: %s", tdsm_strerror_detail());
	rank = tdsm_rank();
	nranks = tdsm_nranks();
	tab_pages = (nranks * sizeof(struct slot) + PAGE - 1) / PAGE;
	slots = NULL;
	if (rank == 0) {
		/* not the strategy's: neither counted nor timed */
		slots = tdsm_alloc(tab_pages, home);
		if (!slots)
			die("tdsm_alloc(%lu pages) for the figures: %s", tab_pages,
			    tdsm_strerror_detail());
	}
	err = tdsm_share(&slots, sizeof(slots));
	if (err)
		die("tdsm_share: %s", tdsm_strerror_detail());

	/* this process's threads and their records */
	for (j = 0; j < opt.threads; j++) {
		thr[j].id = j;
		thr[j].rng = mix64(opt.seed ^ (uint64_t)rank << 32 ^ j);
		thr[j].live = calloc(opt.max_live, sizeof(*thr[j].live));
		thr[j].malloc_ns = calloc(opt.rounds * opt.ops, sizeof(uint64_t));
		/* as many frees as mallocs: everything is freed */
		thr[j].free_ns = calloc(opt.rounds * opt.ops, sizeof(uint64_t));
		if (!thr[j].live || !thr[j].malloc_ns || !thr[j].free_ns)
			die("out of memory");
	}
	all_live = calloc(opt.threads * opt.max_live, sizeof(*all_live));
	if (!all_live || pthread_barrier_init(&round_barrier, NULL, opt.threads))
		die("out of memory");

	memset(&before, 0, sizeof(before));
	memset(&after, 0, sizeof(after));
	have_stats = module_stats(&before);
	job_barrier("the start barrier");
	step = strategy_name[opt.s];
	t0 = now_ns();
	for (j = 0; j < opt.threads; j++)
		if (pthread_create(&thr[j].th, NULL, worker, &thr[j]))
			die("pthread_create: %s", strerror(errno));
	for (j = 0; j < opt.threads; j++)
		pthread_join(thr[j].th, NULL);
	t1 = now_ns();
	job_barrier("the end barrier");
	have_stats = module_stats(&after) && have_stats;

	/* this rank's figures, into its slot */
	memset(&me, 0, sizeof(me));
	me.node = ri->node_id;
	me.wall_ns = t1 - t0;
	for (j = 0; j < opt.threads; j++) {
		size_t i;

		me.mallocs += thr[j].nmalloc;
		me.frees += thr[j].nfree;
		me.bytes += thr[j].bytes;
		me.blocks_end += thr[j].nlive;
		for (i = 0; i < thr[j].nmalloc; i++)
			me.malloc_ns += thr[j].malloc_ns[i];
		for (i = 0; i < thr[j].nfree; i++)
			me.free_ns += thr[j].free_ns[i];
	}
	me.live_peak = ctr.live_peak;
	me.live_end = ctr.live;
	if (opt.s == S_ARENA) {
		err = tdsm_heap_stats(&hs);
		if (err)
			die("tdsm_heap_stats: %s", tdsm_strerror_detail());
		me.allocs = hs.allocs;
		me.run_frees = hs.run_frees;
		me.reserved_peak = hs.bytes_mapped_peak;
		/* what tdsm_finalize() gives back: the chunks and the arena */
		me.held_runs = hs.chunks + 1;
		me.held_bytes = hs.bytes_mapped;
		me.heap_mallocs = hs.mallocs;
		me.heap_frees = hs.frees;
		me.heap_in_use = hs.bytes_in_use;
	} else {
		if (opt.s == S_CHUNK)
			chunk_check_empty();
		me.allocs = ctr.allocs;
		me.run_frees = ctr.run_frees;
		me.reserved_peak = ctr.reserved_peak;
		me.held_runs = opt.s == S_CHUNK ? ch.nchunks : 0;
		me.held_bytes = ctr.reserved;
	}
	me.errors = ctr.errors;
	memcpy(&slots[rank], &me, sizeof(me));
	job_barrier("the figures' barrier");

	if (rank == 0) {
		/* each rank's samples stay its own: the percentiles are rank 0's */
		mns = malloc((me.mallocs + 1) * sizeof(*mns));
		fns = malloc((me.frees + 1) * sizeof(*fns));
		if (!mns || !fns)
			die("out of memory");
		for (j = 0; j < opt.threads; j++) {
			memcpy(mns + nm, thr[j].malloc_ns, thr[j].nmalloc * sizeof(*mns));
			nm += thr[j].nmalloc;
			memcpy(fns + nf, thr[j].free_ns, thr[j].nfree * sizeof(*fns));
			nf += thr[j].nfree;
		}
		ok = report(slots, nranks, &before, &after, have_stats, mns, nm, fns, nf);
		if (tdsm_free(slots, tab_pages))
			die("tdsm_free of the figures' run: %s", tdsm_strerror_detail());
	} else if (me.errors) {
		ok = false;
	}

	/* the teardown: what the strategy kept, back to the module */
	step = "the teardown";
	if (opt.s == S_CHUNK)
		chunk_release();
	err = tdsm_finalize();
	if (err)
		die("tdsm_finalize: %s", tdsm_strerror_detail());
	if (root) {
		err = tdsm_job_destroy(root);
		if (err)
			die("tdsm_job_destroy: %s", tdsm_strerror_detail());
	}
	return ok ? 0 : 1;
}
