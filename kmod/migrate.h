/* SPDX-License-Identifier: GPL-2.0 */
/* tinydsm: moving pages' homes, repopulation and eviction (migrate.c). */
#ifndef _TDSM_MIGRATE_H
#define _TDSM_MIGRATE_H

#include <linux/types.h>

#include "tinydsm.h"
#include "wire.h"

struct netlink_ext_ack;
struct tdsm_bufv;
struct tdsm_call;
struct tdsm_conn;
struct tdsm_wire_msg;

/**
 * struct tdsm_migrate_result - what a MIGRATE or REPOPULATE did
 * @moved: pages whose home moved here.
 * @skipped: pages of the range not homed on the source, or never touched.
 * @data: pages whose contents crossed the wire.
 * @holders: nodes whose copies were invalidated, a node set (tdsm_nbit()).
 * @fetched: REPOPULATE: pages fetched back.
 * @mapped: REPOPULATE: page table entries established.
 * @sites: REPOPULATE: access sites rewritten.
 * @nsec: time taken.
 */
struct tdsm_migrate_result {
	u32 moved;
	u32 skipped;
	u32 data;
	u64 holders;
	u32 fetched;
	u32 mapped;
	u32 sites;
	u64 nsec;
};

int tdsm_migrate(struct tdsm_region *r, u64 addr, u32 npages, u8 from,
		 struct tdsm_migrate_result *res, struct netlink_ext_ack *extack);
/* One batch of a migration to here, inside a group, from @from on @conn. */
int tdsm_migrate_batch(struct tdsm_region *r, struct tdsm_conn *conn, u8 from,
		       unsigned long first, unsigned int n,
		       struct tdsm_migrate_result *res);
/* The next batch of a range from @first to @end (inside one group). */
unsigned int tdsm_batch_len(unsigned long first, unsigned long end);
int tdsm_repopulate(struct tdsm_region *r, u64 addr, u32 npages, u32 flags,
		    struct tdsm_migrate_result *res,
		    struct netlink_ext_ack *extack);
void tdsm_evict(struct tdsm_region *r, u8 id, u32 *dropped, u32 *lost);
int tdsm_readv_fetch(struct tdsm_region *r, unsigned long first,
		     unsigned int n, u64 want, u8 home, u64 *got);

/* requests from peers */
void tdsm_handle_migrate(struct tdsm_region *r, struct tdsm_conn *conn,
			 const struct tdsm_wire_msg *msg);
void tdsm_handle_readv(struct tdsm_region *r, struct tdsm_conn *conn,
		       const struct tdsm_wire_msg *msg);
enum tdsm_wire_status tdsm_batch_check(struct tdsm_region *r,
				       const struct tdsm_wire_msg *msg,
				       unsigned long *first, unsigned int *n);
u64 tdsm_dir_lock_batch(struct tdsm_region *r, unsigned long first,
			unsigned int n, u64 mask, unsigned long end);
void tdsm_dir_unlock_batch(struct tdsm_region *r, unsigned long first,
			   unsigned int n, u64 locked);
void tdsm_batch_msg_init(struct tdsm_wire_msg *msg, u8 type,
			 unsigned long first, unsigned int n);
int tdsm_call_bufv(struct tdsm_conn *conn, struct tdsm_wire_msg *req,
		   struct tdsm_bufv *bufv, struct tdsm_call *call);
void tdsm_breply_error(struct tdsm_conn *conn, const struct tdsm_wire_msg *msg,
		       enum tdsm_wire_status st);
void tdsm_handle_invalv(struct tdsm_region *r, struct tdsm_conn *conn,
			const struct tdsm_wire_msg *msg);
/* The home: node @x drops its copies of @mask of a batch (one INVALV). */
int tdsm_invalidate_batch(struct tdsm_region *r, unsigned long first,
			  unsigned int n, u64 mask, u8 x, u8 moved_to,
			  u32 epoch);

#endif /* _TDSM_MIGRATE_H */
