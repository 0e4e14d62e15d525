// SPDX-License-Identifier: GPL-2.0
/*
 * water: molecular dynamics of N molecules in a periodic box, O(N^2) with
 * a cutoff, in the style of SPLASH-2's WATER-NSQUARED, on libtinydsm's
 * PARMACS (parmacs.h). The molecules are single Lennard-Jones sites (in
 * reduced units: sigma, epsilon and the mass are 1) rather than
 * WATER's three-site water, and the integrator is velocity Verlet rather
 * than its predictor-corrector; the parallel structure is WATER's.
 *
 *   tinydsmctl run -n 3 -- build/apps/water [-n N] [-s STEPS] [-p P]
 *
 * The main process puts the N molecules on a cubic lattice of spacing
 * 0.8^(-1/3), in a box of side k times that (k^3 the first cube at least
 * N: the density is 0.8 when N is a cube, less otherwise), and gives
 * them velocities from a fixed-seed hash, minus their mean (no total
 * momentum), scaled to a temperature of 1. The pair potential is
 * Lennard-Jones cut at 2.5 (or half the box), force-shifted: force and
 * energy go to 0 at the cutoff. Each of the P processes owns a contiguous
 * range of molecules (N * id / P onwards). A step is three phases, a
 * BARRIER after each:
 *
 *   1. each process moves its molecules: v += dt/2 F, x += dt v, back
 *      into the box; and clears their force accumulators;
 *   2. each process computes, for each of its molecules i, the forces with
 *      the N/2 molecules after it (j = i + 1 .. i + N/2 modulo N, the
 *      half-shell of WATER-NSQUARED: every pair once) within the cutoff,
 *      under the minimum image convention, adding F_ij to i's and -F_ij
 *      to j's force in a private array; then adds that array into the
 *      shared accumulators, under a LOCK of an ALOCK array for every 32
 *      molecules, and its potential energy into a shared sum under
 *      another LOCK;
 *   3. each process finishes its molecules' velocities, v += dt/2 F, and
 *      adds their kinetic energy under that LOCK.
 *
 * The sums across processes are of 64-bit integers: every pair's force
 * component is rounded once to a multiple of 2^-24 (llrint, the same
 * value whoever computes the pair), and energies likewise. Integer
 * addition is exact in any order, so the forces, the energies and every
 * position and velocity are the same bits whatever P is, and whatever
 * the order in which the processes take the locks.
 *
 * Check: the forces sum to exactly 0 (the integer accumulators: a lost
 * update under a broken lock would show); the potential energy before
 * the first step equals, exactly, the one the main process computes over
 * every pair i < j by itself (the half-shells cover every pair once); the
 * total momentum stays below 1e-9 N; the total energy drifts by less than
 * 1e-2 of |E0| + KE0 over the steps; and no value needed more than the
 * fixed point's range. Digest: the main process hashes the bits of every
 * position and velocity at the end (-0.0 as 0.0), in molecule order, and
 * the final energies (integers): the same for any P, as said above.
 *
 * Prints `digest water <16 hex digits>`, then `check water ok` (exit 0) or
 * `check water FAILED ...` (exit 1); a usage error is exit 2. -p P, if
 * given, must be the job's rank count (tdsm_nranks(), the default).
 * Default -n 512 -s 10 (SPLASH-2's 512 molecules): a 3-rank run on the
 * host mock takes a fraction of a second.
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

#define DEFAULT_N	512
#define DEFAULT_STEPS	10
#define MAX_N		32768
#define MOLS_PER_LOCK	32
#define MAXLCKS		(MAX_N / MOLS_PER_LOCK)
#define DENSITY		0.8
#define TEMPERATURE	1.0
#define DT		0.004
#define CUTOFF		2.5
#define FSCALE		0x1p24		/* fixed point: forces, energies */
#define FMAX		1e8		/* |F| beyond: out of range */
#define DRIFT_TOL	1e-2
#define SEED		0xa7e2d00dULL

struct GlobalMemory {
	LOCKDEC(idlock)
	LOCKDEC(EnergyLock)
	ALOCKDEC(MolLock, MAXLCKS)
	BARDEC(barrier)
	long id;
	/* fixed point sums, alternate steps: reset one while using the other */
	int64_t pot[2], kin[2];
	int64_t pot0, kin0;	/* before the first step */
	double maxdrift;	/* max |E - E0| / (|E0| + KE0) */
	long overflow;		/* forces out of the fixed point's range */
	unsigned long start, finish;	/* process 0's CLOCK */
} *Global;

/* Set by main before the CREATEs: every process sees them. */
static long P, N, Steps, NLocks;
static double Box, Cutoff, Cutoff2, ECut, FCut;
static double (*Pos)[3];
static double (*Vel)[3];
static int64_t (*Force)[3];	/* the shared accumulators, fixed point */

static void usage(const char *why)
{
	if (why)
		fprintf(stderr, "water: %s\n", why);
	fprintf(stderr,
		"usage: water [-n N] [-s STEPS] [-p P]\n"
		"  -n N       molecules, 2 .. %d (default %d)\n"
		"  -s STEPS   time steps, 1 .. 100000 (default %d)\n"
		"  -p P       processes: the job's rank count (the default)\n",
		MAX_N, DEFAULT_N, DEFAULT_STEPS);
	exit(2);
}

/* The Lennard-Jones pair energy at squared distance @r2, unshifted. */
static double lj(double r2)
{
	double inv6 = 1 / (r2 * r2 * r2);

	return 4 * inv6 * (inv6 - 1);
}

static int64_t fixed(double v, long *overflow)
{
	if (!(fabs(v) < FMAX)) {
		(*overflow)++;
		return 0;
	}
	return llrint(v * FSCALE);
}

/*
 * Molecules i and j: 0 beyond the cutoff; else 1, d = x_i - x_j (the
 * minimum image), the force on i over r (@fr: F_ij = fr d) and the pair's
 * energy, of the force-shifted potential (force and energy go to 0 at the
 * cutoff). (j, i) gives -d and the same @fr and energy, to the bit.
 */
static int pair(long i, long j, double d[3], double *fr, double *pe)
{
	double r2 = 0, r, inv2, inv6;
	int k;

	for (k = 0; k < 3; k++) {
		d[k] = Pos[i][k] - Pos[j][k];
		d[k] -= Box * rint(d[k] / Box);
		r2 += d[k] * d[k];
	}
	if (r2 >= Cutoff2)
		return 0;
	r = sqrt(r2);
	inv2 = 1 / r2;
	inv6 = inv2 * inv2 * inv2;
	*fr = 24 * inv2 * inv6 * (2 * inv6 - 1) - FCut / r;
	*pe = lj(r2) - ECut + (r - Cutoff) * FCut;
	return 1;
}

/* Phase 2 for molecules lo .. hi-1: into @local, then the shared sums. */
static void INTERF(long lo, long hi, int64_t (*local)[3], int slot)
{
	long i, j, k, m, half, b, first, over = 0;
	int64_t pot = 0;
	double d[3], fr, pe;

	memset(local, 0, N * sizeof(*local));
	for (i = lo; i < hi; i++) {
		/* N even: the pair (i, i + N/2) once, from the lower i */
		half = N % 2 == 0 && i >= N / 2 ? N / 2 - 1 : N / 2;
		for (m = 1; m <= half; m++) {
			j = i + m < N ? i + m : i + m - N;
			if (!pair(i, j, d, &fr, &pe))
				continue;
			for (k = 0; k < 3; k++) {
				int64_t f = fixed(d[k] * fr, &over);

				local[i][k] += f;
				local[j][k] -= f;
			}
			pot += fixed(pe, &over);
		}
	}

	/* Into the shared accumulators, lock by lock, starting at mine. */
	first = lo / MOLS_PER_LOCK;
	for (b = 0; b < NLocks; b++) {
		long l = (first + b) % NLocks;
		long end = (l + 1) * MOLS_PER_LOCK < N ?
			   (l + 1) * MOLS_PER_LOCK : N;

		ALOCK(Global->MolLock, l)
		for (i = l * MOLS_PER_LOCK; i < end; i++)
			for (k = 0; k < 3; k++)
				Force[i][k] += local[i][k];
		AULOCK(Global->MolLock, l)
	}
	LOCK(Global->EnergyLock)
	Global->pot[slot] += pot;
	Global->overflow += over;
	UNLOCK(Global->EnergyLock)
}

/* Phase 3: the second half kick of my molecules and their energy. */
static void KINETI(long lo, long hi, int slot)
{
	int64_t kin = 0;
	long i, k, over = 0;

	for (i = lo; i < hi; i++) {
		double e = 0;

		for (k = 0; k < 3; k++) {
			Vel[i][k] += DT / 2 * (Force[i][k] / FSCALE);
			e += Vel[i][k] * Vel[i][k];
		}
		kin += fixed(e / 2, &over);
	}
	LOCK(Global->EnergyLock)
	Global->kin[slot] += kin;
	Global->overflow += over;
	UNLOCK(Global->EnergyLock)
}

static void SlaveStart(void)
{
	int64_t (*local)[3];
	long MyNum, lo, hi, i, k, step;
	double e0, e, denom;

	LOCK(Global->idlock)
	MyNum = Global->id++;
	UNLOCK(Global->idlock)
	lo = N * MyNum / P;
	hi = N * (MyNum + 1) / P;
	local = malloc(N * sizeof(*local));	/* private */
	if (!local) {
		fprintf(stderr, "water: out of memory\n");
		exit(1);
	}

	/* The forces and energies at the start: slot 0; KE without a kick. */
	INTERF(lo, hi, local, 0);
	BARRIER(Global->barrier, P)
	{
		int64_t kin = 0;
		long over = 0;

		for (i = lo; i < hi; i++) {
			double s = 0;

			for (k = 0; k < 3; k++)
				s += Vel[i][k] * Vel[i][k];
			kin += fixed(s / 2, &over);
		}
		LOCK(Global->EnergyLock)
		Global->kin[0] += kin;
		Global->overflow += over;
		UNLOCK(Global->EnergyLock)
	}
	BARRIER(Global->barrier, P)
	e0 = (double)(Global->pot[0] + Global->kin[0]) / FSCALE;
	denom = fabs(e0) + (double)Global->kin[0] / FSCALE;
	if (MyNum == 0) {
		Global->pot0 = Global->pot[0];
		Global->kin0 = Global->kin[0];
		CLOCK(Global->start)
	}

	for (step = 1; step <= Steps; step++) {
		int slot = step % 2;

		/* 1. kick and drift; the other slot is free: clear it */
		for (i = lo; i < hi; i++) {
			for (k = 0; k < 3; k++) {
				Vel[i][k] += DT / 2 * (Force[i][k] / FSCALE);
				Pos[i][k] += DT * Vel[i][k];
				Pos[i][k] -= Box * floor(Pos[i][k] / Box);
				Force[i][k] = 0;
			}
		}
		if (MyNum == 0) {
			Global->pot[slot] = 0;
			Global->kin[slot] = 0;
		}
		BARRIER(Global->barrier, P)
		/* 2. forces */
		INTERF(lo, hi, local, slot);
		BARRIER(Global->barrier, P)
		/* 3. kick */
		KINETI(lo, hi, slot);
		BARRIER(Global->barrier, P)
		if (MyNum == 0) {
			e = (double)(Global->pot[slot] + Global->kin[slot]) /
			    FSCALE;
			if (fabs(e - e0) / denom > Global->maxdrift ||
			    isnan(e))
				Global->maxdrift = fabs(e - e0) / denom;
		}
	}
	if (MyNum == 0)
		CLOCK(Global->finish)
	free(local);
}

int main(int argc, char **argv)
{
	uint64_t h = DIGEST_INIT;
	long i, j, k, side, procs = 0, over = 0;
	double mean[3] = { 0, 0, 0 }, momentum = 0, ke = 0, scale, Spacing;
	double d[3], fr, pe;
	int64_t fsum[3] = { 0, 0, 0 }, pot_direct = 0;
	int c, ok, slot;

	MAIN_INITENV(, 0)
	N = DEFAULT_N;
	Steps = DEFAULT_STEPS;
	while ((c = getopt(argc, argv, "n:s:p:h")) != -1) {
		switch (c) {
		case 'n':
			N = app_number(usage, optarg, 2, MAX_N, "-n");
			break;
		case 's':
			Steps = app_number(usage, optarg, 1, 100000, "-s");
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
	app_check_procs("water", procs, P);
	for (side = 1; side * side * side < N; side++)
		;
	Spacing = cbrt(1 / DENSITY);
	Box = side * Spacing;
	Cutoff = CUTOFF < Box / 2 ? CUTOFF : Box / 2;
	Cutoff2 = Cutoff * Cutoff;
	ECut = lj(Cutoff2);
	FCut = 24 / Cutoff * (2 / pow(Cutoff, 12) - 1 / pow(Cutoff, 6));
	NLocks = (N + MOLS_PER_LOCK - 1) / MOLS_PER_LOCK;
	printf("water: %ld molecules in a box of %.4f (cutoff %.4f), %ld "
	       "steps of %g, %ld processes\n", N, Box, Cutoff, Steps,
	       DT, P);

	Global = G_MALLOC(sizeof(*Global));
	memset(Global, 0, sizeof(*Global));
	LOCKINIT(Global->idlock)
	LOCKINIT(Global->EnergyLock)
	ALOCKINIT(Global->MolLock, MAXLCKS)
	BARINIT(Global->barrier)
	Pos = G_MALLOC(N * sizeof(*Pos));
	Vel = G_MALLOC(N * sizeof(*Vel));
	Force = G_MALLOC(N * sizeof(*Force));
	memset(Force, 0, N * sizeof(*Force));

	/* The lattice; velocities from a hash, no drift, T = 1. */
	for (i = 0; i < N; i++) {
		Pos[i][0] = (i % side + 0.5) * Spacing;
		Pos[i][1] = (i / side % side + 0.5) * Spacing;
		Pos[i][2] = (i / side / side + 0.5) * Spacing;
		for (k = 0; k < 3; k++) {
			Vel[i][k] = (double)(mix64(SEED + 3 * i + k) >> 11) *
				    0x1p-52 - 1.0;
			mean[k] += Vel[i][k];
		}
	}
	for (i = 0; i < N; i++) {
		for (k = 0; k < 3; k++) {
			Vel[i][k] -= mean[k] / N;
			ke += Vel[i][k] * Vel[i][k] / 2;
		}
	}
	scale = sqrt(1.5 * (N - 1) * TEMPERATURE / ke);
	for (i = 0; i < N; i++)
		for (k = 0; k < 3; k++)
			Vel[i][k] *= scale;

	/* The check of the half-shells: every pair, by this process alone. */
	for (i = 0; i < N; i++)
		for (j = i + 1; j < N; j++)
			if (pair(i, j, d, &fr, &pe))
				pot_direct += fixed(pe, &over);

	for (i = 1; i < P; i++)
		CREATE(SlaveStart)
	SlaveStart();
	WAIT_FOR_END(P - 1)

	slot = Steps % 2;
	for (i = 0; i < N; i++) {
		for (k = 0; k < 3; k++) {
			h = digest_double(h, Pos[i][k]);
			h = digest_double(h, Vel[i][k]);
			fsum[k] += Force[i][k];
		}
	}
	h = digest_word(h, (uint64_t)Global->pot[slot]);
	h = digest_word(h, (uint64_t)Global->kin[slot]);
	for (k = 0; k < 3; k++) {
		double s = 0;

		for (i = 0; i < N; i++)
			s += Vel[i][k];
		momentum = fabs(s) > momentum ? fabs(s) : momentum;
	}
	printf("water: %ld steps in %lu ms (process 0); energy %.6f -> "
	       "%.6f (potential %.6f, kinetic %.6f), max drift %.2e; max "
	       "|momentum| %.2e\n", Steps, Global->finish - Global->start,
	       (double)(Global->pot0 + Global->kin0) / FSCALE,
	       (double)(Global->pot[slot] + Global->kin[slot]) / FSCALE,
	       (double)Global->pot[slot] / FSCALE,
	       (double)Global->kin[slot] / FSCALE, Global->maxdrift, momentum);
	printf("digest water %016" PRIx64 "\n", h);
	ok = !fsum[0] && !fsum[1] && !fsum[2] && momentum < 1e-9 * N &&
	     Global->maxdrift < DRIFT_TOL && !Global->overflow && !over &&
	     Global->pot0 == pot_direct;
	if (ok)
		printf("check water ok\n");
	else
		printf("check water FAILED: force sums %" PRId64 " %" PRId64
		       " %" PRId64 " (want 0), momentum %.2e, energy drift "
		       "%.2e (tolerance %.0e), %ld values out of range, "
		       "first potential %" PRId64 " (every pair: %" PRId64
		       ")\n", fsum[0], fsum[1], fsum[2], momentum,
		       Global->maxdrift, DRIFT_TOL, Global->overflow + over,
		       Global->pot0, pot_direct);
	G_FREE(Force);
	G_FREE(Vel);
	G_FREE(Pos);
	G_FREE(Global);
	if (!ok)
		exit(1);	/* the end of the job all the same */
	MAIN_END
}
