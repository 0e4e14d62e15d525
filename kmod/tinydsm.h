/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm: module-internal declarations shared by its files.
 */
#ifndef _TDSM_TINYDSM_H
#define _TDSM_TINYDSM_H

#include <linux/atomic.h>
#include <linux/bitops.h>
#include <linux/build_bug.h>
#include <linux/lockdep.h>
#include <linux/maple_tree.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <linux/tinydsm.h>

#include "lock.h"

/* bits of tdsm_page.flags */
enum {
	TDSM_PG_LOCKED,		/* sleeping bit lock guarding the page's fields */
	TDSM_PG_WRITTEN,	/* written here since this node got the page */
	TDSM_PG_FETCHING,	/* a fault here asked for the page; others wait */
	TDSM_PG_GRANTED,	/* ...its reply arrived, not yet installed; waitable */
	TDSM_PG_DIR,		/* home: a directory transaction is running */
	TDSM_PG_MOVED,		/* the copy here went away with a migration */
	TDSM_PG_CACHED,		/* @frame counts in tdsm_region.cached (evict.c) */
	TDSM_PG_REFERENCED,	/* used since the clock last passed (evict.c) */
	TDSM_PG_MAPPED,		/* @frame may be in a user PTE (region.c, proto.c) */
	TDSM_PG_CHARGED,	/* home: charged by itself to the budget (budget.c) */
	TDSM_PG_PLACED,		/* default home: PLACE sent it away (place.c) */
};

/*
 * Node ids are 1 .. TDSM_NODES_MAX, 64: the bits of a node set below (and
 * u8 on the wire and in struct tdsm_page). An array indexed by node id has
 * TDSM_NODES_MAX + 1 entries. The uapi's TINYDSM_MAX_NODES counts id 0.
 */
#define TDSM_NODES_MAX	(TINYDSM_MAX_NODES - 1)

/*
 * A set of nodes (a copyset, the holders of a migration) is a u64 with bit
 * n - 1 for node n: 64 nodes need all 64 bits. Every bit of a node set goes
 * through tdsm_nbit(); node 0 ("none") has no bit. @node must be at most
 * TDSM_NODES_MAX (callers check ids where they come in).
 */
static inline u64 tdsm_nbit(unsigned int node)
{
	BUILD_BUG_ON(TDSM_NODES_MAX != 64);
	return node ? BIT_ULL(node - 1) : 0;
}

/*
 * Take the lowest node out of *@left into *@n; false once *@left is empty.
 * For tdsm_for_each_node().
 */
static inline bool tdsm_node_pop(u64 *left, unsigned int *n)
{
	if (!*left)
		return false;
	*n = __ffs64(*left) + 1;
	*left &= *left - 1;
	return true;
}

/*
 * @set as the u32 bitmaps of ABI 1 (bit n = node n, nodes 1..31): the
 * page info's copyset, TINYDSM_A_HOLDERS. Nodes 32..64 are left out.
 */
static inline u32 tdsm_nset_u32(u64 set)
{
	return (u32)(set << 1);
}

/*
 * Every node @n (unsigned int) of the node set @set, lowest first; @set is
 * read once, before the first node.
 */
#define tdsm_for_each_node(n, set)					\
	for (u64 tdsm_left_ = (set); tdsm_node_pop(&tdsm_left_, &(n));)

/* Access sites remembered per page (struct tdsm_page.sites). */
#define TDSM_PAGE_SITES	2

/**
 * struct tdsm_page - what one node knows of one page of the region
 * @flags: TDSM_PG_* bits; TDSM_PG_LOCKED is the page's short lock, taken
 *	with tdsm_page_lock(); TDSM_PG_DIR the home's transaction lock
 *	(tdsm_dir_lock(); both in lock.h). @frame, @fault_ip, @state and
 *	@faults are protected by TDSM_PG_LOCKED; on the home, @owner and @copyset by TDSM_PG_DIR
 *	(readers for information, like the page-info ioctl, may race). @home
 *	changes only with a migration or a forwarding hint: written under
 *	TDSM_PG_LOCKED (and, on the nodes a migration runs between, under
 *	TDSM_PG_DIR too), read with tdsm_page_home() without a lock.
 * @frame: the local copy, or NULL. In state INVALID, on a node that is
 *	not the home and names itself @owner, a frame retained after giving
 *	the page up for a write (proto.c: tdsm_local_give_up()): never mapped,
 *	served only to the home's FETCH.
 * @fault_ip: user IP of the last fault on this page here, 0 if none.
 * @copyset: nodes holding a valid copy, a node set (tdsm_nbit()).
 * @owner: owning node id, 0 if never touched.
 * @state: enum tinydsm_page_state.
 * @home: the node that keeps this page's directory entry, as this node
 *	knows it: a node that holds a copy always knows the current home (a
 *	migration tells every holder); others may name an older home, which
 *	forwards (TDSM_WS_NOTHOME with a hint).
 * @faults: faults taken on this page here, saturating.
 * @epoch: on the home, the id of the page's latest directory transaction
 *	(TDSM_PG_DIR); on another node, the id of the transaction that
 *	granted this node's copy (TDSM_PG_LOCKED), so that an INVAL or FETCH
 *	not newer than the copy, sent by a transaction its home gave up on,
 *	is told apart and ignored (proto.c, "Epochs").
 * @sites: the ids of up to TDSM_PAGE_SITES access sites that touched the
 *	page here (0: none), for page events to find (site.c); hints,
 *	written with WRITE_ONCE and read without a lock (a stale id finds no
 *	site or a harmless one).
 *
 * On the page's home, @owner and @copyset are the directory entry; on any
 * other node they are what this node last learnt, for information only.
 *
 * The page's address is implicit: TINYDSM_REGION_BASE + index * PAGE_SIZE.
 * Kept at 48 bytes (1.2% of a 4 KiB page) so that a big region's metadata
 * stays small. The region info reports the size without @sites
 * (TDSM_PAGE_META_BYTES).
 */
struct tdsm_page {
	unsigned long flags;
	struct page *frame;
	unsigned long fault_ip;
	u64 copyset;
	u8 owner;
	u8 state;
	u8 home;
	u8 faults;
	u32 epoch;
	u32 sites[TDSM_PAGE_SITES];
};

static_assert(sizeof(struct tdsm_page) == 48);

/* meta_bytes_per_page of the region info: the page's state, not its hints. */
#define TDSM_PAGE_META_BYTES \
	(sizeof(struct tdsm_page) - sizeof_field(struct tdsm_page, sites))

struct tdsm_region;
void tdsm_cache_note(struct tdsm_region *r, struct tdsm_page *pg);
extern struct tdsm_region tdsm_region;

static inline u8 tdsm_page_home(const struct tdsm_page *pg)
{
	return READ_ONCE(pg->home);
}

/*
 * The home changes under the page lock: a check of the home this node
 * knows and its update are then one step, and no change (a migration's
 * INVAL naming the new home, a forwarding hint) undoes another.
 */
static inline void tdsm_page_set_home(struct tdsm_page *pg, u8 home)
{
	tdsm_page_assert_locked(pg);
	WRITE_ONCE(pg->home, home);
	/* A frame of a page homed here is not a cached one, and back. */
	tdsm_cache_note(&tdsm_region, pg);
}

/* Home slices are whole 64-page chunks: one default home per chunk. */
#define TDSM_SLICE_ALIGN	64

/* Sequential read streams followed at once per node (readahead.c). */
#define TDSM_RA_STREAMS		4

/**
 * struct tdsm_region - the node's one region
 * @chunks: the pages' metadata, struct tdsm_chunk by page index / 64,
 *	created on use and freed when idle; used only through page.h
 *	(tdsm_chunk_get(), tdsm_pg() and others; rules M1-M7 there).
 * @nchunks: chunks in @chunks (tinydsm_stats.chunks).
 * @chunk_work: the chunk worker, which frees idle chunks (page.c; not the
 *	cache's reclaim work, evict.c).
 * @chunk_work_off: set at unload, before the worker is cancelled for good.
 * @npages: size of the region in pages; fixed while the module is loaded.
 *	Up to 2^32 (16 TiB): page indices are unsigned long, never u32.
 * @size: size in bytes.
 * @node_id: this node's id, 1 .. max_nodes.
 * @max_nodes: the highest node id (module parameter, the same everywhere).
 * @home_nodes: nodes that home a slice, 1 .. max_nodes (module parameter,
 *	the same everywhere); nodes above it home no slice.
 * @slice_pages: pages per home slice, a multiple of TDSM_SLICE_ALIGN;
 *	slice n - 1 is homed on node n, for n up to @home_nodes, and
 *	@npages is @home_nodes slices.
 * @mapping: the address space every open file of the device shares, so that
 *	one unmap_mapping_range() reaches every process's mapping.
 * @alloc_lock: serialises the changes of @runs (its external lock);
 *	tdsm_runs_cover() reads @runs under RCU instead (alloc.c).
 * @runs: as a home, the allocated runs of this node's slice
 *	(TINYDSM_IOC_ALLOC): a maple tree that maps each run's pages (indices
 *	in the slice) to who allocated it, struct tdsm_run, from whichever
 *	node; its gaps are the free space (alloc.c, PROTOCOL.md "Who may free
 *	a run").
 * @read_faults, @write_faults, @frames, @frames_allocated, @remote_faults,
 * @invalidations, @fetches, @migrated_in, @migrated_out, @repopulated,
 * @prefaults, @forwards: counters, see struct tinydsm_stats.
 * @xlate_pages: the translation table: one byte per page, its state here
 *	(enum tinydsm_page_state), mapped read-only into processes; written
 *	with the state, under the page lock (tdsm_page_set_state()). Sparse:
 *	struct page by index / PAGE_SIZE (each covers PAGE_SIZE pages),
 *	allocated zeroed when a chunk under it is created
 *	(tdsm_xlate_page(); a read where none is maps the zero page), freed
 *	at unload.
 * @nxlate: pages in @xlate_pages.
 * @sites_direct, @sites_lookup, @word_remote, @word_served: counters, see
 *	struct tinydsm_stats.
 * @storm_start: jiffies when the current fault-storm interval began.
 * @storm_faults_seen: read + write faults when it began (region.c).
 * @txn_id: the id of this node's latest directory transaction, as a home:
 *	every transaction takes the next (tdsm_txn_next()); never behind the
 *	epoch of a page that migrated here.
 * @doubts: as a home, the write grants in doubt (their reply went out, its
 *	completion failed), struct tdsm_doubt by page index, each under its
 *	page's TDSM_PG_DIR (proto.c, PROTOCOL.md "Grants in doubt").
 * @cached: frames here of pages homed elsewhere, retained ones too: the
 *	pages with TDSM_PG_CACHED (evict.c, tdsm_cache_note()).
 * @evicted_clean, @evicted_written, @evict_released, @evict_failed,
 * @evict_batches, @evict_batch_pages, @reclaim_runs, @reclaim_ns:
 *	counters, see struct tinydsm_stats.
 * @clock_hand: the page the cache's clock looks at next (evict.c; only
 *	its reclaim work moves it).
 * @home_charged: pages charged to the home budget (budget.c, H1).
 * @home_refused: counter, see struct tinydsm_stats.
 * @shrinker_freed: counter, see struct tinydsm_stats.
 * @clock_young: counter, see struct tinydsm_stats.
 * @ra_streams: the sequential read streams read-ahead follows, each the
 *	index of the page its next fault would be on (readahead.c; read and
 *	written without a lock, a hint only).
 * @ra_victim: the stream slot a new stream takes next (round robin).
 * @readahead_batches, @readahead_pages: counters, see struct tinydsm_stats.
 */
struct tdsm_region {
	struct xarray chunks;
	atomic_long_t nchunks;
	struct delayed_work chunk_work;
	bool chunk_work_off;
	unsigned long npages;
	u64 size;
	u8 node_id;
	u8 max_nodes;
	u8 home_nodes;
	unsigned long slice_pages;
	struct address_space *mapping;
	struct mutex alloc_lock;	/* serialises changes of runs */
	struct maple_tree runs;
	atomic64_t read_faults;
	atomic64_t write_faults;
	atomic64_t frames;
	atomic64_t frames_allocated;
	atomic64_t remote_faults;
	atomic64_t invalidations;
	atomic64_t fetches;
	atomic64_t migrated_in;
	atomic64_t migrated_out;
	atomic64_t repopulated;
	atomic64_t prefaults;
	atomic64_t forwards;
	struct xarray xlate_pages;
	atomic_long_t nxlate;
	atomic64_t sites_direct;
	atomic64_t sites_lookup;
	atomic64_t word_remote;
	atomic64_t word_served;
	unsigned long storm_start;
	u64 storm_faults_seen;
	atomic_t txn_id;
	struct xarray doubts;
	atomic64_t cached;
	atomic64_t evicted_clean;
	atomic64_t evicted_written;
	atomic64_t evict_released;
	atomic64_t evict_failed;
	atomic64_t evict_batches;
	atomic64_t evict_batch_pages;
	atomic64_t reclaim_runs;
	atomic64_t reclaim_ns;
	unsigned long clock_hand;
	atomic64_t home_charged;
	atomic64_t home_refused;
	atomic64_t shrinker_freed;
	atomic64_t clock_young;
	unsigned long ra_streams[TDSM_RA_STREAMS];
	unsigned int ra_victim;
	atomic64_t readahead_batches;
	atomic64_t readahead_pages;
};

#endif /* _TDSM_TINYDSM_H */
