// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: the cache of pages homed elsewhere.
 *
 * A cached frame is a frame on this node of a page homed on another node:
 * a read copy, a page this node owns, or a frame it retained after giving
 * its page up (PROTOCOL.md "Transactions"). tdsm_region.cached counts
 * them; TDSM_PG_CACHED marks the pages counted, so that the count follows
 * the page's own state and no change of home (a migration to or from this
 * node, a forwarding hint) can unbalance it.
 */
#include <linux/atomic.h>

#include "evict.h"
#include "lock.h"
#include "page.h"
#include "tinydsm.h"

/*
 * Count page @pg's frame as cached, or not, as the page is now: cached iff
 * it has a frame and its home is another node. Called under the page lock
 * wherever the frame or the home changes: tdsm_local_install() and
 * tdsm_local_take() (proto.c) and tdsm_page_set_home(). So when a
 * migration makes this node the home, the frame leaves the cache count
 * (it is the home's own now), and comes back if the migration is undone.
 */
void tdsm_cache_note(struct tdsm_region *r, struct tdsm_page *pg)
{
	bool cached = pg->frame && tdsm_page_home(pg) != r->node_id;

	tdsm_page_assert_locked(pg);
	if (cached == test_bit(TDSM_PG_CACHED, &pg->flags))
		return;
	if (cached) {
		set_bit(TDSM_PG_CACHED, &pg->flags);
		atomic64_inc(&r->cached);
	} else {
		clear_bit(TDSM_PG_CACHED, &pg->flags);
		atomic64_dec(&r->cached);
	}
}
