/* SPDX-License-Identifier: GPL-2.0 */
/* tinydsm: word-sized accesses where the page lives (word.c). */
#ifndef _TDSM_WORD_H
#define _TDSM_WORD_H

#include <linux/types.h>

#include "tinydsm.h"

struct tdsm_conn;
struct tdsm_sites;
struct tdsm_wire_msg;

bool tdsm_word_ok(u64 addr, u8 width, u8 op, u64 value, u64 expected);
int tdsm_word_access(struct tdsm_region *r, u64 addr, u8 width, u8 op,
		     u64 *value, u64 expected, u8 *at);
long tdsm_word_ioctl(struct tdsm_region *r, struct tdsm_sites *t, void __user *uarg);
long tdsm_atomic_ioctl(struct tdsm_region *r, void __user *uarg);

/* a request from a peer */
void tdsm_handle_word(struct tdsm_region *r, struct tdsm_conn *conn,
		      const struct tdsm_wire_msg *msg);

#endif /* _TDSM_WORD_H */
