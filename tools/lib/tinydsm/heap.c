// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * libtinydsm: a heap in the region, shared by the ranks of a job on every
 * node: tdsm_malloc() on one node, tdsm_mfree() on any.
 *
 * Why not dlmalloc, jemalloc or mimalloc in the region. dlmalloc keeps
 * one malloc_state per mspace (bins, top, segment list) and coalesces a
 * freed chunk with its neighbours' boundary tags: every free, from any
 * node, writes the neighbours' pages and the one page of bins, under one
 * lock all nodes take, so the bins page moves on every call; it grows by
 * MORECORE/mmap, not by runs of a home. jemalloc and mimalloc find their
 * metadata from a pointer through process-local structures (jemalloc's
 * rtree radix tree, mimalloc's segments masked out of an address aligned
 * to 32 MiB, which a run of the module is not), hand blocks out from
 * per-thread caches reached through TLS (tcache, mi_heap_t), recognise the
 * owner of a page by a thread id (mimalloc's page->xthread_free compares
 * _mi_thread_id()), and give memory back with madvise(), which on the
 * region would drop a page some other node may own. None of that is
 * valid in another process, let alone on another node. What we keep is
 * mimalloc's delayed free: a block freed away from its node is pushed
 * onto a list its node takes back later.
 *
 * Layout. Every pointer below is a region address; nothing in the region
 * points to process memory.
 *
 *   root (job.c)    arenas[node]: each node's arena, 0 until the node's
 *                   first malloc makes it (one CAS at the root's home)
 *   arena           one page ALLOCed by its node, homed there: a
 *                   tdsm_mutex_t, a free list per size class, the rest of
 *                   the newest chunk, the chunks, the remote-free list,
 *                   the node's stats. Shared by the node's processes.
 *   chunk           CHUNK_PAGES (64 pages, 256 KiB) ALLOCed by the arena's
 *                   node, homed there, cut into small blocks: one ALLOC
 *                   serves many mallocs
 *   block           a 16-byte header (magic, node, size class, a word)
 *                   then the caller's bytes, 16-byte aligned; a free
 *                   block links the next in its first 8 bytes
 *   large block     more than TDSM_SMALL_MAX bytes: a run of its own
 *                   (tdsm_alloc()), the header at its start
 *
 * Size classes: 32 .. 128 bytes by 16, then four per power of two up to
 * 16 KiB, header included (at most 25% lost to rounding above 128).
 *
 * A malloc takes its node's arena lock: an atomic on a page homed here,
 * so the processor's own unless another node took the page. A free on
 * the block's node does the same. A free on another node takes no lock:
 * it pushes the block on the arena's remote-free list with a CAS done at
 * the arena's home (tdsm_atomic()), and the node takes the whole list
 * back with one exchange when a malloc finds its class empty, at every
 * large malloc and at tdsm_heap_stats(). Push and take-all only, so the
 * list has no ABA problem. Large runs freed away from their node go back
 * the same way: the module lets only the node that ALLOCed a run FREE it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tinydsm.h"

#define PAGE		4096u
#define HDR		16u		/* block header; keeps 16-byte alignment */
#define CHUNK_PAGES	64u		/* one ALLOC of small blocks: 256 KiB */
#define CHUNK_BYTES	(CHUNK_PAGES * PAGE)
#define MIN_BLOCK	32u		/* a header and a free list's link */
#define SMALL_BYTES	16384u		/* largest small block, header included */
#define NCLASS		35u
#define CLS_LARGE	0xffu
/*
 * Large runs freed on their node are kept for the next large malloc of
 * about their size, up to this many bytes an arena: an ALLOC and a FREE,
 * each a round trip to the home, saved per reuse. tdsm_finalize() (and a
 * malloc the home refuses for want of room) gives them back.
 */
#define KEEP_RUN_BYTES	(8u << 20)
#define BLK_RECYCLED	1u	/* blk.reserved: a kept run, not zeroed */
#define BLK_PLACED	2u	/* blk.reserved: a run interleaved, not kept */
#define GROUP_BYTES	(64u * PAGE)	/* what PLACE moves in one batch */

#define BLK_USED	0x75736564u	/* "used" */
#define BLK_FREE	0x66726565u	/* "free" */
#define BLK_ALIGNED	0x616c676eu	/* "algn": word is the offset back */
#define ARENA_MAGIC	0x746473616172656eULL

_Static_assert(TDSM_SMALL_MAX == SMALL_BYTES - HDR, "TDSM_SMALL_MAX");

struct blk {
	uint32_t magic;
	uint8_t node;		/* the arena it comes from */
	uint8_t cls;		/* size class, or CLS_LARGE */
	uint16_t reserved;
	uint64_t word;		/* large: pages of its run; aligned: offset */
};

struct chunk {
	uint64_t next;
	uint64_t reserved;
};

struct arena {
	tdsm_mutex_t lock;
	uint32_t node;
	uint64_t magic;
	uint64_t rfree;		/* freed on other nodes: atomics only */
	uint64_t bump, end;	/* the newest chunk's part never handed out */
	uint64_t chunks;	/* linked by struct chunk.next */
	uint64_t free[NCLASS];
	uint64_t runs;		/* kept large runs, linked like free blocks */
	uint64_t runs_bytes;
	struct tdsm_heap_stats st;
};

_Static_assert(sizeof(struct blk) == HDR, "block header");
_Static_assert(sizeof(struct chunk) == HDR, "chunk header");
_Static_assert(sizeof(struct arena) <= PAGE, "an arena is one page");

/* This node's arena, once found: a cache of the root's slot. */
static struct arena *mine TDSM__PRIVATE;

static unsigned int size_class(size_t need)
{
	unsigned int shift;

	if (need < MIN_BLOCK)
		need = MIN_BLOCK;
	if (need <= 128)
		return (need + 15) / 16 - 2;
	shift = 63 - __builtin_clzll(need - 1);
	return 7 + (shift - 7) * 4 + (((need - 1) >> (shift - 2)) - 4);
}

static size_t class_size(unsigned int c)
{
	if (c < 7)
		return (c + 2) * 16;
	return (size_t)(4 + (c - 7) % 4 + 1) << (7 + (c - 7) / 4 - 2);
}

static struct blk *hdr_of(const void *p)
{
	return (struct blk *)((uintptr_t)p - HDR);
}

static void *data_of(struct blk *b)
{
	return (uint8_t *)b + HDR;
}

/* The link of a free block: its first 8 bytes of data. */
static uint64_t *link_of(struct blk *b)
{
	return data_of(b);
}

static size_t block_bytes(const struct blk *b)
{
	return b->cls == CLS_LARGE ? b->word * PAGE : class_size(b->cls);
}

static unsigned int this_node(void)
{
	const struct tinydsm_region_info *ri = tdsm_region_info();

	return ri ? ri->node_id : 0;
}

/*
 * The home of this node's runs: this node, unless it homes no slice
 * (above home_nodes; 0 means max_nodes), which only caches: then one of
 * the homes, spread by node id. The run is still ALLOCed through this
 * node, so this node may FREE it.
 */
unsigned int tdsm__run_home(void)
{
	const struct tinydsm_region_info *ri = tdsm_region_info();
	unsigned int homes = ri->home_nodes ? ri->home_nodes : ri->max_nodes;

	if (!homes || ri->node_id <= homes)
		return 0;
	return (ri->node_id - 1) % homes + 1;
}

/* malloc's contract: a home without room is ENOMEM. */
static void *nomem(int err)
{
	errno = err == ENOSPC ? ENOMEM : err;
	return NULL;
}

static void *fail_null(int err, const char *what, size_t n)
{
	errno = -tdsm__fail(err, "%s of %zu bytes", what, n);
	return NULL;
}

static int lock(struct arena *a)
{
	int err = tdsm_mutex_lock(&a->lock);

	return err ? tdsm__fail(-err, "heap: lock of node %u's arena",
				a->node) : 0;
}

/* The arena is this node's: its mutex is here, the unlock cannot fail. */
static void unlock(struct arena *a)
{
	tdsm_mutex_unlock(&a->lock);
}

/*
 * Node @node's arena from the root's table. Only this node's is checked:
 * reading another's would take a copy of its page from its node, which
 * the next lock there would have to take back.
 */
static struct arena *arena_at(uint64_t *arenas, unsigned int node)
{
	struct arena *a;

	a = (struct arena *)(uintptr_t)__atomic_load_n(&arenas[node],
						      __ATOMIC_ACQUIRE);
	if (a && node == this_node() &&
	    (a->magic != ARENA_MAGIC || a->node != node)) {
		errno = -tdsm__fail(EPROTO, "heap: node %u's arena at %p is "
				    "not one", node, (void *)a);
		return NULL;
	}
	return a;
}

/*
 * Under the lock (or before the arena is published): @n more bytes of
 * runs held, and the most ever held.
 */
static void mapped_add(struct arena *a, uint64_t n)
{
	a->st.bytes_mapped += n;
	if (a->st.bytes_mapped > a->st.bytes_mapped_peak)
		a->st.bytes_mapped_peak = a->st.bytes_mapped;
}

/* This node's arena, made by its first malloc (a lost race frees ours). */
static struct arena *my_arena(void)
{
	struct arena *a = __atomic_load_n(&mine, __ATOMIC_ACQUIRE);
	uint64_t *arenas, old;
	unsigned int node;
	int err;

	if (a)
		return a;
	arenas = tdsm__job_arenas();
	if (!arenas)
		return NULL;
	node = this_node();
	if (!node || node >= TINYDSM_MAX_NODES) {
		errno = -tdsm__fail(EPROTO, "heap: this node's id %u", node);
		return NULL;
	}
	errno = 0;
	a = arena_at(arenas, node);
	if (!a && errno)
		return NULL;
	if (!a) {
		a = tdsm_alloc(1, tdsm__run_home());
		if (!a)
			return nomem(errno);
		a->node = node;
		a->magic = ARENA_MAGIC;
		a->st.node = node;
		a->st.allocs = 1;
		mapped_add(a, PAGE);
		err = tdsm_atomic(TINYDSM_ATOMIC_CAS, &arenas[node], 8,
				  (uintptr_t)a, 0, &old);
		if (err || old) {
			tdsm_free(a, 1);
			if (err) {
				errno = -tdsm__fail(-err, "heap: publishing "
						    "node %u's arena", node);
				return NULL;
			}
			a = arena_at(arenas, node);
			if (!a)
				return NULL;
		}
	}
	__atomic_store_n(&mine, a, __ATOMIC_RELEASE);
	return a;
}

static void push(struct arena *a, struct blk *b)
{
	b->magic = BLK_FREE;
	*link_of(b) = a->free[b->cls];
	a->free[b->cls] = (uintptr_t)b;
}

static struct blk *pop(struct arena *a, unsigned int c)
{
	struct blk *b = (struct blk *)(uintptr_t)a->free[c];

	if (b)
		a->free[c] = *link_of(b);
	return b;
}

/* Under the lock: keep the free large run @b, if there is room. */
static bool keep_run(struct arena *a, struct blk *b)
{
	uint64_t bytes = b->word * PAGE;

	/* Placed elsewhere: the next malloc may want another placement. */
	if (b->reserved == BLK_PLACED || a->runs_bytes + bytes > KEEP_RUN_BYTES)
		return false;
	b->magic = BLK_FREE;
	*link_of(b) = a->runs;
	a->runs = (uintptr_t)b;
	a->runs_bytes += bytes;
	a->st.runs_kept++;
	a->st.bytes_kept += bytes;
	return true;
}

/*
 * Under the lock: take back what other nodes freed. Large runs go on
 * *large, to be FREEd once the lock is dropped. A failed exchange leaves
 * the list for the next time.
 */
static void collect(struct arena *a, struct blk **large)
{
	uint64_t head;
	struct blk *b;

	if (!__atomic_load_n(&a->rfree, __ATOMIC_RELAXED))
		return;
	if (tdsm_atomic(TINYDSM_ATOMIC_XCHG, &a->rfree, 8, 0, 0, &head))
		return;
	while (head) {
		b = (struct blk *)(uintptr_t)head;
		head = *link_of(b);
		a->st.frees++;
		a->st.remote_frees++;
		a->st.bytes_in_use -= block_bytes(b);
		if (b->cls == CLS_LARGE) {
			if (keep_run(a, b))
				continue;
			*link_of(b) = (uintptr_t)*large;
			*large = b;
		} else {
			push(a, b);
		}
	}
}

/*
 * Under the lock: a kept run of @npages to @npages + @npages / 4 pages
 * (first fit), taken off the list, or NULL.
 */
static struct blk *reuse_run(struct arena *a, uint64_t npages)
{
	uint64_t *prev = &a->runs;
	struct blk *b;

	while (*prev) {
		b = (struct blk *)(uintptr_t)*prev;
		if (b->word >= npages && b->word <= npages + npages / 4) {
			*prev = *link_of(b);
			a->runs_bytes -= b->word * PAGE;
			a->st.runs_kept--;
			a->st.bytes_kept -= b->word * PAGE;
			a->st.runs_reused++;
			return b;
		}
		prev = link_of(b);
	}
	return NULL;
}

/* FREE the runs on the list at @large; the stats counted them already. */
static void release(struct arena *a, struct blk *large)
{
	struct blk *next;
	uint64_t npages;

	for (; large; large = next) {
		next = (struct blk *)(uintptr_t)*link_of(large);
		npages = large->word;
		if (!tdsm_free(large, npages) && !lock(a)) {
			a->st.run_frees++;
			a->st.bytes_mapped -= npages * PAGE;
			unlock(a);
		}
	}
}

/* Give every kept run back (the home had no room, or the job ends). */
static void release_kept(struct arena *a)
{
	struct blk *runs;

	if (lock(a))
		return;
	runs = (struct blk *)(uintptr_t)a->runs;
	a->runs = 0;
	a->runs_bytes = 0;
	a->st.runs_kept = 0;
	a->st.bytes_kept = 0;
	unlock(a);
	release(a, runs);
}

/* Under the lock: the rest of the newest chunk, in the largest blocks. */
static void spill(struct arena *a)
{
	struct blk *b;
	unsigned int c;

	while (a->end - a->bump >= MIN_BLOCK) {
		for (c = NCLASS - 1; class_size(c) > a->end - a->bump; c--)
			;
		b = (struct blk *)(uintptr_t)a->bump;
		a->bump += class_size(c);
		b->node = a->node;
		b->cls = c;
		push(a, b);
	}
}

/* Under the lock: a new block of class @c from the chunk, or a new chunk. */
static struct blk *carve(struct arena *a, unsigned int c)
{
	size_t size = class_size(c);
	struct chunk *ch;
	struct blk *b;

	if (a->end - a->bump < size) {
		spill(a);
		ch = tdsm_alloc(CHUNK_PAGES, tdsm__run_home());
		if (!ch)
			return NULL;
		ch->next = a->chunks;
		a->chunks = (uintptr_t)ch;
		a->bump = (uintptr_t)(ch + 1);
		a->end = (uintptr_t)ch + CHUNK_BYTES;
		a->st.allocs++;
		a->st.chunks++;
		mapped_add(a, CHUNK_BYTES);
	}
	b = (struct blk *)(uintptr_t)a->bump;
	a->bump += size;
	b->node = a->node;
	b->cls = c;
	return b;
}

static void *malloc_small(struct arena *a, size_t n)
{
	unsigned int c = size_class(n + HDR);
	struct blk *b, *large = NULL;
	int err = lock(a);

	if (err) {
		errno = -err;
		return NULL;
	}
	b = pop(a, c);
	if (!b) {
		collect(a, &large);
		b = pop(a, c);
	}
	if (!b)
		b = carve(a, c);
	if (!b && a->runs) {
		/* The home had no room: give it the kept runs, try again. */
		struct blk *runs = (struct blk *)(uintptr_t)a->runs;

		a->runs = 0;
		a->runs_bytes = 0;
		a->st.runs_kept = 0;
		a->st.bytes_kept = 0;
		unlock(a);
		release(a, runs);
		err = lock(a);
		if (err) {
			release(a, large);
			errno = -err;
			return NULL;
		}
		b = carve(a, c);
	}
	err = errno;
	if (b) {
		b->magic = BLK_USED;
		b->word = 0;
		a->st.mallocs++;
		a->st.bytes_in_use += class_size(c);
	}
	unlock(a);
	release(a, large);
	return b ? data_of(b) : nomem(err);
}

/*
 * Home the run @b of @npages pages round robin on the job's nodes, a
 * group of 64 pages (aligned in the region, a PLACE batch) each, this
 * node's first: the run's first group, with its header, stays. Not when
 * this node's runs are homed on another node (it homes no slice): only
 * the run's home may place it. Best effort: a group whose PLACE fails
 * stays here, counted in *@failed. Returns the pages placed elsewhere.
 */
static uint64_t interleave(struct blk *b, size_t npages, uint64_t *failed)
{
	const struct tinydsm_region_info *ri = tdsm_region_info();
	unsigned int nodes[64], k = 0, me = ri->node_id, n, moved;
	uintptr_t p = (uintptr_t)b, end = p + npages * PAGE, next;
	uint64_t set = tdsm__job_nodes(), placed = 0;
	size_t g;

	if (tdsm__run_home())
		return 0;
	nodes[k++] = me;
	for (n = 1; n <= 64; n++)
		if (n != me && (set >> (n - 1) & 1) &&
		    (!ri->home_nodes || n <= ri->home_nodes))
			nodes[k++] = n;
	for (g = 0; k > 1 && p < end; p = next, g++) {
		next = ri->base + ((p - ri->base) / GROUP_BYTES + 1) * GROUP_BYTES;
		if (next > end)
			next = end;
		n = nodes[g % k];
		if (n == me)
			continue;
		moved = 0;
		if (tdsm_place((void *)p, (next - p) / PAGE, n, &moved))
			(*failed)++;
		placed += moved;
	}
	return placed;
}

static void *malloc_large(struct arena *a, size_t n, unsigned int policy)
{
	struct blk *b, *large = NULL;
	uint64_t placed = 0, failed = 0;
	size_t npages;
	int err;

	if (policy == TDSM_PLACE_FIRST_TOUCH) {
		errno = -tdsm__fail(EOPNOTSUPP, "heap: first-touch placement "
				    "of %zu bytes: the module has no "
				    "first-touch homing", n);
		return NULL;
	}
	if (n > (size_t)UINT32_MAX * PAGE - HDR)
		return fail_null(ENOMEM, "heap: a run", n);
	npages = (n + HDR + PAGE - 1) / PAGE;
	err = lock(a);
	if (err) {
		errno = -err;
		return NULL;
	}
	collect(a, &large);
	/* A kept run is homed here: it serves only a local placement. */
	b = policy == TDSM_PLACE_LOCAL ? reuse_run(a, npages) : NULL;
	if (b) {
		b->magic = BLK_USED;
		b->reserved = BLK_RECYCLED;
		a->st.mallocs++;
		a->st.bytes_in_use += b->word * PAGE;
	}
	unlock(a);
	release(a, large);
	if (b)
		return data_of(b);
	large = NULL;
	b = tdsm_alloc(npages, tdsm__run_home());
	if (!b && (errno == ENOSPC || errno == ENOMEM) && a->runs) {
		release_kept(a);
		b = tdsm_alloc(npages, tdsm__run_home());
	}
	if (!b)
		return nomem(errno);
	b->magic = BLK_USED;
	b->node = a->node;
	b->cls = CLS_LARGE;
	b->reserved = 0;
	b->word = npages;
	if (policy == TDSM_PLACE_INTERLEAVE) {
		placed = interleave(b, npages, &failed);
		if (placed)
			b->reserved = BLK_PLACED;
	}
	err = lock(a);
	if (err) {
		tdsm_free(b, npages);
		errno = -err;
		return NULL;
	}
	collect(a, &large);
	a->st.mallocs++;
	a->st.allocs++;
	a->st.large++;
	a->st.bytes_in_use += npages * PAGE;
	a->st.pages_placed += placed;
	a->st.place_failures += failed;
	mapped_add(a, npages * PAGE);
	unlock(a);
	release(a, large);
	return data_of(b);
}

void *tdsm_malloc_placed(size_t n, unsigned int policy)
{
	struct arena *a;

	if (policy > TDSM_PLACE_FIRST_TOUCH) {
		errno = -tdsm__fail(EINVAL, "tdsm_malloc_placed: policy %u",
				    policy);
		return NULL;
	}
	a = my_arena();
	if (!a)
		return NULL;
	if (n <= TDSM_SMALL_MAX)
		return malloc_small(a, n);
	if (policy == TDSM_PLACE_DEFAULT)
		policy = tdsm__job_placement();
	return malloc_large(a, n, policy);
}

void *tdsm_malloc(size_t n)
{
	return tdsm_malloc_placed(n, TDSM_PLACE_DEFAULT);
}

/*
 * The block of @p, and how far into its data @p is (an aligned block's
 * offset): -EINVAL for anything but a live block.
 */
static int block_of(const void *p, struct blk **bp, size_t *off)
{
	const struct tinydsm_region_info *ri = tdsm_region_info();
	uintptr_t u = (uintptr_t)p;
	struct blk *b;
	size_t o = 0;

	if (!ri || u % 16 || u - ri->base < HDR || u - ri->base >= ri->size)
		return tdsm__fail(EINVAL, "heap: %p is not in the region", p);
	b = hdr_of(p);
	if (b->magic == BLK_ALIGNED) {
		o = b->word;
		if (o % 16 || !o || u - ri->base < o + HDR)
			return tdsm__fail(EINVAL, "heap: %p is not a block", p);
		b = hdr_of((void *)(u - o));
	}
	if (b->magic == BLK_FREE)
		return tdsm__fail(EINVAL, "heap: %p is free already", p);
	if (b->magic != BLK_USED || !b->node || b->node >= TINYDSM_MAX_NODES ||
	    (b->cls >= NCLASS && b->cls != CLS_LARGE))
		return tdsm__fail(EINVAL, "heap: %p is not a block", p);
	*bp = b;
	if (off)
		*off = o;
	return 0;
}

static int free_here(struct arena *a, struct blk *b)
{
	size_t npages = b->word;
	int err = lock(a);

	if (err)
		return err;
	a->st.frees++;
	a->st.bytes_in_use -= block_bytes(b);
	if (b->cls != CLS_LARGE) {
		push(a, b);
		unlock(a);
		return 0;
	}
	if (keep_run(a, b)) {
		unlock(a);
		return 0;
	}
	b->magic = BLK_FREE;
	unlock(a);
	err = tdsm_free(b, npages);
	if (err)
		return err;
	err = lock(a);
	if (!err) {
		a->st.run_frees++;
		a->st.bytes_mapped -= npages * PAGE;
		unlock(a);
	}
	return err;
}

/* Hand @b back to its node: one CAS at the arena's home, if uncontended. */
static int free_remote(struct arena *a, struct blk *b)
{
	uint64_t head = 0, old;
	int err;

	b->magic = BLK_FREE;
	for (;;) {
		*link_of(b) = head;
		err = tdsm_atomic(TINYDSM_ATOMIC_CAS, &a->rfree, 8,
				  (uintptr_t)b, head, &old);
		if (err) {
			b->magic = BLK_USED;
			return tdsm__fail(-err, "heap: free of %p to node %u",
					  data_of(b), a->node);
		}
		if (old == head)
			return 0;
		head = old;
	}
}

int tdsm_mfree(void *p)
{
	uint64_t *arenas;
	struct arena *a;
	struct blk *b;
	int err;

	if (!p)
		return 0;
	arenas = tdsm__job_arenas();
	if (!arenas)
		return -errno;
	err = block_of(p, &b, NULL);
	if (err)
		return err;
	errno = 0;
	a = arena_at(arenas, b->node);
	if (!a)
		return errno ? -errno : tdsm__fail(EINVAL, "heap: %p is of "
						   "node %u, which has no "
						   "arena", p, b->node);
	if (b->node == this_node())
		return free_here(a, b);
	return free_remote(a, b);
}

void *tdsm_calloc(size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		return fail_null(ENOMEM, "tdsm_calloc: overflow", n);
	p = tdsm_malloc(n * size);
	/* A large block is a fresh run, which reads as zero, or a kept one. */
	if (p && (hdr_of(p)->cls != CLS_LARGE ||
		  hdr_of(p)->reserved & BLK_RECYCLED))
		memset(p, 0, n * size);
	return p;
}

void *tdsm_realloc(void *p, size_t n)
{
	size_t off, have;
	struct blk *b;
	void *q;
	int err;

	if (!p)
		return tdsm_malloc(n);
	if (!n) {
		tdsm_mfree(p);
		return NULL;
	}
	err = block_of(p, &b, &off);
	if (err) {
		errno = -err;
		return NULL;
	}
	have = block_bytes(b) - HDR - off;
	/* Stay while at least half of the block is used. */
	if (n <= have && (n >= have / 2 || have <= MIN_BLOCK))
		return p;
	q = tdsm_malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, n < have ? n : have);
	tdsm_mfree(p);
	return q;
}

/*
 * More than 16: a block @align - 16 bytes longer, and a second header in
 * front of the aligned address that says how far back the block's is.
 */
void *tdsm_aligned_alloc(size_t align, size_t n)
{
	uintptr_t r, q;
	struct blk *h;

	if (!align || (align & (align - 1))) {
		errno = -tdsm__fail(EINVAL, "tdsm_aligned_alloc: alignment "
				    "%zu", align);
		return NULL;
	}
	if (align <= 16)
		return tdsm_malloc(n);
	if (n > SIZE_MAX - align)
		return fail_null(ENOMEM, "tdsm_aligned_alloc", n);
	r = (uintptr_t)tdsm_malloc(n + align - 16);
	if (!r)
		return NULL;
	q = (r + align - 1) & ~(uintptr_t)(align - 1);
	if (q != r) {
		h = hdr_of((void *)q);
		h->magic = BLK_ALIGNED;
		h->node = hdr_of((void *)r)->node;
		h->cls = 0;
		h->reserved = 0;
		h->word = q - r;
	}
	return (void *)q;
}

int tdsm_heap_stats(struct tdsm_heap_stats *st)
{
	struct arena *a = my_arena();
	struct blk *large = NULL;
	int err;

	if (!a)
		return -errno;
	err = lock(a);
	if (err)
		return err;
	collect(a, &large);
	*st = a->st;
	unlock(a);
	release(a, large);
	return 0;
}

void tdsm__heap_forget(void)
{
	__atomic_store_n(&mine, NULL, __ATOMIC_RELEASE);
}

/*
 * Node @node's arena: out of the root's table (one exchange, so that it
 * is released once), then its chunks, the large runs handed back to it
 * and the arena itself. Nobody may use it any more. The module FREEs a
 * run only for the node that ALLOCed it (or CAP_SYS_ADMIN): another
 * node's runs then stay, and the first error is returned after
 * everything else was freed.
 */
int tdsm__heap_release_node(uint64_t *arenas, unsigned int node)
{
	uint64_t head, next, was;
	struct arena *a;
	struct blk *b;
	int err, e;

	err = tdsm_atomic(TINYDSM_ATOMIC_XCHG, &arenas[node], 8, 0, 0, &was);
	a = (struct arena *)(uintptr_t)was;
	if (err || !a || a->magic != ARENA_MAGIC)
		return err;
	for (head = a->rfree; head; head = next) {
		b = (struct blk *)(uintptr_t)head;
		next = *link_of(b);
		if (b->cls == CLS_LARGE) {
			e = tdsm_free(b, b->word);
			err = err ? err : e;
		}
	}
	for (head = a->runs; head; head = next) {
		b = (struct blk *)(uintptr_t)head;
		next = *link_of(b);
		e = tdsm_free(b, b->word);
		err = err ? err : e;
	}
	for (head = a->chunks; head; head = next) {
		next = ((struct chunk *)(uintptr_t)head)->next;
		e = tdsm_free((void *)(uintptr_t)head, CHUNK_PAGES);
		err = err ? err : e;
	}
	a->magic = 0;
	e = tdsm_free(a, 1);
	err = err ? err : e;
	if (a == __atomic_load_n(&mine, __ATOMIC_ACQUIRE))
		tdsm__heap_forget();
	return err;
}

/* Every node's arena (tdsm__heap_release_node()): the job is over. */
int tdsm__heap_release(uint64_t *arenas)
{
	unsigned int node;
	int err = 0, e;

	for (node = 1; node < TINYDSM_MAX_NODES; node++) {
		e = tdsm__heap_release_node(arenas, node);
		err = err ? err : e;
	}
	tdsm__heap_forget();
	return err;
}
