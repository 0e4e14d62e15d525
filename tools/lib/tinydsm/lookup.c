// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * libtinydsm: the translation stubs that the lookup thunks call.
 *
 * A thunk runs in the middle of arbitrary compiled code, so the stubs keep
 * to what the thunk saves: general registers only (this file is built with
 * -mgeneral-regs-only, so the vector and x87 state of the interrupted code
 * is never touched), no libc (errno stays as it was), and system calls
 * through the syscall instruction directly.
 *
 * A load of a page this node holds SHARED or EXCLUSIVE, and a store to a
 * page it holds EXCLUSIVE, is done here on the local copy; anything else is
 * one TINYDSM_IOC_WORD, done by the module where the page is. A stale
 * translation byte is harmless: a local access to a page that just left
 * faults and is served as a fault. So is an access the module would refuse
 * (outside the region, across a page): it is done plainly, and faults or
 * not as the same mov in its direct form would.
 */
#include <signal.h>
#include <sys/syscall.h>

#include "tinydsm.h"

struct tdsm__state tdsm__state TDSM__PRIVATE = { .fd = -1 };

static inline long raw_syscall0(long nr)
{
	long ret;

	asm volatile("syscall"
		     : "=a" (ret)
		     : "0" (nr)
		     : "rcx", "r11", "memory");
	return ret;
}

static inline long raw_syscall3(long nr, long a, long b, long c)
{
	long ret;

	asm volatile("syscall"
		     : "=a" (ret)
		     : "0" (nr), "D" (a), "S" (b), "d" (c)
		     : "rcx", "r11", "memory");
	return ret;
}

/*
 * What a failed fault gives the access: SIGBUS for this thread. If a
 * handler returns, the access completes (a load reads 0).
 */
static __attribute__((cold, noinline)) void raise_sigbus(void)
{
	long pid = raw_syscall0(SYS_getpid);
	long tid = raw_syscall0(SYS_gettid);

	raw_syscall3(SYS_tgkill, pid, tid, SIGBUS);
}

/* TINYDSM_IOC_ATOMIC @a at the page's holder: the word before, or SIGBUS. */
static uint64_t atomic_at_holder(struct tinydsm_atomic *a)
{
	if (raw_syscall3(SYS_ioctl, tdsm__state.fd, TINYDSM_IOC_ATOMIC, (long)a) < 0) {
		raise_sigbus();
		return 0;
	}
	return a->old;
}

static uint64_t plain_load(uint64_t addr, uint64_t width)
{
	switch (width) {
	case 1:
		return *(const volatile __tdsm_u8 *)addr;
	case 2:
		return *(const volatile __tdsm_u16 *)addr;
	case 4:
		return *(const volatile __tdsm_u32 *)addr;
	case 8:
		return *(const volatile __tdsm_u64 *)addr;
	}
	__builtin_trap();	/* a thunk passes a constant 1, 2, 4 or 8 */
}

static void plain_store(uint64_t addr, uint64_t value, uint64_t width)
{
	switch (width) {
	case 1:
		*(volatile __tdsm_u8 *)addr = value;
		return;
	case 2:
		*(volatile __tdsm_u16 *)addr = value;
		return;
	case 4:
		*(volatile __tdsm_u32 *)addr = value;
		return;
	case 8:
		*(volatile __tdsm_u64 *)addr = value;
		return;
	}
	__builtin_trap();
}

static uint64_t word(uint64_t addr, uint64_t value, uint64_t site,
		     uint64_t width, unsigned int flags)
{
	struct tinydsm_word w = {
		.addr = addr,
		.value = value,
		.site = site,
		.width = width,
		.flags = flags,
	};
	long ret;

	ret = raw_syscall3(SYS_ioctl, tdsm__state.fd, TINYDSM_IOC_WORD,
			   (long)&w);
	if (ret < 0) {
		raise_sigbus();
		return 0;
	}
	return w.value;
}

uint64_t tdsm__lookup_load(uint64_t addr, uint64_t site, uint64_t width)
{
	int st = tdsm__page_state(addr, width);

	if (st < 0 || st >= TINYDSM_PAGE_SHARED)
		return plain_load(addr, width);
	return word(addr, 0, site, width, 0);
}

void tdsm__lookup_store(uint64_t addr, uint64_t value, uint64_t site,
			uint64_t width)
{
	int st = tdsm__page_state(addr, width);

	/* The thunk passes the whole register; only the low bytes are data. */
	if (width < 8)
		value &= (1ULL << (width * 8)) - 1;
	if (st < 0 || st == TINYDSM_PAGE_EXCLUSIVE)
		plain_store(addr, value, width);
	else
		word(addr, value, site, width, TINYDSM_WORD_F_STORE);
}

/*
 * An atomic site's lookup form (TDSM_FETCH_ADD64(), TDSM_XCHG32(), ...):
 * the operation on the local copy if this node holds the page EXCLUSIVE
 * (as the direct form would do it), else one TINYDSM_IOC_ATOMIC, done where
 * the page is held exclusively (its home takes it). Returns the word
 * before; a failed ioctl gives SIGBUS, as a failed fault would. @how: the
 * width (4 or 8) | the site's flag (TINYDSM_SITE_F_FETCH_ADD or _XCHG)
 * << 8, a constant of the thunk.
 */
uint64_t tdsm__lookup_atomic(uint64_t addr, uint64_t value, uint64_t site,
			     uint64_t how)
{
	unsigned int width = how & 0xff, add = how >> 8 & TINYDSM_SITE_F_FETCH_ADD;
	int st = tdsm__page_state(addr, width);
	struct tinydsm_atomic a = {
		.addr = addr,
		.width = width,
		.op = add ? TINYDSM_ATOMIC_FETCH_ADD : TINYDSM_ATOMIC_XCHG,
	};

	(void)site;	/* TINYDSM_IOC_ATOMIC records no site */
	if (width == 4)
		value = (uint32_t)value;
	if (st < 0 || st == TINYDSM_PAGE_EXCLUSIVE) {
		if (width == 8)
			return add ? __atomic_fetch_add((volatile uint64_t *)addr, value,
							__ATOMIC_SEQ_CST) :
				     __atomic_exchange_n((volatile uint64_t *)addr, value,
							 __ATOMIC_SEQ_CST);
		return add ? __atomic_fetch_add((volatile uint32_t *)addr, (uint32_t)value,
						__ATOMIC_SEQ_CST) :
			     __atomic_exchange_n((volatile uint32_t *)addr, (uint32_t)value,
						 __ATOMIC_SEQ_CST);
	}
	a.operand = value;
	return atomic_at_holder(&a);
}

/*
 * A compare-and-swap site's lookup form (TDSM_CAS64(), TDSM_CAS32()): as
 * tdsm__lookup_atomic(), with TINYDSM_ATOMIC_CAS. Returns the word before,
 * which the thunk leaves in RAX as cmpxchg does (equal to @expected if the
 * swap happened).
 */
uint64_t tdsm__lookup_cas(uint64_t addr, uint64_t value, uint64_t site,
			  uint64_t width, uint64_t expected)
{
	int st = tdsm__page_state(addr, width);
	struct tinydsm_atomic a = {
		.addr = addr,
		.width = width,
		.op = TINYDSM_ATOMIC_CAS,
	};

	(void)site;	/* TINYDSM_IOC_ATOMIC records no site */
	if (width == 4) {
		value = (uint32_t)value;
		expected = (uint32_t)expected;
	}
	if (st < 0 || st == TINYDSM_PAGE_EXCLUSIVE) {
		if (width == 8) {
			uint64_t e = expected;

			__atomic_compare_exchange_n((volatile uint64_t *)addr, &e, value,
						    0, __ATOMIC_SEQ_CST,
						    __ATOMIC_SEQ_CST);
			return e;
		} else {
			uint32_t e = (uint32_t)expected;

			__atomic_compare_exchange_n((volatile uint32_t *)addr, &e,
						    (uint32_t)value, 0,
						    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
			return e;
		}
	}
	a.operand = value;
	a.expected = expected;
	return atomic_at_holder(&a);
}
