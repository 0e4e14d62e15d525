// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm module lifecycle: unload is refused while the region is mapped,
 * unloading gives back every frame, bad module parameters are refused, and
 * the module loads again. Needs TDSM_KO (path of tinydsm.ko) and runs its
 * tests in order: it unloads and reloads the module. It leaves the module
 * loaded, as it found it.
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"

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

/*
 * Free pages: the buddy allocator's (nr_free_pages) plus those parked in
 * the per-CPU lists, which a big free fills first (6.12 keeps thousands
 * there) and which MemFree does not count. -1 on error.
 */
static long free_pages(void)
{
	long n, total = 0;
	char line[256];
	FILE *f;

	f = fopen("/proc/vmstat", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "nr_free_pages %ld", &n) == 1)
			total += n;
	fclose(f);
	f = fopen("/proc/zoneinfo", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " count: %ld", &n) == 1)
			total += n;
	fclose(f);
	return total;
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
		"node_id=0", "node_id=32", "region_size_mb=0",
		"region_size_mb=16385",
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
}

TEST_HARNESS_MAIN
