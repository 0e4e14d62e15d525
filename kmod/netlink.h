/* SPDX-License-Identifier: GPL-2.0 */
/* tinydsm: the generic netlink family and its events (netlink.c). */
#ifndef _TDSM_NETLINK_H
#define _TDSM_NETLINK_H

#include <linux/types.h>

int tdsm_netlink_init(void);
void tdsm_netlink_stop(void);
void tdsm_netlink_exit(void);
/* Notifications to the "events" multicast group; any context. */
void tdsm_event_node(u32 event, u8 node, int err);
void tdsm_event_migrated(u64 addr, u32 npages, u8 from, u8 to);
void tdsm_event_page(u32 event, u64 addr, u8 node, int err);
void tdsm_event_storm(u32 rate, u64 addr);
void tdsm_event_evicted(u8 node, u32 dropped, u32 lost);
void tdsm_event_budget(u64 addr, u32 npages, int err, u32 why);

#endif /* _TDSM_NETLINK_H */
