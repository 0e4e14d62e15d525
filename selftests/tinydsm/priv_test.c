// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm least privilege on one node: what a user without privilege may
 * and may not do with /dev/tinydsm, and pins of region pages (which
 * the kernel refuses or allows, as for any dirty-tracked file mapping).
 *
 * Each refusal is tried by a forked child that dropped to uid/gid 65534
 * (nobody), with no supplementary group but, when the test needs the
 * device, TEST_GID, and with no capability left (setresuid() from root
 * clears them; the child checks). The child stores what it got (0 or an
 * errno, and values read) in shared memory; the parent, still root, checks.
 *
 * The lab has no udev: the fixture does what the rule tools/udev/
 * 60-tinydsm.rules does on a real node (group, mode 0660), with TEST_GID
 * standing for the group tinydsm, and puts the device back afterwards.
 *
 * The tests need root and the module loaded; they skip otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <linux/capability.h>
#include <linux/io_uring.h>
#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tdsm_params.h"
#include "tinydsm.h"

#define DEV_PATH	"/dev/tinydsm"
#define NOBODY		65534
#define TEST_GID	4242	/* stands for the group tinydsm */
#define PG		4096

/* What a child reports: slots of 0 / errno / values. */
#define NRES		16
struct child_res {
	int64_t v[NRES];
	int reached;	/* how many steps the child got through */
};

/* A plain load and store: a fault from them makes a uprobe site. */
static __attribute__((noinline)) uint64_t plain_ld(const void *p)
{
	return *(const volatile uint64_t *)p;
}

static __attribute__((noinline)) void plain_st(void *p, uint64_t v)
{
	*(volatile uint64_t *)p = v;
}

/* A few libtinydsm sites, so that this program has a site table. */
static __attribute__((used, noinline)) uint64_t ld32(void *p) { return TDSM_LOAD32(p); }
static __attribute__((used, noinline)) uint64_t ld64(void *p) { return TDSM_LOAD64(p); }
static __attribute__((used, noinline)) void st32(void *p, uint64_t v) { TDSM_STORE32(p, v); }
static __attribute__((used, noinline)) void st64(void *p, uint64_t v) { TDSM_STORE64(p, v); }

/*
 * Become nobody: uid and gid 65534, supplementary groups none or
 * TEST_GID, and no capability (setresuid() from 0 clears them all).
 */
static int drop_privileges(bool group)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct caps[2];
	gid_t g = TEST_GID;

	if (setgroups(group ? 1 : 0, &g) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		return -1;
	if (syscall(SYS_capget, &hdr, caps))
		return -1;
	if (caps[0].effective || caps[1].effective || caps[0].permitted ||
	    caps[1].permitted)
		return -1;
	return 0;
}

/*
 * Run @fn(@res, @arg) in a child that dropped its privileges (with the
 * device's group if @group). Returns the child's exit status: 0 if it ran
 * @fn to the end, 100 if it could not drop its privileges.
 */
static int as_nobody(bool group, void (*fn)(struct child_res *, void *),
		     struct child_res *res, void *arg)
{
	int status;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (drop_privileges(group))
			_exit(100);
		fn(res, arg);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int dev_alloc(int fd, unsigned int npages, uint64_t *addr)
{
	struct tinydsm_alloc a = { .npages = npages };

	if (ioctl(fd, TINYDSM_IOC_ALLOC, &a))
		return errno;
	*addr = a.addr;
	return 0;
}

static int dev_free(int fd, uint64_t addr, unsigned int npages)
{
	struct tinydsm_alloc a = { .addr = addr, .npages = npages };

	return ioctl(fd, TINYDSM_IOC_FREE, &a) ? errno : 0;
}

static int page_info(int fd, uint64_t addr, struct tinydsm_page_info *pi)
{
	memset(pi, 0, sizeof(*pi));
	pi->addr = addr;
	return ioctl(fd, TINYDSM_IOC_PAGE_INFO, pi) ? errno : 0;
}

static void *map_run(int fd, uint64_t addr, unsigned int npages)
{
	void *p = mmap(NULL, (size_t)npages * PG, PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, addr - TINYDSM_REGION_BASE);

	return p == MAP_FAILED ? NULL : p;
}

FIXTURE(priv) {
	struct child_res *res;	/* shared with the children */
	struct stat dev;	/* the device node as it was */
	bool dev_changed;
	char max_sites[32];
	char uprobe_unpriv[8];
	int fd;
};

FIXTURE_SETUP(priv)
{
	self->fd = -1;
	self->res = MAP_FAILED;
	if (geteuid())
		SKIP(return, "needs root (it drops to uid %d itself)", NOBODY);
	if (stat(DEV_PATH, &self->dev))
		SKIP(return, DEV_PATH " is not there (module not loaded)");
	self->res = mmap(NULL, sizeof(*self->res), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->res);
	ASSERT_EQ(0, param_read("max_sites_per_mm", self->max_sites,
				sizeof(self->max_sites)));
	ASSERT_EQ(0, param_read("uprobe_sites_unprivileged", self->uprobe_unpriv,
				sizeof(self->uprobe_unpriv)));
	/* What the udev rule does: group tinydsm, mode 0660. */
	ASSERT_EQ(0, chown(DEV_PATH, -1, TEST_GID));
	self->dev_changed = true;
	ASSERT_EQ(0, chmod(DEV_PATH, 0660));
	self->fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(priv)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->dev_changed) {
		if (chown(DEV_PATH, -1, self->dev.st_gid) ||
		    chmod(DEV_PATH, self->dev.st_mode & 07777))
			TH_LOG(DEV_PATH ": cannot put its group and mode back");
		param_write("max_sites_per_mm", self->max_sites);
		param_write("uprobe_sites_unprivileged", self->uprobe_unpriv);
	}
	if (self->res != MAP_FAILED)
		munmap(self->res, sizeof(*self->res));
}

/* ---- who may open the device ---- */

static void try_open(struct child_res *res, void *arg __attribute__((unused)))
{
	int fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);

	res->v[0] = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	fd = open(DEV_PATH, O_RDONLY | O_CLOEXEC);
	res->v[1] = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	res->reached = 2;
}

/* 0660, group tinydsm: a user outside the group cannot open it at all. */
TEST_F(priv, open_needs_the_group)
{
	ASSERT_EQ(0, as_nobody(false, try_open, self->res, NULL));
	ASSERT_EQ(2, self->res->reached);
	EXPECT_EQ(EACCES, self->res->v[0]);
	EXPECT_EQ(EACCES, self->res->v[1]);

	ASSERT_EQ(0, as_nobody(true, try_open, self->res, NULL));
	ASSERT_EQ(2, self->res->reached);
	EXPECT_EQ(0, self->res->v[0]);
	EXPECT_EQ(0, self->res->v[1]);
}

/* The rule make install puts in place says the same. */
TEST_F(priv, udev_rule_in_tree)
{
	const char *tree = getenv("TDSM_TREE");
	char path[512], buf[4096];
	ssize_t n;
	int fd;

	if (!tree)
		SKIP(return, "TDSM_TREE is not set (not in the lab)");
	snprintf(path, sizeof(path), "%s/tools/udev/60-tinydsm.rules", tree);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("%s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ASSERT_LT(0, n);
	buf[n] = 0;
	EXPECT_NE(NULL, strstr(buf, "KERNEL==\"tinydsm\""));
	EXPECT_NE(NULL, strstr(buf, "GROUP=\"tinydsm\""));
	EXPECT_NE(NULL, strstr(buf, "MODE=\"0660\""));
}

/* ---- who may free a run ---- */

struct free_arg {
	uint64_t roots;		/* root's run, 1 page */
	uint64_t last;		/* the slice's last page, never allocated */
};

static void try_free(struct child_res *res, void *arg)
{
	const struct free_arg *fa = arg;
	uint64_t mine = 0, kept = 0;
	int fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	res->v[0] = dev_free(fd, fa->roots, 1);		/* root's: EPERM */
	res->v[1] = dev_alloc(fd, 2, &mine);		/* its own */
	res->v[2] = dev_free(fd, mine, 1);		/* half of it: EINVAL */
	res->v[3] = dev_free(fd, mine + PG, 1);		/* the other half: EPERM */
	res->v[4] = dev_free(fd, mine, 2);		/* all of it: 0 */
	res->v[5] = dev_free(fd, mine, 2);		/* again: EINVAL */
	res->v[6] = dev_free(fd, fa->last, 1);		/* never allocated: EINVAL */
	res->v[7] = dev_alloc(fd, 1, &kept);		/* left for root to free */
	res->v[8] = (int64_t)kept;
	res->reached = 9;
	close(fd);
}

TEST_F(priv, free_only_ones_own_runs)
{
	struct tinydsm_region_info info;
	struct free_arg fa;

	ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_REGION_INFO, &info));
	fa.last = TINYDSM_REGION_BASE +
		  ((info.node_id - 1) * info.slice_pages + info.slice_pages - 1) * PG;
	ASSERT_EQ(0, dev_alloc(self->fd, 1, &fa.roots));

	ASSERT_EQ(0, as_nobody(true, try_free, self->res, &fa));
	ASSERT_EQ(9, self->res->reached);
	EXPECT_EQ(EPERM, self->res->v[0]);
	EXPECT_EQ(0, self->res->v[1]);
	EXPECT_EQ(EINVAL, self->res->v[2]);
	EXPECT_EQ(EPERM, self->res->v[3]);
	EXPECT_EQ(0, self->res->v[4]);
	EXPECT_EQ(EINVAL, self->res->v[5]);
	EXPECT_EQ(EINVAL, self->res->v[6]);
	EXPECT_EQ(0, self->res->v[7]);

	/* Root's run survived; root (CAP_SYS_ADMIN) frees anybody's. */
	EXPECT_EQ(0, dev_free(self->fd, self->res->v[8], 1));
	EXPECT_EQ(0, dev_free(self->fd, fa.roots, 1));
	EXPECT_EQ(EINVAL, dev_free(self->fd, fa.roots, 1));
}

/* ---- the process's cap on access sites ---- */

static int sites_add(int fd, const struct tinydsm_site_entry *e, unsigned int n)
{
	struct tinydsm_sites req = { .table = (uintptr_t)e, .count = n };

	return ioctl(fd, TINYDSM_IOC_SITES_ADD, &req) ? errno : 0;
}

static void try_sites(struct child_res *res, void *arg __attribute__((unused)))
{
	const struct tinydsm_site_entry *e;
	size_t n = tdsm_sites(&e);
	int fd1, fd2;

	if (n < 3)
		return;
	fd1 = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	fd2 = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	if (fd1 < 0 || fd2 < 0)
		return;
	res->v[0] = sites_add(fd1, e, 2);	/* up to the cap (2): 0 */
	res->v[1] = sites_add(fd2, e + 2, 1);	/* another file, same process */
	res->v[2] = sites_add(fd1, e + 2, 1);
	close(fd1);				/* its 2 sites go back */
	res->v[3] = sites_add(fd2, e + 2, 1);	/* room again: 0 */
	close(fd2);
	res->reached = 4;
}

TEST_F(priv, sites_capped_per_process)
{
	const struct tinydsm_site_entry *e;

	ASSERT_LE(3, tdsm_sites(&e));
	ASSERT_EQ(0, param_write("max_sites_per_mm", "2"));
	ASSERT_EQ(0, as_nobody(true, try_sites, self->res, NULL));
	ASSERT_EQ(4, self->res->reached);
	EXPECT_EQ(0, self->res->v[0]);
	EXPECT_EQ(EDQUOT, self->res->v[1]);
	EXPECT_EQ(EDQUOT, self->res->v[2]);
	EXPECT_EQ(0, self->res->v[3]);
	/* The cap is the process's, whoever it is: root too. */
	EXPECT_EQ(0, sites_add(self->fd, e, 2));
	EXPECT_EQ(EDQUOT, sites_add(self->fd, e + 2, 1));
}

/* ---- arming uprobe sites ---- */

static int set_form(int fd, uint64_t addr, unsigned int op, unsigned int form,
		    unsigned int *count)
{
	struct tinydsm_sites_ctl c = { .op = op, .form = form, .addr = addr };
	int err = ioctl(fd, TINYDSM_IOC_SITES_CTL, &c) ? errno : 0;

	if (count)
		*count = c.count;
	return err;
}

static void try_uprobe(struct child_res *res, void *arg __attribute__((unused)))
{
	struct tinydsm_site_info si = { 0 };
	struct tinydsm_page_info pi;
	unsigned int count = 99;
	uint64_t addr = 0, *p, ip;
	int fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0 || dev_alloc(fd, 1, &addr))
		return;
	p = map_run(fd, addr, 1);
	if (!p)
		return;
	/* The first touch faults: the load becomes a uprobe site. */
	res->v[0] = plain_ld(p + 1);
	if (page_info(fd, addr, &pi) || !pi.fault_ip)
		return;
	ip = pi.fault_ip;
	si.addr = ip;
	res->v[1] = ioctl(fd, TINYDSM_IOC_SITE_INFO, &si) ? -errno : si.kind;
	res->v[2] = set_form(fd, ip, TINYDSM_SITES_SET_FORM, TINYDSM_SITE_LOOKUP, NULL);
	res->v[3] = set_form(fd, 0, TINYDSM_SITES_SET_FORM_ALL, TINYDSM_SITE_LOOKUP,
			     &count);
	res->v[4] = count;
	si = (struct tinydsm_site_info){ .addr = ip };
	res->v[5] = ioctl(fd, TINYDSM_IOC_SITE_INFO, &si) ? -errno : si.form;
	/* Whatever its form, the data is right. */
	plain_st(p + 1, 0x5eed);
	res->v[6] = plain_ld(p + 1);
	res->v[7] = set_form(fd, ip, TINYDSM_SITES_SET_FORM, TINYDSM_SITE_DIRECT, NULL);
	munmap(p, PG);
	res->v[8] = dev_free(fd, addr, 1);
	res->reached = 9;
	close(fd);
}

TEST_F(priv, uprobe_sites_need_ptrace)
{
	ASSERT_EQ(0, param_write("uprobe_sites_unprivileged", "0"));
	ASSERT_EQ(0, as_nobody(true, try_uprobe, self->res, NULL));
	ASSERT_EQ(9, self->res->reached);
	EXPECT_EQ(0, self->res->v[0]);
	EXPECT_EQ(TINYDSM_SITE_UPROBE, self->res->v[1]);
	EXPECT_EQ(EPERM, self->res->v[2]);	/* cannot arm it */
	EXPECT_EQ(0, self->res->v[3]);		/* all: leaves it direct */
	EXPECT_EQ(0, self->res->v[4]);
	EXPECT_EQ(TINYDSM_SITE_DIRECT, self->res->v[5]);
	EXPECT_EQ(0x5eed, self->res->v[6]);
	EXPECT_EQ(0, self->res->v[7]);
	EXPECT_EQ(0, self->res->v[8]);

	/* The module parameter lets every opener arm them. */
	ASSERT_EQ(0, param_write("uprobe_sites_unprivileged", "1"));
	ASSERT_EQ(0, as_nobody(true, try_uprobe, self->res, NULL));
	ASSERT_EQ(9, self->res->reached);
	EXPECT_EQ(TINYDSM_SITE_UPROBE, self->res->v[1]);
	EXPECT_EQ(0, self->res->v[2]);
	EXPECT_EQ(0, self->res->v[3]);
	EXPECT_EQ(TINYDSM_SITE_LOOKUP, self->res->v[5]);
	EXPECT_EQ(0x5eed, self->res->v[6]);
	EXPECT_EQ(0, self->res->v[7]);
	EXPECT_EQ(0, self->res->v[8]);
	ASSERT_EQ(0, param_write("uprobe_sites_unprivileged", "0"));
}

/* ---- long-term pins of region pages ---- */

/*
 * True if this kernel refuses long-term writable pins of a file mapping
 * that tracks dirtying (.page_mkwrite, as the region has): 6.5 and later
 * (get_user_pages()'s writable_file_mapping_allowed()).
 */
static bool kernel_refuses_writable_longterm_pins(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 5);
}

/* A run of 1 page, mapped, with a known pattern written. */
static uint64_t *pattern_page(int fd, uint64_t *addr)
{
	uint64_t *p;
	int i;

	if (dev_alloc(fd, 1, addr))
		return NULL;
	p = map_run(fd, *addr, 1);
	if (p)
		for (i = 0; i < PG / 8; i++)
			p[i] = 0xa5a5000000000000ull + i;
	return p;
}

static bool pattern_ok(const uint64_t *p)
{
	int i;

	for (i = 0; i < PG / 8; i++)
		if (p[i] != 0xa5a5000000000000ull + i)
			return false;
	return true;
}

/*
 * io_uring refuses a region page as a fixed buffer: up to 6.4 io_uring
 * itself takes only anonymous, shmem or hugetlbfs memory (EOPNOTSUPP),
 * from 6.5 get_user_pages() refuses the long-term writable pin (EFAULT).
 */
TEST_F(priv, io_uring_fixed_buffer_refused)
{
	struct io_uring_params params = { 0 };
	uint64_t addr, *p, anon[PG / 8];
	struct iovec iov;
	int ring;

	ring = syscall(__NR_io_uring_setup, 4, &params);
	if (ring < 0)
		SKIP(return, "io_uring_setup: %s", strerror(errno));
	p = pattern_page(self->fd, &addr);
	ASSERT_NE(NULL, p);

	/* A plain buffer registers: the refusal below is the region's. */
	iov = (struct iovec){ .iov_base = anon, .iov_len = sizeof(anon) };
	EXPECT_EQ(0, syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS,
			     &iov, 1)) TH_LOG("anonymous buffer: %s", strerror(errno));
	EXPECT_EQ(0, syscall(__NR_io_uring_register, ring, IORING_UNREGISTER_BUFFERS,
			     NULL, 0));

	iov = (struct iovec){ .iov_base = p, .iov_len = PG };
	EXPECT_EQ(-1, syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS,
			      &iov, 1));
	EXPECT_EQ(kernel_refuses_writable_longterm_pins() ? EFAULT : EOPNOTSUPP,
		  errno) TH_LOG("%s", strerror(errno));
	close(ring);

	EXPECT_TRUE(pattern_ok(p));
	munmap(p, PG);
	EXPECT_EQ(0, dev_free(self->fd, addr, 1));
}

/*
 * An RDMA memory registration of a region page is a long-term pin. A
 * writable one is refused where the kernel refuses long-term writable pins
 * of dirty-tracked file mappings (6.5 and later: EFAULT), and registers on
 * older kernels; a read-only one registers. While the page stays here a
 * pin is harmless; a take-away waits for it, bounded (the module's rule
 * F2). The page's bytes are intact through it all.
 */
TEST_F(priv, ibv_reg_mr_of_region_pages)
{
	bool refused = kernel_refuses_writable_longterm_pins();
	struct ibv_device **devs;
	struct ibv_context *ctx;
	uint64_t addr, *p, *anon;
	struct ibv_pd *pd;
	struct ibv_mr *mr;
	int n;

	devs = ibv_get_device_list(&n);
	if (!devs || !n)
		SKIP(return, "no RDMA device");
	ctx = ibv_open_device(devs[0]);
	ASSERT_NE(NULL, ctx);
	pd = ibv_alloc_pd(ctx);
	ASSERT_NE(NULL, pd);
	p = pattern_page(self->fd, &addr);
	ASSERT_NE(NULL, p);

	/* A plain buffer registers: any refusal below is the region's. */
	anon = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	ASSERT_NE(MAP_FAILED, anon);
	anon[0] = 1;
	mr = ibv_reg_mr(pd, anon, PG, IBV_ACCESS_LOCAL_WRITE);
	EXPECT_NE(NULL, mr) TH_LOG("anonymous buffer: %s", strerror(errno));
	if (mr)
		ibv_dereg_mr(mr);

	errno = 0;
	mr = ibv_reg_mr(pd, p, PG, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (refused) {
		EXPECT_EQ(NULL, mr);
		EXPECT_EQ(EFAULT, errno);
	} else {
		EXPECT_NE(NULL, mr) TH_LOG("writable MR: %s", strerror(errno));
	}
	if (mr)
		EXPECT_EQ(0, ibv_dereg_mr(mr));
	/* Read-only: a pin without write, which every kernel allows. */
	errno = 0;
	mr = ibv_reg_mr(pd, p, PG, IBV_ACCESS_REMOTE_READ);
	EXPECT_NE(NULL, mr) TH_LOG("read-only MR: %s", strerror(errno));
	EXPECT_TRUE(pattern_ok(p));
	if (mr)
		EXPECT_EQ(0, ibv_dereg_mr(mr));

	EXPECT_TRUE(pattern_ok(p));
	munmap(anon, PG);
	munmap(p, PG);
	EXPECT_EQ(0, dev_free(self->fd, addr, 1));
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	ibv_free_device_list(devs);
}

/* /proc/PID/mem (and ptrace) read and write the pages, through GUP. */
TEST_F(priv, proc_mem_reads_and_writes)
{
	uint64_t addr, *p, v = 0x1234567890abcdefull, back = 0;
	int mem;

	p = pattern_page(self->fd, &addr);
	ASSERT_NE(NULL, p);
	mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, mem);
	ASSERT_EQ(sizeof(back), pread(mem, &back, sizeof(back), addr + 8));
	EXPECT_EQ(p[1], back);
	ASSERT_EQ(sizeof(v), pwrite(mem, &v, sizeof(v), addr + 16));
	EXPECT_EQ(v, p[2]);
	close(mem);
	munmap(p, PG);
	EXPECT_EQ(0, dev_free(self->fd, addr, 1));
}

TEST_HARNESS_MAIN
