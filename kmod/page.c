// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: per-page metadata of the region.
 *
 * One struct tdsm_page per page of the region, in one array allocated at
 * load time; page i's home is node i / slice_pages + 1. Each page has its
 * own sleeping locks, bits in its flags word (lock.c), so that a
 * fault that waits for the network holds only its page, and the metadata
 * stays at 48 bytes a page (with its access-site hints).
 */
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/wait_bit.h>

#include "alloc.h"
#include "page.h"
#include "proto.h"
#include "tinydsm.h"

/*
 * @r->node_id, @r->max_nodes and @r->home_nodes are set; @npages is
 * home_nodes slices of a multiple of TDSM_SLICE_ALIGN pages.
 */
int tdsm_pages_init(struct tdsm_region *r, unsigned long npages)
{
	struct tdsm_page *pg;
	unsigned long i;

	r->pages = kvcalloc(npages, sizeof(*r->pages), GFP_KERNEL);
	if (!r->pages)
		return -ENOMEM;
	r->npages = npages;
	r->size = (u64)npages << PAGE_SHIFT;
	r->slice_pages = npages / r->home_nodes;
	/* One byte per page, mapped read-only by processes (TINYDSM_XLATE_OFFSET). */
	r->xlate = vmalloc_user(PAGE_ALIGN(npages));
	if (!r->xlate) {
		kvfree(r->pages);
		r->pages = NULL;
		return -ENOMEM;
	}
	tdsm_runs_init(r);
	xa_init(&r->doubts);
	tdsm_for_each_page(r, i, pg)
		pg->home = i / r->slice_pages + 1;
	return 0;
}

/*
 * Set what this node holds of page @idx (enum tinydsm_page_state) and
 * publish it in the translation table that the lookup form of access sites
 * reads. The page lock is held.
 */
void tdsm_page_set_state(struct tdsm_region *r, unsigned long idx, u8 state)
{
	struct tdsm_page *pg = tdsm_pg(r, idx);

	tdsm_page_assert_locked(pg);
	pg->state = state;
	WRITE_ONCE(r->xlate[idx], state);
}

/* Called once no file is open and no mapping exists (the module is unloading). */
void tdsm_pages_exit(struct tdsm_region *r)
{
	struct tdsm_page *pg;
	unsigned long i;

	tdsm_doubt_exit(r);
	tdsm_for_each_page(r, i, pg) {
		if (!pg->frame)
			continue;
		/* Only our reference may be left: every mapping is gone. */
		WARN_ON_ONCE(page_count(pg->frame) != 1);
		put_page(pg->frame);
		pg->frame = NULL;
		atomic64_dec(&r->frames);
	}
	WARN(atomic64_read(&r->frames), "tinydsm: %lld frames leaked\n",
	     (long long)atomic64_read(&r->frames));
	tdsm_runs_exit(r);
	vfree(r->xlate);
	r->xlate = NULL;
	kvfree(r->pages);
	r->pages = NULL;
	r->npages = 0;
}

/*
 * The metadata of the page holding global address @addr, NULL if outside.
 * A caller that sleeps with it takes tdsm_chunk_get() on its index (page.h).
 */
struct tdsm_page *tdsm_page_at(struct tdsm_region *r, unsigned long addr)
{
	if (addr < TINYDSM_REGION_BASE || addr - TINYDSM_REGION_BASE >= r->size)
		return NULL;
	return tdsm_pg(r, (addr - TINYDSM_REGION_BASE) >> PAGE_SHIFT);
}

/* Copy out the page's fields; the caller holds the page lock. */
void tdsm_page_fill_info(struct tdsm_page *pg, struct tinydsm_page_info *info)
{
	tdsm_page_assert_locked(pg);
	info->fault_ip = pg->fault_ip;
	info->copyset = tdsm_nset_u32(pg->copyset);
	info->holders = pg->copyset;
	info->owner = pg->owner;
	info->state = pg->state;
	info->flags = 0;
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
