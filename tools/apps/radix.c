// SPDX-License-Identifier: GPL-2.0
/*
 * radix: a parallel radix sort of N integer keys, in the style of
 * SPLASH-2's RADIX kernel, on libtinydsm's PARMACS (parmacs.h).
 *
 *   tinydsmctl run -n 3 -- build/apps/radix [-n N] [-r BITS] [-m MAXKEY] [-p P]
 *
 * The keys are 32-bit integers in 0 .. MAXKEY-1, key i a hash of i and a
 * fixed seed, so that the input is the same whatever the process count.
 * The sort is least significant digit first, BITS bits a digit (a radix
 * of 2^BITS), as many passes as MAXKEY - 1 needs digits. Each of the P
 * processes owns a contiguous slice of the N keys (N * id / P onwards);
 * a pass is three phases, a BARRIER after each:
 *
 *   1. each process counts the digits of its slice in its own row of a
 *      shared histogram (rows 4 KiB apart);
 *   2. each process takes a slice of the buckets and, for each, sums the
 *      column over the processes: the bucket's total, and for every
 *      process the count of that digit in the slices before its own;
 *   3. each process adds the totals of the smaller buckets to its own
 *      column prefix (a private offset table) and moves its keys to their
 *      places in the other array, stable;
 *
 * and the arrays swap roles. SPLASH-2's RADIX computes the same offsets
 * with a parallel prefix over a tree of processes; here the column sums
 * are split by buckets instead, which takes two barriers too.
 *
 * Check: the result is sorted (each process checks its slice and the key
 * before it) and is a permutation of the input: the count, the sum, the
 * xor and the sum of a 64-bit hash of every key are the same before and
 * after (integer sums, whatever the order of their terms). Digest: the
 * main process hashes the sorted array in order; the sorted array is the
 * same for any P, so is the digest.
 *
 * Prints `digest radix <16 hex digits>`, then `check radix ok` (exit 0) or
 * `check radix FAILED ...` (exit 1); a usage error is exit 2. -p P, if
 * given, must be the job's rank count (tdsm_nranks(), the default).
 * Defaults are SPLASH-2's: 262144 keys, 1024 buckets (-r 10), MAXKEY
 * 524288 (two passes), 2 MiB of shared arrays; a 3-rank run on the host
 * mock takes well under a second. Larger sizes for the QEMU guests, and
 * what fits in the region: tools/apps/README.md, "Sizes". Built -no-pie
 * (see tools/lib/tinydsm/README.md, "PARMACS").
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "parmacs.h"

MAIN_ENV

#define DEFAULT_N	262144
#define DEFAULT_BITS	10
#define DEFAULT_MAXKEY	524288
#define MAX_BITS	16
#define SEED		0x5eed0f5a11ce5ULL
#define ROW_ALIGN	512	/* longs: a histogram row per 4 KiB page */

struct GlobalMemory {
	LOCKDEC(idlock)
	LOCKDEC(sumlock)
	BARDEC(barrier)
	long id;
	/* the keys' checksums, before and after (integer sums) */
	uint64_t in_sum, in_xor, in_hash;
	uint64_t out_sum, out_xor, out_hash;
	long unsorted;		/* keys found out of order */
	unsigned long start, finish;	/* process 0's CLOCK */
} *Global;

/* Set by main before the CREATEs: every process sees them. */
static long P, N, Radix, Bits, Passes;
static uint64_t MaxKey;
static uint32_t *KeyA, *KeyB;	/* the two arrays, N keys each */
static long *Hist;		/* P rows of Radix counts, RowLen apart */
static long *Rank;		/* P rows: keys of that digit before us */
static long *Total;		/* Radix: keys of each digit */
static long RowLen;

static uint32_t make_key(long i)
{
	return (uint32_t)(mix64(SEED ^ (uint64_t)i) % MaxKey);
}

static void usage(const char *why)
{
	if (why)
		fprintf(stderr, "radix: %s\n", why);
	fprintf(stderr,
		"usage: radix [-n N] [-r BITS] [-m MAXKEY] [-p P]\n"
		"  -n N       keys to sort (1 .. 2^28; default %d)\n"
		"  -r BITS    bits of a digit, 1 .. %d (radix 2^BITS; default %d)\n"
		"  -m MAXKEY  keys are 0 .. MAXKEY-1 (2 .. 2^32; default %d)\n"
		"  -p P       processes: the job's rank count (the default)\n",
		DEFAULT_N, MAX_BITS, DEFAULT_BITS, DEFAULT_MAXKEY);
	exit(2);
}

static void SlaveStart(void)
{
	uint64_t sum = 0, x = 0, hash = 0;
	uint32_t *src = KeyA, *dst = KeyB, *tmp;
	long MyNum, lo, hi, blo, bhi, i, b, p, pass, base, bad = 0;
	long *myhist, *off;

	LOCK(Global->idlock)
	MyNum = Global->id++;
	UNLOCK(Global->idlock)

	lo = N * MyNum / P;
	hi = N * (MyNum + 1) / P;
	blo = Radix * MyNum / P;
	bhi = Radix * (MyNum + 1) / P;
	myhist = Hist + MyNum * RowLen;
	off = malloc(Radix * sizeof(*off));	/* private */
	if (!off) {
		fprintf(stderr, "radix: out of memory\n");
		exit(1);
	}

	/* The input: my slice of it, and its checksums. */
	for (i = lo; i < hi; i++) {
		uint32_t k = make_key(i);

		KeyA[i] = k;
		sum += k;
		x ^= k;
		hash += mix64(k);
	}
	LOCK(Global->sumlock)
	Global->in_sum += sum;
	Global->in_xor ^= x;
	Global->in_hash += hash;
	UNLOCK(Global->sumlock)

	BARRIER(Global->barrier, P)
	if (MyNum == 0)
		CLOCK(Global->start)

	for (pass = 0; pass < Passes; pass++) {
		int shift = pass * Bits;

		/* 1. my histogram */
		memset(myhist, 0, Radix * sizeof(*myhist));
		for (i = lo; i < hi; i++)
			myhist[(src[i] >> shift) & (Radix - 1)]++;
		BARRIER(Global->barrier, P)

		/* 2. my buckets: column prefixes and totals */
		for (b = blo; b < bhi; b++) {
			long s = 0;

			for (p = 0; p < P; p++) {
				Rank[p * RowLen + b] = s;
				s += Hist[p * RowLen + b];
			}
			Total[b] = s;
		}
		BARRIER(Global->barrier, P)

		/* 3. my keys to their places */
		base = 0;
		for (b = 0; b < Radix; b++) {
			off[b] = base + Rank[MyNum * RowLen + b];
			base += Total[b];
		}
		for (i = lo; i < hi; i++) {
			uint32_t k = src[i];

			dst[off[(k >> shift) & (Radix - 1)]++] = k;
		}
		BARRIER(Global->barrier, P)

		tmp = src;
		src = dst;
		dst = tmp;
	}

	if (MyNum == 0)
		CLOCK(Global->finish)

	/* The check: sorted, and the same keys. */
	sum = x = hash = 0;
	for (i = lo; i < hi; i++) {
		uint32_t k = src[i];

		if (i > 0 && src[i - 1] > k)
			bad++;
		sum += k;
		x ^= k;
		hash += mix64(k);
	}
	LOCK(Global->sumlock)
	Global->out_sum += sum;
	Global->out_xor ^= x;
	Global->out_hash += hash;
	Global->unsorted += bad;
	UNLOCK(Global->sumlock)
	free(off);
}

int main(int argc, char **argv)
{
	uint64_t h = DIGEST_INIT;
	const uint32_t *sorted;
	long i, procs = 0, keybits;
	int c, ok;

	MAIN_INITENV(, 0)
	N = DEFAULT_N;
	Bits = DEFAULT_BITS;
	MaxKey = DEFAULT_MAXKEY;
	while ((c = getopt(argc, argv, "n:r:m:p:h")) != -1) {
		switch (c) {
		case 'n':
			N = app_number(usage, optarg, 1, 1L << 28, "-n");
			break;
		case 'r':
			Bits = app_number(usage, optarg, 1, MAX_BITS, "-r");
			break;
		case 'm':
			MaxKey = app_number(usage, optarg, 2, 1LL << 32, "-m");
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
	app_check_procs("radix", procs, P);
	Radix = 1L << Bits;
	for (keybits = 1; (MaxKey - 1) >> keybits; keybits++)
		;
	Passes = (keybits + Bits - 1) / Bits;
	RowLen = (Radix + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN;

	printf("radix: %ld keys in 0 .. %" PRIu64 ", radix %ld (%ld passes), "
	       "%ld processes\n", N, MaxKey - 1, Radix, Passes, P);

	Global = G_MALLOC(sizeof(*Global));
	memset(Global, 0, sizeof(*Global));
	LOCKINIT(Global->idlock)
	LOCKINIT(Global->sumlock)
	BARINIT(Global->barrier)
	KeyA = G_MALLOC(N * sizeof(*KeyA));
	KeyB = G_MALLOC(N * sizeof(*KeyB));
	Hist = G_MALLOC(P * RowLen * sizeof(*Hist));
	Rank = G_MALLOC(P * RowLen * sizeof(*Rank));
	Total = G_MALLOC(Radix * sizeof(*Total));

	for (i = 1; i < P; i++)
		CREATE(SlaveStart)
	SlaveStart();
	WAIT_FOR_END(P - 1)

	sorted = Passes % 2 ? KeyB : KeyA;
	for (i = 0; i < N; i++)
		h = digest_word(h, sorted[i]);
	printf("radix: sorted in %lu ms (process 0, after the input)\n",
	       Global->finish - Global->start);
	printf("digest radix %016" PRIx64 "\n", h);

	ok = !Global->unsorted && Global->in_sum == Global->out_sum &&
	     Global->in_xor == Global->out_xor &&
	     Global->in_hash == Global->out_hash;
	if (ok)
		printf("check radix ok\n");
	else
		printf("check radix FAILED: %ld keys out of order; sums %" PRIx64
		       "/%" PRIx64 ", xors %" PRIx64 "/%" PRIx64 ", hashes %"
		       PRIx64 "/%" PRIx64 " (in/out)\n", Global->unsorted,
		       Global->in_sum, Global->out_sum, Global->in_xor,
		       Global->out_xor, Global->in_hash, Global->out_hash);
	G_FREE(Total);
	G_FREE(Rank);
	G_FREE(Hist);
	G_FREE(KeyB);
	G_FREE(KeyA);
	G_FREE(Global);
	if (!ok)
		exit(1);	/* the end of the job all the same */
	MAIN_END
}
