// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: fault-injection knobs for tests, in debugfs: the directory
 * tinydsm/ (/sys/kernel/debug/tinydsm/), one u32 file per knob, root
 * only (0600; a value above U32_MAX is refused, EINVAL). They widen race
 * windows on purpose; all are 0 (off) at load, a test sets one and puts
 * it back to 0 when done, and one helper, tdsm_inject_ms(), reads and
 * bounds every one (PROTOCOL.md "Fault injection"). While all are 0, the
 * static key tdsm_inject_on keeps the request path from reading them
 * (inject.h).
 *
 * Without debugfs (CONFIG_DEBUG_FS off) the files are not made, the knobs
 * stay 0 and the module loads as ever: debugfs' functions then return
 * errors that the kernel's convention is to ignore, and so does this file;
 * the tests that need a knob skip.
 */
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/kernel.h>
#include <linux/minmax.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>

#include "inject.h"
#include "rdma.h"

/* A delay knob above this acts as this: a handler never sleeps longer. */
#define TDSM_INJECT_DELAY_MAX_MS	1000
/*
 * migrate_delay_ms's own bound: its sleep must be able to exceed half of
 * timeout_ms at a timeout_ms large enough for a debug kernel's batch on
 * the wire (3000 ms: 2000 ms).
 */
#define TDSM_INJECT_MIGRATE_MAX_MS	2500

/*
 * evict_delay_ms: the home's EVICTV handler sleeps this long once it holds
 * a write-back batch's TDSM_PG_DIR, before its FETCHV (evict.c,
 * tdsm_handle_evictv()), never past the deadline of its DIR locks: it
 * widens the window in which faults, invalidations and migrations of these
 * pages meet the write-back (PROTOCOL.md "Eviction: the bounded cache").
 */
static u32 tdsm_evict_delay_ms;

/*
 * fetch_reply_delay_ms: the owner sleeps this long after it sent a FETCH
 * DROP or FETCHV reply, before it finishes giving the pages up
 * (proto.c, tdsm_handle_fetch(); evict.c, tdsm_handle_fetchv()): it
 * widens the window in which the home may already have granted a writer
 * the page (PROTOCOL.md, "the owner gives the page up before it answers").
 */
static u32 tdsm_fetch_reply_delay_ms;

/*
 * home_reply_delay_ms: the home sleeps this long after it sent a write
 * grant's reply to another node, before it commits the transaction
 * (proto.c, tdsm_handle_access(), before tdsm_home_commit()), holding the
 * page's TDSM_PG_DIR: it widens the window in which the requester may
 * write while the home still has its own frame, retained (PROTOCOL.md,
 * "A local read on the home overtakes its own commit"). Clamped to
 * min(1000, timeout_ms / 4) ms: the DIR is held at most that much longer,
 * at most half of what a peer's request of the page waits for it
 * (timeout_ms / 2) and a quarter of what a fault here does (timeout_ms),
 * whatever timeout_ms is (1000 ms alone exceeds timeout_ms / 2 below
 * 2000 ms).
 */
static u32 tdsm_home_reply_delay_ms;

/*
 * migrate_delay_ms: the old home's MIGRATE handler sleeps this long once it
 * holds the batch's TDSM_PG_DIR, before it prepares the move (migrate.c,
 * tdsm_handle_migrate()), as a batch slow on the wire holds them: a
 * request of these pages that waits half its timeout for a DIR hears BUSY
 * and asks again (PROTOCOL.md "Busy pages"). Clamped to min(2500,
 * timeout_ms * 3 / 4) ms, so that the sleep and the preparation's waits
 * fit inside the target's wait for the reply (2 * timeout_ms), whatever
 * timeout_ms is.
 */
static u32 tdsm_migrate_delay_ms;

/*
 * local_op_late_ms: a completion on a connection's registration QP (a
 * REG_MR or LOCAL_INV, rdma.c, tdsm_local_done()) reaches its waiter this
 * much later, through a delayed work: with timeout_ms below it, the
 * waiter's bounded wait runs out first, as for a registration the device
 * never finished, and it kills the connection (PROTOCOL.md, "The
 * registration queue pair").
 */
static u32 tdsm_local_op_late_ms;

/*
 * drop_proofs: a count, not a time. The next this many proofs of the
 * cluster key that arrive (rdma.c, tdsm_auth_rx()) are dropped as if lost,
 * one per arrival: this side's exchange then times out and gives the
 * connection up, while the peer, which had our proof, has made it UP
 * (PROTOCOL.md, "Authentication": one side gives up during the exchange).
 */
static u32 tdsm_drop_proofs;

/* The knobs: one line each. */
static const struct {
	const char *name;
	u32 *value;
} tdsm_knobs[] = {
	{ "evict_delay_ms", &tdsm_evict_delay_ms },
	{ "fetch_reply_delay_ms", &tdsm_fetch_reply_delay_ms },
	{ "home_reply_delay_ms", &tdsm_home_reply_delay_ms },
	{ "migrate_delay_ms", &tdsm_migrate_delay_ms },
	{ "local_op_late_ms", &tdsm_local_op_late_ms },
	{ "drop_proofs", &tdsm_drop_proofs },
};

/* tinydsm/ in debugfs, or an error pointer (debugfs_remove_recursive() takes both). */
static struct dentry *tdsm_inject_dir;

/*
 * The one read of every knob: its value, read once, but at most @cap_ms
 * (TDSM_INJECT_DELAY_MAX_MS or less, but for migrate_delay_ms).
 */
static u32 tdsm_inject_ms(const u32 *knob, u32 cap_ms)
{
	return min(READ_ONCE(*knob), cap_ms);
}

/*
 * A knob's sleep. Uninterruptible: the callers are kernel workers, and a
 * sleep this short and bounded needs no way out.
 */
static void tdsm_inject_sleep(const u32 *knob, u32 cap_ms)
{
	u32 ms = tdsm_inject_ms(knob, cap_ms);

	if (ms)
		msleep(ms);
}

void __tdsm_inject_fetch_reply_delay(void)
{
	tdsm_inject_sleep(&tdsm_fetch_reply_delay_ms, TDSM_INJECT_DELAY_MAX_MS);
}

void __tdsm_inject_home_reply_delay(void)
{
	tdsm_inject_sleep(&tdsm_home_reply_delay_ms,
			  min_t(u32, TDSM_INJECT_DELAY_MAX_MS,
				READ_ONCE(tdsm_timeout_ms) / 4));
}

void __tdsm_inject_migrate_delay(void)
{
	tdsm_inject_sleep(&tdsm_migrate_delay_ms,
			  min_t(u32, TDSM_INJECT_MIGRATE_MAX_MS,
				READ_ONCE(tdsm_timeout_ms) * 3 / 4));
}

void tdsm_inject_evict_delay(unsigned long end)
{
	long left = (long)(end - jiffies);

	if (left > 0)
		tdsm_inject_sleep(&tdsm_evict_delay_ms,
				  min_t(u32, TDSM_INJECT_DELAY_MAX_MS,
					jiffies_to_msecs(left)));
}

/*
 * Called in the CQ's softirq: queues @late, whose work completes the
 * waiter, unless the knob is 0. The waiter always waits for that
 * completion (a timeout only kills the connection first), so no such work
 * is left at unload.
 */
bool __tdsm_inject_local_op_late(struct delayed_work *late)
{
	u32 ms = tdsm_inject_ms(&tdsm_local_op_late_ms, TDSM_INJECT_DELAY_MAX_MS);

	if (!ms)
		return false;
	queue_delayed_work(system_wq, late, msecs_to_jiffies(ms));
	return true;
}

/* A proof arrived: true (and one fewer to drop) if it is to be dropped. */
bool __tdsm_inject_drop_proof(void)
{
	u32 n = READ_ONCE(tdsm_drop_proofs);

	while (n) {
		u32 was = cmpxchg(&tdsm_drop_proofs, n, n - 1);

		if (was == n)
			return true;
		n = was;
	}
	return false;
}

DEFINE_STATIC_KEY_FALSE(tdsm_inject_on);

/* Serialises the knobs' writes, so that tdsm_inject_on follows the last. */
static DEFINE_MUTEX(tdsm_inject_lock);

static int tdsm_knob_get(void *data, u64 *val)
{
	*val = READ_ONCE(*(u32 *)data);
	return 0;
}

/* A knob's write: the value, then tdsm_inject_on on iff any knob is set. */
static int tdsm_knob_set(void *data, u64 val)
{
	bool on = false;
	unsigned int i;

	if (val > U32_MAX)
		return -EINVAL;
	mutex_lock(&tdsm_inject_lock);
	WRITE_ONCE(*(u32 *)data, val);
	for (i = 0; i < ARRAY_SIZE(tdsm_knobs); i++)
		on |= READ_ONCE(*tdsm_knobs[i].value) != 0;
	if (on)
		static_branch_enable(&tdsm_inject_on);
	else
		static_branch_disable(&tdsm_inject_on);
	mutex_unlock(&tdsm_inject_lock);
	return 0;
}

DEFINE_DEBUGFS_ATTRIBUTE(tdsm_knob_fops, tdsm_knob_get, tdsm_knob_set, "%llu\n");

/* tinydsm/ in debugfs, for the other files there (echo.c). */
struct dentry *tdsm_debugfs_dir(void)
{
	return tdsm_inject_dir;
}

/*
 * Module load: the debugfs directory and its knobs. A failure (no
 * debugfs) is no error: the knobs stay 0.
 */
void tdsm_inject_init(void)
{
	unsigned int i;

	tdsm_inject_dir = debugfs_create_dir("tinydsm", NULL);
	for (i = 0; i < ARRAY_SIZE(tdsm_knobs); i++)
		debugfs_create_file_unsafe(tdsm_knobs[i].name, 0600,
					   tdsm_inject_dir, tdsm_knobs[i].value,
					   &tdsm_knob_fops);
}

/*
 * Module unload (no handler runs any more): the files go; debugfs waits
 * for a read or write under way.
 */
void tdsm_inject_exit(void)
{
	debugfs_remove_recursive(tdsm_inject_dir);
	tdsm_inject_dir = NULL;
}
