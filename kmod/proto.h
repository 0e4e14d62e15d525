/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm: what the coherence protocol (proto.c) shares with migration
 * (migrate.c). Private to the module.
 */
#ifndef _TDSM_PROTO_H
#define _TDSM_PROTO_H

#include "rdma.h"
#include "tinydsm.h"

/* Forwarding hops a request follows after a migration before giving up. */
#define TDSM_MAX_FORWARDS	6

/*
 * Where a page must go: the requester and its registered buffer. When the
 * requester is this node (the home faulting), @buf is that buffer, whose
 * REG_MR rides with the FETCH to the owner, and @call that FETCH's reply.
 * @has_copy: the requester says it holds a copy (a write from a read copy;
 * the directory's copyset alone does not prove it). @invalidated: the
 * copies the transaction took away, for a rollback not to count them.
 */
struct tdsm_dest {
	u8 node;
	bool has_copy;
	struct tdsm_conn *conn;	/* to @node; NULL if @node is this node */
	u64 iova;
	u32 rkey;
	struct tdsm_buf *buf;
	struct tdsm_call call;
	u32 invalidated;
};

int tdsm_status_errno(u32 status);
enum tdsm_wire_status tdsm_errno_status(int err);
u64 tdsm_page_addr(unsigned long idx);

/* local copies: TDSM_PG_LOCKED held */
void tdsm_page_lock_wait(struct tdsm_page *pg);
void tdsm_page_lock_settled(struct tdsm_page *pg);
struct page *tdsm_local_take(struct tdsm_region *r, unsigned long idx);
struct page *tdsm_local_give_up(struct tdsm_region *r, unsigned long idx);
void tdsm_local_downgrade(struct tdsm_region *r, unsigned long idx);
void tdsm_local_install(struct tdsm_region *r, unsigned long idx,
			struct page *frame, u8 state);
void tdsm_local_inval(struct tdsm_region *r, unsigned long idx, u8 moved_to);

/* the home's directory: TDSM_PG_DIR held */
int tdsm_dir_lock(struct tdsm_page *pg, bool killable);
int tdsm_dir_lock_timeout(struct tdsm_page *pg, bool killable, unsigned int ms);
void tdsm_dir_unlock(struct tdsm_page *pg);
int tdsm_invalidate(struct tdsm_region *r, unsigned long idx, u8 x,
		    u8 moved_to);
int tdsm_transfer(struct tdsm_region *r, unsigned long idx, u8 owner,
		  struct tdsm_dest *dst, int mode, struct page **push);
int tdsm_home_claim(struct tdsm_region *r, unsigned long idx);
int tdsm_home_serve(struct tdsm_region *r, unsigned long idx, bool write,
		    struct tdsm_dest *dst, struct page **push, bool *data);

struct tdsm_page *tdsm_msg_page(struct tdsm_region *r,
				const struct tdsm_wire_msg *msg,
				unsigned long *idx,
				enum tdsm_wire_status *status);

/* migrate.c: requests from peers */
int tdsm_home_acquire_locked(struct tdsm_region *r, unsigned long idx,
			     bool write);

/* word.c */
void tdsm_handle_word(struct tdsm_region *r, struct tdsm_conn *conn,
		      const struct tdsm_wire_msg *msg);

void tdsm_handle_migrate(struct tdsm_region *r, struct tdsm_conn *conn,
			 const struct tdsm_wire_msg *msg);
void tdsm_handle_readv(struct tdsm_region *r, struct tdsm_conn *conn,
		       const struct tdsm_wire_msg *msg);
void tdsm_handle_invalv(struct tdsm_region *r, struct tdsm_conn *conn,
			const struct tdsm_wire_msg *msg);

#endif /* _TDSM_PROTO_H */
