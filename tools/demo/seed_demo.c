// SPDX-License-Identifier: GPL-2.0
/*
 * seed_demo: the application of `make demo`'s scenarios a.1/a.2 (first
 * touch and steady state on pages homed on another node) and b.1/b.2
 * (lazy and eager repopulation after a migration), on lab guests
 * (tools/demo/demo_node.sh drives it; the figures' definitions are in
 * tools/bench/README.md).
 *
 *   seed_demo home NPAGES FILE
 *	back NPAGES pages on this node (their home), write every word with
 *	a pattern of its address, and write their address to FILE;
 *   seed_demo a12 ADDR NPAGES
 *	the application of a.1/a.2, on a node that is not the pages' home:
 *	(i) plain memory, before any site is rewritten; (ii) first touch by
 *	load, one fault and fetch per page; (iii) steady loads with the site
 *	direct (a.2); (iv) first store to each page, one fault that takes
 *	ownership; (v) steady stores and loads direct (a.2); then every
 *	site is put in lookup form and (vi) the same loops again (a.1);
 *   seed_demo b ADDR NPAGES STRATEGY FROM TO
 *	the application of b.1/b.2: read every page (copies here), run
 *	`tinydsmctl -j migrate --from FROM --to TO --pages ADDR+NPAGES
 *	--strategy STRATEGY`, then read every page again, twice, timing
 *	each page from the start of the migration.
 *
 * Options: -r REPS (steady loops, median; 5), -e ENV (append key=value,
 * also printed), -k PREFIX (of every key), -o DIR (sample files),
 * -c TINYDSMCTL (path of tinydsmctl; $TDSM_CTL, else "tinydsmctl").
 * Figures go to stdout, progress lines to stderr.
 * Exit status: 0 done and every value read back right, 1 otherwise, 2 usage.
 *
 * Every access to the region is an access site (TDSM_LOAD64/TDSM_STORE64).
 * Sample files: NAME.cdf ("microseconds fraction", sorted) for latency
 * distributions, NAME.timeline ("ms pages", cumulative) for b's passes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "tinydsm.h"
#include "common.h"

#define WORDS		(PAGE / sizeof(uint64_t))
#define MAX_REPS	64

const char *prog = "seed_demo";
static unsigned int reps = 5;
static const char *out_dir = ".", *ctl_path;
static unsigned long bad_values;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* a progress line for the demo's console, or an error, on stderr */
static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "seed_demo: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The value of the word at address a, as the home writes it. */
static uint64_t pattern(uint64_t a)
{
	return (a * 0x9e3779b97f4a7c15ull) ^ 0x5eed;
}

static void put_key(const char *scope, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* [scope_]key=value through put() (-k prefix, -e file); stdout flushed */
static void put_key(const char *scope, const char *key, const char *fmt, ...)
{
	char val[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	put("%s%s%s=%s", scope ?: "", scope ? "_" : "", key, val);
	fflush(stdout);
}

/* p-quantile of sorted samples (nearest rank) */
static uint64_t quant(const uint64_t *s, size_t n, double p)
{
	size_t i = (size_t)(p * (double)n);

	return s[i < n ? i : n - 1];
}

/*
 * Latency samples (ns): sorts them, puts NAME_{n,min,p50,p99,max,mean}_us
 * and writes DIR/NAME.cdf for the plot.
 */
static void report_lat(const char *name, uint64_t *s, size_t n)
{
	char path[512];
	double sum = 0;
	size_t i;
	FILE *f;

	if (!n)
		return;
	qsort(s, n, sizeof(*s), cmp_u64);
	for (i = 0; i < n; i++)
		sum += (double)s[i];
	put_key(name, "n", "%zu", n);
	put_key(name, "min_us", "%.1f", s[0] / 1e3);
	put_key(name, "p50_us", "%.1f", quant(s, n, 0.50) / 1e3);
	put_key(name, "p99_us", "%.1f", quant(s, n, 0.99) / 1e3);
	put_key(name, "max_us", "%.1f", s[n - 1] / 1e3);
	put_key(name, "mean_us", "%.1f", sum / (double)n / 1e3);
	snprintf(path, sizeof(path), "%s/%s%s.cdf", out_dir, put_prefix, name);
	f = fopen(path, "w");
	if (!f)
		die("%s: %s", path, strerror(errno));
	for (i = 0; i < n; i++)
		fprintf(f, "%.1f %.5f\n", s[i] / 1e3, (double)(i + 1) / (double)n);
	if (fclose(f))
		die("%s: %s", path, strerror(errno));
}

static void get_stats(struct tinydsm_stats *st)
{
	int err = tdsm_stats(st);

	if (err)
		die("TINYDSM_IOC_STATS: %s", tdsm_strerror_detail());
}

/* the counters a scenario reports, as deltas from a snapshot */
static void put_deltas(const char *what, const struct tinydsm_stats *a,
		       const struct tinydsm_stats *b)
{
#define D(field)	put_key(what, #field, "%llu", (unsigned long long)(b->field - a->field))
	D(read_faults);
	D(write_faults);
	D(remote_faults);
	D(repopulated);
	D(sites_direct);
	D(sites_lookup);
	D(word_remote);
#undef D
}

/*
 * The accesses. Each TDSM_LOAD64/TDSM_STORE64 is one access site; the
 * module rewrites all of them between direct and lookup form. The address
 * goes through an empty asm so that the plain loops cannot fold the index
 * into the load's addressing mode either (a site is `mov 0(%reg)`): the
 * loops differ only in the access.
 */
static __attribute__((noinline)) uint64_t touch_load(const uint64_t *w)
{
	return TDSM_LOAD64(w);
}

static __attribute__((noinline)) void touch_store(uint64_t *w, uint64_t v)
{
	TDSM_STORE64(w, v);
}

/*
 * The site and plain loops, each made from one loop that differs only in
 * its access: LOAD(q) or STORE(q, v).
 */
#define SUM_LOOP(name, LOAD)						\
static __attribute__((noinline)) uint64_t name(const uint64_t *p, size_t n) \
{									\
	uint64_t s = 0;							\
	size_t i;							\
									\
	for (i = 0; i < n; i++) {					\
		const uint64_t *q = p + i;				\
									\
		__asm__("" : "+r" (q));					\
		s += LOAD(q);						\
	}								\
	return s;							\
}
#define FILL_LOOP(name, STORE)						\
static __attribute__((noinline)) void name(uint64_t *p, size_t n, uint64_t x) \
{									\
	size_t i;							\
									\
	for (i = 0; i < n; i++) {					\
		uint64_t *q = p + i;					\
									\
		__asm__("" : "+r" (q));					\
		STORE(q, x + i);					\
	}								\
}
#define PLAIN_LOAD64(q)		(*(const volatile uint64_t *)(q))
#define PLAIN_STORE64(q, v)	(*(volatile uint64_t *)(q) = (v))

SUM_LOOP(sum_site, TDSM_LOAD64)
SUM_LOOP(sum_plain, PLAIN_LOAD64)
FILL_LOOP(fill_site, TDSM_STORE64)
FILL_LOOP(fill_plain, PLAIN_STORE64)

/* The sum a pass over the home's pattern must give. */
static uint64_t pattern_sum(uint64_t addr, size_t nwords)
{
	uint64_t s = 0;
	size_t i;

	for (i = 0; i < nwords; i++)
		s += pattern(addr + i * sizeof(uint64_t));
	return s;
}

static uint64_t fill_sum(size_t n, uint64_t x)
{
	return n * x + (uint64_t)n * (n - 1) / 2;
}

enum loop { LOOP_SUM_SITE, LOOP_SUM_PLAIN, LOOP_FILL_SITE, LOOP_FILL_PLAIN };

/*
 * ns per access of one loop over n words: the median of `reps` runs, each
 * at least 16 Mi accesses (whole passes). Loads are checked against want.
 */
static double time_loop(enum loop l, uint64_t *p, size_t n, uint64_t want)
{
	double t[MAX_REPS];
	unsigned int r, passes = (unsigned int)((16ul << 20) / n) + 1, k;

	for (r = 0; r < reps; r++) {
		uint64_t t0 = now_ns(), s;

		for (k = 0; k < passes; k++) {
			switch (l) {
			case LOOP_SUM_SITE:
				s = sum_site(p, n);
				break;
			case LOOP_SUM_PLAIN:
				s = sum_plain(p, n);
				break;
			case LOOP_FILL_SITE:
				fill_site(p, n, want);
				s = want;
				break;
			default:
				fill_plain(p, n, want);
				s = want;
				break;
			}
			if (s != want)
				bad_values++;
		}
		t[r] = (double)(now_ns() - t0) / ((double)passes * (double)n);
	}
	for (r = 1; r < reps; r++) {	/* insertion sort: reps <= 64 */
		double x = t[r];

		for (k = r; k > 0 && t[k - 1] > x; k--)
			t[k] = t[k - 1];
		t[k] = x;
	}
	return t[reps / 2];
}

/* time_loop(LOOP_FILL_SITE) with @x, put as @key; false if p reads back wrong. */
static bool timed_site_fill(const char *key, uint64_t *p, size_t n, uint64_t x)
{
	put_key(NULL, key, "%.3f", time_loop(LOOP_FILL_SITE, p, n, x));
	return sum_site(p, n) == fill_sum(n, x);
}

static int cmd_home(unsigned long npages, const char *file)
{
	uint64_t *p;
	unsigned long i;

	attach(TDSM_ATTACH_NO_SITES);
	p = tdsm_alloc(npages, 0);
	if (!p)
		die("tdsm_alloc of %lu pages here: %s", npages, tdsm_strerror_detail());
	for (i = 0; i < npages * WORDS; i++)
		p[i] = pattern((uintptr_t)&p[i]);
	write_addr_file(file, (uintptr_t)p);
	note("home: %lu pages at %p, written", npages, (void *)p);
	return 0;
}

/* One load per page, each timed: first touches (faults) or a pass. */
static void touch_pages(uint64_t *p, unsigned long npages, uint64_t *lat)
{
	unsigned long i;

	for (i = 0; i < npages; i++) {
		uint64_t *w = p + i * WORDS, t0 = now_ns();

		if (touch_load(w) != pattern((uintptr_t)w))
			bad_values++;
		lat[i] = now_ns() - t0;
	}
}

static int cmd_a12(uint64_t addr, unsigned long npages)
{
	size_t nwords = npages * WORDS, i;
	struct tinydsm_stats s0, s1;
	uint64_t *p, *plain, *lat, want;
	double ns;

	attach(0);
	p = region_pages(addr, npages);
	plain = aligned_alloc(PAGE, nwords * sizeof(uint64_t));
	lat = calloc(npages, sizeof(*lat));
	if (!plain || !lat)
		die("out of memory");
	for (i = 0; i < nwords; i++)
		plain[i] = pattern((uintptr_t)&p[i]);
	want = pattern_sum(addr, nwords);
	put_key(NULL, "npages", "%lu", npages);
	put_key(NULL, "reps", "%u", reps);

	/* Before any rewrite: under TCG, rewritten code runs slower. */
	note("a: plain memory, %lu pages", npages);
	ns = time_loop(LOOP_SUM_PLAIN, plain, nwords, want);
	put_key(NULL, "plain_load_ns", "%.3f", ns);
	ns = time_loop(LOOP_FILL_PLAIN, plain, nwords, 7);
	put_key(NULL, "plain_store_ns", "%.3f", ns);

	note("a.1/a.2: first touch of %lu pages homed elsewhere (load)", npages);
	get_stats(&s0);
	touch_pages(p, npages, lat);
	get_stats(&s1);
	report_lat("touch_load", lat, npages);
	put_deltas("touch_load", &s0, &s1);

	note("a.2: steady loads, sites direct");
	get_stats(&s0);
	ns = time_loop(LOOP_SUM_SITE, p, nwords, want);
	put_key(NULL, "direct_load_ns", "%.3f", ns);
	get_stats(&s1);
	put_deltas("direct_load", &s0, &s1);
	get_stats(&s0);

	note("a.1/a.2: first store to each page (ownership moves here)");
	for (i = 0; i < npages; i++) {
		uint64_t *w = p + i * WORDS, t0 = now_ns();

		touch_store(w, pattern((uintptr_t)w));
		lat[i] = now_ns() - t0;
	}
	get_stats(&s1);
	report_lat("touch_store", lat, npages);
	put_deltas("touch_store", &s0, &s1);

	note("a.2: steady stores, sites direct");
	get_stats(&s0);
	if (!timed_site_fill("direct_store_ns", p, nwords, 11))
		bad_values++;
	get_stats(&s1);
	put_deltas("direct_store", &s0, &s1);

	note("a.1: every site to lookup form");
	get_stats(&s0);
	if (tdsm_sites_set_form_all(TINYDSM_SITE_LOOKUP) < 0)
		die("SET_FORM_ALL lookup: %s", tdsm_strerror_detail());
	ns = time_loop(LOOP_SUM_SITE, p, nwords, fill_sum(nwords, 11));
	put_key(NULL, "lookup_load_ns", "%.3f", ns);
	if (!timed_site_fill("lookup_store_ns", p, nwords, 13))
		bad_values++;
	get_stats(&s1);
	put_deltas("lookup_steady", &s0, &s1);
	put_key(NULL, "bad_values", "%lu", bad_values);
	free(lat);
	free(plain);
	return bad_values ? 1 : 0;
}

/* The number after "key": in a JSON object; -1 if absent. */
static double json_num(const char *json, const char *key)
{
	char pat[64];
	const char *v;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	v = strstr(json, pat);
	if (!v)
		return -1;
	v += strlen(pat);
	while (*v == ' ')
		v++;
	return strtod(v, NULL);
}

static int cmd_b(uint64_t addr, unsigned long npages, const char *strategy,
		 const char *from, const char *to)
{
	char cmd[1024], json[4096], path[512];
	struct tinydsm_stats s0, s1, s2;
	uint64_t *p, *lat, *done, t0, t1;
	unsigned long i;
	size_t len;
	FILE *f;
	int rc;

	if (strcmp(strategy, "lazy") && strcmp(strategy, "eager") &&
	    strcmp(strategy, "lookup"))
		die("strategy \"%s\": lazy, eager or lookup", strategy);
	attach(0);
	/* eager: a page that leaves puts its sites in lookup form at once */
	if (tdsm_set_policy(strcmp(strategy, "lazy") ? TINYDSM_SITES_POLICY_EAGER :
			    TINYDSM_SITES_POLICY_LAZY))
		die("set policy: %s", tdsm_strerror_detail());
	p = region_pages(addr, npages);
	lat = calloc(npages, sizeof(*lat));
	done = calloc(npages, sizeof(*done));
	if (!lat || !done)
		die("out of memory");
	put_key(NULL, "npages", "%lu", npages);
	put_key(NULL, "strategy", "%s", strategy);

	note("b: %s: read %lu pages homed on %s (copies here)", strategy, npages, from);
	t0 = now_ns();
	touch_pages(p, npages, lat);
	put_key(NULL, "touch_ms", "%.1f", (now_ns() - t0) / 1e6);

	snprintf(cmd, sizeof(cmd),
		 "%s -j migrate --from %s --to %s --pages %#llx+%lu --strategy %s",
		 ctl_path, from, to, (unsigned long long)addr, npages, strategy);
	note("b: %s: %s", strategy, cmd);
	get_stats(&s0);
	t0 = now_ns();
	f = popen(cmd, "r");
	if (!f)
		die("%s: %s", cmd, strerror(errno));
	len = fread(json, 1, sizeof(json) - 1, f);
	json[len] = '\0';
	rc = pclose(f);
	t1 = now_ns();
	if (rc != 0)
		die("tinydsmctl migrate failed (status %d): %s", rc, json);
	put_key(NULL, "cmd_ms", "%.1f", (t1 - t0) / 1e6);
	put_key(NULL, "migrate_ms", "%.0f", json_num(json, "ms"));
	put_key(NULL, "move_ms", "%.0f", json_num(json, "move_ms"));
	put_key(NULL, "repop_ms", "%.0f", json_num(json, "repop_ms"));
	put_key(NULL, "moved", "%.0f", json_num(json, "moved"));
	put_key(NULL, "pages_per_s", "%.0f", json_num(json, "pages_per_s"));
	put_key(NULL, "repopulated", "%.0f", json_num(json, "repopulated"));
	put_key(NULL, "mapped", "%.0f", json_num(json, "mapped"));
	put_key(NULL, "sites", "%.0f", json_num(json, "sites"));

	/* pass 1: what the application sees after the migration */
	note("b: %s: first pass over the pages", strategy);
	get_stats(&s1);
	for (i = 0; i < npages; i++) {
		uint64_t *w = p + i * WORDS, a = now_ns();

		if (touch_load(w) != pattern((uintptr_t)w))
			bad_values++;
		done[i] = now_ns();
		lat[i] = done[i] - a;
	}
	get_stats(&s2);
	put_key(NULL, "pass1_ms", "%.1f", (done[npages - 1] - t1) / 1e6);
	put_key(NULL, "total_ms", "%.1f", (done[npages - 1] - t0) / 1e6);
	put_deltas("migrate", &s0, &s1);
	put_deltas("pass1", &s1, &s2);
	report_lat("pass1", lat, npages);

	snprintf(path, sizeof(path), "%s/%stimeline", out_dir, put_prefix);
	f = fopen(path, "w");
	if (!f)
		die("%s: %s", path, strerror(errno));
	/* from the start of the migration: nothing while it runs */
	fprintf(f, "0 0\n%.3f 0\n", (t1 - t0) / 1e6);
	for (i = 0; i < npages; i++)
		fprintf(f, "%.3f %lu\n", (done[i] - t0) / 1e6, i + 1);
	if (fclose(f))
		die("%s: %s", path, strerror(errno));

	note("b: %s: second pass", strategy);
	t1 = now_ns();
	touch_pages(p, npages, lat);
	get_stats(&s1);
	put_key(NULL, "pass2_ms", "%.1f", (now_ns() - t1) / 1e6);
	put_deltas("pass2", &s2, &s1);
	put_key(NULL, "bad_values", "%lu", bad_values);
	free(lat);
	free(done);
	return bad_values ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: seed_demo [-r REPS] [-e ENV] [-k PREFIX] [-o DIR] [-c TINYDSMCTL]\n"
		"         home NPAGES FILE | a12 ADDR NPAGES |\n"
		"         b ADDR NPAGES lazy|eager|lookup FROM TO\n");
	exit(2);
}

static unsigned long number(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end || !v) {
		fprintf(stderr, "seed_demo: %s \"%s\" is not a positive number\n", what, s);
		usage();
	}
	return v;
}

int main(int argc, char **argv)
{
	unsigned long npages;
	uint64_t addr;
	int c;

	ctl_path = getenv("TDSM_CTL") ? getenv("TDSM_CTL") : "tinydsmctl";
	while ((c = getopt(argc, argv, "+r:e:k:o:c:")) != -1) {
		switch (c) {
		case 'r':
			reps = (unsigned int)number(optarg, "-r");
			if (reps > MAX_REPS)
				usage();
			break;
		case 'e':
			put_env = optarg;
			break;
		case 'k':
			put_prefix = optarg;
			break;
		case 'o':
			out_dir = optarg;
			break;
		case 'c':
			ctl_path = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	put_env_file();
	if (!strcmp(argv[0], "home") && argc == 3)
		return cmd_home(number(argv[1], "NPAGES"), argv[2]);
	if (argc < 3)
		usage();
	addr = number(argv[1], "ADDR");
	npages = number(argv[2], "NPAGES");
	if (!strcmp(argv[0], "a12") && argc == 3)
		return cmd_a12(addr, npages);
	if (!strcmp(argv[0], "b") && argc == 6)
		return cmd_b(addr, npages, argv[3], argv[4], argv[5]);
	usage();
}
