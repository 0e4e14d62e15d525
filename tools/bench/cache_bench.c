// SPDX-License-Identifier: GPL-2.0
/*
 * cache_bench: tinydsm's bounded-cache benchmark, the C side. The lab
 * script tools/bench/cache_bench.sh drives it on the 2 nodes of one lab
 * run; tools/bench.sh runs that lab on the host and tools/report/report.py
 * prints the table. tools/bench/README.md defines every figure.
 *
 *   cache_bench fill ADDR NPAGES     the home: write every 8-byte word of
 *                                    every page, tag_pattern(word, -t TAG)
 *   cache_bench stream ADDR NPAGES   the streamer: -P PASSES (2) passes over
 *                                    the pages in address order, reading
 *                                    every word and checking it (-v TAG),
 *                                    or with -w writing every word (-t TAG,
 *                                    a dirty stream); each page's time on
 *                                    its own, each pass's as a whole, this
 *                                    node's counters around each pass; -l
 *                                    LABEL -e ENV -D DIR
 *   cache_bench check ADDR NPAGES    read every word, untimed, checked (-v)
 *   cache_bench stats                this node's cache counters
 *
 * A word read wrong is printed at once (the first few), counted, and makes
 * the exit status 1: the figures of a stream that read wrong data are
 * not figures. Figures go to stdout and, as key=value lines, to the -e file
 * (appended). Exit status: 0, 1 failure or wrong data, 2 usage, 3 SIGBUS on
 * a region access.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "tinydsm.h"
#include "common.h"

#define WORDS		(PAGE / sizeof(uint64_t))
#define MAX_PASSES	8
/* Wrong words printed in full before the rest are only counted. */
#define BAD_SHOWN	10
/* cached_pages is sampled every this many pages (an ioctl, untimed). */
#define SAMPLE_EVERY	64

const char *prog = "cache_bench";

static void usage(void)
{
	fprintf(stderr,
		"usage: %s fill ADDR NPAGES -t TAG\n"
		"       %s stream ADDR NPAGES [-P PASSES] [-v TAG | -w -t TAG] [-l LABEL] [-e ENV] [-D DIR]\n"
		"       %s check ADDR NPAGES -v TAG\n"
		"       %s stats\n"
		"(see the top of tools/bench/cache_bench.c)\n", prog, prog, prog, prog);
	exit(2);
}

static struct {
	const char *label;
	uint64_t tag;
	unsigned int passes;
	bool write;
} opt = { .label = "cache", .passes = 2 };

static unsigned long long bad_words;

/*
 * One page: write every word (@write), or read every word and check it
 * against tag_pattern(word, opt.tag). Wrong words are printed (the first
 * BAD_SHOWN) and counted in bad_words.
 */
static void page_words(uint8_t *page, bool write)
{
	volatile uint64_t *w = (volatile uint64_t *)page;
	unsigned long i;

	for (i = 0; i < WORDS; i++) {
		uint64_t want = tag_pattern((uintptr_t)&w[i], opt.tag), v;

		if (write) {
			w[i] = want;
			continue;
		}
		v = w[i];
		if (v == want)
			continue;
		if (bad_words++ < BAD_SHOWN)
			fprintf(stderr, "%s: WRONG WORD at %p: read %#llx, the writer wrote %#llx\n",
				prog, (void *)&w[i], (unsigned long long)v,
				(unsigned long long)want);
	}
}

static int cmd_fill(uint64_t addr, unsigned long npages, bool check)
{
	uint8_t *p = region_pages(addr, npages);
	unsigned long i;
	uint64_t t0 = now_ns();

	catch_sigbus();
	for (i = 0; i < npages; i++)
		page_words(p + i * PAGE, !check);
	printf("%s %lu pages (%lu words each) at %#llx: %.3f s%s\n",
	       check ? "checked" : "wrote", npages, (unsigned long)WORDS,
	       (unsigned long long)addr, (double)(now_ns() - t0) / 1e9,
	       bad_words ? ", DATA WRONG" : "");
	if (bad_words)
		fprintf(stderr, "%s: %llu words read wrong\n", prog, bad_words);
	tdsm_detach();
	return bad_words ? 1 : 0;
}

/* The counters a pass moved: the proof of what it was. */
static void put_cache_delta(const char *label, const struct tinydsm_stats *a,
			    const struct tinydsm_stats *b)
{
	PUT_DELTA(label, a, b, read_faults);
	PUT_DELTA(label, a, b, write_faults);
	PUT_DELTA(label, a, b, remote_faults);
	PUT_DELTA(label, a, b, evicted_clean);
	PUT_DELTA(label, a, b, evicted_written);
	PUT_DELTA(label, a, b, evict_released);
	PUT_DELTA(label, a, b, evict_failed);
	PUT_DELTA(label, a, b, evict_batches);
	PUT_DELTA(label, a, b, evict_batch_pages);
	PUT_DELTA(label, a, b, reclaim_runs);
	PUT_DELTA(label, a, b, reclaim_ns);
}

/*
 * The stream: opt.passes passes over the pages in address order, each
 * page's words read and checked (or written), one clock pair around each
 * page, one around each pass.
 */
static int cmd_stream(uint64_t addr, unsigned long npages)
{
	struct tinydsm_stats s0, a, b;
	unsigned long long bad_before;
	unsigned long i;
	unsigned int pass;
	uint64_t *ns, t0, t1, cached_max;
	char label[128];
	struct summary s;
	uint8_t *p;
	double secs;

	ns = calloc(npages, sizeof(*ns));
	if (!ns)
		die("out of memory");
	p = region_pages(addr, npages);
	catch_sigbus();
	s0 = stats_now();
	put("%s_pages=%lu", opt.label, npages);
	put("%s_passes=%u", opt.label, opt.passes);
	put("%s_mode=%s", opt.label, opt.write ? "write" : "read");
	put("%s_budget_pages=%llu", opt.label, (unsigned long long)s0.cache_budget_pages);
	put("%s_cached_pages_start=%llu", opt.label, (unsigned long long)s0.cached_pages);
	for (pass = 1; pass <= opt.passes; pass++) {
		snprintf(label, sizeof(label), "%s_p%u", opt.label, pass);
		bad_before = bad_words;
		a = stats_now();
		cached_max = a.cached_pages;
		t0 = now_ns();
		for (i = 0; i < npages; i++) {
			uint64_t u = now_ns();

			page_words(p + i * PAGE, opt.write);
			ns[i] = now_ns() - u;
			if (i % SAMPLE_EVERY == SAMPLE_EVERY - 1) {
				uint64_t c = stats_now().cached_pages;

				if (c > cached_max)
					cached_max = c;
			}
		}
		t1 = now_ns();
		b = stats_now();
		if (b.cached_pages > cached_max)
			cached_max = b.cached_pages;
		secs = (double)(t1 - t0) / 1e9;
		put("%s_secs=%.4f", label, secs);
		put("%s_pps=%.1f", label, (double)npages / secs);
		put("%s_MBps=%.4f", label, (double)npages * PAGE / secs / 1048576.0);
		dump_samples(label, ns, npages);
		s = summarize(ns, npages);
		put_summary(label, &s);
		put_cache_delta(label, &a, &b);
		put("%s_cached_pages_max=%llu", label, (unsigned long long)cached_max);
		put("%s_cached_pages_end=%llu", label, (unsigned long long)b.cached_pages);
		if (!opt.write)
			put("%s_bad_words=%llu", label, bad_words - bad_before);
		printf("%s: %lu pages in %.3f s: %.1f pages/s; per page p50 %.1f us, p99 %.1f us; "
		       "%llu remote faults, %llu evicted, %llu written back, cached at most %llu%s\n",
		       label, npages, secs, (double)npages / secs, s.p50, s.p99,
		       (unsigned long long)(b.remote_faults - a.remote_faults),
		       (unsigned long long)(b.evicted_clean - a.evicted_clean),
		       (unsigned long long)(b.evicted_written - a.evicted_written),
		       (unsigned long long)cached_max,
		       bad_words != bad_before ? ", DATA WRONG" : "");
	}
	b = stats_now();
	put_cache_delta(opt.label, &s0, &b);
	put("%s_clock_pair_ns=%.0f", opt.label, (double)timer_overhead_ns(1001));
	if (!opt.write)
		put("%s_bad_words=%llu", opt.label, bad_words);
	if (bad_words)
		fprintf(stderr, "%s: %s: %llu words read wrong\n", prog, opt.label, bad_words);
	tdsm_detach();
	free(ns);
	return bad_words ? 1 : 0;
}

static int cmd_stats(void)
{
	struct tinydsm_stats st = stats_now();

#define P(f) printf("%s=%llu ", #f, (unsigned long long)st.f)
	P(read_faults); P(write_faults); P(remote_faults); P(frames);
	P(cached_pages); P(cache_budget_pages); P(evicted_clean);
	P(evicted_written); P(evict_released); P(evict_failed); P(evict_batches);
	P(evict_batch_pages); P(reclaim_runs); P(reclaim_ns);
#undef P
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = subcommand(&argc, &argv, usage);
	bool has_tag = false;
	uint64_t addr;
	unsigned long npages;
	int c;

	while ((c = getopt(argc, argv, "P:t:v:wl:e:D:h")) != -1) {
		switch (c) {
		case 'P':
			opt.passes = parse_ull(optarg, "passes");
			if (!opt.passes || opt.passes > MAX_PASSES)
				die("-P: 1..%d passes", MAX_PASSES);
			break;
		case 't':
		case 'v':
			opt.tag = parse_ull(optarg, "tag");
			has_tag = true;
			break;
		case 'w': opt.write = true; break;
		case 'l': opt.label = optarg; break;
		case 'e': put_env = optarg; break;
		case 'D': dump_dir = optarg; break;
		default: usage();
		}
	}
	argv += optind;
	argc -= optind;

	if (!strcmp(cmd, "stats")) {
		if (argc)
			usage();
		return cmd_stats();
	}
	if (argc != 2 || !has_tag)
		usage();
	addr = parse_ull(argv[0], "address");
	npages = parse_ull(argv[1], "npages");
	put_env_file();
	if (!strcmp(cmd, "fill"))
		return cmd_fill(addr, npages, false);
	if (!strcmp(cmd, "check"))
		return cmd_fill(addr, npages, true);
	if (!strcmp(cmd, "stream"))
		return cmd_stream(addr, npages);
	usage();
	return 2;
}
