// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * libtinydsm: attach to /dev/tinydsm, register the program's access sites,
 * and thin wrappers of the module's ioctls. The access macros are in
 * tinydsm.h, the stubs their thunks call in lookup.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tinydsm.h"

#define DEV_PATH	"/dev/" TINYDSM_DEVICE_NAME

/*
 * The linker defines these for a section named as a C identifier. Weak, so
 * that a program without a single site links (both are then 0); hidden, so
 * that they are this executable's own section and need no relocation.
 */
extern const struct tinydsm_site_entry __start_tinydsm_sites[]
	__attribute__((weak, visibility("hidden")));
extern const struct tinydsm_site_entry __stop_tinydsm_sites[]
	__attribute__((weak, visibility("hidden")));

/* Written by tdsm_attach() and tdsm_detach() only; see tinydsm.h. */
static struct tinydsm_region_info region TDSM__PRIVATE;
static uint8_t *xlate_map TDSM__PRIVATE;
static uint64_t xlate_pages TDSM__PRIVATE;
static bool xlate_in_window TDSM__PRIVATE;
static int attached TDSM__PRIVATE;

static _Thread_local char detail[256];

/* Record why a call failed, "<what>: <strerror>", and return -err. */
static int vfail(int err, const char *fmt, va_list ap)
{
	int n;

	n = vsnprintf(detail, sizeof(detail), fmt, ap);
	if (n >= 0 && (size_t)n < sizeof(detail))
		snprintf(detail + n, sizeof(detail) - n, ": %s", strerror(err));
	return -err;
}

static __attribute__((format(printf, 2, 3))) int fail(int err,
						       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err = vfail(err, fmt, ap);
	va_end(ap);
	return err;
}

int tdsm__fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err = vfail(err, fmt, ap);
	va_end(ap);
	return err;
}

const char *tdsm_strerror_detail(void)
{
	return detail;
}

static __attribute__((format(printf, 3, 4))) int xioctl(unsigned long cmd,
							 void *arg,
							 const char *fmt, ...)
{
	va_list ap;
	int err;

	if (!attached)
		return fail(ENODEV, "libtinydsm: not attached");
	if (ioctl(tdsm__state.fd, cmd, arg) == 0)
		return 0;
	va_start(ap, fmt);
	err = vfail(errno, fmt, ap);
	va_end(ap);
	return err;
}

size_t tdsm_sites(const struct tinydsm_site_entry **first)
{
	size_t n = 0;

	if (__start_tinydsm_sites && __stop_tinydsm_sites)
		n = __stop_tinydsm_sites - __start_tinydsm_sites;
	*first = n ? __start_tinydsm_sites : NULL;
	return n;
}

const struct tinydsm_site_entry *tdsm_site_find(uintptr_t site)
{
	const struct tinydsm_site_entry *e;
	size_t i, n = tdsm_sites(&e);

	for (i = 0; i < n; i++)
		if (tdsm_site_addr(&e[i]) == site)
			return &e[i];
	return NULL;
}

int tdsm_sites_add(const struct tinydsm_site_entry *table, size_t count)
{
	struct tinydsm_sites req = {
		.table = (uintptr_t)table,
		.count = count,
	};
	const struct tinydsm_site_entry *e;
	int err;

	if (!attached)
		return fail(ENODEV, "libtinydsm: not attached");
	if (count > UINT32_MAX)
		return fail(E2BIG, "TINYDSM_IOC_SITES_ADD of %zu sites", count);
	if (ioctl(tdsm__state.fd, TINYDSM_IOC_SITES_ADD, &req) == 0)
		return req.added;
	err = errno;
	if ((err != EINVAL && err != EEXIST) || req.bad_index >= count)
		return fail(err, "TINYDSM_IOC_SITES_ADD of %zu sites at %p",
			    count, (const void *)table);
	/* Name the entry refused, with what it says, for the bug report. */
	e = &table[req.bad_index];
	return fail(err, "TINYDSM_IOC_SITES_ADD of %zu sites: bad_index %u: "
		    "%s%u at %#lx (len %u, value reg %u, addr reg %u, "
		    "flags %#x), thunk %#lx",
		    count, req.bad_index,
		    e->flags & TINYDSM_SITE_F_STORE ? "store" : "load",
		    e->width * 8, (unsigned long)tdsm_site_addr(e), e->len,
		    e->value_reg, e->addr_reg, e->flags,
		    (unsigned long)tdsm_site_lookup_addr(e));
}

/*
 * A module of our ABI or a newer one: the ABI only grows (structures at
 * their end, with the old ioctl numbers still answered), so a newer module
 * serves what this library asks. An older one lacks what we read.
 */
static bool tdsm_abi_ok(uint32_t module_abi)
{
	return module_abi >= TINYDSM_ABI_VERSION;
}

static int map_region(int fd, unsigned int flags)
{
	long psz = sysconf(_SC_PAGESIZE);
	void *map;

	if (!tdsm_abi_ok(region.abi_version))
		return fail(EPROTO, "module ABI %u, libtinydsm ABI %u",
			    region.abi_version, TINYDSM_ABI_VERSION);
	if (region.page_size != 1u << TDSM__PAGE_SHIFT || region.page_size < psz ||
	    !region.size || region.size % region.page_size)
		return fail(EPROTO, "region of %llu bytes in %u-byte pages",
			    (unsigned long long)region.size, region.page_size);

	/* The device picks the address: base + 0, or it fails. */
	map = mmap(NULL, region.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fd, 0);
	if (map == MAP_FAILED)
		return fail(errno, "mmap of the region (%llu bytes)",
			    (unsigned long long)region.size);
	if ((uintptr_t)map != region.base) {
		munmap(map, region.size);
		return fail(EADDRNOTAVAIL, "region mapped at %p, not at %#llx",
			    map, (unsigned long long)region.base);
	}

	/*
	 * The translation table, where the thunks read it (window.c). A
	 * process without sites needs no window: where there can be none
	 * (no BMI2, a region beyond it, something mapped there), the table
	 * goes wherever mmap puts it.
	 */
	xlate_pages = region.size / region.page_size;
	xlate_map = tdsm__window_map(region.base, xlate_pages, fd);
	xlate_in_window = !!xlate_map;
	if (!xlate_map && (flags & TDSM_ATTACH_NO_SITES)) {
		xlate_map = mmap(NULL, xlate_pages, PROT_READ, MAP_SHARED, fd,
				 TINYDSM_XLATE_OFFSET);
		if (xlate_map == MAP_FAILED) {
			xlate_map = NULL;
			errno = -fail(errno, "mmap of the translation table (%llu bytes)",
				      (unsigned long long)xlate_pages);
		}
	}
	if (!xlate_map) {
		int err = -errno;

		munmap(map, region.size);
		return err;
	}
	return 0;
}

int tdsm_attach(unsigned int flags)
{
	struct tdsm__state *s = &tdsm__state;
	const struct tinydsm_site_entry *first;
	size_t nsites;
	int fd, err;

	if (flags & ~__TDSM_ATTACH_ALL)
		return fail(EINVAL, "tdsm_attach: unknown flags %#x",
			    flags & ~__TDSM_ATTACH_ALL);
	if (attached)
		return fail(EBUSY, "tdsm_attach: already attached");

	fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail(errno, "open %s", DEV_PATH);
	if (ioctl(fd, TINYDSM_IOC_REGION_INFO, &region) < 0) {
		err = fail(errno, "TINYDSM_IOC_REGION_INFO");
		goto err_close;
	}
	err = map_region(fd, flags);
	if (err)
		goto err_close;

	s->fd = fd;
	s->base = region.base;
	s->xlate = xlate_map;
	s->page_shift = __builtin_ctz(region.page_size);
	/* Last: a stub that sees the size sees the rest. */
	__atomic_store_n(&s->size, region.size, __ATOMIC_RELEASE);
	attached = 1;

	nsites = tdsm_sites(&first);
	if (!(flags & TDSM_ATTACH_NO_SITES) && nsites) {
		err = tdsm_sites_add(first, nsites);
		if (err < 0) {
			tdsm_detach();
			return err;
		}
	}
	return 0;

err_close:
	close(fd);
	memset(&region, 0, sizeof(region));
	return err;
}

/*
 * Closing the file makes the module forget the sites. One left in its
 * lookup form stays correct: with size 0 its stub does plain accesses.
 */
void tdsm_detach(void)
{
	struct tdsm__state *s = &tdsm__state;

	if (!attached)
		return;
	__atomic_store_n(&s->size, 0, __ATOMIC_RELEASE);
	if (xlate_in_window)
		tdsm__window_unmap(xlate_map, xlate_pages);
	else
		munmap(xlate_map, xlate_pages);
	munmap((void *)(uintptr_t)region.base, region.size);
	close(s->fd);
	s->fd = -1;
	s->xlate = NULL;
	xlate_map = NULL;
	memset(&region, 0, sizeof(region));
	attached = 0;
}

int tdsm_attached(void)
{
	return attached;
}

int tdsm_fd(void)
{
	return tdsm__state.fd;
}

const struct tinydsm_region_info *tdsm_region_info(void)
{
	return attached ? &region : NULL;
}

int tdsm_region_query(struct tinydsm_region_info *info)
{
	int fd, err = 0;

	memset(info, 0, sizeof(*info));
	fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail(errno, "open %s", DEV_PATH);
	if (ioctl(fd, TINYDSM_IOC_REGION_INFO, info) < 0)
		err = fail(errno, "TINYDSM_IOC_REGION_INFO");
	else if (!tdsm_abi_ok(info->abi_version))
		err = fail(EPROTO, "module ABI %u, libtinydsm ABI %u",
			   info->abi_version, TINYDSM_ABI_VERSION);
	close(fd);
	return err;
}

void *tdsm_alloc(unsigned int npages, unsigned int home)
{
	struct tinydsm_alloc a = { .home = home, .npages = npages };
	int err;

	err = xioctl(TINYDSM_IOC_ALLOC, &a,
		     "TINYDSM_IOC_ALLOC of %u pages at node %u", npages, home);
	if (err) {
		errno = -err;
		return NULL;
	}
	return (void *)(uintptr_t)a.addr;
}

int tdsm_free(void *addr, unsigned int npages)
{
	struct tinydsm_alloc a = { .addr = (uintptr_t)addr, .npages = npages };

	return xioctl(TINYDSM_IOC_FREE, &a, "TINYDSM_IOC_FREE of %u pages at %p",
		      npages, addr);
}

int tdsm_place(void *addr, unsigned int npages, unsigned int node,
	       unsigned int *moved)
{
	struct tinydsm_place p = {
		.addr = (uintptr_t)addr,
		.npages = npages,
		.node = node,
	};
	int err;

	err = xioctl(TINYDSM_IOC_PLACE, &p,
		     "TINYDSM_IOC_PLACE of %u pages at %p on node %u", npages,
		     addr, node);
	if (moved)
		*moved = p.moved;
	return err;
}

int tdsm_page_info(const void *addr, struct tinydsm_page_info *pi)
{
	memset(pi, 0, sizeof(*pi));
	pi->addr = (uintptr_t)addr;
	return xioctl(TINYDSM_IOC_PAGE_INFO, pi, "TINYDSM_IOC_PAGE_INFO of %p",
		      addr);
}

int tdsm_stats(struct tinydsm_stats *st)
{
	memset(st, 0, sizeof(*st));
	return xioctl(TINYDSM_IOC_STATS, st, "TINYDSM_IOC_STATS");
}

int tdsm_set_policy(unsigned int policy)
{
	struct tinydsm_sites_ctl ctl = {
		.op = TINYDSM_SITES_SET_POLICY,
		.policy = policy,
	};

	return xioctl(TINYDSM_IOC_SITES_CTL, &ctl,
		      "TINYDSM_IOC_SITES_CTL set policy %u", policy);
}

int tdsm_get_policy(unsigned int *policy, unsigned int *count)
{
	struct tinydsm_sites_ctl ctl = { .op = TINYDSM_SITES_GET };
	int err;

	err = xioctl(TINYDSM_IOC_SITES_CTL, &ctl, "TINYDSM_IOC_SITES_CTL get");
	if (err)
		return err;
	if (policy)
		*policy = ctl.policy;
	if (count)
		*count = ctl.count;
	return 0;
}

int tdsm_site_set_form(uintptr_t site, unsigned int form)
{
	struct tinydsm_sites_ctl ctl = {
		.op = TINYDSM_SITES_SET_FORM,
		.form = form,
		.addr = site,
	};
	int err;

	err = xioctl(TINYDSM_IOC_SITES_CTL, &ctl,
		     "TINYDSM_IOC_SITES_CTL site %#lx form %u",
		     (unsigned long)site, form);
	return err ? err : (int)ctl.count;
}

int tdsm_sites_set_form_all(unsigned int form)
{
	struct tinydsm_sites_ctl ctl = {
		.op = TINYDSM_SITES_SET_FORM_ALL,
		.form = form,
	};
	int err;

	err = xioctl(TINYDSM_IOC_SITES_CTL, &ctl,
		     "TINYDSM_IOC_SITES_CTL all sites form %u", form);
	return err ? err : (int)ctl.count;
}

int tdsm_site_info(uintptr_t site, struct tinydsm_site_info *si)
{
	memset(si, 0, sizeof(*si));
	si->addr = site;
	return xioctl(TINYDSM_IOC_SITE_INFO, si,
		      "TINYDSM_IOC_SITE_INFO of site %#lx", (unsigned long)site);
}
