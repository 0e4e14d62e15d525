// SPDX-License-Identifier: GPL-2.0
/*
 * lu: a blocked dense LU factorisation without pivoting, in the style of
 * SPLASH-2's LU kernel (the contiguous-blocks version), on libtinydsm's
 * PARMACS (parmacs.h).
 *
 *   tinydsmctl run -n 3 -- build/apps/lu [-n N] [-b B] [-p P]
 *
 * A is N x N, a(i,j) a hash of (i,j) in [-1, 1) off the diagonal and N + 1
 * on it: diagonally dominant, so no pivoting is needed. It is cut into
 * B x B blocks (the last row and column of blocks smaller if B does not
 * divide N), each block contiguous in memory, allocated (G_MALLOC) and
 * filled by its owner, so that it is homed on the owner's node. The P
 * processes are a PR x PC grid (PR the largest divisor of P not above
 * sqrt(P)); block (I,J) belongs to process (I mod PR) * PC + (J mod PC),
 * 2-D cyclically. Step K, the phases between BARRIERs:
 *
 *   1. the owner of the diagonal block (K,K) factors it: L (unit lower)
 *      and U in place;
 *   2. the owners of the blocks right of it solve L_KK U_KJ = A_KJ, the
 *      owners of the blocks below it L_IK U_KK = A_IK;
 *   3. every owner of a block (I,J), I, J > K, updates it:
 *      A_IJ -= L_IK U_KJ.
 *
 * Check: the main process solves A x = b with the factors (b = A times a
 * vector of ones, forward then back substitution) and prints the
 * residual ||A x - b|| / ||b||, which must be below 1e-9 (A regenerated
 * from its hash), and the largest |x_i - 1|. Digest: the main process
 * hashes the bits of the factors (the matrix after the factorisation) in
 * row-major order (-0.0 as 0.0). Every element of the factors is the
 * result of the same operations in the same order whatever P is (a
 * block's owner changes with P, its arithmetic does not, and nothing is
 * summed across processes), so the digest is the same for any P.
 *
 * Prints `digest lu <16 hex digits>`, then `check lu ok` (exit 0) or
 * `check lu FAILED ...` (exit 1); a usage error is exit 2. -p P, if
 * given, must be the job's rank count (tdsm_nranks(), the default).
 * Default -n 256 -b 16 (512 KiB of blocks): a 3-rank run on the host
 * mock takes a fraction of a second.
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

#define DEFAULT_N	256
#define DEFAULT_B	16
#define MAX_N		8192
#define TOLERANCE	1e-9
#define SEED		0x1ba5edb10c4edULL

struct GlobalMemory {
	LOCKDEC(idlock)
	BARDEC(barrier)
	long id;
	unsigned long start, finish;	/* process 0's CLOCK */
} *Global;

/* Set by main before the CREATEs: every process sees them. */
static long P, N, BS, NBlocks, PRows, PCols;
static double **Blocks;		/* NBlocks^2 pointers, row-major */

/* a(i,j) of the input. */
static double element(long i, long j)
{
	if (i == j)
		return N + 1;
	return (double)(mix64(SEED ^ ((uint64_t)i << 32 | (uint64_t)j)) >> 11) *
	       0x1p-52 - 1.0;
}

static void usage(const char *why)
{
	if (why)
		fprintf(stderr, "lu: %s\n", why);
	fprintf(stderr,
		"usage: lu [-n N] [-b B] [-p P]\n"
		"  -n N   an N x N matrix, 1 .. %d (default %d)\n"
		"  -b B   B x B blocks, 1 .. N (default %d, or N if less)\n"
		"  -p P   processes: the job's rank count (the default)\n",
		MAX_N, DEFAULT_N, DEFAULT_B);
	exit(2);
}

static long BlockOwner(long I, long J)
{
	return (I % PRows) * PCols + J % PCols;
}

/* Rows (or columns) of block row (column) I. */
static long BlockDim(long I)
{
	return I == NBlocks - 1 ? N - I * BS : BS;
}

/* Element (i,j) of the matrix: block (i/B, j/B), row stride B. */
static double *Elt(long i, long j)
{
	return Blocks[(i / BS) * NBlocks + j / BS] + (i % BS) * BS + j % BS;
}

/* The diagonal block, n x n, into L (unit, below) and U in place. */
static void lu0(double *a, long n)
{
	long i, j, k;

	for (k = 0; k < n; k++) {
		for (i = k + 1; i < n; i++) {
			a[i * BS + k] /= a[k * BS + k];
			for (j = k + 1; j < n; j++)
				a[i * BS + j] -= a[i * BS + k] * a[k * BS + j];
		}
	}
}

/* A block below the diagonal, rows x n: a := a U^-1 (U of @d). */
static void bdiv(double *a, const double *d, long rows, long n)
{
	long i, j, k;

	for (i = 0; i < rows; i++) {
		for (k = 0; k < n; k++) {
			a[i * BS + k] /= d[k * BS + k];
			for (j = k + 1; j < n; j++)
				a[i * BS + j] -= a[i * BS + k] * d[k * BS + j];
		}
	}
}

/* A block right of the diagonal, n x cols: a := L^-1 a (L of @d). */
static void bmodd(double *a, const double *d, long n, long cols)
{
	long i, j, k;

	for (k = 0; k < n; k++)
		for (i = k + 1; i < n; i++)
			for (j = 0; j < cols; j++)
				a[i * BS + j] -= d[i * BS + k] * a[k * BS + j];
}

/* An interior block, rows x cols: c -= a b (a rows x n, b n x cols). */
static void bmod(double *c, const double *a, const double *b, long rows,
		 long n, long cols)
{
	long i, j, k;

	for (i = 0; i < rows; i++)
		for (k = 0; k < n; k++)
			for (j = 0; j < cols; j++)
				c[i * BS + j] -= a[i * BS + k] * b[k * BS + j];
}

static void SlaveStart(void)
{
	long MyNum, I, J, K, i, j;

	LOCK(Global->idlock)
	MyNum = Global->id++;
	UNLOCK(Global->idlock)

	/* My blocks: allocated here (homed on my node) and filled. */
	for (I = 0; I < NBlocks; I++) {
		for (J = 0; J < NBlocks; J++) {
			double *b;

			if (BlockOwner(I, J) != MyNum)
				continue;
			b = G_MALLOC(BS * BS * sizeof(*b));
			for (i = 0; i < BlockDim(I); i++)
				for (j = 0; j < BlockDim(J); j++)
					b[i * BS + j] = element(I * BS + i,
								J * BS + j);
			Blocks[I * NBlocks + J] = b;
		}
	}
	BARRIER(Global->barrier, P)
	if (MyNum == 0)
		CLOCK(Global->start)

	for (K = 0; K < NBlocks; K++) {
		double *diag = Blocks[K * NBlocks + K];
		long dk = BlockDim(K);

		if (BlockOwner(K, K) == MyNum)
			lu0(diag, dk);
		BARRIER(Global->barrier, P)
		for (J = K + 1; J < NBlocks; J++)
			if (BlockOwner(K, J) == MyNum)
				bmodd(Blocks[K * NBlocks + J], diag, dk,
				      BlockDim(J));
		for (I = K + 1; I < NBlocks; I++)
			if (BlockOwner(I, K) == MyNum)
				bdiv(Blocks[I * NBlocks + K], diag,
				     BlockDim(I), dk);
		BARRIER(Global->barrier, P)
		for (I = K + 1; I < NBlocks; I++) {
			for (J = K + 1; J < NBlocks; J++) {
				if (BlockOwner(I, J) != MyNum)
					continue;
				bmod(Blocks[I * NBlocks + J],
				     Blocks[I * NBlocks + K],
				     Blocks[K * NBlocks + J], BlockDim(I), dk,
				     BlockDim(J));
			}
		}
		BARRIER(Global->barrier, P)
	}
	if (MyNum == 0)
		CLOCK(Global->finish)
}

/*
 * A x = b with the factors, b = A (1 ... 1): ||A x - b|| / ||b|| and
 * max |x_i - 1|. Sequential, in the main process.
 */
static double solve_check(double *xerr)
{
	double *b = malloc(N * sizeof(*b)), *x = malloc(N * sizeof(*x));
	double rr = 0, bb = 0, s;
	long i, j;

	if (!b || !x) {
		fprintf(stderr, "lu: out of memory\n");
		exit(1);
	}
	for (i = 0; i < N; i++) {
		for (s = 0, j = 0; j < N; j++)
			s += element(i, j);
		b[i] = s;
	}
	for (i = 0; i < N; i++) {		/* L y = b */
		for (s = b[i], j = 0; j < i; j++)
			s -= *Elt(i, j) * x[j];
		x[i] = s;
	}
	for (i = N - 1; i >= 0; i--) {		/* U x = y */
		for (s = x[i], j = i + 1; j < N; j++)
			s -= *Elt(i, j) * x[j];
		x[i] = s / *Elt(i, i);
	}
	*xerr = 0;
	for (i = 0; i < N; i++) {
		for (s = -b[i], j = 0; j < N; j++)
			s += element(i, j) * x[j];
		rr += s * s;
		bb += b[i] * b[i];
		s = fabs(x[i] - 1);
		*xerr = s > *xerr || isnan(s) ? s : *xerr;
	}
	free(x);
	free(b);
	return sqrt(rr) / sqrt(bb);
}

int main(int argc, char **argv)
{
	uint64_t h = DIGEST_INIT;
	long i, j, procs = 0;
	double resid, xerr;
	int c, ok, bset = 0;

	MAIN_INITENV(, 0)
	N = DEFAULT_N;
	BS = DEFAULT_B;
	while ((c = getopt(argc, argv, "n:b:p:h")) != -1) {
		switch (c) {
		case 'n':
			N = app_number(usage, optarg, 1, MAX_N, "-n");
			break;
		case 'b':
			BS = app_number(usage, optarg, 1, MAX_N, "-b");
			bset = 1;
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
	if (BS > N && bset)
		usage("-b must not be above -n");
	if (BS > N)
		BS = N;
	P = tdsm_nranks();
	app_check_procs("lu", procs, P);
	NBlocks = (N + BS - 1) / BS;
	for (PRows = 1, i = 1; i * i <= P; i++)
		if (P % i == 0)
			PRows = i;
	PCols = P / PRows;
	printf("lu: a %ld x %ld matrix in %ld x %ld blocks of %ld, %ld "
	       "processes (%ld x %ld)\n", N, N, NBlocks, NBlocks, BS, P, PRows,
	       PCols);

	Global = G_MALLOC(sizeof(*Global));
	memset(Global, 0, sizeof(*Global));
	LOCKINIT(Global->idlock)
	BARINIT(Global->barrier)
	Blocks = G_MALLOC(NBlocks * NBlocks * sizeof(*Blocks));

	for (i = 1; i < P; i++)
		CREATE(SlaveStart)
	SlaveStart();
	WAIT_FOR_END(P - 1)

	for (i = 0; i < N; i++)
		for (j = 0; j < N; j++)
			h = digest_double(h, *Elt(i, j));
	resid = solve_check(&xerr);
	printf("lu: factored in %lu ms (process 0); ||Ax-b||/||b|| = %.3e, "
	       "max |x_i - 1| = %.3e\n", Global->finish - Global->start, resid,
	       xerr);
	printf("digest lu %016" PRIx64 "\n", h);
	ok = resid < TOLERANCE && xerr < TOLERANCE;
	if (ok)
		printf("check lu ok\n");
	else
		printf("check lu FAILED: residual %.3e, max |x_i - 1| %.3e "
		       "(tolerance %.0e)\n", resid, xerr, TOLERANCE);
	for (i = 0; i < NBlocks * NBlocks; i++)
		G_FREE(Blocks[i]);
	G_FREE(Blocks);
	G_FREE(Global);
	if (!ok)
		exit(1);	/* the end of the job all the same */
	MAIN_END
}
