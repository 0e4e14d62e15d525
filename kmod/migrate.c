// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: page migration — moving the home and the ownership of pages to
 * another node — and the eager repopulation of the nodes that lost their
 * copies to it.
 *
 * MIGRATE runs on the target T, which pulls batches of up to
 * TDSM_WIRE_BATCH pages from their home S (one round trip per batch; the
 * range is split at the edges of the groups of TDSM_WIRE_BATCH pages,
 * wire.h, so a range that does not start on one may take a batch more):
 *
 *   T: locks TDSM_PG_DIR of the batch's pages (requests for them that reach
 *      T wait), names itself their home, registers one buffer for all of
 *      them and sends MIGRATE.
 *   S: locks the batch's directory entries in ascending order and, page by
 *      page, makes sure it holds the current data (pulling it from a third
 *      owner, which keeps a read-only copy), then invalidates every copy
 *      but its own and T's (INVAL with TDSM_INVAL_MOVED: the holders learn
 *      the new home). After each step the directory is consistent: S owns
 *      what it collected. S then lets the batch go (home and owner T, its
 *      own copies unmapped and dropped) and only then RDMA-writes the frames
 *      into T's buffer and replies (done/data masks): T writes the pages as
 *      soon as the reply lands, before S's send completes, so S may not
 *      read them, nor call itself their home, until then. If the reply does
 *      not land (or may not have: in doubt), S takes the batch back: it did
 *      not move.
 *   T: installs the frames as the exclusive owner and home, unlocks.
 *
 * Requests that reach S for a page that has left are answered NOTHOME with
 * the new home, and the requester retries there (proto.c).
 *
 * A failed MIGRATE leaves the batches before it moved and the rest at S, so
 * running it again resumes. One window is not closed: a reply in doubt
 * that T did take leaves both nodes the home (PROTOCOL.md, "Migration").
 *
 * REPOPULATE runs on a node that lost copies to a migration (TDSM_PG_MOVED):
 * it asks their new home for read copies with READV, a batch per round trip,
 * and maps them into every process of this node that maps the region, so
 * that no access faults.
 */
#include <linux/bitops.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "budget.h"
#include "inject.h"
#include "lock.h"
#include "migrate.h"
#include "netlink.h"
#include "page.h"
#include "peer.h"
#include "proto.h"
#include "rdma.h"
#include "region.h"
#include "site.h"
#include "tinydsm.h"
#include "wait.h"
#include "wire.h"
#include "trace.h"

static_assert(BIT(TDSM_WIRE_BATCH_SHIFT) == TDSM_WIRE_BATCH);

/*
 * Does the batch of @n (>= 1) pages from @first leave the group of
 * TDSM_WIRE_BATCH pages that @first is in? Every batch stays inside one
 * (wire.h).
 */
static bool tdsm_batch_crosses(unsigned long first, unsigned int n)
{
	return first >> TDSM_WIRE_BATCH_SHIFT !=
	       (first + n - 1) >> TDSM_WIRE_BATCH_SHIFT;
}

/*
 * The pages of the next batch of a range that goes on from @first up to
 * @end: up to TDSM_WIRE_BATCH, and not past the end of @first's group.
 * MIGRATE and REPOPULATE split their ranges with it; INVALV goes with the
 * batch of a MIGRATE.
 */
unsigned int tdsm_batch_len(unsigned long first, unsigned long end)
{
	return min_t(unsigned long, end - first,
		     TDSM_WIRE_BATCH - (first & (TDSM_WIRE_BATCH - 1)));
}

/*
 * Start batch request @msg of @type for the @n pages from @first. Every
 * sender keeps a batch inside one group (tdsm_batch_len()): the receiver
 * refuses one that is not.
 */
void tdsm_batch_msg_init(struct tdsm_wire_msg *msg, u8 type,
			 unsigned long first, unsigned int n)
{
	WARN_ON_ONCE(!n || tdsm_batch_crosses(first, n));
	tdsm_msg_init(msg, type);
	msg->batch.addr = cpu_to_be64(tdsm_page_addr(first));
	msg->batch.npages = n;
}

/*
 * What each batch request's body may carry (tdsm_batch_check()): a mask of
 * pages (not empty, inside the batch; MIGRATE moves the whole batch and
 * has none), a second one (EVICTV's write-backs: disjoint from its clean
 * drops, and the two not both empty), an epoch (the home's transaction),
 * a node (INVALV's new owner) and a buffer (iova, rkey) for the receiver
 * to write into. A field a type does not carry must be zero.
 */
struct tdsm_batch_fields {
	bool mask;
	bool wmask;
	bool epoch;
	bool dst;
	bool buffer;
};

static const struct tdsm_batch_fields tdsm_batch_fields[__TDSM_W_MAX] = {
	[TDSM_W_MIGRATE] = { .buffer = true },
	[TDSM_W_READV]	 = { .mask = true, .buffer = true },
	[TDSM_W_INVALV]	 = { .mask = true, .epoch = true, .dst = true },
	[TDSM_W_FETCHV]	 = { .mask = true, .epoch = true, .buffer = true },
	[TDSM_W_EVICTV]	 = { .mask = true, .wmask = true },
	[TDSM_W_PLACE]	 = {},
};

/*
 * Check a batch request's body against its type's fields
 * (tdsm_batch_fields): its first page in *@first and count in *@n. A batch
 * across the edge of a group of TDSM_WIRE_BATCH pages is malformed (wire
 * version 7); INVALV's node is a node, neither the sender nor this one.
 *
 * The batch handlers and initiators below hold the chunk of a batch's
 * pages (page.h, M1) from before its first lock to after its last unlock.
 * A batch is inside one group of TDSM_WIRE_BATCH pages, which is one
 * chunk, held with one reference on its first page: tdsm_chunk_get() for
 * those that create it (MIGRATE at both ends, READV at the home),
 * tdsm_chunk_get_existing() for those about copies (INVALV, FETCHV and
 * EVICTV, and REPOPULATE, which wants only pages that lost a copy): no
 * chunk, no copy (page.h, M5).
 */
enum tdsm_wire_status tdsm_batch_check(struct tdsm_region *r,
				       const struct tdsm_wire_msg *msg,
				       unsigned long *first, unsigned int *n)
{
	const struct tdsm_wire_batch *b = &msg->batch;
	u64 addr = be64_to_cpu(b->addr), mask = be64_to_cpu(b->mask);
	u64 wmask = be64_to_cpu(b->wmask), all = mask | wmask;
	const struct tdsm_batch_fields *f;

	if (msg->hdr.type >= __TDSM_W_MAX)	/* the dispatcher sent only batches */
		return TDSM_WS_INVAL;
	f = &tdsm_batch_fields[msg->hdr.type];
	if (!tdsm_addr_idx(r, addr, first))
		return TDSM_WS_RANGE;
	*n = b->npages;
	if (addr & ~PAGE_MASK || !*n || *n > TDSM_WIRE_BATCH ||
	    b->reserved[0] || b->reserved[1] || b->reserved2 ||
	    tdsm_batch_crosses(*first, *n))
		return TDSM_WS_INVAL;
	if ((!f->mask && mask) || (!f->wmask && wmask) ||
	    (!f->epoch && b->epoch) || (!f->dst && b->dst) ||
	    (!f->buffer && (b->iova || b->rkey)))
		return TDSM_WS_INVAL;
	if (f->mask && (!all || (*n < 64 && all >> *n) || (mask & wmask)))
		return TDSM_WS_INVAL;
	if (f->dst && (b->dst > TDSM_NODES_MAX || b->dst == msg->hdr.src ||
		       (b->dst && b->dst == r->node_id)))
		return TDSM_WS_INVAL;
	if (*first + *n > r->npages)
		return TDSM_WS_RANGE;
	return TDSM_WS_OK;
}

/*
 * Take the TDSM_PG_DIR of each page @mask of the batch of @n pages at
 * @first (its chunk held), in ascending order as every batch does, all of
 * them by @end (jiffies); once that has passed, each one left is tried
 * once. Returns the mask of those taken, for tdsm_dir_unlock_batch(). For
 * a request handler, whose sender waits a bounded time for the reply: a
 * page's DIR may be held for its holder's round trips (timeout_ms each), and
 * a batch queued behind 64 of them would answer after its sender gave up
 * (and tore the connection down). What the handler does with a page it did
 * not lock is its own (a READV does not serve it, an EVICTV leaves it).
 */
u64 tdsm_dir_lock_batch(struct tdsm_region *r, unsigned long first,
			unsigned int n, u64 mask, unsigned long end)
{
	u64 locked = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		long left = max_t(long, (long)(end - jiffies), 0);

		if ((mask & BIT_ULL(i)) &&
		    !tdsm_dir_lock_timeout(tdsm_pg(r, first + i),
					   jiffies_to_msecs(left)))
			locked |= BIT_ULL(i);
	}
	return locked;
}

/* Release the DIRs tdsm_dir_lock_batch() took, in descending order. */
void tdsm_dir_unlock_batch(struct tdsm_region *r, unsigned long first,
			   unsigned int n, u64 locked)
{
	unsigned int i;

	for (i = n; i-- > 0;)
		if (locked & BIT_ULL(i))
			tdsm_dir_unlock(tdsm_pg(r, first + i));
}

/*
 * Refuse a batch request. The reply invalidates the requester's buffer, as
 * any reply to it does, only if its type carries one: an rkey in a body
 * that may not have one (INVALV, EVICTV) is no key of the requester's, and
 * a SEND_WITH_INV of it would fail at the requester and end the
 * connection over a request that is answered.
 */
void tdsm_breply_error(struct tdsm_conn *conn, const struct tdsm_wire_msg *msg,
		       enum tdsm_wire_status st)
{
	struct tdsm_wire_breply rep = { .status = cpu_to_be32(st) };
	u8 type = msg->hdr.type;
	u32 rkey = 0;

	if (type < __TDSM_W_MAX && tdsm_batch_fields[type].buffer)
		rkey = be32_to_cpu(msg->batch.rkey);
	tdsm_reply_batch(conn, msg, &rep, NULL, NULL, 0, 0, rkey);
}

/*
 * Send the batch request @req with @bufv as its buffer (its iova and rkey
 * set here), wait for the reply (tdsm_call_batch()), and be done with the
 * buffer (tdsm_bufv_put(): its rkey dead, its frames left for the
 * caller). 0 and the reply in @call if the call succeeded and the reply's
 * status is OK; else -errno, the call's or the status's.
 */
int tdsm_call_bufv(struct tdsm_conn *conn, struct tdsm_wire_msg *req,
		   struct tdsm_bufv *bufv, struct tdsm_call *call)
{
	int err;

	req->batch.iova = cpu_to_be64(bufv->mr->iova);
	req->batch.rkey = cpu_to_be32(bufv->mr->rkey);
	err = tdsm_call_batch(conn, req, bufv, call);
	tdsm_bufv_put(conn, bufv, err ? NULL : call);
	if (!err)
		err = tdsm_status_errno(be32_to_cpu(call->reply.breply.status));
	return err;
}

/* ---- the old home (S): hand a batch over ------------------------------ */

/*
 * Make this node (the home, DIR held) hold the current contents of page
 * @idx, owned now by another node, which keeps a read-only copy; this node
 * becomes the owner. @epoch: the migration's transaction.
 */
static int tdsm_home_pull(struct tdsm_region *r, unsigned long idx, u32 epoch)
{
	struct tdsm_page *pg = tdsm_pg(r, idx);
	struct tdsm_dest dst = { .node = r->node_id, .epoch = epoch };
	struct tdsm_conn *conn;
	struct tdsm_buf buf;
	bool data;
	int err;

	tdsm_dir_assert_locked(pg);
	conn = tdsm_peer_conn(pg->owner);
	if (!conn)
		return -EHOSTUNREACH;
	err = tdsm_buf_alloc(conn, &buf);
	if (err)
		goto out;
	dst.iova = buf.mr->iova;
	dst.rkey = buf.mr->rkey;
	dst.buf = &buf;
	err = tdsm_home_serve(r, pg, idx, false, &dst, NULL, &data);
	tdsm_buf_put(conn, &buf, !err && data ? &dst.call : NULL);
	/* No data: only if a grant in doubt fell back to our own frame. */
	if (!err && !data && pg->owner != r->node_id)
		err = -EPROTO;
	if (err || !data) {
		put_page(buf.frame);
		goto out;
	}
	tdsm_page_lock(pg);
	tdsm_local_install(r, pg, idx, buf.frame, TINYDSM_PAGE_SHARED);
	tdsm_page_unlock(pg);
	pg->owner = r->node_id;
out:
	tdsm_conn_put(conn);
	return err;
}

/*
 * Make node @x drop its copies of the pages @mask of the batch at @first
 * (@n pages; the home, DIR held on them), all at once: one INVALV.
 * @moved_to: not 0, their new home, which @x then knows. MIGRATE and
 * FREE (alloc.c) invalidate so.
 */
int tdsm_invalidate_batch(struct tdsm_region *r, unsigned long first,
			  unsigned int n, u64 mask, u8 x, u8 moved_to, u32 epoch)
{
	struct tdsm_call call = {};
	struct tdsm_wire_msg msg;
	struct tdsm_conn *conn;
	unsigned int i;
	int err;

	if (IS_ENABLED(CONFIG_LOCKDEP))
		for (i = 0; i < n; i++)
			if (mask & BIT_ULL(i))
				tdsm_dir_assert_locked(tdsm_pg(r, first + i));
	conn = tdsm_peer_conn(x);
	if (!conn)
		return -EHOSTUNREACH;
	tdsm_batch_msg_init(&msg, TDSM_W_INVALV, first, n);
	msg.batch.dst = moved_to;
	msg.batch.mask = cpu_to_be64(mask);
	msg.batch.epoch = cpu_to_be32(epoch);
	err = tdsm_call(conn, &msg, NULL, &call);
	if (!err)
		err = tdsm_status_errno(be32_to_cpu(call.reply.reply.status));
	tdsm_conn_put(conn);
	atomic64_add(hweight64(mask), &r->invalidations);
	return err;
}

/*
 * Prepare the pages @want of the batch at @first (homed here, DIR held) to
 * move to node @to: afterwards each page's only copies are @to's and, if
 * this node owns it, ours, whose frame is then in @push (a reference) with
 * its index in @slot; *@npush of them. Invalidated nodes go in *@holders.
 * After every step the directory entries are consistent, so a failure
 * leaves the batch here, correctly. @epoch: the migration's transaction.
 */
static noinline_for_stack int
tdsm_migrate_prepare(struct tdsm_region *r, unsigned long first,
		     unsigned int n, u64 want, u8 to, u32 epoch,
		     u64 *holders, struct page **push, u8 *slot,
		     unsigned int *npush)
{
	u64 inval[TDSM_NODES_MAX + 1] = {};	/* by node id: 520 bytes */
	unsigned int i, x;
	u64 copies;
	int err;

	for (i = 0; i < n; i++) {
		struct tdsm_page *pg = tdsm_pg(r, first + i);

		if (!(want & BIT_ULL(i)))
			continue;
		tdsm_dir_assert_locked(pg);
		/*
		 * A third node owns it: collect it here first. So too if @to
		 * owns it by a grant in doubt: whether its copy is the page,
		 * only a FETCH for a frame that grant installed tells
		 * (TDSM_FETCH_F_LIVE, tdsm_home_serve()).
		 */
		if (pg->owner != r->node_id &&
		    (pg->owner != to || tdsm_doubt_to(r, pg, first + i, to))) {
			err = tdsm_home_pull(r, first + i, epoch);
			if (err)
				return err;
		}
		copies = pg->copyset & ~(tdsm_nbit(r->node_id) | tdsm_nbit(to));
		tdsm_for_each_node(x, copies)
			inval[x] |= BIT_ULL(i);
	}
	/* One round trip per node holding copies, not one per page. */
	for (x = 1; x <= TDSM_NODES_MAX; x++) {
		if (!inval[x])
			continue;
		err = tdsm_invalidate_batch(r, first, n, inval[x], x, to, epoch);
		if (err)
			return err;
		for (i = 0; i < n; i++)
			if (inval[x] & BIT_ULL(i))
				tdsm_pg(r, first + i)->copyset &= ~tdsm_nbit(x);
		*holders |= tdsm_nbit(x);
	}
	for (i = 0; i < n; i++) {
		struct tdsm_page *pg = tdsm_pg(r, first + i);

		if (!(want & BIT_ULL(i)) || pg->owner != r->node_id)
			continue;	/* @to owns it: its copy is the current one */
		tdsm_page_lock(pg);
		if (!pg->frame) {
			tdsm_page_unlock(pg);
			return -ESTALE;
		}
		/* No write may slip in while the page travels. */
		tdsm_local_downgrade(r, pg, first + i);
		push[*npush] = pg->frame;
		get_page(push[*npush]);
		slot[(*npush)++] = i;
		tdsm_page_unlock(pg);
	}
	return 0;
}

/*
 * Page @idx (prepared, DIR held) goes to @to: before the reply that hands
 * it over is posted, this node stops being its home and owner and drops
 * its copy, unmapped. @to writes the page as soon as the reply lands,
 * which is before this node hears so (its send's completion, an
 * acknowledgment later): a copy still mapped here until then would be
 * read, stale, while @to writes, and this node would still call itself
 * the home (two homes). The frame that goes with the reply stays alive in
 * the caller's push list. Local faults on the page now go to @to, which
 * holds them until it has installed the batch. *@owner and *@copyset: the
 * entry before, for tdsm_migrate_undo().
 */
static noinline_for_stack void
tdsm_migrate_hand_over(struct tdsm_region *r, unsigned long idx, u8 to,
		       u8 *owner, u64 *copyset)
{
	struct tdsm_page *pg = tdsm_pg(r, idx);
	struct page *frame;

	tdsm_dir_assert_locked(pg);
	*owner = pg->owner;
	*copyset = pg->copyset;
	tdsm_page_lock(pg);
	frame = tdsm_local_take(r, pg, idx);
	pg->owner = to;
	pg->copyset = tdsm_nbit(to);
	tdsm_page_set_home(pg, to);
	clear_bit(TDSM_PG_MOVED, &pg->flags);
	tdsm_page_unlock(pg);
	if (frame)
		put_page(frame);
}

/*
 * The reply handing page @idx over did not land (or may not have, see the
 * caller): this node is its home again, with the entry it had before the
 * hand-over, @owner and @copyset. @frame: the frame that was to go with
 * the reply if this node owned the page (installed again, read-only, and
 * a reference taken), else NULL: then the copy this node held, if any,
 * went at the hand-over, and the copyset says so.
 */
static noinline_for_stack void
tdsm_migrate_undo(struct tdsm_region *r, unsigned long idx, u8 owner,
		  u64 copyset, struct page *frame)
{
	struct tdsm_page *pg = tdsm_pg(r, idx);

	tdsm_page_lock(pg);
	tdsm_page_set_home(pg, r->node_id);
	pg->owner = owner;
	pg->copyset = copyset;
	if (frame) {
		get_page(frame);
		tdsm_local_install(r, pg, idx, frame, TINYDSM_PAGE_SHARED);
	} else {
		pg->copyset &= ~tdsm_nbit(r->node_id);
	}
	tdsm_page_unlock(pg);
}

/*
 * The helpers above are noinline_for_stack: inlined, with this function's
 * per-page arrays, the frame is over the debug kernel's limit (KASAN).
 */
void tdsm_handle_migrate(struct tdsm_region *r, struct tdsm_conn *conn,
			 const struct tdsm_wire_msg *msg)
{
	struct tdsm_wire_breply rep = {};
	struct page *push[TDSM_WIRE_BATCH];
	u64 copyset[TDSM_WIRE_BATCH];
	u8 owner[TDSM_WIRE_BATCH];
	u8 slot[TDSM_WIRE_BATCH];
	u8 to = msg->hdr.src;
	unsigned int i, n, npush = 0;
	enum tdsm_wire_status st;
	u64 done = 0, data = 0, locked;
	unsigned long first;
	u64 holders = 0;
	u32 epoch;
	int err = 0;

	st = tdsm_batch_check(r, msg, &first, &n);
	if (!st && tdsm_chunk_get(r, first))
		st = TDSM_WS_NOMEM;
	if (st) {
		tdsm_breply_error(conn, msg, st);
		return;
	}
	/*
	 * Ascending, like every other batch: no deadlock between batches.
	 * All of them within half the sender's wait, or none: a batch moves
	 * whole, so with one busy page nothing moves, and the answer BUSY
	 * tells the sender to ask again (tdsm_migrate()).
	 */
	locked = tdsm_dir_lock_batch(r, first, n, GENMASK_ULL(n - 1, 0),
				     jiffies + msecs_to_jiffies(tdsm_timeout_ms / 2));
	if (locked != GENMASK_ULL(n - 1, 0)) {
		tdsm_dir_unlock_batch(r, first, n, locked);
		tdsm_chunk_put(r, first);
		tdsm_breply_error(conn, msg, TDSM_WS_BUSY);
		return;
	}
	for (i = 0; i < n; i++) {
		struct tdsm_page *pg = tdsm_pg(r, first + i);

		/* Homed elsewhere, or never touched (nothing to move): skip. */
		if (tdsm_page_home(pg) == r->node_id && pg->owner)
			done |= BIT_ULL(i);
	}
	tdsm_inject_migrate_delay();
	/* One transaction for the batch, now that no other runs on it. */
	epoch = tdsm_txn_next(r);
	for (i = 0; i < n; i++)
		if (done & BIT_ULL(i))
			tdsm_pg(r, first + i)->epoch = epoch;
	err = tdsm_migrate_prepare(r, first, n, done, to, epoch, &holders, push,
				   slot, &npush);
	for (i = 0; i < npush; i++)
		data |= BIT_ULL(slot[i]);

	if (err) {
		/* Nothing moves; what was prepared stays ours, consistently. */
		rep.status = cpu_to_be32(tdsm_errno_status(err));
		done = 0;
		tdsm_reply_batch(conn, msg, &rep, NULL, NULL, 0, 0,
				 be32_to_cpu(msg->batch.rkey));
	} else {
		/* Let go first: the reply may land before we hear so. */
		for (i = 0; i < n; i++)
			if (done & BIT_ULL(i))
				tdsm_migrate_hand_over(r, first + i, to,
						       &owner[i], &copyset[i]);
		rep.done = cpu_to_be64(done);
		rep.data = cpu_to_be64(data);
		rep.holders = cpu_to_be64(holders);
		rep.epoch = cpu_to_be32(epoch);
		err = tdsm_reply_batch(conn, msg, &rep, push, slot, npush,
				       be64_to_cpu(msg->batch.iova),
				       be32_to_cpu(msg->batch.rkey));
	}
	if (err && done) {
		/*
		 * Not landed: the batch stays here. In doubt (-ECOMM: it went
		 * out, its completion failed) as well, for now: if @to did
		 * take it, both nodes are its home (PROTOCOL.md, "Migration").
		 */
		for (i = 0; i < n; i++)
			if (done & ~data & BIT_ULL(i))
				tdsm_migrate_undo(r, first + i, owner[i],
						  copyset[i], NULL);
		for (i = 0; i < npush; i++)
			tdsm_migrate_undo(r, first + slot[i], owner[slot[i]],
					  copyset[slot[i]], push[i]);
		done = 0;
	}
	atomic64_add(hweight64(done), &r->migrated_out);
	/* Gone: their own charges go; a run's pages keep its charge (H4). */
	for (i = 0; i < n; i++)
		if (done & BIT_ULL(i))
			tdsm_home_uncharge_page(r, tdsm_pg(r, first + i));
	for (i = 0; i < npush; i++)
		put_page(push[i]);
	tdsm_dir_unlock_batch(r, first, n, locked);
	tdsm_chunk_put(r, first);
	if (done)
		tdsm_event_migrated(tdsm_page_addr(first), n, r->node_id, to);
}

/* A holder: drop the copies of a batch (the home's INVALV). */
void tdsm_handle_invalv(struct tdsm_region *r, struct tdsm_conn *conn,
			const struct tdsm_wire_msg *msg)
{
	u32 epoch = be32_to_cpu(msg->batch.epoch);
	enum tdsm_wire_status st;
	unsigned long first;
	bool held = false;
	unsigned int i, n;
	int err = 0;
	u64 mask;
	u8 home;

	st = tdsm_batch_check(r, msg, &first, &n);
	mask = be64_to_cpu(msg->batch.mask);
	/*
	 * The batch's chunk, if there is one. Without it, every page of the
	 * batch has its default home and no copy here (M5, M6).
	 */
	if (!st)
		held = tdsm_chunk_get_existing(r, first);
	/* Only a page's home may take it away: all of them, or none. */
	for (i = 0; i < n && !st; i++) {
		if (!(mask & BIT_ULL(i)))
			continue;
		home = held ? tdsm_page_home(tdsm_pg(r, first + i)) :
			      tdsm_default_home(r, first + i);
		if (home != msg->hdr.src)
			st = TDSM_WS_INVAL;
	}
	/* A copy newer than the INVALV stays; the reply says STALE then. */
	if (!st && held)
		for (i = 0; i < n; i++)
			if ((mask & BIT_ULL(i)) &&
			    tdsm_local_inval(r, first + i, msg->batch.dst, epoch))
				err = -ESTALE;
	if (!st)
		st = tdsm_errno_status(err);
	tdsm_reply_status(conn, msg, st);
	if (held)
		tdsm_chunk_put(r, first);
}

/* ---- the new home (T): pull batches ----------------------------------- */

/* One batch of @n pages from @first, from node @from over @conn. */
int tdsm_migrate_batch(struct tdsm_region *r, struct tdsm_conn *conn, u8 from,
		       unsigned long first, unsigned int n,
		       struct tdsm_migrate_result *res)
{
	struct tdsm_call call = {};
	struct tdsm_wire_msg msg;
	struct tdsm_bufv *bufv;
	u64 done = 0, data = 0, preset = 0;
	unsigned int i, locked, kept = 0;
	bool bufv_held = false;	/* registered, and not yet put */
	u32 epoch = 0;
	int err;

	/* This node becomes their home: their metadata is needed here. */
	err = tdsm_chunk_get(r, first);
	if (err)
		return err;
	/*
	 * The home budget (H4): the batch whole before it is asked for; the
	 * pages that did not move are given back below.
	 */
	err = tdsm_home_charge(r, tdsm_page_addr(first), n,
			       TINYDSM_BUDGET_F_MIGRATE);
	if (err)
		goto out_put;
	bufv = tdsm_bufv_new(conn, n);
	if (!bufv) {
		err = -ENOMEM;
		goto out_uncharge;
	}
	bufv_held = true;

	/* Requests for these pages that reach us wait for the batch. */
	for (locked = 0; locked < n; locked++) {
		struct tdsm_page *pg = tdsm_pg(r, first + locked);

		if (tdsm_dir_lock_killable(pg)) {
			err = -EINTR;
			goto out_unlock;
		}
		if (tdsm_page_home(pg) == from) {
			tdsm_page_lock(pg);
			tdsm_page_set_home(pg, r->node_id);
			tdsm_page_unlock(pg);
			preset |= BIT_ULL(locked);
		}
	}

	tdsm_batch_msg_init(&msg, TDSM_W_MIGRATE, first, n);
	err = tdsm_call_bufv(conn, &msg, bufv, &call);
	bufv_held = false;
	if (!err) {
		done = be64_to_cpu(call.reply.breply.done);
		data = be64_to_cpu(call.reply.breply.data);
		epoch = be32_to_cpu(call.reply.breply.epoch);
		/* Our own transactions on these pages come after @from's. */
		tdsm_txn_seen(r, epoch);
		if ((data & ~done) || (n < 64 && done >> n)) {
			pr_warn_ratelimited("node %u: malformed MIGRATE reply\n",
					    from);
			err = -EPROTO;	/* the pages stay homed at @from */
			done = 0;
		}
	}

	for (i = 0; i < n; i++) {
		struct tdsm_page *pg = tdsm_pg(r, first + i);

		tdsm_page_lock(pg);
		if (done & BIT_ULL(i)) {
			if (data & BIT_ULL(i)) {
				tdsm_local_install(r, pg, first + i, bufv->frames[i],
						   TINYDSM_PAGE_EXCLUSIVE);
				bufv->frames[i] = NULL;
			} else if (pg->frame) {
				tdsm_page_set_state(pg, first + i, TINYDSM_PAGE_EXCLUSIVE);
				tdsm_sites_page_note(pg, true);
			} else {
				pr_warn_ratelimited("page %#llx migrated without its contents\n",
						    tdsm_page_addr(first + i));
			}
			pg->owner = r->node_id;
			pg->copyset = tdsm_nbit(r->node_id);
			pg->epoch = epoch;
			tdsm_page_set_home(pg, r->node_id);
			clear_bit(TDSM_PG_MOVED, &pg->flags);
			atomic64_inc(&r->migrated_in);
			if (tdsm_home_charge_page(r, pg))
				kept++;
		} else if (preset & BIT_ULL(i)) {
			tdsm_page_set_home(pg, from);
		}
		tdsm_page_unlock(pg);
	}
	if (!err) {
		res->moved += hweight64(done);
		res->data += hweight64(data);
		res->skipped += n - hweight64(done);
		res->holders |= be64_to_cpu(call.reply.breply.holders);
		if (done)
			tdsm_event_migrated(tdsm_page_addr(first), n, from,
					    r->node_id);
	}

out_unlock:
	for (i = locked; i-- > 0;) {
		struct tdsm_page *pg = tdsm_pg(r, first + i);

		if (err == -EINTR && (preset & BIT_ULL(i))) {
			tdsm_page_lock(pg);
			tdsm_page_set_home(pg, from);
			tdsm_page_unlock(pg);
		}
		tdsm_dir_unlock(pg);
	}
	/* Only when interrupted before the call: the call puts it itself. */
	if (bufv_held)
		tdsm_bufv_put(conn, bufv, NULL);
	tdsm_bufv_free(bufv);
out_uncharge:
	tdsm_home_uncharge(r, n - kept);
out_put:
	tdsm_chunk_put(r, first);
	return err;
}

/*
 * The index of the first page of the @npages from @addr in *@first: 0,
 * or -errno with the reason in @extack (not page aligned, not all inside
 * the region). MIGRATE and REPOPULATE take a range alike.
 */
static int tdsm_range_first(struct tdsm_region *r, u64 addr, u32 npages,
			    unsigned long *first, struct netlink_ext_ack *extack)
{
	if (addr & ~PAGE_MASK) {
		NL_SET_ERR_MSG_MOD(extack, "address is not page aligned");
		return -EINVAL;
	}
	if (!tdsm_addr_idx(r, addr, first) || !npages ||
	    npages > r->npages - *first) {
		NL_SET_ERR_MSG_MOD(extack, "range is not inside the region");
		return -ERANGE;
	}
	return 0;
}

/**
 * tdsm_migrate - move the pages of a range homed on @from to this node
 * @r: the region.
 * @addr: global address of the first page.
 * @npages: how many pages.
 * @from: their home now.
 * @res: what moved (added to).
 * @extack: for the reason of a refusal.
 *
 * Return: 0, or -errno; the batches done before an error stay moved, and
 * @res counts them (the caller reports them with the error).
 */
int tdsm_migrate(struct tdsm_region *r, u64 addr, u32 npages, u8 from,
		 struct tdsm_migrate_result *res, struct netlink_ext_ack *extack)
{
	struct tdsm_conn *conn;
	struct tdsm_peer *peer;
	unsigned long first, end, busy = 0;
	ktime_t start = ktime_get();
	int err = 0;

	if (from == r->node_id) {
		NL_SET_ERR_MSG_MOD(extack, "cannot migrate pages from a node to itself");
		return -EINVAL;
	}
	err = tdsm_range_first(r, addr, npages, &first, extack);
	if (err)
		return err;
	peer = tdsm_peer_find(from);
	if (!peer) {
		NL_SET_ERR_MSG_MOD(extack, "source node is not a known peer");
		return -ENOENT;
	}
	tdsm_peer_put(peer);
	/* Just back from a failure, it may be reconnecting: give it a moment. */
	conn = tdsm_peer_conn_wait(from, tdsm_timeout_ms);
	if (!conn) {
		NL_SET_ERR_MSG_MOD(extack, "source node is not connected");
		return -EHOSTUNREACH;
	}

	end = first + npages;
	while (first < end) {
		unsigned int n = tdsm_batch_len(first, end);
		u32 moved = res->moved;

		err = tdsm_migrate_batch(r, conn, from, first, n, res);
		trace_tinydsm_migrate(tdsm_page_addr(first), n, from,
				      res->moved - moved, err);
		/* A page of it was busy at @from, and nothing moved: again. */
		if (tdsm_busy_again(&busy, &err))
			continue;
		busy = 0;
		if (err == -ENOSPC) {
			NL_SET_ERR_MSG_MOD(extack,
					   "this node's home budget is full; what moved stays moved");
			break;
		}
		if (err)
			break;	/* stopped at this batch */
		first += n;
		if (first < end && fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
	}
	tdsm_conn_put(conn);
	res->nsec += ktime_to_ns(ktime_sub(ktime_get(), start));
	if (err && err != -ENOSPC) {
		NL_SET_ERR_MSG_MOD(extack,
				   "migration stopped; what moved stays moved, run it again to resume");
		pr_warn_ratelimited("migration from node %u stopped at %#llx, %u pages moved: %d\n",
				    from, tdsm_page_addr(first), res->moved, err);
	}
	return err;
}

/* ---- READV: read copies of a batch (eager repopulation, read-ahead) ---- */

/*
 * Serve the pages @want of the READV @msg, the batch of @n pages at @first
 * whose DIRs the caller holds, as one transaction (*@epoch). Returns the
 * pages served; each one's entry before in @owner[i] and @copyset[i], for
 * the caller to restore if the reply fails; this node's frames to send in
 * @push, their page indices in @slot, *@npush of them.
 *
 * noinline_for_stack: its struct tdsm_dest (two completions, bigger with
 * lockdep) and the caller's per-page arrays, with KASAN's redzones, would
 * not fit the debug kernel's frame limit in one function.
 */
static noinline_for_stack u64
tdsm_readv_serve(struct tdsm_region *r, struct tdsm_conn *conn,
		 const struct tdsm_wire_msg *msg, unsigned long first,
		 unsigned int n, u64 want, u32 *epoch, struct page **push,
		 u8 *slot, unsigned int *npush, u8 *owner, u64 *copyset)
{
	struct tdsm_dest dst = {
		.node = msg->hdr.src,
		.conn = conn,
		.rkey = be32_to_cpu(msg->batch.rkey),
	};
	u64 iova = be64_to_cpu(msg->batch.iova), done = 0;
	unsigned int i;
	int err;

	/* One transaction for the batch, now that no other runs on it. */
	dst.epoch = tdsm_txn_next(r);
	*epoch = dst.epoch;
	for (i = 0; i < n; i++) {
		struct tdsm_page *pg = tdsm_pg(r, first + i);
		struct page *frame = NULL;
		bool sent;

		/*
		 * Only pages that exist: one never touched is left to its
		 * first fault, which claims it (tdsm_home_claim()), rather
		 * than backed and charged for a read-ahead past a run's end.
		 */
		if (!(want & BIT_ULL(i)) || tdsm_page_home(pg) != r->node_id ||
		    !pg->owner)
			continue;
		dst.iova = iova + (u64)i * PAGE_SIZE;
		err = tdsm_home_serve(r, pg, first + i, false, &dst, &frame, &sent);
		/* The claim done, serve sets prev_*: the entry to restore. */
		owner[i] = dst.prev_owner;
		copyset[i] = dst.prev_copyset;
		if (err || !sent) {
			/* Not served: the requester faults on it later. */
			pg->owner = owner[i];
			pg->copyset = copyset[i];
			if (frame)
				put_page(frame);
			continue;
		}
		done |= BIT_ULL(i);
		if (frame) {
			push[*npush] = frame;
			slot[(*npush)++] = i;
		}
	}
	return done;
}

void tdsm_handle_readv(struct tdsm_region *r, struct tdsm_conn *conn,
		       const struct tdsm_wire_msg *msg)
{
	struct tdsm_wire_breply rep = {};
	struct page *push[TDSM_WIRE_BATCH];
	u8 owner[TDSM_WIRE_BATCH];
	u64 copyset[TDSM_WIRE_BATCH];
	u8 slot[TDSM_WIRE_BATCH];
	unsigned int i, n, npush = 0;
	enum tdsm_wire_status st;
	unsigned long first;
	u64 want, done;
	u32 epoch;
	int err;

	st = tdsm_batch_check(r, msg, &first, &n);
	/* Served as their home: their metadata is created here (M6). */
	if (!st && tdsm_chunk_get(r, first))
		st = TDSM_WS_NOMEM;
	if (st) {
		tdsm_breply_error(conn, msg, st);
		return;
	}
	/*
	 * Within half the sender's wait (a batch call's, 2 * timeout_ms): a
	 * page whose DIR does not come by then is not served, as one a
	 * transaction holds would not be, and the requester faults on it.
	 */
	want = tdsm_dir_lock_batch(r, first, n, be64_to_cpu(msg->batch.mask),
				   jiffies + msecs_to_jiffies(tdsm_timeout_ms / 2));
	done = tdsm_readv_serve(r, conn, msg, first, n, want, &epoch, push,
				slot, &npush, owner, copyset);

	/* Every page served went with its contents. */
	rep.done = cpu_to_be64(done);
	rep.data = cpu_to_be64(done);
	rep.epoch = cpu_to_be32(epoch);
	err = tdsm_reply_batch(conn, msg, &rep, push, slot, npush,
			       be64_to_cpu(msg->batch.iova),
			       be32_to_cpu(msg->batch.rkey));
	for (i = 0; i < n; i++) {
		if (err && (done & BIT_ULL(i))) {
			tdsm_pg(r, first + i)->owner = owner[i];
			tdsm_pg(r, first + i)->copyset = copyset[i];
		}
	}
	for (i = 0; i < npush; i++)
		put_page(push[i]);
	tdsm_dir_unlock_batch(r, first, n, want);
	tdsm_chunk_put(r, first);
}

/*
 * The pages of a READV: page @first + i for each bit i of @mask, in the
 * one chunk that tdsm_repopulate() holds until after the call.
 */
struct tdsm_grant_batch {
	struct tdsm_region *r;
	unsigned long first;
	u64 mask;
};

/*
 * The reply to a READV arrived (the receive path, struct tdsm_call): its
 * pages are granted, so that a later INVAL waits for their install. @ctx,
 * a struct tdsm_grant_batch, is on the stack of tdsm_readv_fetch(),
 * which returns only after the call did, its pages' chunks referenced
 * (page.h, M1).
 */
static void tdsm_reply_granted_batch(void *ctx)
{
	const struct tdsm_grant_batch *batch = ctx;
	u64 mask = batch->mask;

	while (mask) {
		unsigned int i = __ffs64(mask);

		set_bit(TDSM_PG_GRANTED,
			&tdsm_pg(batch->r, batch->first + i)->flags);
		mask &= mask - 1;
	}
}

/*
 * Fetch read copies of the pages @want among @n from @first, all homed on
 * @home, in one READV, and install them SHARED: the pages a migration
 * took away (tdsm_repopulate()), or a sequential read fault's page and
 * the ones after it (readahead.c). The caller holds the pages' chunk (one
 * batch is one chunk, M1) and the TDSM_PG_FETCHING bit of each page of
 * @want, and none of them has a frame here. Returns the pages installed
 * in *@got (bit i = page i).
 */
int tdsm_readv_fetch(struct tdsm_region *r, unsigned long first,
		     unsigned int n, u64 want, u8 home, u64 *got)
{
	struct tdsm_grant_batch batch = { .r = r, .first = first,
					  .mask = want };
	struct tdsm_call call = { .on_reply = tdsm_reply_granted_batch,
				  .on_reply_ctx = &batch };
	struct tdsm_wire_msg msg;
	struct tdsm_conn *conn;
	struct tdsm_bufv *bufv;
	u64 done = 0;
	unsigned int i;
	int err;

	*got = 0;
	conn = tdsm_peer_conn_wait(home, tdsm_timeout_ms);
	if (!conn)
		return -EHOSTUNREACH;
	bufv = tdsm_bufv_new(conn, n);
	if (!bufv) {
		err = -ENOMEM;
		goto out;
	}

	tdsm_batch_msg_init(&msg, TDSM_W_READV, first, n);
	msg.batch.mask = cpu_to_be64(want);
	err = tdsm_call_bufv(conn, &msg, bufv, &call);
	if (!err) {
		done = be64_to_cpu(call.reply.breply.done) &
		       be64_to_cpu(call.reply.breply.data) & want;
	}
	for (i = 0; i < n; i++) {
		struct tdsm_page *pg = tdsm_pg(r, first + i);

		if (!(want & BIT_ULL(i)))
			continue;
		tdsm_page_lock(pg);
		if (done & BIT_ULL(i)) {
			tdsm_local_install(r, pg, first + i, bufv->frames[i],
					   TINYDSM_PAGE_SHARED);
			bufv->frames[i] = NULL;
			pg->epoch = be32_to_cpu(call.reply.breply.epoch);
			clear_bit(TDSM_PG_MOVED, &pg->flags);
			*got |= BIT_ULL(i);
		}
		/* Installed (or not): a waiting INVAL may go on. */
		clear_and_wake_up_bit(TDSM_PG_GRANTED, &pg->flags);
		tdsm_page_unlock(pg);
	}
	tdsm_bufv_free(bufv);
out:
	tdsm_conn_put(conn);
	return err;
}

/**
 * tdsm_repopulate - fetch back, and map again, what a migration took away
 * @r: the region.
 * @addr: global address of the first page of the range.
 * @npages: pages in the range.
 * @flags: TINYDSM_REPOPULATE_F_*.
 * @res: what was done (added to).
 * @extack: for the reason of a refusal.
 *
 * Every page of the range with TDSM_PG_MOVED and no copy here is fetched
 * read-only from its home (READV, a batch per round trip) and mapped into
 * every process of this node that maps it; the access sites recorded for
 * those pages are put in their direct form (site.c). With
 * TINYDSM_REPOPULATE_F_LOOKUP nothing is fetched: the sites of those pages
 * go lookup instead, and every access is done at the new home.
 */
int tdsm_repopulate(struct tdsm_region *r, u64 addr, u32 npages, u32 flags,
		    struct tdsm_migrate_result *res,
		    struct netlink_ext_ack *extack)
{
	struct tdsm_page *pg;
	ktime_t start = ktime_get();
	unsigned long first, end;
	s64 rewrites;
	int err = 0;

	/*
	 * Sites rewritten: eager files' sites go direct on their own as the
	 * pages arrive (site.c's worker), the others when each batch is in;
	 * count both, as the node's rewrites while this ran.
	 */
	rewrites = atomic64_read(&r->sites_direct) + atomic64_read(&r->sites_lookup);
	err = tdsm_range_first(r, addr, npages, &first, extack);
	if (err)
		return err;
	end = first + npages;
	while (!err) {
		unsigned long stop;
		unsigned int i, n;
		u64 want = 0, got;
		u8 home = 0;

		/*
		 * A page that lost its copy to a migration has metadata
		 * (TDSM_PG_MOVED keeps it, page.h M2): only the chunks that
		 * exist in the range are looked at (M7), a batch each (a
		 * chunk is one batch's group). The batch's chunk is held
		 * until the batch is done (before the next one is held).
		 */
		if (!tdsm_chunk_get_range(r, &first, end, &stop))
			break;
		n = stop - first;
		for (i = 0; i < n; i++) {
			pg = tdsm_pg(r, first + i);
			if (test_bit(TDSM_PG_MOVED, &pg->flags) && !pg->frame &&
			    ((flags & TINYDSM_REPOPULATE_F_LOOKUP) ||
			     tdsm_page_home(pg) != r->node_id))
				want |= BIT_ULL(i);
		}
		if (flags & TINYDSM_REPOPULATE_F_LOOKUP) {
			tdsm_sites_page_event(r, first, n, want, TINYDSM_SITE_LOOKUP);
			tdsm_chunk_put(r, first);
			first += n;
			continue;
		}
		/* The pages to fetch, one READV per home. */
		while (want && !err) {
			u64 batch = 0;

			home = tdsm_page_home(tdsm_pg(r, first + __ffs64(want)));
			for (i = 0; i < n; i++) {
				if (!(want & BIT_ULL(i)))
					continue;
				pg = tdsm_pg(r, first + i);
				if (tdsm_page_home(pg) != home)
					continue;
				want &= ~BIT_ULL(i);
				/* A fault in flight on it has it in hand. */
				if (!test_and_set_bit_lock(TDSM_PG_FETCHING, &pg->flags))
					batch |= BIT_ULL(i);
			}
			if (!batch)
				continue;
			err = tdsm_readv_fetch(r, first, n, batch, home, &got);
			atomic64_add(hweight64(got), &r->repopulated);
			/*
			 * Let go of the batch's FETCHING bits before mapping
			 * it: a page invalidated since its install faults again
			 * in the prefault below (which must not wait for a bit
			 * we hold), and the sites' rewrite takes the mmap_lock
			 * of tasks that may be waiting for such a bit.
			 */
			for (i = 0; i < n; i++)
				if (batch & BIT_ULL(i))
					clear_and_wake_up_bit(TDSM_PG_FETCHING,
							      &tdsm_pg(r, first + i)->flags);
			if (err)
				break;
			res->fetched += hweight64(got);
			res->mapped += tdsm_region_prefault(r, first, n, got);
			tdsm_sites_page_event(r, first, n, got, TINYDSM_SITE_DIRECT);
		}
		tdsm_chunk_put(r, first);
		first += n;
		if (!err && fatal_signal_pending(current))
			err = -EINTR;
	}
	res->sites += atomic64_read(&r->sites_direct) + atomic64_read(&r->sites_lookup) -
		      rewrites;
	res->nsec += ktime_to_ns(ktime_sub(ktime_get(), start));
	if (err)
		NL_SET_ERR_MSG_MOD(extack, "repopulation stopped; the rest faults in lazily");
	return err;
}

/* ---- eviction of a dead node ------------------------------------------ */

/**
 * tdsm_evict - forget the copies and waiters of a node that is dead
 * @r: the region.
 * @id: the node.
 * @dropped: copies dropped from directory entries homed here.
 * @lost: pages homed here that @id owns (unreachable until it returns).
 */
void tdsm_evict(struct tdsm_region *r, u8 id, u32 *dropped, u32 *lost)
{
	struct tdsm_page *pg;
	unsigned long idx;

	*dropped = 0;
	*lost = 0;
	tdsm_wait_evict(id);
	/*
	 * Grants in doubt stay as they are: a requester evicted keeps the
	 * page named after it, and an owner before it evicted keeps the
	 * frame it retained, to serve when it is back (PROTOCOL.md).
	 */
	tdsm_for_each_page(r, idx, pg) {
		if (tdsm_page_home(pg) != r->node_id ||
		    (!(pg->copyset & tdsm_nbit(id)) && pg->owner != id))
			continue;
		tdsm_dir_lock(pg);
		if (tdsm_page_home(pg) == r->node_id) {
			/* Saturated: a 16 TiB slice is 2^32 pages. */
			if (pg->owner == id) {
				*lost += *lost < U32_MAX;
			} else if (pg->copyset & tdsm_nbit(id)) {
				pg->copyset &= ~tdsm_nbit(id);
				*dropped += *dropped < U32_MAX;
			}
		}
		tdsm_dir_unlock(pg);
		cond_resched();
	}
}
