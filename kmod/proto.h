/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm: the coherence protocol (proto.c), with what it shares with
 * migration (migrate.c) and word accesses (word.c). Private to the module.
 */
#ifndef _TDSM_PROTO_H
#define _TDSM_PROTO_H

#include "rdma.h"
#include "tinydsm.h"

/* Forwarding hops a request follows after a migration before giving up. */
#define TDSM_MAX_FORWARDS	6

/*
 * Times a fault asks its home again after the connection went down under
 * its request (tdsm_acquire()): each time once the connection is back,
 * waited for at most timeout_ms. Soft-RoCE under load can reset a
 * connection a few times in a row (kmod/PROTOCOL.md, "Losing a
 * connection").
 */
#define TDSM_FAULT_RECONNECTS	3

/*
 * How long a request keeps asking a home that answers BUSY (the page's
 * TDSM_PG_DIR held by another transaction longer than half the request's
 * wait, as while a migration's batch is on the wire): this many times
 * timeout_ms from its first BUSY (tdsm_busy_again()). A transaction
 * holds a DIR for a bounded time (each of its own waits is), so a home
 * that answers at all frees it within that; then the request fails with
 * -ETIMEDOUT (SIGBUS), as for a home that does not answer.
 */
#define TDSM_BUSY_WAITS		4

/*
 * Where a page must go: the requester and its registered buffer. When the
 * requester is this node (the home faulting), @buf is that buffer, which
 * the FETCH to the owner hands out, and @call that FETCH's reply.
 * @has_copy: the requester says it holds a copy (a write from a read copy;
 * the directory's copyset alone does not prove it). @invalidated: the
 * copies the transaction took away, for a rollback not to count them.
 * @epoch: the transaction's id; tdsm_home_serve() takes a new one if 0
 * (a batch takes one for all its pages, once it holds all their DIRs).
 */
struct tdsm_dest {
	u8 node;
	bool has_copy;
	/*
	 * The epoch of a frame @node retained and owns, from its READ or WRITE
	 * (page.epoch), else 0: it took a write grant in doubt at that epoch.
	 */
	u32 claim_epoch;
	struct tdsm_conn *conn;	/* to @node; NULL if @node is this node */
	u64 iova;
	u32 rkey;
	struct tdsm_buf *buf;
	struct tdsm_call call;
	u64 invalidated;
	u32 epoch;
	/*
	 * The directory entry before this grant, once a grant in doubt on
	 * the page was settled (tdsm_home_serve()): what a rollback restores,
	 * and whose frame a commit frees.
	 */
	u8 prev_owner;
	u64 prev_copyset;
};

/*
 * Epochs. A home numbers its directory transactions (tdsm_txn_next(), while
 * it holds the DIR bit of every page the transaction is about, so that a
 * page's ids only grow); a page's epoch is the id of its latest one. The
 * INVALs and FETCHes of a transaction carry its id, and so does its grant,
 * which the requester keeps with the copy. A holder ignores an INVAL or a
 * FETCH that is not newer than its copy: it belongs to a transaction the
 * home gave up on (its connection was killed), handled after a newer grant
 * came over a new connection. Ids compare as serial numbers: a wrap is
 * harmless while no message is 2^31 transactions late.
 */
static inline bool tdsm_epoch_after(u32 a, u32 b)
{
	return (s32)(a - b) > 0;
}

u32 tdsm_txn_next(struct tdsm_region *r);
void tdsm_txn_seen(struct tdsm_region *r, u32 epoch);

int tdsm_status_errno(u32 status);
enum tdsm_wire_status tdsm_errno_status(int err);
u64 tdsm_page_addr(unsigned long idx);

/* local copies: TDSM_PG_LOCKED of @pg held, and its chunk (page.h, M1) */
struct page *tdsm_local_take(struct tdsm_region *r, struct tdsm_page *pg,
			     unsigned long idx);
bool tdsm_local_unmapped(struct tdsm_page *pg);
struct page *tdsm_local_take_unmapped(struct tdsm_region *r,
				      struct tdsm_page *pg, unsigned long idx);
struct page *tdsm_local_give_up(struct tdsm_region *r, struct tdsm_page *pg,
				unsigned long idx);
void tdsm_local_downgrade(struct tdsm_region *r, struct tdsm_page *pg,
			  unsigned long idx);
void tdsm_local_install(struct tdsm_region *r, struct tdsm_page *pg,
			unsigned long idx, struct page *frame, u8 state);
int tdsm_local_inval(struct tdsm_region *r, unsigned long idx, u8 moved_to,
		     u32 epoch);
/* the owner's side of FETCH and FETCHV */
struct page *tdsm_fetch_frame(struct tdsm_region *r, unsigned long idx,
			      u32 epoch, u32 grant_epoch, bool *hidden);
void tdsm_fetch_dropped(struct tdsm_region *r, unsigned long idx,
			struct page *frame);
void tdsm_fetch_unsent(struct tdsm_region *r, unsigned long idx,
		       struct page *frame);

/* the home's directory: TDSM_PG_DIR of @pg held, its chunk too (page.h M1) */
int tdsm_invalidate(struct tdsm_region *r, struct tdsm_page *pg,
		    unsigned long idx, u8 x, u32 epoch);
int tdsm_transfer(struct tdsm_region *r, struct tdsm_page *pg,
		  unsigned long idx, u8 owner, struct tdsm_dest *dst, int mode,
		  struct page **push);
int tdsm_home_claim(struct tdsm_region *r, struct tdsm_page *pg,
		    unsigned long idx);
bool tdsm_doubt_to(struct tdsm_region *r, struct tdsm_page *pg,
		   unsigned long idx, u8 to);
bool tdsm_doubt_names(struct tdsm_region *r, struct tdsm_page *pg,
		      unsigned long idx, u8 node);
int tdsm_home_serve(struct tdsm_region *r, struct tdsm_page *pg,
		    unsigned long idx, bool write, struct tdsm_dest *dst,
		    struct page **push, bool *data);

/* a page's metadata if it has some (chunk held), and its home as known */
struct tdsm_page *tdsm_copy_page(struct tdsm_region *r, unsigned long idx,
				 u8 *home);

/* a request served as the home (READ, WRITE, WORD): DIR held between */
struct tdsm_page *tdsm_serve_begin(struct tdsm_region *r, unsigned long idx,
				   enum tdsm_wire_status *st, u8 *home);
void tdsm_serve_end(struct tdsm_region *r, unsigned long idx,
		    struct tdsm_page *pg);

enum tdsm_wire_status tdsm_msg_page(struct tdsm_region *r,
				    const struct tdsm_wire_msg *msg,
				    unsigned long *idx);

/* requester: this node is the page's home; @pg's chunk held (page.h M1) */
int tdsm_home_acquire_locked(struct tdsm_region *r, struct tdsm_page *pg,
			     unsigned long idx, bool write);

/* faults and word accesses, a peer's disconnect (peer.c), unload (page.c) */
bool tdsm_busy_again(unsigned long *deadline, int *err);
int tdsm_acquire(struct tdsm_region *r, struct tdsm_page *pg, unsigned long idx,
		 bool write);
bool tdsm_follow_hint_locked(struct tdsm_region *r, struct tdsm_page *pg,
			     u8 home, u8 hint);
bool tdsm_follow_hint(struct tdsm_region *r, struct tdsm_page *pg, u8 home,
		      u8 hint);
int tdsm_acquire_once(struct tdsm_region *r, struct tdsm_page *pg,
		      unsigned long idx, bool write, bool *merged);
unsigned long tdsm_drop_copies_of(struct tdsm_region *r, u8 home);
void tdsm_doubt_exit(struct tdsm_region *r);

/* requests from peers, run in tdsm_wq */
void tdsm_proto_handle(struct tdsm_conn *conn, const struct tdsm_wire_msg *msg);

#endif /* _TDSM_PROTO_H */
