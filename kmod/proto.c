// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: the coherence protocol. Single owner, single writer / many
 * readers per 4 KiB page, sequentially consistent per page (Ivy with a
 * fixed distributed manager: the page's home).
 *
 * The home of a page keeps its directory entry (owner, copyset) and runs
 * one transaction at a time per page under the page's TDSM_PG_DIR bit:
 *
 *   read by R:  the owner pushes the page into R's buffer and keeps a
 *               read-only copy; R joins the copyset.
 *   write by R: every other copy is invalidated (INVAL, acked), the owner
 *               pushes the page to R and drops it (or just drops it if R's
 *               copy is current); R becomes owner, copyset = {R}.
 *
 * The home answers R on the queue pair R's request came on, before it ends
 * the transaction, so that any later INVAL of R's copy reaches R after the
 * reply. At R the receive path marks the page TDSM_PG_GRANTED before waking
 * the faulting task (the call's reply hook, tdsm_reply_granted()); an
 * INVAL or FETCH that finds a granted but not yet installed page waits for
 * the install, while one that finds a request still unanswered acts at
 * once (it concerns R's older copy).
 *
 * Lock order (lock.h): TDSM_PG_DIR (home, held across the network, bounded
 * by the timeout) -> TDSM_PG_LOCKED (short, never across the network) ->
 * the frame's folio lock. Handlers of INVAL and FETCH never take TDSM_PG_DIR,
 * so a home waiting for an ack cannot deadlock with the node it waits on.
 */
#include <linux/bitmap.h>
#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/wait_bit.h>

#include "alloc.h"
#include "budget.h"
#include "echo.h"
#include "evict.h"
#include "frame.h"
#include "inject.h"
#include "lock.h"
#include "migrate.h"
#include "netlink.h"
#include "page.h"
#include "peer.h"
#include "place.h"
#include "proto.h"
#include "readahead.h"
#include "rdma.h"
#include "site.h"
#include "tinydsm.h"
#include "wire.h"
#include "wait.h"
#include "word.h"
#include "trace.h"

int tdsm_status_errno(u32 status)
{
	static const int map[__TDSM_WS_MAX] = {
		[TDSM_WS_OK] = 0,
		[TDSM_WS_INVAL] = -EINVAL,
		[TDSM_WS_RANGE] = -ERANGE,
		[TDSM_WS_NOTHOME] = -EREMOTE,
		[TDSM_WS_NOSPC] = -ENOSPC,
		[TDSM_WS_NOMEM] = -ENOMEM,
		[TDSM_WS_TIMEDOUT] = -ETIMEDOUT,
		[TDSM_WS_UNREACH] = -EHOSTUNREACH,
		[TDSM_WS_STALE] = -ESTALE,
		[TDSM_WS_IO] = -EIO,
		[TDSM_WS_PERM] = -EPERM,
		[TDSM_WS_BUSY] = -EBUSY,
	};

	return status < __TDSM_WS_MAX ? map[status] : -EPROTO;
}

enum tdsm_wire_status tdsm_errno_status(int err)
{
	switch (err) {
	case 0: return TDSM_WS_OK;
	case -ENOMEM: return TDSM_WS_NOMEM;
	case -ETIMEDOUT: return TDSM_WS_TIMEDOUT;
	case -ENOTCONN:
	case -EHOSTUNREACH: return TDSM_WS_UNREACH;
	case -ESTALE: return TDSM_WS_STALE;
	case -ENOSPC: return TDSM_WS_NOSPC;
	case -ERANGE: return TDSM_WS_RANGE;
	case -EINVAL: return TDSM_WS_INVAL;
	case -EPERM: return TDSM_WS_PERM;
	case -EBUSY: return TDSM_WS_BUSY;
	default: return TDSM_WS_IO;
	}
}

u64 tdsm_page_addr(unsigned long idx)
{
	return TINYDSM_REGION_BASE + ((u64)idx << PAGE_SHIFT);
}

/* ---- local copies (page lock held) ------------------------------------ */

/*
 * Each of these is given page @idx's metadata @pg by a caller that holds
 * its chunk (page.h, M1) and its page lock (asserted): no lookup here.
 * @idx is still needed, for the page's address (unmap) and its byte of
 * the translation table (tdsm_page_set_state()).
 */

/*
 * Remove every user mapping of page @idx on this node (flushes TLBs): no
 * PTE maps the frame any more, so TDSM_PG_MAPPED goes (page lock held;
 * tdsm_hand_frame() in region.c sets it). Under the folio lock, which a
 * fault holds while the core installs or write-enables a PTE. A DMA pin
 * taken while it was mapped is waited for, bounded (frame.c, F2).
 */
static void tdsm_local_unmap(struct tdsm_region *r, struct tdsm_page *pg,
			     unsigned long idx, struct page *frame)
{
	tdsm_page_assert_locked(pg);
	lock_page(frame);
	unmap_mapping_range(r->mapping, (loff_t)idx << PAGE_SHIFT, PAGE_SIZE, 1);
	tdsm_frame_wait_unpinned(frame, tdsm_page_addr(idx));
	unlock_page(frame);
	if (test_bit(TDSM_PG_MAPPED, &pg->flags))
		clear_bit(TDSM_PG_MAPPED, &pg->flags);
}

/*
 * Drop this node's copy of page @idx, whose frame no PTE maps; returns the
 * frame with our reference. Page lock held.
 */
static struct page *tdsm_local_drop(struct tdsm_region *r,
				    struct tdsm_page *pg, unsigned long idx)
{
	struct page *frame = pg->frame;

	tdsm_page_assert_locked(pg);
	pg->frame = NULL;
	tdsm_frame_release(frame);	/* its name, rule F1 */
	tdsm_cache_note(r, pg);
	/*
	 * The owner always holds a frame (a copy, or one it retained while it
	 * gives the page up: tdsm_local_give_up()): a node that loses its
	 * frame of a page homed elsewhere is no longer its owner, whatever it
	 * learnt before. (On the home, @owner is the directory's, changed by
	 * its transactions.)
	 */
	if (pg->owner == r->node_id && tdsm_page_home(pg) != r->node_id)
		pg->owner = 0;
	tdsm_page_set_state(pg, idx, TINYDSM_PAGE_INVALID);
	tdsm_sites_page_note(pg, false);
	clear_bit(TDSM_PG_WRITTEN, &pg->flags);
	atomic64_dec(&r->frames);
	/* Its chunk may be idle now (page.h, M2). */
	tdsm_chunks_kick(r);
	return frame;
}

/* Drop this node's copy; returns the frame with our reference, or NULL. */
struct page *tdsm_local_take(struct tdsm_region *r, struct tdsm_page *pg,
			     unsigned long idx)
{
	struct page *frame = pg->frame;

	tdsm_page_assert_locked(pg);
	if (!frame)
		return NULL;
	tdsm_local_unmap(r, pg, idx, frame);
	return tdsm_local_drop(r, pg, idx);
}

/*
 * True if no PTE maps this node's frame of @pg, nor is one being
 * installed; page lock held, no sleep (the shrinker's, E7). Either
 * TDSM_PG_MAPPED is clear, or the frame's folio lock comes at once and its
 * map count is 0: a fault installs its PTE under the folio lock, which it
 * takes under the page lock (tdsm_hand_frame()), so with both held no PTE
 * can appear. TDSM_PG_MAPPED then goes (a munmap() took the PTEs).
 */
bool tdsm_local_unmapped(struct tdsm_page *pg)
{
	struct page *frame = pg->frame;
	bool mapped;

	tdsm_page_assert_locked(pg);
	if (!test_bit(TDSM_PG_MAPPED, &pg->flags))
		return true;
	if (!frame || !trylock_page(frame))
		return false;
	mapped = page_mapped(frame);
	if (!mapped)
		clear_bit(TDSM_PG_MAPPED, &pg->flags);
	unlock_page(frame);
	return !mapped;
}

/*
 * tdsm_local_take() for a copy no PTE maps (TDSM_PG_MAPPED clear, under
 * the page lock held: tdsm_local_unmapped()): nothing to unmap, so no
 * i_mmap_rwsem, no TLB flush, no sleep. For the shrinker, inside the
 * kernel's memory reclaim (evict.c, E7). NULL if there is no frame, or
 * if it may be mapped after all (then nothing changes).
 */
struct page *tdsm_local_take_unmapped(struct tdsm_region *r,
				      struct tdsm_page *pg, unsigned long idx)
{
	tdsm_page_assert_locked(pg);
	if (!pg->frame || WARN_ON_ONCE(test_bit(TDSM_PG_MAPPED, &pg->flags)))
		return NULL;
	return tdsm_local_drop(r, pg, idx);
}

/*
 * tdsm_local_take() of a frame hidden (tdsm_local_hide()) and not mapped
 * since: the home's own frame at the commit of a write grant, retained by
 * tdsm_write_owner() under the DIR bit that the transaction still holds.
 * A frame in state INVALID is never mapped (tdsm_page_get() in region.c
 * maps only a copy), and only a transaction on the page, under that DIR
 * bit, makes it a copy again: TDSM_PG_MAPPED is still clear, so no PTE
 * maps it and there is nothing to unmap. Should it be set after all, the
 * frame is unmapped as ever. Page lock held.
 */
static struct page *tdsm_local_take_hidden(struct tdsm_region *r,
					   struct tdsm_page *pg,
					   unsigned long idx)
{
	tdsm_page_assert_locked(pg);
	if (!pg->frame)
		return NULL;
	if (WARN_ON_ONCE(pg->state != TINYDSM_PAGE_INVALID ||
			 test_bit(TDSM_PG_MAPPED, &pg->flags)))
		return tdsm_local_take(r, pg, idx);
	return tdsm_local_drop(r, pg, idx);
}

/*
 * Make this node's copy of page @idx unreadable here at once (no PTE maps
 * it, state INVALID: the next access faults to the home), keeping the
 * frame. Page lock held, a frame in a state other than INVALID.
 */
static void tdsm_local_hide(struct tdsm_region *r, struct tdsm_page *pg,
			    unsigned long idx)
{
	tdsm_page_assert_locked(pg);
	tdsm_local_unmap(r, pg, idx, pg->frame);
	tdsm_page_set_state(pg, idx, TINYDSM_PAGE_INVALID);
	tdsm_sites_page_note(pg, false);
}

/*
 * The inverse of tdsm_local_hide(): the hidden frame of page @idx is a
 * copy here again, read-only (SHARED; a writer faults to the home). For a
 * hide that gave nothing up after all (a write grant rolled back, a FETCH
 * reply never posted). Page lock held, a frame in state INVALID.
 */
static void tdsm_local_unhide(struct tdsm_region *r, struct tdsm_page *pg,
			      unsigned long idx)
{
	tdsm_page_assert_locked(pg);
	if (WARN_ON_ONCE(!pg->frame || pg->state != TINYDSM_PAGE_INVALID))
		return;
	tdsm_cache_touch(pg);
	tdsm_page_set_state(pg, idx, TINYDSM_PAGE_SHARED);
	tdsm_sites_page_note(pg, true);
}

/*
 * Keep the frame of page @idx but make it no copy here: hidden
 * (tdsm_local_hide()), and no longer written here, so that no local
 * access (a fault, a word access) reads it any more; only the
 * directory's transactions use it. Page lock held; nothing to do without
 * a frame. A frame hidden already (a FETCH DROP hides before its reply,
 * tdsm_fetch_frame(), and gives up after) is not unmapped again, but is
 * no longer written here either: TDSM_PG_WRITTEN goes for every caller.
 */
static void tdsm_local_retain(struct tdsm_region *r, struct tdsm_page *pg,
			      unsigned long idx)
{
	tdsm_page_assert_locked(pg);
	if (!pg->frame)
		return;
	if (pg->state != TINYDSM_PAGE_INVALID)
		tdsm_local_hide(r, pg, idx);
	clear_bit(TDSM_PG_WRITTEN, &pg->flags);
}

/*
 * This node owns page @idx, homed elsewhere, and gives it up for a write
 * (FETCH DROP, or an INVAL of the owner when the requester's copy is
 * current): unmap it at once, since the requester may write as soon as
 * its grant arrives, but keep the frame, retained (state INVALID, @owner
 * still this node), instead of freeing it. Until the home commits the
 * write, the frame is the page: if the home never hears our answer (it
 * timed out, the connection died) or the grant does not reach the
 * requester, the home's directory still names this node, and the next
 * FETCH must find the data here. A retained frame is never mapped or
 * read here; it is served only to the home's FETCH (the home names us
 * owner only while no write committed since, or after granting us the
 * page again, which replaces or revalidates the frame), and goes when a
 * newer copy is installed. The home retains its own copy too while it
 * grants a write (tdsm_write_owner()), under its DIR bit, and settles it
 * itself (tdsm_home_commit()). A node that does not own the page drops
 * it. Returns the frame to put, or NULL if it stays.
 */
struct page *tdsm_local_give_up(struct tdsm_region *r, struct tdsm_page *pg,
				unsigned long idx)
{
	tdsm_page_assert_locked(pg);
	if (!pg->frame || pg->owner != r->node_id ||
	    tdsm_page_home(pg) == r->node_id)
		return tdsm_local_take(r, pg, idx);
	tdsm_local_retain(r, pg, idx);
	return NULL;
}

/* Make this node's copy read-only (writers fault again). */
void tdsm_local_downgrade(struct tdsm_region *r, struct tdsm_page *pg,
			  unsigned long idx)
{
	tdsm_page_assert_locked(pg);
	if (pg->state == TINYDSM_PAGE_EXCLUSIVE) {
		tdsm_local_unmap(r, pg, idx, pg->frame);
		tdsm_page_set_state(pg, idx, TINYDSM_PAGE_SHARED);
	}
}

/* Install @frame as this node's copy in @state; drops any older copy. */
void tdsm_local_install(struct tdsm_region *r, struct tdsm_page *pg,
			unsigned long idx, struct page *frame, u8 state)
{
	struct page *old = NULL;

	tdsm_page_assert_locked(pg);
	if (frame && pg->frame != frame) {
		old = tdsm_local_take(r, pg, idx);
		clear_bit(TDSM_PG_MOVED, &pg->flags);
		pg->frame = frame;
		atomic64_inc(&r->frames);
		atomic64_inc(&r->frames_allocated);
		tdsm_cache_note(r, pg);
	}
	tdsm_cache_touch(pg);
	tdsm_page_set_state(pg, idx, state);
	tdsm_sites_page_note(pg, true);
	if (old)
		put_page(old);
}

/* ---- home: the directory transaction (TDSM_PG_DIR held) --------------- */

/*
 * The functions of a transaction on page @idx are given its metadata @pg
 * by the caller that referenced its chunk (a fault, a word access, a
 * request served, a migration or eviction batch: page.h, M1) and holds its
 * DIR bit (asserted) for as long: no lookup of their own.
 */

/*
 * The id of a new directory transaction of this home (never 0, the "none
 * yet" of struct tdsm_dest). The caller holds the DIR bit of every page it
 * is about and makes it their epoch: see "Epochs" in proto.h.
 */
u32 tdsm_txn_next(struct tdsm_region *r)
{
	u32 id;

	do
		id = atomic_inc_return(&r->txn_id);
	while (!id);
	return id;
}

/*
 * Pages with epoch @epoch became homed here (a migration): this home's
 * later transactions must be newer.
 */
void tdsm_txn_seen(struct tdsm_region *r, u32 epoch)
{
	int cur = atomic_read(&r->txn_id);

	while (tdsm_epoch_after(epoch, cur) &&
	       !atomic_try_cmpxchg(&r->txn_id, &cur, epoch))
		;
}

/*
 * Make node @x drop its copy of page @idx, @pg (DIR held, its chunk held by
 * the caller, page.h M1), for the transaction @epoch.
 */
int tdsm_invalidate(struct tdsm_region *r, struct tdsm_page *pg,
		    unsigned long idx, u8 x, u32 epoch)
{
	struct tdsm_wire_msg msg;
	struct tdsm_call call = {};
	struct tdsm_conn *conn;
	struct page *frame;
	int err;

	tdsm_dir_assert_locked(pg);
	if (x == r->node_id) {
		tdsm_page_lock(pg);
		frame = tdsm_local_take(r, pg, idx);
		tdsm_page_unlock(pg);
		if (frame)
			put_page(frame);
		trace_tinydsm_invalidate(tdsm_page_addr(idx), x, 0, 0);
		return 0;
	}
	conn = tdsm_peer_conn(x);
	if (!conn)
		return -EHOSTUNREACH;
	tdsm_msg_init(&msg, TDSM_W_INVAL);
	msg.page.addr = cpu_to_be64(tdsm_page_addr(idx));
	msg.page.epoch = cpu_to_be32(epoch);
	err = tdsm_call(conn, &msg, NULL, &call);
	if (!err)
		err = tdsm_status_errno(be32_to_cpu(call.reply.reply.status));
	tdsm_conn_put(conn);
	atomic64_inc(&r->invalidations);
	trace_tinydsm_invalidate(tdsm_page_addr(idx), x, 0, err);
	return err;
}

/* ---- home: grants in doubt (PROTOCOL.md "Grants in doubt") ----------- */

/*
 * A write grant whose reply went out but did not complete: the requester
 * may or may not have taken it. The home names the requester owner (so
 * that no second writer can appear) and keeps this, under the page's DIR
 * bit, until the next transaction on the page finds out which it was.
 * @to: the requester. @from: the owner before the grant, whose frame is
 * the page if @to did not take it (a peer retains the frame it gave up,
 * tdsm_local_give_up(), also through an eviction; this node's own is
 * @frame, unmapped); 0 if there is none left to fall back on (this node
 * had lost its frame already). @epoch: the grant's transaction, never 0:
 * a frame of @to at that epoch is one the grant installed, so @to took it
 * (TDSM_FETCH_F_LIVE's grant_epoch, and the claim of a READ or WRITE,
 * tdsm_home_serve()). Entries live in tdsm_region.doubts, by page index.
 */
struct tdsm_doubt {
	u8 to;
	u8 from;
	u32 epoch;
	struct page *frame;
};

static struct tdsm_doubt *tdsm_doubt_get(struct tdsm_region *r,
					 struct tdsm_page *pg,
					 unsigned long idx)
{
	tdsm_dir_assert_locked(pg);
	return xa_empty(&r->doubts) ? NULL : xa_load(&r->doubts, idx);
}

static void tdsm_doubt_free(struct tdsm_doubt *d)
{
	if (d->frame)
		put_page(d->frame);
	kfree(d);
}

/*
 * The write grant of page @idx to @to, transaction @epoch, is in doubt;
 * @from owned it before, @frame (a reference is taken) is this node's
 * frame if @from is this node.
 */
static void tdsm_doubt_add(struct tdsm_region *r, struct tdsm_page *pg,
			   unsigned long idx, u8 to, u32 epoch, u8 from,
			   struct page *frame)
{
	struct tdsm_doubt *d = kzalloc(sizeof(*d), GFP_KERNEL);
	void *old;

	tdsm_dir_assert_locked(pg);
	pr_info_ratelimited("page %#llx: node %u may or may not have its write grant (the reply went out, its completion failed): it is the owner until it says\n",
			    tdsm_page_addr(idx), to);
	if (!d)
		goto no_fallback;
	d->to = to;
	d->epoch = epoch;
	d->from = from;
	d->frame = frame;
	if (frame)
		get_page(frame);
	old = xa_store(&r->doubts, idx, d, GFP_KERNEL);
	if (xa_is_err(old)) {
		tdsm_doubt_free(d);
		goto no_fallback;
	}
	if (old)
		tdsm_doubt_free(old);
	return;
no_fallback:
	pr_warn_ratelimited("page %#llx: no memory to remember the owner before node %u: lost if node %u did not take it\n",
			    tdsm_page_addr(idx), to, to);
}

/*
 * A transaction on page @idx found out whether the grant in doubt was
 * @taken. Taken: nothing changes (a frame kept here is freed). Not taken:
 * the owner before it owns the page again and is its only holder (this
 * node's kept frame is installed again, read-only); with no such owner,
 * the page stays named after a node without it: every access fails
 * (ESTALE), never with stale data.
 */
static void tdsm_doubt_end(struct tdsm_region *r, struct tdsm_page *pg,
			   unsigned long idx, bool taken)
{
	struct tdsm_doubt *d;

	tdsm_dir_assert_locked(pg);
	d = xa_erase(&r->doubts, idx);
	if (!d)
		return;
	if (!taken && d->from) {
		pg->owner = d->from;
		pg->copyset = tdsm_nbit(d->from);
		if (d->frame) {
			tdsm_page_lock(pg);
			tdsm_local_install(r, pg, idx, d->frame, TINYDSM_PAGE_SHARED);
			tdsm_page_unlock(pg);
			d->frame = NULL;
		}
	}
	pr_info_ratelimited("page %#llx: node %u %s its write grant in doubt%s\n",
			    tdsm_page_addr(idx), d->to,
			    taken ? "had taken" : "had not taken",
			    taken ? "" : d->from ? ": back to the owner before it" :
			    ": nobody else holds the page, it is lost");
	tdsm_doubt_free(d);
}

/*
 * After asking page @idx's owner for it (@err: how that went), is a grant
 * in doubt settled? The owner served a frame the grant installed (live, or
 * retained at the grant's epoch: TDSM_FETCH_F_LIVE): it took the grant. It
 * had none (-ESTALE): it did not, the owner before is back, and the
 * caller must start over (true). Unreachable, or no answer: still in
 * doubt, the transaction fails (the page is fenced until the node is back
 * or evicted). The owner may have acted on a FETCH DROP whose answer never
 * came (given the page up, retained at the grant's epoch): the next
 * TDSM_FETCH_F_LIVE, or its own claim, still finds that frame.
 */
static bool tdsm_doubt_settle(struct tdsm_region *r, struct tdsm_page *pg,
			      unsigned long idx, u8 asked, int err)
{
	struct tdsm_doubt *d = tdsm_doubt_get(r, pg, idx);

	if (!d || d->to != asked || (err && err != -ESTALE))
		return false;
	tdsm_doubt_end(r, pg, idx, !err);
	return err == -ESTALE;
}

/* Is a write grant of page @idx to node @to in doubt? DIR held. */
bool tdsm_doubt_to(struct tdsm_region *r, struct tdsm_page *pg,
		   unsigned long idx, u8 to)
{
	struct tdsm_doubt *d = tdsm_doubt_get(r, pg, idx);

	return d && d->to == to;
}

/* A grant of page @idx is in doubt with @node as its requester or owner before. */
bool tdsm_doubt_names(struct tdsm_region *r, struct tdsm_page *pg,
		      unsigned long idx, u8 node)
{
	struct tdsm_doubt *d = tdsm_doubt_get(r, pg, idx);

	return d && (d->to == node || d->from == node);
}

/* Module unload: every page and its directory go. */
void tdsm_doubt_exit(struct tdsm_region *r)
{
	struct tdsm_doubt *d;
	unsigned long idx;

	xa_for_each(&r->doubts, idx, d)
		tdsm_doubt_free(d);
	xa_destroy(&r->doubts);
}

/*
 * FETCH page @idx from @owner, on @conn, into @buf, a buffer of ours
 * registered for @owner; @call gets the reply. -errno if the call failed
 * (no reply), else 0: the owner's answer is in @call.
 */
static int tdsm_fetch(struct tdsm_region *r, struct tdsm_page *pg,
		      unsigned long idx, u8 owner, struct tdsm_conn *conn,
		      struct tdsm_buf *buf, struct tdsm_call *call, int mode,
		      u32 epoch)
{
	struct tdsm_doubt *doubt = tdsm_doubt_get(r, pg, idx);
	struct tdsm_wire_msg msg;
	int err;

	tdsm_msg_init(&msg, TDSM_W_FETCH);
	msg.page.addr = cpu_to_be64(tdsm_page_addr(idx));
	msg.page.iova = cpu_to_be64(buf->mr->iova);
	msg.page.rkey = cpu_to_be32(buf->mr->rkey);
	msg.page.dst = r->node_id;
	msg.page.mode = mode;
	/*
	 * A grant to it in doubt: only a frame that grant installed will do,
	 * live or retained at the grant's epoch (tdsm_fetch_frame()).
	 */
	if (doubt && doubt->to == owner) {
		msg.page.mode |= TDSM_FETCH_F_LIVE;
		msg.page.grant_epoch = cpu_to_be32(doubt->epoch);
	}
	msg.page.epoch = cpu_to_be32(epoch);
	err = tdsm_call(conn, &msg, buf, call);
	atomic64_inc(&r->fetches);
	return err;
}

/*
 * The FETCH of page @idx from @owner (on @conn) for a third node, @dst:
 * into a buffer of ours registered for @owner, then on to @dst (see
 * tdsm_transfer()). The doubt rules apply as to a direct FETCH: the
 * owner's answer is what settles a grant in doubt, not the relay's.
 */
static int tdsm_relay(struct tdsm_region *r, struct tdsm_page *pg,
		      unsigned long idx, u8 owner, struct tdsm_conn *conn,
		      struct tdsm_dest *dst, int mode, struct page **push)
{
	struct tdsm_call call = {};
	struct tdsm_buf buf;
	int err;

	err = tdsm_buf_alloc(conn, &buf);
	if (err)
		return err;
	err = tdsm_fetch(r, pg, idx, owner, conn, &buf, &call, mode, dst->epoch);
	tdsm_buf_put(conn, &buf, err ? NULL : &call);
	if (!err)
		err = tdsm_status_errno(be32_to_cpu(call.reply.reply.status));
	if (!err && !(be32_to_cpu(call.reply.reply.flags) & TDSM_RF_DATA))
		err = -EPROTO;	/* an owner that says OK sends the page */
	if (!err && push) {
		*push = buf.frame;	/* the caller's reference now */
	} else {
		if (!err)
			err = tdsm_push_page(dst->conn, buf.frame, dst->iova,
					     dst->rkey);
		put_page(buf.frame);
	}
	trace_tinydsm_fetch(tdsm_page_addr(idx), owner, dst->node,
			    mode == TDSM_FETCH_KEEP, err);
	return err;
}

/*
 * Move page @idx from its @owner to @dst: the owner keeps a read-only copy
 * (TDSM_FETCH_KEEP) or drops its copy (TDSM_FETCH_DROP). If @push is given
 * and the page comes from this node (its own copy, or one it relayed), the
 * frame is handed back in *@push for the caller to send with its reply;
 * else the page is written here and now.
 *
 * A peer owner only ever writes into a buffer of the home that asks it
 * (FETCH's dst is the home): each connection has its own protection
 * domain, so the buffer a third node registered for its request to us is
 * out of the owner's reach. For a third node the home relays: the owner
 * writes the page into a buffer of ours, and we send it on. The owner
 * retains what it gave up, as before, so a relay that fails loses nothing.
 */
int tdsm_transfer(struct tdsm_region *r, struct tdsm_page *pg,
		  unsigned long idx, u8 owner, struct tdsm_dest *dst, int mode,
		  struct page **push)
{
	struct tdsm_conn *conn;
	struct page *frame;
	int err;

	if (owner == r->node_id) {
		tdsm_page_lock(pg);
		frame = pg->frame;
		if (!frame) {
			tdsm_page_unlock(pg);
			return -ESTALE;
		}
		/*
		 * The copy stays until the data is out; see tdsm_home_commit().
		 * Read-only for a read; for a write tdsm_write_owner() has
		 * retained it already, and this unmaps nothing.
		 */
		tdsm_local_downgrade(r, pg, idx);
		get_page(frame);
		tdsm_page_unlock(pg);
		if (push) {
			*push = frame;
			trace_tinydsm_fetch(tdsm_page_addr(idx), owner, dst->node,
					    mode == TDSM_FETCH_KEEP, 0);
			return 0;
		}
		err = tdsm_push_page(dst->conn, frame, dst->iova, dst->rkey);
		put_page(frame);
		trace_tinydsm_fetch(tdsm_page_addr(idx), owner, dst->node,
				    mode == TDSM_FETCH_KEEP, err);
		return err;
	}

	conn = tdsm_peer_conn(owner);
	if (!conn)
		return -EHOSTUNREACH;
	if (!dst->buf) {
		/* Only a peer requester comes without a buffer of ours. */
		if (WARN_ON_ONCE(!dst->conn))
			err = -EPROTO;
		else
			err = tdsm_relay(r, pg, idx, owner, conn, dst, mode, push);
		tdsm_conn_put(conn);
		return err;
	}
	err = tdsm_fetch(r, pg, idx, owner, conn, dst->buf, &dst->call, mode,
			 dst->epoch);
	if (!err)
		err = tdsm_status_errno(be32_to_cpu(dst->call.reply.reply.status));
	tdsm_conn_put(conn);
	trace_tinydsm_fetch(tdsm_page_addr(idx), owner, dst->node,
			    mode == TDSM_FETCH_KEEP, err);
	return err;
}

/*
 * A page never touched is owned by its home, as a zero page. Outside any
 * run it is charged to the home budget first (budget.c, H3): -ENOSPC over
 * it, which the requester's fault turns into SIGBUS (a retry would not
 * fit either), not VM_FAULT_OOM. DIR held.
 */
int tdsm_home_claim(struct tdsm_region *r, struct tdsm_page *pg,
		    unsigned long idx)
{
	int charged, err = 0;

	tdsm_dir_assert_locked(pg);
	tdsm_pg_assert_held(pg, idx);
	if (pg->owner)
		return 0;
	charged = tdsm_home_charge_touch(r, pg, idx);
	if (charged < 0)
		return charged;
	tdsm_page_lock(pg);
	if (!pg->frame) {
		struct page *frame = alloc_page(GFP_HIGHUSER | __GFP_ZERO);

		if (frame)
			tdsm_local_install(r, pg, idx, frame, TINYDSM_PAGE_SHARED);
		else
			err = -ENOMEM;
	}
	if (!err) {
		pg->owner = r->node_id;
		pg->copyset = tdsm_nbit(r->node_id);
	}
	tdsm_page_unlock(pg);
	if (err && charged)
		tdsm_home_uncharge_page(r, pg);	/* not touched after all */
	return err;
}

/*
 * A write of page @idx by @dst->node: its owner (not @dst->node) gives the
 * page up. @dst's copy is current only if the directory counts it and
 * @dst still has it: a node drops copies without telling the home (a lost
 * connection, an interrupted fault whose reply the home had sent), so the
 * copyset alone may name a node that has nothing. Then the page travels
 * (*@data). DIR held.
 *
 * If the owner is this node (the home), its frame stays until the grant
 * commits (tdsm_home_commit()), whether it goes with the reply or the
 * requester's copy is current: if the reply never lands, the requester
 * drops its copy with the connection, and ours is the last one. But it
 * stays retained (tdsm_local_retain()), not as a read copy: the requester
 * writes as soon as the reply arrives, which is before our send completes
 * and the commit runs, and a local read in between (a fault or a word
 * access, which take no DIR when the page is here) would return the page
 * as it was before that write (PROTOCOL.md, "Transactions": the home's
 * frame during a write grant).
 */
static int tdsm_write_owner(struct tdsm_region *r, struct tdsm_page *pg,
			    unsigned long idx, struct tdsm_dest *dst,
			    struct page **push, bool *data)
{
	int err = 0;

	tdsm_dir_assert_locked(pg);
	/*
	 * Our own frame is retained first, which unmaps it once: the
	 * tdsm_local_downgrade() of tdsm_transfer() then finds it INVALID and
	 * unmaps nothing, and tdsm_home_commit() drops it without an unmap
	 * (tdsm_local_take_hidden()). Retaining before the transfer rather
	 * than after changes nothing else: the DIR bit is held throughout
	 * and the frame to send is the same. A transfer of our own frame
	 * fails only for want of one (a peer's grant takes it in @push; only
	 * the home's own requests come without @push, and they never find
	 * this node owner here); should a send fail, the frame is made a read
	 * copy again, as the downgrade used to leave it.
	 */
	if (pg->owner == r->node_id) {
		tdsm_page_lock(pg);
		tdsm_local_retain(r, pg, idx);
		tdsm_page_unlock(pg);
	}
	if ((pg->copyset & tdsm_nbit(dst->node)) && dst->has_copy) {
		/* A peer owner only drops its own, and retains it. */
		if (pg->owner != r->node_id)
			return tdsm_invalidate(r, pg, idx, pg->owner, dst->epoch);
	} else {
		err = tdsm_transfer(r, pg, idx, pg->owner, dst, TDSM_FETCH_DROP,
				    push);
		*data = !err;
	}
	if (err && pg->owner == r->node_id) {
		tdsm_page_lock(pg);
		if (pg->frame)
			tdsm_local_unhide(r, pg, idx);
		tdsm_page_unlock(pg);
	}
	return err;
}

/*
 * Serve a read or write of page @idx by node @dst->node. On success the
 * directory says what it will be once the data is delivered; *@data says
 * whether the page goes (or went) to @dst's buffer, and *@push, if set, is
 * this node's frame that the caller must send (and then commit). The
 * transaction is @dst->epoch (a new one if 0), the page's epoch from now.
 */
int tdsm_home_serve(struct tdsm_region *r, struct tdsm_page *pg,
		    unsigned long idx, bool write, struct tdsm_dest *dst,
		    struct page **push, bool *data)
{
	u8 req = dst->node;
	unsigned int x;
	u64 copies;
	int err;

	struct tdsm_doubt *doubt;
	bool owner_first;
	u8 asked;

	tdsm_dir_assert_locked(pg);
	*data = false;
	err = tdsm_home_claim(r, pg, idx);
	if (err)
		return err;
	if (!dst->epoch)
		dst->epoch = tdsm_txn_next(r);
	pg->epoch = dst->epoch;
	/*
	 * The node a grant in doubt went to asks again: it took the grant if
	 * it still holds a live copy (TDSM_ACCESS_F_COPY; a READ never claims
	 * one), or a frame it retained at the grant's epoch (its claim: that
	 * grant installed it, and it gave the page up since for a FETCH DROP
	 * whose answer never reached us; tdsm_fetch_frame() says why that
	 * frame is the page). The directory names it owner, so the reply
	 * carries no data and revalidates that frame. An older retained frame,
	 * or none: it did not take the grant, and the owner before serves it.
	 */
	doubt = tdsm_doubt_get(r, pg, idx);
	if (doubt && doubt->to == req)
		tdsm_doubt_end(r, pg, idx, dst->has_copy ||
			       (dst->claim_epoch &&
				dst->claim_epoch == doubt->epoch));
again:
	dst->prev_owner = pg->owner;
	dst->prev_copyset = pg->copyset;
	asked = pg->owner;
	if (!write) {
		if (pg->owner != req) {
			err = tdsm_transfer(r, pg, idx, pg->owner, dst,
					    TDSM_FETCH_KEEP, push);
			if (tdsm_doubt_settle(r, pg, idx, asked, err))
				goto again;
			if (err)
				return err;
			*data = true;
		}
		pg->copyset |= tdsm_nbit(req) | tdsm_nbit(pg->owner);
		return 0;
	}

	/*
	 * A peer owner first, then the other readers: a write that cannot
	 * happen because the owner cannot be reached fails before it threw
	 * away the readers' copies, which may be the last ones (PROTOCOL.md,
	 * rule 6). A peer owner retains the frame it gives up, so a reader
	 * that cannot be reached afterwards costs nothing either. This node's
	 * own frame goes last (retained until the commit, tdsm_write_owner()):
	 * the home is never unreachable.
	 */
	owner_first = pg->owner != req && pg->owner != r->node_id;
	if (owner_first) {
		err = tdsm_write_owner(r, pg, idx, dst, push, data);
		if (tdsm_doubt_settle(r, pg, idx, asked, err))
			goto again;
		if (err)
			return err;
	}
	copies = pg->copyset & ~(tdsm_nbit(req) | tdsm_nbit(pg->owner));
	tdsm_for_each_node(x, copies) {
		err = tdsm_invalidate(r, pg, idx, x, dst->epoch);
		if (err)
			return err;
		pg->copyset &= ~tdsm_nbit(x);
		dst->invalidated |= tdsm_nbit(x);
	}
	if (!owner_first && pg->owner != req) {
		err = tdsm_write_owner(r, pg, idx, dst, push, data);
		if (err)
			return err;
	}
	if (pg->owner != req)
		trace_tinydsm_owner(tdsm_page_addr(idx), pg->owner, req);
	pg->owner = req;
	pg->copyset = tdsm_nbit(req);
	return 0;
}

/*
 * The reply to a served request is out and landed (@send_err 0) or not.
 * Landed: if this node owned the page before a write (@dst->prev_owner:
 * its frame went with the reply, or the requester's copy was current),
 * drop the local copy now. Never went out: the requester never got the
 * page, so restore the directory entry as it was (@dst->prev_owner and
 * prev_copyset), less the copies the transaction invalidated
 * (@dst->invalidated: they are gone), and keep the copy. Went out but
 * did not complete (-ECOMM): a read grant is rolled back the same way (a
 * requester that took it lost its connection and drops the copy); a
 * write grant is in doubt: the requester stays the owner, and the owner
 * before keeps its frame (this node's, unmapped, in the doubt; a peer's,
 * retained) until the next transaction on the page finds out
 * (tdsm_doubt_end()). Rolling it back could make two writers.
 */
static void tdsm_home_commit(struct tdsm_region *r, struct tdsm_page *pg,
			     unsigned long idx, bool write, int send_err,
			     const struct tdsm_dest *dst)
{
	u8 owner = dst->prev_owner;
	bool ours = write && owner == r->node_id;
	struct page *frame = NULL;

	if (send_err == -ECOMM && write && owner != dst->node) {
		if (ours) {
			tdsm_page_lock(pg);
			frame = tdsm_local_take_hidden(r, pg, idx);
			tdsm_page_unlock(pg);
		}
		/* Ours, unless it was lost already: then none to fall back on. */
		tdsm_doubt_add(r, pg, idx, dst->node, dst->epoch,
			       owner == r->node_id && !frame ? 0 : owner, frame);
		if (frame)
			put_page(frame);
		return;
	}
	if (send_err) {
		pg->owner = owner;
		pg->copyset = dst->prev_copyset & ~dst->invalidated;
		/* Our frame, retained for the grant, is a read copy again. */
		if (ours) {
			tdsm_page_lock(pg);
			if (pg->frame)
				tdsm_local_unhide(r, pg, idx);
			tdsm_page_unlock(pg);
		}
		return;
	}
	if (!ours)
		return;
	/* Retained by tdsm_write_owner(): unmapped already. */
	tdsm_page_lock(pg);
	frame = tdsm_local_take_hidden(r, pg, idx);
	tdsm_page_unlock(pg);
	if (frame)
		put_page(frame);
}

/* ---- requester -------------------------------------------------------- */

/*
 * A fault (region.c) or a word access (word.c) looks its page up once and
 * passes @pg, page @idx's metadata, down through these: its chunk stays
 * referenced by that caller until they return (page.h, M1), so waiting on
 * the page's bits and the reply hook (tdsm_reply_granted()) run on live
 * memory.
 */

/*
 * This node is the page's home and wants it (its own fault, or a word
 * access it serves): TDSM_PG_DIR held, home checked.
 */
int tdsm_home_acquire_locked(struct tdsm_region *r, struct tdsm_page *pg,
			     unsigned long idx, bool write)
{
	struct tdsm_dest dst = { .node = r->node_id };
	struct tdsm_conn *conn = NULL;
	struct page *frame = NULL;
	struct tdsm_buf buf;
	bool need, data;
	int err;

	tdsm_dir_assert_locked(pg);
	/*
	 * A current read copy of our own (we are in the copyset) serves a
	 * read: no need to ask the owner, which may even have dropped its
	 * copy at an INVAL whose ack a torn-down connection never delivered.
	 */
	if (!write && (pg->copyset & tdsm_nbit(r->node_id)) && READ_ONCE(pg->frame) &&
	    READ_ONCE(pg->state) != TINYDSM_PAGE_INVALID)
		return 0;
	/* Our own frame changes only under TDSM_PG_DIR here, which we hold. */
	dst.has_copy = READ_ONCE(pg->frame);
	need = pg->owner && pg->owner != r->node_id &&
	       (!write || !(pg->copyset & tdsm_nbit(r->node_id)) || !dst.has_copy);
	if (need) {
		/* The owner writes the page into a buffer of ours. */
		conn = tdsm_peer_conn(pg->owner);
		err = -EHOSTUNREACH;
		if (!conn)
			goto out;
		err = tdsm_buf_alloc(conn, &buf);
		if (err)
			goto out;
		frame = buf.frame;
		dst.iova = buf.mr->iova;
		dst.rkey = buf.mr->rkey;
		dst.buf = &buf;
	}
	err = tdsm_home_serve(r, pg, idx, write, &dst, NULL, &data);
	if (need)
		tdsm_buf_put(conn, &buf, data ? &dst.call : NULL);
	if (!err && data)
		atomic64_inc(&r->remote_faults);
	if (!err) {
		tdsm_page_lock(pg);
		if (data) {
			tdsm_local_install(r, pg, idx, frame, write ?
					   TINYDSM_PAGE_EXCLUSIVE :
					   TINYDSM_PAGE_SHARED);
			frame = NULL;
		} else if (pg->frame) {
			tdsm_page_set_state(pg, idx, write ? TINYDSM_PAGE_EXCLUSIVE :
					    max_t(u8, pg->state, TINYDSM_PAGE_SHARED));
		} else {
			err = -ESTALE;
		}
		tdsm_page_unlock(pg);
	}
out:
	if (frame)
		put_page(frame);
	if (conn)
		tdsm_conn_put(conn);
	return err;
}

/* This node is the page's home and wants it (its own fault). */
static int tdsm_home_acquire(struct tdsm_region *r, struct tdsm_page *pg,
			     unsigned long idx, bool write)
{
	int err;

	err = tdsm_dir_lock_killable_timeout(pg, tdsm_timeout_ms);
	if (err)
		return err;
	if (tdsm_page_home(pg) != r->node_id) {
		/* Migrated away while we waited: ask the new home. */
		tdsm_dir_unlock(pg);
		return -EAGAIN;
	}
	err = tdsm_home_acquire_locked(r, pg, idx, write);
	tdsm_dir_unlock(pg);
	return err;
}

/*
 * The reply to our READ or WRITE of @ctx, a struct tdsm_page, arrived (the
 * receive path, struct tdsm_call): the page is granted, so that a later
 * INVAL of it waits for its install. The hook runs before the call
 * completes, and tdsm_remote_acquire() waits for that with the page's
 * chunk referenced by its caller (page.h, M1).
 */
static void tdsm_reply_granted(void *ctx)
{
	struct tdsm_page *pg = ctx;

	set_bit(TDSM_PG_GRANTED, &pg->flags);
}

/* This node is not the page's home: ask the home, which fills our buffer. */
static int tdsm_remote_acquire(struct tdsm_region *r, struct tdsm_page *pg,
			       unsigned long idx, bool write)
{
	struct tdsm_call call = { .on_reply = tdsm_reply_granted,
				  .on_reply_ctx = pg };
	struct tdsm_wire_msg msg;
	u8 home = tdsm_page_home(pg);
	struct tdsm_conn *conn;
	struct page *frame;
	struct tdsm_buf buf;
	int err;

	/*
	 * Not connected to the home right now (it was evicted and comes back,
	 * or a reconnect is under way): wait for it, bounded, as for a reply.
	 */
	conn = tdsm_peer_conn_wait(home, tdsm_timeout_ms);
	if (!conn)
		return -EHOSTUNREACH;
	err = tdsm_buf_alloc(conn, &buf);
	if (err)
		goto out_conn;
	frame = buf.frame;

	tdsm_msg_init(&msg, write ? TDSM_W_WRITE : TDSM_W_READ);
	msg.page.addr = cpu_to_be64(tdsm_page_addr(idx));
	msg.page.iova = cpu_to_be64(buf.mr->iova);
	msg.page.rkey = cpu_to_be32(buf.mr->rkey);
	/*
	 * A write from a read copy: say so, and the home may skip the data.
	 * If the copy goes before the home serves us, that INVAL took us out
	 * of the copyset first, and the data comes anyway. A retained frame
	 * (state INVALID) is no copy to claim. If we own it, its epoch goes
	 * instead (page.epoch): were a write grant to us at that epoch in
	 * doubt at the home, the frame is the one it installed, given up
	 * since for a FETCH DROP whose answer the home never heard, and it is
	 * the page (tdsm_home_serve()). Otherwise the home ignores it: if it
	 * still names us owner it needs no claim, and if not, that frame is
	 * out of date. Read under the page lock: the frame, its state and
	 * its epoch change together. Only a grant from the home, to this
	 * request (TDSM_PG_FETCHING is ours), replaces or revalidates it
	 * meanwhile, and no release of it comes while that doubt stands
	 * (evict.c), so the frame claimed is there when the reply comes.
	 */
	tdsm_page_lock(pg);
	if (pg->frame && pg->state != TINYDSM_PAGE_INVALID) {
		if (write)
			msg.page.mode = TDSM_ACCESS_F_COPY;
	} else if (pg->frame && pg->owner == r->node_id) {
		msg.page.epoch = cpu_to_be32(pg->epoch);
	}
	tdsm_page_unlock(pg);
	err = tdsm_call(conn, &msg, &buf, &call);
	tdsm_buf_put(conn, &buf, err ? NULL : &call);
	if (!err)
		err = tdsm_status_errno(be32_to_cpu(call.reply.reply.status));

	tdsm_page_lock(pg);
	if (!err) {
		u8 state = write ? TINYDSM_PAGE_EXCLUSIVE : TINYDSM_PAGE_SHARED;

		if (be32_to_cpu(call.reply.reply.flags) & TDSM_RF_DATA) {
			tdsm_local_install(r, pg, idx, frame, state);
			frame = NULL;
			atomic64_inc(&r->remote_faults);
		} else if (pg->frame) {
			tdsm_page_set_state(pg, idx, state);
		} else {
			err = -EPROTO;	/* the home thinks we have a copy */
		}
		if (!err) {
			/* The grant's transaction: INVAL/FETCH not newer are stale. */
			pg->epoch = (u32)be64_to_cpu(call.reply.reply.addr);
			if (write)
				pg->owner = r->node_id;
		}
	} else if (err == -EREMOTE) {
		/* Not (or no longer) the home: it names the one it knows. */
		if (tdsm_follow_hint_locked(r, pg, home,
					    call.reply.reply.home)) {
			atomic64_inc(&r->forwards);
			err = -EAGAIN;
		}
	}
	/* Installed (or failed): a waiting INVAL or FETCH may go on. */
	clear_and_wake_up_bit(TDSM_PG_GRANTED, &pg->flags);
	tdsm_page_unlock(pg);
	if (frame)
		put_page(frame);
out_conn:
	tdsm_conn_put(conn);
	return err;
}

/* Is @hint, the home a NOTHOME reply names, one to ask next? */
static bool tdsm_hint_usable(struct tdsm_region *r, u8 hint)
{
	return hint && hint <= TDSM_NODES_MAX && hint != r->node_id;
}

/*
 * @home answered NOTHOME for @pg, naming @hint: remember @hint as the
 * page's home, unless the home this node knows is no longer @home (an INVAL
 * naming the new home came meanwhile: a stale hint must not undo it).
 * Page lock held. Returns whether @hint is a home to ask next.
 */
bool tdsm_follow_hint_locked(struct tdsm_region *r, struct tdsm_page *pg,
			     u8 home, u8 hint)
{
	tdsm_page_assert_locked(pg);
	if (!tdsm_hint_usable(r, hint))
		return false;
	if (tdsm_page_home(pg) == home)
		tdsm_page_set_home(pg, hint);
	return true;
}

/* tdsm_follow_hint_locked(), taking the page lock if @hint is usable. */
bool tdsm_follow_hint(struct tdsm_region *r, struct tdsm_page *pg, u8 home,
		      u8 hint)
{
	if (!tdsm_hint_usable(r, hint))
		return false;
	tdsm_page_lock(pg);
	tdsm_follow_hint_locked(r, pg, home, hint);
	tdsm_page_unlock(pg);
	return true;
}

/*
 * Get page @idx here (for writing if @write), once per node: unless
 * another task of this node is already at it (TDSM_PG_FETCHING), in which
 * case wait, killable, for that one instead (*@merged). Called and returns
 * with no lock held. Merged: 0, or -EINTR after a fatal signal; the caller
 * looks again. Else what tdsm_acquire() returned.
 */
int tdsm_acquire_once(struct tdsm_region *r, struct tdsm_page *pg,
		      unsigned long idx, bool write, bool *merged)
{
	int err;

	*merged = test_and_set_bit_lock(TDSM_PG_FETCHING, &pg->flags);
	if (*merged) {
		if (wait_on_bit(&pg->flags, TDSM_PG_FETCHING, TASK_KILLABLE))
			return -EINTR;
		return 0;
	}
	err = tdsm_acquire(r, pg, idx, write);
	clear_and_wake_up_bit(TDSM_PG_FETCHING, &pg->flags);
	return err;
}

/**
 * tdsm_busy_again - ask a home that answered BUSY again?
 * @deadline: 0 before the request's first BUSY; then when its asking
 *	ends, which this sets at that first BUSY (TDSM_BUSY_WAITS).
 * @err: the request's answer; -ETIMEDOUT or -EINTR if it is to end.
 *
 * The home is alive (it answered) and the transaction that holds the page
 * ends within its own bounded waits, so asking again is safe and ends:
 * until @deadline, or a fatal signal (which, as for any request, stops a
 * caller only before it sends). The home waited half our wait before it
 * answered, so asking again at once spins no faster than that.
 *
 * Returns true to ask again.
 */
bool tdsm_busy_again(unsigned long *deadline, int *err)
{
	if (*err != -EBUSY)
		return false;
	if (!*deadline)
		*deadline = (jiffies + msecs_to_jiffies(TDSM_BUSY_WAITS *
			     READ_ONCE(tdsm_timeout_ms))) ?: 1;
	if (fatal_signal_pending(current))
		*err = -EINTR;
	else if (time_after_eq(jiffies, *deadline))
		*err = -ETIMEDOUT;
	return *err == -EBUSY;
}

/*
 * Get page @idx here for reading, or for writing. Called by the fault path
 * with TDSM_PG_FETCHING set by the caller and no lock held. Returns 0 when
 * the page is here in a state good enough, or -errno (the access gets
 * SIGBUS).
 */
int tdsm_acquire(struct tdsm_region *r, struct tdsm_page *pg, unsigned long idx,
		 bool write)
{
	unsigned int hops = 0, lost = 0;
	unsigned long busy = 0;
	int err;

	tdsm_pg_assert_held(pg, idx);
	/* A copy to come from elsewhere: over the cache's hard watermark, wait. */
	if (tdsm_page_home(pg) != r->node_id && !READ_ONCE(pg->frame))
		tdsm_cache_throttle(r);
	/* Follow the forwarding of a migrated page, a few hops at most. */
	for (;;) {
		if (tdsm_page_home(pg) == r->node_id) {
			err = tdsm_home_acquire(r, pg, idx, write);
		} else {
			/*
			 * A sequential read may bring it with the pages after
			 * it; the READV's error is this fault's, as a READ's.
			 */
			err = TDSM_RA_ALONE;
			if (!write && !hops && !lost)
				err = tdsm_readahead(r, pg, idx, tdsm_page_home(pg));
			if (err == TDSM_RA_ALONE)
				err = tdsm_remote_acquire(r, pg, idx, write);
		}
		/*
		 * The connection to the home went down under the request
		 * before its reply came (an eviction, a peer's reconnect):
		 * ask again once it is back, which tdsm_remote_acquire()
		 * waits for, bounded, up to TDSM_FAULT_RECONNECTS times. Safe:
		 * what the home may have granted is in doubt there and
		 * settled by the new request ("Grants in doubt"); a read copy
		 * that came is dropped with the rest. A home that is gone
		 * ends it at the first wait (-EHOSTUNREACH).
		 */
		if (err == -ENOTCONN && lost < TDSM_FAULT_RECONNECTS) {
			lost++;
			continue;
		}
		/* The page is in another transaction at its home: wait it out. */
		if (tdsm_busy_again(&busy, &err))
			continue;
		if (err != -EAGAIN)
			break;
		if (++hops == TDSM_MAX_FORWARDS) {
			err = -ELOOP;
			break;
		}
		/* The new home may still be installing the batch: let it. */
		if (hops > 1)
			msleep(1 << (hops - 1));
	}
	if (err && err != -EINTR) {
		tdsm_event_page(TINYDSM_EV_FAULT_ERROR, tdsm_page_addr(idx),
				tdsm_page_home(pg), err);
		pr_warn_ratelimited("%s[%d]: %s fault at %#llx failed: %d\n",
				    current->comm, task_pid_nr(current),
				    write ? "write" : "read",
				    tdsm_page_addr(idx), err);
	}
	return err;
}

/* ---- handlers of requests from peers (tdsm_wq) ------------------------ */

/*
 * The page a request names, its index in *@idx: TDSM_WS_OK, or why not
 * (TDSM_WS_INVAL: not page aligned; TDSM_WS_RANGE: outside).
 */
enum tdsm_wire_status tdsm_msg_page(struct tdsm_region *r,
				    const struct tdsm_wire_msg *msg,
				    unsigned long *idx)
{
	u64 addr = be64_to_cpu(msg->page.addr);

	if (!tdsm_addr_idx(r, addr, idx))
		return TDSM_WS_RANGE;
	return addr & ~PAGE_MASK ? TDSM_WS_INVAL : TDSM_WS_OK;
}

/*
 * A page message's grant_epoch (wire version 8) is set by a FETCH with
 * TDSM_FETCH_F_LIVE, and only there: the epoch of the grant in doubt,
 * never zero (tdsm_txn_next()). Is @msg's wrong? It is malformed then
 * (TDSM_WS_INVAL), and said so, rate-limited, naming the sender.
 */
static bool tdsm_grant_epoch_bad(const struct tdsm_wire_msg *msg)
{
	bool live = msg->hdr.type == TDSM_W_FETCH &&
		    (msg->page.mode & TDSM_FETCH_F_LIVE);

	if (live == !!msg->page.grant_epoch)
		return false;
	pr_warn_ratelimited("node %u: a type %u request %s: malformed\n",
			    msg->hdr.src, msg->hdr.type,
			    live ? "for a grant in doubt without its epoch" :
			    "with a grant epoch");
	return true;
}

/*
 * Page @idx's metadata for a handler about a copy here (M6, page.h): its
 * chunk referenced, or NULL if it has none, never created. *@home: the
 * page's home as this node knows it, which is its default home without
 * metadata (M5).
 */
struct tdsm_page *tdsm_copy_page(struct tdsm_region *r, unsigned long idx,
				 u8 *home)
{
	struct tdsm_page *pg;

	if (!tdsm_chunk_get_existing(r, idx)) {
		*home = tdsm_default_home(r, idx);
		return NULL;
	}
	pg = tdsm_pg(r, idx);
	*home = tdsm_page_home(pg);
	return pg;
}

/*
 * Begin serving a request about page @idx as its home (READ, WRITE, WORD):
 * its chunk referenced (metadata is created here only if this node is the
 * page's default home, M6 in page.h), its home checked, its TDSM_PG_DIR
 * taken within half the requester's wait (else it hears BUSY, before it
 * gives up, and asks again: tdsm_busy_again()), and the home checked again (the page may have
 * migrated away while we waited). Returns the page, to be ended with
 * tdsm_serve_end(); or NULL, with nothing held and *@st the answer to
 * give: TDSM_WS_NOTHOME naming *@home, or another refusal.
 */
struct tdsm_page *tdsm_serve_begin(struct tdsm_region *r, unsigned long idx,
				   enum tdsm_wire_status *st, u8 *home)
{
	struct tdsm_page *pg;
	int err;

	err = tdsm_chunk_get_served(r, idx);
	if (err) {
		*st = err == -EREMOTE ? TDSM_WS_NOTHOME : tdsm_errno_status(err);
		*home = tdsm_default_home(r, idx);
		return NULL;
	}
	pg = tdsm_pg(r, idx);
	*st = TDSM_WS_NOTHOME;
	if (tdsm_page_home(pg) != r->node_id)
		goto out_put;
	if (tdsm_dir_lock_timeout(pg, tdsm_timeout_ms / 2)) {
		*st = TDSM_WS_BUSY;
		goto out_put;
	}
	if (tdsm_page_home(pg) == r->node_id)
		return pg;
	tdsm_dir_unlock(pg);
out_put:
	*home = tdsm_page_home(pg);
	tdsm_chunk_put(r, idx);
	return NULL;
}

/* The end of tdsm_serve_begin()'s service of page @idx, @pg. */
void tdsm_serve_end(struct tdsm_region *r, unsigned long idx,
		    struct tdsm_page *pg)
{
	tdsm_dir_unlock(pg);
	tdsm_chunk_put(r, idx);
}

static void tdsm_handle_access(struct tdsm_region *r, struct tdsm_conn *conn,
			       const struct tdsm_wire_msg *msg, bool write)
{
	struct tdsm_dest dst = {
		.node = msg->hdr.src,
		.conn = conn,
		.iova = be64_to_cpu(msg->page.iova),
		.rkey = be32_to_cpu(msg->page.rkey),
	};
	enum tdsm_wire_status st;
	struct page *push = NULL;
	struct tdsm_page *pg;
	unsigned long idx;
	bool data = false;	/* set by tdsm_home_serve(), if it runs */
	int err, sent;
	u8 home;

	/*
	 * page.epoch is the requester's claim of a retained frame: a WRITE
	 * claims a live copy (TDSM_ACCESS_F_COPY) or a retained frame, not
	 * both (its frame is one or the other).
	 */
	st = tdsm_msg_page(r, msg, &idx);
	if (!st && (msg->page.dst || msg->page.reserved[0] ||
		    msg->page.reserved[1] ||
		    (msg->page.mode & ~(write ? TDSM_ACCESS_F_COPY : 0)) ||
		    (msg->page.epoch && msg->page.mode) ||
		    tdsm_grant_epoch_bad(msg)))
		st = TDSM_WS_INVAL;
	dst.has_copy = msg->page.mode & TDSM_ACCESS_F_COPY;
	dst.claim_epoch = be32_to_cpu(msg->page.epoch);
	if (st) {
		tdsm_reply_refuse(conn, msg, st, dst.rkey);
		return;
	}
	pg = tdsm_serve_begin(r, idx, &st, &home);
	if (!pg) {
		if (st == TDSM_WS_NOTHOME)
			tdsm_reply_nothome(conn, msg, home, dst.rkey);
		else
			tdsm_reply_refuse(conn, msg, st, dst.rkey);
		return;
	}
	trace_tinydsm_msg(conn->peer->id, be64_to_cpu(msg->hdr.id),
			  msg->hdr.type, TDSM_STEP_LOCKED);
	/*
	 * If the claim fails (no memory for the zero page), nothing is
	 * served: the reply says so, with no data. The entry to restore if
	 * the reply does not land is the one tdsm_home_serve() started from.
	 */
	err = tdsm_home_claim(r, pg, idx);
	if (!err)
		err = tdsm_home_serve(r, pg, idx, write, &dst, &push, &data);
	/*
	 * Reply before the transaction ends, so that a later INVAL of this
	 * copy reaches the requester after it. The data, if ours, rides
	 * ahead of the reply; a write waits until it landed, to drop our copy.
	 */
	sent = tdsm_reply_page(conn, msg, tdsm_errno_status(err),
			       data ? TDSM_RF_DATA : 0, err ? 0 : dst.epoch, push,
			       dst.iova, dst.rkey, !err);
	if (!err && write)
		tdsm_inject_home_reply_delay();
	if (!err)
		tdsm_home_commit(r, pg, idx, write, sent, &dst);
	if (!err && !sent && write)
		tdsm_event_page(TINYDSM_EV_OWNER, tdsm_page_addr(idx), dst.node, 0);
	if (push)
		put_page(push);
	tdsm_serve_end(r, idx, pg);
}

/*
 * The owner's side of a FETCH of page @idx, or of one page of a FETCHV, for
 * the home's transaction @epoch: the frame to send, made read-only (no
 * write may slip in while the page travels), with a reference; or NULL if
 * there is nothing to send: no frame, or a newer one than the transaction
 * knew of. A frame in state INVALID is one this node retained when it gave
 * the page up (tdsm_local_give_up()): the home asks us, so it still names
 * us owner and no write committed since: it is served. Unless
 * @grant_epoch (not 0: TDSM_FETCH_F_LIVE): a write grant to us at that
 * epoch is in doubt, and only a frame that grant installed is current. A
 * live frame is one (or a read copy the grant upgraded, whose contents
 * are the page's as well); a retained frame is one only if its epoch is
 * the grant's. The epoch of a frame here is that of the grant that
 * installed or revalidated it, and no other grant to us on the page can
 * complete while that doubt stands, so a retained frame at the grant's
 * epoch is the one the grant installed, given up since for a FETCH DROP
 * whose answer the home never heard (the connection died with it): it
 * holds our last write to the page, unwritable since it was hidden, and
 * is the page; refusing it would make the home go back to the owner
 * before the grant and lose that write. An older retained frame is from
 * an earlier ownership: refused (STALE), and the home concludes the
 * grant was not taken. Serving a retained frame changes nothing here
 * (*@hidden false): it stays retained. The caller holds the page's chunk
 * (M1), as for tdsm_fetch_dropped().
 *
 * @hidden, for a FETCH DROP and a FETCHV (NULL for a FETCH KEEP): the page
 * is also made unreadable here now, before the data and reply go out
 * (tdsm_local_hide(); *@hidden says whether this call did it, false for a
 * retained frame). Once the reply is out, the home may grant a writer the
 * page and that writer may write before this node's handler runs again:
 * a read-only PTE left until then would read the old data after the new
 * write (PROTOCOL.md, "the owner gives the page up before it answers").
 * After the send: tdsm_fetch_dropped(), or tdsm_fetch_unsent() if it
 * surely failed.
 */
struct page *tdsm_fetch_frame(struct tdsm_region *r, unsigned long idx,
			      u32 epoch, u32 grant_epoch, bool *hidden)
{
	struct tdsm_page *pg = tdsm_pg(r, idx);
	struct page *frame;

	tdsm_page_lock_settled(pg);
	frame = pg->frame;
	if (!frame || (grant_epoch && pg->state == TINYDSM_PAGE_INVALID &&
		       pg->epoch != grant_epoch) ||
	    !tdsm_epoch_after(epoch, pg->epoch)) {
		tdsm_page_unlock(pg);
		return NULL;
	}
	/*
	 * Hidden, or read-only: tdsm_local_hide() unmaps whatever the state,
	 * so a downgrade first would only unmap the page a second time (an
	 * unmap_mapping_range() that finds nothing, on the critical path of
	 * every remote write fault). A retained frame is neither mapped nor
	 * writable here: nothing to do.
	 */
	if (hidden) {
		*hidden = pg->state != TINYDSM_PAGE_INVALID;
		if (*hidden)
			tdsm_local_hide(r, pg, idx);
	} else {
		tdsm_local_downgrade(r, pg, idx);
	}
	get_page(frame);
	tdsm_page_unlock(pg);
	return frame;
}

/*
 * @frame of page @idx (tdsm_fetch_frame()) went to the home for a FETCH
 * DROP, or may have (the send is in doubt): give the page up, retaining
 * the frame. Only that copy, not one granted to us since: while we waited
 * for the data to land, the home may have finished and served our own
 * next request. The caller's reference keeps @frame from being recycled
 * as that new copy until this comparison.
 */
void tdsm_fetch_dropped(struct tdsm_region *r, unsigned long idx,
			struct page *frame)
{
	struct tdsm_page *pg = tdsm_pg(r, idx);
	struct page *taken = NULL;

	tdsm_page_lock(pg);
	/* Hidden before the send, given up now (retain clears WRITTEN). */
	if (pg->frame == frame)
		taken = tdsm_local_give_up(r, pg, idx);
	tdsm_page_unlock(pg);
	if (taken)
		put_page(taken);
}

/*
 * @frame of page @idx, hidden by tdsm_fetch_frame() (*@hidden true), did
 * not go out: the reply was never posted (any error but -ECOMM), so the
 * home cannot have the data, its transaction fails and its directory
 * still names this node owner. The copy is readable again, read-only, as
 * the FETCH left it: nothing was given up, so nothing is lost here (a
 * TDSM_FETCH_F_LIVE FETCH later finds the frame live; it would also take
 * it retained at the grant's epoch, tdsm_fetch_frame(), but a frame
 * nobody else has is better readable). Only that frame, still hidden: a
 * newer copy stays as it is.
 * Only a page this node owns (a write grant made it the owner): a copy it
 * does not own goes, as tdsm_local_give_up() would have it, since the
 * loss of the connection that failed the post may already have had its
 * read copies of that home dropped (tdsm_drop_copies_of(), which skipped
 * this one while it was hidden). This runs right after the failed post;
 * the home's call waits for its reply (up to its timeout) and holds the
 * page's DIR bit meanwhile, so no other transaction on the page reaches
 * this node before.
 */
void tdsm_fetch_unsent(struct tdsm_region *r, unsigned long idx,
		       struct page *frame)
{
	struct tdsm_page *pg = tdsm_pg(r, idx);
	struct page *taken = NULL;

	tdsm_page_lock(pg);
	if (pg->frame == frame && pg->state == TINYDSM_PAGE_INVALID) {
		if (pg->owner == r->node_id)
			tdsm_local_unhide(r, pg, idx);
		else
			taken = tdsm_local_take(r, pg, idx);
	}
	tdsm_page_unlock(pg);
	if (taken)
		put_page(taken);
}

static void tdsm_handle_fetch(struct tdsm_region *r, struct tdsm_conn *conn,
			      const struct tdsm_wire_msg *msg)
{
	u64 iova = be64_to_cpu(msg->page.iova);
	u32 rkey = be32_to_cpu(msg->page.rkey);
	u8 mode = msg->page.mode & ~TDSM_FETCH_F_LIVE, to = msg->page.dst;
	/* Not 0 with TDSM_FETCH_F_LIVE, else 0: tdsm_grant_epoch_bad(). */
	u32 grant_epoch = be32_to_cpu(msg->page.grant_epoch);
	u32 epoch = be32_to_cpu(msg->page.epoch);
	struct tdsm_page *pg = NULL;
	bool hidden = false;
	enum tdsm_wire_status st;
	struct page *frame;
	unsigned long idx;
	u8 home;
	int err;

	/*
	 * The page goes to the home that asks, and only there: a buffer that
	 * another node registered is in that node's connection's protection
	 * domain, out of our reach (the home relays, tdsm_relay()).
	 */
	st = tdsm_msg_page(r, msg, &idx);
	if (!st)
		pg = tdsm_copy_page(r, idx, &home);
	if (!st && ((mode != TDSM_FETCH_KEEP && mode != TDSM_FETCH_DROP) ||
		    to != msg->hdr.src || msg->page.reserved[0] ||
		    msg->page.reserved[1] || tdsm_grant_epoch_bad(msg) ||
		    home != msg->hdr.src))
		st = TDSM_WS_INVAL;
	/* No metadata, no copy (M6): STALE, as for a page without a frame. */
	if (!st && !pg)
		st = TDSM_WS_STALE;
	if (st) {
		tdsm_reply_status(conn, msg, st);
		goto out_put;
	}

	/* A DROP hides the page here before the reply goes out. */
	frame = tdsm_fetch_frame(r, idx, epoch, grant_epoch,
				 mode == TDSM_FETCH_DROP ? &hidden : NULL);
	if (!frame) {
		tdsm_reply_status(conn, msg, TDSM_WS_STALE);
		goto out_put;
	}
	/* Data and reply on one queue pair: ordered, one round trip. */
	err = tdsm_reply_page(conn, msg, TDSM_WS_OK, TDSM_RF_DATA, 0, frame,
			      iova, rkey, mode == TDSM_FETCH_DROP);
	if (mode == TDSM_FETCH_DROP)
		tdsm_inject_fetch_reply_delay();
	/* Sent, or in doubt (-ECOMM: the home may have it): give it up. */
	if ((!err || err == -ECOMM) && mode == TDSM_FETCH_DROP)
		tdsm_fetch_dropped(r, idx, frame);
	else if (err && hidden)
		tdsm_fetch_unsent(r, idx, frame);
	put_page(frame);
out_put:
	if (pg)
		tdsm_chunk_put(r, idx);
}

/*
 * Drop this node's copy of page @idx, at its home's request. @moved_to: not
 * 0, a migration moved the page there: remember it (the new home, and
 * TDSM_PG_MOVED for an eager repopulation if there was a copy). @epoch is
 * the INVAL's (or INVALV's) transaction: a copy it is not newer than stays
 * (-ESTALE).
 */
int tdsm_local_inval(struct tdsm_region *r, unsigned long idx, u8 moved_to,
		     u32 epoch)
{
	struct tdsm_page *pg = tdsm_pg(r, idx);
	struct page *frame;

	tdsm_page_lock_settled(pg);
	if (pg->frame && !tdsm_epoch_after(epoch, pg->epoch)) {
		tdsm_page_unlock(pg);
		return -ESTALE;
	}
	/*
	 * An INVAL of the owner gives the page up for a write (the requester's
	 * copy is current): retained until the home commits. A migration
	 * takes the page away for good (the new home pulled it first).
	 */
	frame = moved_to ? tdsm_local_take(r, pg, idx) :
			   tdsm_local_give_up(r, pg, idx);
	if (moved_to) {
		if (frame)
			set_bit(TDSM_PG_MOVED, &pg->flags);
		tdsm_page_set_home(pg, moved_to);
	}
	tdsm_page_unlock(pg);
	if (frame)
		put_page(frame);
	return 0;
}

static void tdsm_handle_inval(struct tdsm_region *r, struct tdsm_conn *conn,
			      const struct tdsm_wire_msg *msg)
{
	u8 mode = msg->page.mode, to = msg->page.dst;
	u32 epoch = be32_to_cpu(msg->page.epoch);
	struct tdsm_page *pg = NULL;
	enum tdsm_wire_status st;
	unsigned long idx;
	u8 home;
	int err;

	st = tdsm_msg_page(r, msg, &idx);
	if (!st)
		pg = tdsm_copy_page(r, idx, &home);
	if (!st && (home != msg->hdr.src ||
		    msg->page.iova || msg->page.rkey || msg->page.reserved[0] ||
		    msg->page.reserved[1] || tdsm_grant_epoch_bad(msg) ||
		    (mode == TDSM_INVAL_DROP && to) ||
		    (mode == TDSM_INVAL_MOVED &&
		     (!to || to > TDSM_NODES_MAX || to == msg->hdr.src ||
		      to == r->node_id)) ||
		    mode > TDSM_INVAL_MOVED))
		st = TDSM_WS_INVAL;
	if (st || !pg) {
		/* No metadata, no copy (M6): nothing to drop, OK. */
		tdsm_reply_status(conn, msg, st);
		goto out_put;
	}
	err = tdsm_local_inval(r, idx, mode == TDSM_INVAL_MOVED ? to : 0, epoch);
	tdsm_reply_status(conn, msg, tdsm_errno_status(err));
out_put:
	if (pg)
		tdsm_chunk_put(r, idx);
}

/*
 * The connection to node @home went down: drop this node's read copies of
 * the pages homed there. While we cannot hear from it, it may have evicted
 * us (tinydsmd's membership) or migrated the pages, and would then not
 * invalidate our copies any more: without this, they could go stale. Pages
 * we own stay: a home never takes ownership away from a node it cannot
 * reach. Returns the copies dropped.
 */
unsigned long tdsm_drop_copies_of(struct tdsm_region *r, u8 home)
{
	unsigned long idx, dropped = 0;
	struct tdsm_page *pg;

	tdsm_for_each_page(r, idx, pg) {
		struct page *frame = NULL;

		if (tdsm_page_home(pg) != home || !READ_ONCE(pg->frame) ||
		    READ_ONCE(pg->state) != TINYDSM_PAGE_SHARED)
			continue;
		tdsm_page_lock_settled(pg);
		if (tdsm_page_home(pg) == home &&
		    pg->state == TINYDSM_PAGE_SHARED && pg->owner != r->node_id)
			frame = tdsm_local_take(r, pg, idx);
		tdsm_page_unlock(pg);
		if (frame) {
			put_page(frame);
			dropped++;
		}
		cond_resched();
	}
	return dropped;
}

void tdsm_proto_handle(struct tdsm_conn *conn, const struct tdsm_wire_msg *msg)
{
	struct tdsm_region *r = &tdsm_region;

	switch (msg->hdr.type) {
	case TDSM_W_READ:
		tdsm_handle_access(r, conn, msg, false);
		break;
	case TDSM_W_WRITE:
		tdsm_handle_access(r, conn, msg, true);
		break;
	case TDSM_W_FETCH:
		tdsm_handle_fetch(r, conn, msg);
		break;
	case TDSM_W_INVAL:
		tdsm_handle_inval(r, conn, msg);
		break;
	case TDSM_W_ALLOC:
	case TDSM_W_FREE:
		tdsm_handle_alloc(r, conn, msg);
		break;
	case TDSM_W_MIGRATE:
		tdsm_handle_migrate(r, conn, msg);
		break;
	case TDSM_W_READV:
		tdsm_handle_readv(r, conn, msg);
		break;
	case TDSM_W_INVALV:
		tdsm_handle_invalv(r, conn, msg);
		break;
	case TDSM_W_WORD:
		tdsm_handle_word(r, conn, msg);
		break;
	case TDSM_W_EVICTV:
		tdsm_handle_evictv(r, conn, msg);
		break;
	case TDSM_W_FETCHV:
		tdsm_handle_fetchv(r, conn, msg);
		break;
	case TDSM_W_ECHO:
		tdsm_handle_echo(conn, msg);
		break;
	case TDSM_W_WAKEUP:
		tdsm_handle_wakeup(r, conn, msg);
		break;
	case TDSM_W_PLACE:
		tdsm_handle_place(r, conn, msg);
		break;
	default:
		tdsm_reply_status(conn, msg, TDSM_WS_INVAL);
		break;
	}
}
