// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: per-page metadata of the region.
 *
 * The metadata of 64 consecutive pages is one struct tdsm_chunk, created
 * when one of them is first used here and freed by a worker once all of
 * them are idle again, so that a node pays for the pages it touched or
 * homes, not for the size of the region. The rules that keep a chunk
 * alive while it is used are M1-M7 in page.h (and kmod/PROTOCOL.md,
 * "Metadata lifetime"). Each page has its own sleeping locks, bits in its
 * flags word (lock.c), so that a fault that waits for the network holds
 * only its page; the metadata stays at 48 bytes a page (with its
 * access-site hints).
 */
#include <linux/mm.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/wait_bit.h>
#include <linux/workqueue.h>

#include "alloc.h"
#include "frame.h"
#include "page.h"
#include "proto.h"
#include "tinydsm.h"

static struct kmem_cache *tdsm_chunk_cache;

/* How long a chunk that may be idle waits before the worker looks at it. */
#define TDSM_CHUNK_WORK_DELAY	HZ

/* ---- the store --------------------------------------------------------- */

/*
 * The default home of every page of chunk @c: a slice is whole chunks
 * (page.h), so one division a chunk, not one a page.
 */
static u8 tdsm_chunk_default_home(const struct tdsm_region *r,
				  const struct tdsm_chunk *c)
{
	return tdsm_default_home(r, c->first);
}

/*
 * A new chunk for key @key, referenced by the store and by the caller,
 * every page never seen here (M4): its default home, the rest zero.
 */
static struct tdsm_chunk *tdsm_chunk_alloc(struct tdsm_region *r,
					   unsigned long key)
{
	struct tdsm_chunk *c = kmem_cache_zalloc(tdsm_chunk_cache, GFP_KERNEL);
	struct page *table;
	unsigned long i;
	u8 home;

	if (!c)
		return NULL;
	refcount_set(&c->refs, 2);
	c->first = key << TDSM_CHUNK_SHIFT;
	/* Its bytes of the translation table: one table page holds them. */
	table = tdsm_xlate_page(r, c->first / PAGE_SIZE);
	if (!table) {
		kmem_cache_free(tdsm_chunk_cache, c);
		return NULL;
	}
	c->xlate = (u8 *)page_address(table) + c->first % PAGE_SIZE;
	home = tdsm_chunk_default_home(r, c);
	for (i = 0; i < TDSM_CHUNK_PAGES; i++)
		c->pages[i].home = home;
	return c;
}

static void tdsm_chunk_free_rcu(struct rcu_head *head)
{
	kmem_cache_free(tdsm_chunk_cache,
			container_of(head, struct tdsm_chunk, rcu));
}

/*
 * Reference the chunk stored at @key, if any. A count of zero is seen only
 * while the chunk worker decides, under the xarray lock (M3): taking
 * that lock waits for it, after which the chunk is gone or counted again.
 */
static struct tdsm_chunk *tdsm_chunk_find(struct tdsm_region *r,
					  unsigned long key)
{
	struct tdsm_chunk *c;
	bool freeing;

	rcu_read_lock();
	c = xa_load(&r->chunks, key);
	freeing = c && !refcount_inc_not_zero(&c->refs);
	rcu_read_unlock();
	if (freeing) {
		xa_lock(&r->chunks);
		c = xa_load(&r->chunks, key);
		if (c)
			refcount_inc(&c->refs);
		xa_unlock(&r->chunks);
	}
	/* In use: not idle for the worker's next pass (mostly just a read). */
	if (c && READ_ONCE(c->aged))
		WRITE_ONCE(c->aged, false);
	return c;
}

/* Reference page @idx's chunk if it exists (M6: for "no copy" answers). */
bool tdsm_chunk_get_existing(struct tdsm_region *r, unsigned long idx)
{
	return tdsm_chunk_find(r, idx >> TDSM_CHUNK_SHIFT);
}

/*
 * Reference chunk @key, creating it if there is none: the chunk, or an
 * ERR_PTR (-ENOMEM). Sleeps (GFP_KERNEL).
 */
static struct tdsm_chunk *tdsm_chunk_get_or_make(struct tdsm_region *r,
						 unsigned long key)
{
	struct tdsm_chunk *c;
	int err;

	might_sleep();
	for (;;) {
		c = tdsm_chunk_find(r, key);
		if (c)
			return c;
		c = tdsm_chunk_alloc(r, key);
		if (!c)
			return ERR_PTR(-ENOMEM);
		err = xa_insert(&r->chunks, key, c, GFP_KERNEL);
		if (!err)
			break;
		kmem_cache_free(tdsm_chunk_cache, c);
		if (err != -EBUSY)
			return ERR_PTR(err);
		/* Created meanwhile by another: take that one. */
	}
	atomic_long_inc(&r->nchunks);
	/* If it stays idle (a fault that failed), the worker frees it. */
	tdsm_chunks_kick(r);
	return c;
}

/* Reference page @idx's chunk, creating it if there is none: 0, or -ENOMEM. */
int tdsm_chunk_get(struct tdsm_region *r, unsigned long idx)
{
	unsigned long key = idx >> TDSM_CHUNK_SHIFT;

	return PTR_ERR_OR_ZERO(tdsm_chunk_get_or_make(r, key));
}

/*
 * tdsm_chunk_get() that returns page @idx's metadata (or an ERR_PTR): the
 * one lookup of a fault, whose callees are handed the pointer (M1). Drop
 * it with tdsm_chunk_put_pg() (or tdsm_chunk_put() on @idx).
 */
struct tdsm_page *tdsm_chunk_get_pg(struct tdsm_region *r, unsigned long idx)
{
	unsigned long key = idx >> TDSM_CHUNK_SHIFT;
	struct tdsm_chunk *c = tdsm_chunk_get_or_make(r, key);

	if (IS_ERR(c))
		return ERR_CAST(c);
	return &c->pages[idx & (TDSM_CHUNK_PAGES - 1)];
}

/*
 * For a request this node serves only as page @idx's home (M6): its chunk,
 * created only if this node is the page's default home. -EREMOTE: no
 * metadata here, so the page's home is its default home, another node
 * (M5); -ENOMEM.
 */
int tdsm_chunk_get_served(struct tdsm_region *r, unsigned long idx)
{
	if (tdsm_chunk_get_existing(r, idx))
		return 0;
	if (tdsm_default_home(r, idx) != r->node_id)
		return -EREMOTE;
	return tdsm_chunk_get(r, idx);
}

/* Drop a reference taken on page @idx's chunk. */
void tdsm_chunk_put(struct tdsm_region *r, unsigned long idx)
{
	struct tdsm_chunk *c = tdsm_chunk_of(r, idx);

	/* Never the last: the store keeps its own while we held ours. */
	if (!WARN_ON_ONCE(!c))
		refcount_dec(&c->refs);
}

/* Drop a reference taken on the chunk of @pg, page @idx's: no lookup. */
void tdsm_chunk_put_pg(struct tdsm_page *pg, unsigned long idx)
{
	tdsm_pg_assert_held(pg, idx);
	refcount_dec(&tdsm_pg_chunk(pg, idx)->refs);
}

/*
 * The first chunk stored at @key or after, referenced; NULL if none. A
 * chunk the worker is freeing is skipped: it is idle, nothing to visit.
 */
static struct tdsm_chunk *tdsm_chunk_next(struct tdsm_region *r,
					  unsigned long key)
{
	struct tdsm_chunk *c;

	for (;;) {
		rcu_read_lock();
		c = xa_find(&r->chunks, &key, ULONG_MAX, XA_PRESENT);
		if (!c || refcount_inc_not_zero(&c->refs)) {
			rcu_read_unlock();
			return c;
		}
		rcu_read_unlock();
		key++;
	}
}

/*
 * Reference the first chunk that exists from page @idx's on (a scan, M7):
 * true, with *@first the index of its first page, to drop with
 * tdsm_chunk_put(r, *@first); false if there is none. Not a use: the
 * chunk worker may still find it idle.
 */
bool tdsm_chunk_get_next(struct tdsm_region *r, unsigned long idx,
			 unsigned long *first)
{
	struct tdsm_chunk *c = tdsm_chunk_next(r, idx >> TDSM_CHUNK_SHIFT);

	if (!c)
		return false;
	*first = c->first;
	return true;
}

/*
 * The first page of [*@idx, @end) that has metadata, its chunk referenced
 * (a scan of a range, M7): true, with *@idx moved to it and *@stop the end
 * of its chunk's part of the range; drop it with tdsm_chunk_put(r, *@idx).
 * False if none: a range costs what exists in it, not its length.
 */
bool tdsm_chunk_get_range(struct tdsm_region *r, unsigned long *idx,
			  unsigned long end, unsigned long *stop)
{
	unsigned long first;

	if (*idx >= end || !tdsm_chunk_get_next(r, *idx, &first))
		return false;
	if (first >= end) {
		tdsm_chunk_put(r, first);
		return false;
	}
	*idx = max(*idx, first);
	*stop = min(first + TDSM_CHUNK_PAGES, end);
	return true;
}

/* One step of tdsm_for_each_page(): false, with nothing held, at the end. */
bool tdsm_page_iter_next(struct tdsm_region *r, struct tdsm_page_iter *it,
			 unsigned long *idx, struct tdsm_page **pg)
{
	struct tdsm_chunk *c = it->c;

	if (!c || ++it->idx >= c->first + TDSM_CHUNK_PAGES ||
	    it->idx >= r->npages) {
		unsigned long key = c ? (c->first >> TDSM_CHUNK_SHIFT) + 1 : 0;

		if (c)
			refcount_dec(&c->refs);
		c = tdsm_chunk_next(r, key);
		it->c = c;
		if (!c)
			return false;
		it->idx = c->first;
		cond_resched();
	}
	*idx = it->idx;
	*pg = &c->pages[it->idx - c->first];
	return true;
}

/* ---- freeing idle chunks (M2, M3) -------------------------------------- */

enum tdsm_chunk_use {
	TDSM_CHUNK_IDLE,	/* may be freed */
	TDSM_CHUNK_BUSY,	/* idle but for a lock or a fetch in flight */
	TDSM_CHUNK_KEEP,	/* holds a copy, a directory entry, a home */
};

#define TDSM_PG_TRANSIENT \
	(BIT(TDSM_PG_LOCKED) | BIT(TDSM_PG_FETCHING) | BIT(TDSM_PG_GRANTED) | \
	 BIT(TDSM_PG_DIR))

/*
 * What page @idx's metadata @pg holds that a never-seen page, homed at
 * @def (its default home), does not (M2, M5). Read without its locks: the
 * worker's first look may be stale; the second, with nobody able to
 * reference the chunk, is not.
 * TDSM_PG_REFERENCED is the clock's hint (evict.c) and goes with the
 * chunk; TDSM_PG_CACHED keeps it, as the frame it counts does.
 */
static enum tdsm_chunk_use tdsm_page_use(struct tdsm_region *r,
					 unsigned long idx, u8 def,
					 const struct tdsm_page *pg)
{
	unsigned long flags = READ_ONCE(pg->flags) & ~BIT(TDSM_PG_REFERENCED);

	if (READ_ONCE(pg->frame) || READ_ONCE(pg->state) != TINYDSM_PAGE_INVALID ||
	    READ_ONCE(pg->home) != def || (flags & ~TDSM_PG_TRANSIENT))
		return TDSM_CHUNK_KEEP;
	/* Its home's directory entry: an owner, or a grant in doubt. */
	if (def == r->node_id &&
	    (READ_ONCE(pg->owner) || READ_ONCE(pg->copyset) ||
	     (!xa_empty(&r->doubts) && xa_load(&r->doubts, idx))))
		return TDSM_CHUNK_KEEP;
	return flags ? TDSM_CHUNK_BUSY : TDSM_CHUNK_IDLE;
}

static enum tdsm_chunk_use tdsm_chunk_use(struct tdsm_region *r,
					  const struct tdsm_chunk *c)
{
	enum tdsm_chunk_use use = TDSM_CHUNK_IDLE;
	u8 def = tdsm_chunk_default_home(r, c);
	unsigned long i;

	/* Notices of the shrinker's drops still to send (evict.c). */
	if (READ_ONCE(c->unnotified))
		use = TDSM_CHUNK_BUSY;
	for (i = 0; i < TDSM_CHUNK_PAGES; i++) {
		use = max(use, tdsm_page_use(r, c->first + i, def,
					     &c->pages[i]));
		if (use == TDSM_CHUNK_KEEP)
			break;
	}
	return use;
}

/*
 * Free chunk @c (stored at @key) if it is idle, was at the worker's last
 * pass too, and nobody references it: the store's reference goes to zero
 * under the xarray lock, so no lookup can take one (tdsm_chunk_find()
 * waits for the lock), M2 is checked again now that it cannot change, and
 * the chunk leaves the store and is freed after a grace period (lookups
 * under RCU may still read its count). Returns whether the worker must
 * look again: it is busy, or idle for the first time.
 */
static bool tdsm_chunk_free_idle(struct tdsm_region *r, unsigned long key,
				 struct tdsm_chunk *c)
{
	enum tdsm_chunk_use use = tdsm_chunk_use(r, c);

	if (use != TDSM_CHUNK_IDLE) {
		if (READ_ONCE(c->aged))
			WRITE_ONCE(c->aged, false);
		return use == TDSM_CHUNK_BUSY;
	}
	if (!READ_ONCE(c->aged)) {
		WRITE_ONCE(c->aged, true);
		return true;
	}
	xa_lock(&r->chunks);
	if (!refcount_dec_if_one(&c->refs)) {
		xa_unlock(&r->chunks);
		return true;
	}
	/* What the last user wrote before its put is seen below. */
	smp_acquire__after_ctrl_dep();
	if (tdsm_chunk_use(r, c) != TDSM_CHUNK_IDLE) {
		/* Not expected (M1): a user without a reference. Keep it. */
		WARN_ON_ONCE(1);
		refcount_set(&c->refs, 1);
		xa_unlock(&r->chunks);
		return false;
	}
	__xa_erase(&r->chunks, key);
	xa_unlock(&r->chunks);
	atomic_long_dec(&r->nchunks);
	call_rcu(&c->rcu, tdsm_chunk_free_rcu);
	return false;
}

/*
 * The chunk worker: the only place chunks are freed while the module is
 * loaded (M3). Runs after a kick; looks again later while some chunk was
 * idle for the first time, or idle but for a lock or a request in flight.
 */
static void tdsm_chunks_work(struct work_struct *work)
{
	struct tdsm_region *r = container_of(to_delayed_work(work),
					     struct tdsm_region, chunk_work);
	struct tdsm_chunk *c;
	unsigned long key;
	bool busy = false;

	/* Only this worker erases: each @c stays valid until it does. */
	xa_for_each(&r->chunks, key, c) {
		busy |= tdsm_chunk_free_idle(r, key, c);
		cond_resched();
	}
	if (busy)
		tdsm_chunks_kick(r);
}

/*
 * Some chunk may have gone idle (a copy dropped, a run freed, a chunk
 * created): let the worker look, within TDSM_CHUNK_WORK_DELAY.
 */
void tdsm_chunks_kick(struct tdsm_region *r)
{
	if (!READ_ONCE(r->chunk_work_off))
		queue_delayed_work(system_unbound_wq, &r->chunk_work,
				   TDSM_CHUNK_WORK_DELAY);
}

/* ---- the region's pages ------------------------------------------------ */

/*
 * @r->node_id, @r->max_nodes and @r->home_nodes are set; @npages is
 * home_nodes slices of a multiple of TDSM_SLICE_ALIGN pages.
 */
int tdsm_pages_init(struct tdsm_region *r, unsigned long npages)
{
	tdsm_chunk_cache = KMEM_CACHE(tdsm_chunk, 0);
	if (!tdsm_chunk_cache)
		return -ENOMEM;
	r->npages = npages;
	r->size = (u64)npages << PAGE_SHIFT;
	r->slice_pages = npages / r->home_nodes;
	xa_init(&r->xlate_pages);
	atomic_long_set(&r->nxlate, 0);
	xa_init(&r->chunks);
	atomic_long_set(&r->nchunks, 0);
	INIT_DELAYED_WORK(&r->chunk_work, tdsm_chunks_work);
	r->chunk_work_off = false;
	tdsm_runs_init(r);
	xa_init(&r->doubts);
	return 0;
}

/*
 * The bytes of page metadata this node holds: the chunks and the pages of
 * the translation table (tinydsm_stats.meta_bytes).
 */
u64 tdsm_meta_bytes(struct tdsm_region *r)
{
	return (u64)atomic_long_read(&r->nchunks) * sizeof(struct tdsm_chunk) +
	       (u64)atomic_long_read(&r->nxlate) * PAGE_SIZE;
}

/*
 * Table page @key was just made: a process that read the table there
 * before has the shared zero page mapped (tdsm_xlate_fault(), region.c),
 * which must go, so that its next read maps the real page. The barrier
 * pairs with the fault's, between its insert and its look at the store:
 * either the fault sees the page and zaps its own PTE, or this unmap sees
 * the PTE.
 */
static void tdsm_xlate_zap(struct tdsm_region *r, unsigned long key)
{
	struct address_space *mapping = READ_ONCE(r->mapping);

	smp_mb();	/* the store, then the PTEs: the fault's pairs */
	if (mapping)
		unmap_mapping_range(mapping, TINYDSM_XLATE_OFFSET +
				    ((loff_t)key << PAGE_SHIFT), PAGE_SIZE, 0);
}

/*
 * Page @key of the translation table (the bytes of region pages @key *
 * PAGE_SIZE on), allocated zeroed if it is not yet: every page under it
 * that has no metadata is INVALID, byte 0. NULL: no memory. Only a chunk
 * makes one (a read maps the zero page instead), so the table costs a
 * page per 4096 region pages with metadata at some time, not per page
 * read. A table page stays until unload, so the pointer needs no
 * reference.
 */
struct page *tdsm_xlate_page(struct tdsm_region *r, unsigned long key)
{
	struct page *table = xa_load(&r->xlate_pages, key), *old;

	if (table)
		return table;
	table = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!table)
		return NULL;
	old = xa_cmpxchg(&r->xlate_pages, key, NULL, table, GFP_KERNEL);
	if (old) {
		/* Made meanwhile by another (or no memory for the slot). */
		__free_page(table);
		return xa_is_err(old) ? NULL : old;
	}
	atomic_long_inc(&r->nxlate);
	tdsm_xlate_zap(r, key);
	return table;
}

/*
 * Set what this node holds of page @idx, @pg (enum tinydsm_page_state) and
 * publish it in the translation table that the lookup form of access sites
 * reads. The page lock is held (so is its chunk, M1: its table bytes are
 * found from @pg, without a lookup).
 */
void tdsm_page_set_state(struct tdsm_page *pg, unsigned long idx, u8 state)
{
	struct tdsm_chunk *c = tdsm_pg_chunk(pg, idx);

	tdsm_page_assert_locked(pg);
	tdsm_pg_assert_held(pg, idx);
	pg->state = state;
	WRITE_ONCE(c->xlate[idx - c->first], state);
}

/*
 * Called once no file is open, no mapping, connection or worker of the
 * module's is left (the module is unloading): every chunk goes, idle or
 * not, and the frames with them.
 */
void tdsm_pages_exit(struct tdsm_region *r)
{
	struct tdsm_chunk *c;
	struct page *table;
	unsigned long key, i;

	WRITE_ONCE(r->chunk_work_off, true);
	cancel_delayed_work_sync(&r->chunk_work);
	tdsm_doubt_exit(r);
	xa_for_each(&r->chunks, key, c) {
		for (i = 0; i < TDSM_CHUNK_PAGES; i++) {
			struct tdsm_page *pg = &c->pages[i];

			if (!pg->frame)
				continue;
			/*
			 * Every mapping is gone; a pin may outlive its
			 * process, which tdsm_frames_exit() waits for.
			 */
			tdsm_frame_release(pg->frame);
			put_page(pg->frame);
			pg->frame = NULL;
			atomic64_dec(&r->frames);
		}
		WARN_ON_ONCE(refcount_read(&c->refs) != 1);
		kmem_cache_free(tdsm_chunk_cache, c);
		atomic_long_dec(&r->nchunks);
	}
	xa_destroy(&r->chunks);
	WARN(atomic64_read(&r->frames), "tinydsm: %lld frames leaked\n",
	     (long long)atomic64_read(&r->frames));
	tdsm_runs_exit(r);
	/* No process maps the table any more: its pages go. */
	xa_for_each(&r->xlate_pages, key, table) {
		__free_page(table);
		atomic_long_dec(&r->nxlate);
	}
	xa_destroy(&r->xlate_pages);
	r->npages = 0;
	/* Chunks the worker freed may still wait for their grace period. */
	rcu_barrier();
	kmem_cache_destroy(tdsm_chunk_cache);
	tdsm_chunk_cache = NULL;
}

/*
 * The index of the page holding global address @addr in *@idx; false if
 * @addr is outside the region.
 */
bool tdsm_addr_idx(struct tdsm_region *r, u64 addr, unsigned long *idx)
{
	if (addr < TINYDSM_REGION_BASE || addr - TINYDSM_REGION_BASE >= r->size)
		return false;
	*idx = (addr - TINYDSM_REGION_BASE) >> PAGE_SHIFT;
	return true;
}

/*
 * Copy out the fields of page @idx into @info: those of @pg, whose page
 * lock the caller holds, or with @pg NULL those of a page this node has no
 * metadata for (M4, M5: never seen here): its default home, the rest zero,
 * as tdsm_chunk_alloc() would make it.
 */
void tdsm_page_fill_info(const struct tdsm_region *r, unsigned long idx,
			 struct tdsm_page *pg, struct tinydsm_page_info *info)
{
	info->flags = 0;
	if (!pg) {
		info->fault_ip = 0;
		info->copyset = 0;
		info->holders = 0;
		info->owner = 0;
		info->state = TINYDSM_PAGE_INVALID;
		info->faults = 0;
		info->home = tdsm_default_home(r, idx);
		return;
	}
	tdsm_page_assert_locked(pg);
	info->fault_ip = pg->fault_ip;
	info->copyset = tdsm_nset_u32(pg->copyset);
	info->holders = pg->copyset;
	info->owner = pg->owner;
	info->state = pg->state;
	/* Not a frame retained after giving the page up: it backs nothing. */
	if (pg->frame && pg->state != TINYDSM_PAGE_INVALID)
		info->flags |= TINYDSM_PAGE_F_PRESENT;
	if (test_bit(TDSM_PG_WRITTEN, &pg->flags))
		info->flags |= TINYDSM_PAGE_F_WRITTEN;
	if (test_bit(TDSM_PG_MOVED, &pg->flags))
		info->flags |= TINYDSM_PAGE_F_MOVED;
	info->faults = pg->faults;
	info->home = tdsm_page_home(pg);
}
