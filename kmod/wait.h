/* SPDX-License-Identifier: GPL-2.0 */
/* tinydsm: cross-node wait and wake on a word of the region (wait.c). */
#ifndef _TDSM_WAIT_H
#define _TDSM_WAIT_H

#include <linux/types.h>

#include "tinydsm.h"

struct tdsm_conn;
struct tdsm_wire_msg;

void tdsm_wait_init(void);
void tdsm_wait_exit(void);

long tdsm_wait_ioctl(struct tdsm_region *r, void __user *uarg);
long tdsm_wake_ioctl(struct tdsm_region *r, void __user *uarg);

/* the home: queue a waiter (page lock of @pg held), forget it, wake some */
int tdsm_wait_enqueue(struct tdsm_page *pg, u64 addr, u8 width, u8 node,
		      u32 id);
void tdsm_wait_dequeue(struct tdsm_page *pg, u64 addr, u8 node, u32 id);
u32 tdsm_wake_queued(struct tdsm_region *r, u64 addr, u32 n, bool for_peer);

/* requests from peers: WORD's op WAKE at the home, WAKEUP at a waiter */
void tdsm_handle_wake(struct tdsm_region *r, struct tdsm_conn *conn,
		      const struct tdsm_wire_msg *msg, unsigned long idx);
void tdsm_handle_wakeup(struct tdsm_region *r, struct tdsm_conn *conn,
			const struct tdsm_wire_msg *msg);

/* the connection to @home was lost; node @node was evicted */
void tdsm_wait_home_lost(u8 home);
void tdsm_wait_evict(u8 node);

#endif /* _TDSM_WAIT_H */
