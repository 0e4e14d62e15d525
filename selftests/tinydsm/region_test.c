// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm region tests on one node: mmap at the global base, first-touch
 * zero fill, sharing between processes, per-page metadata and the recorded
 * faulting IP, every bad mmap and ioctl, and the home budget (ALLOC past
 * it gets ENOSPC, a first touch past it SIGBUS, each with the event
 * TINYDSM_EV_BUDGET; FREE gives the charge back; only an admin sets it),
 * what an administrator's FREE of part of a run leaves, the kernel's own
 * futexes on a word of the region, and the range of the fault-injection
 * knobs.
 *
 * The region keeps its pages for as long as the module is loaded, so each
 * test works on pages of its own (the PG_* constants below).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tdsm_budget.h"
#include "tdsm_params.h"
#include "tdsm_util.h"

#define DEV_PATH "/dev/tinydsm"

/* Pages each test owns; nothing else touches them. */
#define PG_ZERO		16	/* 16 pages */
#define PG_SHARE	32	/* 4 pages */
#define PG_IP		40	/* 2 pages */
#define PG_WRITE	44
#define PG_STATS	48	/* 8 pages */
#define PG_FIXED	64
#define PG_SLICE	70	/* 3 pages */
#define PG_MREMAP	80
#define PG_NOMEM	90	/* 2 pages */
#define PG_FUTEX	92
#define PG_PSHARED	93

#define FAIL_PAGE_ALLOC	"/sys/kernel/debug/fail_page_alloc"

static long page_size;

static uint8_t *page_addr(unsigned long pg)
{
	return (uint8_t *)(uintptr_t)(TINYDSM_REGION_BASE + pg * page_size);
}

static int page_info(int fd, const void *addr, struct tinydsm_page_info *pi)
{
	memset(pi, 0, sizeof(*pi));
	pi->addr = (uintptr_t)addr;
	return ioctl(fd, TINYDSM_IOC_PAGE_INFO, pi);
}

/* Is @ip inside the (small) function starting at @fn? */
static int ip_in(uint64_t ip, void *fn)
{
	uint64_t start = (uintptr_t)fn;

	return ip >= start && ip < start + 64;
}

FIXTURE(region) {
	int fd;
	struct tinydsm_region_info info;
	uint8_t *map;		/* the whole region, at its base */
};

FIXTURE_SETUP(region)
{
	page_size = sysconf(_SC_PAGESIZE);
	self->fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %s", DEV_PATH, strerror(errno));
	ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_REGION_INFO, &self->info));
	self->map = mmap(NULL, self->info.size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->map) TH_LOG("mmap: %s", strerror(errno));
}

FIXTURE_TEARDOWN(region)
{
	/* A home budget test that failed half-way leaves none behind. */
	if (getuid() == 0)
		hb_set(0, NULL, 0);
	munmap(self->map, self->info.size);
	close(self->fd);
}

TEST_F(region, info)
{
	EXPECT_EQ(TINYDSM_ABI_VERSION, self->info.abi_version);
	EXPECT_EQ(tu_node_id(), self->info.node_id);
	EXPECT_EQ(TINYDSM_REGION_BASE, self->info.base);
	EXPECT_EQ(page_size, self->info.page_size);
	EXPECT_EQ(0, self->info.size % page_size);
	EXPECT_GE(self->info.size, 1 << 20);
	EXPECT_LE(self->info.meta_bytes_per_page, 40);
	TH_LOG("region %#llx + %llu MiB, %u bytes of metadata per %u-byte page",
	       (unsigned long long)self->info.base,
	       (unsigned long long)self->info.size >> 20,
	       self->info.meta_bytes_per_page, self->info.page_size);
}

/* The device picks base + offset, whatever address hint is given. */
TEST_F(region, mapped_at_global_base)
{
	uint8_t *slice;

	EXPECT_EQ((uint8_t *)(uintptr_t)TINYDSM_REGION_BASE, self->map);

	/* A slice of the region lands at its global address too. */
	ASSERT_EQ(0, munmap(page_addr(PG_SLICE), 3 * page_size));
	slice = mmap((void *)0x10000000, 3 * page_size, PROT_READ | PROT_WRITE,
		     MAP_SHARED, self->fd, PG_SLICE * page_size);
	ASSERT_NE(MAP_FAILED, slice) TH_LOG("mmap slice: %s", strerror(errno));
	EXPECT_EQ(page_addr(PG_SLICE), slice);
	tu_write_byte(slice + page_size, 0x5a);
	EXPECT_EQ(0x5a, tu_read_byte(self->map + (PG_SLICE + 1) * page_size));
}

TEST_F(region, zero_fill_on_first_touch)
{
	struct tinydsm_page_info pi;
	unsigned long i, j;
	uint8_t *p;

	for (i = 0; i < 16; i++) {
		p = page_addr(PG_ZERO + i);
		ASSERT_EQ(0, page_info(self->fd, p, &pi));
		ASSERT_EQ(TINYDSM_PAGE_INVALID, pi.state);
		ASSERT_EQ(0, pi.owner);
		ASSERT_EQ(0, pi.flags);
		for (j = 0; j < (unsigned long)page_size; j++)
			ASSERT_EQ(0, p[j]) TH_LOG("page %lu byte %lu", i, j);
		ASSERT_EQ(0, page_info(self->fd, p, &pi));
		EXPECT_EQ(TINYDSM_PAGE_SHARED, pi.state);
		EXPECT_EQ(tu_node_id(), pi.owner);
		EXPECT_EQ(1u << tu_node_id(), pi.copyset);
		/* ABI 2's node set: bit n - 1 for node n. */
		EXPECT_EQ(1ull << (tu_node_id() - 1), pi.holders);
		EXPECT_EQ(TINYDSM_PAGE_F_PRESENT, pi.flags);
		EXPECT_EQ(1, pi.faults);
	}
}

/* A read maps the page read-only; the first write makes it exclusive. */
TEST_F(region, write_fault_makes_page_exclusive)
{
	uint8_t *p = page_addr(PG_WRITE);
	struct tinydsm_page_info pi;

	EXPECT_EQ(0, tu_read_byte(p + 7));
	ASSERT_EQ(0, page_info(self->fd, p, &pi));
	EXPECT_EQ(TINYDSM_PAGE_SHARED, pi.state);
	EXPECT_EQ(0, pi.flags & TINYDSM_PAGE_F_WRITTEN);

	tu_write_byte(p + 7, 0xa5);
	ASSERT_EQ(0, page_info(self->fd, p, &pi));
	EXPECT_EQ(TINYDSM_PAGE_EXCLUSIVE, pi.state);
	EXPECT_EQ(tu_node_id(), pi.owner);
	EXPECT_EQ(1u << tu_node_id(), pi.copyset);
	EXPECT_EQ(1ull << (tu_node_id() - 1), pi.holders);
	EXPECT_EQ(TINYDSM_PAGE_F_PRESENT | TINYDSM_PAGE_F_WRITTEN, pi.flags);
	EXPECT_EQ(2, pi.faults);	/* one read fault, one write fault */
	EXPECT_EQ(0xa5, tu_read_byte(p + 7));

	/* Writing again takes no fault: the page stays mapped writable. */
	tu_write_byte(p + 8, 1);
	ASSERT_EQ(0, page_info(self->fd, p, &pi));
	EXPECT_EQ(2, pi.faults);
}

TEST_F(region, fault_ip_recorded)
{
	uint8_t *p = page_addr(PG_IP), *q = page_addr(PG_IP + 1);
	struct tinydsm_page_info pi;
	uint8_t buf[8];
	int mem;

	ASSERT_EQ(0, page_info(self->fd, p, &pi));
	EXPECT_EQ(0, pi.fault_ip);

	tu_read_byte(p + 100);
	ASSERT_EQ(0, page_info(self->fd, p, &pi));
	EXPECT_TRUE(ip_in(pi.fault_ip, tu_read_byte))
		TH_LOG("fault_ip %#llx, read_byte at %p",
		       (unsigned long long)pi.fault_ip, tu_read_byte);

	tu_write_byte(p + 100, 3);
	ASSERT_EQ(0, page_info(self->fd, p, &pi));
	EXPECT_TRUE(ip_in(pi.fault_ip, tu_write_byte))
		TH_LOG("fault_ip %#llx, write_byte at %p",
		       (unsigned long long)pi.fault_ip, tu_write_byte);

	/* A kernel access (pread of /proc/self/mem) records no user IP. */
	mem = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(mem, 0);
	ASSERT_EQ(sizeof(buf), pread(mem, buf, sizeof(buf), (uintptr_t)q));
	close(mem);
	ASSERT_EQ(0, page_info(self->fd, q, &pi));
	EXPECT_EQ(TINYDSM_PAGE_F_PRESENT, pi.flags);
	EXPECT_EQ(1, pi.faults);
	EXPECT_EQ(0, pi.fault_ip);
}

/*
 * Two processes, each with its own open and mmap, share the same page:
 * what the child writes, the parent sees through the mapping it already had.
 */
TEST_F(region, shared_between_processes)
{
	int go[2], done[2];
	unsigned long i, j;
	char c = 0;
	pid_t pid;
	int status;

	/* The child maps the region itself, so the parent's map must go first. */
	ASSERT_EQ(0, munmap(self->map, self->info.size));
	self->map = MAP_FAILED;
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(done));

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
		uint8_t *m;

		if (fd < 0)
			_exit(10);
		m = mmap(NULL, 4 * page_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, fd, PG_SHARE * page_size);
		if (m != page_addr(PG_SHARE))
			_exit(11);
		if (write(done[1], "m", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(12);
		for (i = 0; i < 4; i++)
			for (j = 0; j < (unsigned long)page_size; j += 8)
				*(uint64_t *)(m + i * page_size + j) = i << 32 | j;
		_exit(write(done[1], "w", 1) == 1 ? 0 : 13);
	}

	/* Map and read (zeros) after the child mapped, before it writes. */
	ASSERT_EQ(1, read(done[0], &c, 1));
	self->map = mmap(NULL, self->info.size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, self->fd, 0);
	ASSERT_EQ((uint8_t *)(uintptr_t)TINYDSM_REGION_BASE, self->map);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, *(volatile uint64_t *)page_addr(PG_SHARE + i));
	ASSERT_EQ(1, write(go[1], "g", 1));
	ASSERT_EQ(1, read(done[0], &c, 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));

	for (i = 0; i < 4; i++)
		for (j = 0; j < (unsigned long)page_size; j += 8)
			ASSERT_EQ(i << 32 | j,
				  *(volatile uint64_t *)(page_addr(PG_SHARE + i) + j))
				TH_LOG("page %lu offset %lu", i, j);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
}

static long sys_futex(uint32_t *uaddr, int op, uint32_t val,
		      const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

struct futex_waiter {
	uint32_t *word;
	long rc;
	int err;
};

static void *futex_wait_fn(void *arg)
{
	struct futex_waiter *w = arg;
	struct timespec ts = { .tv_sec = 30 };

	w->rc = sys_futex(w->word, FUTEX_WAIT_PRIVATE, 0, &ts);
	w->err = w->rc ? errno : 0;
	return NULL;
}

/* A child's FUTEX_WAIT (shared) on @w for 0: its exit status says how it ended. */
static pid_t fork_shared_waiter(uint32_t *w)
{
	struct timespec ts = { .tv_sec = 30 };
	pid_t pid = fork();

	if (pid == 0)
		_exit(sys_futex(w, FUTEX_WAIT, 0, &ts) ? (errno == ETIMEDOUT ? 2 : 3) : 0);
	return pid;
}

/* Wake (FUTEX_WAKE @op) until one waiter is woken, for at most 15 s. */
static long wake_one(uint32_t *w, int op)
{
	long woken = 0;
	int i;

	for (i = 0; i < 3000 && woken == 0; i++) {
		usleep(5000);
		woken = sys_futex(w, op, 1, NULL);
	}
	return woken;
}

/*
 * The kernel's own futexes on a word of the region. A private one (the
 * threads of one process) is keyed on the process and the address. A
 * shared one (between processes: pthread objects with
 * PTHREAD_PROCESS_SHARED) is keyed on the page, which the kernel takes
 * with get_user_pages(): the region's frames are normal pages that carry
 * the region's inode and their page index, so the key is (inode, page).
 * A waiter in another process (here a child; the key does not depend on
 * the process) is woken by FUTEX_WAKE. Across nodes a kernel futex wakes
 * nothing: tdsm_wait() and tdsm_wake() (TINYDSM_IOC_WAIT, _WAKE) are the
 * region's futex.
 */
TEST_F(region, kernel_futex_private_and_shared)
{
	uint32_t *w = (uint32_t *)page_addr(PG_FUTEX);
	struct futex_waiter fw = { .word = w };
	struct timespec ts = { .tv_sec = 2 };
	int status = -1;
	pthread_t th;
	long woken;
	pid_t pid;

	*(volatile uint32_t *)w = 0;
	ASSERT_EQ(0, pthread_create(&th, NULL, futex_wait_fn, &fw));
	/* Wake until one was woken: the waiter may not be queued yet. */
	woken = wake_one(w, FUTEX_WAKE_PRIVATE);
	ASSERT_EQ(1, woken) TH_LOG("FUTEX_WAKE_PRIVATE: %s",
				  woken < 0 ? strerror(errno) : "nobody waited in 15 s");
	pthread_join(th, NULL);
	EXPECT_EQ(0, fw.rc) TH_LOG("the waiter's FUTEX_WAIT_PRIVATE: %s",
				  strerror(fw.err));

	/* Shared, between two processes. */
	pid = fork_shared_waiter(w);
	ASSERT_LE(0, pid);
	woken = wake_one(w, FUTEX_WAKE);
	EXPECT_EQ(1, woken) TH_LOG("FUTEX_WAKE (shared): %s",
				  woken < 0 ? strerror(errno) : "nobody waited in 15 s");
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("the child's FUTEX_WAIT (shared) ended with status %#x", status);

	/* The word differs: EAGAIN, private or shared, as anywhere. */
	*(volatile uint32_t *)w = 1;
	EXPECT_EQ(-1, sys_futex(w, FUTEX_WAIT_PRIVATE, 0, &ts));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, sys_futex(w, FUTEX_WAIT, 0, &ts));
	EXPECT_EQ(EAGAIN, errno);
	/* Nobody waits: a shared wake wakes nobody, and does not fail. */
	EXPECT_EQ(0, sys_futex(w, FUTEX_WAKE, 1, NULL));
	EXPECT_EQ(1, *(volatile uint32_t *)w);
}

/* A process-shared mutex and the counter it guards, in one region page. */
struct pshared {
	pthread_mutex_t lock;
	uint64_t count;		/* incremented under @lock, not atomically */
	uint64_t holders;	/* in the critical section: 0 or 1 */
	uint64_t overlaps;	/* times a holder found another in it */
};

#define PSHARED_ITERS	3000

static void *pshared_worker(void *arg)
{
	struct pshared *ps = arg;
	int i;

	for (i = 0; i < PSHARED_ITERS; i++) {
		if (pthread_mutex_lock(&ps->lock))
			return (void *)1;
		if (ps->holders++)
			ps->overlaps++;
		ps->count++;
		if (i % 64 == 0)
			sched_yield();	/* hold it a while: contention */
		ps->holders--;
		pthread_mutex_unlock(&ps->lock);
	}
	return NULL;
}

/* Two threads of this process on @ps: 0 if both finished. */
static int pshared_run(struct pshared *ps)
{
	pthread_t th[2];
	void *rc[2] = { (void *)1, (void *)1 };
	int i;

	for (i = 0; i < 2; i++)
		if (pthread_create(&th[i], NULL, pshared_worker, ps))
			return -1;
	for (i = 0; i < 2; i++)
		pthread_join(th[i], &rc[i]);
	return rc[0] || rc[1] ? -1 : 0;
}

/*
 * A PTHREAD_PROCESS_SHARED mutex in the region, between two processes of
 * the node (two threads each): contended, its waiters sleep in shared
 * FUTEX_WAITs, which must work and must wake. The counter it guards ends
 * exact, and no two holders ever met.
 */
TEST_F(region, process_shared_mutex)
{
	struct pshared *ps = (struct pshared *)page_addr(PG_PSHARED);
	pthread_mutexattr_t attr;
	int status = -1;
	pid_t pid;

	memset(ps, 0, sizeof(*ps));
	ASSERT_EQ(0, pthread_mutexattr_init(&attr));
	ASSERT_EQ(0, pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED));
	ASSERT_EQ(0, pthread_mutex_init(&ps->lock, &attr));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(pshared_run(ps) ? 1 : 0);
	EXPECT_EQ(0, pshared_run(ps));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("the child's threads ended with status %#x", status);
	EXPECT_EQ(4 * PSHARED_ITERS, ps->count);
	EXPECT_EQ(0, ps->overlaps);
	EXPECT_EQ(0, ps->holders);
	pthread_mutex_destroy(&ps->lock);
}

TEST_F(region, stats_count_faults_and_frames)
{
	struct tinydsm_stats before, after;
	int i;

	ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_STATS, &before));
	for (i = 0; i < 8; i++)
		tu_read_byte(page_addr(PG_STATS + i));
	for (i = 0; i < 4; i++)
		tu_write_byte(page_addr(PG_STATS + i), 1);
	ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_STATS, &after));
	EXPECT_EQ(8, after.read_faults - before.read_faults);
	EXPECT_EQ(4, after.write_faults - before.write_faults);
	EXPECT_EQ(8, after.frames - before.frames);
	EXPECT_EQ(8, after.frames_allocated - before.frames_allocated);
}

/* The pages of [@addr, @addr + @n pages) that have a frame here. */
static unsigned long present_pages(int fd, uint64_t addr, unsigned long n)
{
	struct tinydsm_page_info pi;
	unsigned long i, count = 0;

	for (i = 0; i < n; i++)
		if (!page_info(fd, (void *)(uintptr_t)(addr + i * page_size), &pi) &&
		    (pi.flags & TINYDSM_PAGE_F_PRESENT))
			count++;
	return count;
}

/*
 * ALLOC reserves address space only: no frame until a page is touched,
 * then one; FREE takes back the frames of the run (those of its pages that
 * other tests touched before included).
 */
TEST_F(region, alloc_backs_nothing_until_touched)
{
	enum { RUN = 64 };
	struct tinydsm_alloc a = { .npages = RUN };
	struct tinydsm_stats before, st;
	struct tinydsm_page_info pi;
	unsigned long i, backed;
	uint64_t addr;

	if (self->info.home_nodes && self->info.node_id > self->info.home_nodes)
		SKIP(return, "node %u homes no slice", self->info.node_id);
	ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_STATS, &before));
	ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_ALLOC, &a)) TH_LOG("%s", strerror(errno));
	addr = a.addr;
	ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_STATS, &st));
	EXPECT_EQ(before.frames, st.frames);
	EXPECT_EQ(before.frames_allocated, st.frames_allocated);

	/* An untouched page of the run (earlier tests may have used some). */
	backed = present_pages(self->fd, addr, RUN);
	for (i = 0; i < RUN; i++) {
		ASSERT_EQ(0, page_info(self->fd, (void *)(uintptr_t)(addr + i * page_size),
				       &pi));
		if (!(pi.flags & TINYDSM_PAGE_F_PRESENT))
			break;
	}
	ASSERT_LT(i, RUN) TH_LOG("every page of the fresh run has a frame");
	EXPECT_EQ(0, pi.owner) TH_LOG("an untouched page of the run has an owner");
	tu_write_byte((uint8_t *)(uintptr_t)(addr + i * page_size), 7);
	ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_STATS, &st));
	EXPECT_EQ(before.frames + 1, st.frames);
	EXPECT_EQ(before.frames_allocated + 1, st.frames_allocated);
	ASSERT_EQ(0, page_info(self->fd, (void *)(uintptr_t)(addr + i * page_size), &pi));
	EXPECT_EQ(self->info.node_id, pi.owner);
	EXPECT_TRUE(pi.flags & TINYDSM_PAGE_F_PRESENT);

	ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_FREE, &a)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_STATS, &st));
	EXPECT_EQ(before.frames - backed, st.frames)
		TH_LOG("%lu pages of the run were backed before the touch", backed);
	EXPECT_EQ(0, present_pages(self->fd, addr, RUN));
}

/* More than a slice is no room (ENOSPC); a malformed ALLOC stays EINVAL. */
TEST_F(region, alloc_more_than_a_slice_enospc)
{
	struct tinydsm_alloc a = { .npages = (uint32_t)self->info.slice_pages + 1 };

	if (self->info.home_nodes && self->info.node_id > self->info.home_nodes)
		SKIP(return, "node %u homes no slice", self->info.node_id);
	EXPECT_EQ(-1, ioctl(self->fd, TINYDSM_IOC_ALLOC, &a));
	EXPECT_EQ(ENOSPC, errno) TH_LOG("ALLOC of slice + 1 pages: %s", strerror(errno));
	a.npages = UINT32_MAX;
	EXPECT_EQ(-1, ioctl(self->fd, TINYDSM_IOC_ALLOC, &a));
	EXPECT_EQ(ENOSPC, errno) TH_LOG("ALLOC of 2^32 - 1 pages: %s", strerror(errno));
	a.npages = 0;
	EXPECT_EQ(-1, ioctl(self->fd, TINYDSM_IOC_ALLOC, &a));
	EXPECT_EQ(EINVAL, errno) TH_LOG("ALLOC of 0 pages: %s", strerror(errno));
	a.npages = 1;
	a.reserved[0] = 1;
	EXPECT_EQ(-1, ioctl(self->fd, TINYDSM_IOC_ALLOC, &a));
	EXPECT_EQ(EINVAL, errno) TH_LOG("ALLOC with reserved set: %s", strerror(errno));
}

/* mmap errors. Each names the rule it checks. */
TEST_F(region, mmap_private_rejected)
{
	void *p = mmap(NULL, page_size, PROT_READ, MAP_PRIVATE, self->fd, 0);

	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(region, mmap_outside_region_rejected)
{
	uint64_t size = self->info.size;
	void *p;

	ASSERT_EQ(0, munmap(self->map, size));
	self->map = MAP_FAILED;

	/* offset at the end of the region */
	p = mmap(NULL, page_size, PROT_READ, MAP_SHARED, self->fd, size);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* the last page plus one more */
	p = mmap(NULL, 2 * page_size, PROT_READ, MAP_SHARED, self->fd,
		 size - page_size);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* the whole region plus one page */
	p = mmap(NULL, size + page_size, PROT_READ, MAP_SHARED, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* an unaligned offset (the core refuses it) */
	p = mmap(NULL, page_size, PROT_READ, MAP_SHARED, self->fd, 100);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* the last page alone is fine */
	p = mmap(NULL, page_size, PROT_READ, MAP_SHARED, self->fd,
		 size - page_size);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(page_addr(size / page_size - 1), p);
	EXPECT_EQ(0, munmap(p, page_size));
}

TEST_F(region, mmap_fixed_elsewhere_rejected)
{
	uint8_t *want = page_addr(PG_FIXED);
	void *p;

	ASSERT_EQ(0, munmap(want, 2 * page_size));
	/* offset 0 belongs at the base, not at page PG_FIXED */
	p = mmap(want, page_size, PROT_READ, MAP_SHARED | MAP_FIXED, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* MAP_FIXED at the right address is fine */
	p = mmap(want, page_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 self->fd, PG_FIXED * page_size);
	EXPECT_EQ(want, p);
}

/* Without MAP_FIXED the device never replaces what is already there. */
TEST_F(region, mmap_over_existing_mapping_rejected)
{
	uint8_t *want = page_addr(PG_FIXED + 1);
	uint8_t *anon;
	void *p;

	ASSERT_EQ(0, munmap(want, page_size));
	anon = mmap(want, page_size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ASSERT_EQ(want, anon);
	anon[0] = 42;

	p = mmap(NULL, page_size, PROT_READ, MAP_SHARED, self->fd,
		 (PG_FIXED + 1) * page_size);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EEXIST, errno);
	EXPECT_EQ(42, anon[0]);
	/* nor does MAP_FIXED_NOREPLACE */
	p = mmap(want, page_size, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE,
		 self->fd, (PG_FIXED + 1) * page_size);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EEXIST, errno);
	EXPECT_EQ(42, anon[0]);
}

TEST_F(region, mmap_write_needs_writable_fd)
{
	int ro = open(DEV_PATH, O_RDONLY | O_CLOEXEC);
	void *p;

	ASSERT_GE(ro, 0);
	ASSERT_EQ(0, munmap(page_addr(PG_FIXED + 2), page_size));
	p = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, ro,
		 (PG_FIXED + 2) * page_size);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EACCES, errno);
	close(ro);
}

/* The address is the page's name: the mapping cannot move or grow. */
TEST_F(region, mremap_refused)
{
	uint8_t *p = page_addr(PG_MREMAP);
	void *q, *elsewhere;

	tu_write_byte(p, 9);
	elsewhere = mmap(NULL, page_size, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, elsewhere);

	q = mremap(p, page_size, page_size, MREMAP_MAYMOVE | MREMAP_FIXED,
		   elsewhere);
	EXPECT_EQ(MAP_FAILED, q);
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(9, tu_read_byte(p));

	ASSERT_EQ(0, munmap(p + page_size, page_size));
	q = mremap(p, page_size, 2 * page_size, 0);
	EXPECT_EQ(MAP_FAILED, q);
	EXPECT_EQ(EFAULT, errno);	/* VM_DONTEXPAND */
	EXPECT_EQ(9, tu_read_byte(p));
	munmap(elsewhere, page_size);
}

/* ioctl errors */
TEST_F(region, ioctl_unknown_command)
{
	EXPECT_EQ(-1, ioctl(self->fd, _IO(TINYDSM_IOC_MAGIC, 0x7f)));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(self->fd, 0x1234, 0));
	EXPECT_EQ(ENOTTY, errno);
	/* a known number with another size is another command */
	EXPECT_EQ(-1, ioctl(self->fd, _IOR(TINYDSM_IOC_MAGIC, 0x01, __u64), 0));
	EXPECT_EQ(ENOTTY, errno);
}

/*
 * TINYDSM_IOC_STATS number @cmd into *@st (zeroed past @size first):
 * 0 if it wrote its @size bytes and nothing past them, -1 with errno from
 * the ioctl, or the index of the first byte it wrote too many.
 */
static int stats_by_number(int fd, unsigned long cmd, size_t size,
			   struct tinydsm_stats *st)
{
	unsigned char buf[sizeof(*st) + 16];
	size_t i;

	memset(buf, 0xa5, sizeof(buf));
	if (ioctl(fd, cmd, buf))
		return -1;
	for (i = size; i < sizeof(buf); i++)
		if (buf[i] != 0xa5)
			return (int)i;
	memset(st, 0, sizeof(*st));
	memcpy(st, buf, size);
	return 0;
}

/*
 * The numbers of the older struct tinydsm_stats (16 counters, then 26,
 * then 28, then 33, then 34) still work and write only their 128, 208,
 * 224, 264 and 272 bytes; the new one writes them all; a size that never
 * was is no command.
 */
TEST_F(region, stats_old_number)
{
	struct tinydsm_stats st, v1, v2, v3, v4, v5;

	ASSERT_EQ(128, TINYDSM_STATS_V1_SIZE);
	ASSERT_EQ(208, TINYDSM_STATS_V2_SIZE);
	ASSERT_EQ(224, TINYDSM_STATS_V3_SIZE);
	ASSERT_EQ(264, TINYDSM_STATS_V4_SIZE);
	ASSERT_EQ(272, TINYDSM_STATS_V5_SIZE);
	ASSERT_NE(TINYDSM_IOC_STATS, TINYDSM_IOC_STATS_V1);
	ASSERT_NE(TINYDSM_IOC_STATS, TINYDSM_IOC_STATS_V2);
	ASSERT_NE(TINYDSM_IOC_STATS, TINYDSM_IOC_STATS_V3);
	ASSERT_NE(TINYDSM_IOC_STATS, TINYDSM_IOC_STATS_V4);
	ASSERT_NE(TINYDSM_IOC_STATS, TINYDSM_IOC_STATS_V5);
	ASSERT_EQ(0, stats_by_number(self->fd, TINYDSM_IOC_STATS_V1,
				     TINYDSM_STATS_V1_SIZE, &v1))
		TH_LOG("V1: %s (or a byte past 128 written)", strerror(errno));
	ASSERT_EQ(0, stats_by_number(self->fd, TINYDSM_IOC_STATS_V2,
				     TINYDSM_STATS_V2_SIZE, &v2))
		TH_LOG("V2: %s (or a byte past 208 written)", strerror(errno));
	ASSERT_EQ(0, stats_by_number(self->fd, TINYDSM_IOC_STATS_V3,
				     TINYDSM_STATS_V3_SIZE, &v3))
		TH_LOG("V3: %s (or a byte past 224 written)", strerror(errno));
	ASSERT_EQ(0, stats_by_number(self->fd, TINYDSM_IOC_STATS_V4,
				     TINYDSM_STATS_V4_SIZE, &v4))
		TH_LOG("V4: %s (or a byte past 264 written)", strerror(errno));
	ASSERT_EQ(0, stats_by_number(self->fd, TINYDSM_IOC_STATS_V5,
				     TINYDSM_STATS_V5_SIZE, &v5))
		TH_LOG("V5: %s (or a byte past 272 written)", strerror(errno));
	ASSERT_EQ(0, stats_by_number(self->fd, TINYDSM_IOC_STATS, sizeof(st), &st))
		TH_LOG("%s (or a byte past the struct written)", strerror(errno));
	/* The same counters, in the same places: they only grow. */
	EXPECT_LE(v1.read_faults, v2.read_faults);
	EXPECT_LE(v1.frames_allocated, v2.frames_allocated);
	EXPECT_LE(v1.word_served, v2.word_served);
	EXPECT_LE(v2.read_faults, st.read_faults);
	EXPECT_LE(v2.reclaim_runs, st.reclaim_runs);
	EXPECT_EQ(v2.cache_budget_pages, st.cache_budget_pages);
	EXPECT_LE(v2.reclaim_runs, v3.reclaim_runs);
	EXPECT_LE(v3.reclaim_runs, st.reclaim_runs);
	EXPECT_EQ(v3.cache_budget_pages, st.cache_budget_pages);
	EXPECT_LE(v3.reclaim_runs, v4.reclaim_runs);
	EXPECT_LE(v4.shrinker_freed, st.shrinker_freed);
	EXPECT_EQ(v4.home_budget_pages, st.home_budget_pages);
	EXPECT_LE(v4.shrinker_freed, v5.shrinker_freed);
	EXPECT_LE(v5.clock_young, st.clock_young);
	EXPECT_EQ(v5.home_budget_pages, st.home_budget_pages);
	EXPECT_LE(st.home_frames, st.frames);
	EXPECT_GE(st.frames_allocated, st.frames);
	EXPECT_EQ(0u, st.evicted_written);
	EXPECT_EQ(0u, st.evict_released);
	EXPECT_EQ(0u, st.evict_failed);
	/* A size that never was: not this ioctl. */
	EXPECT_EQ(-1, ioctl(self->fd, _IOC(_IOC_READ, TINYDSM_IOC_MAGIC, 0x03, 64), &st));
	EXPECT_EQ(ENOTTY, errno);
}

TEST_F(region, ioctl_bad_pointers)
{
	static const unsigned long cmds[] = {
		TINYDSM_IOC_REGION_INFO, TINYDSM_IOC_PAGE_INFO, TINYDSM_IOC_STATS,
		TINYDSM_IOC_STATS_V1, TINYDSM_IOC_STATS_V2, TINYDSM_IOC_STATS_V3,
		TINYDSM_IOC_STATS_V4, TINYDSM_IOC_STATS_V5,
	};
	unsigned int i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		EXPECT_EQ(-1, ioctl(self->fd, cmds[i], NULL));
		EXPECT_EQ(EFAULT, errno);
		EXPECT_EQ(-1, ioctl(self->fd, cmds[i], (void *)1));
		EXPECT_EQ(EFAULT, errno);
		/* kernel addresses are not user memory */
		EXPECT_EQ(-1, ioctl(self->fd, cmds[i], (void *)0xffffffff81000000ul));
		EXPECT_EQ(EFAULT, errno);
	}
}

TEST_F(region, page_info_out_of_range)
{
	struct tinydsm_page_info pi;

	EXPECT_EQ(-1, page_info(self->fd, (void *)0x1000, &pi));
	EXPECT_EQ(ERANGE, errno);
	EXPECT_EQ(-1, page_info(self->fd, self->map - 1, &pi));
	EXPECT_EQ(ERANGE, errno);
	EXPECT_EQ(-1, page_info(self->fd, self->map + self->info.size, &pi));
	EXPECT_EQ(ERANGE, errno);
	memset(&pi, 0, sizeof(pi));
	pi.addr = ~0ull;
	EXPECT_EQ(-1, ioctl(self->fd, TINYDSM_IOC_PAGE_INFO, &pi));
	EXPECT_EQ(ERANGE, errno);
	/* first and last byte are inside */
	EXPECT_EQ(0, page_info(self->fd, self->map, &pi));
	EXPECT_EQ(0, page_info(self->fd, self->map + self->info.size - 1, &pi));
}

TEST_F(region, page_info_reserved_must_be_zero)
{
	struct tinydsm_page_info pi = {
		.addr = TINYDSM_REGION_BASE,
		.reserved = 1,
	};

	EXPECT_EQ(-1, ioctl(self->fd, TINYDSM_IOC_PAGE_INFO, &pi));
	EXPECT_EQ(EINVAL, errno);
}

/*
 * fail_page_alloc: the next page allocation of a task with make-it-fail
 * set fails, once, whatever its flags. NULL, or the knob that could not
 * be set.
 */
static const char *arm_page_alloc_failure(void)
{
	static const struct {
		const char *name, *val;
	} knobs[] = {
		{ "task-filter", "Y" }, { "probability", "100" },
		{ "interval", "1" }, { "space", "0" }, { "verbose", "0" },
		{ "min-order", "0" }, { "ignore-gfp-wait", "N" },
		{ "ignore-gfp-highmem", "N" }, { "times", "1" },
	};
	unsigned int i;

	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++)
		if (knob_write(FAIL_PAGE_ALLOC, knobs[i].name, knobs[i].val))
			return knobs[i].name;
	return NULL;
}

/*
 * A fault whose frame cannot be allocated is out of memory, not a page
 * lost: .fault answers VM_FAULT_OOM, which the core retries, instead of
 * SIGBUS. fail_page_alloc (fault injection), limited to the child that
 * reads and to one failure, makes the home's zero-page allocation fail
 * once; the retry finds memory and the read sees zeros. Needs a kernel
 * with CONFIG_FAIL_PAGE_ALLOC and debugfs.
 */
TEST_F(region, fault_enomem_is_retried_not_sigbus)
{
	volatile uint8_t *p = page_addr(PG_NOMEM + 1);
	static char log[1 << 20];
	struct tinydsm_page_info pi;
	const char *bad;
	char want[80];
	int status, n;
	long left;
	pid_t pid;

	if (access(FAIL_PAGE_ALLOC, F_OK))
		SKIP(return, "no %s: this kernel has no fault injection "
		     "(CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_DEBUG_FS)",
		     FAIL_PAGE_ALLOC);
	ASSERT_EQ(0, page_info(self->fd, (void *)p, &pi));
	ASSERT_EQ(0, pi.flags & TINYDSM_PAGE_F_PRESENT)
		TH_LOG("the page was touched before this test");
	bad = arm_page_alloc_failure();
	ASSERT_EQ(NULL, bad) TH_LOG("%s/%s: %s", FAIL_PAGE_ALLOC, bad, strerror(errno));

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/*
		 * The neighbour first: the child's page tables for the region
		 * (fork does not copy them for a shared mapping) exist before
		 * the failure is armed. Then only this task's allocations fail.
		 */
		if (tu_read_byte(page_addr(PG_NOMEM)) ||
		    knob_write("/proc/self", "make-it-fail", "1"))
			_exit(2);
		_exit(tu_read_byte(p) == 0 ? 0 : 3);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	left = knob_long(FAIL_PAGE_ALLOC, "times", 0);
	knob_write(FAIL_PAGE_ALLOC, "times", "0");
	knob_write(FAIL_PAGE_ALLOC, "probability", "0");
	EXPECT_FALSE(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS)
		TH_LOG("the read got SIGBUS: an allocation failure in the fault "
		       "ended in VM_FAULT_SIGBUS, not VM_FAULT_OOM");
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("child status %#x", status);
	/* The failure was spent, and on the module's allocation for this page. */
	EXPECT_EQ(0, left) TH_LOG("the armed failure was not spent");
	snprintf(want, sizeof(want), "fault at %#llx failed: -12",
		 (unsigned long long)(uintptr_t)p);
	n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, log, sizeof(log) - 1);
	ASSERT_LT(0, n) TH_LOG("klogctl: %s", strerror(errno));
	log[n] = '\0';
	EXPECT_NE(NULL, strstr(log, want)) TH_LOG("no '%s' in the kernel log", want);
	ASSERT_EQ(0, page_info(self->fd, (void *)p, &pi));
	EXPECT_NE(0, pi.flags & TINYDSM_PAGE_F_PRESENT);
}

/* ---- the home budget (kmod/PROTOCOL.md, "Home budget") ---------------- */

#define HB_MB		16	/* the budget of these tests */

/* This node's stats, or the test fails. */
#define STATS(fd, st) ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_STATS, st))

/*
 * Set the budget to @mb MiB (0: unlimited) with REGION_SET, as the
 * operator would; the stats show it in pages.
 */
static int hb_set_mb(unsigned int mb)
{
	return hb_set((uint64_t)mb << 20, NULL, 0);
}

/* Skip unless this node homes a slice and the test may set the budget. */
#define HB_NEEDS(self) do {						\
	if ((self)->info.home_nodes &&					\
	    (self)->info.node_id > (self)->info.home_nodes)		\
		SKIP(return, "node %u homes no slice",			\
		     (self)->info.node_id);				\
	if (getuid() != 0)						\
		SKIP(return, "needs root (CAP_NET_ADMIN) to set the budget"); \
} while (0)

/*
 * Budget 16 MiB: an ALLOC of 32 MiB gets ENOSPC, charges nothing, counts
 * its pages refused and sends TINYDSM_EV_BUDGET (alloc, no address yet);
 * an ALLOC of 1 MiB fits and charges its 256 pages before any is touched;
 * its FREE gives them back, and the charges of the run's pages earlier
 * tests touched. Unlimited again at the end.
 */
TEST_F(region, home_budget_alloc_enospc_free_uncharges)
{
	const unsigned long budget = (HB_MB << 20) / page_size;
	struct tinydsm_alloc a = { .npages = (32u << 20) / page_size };
	struct tinydsm_stats st0, st;
	unsigned long i, touched = 0;
	struct hb_listener l;

	HB_NEEDS(self);
	if (self->info.slice_pages < a.npages)
		SKIP(return, "a slice of %llu pages: 32 MiB would not fit anyway",
		     (unsigned long long)self->info.slice_pages);
	ASSERT_EQ(0, hb_listen(&l, TINYDSM_BUDGET_F_ALLOC));
	ASSERT_EQ(0, hb_set_mb(HB_MB));
	STATS(self->fd, &st0);
	EXPECT_EQ(budget, st0.home_budget_pages);
	if (st0.home_charged + (1u << 20) / page_size > budget) {
		hb_set_mb(0);
		hb_unlisten(&l);
		SKIP(return, "%llu pages charged already: no MiB left of %u",
		     (unsigned long long)st0.home_charged, HB_MB);
	}
	EXPECT_LE(st0.home_frames, st0.home_charged);

	EXPECT_EQ(-1, ioctl(self->fd, TINYDSM_IOC_ALLOC, &a));
	EXPECT_EQ(ENOSPC, errno) TH_LOG("ALLOC of 32 MiB: %s", strerror(errno));
	STATS(self->fd, &st);
	EXPECT_EQ(st0.home_charged, st.home_charged);
	EXPECT_EQ(st0.home_refused + a.npages, st.home_refused);
	EXPECT_TRUE(hb_heard(&l, 2000)) TH_LOG("no TINYDSM_EV_BUDGET for the ALLOC");
	EXPECT_EQ(a.npages, l.ev.npages);
	EXPECT_EQ(-ENOSPC, l.ev.err);
	EXPECT_EQ(0u, l.ev.addr);

	a.npages = (1u << 20) / page_size;
	ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_ALLOC, &a)) TH_LOG("%s", strerror(errno));
	STATS(self->fd, &st);
	EXPECT_EQ(st0.home_charged + a.npages, st.home_charged);
	EXPECT_EQ(st0.home_frames, st.home_frames) TH_LOG("ALLOC backed pages");
	/*
	 * Pages of the run that earlier tests touched outside any run are
	 * charged by themselves as well (H3), until the FREE resets them (H5).
	 */
	for (i = 0; i < a.npages; i++) {
		struct tinydsm_page_info pi = { .addr = a.addr + i * page_size };

		ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_PAGE_INFO, &pi));
		touched += !!(pi.flags & TINYDSM_PAGE_F_PRESENT);
	}
	ASSERT_LE(touched, st0.home_charged);
	/* Touching the run's pages charges nothing more (they are the run's). */
	tu_write_byte((uint8_t *)(uintptr_t)a.addr, 1);
	tu_write_byte((uint8_t *)(uintptr_t)(a.addr + (a.npages - 1) * page_size), 2);
	STATS(self->fd, &st);
	EXPECT_EQ(st0.home_charged + a.npages, st.home_charged);
	ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_FREE, &a)) TH_LOG("%s", strerror(errno));
	STATS(self->fd, &st);
	EXPECT_EQ(st0.home_charged - touched, st.home_charged)
		TH_LOG("FREE kept a charge (%lu pages touched before the run)",
		       touched);
	EXPECT_LE(st.home_frames, st.home_charged);

	EXPECT_EQ(0, hb_set_mb(0));
	STATS(self->fd, &st);
	EXPECT_EQ(0u, st.home_budget_pages);
	hb_unlisten(&l);
}

/*
 * The budget full (a run fills what earlier tests left of it): touching
 * a page of the run works (its run is charged), a first touch of a page
 * outside any run gets SIGBUS, not a retried VM_FAULT_OOM, with the event
 * (touch, its address, 1 page, -ENOSPC); the page stays untouched.
 */
TEST_F(region, home_budget_touch_past_it_sigbus)
{
	const unsigned long budget = (HB_MB << 20) / page_size;
	const unsigned long last = (self->info.node_id - 1) * self->info.slice_pages +
				   self->info.slice_pages - 1;
	struct tinydsm_alloc a = { 0 };
	volatile uint8_t *p = page_addr(last);
	struct tinydsm_page_info pi;
	struct tinydsm_stats st0, st;
	struct hb_listener l;
	int status;
	pid_t pid;

	HB_NEEDS(self);
	/* The slice's last page: outside the first-fit runs, never touched. */
	ASSERT_EQ(0, page_info(self->fd, (void *)p, &pi));
	if (pi.owner || (pi.flags & TINYDSM_PAGE_F_PRESENT))
		SKIP(return, "page %#llx was touched before (an earlier run?)",
		     (unsigned long long)(uintptr_t)p);
	ASSERT_EQ(0, hb_listen(&l, TINYDSM_BUDGET_F_TOUCH));
	ASSERT_EQ(0, hb_set_mb(HB_MB));
	STATS(self->fd, &st0);
	if (st0.home_charged >= budget) {
		hb_set_mb(0);
		hb_unlisten(&l);
		SKIP(return, "%llu pages charged already", (unsigned long long)st0.home_charged);
	}
	a.npages = budget - st0.home_charged;
	ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_ALLOC, &a)) TH_LOG("%s", strerror(errno));
	ASSERT_GT((uint64_t)(uintptr_t)p, a.addr + (a.npages - 1) * page_size)
		TH_LOG("the run reached the slice's last page");
	STATS(self->fd, &st);
	ASSERT_EQ(budget, st.home_charged);
	/* Full, and yet a page of the run is there on first touch. */
	tu_write_byte((uint8_t *)(uintptr_t)a.addr, 3);
	EXPECT_EQ(3, tu_read_byte((uint8_t *)(uintptr_t)a.addr));

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		prctl(PR_SET_DUMPABLE, 0);	/* no core for the expected SIGBUS */
		_exit(tu_read_byte(p) == 0 ? 0 : 3);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS)
		TH_LOG("the touch past the budget: status %#x, not SIGBUS", status);
	EXPECT_TRUE(hb_heard(&l, 2000)) TH_LOG("no TINYDSM_EV_BUDGET for the touch");
	EXPECT_EQ((uint64_t)(uintptr_t)p, l.ev.addr);
	EXPECT_EQ(1u, l.ev.npages);
	EXPECT_EQ(-ENOSPC, l.ev.err);
	STATS(self->fd, &st);
	EXPECT_EQ(budget, st.home_charged);
	EXPECT_LE(st0.home_refused + 1, st.home_refused);
	ASSERT_EQ(0, page_info(self->fd, (void *)p, &pi));
	EXPECT_EQ(0, pi.owner);
	EXPECT_EQ(0, pi.flags & TINYDSM_PAGE_F_PRESENT);

	ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_FREE, &a)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(0, hb_set_mb(0));
	hb_unlisten(&l);
}

/*
 * Setting the budget needs CAP_NET_ADMIN: nobody gets EPERM and the
 * budget in force stays; an admin's budget under 1 MiB but 0 is EINVAL.
 */
TEST_F(region, home_budget_needs_net_admin)
{
	struct tinydsm_stats st;
	char msg[256];
	int status;
	pid_t pid;

	HB_NEEDS(self);
	ASSERT_EQ(0, hb_set_mb(HB_MB));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(2);
		_exit(hb_set(1ull << 30, NULL, 0) == -EPERM ? 0 : 3);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("nobody's REGION_SET: status %#x (3: not EPERM)", status);
	EXPECT_EQ(-EINVAL, hb_set(4096, msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "at least 1 MiB")) TH_LOG("extack: %s", msg);
	STATS(self->fd, &st);
	EXPECT_EQ((HB_MB << 20) / page_size, st.home_budget_pages)
		TH_LOG("a refused budget changed the one in force");
	EXPECT_EQ(0, hb_set_mb(0));
}

/*
 * An administrator's FREE of the middle of a run (root: the retry with
 * TDSM_ALLOC_F_ADMIN): its 4 pages give their charge back, what is left
 * either side stays allocated without a record (an orphan, still charged
 * by the run, so touching it charges nothing more), the run can no longer
 * be freed as a whole (EINVAL: not all allocated), and freeing both
 * leftovers gives back the rest: the charge is what it was before the
 * ALLOC.
 */
TEST_F(region, admin_free_of_part_leaves_orphans)
{
	struct tinydsm_alloc a = { .npages = 8 }, part = { .npages = 4 };
	struct tinydsm_page_info pi;
	struct tinydsm_stats st0, st;
	unsigned int i;

	if (self->info.home_nodes && self->info.node_id > self->info.home_nodes)
		SKIP(return, "node %u homes no slice", self->info.node_id);
	if (getuid() != 0)
		SKIP(return, "needs root (CAP_SYS_ADMIN) to free part of a run");
	STATS(self->fd, &st0);
	ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_ALLOC, &a)) TH_LOG("%s", strerror(errno));
	/* A page touched before the run is charged by itself too (H3, H5). */
	for (i = 0; i < a.npages; i++) {
		ASSERT_EQ(0, page_info(self->fd, (void *)(uintptr_t)(a.addr + i * page_size), &pi));
		if (pi.flags & TINYDSM_PAGE_F_PRESENT) {
			ioctl(self->fd, TINYDSM_IOC_FREE, &a);
			SKIP(return, "page %u of the run was touched before it", i);
		}
	}
	STATS(self->fd, &st);
	EXPECT_EQ(st0.home_charged + 8, st.home_charged);

	part.addr = a.addr + 2 * page_size;	/* pages 2..5 of the run */
	ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_FREE, &part)) TH_LOG("%s", strerror(errno));
	STATS(self->fd, &st);
	EXPECT_EQ(st0.home_charged + 4, st.home_charged);
	/* Pages 1 and 6, the orphans' last and first: covered, no charge. */
	tu_write_byte((uint8_t *)(uintptr_t)(a.addr + page_size), 1);
	tu_write_byte((uint8_t *)(uintptr_t)(a.addr + 6 * page_size), 6);
	STATS(self->fd, &st);
	EXPECT_EQ(st0.home_charged + 4, st.home_charged) TH_LOG("an orphan's touch charged");

	EXPECT_EQ(-1, ioctl(self->fd, TINYDSM_IOC_FREE, &a));
	EXPECT_EQ(EINVAL, errno) TH_LOG("the whole run, half freed: %s", strerror(errno));
	part.addr = a.addr;
	part.npages = 2;
	EXPECT_EQ(0, ioctl(self->fd, TINYDSM_IOC_FREE, &part)) TH_LOG("%s", strerror(errno));
	part.addr = a.addr + 6 * page_size;
	EXPECT_EQ(0, ioctl(self->fd, TINYDSM_IOC_FREE, &part)) TH_LOG("%s", strerror(errno));
	STATS(self->fd, &st);
	EXPECT_EQ(st0.home_charged, st.home_charged);
}

/* The fault-injection knobs (debugfs, kmod/inject.c). */
#define INJECT_DIR "/sys/kernel/debug/tinydsm"

/*
 * Each fault-injection knob holds a u32: a value that does not fit is
 * refused (EINVAL) and leaves the knob as it was (0: every test puts its
 * knob back), one that fits reads back, and 0 turns it off again. (Each
 * write also switches the static key that gates the request path's
 * checks; coherence's pair_home_no_stale_read_after_grant and
 * trio_owner_no_stale_read_after_drop use the knobs' delays.) One node,
 * no peer: a delay set for a moment delays nothing. Skips without the
 * knobs (no debugfs) or root.
 */
TEST(inject_knobs_take_a_u32)
{
	static const char *const knobs[] = {
		"evict_delay_ms", "fetch_reply_delay_ms", "home_reply_delay_ms",
	};
	char path[256];
	const char *k;
	unsigned int i;

	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		k = knobs[i];
		snprintf(path, sizeof(path), "%s/%s", INJECT_DIR, k);
		if (access(path, W_OK))
			SKIP(return, "no %s (no debugfs, or not root)", path);
		EXPECT_EQ(0, knob_long(INJECT_DIR, k, 10)) TH_LOG("%s: not 0 to begin with", k);
		errno = 0;
		EXPECT_EQ(-1, knob_write(INJECT_DIR, k, "4294967296\n"))
			TH_LOG("%s: 2^32 taken", k);
		EXPECT_EQ(EINVAL, errno) TH_LOG("%s: 2^32: %s", k, strerror(errno));
		EXPECT_EQ(0, knob_long(INJECT_DIR, k, 10))
			TH_LOG("%s: changed by a refused write", k);
		ASSERT_EQ(0, knob_write(INJECT_DIR, k, "5\n"))
			TH_LOG("%s: 5: %s", k, strerror(errno));
		EXPECT_EQ(5, knob_long(INJECT_DIR, k, 10));
		ASSERT_EQ(0, knob_write(INJECT_DIR, k, "0\n"))
			TH_LOG("%s: 0: %s", k, strerror(errno));
		EXPECT_EQ(0, knob_long(INJECT_DIR, k, 10));
	}
}

TEST_HARNESS_MAIN
