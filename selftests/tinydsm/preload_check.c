// SPDX-License-Identifier: GPL-2.0
/*
 * preload_check HOME [OPS [BIG_MB [nofork]]]: run under
 * LD_PRELOAD=libtinydsm-preload.so (by preload_test), it calls every
 * function of the malloc family the library replaces and checks what
 * each gives: inside the region and homed on
 * node HOME (TINYDSM_IOC_PAGE_INFO), aligned as asked, zeroed (calloc),
 * contents kept (realloc), usable size at least the size asked for; the
 * errors (EINVAL, ENOMEM); threads that allocate, fill, hand blocks to
 * each other and free them, every byte checked (OPS operations a thread,
 * default 20000); a block of BIG_MB MiB (default 8); fork():
 * the child's writes to a block are not seen by the parent, and the child
 * can allocate (not with "nofork": the child reads every page the heap
 * handed out, each a remote fault where the heap is another node's).
 * Prints "preload_check: ok, N checks" and exits 0, or
 * names each failed check and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#define THREADS		4
#define SLOTS		256
#define SWAP_SLOTS	64

static int fd;
static unsigned int home, ops = 20000;
static size_t big = 8u << 20;
static struct tinydsm_region_info ri;
static atomic_uint checks, failed;

#define CHECK(cond, ...) do {						\
	atomic_fetch_add(&checks, 1);					\
	if (!(cond)) {							\
		atomic_fetch_add(&failed, 1);				\
		fprintf(stderr, "preload_check: FAILED %s:%d: ", __func__, __LINE__); \
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
	}								\
} while (0)

/* @p, a block of @size, is in the region and its first page homed on @home. */
static void in_region(const void *p, size_t size, const char *what)
{
	struct tinydsm_page_info pi = { .addr = (uintptr_t)p };
	uintptr_t a = (uintptr_t)p;

	CHECK(p, "%s: NULL", what);
	if (!p)
		return;
	CHECK(a >= ri.base && a - ri.base < ri.size && size <= ri.size - (a - ri.base),
	      "%s: %p +%zu is outside the region %#llx +%llu", what, p, size,
	      (unsigned long long)ri.base, (unsigned long long)ri.size);
	CHECK(!ioctl(fd, TINYDSM_IOC_PAGE_INFO, &pi), "%s: PAGE_INFO %p: %s", what, p,
	      strerror(errno));
	CHECK(pi.home == home, "%s: %p homed on node %u, not %u", what, p, pi.home, home);
}

static void functions(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	/* Sizes no heap gives, hidden from the compiler's size checks. */
	volatile size_t huge = SIZE_MAX / 2;
	unsigned char *p, *q;
	void *v;
	size_t i;
	int rc;

	p = malloc(0);
	in_region(p, 1, "malloc(0)");
	free(p);
	p = malloc(100);
	in_region(p, 100, "malloc(100)");
	CHECK(malloc_usable_size(p) >= 100, "malloc_usable_size %zu < 100",
	      malloc_usable_size(p));
	for (i = 0; i < 100; i++)
		p[i] = (unsigned char)i;
	q = realloc(p, 100000);
	in_region(q, 100000, "realloc up");
	for (i = 0; q && i < 100; i++)
		if (q[i] != (unsigned char)i)
			break;
	CHECK(q && i == 100, "realloc lost the contents at byte %zu", i);
	p = realloc(q, 10);
	in_region(p, 10, "realloc down");
	CHECK(p && p[9] == 9, "realloc down lost the contents");
	CHECK(realloc(p, 0) == NULL, "realloc(p, 0) is not NULL");
	p = realloc(NULL, 50);
	in_region(p, 50, "realloc(NULL)");
	free(p);

	p = calloc(1000, 8);
	in_region(p, 8000, "calloc");
	for (i = 0; p && i < 8000; i++)
		if (p[i])
			break;
	CHECK(p && i == 8000, "calloc: byte %zu is not zero", i);
	free(p);
	errno = 0;
	CHECK(!calloc(huge, 4) && errno == ENOMEM, "calloc overflow: errno %d", errno);
	errno = 0;
	CHECK(!malloc(huge) && errno == ENOMEM, "malloc(huge): errno %d", errno);

	p = aligned_alloc(4096, 10000);
	in_region(p, 10000, "aligned_alloc");
	CHECK(!((uintptr_t)p & 4095), "aligned_alloc(4096): %p", (void *)p);
	free(p);
	p = memalign(256, 100);
	in_region(p, 100, "memalign");
	CHECK(!((uintptr_t)p & 255), "memalign(256): %p", (void *)p);
	free(p);
	v = NULL;
	rc = posix_memalign(&v, 64, 100);
	CHECK(rc == 0, "posix_memalign(64): %d", rc);
	in_region(v, 100, "posix_memalign");
	CHECK(!((uintptr_t)v & 63), "posix_memalign(64): %p", v);
	free(v);
	v = (void *)1;
	CHECK(posix_memalign(&v, 3, 8) == EINVAL && v == (void *)1,
	      "posix_memalign(3) is not EINVAL, or changed its pointer");
	errno = 0;
	CHECK(!aligned_alloc(3, 8) && errno == EINVAL, "aligned_alloc(3): errno %d", errno);
	p = valloc(100);
	in_region(p, 100, "valloc");
	CHECK(!((uintptr_t)p & (page - 1)), "valloc: %p", (void *)p);
	free(p);
	p = pvalloc(100);
	in_region(p, page, "pvalloc");
	CHECK(!((uintptr_t)p & (page - 1)) && malloc_usable_size(p) >= page,
	      "pvalloc: %p, usable %zu", (void *)p, malloc_usable_size(p));
	free(p);
	CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL)");
	free(NULL);

	/* A big block, every page of it written and read. */
	p = malloc(big);
	in_region(p, big, "malloc(big)");
	for (i = 0; p && i < big; i += page)
		p[i] = (unsigned char)(i / page);
	for (i = 0; p && i < big; i += page)
		if (p[i] != (unsigned char)(i / page))
			break;
	CHECK(p && i >= big, "the big block: page %zu changed", i / page);
	free(p);
}

/* ---- threads: blocks filled, handed over, checked and freed ---- */

struct blk {
	unsigned char *p;
	size_t size;
	unsigned char tag;
};

static _Atomic(struct blk *) swap[SWAP_SLOTS];

static void fill(struct blk *b)
{
	memset(b->p, b->tag, b->size);
}

static int intact(const struct blk *b)
{
	size_t i;

	for (i = 0; i < b->size; i++)
		if (b->p[i] != b->tag)
			return 0;
	return 1;
}

static void *worker(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg * 7919u + 1;
	struct blk *mine[SLOTS] = { 0 };
	unsigned int op, k, bad = 0, outside = 0;

	for (op = 0; op < ops; op++) {
		struct blk *b, *got;

		k = (unsigned int)rand_r(&seed) % SLOTS;
		b = mine[k];
		if (b) {
			/* Half the time, hand it to whoever takes the swap slot. */
			if (rand_r(&seed) & 1) {
				got = atomic_exchange(&swap[k % SWAP_SLOTS], b);
				mine[k] = NULL;
				if (!got)
					continue;
				b = got;
			} else {
				mine[k] = NULL;
			}
			bad += !intact(b);
			free(b->p);
			free(b);
			continue;
		}
		b = malloc(sizeof(*b));
		if (!b)
			break;
		b->size = 1 + (size_t)rand_r(&seed) % (rand_r(&seed) % 8 ? 512 : 65536);
		b->p = malloc(b->size);
		b->tag = (unsigned char)rand_r(&seed);
		if (!b->p) {
			free(b);
			break;
		}
		outside += (uintptr_t)b->p < ri.base || (uintptr_t)b->p - ri.base >= ri.size;
		fill(b);
		mine[k] = b;
	}
	for (k = 0; k < SLOTS; k++)
		if (mine[k]) {
			bad += !intact(mine[k]);
			free(mine[k]->p);
			free(mine[k]);
		}
	CHECK(op == ops, "thread %u: malloc failed at op %u", (unsigned int)(uintptr_t)arg, op);
	CHECK(!bad, "thread %u: %u blocks changed", (unsigned int)(uintptr_t)arg, bad);
	CHECK(!outside, "thread %u: %u blocks outside the region", (unsigned int)(uintptr_t)arg,
	      outside);
	return NULL;
}

static void threads(void)
{
	pthread_t t[THREADS];
	unsigned int i, bad = 0;

	for (i = 0; i < THREADS; i++)
		CHECK(!pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i),
		      "pthread_create %u", i);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < SWAP_SLOTS; i++) {
		struct blk *b = atomic_exchange(&swap[i], NULL);

		if (b) {
			bad += !intact(b);
			free(b->p);
			free(b);
		}
	}
	CHECK(!bad, "%u handed-over blocks changed", bad);
}

/* ---- fork: the child's heap is its own ---- */

static void forked(void)
{
	char *p = malloc(64);
	int status = -1;
	pid_t pid;

	if (!p) {
		CHECK(0, "malloc before fork");
		return;
	}
	memset(p, 'A', 64);
	pid = fork();
	if (pid == 0) {
		char *q;

		p[0] = 'B';
		q = malloc(100000);	/* the child allocates */
		if (!q)
			_exit(2);
		memset(q, 'C', 100000);
		free(q);
		free(p);
		_exit(0);
	}
	CHECK(pid > 0, "fork: %s", strerror(errno));
	if (pid > 0)
		waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child: status %#x", status);
	CHECK(p[0] == 'A', "the child's write reached the parent's block: '%c'", p[0]);
	free(p);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 5 || (argc == 5 && strcmp(argv[4], "nofork"))) {
		fprintf(stderr, "usage: preload_check HOME [OPS [BIG_MB [nofork]]]\n");
		return 2;
	}
	home = (unsigned int)strtoul(argv[1], NULL, 10);
	if (argc > 2)
		ops = (unsigned int)strtoul(argv[2], NULL, 10);
	if (argc > 3)
		big = (size_t)strtoul(argv[3], NULL, 10) << 20;
	fd = open("/dev/" TINYDSM_DEVICE_NAME, O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, TINYDSM_IOC_REGION_INFO, &ri)) {
		fprintf(stderr, "preload_check: /dev/%s: %s\n", TINYDSM_DEVICE_NAME,
			strerror(errno));
		return 1;
	}
	functions();
	threads();
	if (argc < 5)
		forked();
	if (failed) {
		printf("preload_check: %u of %u checks failed\n", failed, checks);
		return 1;
	}
	printf("preload_check: ok, %u checks\n", checks);
	return 0;
}
