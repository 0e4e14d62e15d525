/* SPDX-License-Identifier: GPL-2.0 */
/* tinydsm: the uprobe path, access sites in programs built without libtinydsm (uprobe.c). */
#ifndef _TDSM_UPROBE_H
#define _TDSM_UPROBE_H

#include <linux/types.h>

#include "tinydsm.h"

struct tdsm_site;
struct tdsm_sites;

void tdsm_uprobe_site_new(struct tdsm_region *r, struct tdsm_sites *t,
			  unsigned long idx, unsigned long ip);
int tdsm_uprobe_set_form(struct tdsm_site *s, u8 form);
bool tdsm_uprobe_may_arm(const struct tdsm_sites *t);
void tdsm_uprobe_site_free(struct tdsm_site *s);

#endif /* _TDSM_UPROBE_H */
