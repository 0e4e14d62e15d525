// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm module lifecycle: unload is refused while the region is mapped,
 * unloading gives back every frame, bad module parameters are refused (at
 * load time, and timeout_ms also when written at run time), and the module
 * loads again; without a cluster key it connects to nobody; home_nodes
 * sizes the slices and ALLOC backs nothing until touched; a 16 TiB region
 * loads, maps, works and unloads at a cost that follows use (reading its
 * translation table allocates nothing), and a bigger one is refused.
 * Needs TDSM_KO (path of tinydsm.ko) and runs its tests in order: it
 * unloads and reloads the module. It leaves the module loaded, with the
 * run's key (TDSM_KEY_FILE), as it found it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tdsm_params.h"

#define DEV_PATH "/dev/tinydsm"
#define LEAK_PAGES 16384	/* 64 MiB of 4 KiB pages */
#define NOISE_PAGES 1024	/* what the rest of the guest may take meanwhile */

static int load_module(const char *params)
{
	const char *ko = getenv("TDSM_KO");
	int fd, ret;

	if (!ko) {
		errno = ENOENT;
		return -1;
	}
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ret = syscall(SYS_finit_module, fd, params, 0);
	close(fd);
	return ret;
}

static int unload_module(void)
{
	return syscall(SYS_delete_module, "tinydsm", O_NONBLOCK);
}

static int module_loaded(void)
{
	return access("/sys/module/tinydsm", F_OK) == 0;
}

/* The sum of the numbers that @fmt ("key %ld") reads off @path's lines; -1 on error. */
static long file_sum(const char *path, const char *fmt)
{
	long n, total = 0;
	char line[256];
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, fmt, &n) == 1)
			total += n;
	fclose(f);
	return total;
}

/*
 * Free pages: the buddy allocator's (nr_free_pages) plus those parked in
 * the per-CPU lists, which a big free fills first (6.12 keeps thousands
 * there) and which MemFree does not count. -1 on error.
 */
static long free_pages(void)
{
	long buddy = file_sum("/proc/vmstat", "nr_free_pages %ld");
	long pcp = file_sum("/proc/zoneinfo", " count: %ld");

	return buddy < 0 || pcp < 0 ? -1 : buddy + pcp;
}

static char node_params[64];

static void set_node_params(void)
{
	const char *id = getenv("TDSM_NODE_ID");

	snprintf(node_params, sizeof(node_params), "node_id=%s",
		 id ? id : "1");
}

TEST(unload_refused_while_mapped)
{
	struct tinydsm_region_info info;
	volatile uint8_t *p;
	int fd;

	ASSERT_TRUE(module_loaded());
	fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_REGION_INFO, &info));
	p = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = 1;

	/* open: in use */
	EXPECT_EQ(-1, unload_module());
	EXPECT_TRUE(errno == EAGAIN || errno == EBUSY) TH_LOG("errno %d", errno);
	/* closed but still mapped: the mapping holds the file, still in use */
	close(fd);
	EXPECT_EQ(-1, unload_module());
	EXPECT_TRUE(errno == EAGAIN || errno == EBUSY) TH_LOG("errno %d", errno);
	EXPECT_TRUE(module_loaded());
	EXPECT_EQ(1, p[0]);
	munmap((void *)p, info.size);
}

/* Touch 64 MiB, unmap, unload: every frame must come back. */
TEST(unload_frees_every_frame)
{
	struct tinydsm_region_info info;
	struct tinydsm_stats st;
	long before, touched, after;
	uint8_t *p;
	long i;
	int fd;

	before = free_pages();
	ASSERT_GT(before, 0);
	fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_REGION_INFO, &info));
	ASSERT_GE(info.size, (uint64_t)LEAK_PAGES * info.page_size);
	p = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < LEAK_PAGES; i++)
		p[i * info.page_size] = (uint8_t)i;
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_STATS, &st));
	EXPECT_GE(st.frames, LEAK_PAGES);
	/*
	 * Runs left allocated: the unload frees their records too (the home's
	 * record of who allocated each run; kmemleak on the debug kernel).
	 */
	for (i = 1; i <= 3; i++) {
		struct tinydsm_alloc a = { .npages = (uint32_t)i };

		EXPECT_EQ(0, ioctl(fd, TINYDSM_IOC_ALLOC, &a))
			TH_LOG("ALLOC of %ld pages: %s", i, strerror(errno));
	}
	ASSERT_EQ(0, munmap(p, info.size));
	close(fd);

	/* Unmapping keeps the region's pages: they are the node's memory. */
	touched = free_pages();
	EXPECT_LT(touched, before - LEAK_PAGES + NOISE_PAGES)
		TH_LOG("free pages: %ld before, %ld after touching", before, touched);

	ASSERT_EQ(0, unload_module()) TH_LOG("delete_module: %s", strerror(errno));
	EXPECT_FALSE(module_loaded());
	EXPECT_EQ(-1, access(DEV_PATH, F_OK));
	after = free_pages();
	EXPECT_GT(after, before - NOISE_PAGES)
		TH_LOG("free pages: %ld before, %ld after unload", before, after);
	TH_LOG("free pages: %ld before, %ld with %d touched, %ld after unload",
	       before, touched, LEAK_PAGES, after);
}

TEST(bad_module_parameters_refused)
{
	static const char *const bad[] = {
		"node_id=0", "node_id=65", "region_size_mb=0",
		/* Node ids go to 64, but never past max_nodes (default 4). */
		"node_id=64", "max_nodes=0", "max_nodes=65",
		"node_id=64 max_nodes=63",
		/* 16 TiB is the most (region_past_16_tib_refused); UINT_MAX too. */
		"region_size_mb=4294967295",
		/* Nodes 1..home_nodes home a slice: 1..max_nodes (default 4). */
		"home_nodes=0", "home_nodes=5", "max_nodes=2 home_nodes=3",
		/* Slices are whole 64-page chunks: 4 need 1 MiB at least. */
		"max_nodes=31 home_nodes=31 region_size_mb=7",
		/* 0 would make every wait on a peer return at once. */
		"timeout_ms=0",
		/* Past 10 minutes; UINT_MAX would overflow jiffies arithmetic. */
		"timeout_ms=600001", "timeout_ms=4294967295",
		"timeout_ms=3s",
	};
	unsigned int i;

	if (module_loaded())
		ASSERT_EQ(0, unload_module());
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_EQ(-1, load_module(bad[i])) TH_LOG("%s loaded", bad[i]);
		EXPECT_EQ(EINVAL, errno) TH_LOG("%s: %s", bad[i], strerror(errno));
		if (module_loaded())
			unload_module();
	}
}

/*
 * timeout_ms bounds every wait on a peer: 1..600000 ms, given at load
 * time or written later; anything else is refused with EINVAL and the
 * value in force stays.
 */
TEST(timeout_ms_range)
{
	static const char *const bad[] = {
		"0", "600001", "4294967295", "-1", "3s",
	};
	char params[96];
	unsigned int i;

	set_node_params();
	if (module_loaded())
		ASSERT_EQ(0, unload_module());
	snprintf(params, sizeof(params), "%s timeout_ms=1500", node_params);
	ASSERT_EQ(0, load_module(params))
		TH_LOG("finit_module(%s): %s", params, strerror(errno));
	EXPECT_EQ(1500, param_long("timeout_ms"));

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_EQ(-1, param_write("timeout_ms", bad[i]))
			TH_LOG("timeout_ms='%s' was taken", bad[i]);
		EXPECT_EQ(EINVAL, errno) TH_LOG("timeout_ms='%s': %s", bad[i],
						strerror(errno));
		EXPECT_EQ(1500, param_long("timeout_ms"))
			TH_LOG("after timeout_ms='%s'", bad[i]);
	}
	/* The bounds themselves are fine; echo's newline too. */
	EXPECT_EQ(0, param_write("timeout_ms", "1\n")) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(1, param_long("timeout_ms"));
	EXPECT_EQ(0, param_write("timeout_ms", "600000")) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(600000, param_long("timeout_ms"));
	EXPECT_EQ(0, param_write("timeout_ms", "3000")) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(3000, param_long("timeout_ms"));
	ASSERT_EQ(0, unload_module()) TH_LOG("delete_module: %s", strerror(errno));
}

/*
 * Load the module with the node's parameters and check its parameter
 * @name: @dflt by default; each of @bad (@nbad of them) refused with
 * EINVAL, the value in force staying; 0 and @max taken.
 */
static void param_range(struct __test_metadata *_metadata, const char *name,
			long dflt, long max, const char *const *bad, size_t nbad)
{
	char val[32];
	size_t i;

	set_node_params();
	if (module_loaded())
		ASSERT_EQ(0, unload_module());
	ASSERT_EQ(0, load_module(node_params))
		TH_LOG("finit_module(%s): %s", node_params, strerror(errno));
	EXPECT_EQ(dflt, param_long(name));
	for (i = 0; i < nbad; i++) {
		EXPECT_EQ(-1, param_write(name, bad[i]))
			TH_LOG("%s='%s' was taken", name, bad[i]);
		EXPECT_EQ(EINVAL, errno) TH_LOG("%s='%s': %s", name, bad[i],
						strerror(errno));
		EXPECT_EQ(dflt, param_long(name)) TH_LOG("after %s='%s'", name, bad[i]);
	}
	EXPECT_EQ(0, param_write(name, "0\n")) TH_LOG("%s=0: %s", name, strerror(errno));
	EXPECT_EQ(0, param_long(name));
	snprintf(val, sizeof(val), "%ld", max);
	EXPECT_EQ(0, param_write(name, val)) TH_LOG("%s=%s: %s", name, val, strerror(errno));
	EXPECT_EQ(max, param_long(name));
	ASSERT_EQ(0, unload_module()) TH_LOG("delete_module: %s", strerror(errno));
}

/*
 * readahead_pages: 0 (off) to 63 (the faulting page and its window are one
 * READV, inside one group of 64 pages), default 15.
 */
TEST(readahead_pages_range)
{
	static const char *const bad[] = { "64", "4294967295", "-1", "x" };

	param_range(_metadata, "readahead_pages", 15, 63, bad,
		    sizeof(bad) / sizeof(bad[0]));
}

/* ready_buffers: 0 (each buffer registered with its request) to 8, default 8. */
TEST(ready_buffers_range)
{
	static const char *const bad[] = { "9", "4294967295", "-1", "8x" };

	param_range(_metadata, "ready_buffers", 8, 8, bad,
		    sizeof(bad) / sizeof(bad[0]));
}

/*
 * tinydsmctl ARGS (from TDSM_TREE), its stdout in @out with every blank
 * taken out, so that JSON can be matched as text: its exit status, or -1.
 */
static int ctl(const char *args, char *out, size_t len)
{
	const char *tree = getenv("TDSM_TREE");
	char cmd[512];
	size_t n = 0;
	FILE *f;
	int c, rc;

	snprintf(cmd, sizeof(cmd), "'%s/build/tools/tinydsmctl' %s 2>/dev/null",
		 tree ? tree : ".", args);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		if (c != ' ' && c != '\n' && c != '\t' && n + 1 < len)
			out[n++] = (char)c;
	out[n] = '\0';
	rc = pclose(f);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/*
 * Without a cluster key the module connects to nobody: a peer it would
 * connect to shows ENOKEY, and this node shows auth "none". With the
 * module parameter allow_unauthenticated it would, and says "off".
 */
TEST(no_key_connects_to_nobody)
{
	char out[8192], params[128], want[64];
	double end;

	set_node_params();
	if (module_loaded())
		ASSERT_EQ(0, unload_module());
	ASSERT_EQ(0, load_module(node_params))
		TH_LOG("finit_module(%s): %s", node_params, strerror(errno));
	ASSERT_EQ(0, ctl("-j node show", out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "\"auth\":\"none\"")) TH_LOG("%s", out);

	/* A higher id: this node is the one that connects. Nothing listens. */
	snprintf(params, sizeof(params), "node add %d 10.77.0.99",
		 atoi(node_params + strlen("node_id=")) + 1);
	ASSERT_EQ(0, ctl(params, out, sizeof(out))) TH_LOG("%s", params);
	snprintf(want, sizeof(want), "\"error\":%d", -ENOKEY);
	for (end = time(NULL) + 10; time(NULL) < end; usleep(100000)) {
		ASSERT_EQ(0, ctl("-j node show", out, sizeof(out)));
		if (strstr(out, want))
			break;
	}
	EXPECT_NE(NULL, strstr(out, want)) TH_LOG("no %s in %s", want, out);
	ASSERT_EQ(0, unload_module()) TH_LOG("delete_module: %s", strerror(errno));

	snprintf(params, sizeof(params), "%s allow_unauthenticated=1", node_params);
	ASSERT_EQ(0, load_module(params))
		TH_LOG("finit_module(%s): %s", params, strerror(errno));
	ASSERT_EQ(0, ctl("-j node show", out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "\"auth\":\"off\"")) TH_LOG("%s", out);
	ASSERT_EQ(0, unload_module()) TH_LOG("delete_module: %s", strerror(errno));
}

/* ABI 1's PAGE_INFO: the same ioctl, its 32-byte structure (no holders). */
#define PAGE_INFO_V1_SIZE	32
#define IOC_PAGE_INFO_V1	_IOC(_IOC_READ | _IOC_WRITE, TINYDSM_IOC_MAGIC, \
				     0x02, PAGE_INFO_V1_SIZE)

/*
 * 64 nodes: the module loads as node 64 of 64. A page of its own slice it
 * wrote has holders {64} (bit 63) and, past the u32 copyset's nodes 1..31,
 * copyset 0; ABI 1's ioctl number still answers, with the first 32 bytes
 * only. Loaded as node 1 of 64, NODE_ADD takes node 64 (tinydsmctl node add,
 * netlink_test has the raw ones).
 */
TEST(node_64_of_64)
{
	struct tinydsm_page_info pi = { 0 };
	struct tinydsm_region_info info;
	unsigned char v1[PAGE_INFO_V1_SIZE + 8];
	char out[8192];
	volatile uint8_t *p;
	uint64_t addr;
	int fd, tries;

	if (module_loaded())
		ASSERT_EQ(0, unload_module());
	ASSERT_EQ(0, load_module("node_id=64 max_nodes=64"))
		TH_LOG("finit_module(node_id=64 max_nodes=64): %s", strerror(errno));
	for (tries = 0; tries < 100 && access(DEV_PATH, F_OK); tries++)
		usleep(10000);
	fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_REGION_INFO, &info));
	EXPECT_EQ(TINYDSM_ABI_VERSION, info.abi_version);
	EXPECT_EQ(64, info.node_id);
	EXPECT_EQ(64, info.max_nodes);
	ASSERT_GT(info.slice_pages, 0);

	/* The first page of node 64's slice, the region's last. */
	addr = info.base + 63 * info.slice_pages * info.page_size;
	p = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[addr - info.base] = 0x64;
	pi.addr = addr;
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_PAGE_INFO, &pi)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(64, pi.owner);
	EXPECT_EQ(64, pi.home);
	EXPECT_EQ(TINYDSM_PAGE_EXCLUSIVE, pi.state);
	EXPECT_EQ(1ull << 63, pi.holders);
	EXPECT_EQ(0, pi.copyset);

	memset(v1, 0xa5, sizeof(v1));
	memcpy(v1, &addr, sizeof(addr));
	memset(v1 + 8, 0, PAGE_INFO_V1_SIZE - 8);
	ASSERT_EQ(0, ioctl(fd, IOC_PAGE_INFO_V1, v1)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(0, memcmp(v1, &pi, PAGE_INFO_V1_SIZE));
	EXPECT_EQ(0xa5, v1[PAGE_INFO_V1_SIZE]);
	EXPECT_EQ(0xa5, v1[sizeof(v1) - 1]);

	/*
	 * A page of the next 64-page chunk, never touched: no metadata, so
	 * answered as never seen (its default home), in 32 bytes too.
	 */
	ASSERT_GE(info.slice_pages, 128);
	addr += 64 * info.page_size;
	memset(v1, 0xa5, sizeof(v1));
	memcpy(v1, &addr, sizeof(addr));
	memset(v1 + 8, 0, PAGE_INFO_V1_SIZE - 8);
	ASSERT_EQ(0, ioctl(fd, IOC_PAGE_INFO_V1, v1)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(0xa5, v1[PAGE_INFO_V1_SIZE]) TH_LOG("written past 32 bytes");
	EXPECT_EQ(0xa5, v1[sizeof(v1) - 1]);
	memset(&pi, 0xa5, sizeof(pi));
	memcpy(&pi, v1, PAGE_INFO_V1_SIZE);
	EXPECT_EQ(64, pi.home);
	EXPECT_EQ(0, pi.owner);
	EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state);
	EXPECT_EQ(0, pi.copyset);
	munmap((void *)p, info.size);
	close(fd);
	ASSERT_EQ(0, unload_module()) TH_LOG("delete_module: %s", strerror(errno));

	ASSERT_EQ(0, load_module("node_id=1 max_nodes=64"))
		TH_LOG("finit_module(node_id=1 max_nodes=64): %s", strerror(errno));
	EXPECT_EQ(0, ctl("node add 64 10.77.0.99", out, sizeof(out))) TH_LOG("%s", out);
	ASSERT_EQ(0, ctl("-j node show", out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "\"id\":64")) TH_LOG("%s", out);
	EXPECT_NE(0, ctl("node add 65 10.77.0.99", out, sizeof(out)));
	ASSERT_EQ(0, unload_module()) TH_LOG("delete_module: %s", strerror(errno));
}

/* Open the device of a module just loaded (devtmpfs makes it asynchronously). */
static int open_dev(void)
{
	int tries;

	for (tries = 0; tries < 100 && access(DEV_PATH, F_OK); tries++)
		usleep(10000);
	return open(DEV_PATH, O_RDWR | O_CLOEXEC);
}

static int dev_alloc(int fd, uint32_t home, uint32_t npages, uint64_t *addr)
{
	struct tinydsm_alloc a = { .home = home, .npages = npages };
	int ret = ioctl(fd, TINYDSM_IOC_ALLOC, &a);

	if (addr)
		*addr = a.addr;
	return ret;
}

/*
 * home_nodes=1: node 1 homes the whole region as one slice, and node 2
 * (of max_nodes 4) homes nothing: ALLOC there is ENOSPC, for this node and
 * for nodes 2..4 as homes, without asking anyone; node 1 as the home is
 * asked (ENOENT: not a peer of this lone node). 0 pages stay EINVAL.
 */
TEST(home_nodes_1_node_2_homes_nothing)
{
	struct tinydsm_region_info info;
	char out[4096];
	uint32_t home;
	int fd;

	if (module_loaded())
		ASSERT_EQ(0, unload_module());
	ASSERT_EQ(0, load_module("node_id=2 max_nodes=4 home_nodes=1 region_size_mb=4"))
		TH_LOG("finit_module: %s", strerror(errno));
	EXPECT_EQ(1, param_long("home_nodes"));
	fd = open_dev();
	ASSERT_GE(fd, 0) TH_LOG("open %s: %s", DEV_PATH, strerror(errno));
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_REGION_INFO, &info));
	EXPECT_EQ(2, info.node_id);
	EXPECT_EQ(4, info.max_nodes);
	EXPECT_EQ(1, info.home_nodes);
	EXPECT_EQ(4ull << 20, info.size);
	EXPECT_EQ(info.size / info.page_size, info.slice_pages);

	EXPECT_EQ(-1, dev_alloc(fd, 0, 1, NULL));
	EXPECT_EQ(ENOSPC, errno) TH_LOG("ALLOC here: %s", strerror(errno));
	for (home = 2; home <= 4; home++) {
		EXPECT_EQ(-1, dev_alloc(fd, home, 1, NULL));
		EXPECT_EQ(ENOSPC, errno) TH_LOG("ALLOC at node %u: %s", home,
						strerror(errno));
	}
	EXPECT_EQ(-1, dev_alloc(fd, 1, 1, NULL));
	EXPECT_EQ(ENOENT, errno) TH_LOG("ALLOC at node 1: %s", strerror(errno));
	EXPECT_EQ(-1, dev_alloc(fd, 0, 0, NULL));
	EXPECT_EQ(EINVAL, errno) TH_LOG("ALLOC of 0 pages: %s", strerror(errno));
	close(fd);

	/* tinydsmctl shows it, and node 1's slice only. */
	ASSERT_EQ(0, ctl("-j region show", out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "\"max_nodes\":4,\"home_nodes\":1,")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "\"node\":1,")) TH_LOG("%s", out);
	EXPECT_EQ(NULL, strstr(out, "\"node\":2,")) TH_LOG("%s", out);
	ASSERT_EQ(0, unload_module()) TH_LOG("delete_module: %s", strerror(errno));
}

/*
 * ALLOC reserves address space and backs nothing: on a fresh node 1 that
 * homes the whole region (home_nodes=1), the whole slice is one run with no
 * frame; one touched page is one frame; FREE gives it back. More than a
 * slice, or anything once the slice is taken, is ENOSPC.
 */
TEST(alloc_backs_nothing_until_touched)
{
	struct tinydsm_region_info info;
	struct tinydsm_alloc a = { 0 };
	struct tinydsm_stats st;
	volatile uint8_t *p;
	uint64_t addr;
	int fd;

	if (module_loaded())
		ASSERT_EQ(0, unload_module());
	ASSERT_EQ(0, load_module("node_id=1 max_nodes=4 home_nodes=1 region_size_mb=4"))
		TH_LOG("finit_module: %s", strerror(errno));
	fd = open_dev();
	ASSERT_GE(fd, 0) TH_LOG("open %s: %s", DEV_PATH, strerror(errno));
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_REGION_INFO, &info));
	ASSERT_EQ(1, info.home_nodes);
	ASSERT_EQ(info.size / info.page_size, info.slice_pages);

	EXPECT_EQ(-1, dev_alloc(fd, 0, (uint32_t)info.slice_pages + 1, NULL));
	EXPECT_EQ(ENOSPC, errno) TH_LOG("ALLOC of slice + 1: %s", strerror(errno));
	ASSERT_EQ(0, dev_alloc(fd, 0, (uint32_t)info.slice_pages, &addr))
		TH_LOG("ALLOC of the whole slice: %s", strerror(errno));
	EXPECT_EQ(info.base, addr);
	EXPECT_EQ(-1, dev_alloc(fd, 0, 1, NULL));
	EXPECT_EQ(ENOSPC, errno) TH_LOG("ALLOC of a full slice: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_STATS, &st));
	EXPECT_EQ(0, st.frames) TH_LOG("frames after ALLOC of %llu pages",
				       (unsigned long long)info.slice_pages);
	EXPECT_EQ(0, st.frames_allocated);

	p = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[5 * info.page_size] = 0x5a;
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_STATS, &st));
	EXPECT_EQ(1, st.frames);
	EXPECT_EQ(1, st.frames_allocated);

	a.addr = addr;
	a.npages = (uint32_t)info.slice_pages;
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_FREE, &a)) TH_LOG("FREE: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_STATS, &st));
	EXPECT_EQ(0, st.frames) TH_LOG("frames after FREE");
	/* Free again: the same run fits, and the page reads as zero. */
	ASSERT_EQ(0, dev_alloc(fd, 0, (uint32_t)info.slice_pages, &addr));
	EXPECT_EQ(0, p[5 * info.page_size]);
	ASSERT_EQ(0, munmap((void *)p, info.size));
	close(fd);
	ASSERT_EQ(0, unload_module()) TH_LOG("delete_module: %s", strerror(errno));
}

/* The largest region: 16 TiB, 2^32 pages. */
#define TIB16_MB	16777216ull
#define TIB16_PARAMS	"node_id=1 max_nodes=64 home_nodes=4 region_size_mb=16777216"
/* What loading any region may cost: no per-page metadata, table or bitmap. */
#define LOAD_COST_MAX	(4ull << 20)
/* Metadata of one 64-page chunk at most: 12.5 KiB a MiB (4 chunks). */
#define CHUNK_BYTES_MAX	3200ull
/* Seconds a FREE or an unload may take if it walks what exists only. */
#define WALK_S_MAX	20.0

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The slab allocator's memory (/proc/meminfo's Slab), in bytes; -1 on error. */
static long long slab_bytes(void)
{
	long kb = file_sum("/proc/meminfo", "Slab: %ld kB");

	return kb < 0 ? -1 : kb * 1024LL;
}

/*
 * A 16 TiB region as node 1 of 64 with 4 homes (4 TiB slices): loading it
 * costs under 4 MiB (meta_bytes, the slab's growth, and the free pages
 * taken beyond the module's own size), REGION_INFO reports it, the whole
 * region maps, pages at the start, middle and end of node 1's slice read
 * zero and keep what is written, each costing one chunk and one page of
 * the translation table; the last page of the region is node 4's, never
 * seen here. ALLOC and FREE of the whole 4 TiB slice, the unload after,
 * take time that follows what was touched (not 2^32 pages), and the
 * unload gives every page back.
 */
TEST(region_16_tib)
{
	long long slab0, slab1, core;
	struct tinydsm_stats s0, s1;
	struct tinydsm_region_info info;
	struct tinydsm_page_info pi;
	struct tinydsm_alloc a = { 0 };
	long free0, free1, after;
	uint64_t touch[3], addr, i;
	volatile uint64_t *w;
	uint8_t *p;
	double t;
	int fd;

	if (module_loaded())
		ASSERT_EQ(0, unload_module());
	free0 = free_pages();
	slab0 = slab_bytes();
	ASSERT_GT(free0, 0);
	ASSERT_GE(slab0, 0);
	t = now_s();
	ASSERT_EQ(0, load_module(TIB16_PARAMS))
		TH_LOG("finit_module(%s): %s", TIB16_PARAMS, strerror(errno));
	free1 = free_pages();
	slab1 = slab_bytes();
	TH_LOG("load: %.2f s", now_s() - t);
	EXPECT_EQ((long)TIB16_MB, param_long("region_size_mb"));
	core = knob_long("/sys/module/tinydsm", "coresize", 10);

	fd = open_dev();
	ASSERT_GE(fd, 0) TH_LOG("open %s: %s", DEV_PATH, strerror(errno));
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_REGION_INFO, &info));
	EXPECT_EQ(1, info.node_id);
	EXPECT_EQ(64, info.max_nodes);
	EXPECT_EQ(4, info.home_nodes);
	EXPECT_EQ(TIB16_MB << 20, info.size);
	EXPECT_EQ(TINYDSM_REGION_BASE, info.base);
	ASSERT_EQ(info.size / info.page_size / 4, info.slice_pages);

	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_STATS, &s0));
	EXPECT_LT(s0.meta_bytes + (slab1 > slab0 ? slab1 - slab0 : 0), LOAD_COST_MAX)
		TH_LOG("load: meta_bytes %llu, slab %lld -> %lld",
		       (unsigned long long)s0.meta_bytes, slab0, slab1);
	EXPECT_GE(core, 0);
	EXPECT_LT((long long)(free0 - free1) * (long long)info.page_size - core,
		  (long long)LOAD_COST_MAX + (long long)NOISE_PAGES * (long long)info.page_size)
		TH_LOG("load: free pages %ld -> %ld, module %lld bytes", free0, free1, core);
	TH_LOG("load: meta_bytes %llu, slab %+lld bytes, free pages %+ld, module %lld bytes",
	       (unsigned long long)s0.meta_bytes, slab1 - slab0, free1 - free0, core);

	/* The last page of the region: node 4's, never seen here. */
	memset(&pi, 0, sizeof(pi));
	pi.addr = info.base + info.size - info.page_size;
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_PAGE_INFO, &pi));
	EXPECT_EQ(4, pi.home);
	EXPECT_EQ(0, pi.owner);
	EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state);
	memset(&pi, 0, sizeof(pi));
	pi.addr = info.base + info.size;
	EXPECT_EQ(-1, ioctl(fd, TINYDSM_IOC_PAGE_INFO, &pi));
	EXPECT_EQ(ERANGE, errno);

	p = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap of %llu bytes: %s",
					(unsigned long long)info.size, strerror(errno));
	EXPECT_EQ(info.base, (uintptr_t)p);
	/* Node 1's slice: its first, middle and last page, chunks apart. */
	touch[0] = 0;
	touch[1] = info.slice_pages / 2;
	touch[2] = info.slice_pages - 1;
	for (i = 0; i < 3; i++) {
		uint64_t page = touch[i];

		w = (volatile uint64_t *)(p + page * info.page_size);
		EXPECT_EQ(0, w[0]) TH_LOG("page %#llx", (unsigned long long)page);
		EXPECT_EQ(0, w[info.page_size / 8 - 1]);
		w[0] = 0x5a5a000000000000ull | touch[i];
		w[info.page_size / 8 - 1] = ~touch[i];
	}
	for (i = 0; i < 3; i++) {
		w = (volatile uint64_t *)(p + touch[i] * info.page_size);
		EXPECT_EQ(0x5a5a000000000000ull | touch[i], w[0]);
		EXPECT_EQ(~touch[i], w[info.page_size / 8 - 1]);
	}
	/* One chunk and one page of the table each, and 3 frames. */
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_STATS, &s1));
	EXPECT_EQ(s0.chunks + 3, s1.chunks);
	EXPECT_EQ(3, s1.frames);
	EXPECT_LT(s0.meta_bytes, s1.meta_bytes);
	EXPECT_LE(s1.meta_bytes, s0.meta_bytes + 3 * (CHUNK_BYTES_MAX + info.page_size))
		TH_LOG("meta_bytes %llu -> %llu for 3 pages",
		       (unsigned long long)s0.meta_bytes, (unsigned long long)s1.meta_bytes);

	/* The whole slice as one run (2^30 pages), freed: 3 pages to drop. */
	ASSERT_EQ(0, dev_alloc(fd, 0, (uint32_t)info.slice_pages, &addr))
		TH_LOG("ALLOC of the 4 TiB slice: %s", strerror(errno));
	EXPECT_EQ(info.base, addr);
	a.addr = addr;
	a.npages = (uint32_t)info.slice_pages;
	t = now_s();
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_FREE, &a)) TH_LOG("FREE: %s", strerror(errno));
	t = now_s() - t;
	EXPECT_LT(t, WALK_S_MAX) TH_LOG("FREE of the slice took %.2f s", t);
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_STATS, &s1));
	EXPECT_EQ(0, s1.frames);
	for (i = 0; i < 3; i++) {
		uint64_t page = touch[i];

		EXPECT_EQ(0, *(volatile uint64_t *)(p + page * info.page_size))
			TH_LOG("page %#llx after FREE", (unsigned long long)page);
	}
	ASSERT_EQ(0, munmap(p, info.size));
	close(fd);

	t = now_s();
	ASSERT_EQ(0, unload_module()) TH_LOG("delete_module: %s", strerror(errno));
	t = now_s() - t;
	EXPECT_LT(t, WALK_S_MAX) TH_LOG("unload took %.2f s", t);
	EXPECT_FALSE(module_loaded());
	after = free_pages();
	EXPECT_GT(after, free0 - NOISE_PAGES)
		TH_LOG("free pages: %ld before load, %ld after unload", free0, after);
}

/* Pages of the translation table xlate_read_allocates_nothing reads. */
#define XLATE_READS	256u

/*
 * Reading the translation table of a 16 TiB region (2^20 table pages)
 * allocates nothing: where no chunk of metadata made a table page, the
 * zero page is mapped (all INVALID), and meta_bytes, which counts the
 * table's pages, stays. Once a page under one is touched, the table page
 * is made and the zero page zapped: the same byte then reads the page's
 * state (the table is written by the module, not a stale zero).
 */
TEST(xlate_read_allocates_nothing)
{
	struct tinydsm_region_info info;
	struct tinydsm_stats s0, s1;
	size_t len, stride, i;
	volatile uint8_t *x;
	unsigned int zeros = 0;
	uint8_t *p;
	int fd;

	if (module_loaded())
		ASSERT_EQ(0, unload_module());
	ASSERT_EQ(0, load_module(TIB16_PARAMS))
		TH_LOG("finit_module(%s): %s", TIB16_PARAMS, strerror(errno));
	fd = open_dev();
	ASSERT_GE(fd, 0) TH_LOG("open %s: %s", DEV_PATH, strerror(errno));
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_REGION_INFO, &info));
	len = info.size / info.page_size;	/* one byte a page, 4 GiB */
	stride = len / XLATE_READS;
	ASSERT_EQ(0, stride % info.page_size);
	x = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, TINYDSM_XLATE_OFFSET);
	ASSERT_NE(MAP_FAILED, x) TH_LOG("mmap of the table: %s", strerror(errno));

	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_STATS, &s0));
	for (i = 0; i < XLATE_READS; i++)
		zeros += x[i * stride + i % info.page_size] == 0;
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_STATS, &s1));
	EXPECT_EQ(XLATE_READS, zeros) TH_LOG("a page never touched is INVALID");
	EXPECT_EQ(s0.meta_bytes, s1.meta_bytes)
		TH_LOG("%u table pages read: meta_bytes %llu -> %llu", XLATE_READS,
		       (unsigned long long)s0.meta_bytes,
		       (unsigned long long)s1.meta_bytes);

	/* Page 0, node 1's: its byte was read above, through the zero page. */
	EXPECT_EQ(TINYDSM_PAGE_INVALID, x[0]);
	p = mmap(NULL, info.page_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap of page 0: %s", strerror(errno));
	*(volatile uint8_t *)p = 1;
	EXPECT_EQ(TINYDSM_PAGE_EXCLUSIVE, x[0]) TH_LOG("the zero page stayed mapped");
	EXPECT_EQ(TINYDSM_PAGE_INVALID, x[1]);
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_STATS, &s1));
	EXPECT_LT(s0.meta_bytes, s1.meta_bytes) TH_LOG("no chunk, no table page");
	ASSERT_EQ(0, munmap(p, info.page_size));
	ASSERT_EQ(0, munmap((void *)x, len));
	close(fd);
	ASSERT_EQ(0, unload_module()) TH_LOG("delete_module: %s", strerror(errno));
}

/* One MiB more than 16 TiB: refused, and the kernel log says why. */
TEST(region_past_16_tib_refused)
{
	const char *why = "region_size_mb=16777217 is out of range 1..16777216";
	int logged;

	if (module_loaded())
		ASSERT_EQ(0, unload_module());
	logged = klog_count(why);
	ASSERT_GE(logged, 0);
	EXPECT_EQ(-1, load_module("region_size_mb=16777217"));
	EXPECT_EQ(EINVAL, errno) TH_LOG("finit_module: %s", strerror(errno));
	EXPECT_FALSE(module_loaded());
	EXPECT_EQ(logged + 1, klog_count(why)) TH_LOG("no \"%s\" in dmesg", why);
}

TEST(reload)
{
	struct tinydsm_region_info info;
	struct tinydsm_stats st;
	int fd, tries;

	set_node_params();
	if (module_loaded())
		ASSERT_EQ(0, unload_module());
	ASSERT_EQ(0, load_module(node_params))
		TH_LOG("finit_module(%s): %s", node_params, strerror(errno));
	/* devtmpfs creates the node asynchronously */
	for (tries = 0; tries < 100 && access(DEV_PATH, F_OK); tries++)
		usleep(10000);
	fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_REGION_INFO, &info));
	EXPECT_EQ((unsigned int)atoi(node_params + strlen("node_id=")),
		  info.node_id);
	ASSERT_EQ(0, ioctl(fd, TINYDSM_IOC_STATS, &st));
	EXPECT_EQ(0, st.frames);
	EXPECT_EQ(0, st.read_faults + st.write_faults);
	close(fd);
	/* As the lab left it: with the run's key. */
	if (getenv("TDSM_KEY_FILE")) {
		char args[512], out[256];

		snprintf(args, sizeof(args), "key set '%s'", getenv("TDSM_KEY_FILE"));
		EXPECT_EQ(0, ctl(args, out, sizeof(out)));
	}
}

TEST_HARNESS_MAIN
