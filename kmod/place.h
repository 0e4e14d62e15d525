/* SPDX-License-Identifier: GPL-2.0 */
/* tinydsm: placing a run's pages on other homes, PLACE (place.c). */
#ifndef _TDSM_PLACE_H
#define _TDSM_PLACE_H

#include <linux/types.h>

#include "tinydsm.h"

struct tdsm_conn;
struct tdsm_wire_msg;
struct tinydsm_place;

/* TINYDSM_IOC_PLACE, for the caller's own run of this node's slice. */
int tdsm_place_ioctl(struct tdsm_region *r, struct tinydsm_place __user *uarg);
/* The pages of [@first, @end) of this slice homed elsewhere come back. */
int tdsm_place_back(struct tdsm_region *r, unsigned long first,
		    unsigned long end);

/* a request from a peer: pull a batch of its slice here */
void tdsm_handle_place(struct tdsm_region *r, struct tdsm_conn *conn,
		       const struct tdsm_wire_msg *msg);

#endif /* _TDSM_PLACE_H */
