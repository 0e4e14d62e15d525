/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm: fault-injection knobs for tests (inject.c), in debugfs under
 * tinydsm/. Each knob is a u32, 0 (off) by default; where it is used it is
 * read with READ_ONCE(), and that code bounds what it does with it.
 */
#ifndef _TDSM_INJECT_H
#define _TDSM_INJECT_H

#include <linux/jump_label.h>
#include <linux/types.h>

/*
 * On while any knob is not 0 (set by the knobs' debugfs writes, inject.c):
 * off, the request path's knob checks below are a patched-out jump.
 */
DECLARE_STATIC_KEY_FALSE(tdsm_inject_on);

/*
 * evict_delay_ms: the home's EVICTV handler sleeps this long once it holds
 * the batch's TDSM_PG_DIR, before its FETCHV (evict.c, bounded there).
 */
extern u32 tdsm_inject_evict_delay_ms;

void tdsm_inject_init(void);
void tdsm_inject_exit(void);

void __tdsm_inject_fetch_reply_delay(void);
void __tdsm_inject_home_reply_delay(void);

/* The owner, after it sent a FETCH DROP or FETCHV reply. */
static inline void tdsm_inject_fetch_reply_delay(void)
{
	if (static_branch_unlikely(&tdsm_inject_on))
		__tdsm_inject_fetch_reply_delay();
}

/* The home, after it sent a write grant's reply, before it commits. */
static inline void tdsm_inject_home_reply_delay(void)
{
	if (static_branch_unlikely(&tdsm_inject_on))
		__tdsm_inject_home_reply_delay();
}

#endif /* _TDSM_INJECT_H */
