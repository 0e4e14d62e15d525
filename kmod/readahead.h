/* SPDX-License-Identifier: GPL-2.0 */
/* tinydsm: read-ahead of sequential read faults (readahead.c). */
#ifndef _TDSM_READAHEAD_H
#define _TDSM_READAHEAD_H

#include <linux/types.h>

struct tdsm_page;
struct tdsm_region;

/* tdsm_readahead() did not fetch the page: the fault READs it alone. */
#define TDSM_RA_ALONE	1

int tdsm_readahead(struct tdsm_region *r, struct tdsm_page *pg,
		   unsigned long idx, u8 home);

#endif /* _TDSM_READAHEAD_H */
