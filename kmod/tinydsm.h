/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm: module-internal declarations shared by its files.
 */
#ifndef _TDSM_TINYDSM_H
#define _TDSM_TINYDSM_H

#include <linux/atomic.h>
#include <linux/build_bug.h>
#include <linux/mm_types.h>
#include <linux/types.h>
#include <linux/tinydsm.h>

/* bits of tdsm_page.flags */
enum {
	TDSM_PG_LOCKED,		/* sleeping bit lock guarding the page's fields */
	TDSM_PG_WRITTEN,	/* written here since this node got the page */
};

/**
 * struct tdsm_page - what one node knows of one page of the region
 * @flags: TDSM_PG_* bits; TDSM_PG_LOCKED is the page's lock, taken with
 *	tdsm_page_lock(). Every other field is protected by it.
 * @frame: the local copy, or NULL.
 * @fault_ip: user IP of the last fault on this page here, 0 if none.
 * @copyset: nodes holding a valid copy, bit n = node n.
 * @owner: owning node id, 0 if never touched.
 * @state: enum tinydsm_page_state.
 * @faults: faults taken on this page here, saturating.
 *
 * The page's address is implicit: TINYDSM_REGION_BASE + index * PAGE_SIZE.
 * Kept at 32 bytes (0.8% of a 4 KiB page) so that a big region's metadata
 * stays small; the size is reported to user space in the region info.
 */
struct tdsm_page {
	unsigned long flags;
	struct page *frame;
	unsigned long fault_ip;
	u32 copyset;
	u8 owner;
	u8 state;
	u16 faults;
};

static_assert(sizeof(struct tdsm_page) == 32);

/**
 * struct tdsm_region - the node's one region
 * @pages: metadata of every page, npages entries, allocated at load.
 * @npages: size of the region in pages; fixed while the module is loaded.
 * @size: size in bytes.
 * @node_id: this node's id, 1 .. TINYDSM_MAX_NODES - 1.
 * @mapping: the address space every open file of the device shares, so that
 *	one unmap_mapping_range() reaches every process's mapping.
 * @read_faults, @write_faults, @frames, @frames_allocated: counters, see
 *	struct tinydsm_stats.
 */
struct tdsm_region {
	struct tdsm_page *pages;
	unsigned long npages;
	u64 size;
	u8 node_id;
	struct address_space *mapping;
	atomic64_t read_faults;
	atomic64_t write_faults;
	atomic64_t frames;
	atomic64_t frames_allocated;
};

extern struct tdsm_region tdsm_region;

/* page.c */
int tdsm_pages_init(struct tdsm_region *r, unsigned long npages);
void tdsm_pages_exit(struct tdsm_region *r);
int __must_check tdsm_page_lock(struct tdsm_page *pg);
void tdsm_page_unlock(struct tdsm_page *pg);
struct tdsm_page *tdsm_page_at(struct tdsm_region *r, unsigned long addr);
void tdsm_page_fill_info(struct tdsm_page *pg, struct tinydsm_page_info *info);

/* region.c */
int tdsm_region_init(void);
void tdsm_region_exit(void);

#endif /* _TDSM_TINYDSM_H */
