// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * libtinydsm: the lookup thunks' window onto the translation table.
 *
 * A thunk's fast path (tinydsm.h, __TDSM_FAST) must decide in as few
 * instructions as it can whether the access can be done on this node's
 * copy. It reads one byte at TDSM__WINDOW + pext(A, mask): A's page number
 * modulo len, the window's length, a power of two of at least the
 * region's pages and at least one page. The region's base is a multiple
 * of len pages (TINYDSM_REGION_BASE is 2^46), so region page i is byte i
 * of the window, where the module's translation table is mapped; the rest
 * of the window is zeros. No bounds check is needed: every byte a thunk
 * can read is mapped, and an address outside the region reads the byte of
 * some region page, or 0; either way what the thunk then does is right
 * for it (a plain access, or the stub, which does a plain access).
 *
 * The window is at a fixed address so that the thunk can name it in a
 * 32-bit displacement, with no register and no relocation (a PIE works):
 * [1 GiB, 2 GiB) is far from where Linux puts a PIE, the heap's mmaps and
 * the stacks, and above the brk heap of a non-PIE program until it has
 * grown by a gigabyte (glibc's malloc then goes on with mmap). The window
 * only grows, and stays after a detach (its table then reads 0: every
 * thunk takes its stub, which sees the library detached), because a site
 * may stay in its lookup form and a thread may be between its pext and
 * its read.
 */
#include <cpuid.h>
#include <errno.h>
#include <sys/mman.h>

#include "tinydsm.h"

#define WINDOW_PAGE	(1ULL << TDSM__PAGE_SHIFT)

/* The length of the window mapped so far at TDSM__WINDOW (0: none). */
static uint64_t window_len TDSM__PRIVATE;

/* The thunks' pext needs BMI2 (CPUID leaf 7, EBX bit 8). */
static int have_bmi2(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return !!(b & bit_BMI2);
}

/* [TDSM__WINDOW + from, TDSM__WINDOW + to) as zeros, read-only. */
static int window_zeros(uint64_t from, uint64_t to, int flags)
{
	void *at = (void *)(uintptr_t)(TDSM__WINDOW + from);
	void *p;

	p = mmap(at, to - from, PROT_READ,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | flags, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (p != at) {	/* a kernel before 4.17 takes NOREPLACE as a hint */
		munmap(p, to - from);
		return -EEXIST;
	}
	return 0;
}

uint8_t *tdsm__window_map(uint64_t base, uint64_t npages, int fd)
{
	uint64_t len = WINDOW_PAGE, slot, from, span;
	void *at, *p;
	int err;

	if (!have_bmi2()) {
		errno = -tdsm__fail(ENOTSUP, "this processor has no BMI2, whose pext the access sites' lookup form uses");
		return NULL;
	}
	/* Never smaller than it is: the mask is the window's whole length. */
	while ((len < npages || len < window_len) && len < TDSM__WINDOW_MAX)
		len <<= 1;
	if (len < npages) {
		errno = -tdsm__fail(EFBIG, "a region of %llu pages: the lookup window covers at most %llu",
				    (unsigned long long)npages,
				    (unsigned long long)TDSM__WINDOW_MAX);
		return NULL;
	}
	slot = (base >> TDSM__PAGE_SHIFT) & (len - 1);
	from = slot & ~(WINDOW_PAGE - 1);
	span = (slot + npages - from + WINDOW_PAGE - 1) & ~(WINDOW_PAGE - 1);
	if (slot + npages > len || (fd >= 0 && slot != from)) {
		errno = -tdsm__fail(EINVAL, "region base %#llx: its pages do not start a run of the lookup window",
				    (unsigned long long)base);
		return NULL;
	}
	if (len > window_len) {
		err = window_zeros(window_len, len, MAP_FIXED_NOREPLACE);
		if (err) {
			errno = -tdsm__fail(-err, "the lookup window at %#x..%#llx (something else is mapped there)",
					    TDSM__WINDOW,
					    (unsigned long long)(TDSM__WINDOW + len));
			return NULL;
		}
		window_len = len;
	}
	at = (void *)(uintptr_t)(TDSM__WINDOW + from);
	if (fd >= 0)
		p = mmap(at, span, PROT_READ, MAP_SHARED | MAP_FIXED, fd,
			 TINYDSM_XLATE_OFFSET);
	else
		p = mmap(at, span, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED) {
		errno = -tdsm__fail(errno, "mmap of the translation table (%llu bytes) in the lookup window",
				    (unsigned long long)span);
		window_zeros(from, from + span, MAP_FIXED);
		return NULL;
	}
	/* Last: a thunk that reads the new mask reads the table under it. */
	__atomic_store_n(&tdsm__state.window_mask,
			 (len - 1) << TDSM__PAGE_SHIFT, __ATOMIC_RELEASE);
	return (uint8_t *)at + (slot - from);
}

void tdsm__window_unmap(const volatile uint8_t *table, uint64_t npages)
{
	uint64_t off = (uintptr_t)table - TDSM__WINDOW;
	uint64_t from = off & ~(WINDOW_PAGE - 1);
	uint64_t to = (off + npages + WINDOW_PAGE - 1) & ~(WINDOW_PAGE - 1);

	/* Replaced, never unmapped: the window has no hole a thunk could read. */
	window_zeros(from, to, MAP_FIXED);
}
