// SPDX-License-Identifier: GPL-2.0
/*
 * fft: a 1-D complex FFT of N = 2^M points by the six-step algorithm, in
 * the style of SPLASH-2's FFT kernel, on libtinydsm's PARMACS (parmacs.h).
 *
 *   tinydsmctl run -n 3 -- build/apps/fft [-m M] [-p P]
 *
 * The N points are a sqrt(N) x sqrt(N) matrix (M even), x[j1 + r*j2] at
 * row j2, column j1 (r = sqrt(N)), and
 *
 *   X[k1 + r*k2] = sum_j1 w_r^(j1 k2) w_N^(j1 k1) sum_j2 x[j1 + r*j2] w_r^(j2 k1)
 *
 * is computed in the six steps (transpose, row FFTs, twiddle multiply,
 * transpose, row FFTs, transpose), five phases with a BARRIER after each:
 *
 *   1. transpose x into A (A[j1][j2] = x[j1 + r*j2]);
 *   2. an r-point FFT of every row of A, then each element times the
 *      twiddle w_N^(j1 k1);
 *   3. transpose A into B;
 *   4. an r-point FFT of every row of B;
 *   5. transpose B into the result: X in natural order.
 *
 * Each of the P processes owns a contiguous band of rows (r * id / P
 * onwards) of every matrix: it writes only its own rows (a transpose
 * reads columns of the others'). The main process computes the tables
 * before the CREATEs (the r/2 roots of unity of the row FFTs and the N
 * twiddles w_N^(j1 k1), SPLASH-2's umain and umain2), so every process
 * uses the same values. The inverse is the same six steps with the
 * conjugate roots and a scaling by 1/N in the last transpose.
 *
 * Check: the forward transform, then the inverse, must give the input
 * back: the largest difference of a real or imaginary part (each process
 * its rows, the maximum taken under a LOCK: exact, in any order) below
 * 1e-9; and four points of the forward transform (k = 0, 1, N/2 + 3,
 * N - 1) must match a direct O(N) DFT computed by the main process.
 * Digest: the main process hashes the bits of the forward transform, in
 * order (-0.0 as 0.0). Every element of it is computed by the same
 * operations on the same values whatever P is (a row's FFT does not
 * depend on who does it, and nothing is summed across processes), so the
 * digest is the same for any P, for one binary on one kind of machine
 * (the tables come from libm's sin and cos).
 *
 * Prints `digest fft <16 hex digits>`, then `check fft ok` (exit 0) or
 * `check fft FAILED ...` (exit 1); a usage error is exit 2. -p P, if given,
 * must be the job's rank count (tdsm_nranks(), the default). Default
 * -m 16 (65536 points, 5 MiB of shared arrays): a 3-rank run on the host
 * mock takes a fraction of a second. Larger sizes for the QEMU guests,
 * and what fits in the region: tools/apps/README.md, "Sizes". Built
 * -no-pie (see tools/lib/tinydsm/README.md, "PARMACS").
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

#define DEFAULT_M	16
#define MAX_M		26
#define TOLERANCE	1e-9
#define SEED		0xff7a11ce5eedULL

struct cplx {
	double re, im;
};

struct GlobalMemory {
	LOCKDEC(idlock)
	LOCKDEC(errlock)
	BARDEC(barrier)
	long id;
	double maxerr;		/* forward then inverse, against the input */
	unsigned long start, finish;	/* process 0's CLOCK */
} *Global;

/* Set by main before the CREATEs: every process sees them. */
static long P, M, N, RootN, LogRootN;
static struct cplx *X;		/* the input */
static struct cplx *Out;	/* its transform */
static struct cplx *A, *B;	/* the matrices between the steps */
static struct cplx *Umain;	/* w_r^k, k < r/2 */
static struct cplx *Umain2;	/* w_N^(j1 k1), row j1 */

/* In [-1, 1): 53 bits of a hash, exactly. */
static double uniform(uint64_t h)
{
	return (double)(h >> 11) * 0x1p-52 - 1.0;
}

static void usage(const char *why)
{
	if (why)
		fprintf(stderr, "fft: %s\n", why);
	fprintf(stderr,
		"usage: fft [-m M] [-p P]\n"
		"  -m M   2^M complex points, M even, 2 .. %d (default %d)\n"
		"  -p P   processes: the job's rank count (the default)\n",
		MAX_M, DEFAULT_M);
	exit(2);
}

static struct cplx cmul(struct cplx a, struct cplx b, int conj)
{
	struct cplx c;

	if (conj)
		b.im = -b.im;
	c.re = a.re * b.re - a.im * b.im;
	c.im = a.re * b.im + a.im * b.re;
	return c;
}

/* dst's rows lo .. hi-1 from src's columns, times @scale if not 1. */
static void Transpose(struct cplx *src, struct cplx *dst, long lo, long hi,
		      double scale)
{
	long i, j;

	for (i = lo; i < hi; i++) {
		struct cplx *d = dst + i * RootN;

		for (j = 0; j < RootN; j++) {
			d[j] = src[j * RootN + i];
			if (scale != 1) {
				d[j].re *= scale;
				d[j].im *= scale;
			}
		}
	}
}

/* An r-point FFT of one row, in place: bit reversal, then butterflies. */
static void FFT1DOnce(struct cplx *a, int inverse)
{
	long i, j, k, len, half, step;
	struct cplx t;

	for (i = 0; i < RootN; i++) {
		for (j = 0, k = i, len = 0; len < LogRootN; len++, k >>= 1)
			j = j << 1 | (k & 1);
		if (j > i) {
			t = a[i];
			a[i] = a[j];
			a[j] = t;
		}
	}
	for (len = 2; len <= RootN; len <<= 1) {
		half = len / 2;
		step = RootN / len;
		for (i = 0; i < RootN; i += len) {
			for (k = 0; k < half; k++) {
				struct cplx *u = a + i + k, *v = u + half;

				t = cmul(*v, Umain[k * step], inverse);
				v->re = u->re - t.re;
				v->im = u->im - t.im;
				u->re += t.re;
				u->im += t.im;
			}
		}
	}
}

/* The six steps on my rows, from src into dst (neither A nor B). */
static void FFT1D(struct cplx *src, struct cplx *dst, int inverse, long lo,
		  long hi)
{
	long i, k;

	Transpose(src, A, lo, hi, 1);
	BARRIER(Global->barrier, P)
	for (i = lo; i < hi; i++) {
		struct cplx *row = A + i * RootN;

		FFT1DOnce(row, inverse);
		for (k = 0; k < RootN; k++)
			row[k] = cmul(row[k], Umain2[i * RootN + k], inverse);
	}
	BARRIER(Global->barrier, P)
	Transpose(A, B, lo, hi, 1);
	BARRIER(Global->barrier, P)
	for (i = lo; i < hi; i++)
		FFT1DOnce(B + i * RootN, inverse);
	BARRIER(Global->barrier, P)
	Transpose(B, dst, lo, hi, inverse ? 1.0 / N : 1);
	BARRIER(Global->barrier, P)
}

static void SlaveStart(void)
{
	long MyNum, lo, hi, i;
	double err = 0, d;

	LOCK(Global->idlock)
	MyNum = Global->id++;
	UNLOCK(Global->idlock)
	lo = RootN * MyNum / P;
	hi = RootN * (MyNum + 1) / P;

	/* The input: my rows of it. */
	for (i = lo * RootN; i < hi * RootN; i++) {
		X[i].re = uniform(mix64(SEED + 2 * (uint64_t)i));
		X[i].im = uniform(mix64(SEED + 2 * (uint64_t)i + 1));
	}
	BARRIER(Global->barrier, P)
	if (MyNum == 0)
		CLOCK(Global->start)

	FFT1D(X, Out, 0, lo, hi);
	if (MyNum == 0)
		CLOCK(Global->finish)
	/* Back, into A (free after the last transpose's reads of B). */
	FFT1D(Out, A, 1, lo, hi);
	for (i = lo * RootN; i < hi * RootN; i++) {
		d = fabs(A[i].re - X[i].re);
		err = d > err ? d : err;
		d = fabs(A[i].im - X[i].im);
		err = d > err ? d : err;
	}
	LOCK(Global->errlock)
	if (err > Global->maxerr || isnan(err))
		Global->maxerr = err;
	UNLOCK(Global->errlock)
}

/* X[k] by its definition, from the input. */
static struct cplx direct_dft(long k)
{
	struct cplx s = { 0, 0 };
	long j;

	for (j = 0; j < N; j++) {
		double a = -2 * M_PI * (double)((j * k) % N) / N;
		struct cplx w = { cos(a), sin(a) };

		w = cmul(X[j], w, 0);
		s.re += w.re;
		s.im += w.im;
	}
	return s;
}

int main(int argc, char **argv)
{
	uint64_t h = DIGEST_INIT;
	double dfterr = 0, tol;
	long i, j, procs = 0;
	int c, ok;

	MAIN_INITENV(, 0)
	M = DEFAULT_M;
	while ((c = getopt(argc, argv, "m:p:h")) != -1) {
		switch (c) {
		case 'm':
			M = app_number(usage, optarg, 2, MAX_M, "-m");
			if (M % 2)
				usage("-m must be even (a square matrix)");
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
	app_check_procs("fft", procs, P);
	N = 1L << M;
	LogRootN = M / 2;
	RootN = 1L << LogRootN;
	printf("fft: %ld complex points, a %ld x %ld matrix, %ld processes\n",
	       N, RootN, RootN, P);

	Global = G_MALLOC(sizeof(*Global));
	memset(Global, 0, sizeof(*Global));
	LOCKINIT(Global->idlock)
	LOCKINIT(Global->errlock)
	BARINIT(Global->barrier)
	X = G_MALLOC(N * sizeof(*X));
	Out = G_MALLOC(N * sizeof(*Out));
	A = G_MALLOC(N * sizeof(*A));
	B = G_MALLOC(N * sizeof(*B));
	Umain = G_MALLOC(RootN / 2 * sizeof(*Umain));
	Umain2 = G_MALLOC(N * sizeof(*Umain2));
	for (i = 0; i < RootN / 2; i++) {
		Umain[i].re = cos(2 * M_PI * i / RootN);
		Umain[i].im = -sin(2 * M_PI * i / RootN);
	}
	for (i = 0; i < RootN; i++) {
		for (j = 0; j < RootN; j++) {
			double a = 2 * M_PI * (double)(i * j) / N;

			Umain2[i * RootN + j].re = cos(a);
			Umain2[i * RootN + j].im = -sin(a);
		}
	}

	for (i = 1; i < P; i++)
		CREATE(SlaveStart)
	SlaveStart();
	WAIT_FOR_END(P - 1)

	for (i = 0; i < N; i++) {
		h = digest_double(h, Out[i].re);
		h = digest_double(h, Out[i].im);
	}
	for (i = 0; i < 4; i++) {
		long k = (i == 0 ? 0 : i == 1 ? 1 : i == 2 ? N / 2 + 3 : N - 1) % N;
		struct cplx want = direct_dft(k);
		double d = fmax(fabs(want.re - Out[k].re),
				fabs(want.im - Out[k].im));

		dfterr = d > dfterr || isnan(d) ? d : dfterr;
	}
	tol = 1e-12 * N + 1e-9;
	printf("fft: forward in %lu ms (process 0); max |inverse(forward(x)) "
	       "- x| = %.3e; max difference from a direct DFT at 4 points "
	       "%.3e\n", Global->finish - Global->start, Global->maxerr,
	       dfterr);
	printf("digest fft %016" PRIx64 "\n", h);
	ok = Global->maxerr < TOLERANCE && dfterr < tol;
	if (ok)
		printf("check fft ok\n");
	else
		printf("check fft FAILED: residual %.3e (tolerance %.0e), "
		       "direct DFT difference %.3e (tolerance %.3e)\n",
		       Global->maxerr, TOLERANCE, dfterr, tol);
	G_FREE(Umain2);
	G_FREE(Umain);
	G_FREE(B);
	G_FREE(A);
	G_FREE(Out);
	G_FREE(X);
	G_FREE(Global);
	if (!ok)
		exit(1);	/* the end of the job all the same */
	MAIN_END
}
