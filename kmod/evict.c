// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: the bounded cache of pages homed elsewhere, and its eviction.
 *
 * A cached frame is a frame on this node of a page homed on another node:
 * a read copy, a page this node owns, or a frame it retained after giving
 * its page up (PROTOCOL.md "Transactions"). tdsm_region.cached counts
 * them; TDSM_PG_CACHED marks the pages counted, so that the count follows
 * the page's own state and no change of home (a migration to or from this
 * node, a forwarding hint) can unbalance it.
 *
 * With a budget (module parameter cache_budget_mb, or the genl command
 * TINYDSM_CMD_REGION_SET), a reclaim work item keeps the count near it
 * (PROTOCOL.md "Eviction: the bounded cache"):
 *   high = budget: an install above it queues the work;
 *   low  = budget - max(budget / 16, 64 pages): where the work stops;
 *   hard = budget + max(budget / 8, 1024 pages): a fault that would add a
 *          cached frame above it waits for the work first (until under
 *          it, or a run ended; killable, at most timeout_ms), and then
 *          goes on anyway (the budget is soft: frames it cannot drop,
 *          pages it owns, stay).
 * The work runs a clock over the pages that have metadata here (the
 * chunks that exist, PROTOCOL.md "Metadata lifetime" M7; the hand:
 * tdsm_region.clock_hand, a page index): a page used since the hand last
 * passed
 * (TDSM_PG_REFERENCED: faults, installs, word accesses here) gets a second
 * chance; the others, if they are clean read copies, are dropped, and
 * their homes told with one EVICTV notice per home per 64-page group
 * (rule E1). Pages this node owns (dirty, or retained) stay: writing them
 * back is not done yet.
 */
#include <linux/atomic.h>
#include <linux/ktime.h>
#include <linux/minmax.h>
#include <linux/moduleparam.h>
#include <linux/sched.h>
#include <linux/sizes.h>
#include <linux/wait.h>
#include <linux/wait_bit.h>
#include <linux/workqueue.h>

#include "evict.h"
#include "lock.h"
#include "migrate.h"
#include "page.h"
#include "peer.h"
#include "proto.h"
#include "rdma.h"
#include "tinydsm.h"
#include "wire.h"

/* The smallest budget but 0 (unlimited): the watermarks need room. */
#define TDSM_CACHE_MIN_BYTES	SZ_1M

/* The budget in pages, 0: unlimited. Read without a lock. */
static unsigned long tdsm_cache_budget;

/*
 * The reclaim work's queue: WQ_MEM_RECLAIM, since a fault that waits for
 * it may be one the kernel's reclaim waits for. NULL outside the module's
 * life between tdsm_cache_init() and tdsm_cache_exit().
 */
static struct workqueue_struct *tdsm_cache_wq;
static bool tdsm_cache_stopping;
/* Runs of the reclaim work that ended, for tdsm_cache_throttle(). */
static atomic_t tdsm_reclaim_ended = ATOMIC_INIT(0);
static void tdsm_reclaim(struct work_struct *work);
static DECLARE_WORK(tdsm_reclaim_work, tdsm_reclaim);
/* Faults waiting above the hard watermark (tdsm_cache_throttle()). */
static DECLARE_WAIT_QUEUE_HEAD(tdsm_cache_wait);

static unsigned long tdsm_cache_low(unsigned long budget)
{
	return budget - max(budget / 16, 64UL);
}

static unsigned long tdsm_cache_hard(unsigned long budget)
{
	return budget + max(budget / 8, 1024UL);
}

unsigned long tdsm_cache_budget_pages(void)
{
	return READ_ONCE(tdsm_cache_budget);
}

static void tdsm_cache_kick(void)
{
	struct workqueue_struct *wq = READ_ONCE(tdsm_cache_wq);

	if (wq && !READ_ONCE(tdsm_cache_stopping))
		queue_work(wq, &tdsm_reclaim_work);
}

/**
 * tdsm_cache_set_budget - set the cache budget
 * @bytes: the budget, 0 for unlimited, else at least 1 MiB.
 * @extack: for the reason of a refusal (may be NULL).
 *
 * Returns 0 or -EINVAL.
 */
int tdsm_cache_set_budget(u64 bytes, struct netlink_ext_ack *extack)
{
	if (bytes && bytes < TDSM_CACHE_MIN_BYTES) {
		NL_SET_ERR_MSG_MOD(extack, "a cache budget is 0 (unlimited) or at least 1 MiB");
		return -EINVAL;
	}
	WRITE_ONCE(tdsm_cache_budget, min_t(u64, bytes >> PAGE_SHIFT, ULONG_MAX));
	/* Over it now: reclaim. Faults waiting for a budget that went wait less. */
	if (bytes && atomic64_read(&tdsm_region.cached) > bytes >> PAGE_SHIFT)
		tdsm_cache_kick();
	wake_up_all(&tdsm_cache_wait);
	return 0;
}

/*
 * cache_budget_mb: the budget in MiB, 0 (the default) for unlimited. Set
 * at load or in /sys/module/tinydsm/parameters/ (0644), like the genl
 * setting, which it shares.
 */
static int tdsm_cache_budget_mb_set(const char *val,
				    const struct kernel_param *kp)
{
	unsigned int mb;

	if (kstrtouint(val, 0, &mb)) {
		pr_err("cache_budget_mb=%.*s: not a number of MiB\n",
		       (int)strcspn(val, "\n"), val);
		return -EINVAL;
	}
	return tdsm_cache_set_budget((u64)mb << 20, NULL);
}

static int tdsm_cache_budget_mb_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%lu\n",
			  tdsm_cache_budget_pages() >> (20 - PAGE_SHIFT));
}

static const struct kernel_param_ops tdsm_cache_budget_mb_ops = {
	.set = tdsm_cache_budget_mb_set,
	.get = tdsm_cache_budget_mb_get,
};

module_param_cb(cache_budget_mb, &tdsm_cache_budget_mb_ops, NULL, 0644);
__MODULE_PARM_TYPE(cache_budget_mb, "uint");
MODULE_PARM_DESC(cache_budget_mb, "frames of pages homed elsewhere to keep, MiB; 0: unlimited (default 0)");

/*
 * Count page @pg's frame as cached, or not, as the page is now: cached iff
 * it has a frame and its home is another node. Called under the page lock
 * wherever the frame or the home changes: tdsm_local_install() and
 * tdsm_local_take() (proto.c) and tdsm_page_set_home(). So when a
 * migration makes this node the home, the frame leaves the cache count
 * (it is the home's own now), and comes back if the migration is undone.
 */
void tdsm_cache_note(struct tdsm_region *r, struct tdsm_page *pg)
{
	bool cached = pg->frame && tdsm_page_home(pg) != r->node_id;
	unsigned long budget;

	tdsm_page_assert_locked(pg);
	if (cached == test_bit(TDSM_PG_CACHED, &pg->flags))
		return;
	if (!cached) {
		clear_bit(TDSM_PG_CACHED, &pg->flags);
		atomic64_dec(&r->cached);
		return;
	}
	set_bit(TDSM_PG_CACHED, &pg->flags);
	budget = tdsm_cache_budget_pages();
	if (atomic64_inc_return(&r->cached) > budget && budget)
		tdsm_cache_kick();
}

/* The count is under the hard watermark, or there is no budget. */
static bool tdsm_cache_below_hard(struct tdsm_region *r)
{
	unsigned long budget = tdsm_cache_budget_pages();

	return !budget || atomic64_read(&r->cached) < tdsm_cache_hard(budget);
}

/*
 * A fault (or word access) is about to get a page homed elsewhere, with
 * only TDSM_PG_FETCHING of that page held (which the clock skips): above
 * the hard watermark, wait for the reclaim work, killable and for at most
 * timeout_ms, until the count is under it or a run of the work ended (one
 * that could not get there: the rest is pages this node owns), then go on
 * whatever the count.
 */
void tdsm_cache_throttle(struct tdsm_region *r)
{
	int ended = atomic_read(&tdsm_reclaim_ended);

	if (tdsm_cache_below_hard(r))
		return;
	tdsm_cache_kick();
	wait_event_killable_timeout(tdsm_cache_wait,
				    tdsm_cache_below_hard(r) ||
				    atomic_read(&tdsm_reclaim_ended) != ended ||
				    READ_ONCE(tdsm_cache_stopping),
				    msecs_to_jiffies(tdsm_timeout_ms));
}

/*
 * The victims of one 64-page group (TDSM_WIRE_BATCH, aligned: one chunk)
 * that the clock took: @held, bit i = page @first + i, whose frame is gone
 * and whose TDSM_PG_FETCHING this work holds; @home[i], the home each
 * named. The sweep holds the chunk (tdsm_chunk_get_next()) until the group
 * is flushed.
 */
struct tdsm_evict_group {
	unsigned long first;
	u64 held;
	u8 home[TDSM_WIRE_BATCH];
};

/*
 * Tell @home that this node dropped its copies of the pages in @mask
 * (bit i = page @first + i): one EVICTV notice. Rule E1: the caller holds
 * TDSM_PG_FETCHING of each, and has no frame, until this returned (the
 * reply, or the call's failure, which comes only once the connection is
 * dead and drained). Without a connection nothing is sent: the copies
 * were dropped silently, which the protocol allows (the copyset stays a
 * superset of the holders).
 */
static int tdsm_evict_notice(struct tdsm_region *r, unsigned long first,
			     u64 mask, u8 home)
{
	struct tdsm_call call = {};
	struct tdsm_wire_msg msg;
	struct tdsm_conn *conn;
	int err;

	conn = tdsm_peer_conn(home);
	if (!conn)
		return -EHOSTUNREACH;
	tdsm_msg_init(&msg, TDSM_W_EVICTV);
	msg.batch.addr = cpu_to_be64(tdsm_page_addr(first));
	msg.batch.npages = fls64(mask);
	msg.batch.mask = cpu_to_be64(mask);
	err = tdsm_call(conn, &msg, NULL, &call);
	if (!err)
		err = tdsm_status_errno(be32_to_cpu(call.reply.breply.status));
	tdsm_conn_put(conn);
	atomic64_inc(&r->evict_batches);
	atomic64_add(hweight64(mask), &r->evict_batch_pages);
	return err;
}

/* Send the group's notices, one per home, then let its pages go. */
static void tdsm_evict_flush(struct tdsm_region *r, struct tdsm_evict_group *g)
{
	u64 left = g->held, mask;
	unsigned int i;
	u8 home;

	if (!g->held)
		return;
	while (left) {
		home = g->home[__ffs64(left)];
		mask = 0;
		for (i = 0; i < TDSM_WIRE_BATCH; i++)
			if ((left & BIT_ULL(i)) && g->home[i] == home)
				mask |= BIT_ULL(i);
		left &= ~mask;
		tdsm_evict_notice(r, g->first, mask, home);
	}
	/* Notices answered or failed: faults on these pages may go on. */
	for (i = 0; i < TDSM_WIRE_BATCH; i++)
		if (g->held & BIT_ULL(i))
			clear_and_wake_up_bit(TDSM_PG_FETCHING,
					      &tdsm_pg(r, g->first + i)->flags);
	atomic64_add(hweight64(g->held), &r->evicted_clean);
	g->held = 0;
	wake_up_all(&tdsm_cache_wait);
}

/*
 * The clock's look at page @idx: true if it took the page as a victim
 * (its frame dropped, its TDSM_PG_FETCHING held) and *@home is the home
 * to tell. A victim is a clean read copy: homed elsewhere, not owned
 * here (a page this node owns may hold the only current data, and a
 * retained frame is the page until its home says otherwise), SHARED (so
 * never mapped writable), not used since the hand last passed, and with
 * no fault of this node on it (TDSM_PG_FETCHING).
 */
static bool tdsm_clock_take(struct tdsm_region *r, unsigned long idx,
			    struct tdsm_page *pg, u8 *home)
{
	struct page *frame = NULL;

	/* DIR here: a migration to this node is under way; leave it. */
	if (!test_bit(TDSM_PG_CACHED, &pg->flags) ||
	    test_bit(TDSM_PG_DIR, &pg->flags))
		return false;
	if (test_and_clear_bit(TDSM_PG_REFERENCED, &pg->flags))
		return false;	/* second chance */
	if (test_and_set_bit_lock(TDSM_PG_FETCHING, &pg->flags))
		return false;
	tdsm_page_lock(pg);
	*home = tdsm_page_home(pg);
	if (pg->frame && *home != r->node_id && pg->owner != r->node_id &&
	    pg->state == TINYDSM_PAGE_SHARED)
		frame = tdsm_local_take(r, idx);	/* unmaps it first */
	tdsm_page_unlock(pg);
	if (!frame) {
		clear_and_wake_up_bit(TDSM_PG_FETCHING, &pg->flags);
		return false;
	}
	put_page(frame);
	return true;
}

/*
 * The clock's look at the pages of one group, whose chunk the caller
 * holds, from @from on: until the count is down to @low. Returns the
 * index to go on from (the group's end if it got there).
 */
static unsigned long tdsm_clock_group(struct tdsm_region *r,
				      unsigned long first, unsigned long from,
				      unsigned long low)
{
	struct tdsm_evict_group g = { .first = first };
	unsigned long idx, end = min(first + TDSM_WIRE_BATCH, r->npages);
	u8 home;

	for (idx = from; idx < end; idx++) {
		if (atomic64_read(&r->cached) <= low ||
		    READ_ONCE(tdsm_cache_stopping))
			break;
		if (tdsm_clock_take(r, idx, tdsm_pg(r, idx), &home)) {
			g.held |= BIT_ULL(idx - first);
			g.home[idx - first] = home;
		}
		cond_resched();
	}
	tdsm_evict_flush(r, &g);
	return idx;
}

/*
 * One stretch of the clock: the pages from @from on that have metadata
 * (the chunks that exist, each held while its group is looked at), until
 * the count is down to @low or the region ends. Returns the index to go
 * on from (the region's size at its end).
 */
static unsigned long tdsm_clock_sweep(struct tdsm_region *r,
				      unsigned long from, unsigned long low)
{
	unsigned long first, next;

	while (from < r->npages && tdsm_chunk_get_next(r, from, &first)) {
		next = tdsm_clock_group(r, first, max(from, first), low);
		tdsm_chunk_put(r, first);
		if (next < min(first + TDSM_WIRE_BATCH, r->npages))
			return next;
		from = first + TDSM_WIRE_BATCH;
	}
	return r->npages;
}

/*
 * The reclaim work: run the clock from its hand until the count is down
 * to the low watermark, for at most two turns of the region (the first
 * may only clear REFERENCED bits).
 */
static void tdsm_reclaim(struct work_struct *work)
{
	struct tdsm_region *r = &tdsm_region;
	unsigned long budget, low, hand, next, walked = 0;
	ktime_t start = ktime_get();

	budget = tdsm_cache_budget_pages();
	if (!budget || READ_ONCE(tdsm_cache_stopping))
		goto out;
	low = tdsm_cache_low(budget);
	atomic64_inc(&r->reclaim_runs);
	hand = min(r->clock_hand, r->npages);
	while (walked < 2 * r->npages && atomic64_read(&r->cached) > low &&
	       !READ_ONCE(tdsm_cache_stopping)) {
		next = tdsm_clock_sweep(r, hand, low);
		walked += next - hand;
		hand = next < r->npages ? next : 0;
		if (next < r->npages)
			break;
	}
	r->clock_hand = hand;
	atomic64_add(ktime_to_ns(ktime_sub(ktime_get(), start)), &r->reclaim_ns);
out:
	atomic_inc(&tdsm_reclaim_ended);
	wake_up_all(&tdsm_cache_wait);
}

/* ---- the home: a notice (EVICTV) ----------------------------------- */

/*
 * Node src dropped its copies of the pages in the batch's mask (rule E1):
 * under each page's TDSM_PG_DIR, taken in ascending order as every batch
 * does, take src out of the copyset only if this node is the page's home,
 * src is not its owner, no grant in doubt names src (it may have to fall
 * back on src's frame), and the connection the notice came on is still
 * up (a notice handled after its connection died may be older than a new
 * copy src asked for since, over the next connection). A page whose DIR
 * does not come within half the sender's wait is left as it is: the
 * notice is advisory (the locks of the batch all come within that time,
 * or are tried once). The reply's done mask names the pages taken out.
 */
void tdsm_handle_evictv(struct tdsm_region *r, struct tdsm_conn *conn,
			const struct tdsm_wire_msg *msg)
{
	struct tdsm_wire_breply rep = {};
	unsigned long first, end = jiffies + msecs_to_jiffies(tdsm_timeout_ms / 2);
	u64 mask, locked = 0, done = 0;
	u8 src = msg->hdr.src;
	enum tdsm_wire_status st;
	unsigned int i, n;
	long left;

	st = tdsm_batch_check(r, msg, &first, &n);
	if (st) {
		tdsm_breply_error(conn, msg, st);
		return;
	}
	mask = be64_to_cpu(msg->batch.mask);
	/*
	 * No metadata here (M6): the home knows of no copy of these pages,
	 * so no copyset names src. Nothing to take out; nothing created.
	 */
	if (!tdsm_chunk_get_existing(r, first)) {
		tdsm_reply_batch(conn, msg, &rep, NULL, NULL, 0, 0, 0);
		return;
	}
	for (i = 0; i < n; i++) {
		if (!(mask & BIT_ULL(i)))
			continue;
		/* All of them within half the sender's wait; then one try each. */
		left = max_t(long, (long)(end - jiffies), 0);
		if (!tdsm_dir_lock_timeout(tdsm_pg(r, first + i),
					   jiffies_to_msecs(left)))
			locked |= BIT_ULL(i);
	}
	for (i = 0; i < n; i++) {
		struct tdsm_page *pg = tdsm_pg(r, first + i);

		if (!(locked & BIT_ULL(i)) ||
		    tdsm_page_home(pg) != r->node_id || pg->owner == src ||
		    !(pg->copyset & tdsm_nbit(src)) ||
		    tdsm_doubt_names(r, first + i, src) ||
		    !tdsm_conn_is_up(conn))
			continue;
		pg->copyset &= ~tdsm_nbit(src);
		done |= BIT_ULL(i);
	}
	for (i = n; i-- > 0;)
		if (locked & BIT_ULL(i))
			tdsm_dir_unlock(tdsm_pg(r, first + i));
	tdsm_chunk_put(r, first);
	rep.done = cpu_to_be64(done);
	tdsm_reply_batch(conn, msg, &rep, NULL, NULL, 0, 0, 0);
}

int tdsm_cache_init(void)
{
	tdsm_cache_wq = alloc_workqueue("tinydsm-cache",
					WQ_UNBOUND | WQ_MEM_RECLAIM, 1);
	return tdsm_cache_wq ? 0 : -ENOMEM;
}

/*
 * Module exit, first step (before the peers go): no reclaim runs or
 * starts any more; faults may still install (and try to kick it).
 */
void tdsm_cache_stop(void)
{
	WRITE_ONCE(tdsm_cache_stopping, true);
	cancel_work_sync(&tdsm_reclaim_work);
	wake_up_all(&tdsm_cache_wait);
}

/* Module exit, once nothing installs any more (the transport is gone). */
void tdsm_cache_exit(void)
{
	struct workqueue_struct *wq = tdsm_cache_wq;

	WRITE_ONCE(tdsm_cache_stopping, true);
	WRITE_ONCE(tdsm_cache_wq, NULL);
	cancel_work_sync(&tdsm_reclaim_work);
	destroy_workqueue(wq);
}
