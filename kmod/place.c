// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: placement (TINYDSM_IOC_PLACE, PROTOCOL.md "Placement"). A run's
 * pages are homed on the node whose slice holds them, the node that
 * allocated the run. Its owner may give some of them another home, as a
 * NUMA policy spreads memory over nodes: the run's home A backs the pages
 * never touched (zero pages, so that they move too) and sends PLACE, a
 * batch at a time, to the new home B, which pulls the batch with one
 * MIGRATE batch of its own, as an administrator's migration would. A
 * brings pages back with migrations of its own: PLACE to itself, and every
 * FREE of a run at A before it frees (tdsm_place_back()).
 *
 * Who may ask: the ioctl only for a run recorded for this node and the
 * caller's fsuid (tdsm_runs_owned()); a PLACE only from the default home
 * of its pages, the node whose slice they are (TDSM_WS_PERM otherwise),
 * and B's own MIGRATE then asks that node, which hands over only what it
 * homes.
 */
#include <linux/cred.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>

#include "alloc.h"
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
 * The pages of [@first, @end) of this node's slice homed neither here nor
 * on @keep come back here, a migration per batch and home; only those a
 * PLACE sent away (TDSM_PG_PLACED) if @placed. Only chunks that exist are
 * visited: a page without metadata was never touched, and is homed here
 * (page.h, M5). 0, or the error of the migration that failed (the batches
 * before it came back).
 */
static int tdsm_place_back_keep(struct tdsm_region *r, unsigned long first,
				unsigned long end, u8 keep, bool placed)
{
	unsigned long i = first, stop, j;
	int err = 0;

	while (!err && tdsm_chunk_get_range(r, &i, end, &stop)) {
		struct tdsm_migrate_result res = {};
		u64 homes = 0;
		unsigned int x;

		/* Read without the DIR: the migration asks the home itself. */
		for (j = i; j < stop; j++) {
			struct tdsm_page *pg = tdsm_pg(r, j);
			u8 home = tdsm_page_home(pg);

			if (home != r->node_id && home != keep &&
			    (!placed || test_bit(TDSM_PG_PLACED, &pg->flags)))
				homes |= tdsm_nbit(home);
		}
		tdsm_chunk_put(r, i);
		tdsm_for_each_node(x, homes) {
			err = tdsm_migrate(r, tdsm_page_addr(i), stop - i, x,
					   &res, NULL);
			if (err)
				break;
		}
		i = stop;
		cond_resched();
	}
	return err;
}

int tdsm_place_back(struct tdsm_region *r, unsigned long first,
		    unsigned long end)
{
	return tdsm_place_back_keep(r, first, end, r->node_id, true);
}

/*
 * The pages of the batch of @n pages at @first that this node's directory
 * homes on @node now went there by PLACE: a FREE here brings them back
 * (pages an administrator migrated stay where they are: EXDEV).
 */
static void tdsm_place_mark(struct tdsm_region *r, unsigned long first,
			    unsigned int n, u8 node)
{
	unsigned long i = first, stop, j;

	while (tdsm_chunk_get_range(r, &i, first + n, &stop)) {
		for (j = i; j < stop; j++)
			if (tdsm_page_home(tdsm_pg(r, j)) == node)
				set_bit(TDSM_PG_PLACED, &tdsm_pg(r, j)->flags);
		tdsm_chunk_put(r, i);
		i = stop;
	}
}

/*
 * Back the pages of the batch of @n pages at @first homed here and never
 * touched (tdsm_home_claim(): a zero page, charged to the run), so that
 * the migration that places them moves them: a MIGRATE skips a page that
 * does not exist. Each DIR within timeout_ms, as a fault waits for it.
 */
static int tdsm_place_claim(struct tdsm_region *r, unsigned long first,
			    unsigned int n)
{
	unsigned int i;
	int err;

	err = tdsm_chunk_get(r, first);
	if (err)
		return err;
	for (i = 0; i < n && !err; i++) {
		struct tdsm_page *pg = tdsm_pg(r, first + i);

		err = tdsm_dir_lock_killable_timeout(pg, tdsm_timeout_ms);
		if (err)
			break;
		if (tdsm_page_home(pg) == r->node_id)
			err = tdsm_home_claim(r, pg, first + i);
		tdsm_dir_unlock(pg);
	}
	tdsm_chunk_put(r, first);
	return err;
}

/*
 * Ask @conn's node to pull the batch of @n pages at @first: 0 once it
 * answered (the pages it took are homed there: this node's directory
 * says so), or -errno. BUSY (a page of it was held here by a transaction,
 * so its MIGRATE changed nothing) is asked again as a fault would.
 */
static int tdsm_place_send(struct tdsm_conn *conn, unsigned long first,
			   unsigned int n)
{
	unsigned long busy = 0;
	int err;

	do {
		struct tdsm_call call = {};
		struct tdsm_wire_msg msg;

		tdsm_batch_msg_init(&msg, TDSM_W_PLACE, first, n);
		err = tdsm_call(conn, &msg, NULL, &call);
		if (!err)
			err = tdsm_status_errno(be32_to_cpu(call.reply.reply.status));
	} while (tdsm_busy_again(&busy, &err));
	return err;
}

/* How many pages of [@first, @end) this node's directory homes on @node. */
static u32 tdsm_place_count(struct tdsm_region *r, unsigned long first,
			    unsigned long end, u8 node)
{
	unsigned long i = first, stop, j;
	u32 n = 0, seen = 0;

	while (tdsm_chunk_get_range(r, &i, end, &stop)) {
		for (j = i; j < stop; j++)
			n += tdsm_page_home(tdsm_pg(r, j)) == node;
		seen += stop - i;
		tdsm_chunk_put(r, i);
		i = stop;
	}
	/* Pages without metadata are homed here (M5). */
	if (node == r->node_id)
		n += (end - first) - seen;
	return n;
}

int tdsm_place_ioctl(struct tdsm_region *r, struct tinydsm_place __user *uarg)
{
	u32 uid = from_kuid(&init_user_ns, current_fsuid());
	unsigned long slice = (unsigned long)(r->node_id - 1) * r->slice_pages;
	struct tdsm_conn *conn = NULL;
	struct tinydsm_place p;
	unsigned long first, end, i;
	unsigned int n;
	int err;

	if (copy_from_user(&p, uarg, sizeof(p)))
		return -EFAULT;
	if (p.reserved || p.moved || !p.npages || p.addr & ~PAGE_MASK)
		return -EINVAL;
	if (!tdsm_addr_idx(r, p.addr, &first))
		return -ERANGE;
	/* A run of this node's slice, without wrapping. */
	if (r->node_id > r->home_nodes || first < slice ||
	    p.npages > r->slice_pages - (first - slice))
		return -EINVAL;
	if (!p.node || p.node > TDSM_NODES_MAX)
		return -EINVAL;
	if (p.node > r->home_nodes)
		return p.node > r->max_nodes ? -ENOENT : -EINVAL;
	err = tdsm_runs_owned(r, first - slice, p.npages, r->node_id, uid);
	if (err)
		return err;
	end = first + p.npages;
	if (p.node != r->node_id) {
		struct tdsm_peer *peer = tdsm_peer_find(p.node);

		if (!peer)
			return -ENOENT;
		tdsm_peer_put(peer);
		conn = tdsm_peer_conn_wait(p.node, tdsm_timeout_ms);
		if (!conn)
			return -EHOSTUNREACH;
	}

	for (i = first; i < end; i += n) {
		n = tdsm_batch_len(i, end);
		/* Pages homed on a third node come back first. */
		err = tdsm_place_back_keep(r, i, i + n, p.node, false);
		if (!err && conn)
			err = tdsm_place_claim(r, i, n);
		if (!err && conn) {
			err = tdsm_place_send(conn, i, n);
			/*
			 * Marked even if the reply never came: the node may
			 * have pulled the batch before it went silent, and a
			 * FREE here must bring those pages back all the same.
			 */
			tdsm_place_mark(r, i, n, p.node);
		}
		if (!err && i + n < end && fatal_signal_pending(current))
			err = -EINTR;
		if (err)
			break;
		cond_resched();
	}
	if (conn)
		tdsm_conn_put(conn);
	p.moved = tdsm_place_count(r, first, end, p.node);
	if (put_user(p.moved, &uarg->moved))
		return -EFAULT;
	return err;
}

/*
 * PLACE from @conn's node: pull the batch here with one MIGRATE batch. Only
 * the node whose slice the pages are may ask (the run's home, which checked
 * its owner); this node takes them only if it homes a slice and its home
 * budget has room (NOSPC).
 */
void tdsm_handle_place(struct tdsm_region *r, struct tdsm_conn *conn,
		       const struct tdsm_wire_msg *msg)
{
	struct tdsm_migrate_result res = {};
	enum tdsm_wire_status st;
	unsigned long first;
	unsigned int n;

	st = tdsm_batch_check(r, msg, &first, &n);
	if (!st && tdsm_default_home(r, first) != msg->hdr.src)
		st = TDSM_WS_PERM;
	if (!st && r->node_id > r->home_nodes)
		st = TDSM_WS_INVAL;
	if (!st)
		st = tdsm_errno_status(tdsm_migrate_batch(r, conn, msg->hdr.src,
							  first, n, &res));
	tdsm_reply_status(conn, msg, st);
}
