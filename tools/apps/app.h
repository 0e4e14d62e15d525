/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the programs of tools/apps/ share: the fixed-seed hash their
 * inputs come from, the digest of their results (README.md, "The
 * digest"), the reading of a numeric option and the check of -p.
 */
#ifndef TDSM_APP_H
#define TDSM_APP_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinydsm.h"

/* A digest starts here (FNV-1a's offset basis). */
#define DIGEST_INIT	0xcbf29ce484222325ULL

/* splitmix64's finaliser: the inputs, the same whatever P is. */
static inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static inline uint64_t digest_word(uint64_t h, uint64_t w)
{
	h ^= w;
	h *= 0x100000001b3ULL;		/* FNV-1a's prime, a word at a time */
	return h ^ (h >> 29);
}

/* The bits of @d, with -0.0 as 0.0. */
static inline uint64_t digest_double(uint64_t h, double d)
{
	uint64_t w;

	if (d == 0)
		d = 0;
	memcpy(&w, &d, sizeof(w));
	return digest_word(h, w);
}

/* Option @what's value @s, in @lo .. @hi, or @usage (which exits) says why. */
static inline long long app_number(void (*usage)(const char *why),
				   const char *s, long long lo, long long hi,
				   const char *what)
{
	char *end, msg[128];
	long long v;

	v = strtoll(s, &end, 0);
	if (!*s || *end || v < lo || v > hi) {
		snprintf(msg, sizeof(msg), "%s takes %lld .. %lld, not \"%s\"",
			 what, lo, hi, s);
		usage(msg);
	}
	return v;
}

/* -p @procs, if given (not 0), must be the job's @nranks: else exit 2. */
static inline void app_check_procs(const char *name, long procs, long nranks)
{
	if (procs && procs != nranks) {
		fprintf(stderr, "%s: -p %ld, but the job has %ld ranks: "
			"run it with tinydsmctl run -n %ld\n", name, procs,
			nranks, procs);
		exit(2);
	}
}

#endif
