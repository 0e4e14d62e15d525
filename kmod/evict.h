/* SPDX-License-Identifier: GPL-2.0 */
/* tinydsm: the bounded cache of pages homed elsewhere (evict.c). */
#ifndef _TDSM_EVICT_H
#define _TDSM_EVICT_H

#include <linux/netlink.h>

#include "tinydsm.h"

struct tdsm_conn;
struct tdsm_wire_msg;

/*
 * Why the reclaim work ran (tracepoint tinydsm_reclaim): the count was
 * above the budget; or the kernel's memory pressure asked for frames.
 */
enum tdsm_reclaim_reason {
	TDSM_RECLAIM_BUDGET,
	TDSM_RECLAIM_PRESSURE,
};

/* tdsm_cache_note() is declared in tinydsm.h, for tdsm_page_set_home(). */

/* Page @pg was used here: the clock gives it a second chance. */
static inline void tdsm_cache_touch(struct tdsm_page *pg)
{
	if (!test_bit(TDSM_PG_REFERENCED, &pg->flags))
		set_bit(TDSM_PG_REFERENCED, &pg->flags);
}

unsigned long tdsm_cache_budget_pages(void);
int tdsm_cache_set_budget(u64 bytes, struct netlink_ext_ack *extack);
void tdsm_cache_throttle(struct tdsm_region *r);
unsigned long tdsm_cache_room(struct tdsm_region *r);
void tdsm_handle_evictv(struct tdsm_region *r, struct tdsm_conn *conn,
			const struct tdsm_wire_msg *msg);
void tdsm_handle_fetchv(struct tdsm_region *r, struct tdsm_conn *conn,
			const struct tdsm_wire_msg *msg);
int tdsm_cache_init(void);
void tdsm_cache_stop(void);
void tdsm_cache_exit(void);

#endif /* _TDSM_EVICT_H */
