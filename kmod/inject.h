/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm: fault-injection knobs for tests (inject.c), in debugfs under
 * tinydsm/. Each knob is a u32, 0 (off) by default; where it is used it is
 * read with READ_ONCE() by one sleep helper, which bounds it: at most
 * 1000 ms, and at most the bound its caller gives (PROTOCOL.md "Fault
 * injection").
 */
#ifndef _TDSM_INJECT_H
#define _TDSM_INJECT_H

#include <linux/jump_label.h>
#include <linux/types.h>

/*
 * On while any knob is not 0 (set by the knobs' debugfs writes, inject.c):
 * off, the request path's knob checks below are a patched-out jump.
 */
DECLARE_STATIC_KEY_FALSE(tdsm_inject_on);

void tdsm_inject_init(void);
void tdsm_inject_exit(void);
struct dentry;
struct dentry *tdsm_debugfs_dir(void);

void __tdsm_inject_fetch_reply_delay(void);
void __tdsm_inject_home_reply_delay(void);
void __tdsm_inject_migrate_delay(void);

/* The owner, after it sent a FETCH DROP or FETCHV reply. */
static inline void tdsm_inject_fetch_reply_delay(void)
{
	if (static_branch_unlikely(&tdsm_inject_on))
		__tdsm_inject_fetch_reply_delay();
}

/* The home, after it sent a write grant's reply, before it commits. */
static inline void tdsm_inject_home_reply_delay(void)
{
	if (static_branch_unlikely(&tdsm_inject_on))
		__tdsm_inject_home_reply_delay();
}

/* The old home's MIGRATE handler, holding the batch's DIRs, before it moves it. */
static inline void tdsm_inject_migrate_delay(void)
{
	if (static_branch_unlikely(&tdsm_inject_on))
		__tdsm_inject_migrate_delay();
}

/*
 * The home's EVICTV handler of a write-back, holding the batch's DIRs,
 * before its FETCHV: never past jiffies @end.
 */
void tdsm_inject_evict_delay(unsigned long end);

bool __tdsm_inject_drop_proof(void);

/* A peer's proof of the key arrived (rdma.c): true if it is to be dropped. */
static inline bool tdsm_inject_drop_proof(void)
{
	return static_branch_unlikely(&tdsm_inject_on) &&
	       __tdsm_inject_drop_proof();
}

struct delayed_work;
bool __tdsm_inject_local_op_late(struct delayed_work *late);

/*
 * A work request on a registration QP completed (rdma.c,
 * tdsm_local_done()): true if @late, queued now, is to hand the
 * completion to its waiter later instead.
 */
static inline bool tdsm_inject_local_op_late(struct delayed_work *late)
{
	return static_branch_unlikely(&tdsm_inject_on) &&
	       __tdsm_inject_local_op_late(late);
}

#endif /* _TDSM_INJECT_H */
