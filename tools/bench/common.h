/* SPDX-License-Identifier: GPL-2.0 */
/*
 * common.h: what the benchmarks (access_bench, remote_bench, migrate_bench)
 * and the demo's seed_demo share: messages, clocks, figures as key=value
 * lines, latency samples, files to wait for, and the region through
 * libtinydsm. Each program links common.c and libtinydsm.a.
 */
#ifndef TDSM_BENCH_COMMON_H
#define TDSM_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <linux/tinydsm.h>

#define PAGE		4096ul

/* The program's name, in front of every message: each program defines it. */
extern const char *prog;

/* "prog: message" on stderr, then exit(1). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* CLOCK_MONOTONIC in ns: what every figure is timed with. */
uint64_t now_ns(void);
void sleep_ns(uint64_t ns);
/* A number in any base strtoull() takes, whole, or die naming @what. */
unsigned long long parse_ull(const char *s, const char *what);
/*
 * argv[1], the subcommand, taken off the command line (argv[0] becomes
 * it) so that getopt() reads the options after it; usage() if missing.
 */
const char *subcommand(int *argc, char ***argv, void (*usage)(void));
/* qsort() order of uint64_t. */
int cmp_u64(const void *a, const void *b);
/* A step that takes a run of n pages in a scattered order (no read-ahead). */
unsigned long scatter_step(unsigned long n);
/*
 * The word remote_bench's writers (touch/fault w -t TAG) leave at @addr,
 * which its readers and migrate_bench's app check (-v TAG).
 */
uint64_t tag_pattern(uint64_t addr, uint64_t tag);

/*
 * put() writes one figure, "<put_prefix>key=value", to put_log (stdout if
 * NULL) and appends it to the file put_env (if set; opened on first use,
 * line-buffered so that a crash loses no figure already put).
 */
extern const char *put_env;
extern const char *put_prefix;
extern FILE *put_log;
void put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* put_env opened now (NULL if unset): for a bad -e to fail before any work. */
FILE *put_env_file(void);

/* Latency samples, summarized in microseconds (p99: nearest rank). */
struct summary {
	size_t n;
	double p50, p99, min, max, mean;
};

/* -D DIR: dump_samples() writes DIR/LABEL.ns, one sample (ns) a line. */
extern const char *dump_dir;
void dump_samples(const char *label, const uint64_t *ns, size_t n);
/* Sorts @ns in place; all zero for n == 0. */
struct summary summarize(uint64_t *ns, size_t n);
/* LABEL_n, _p50_us, _p99_us, _min_us, _mean_us, _max_us. */
void put_summary(const char *label, const struct summary *s);
/* Median cost of a pair of now_ns() calls, over @samples (<= 1001) pairs. */
uint64_t timer_overhead_ns(unsigned int samples);

/*
 * Files as signals between the nodes of a lab run: wait_paths() waits
 * until one of @paths exists and returns its index, or -1 after
 * @timeout_s; create_file() makes one.
 */
int wait_paths(const char *const *paths, int n, unsigned int timeout_s);
void create_file(const char *path);
/* "0x<addr>\n" into @file, through FILE.tmp: a reader never sees half. */
void write_addr_file(const char *file, uint64_t addr);

/* tdsm_attach(@flags) or die; once (later calls return at once). */
void attach(unsigned int flags);
/*
 * The region's REGION_INFO: the attach's, else read without attaching, so
 * that a program that only names pages (migrate_bench migrate) maps none.
 */
const struct tinydsm_region_info *region_info(void);
/* Die unless [addr, addr + npages pages) lies in the region. */
void check_range(uint64_t addr, unsigned long npages);
/* Attach (without sites), check_range(), and the pages' address. */
void *region_pages(uint64_t addr, unsigned long npages);
/* The page at @addr's tinydsm_page_info on this node, or die. */
struct tinydsm_page_info page_info(uint64_t addr);
/* TINYDSM_IOC_STATS of this node, or die; attaches. */
struct tinydsm_stats stats_now(void);
/*
 * "LABEL_d_COUNTER=<b - a>": how much a phase moved one of this node's
 * counters (@a, @b: struct tinydsm_stats * before and after), its proof.
 */
#define PUT_DELTA(label, a, b, counter)					\
	put("%s_d_" #counter "=%llu", (label),				\
	    (unsigned long long)((b)->counter - (a)->counter))
/* A SIGBUS (a refused fault) prints where and exits with status 3. */
void catch_sigbus(void);

#endif /* TDSM_BENCH_COMMON_H */
