/* SPDX-License-Identifier: GPL-2.0 */
/* tinydsm: the pages' metadata (page.c); their locks are in lock.h. */
#ifndef _TDSM_PAGE_H
#define _TDSM_PAGE_H

#include <linux/bits.h>
#include <linux/bug.h>
#include <linux/cache.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/types.h>
#include <linux/xarray.h>
#include <linux/tinydsm.h>

#include "tinydsm.h"
#include "wire.h"

/*
 * The page store: struct tdsm_chunk, the metadata of 64 consecutive pages,
 * created when one of them is first used here and freed when all 64 are
 * idle again, kept in r->chunks by index / 64. Metadata lifetime (also
 * kmod/PROTOCOL.md, "Metadata lifetime"):
 *
 * M1. A struct tdsm_page pointer is used only while its chunk is
 *     referenced: taken with tdsm_chunk_get() (or one of its variants)
 *     on the page's index, dropped with tdsm_chunk_put() on the same
 *     index, the pointer not used after. Waiting on its bits, taking its
 *     locks and the receive-path hooks (on_reply) all run under the
 *     reference of the caller that waits for the reply. A function given
 *     @pg (and not the chunk) runs inside its caller's reference: the
 *     fault paths look a page up once (tdsm_chunk_get_pg()) and hand the
 *     pointer down, never keeping it past tdsm_chunk_put_pg().
 * M2. A chunk is freed only when every one of its pages is idle
 *     (tdsm_chunk_use(), page.c): no frame, no flag but
 *     TDSM_PG_REFERENCED (the clock's hint), INVALID, no directory entry
 *     (owner 0) and no grant in doubt on its home, and the page's default
 *     home as its home (so an entry that forwards, or that learnt where a
 *     page went, stays). TDSM_PG_CACHED and TDSM_PG_MAPPED keep it, as
 *     the frame does; so does a bit in its unnotified mask (the
 *     shrinker's drops not told yet, evict.c E8).
 * M3. Only the chunk worker (page.c; not the cache's reclaim work of
 *     evict.c) frees a chunk, found idle at two passes in a row with no
 *     lookup between: refcount 1 (the store's own) dropped to 0 under the
 *     xarray lock, M2 checked again, erased, and freed after an RCU grace
 *     period; lookups see a zero count only under that lock, and wait for
 *     it.
 * M4. A new chunk is fully initialised (home = default home, the rest 0)
 *     before it is published.
 * M5. So a page without metadata is a page never seen here: no frame, its
 *     default home, nothing in flight.
 * M6. Handlers of requests about a copy here (INVAL, INVALV, FETCH,
 *     FETCHV) never create a chunk: with none, they answer "no copy"; nor
 *     does an EVICTV at a home (none: the home knows of no copy and names
 *     no owner: OK, nothing taken, the wmask's pages released). Faults,
 *     word accesses, other requests served as a home and migrations
 *     create.
 * M7. Scans (tdsm_for_each_page(), the cache's clock with
 *     tdsm_chunk_get_next(), FREE and REPOPULATE of a range with
 *     tdsm_chunk_get_range()) walk the chunks that exist, each referenced
 *     while its pages are visited: never every page of a range or of the
 *     region (2^32 of them at 16 TiB).
 */
/*
 * A chunk is a group of the wire's batches (wire.h): every batch lies
 * inside one, so a batch's pages are in one chunk, held with one
 * reference on its first page.
 */
#define TDSM_CHUNK_SHIFT	TDSM_WIRE_BATCH_SHIFT
#define TDSM_CHUNK_PAGES	BIT(TDSM_CHUNK_SHIFT)
static_assert(TDSM_CHUNK_PAGES == TDSM_WIRE_BATCH);
/* A bit per page in an unsigned long (tdsm_chunk.unnotified): x86-64. */
static_assert(TDSM_CHUNK_PAGES == BITS_PER_LONG);
/* A home slice is whole chunks (tdsm_default_home() is per page anyway). */
static_assert(TDSM_SLICE_ALIGN % TDSM_CHUNK_PAGES == 0);

/**
 * struct tdsm_chunk - the metadata of TDSM_CHUNK_PAGES consecutive pages
 * @refs: 1 for the store (r->chunks) and 1 per user (M1).
 * @first: index of @pages[0], a multiple of TDSM_CHUNK_PAGES.
 * @aged: the chunk worker found it idle, and no lookup took it since;
 *	it is freed if still so at the worker's next pass (a chunk used
 *	again soon, like the page of a word access about to fault it in,
 *	stays, and with it its access-site hints).
 * @rcu: for freeing after lookups under RCU are done (M3).
 * @xlate: its TDSM_CHUNK_PAGES bytes of the translation table (a table
 *	page lives until unload), so that a state is published without a
 *	lookup.
 * @unnotified: bit i: the shrinker dropped page @first + i's read copy
 *	and its home has not been told (evict.c, E8); atomic bit
 *	operations, set under the page's TDSM_PG_FETCHING, taken (xchg) by
 *	the reclaim work. A chunk with a bit set is kept (M2) until the
 *	work took it.
 * @pages: page @first + i is @pages[i], from a cache line of its own:
 *	every fault takes and drops @refs (two atomics), and every page
 *	lock is an atomic on a page's flags; with @pages[0] on @refs' line
 *	each would bounce the other's. The header is 56 bytes, so this
 *	costs 8: 3128 bytes a chunk before, 3136 now (64-byte lines), under
 *	the 3200 that meta_test's bound on metadata (COST_PER_MB) allows.
 */
struct tdsm_chunk {
	refcount_t refs;
	unsigned long first;
	bool aged;
	struct rcu_head rcu;
	u8 *xlate;
	unsigned long unnotified;
	struct tdsm_page pages[TDSM_CHUNK_PAGES] ____cacheline_aligned_in_smp;
};

/* meta_bytes counts sizeof() a chunk; meta_test allows 3200 bytes each. */
static_assert(sizeof(struct tdsm_chunk) <= 3200);

/* The node that homes page @idx until a migration moves it (its slice's). */
static inline u8 tdsm_default_home(const struct tdsm_region *r,
				   unsigned long idx)
{
	return idx / r->slice_pages + 1;
}

/* The chunk page @idx is in, if one exists: the caller holds a reference. */
static inline struct tdsm_chunk *tdsm_chunk_of(struct tdsm_region *r,
					       unsigned long idx)
{
	return xa_load(&r->chunks, idx >> TDSM_CHUNK_SHIFT);
}

/*
 * The metadata of page @idx (< r->npages), whose chunk the caller holds
 * (M1): a missing chunk is a bug of the caller's.
 */
static inline struct tdsm_page *tdsm_pg(struct tdsm_region *r,
					unsigned long idx)
{
	struct tdsm_chunk *c = tdsm_chunk_of(r, idx);

	if (WARN_ON_ONCE(!c || refcount_read(&c->refs) < 2))
		return NULL;
	return &c->pages[idx & (TDSM_CHUNK_PAGES - 1)];
}

/*
 * The chunk holding @pg, the metadata of page @idx: pointer arithmetic, no
 * lookup. Valid while the caller holds the chunk (M1), as @pg is.
 */
static inline struct tdsm_chunk *tdsm_pg_chunk(struct tdsm_page *pg,
					       unsigned long idx)
{
	return container_of(pg - (idx & (TDSM_CHUNK_PAGES - 1)),
			    struct tdsm_chunk, pages[0]);
}

/*
 * @pg is page @idx's metadata and its chunk is referenced by someone (the
 * caller, M1), besides the store: what tdsm_pg() checks, for functions
 * handed @pg instead. Like lockdep_assert_held(), it checks only with
 * CONFIG_LOCKDEP (and costs nothing without).
 */
static inline void tdsm_pg_assert_held(struct tdsm_page *pg, unsigned long idx)
{
	struct tdsm_chunk *c = tdsm_pg_chunk(pg, idx);

	if (IS_ENABLED(CONFIG_LOCKDEP))
		WARN_ON_ONCE(c->first != (idx & ~(TDSM_CHUNK_PAGES - 1)) ||
			     refcount_read(&c->refs) < 2);
}

int tdsm_chunk_get(struct tdsm_region *r, unsigned long idx);
struct tdsm_page *tdsm_chunk_get_pg(struct tdsm_region *r, unsigned long idx);
void tdsm_chunk_put_pg(struct tdsm_page *pg, unsigned long idx);
bool tdsm_chunk_get_existing(struct tdsm_region *r, unsigned long idx);
int tdsm_chunk_get_served(struct tdsm_region *r, unsigned long idx);
void tdsm_chunk_put(struct tdsm_region *r, unsigned long idx);
bool tdsm_chunk_get_next(struct tdsm_region *r, unsigned long idx,
			 unsigned long *first);
bool tdsm_chunk_get_range(struct tdsm_region *r, unsigned long *idx,
			  unsigned long end, unsigned long *stop);
void tdsm_chunks_kick(struct tdsm_region *r);

/* tdsm_for_each_page()'s state: the chunk referenced, and the index. */
struct tdsm_page_iter {
	struct tdsm_chunk *c;
	unsigned long idx;
};

bool tdsm_page_iter_next(struct tdsm_region *r, struct tdsm_page_iter *it,
			 unsigned long *idx, struct tdsm_page **pg);

/*
 * Every page that has metadata here, in index order (M7): @idx (unsigned
 * long) its index, @pg its metadata. The body may sleep (its chunk is
 * referenced) but must not break out or return: the loop drops the last
 * reference when it ends.
 */
#define tdsm_for_each_page(r, idx, pg)					\
	for (struct tdsm_page_iter tdsm_it_ = {};			\
	     tdsm_page_iter_next(r, &tdsm_it_, &(idx), &(pg));)

u64 tdsm_meta_bytes(struct tdsm_region *r);
struct page *tdsm_xlate_page(struct tdsm_region *r, unsigned long key);
void tdsm_page_set_state(struct tdsm_page *pg, unsigned long idx, u8 state);
int tdsm_pages_init(struct tdsm_region *r, unsigned long npages);
void tdsm_pages_exit(struct tdsm_region *r);
bool tdsm_addr_idx(struct tdsm_region *r, u64 addr, unsigned long *idx);
void tdsm_page_fill_info(const struct tdsm_region *r, unsigned long idx,
			 struct tdsm_page *pg, struct tinydsm_page_info *info);

#endif /* _TDSM_PAGE_H */
