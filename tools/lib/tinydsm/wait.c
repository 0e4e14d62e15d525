// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * libtinydsm: sleep on a word of the region until another node (or this
 * one) wakes it, the futex of the region (TINYDSM_IOC_WAIT and _WAKE).
 *
 * The word's home checks it and queues the waiter under the lock that
 * orders the page's atomics: a thread that changes the word (with
 * tdsm_atomic(), or a store) and then wakes it never loses the wake-up.
 * As with a futex, a caller checks its condition again after a return of
 * 0 (a wake-up, or the word found changed when the wait checked again).
 */
#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include "tinydsm.h"

int tdsm_wait(volatile void *addr, unsigned int width, uint64_t expected,
	      uint64_t timeout_ns)
{
	struct tinydsm_wait a = {
		.addr = (uintptr_t)addr,
		.expected = expected,
		.timeout_ns = timeout_ns,
		.width = width,
	};

	if (!tdsm_attached())
		return tdsm__fail(ENODEV, "tdsm_wait: not attached");
	if (ioctl(tdsm_fd(), TINYDSM_IOC_WAIT, &a)) {
		/* Not failures: the word differs, the timeout, a signal. */
		if (errno == EAGAIN || errno == ETIMEDOUT || errno == EINTR)
			return -errno;
		return tdsm__fail(errno, "TINYDSM_IOC_WAIT width %u at %p",
				  width, addr);
	}
	return 0;
}

int tdsm_wake(volatile void *addr, unsigned int width, unsigned int count)
{
	struct tinydsm_wake a = {
		.addr = (uintptr_t)addr,
		.count = count,
		.width = width,
	};

	if (!tdsm_attached())
		return tdsm__fail(ENODEV, "tdsm_wake: not attached");
	if (ioctl(tdsm_fd(), TINYDSM_IOC_WAKE, &a))
		return tdsm__fail(errno, "TINYDSM_IOC_WAKE width %u count %u at %p",
				  width, count, addr);
	return (int)a.woken;
}
