/* SPDX-License-Identifier: GPL-2.0 */
/* tinydsm: the bounded cache of pages homed elsewhere (evict.c). */
#ifndef _TDSM_EVICT_H
#define _TDSM_EVICT_H

#include "tinydsm.h"

/* tdsm_cache_note() is declared in tinydsm.h, for tdsm_page_set_home(). */

/* Page @pg was used here: the clock gives it a second chance. */
static inline void tdsm_cache_touch(struct tdsm_page *pg)
{
	if (!test_bit(TDSM_PG_REFERENCED, &pg->flags))
		set_bit(TDSM_PG_REFERENCED, &pg->flags);
}

#endif /* _TDSM_EVICT_H */
