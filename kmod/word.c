// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: word-sized accesses done where the page is — the lookup form of
 * an access site.
 *
 * A load or store of 1, 2, 4 or 8 bytes (TINYDSM_IOC_WORD, or a uprobe
 * site's handler) is done on this node's copy when this node holds the page
 * in a state good enough (SHARED for a load, EXCLUSIVE for a store), and
 * otherwise at the page's home, with one WORD request: the page does not
 * come here and no page fault is taken. The home first gets the page
 * itself, exactly as for its own fault (so single writer / many readers
 * holds: a store at the home invalidates every other copy, ours included),
 * then accesses its copy. A page that writers on several nodes share thus
 * rests at its home while their sites run in lookup form, instead of
 * moving on every write.
 *
 * An atomic read-modify-write of a 4- or 8-byte word (TINYDSM_IOC_ATOMIC:
 * compare-and-swap, fetch-add, exchange, fetch-and, fetch-or) takes the
 * same path as a store: here if this node holds the page EXCLUSIVE, else
 * at the home, which gets the page exclusively first. It is a locked
 * instruction on the frame, the physical page every process of that node
 * maps, so it is atomic with their own atomics too; and as the page has
 * one writable copy, sequentially consistent with every access anywhere.
 * A word that every node updates this way stays at its home.
 *
 * A WAIT (TINYDSM_IOC_WAIT, wait.c) takes the path of a load, but is done
 * at the home only, where the word's waiters are queued: the home checks
 * the word on its copy and queues the waiter under the page lock. A WAKE
 * goes to the home too, and needs no page.
 */
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/uaccess.h>
#include <linux/wait_bit.h>

#include "evict.h"
#include "lock.h"
#include "page.h"
#include "peer.h"
#include "proto.h"
#include "rdma.h"
#include "site.h"
#include "tinydsm.h"
#include "wait.h"
#include "wire.h"
#include "word.h"

static bool tdsm_word_width_ok(u8 width)
{
	return width == 1 || width == 2 || width == 4 || width == 8;
}

static bool tdsm_word_crosses(u64 addr, u8 width)
{
	return (addr & ~PAGE_MASK) + width > PAGE_SIZE;
}

static bool tdsm_word_atomic(u8 op)
{
	return op >= TDSM_WORD_CAS && op <= TDSM_WORD_OR;
}

/* Does @op (TDSM_WORD_*) write the word? A store, an atomic (a CAS too). */
static bool tdsm_word_writes(u8 op)
{
	return op == TDSM_WORD_STORE || tdsm_word_atomic(op);
}

/*
 * Is the access well formed? An atomic, a WAIT and a WAKE are 4 or 8
 * bytes, aligned (a locked instruction across cache lines is a split
 * lock); an atomic's operand and expected value are no wider than the
 * word, expected zero but for a CAS. A load carries no value; a WAIT
 * carries the waiter's id (32 bits, not 0) and an expected value no wider
 * than the word; a WAKE how many to wake (1 .. INT_MAX).
 */
bool tdsm_word_ok(u64 addr, u8 width, u8 op, u64 value, u64 expected)
{
	u64 high = width < 8 ? ~0ULL << (8 * width) : 0;

	if (!tdsm_word_width_ok(width) || tdsm_word_crosses(addr, width) ||
	    op >= __TDSM_WORD_MAX)
		return false;
	if (op == TDSM_WORD_LOAD)
		return !value && !expected;
	if (op == TDSM_WORD_STORE)
		return !expected;
	if (width < 4 || !IS_ALIGNED(addr, width) || (expected & high))
		return false;
	if (op == TDSM_WORD_WAIT)
		return value && value <= U32_MAX;
	if (op == TDSM_WORD_WAKE)
		return value && value <= INT_MAX && !expected;
	return !(value & high) && (op == TDSM_WORD_CAS || !expected);
}

/* What an atomic @op stores, given the word's @old value. */
static u64 tdsm_word_new(u8 op, u64 old, u64 operand, u64 expected)
{
	switch (op) {
	case TDSM_WORD_CAS:
		return old == expected ? operand : old;
	case TDSM_WORD_ADD:
		return old + operand;
	case TDSM_WORD_XCHG:
		return operand;
	case TDSM_WORD_AND:
		return old & operand;
	default:
		return old | operand;
	}
}

/*
 * The atomic @op on the word at @p: a cmpxchg loop, the one locked
 * instruction that does every op, atomic with what the processes mapping
 * the frame do with theirs. Returns the value before.
 */
static u64 tdsm_word_rmw(void *p, u8 width, u8 op, u64 operand, u64 expected)
{
	if (width == 4) {
		u32 *w = p, old = READ_ONCE(*w);

		while (!try_cmpxchg(w, &old,
				    (u32)tdsm_word_new(op, old, operand, expected)))
			;
		return old;
	}

	u64 *w = p, old = READ_ONCE(*w);

	while (!try_cmpxchg(w, &old, tdsm_word_new(op, old, operand, expected)))
		;
	return old;
}

/*
 * @op on @frame at @off: a load (zero-extended) into *@value, a store of
 * it, or an atomic with operand *@value and @expected, the value before
 * into *@value.
 */
static void tdsm_word_frame(struct page *frame, unsigned int off, u8 width,
			    u8 op, u64 *value, u64 expected)
{
	void *p = kmap_local_page(frame) + off;

	if (tdsm_word_atomic(op)) {
		*value = tdsm_word_rmw(p, width, op, *value, expected);
	} else if (op == TDSM_WORD_STORE) {
		switch (width) {
		case 1:
			WRITE_ONCE(*(u8 *)p, *value);
			break;
		case 2:
			WRITE_ONCE(*(u16 *)p, *value);
			break;
		case 4:
			WRITE_ONCE(*(u32 *)p, *value);
			break;
		default:
			WRITE_ONCE(*(u64 *)p, *value);
			break;
		}
	} else {
		switch (width) {
		case 1:
			*value = READ_ONCE(*(u8 *)p);
			break;
		case 2:
			*value = READ_ONCE(*(u16 *)p);
			break;
		case 4:
			*value = READ_ONCE(*(u32 *)p);
			break;
		default:
			*value = READ_ONCE(*(u64 *)p);
			break;
		}
	}
	kunmap_local(p);
}

/*
 * A WAIT of @node's waiter *@value at the home, on its copy (wait.c, W2):
 * queue it if the word holds @expected (*@value = 1), else forget it if it
 * was queued (*@value = 0). 0 or -errno.
 */
static int tdsm_word_wait(struct tdsm_page *pg, u64 addr, u8 width, u8 node,
			  u64 *value, u64 expected)
{
	u64 now;
	int err;

	tdsm_word_frame(pg->frame, addr & ~PAGE_MASK, width, TDSM_WORD_LOAD,
			&now, 0);
	if (now != expected) {
		tdsm_wait_dequeue(pg, addr, node, *value);
		*value = 0;
		return 0;
	}
	err = tdsm_wait_enqueue(pg, addr, width, node, *value);
	*value = 1;
	return err;
}

/*
 * Do the access on this node's copy if it is good enough (EXCLUSIVE for
 * any op that writes; for a WAIT, a copy on the home, for @node's waiter).
 * Returns 1 if done, 0 if not, or the WAIT's -errno. The page lock is
 * held. A frame in state INVALID is no copy: on the home it is its own
 * frame retained for a write grant under way (proto.c,
 * tdsm_write_owner()), and the access gets the page as a fault would,
 * after that transaction.
 */
static int tdsm_word_here(struct tdsm_region *r, struct tdsm_page *pg,
			  u64 addr, u8 width, u8 op, u8 node, u64 *value,
			  u64 expected)
{
	bool writes = tdsm_word_writes(op);
	int err;

	tdsm_page_assert_locked(pg);
	if (!pg->frame || pg->state < (writes ? TINYDSM_PAGE_EXCLUSIVE :
				       TINYDSM_PAGE_SHARED))
		return 0;
	if (op == TDSM_WORD_WAIT) {
		if (tdsm_page_home(pg) != r->node_id)
			return 0;
		err = tdsm_word_wait(pg, addr, width, node, value, expected);
		return err ?: 1;
	}
	tdsm_word_frame(pg->frame, addr & ~PAGE_MASK, width, op, value,
			expected);
	tdsm_cache_touch(pg);
	if (writes)
		set_bit(TDSM_PG_WRITTEN, &pg->flags);
	return 1;
}

/* Ask the home; -EAGAIN if it forwarded us to another home. */
static int tdsm_word_remote(struct tdsm_region *r, struct tdsm_page *pg, u8 home,
			    u64 addr, u8 width, u8 op, u64 *value, u64 expected)
{
	struct tdsm_call call = {};
	struct tdsm_wire_msg msg;
	struct tdsm_conn *conn;
	int err;

	conn = tdsm_peer_conn_wait(home, tdsm_timeout_ms);
	if (!conn)
		return -EHOSTUNREACH;
	tdsm_msg_init(&msg, TDSM_W_WORD);
	msg.word.addr = cpu_to_be64(addr);
	msg.word.value = cpu_to_be64(op == TDSM_WORD_LOAD ? 0 : *value);
	msg.word.width = width;
	msg.word.op = op;
	msg.word.expected = cpu_to_be64(expected);
	err = tdsm_call(conn, &msg, NULL, &call);
	tdsm_conn_put(conn);
	if (err)
		return err;
	err = tdsm_status_errno(be32_to_cpu(call.reply.reply.status));
	if (!err && op != TDSM_WORD_STORE)
		*value = be64_to_cpu(call.reply.reply.addr);
	if (err == -EREMOTE) {
		tdsm_follow_hint(r, pg, home, call.reply.reply.home);
		atomic64_inc(&r->forwards);
		err = -EAGAIN;
	}
	return err;
}

/**
 * tdsm_word_access - one word-sized access where the page is
 * @r: the region.
 * @addr: address of the access; the caller checked it is inside the region
 *	and that the access is well formed (tdsm_word_ok()).
 * @width: 1, 2, 4 or 8 (4 or 8 for an atomic).
 * @op: TDSM_WORD_*.
 * @value: in: a store's value, an atomic's operand, a WAIT's waiter id, a
 *	WAKE's count; out: the value loaded, zero-extended, the word's value
 *	before an atomic, 1 if a WAIT was queued (0: the word differs), how
 *	many a WAKE woke.
 * @expected: a CAS's or WAIT's expected value; else zero.
 * @at: set to the node where the access was done.
 *
 * Sleeps. Returns 0 or -errno (what a fault would have turned into SIGBUS).
 */
int tdsm_word_access(struct tdsm_region *r, u64 addr, u8 width, u8 op,
		     u64 *value, u64 expected, u8 *at)
{
	bool writes = tdsm_word_writes(op);
	unsigned int hops = 0;
	unsigned long busy = 0;
	int done, err;
	struct tdsm_page *pg;
	unsigned long idx;
	bool merged;
	u8 home;

	*at = r->node_id;
	if (WARN_ON_ONCE(!tdsm_addr_idx(r, addr, &idx)))
		return -ERANGE;	/* the callers checked */
	/*
	 * Like a fault, a word access creates the page's metadata (M6), and
	 * looks it up once: @pg is valid until the put below (M1).
	 */
	pg = tdsm_chunk_get_pg(r, idx);
	if (IS_ERR(pg))
		return PTR_ERR(pg);
	err = -ELOOP;
	while (hops < 2 * TDSM_MAX_FORWARDS) {
		if (tdsm_page_lock_killable(pg)) {
			err = -EINTR;
			goto out;
		}
		done = op == TDSM_WORD_WAKE ? 0 :
		       tdsm_word_here(r, pg, addr, width, op, r->node_id,
				      value, expected);
		home = tdsm_page_home(pg);
		tdsm_page_unlock(pg);
		if (done) {
			err = min(done, 0);
			goto out;
		}

		if (home == r->node_id && op == TDSM_WORD_WAKE) {
			*value = tdsm_wake_queued(r, addr, *value, false);
			err = 0;
			goto out;
		}
		if (home == r->node_id) {
			/* Get the page here as a fault would. */
			err = tdsm_acquire_once(r, pg, idx, writes, &merged);
			if (err)
				goto out;
			hops++;
			continue;	/* and look again */
		}
		err = tdsm_word_remote(r, pg, home, addr, width, op, value,
				       expected);
		/* As a fault: a page in another transaction is waited out. */
		if (tdsm_busy_again(&busy, &err))
			continue;
		if (err != -EAGAIN)
			break;
		hops++;
	}
	if (err == -EAGAIN)
		err = -ELOOP;
	if (!err) {
		*at = home;
		atomic64_inc(&r->word_remote);
	}
out:
	tdsm_chunk_put_pg(pg, idx);
	return err;
}

long tdsm_word_ioctl(struct tdsm_region *r, struct tdsm_sites *t, void __user *uarg)
{
	struct tinydsm_word w;
	unsigned long idx;
	u8 op, at;
	int err;

	if (copy_from_user(&w, uarg, sizeof(w)))
		return -EFAULT;
	op = w.flags & TINYDSM_WORD_F_STORE ? TDSM_WORD_STORE : TDSM_WORD_LOAD;
	if (memchr_inv(w.reserved, 0, sizeof(w.reserved)) || w.remote ||
	    (w.flags & ~__TINYDSM_WORD_F_ALL) || !tdsm_word_width_ok(w.width) ||
	    tdsm_word_crosses(w.addr, w.width))
		return -EINVAL;
	if (!tdsm_addr_idx(r, w.addr, &idx))
		return -ERANGE;
	if (op == TDSM_WORD_LOAD)
		w.value = 0;
	err = tdsm_word_access(r, w.addr, w.width, op, &w.value, 0, &at);
	if (err)
		return err;
	if (w.site)
		tdsm_sites_word(r, t, idx, w.site);
	w.remote = at != r->node_id;
	return copy_to_user(uarg, &w, sizeof(w)) ? -EFAULT : 0;
}

/* The uapi's atomic ops are the wire's, in the same order. */
static_assert(TDSM_WORD_CAS - TINYDSM_ATOMIC_CAS == TDSM_WORD_STORE);
static_assert(TDSM_WORD_OR - TINYDSM_ATOMIC_FETCH_OR == TDSM_WORD_STORE);
static_assert(TDSM_WORD_OR + 1 - __TINYDSM_ATOMIC_MAX == TDSM_WORD_STORE);

long tdsm_atomic_ioctl(struct tdsm_region *r, void __user *uarg)
{
	struct tinydsm_atomic a;
	unsigned long idx;
	u8 op, at;
	int err;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (memchr_inv(a.reserved, 0, sizeof(a.reserved)) || a.remote ||
	    a.old || a.op < TINYDSM_ATOMIC_CAS || a.op >= __TINYDSM_ATOMIC_MAX)
		return -EINVAL;
	op = TDSM_WORD_STORE + a.op;
	if (!tdsm_word_ok(a.addr, a.width, op, a.operand, a.expected))
		return -EINVAL;
	if (!tdsm_addr_idx(r, a.addr, &idx))
		return -ERANGE;
	a.old = a.operand;
	err = tdsm_word_access(r, a.addr, a.width, op, &a.old, a.expected,
			       &at);
	if (err)
		return err;
	a.remote = at != r->node_id;
	return copy_to_user(uarg, &a, sizeof(a)) ? -EFAULT : 0;
}

/* ---- the home's side: WORD requests from peers (tdsm_wq) -------------- */

void tdsm_handle_word(struct tdsm_region *r, struct tdsm_conn *conn,
		      const struct tdsm_wire_msg *msg)
{
	u64 addr = be64_to_cpu(msg->word.addr);
	u64 value = be64_to_cpu(msg->word.value);
	u64 expected = be64_to_cpu(msg->word.expected);
	u8 width = msg->word.width, op = msg->word.op;
	enum tdsm_wire_status st = TDSM_WS_OK;
	struct tdsm_page *pg;
	unsigned long idx;
	u8 home;
	int err;

	if (!tdsm_addr_idx(r, addr, &idx))
		st = TDSM_WS_RANGE;
	else if (!tdsm_word_ok(addr, width, op, value, expected) ||
		 memchr_inv(msg->word.reserved, 0, sizeof(msg->word.reserved)))
		st = TDSM_WS_INVAL;
	if (st) {
		tdsm_reply_status(conn, msg, st);
		return;
	}
	if (op == TDSM_WORD_WAKE) {
		tdsm_handle_wake(r, conn, msg, idx);
		return;
	}
	pg = tdsm_serve_begin(r, idx, &st, &home);
	if (!pg) {
		if (st == TDSM_WS_NOTHOME)
			tdsm_reply_nothome(conn, msg, home, 0);
		else
			tdsm_reply_status(conn, msg, st);
		return;
	}
	err = tdsm_home_claim(r, pg, idx);
	if (!err)
		err = tdsm_home_acquire_locked(r, pg, idx, tdsm_word_writes(op));
	if (!err) {
		tdsm_page_lock(pg);
		err = tdsm_word_here(r, pg, addr, width, op, msg->hdr.src,
				     &value, expected);
		err = err ?: -ESTALE;
		tdsm_page_unlock(pg);
		err = min(err, 0);
	}
	if (!err)
		atomic64_inc(&r->word_served);
	tdsm_reply_value(conn, msg, tdsm_errno_status(err),
			 op == TDSM_WORD_STORE ? 0 : value);
	tdsm_serve_end(r, idx, pg);
}
