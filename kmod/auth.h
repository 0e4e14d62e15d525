/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm: the cluster key and the proofs of it that a connection's two
 * ends exchange (auth.c; PROTOCOL.md, "Authentication").
 */
#ifndef _TDSM_AUTH_H
#define _TDSM_AUTH_H

#include <linux/netlink.h>
#include <linux/types.h>
#include <linux/tinydsm.h>

#include "wire.h"

extern bool tdsm_allow_unauth;	/* module parameter allow_unauthenticated */

int tdsm_auth_set_key(const u8 *key, unsigned int len,
		      struct netlink_ext_ack *extack);
bool tdsm_auth_has_key(void);
int tdsm_auth_macs(const struct tdsm_wire_hello *initiator,
		   const struct tdsm_wire_hello *responder, bool we_initiate,
		   u8 mine[TDSM_WIRE_MAC_LEN], u8 theirs[TDSM_WIRE_MAC_LEN]);
void tdsm_auth_exit(void);

#endif /* _TDSM_AUTH_H */
