// SPDX-License-Identifier: GPL-2.0
/*
 * parmacs_sum: a PARMACS program in SPLASH-2's style, on libtinydsm
 * (parmacs.h; README.md, "PARMACS").
 *
 *   tinydsmctl run -n P -- build/tools/parmacs_sum [N]
 *
 * The main process (rank 0) reads N, fills a G_MALLOC array with 1 .. N,
 * sets its globals (P, N, the array's address) and CREATEs P-1 workers,
 * which get those globals as they were at their CREATE. Every process
 * (the main one too) takes an id under a LOCK, sums its slice of the
 * array, adds it to the total under another LOCK and meets the others at
 * a BARRIER; the main process WAIT_FOR_ENDs, prints the sum and checks
 * it against N(N+1)/2. Exit status: 0 right, 1 wrong (or a PARMACS call
 * failed, which says why), 2 usage. Built -no-pie (see the README).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parmacs.h"

MAIN_ENV

struct GlobalMemory {
	LOCKDEC(idlock)
	LOCKDEC(sumlock)
	BARDEC(start)
	long id;
	long sum;
} *Global;

static long P, N;
static long *A;

static void SlaveStart(void)
{
	unsigned long t0, t1;
	long me, lo, hi, i, part = 0;

	LOCK(Global->idlock)
	me = Global->id++;
	UNLOCK(Global->idlock)
	BARRIER(Global->start, P)
	CLOCK(t0)
	lo = N * me / P;
	hi = N * (me + 1) / P;
	for (i = lo; i < hi; i++)
		part += A[i];
	LOCK(Global->sumlock)
	Global->sum += part;
	UNLOCK(Global->sumlock)
	BARRIER(Global->start, P)
	CLOCK(t1)
	printf("process %ld: A[%ld..%ld) sums to %ld (%lu ms)\n", me, lo, hi,
	       part, t1 - t0);
}

int main(int argc, char **argv)
{
	long i, want;
	char *end;

	MAIN_INITENV(, 0)
	N = argc > 1 ? strtol(argv[1], &end, 0) : 100000;
	if (argc > 2 || (argc > 1 && *end) || N < 1 || N > 100000000) {
		fprintf(stderr, "usage: parmacs_sum [N (1..100000000)]\n");
		exit(2);
	}
	P = tdsm_nranks();
	Global = G_MALLOC(sizeof(*Global));
	memset(Global, 0, sizeof(*Global));
	LOCKINIT(Global->idlock)
	LOCKINIT(Global->sumlock)
	BARINIT(Global->start)
	A = G_MALLOC(N * sizeof(*A));
	for (i = 0; i < N; i++)
		A[i] = i + 1;

	for (i = 1; i < P; i++)
		CREATE(SlaveStart)
	SlaveStart();
	WAIT_FOR_END(P - 1)

	want = N * (N + 1) / 2;
	printf("sum of 1..%ld over %ld processes: %ld, %s\n", N, P,
	       Global->sum, Global->sum == want ? "right" : "WRONG");
	if (Global->sum != want)
		exit(1);	/* the end of the job all the same */
	G_FREE(A);
	G_FREE(Global);
	MAIN_END
}
