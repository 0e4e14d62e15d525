/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A stand-in for the module, for libtinydsm's host tests of the heap and
 * the job (heap.c, job.c, and sync.c under them): the few library calls
 * they make, over one MAP_SHARED anonymous mapping at the region's base,
 * shared by fork()ed processes that play ranks on several nodes
 * (mock_node is the node a process is on).
 *
 *   tdsm_alloc/free  runs in node n's slice of the region, one table for
 *                    every process; FREE as the module's: exact runs only
 *                    (EINVAL), by the node that ALLOCed them (EPERM), the
 *                    pages read as zero again (MADV_REMOVE)
 *   tdsm_place       the module's checks (a range inside one run this
 *                    node ALLOCed: EINVAL, else EPERM; a node that homes
 *                    no slice: EINVAL), logged in mock->places; a node
 *                    in mock->place_refuse answers ENOSPC; a FREE
 *                    takes the run's placements back, as the module's
 *   tdsm_atomic      the processor's atomics on the mapping
 *   tdsm_wait/wake   futexes on the mapping (4-byte words; 8-byte waits
 *                    yield and return, a spurious wake-up)
 *
 * Include it once, in the test program, before the harness.
 */
#ifndef TDSM_MOCK_H
#define TDSM_MOCK_H

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tinydsm.h"

#define MOCK_NODES	4
#define MOCK_PAGE	4096ULL
#define MOCK_SIZE	(1ULL << 30)	/* 256 MiB a node */
#define MOCK_SLICE	(MOCK_SIZE / MOCK_NODES)
#define MOCK_RUNS	16384

struct mock_run {
	uint64_t addr;
	uint32_t npages;
	uint32_t node;
};

#define MOCK_PLACES	256

struct mock {
	uint32_t lock;
	uint32_t nruns;
	uint64_t allocs;
	uint64_t frees;
	struct mock_run runs[MOCK_RUNS];	/* by address */
	uint32_t nplaces;
	uint32_t place_refuse;			/* a node that says ENOSPC */
	struct mock_run places[MOCK_PLACES];	/* node: the new home */
};

/* Process-local, as the library's: a PARMACS worker keeps its own. */
static struct mock *mock TDSM__PRIVATE;
static struct tinydsm_region_info mock_info TDSM__PRIVATE;
static int mock_attached TDSM__PRIVATE;
static unsigned int mock_node TDSM__PRIVATE = 1;
static _Thread_local char mock_detail[256];

/* The region and the run table, once per test, before any fork. */
static int mock_setup(void)
{
	void *p;

	p = mmap((void *)TINYDSM_REGION_BASE, MOCK_SIZE, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE |
		 MAP_FIXED_NOREPLACE, -1, 0);
	if (p != (void *)TINYDSM_REGION_BASE)
		return -1;
	mock = mmap(NULL, sizeof(*mock), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mock == MAP_FAILED)
		return -1;
	mock_info = (struct tinydsm_region_info){
		.abi_version = TINYDSM_ABI_VERSION,
		.base = TINYDSM_REGION_BASE,
		.size = MOCK_SIZE,
		.page_size = MOCK_PAGE,
		.slice_pages = MOCK_SLICE / MOCK_PAGE,
		.max_nodes = MOCK_NODES,
		.home_nodes = MOCK_NODES,
	};
	return 0;
}

static void mock_lock(void)
{
	while (__atomic_exchange_n(&mock->lock, 1, __ATOMIC_ACQUIRE))
		sched_yield();
}

static void mock_unlock(void)
{
	__atomic_store_n(&mock->lock, 0, __ATOMIC_RELEASE);
}

/* Runs of @node in the table (every node's if 0). */
static unsigned int mock_runs(unsigned int node)
{
	unsigned int i, n = 0;

	mock_lock();
	for (i = 0; i < mock->nruns; i++)
		n += !node || mock->runs[i].node == node;
	mock_unlock();
	return n;
}

int tdsm__fail(int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(mock_detail, sizeof(mock_detail), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(mock_detail))
		snprintf(mock_detail + n, sizeof(mock_detail) - n, ": %s",
			 strerror(err));
	return -err;
}

const char *tdsm_strerror_detail(void)
{
	return mock_detail;
}

int tdsm_attach(unsigned int flags)
{
	if (flags & ~__TDSM_ATTACH_ALL)
		return tdsm__fail(EINVAL, "tdsm_attach: flags %#x", flags);
	if (mock_attached)
		return tdsm__fail(EBUSY, "tdsm_attach: already attached");
	if (!mock)
		return tdsm__fail(ENODEV, "mock: no region");
	mock_info.node_id = mock_node;
	mock_attached = 1;
	return 0;
}

int tdsm_attached(void)
{
	return mock_attached;
}

const struct tinydsm_region_info *tdsm_region_info(void)
{
	if (!mock_attached)
		return NULL;
	mock_info.node_id = mock_node;
	return &mock_info;
}

void *tdsm_alloc(unsigned int npages, unsigned int home)
{
	uint64_t start, end, at, len = npages * MOCK_PAGE;
	unsigned int i;
	int err = 0;

	home = home ? home : mock_node;
	if (!mock_attached)
		err = tdsm__fail(ENODEV, "mock: not attached");
	else if (!npages)
		err = tdsm__fail(EINVAL, "mock: ALLOC of 0 pages");
	else if (home > MOCK_NODES)
		err = tdsm__fail(ENOENT, "mock: ALLOC at node %u", home);
	else if (len > MOCK_SLICE)
		err = tdsm__fail(ENOSPC, "mock: ALLOC of %u pages", npages);
	if (err) {
		errno = -err;
		return NULL;
	}
	start = TINYDSM_REGION_BASE + (home - 1) * MOCK_SLICE;
	end = start + MOCK_SLICE;
	at = start;
	mock_lock();
	/* First fit: the runs are kept in address order. */
	for (i = 0; i < mock->nruns; i++) {
		const struct mock_run *r = &mock->runs[i];

		if (r->addr < start)
			continue;
		if (r->addr >= end || r->addr - at >= len)
			break;
		at = r->addr + r->npages * MOCK_PAGE;
	}
	if (end - at < len || mock->nruns == MOCK_RUNS) {
		mock_unlock();
		errno = -tdsm__fail(ENOSPC, "mock: ALLOC of %u pages at node "
				    "%u", npages, home);
		return NULL;
	}
	memmove(&mock->runs[i + 1], &mock->runs[i],
		(mock->nruns - i) * sizeof(mock->runs[0]));
	mock->runs[i] = (struct mock_run){ at, npages, mock_node };
	mock->nruns++;
	mock->allocs++;
	mock_unlock();
	return (void *)(uintptr_t)at;
}

int tdsm_free(void *addr, unsigned int npages)
{
	unsigned int i;
	int err = 0;

	if (!mock_attached)
		return tdsm__fail(ENODEV, "mock: not attached");
	mock_lock();
	for (i = 0; i < mock->nruns; i++)
		if (mock->runs[i].addr == (uintptr_t)addr)
			break;
	if (i == mock->nruns || mock->runs[i].npages != npages)
		err = tdsm__fail(EINVAL, "mock: FREE of %u pages at %p",
				 npages, addr);
	else if (mock->runs[i].node != mock_node)
		err = tdsm__fail(EPERM, "mock: FREE at node %u of %p, "
				 "ALLOCed by node %u", mock_node, addr,
				 mock->runs[i].node);
	if (!err) {
		uint64_t a = (uintptr_t)addr, end = a + npages * MOCK_PAGE;
		unsigned int j, k = 0;

		/* Placed pages come home before the run goes. */
		for (j = 0; j < mock->nplaces; j++)
			if (mock->places[j].addr < a || mock->places[j].addr >= end)
				mock->places[k++] = mock->places[j];
		mock->nplaces = k;
		if (madvise(addr, npages * MOCK_PAGE, MADV_REMOVE))
			memset(addr, 0, npages * MOCK_PAGE);
		memmove(&mock->runs[i], &mock->runs[i + 1],
			(mock->nruns - i - 1) * sizeof(mock->runs[0]));
		mock->nruns--;
		mock->frees++;
	}
	mock_unlock();
	return err;
}

int tdsm_place(void *addr, unsigned int npages, unsigned int node,
	       unsigned int *moved)
{
	uint64_t a = (uintptr_t)addr, end = a + npages * MOCK_PAGE;
	const struct mock_run *r = NULL;
	unsigned int i;
	int err = 0;

	if (moved)
		*moved = 0;
	if (!mock_attached)
		return tdsm__fail(ENODEV, "mock: not attached");
	mock_lock();
	for (i = 0; i < mock->nruns; i++)
		if (mock->runs[i].addr <= a &&
		    end <= mock->runs[i].addr + mock->runs[i].npages * MOCK_PAGE)
			r = &mock->runs[i];
	if (!npages || a % MOCK_PAGE || !r)
		err = tdsm__fail(EINVAL, "mock: PLACE of %u pages at %p",
				 npages, addr);
	else if (r->node != mock_node)
		err = tdsm__fail(EPERM, "mock: PLACE at node %u of %p, "
				 "ALLOCed by node %u", mock_node, addr, r->node);
	else if (!node || node > mock_info.home_nodes)
		err = tdsm__fail(EINVAL, "mock: PLACE on node %u", node);
	else if (node == mock->place_refuse)
		err = tdsm__fail(ENOSPC, "mock: node %u is full", node);
	else if (mock->nplaces == MOCK_PLACES)
		err = tdsm__fail(ENOSPC, "mock: placement log full");
	if (!err) {
		mock->places[mock->nplaces++] =
			(struct mock_run){ a, npages, node };
		if (moved)
			*moved = npages;
	}
	mock_unlock();
	return err;
}

#define MOCK_ATOMIC(T, op, p, operand, expected, old)			\
	do {								\
		T *w = (T *)(p), e = (T)(expected);			\
									\
		switch (op) {						\
		case TINYDSM_ATOMIC_CAS:				\
			__atomic_compare_exchange_n(w, &e, (T)(operand), 0, \
				__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);	\
			*(old) = e;					\
			break;						\
		case TINYDSM_ATOMIC_FETCH_ADD:				\
			*(old) = __atomic_fetch_add(w, (T)(operand),	\
						    __ATOMIC_SEQ_CST);	\
			break;						\
		case TINYDSM_ATOMIC_XCHG:				\
			*(old) = __atomic_exchange_n(w, (T)(operand),	\
						     __ATOMIC_SEQ_CST);	\
			break;						\
		case TINYDSM_ATOMIC_FETCH_AND:				\
			*(old) = __atomic_fetch_and(w, (T)(operand),	\
						    __ATOMIC_SEQ_CST);	\
			break;						\
		default:						\
			*(old) = __atomic_fetch_or(w, (T)(operand),	\
						   __ATOMIC_SEQ_CST);	\
		}							\
	} while (0)

/* The module's checks: an aligned word of the region. */
static int mock_word(volatile void *addr, unsigned int width)
{
	uint64_t a = (uintptr_t)addr;

	if (!mock_attached)
		return -ENODEV;
	if ((width != 4 && width != 8) || a % width)
		return -EINVAL;
	if (a - TINYDSM_REGION_BASE >= MOCK_SIZE)
		return -ERANGE;
	return 0;
}

int tdsm_atomic(unsigned int op, volatile void *addr, unsigned int width,
		uint64_t operand, uint64_t expected, uint64_t *old)
{
	uint64_t high = width == 4 ? ~0ULL << 32 : 0;
	int err = mock_word(addr, width);

	if (err)
		return err;
	if (op < TINYDSM_ATOMIC_CAS || op >= __TINYDSM_ATOMIC_MAX ||
	    (operand & high) || (expected & high) ||
	    (expected && op != TINYDSM_ATOMIC_CAS))
		return -EINVAL;
	if (width == 8) {
		MOCK_ATOMIC(uint64_t, op, addr, operand, expected, old);
	} else {
		uint32_t o;

		MOCK_ATOMIC(uint32_t, op, addr, operand, expected, &o);
		*old = o;
	}
	return 0;
}

int tdsm_wait(volatile void *addr, unsigned int width, uint64_t expected,
	      uint64_t timeout_ns)
{
	struct timespec ts = {
		.tv_sec = timeout_ns / 1000000000,
		.tv_nsec = timeout_ns % 1000000000,
	};
	int err = mock_word(addr, width);

	if (err)
		return err;
	if (width == 8) {
		if (*(volatile uint64_t *)addr != expected)
			return -EAGAIN;
		sched_yield();
		return 0;
	}
	if (syscall(SYS_futex, addr, FUTEX_WAIT, (uint32_t)expected,
		    timeout_ns ? &ts : NULL, NULL, 0))
		return -errno;
	return 0;
}

int tdsm_wake(volatile void *addr, unsigned int width, unsigned int count)
{
	long n;
	int err = mock_word(addr, width);

	if (err)
		return err;
	if (width == 8)
		return 0;
	n = syscall(SYS_futex, addr, FUTEX_WAKE, count > INT_MAX ? INT_MAX :
		    (int)count, NULL, NULL, 0);
	return n < 0 ? -errno : (int)n;
}

/* The environment a launcher gives rank @rank of a job (tdsm_init()). */
static inline void set_env(int rank, int nranks, uint64_t job, void *root)
{
	char v[64];

	snprintf(v, sizeof(v), "%d", rank);
	setenv("TINYDSM_RANK", v, 1);
	snprintf(v, sizeof(v), "%d", nranks);
	setenv("TINYDSM_NRANKS", v, 1);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)job);
	setenv("TINYDSM_JOB", v, 1);
	snprintf(v, sizeof(v), "%p", root);
	setenv("TINYDSM_ROOT", v, 1);
}

#endif /* TDSM_MOCK_H */
