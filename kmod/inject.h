/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm: fault-injection knobs for tests (inject.c), in debugfs under
 * tinydsm/. Each knob is a u32, 0 (off) by default; where it is used it is
 * read with READ_ONCE(), and that code bounds what it does with it.
 */
#ifndef _TDSM_INJECT_H
#define _TDSM_INJECT_H

#include <linux/types.h>

/*
 * evict_delay_ms: the home's EVICTV handler sleeps this long once it holds
 * the batch's TDSM_PG_DIR, before its FETCHV (evict.c, bounded there).
 */
extern u32 tdsm_inject_evict_delay_ms;

void tdsm_inject_init(void);
void tdsm_inject_exit(void);

/* The owner, after it sent a FETCH DROP or FETCHV reply. */
void tdsm_inject_fetch_reply_delay(void);
/* The home, after it sent a write grant's reply, before it commits. */
void tdsm_inject_home_reply_delay(void);

#endif /* _TDSM_INJECT_H */
