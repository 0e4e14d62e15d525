// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: allocation. TINYDSM_IOC_ALLOC and _FREE, local or remote: the
 * run's home reserves runs of its slice (backed on first touch), frees
 * them and records who allocated each (PROTOCOL.md, "Who may free a run");
 * the node a run was allocated through FREEs the runs of an open file
 * when the file goes ("Runs that belong to a file").
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/list.h>
#include <linux/maple_tree.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>

#include "alloc.h"
#include "budget.h"
#include "lock.h"
#include "migrate.h"
#include "page.h"
#include "peer.h"
#include "place.h"
#include "proto.h"
#include "rdma.h"
#include "tinydsm.h"
#include "wire.h"

/*
 * Who may free a run (PROTOCOL.md, "Who may free a run"): the home records
 * each run of its slice in r->runs, a maple tree that maps the run's pages
 * (indices in the slice) to its struct tdsm_run, under alloc_lock (the
 * tree's external lock). A page is allocated if and only if the tree maps
 * it: the gaps are the free space. The tree is in RCU mode and records go
 * with kfree_rcu(), so that tdsm_runs_cover(), which runs under a page's
 * DIR, reads it without alloc_lock, whose holders allocate (GFP_KERNEL)
 * and so may wait for reclaim (PROTOCOL.md, H3). A run is address space
 * only: its pages are backed when first touched (tdsm_home_claim()), as
 * any page is.
 * An administrator's FREE of part of a run leaves the rest allocated but
 * without a record: those pages map to tdsm_run_orphan, and only an
 * administrator may free them.
 * The home budget (budget.c, rules H1-H7) charges every page the tree
 * maps: ALLOC charges its run, FREE gives back what it freed.
 */

/**
 * struct tdsm_run - a run of this node's slice, as its home records it
 * @uid: the fsuid that allocated it (initial user namespace).
 * @node: the node it was allocated from.
 * @freeing: a FREE of it is under way (outside alloc_lock, across the wire).
 *	Written under alloc_lock, read without it under RCU (READ_ONCE).
 * @next_gone: under alloc_lock, in the FREE that marked it @freeing: the
 *	next record that FREE overlapped (tdsm_runs_release()).
 * @rcu: to free it once no reader under RCU can see it.
 *
 * Its pages are the range the tree maps to it.
 */
struct tdsm_run {
	u32 uid;
	u8 node;
	bool freeing;
	struct tdsm_run *next_gone;
	struct rcu_head rcu;
};

/* Allocated pages that no run records (never freeing, never freed). */
static struct tdsm_run tdsm_run_orphan;

void tdsm_runs_init(struct tdsm_region *r)
{
	mutex_init(&r->alloc_lock);
	mt_init_flags(&r->runs, MT_FLAGS_ALLOC_RANGE | MT_FLAGS_LOCK_EXTERN |
		      MT_FLAGS_USE_RCU);
	mt_set_external_lock(&r->runs, &r->alloc_lock);
}

/*
 * May (@node, @uid) free [@start, @start + @npages) of this node's slice,
 * as an administrator if @admin? If so, mark the records it overlaps as
 * being freed: a concurrent FREE of any of these pages gets -EINVAL, as it
 * would once they are free, and tdsm_runs_release() ends the mark.
 */
static int tdsm_runs_claim(struct tdsm_region *r, unsigned long start,
			   u32 npages, u8 node, u32 uid, bool admin)
{
	unsigned long last = start + npages - 1, next = start;
	struct tdsm_run *run;
	bool owner;

	MA_STATE(mas, &r->runs, start, start);

	lockdep_assert_held(&r->alloc_lock);
	mas_for_each(&mas, run, last) {
		if (mas.index > next || run->freeing)
			return -EINVAL;	/* a free page before it, or being freed */
		next = mas.last + 1;
	}
	if (next <= last)
		return -EINVAL;	/* not (all) allocated */
	mas_set(&mas, start);
	run = mas_walk(&mas);
	owner = run && run != &tdsm_run_orphan && mas.index == start &&
		run->node == node && run->uid == uid;
	if (owner && mas.last != last)
		return -EINVAL;	/* its own run, named with another length */
	if (!owner && !admin)
		return -EPERM;
	mas_set(&mas, start);
	mas_for_each(&mas, run, last) {
		if (run != &tdsm_run_orphan)
			WRITE_ONCE(run->freeing, true);
	}
	return 0;
}

/*
 * Is [@start, @start + @npages) of this node's slice inside one run
 * recorded for (@node, @uid), not being freed? 0, -EPERM if another's (or
 * an administrator's orphan), -EINVAL if not inside one run. PLACE's
 * check (place.c): a part of one's own run may go elsewhere.
 */
int tdsm_runs_owned(struct tdsm_region *r, unsigned long start, u32 npages,
		    u8 node, u32 uid)
{
	struct tdsm_run *run;
	int err = 0;

	MA_STATE(mas, &r->runs, start, start);

	mutex_lock(&r->alloc_lock);
	run = mas_walk(&mas);
	if (!run || READ_ONCE(run->freeing) || mas.last < start + npages - 1)
		err = -EINVAL;
	else if (run == &tdsm_run_orphan || run->node != node || run->uid != uid)
		err = -EPERM;
	mutex_unlock(&r->alloc_lock);
	return err;
}

/*
 * What is left of record @run, [@first, @last], now that the FREE that
 * marked it took out the rest: it stays allocated without a record. With
 * no memory to say so, @run still maps it and is kept, unmarked.
 */
static void tdsm_runs_orphan_rest(struct tdsm_region *r, struct tdsm_run *run,
				  unsigned long first, unsigned long last)
{
	MA_STATE(mas, &r->runs, first, last);

	if (WARN_ON_ONCE(mas_store_gfp(&mas, &tdsm_run_orphan, GFP_KERNEL)))
		WRITE_ONCE(run->freeing, false);
}

/*
 * The FREE that claimed [@start, @start + @npages) is over: @freed or not.
 * Freed, its pages are free again, and whatever is left of the runs it
 * overlapped stays allocated without a record. True: the pages are free.
 *
 * Readers under RCU (tdsm_runs_cover()) see each store whole, so the order
 * matters: the pages leave the tree first, in one store (so they are never
 * seen as orphans, which count as covered: H3 would charge too little),
 * then what is left either side becomes orphan, and only then do the
 * records go, after a grace period. Until its store, a page of a marked
 * record reads as being freed: outside runs (over, never under).
 */
static bool tdsm_runs_release(struct tdsm_region *r, unsigned long start,
			      u32 npages, bool freed)
{
	unsigned long last = start + npages - 1, left_first = 0, right_last = 0;
	struct tdsm_run *run, *gone = NULL, *left = NULL, *right = NULL;
	int err;

	MA_STATE(mas, &r->runs, start, start);

	lockdep_assert_held(&r->alloc_lock);
	/* Every record it overlaps is one it marked (tdsm_runs_claim()). */
	mas_for_each(&mas, run, last) {
		if (run == &tdsm_run_orphan)
			continue;
		if (!freed) {
			WRITE_ONCE(run->freeing, false);
			continue;
		}
		run->next_gone = gone;
		gone = run;
		if (mas.index < start) {
			left = run;
			left_first = mas.index;
		}
		if (mas.last > last) {
			right = run;
			right_last = mas.last;
		}
	}
	if (!freed)
		return false;
	mas_set_range(&mas, start, last);
	err = mas_store_gfp(&mas, NULL, GFP_KERNEL);
	if (err) {
		/* The pages stay allocated, in their runs, to free again. */
		pr_warn_ratelimited("free of pages %lu..%lu of the slice: %d, they stay allocated\n",
				    start, last, err);
		for (run = gone; run; run = run->next_gone)
			WRITE_ONCE(run->freeing, false);
		return false;
	}
	if (left)
		tdsm_runs_orphan_rest(r, left, left_first, start - 1);
	if (right)
		tdsm_runs_orphan_rest(r, right, last + 1, right_last);
	while (gone) {
		run = gone;
		gone = run->next_gone;
		/* Unmarked: the tree still maps part of it (no memory). */
		if (run->freeing)
			kfree_rcu(run, rcu);
	}
	return true;
}

/*
 * Is page @idx (metadata @pg, its DIR held) in a run of this node's slice
 * that is not being freed (for the home budget's H3: such a page's run is
 * charged already)? Under DIR every wait is bounded, so this takes no
 * lock: alloc_lock's holders allocate and may wait for reclaim. It reads
 * the tree under RCU, as of some moment during the call: a FREE's stores
 * are seen whole (tdsm_runs_release()), and what the answer relies on
 * holds until DIR is dropped, since a FREE resets the page under DIR
 * (tdsm_free_batch()) between its mark and its release.
 */
bool tdsm_runs_cover(struct tdsm_region *r, struct tdsm_page *pg,
		     unsigned long idx)
{
	unsigned long start = (unsigned long)(r->node_id - 1) * r->slice_pages;
	struct tdsm_run *run;
	bool covered;

	tdsm_dir_assert_locked(pg);
	if (r->node_id > r->home_nodes || idx < start ||
	    idx - start >= r->slice_pages)
		return false;
	rcu_read_lock();
	run = mtree_load(&r->runs, idx - start);
	covered = run && !READ_ONCE(run->freeing);
	rcu_read_unlock();
	return covered;
}

/*
 * Module unload: every record goes, at once (no reader is left: no
 * connection, fault or worker). The tree's nodes go after a grace period,
 * which tdsm_pages_exit() waits for (rcu_barrier()).
 */
void tdsm_runs_exit(struct tdsm_region *r)
{
	struct tdsm_run *run;

	MA_STATE(mas, &r->runs, 0, 0);

	mutex_lock(&r->alloc_lock);
	mas_for_each(&mas, run, ULONG_MAX) {
		if (run != &tdsm_run_orphan)
			kfree(run);
	}
	__mt_destroy(&r->runs);
	mutex_unlock(&r->alloc_lock);
}

/*
 * Reserve @npages pages of this node's slice for (@node, @uid), who will
 * be the only one allowed to free them without TDSM_ALLOC_F_ADMIN; their
 * address in *@addr. No page is backed here: the first touch of each
 * backs it (tdsm_home_claim()), as for a page outside any run.
 */
static int tdsm_home_alloc(struct tdsm_region *r, u32 npages, u8 node,
			   u32 uid, u64 *addr)
{
	struct tdsm_run *run;
	unsigned long start;
	int err;

	MA_STATE(mas, &r->runs, 0, 0);

	if (!npages)
		return -EINVAL;
	if (r->node_id > r->home_nodes) {
		pr_notice_ratelimited("ALLOC for node %u: node %u homes no slice (home_nodes=%u)\n",
				      node, r->node_id, r->home_nodes);
		return -ENOSPC;
	}
	if (npages > r->slice_pages)
		return -ENOSPC;
	/* The run whole, before its gap: its first touches never fail (H2). */
	err = tdsm_home_charge(r, 0, npages, TINYDSM_BUDGET_F_ALLOC);
	if (err)
		return err;
	run = kmalloc(sizeof(*run), GFP_KERNEL);
	if (!run) {
		tdsm_home_uncharge(r, npages);
		return -ENOMEM;
	}
	*run = (struct tdsm_run){ .uid = uid, .node = node };
	mutex_lock(&r->alloc_lock);
	/*
	 * The first gap of @npages pages, which sets [mas.index, mas.last];
	 * older trees may answer past the slice's end when it does not fit.
	 */
	err = mas_empty_area(&mas, 0, r->slice_pages - 1, npages);
	if (err || mas.last - mas.index + 1 != npages ||
	    mas.last >= r->slice_pages) {
		err = -ENOSPC;
		goto out;
	}
	start = mas.index;
	/*
	 * No run without its record: nobody but an admin could free it.
	 * A fresh walk: not every kernel leaves the search's state reusable.
	 */
	mas_set_range(&mas, start, start + npages - 1);
	err = mas_store_gfp(&mas, run, GFP_KERNEL);
	if (err)
		goto out;
	run = NULL;
	*addr = tdsm_page_addr((unsigned long)(r->node_id - 1) * r->slice_pages +
			       start);
out:
	mutex_unlock(&r->alloc_lock);
	kfree(run);
	if (err)
		tdsm_home_uncharge(r, npages);
	return err;
}

/*
 * FREE's first look: is every page of [@first, @end) that has metadata
 * still homed here? Pages without are (M5, page.h). 0, or -EXDEV, said in
 * the log if @warn (the last look).
 */
static int tdsm_free_check_homes(struct tdsm_region *r, u64 addr,
				 unsigned long first, unsigned long end,
				 bool warn)
{
	unsigned long i = first, stop, j;
	u8 home = 0;

	while (tdsm_chunk_get_range(r, &i, end, &stop)) {
		for (j = i; j < stop; j++) {
			home = tdsm_page_home(tdsm_pg(r, j));
			if (home != r->node_id)
				break;
		}
		tdsm_chunk_put(r, i);
		if (j < stop) {
			if (warn)
				pr_warn_ratelimited("free of %#llx: page %#llx is homed on node %u\n",
						    addr, tdsm_page_addr(j), home);
			return -EXDEV;
		}
		i = stop;
		cond_resched();
	}
	return 0;
}

/*
 * Invalidate every copy of the @n pages from @first (inside one group of
 * TDSM_WIRE_BATCH pages, their chunk held by the caller) and empty their
 * directory entries: one INVALV per node holding copies, not an INVAL per
 * page and holder, so that a FREE of a run a node wrote all over ends well
 * within its requester's call timeout (the home answers only when done).
 * 0, or the error of the INVALV that failed: the nodes after it are not
 * asked, and a page is emptied only if every node holding it dropped it
 * (as a page at a time did: the pages held by the failed node or after it
 * keep those holders, and the run stays allocated).
 */
static noinline_for_stack int tdsm_free_batch(struct tdsm_region *r,
					      unsigned long first,
					      unsigned int n)
{
	u64 holds[TDSM_NODES_MAX + 1] = {};	/* by node id: 520 bytes */
	u64 clear = GENMASK_ULL(n - 1, 0), locked;
	unsigned int i, x;
	u32 epoch;
	int err = 0;

	/*
	 * Ascending, like every batch: no deadlock between batches. All of
	 * them within half a requester's wait, or the FREE is BUSY and
	 * nothing of this batch changes (tdsm_alloc_at() asks again).
	 */
	locked = tdsm_dir_lock_batch(r, first, n, clear,
				     jiffies + msecs_to_jiffies(tdsm_timeout_ms / 2));
	if (locked != clear) {
		tdsm_dir_unlock_batch(r, first, n, locked);
		return -EBUSY;
	}
	epoch = tdsm_txn_next(r);
	for (i = 0; i < n; i++) {
		struct tdsm_page *pg = tdsm_pg(r, first + i);

		pg->epoch = epoch;
		tdsm_for_each_node(x, pg->copyset | tdsm_nbit(pg->owner))
			holds[x] |= BIT_ULL(i);
	}
	for (x = 1; x <= TDSM_NODES_MAX; x++) {
		if (!holds[x])
			continue;
		if (err) {
			clear &= ~holds[x];	/* not asked */
			continue;
		}
		if (x == r->node_id) {
			for (i = 0; i < n; i++)
				if (holds[x] & BIT_ULL(i))
					tdsm_invalidate(r, tdsm_pg(r, first + i),
							first + i, x, epoch);
		} else {
			err = tdsm_invalidate_batch(r, first, n, holds[x], x, 0,
						    epoch);
		}
		if (err) {
			clear &= ~holds[x];
			continue;
		}
		for (i = 0; i < n; i++)
			if (holds[x] & BIT_ULL(i))
				tdsm_pg(r, first + i)->copyset &= ~tdsm_nbit(x);
	}
	for (i = 0; i < n; i++) {
		struct tdsm_page *pg = tdsm_pg(r, first + i);

		if (clear & BIT_ULL(i)) {
			pg->owner = 0;
			pg->copyset = 0;
			clear_bit(TDSM_PG_PLACED, &pg->flags);
			tdsm_home_uncharge_page(r, pg);	/* H5 */
		}
	}
	tdsm_dir_unlock_batch(r, first, n, locked);
	return err;
}

/*
 * Free a run of this node's slice for (@node, @uid): every copy everywhere
 * goes. Only the run recorded with exactly this start and length for
 * (@node, @uid) may go, unless @admin (PROTOCOL.md, "Who may free a run").
 * Pages without metadata were never touched here and nobody holds them
 * (M5): only the chunks that exist in the run are visited (M7), so a run
 * of a 4 TiB slice costs what was touched of it.
 */
static int tdsm_home_free(struct tdsm_region *r, u64 addr, u32 npages,
			  u8 node, u32 uid, bool admin)
{
	unsigned long slice = (unsigned long)(r->node_id - 1) * r->slice_pages;
	unsigned long first, end, stop, i;
	bool freed, back;
	int err = 0;

	if (addr & ~PAGE_MASK || !npages)
		return -EINVAL;
	if (!tdsm_addr_idx(r, addr, &first))
		return -ERANGE;
	/* Inside this node's slice (none above home_nodes), without wrapping. */
	if (first < slice || npages > r->slice_pages - (first - slice))
		return -EINVAL;
	end = first + npages;
	back = node == r->node_id &&
	       (admin || !tdsm_runs_owned(r, first - slice, npages, node, uid));
	err = tdsm_free_check_homes(r, addr, first, end, !back);
	/*
	 * Pages placed elsewhere (TINYDSM_IOC_PLACE) come back first, for a
	 * FREE made here (a process's, or a release's) by the run's owner or
	 * an administrator. A peer's FREE is answered before any migration
	 * could end: EXDEV, as for pages an administrator migrated.
	 */
	if (err == -EXDEV && back) {
		err = tdsm_place_back(r, first, end);
		if (!err)
			err = tdsm_free_check_homes(r, addr, first, end, true);
	}
	if (err)
		return err;
	mutex_lock(&r->alloc_lock);
	err = tdsm_runs_claim(r, first - slice, npages, node, uid, admin);
	mutex_unlock(&r->alloc_lock);
	if (err)
		return err;

	i = first;
	while (!err && tdsm_chunk_get_range(r, &i, end, &stop)) {
		/* [i, stop): pages of one chunk, which is one batch's group. */
		err = tdsm_free_batch(r, i, stop - i);
		tdsm_chunk_put(r, i);
		i = stop;
		cond_resched();
	}
	mutex_lock(&r->alloc_lock);
	freed = tdsm_runs_release(r, first - slice, npages, !err);
	mutex_unlock(&r->alloc_lock);
	if (freed)
		tdsm_home_uncharge(r, npages);	/* H2: they are free */
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

/* One ALLOC or FREE at @home: tdsm_alloc_at() below. */
static int tdsm_alloc_once(struct tdsm_region *r, u8 home, bool alloc,
			   struct tinydsm_alloc *a, bool admin, u32 uid)
{
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
 * ALLOC or FREE (@alloc false) at @home, local or remote, for this node's
 * user @uid (an fsuid in the initial user namespace). A FREE that found a
 * page of the run busy (BUSY: a transaction held its DIR past half the
 * wait, tdsm_free_batch()) changed nothing of that batch and is asked
 * again, for TDSM_BUSY_WAITS timeouts at most, as a fault asks again
 * (tdsm_busy_again()), but whatever signal is pending: a release frees
 * the run of a killed process too. The batches before it are empty
 * already, and freeing them again does nothing. Still busy then: -EBUSY.
 */
static int tdsm_alloc_at(struct tdsm_region *r, u8 home, bool alloc,
			 struct tinydsm_alloc *a, bool admin, u32 uid)
{
	unsigned long end = jiffies + msecs_to_jiffies(TDSM_BUSY_WAITS *
						       READ_ONCE(tdsm_timeout_ms));
	int err;

	for (;;) {
		err = tdsm_alloc_once(r, home, alloc, a, admin, uid);
		if (alloc || err != -EBUSY || time_after_eq(jiffies, end))
			return err;
	}
}

/*
 * Runs that belong to an open file (TINYDSM_ALLOC_F_FILE; PROTOCOL.md,
 * "Runs that belong to a file"): FREEd by tdsm_runs_file_release() when
 * the file goes, unless FREEd before. One list for this node, under
 * tdsm_owned_lock. A FREE of such a run, through any file, marks its
 * record @freeing before it asks the home and takes it out once the home
 * freed it, so that a release never FREEs the run again: by then another
 * run may have been allocated at the same address. A release that meets a
 * record being freed leaves it to that FREE (@file cleared).
 */
struct tdsm_owned_run {
	struct list_head node;
	const struct file *file;	/* its owner; NULL once released */
	u64 addr;
	u32 npages;
	u32 uid;
	u8 home;
	bool freeing;
};

static LIST_HEAD(tdsm_owned_runs);
static DEFINE_MUTEX(tdsm_owned_lock);

static unsigned int tdsm_owned_count(const struct file *file)
{
	struct tdsm_owned_run *o;
	unsigned int n = 0;

	lockdep_assert_held(&tdsm_owned_lock);
	list_for_each_entry(o, &tdsm_owned_runs, node)
		n += o->file == file;
	return n;
}

static struct tdsm_owned_run *tdsm_owned_find(u64 addr, u32 npages)
{
	struct tdsm_owned_run *o;

	lockdep_assert_held(&tdsm_owned_lock);
	list_for_each_entry(o, &tdsm_owned_runs, node)
		if (o->addr == addr && o->npages == npages)
			return o;
	return NULL;
}

/* ALLOC, for @file's own if TINYDSM_ALLOC_F_FILE. */
static int tdsm_alloc_new(struct tdsm_region *r, struct file *file, u8 home,
			  struct tinydsm_alloc *a, u32 uid)
{
	struct tdsm_owned_run *o;
	int err;

	if (!(a->flags & TINYDSM_ALLOC_F_FILE))
		return tdsm_alloc_at(r, home, true, a, false, uid);
	o = kzalloc(sizeof(*o), GFP_KERNEL);
	if (!o)
		return -ENOMEM;
	*o = (struct tdsm_owned_run){ .npages = a->npages, .uid = uid,
				      .home = home, .freeing = true };
	/* In the list (as being freed: nobody frees it) before the ALLOC. */
	mutex_lock(&tdsm_owned_lock);
	if (tdsm_owned_count(file) >= TINYDSM_ALLOC_FILE_MAX) {
		mutex_unlock(&tdsm_owned_lock);
		kfree(o);
		return -ENOSPC;
	}
	o->file = file;
	list_add(&o->node, &tdsm_owned_runs);
	mutex_unlock(&tdsm_owned_lock);

	err = tdsm_alloc_at(r, home, true, a, false, uid);
	/* The file cannot have gone meanwhile: the ioctl holds it. */
	mutex_lock(&tdsm_owned_lock);
	o->addr = a->addr;
	o->freeing = false;
	if (err) {
		list_del(&o->node);
		kfree(o);
	}
	mutex_unlock(&tdsm_owned_lock);
	return err;
}

/* FREE; a run that belongs to a file leaves it once freed. */
static int tdsm_free_run(struct tdsm_region *r, u8 home,
			 struct tinydsm_alloc *a, u32 uid)
{
	struct tdsm_owned_run *o;
	int err;

	mutex_lock(&tdsm_owned_lock);
	o = tdsm_owned_find(a->addr, a->npages);
	if (o && o->freeing) {
		mutex_unlock(&tdsm_owned_lock);
		return -EBUSY;	/* its file's release frees it right now */
	}
	if (o)
		o->freeing = true;
	mutex_unlock(&tdsm_owned_lock);

	err = tdsm_alloc_at(r, home, false, a, false, uid);
	if (err == -EPERM && capable(CAP_SYS_ADMIN))
		err = tdsm_alloc_at(r, home, false, a, true, uid);
	if (!o)
		return err;
	mutex_lock(&tdsm_owned_lock);
	o->freeing = false;
	if (!err || !o->file) {
		if (err)
			pr_warn_ratelimited("run %#llx +%u of node %u stays allocated: its file is gone and its FREE failed (%d)\n",
					    o->addr, o->npages, o->home, err);
		list_del(&o->node);
		kfree(o);
	}
	mutex_unlock(&tdsm_owned_lock);
	return err;
}

/*
 * @file is released: FREE every run it still owns, as the user who
 * allocated it. Called from the file's release, in any task's context
 * (the last fput may be an exiting or killed task's, or a worker's): the
 * calls wait uninterruptibly, each bounded by timeout_ms. A FREE that
 * fails leaves its run allocated, said in the log (an administrator's
 * FREE takes it).
 */
void tdsm_runs_file_release(struct tdsm_region *r, const struct file *file)
{
	struct tdsm_owned_run *o, *tmp;
	LIST_HEAD(gone);
	int err;

	mutex_lock(&tdsm_owned_lock);
	list_for_each_entry_safe(o, tmp, &tdsm_owned_runs, node) {
		if (o->file != file)
			continue;
		if (o->freeing)
			o->file = NULL;	/* the FREE under way finishes it */
		else
			list_move(&o->node, &gone);
	}
	mutex_unlock(&tdsm_owned_lock);

	list_for_each_entry_safe(o, tmp, &gone, node) {
		struct tinydsm_alloc a = { .addr = o->addr, .npages = o->npages };

		err = tdsm_alloc_at(r, o->home, false, &a, false, o->uid);
		if (err)
			pr_warn_ratelimited("run %#llx +%u of node %u stays allocated: FREE at its file's release failed (%d)\n",
					    o->addr, o->npages, o->home, err);
		list_del(&o->node);
		kfree(o);
	}
}

/*
 * TINYDSM_IOC_ALLOC (@alloc) or _FREE on behalf of this node's user, at the
 * run's home, which checks who may free it. CAP_SYS_ADMIN is asked for
 * (and audited) only once the home refused the caller as such: a FREE of
 * one's own run does not need it. @file: the file the call came through.
 */
int tdsm_alloc_ioctl(struct tdsm_region *r, struct file *file, bool alloc,
		     struct tinydsm_alloc *a)
{
	u32 uid = from_kuid(&init_user_ns, current_fsuid());
	unsigned long idx;
	u8 home;

	if (a->reserved32 || a->reserved[0] || !a->npages)
		return -EINVAL;
	if (alloc) {
		if (a->flags & ~TINYDSM_ALLOC_F_FILE)
			return -EINVAL;
		if (a->home > TDSM_NODES_MAX)
			return -EINVAL;	/* not a node id at all */
		home = a->home ?: r->node_id;
		if (home > r->home_nodes && home <= r->max_nodes) {
			/*
			 * A node that homes nothing (home_nodes is the same
			 * everywhere: no need to ask it); past max_nodes there
			 * is no such node (ENOENT, below).
			 */
			pr_notice_ratelimited("ALLOC at node %u: it homes no slice (home_nodes=%u)\n",
					      home, r->home_nodes);
			return -ENOSPC;
		}
		return tdsm_alloc_new(r, file, home, a, uid);
	}
	if (a->flags)
		return -EINVAL;
	if (!tdsm_addr_idx(r, a->addr, &idx))
		return -ERANGE;
	/* The run's first page's slice keeps its allocation. */
	home = tdsm_default_home(r, idx);
	return tdsm_free_run(r, home, a, uid);
}
