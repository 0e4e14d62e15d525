/* SPDX-License-Identifier: GPL-2.0 */
/* tinydsm: allocation of the region's pages, ALLOC and FREE (alloc.c). */
#ifndef _TDSM_ALLOC_H
#define _TDSM_ALLOC_H

#include <linux/tinydsm.h>

#include "tinydsm.h"

struct file;
struct tdsm_conn;
struct tdsm_page;
struct tdsm_wire_msg;

int tdsm_alloc_ioctl(struct tdsm_region *r, struct file *file, bool alloc,
		     struct tinydsm_alloc *a);
/* @file is released: FREE the runs it still owns (TINYDSM_ALLOC_F_FILE). */
void tdsm_runs_file_release(struct tdsm_region *r, const struct file *file);
/* Module load: no run yet. */
void tdsm_runs_init(struct tdsm_region *r);
/* Page @idx (@pg, DIR held) is in a run of this slice, not being freed. */
bool tdsm_runs_cover(struct tdsm_region *r, struct tdsm_page *pg,
		     unsigned long idx);
/* [@start, +@npages) of the slice is inside one run of (@node, @uid). */
int tdsm_runs_owned(struct tdsm_region *r, unsigned long start, u32 npages,
		    u8 node, u32 uid);
/* Module unload: every record of who allocated a run goes. */
void tdsm_runs_exit(struct tdsm_region *r);

/* a request from a peer: ALLOC or FREE at this home */
void tdsm_handle_alloc(struct tdsm_region *r, struct tdsm_conn *conn,
		       const struct tdsm_wire_msg *msg);

#endif /* _TDSM_ALLOC_H */
