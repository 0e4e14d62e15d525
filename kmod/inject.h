/* SPDX-License-Identifier: GPL-2.0 */
/* tinydsm: fault-injection knobs for tests (inject.c). */
#ifndef _TDSM_INJECT_H
#define _TDSM_INJECT_H

void tdsm_inject_init(void);
void tdsm_inject_exit(void);

/* The owner, after it sent a FETCH DROP or FETCHV reply. */
void tdsm_inject_fetch_reply_delay(void);

#endif /* _TDSM_INJECT_H */
