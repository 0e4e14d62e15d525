// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: cross-node wait and wake on a word of the region.
 *
 * TINYDSM_IOC_WAIT sleeps while an aligned 4- or 8-byte word holds the
 * value the caller expects; TINYDSM_IOC_WAKE wakes up to n of the word's
 * waiters, on any node. A futex, across nodes (PROTOCOL.md "Wait and
 * wake"):
 *
 * W1  The waiters of a word are queued at its page's home, and only
 *     there: a WAIT is a WORD request (op WAIT) taking the path of a load
 *     (word.c), done here if this node is the home, else at the home, and
 *     a WAKE (op WAKE) goes to the home too.
 * W2  The home checks the word and queues the waiter in one step under the
 *     page lock, holding at least a read copy of the page; every change of
 *     the word (an atomic at the home, under that lock, or a store where
 *     the page is held exclusively, which the home must first take or
 *     grant under that lock) is ordered before or after it. A waker that
 *     changes the word and then wakes either made the check fail (EAGAIN)
 *     or finds the waiter queued: no wake-up is lost.
 * W3  A waiter is registered on its own node (tdsm_waiters, its id) before
 *     its WAIT is sent, and unregistered before it returns; a wake-up
 *     (WAKEUP from the home, or the home's own call) marks it woken under
 *     the xarray's lock, only while it is registered, and answers STALE
 *     when it is not. A waiter that was marked returns 0 even if its
 *     timeout or a signal came at the same time: a wake that counted one
 *     waiter was that waiter's (the count a WAKE returns is exact).
 * W4  The home delivers a wake-up and counts it only if the waiter's
 *     answer says it woke, and goes on to the next waiter otherwise. A
 *     waiter node without a connection is skipped: its waiters on this
 *     home were woken when the connection went (W5). One that does not
 *     answer costs one call's bound, after which its connection is killed
 *     (W5 again, on its side) and its other waiters are skipped; if it
 *     woke all the same, that waiter had a spurious wake-up, which a
 *     futex's caller expects, never a lost one.
 * W5  A waiter whose connection to its home is lost asks again at once
 *     (a wake-up sent meanwhile may be lost with the connection): its WAIT
 *     checks the word again, waiting for a new connection, and ends the
 *     wait (0) if the word changed, queues it again if not, or fails
 *     within the peer timeout if the home is dead.
 * W6  A waiter asks again every refresh interval (tdsm_wait_refresh():
 *     the module parameter wait_renew_ms, by default twice timeout_ms
 *     and at least 1 s): the same id, so the home only
 *     renews the entry. A home that stopped answering fails it (ETIMEDOUT)
 *     within that interval and a call's timeout; a word that changed
 *     without a wake-up reaching us (a wake-up delivered to a home that
 *     the page had left) ends the wait (0).
 * W7  An entry not renewed for four refresh intervals is a waiter that is
 *     gone (it returned, its node died): dropped when met, and before a
 *     full queue refuses a waiter (ENOSPC). The entries of an evicted node
 *     are dropped at once (tdsm_evict()).
 */
#include <linux/hash.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/minmax.h>
#include <linux/moduleparam.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include "lock.h"
#include "page.h"
#include "peer.h"
#include "proto.h"
#include "rdma.h"
#include "tinydsm.h"
#include "wait.h"
#include "wire.h"
#include "word.h"

/* ---- the home's queue ------------------------------------------------- */

/**
 * struct tdsm_queued - a waiter queued at this node, the word's home
 * @list: in its bucket of tdsm_waitq, oldest first.
 * @addr: the word.
 * @stamp: jiffies of its last WAIT (W6, W7).
 * @id: the waiter's id on its node.
 * @width: the word's width.
 * @node: the waiter's node.
 */
struct tdsm_queued {
	struct list_head list;
	u64 addr;
	unsigned long stamp;
	u32 id;
	u8 width;
	u8 node;
};

#define TDSM_WAITQ_BITS	8
#define TDSM_WAITQ_MAX	16384	/* entries queued at this node */

/* Guards tdsm_waitq and tdsm_waitq_len; taken under a page lock (W2). */
static DEFINE_SPINLOCK(tdsm_waitq_lock);
static struct list_head tdsm_waitq[1 << TDSM_WAITQ_BITS];
static unsigned int tdsm_waitq_len;

static unsigned int tdsm_wait_renew_ms;

static int tdsm_wait_renew_ms_set(const char *val,
				  const struct kernel_param *kp)
{
	unsigned int ms;
	int err = kstrtouint(val, 0, &ms);

	if (err)
		return err;
	if (ms && (ms < 100 || ms > 3600 * 1000))
		return -EINVAL;
	WRITE_ONCE(tdsm_wait_renew_ms, ms);
	return 0;
}

static const struct kernel_param_ops tdsm_wait_renew_ms_ops = {
	.set = tdsm_wait_renew_ms_set,
	.get = param_get_uint,
};
module_param_cb(wait_renew_ms, &tdsm_wait_renew_ms_ops, &tdsm_wait_renew_ms,
		0644);
MODULE_PARM_DESC(wait_renew_ms,
		 "how often a sleeping TINYDSM_IOC_WAIT checks again with its home, 100..3600000 ms (default 0: twice timeout_ms, at least 1000)");

/* W6: how often a waiter asks again. */
static unsigned long tdsm_wait_refresh(void)
{
	unsigned int ms = READ_ONCE(tdsm_wait_renew_ms);

	return msecs_to_jiffies(ms ?: max(2 * tdsm_timeout_ms, 1000U));
}

static struct list_head *tdsm_waitq_bucket(u64 addr)
{
	return &tdsm_waitq[hash_64(addr, TDSM_WAITQ_BITS)];
}

static bool tdsm_queued_expired(const struct tdsm_queued *q,
				unsigned long now)
{
	return time_after(now, q->stamp + 4 * tdsm_wait_refresh());
}

static void tdsm_queued_del(struct tdsm_queued *q, struct list_head *freed)
{
	lockdep_assert_held(&tdsm_waitq_lock);
	list_move(&q->list, freed);
	tdsm_waitq_len--;
}

/* W7: move the expired entries to @freed; true if any was. */
static bool tdsm_waitq_prune(struct list_head *freed)
{
	unsigned long now = jiffies;
	struct tdsm_queued *q, *next;
	bool any = false;
	int b;

	lockdep_assert_held(&tdsm_waitq_lock);
	for (b = 0; b < ARRAY_SIZE(tdsm_waitq); b++)
		list_for_each_entry_safe(q, next, &tdsm_waitq[b], list) {
			if (tdsm_queued_expired(q, now)) {
				tdsm_queued_del(q, freed);
				any = true;
			}
		}
	return any;
}

static void tdsm_queued_free(struct list_head *freed)
{
	struct tdsm_queued *q, *next;

	list_for_each_entry_safe(q, next, freed, list)
		kfree(q);
}

static struct tdsm_queued *tdsm_waitq_find(u64 addr, u8 node, u32 id)
{
	struct tdsm_queued *q;

	lockdep_assert_held(&tdsm_waitq_lock);
	list_for_each_entry(q, tdsm_waitq_bucket(addr), list)
		if (q->addr == addr && q->node == node && q->id == id)
			return q;
	return NULL;
}

/**
 * tdsm_wait_enqueue - queue a waiter whose word held the value it expects
 * @pg: the word's page, locked, this node its home with a copy (W2).
 * @addr: the word.
 * @width: its width.
 * @node: the waiter's node.
 * @id: the waiter's id there.
 *
 * A waiter asking again keeps its place and is renewed (W6). Returns 0,
 * -ENOMEM, or -ENOSPC if the queue is full of live entries.
 */
int tdsm_wait_enqueue(struct tdsm_page *pg, u64 addr, u8 width, u8 node,
		      u32 id)
{
	struct tdsm_queued *q, *fresh;
	LIST_HEAD(freed);
	int err = 0;

	tdsm_page_assert_locked(pg);
	/* The page lock may sleep (frames are allocated under it). */
	fresh = kmalloc(sizeof(*fresh), GFP_KERNEL);
	spin_lock(&tdsm_waitq_lock);
	q = tdsm_waitq_find(addr, node, id);
	if (q) {
		q->stamp = jiffies;
	} else if (!fresh) {
		err = -ENOMEM;
	} else if (tdsm_waitq_len >= TDSM_WAITQ_MAX &&
		   !tdsm_waitq_prune(&freed)) {
		err = -ENOSPC;
	} else {
		fresh->addr = addr;
		fresh->stamp = jiffies;
		fresh->id = id;
		fresh->width = width;
		fresh->node = node;
		list_add_tail(&fresh->list, tdsm_waitq_bucket(addr));
		tdsm_waitq_len++;
		fresh = NULL;
	}
	spin_unlock(&tdsm_waitq_lock);
	tdsm_queued_free(&freed);
	kfree(fresh);
	if (err == -ENOSPC)
		pr_warn_ratelimited("wait: %u waiters queued here, the most there may be: a WAIT from node %u refused\n",
				    TDSM_WAITQ_MAX, node);
	return err;
}

/* A waiter whose word differs when it asks again is not waiting (W6). */
void tdsm_wait_dequeue(struct tdsm_page *pg, u64 addr, u8 node, u32 id)
{
	struct tdsm_queued *q;
	LIST_HEAD(freed);

	tdsm_page_assert_locked(pg);
	spin_lock(&tdsm_waitq_lock);
	q = tdsm_waitq_find(addr, node, id);
	if (q)
		tdsm_queued_del(q, &freed);
	spin_unlock(&tdsm_waitq_lock);
	tdsm_queued_free(&freed);
}

/* The oldest live waiter on @addr, out of the queue; NULL if none. */
static struct tdsm_queued *tdsm_waitq_pop(u64 addr)
{
	struct tdsm_queued *q, *next, *found = NULL;
	unsigned long now = jiffies;
	LIST_HEAD(freed);

	spin_lock(&tdsm_waitq_lock);
	list_for_each_entry_safe(q, next, tdsm_waitq_bucket(addr), list) {
		if (q->addr != addr)
			continue;
		if (tdsm_queued_expired(q, now)) {
			tdsm_queued_del(q, &freed);
			continue;
		}
		list_del(&q->list);
		tdsm_waitq_len--;
		found = q;
		break;
	}
	spin_unlock(&tdsm_waitq_lock);
	tdsm_queued_free(&freed);
	return found;
}

/* W7: a node evicted from the cluster waits for nothing here any more. */
void tdsm_wait_evict(u8 node)
{
	struct tdsm_queued *q, *next;
	LIST_HEAD(freed);
	int b;

	spin_lock(&tdsm_waitq_lock);
	for (b = 0; b < ARRAY_SIZE(tdsm_waitq); b++)
		list_for_each_entry_safe(q, next, &tdsm_waitq[b], list)
			if (q->node == node)
				tdsm_queued_del(q, &freed);
	spin_unlock(&tdsm_waitq_lock);
	tdsm_queued_free(&freed);
}

/* ---- this node's waiters ---------------------------------------------- */

/**
 * struct tdsm_waiter - a task sleeping in TINYDSM_IOC_WAIT (on its stack)
 * @addr: the word.
 * @home: the node that queued it last (0 before), for W5.
 * @woken: a wake-up's, set once, under tdsm_waiters' lock, while it is
 *	registered (W3).
 * @lost: its connection to @home was lost (W5), set under that lock too;
 *	cleared by the waiter before it asks again.
 * @wq: where it sleeps.
 */
struct tdsm_waiter {
	u64 addr;
	u8 home;
	bool woken;
	bool lost;
	wait_queue_head_t wq;
};

static DEFINE_XARRAY_ALLOC1(tdsm_waiters);
static u32 tdsm_waiter_next;

/* Wake this node's waiter @id if it waits on @addr; true if it did. */
static bool tdsm_waiter_wake(u32 id, u64 addr)
{
	struct tdsm_waiter *w;
	bool woke = false;

	xa_lock(&tdsm_waiters);
	w = xa_load(&tdsm_waiters, id);
	if (w && w->addr == addr) {
		WRITE_ONCE(w->woken, true);
		wake_up(&w->wq);
		woke = true;
	}
	xa_unlock(&tdsm_waiters);
	return woke;
}

/* W5: every waiter queued at @home asks again. */
void tdsm_wait_home_lost(u8 home)
{
	XA_STATE(xas, &tdsm_waiters, 0);
	struct tdsm_waiter *w;

	xas_lock(&xas);
	xas_for_each(&xas, w, ULONG_MAX) {
		/* An ALLOC1 array keeps index 0 busy with a zero entry. */
		if (xas_retry(&xas, w))
			continue;
		if (READ_ONCE(w->home) == home) {
			WRITE_ONCE(w->lost, true);
			wake_up(&w->wq);
		}
	}
	xas_unlock(&xas);
}

/* ---- waking, at the home ---------------------------------------------- */

/* W4: deliver one wake-up; true if the waiter says it woke. */
static bool tdsm_wake_one(struct tdsm_region *r, const struct tdsm_queued *q)
{
	struct tdsm_call call = {};
	struct tdsm_wire_msg msg;
	struct tdsm_conn *conn;
	int err;

	if (q->node == r->node_id)
		return tdsm_waiter_wake(q->id, q->addr);
	conn = tdsm_peer_conn(q->node);
	if (!conn)
		return false;
	tdsm_msg_init(&msg, TDSM_W_WAKEUP);
	msg.word.addr = cpu_to_be64(q->addr);
	msg.word.value = cpu_to_be64(q->id);
	msg.word.width = q->width;
	msg.word.op = TDSM_WORD_WAKE;
	err = tdsm_call(conn, &msg, NULL, &call);
	tdsm_conn_put(conn);
	return !err && be32_to_cpu(call.reply.reply.status) == TDSM_WS_OK;
}

/**
 * tdsm_wake_queued - wake up to @n waiters queued here on @addr
 * @r: the region.
 * @addr: the word.
 * @n: at most this many, oldest first.
 * @for_peer: the waker is another node, whose call waits twice timeout_ms.
 *
 * For a peer, starts no delivery after half of timeout_ms (a delivery
 * takes at most timeout_ms), so that it hears the count in time; a waiter
 * left queued then, behind a node that did not answer, is woken by its
 * own renewal if the word changed (W6). Returns how many woke.
 */
u32 tdsm_wake_queued(struct tdsm_region *r, u64 addr, u32 n, bool for_peer)
{
	unsigned long end = jiffies + msecs_to_jiffies(tdsm_timeout_ms / 2);
	struct tdsm_queued *q;
	u32 woken = 0;

	while (woken < n) {
		if (for_peer && time_after(jiffies, end))
			break;
		q = tdsm_waitq_pop(addr);
		if (!q)
			break;
		woken += tdsm_wake_one(r, q);
		kfree(q);
	}
	return woken;
}

/* WORD op WAKE from a peer: at the home (W1). */
void tdsm_handle_wake(struct tdsm_region *r, struct tdsm_conn *conn,
		      const struct tdsm_wire_msg *msg, unsigned long idx)
{
	u32 woken = tdsm_wake_queued(r, be64_to_cpu(msg->word.addr),
				     be64_to_cpu(msg->word.value), true);
	struct tdsm_page *pg;
	u8 home;

	if (!woken) {
		/* Nobody here: the waiters may be at the page's real home. */
		pg = tdsm_copy_page(r, idx, &home);
		if (pg)
			tdsm_chunk_put(r, idx);
		if (home != r->node_id) {
			tdsm_reply_nothome(conn, msg, home, 0);
			return;
		}
	}
	tdsm_reply_value(conn, msg, TDSM_WS_OK, woken);
}

/* WAKEUP from a home: wake our waiter (W3). */
void tdsm_handle_wakeup(struct tdsm_region *r, struct tdsm_conn *conn,
			const struct tdsm_wire_msg *msg)
{
	u64 addr = be64_to_cpu(msg->word.addr);
	u64 id = be64_to_cpu(msg->word.value);
	enum tdsm_wire_status st = TDSM_WS_STALE;
	unsigned long idx;

	if (!tdsm_addr_idx(r, addr, &idx))
		st = TDSM_WS_RANGE;
	else if (msg->word.op != TDSM_WORD_WAKE || !id || id > U32_MAX ||
		 (msg->word.width != 4 && msg->word.width != 8) ||
		 !IS_ALIGNED(addr, msg->word.width) || msg->word.expected ||
		 memchr_inv(msg->word.reserved, 0, sizeof(msg->word.reserved)))
		st = TDSM_WS_INVAL;
	else if (tdsm_waiter_wake(id, addr))
		st = TDSM_WS_OK;
	tdsm_reply_status(conn, msg, st);
}

/* ---- the ioctls ------------------------------------------------------- */

/*
 * Queue @w (id @id) at the word's home and sleep until woken, @deadline
 * (0: none), a signal or an error; ask again every refresh interval (W6).
 */
static int tdsm_wait_sleep(struct tdsm_region *r, struct tdsm_waiter *w,
			   u32 id, const struct tinydsm_wait *a,
			   ktime_t deadline)
{
	int err, dropped = 0;
	bool first = true;
	long left;
	u64 queued;
	u8 at;

	for (;;) {
		/* Asking again (W5, W6) ends at the deadline and at a signal. */
		if (!first && signal_pending(current))
			return -ERESTARTSYS;
		if (!first && deadline && ktime_after(ktime_get(), deadline))
			return -ETIMEDOUT;
		queued = id;
		err = tdsm_word_access(r, a->addr, a->width, TDSM_WORD_WAIT,
				       &queued, a->expected, &at);
		/*
		 * The connection went down under the call: the same WAIT again
		 * (it only renews), which waits for a new one, a few times.
		 */
		if (err == -ENOTCONN && ++dropped < 3)
			continue;
		if (err == -ENOTCONN)
			return -EHOSTUNREACH;
		if (err)
			return err;
		if (!queued)	/* the word differs */
			return first ? -EAGAIN : 0;
		WRITE_ONCE(w->home, at);
		first = false;
		if (READ_ONCE(w->lost)) {	/* during that WAIT: again */
			WRITE_ONCE(w->lost, false);
			continue;
		}
		left = tdsm_wait_refresh();
		if (deadline) {
			s64 ns = ktime_to_ns(ktime_sub(deadline, ktime_get()));

			if (ns <= 0)
				return -ETIMEDOUT;
			left = min_t(u64, left, nsecs_to_jiffies(ns) + 1);
		}
		left = wait_event_interruptible_timeout(w->wq,
							READ_ONCE(w->woken) ||
							READ_ONCE(w->lost),
							left);
		if (READ_ONCE(w->woken))
			return 0;
		if (left < 0)
			return -ERESTARTSYS;
		/* W5: ask again at once; W6: renew */
		WRITE_ONCE(w->lost, false);
	}
}

/* Is a WAIT or WAKE well formed (tdsm_word_ok()) and in the region? */
static int tdsm_wait_args_ok(struct tdsm_region *r, u64 addr, u8 width,
			     u8 op, u64 value, u64 expected)
{
	unsigned long idx;

	if (!tdsm_word_ok(addr, width, op, value, expected))
		return -EINVAL;
	return tdsm_addr_idx(r, addr, &idx) ? 0 : -ERANGE;
}

long tdsm_wait_ioctl(struct tdsm_region *r, void __user *uarg)
{
	struct tdsm_waiter w = {};
	struct tinydsm_wait a;
	ktime_t deadline = 0;
	u32 id;
	int err;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.remote || memchr_inv(a.reserved, 0, sizeof(a.reserved)))
		return -EINVAL;
	err = tdsm_wait_args_ok(r, a.addr, a.width, TDSM_WORD_WAIT, 1,
				a.expected);
	if (err)
		return err;
	if (a.timeout_ns)
		deadline = ktime_add_ns(ktime_get(), min_t(u64, a.timeout_ns,
							   KTIME_MAX / 2));
	w.addr = a.addr;
	init_waitqueue_head(&w.wq);
	err = xa_alloc_cyclic(&tdsm_waiters, &id, &w, xa_limit_32b,
			      &tdsm_waiter_next, GFP_KERNEL);
	if (err < 0)
		return err;
	err = tdsm_wait_sleep(r, &w, id, &a, deadline);
	xa_erase(&tdsm_waiters, id);
	/* W3: no wake-up can come now; one that came counted us. */
	if (w.woken)
		err = 0;
	if (err)
		return err;
	a.remote = w.home != r->node_id;
	return copy_to_user(uarg, &a, sizeof(a)) ? -EFAULT : 0;
}

long tdsm_wake_ioctl(struct tdsm_region *r, void __user *uarg)
{
	struct tinydsm_wake a;
	u64 woken;
	int err;
	u8 at;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.remote || a.woken || memchr_inv(a.reserved, 0, sizeof(a.reserved)))
		return -EINVAL;
	err = tdsm_wait_args_ok(r, a.addr, a.width, TDSM_WORD_WAKE, a.count, 0);
	if (err)
		return err;
	woken = a.count;
	err = tdsm_word_access(r, a.addr, a.width, TDSM_WORD_WAKE, &woken, 0,
			       &at);
	if (err)
		return err;
	a.woken = min_t(u64, woken, a.count);
	a.remote = at != r->node_id;
	return copy_to_user(uarg, &a, sizeof(a)) ? -EFAULT : 0;
}

/* ---- setup ------------------------------------------------------------ */

void tdsm_wait_init(void)
{
	int b;

	for (b = 0; b < ARRAY_SIZE(tdsm_waitq); b++)
		INIT_LIST_HEAD(&tdsm_waitq[b]);
}

/* After the transport is gone: no handler or task uses the queue. */
void tdsm_wait_exit(void)
{
	LIST_HEAD(freed);
	int b;

	spin_lock(&tdsm_waitq_lock);
	for (b = 0; b < ARRAY_SIZE(tdsm_waitq); b++)
		list_splice_init(&tdsm_waitq[b], &freed);
	tdsm_waitq_len = 0;
	spin_unlock(&tdsm_waitq_lock);
	tdsm_queued_free(&freed);
	WARN_ON(!xa_empty(&tdsm_waiters));
}
