// SPDX-License-Identifier: GPL-2.0
/*
 * meta_bench: what tinydsm's page metadata costs one node for the memory it
 * touches, in a region of any size (the lab runs it in a 16 TiB one). The
 * lab script tools/bench/meta_bench.sh runs it on the one node of a lab
 * run; tools/bench.sh runs that lab on the host. tools/bench/README.md
 * defines every figure.
 *
 *   meta_bench [-m MIB] [-e ENV]
 *
 * It ALLOCs a run of MIB MiB (1024) homed on this node (this node must home
 * a slice), writes one word in every page of it (each write the page's
 * first touch, on its home: no other node is involved), and reads this
 * node's TINYDSM_IOC_STATS (meta_bytes, chunks) and /proc/meminfo (MemFree,
 * Slab) before and after the writes. Then it FREEs the run and waits (up to
 * FREE_WAIT_S) for the chunk worker to free the run's chunks, and reads
 * meta_bytes again: the translation table's pages stay until unload.
 *
 * A run, not pages touched outside any run: both cost the same metadata
 * (a chunk per 64 pages, a table page per 4096) and the same home-budget
 * charge, but only a FREE resets the directory entries that keep a home's
 * chunks (kmod/PROTOCOL.md "Metadata lifetime", "Home budget"), so only a
 * run shows what the chunk worker gives back.
 *
 * Figures go to stdout and, as key=value lines, to the -e file (appended).
 * Exit status: 0, 1 failure, 2 usage, 3 SIGBUS on a region access.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "tinydsm.h"
#include "common.h"

#define MIB		(1ull << 20)
/* The chunk worker frees an idle chunk within a second or two. */
#define FREE_WAIT_S	20
#define FREE_POLL_NS	100000000ull	/* 100 ms */

const char *prog = "meta_bench";

static void usage(void)
{
	fprintf(stderr, "usage: %s [-m MIB] [-e ENV]\n"
		"(see the top of tools/bench/meta_bench.c)\n", prog);
	exit(2);
}

/* The figure @key (e.g. "Slab:") of /proc/meminfo, in kB, or die. */
static long long meminfo_kb(const char *key)
{
	size_t klen = strlen(key);
	long long kb = -1;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		die("/proc/meminfo: %s", strerror(errno));
	while (kb < 0 && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && sscanf(line + klen, "%lld", &kb) != 1)
			kb = -1;
	fclose(f);
	if (kb < 0)
		die("no %s in /proc/meminfo", key);
	return kb;
}

/* What is measured around the writes. */
struct sample {
	struct tinydsm_stats st;
	long long memfree_kb, slab_kb;
};

static struct sample sample_now(void)
{
	struct sample s;

	s.st = stats_now();
	s.memfree_kb = meminfo_kb("MemFree:");
	s.slab_kb = meminfo_kb("Slab:");
	return s;
}

/*
 * After the FREE: this node's stats once its chunks are back to @chunks
 * (the chunk worker ran), or after FREE_WAIT_S; *@secs how long it took.
 */
static struct tinydsm_stats wait_chunks(uint64_t chunks, double *secs)
{
	uint64_t t0 = now_ns(), end = t0 + FREE_WAIT_S * 1000000000ull;
	struct tinydsm_stats st;

	for (;;) {
		st = stats_now();
		if (st.chunks <= chunks || now_ns() > end)
			break;
		sleep_ns(FREE_POLL_NS);
	}
	*secs = (double)(now_ns() - t0) / 1e9;
	return st;
}

int main(int argc, char **argv)
{
	const struct tinydsm_region_info *ri;
	unsigned long long mib = 1024;
	unsigned long npages, i;
	struct sample a, b;
	struct tinydsm_stats f;
	double touch_s, free_s;
	uint64_t t0, delta;
	uint8_t *run;
	int c;

	while ((c = getopt(argc, argv, "m:e:h")) != -1) {
		switch (c) {
		case 'm':
			mib = parse_ull(optarg, "MiB");
			break;
		case 'e':
			put_env = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || !mib)
		usage();
	put_env_file();

	attach(TDSM_ATTACH_NO_SITES);
	ri = region_info();
	if (ri->home_nodes && ri->node_id > ri->home_nodes)
		die("node %u homes no slice (home_nodes=%u)", ri->node_id,
		    ri->home_nodes);
	if (mib > ri->slice_pages * ri->page_size / MIB ||
	    mib * MIB / ri->page_size > UINT32_MAX)
		die("%llu MiB is more than a slice (%llu pages) or a run (2^32 - 1 pages)",
		    mib, (unsigned long long)ri->slice_pages);
	npages = mib * MIB / ri->page_size;

	a = sample_now();
	/* Address space only: the pages are backed as they are written. */
	run = tdsm_alloc(npages, 0);
	if (!run)
		die("%s", tdsm_strerror_detail());
	catch_sigbus();
	t0 = now_ns();
	for (i = 0; i < npages; i++)
		*(volatile uint64_t *)(run + i * ri->page_size) = i + 1;
	touch_s = (double)(now_ns() - t0) / 1e9;
	b = sample_now();

	delta = b.st.meta_bytes - a.st.meta_bytes;
	put("node_id=%u", ri->node_id);
	put("region_bytes=%llu", (unsigned long long)ri->size);
	put("page_size=%u", ri->page_size);
	put("touched_bytes=%llu", (unsigned long long)npages * ri->page_size);
	put("touched_pages=%lu", npages);
	put("run_addr=%#llx", (unsigned long long)(uintptr_t)run);
	put("meta_bytes_before=%llu", (unsigned long long)a.st.meta_bytes);
	put("meta_bytes_after=%llu", (unsigned long long)b.st.meta_bytes);
	put("meta_bytes_delta=%llu", (unsigned long long)delta);
	put("chunks_before=%llu", (unsigned long long)a.st.chunks);
	put("chunks_after=%llu", (unsigned long long)b.st.chunks);
	put("chunks_delta=%llu", (unsigned long long)(b.st.chunks - a.st.chunks));
	put("frames_delta=%llu", (unsigned long long)(b.st.frames - a.st.frames));
	put("meta_bytes_per_mib=%.1f", (double)delta / (double)mib);
	put("meta_bytes_per_page_touched=%.2f", (double)delta / (double)npages);
	put("slab_kb_delta=%lld", b.slab_kb - a.slab_kb);
	put("memfree_kb_delta=%lld", b.memfree_kb - a.memfree_kb);
	put("touch_seconds=%.3f", touch_s);

	if (tdsm_free(run, npages))
		die("%s", tdsm_strerror_detail());
	f = wait_chunks(a.st.chunks, &free_s);
	put("meta_bytes_after_free=%llu", (unsigned long long)f.meta_bytes);
	put("chunks_after_free=%llu", (unsigned long long)f.chunks);
	put("free_wait_seconds=%.1f", free_s);
	put("chunks_freed=%s", f.chunks <= a.st.chunks ? "yes" : "no");
	tdsm_detach();
	return 0;
}
