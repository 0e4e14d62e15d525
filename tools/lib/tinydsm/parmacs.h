/* SPDX-License-Identifier: LGPL-2.1 OR MIT */
/*
 * PARMACS, the macros SPLASH-2 and SPLASH-3 programs are written with, on
 * libtinydsm: C macros, no m4 needed (parmacs.m4 is for suites that run
 * m4 on their .C and .H files). The runtime is parmacs.c; README.md,
 * "PARMACS", says how to build and run a program and what CREATE can and
 * cannot give a worker.
 *
 * Every rank of the job runs main(); MAIN_INITENV makes rank 0 the
 * PARMACS main process and keeps every other rank until a CREATE hands
 * it a function: rank k runs the k-th CREATE's, with rank 0's .data and
 * .bss as they were at that CREATE (fork() semantics). Shared data lives
 * in G_MALLOC memory (the job's heap in the region), as in any PARMACS
 * program; so do the locks, barriers and pauses, which are declared
 * inside a G_MALLOC'ed structure:
 *
 *	struct GlobalMemory { LOCKDEC(idlock) BARDEC(start) long id; } *Global;
 *	Global = G_MALLOC(sizeof(struct GlobalMemory));
 *	LOCKINIT(Global->idlock) BARINIT(Global->start)
 *
 * A lock, barrier or pause that is not in the region (a plain global) is
 * refused at its first use, with a message: each process would have its
 * own. Every macro that is a statement is a block, { ... }, as in
 * SPLASH's m4 macros: it stands with or without a semicolon. PARMACS has
 * no error returns: a failure (a lock's home that does
 * not answer, an allocation that fails ...) prints why and ends the job
 * (exit status 1).
 */
#ifndef TINYDSM_PARMACS_H
#define TINYDSM_PARMACS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinydsm.h"

/* A pause flag (PAUSEDEC): 0 clear, 1 set. */
typedef struct {
	uint32_t flag;
	uint32_t reserved;
} tdsm_parmacs_pause_t;

/* A self-scheduling counter (GSDEC, GETSUB). */
typedef struct {
	tdsm_mutex_t lock;
	uint32_t done;		/* processes given -1 this round */
	int64_t next;
} tdsm_parmacs_gs_t;

void tdsm_parmacs_initenv(void);
void tdsm_parmacs_create(void (*fn)(void));
void tdsm_parmacs_wait_for_end(long n);
void tdsm_parmacs_end(void) __attribute__((noreturn));
void tdsm_parmacs_fatal(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));
void *tdsm_parmacs_malloc(size_t n);
void tdsm_parmacs_free(void *p);
void tdsm_parmacs_lockinit(tdsm_mutex_t *m, long n);
void tdsm_parmacs_lock(tdsm_mutex_t *m);
void tdsm_parmacs_unlock(tdsm_mutex_t *m);
void tdsm_parmacs_barinit(tdsm_barrier_t *b, long n);
void tdsm_parmacs_barrier(tdsm_barrier_t *b, long n);
void tdsm_parmacs_pauseinit(tdsm_parmacs_pause_t *p);
void tdsm_parmacs_setpause(tdsm_parmacs_pause_t *p);
void tdsm_parmacs_clearpause(tdsm_parmacs_pause_t *p);
void tdsm_parmacs_waitpause(tdsm_parmacs_pause_t *p);
void tdsm_parmacs_gsinit(tdsm_parmacs_gs_t *g);
long tdsm_parmacs_getsub(tdsm_parmacs_gs_t *g, long last, long nproc);
unsigned long tdsm_parmacs_clock(void);

/* Environment: the header is all of it; m4's MAIN_ENV includes it. */
#define MAIN_ENV
#define EXTERN_ENV
#define ENV
#define NEWPROC

/*
 * MAIN_INITENV(,size) at the start of main() in every rank (the pool size
 * is ignored: the heap grows), MAIN_END at its end: on rank 0 it lets the
 * ranks no CREATE took go, meets every rank in tdsm_finalize() and exits
 * 0 (in a worker it is exit(0)).
 */
#define MAIN_INITENV(...)	{ tdsm_parmacs_initenv(); }
#define MAIN_END		{ tdsm_parmacs_end(); }

/*
 * CREATE(fn): the next rank runs fn() (SPLASH-2: called P-1 times).
 * CREATE(fn, P): P-1 ranks run fn(), then this process does (SPLASH-3).
 * WAIT_FOR_END(n): until n more workers ended; at most as many as were
 * created and not yet waited for (SPLASH-3's WAIT_FOR_END(P) counts the
 * main process: it waits for the P-1 workers).
 */
#define __PARMACS_CREATE_PICK(a, b, m, ...)	m
#define __PARMACS_CREATE1(fn)	{ tdsm_parmacs_create((void (*)(void))(fn)); }
#define __PARMACS_CREATE2(fn, p)					\
	{								\
		long __pm_i;						\
									\
		for (__pm_i = 1; __pm_i < (long)(p); __pm_i++)		\
			tdsm_parmacs_create((void (*)(void))(fn));	\
		((void (*)(void))(fn))();				\
	}
#define CREATE(...)							\
	__PARMACS_CREATE_PICK(__VA_ARGS__, __PARMACS_CREATE2,		\
			      __PARMACS_CREATE1, -)(__VA_ARGS__)
#define WAIT_FOR_END(n)		{ tdsm_parmacs_wait_for_end((long)(n)); }

/* This process's id: 0 the main process, k the k-th created (its rank). */
#define GET_PID(x)		{ (x) = tdsm_rank(); }
#define GET_HOME(x)		{ (x) = 0; }
#define SET_HOME(...)		{ }

/* Milliseconds of CLOCK_MONOTONIC: differences within a process only. */
#define CLOCK(x)		{ (x) = tdsm_parmacs_clock(); }

/* Shared memory: the job's heap, usable and freeable on every node. */
#define G_MALLOC(n)		tdsm_parmacs_malloc(n)
#define G_MALLOC_F(n)		tdsm_parmacs_malloc(n)
#define NU_MALLOC(n)		tdsm_parmacs_malloc(n)
#define NU_MALLOC_F(n)		tdsm_parmacs_malloc(n)
#define G_FREE(p)		tdsm_parmacs_free(p)
#define NU_FREE(p)		tdsm_parmacs_free(p)

/* Locks: declared in G_MALLOC memory, zeroed or LOCKINIT'ed. */
#define LOCKDEC(l)		tdsm_mutex_t l;
#define LOCKINIT(l)		{ tdsm_parmacs_lockinit(&(l), 1); }
#define LOCK(l)			{ tdsm_parmacs_lock(&(l)); }
#define UNLOCK(l)		{ tdsm_parmacs_unlock(&(l)); }
#define ALOCKDEC(a, n)		tdsm_mutex_t a[n];
#define ALOCKINIT(a, n)		{ tdsm_parmacs_lockinit(a, (long)(n)); }
#define ALOCK(a, i)		{ tdsm_parmacs_lock(&(a)[i]); }
#define AULOCK(a, i)		{ tdsm_parmacs_unlock(&(a)[i]); }
#define AGETL(a, i)		((a)[i])

/*
 * Barriers: BARINIT(b) (SPLASH-2: the count comes with the first BARRIER)
 * or BARINIT(b, n) (SPLASH-3); BARRIER(b, n) meets n processes.
 */
#define __PARMACS_BARINIT_PICK(a, b, m, ...)	m
#define __PARMACS_BARINIT1(b)	{ tdsm_parmacs_barinit(&(b), 0); }
#define __PARMACS_BARINIT2(b, n) { tdsm_parmacs_barinit(&(b), (long)(n)); }
#define BARDEC(b)		tdsm_barrier_t b;
#define BARINIT(...)							\
	__PARMACS_BARINIT_PICK(__VA_ARGS__, __PARMACS_BARINIT2,	\
			       __PARMACS_BARINIT1, -)(__VA_ARGS__)
#define BARRIER(b, n)		{ tdsm_parmacs_barrier(&(b), (long)(n)); }
#define BAREXCLUDE(b)		{ }
#define BARINCLUDE(b)		{ }

/*
 * Pauses, as SPLASH-2's POSIX macros use them: SETPAUSE sets the flag and
 * wakes every waiter, WAITPAUSE waits until it is set, CLEARPAUSE clears
 * it. PAUSE and EVENT do nothing, as there.
 */
#define PAUSEDEC(p)		tdsm_parmacs_pause_t p;
#define PAUSEINIT(p)		{ tdsm_parmacs_pauseinit(&(p)); }
#define SETPAUSE(p)		{ tdsm_parmacs_setpause(&(p)); }
#define CLEARPAUSE(p)		{ tdsm_parmacs_clearpause(&(p)); }
#define WAITPAUSE(p)		{ tdsm_parmacs_waitpause(&(p)); }
#define PAUSE(p)		{ }
#define EVENT(p)		{ }

/*
 * Self-scheduling: GETSUB(g, s, last, nproc) gives s the next index, 0 up
 * to last, under the counter's lock; then -1, and once nproc processes
 * were given -1 the counter starts over at 0 for the next round.
 */
#define GSDEC(g)		tdsm_parmacs_gs_t g;
#define GSINIT(g)		{ tdsm_parmacs_gsinit(&(g)); }
#define GETSUB(g, s, last, nproc)					\
	{ (s) = tdsm_parmacs_getsub(&(g), (long)(last), (long)(nproc)); }
#define NU_GSDEC(g)		GSDEC(g)
#define NU_GSINIT(g)		GSINIT(g)
#define NU_GETSUB(g, s, last, nproc) GETSUB(g, s, last, nproc)

/* Tracing and simulator hooks of other PARMACS targets: nothing here. */
#define AUG_ON
#define AUG_OFF
#define TRACE_ON
#define TRACE_OFF
#define ST_LOG(...)		{ }
#define PROBEND(...)		{ }

#endif /* TINYDSM_PARMACS_H */
