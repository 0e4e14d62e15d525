/* SPDX-License-Identifier: GPL-2.0 */
/* tinydsm: the pages' metadata (page.c); their locks are in lock.h. */
#ifndef _TDSM_PAGE_H
#define _TDSM_PAGE_H

#include <linux/types.h>
#include <linux/tinydsm.h>

#include "tinydsm.h"

/*
 * The page store. Today one flat array, r->pages, allocated at load and
 * kept while the module is loaded; every use goes through these helpers so
 * that the store can change (to chunks allocated on use) in this header
 * and page.c alone.
 */

/* The metadata of page @idx (< r->npages). */
static inline struct tdsm_page *tdsm_pg(struct tdsm_region *r,
					unsigned long idx)
{
	return &r->pages[idx];
}

/* The index of page @pg, the inverse of tdsm_pg(). */
static inline unsigned long tdsm_page_idx(struct tdsm_region *r,
					  const struct tdsm_page *pg)
{
	return pg - r->pages;
}

/*
 * Keep the metadata of page @idx (and its neighbours in the store) from
 * being freed. The rule for callers: a struct tdsm_page pointer that is
 * used across anything that may sleep (a page or directory lock, a wait
 * on one of its bits, a network round trip, an allocation) is taken
 * between tdsm_chunk_get() and tdsm_chunk_put() on its index, and not
 * used after the put; the receive-path hooks that use it (on_reply) run
 * under the reference of the caller that waits for the reply. A pointer
 * used without sleeping is covered by the reference of whoever called
 * that code. Both are no-ops while the array lives as long as the region.
 */
static inline void tdsm_chunk_get(struct tdsm_region *r, unsigned long idx)
{
}

static inline void tdsm_chunk_put(struct tdsm_region *r, unsigned long idx)
{
}

/* tdsm_for_each_page()'s steps: start at index 0; page *@idx, if any. */
static inline unsigned long *tdsm_page_iter_start(unsigned long *idx)
{
	*idx = 0;
	return idx;
}

static inline bool tdsm_page_iter_next(struct tdsm_region *r,
				       const unsigned long *idx,
				       struct tdsm_page **pg)
{
	if (*idx >= r->npages)
		return false;
	*pg = tdsm_pg(r, *idx);
	return true;
}

/*
 * Every page of the region in index order: @idx (unsigned long) its index,
 * @pg its metadata. The body may sleep: a store that frees metadata takes
 * the reference for it in the steps above.
 */
#define tdsm_for_each_page(r, idx, pg)					\
	for (unsigned long *tdsm_idx_ = tdsm_page_iter_start(&(idx));	\
	     tdsm_page_iter_next(r, tdsm_idx_, &(pg)); (*tdsm_idx_)++)

void tdsm_page_set_state(struct tdsm_region *r, unsigned long idx, u8 state);
int tdsm_pages_init(struct tdsm_region *r, unsigned long npages);
void tdsm_pages_exit(struct tdsm_region *r);
struct tdsm_page *tdsm_page_at(struct tdsm_region *r, unsigned long addr);
void tdsm_page_fill_info(struct tdsm_page *pg, struct tinydsm_page_info *info);

#endif /* _TDSM_PAGE_H */
