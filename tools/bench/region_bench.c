// SPDX-License-Identifier: GPL-2.0
/*
 * region_bench: a round trip through this node's tinydsm region, timed.
 *
 *   region_bench [-n PAGES] [-o FIRST_PAGE]
 *
 * Maps the region, then over PAGES fresh pages: times the first read of
 * each page (a read fault that allocates and maps it), the first write
 * (the write fault that makes it exclusive), then writes a pattern to every
 * word, reads it back and checks it (steady state, no faults). Prints
 * key=value lines: percentiles of each fault in ns, and ns per 8-byte access
 * in steady state. Exits 1 if any word read back is wrong.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/tinydsm.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts @v in place; prints p50, p99, min and mean. */
static void report(const char *name, uint64_t *v, size_t n)
{
	uint64_t sum = 0;
	size_t i;

	qsort(v, n, sizeof(*v), cmp_u64);
	for (i = 0; i < n; i++)
		sum += v[i];
	printf("region %s_ns_p50=%llu %s_ns_p99=%llu %s_ns_min=%llu %s_ns_mean=%llu\n",
	       name, (unsigned long long)v[n / 2],
	       name, (unsigned long long)v[(n * 99) / 100],
	       name, (unsigned long long)v[0],
	       name, (unsigned long long)(sum / n));
}

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-n PAGES] [-o FIRST_PAGE]\n", argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long npages = 1000, first = 0, i, j, words, bad = 0;
	struct tinydsm_region_info info;
	volatile uint64_t *w;
	uint64_t *rd, *wr, t0, t1;
	uint8_t *map, *p;
	int fd, opt;

	while ((opt = getopt(argc, argv, "n:o:h")) != -1) {
		switch (opt) {
		case 'n':
			npages = strtoul(optarg, NULL, 0);
			break;
		case 'o':
			first = strtoul(optarg, NULL, 0);
			break;
		default:
			usage(argv[0]);
		}
	}
	if (!npages)
		usage(argv[0]);

	fd = open("/dev/" TINYDSM_DEVICE_NAME, O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, TINYDSM_IOC_REGION_INFO, &info)) {
		fprintf(stderr, "region_bench: /dev/%s: %s\n",
			TINYDSM_DEVICE_NAME, strerror(errno));
		return 1;
	}
	if ((first + npages) * info.page_size > info.size) {
		fprintf(stderr, "region_bench: pages %lu..%lu are outside the %llu-page region\n",
			first, first + npages - 1,
			(unsigned long long)(info.size / info.page_size));
		return 2;
	}
	map = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		fprintf(stderr, "region_bench: mmap: %s\n", strerror(errno));
		return 1;
	}
	rd = calloc(npages, sizeof(*rd));
	wr = calloc(npages, sizeof(*wr));
	if (!rd || !wr)
		return 1;

	p = map + first * info.page_size;
	for (i = 0; i < npages; i++) {
		w = (volatile uint64_t *)(p + i * info.page_size);
		t0 = now_ns();
		(void)*w;
		t1 = now_ns();
		rd[i] = t1 - t0;
	}
	for (i = 0; i < npages; i++) {
		w = (volatile uint64_t *)(p + i * info.page_size);
		t0 = now_ns();
		*w = 0;
		t1 = now_ns();
		wr[i] = t1 - t0;
	}

	/* Steady state: every word written, then read back and checked. */
	words = npages * info.page_size / sizeof(uint64_t);
	w = (volatile uint64_t *)p;
	t0 = now_ns();
	for (j = 0; j < words; j++)
		w[j] = (first * info.page_size / 8 + j) * 0x9e3779b97f4a7c15ull;
	t1 = now_ns();
	printf("region steady_write_ns_per_access=%.2f\n", (double)(t1 - t0) / words);
	t0 = now_ns();
	for (j = 0; j < words; j++)
		bad += w[j] != (first * info.page_size / 8 + j) * 0x9e3779b97f4a7c15ull;
	t1 = now_ns();
	printf("region steady_read_ns_per_access=%.2f\n", (double)(t1 - t0) / words);

	report("first_read_fault", rd, npages);
	report("first_write_fault", wr, npages);
	printf("region pages=%lu bytes_checked=%lu bad_words=%lu\n", npages,
	       words * 8, bad);
	munmap(map, info.size);
	close(fd);
	return bad ? 1 : 0;
}
