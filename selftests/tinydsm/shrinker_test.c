// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm's shrinker ("tinydsm-cache") on 2 nodes: the kernel's memory
 * pressure frees node1's read copies of pages homed on node2, with no
 * cache budget set.
 *
 *   pressure_frees_copies  node2 homes and fills a run (a sixteenth of
 *                          node1's memory, at most a quarter of a home
 *                          slice: 16 MiB in the lab's guests; on a debug
 *                          kernel a sixteenth of that); node1 reads
 *                          every word of it through /proc/self/mem (which
 *                          faults the pages into its mapping, as any GUP
 *                          does), so that it holds a read copy of every
 *                          page, then drops its PTEs (MADV_DONTNEED): the
 *                          copies stay, mapped by no PTE. Then an
 *                          anonymous hog (a child) touches memory until
 *                          MemAvailable stays low, bounded by MemAvailable
 *                          before it plus the run (so the kernel must
 *                          reclaim hard, down to low priorities, where the
 *                          shrinker gets most of what it asks for): it
 *                          must exit, not be OOM-killed. Then the
 *                          kernel's reclaim of slab objects (drop_caches
 *                          2, which calls every shrinker as a hard-pressed
 *                          kernel does; the hog alone may stop short of
 *                          the shrinkers, above the watermarks):
 *                          shrinker_freed grew and cached_pages fell. node2
 *                          then sees node1 out of the copyset of some of
 *                          the run's pages (the notices, rule E8). node1
 *                          reads every word again through its mapping;
 *                          node2 writes every page again and node1 must
 *                          read the new words: no stale copy survived.
 *
 * What makes a copy freeable by the shrinker (kmod/PROTOCOL.md "Eviction:
 * the bounded cache", E7): a read copy (SHARED, not owned here) of a page
 * homed elsewhere that no PTE maps (TDSM_PG_MAPPED clear, or the frame's
 * map count 0: here, after MADV_DONTNEED, the shrinker finds it so) and
 * that no one else references.
 *
 * Every node of a 2-node lab run executes this binary (tdsm_cluster.h);
 * the test skips on other node counts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tdsm_cluster.h"

#define PAIR		2
#define HOME		2	/* homes, fills and writes the run */
#define READER		1	/* reads it, no budget; runs the hog */
/* The run: MemTotal / RUN_DIV, at most a slice / SLICE_DIV. */
#define RUN_DIV		16
#define SLICE_DIV	4
/*
 * A debug kernel: a sixteenth of that, 1 MiB (256 pages) in the lab's
 * guests. There a remote page costs 13 to 25 ms each time the run is
 * gone over (read, read again, written by node2, read after that), and
 * the hog, not the run, is what presses: at 2 MiB the hog alone made the
 * shrinker free every copy, and 256 copies are still two of the kernel's
 * scan batches (SHRINK_BATCH, 128). It was an eighth (2 MiB): about 15 s
 * more there, for the same paths and checks.
 */
#define DEBUG_DIV	16
/* The hog stops below this much MemAvailable (after waiting for it). */
#define HOG_FLOOR_MB	8
#define HOG_STEP	(1ul << 20)
/* How long the hog waits for reclaim to catch up before it gives in. */
#define HOG_WAIT_MS	3000
#define HOG_TIMEOUT_S	300
#define READ_TIMEOUT_S	300
/*
 * How long node1 waits, at most, for its counters to show the shrinker's
 * frees, and node2 for node1's notices (sent by node1's reclaim work,
 * which the shrinker kicks) to take node1 out of some copyset: polled,
 * instead of the fixed second node1 slept after drop_caches (both
 * counters move within drop_caches; the notices within a reclaim run).
 */
#define NOTICE_WAIT_S	10

FIXTURE(shrinker) {
	struct tc_node n;
	struct tc_sync s;
	int ready;
	char setup_err[256];
};

FIXTURE_SETUP(shrinker)
{
	tc_sync_init(&self->s, "shrinker", _metadata->name);
	if (self->s.nodes != PAIR)
		return;
	TC_NODE_OPEN();
}

FIXTURE_TEARDOWN(shrinker)
{
	TC_MARK_FAILED();
	if (self->ready)
		tc_node_close(&self->n);
}

#define START() TC_START(PAIR)
#define BARRIER(step, secs) TC_BARRIER(step, secs)

/* The value of @key (e.g. "MemAvailable:") in /proc/meminfo, in bytes; 0 if none. */
static uint64_t meminfo(const char *key)
{
	char line[128];
	unsigned long long kb = 0;
	size_t klen = strlen(key);
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen)) {
			sscanf(line + klen, "%llu", &kb);
			break;
		}
	fclose(f);
	return (uint64_t)kb << 10;
}

/*
 * Read [addr, addr + len) through /proc/self/mem, a page at a time, and
 * check every word against round @round: the pages with a wrong word, or
 * ~0ul if a read failed.
 */
static unsigned long read_via_mem(struct __test_metadata *_metadata,
				  const struct tc_node *n, uint64_t addr,
				  size_t len, unsigned int round)
{
	const size_t psz = n->psz, words = psz / 8;
	uint64_t *buf = malloc(psz);
	unsigned long bad = 0;
	size_t off, i;
	int fd;

	fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !buf) {
		TH_LOG("/proc/self/mem: %s", strerror(errno));
		free(buf);
		if (fd >= 0)
			close(fd);
		return ~0ul;
	}
	for (off = 0; off < len; off += psz) {
		if (pread(fd, buf, psz, addr + off) != n->psz) {
			TH_LOG("pread of %#llx: %s",
			       (unsigned long long)(addr + off), strerror(errno));
			bad = ~0ul;
			break;
		}
		for (i = 0; i < words; i++)
			if (buf[i] != tc_pat(addr + off + 8 * i, round))
				break;
		if (i < words && !bad++)
			TH_LOG("word at %#llx is %#llx, want %#llx",
			       (unsigned long long)(addr + off + 8 * i),
			       (unsigned long long)buf[i],
			       (unsigned long long)tc_pat(addr + off + 8 * i, round));
	}
	close(fd);
	free(buf);
	return bad;
}

/*
 * The hog, in a child: touch anonymous memory a MiB at a time until
 * @bound bytes or until MemAvailable stays under HOG_FLOOR_MB for
 * HOG_WAIT_MS (reclaim could not keep up). Exits 0 at the bound, 3 at the
 * floor, 4 if it could not map its memory. It volunteers for the OOM
 * killer, so that an OOM kill (the failure) takes it, not the test.
 */
static void __attribute__((noreturn)) hog(uint64_t bound)
{
	const uint64_t floor = (uint64_t)HOG_FLOOR_MB << 20;
	long psz = sysconf(_SC_PAGESIZE);
	uint64_t done = 0, off;
	unsigned int waited;
	uint8_t *p;
	int fd;

	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1000", 4) != 4)
			fprintf(stderr, "hog: oom_score_adj: %s\n", strerror(errno));
		close(fd);
	}
	p = mmap(NULL, bound, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		_exit(4);
	while (done + HOG_STEP <= bound) {
		for (waited = 0; meminfo("MemAvailable:") < floor; waited += 50) {
			if (waited >= HOG_WAIT_MS)
				_exit(3);
			usleep(50 * 1000);
		}
		/*
		 * One call faults the step in, not a trap a page: under TCG
		 * (and KASAN) the traps cost most. Where it fails (older
		 * kernels, or no memory now), touch it page by page.
		 */
		if (madvise(p + done, HOG_STEP, MADV_POPULATE_WRITE))
			for (off = 0; off < HOG_STEP; off += psz)
				p[done + off] = 1;
		done += HOG_STEP;
	}
	_exit(0);
}

/* Run hog(@bound) and wait for it: its wait status, or -1. */
static int run_hog(struct __test_metadata *_metadata, uint64_t bound)
{
	time_t end = time(NULL) + HOG_TIMEOUT_S;
	int status;
	pid_t pid, got;

	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid)
		hog(bound);
	while ((got = waitpid(pid, &status, WNOHANG)) == 0 && time(NULL) < end)
		usleep(100 * 1000);
	if (got == pid)
		return status;
	TH_LOG("the hog did not end within %d s", HOG_TIMEOUT_S);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* The run's pages whose home's copyset names node @node. */
static unsigned long held_by(struct __test_metadata *_metadata,
			     const struct tc_node *n, uint64_t addr,
			     unsigned long npages, unsigned int node)
{
	struct tinydsm_page_info pi;
	unsigned long i, held = 0;

	for (i = 0; i < npages; i++) {
		if (tc_page_info(n, (void *)(uintptr_t)(addr + i * n->psz), &pi)) {
			TH_LOG("PAGE_INFO: %s", strerror(errno));
			return ~0ul;
		}
		held += !!(pi.holders & TC_NSET(node));
	}
	return held;
}

TEST_F_TIMEOUT(shrinker, pressure_frees_copies, 2 * READ_TIMEOUT_S + HOG_TIMEOUT_S)
{
	uint64_t total = meminfo("MemTotal:"), avail, bound, addr;
	unsigned long npages, held, bad;
	struct tinydsm_stats s0, s1, s2;
	double deadline;
	char val[32];
	size_t len;
	int status;

	START();
	ASSERT_LT(0u, total) TH_LOG("no MemTotal in /proc/meminfo");
	/* The same on both nodes: the lab's guests are alike. */
	len = total / RUN_DIV;
	if (len > self->n.slice_pages * self->n.psz / SLICE_DIV)
		len = self->n.slice_pages * self->n.psz / SLICE_DIV;
	if (tc_debug_kernel())
		len /= DEBUG_DIV;
	len = len / HOG_STEP * HOG_STEP;
	ASSERT_LT(0u, len);
	npages = len / self->n.psz;
	addr = tc_shared_run(_metadata, &self->n, &self->s, HOME, npages, 1,
			     self->s.timeout_s);
	if (self->s.id == READER) {
		ASSERT_EQ(0, tc_stats(&self->n, &s0));
		ASSERT_EQ(0u, s0.cache_budget_pages) TH_LOG("a budget is set");
		bad = read_via_mem(_metadata, &self->n, addr, len, 1);
		ASSERT_EQ(0ul, bad) TH_LOG("pages read wrong");
		/* The copies stay; the PTEs the reads made go. */
		ASSERT_EQ(0, madvise((void *)(uintptr_t)addr, len, MADV_DONTNEED))
			TH_LOG("MADV_DONTNEED: %s", strerror(errno));
		ASSERT_EQ(0, tc_stats(&self->n, &s1));
		EXPECT_LE(s0.cached_pages + npages, s1.cached_pages)
			TH_LOG("read %lu pages homed on node%u", npages, HOME);

		avail = meminfo("MemAvailable:");
		bound = avail + len;
		TH_LOG("run %zu MiB, MemTotal %llu MiB, MemAvailable %llu MiB: hog of %llu MiB",
		       len >> 20, (unsigned long long)(total >> 20),
		       (unsigned long long)(avail >> 20),
		       (unsigned long long)(bound >> 20));
		status = run_hog(_metadata, bound);
		ASSERT_NE(-1, status);
		EXPECT_TRUE(WIFEXITED(status))
			TH_LOG("the hog was killed by signal %d (OOM?)",
			       WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		if (WIFEXITED(status))
			TH_LOG("the hog %s",
			       WEXITSTATUS(status) == 0 ? "got to its bound" :
			       WEXITSTATUS(status) == 3 ? "stopped: MemAvailable stayed low" :
			       "could not map its memory");
		EXPECT_NE(4, WIFEXITED(status) ? WEXITSTATUS(status) : 0);
		ASSERT_EQ(0, tc_stats(&self->n, &s2));
		TH_LOG("the hog made the shrinker free %llu",
		       (unsigned long long)(s2.shrinker_freed - s1.shrinker_freed));
		/*
		 * Whether the hog's pressure got as far as the shrinkers
		 * depends on the kernel's watermarks: then reclaim slab
		 * objects as a hard-pressed kernel does (drop_caches 2 calls
		 * every shrinker until they free next to nothing).
		 */
		ASSERT_EQ(0, tc_shell("echo 2 > /proc/sys/vm/drop_caches"));
		/* Until both counters moved, bounded (NOTICE_WAIT_S). */
		deadline = tc_now() + NOTICE_WAIT_S;
		while (!tc_stats(&self->n, &s2) &&
		       (s2.shrinker_freed == s1.shrinker_freed ||
			s2.cached_pages >= s1.cached_pages) &&
		       tc_now() < deadline)
			usleep(100 * 1000);
		ASSERT_EQ(0, tc_stats(&self->n, &s2));
		TH_LOG("shrinker freed %llu, cached %llu -> %llu, evicted %llu, %llu reclaim runs",
		       (unsigned long long)(s2.shrinker_freed - s1.shrinker_freed),
		       (unsigned long long)s1.cached_pages,
		       (unsigned long long)s2.cached_pages,
		       (unsigned long long)(s2.evicted_clean - s1.evicted_clean),
		       (unsigned long long)(s2.reclaim_runs - s1.reclaim_runs));
		EXPECT_LT(s1.shrinker_freed, s2.shrinker_freed)
			TH_LOG("the shrinker freed nothing");
		EXPECT_GT(s1.cached_pages, s2.cached_pages)
			TH_LOG("cached_pages did not fall");
		snprintf(val, sizeof(val), "%llu",
			 (unsigned long long)(s1.cached_pages - s2.cached_pages));
		ASSERT_EQ(0, tc_put(&self->s, "fell", val));
	}
	BARRIER("pressed", HOG_TIMEOUT_S + READ_TIMEOUT_S);
	if (self->s.id == HOME) {
		/*
		 * Some of node1's drops were told (E8): out of those
		 * copysets. The notices go from node1's reclaim work, kicked
		 * by the shrinker: until the first landed, bounded.
		 */
		deadline = tc_now() + NOTICE_WAIT_S;
		while ((held = held_by(_metadata, &self->n, addr, npages,
				       READER)) == npages && tc_now() < deadline)
			usleep(100 * 1000);
		ASSERT_NE(~0ul, held);
		ASSERT_EQ(0, tc_get(&self->s, "fell", val, sizeof(val)));
		TH_LOG("node%u in the copyset of %lu of %lu pages, its count fell by %s",
		       READER, held, npages, val);
		EXPECT_GT(npages, held) TH_LOG("no notice applied");
	}
	BARRIER("notices", READ_TIMEOUT_S);
	if (self->s.id == READER)
		EXPECT_EQ(0ul, tc_check_mem(_metadata, addr, len, 1, "read again"));
	BARRIER("reread", READ_TIMEOUT_S);
	/* node2 writes every page: INVALs to every copy its copysets name. */
	if (self->s.id == HOME)
		tc_fill(addr, len, 2);
	BARRIER("written", READ_TIMEOUT_S);
	if (self->s.id == READER)
		EXPECT_EQ(0ul, tc_check_mem(_metadata, addr, len, 2,
					    "read after node2's writes"))
			TH_LOG("a stale copy");
	BARRIER("checked", READ_TIMEOUT_S);
	if (self->s.id == HOME)
		EXPECT_EQ(0, tc_free(&self->n, addr, npages))
			TH_LOG("FREE: %s", strerror(errno));
}

TEST_HARNESS_MAIN
