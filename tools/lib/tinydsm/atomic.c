// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * libtinydsm: atomic read-modify-writes of words of the region.
 *
 * A page this node holds EXCLUSIVE (its translation byte says so) is
 * updated with the processor's own atomic on the mapping: that is the one
 * writable copy. Otherwise the module does it where the page is held
 * exclusively (TINYDSM_IOC_ATOMIC), at the page's home, and the page does
 * not come here. A translation byte gone stale between the look and the
 * atomic costs a fault, which brings the page back, as for any access.
 */
#include <errno.h>
#include <signal.h>
#include <sys/ioctl.h>

#include "tinydsm.h"

#define LOCAL_ATOMIC(T, op, p, operand, expected, old)			\
	do {								\
		volatile T *w = (volatile T *)(p);			\
		T e = (T)(expected);					\
									\
		switch (op) {						\
		case TINYDSM_ATOMIC_CAS:				\
			__atomic_compare_exchange_n(w, &e, (T)(operand), 0, \
						    __ATOMIC_SEQ_CST,	\
						    __ATOMIC_SEQ_CST);	\
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
			break;						\
		}							\
	} while (0)

int tdsm_atomic(unsigned int op, volatile void *addr, unsigned int width,
		uint64_t operand, uint64_t expected, uint64_t *old)
{
	struct tinydsm_atomic a = {
		.addr = (uintptr_t)addr,
		.operand = operand,
		.expected = expected,
		.width = width,
		.op = op,
	};
	uint64_t high = width == 4 ? ~0ULL << 32 : 0;

	if (!tdsm_attached())
		return tdsm__fail(ENODEV, "tdsm_atomic: not attached");
	/* The module's checks, before the local path takes the word. */
	if (op < TINYDSM_ATOMIC_CAS || op >= __TINYDSM_ATOMIC_MAX ||
	    (width != 4 && width != 8) || a.addr % width ||
	    (operand & high) || (expected & high) ||
	    (expected && op != TINYDSM_ATOMIC_CAS))
		return tdsm__fail(EINVAL, "tdsm_atomic: op %u, width %u at %p, "
				  "operand %#llx, expected %#llx (ops 1..%u, "
				  "width 4 or 8, aligned, values that fit, "
				  "expected only with CAS)", op, width, addr,
				  (unsigned long long)operand,
				  (unsigned long long)expected,
				  __TINYDSM_ATOMIC_MAX - 1);
	if (tdsm__page_state(a.addr, width) == TINYDSM_PAGE_EXCLUSIVE) {
		uint32_t o32;

		if (width == 8) {
			LOCAL_ATOMIC(uint64_t, op, addr, operand, expected, old);
		} else {
			LOCAL_ATOMIC(uint32_t, op, addr, operand, expected, &o32);
			*old = o32;
		}
		return 0;
	}
	if (ioctl(tdsm_fd(), TINYDSM_IOC_ATOMIC, &a))
		return tdsm__fail(errno, "TINYDSM_IOC_ATOMIC op %u, width %u at %p",
				  op, width, addr);
	*old = a.old;
	return 0;
}

/*
 * An 8-byte op, the word before returned. A failed operation is what a
 * failed fault is: SIGBUS, for this thread.
 */
static uint64_t op64(unsigned int op, volatile uint64_t *p, uint64_t operand,
		     uint64_t expected)
{
	uint64_t old = 0;

	if (tdsm_atomic(op, p, 8, operand, expected, &old))
		raise(SIGBUS);
	return old;
}

uint64_t tdsm_fetch_add64(volatile uint64_t *p, uint64_t v)
{
	return op64(TINYDSM_ATOMIC_FETCH_ADD, p, v, 0);
}

uint64_t tdsm_xchg64(volatile uint64_t *p, uint64_t v)
{
	return op64(TINYDSM_ATOMIC_XCHG, p, v, 0);
}

uint64_t tdsm_cas64(volatile uint64_t *p, uint64_t expected, uint64_t desired)
{
	return op64(TINYDSM_ATOMIC_CAS, p, desired, expected);
}
