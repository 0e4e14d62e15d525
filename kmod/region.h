/* SPDX-License-Identifier: GPL-2.0 */
/* tinydsm: the device, its mappings, faults and ioctls (region.c). */
#ifndef _TDSM_REGION_H
#define _TDSM_REGION_H

#include <linux/types.h>

#include "tinydsm.h"

unsigned int tdsm_region_prefault(struct tdsm_region *r, unsigned long first,
				  unsigned int n, u64 mask);
unsigned int tdsm_region_young(struct tdsm_region *r, unsigned long first,
			       unsigned int n);
int tdsm_region_init(void);
void tdsm_region_exit(void);
void tdsm_region_fs_exit(void);

#endif /* _TDSM_REGION_H */
