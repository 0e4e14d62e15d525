// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: a page's two locks, bits of its flags word taken with
 * wait_on_bit_lock(), so that a fault that waits for the network holds
 * only its page: the page lock (TDSM_PG_LOCKED) and, on the home, the
 * directory lock (TDSM_PG_DIR). See lock.h.
 */
#include <linux/jiffies.h>
#include <linux/sched.h>
#include <linux/wait_bit.h>

#include "lock.h"
#include "rdma.h"
#include "tinydsm.h"

/* Take @pg's page lock, uninterruptibly: it is only ever held shortly. */
void tdsm_page_lock(struct tdsm_page *pg)
{
	wait_on_bit_lock(&pg->flags, TDSM_PG_LOCKED, TASK_UNINTERRUPTIBLE);
}

/*
 * Take the page's lock. Killable, so that a task stuck behind a slow fault
 * can still be killed; returns -EINTR then.
 */
int tdsm_page_lock_killable(struct tdsm_page *pg)
{
	return wait_on_bit_lock(&pg->flags, TDSM_PG_LOCKED, TASK_KILLABLE);
}

/*
 * Try @pg's page lock once, never waiting: true if taken. For the
 * shrinker (evict.c), which runs inside the kernel's memory reclaim, maybe
 * in a task that holds this very lock (a fault allocating a frame).
 */
bool tdsm_page_trylock(struct tdsm_page *pg)
{
	return !test_and_set_bit_lock(TDSM_PG_LOCKED, &pg->flags);
}

/*
 * Lock @pg for a request from the home (INVAL, FETCH): if this node's own
 * fault already got its reply but has not installed it yet (GRANTED), the
 * request is about that new copy, so wait for the install, which clears
 * GRANTED. Wait on GRANTED itself, not on FETCHING: the faulting task may
 * set FETCHING again at once for its next fault, whose reply needs our ack.
 */
void tdsm_page_lock_settled(struct tdsm_page *pg)
{
	for (;;) {
		tdsm_page_lock(pg);
		if (!test_bit(TDSM_PG_GRANTED, &pg->flags))
			return;
		tdsm_page_unlock(pg);
		wait_on_bit_timeout(&pg->flags, TDSM_PG_GRANTED,
				    TASK_UNINTERRUPTIBLE,
				    msecs_to_jiffies(tdsm_timeout_ms));
	}
}

void tdsm_page_unlock(struct tdsm_page *pg)
{
	clear_and_wake_up_bit(TDSM_PG_LOCKED, &pg->flags);
}

/* Take @pg's directory lock, uninterruptibly. */
void tdsm_dir_lock(struct tdsm_page *pg)
{
	wait_on_bit_lock(&pg->flags, TDSM_PG_DIR, TASK_UNINTERRUPTIBLE);
}

/* Take @pg's directory lock: 0, or -EINTR on a fatal signal. */
int tdsm_dir_lock_killable(struct tdsm_page *pg)
{
	return wait_on_bit_lock(&pg->flags, TDSM_PG_DIR, TASK_KILLABLE);
}

/*
 * Take @pg's TDSM_PG_DIR, waiting at most @ms in @state: 0, -ETIMEDOUT,
 * or -EINTR (TASK_KILLABLE, and a fatal signal). Request handlers and
 * faults use this: a holder may wait timeout_ms for each node it asks, and
 * queueing behind it without bound is how requests from a peer used to
 * pile up.
 */
static int __tdsm_dir_lock_timeout(struct tdsm_page *pg, unsigned int state,
				   unsigned int ms)
{
	unsigned long end = jiffies + msecs_to_jiffies(ms);
	long left;

	for (;;) {
		if (!test_and_set_bit_lock(TDSM_PG_DIR, &pg->flags))
			return 0;
		left = (long)(end - jiffies);
		if (left <= 0)
			return -ETIMEDOUT;
		if (wait_on_bit_timeout(&pg->flags, TDSM_PG_DIR, state,
					left) == -EINTR)
			return -EINTR;
	}
}

/* The directory lock within @ms: 0 or -ETIMEDOUT. */
int tdsm_dir_lock_timeout(struct tdsm_page *pg, unsigned int ms)
{
	return __tdsm_dir_lock_timeout(pg, TASK_UNINTERRUPTIBLE, ms);
}

/* The directory lock within @ms: 0, -ETIMEDOUT, or -EINTR on a fatal signal. */
int tdsm_dir_lock_killable_timeout(struct tdsm_page *pg, unsigned int ms)
{
	return __tdsm_dir_lock_timeout(pg, TASK_KILLABLE, ms);
}

void tdsm_dir_unlock(struct tdsm_page *pg)
{
	clear_and_wake_up_bit(TDSM_PG_DIR, &pg->flags);
}
