/* SPDX-License-Identifier: GPL-2.0 */
/* tinydsm: the pages' metadata (page.c); their locks are in lock.h. */
#ifndef _TDSM_PAGE_H
#define _TDSM_PAGE_H

#include <linux/types.h>
#include <linux/tinydsm.h>

#include "tinydsm.h"

void tdsm_page_set_state(struct tdsm_region *r, unsigned long idx, u8 state);
int tdsm_pages_init(struct tdsm_region *r, unsigned long npages);
void tdsm_pages_exit(struct tdsm_region *r);
struct tdsm_page *tdsm_page_at(struct tdsm_region *r, unsigned long addr);
void tdsm_page_fill_info(struct tdsm_page *pg, struct tinydsm_page_info *info);

#endif /* _TDSM_PAGE_H */
