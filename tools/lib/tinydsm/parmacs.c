// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * libtinydsm: the runtime of PARMACS (parmacs.h), CREATE with fork()
 * semantics on the ranks of a job.
 *
 * A PARMACS program runs main() in one process, which CREATEs the others;
 * `tinydsmctl run` starts every rank at main() at once. MAIN_INITENV
 * joins the job in every rank; rank 0 returns and is the main process,
 * every other rank waits in its slot of a control block (G_MALLOC memory
 * whose address rank 0 gives the others with tdsm_share()) for the CREATE
 * addressed to it: the k-th CREATE goes to rank k.
 *
 *   ctl      the rank count, rank 0's layout (its anchor's address, its
 *            __data_start and the length of .data + .bss), the count of
 *            workers that ended (WAIT_FOR_END's word) and failed
 *   slot[k]  rank k's state (IDLE, RUN, DONE, FINAL, ABORT: the word it
 *            sleeps on) and, for RUN, its snapshot and function
 *
 * CREATE copies the executable's writable data, [__data_start, _end):
 * .data and .bss, after the RELRO part (.got, .dynamic, .data.rel.ro),
 * which the loader fills and is the same or read-only, into a heap block,
 * and hands rank k the block, the length and the function as an offset
 * from an anchor in the executable (the ranks are processes of one
 * binary, each loaded where its exec put it). The worker copies the
 * block over its own .data and .bss, frees it, and calls the function.
 * Left out of the copy, so that the worker stays itself:
 *
 *   - section tdsm_private (__start_/__stop_tdsm_private): libtinydsm's
 *     process-local state, marked TDSM__PRIVATE (the fd, the region's
 *     mapping, the job, the heap's arena cache, this file's state)
 *   - the objects of shared libraries that live in the executable by
 *     R_X86_64_COPY (stdout, stderr, environ, optarg ...): the dynamic
 *     section's DT_RELA entries of that type, r_offset and the symbol's
 *     st_size. They are the libraries' state, which is not copied either
 *
 * Anything else in .data and .bss is copied as it is. A pointer in it is
 * right in the worker only if it points to the region (G_MALLOC memory)
 * or into the executable itself, and the latter only if the executable is
 * at the same address in every rank: MAIN_INITENV checks it (the anchor's
 * address, __data_start and the length against rank 0's) and refuses the
 * job otherwise, in every rank, with the two ways out (a -no-pie build,
 * or `setarch -R`). A pointer into rank 0's malloc heap, stack or a
 * shared library's data (a FILE *, a strdup'ed string) is not valid in
 * any worker: PARMACS programs keep shared data in G_MALLOC memory.
 *
 * A worker ends when its function returns or it calls exit(): it counts
 * itself in ctl->ended, wakes WAIT_FOR_END, and waits for rank 0's
 * MAIN_END (FINAL), which meets every rank in tdsm_finalize(); ranks no
 * CREATE took get FINAL too. A fatal error in rank 0 (a CREATE beyond the
 * job's ranks ...) sets every slot to ABORT: the ranks waiting in theirs
 * exit with status 1 (tinydsmctl run ends the ranks still running).
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "parmacs.h"

enum { IDLE, RUN, DONE, FINAL, ABORT };

struct slot {
	uint32_t state;
	uint32_t reserved;
	uint64_t snap;		/* the snapshot, a heap block */
	uint64_t len;
	int64_t fn;		/* from the anchor */
};

struct ctl {
	uint32_t nranks;
	uint32_t ended;		/* workers that ended: atomics only */
	uint32_t failed;	/* of which failed */
	uint32_t mismatch;	/* ranks whose executable is not rank 0's */
	uint64_t anchor;	/* rank 0's layout */
	uint64_t data;
	uint64_t len;
	struct slot slot[];
};

struct range {
	uintptr_t lo, hi;
};

/* glibc's crt1 and the linker: the executable's .data and .bss. */
extern char __data_start[] __attribute__((weak));
extern char _end[] __attribute__((weak));
extern char __start_tdsm_private[] __attribute__((weak, visibility("hidden")));
extern char __stop_tdsm_private[] __attribute__((weak, visibility("hidden")));

static struct {
	struct ctl *ctl;
	int rank;
	int nranks;
	unsigned int created;	/* rank 0: CREATEs made */
	unsigned int waited;	/* rank 0: ends WAIT_FOR_END took */
	int leaving;		/* the end is under way: atexit does nothing */
} pm TDSM__PRIVATE = { .rank = -1 };

/* Every worker's function is an offset from this function's address. */
#define ANCHOR	((uintptr_t)&tdsm_parmacs_initenv)

static uint32_t load32(uint32_t *w)
{
	uint64_t old = 0;

	if (tdsm_atomic(TINYDSM_ATOMIC_FETCH_OR, w, 4, 0, 0, &old))
		tdsm_parmacs_fatal("reading the word at %p: %s", (void *)w,
				   tdsm_strerror_detail());
	return (uint32_t)old;
}

static uint32_t rmw32(unsigned int op, uint32_t *w, uint32_t v, uint32_t e)
{
	uint64_t old = 0;

	if (tdsm_atomic(op, w, 4, v, e, &old))
		tdsm_parmacs_fatal("atomic %u on the word at %p: %s", op,
				   (void *)w, tdsm_strerror_detail());
	return (uint32_t)old;
}

static void wake_all(uint32_t *w)
{
	if (tdsm_wake(w, 4, INT_MAX) < 0)
		tdsm_parmacs_fatal("waking the word at %p: %s", (void *)w,
				   tdsm_strerror_detail());
}

/* Sleep while *w is @v (a wake-up, a change or a signal returns). */
static void sleep32(uint32_t *w, uint32_t v)
{
	int err = tdsm_wait(w, 4, v, 0);

	if (err && err != -EAGAIN && err != -EINTR && err != -ETIMEDOUT)
		tdsm_parmacs_fatal("waiting on the word at %p: %s", (void *)w,
				   tdsm_strerror_detail());
}

/* The state of slot @s once it is none of @a, @b. */
static uint32_t wait_state(struct slot *s, uint32_t a, uint32_t b)
{
	uint32_t v;

	while ((v = load32(&s->state)) == a || v == b)
		sleep32(&s->state, v);
	return v;
}

static size_t data_len(void)
{
	return _end - __data_start;
}

/* ---- what a worker does not take from rank 0 -------------------------- */

static int first_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	*(struct dl_phdr_info *)arg = *info;
	return 1;	/* the executable is the first: stop */
}

/*
 * A d_ptr of the executable's dynamic section: glibc adds the load bias
 * to them in place, other loaders may not; an unrelocated one of a PIE is
 * below the bias.
 */
static uintptr_t dyn_ptr(uintptr_t v, uintptr_t bias)
{
	return v < bias ? v + bias : v;
}

/*
 * The ranges of .data and .bss that stay this process's: the library's
 * section and the copy-relocated objects of shared libraries. A malloc'ed
 * array the caller frees; the count in *n.
 */
static struct range *skips(size_t *n)
{
	const ElfW(Rela) *rela = NULL;
	const ElfW(Sym) *sym = NULL;
	size_t relasz = 0, relaent = sizeof(ElfW(Rela));
	size_t syment = sizeof(ElfW(Sym)), i, cap;
	struct dl_phdr_info info = { 0 };
	const ElfW(Dyn) *d = NULL;
	struct range *r;

	dl_iterate_phdr(first_object, &info);
	for (i = 0; i < info.dlpi_phnum; i++)
		if (info.dlpi_phdr[i].p_type == PT_DYNAMIC)
			d = (const ElfW(Dyn) *)(info.dlpi_addr +
						info.dlpi_phdr[i].p_vaddr);
	for (; d && d->d_tag != DT_NULL; d++) {
		switch (d->d_tag) {
		case DT_RELA:
			rela = (const void *)dyn_ptr(d->d_un.d_ptr,
						     info.dlpi_addr);
			break;
		case DT_RELASZ:
			relasz = d->d_un.d_val;
			break;
		case DT_RELAENT:
			relaent = d->d_un.d_val;
			break;
		case DT_SYMTAB:
			sym = (const void *)dyn_ptr(d->d_un.d_ptr,
						    info.dlpi_addr);
			break;
		case DT_SYMENT:
			syment = d->d_un.d_val;
			break;
		}
	}
	cap = 1 + (rela && sym && relaent ? relasz / relaent : 0);
	r = malloc(cap * sizeof(*r));
	if (!r)
		tdsm_parmacs_fatal("out of memory");
	r[0].lo = (uintptr_t)__start_tdsm_private;
	r[0].hi = (uintptr_t)__stop_tdsm_private;
	*n = 1;
	for (i = 0; i + 1 < cap; i++) {
		const ElfW(Rela) *e = (const void *)((const char *)rela +
						      i * relaent);
		const ElfW(Sym) *s;

		if (ELF64_R_TYPE(e->r_info) != R_X86_64_COPY)
			continue;
		s = (const void *)((const char *)sym +
				   ELF64_R_SYM(e->r_info) * syment);
		r[*n].lo = info.dlpi_addr + e->r_offset;
		r[*n].hi = r[*n].lo + s->st_size;
		(*n)++;
	}
	return r;
}

static int by_lo(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Rank 0's .data and .bss from @snap over ours, but for the skips. */
static void restore(const uint8_t *snap)
{
	uintptr_t lo = (uintptr_t)__data_start, hi = (uintptr_t)_end;
	uintptr_t at = lo, to;
	struct range *r;
	size_t n, i;

	r = skips(&n);
	qsort(r, n, sizeof(*r), by_lo);
	for (i = 0; i <= n; i++) {
		to = i < n ? r[i].lo : hi;
		if (to > hi)
			to = hi;
		if (to > at)
			memcpy((void *)at, snap + (at - lo), to - at);
		if (i < n && r[i].hi > at)
			at = r[i].hi;
	}
	free(r);
}

/* ---- the end of a rank -------------------------------------------------- */

/*
 * Every rank, at the job's end: rank 0 frees the control block once
 * nobody reads it, and every rank leaves the job (collective).
 */
static void meet(void)
{
	int err = tdsm_job_barrier();

	if (err < 0)
		fprintf(stderr, "parmacs: rank %d: the end's barrier: %s\n",
			pm.rank, tdsm_strerror_detail());
	if (pm.rank == 0)
		tdsm_mfree(pm.ctl);
	pm.ctl = NULL;
	err = tdsm_finalize();
	if (err < 0)
		fprintf(stderr, "parmacs: rank %d: tdsm_finalize: %s\n",
			pm.rank, tdsm_strerror_detail());
}

/* Rank 0: let every other rank go (@state FINAL or ABORT). */
static void release(uint32_t state)
{
	int k;

	for (k = 1; k < pm.nranks; k++) {
		rmw32(TINYDSM_ATOMIC_XCHG, &pm.ctl->slot[k].state, state, 0);
		wake_all(&pm.ctl->slot[k].state);
	}
}

/* A worker's function returned, or it exits: count it, wait for the end. */
static void worker_end(void)
{
	struct slot *s = &pm.ctl->slot[pm.rank];

	rmw32(TINYDSM_ATOMIC_FETCH_ADD, &pm.ctl->ended, 1, 0);
	wake_all(&pm.ctl->ended);
	rmw32(TINYDSM_ATOMIC_CAS, &s->state, DONE, RUN);
	if (wait_state(s, RUN, DONE) != FINAL)
		_exit(1);	/* ABORT: rank 0 said why */
	meet();
}

/* exit() without MAIN_END (rank 0) or in a worker's function. */
static void at_exit(void)
{
	if (pm.leaving || !pm.ctl)
		return;
	pm.leaving = 1;
	if (pm.rank == 0) {
		release(FINAL);
		meet();
	} else {
		worker_end();
	}
}

void tdsm_parmacs_fatal(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "parmacs: rank %d: ", pm.rank);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (pm.ctl && !pm.leaving) {
		pm.leaving = 1;
		if (pm.rank == 0) {
			release(ABORT);
		} else {
			rmw32(TINYDSM_ATOMIC_FETCH_ADD, &pm.ctl->failed, 1, 0);
			rmw32(TINYDSM_ATOMIC_FETCH_ADD, &pm.ctl->ended, 1, 0);
			wake_all(&pm.ctl->ended);
		}
	}
	pm.leaving = 1;
	exit(1);
}

/* ---- MAIN_INITENV, CREATE, WAIT_FOR_END, MAIN_END ---------------------- */

static void __attribute__((noreturn)) worker(void)
{
	struct slot *s = &pm.ctl->slot[pm.rank];
	void (*fn)(void);
	uint64_t snap;

	switch (wait_state(s, IDLE, IDLE)) {
	case RUN:
		break;
	case FINAL:		/* no CREATE for this rank */
		pm.leaving = 1;
		meet();
		exit(0);
	default:
		pm.leaving = 1;
		exit(1);
	}
	if (s->len != data_len())
		tdsm_parmacs_fatal("a snapshot of %llu bytes; this executable's "
				   ".data and .bss are %zu",
				   (unsigned long long)s->len, data_len());
	snap = s->snap;
	fn = (void (*)(void))(ANCHOR + s->fn);
	restore((const uint8_t *)(uintptr_t)snap);
	if (tdsm_mfree((void *)(uintptr_t)snap))
		tdsm_parmacs_fatal("freeing the snapshot at %#llx: %s",
				   (unsigned long long)snap,
				   tdsm_strerror_detail());
	fn();
	pm.leaving = 1;
	worker_end();
	exit(0);
}

void tdsm_parmacs_initenv(void)
{
	uintptr_t me = (uintptr_t)&pm;
	struct ctl *c = NULL;
	int err;

	if (pm.ctl)
		return;
	err = tdsm_init();
	if (err)
		tdsm_parmacs_fatal("tdsm_init: %s", tdsm_strerror_detail());
	pm.rank = tdsm_rank();
	pm.nranks = tdsm_nranks();
	if (!__data_start || !_end || me < (uintptr_t)__data_start ||
	    me >= (uintptr_t)_end)
		tdsm_parmacs_fatal("libtinydsm is not in the executable's .data "
				   "and .bss (%p .. %p): link libtinydsm.a into "
				   "the executable", (void *)__data_start,
				   (void *)_end);
	if (pm.rank == 0) {
		c = tdsm_calloc(1, sizeof(*c) +
				   pm.nranks * sizeof(struct slot));
		if (c) {
			c->nranks = pm.nranks;
			c->anchor = ANCHOR;
			c->data = (uintptr_t)__data_start;
			c->len = data_len();
		}
	}
	err = tdsm_share(&c, sizeof(c));
	if (err || !c)
		tdsm_parmacs_fatal("the control block: %s",
				   err ? tdsm_strerror_detail() :
				   "rank 0 could not allocate it");
	pm.ctl = c;
	if (pm.rank && (c->anchor != ANCHOR || c->len != data_len() ||
			c->data != (uintptr_t)__data_start)) {
		fprintf(stderr, "parmacs: rank %d: this executable is at %#lx "
			"(.data %p, %zu bytes), rank 0's at %#llx (.data "
			"%#llx, %llu bytes)\n", pm.rank, (unsigned long)ANCHOR,
			(void *)__data_start, data_len(),
			(unsigned long long)c->anchor,
			(unsigned long long)c->data,
			(unsigned long long)c->len);
		rmw32(TINYDSM_ATOMIC_FETCH_ADD, &c->mismatch, 1, 0);
	}
	if (tdsm_job_barrier() < 0)
		tdsm_parmacs_fatal("the first barrier: %s",
				   tdsm_strerror_detail());
	if (load32(&c->mismatch)) {
		if (pm.rank == 0)
			fprintf(stderr, "parmacs: %u ranks do not run this "
				"executable at rank 0's address: CREATE copies "
				"rank 0's globals, whose pointers into the "
				"executable would be wrong there. Build it "
				"with -no-pie, or run every rank under "
				"`setarch -R` (no address randomisation), the "
				"same binary everywhere\n", c->mismatch);
		pm.leaving = 1;
		meet();
		exit(1);
	}
	if (atexit(at_exit))
		tdsm_parmacs_fatal("atexit failed");
	if (pm.rank)
		worker();
}

void tdsm_parmacs_create(void (*fn)(void))
{
	unsigned int k = pm.created + 1;
	struct slot *s;
	void *snap;

	if (!pm.ctl)
		tdsm_parmacs_fatal("CREATE before MAIN_INITENV");
	if (pm.rank)
		tdsm_parmacs_fatal("CREATE in a worker: only the main process "
				   "(rank 0) creates");
	if (k >= (unsigned int)pm.nranks)
		tdsm_parmacs_fatal("CREATE number %u needs rank %u, but the "
				   "job has %d ranks: run it with at least "
				   "%u ranks (tinydsmctl run -n N)", k, k,
				   pm.nranks, k + 1);
	snap = tdsm_malloc(data_len());
	if (!snap)
		tdsm_parmacs_fatal("CREATE number %u: a snapshot of %zu bytes: "
				   "%s", k, data_len(), tdsm_strerror_detail());
	memcpy(snap, __data_start, data_len());
	s = &pm.ctl->slot[k];
	s->snap = (uintptr_t)snap;
	s->len = data_len();
	s->fn = (int64_t)((uintptr_t)fn - ANCHOR);
	pm.created = k;
	rmw32(TINYDSM_ATOMIC_XCHG, &s->state, RUN, 0);
	wake_all(&s->state);
}

void tdsm_parmacs_wait_for_end(long n)
{
	uint32_t target, v;

	if (!pm.ctl || pm.rank)
		return;
	if (n > (long)(pm.created - pm.waited))
		n = pm.created - pm.waited;
	if (n <= 0)
		return;
	target = pm.waited + n;
	while ((v = load32(&pm.ctl->ended)) < target)
		sleep32(&pm.ctl->ended, v);
	pm.waited = target;
	v = load32(&pm.ctl->failed);
	if (v)
		tdsm_parmacs_fatal("%u workers failed", v);
}

void tdsm_parmacs_end(void)
{
	int failed;

	if (!pm.ctl || pm.rank)
		exit(0);	/* a worker: at_exit() ends it */
	pm.leaving = 1;
	release(FINAL);
	failed = load32(&pm.ctl->failed);
	meet();
	exit(failed ? 1 : 0);
}

/* ---- the macros' helpers ------------------------------------------------ */

/* A lock, barrier or pause outside the region would be this process's. */
static void need_region(const void *p, size_t n, const char *what)
{
	const struct tinydsm_region_info *ri = tdsm_region_info();
	uintptr_t a = (uintptr_t)p;

	if (!ri || a < ri->base || a - ri->base + n > ri->size)
		tdsm_parmacs_fatal("%s at %p is not in the region: declare it "
				   "in G_MALLOC memory, not as a global", what,
				   p);
}

void *tdsm_parmacs_malloc(size_t n)
{
	void *p = tdsm_malloc(n);

	if (!p)
		tdsm_parmacs_fatal("G_MALLOC of %zu bytes: %s", n,
				   tdsm_strerror_detail());
	return p;
}

void tdsm_parmacs_free(void *p)
{
	if (p && tdsm_mfree(p))
		tdsm_parmacs_fatal("G_FREE of %p: %s", p,
				   tdsm_strerror_detail());
}

void tdsm_parmacs_lockinit(tdsm_mutex_t *m, long n)
{
	need_region(m, n * sizeof(*m), "LOCKINIT's lock");
	memset(m, 0, n * sizeof(*m));
}

void tdsm_parmacs_lock(tdsm_mutex_t *m)
{
	need_region(m, sizeof(*m), "LOCK's lock");
	if (tdsm_mutex_lock(m))
		tdsm_parmacs_fatal("LOCK of %p: %s", (void *)m,
				   tdsm_strerror_detail());
}

void tdsm_parmacs_unlock(tdsm_mutex_t *m)
{
	need_region(m, sizeof(*m), "UNLOCK's lock");
	if (tdsm_mutex_unlock(m))
		tdsm_parmacs_fatal("UNLOCK of %p (not locked?): %s", (void *)m,
				   tdsm_strerror_detail());
}

void tdsm_parmacs_barinit(tdsm_barrier_t *b, long n)
{
	need_region(b, sizeof(*b), "BARINIT's barrier");
	memset(b, 0, sizeof(*b));
	if (n > 0 && tdsm_barrier_init(b, n))
		tdsm_parmacs_fatal("BARINIT of %p for %ld: %s", (void *)b, n,
				   tdsm_strerror_detail());
}

/* The count comes with BARINIT (SPLASH-3) or the first BARRIER (-2). */
void tdsm_parmacs_barrier(tdsm_barrier_t *b, long n)
{
	uint32_t count;

	need_region(b, sizeof(*b), "BARRIER's barrier");
	if (n <= 0 || n > TDSM_MAX_RANKS)
		tdsm_parmacs_fatal("BARRIER of %ld processes", n);
	count = load32(&b->count);
	if (!count)
		count = rmw32(TINYDSM_ATOMIC_CAS, &b->count, n, 0) ? : n;
	if (count != n)
		tdsm_parmacs_fatal("BARRIER of %ld processes at %p, which "
				   "meets %u", n, (void *)b, count);
	if (tdsm_barrier_wait(b) < 0)
		tdsm_parmacs_fatal("BARRIER at %p: %s", (void *)b,
				   tdsm_strerror_detail());
}

void tdsm_parmacs_pauseinit(tdsm_parmacs_pause_t *p)
{
	need_region(p, sizeof(*p), "PAUSEINIT's flag");
	memset(p, 0, sizeof(*p));
}

void tdsm_parmacs_setpause(tdsm_parmacs_pause_t *p)
{
	need_region(p, sizeof(*p), "SETPAUSE's flag");
	rmw32(TINYDSM_ATOMIC_XCHG, &p->flag, 1, 0);
	wake_all(&p->flag);
}

void tdsm_parmacs_clearpause(tdsm_parmacs_pause_t *p)
{
	need_region(p, sizeof(*p), "CLEARPAUSE's flag");
	rmw32(TINYDSM_ATOMIC_XCHG, &p->flag, 0, 0);
}

void tdsm_parmacs_waitpause(tdsm_parmacs_pause_t *p)
{
	need_region(p, sizeof(*p), "WAITPAUSE's flag");
	while (!load32(&p->flag))
		sleep32(&p->flag, 0);
}

void tdsm_parmacs_gsinit(tdsm_parmacs_gs_t *g)
{
	need_region(g, sizeof(*g), "GSINIT's counter");
	memset(g, 0, sizeof(*g));
}

long tdsm_parmacs_getsub(tdsm_parmacs_gs_t *g, long last, long nproc)
{
	long s;

	tdsm_parmacs_lock(&g->lock);
	if (g->next <= last) {
		s = g->next++;
	} else {
		s = -1;
		if (++g->done >= nproc) {
			g->next = 0;
			g->done = 0;
		}
	}
	tdsm_parmacs_unlock(&g->lock);
	return s;
}

unsigned long tdsm_parmacs_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
