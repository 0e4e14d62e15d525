// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: allocation. TINYDSM_IOC_ALLOC and _FREE, local or remote: the
 * run's home backs and frees its slice's pages and records who allocated
 * each run (PROTOCOL.md, "Who may free a run").
 */
#include <linux/bitmap.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "alloc.h"
#include "lock.h"
#include "page.h"
#include "peer.h"
#include "proto.h"
#include "rdma.h"
#include "tinydsm.h"
#include "wire.h"

/*
 * Who may free a run (PROTOCOL.md, "Who may free a run"): the home records
 * each run of its slice with the node and the uid that allocated it, in
 * r->runs by the run's first page (index in the slice), under alloc_lock.
 * Runs are disjoint and at least a page long: at most slice_pages records.
 * Every record covers allocated pages only: a FREE that succeeds forgets
 * every record it overlaps.
 */

/**
 * struct tdsm_run - a run of this node's slice, as its home records it
 * @npages: its length, as allocated.
 * @uid: the fsuid that allocated it (initial user namespace).
 * @node: the node it was allocated from.
 * @freeing: a FREE of it is under way (outside alloc_lock, across the wire).
 */
struct tdsm_run {
	u32 npages;
	u32 uid;
	u8 node;
	bool freeing;
};

/*
 * The records are indexed by slice offset, and a run may be as long as
 * the slice, so one overlapping @start may begin anywhere before it: the
 * scans below start at 0 (a node keeps few runs).
 *
 * May (@node, @uid) free [@start, @start + @npages) of this node's slice,
 * as an administrator if @admin? If so, mark the records it overlaps as
 * being freed: a concurrent FREE of any of these pages gets -EINVAL, as it
 * would once they are free, and tdsm_runs_release() ends the mark.
 */
static int tdsm_runs_claim(struct tdsm_region *r, unsigned long start,
			   u32 npages, u8 node, u32 uid, bool admin)
{
	unsigned long end = start + npages, idx;
	struct tdsm_run *run;
	bool owner;

	lockdep_assert_held(&r->alloc_lock);
	if (find_next_zero_bit(r->alloc_map, end, start) < end)
		return -EINVAL;	/* not (all) allocated */
	xa_for_each_range(&r->runs, idx, run, 0, end - 1) {
		if (idx + run->npages > start && run->freeing)
			return -EINVAL;	/* being freed */
	}
	run = xa_load(&r->runs, start);
	owner = run && run->node == node && run->uid == uid;
	if (owner && run->npages != npages)
		return -EINVAL;	/* its own run, named with another length */
	if (!owner && !admin)
		return -EPERM;
	xa_for_each_range(&r->runs, idx, run, 0, end - 1) {
		if (idx + run->npages > start)
			run->freeing = true;
	}
	return 0;
}

/* The FREE that claimed [@start, @start + @npages) is over: @freed or not. */
static void tdsm_runs_release(struct tdsm_region *r, unsigned long start,
			      u32 npages, bool freed)
{
	unsigned long idx;
	struct tdsm_run *run;

	lockdep_assert_held(&r->alloc_lock);
	xa_for_each_range(&r->runs, idx, run, 0,
			  start + npages - 1) {
		if (idx + run->npages <= start || !run->freeing)
			continue;
		if (freed) {
			xa_erase(&r->runs, idx);
			kfree(run);
		} else {
			run->freeing = false;
		}
	}
}

/* Module unload: every record goes. */
void tdsm_runs_exit(struct tdsm_region *r)
{
	struct tdsm_run *run;
	unsigned long idx;

	xa_for_each(&r->runs, idx, run)
		kfree(run);
	xa_destroy(&r->runs);
}

/*
 * Back @npages pages of this node's slice for (@node, @uid), who will be
 * the only one allowed to free them without TDSM_ALLOC_F_ADMIN; their
 * address in *@addr.
 */
static int tdsm_home_alloc(struct tdsm_region *r, u32 npages, u8 node,
			   u32 uid, u64 *addr)
{
	unsigned long start, first, i;
	struct tdsm_run *run, *old;
	int err = 0;

	if (!npages || npages > r->slice_pages)
		return -EINVAL;
	run = kmalloc(sizeof(*run), GFP_KERNEL);
	if (!run)
		return -ENOMEM;
	*run = (struct tdsm_run){ .npages = npages, .uid = uid, .node = node };
	mutex_lock(&r->alloc_lock);
	start = bitmap_find_next_zero_area(r->alloc_map, r->slice_pages, 0,
					   npages, 0);
	if (start >= r->slice_pages) {
		mutex_unlock(&r->alloc_lock);
		kfree(run);
		return -ENOSPC;
	}
	/* No run without its record: nobody but an admin could free it. */
	old = xa_store(&r->runs, start, run, GFP_KERNEL);
	if (xa_is_err(old)) {
		mutex_unlock(&r->alloc_lock);
		kfree(run);
		return xa_err(old);
	}
	/* Records cover allocated pages only: there was none here. */
	WARN_ON_ONCE(old);
	kfree(old);
	bitmap_set(r->alloc_map, start, npages);
	mutex_unlock(&r->alloc_lock);

	/* Local -> remote -> local allocate: the home backs every page. */
	first = (unsigned long)(r->node_id - 1) * r->slice_pages + start;
	for (i = first; i < first + npages && !err; i++) {
		struct tdsm_page *pg;

		err = tdsm_chunk_get(r, i);
		if (err)
			break;
		pg = tdsm_pg(r, i);
		tdsm_dir_lock(pg);
		if (!pg->owner) {
			struct page *frame = alloc_page(GFP_HIGHUSER | __GFP_ZERO);

			tdsm_page_lock(pg);
			if (frame) {
				tdsm_local_install(r, i, frame, TINYDSM_PAGE_SHARED);
				pg->owner = r->node_id;
				pg->copyset = BIT(r->node_id);
			} else {
				err = -ENOMEM;
			}
			tdsm_page_unlock(pg);
		}
		tdsm_dir_unlock(pg);
		tdsm_chunk_put(r, i);
	}
	if (err) {
		/* Nobody else knows the run yet: its record is as stored. */
		mutex_lock(&r->alloc_lock);
		xa_erase(&r->runs, start);
		kfree(run);
		bitmap_clear(r->alloc_map, start, npages);
		mutex_unlock(&r->alloc_lock);
		return err;
	}
	*addr = tdsm_page_addr(first);
	return 0;
}

/*
 * Free a run of this node's slice for (@node, @uid): every copy everywhere
 * goes. Only the run recorded with exactly this start and length for
 * (@node, @uid) may go, unless @admin (PROTOCOL.md, "Who may free a run").
 */
static int tdsm_home_free(struct tdsm_region *r, u64 addr, u32 npages,
			  u8 node, u32 uid, bool admin)
{
	unsigned long first, start, i;
	int err = 0;

	if (addr & ~PAGE_MASK || !npages)
		return -EINVAL;
	if (!tdsm_addr_idx(r, addr, &first))
		return -ERANGE;
	start = first - (unsigned long)(r->node_id - 1) * r->slice_pages;
	if (start + npages > r->slice_pages)
		return -EINVAL;
	/* Pages of our slice without metadata are homed here (M5, page.h). */
	for (i = first; i < first + npages; i++) {
		u8 home;

		if (!tdsm_chunk_get_existing(r, i))
			continue;
		home = tdsm_page_home(tdsm_pg(r, i));
		tdsm_chunk_put(r, i);
		if (home != r->node_id) {
			/* Freeing migrated pages is not supported yet. */
			pr_warn_ratelimited("free of %#llx: page %#llx migrated to node %u\n",
					    addr, tdsm_page_addr(i), home);
			return -EXDEV;
		}
	}
	mutex_lock(&r->alloc_lock);
	err = tdsm_runs_claim(r, start, npages, node, uid, admin);
	mutex_unlock(&r->alloc_lock);
	if (err)
		return err;

	for (i = first; i < first + npages && !err; i++) {
		struct tdsm_page *pg;
		unsigned long holders;
		u32 epoch;
		int x;

		/* None: never touched here, nobody holds it (M5). */
		if (!tdsm_chunk_get_existing(r, i))
			continue;
		pg = tdsm_pg(r, i);
		tdsm_dir_lock(pg);
		epoch = tdsm_txn_next(r);
		pg->epoch = epoch;
		holders = pg->copyset | (pg->owner ? BIT(pg->owner) : 0);
		for_each_set_bit(x, &holders, TINYDSM_MAX_NODES) {
			err = tdsm_invalidate(r, i, x, epoch);
			if (err)
				break;
			pg->copyset &= ~BIT(x);
		}
		if (!err) {
			pg->owner = 0;
			pg->copyset = 0;
		}
		tdsm_dir_unlock(pg);
		tdsm_chunk_put(r, i);
	}
	mutex_lock(&r->alloc_lock);
	tdsm_runs_release(r, start, npages, !err);
	if (!err)
		bitmap_clear(r->alloc_map, start, npages);
	mutex_unlock(&r->alloc_lock);
	/* Their directory entries are empty: the chunks may go (M2). */
	tdsm_chunks_kick(r);
	return err;
}

void tdsm_handle_alloc(struct tdsm_region *r, struct tdsm_conn *conn,
		       const struct tdsm_wire_msg *msg)
{
	const struct tdsm_wire_alloc *a = &msg->alloc;
	u32 npages = be32_to_cpu(a->npages);
	u32 uid = be32_to_cpu(a->uid);
	u64 addr = 0;
	int err = -EINVAL;

	if (memchr_inv(a->reserved, 0, sizeof(a->reserved)) ||
	    a->flags & ~TDSM_ALLOC_F_ADMIN)
		goto reply;
	/* The requester is the connection's peer (hdr.src was checked). */
	if (msg->hdr.type == TDSM_W_ALLOC)
		err = a->addr || a->flags ? -EINVAL :
		      tdsm_home_alloc(r, npages, conn->peer->id, uid, &addr);
	else
		err = tdsm_home_free(r, be64_to_cpu(a->addr), npages,
				     conn->peer->id, uid,
				     a->flags & TDSM_ALLOC_F_ADMIN);
reply:
	tdsm_reply_value(conn, msg, tdsm_errno_status(err), addr);
}

/* ALLOC or FREE (@alloc false) for this node's user at @home: local or remote. */
static int tdsm_alloc_at(struct tdsm_region *r, u8 home, bool alloc,
			 struct tinydsm_alloc *a, bool admin)
{
	u32 uid = from_kuid(&init_user_ns, current_fsuid());
	struct tdsm_wire_msg msg;
	struct tdsm_call call = {};
	struct tdsm_conn *conn;
	struct tdsm_peer *peer;
	int err;

	if (home == r->node_id)
		return alloc ? tdsm_home_alloc(r, a->npages, r->node_id, uid, &a->addr) :
			       tdsm_home_free(r, a->addr, a->npages, r->node_id,
					      uid, admin);

	peer = tdsm_peer_find(home);
	if (!peer)
		return -ENOENT;
	tdsm_peer_put(peer);
	conn = tdsm_peer_conn(home);
	if (!conn)
		return -EHOSTUNREACH;
	tdsm_msg_init(&msg, alloc ? TDSM_W_ALLOC : TDSM_W_FREE);
	msg.alloc.npages = cpu_to_be32(a->npages);
	msg.alloc.uid = cpu_to_be32(uid);
	if (!alloc)
		msg.alloc.addr = cpu_to_be64(a->addr);
	if (admin)
		msg.alloc.flags = TDSM_ALLOC_F_ADMIN;
	err = tdsm_call(conn, &msg, NULL, &call);
	tdsm_conn_put(conn);
	if (err)
		return err;
	err = tdsm_status_errno(be32_to_cpu(call.reply.reply.status));
	if (!err && alloc)
		a->addr = be64_to_cpu(call.reply.reply.addr);
	return err;
}

/*
 * TINYDSM_IOC_ALLOC (@alloc) or _FREE on behalf of this node's user, at the
 * run's home, which checks who may free it. CAP_SYS_ADMIN is asked for
 * (and audited) only once the home refused the caller as such: a FREE of
 * one's own run does not need it.
 */
int tdsm_alloc_ioctl(struct tdsm_region *r, bool alloc,
		     struct tinydsm_alloc *a)
{
	unsigned long idx;
	u8 home;
	int err;

	if (a->reserved[0] || a->reserved[1] || !a->npages)
		return -EINVAL;
	if (alloc) {
		if (a->home >= TINYDSM_MAX_NODES)
			return -EINVAL;	/* not a node id at all */
		home = a->home ?: r->node_id;
		return tdsm_alloc_at(r, home, true, a, false);
	}
	if (!tdsm_addr_idx(r, a->addr, &idx))
		return -ERANGE;
	/* The run's first page's slice keeps its allocation. */
	home = tdsm_default_home(r, idx);
	err = tdsm_alloc_at(r, home, false, a, false);
	if (err == -EPERM && capable(CAP_SYS_ADMIN))
		err = tdsm_alloc_at(r, home, false, a, true);
	return err;
}
