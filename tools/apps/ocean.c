// SPDX-License-Identifier: GPL-2.0
/*
 * ocean: red-black successive over-relaxation (Gauss-Seidel with
 * over-relaxation) on a 2-D grid, the equation solver at the heart of
 * SPLASH-2's OCEAN (which wraps it in multigrid and a time loop), on
 * libtinydsm's PARMACS (parmacs.h).
 *
 *   tinydsmctl run -n 3 -- build/apps/ocean [-n N] [-i ITERS] [-t TOL] [-p P]
 *
 * It solves the 5-point discrete Poisson equation lap_h u = f on the unit
 * square, N x N interior points (h = 1 / (N + 1)), with u = x y on the
 * boundary and f = -2 (x (1 - x) + y (1 - y)): the discrete solution is
 * exactly u* = x (1 - x) y (1 - y) + x y (the 5-point Laplacian of these
 * polynomials is exact). From u = 0 inside, an iteration updates the red
 * points ((i + j) even), then the black ones, each
 *
 *   u += omega (mean of the 4 neighbours - h^2 f / 4 - u),
 *
 * omega = 2 / (1 + sin(pi h)), the optimal factor. The P processes own
 * contiguous bands of rows (1 + N * id / P onwards): a colour's sweep is
 * a phase, BARRIERs between them (a red point reads only black ones and
 * the reverse, so a sweep's result does not depend on the order of its
 * points). Every 10 iterations, and before the first, each process
 * computes the largest |f - lap_h u| of its rows, and the global residual
 * is their maximum, reduced under a LOCK into a GlobalMemory field (two
 * of them, alternate checks, so that resetting one races with nobody),
 * then a BARRIER; every process stops once it is at most TOL times the
 * first one, or after ITERS iterations.
 *
 * Check: the final residual is below the first one, and at most TOL
 * times it (TOL 0: ITERS iterations, whatever the residual); and the
 * largest |u - u*| is at most the final residual / 8 (|lap_h^-1| <= 1/8
 * in the max norm on the unit square) plus 1e-10. Digest: the main
 * process hashes the bits of the final grid's interior, row by row (-0.0
 * as 0.0). A point's value is the result of the same operations on the
 * same values whatever P is, and the stopping test compares a maximum,
 * which is exact in any order of the processes, so the iteration count
 * and the digest are the same for any P.
 *
 * Prints `digest ocean <16 hex digits>`, then `check ocean ok` (exit 0) or
 * `check ocean FAILED ...` (exit 1); a usage error is exit 2. -p P, if
 * given, must be the job's rank count (tdsm_nranks(), the default).
 * Default -n 128 -i 2000 -t 1e-6 (270 iterations, 260 KiB of grids): a
 * 3-rank run on the host mock takes a fraction of a second.
 * Larger sizes for the QEMU guests, and what fits in the region:
 * tools/apps/README.md, "Sizes". Built -no-pie (see
 * tools/lib/tinydsm/README.md, "PARMACS").
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "parmacs.h"

MAIN_ENV

#define DEFAULT_N	128
#define DEFAULT_ITERS	2000
#define DEFAULT_TOL	1e-6
#define MAX_N		8192
#define RESID_EVERY	10

struct GlobalMemory {
	LOCKDEC(idlock)
	LOCKDEC(residlock)
	BARDEC(barrier)
	long id;
	double resid[2];	/* checks alternate between the two */
	double first, last;	/* the residual before and after */
	long iters;		/* iterations done */
	unsigned long start, finish;	/* process 0's CLOCK */
} *Global;

/* Set by main before the CREATEs: every process sees them. */
static long P, N, MaxIters, Stride;
static double Tol, H, Omega;
static double *U;		/* (N + 2) x (N + 2), boundary included */
static double *F;		/* the right-hand side, same shape */

static void usage(const char *why)
{
	if (why)
		fprintf(stderr, "ocean: %s\n", why);
	fprintf(stderr,
		"usage: ocean [-n N] [-i ITERS] [-t TOL] [-p P]\n"
		"  -n N      N x N interior points, 2 .. %d (default %d)\n"
		"  -i ITERS  at most ITERS iterations (default %d)\n"
		"  -t TOL    stop once the residual is TOL times the first one,\n"
		"            0 .. 1 (default %g; 0: run ITERS iterations)\n"
		"  -p P      processes: the job's rank count (the default)\n",
		MAX_N, DEFAULT_N, DEFAULT_ITERS, DEFAULT_TOL);
	exit(2);
}

/* The discrete solution at grid point (i, j): x = i h, y = j h. */
static double exact(long i, long j)
{
	double x = i * H, y = j * H;

	return x * (1 - x) * y * (1 - y) + x * y;
}

/* One colour's points of rows lo .. hi-1: (i + j) % 2 == colour. */
static void relax(long lo, long hi, long colour)
{
	const double w4 = Omega / 4, h2 = H * H;
	long i, j;

	for (i = lo; i < hi; i++) {
		double *u = U + i * Stride;
		const double *f = F + i * Stride;

		for (j = 1 + (i + 1 + colour) % 2; j <= N; j += 2)
			u[j] += w4 * (u[j - Stride] + u[j + Stride] + u[j - 1] +
				      u[j + 1] - h2 * f[j] - 4 * u[j]);
	}
}

/* max |f - lap_h u| over rows lo .. hi-1. */
static double residual(long lo, long hi)
{
	const double rh2 = 1 / (H * H);
	double r, m = 0;
	long i, j;

	for (i = lo; i < hi; i++) {
		const double *u = U + i * Stride, *f = F + i * Stride;

		for (j = 1; j <= N; j++) {
			r = fabs(f[j] - rh2 * (u[j - Stride] + u[j + Stride] +
					       u[j - 1] + u[j + 1] - 4 * u[j]));
			m = r > m || isnan(r) ? r : m;
		}
	}
	return m;
}

/* The global residual, check number @n: the maximum under the lock. */
static double global_residual(long MyNum, long lo, long hi, long n)
{
	double r = residual(lo, hi);

	LOCK(Global->residlock)
	if (r > Global->resid[n % 2] || isnan(r))
		Global->resid[n % 2] = r;
	UNLOCK(Global->residlock)
	BARRIER(Global->barrier, P)
	r = Global->resid[n % 2];
	/* No one reads the other one until after the next barrier. */
	if (MyNum == 0)
		Global->resid[(n + 1) % 2] = 0;
	return r;
}

static void SlaveStart(void)
{
	long MyNum, lo, hi, i, j, it, checks = 0;
	double first, r;

	LOCK(Global->idlock)
	MyNum = Global->id++;
	UNLOCK(Global->idlock)
	lo = 1 + N * MyNum / P;
	hi = 1 + N * (MyNum + 1) / P;

	/* My rows: u = 0 inside, x y on the boundary; f. */
	for (i = lo - (MyNum == 0); i < hi + (MyNum == P - 1); i++) {
		for (j = 0; j <= N + 1; j++) {
			double x = i * H, y = j * H;

			if (i == 0 || i == N + 1 || j == 0 || j == N + 1)
				U[i * Stride + j] = x * y;
			else
				U[i * Stride + j] = 0;
			F[i * Stride + j] = -2 * (x * (1 - x) + y * (1 - y));
		}
	}
	BARRIER(Global->barrier, P)
	if (MyNum == 0)
		CLOCK(Global->start)

	first = r = global_residual(MyNum, lo, hi, checks++);
	for (it = 0; it < MaxIters;) {
		relax(lo, hi, 0);
		BARRIER(Global->barrier, P)
		relax(lo, hi, 1);
		BARRIER(Global->barrier, P)
		it++;
		if (it % RESID_EVERY == 0 || it == MaxIters) {
			r = global_residual(MyNum, lo, hi, checks++);
			if (r <= Tol * first)
				break;
		}
	}
	if (MyNum == 0) {
		CLOCK(Global->finish)
		Global->first = first;
		Global->last = r;
		Global->iters = it;
	}
}

int main(int argc, char **argv)
{
	uint64_t h = DIGEST_INIT;
	long i, j, procs = 0;
	double err = 0, d, bound;
	char *end;
	int c, ok;

	MAIN_INITENV(, 0)
	N = DEFAULT_N;
	MaxIters = DEFAULT_ITERS;
	Tol = DEFAULT_TOL;
	while ((c = getopt(argc, argv, "n:i:t:p:h")) != -1) {
		switch (c) {
		case 'n':
			N = app_number(usage, optarg, 2, MAX_N, "-n");
			break;
		case 'i':
			MaxIters = app_number(usage, optarg, 1, 100000000, "-i");
			break;
		case 't':
			Tol = strtod(optarg, &end);
			if (!*optarg || *end || !(Tol >= 0 && Tol <= 1))
				usage("-t takes a number from 0 to 1");
			break;
		case 'p':
			procs = app_number(usage, optarg, 1, TDSM_MAX_RANKS, "-p");
			break;
		default:
			usage(NULL);
		}
	}
	if (optind < argc)
		usage("no arguments besides the options");
	P = tdsm_nranks();
	app_check_procs("ocean", procs, P);
	Stride = N + 2;
	H = 1.0 / (N + 1);
	Omega = 2 / (1 + sin(M_PI * H));
	printf("ocean: %ld x %ld interior points, omega %.6f, at most %ld "
	       "iterations to a residual of %g times the first, %ld processes\n",
	       N, N, Omega, MaxIters, Tol, P);

	Global = G_MALLOC(sizeof(*Global));
	memset(Global, 0, sizeof(*Global));
	LOCKINIT(Global->idlock)
	LOCKINIT(Global->residlock)
	BARINIT(Global->barrier)
	U = G_MALLOC(Stride * Stride * sizeof(*U));
	F = G_MALLOC(Stride * Stride * sizeof(*F));

	for (i = 1; i < P; i++)
		CREATE(SlaveStart)
	SlaveStart();
	WAIT_FOR_END(P - 1)

	for (i = 1; i <= N; i++) {
		for (j = 1; j <= N; j++) {
			h = digest_double(h, U[i * Stride + j]);
			d = fabs(U[i * Stride + j] - exact(i, j));
			err = d > err || isnan(d) ? d : err;
		}
	}
	bound = Global->last / 8 + 1e-10;
	printf("ocean: %ld iterations in %lu ms (process 0); residual %.3e "
	       "-> %.3e; max |u - u*| = %.3e (bound %.3e)\n", Global->iters,
	       Global->finish - Global->start, Global->first, Global->last,
	       err, bound);
	printf("digest ocean %016" PRIx64 "\n", h);
	ok = Global->last < Global->first && err <= bound &&
	     (Tol == 0 || Global->last <= Tol * Global->first);
	if (ok)
		printf("check ocean ok\n");
	else
		printf("check ocean FAILED: residual %.3e -> %.3e after %ld "
		       "iterations (tolerance %g times the first), max "
		       "|u - u*| %.3e (bound %.3e)\n", Global->first,
		       Global->last, Global->iters, Tol, err, bound);
	G_FREE(F);
	G_FREE(U);
	G_FREE(Global);
	if (!ok)
		exit(1);	/* the end of the job all the same */
	MAIN_END
}
