// SPDX-License-Identifier: GPL-2.0
/*
 * job_count: the smallest program of a job across nodes, for `tinydsmctl
 * run` (and its lab test, run_test's job_root_and_heap).
 *
 *   tinydsmctl run -n 6 --per-node 2 -- build/tools/job_count [ITERS]
 *
 * Every rank joins the job (tdsm_init()); rank 0 takes a counter from the
 * shared heap and gives its address to the others (tdsm_share()); every
 * rank adds 1 to it ITERS times (remote atomics, done at the counter's
 * home) and puts a block of its own, homed on its node, in a table the
 * others read; after a barrier each rank checks the total and every
 * rank's block, and prints one line. Exit status: 0 if everything held,
 * 1 a check failed, 2 usage, 10 + n a libtinydsm call failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinydsm.h"

#define RANKS_MAX	256

struct shared {
	uint64_t counter;
	uint64_t block[RANKS_MAX];	/* rank r's block: r + 1 in each word */
};

static int fail(int code, const char *what, int err)
{
	fprintf(stderr, "job_count: %s: %s (%s)\n", what, strerror(-err),
		tdsm_strerror_detail());
	return code;
}

int main(int argc, char **argv)
{
	unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 0) : 100, i;
	struct shared *sh = NULL;
	uint64_t *mine, total;
	int err, rank, n, r, bad = 0;

	if (argc > 2 || !iters || iters > 1000000) {
		fprintf(stderr, "usage: job_count [ITERS (1..1000000)]\n");
		return 2;
	}
	err = tdsm_init();
	if (err)
		return fail(10, "tdsm_init", err);
	rank = tdsm_rank();
	n = tdsm_nranks();
	if (n > RANKS_MAX) {
		fprintf(stderr, "job_count: at most %d ranks\n", RANKS_MAX);
		return 2;
	}
	if (rank == 0) {
		sh = tdsm_calloc(1, sizeof(*sh));
		if (!sh)
			return fail(11, "tdsm_calloc", -errno);
	}
	err = tdsm_share(&sh, sizeof(sh));
	if (err)
		return fail(12, "tdsm_share", err);

	mine = tdsm_malloc(64 * sizeof(*mine));
	if (!mine)
		return fail(13, "tdsm_malloc", -errno);
	for (i = 0; i < 64; i++)
		mine[i] = rank + 1;
	sh->block[rank] = (uintptr_t)mine;
	for (i = 0; i < iters; i++)
		tdsm_fetch_add64(&sh->counter, 1);
	err = tdsm_job_barrier();
	if (err < 0)
		return fail(14, "tdsm_job_barrier", err);

	total = tdsm_fetch_add64(&sh->counter, 0);
	for (r = 0; r < n; r++) {
		const uint64_t *b = (const uint64_t *)(uintptr_t)sh->block[r];

		for (i = 0; b && i < 64; i++)
			bad += b[i] != (uint64_t)r + 1;
		bad += !b;
	}
	printf("rank %d of %d on node %u: total %" PRIu64 " of %lu, %d bad words\n",
	       rank, n, tdsm_region_info()->node_id, total,
	       (unsigned long)n * iters, bad);

	/* Nobody reads the blocks or the counter after this. */
	err = tdsm_job_barrier();
	if (err < 0)
		return fail(14, "tdsm_job_barrier", err);
	tdsm_mfree(mine);
	if (rank == 0)
		tdsm_mfree(sh);
	/* The last rank of each node gives its part of the heap back. */
	err = tdsm_finalize();
	if (err)
		return fail(15, "tdsm_finalize", err);
	return total == (uint64_t)n * iters && !bad ? 0 : 1;
}
