// SPDX-License-Identifier: GPL-2.0
/*
 * common.c: the helpers the benchmarks and seed_demo share (common.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tinydsm.h"
#include "common.h"

/* wait_paths(): polls from every 2 ms, doubling up to every 50 ms. */
#define POLL_MIN_NS	2000000ull
#define POLL_MAX_NS	50000000ull
#define TIMER_SAMPLES_MAX 1001

const char *put_env;
const char *put_prefix = "";
FILE *put_log;
const char *dump_dir;

void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000ull,
			       .tv_nsec = ns % 1000000000ull };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

unsigned long long parse_ull(const char *s, const char *what)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		die("bad %s '%s'", what, s);
	return v;
}

const char *subcommand(int *argc, char ***argv, void (*usage)(void))
{
	if (*argc < 2)
		usage();
	(*argv)++;
	(*argc)--;
	return (*argv)[0];
}

int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t tag_pattern(uint64_t addr, uint64_t tag)
{
	return (addr * 0x9e3779b97f4a7c15ull) ^ (tag << 48) ^ 0x5444534dull;
}

FILE *put_env_file(void)
{
	static FILE *f;

	if (!put_env)
		return NULL;
	if (!f) {
		f = fopen(put_env, "a");
		if (!f)
			die("%s: %s", put_env, strerror(errno));
		setvbuf(f, NULL, _IOLBF, 0);
	}
	return f;
}

void put(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	FILE *f = put_env_file();

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(put_log ? put_log : stdout, "%s%s\n", put_prefix, line);
	if (f)
		fprintf(f, "%s%s\n", put_prefix, line);
}

void dump_samples(const char *label, const uint64_t *ns, size_t n)
{
	char path[4096];
	FILE *f;
	size_t i;

	if (!dump_dir)
		return;
	snprintf(path, sizeof(path), "%s/%s.ns", dump_dir, label);
	f = fopen(path, "w");
	if (!f)
		die("%s: %s", path, strerror(errno));
	for (i = 0; i < n; i++)
		fprintf(f, "%llu\n", (unsigned long long)ns[i]);
	fclose(f);
}

struct summary summarize(uint64_t *ns, size_t n)
{
	struct summary s = { .n = n };
	double sum = 0;
	size_t i, r99;

	if (!n)
		return s;
	qsort(ns, n, sizeof(*ns), cmp_u64);
	for (i = 0; i < n; i++)
		sum += (double)ns[i];
	s.p50 = (n % 2 ? (double)ns[n / 2] :
		 ((double)ns[n / 2 - 1] + (double)ns[n / 2]) / 2) / 1e3;
	r99 = (99 * n + 99) / 100;	/* nearest rank ceil(0.99 n), 1-based */
	s.p99 = (double)ns[r99 - 1] / 1e3;
	s.min = (double)ns[0] / 1e3;
	s.max = (double)ns[n - 1] / 1e3;
	s.mean = sum / (double)n / 1e3;
	return s;
}

void put_summary(const char *label, const struct summary *s)
{
	put("%s_n=%zu", label, s->n);
	put("%s_p50_us=%.2f", label, s->p50);
	put("%s_p99_us=%.2f", label, s->p99);
	put("%s_min_us=%.2f", label, s->min);
	put("%s_mean_us=%.2f", label, s->mean);
	put("%s_max_us=%.2f", label, s->max);
}

/* What a pair of clock reads costs here: subtract it in your head. */
uint64_t timer_overhead_ns(unsigned int samples)
{
	uint64_t v[TIMER_SAMPLES_MAX];
	unsigned int i;

	if (!samples || samples > TIMER_SAMPLES_MAX)
		samples = TIMER_SAMPLES_MAX;
	for (i = 0; i < samples; i++) {
		uint64_t t0 = now_ns();

		v[i] = now_ns() - t0;
	}
	qsort(v, samples, sizeof(v[0]), cmp_u64);
	return v[samples / 2];
}

int wait_paths(const char *const *paths, int n, unsigned int timeout_s)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_s * 1000000000ull;
	uint64_t pause = POLL_MIN_NS;
	struct stat st;
	int i;

	for (;;) {
		for (i = 0; i < n; i++)
			if (!stat(paths[i], &st))
				return i;
		if (now_ns() > deadline)
			return -1;
		sleep_ns(pause);
		if (pause < POLL_MAX_NS)
			pause *= 2;
	}
}

void create_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	close(fd);
}

void write_addr_file(const char *file, uint64_t addr)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	f = fopen(tmp, "w");
	if (!f)
		die("%s: %s", tmp, strerror(errno));
	fprintf(f, "%#llx\n", (unsigned long long)addr);
	if (fclose(f) || rename(tmp, file))
		die("%s: %s", file, strerror(errno));
}

void attach(unsigned int flags)
{
	if (!tdsm_attached() && tdsm_attach(flags))
		die("tdsm_attach: %s", tdsm_strerror_detail());
}

const struct tinydsm_region_info *region_info(void)
{
	static struct tinydsm_region_info queried;

	if (tdsm_attached())
		return tdsm_region_info();
	if (!queried.size && tdsm_region_query(&queried))
		die("%s", tdsm_strerror_detail());
	return &queried;
}

void check_range(uint64_t addr, unsigned long npages)
{
	const struct tinydsm_region_info *ri = region_info();
	uint64_t off = addr - ri->base;

	/* in pages, not bytes: a huge @npages must not wrap round */
	if (addr < ri->base || addr % PAGE || !npages || off > ri->size ||
	    npages > (ri->size - off) / PAGE)
		die("pages %#llx + %lu are not inside the region [%#llx, +%llu)",
		    (unsigned long long)addr, npages,
		    (unsigned long long)ri->base, (unsigned long long)ri->size);
}

void *region_pages(uint64_t addr, unsigned long npages)
{
	attach(TDSM_ATTACH_NO_SITES);
	check_range(addr, npages);
	return (void *)(uintptr_t)addr;
}

struct tinydsm_page_info page_info(uint64_t addr)
{
	struct tinydsm_page_info pi;

	if (tdsm_page_info((void *)(uintptr_t)addr, &pi))
		die("tdsm_page_info: %s", tdsm_strerror_detail());
	return pi;
}

struct tinydsm_stats stats_now(void)
{
	struct tinydsm_stats st;

	attach(TDSM_ATTACH_NO_SITES);
	if (tdsm_stats(&st))
		die("tdsm_stats: %s", tdsm_strerror_detail());
	return st;
}

/* A SIGBUS on a region access is the module refusing a fault: say where. */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	char msg[96];
	int n;

	(void)sig;
	(void)uc;
	n = snprintf(msg, sizeof(msg), "%s: SIGBUS at %p (the fault failed; see dmesg)\n",
		     prog, si->si_addr);
	if (n > 0)
		(void)!write(STDERR_FILENO, msg, (size_t)n);
	_exit(3);
}

void catch_sigbus(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGBUS, &sa, NULL);
}

/*
 * The order a latency figure takes the pages of a run of @n in: page
 * (i * step) % n for i = 0, 1, ..., with the step coprime to @n and no
 * page ever taken right after the page below it, nor within the next few
 * accesses (step * m is not 1 mod n for m up to 8): to the module's
 * read-ahead (which follows a node's last 4 sequential streams) the run
 * is random access, so each timed access is a fault of its own, never one
 * the fault before it read ahead. 1 (address order) for runs too small to
 * scatter.
 */
unsigned long scatter_step(unsigned long n)
{
	static const unsigned long primes[] = { 97, 89, 83, 79, 73, 71, 67, 61 };
	unsigned long m;
	size_t k;

	for (k = 0; k < sizeof(primes) / sizeof(primes[0]); k++) {
		unsigned long step = primes[k];

		if (n <= 2 * step || n % step == 0)
			continue;
		for (m = 1; m <= 8; m++)
			if (step * m % n == 1)
				break;
		if (m > 8)
			return step;
	}
	return 1;
}
