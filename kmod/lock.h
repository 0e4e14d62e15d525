/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm: a page's two locks, bits of its flags (lock.c).
 *
 * TDSM_PG_LOCKED, the page lock: short, never held across the network;
 * guards this node's copy (tdsm_page_lock(), _killable, _settled,
 * tdsm_page_trylock()).
 * TDSM_PG_DIR, the directory lock: on the home only, held for a whole
 * transaction, across the network, every wait under it bounded
 * (tdsm_dir_lock(), _killable, _timeout). Order: DIR, then LOCKED
 * (PROTOCOL.md, "Locks, and why there is no deadlock").
 */
#ifndef _TDSM_LOCK_H
#define _TDSM_LOCK_H

#include <linux/compiler_attributes.h>
#include <linux/lockdep.h>
#include <linux/types.h>

struct tdsm_page;

/*
 * At 40 bytes of metadata a page there is no room for a lockdep map each,
 * and a bit lock has no owner. Where a rule relies on one, the code
 * asserts that the bit is held; like lockdep_assert_held(), these check
 * only with CONFIG_LOCKDEP.
 */
#define tdsm_page_assert_locked(pg) \
	lockdep_assert(test_bit(TDSM_PG_LOCKED, &(pg)->flags))
#define tdsm_dir_assert_locked(pg) \
	lockdep_assert(test_bit(TDSM_PG_DIR, &(pg)->flags))

void tdsm_page_lock(struct tdsm_page *pg);
int __must_check tdsm_page_lock_killable(struct tdsm_page *pg);
bool __must_check tdsm_page_trylock(struct tdsm_page *pg);
void tdsm_page_lock_settled(struct tdsm_page *pg);
void tdsm_page_unlock(struct tdsm_page *pg);

void tdsm_dir_lock(struct tdsm_page *pg);
int __must_check tdsm_dir_lock_killable(struct tdsm_page *pg);
int __must_check tdsm_dir_lock_timeout(struct tdsm_page *pg, unsigned int ms);
int __must_check tdsm_dir_lock_killable_timeout(struct tdsm_page *pg,
						unsigned int ms);
void tdsm_dir_unlock(struct tdsm_page *pg);

#endif /* _TDSM_LOCK_H */
