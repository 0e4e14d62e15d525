// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: the bounded cache of pages homed elsewhere, and its eviction.
 *
 * A cached frame is a frame on this node of a page homed on another node:
 * a read copy, a page this node owns, or a frame it retained after giving
 * its page up (PROTOCOL.md "Transactions"). tdsm_region.cached counts
 * them; TDSM_PG_CACHED marks the pages counted, so that the count follows
 * the page's own state and no change of home (a migration to or from this
 * node, a forwarding hint) can unbalance it.
 *
 * With a budget (module parameter cache_budget_mb, or the genl command
 * TINYDSM_CMD_REGION_SET), a reclaim work item keeps the count near it
 * (PROTOCOL.md "Eviction: the bounded cache"):
 *   high = budget: an install above it queues the work;
 *   low  = budget - max(budget / 16, 64 pages): where the work stops;
 *   hard = budget + max(budget / 8, 1024 pages): a fault that would add a
 *          cached frame above it waits for the work first (until under
 *          it, or a run ended; killable, at most timeout_ms), and then
 *          goes on anyway (the budget is soft: frames in use, and pages
 *          whose home does not take or release them, stay).
 * The work runs a clock over the pages that have metadata here (the
 * chunks that exist, PROTOCOL.md "Metadata lifetime" M7; the hand:
 * tdsm_region.clock_hand, a page index): a page used since the hand last
 * passed (TDSM_PG_REFERENCED: faults, installs, word accesses here, and
 * the accessed bits of its PTEs, sampled once per group by
 * tdsm_clock_young()) gets a second chance; the others are victims,
 * gathered per 64-page group, with one EVICTV per home per group: clean
 * read copies are dropped at once and named in its mask (a notice, rule
 * E1); pages this node owns (dirty, or retained) are named in its wmask
 * and written back: the home fetches them with a FETCHV and installs
 * them, and the frames here go only when the home's reply releases them
 * (rules E2-E5, the write-back section below).
 *
 * The kernel's memory pressure reaches the cache through the shrinker
 * "tinydsm-cache" (rules E7-E9, the shrinker section below), with or
 * without a budget: it frees read copies no PTE maps, with trylocks
 * only, and leaves the rest (and the notices to the homes) to the
 * reclaim work, which it kicks.
 */
#include <linux/atomic.h>
#include <linux/gfp.h>
#include <linux/ktime.h>
#include <linux/minmax.h>
#include <linux/moduleparam.h>
#include <linux/sched.h>
#include <linux/sizes.h>
#include <linux/wait.h>
#include <linux/wait_bit.h>
#include <linux/workqueue.h>

#include "budget.h"
#include "compat.h"
#include "evict.h"
#include "inject.h"
#include "lock.h"
#include "migrate.h"
#include "page.h"
#include "peer.h"
#include "proto.h"
#include "rdma.h"
#include "region.h"
#include "tinydsm.h"
#include "trace.h"
#include "wire.h"

/*
 * The reclaim work holds its victims' TDSM_PG_FETCHING from the take until
 * their EVICTV was answered or failed, and frees or lets them go relying on
 * it (rule E1). A bit has no owner: this checks that it is held at all, like
 * tdsm_page_assert_locked() (lock.h), only with CONFIG_LOCKDEP.
 */
#define tdsm_fetching_assert_held(pg) \
	lockdep_assert(test_bit(TDSM_PG_FETCHING, &(pg)->flags))

/* The budget in pages, 0: unlimited. Read without a lock. */
static unsigned long tdsm_cache_budget;

/*
 * The reclaim work's queue: WQ_MEM_RECLAIM, since a fault that waits for
 * it may be one the kernel's reclaim waits for. NULL outside the module's
 * life between tdsm_cache_init() and tdsm_cache_exit().
 */
static struct workqueue_struct *tdsm_cache_wq;
static bool tdsm_cache_stopping;
/* Runs of the reclaim work that ended, for tdsm_cache_throttle(). */
static atomic_t tdsm_reclaim_ended = ATOMIC_INIT(0);
static void tdsm_reclaim(struct work_struct *work);
static DECLARE_WORK(tdsm_reclaim_work, tdsm_reclaim);
/* Faults waiting above the hard watermark (tdsm_cache_throttle()). */
static DECLARE_WAIT_QUEUE_HEAD(tdsm_cache_wait);

/*
 * The shrinker (below): registered by tdsm_cache_init(), once the region's
 * pages are set up, freed by tdsm_cache_stop() (or tdsm_cache_exit() if
 * the load failed), before the pages go; so every callback runs while the
 * region's state exists. @tdsm_cache_pressure: the most pages
 * one shrinker call found mapped or owned here, which it cannot free, up
 * to what the kernel asked for, since the reclaim work last took it: for
 * the work to evict (E9; a maximum, not a sum: tdsm_cache_press(); taken
 * by the work, xchg).
 * @tdsm_notices_pending: some chunk's unnotified mask has a bit (set after
 * the bit, ordered by smp_mb__after_atomic(); taken by the reclaim work
 * with a fully ordered xchg() before it reads the masks).
 * @tdsm_shrink_hand: the page the shrinker looks at next, a hint
 * (concurrent shrinkers may race on it).
 */
static struct shrinker *tdsm_shrinker;
static atomic64_t tdsm_cache_pressure = ATOMIC64_INIT(0);
static bool tdsm_notices_pending;
static unsigned long tdsm_shrink_hand;

static unsigned long tdsm_cache_low(unsigned long budget)
{
	return budget - max(budget / 16, 64UL);
}

static unsigned long tdsm_cache_hard(unsigned long budget)
{
	return budget + max(budget / 8, 1024UL);
}

unsigned long tdsm_cache_budget_pages(void)
{
	return READ_ONCE(tdsm_cache_budget);
}

static void tdsm_cache_kick(void)
{
	struct workqueue_struct *wq = READ_ONCE(tdsm_cache_wq);

	if (wq && !READ_ONCE(tdsm_cache_stopping))
		queue_work(wq, &tdsm_reclaim_work);
}

/**
 * tdsm_cache_set_budget - set the cache budget
 * @bytes: the budget, 0 for unlimited, else at least 1 MiB.
 * @extack: for the reason of a refusal (may be NULL).
 *
 * Returns 0 or -EINVAL.
 */
int tdsm_cache_set_budget(u64 bytes, struct netlink_ext_ack *extack)
{
	/* The watermarks need room: at least 1 MiB. */
	if (tdsm_budget_check(bytes, TDSM_BUDGET_CACHE, extack))
		return -EINVAL;
	WRITE_ONCE(tdsm_cache_budget, min_t(u64, bytes >> PAGE_SHIFT, ULONG_MAX));
	/* Over it now: reclaim. Faults waiting for a budget that went wait less. */
	if (bytes && atomic64_read(&tdsm_region.cached) > bytes >> PAGE_SHIFT)
		tdsm_cache_kick();
	wake_up_all(&tdsm_cache_wait);
	return 0;
}

/*
 * cache_budget_mb: the budget in MiB, 0 (the default) for unlimited. Set
 * at load or in /sys/module/tinydsm/parameters/ (0644), like the genl
 * setting, which it shares.
 */
static int tdsm_cache_budget_mb_set(const char *val,
				    const struct kernel_param *kp)
{
	u64 bytes;
	int err;

	err = tdsm_budget_param_mb(val, kp, &bytes);
	return err ?: tdsm_cache_set_budget(bytes, NULL);
}

static int tdsm_cache_budget_mb_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%lu\n",
			  tdsm_cache_budget_pages() >> (20 - PAGE_SHIFT));
}

static const struct kernel_param_ops tdsm_cache_budget_mb_ops = {
	.set = tdsm_cache_budget_mb_set,
	.get = tdsm_cache_budget_mb_get,
};

module_param_cb(cache_budget_mb, &tdsm_cache_budget_mb_ops, NULL, 0644);
__MODULE_PARM_TYPE(cache_budget_mb, "uint");
MODULE_PARM_DESC(cache_budget_mb, "frames of pages homed elsewhere to keep, MiB; 0: unlimited (default 0)");

/*
 * Count page @pg's frame as cached, or not, as the page is now: cached iff
 * it has a frame and its home is another node. Called under the page lock
 * wherever the frame or the home changes: tdsm_local_install() and
 * tdsm_local_drop() (proto.c; under tdsm_local_take() and
 * tdsm_local_take_unmapped()) and tdsm_page_set_home(). So when a
 * migration makes this node the home, the frame leaves the cache count
 * (it is the home's own now), and comes back if the migration is undone.
 */
void tdsm_cache_note(struct tdsm_region *r, struct tdsm_page *pg)
{
	bool cached = pg->frame && tdsm_page_home(pg) != r->node_id;
	unsigned long budget;

	tdsm_page_assert_locked(pg);
	if (cached == test_bit(TDSM_PG_CACHED, &pg->flags))
		return;
	if (!cached) {
		clear_bit(TDSM_PG_CACHED, &pg->flags);
		atomic64_dec(&r->cached);
		return;
	}
	set_bit(TDSM_PG_CACHED, &pg->flags);
	budget = tdsm_cache_budget_pages();
	if (atomic64_inc_return(&r->cached) > budget && budget)
		tdsm_cache_kick();
}

/*
 * How many more pages the cache may take before its budget: ULONG_MAX
 * without one. For read-ahead, which never takes the cache past it.
 */
unsigned long tdsm_cache_room(struct tdsm_region *r)
{
	unsigned long budget = tdsm_cache_budget_pages();
	s64 cached = atomic64_read(&r->cached);

	if (!budget)
		return ULONG_MAX;
	return cached < (s64)budget ? budget - cached : 0;
}

/* The count is under the hard watermark, or there is no budget. */
static bool tdsm_cache_below_hard(struct tdsm_region *r)
{
	unsigned long budget = tdsm_cache_budget_pages();

	return !budget || atomic64_read(&r->cached) < tdsm_cache_hard(budget);
}

/*
 * A fault (or word access) is about to get a page homed elsewhere, with
 * only TDSM_PG_FETCHING of that page held (which the clock skips): above
 * the hard watermark, wait for the reclaim work, killable and for at most
 * timeout_ms, until the count is under it or a run of the work ended (one
 * that could not get there: the rest is pages in use, or pages their homes
 * neither took nor released), then go on whatever the count.
 */
void tdsm_cache_throttle(struct tdsm_region *r)
{
	int ended = atomic_read(&tdsm_reclaim_ended);

	if (tdsm_cache_below_hard(r))
		return;
	tdsm_cache_kick();
	wait_event_killable_timeout(tdsm_cache_wait,
				    tdsm_cache_below_hard(r) ||
				    atomic_read(&tdsm_reclaim_ended) != ended ||
				    READ_ONCE(tdsm_cache_stopping),
				    msecs_to_jiffies(tdsm_timeout_ms));
}

/*
 * The victims of one 64-page group (TDSM_WIRE_BATCH, aligned: one chunk)
 * that the clock took: @held, bit i = page @first + i, whose
 * TDSM_PG_FETCHING this work holds; @wb, those of them this node owns, to
 * write back (their frames stay until the home releases them); the
 * others' frames are gone. @home[i], the home each named. The sweep holds
 * the chunk (tdsm_chunk_get_next()) until the group is flushed.
 */
struct tdsm_evict_group {
	unsigned long first;
	u64 held;
	u64 wb;
	u8 home[TDSM_WIRE_BATCH];
};

/* The write-back (rules E2-E5), below. */
static bool tdsm_writeback_victim(struct tdsm_region *r, struct tdsm_page *pg);
static unsigned int tdsm_writeback_end(struct tdsm_region *r,
				       unsigned long first, u64 wmask, u64 done,
				       u64 release);
static void tdsm_writeback_buf_free(struct tdsm_conn *conn,
				    struct tdsm_bufv *bufv);
static u64 tdsm_writeback_home(struct tdsm_region *r, struct tdsm_conn *conn,
			       u8 src, unsigned long first, unsigned int n,
			       u64 want, struct tdsm_bufv **bufvp,
			       u64 *release, int *err);
/* The notices of the shrinker's drops (rule E8), below. */
static void tdsm_send_notices(struct tdsm_region *r);

/*
 * Tell @home that this node dropped its copies of the pages in @mask, and
 * ask it to take back the pages in @wmask that this node owns (bit i =
 * page @first + i): one EVICTV. Rule E1: the caller holds
 * TDSM_PG_FETCHING of each, and has no frame of @mask's pages, until this
 * returned (the reply, or the call's failure, which comes only once the
 * connection is dead and drained). Without a connection nothing is sent:
 * the copies were dropped silently, which the protocol allows (the
 * copyset stays a superset of the holders), and the pages owned stay.
 * The reply's masks in *@done (pages taken out of a copyset, or written
 * back) and *@release (frames of @wmask the home lets go); both 0 unless
 * it said OK.
 *
 * The call allocates (its tx slot, its id) with GFP_KERNEL while this work
 * holds up to 64 TDSM_PG_FETCHING bits, so the kernel's reclaim may run
 * here with them held. That is safe because no reclaim path waits for
 * such a bit: the module's only code in reclaim is the shrinker, which
 * only tries the bit and skips a page whose bit is taken (E7), and the
 * region's frames are neither on the LRU nor backed by a file or swap, so
 * no writeback or folio reclaim waits for a fault on them. Not
 * memalloc_noio_save(): the shrinker runs for GFP_NOIO allocations too,
 * so it would not cut that dependency, only weaken these allocations
 * under memory pressure, when the work is needed (PROTOCOL.md E7).
 */
static int tdsm_evict_send(struct tdsm_region *r, unsigned long first,
			   u64 mask, u64 wmask, u8 home, u64 *done,
			   u64 *release)
{
	struct tdsm_call call = {};
	struct tdsm_wire_msg msg;
	struct tdsm_conn *conn;
	int err;

	*done = 0;
	*release = 0;
	conn = tdsm_peer_conn(home);
	if (!conn)
		return -EHOSTUNREACH;
	tdsm_msg_init(&msg, TDSM_W_EVICTV);
	msg.batch.addr = cpu_to_be64(tdsm_page_addr(first));
	msg.batch.npages = fls64(mask | wmask);
	msg.batch.mask = cpu_to_be64(mask);
	msg.batch.wmask = cpu_to_be64(wmask);
	err = tdsm_call(conn, &msg, NULL, &call);
	if (!err)
		err = tdsm_status_errno(be32_to_cpu(call.reply.breply.status));
	if (!err) {
		*done = be64_to_cpu(call.reply.breply.done);
		*release = be64_to_cpu(call.reply.breply.data);
	}
	tdsm_conn_put(conn);
	atomic64_inc(&r->evict_batches);
	atomic64_add(hweight64(mask | wmask), &r->evict_batch_pages);
	return err;
}

/*
 * Send the group's EVICTVs, one per home, then let its pages go. Returns
 * the frames freed: the clean copies (dropped already) and the frames
 * released after a write-back. Each EVICTV is traced (tinydsm_evict) once
 * its reply was handled or it failed.
 */
static unsigned int tdsm_evict_flush(struct tdsm_region *r,
				     struct tdsm_evict_group *g)
{
	u64 left = g->held, mask, done, release;
	unsigned int i, released, freed;
	ktime_t start;
	int err;
	u8 home;

	if (!g->held)
		return 0;
	freed = hweight64(g->held & ~g->wb);
	while (left) {
		home = g->home[__ffs64(left)];
		mask = 0;
		for (i = 0; i < TDSM_WIRE_BATCH; i++)
			if ((left & BIT_ULL(i)) && g->home[i] == home)
				mask |= BIT_ULL(i);
		left &= ~mask;
		start = ktime_get();
		err = tdsm_evict_send(r, g->first, mask & ~g->wb, mask & g->wb,
				      home, &done, &release);
		released = 0;
		if (mask & g->wb)
			released = tdsm_writeback_end(r, g->first, mask & g->wb,
						      done, release);
		freed += released;
		trace_tinydsm_evict(home, g->first, hweight64(mask & ~g->wb),
				    hweight64(mask & g->wb), hweight64(done),
				    released, err,
				    ktime_to_ns(ktime_sub(ktime_get(), start)));
	}
	/* Answered or failed: faults on these pages may go on. */
	for (i = 0; i < TDSM_WIRE_BATCH; i++) {
		struct tdsm_page *pg = tdsm_pg(r, g->first + i);

		if (!(g->held & BIT_ULL(i)))
			continue;
		tdsm_fetching_assert_held(pg);
		clear_and_wake_up_bit(TDSM_PG_FETCHING, &pg->flags);
	}
	g->held = 0;
	g->wb = 0;
	wake_up_all(&tdsm_cache_wait);
	return freed;
}

/*
 * The walks from a hand (the clock, the shrinker, the notices): the first
 * chunk that exists from page @idx on, inside the region, referenced
 * (tdsm_chunk_get_next(), M7), or NULL; drop it with
 * tdsm_chunk_put(r, c->first). The chunk is looked up again by its first
 * page: page.c's iterator gives only the index.
 */
static struct tdsm_chunk *tdsm_evict_next_chunk(struct tdsm_region *r,
						unsigned long idx)
{
	unsigned long first;

	if (idx >= r->npages || !tdsm_chunk_get_next(r, idx, &first))
		return NULL;
	return tdsm_chunk_of(r, first);
}

/* What one run of the reclaim work did, for tinydsm_reclaim. */
struct tdsm_reclaim_tally {
	u64 scanned;	/* pages the clock looked at */
	u64 freed;	/* frames it freed (tdsm_evict_flush()) */
};

/*
 * Is page @pg (page lock held) a clean read copy, which the clock and the
 * shrinker may drop with no write-back: a frame of a page homed
 * elsewhere, not owned here, and SHARED (so never mapped writable, never
 * dirty: its home has the data)?
 */
static bool tdsm_clean_copy(struct tdsm_region *r, struct tdsm_page *pg)
{
	tdsm_page_assert_locked(pg);
	return pg->frame && tdsm_page_home(pg) != r->node_id &&
	       pg->owner != r->node_id && pg->state == TINYDSM_PAGE_SHARED;
}

/*
 * The clock's look at page @idx: true if it took the page as a victim
 * (its TDSM_PG_FETCHING held) and *@home is the home to tell. A victim is
 * homed elsewhere, not used since the hand last passed, with no fault of
 * this node on it (TDSM_PG_FETCHING), and either a clean read copy
 * (tdsm_clean_copy()), whose frame is dropped now, or a page this node
 * owns, to write back (*@owned: its frame stays, tdsm_writeback_victim()).
 */
static bool tdsm_clock_take(struct tdsm_region *r, unsigned long idx,
			    struct tdsm_page *pg, u8 *home, bool *owned)
{
	struct page *frame = NULL;

	/* DIR here: a migration to this node is under way; leave it. */
	if (!test_bit(TDSM_PG_CACHED, &pg->flags) ||
	    test_bit(TDSM_PG_DIR, &pg->flags))
		return false;
	if (test_and_clear_bit(TDSM_PG_REFERENCED, &pg->flags))
		return false;	/* second chance */
	if (test_and_set_bit_lock(TDSM_PG_FETCHING, &pg->flags))
		return false;
	tdsm_page_lock(pg);
	*home = tdsm_page_home(pg);
	*owned = tdsm_writeback_victim(r, pg);
	if (!*owned && tdsm_clean_copy(r, pg))
		frame = tdsm_local_take(r, pg, idx);	/* unmaps it first */
	tdsm_page_unlock(pg);
	if (!frame && !*owned) {
		clear_and_wake_up_bit(TDSM_PG_FETCHING, &pg->flags);
		return false;
	}
	if (frame)
		put_page(frame);
	return true;
}

/*
 * The clock's sample of the hardware's use of a group (rule E10 in
 * kmod/PROTOCOL.md "Eviction: the bounded cache"): a page read or written
 * through a mapping, by loads and stores that do not fault, sets only its
 * PTE's accessed bit, which TDSM_PG_REFERENCED alone would not see. Once
 * per group per pass, before the clock looks at its pages, the bits of
 * the group's PTEs in every process mapping the region are tested and
 * cleared, and each page found used gets TDSM_PG_REFERENCED
 * (tdsm_region_young()). Lock order: taken here with nothing held but
 * the group's chunk reference (no page lock, no page bit: the victims'
 * TDSM_PG_FETCHING come after), then each mm's mmap_lock, tried only,
 * then the PTE locks, under which only atomic bit operations run. A fault
 * takes mmap_lock, then a page lock, then the PTE lock; an eviction's
 * unmap takes the page lock, then i_mmap_rwsem and the PTE lock: neither
 * waits for anything this holds. The shrinker must not sample: it runs in
 * reclaim, inside tasks that may hold their mmap_lock.
 */
static void tdsm_clock_young(struct tdsm_region *r, unsigned long first,
			     unsigned long end)
{
	unsigned long idx;
	unsigned int young;

	/* Nothing cached here (a stream's evicted chunk): nothing to keep. */
	for (idx = first; idx < end; idx++)
		if (test_bit(TDSM_PG_CACHED, &tdsm_pg(r, idx)->flags))
			break;
	if (idx == end)
		return;
	young = tdsm_region_young(r, first, end - first);
	if (young)
		atomic64_add(young, &r->clock_young);
}

/*
 * The clock's look at the pages of one group, whose chunk the caller
 * holds, from @from on: until the count is down to @low. A group entered
 * at its start is sampled first (tdsm_clock_young()); one entered in its
 * middle, where the last run stopped, was sampled by that run. Returns the
 * index to go on from (the group's end if it got there); adds what it
 * looked at and freed to @tally.
 */
static unsigned long tdsm_clock_group(struct tdsm_region *r,
				      unsigned long first, unsigned long from,
				      unsigned long low,
				      struct tdsm_reclaim_tally *tally)
{
	struct tdsm_evict_group g = { .first = first };
	unsigned long idx, end = min(first + TDSM_WIRE_BATCH, r->npages);
	bool owned;
	u64 clean;
	u8 home;

	if (from == first)
		tdsm_clock_young(r, first, end);
	for (idx = from; idx < end; idx++) {
		if (atomic64_read(&r->cached) <= low ||
		    READ_ONCE(tdsm_cache_stopping))
			break;
		if (tdsm_clock_take(r, idx, tdsm_pg(r, idx), &home, &owned)) {
			g.held |= BIT_ULL(idx - first);
			if (owned)
				g.wb |= BIT_ULL(idx - first);
			g.home[idx - first] = home;
		}
		cond_resched();
	}
	tally->scanned += idx - from;
	clean = g.held & ~g.wb;
	tally->freed += tdsm_evict_flush(r, &g);
	atomic64_add(hweight64(clean), &r->evicted_clean);
	return idx;
}

/*
 * One stretch of the clock: the pages from @from on that have metadata
 * (the chunks that exist, each held while its group is looked at), until
 * the count is down to @low or the region ends. Returns the index to go
 * on from (the region's size at its end).
 */
static unsigned long tdsm_clock_sweep(struct tdsm_region *r,
				      unsigned long from, unsigned long low,
				      struct tdsm_reclaim_tally *tally)
{
	unsigned long first, next;
	struct tdsm_chunk *c;

	while ((c = tdsm_evict_next_chunk(r, from))) {
		first = c->first;
		next = tdsm_clock_group(r, first, max(from, first), low,
					tally);
		tdsm_chunk_put(r, first);
		if (next < min(first + TDSM_WIRE_BATCH, r->npages))
			return next;
		from = first + TDSM_WIRE_BATCH;
	}
	return r->npages;
}

/*
 * Where a run of the reclaim work stops: the low watermark of @budget (if
 * any), and, with @pressure pages the shrinker could not free, that many
 * below the count now (mapped copies and pages this node owns: rule E9).
 */
static unsigned long tdsm_reclaim_low(struct tdsm_region *r,
				      unsigned long budget, u64 pressure)
{
	unsigned long low = budget ? tdsm_cache_low(budget) : ULONG_MAX;
	u64 cached = max_t(s64, atomic64_read(&r->cached), 0);

	if (pressure)
		low = min_t(u64, low, cached - min(cached, pressure));
	return low;
}

/*
 * The reclaim work: send the notices of the shrinker's drops; then, over
 * the budget or under the kernel's memory pressure, run the clock from
 * its hand until the count is down to tdsm_reclaim_low(), for at most two
 * turns of the region (the first may only clear REFERENCED bits). A run
 * that does so is counted (reclaim_runs, reclaim_ns) and traced
 * (tinydsm_reclaim).
 */
static void tdsm_reclaim(struct work_struct *work)
{
	struct tdsm_region *r = &tdsm_region;
	struct tdsm_reclaim_tally tally = {};
	unsigned long budget, low, hand, next, walked = 0;
	ktime_t start = ktime_get();
	u64 ns, pressure;

	if (READ_ONCE(tdsm_cache_stopping))
		goto out;
	tdsm_send_notices(r);
	budget = tdsm_cache_budget_pages();
	pressure = atomic64_xchg(&tdsm_cache_pressure, 0);
	if (!budget && !pressure)
		goto out;
	low = tdsm_reclaim_low(r, budget, pressure);
	atomic64_inc(&r->reclaim_runs);
	hand = min(r->clock_hand, r->npages);
	while (walked < 2 * r->npages && atomic64_read(&r->cached) > low &&
	       !READ_ONCE(tdsm_cache_stopping)) {
		next = tdsm_clock_sweep(r, hand, low, &tally);
		walked += next - hand;
		hand = next < r->npages ? next : 0;
		if (next < r->npages)
			break;
	}
	r->clock_hand = hand;
	ns = ktime_to_ns(ktime_sub(ktime_get(), start));
	atomic64_add(ns, &r->reclaim_ns);
	trace_tinydsm_reclaim(pressure ? TDSM_RECLAIM_PRESSURE :
			      TDSM_RECLAIM_BUDGET, tally.scanned, tally.freed,
			      ns);
out:
	atomic_inc(&tdsm_reclaim_ended);
	wake_up_all(&tdsm_cache_wait);
}

/* ---- the shrinker (rules E7-E9) -------------------------------------- */

/*
 * The kernel's memory reclaim asks the module to free memory through the
 * shrinker "tinydsm-cache". It may call in from any task that allocates,
 * whatever that task holds: a page lock or TDSM_PG_DIR (tdsm_home_claim()
 * allocates a frame under both), TDSM_PG_FETCHING (a fault getting a
 * frame for its reply), a folio lock or i_mmap_rwsem (the core's
 * unmapping), and the module's own workqueues (tdsm_wq and this file's
 * are WQ_MEM_RECLAIM). Hence its rules, in kmod/PROTOCOL.md ("Eviction:
 * the bounded cache", E7-E9):
 *
 * E7. The shrinker frees only a clean read copy that no PTE maps
 *     (TDSM_PG_MAPPED clear: set by tdsm_hand_frame() before a PTE can
 *     exist, cleared by tdsm_local_unmap() after the last went, both under
 *     the page lock, which the shrinker holds while it checks and drops;
 *     or the frame's map count 0 under its folio lock, got with a try:
 *     tdsm_local_unmapped()) and that no one else references, and only
 *     with tries: the chunk's refcount_inc_not_zero()
 *     (tdsm_chunk_get_next(), under RCU), TDSM_PG_FETCHING with
 *     test_and_set_bit_lock(), the page lock with tdsm_page_trylock(),
 *     the folio lock with trylock_page(); a page whose bit is taken is
 *     skipped. It never waits on a bit, never calls unmap_mapping_range()
 *     (no i_mmap_rwsem; tdsm_local_take_unmapped()), never allocates and
 *     never touches the network. So it waits for nothing any task that entered reclaim may
 *     hold: it cannot deadlock.
 * E8. Its drops are silent (the copyset stays a superset of the holders,
 *     as for any silent drop). It records each in its chunk's unnotified
 *     mask, under the page's TDSM_PG_FETCHING, and kicks the reclaim work,
 *     which tells the homes later under rule E1: for a page with a bit,
 *     it takes TDSM_PG_FETCHING (skipping a page a fault is fetching: the
 *     home counts this node then anyway), checks under the page lock that
 *     there is still no frame and the home is another node, and sends an
 *     EVICTV clean notice, holding the bit until the reply or the call's
 *     failure. A chunk with a bit set is kept (M2) until the work took
 *     the mask; a notice lost (no connection) leaves the copyset a
 *     superset, which is safe.
 * E9. What the shrinker cannot free (mapped copies, pages this node owns)
 *     goes to the reclaim work as pressure: those pages, up to what was
 *     asked for and not freed, the largest such request since the work
 *     last ran (not the sum: later calls count the same mapped pages
 *     again). The work, outside reclaim, evicts by the clock
 *     (unmapping, and writing back under E2-E5) down to the count less
 *     the pressure, with or without a budget.
 * It never samples the PTEs' accessed bits (tdsm_clock_young(), rule E10):
 * that takes mmap_lock, which the task in reclaim may hold.
 */

/* What the shrinker made of a cached page (tdsm_shrink_page()). */
enum tdsm_shrink_seen {
	TDSM_SHRINK_FREED,	/* its copy went */
	TDSM_SHRINK_SKIPPED,	/* used lately, or busy: maybe next time */
	TDSM_SHRINK_NOT_MINE,	/* mapped, or owned here: the reclaim work's */
};

/*
 * Whether a PTE seems to map the frame of @pg (TDSM_PG_MAPPED set): its
 * map count, read without a lock, a hint that keeps the shrinker off the
 * pages processes use; tdsm_local_unmapped() decides under the locks. A
 * frame freed meanwhile is still a struct page: its count is only wrong.
 */
static bool tdsm_mapped_hint(struct tdsm_page *pg)
{
	struct page *frame = READ_ONCE(pg->frame);

	return !frame || page_mapped(frame);
}

/*
 * The shrinker's look at page @idx of chunk @c, held: freed its copy (and
 * recorded it in @c->unnotified, E8), skipped it, or left it to the
 * reclaim work (E9). Tries only (E7). A page used since the hand last
 * passed loses TDSM_PG_REFERENCED and stays: a second chance, as for the
 * reclaim work's clock. The owner is read without the page lock here, a
 * hint for the pressure only; the page lock decides.
 */
static enum tdsm_shrink_seen tdsm_shrink_page(struct tdsm_region *r,
					      struct tdsm_chunk *c,
					      unsigned long idx)
{
	struct tdsm_page *pg = tdsm_pg(r, idx);
	struct page *frame = NULL;

	if ((test_bit(TDSM_PG_MAPPED, &pg->flags) && tdsm_mapped_hint(pg)) ||
	    READ_ONCE(pg->owner) == r->node_id)
		return TDSM_SHRINK_NOT_MINE;
	if (!test_bit(TDSM_PG_CACHED, &pg->flags) ||
	    test_bit(TDSM_PG_DIR, &pg->flags) ||
	    test_and_clear_bit(TDSM_PG_REFERENCED, &pg->flags) ||
	    test_and_set_bit_lock(TDSM_PG_FETCHING, &pg->flags))
		return TDSM_SHRINK_SKIPPED;
	if (tdsm_page_trylock(pg)) {
		/*
		 * E7: a clean read copy in no user PTE, referenced by no one
		 * else (a GUP, a send), so that its release allocates nothing
		 * (frame.c, F1).
		 */
		if (tdsm_clean_copy(r, pg) && tdsm_local_unmapped(pg) &&
		    page_ref_count(pg->frame) == 1)
			frame = tdsm_local_take_unmapped(r, pg, idx);
		tdsm_page_unlock(pg);
	}
	if (frame) {
		set_bit(idx - c->first, &c->unnotified);
		/*
		 * The bit before the flag: pairs with the fully ordered
		 * xchg() of the flag in tdsm_send_notices(), which comes
		 * before its reads of the masks. A work that finds the flag
		 * set sees the bit; one that took the flag before it was set
		 * is followed by another run (the kick after the scan).
		 */
		smp_mb__after_atomic();
		WRITE_ONCE(tdsm_notices_pending, true);
	}
	clear_and_wake_up_bit(TDSM_PG_FETCHING, &pg->flags);
	if (!frame)
		return TDSM_SHRINK_SKIPPED;
	put_page(frame);
	return TDSM_SHRINK_FREED;
}

/*
 * The shrinker asks the reclaim work to evict @pages (E9): the pressure
 * becomes the largest such request since the work last took it, not their
 * sum. The pages a scan leaves to the work are mapped or owned, and stay
 * so until the work evicts them, so every later scan that passes them
 * counts them again: a sum would grow with each call while the work falls
 * behind, past the count itself, and the work would then evict the whole
 * cache, hot pages too. The largest request is bounded by one scan's
 * nr_to_scan; the kernel keeps calling while the pressure lasts, and each
 * call kicks the work again.
 */
static void tdsm_cache_press(u64 pages)
{
	s64 old = atomic64_read(&tdsm_cache_pressure);

	do {
		if (old >= (s64)pages)
			return;
	} while (!atomic64_try_cmpxchg(&tdsm_cache_pressure, &old, pages));
}

/*
 * How many objects the shrinker might free: the cached frames, an
 * over-estimate (mapped copies and pages owned here are not its own).
 */
static unsigned long tdsm_shrink_count(struct shrinker *s,
				       struct shrink_control *sc)
{
	s64 cached = atomic64_read(&tdsm_region.cached);

	if (READ_ONCE(tdsm_cache_stopping))
		return 0;
	return cached > 0 ? cached : SHRINK_EMPTY;
}

/*
 * Free up to @sc->nr_to_scan cached copies: walk the chunks that exist
 * from the shrinker's hand (one turn at most), looking at each cached
 * page. Only from a context that may block (the tries need none, but the
 * frees and wake-ups should not come from atomic reclaim). The pages it
 * found mapped or owned here, up to what it was asked for and did not
 * free, become pressure for the reclaim work (E9), which it kicks, as for
 * the notices (E8). Returns the copies freed, or SHRINK_STOP if it found
 * no cached page to look at.
 */
static unsigned long tdsm_shrink_scan(struct shrinker *s,
				      struct shrink_control *sc)
{
	struct tdsm_region *r = &tdsm_region;
	unsigned long hand, idx, first, end, scanned = 0, freed = 0;
	unsigned long not_mine = 0;
	enum tdsm_shrink_seen seen;
	struct tdsm_chunk *c;
	bool wrapped = false;

	if (!gfpflags_allow_blocking(sc->gfp_mask) ||
	    READ_ONCE(tdsm_cache_stopping))
		return SHRINK_STOP;
	hand = READ_ONCE(tdsm_shrink_hand);
	if (hand >= r->npages)
		hand = 0;
	idx = hand;
	while (scanned < sc->nr_to_scan) {
		c = tdsm_evict_next_chunk(r, idx);
		if (!c) {
			if (wrapped || !hand)
				break;
			wrapped = true;
			idx = 0;
			continue;
		}
		first = c->first;
		end = min(first + TDSM_CHUNK_PAGES, r->npages);
		if (wrapped)
			end = min(end, hand);
		for (idx = max(idx, first); idx < end; idx++) {
			if (scanned >= sc->nr_to_scan)
				break;
			if (!test_bit(TDSM_PG_CACHED, &tdsm_pg(r, idx)->flags))
				continue;
			scanned++;
			seen = tdsm_shrink_page(r, c, idx);
			freed += seen == TDSM_SHRINK_FREED;
			not_mine += seen == TDSM_SHRINK_NOT_MINE;
		}
		tdsm_chunk_put(r, first);
		if (wrapped && idx >= hand)
			break;
		cond_resched();
	}
	WRITE_ONCE(tdsm_shrink_hand, idx);
	sc->nr_scanned = scanned;
	atomic64_add(freed, &r->shrinker_freed);
	if (not_mine)
		tdsm_cache_press(min(not_mine, sc->nr_to_scan - freed));
	tdsm_cache_kick();
	/*
	 * Pages that only lost their second chance were scanned: say so (0
	 * freed, not SHRINK_STOP), or reclaim would stop asking before the
	 * next call finds them cold.
	 */
	return scanned ? freed : SHRINK_STOP;
}

/*
 * Notices (E8) of the shrinker's drops in the chunk at @first (held),
 * @bits taken from its unnotified mask: under rule E1, like the clock's
 * clean drops, one EVICTV per home.
 */
static void tdsm_notice_chunk(struct tdsm_region *r, unsigned long first,
			      unsigned long bits)
{
	struct tdsm_evict_group g = { .first = first };
	unsigned int i;

	for_each_set_bit(i, &bits, TDSM_CHUNK_PAGES) {
		struct tdsm_page *pg = tdsm_pg(r, first + i);
		bool notify;

		/* A fault is getting a new copy: the home counts us anyway. */
		if (test_and_set_bit_lock(TDSM_PG_FETCHING, &pg->flags))
			continue;
		tdsm_page_lock(pg);
		g.home[i] = tdsm_page_home(pg);
		notify = !pg->frame && g.home[i] != r->node_id;
		tdsm_page_unlock(pg);
		if (notify)
			g.held |= BIT_ULL(i);
		else
			clear_and_wake_up_bit(TDSM_PG_FETCHING, &pg->flags);
	}
	tdsm_evict_flush(r, &g);
}

/* The reclaim work: the notices of every chunk with unnotified bits. */
static void tdsm_send_notices(struct tdsm_region *r)
{
	unsigned long idx = 0, first, bits;
	struct tdsm_chunk *c;

	/*
	 * Taken before the masks are read: xchg() is fully ordered, and pairs
	 * with the smp_mb__after_atomic() between a drop's bit and its flag
	 * (tdsm_shrink_page()), so every bit set before the flag we took is
	 * seen below. A drop after this sets the flag again and kicks us.
	 */
	if (!xchg(&tdsm_notices_pending, false))
		return;
	while ((c = tdsm_evict_next_chunk(r, idx))) {
		first = c->first;
		bits = xchg(&c->unnotified, 0);
		if (bits)
			tdsm_notice_chunk(r, first, bits);
		tdsm_chunk_put(r, first);
		idx = first + TDSM_CHUNK_PAGES;
		cond_resched();
	}
}

/* ---- the home: EVICTV ----------------------------------------------- */

/*
 * Node src dropped its copies of the pages in the batch's mask (rule E1),
 * and asks this node to take back the pages of its wmask (the write-back,
 * tdsm_writeback_home()). Under each page's TDSM_PG_DIR, taken in
 * ascending order as every batch does, take src out of the copyset of a
 * page of the mask only if this node is the page's home, src is not its
 * owner, no grant in doubt names src (it may have to fall back on src's
 * frame), and the connection the notice came on is still up (a notice
 * handled after its connection died may be older than a new copy src
 * asked for since, over the next connection). A page whose DIR does not
 * come within half the sender's wait is left as it is: the notice is
 * advisory, and such a page of the wmask is neither taken nor released
 * (the locks of the batch all come within that time, or are tried once).
 * The reply's done mask names the pages taken out and the pages written
 * back; its data mask, the release.
 */
void tdsm_handle_evictv(struct tdsm_region *r, struct tdsm_conn *conn,
			const struct tdsm_wire_msg *msg)
{
	struct tdsm_wire_breply rep = {};
	unsigned long first, end = jiffies + msecs_to_jiffies(tdsm_timeout_ms / 2);
	u64 mask, wmask, locked, done = 0, release = 0;
	struct tdsm_bufv *bufv = NULL;
	u8 src = msg->hdr.src;
	enum tdsm_wire_status st;
	unsigned int i, n;
	int err = 0;

	st = tdsm_batch_check(r, msg, &first, &n);
	if (st) {
		tdsm_breply_error(conn, msg, st);
		return;
	}
	mask = be64_to_cpu(msg->batch.mask);
	wmask = be64_to_cpu(msg->batch.wmask);
	/*
	 * No metadata here (M5, M6): the home knows of no copy of these
	 * pages and names no owner, so nothing is taken out, nothing written
	 * back and nothing created; the pages of the wmask homed here are
	 * released (E3: the directory does not name src owner).
	 */
	if (!tdsm_chunk_get_existing(r, first)) {
		for (i = 0; i < n; i++)
			if ((wmask & BIT_ULL(i)) &&
			    tdsm_default_home(r, first + i) == r->node_id)
				release |= BIT_ULL(i);
		rep.data = cpu_to_be64(release);
		tdsm_reply_batch(conn, msg, &rep, NULL, NULL, 0, 0, 0);
		return;
	}
	/*
	 * A write-back's buffer and frames, allocated before the DIRs are
	 * taken: an allocation may wait for the kernel's reclaim, which should
	 * not hold up 64 directory locks and every transaction waiting on
	 * them. NULL if it failed (the write-back then says NOMEM); freed
	 * below, after the locks, if the write-back did not use it.
	 */
	if (wmask)
		bufv = tdsm_bufv_new(conn, n);
	/* All of them within half the sender's wait; then one try each. */
	locked = tdsm_dir_lock_batch(r, first, n, mask | wmask, end);
	/*
	 * Fault injection (debugfs tinydsm/evict_delay_ms, PROTOCOL.md "Fault
	 * injection"): a write-back, holding the DIRs, sleeps before its
	 * FETCHV, never past @end: the locks and the sleep take at most
	 * timeout_ms / 2, the FETCHV at most its call's timeout_ms, so the
	 * reply goes within 1.5 * timeout_ms, inside the sender's wait for an
	 * EVICTV (2 * timeout_ms), and the DIRs are held no longer than a
	 * write-back without the knob may hold them.
	 */
	if (locked & wmask)
		tdsm_inject_evict_delay(end);
	for (i = 0; i < n; i++) {
		struct tdsm_page *pg = tdsm_pg(r, first + i);

		if (!(locked & mask & BIT_ULL(i)) ||
		    tdsm_page_home(pg) != r->node_id || pg->owner == src ||
		    !(pg->copyset & tdsm_nbit(src)) ||
		    tdsm_doubt_names(r, pg, first + i, src) ||
		    !tdsm_conn_is_up(conn))
			continue;
		pg->copyset &= ~tdsm_nbit(src);
		done |= BIT_ULL(i);
	}
	if (locked & wmask)
		done |= tdsm_writeback_home(r, conn, src, first, n,
					    locked & wmask, &bufv, &release,
					    &err);
	/*
	 * Reply before the transaction ends, as every home does: the reply
	 * has landed at src (tdsm_reply_batch() waits for it) before a later
	 * transaction on these pages is served.
	 */
	rep.status = cpu_to_be32(tdsm_errno_status(err));
	rep.done = cpu_to_be64(done);
	rep.data = cpu_to_be64(release);
	tdsm_reply_batch(conn, msg, &rep, NULL, NULL, 0, 0, 0);
	tdsm_dir_unlock_batch(r, first, n, locked);
	tdsm_writeback_buf_free(conn, bufv);
	tdsm_chunk_put(r, first);
}

/* ---- the write-back (rules E2-E5) ------------------------------------- */

/*
 * The evictor: is page @pg (page lock held) one this node owns, to write
 * back rather than drop? Homed elsewhere, with a frame, and named owned
 * here: EXCLUSIVE (maybe written), SHARED and owned, or a frame retained
 * after giving the page up (state INVALID: until its home says otherwise,
 * it may be the page; PROTOCOL.md "Transactions"). Also a read copy this
 * node wrongly believes it owns (a migration's pull, FETCH KEEP): the
 * home then takes nothing and releases it.
 */
static bool tdsm_writeback_victim(struct tdsm_region *r, struct tdsm_page *pg)
{
	tdsm_page_assert_locked(pg);
	return pg->frame && tdsm_page_home(pg) != r->node_id &&
	       pg->owner == r->node_id;
}

/*
 * The evictor: the home answered the write-back of the pages @wmask of
 * the group at @first (their TDSM_PG_FETCHING held since before the
 * EVICTV), or the call failed (@done and @release 0). Free the frame of
 * each page the reply took (@done) or released (@release), and only those
 * (rule E3): a page the home did not take stays, live or retained, and a
 * failed write-back keeps the page (E2). The frame freed is normally the
 * one the FETCHV handler retained; a live one is a copy this node wrongly
 * believed it owned, and dropping it is a silent drop. A page homed here
 * now (a migration to this node, E5) is this node's own: it stays.
 * Nothing else installs a frame here meanwhile: a fault merges on
 * TDSM_PG_FETCHING and waits. The clock holds the group's chunk (M1).
 * Returns the frames freed.
 */
static unsigned int tdsm_writeback_end(struct tdsm_region *r,
				       unsigned long first, u64 wmask, u64 done,
				       u64 release)
{
	u64 freed = 0, left = wmask & (done | release);
	unsigned int i;

	while (left) {
		struct tdsm_page *pg;
		struct page *frame = NULL;

		i = __ffs64(left);
		left &= left - 1;
		pg = tdsm_pg(r, first + i);
		tdsm_fetching_assert_held(pg);
		tdsm_page_lock(pg);
		if (tdsm_page_home(pg) != r->node_id)
			frame = tdsm_local_take(r, pg, first + i);
		tdsm_page_unlock(pg);
		if (frame) {
			put_page(frame);
			freed |= BIT_ULL(i);
		}
	}
	atomic64_add(hweight64(wmask & done), &r->evicted_written);
	atomic64_add(hweight64(freed), &r->evict_released);
	atomic64_add(hweight64(wmask & ~(done | release)), &r->evict_failed);
	return hweight64(freed);
}

/*
 * A write-back buffer the write-back did not use (or NULL): never posted,
 * so its rkey was never sent; tdsm_bufv_put() without a call deregisters
 * it, then its frames and itself go.
 */
static void tdsm_writeback_buf_free(struct tdsm_conn *conn,
				    struct tdsm_bufv *bufv)
{
	if (!bufv)
		return;
	tdsm_bufv_put(conn, bufv, NULL);
	tdsm_bufv_free(bufv);
}

/*
 * The home, EVICTV from @src on @conn: write back the pages @want of the
 * batch of @n pages at @first (their TDSM_PG_DIR held), a transaction of
 * its own (rule E2). It takes the pages it is the home of, whose owner is
 * src and on which no grant in doubt names src; fetches them with one
 * FETCHV (a FETCH DROP of each, on the same connection: src retains its
 * frames), and installs what came as its own copy, SHARED, owner this
 * node, the copyset less src plus this node (E4: the readers keep their
 * copies, and the next write invalidates them), with the transaction's
 * epoch, into *@bufvp (tdsm_bufv_new(), allocated by the caller
 * before the DIRs; NULL if that failed), which it uses, frees and sets to
 * NULL only if it takes a page. Returns the pages installed; *@release:
 * the pages of @want whose
 * directory names src neither as the owner nor as the owner before a
 * grant in doubt (E3), whose frame src may free (the installed ones, and
 * retained or misbelieved frames of pages src no longer owns); *@err: the
 * FETCHV's failure (then nothing is released). A FETCHV not answered
 * kills the connection (the call's timeout): the directory stays, and
 * src's frame, live or retained, is the page.
 *
 * noinline_for_stack: its struct tdsm_call (two completions, bigger with
 * lockdep) stays out of the EVICTV handler's frame, which the debug
 * kernel's KASAN redzones enlarge.
 */
static noinline_for_stack u64
tdsm_writeback_home(struct tdsm_region *r, struct tdsm_conn *conn, u8 src,
		    unsigned long first, unsigned int n, u64 want,
		    struct tdsm_bufv **bufvp, u64 *release, int *err)
{
	struct tdsm_call call = {};
	struct tdsm_wire_msg msg;
	struct tdsm_bufv *bufv;
	u64 take = 0, done = 0;
	unsigned int i;
	u32 epoch;

	*release = 0;
	*err = 0;
	for (i = 0; i < n; i++) {
		struct tdsm_page *pg = tdsm_pg(r, first + i);

		if (!(want & BIT_ULL(i)))
			continue;
		tdsm_dir_assert_locked(pg);
		if (tdsm_page_home(pg) == r->node_id && pg->owner == src &&
		    !tdsm_doubt_names(r, pg, first + i, src))
			take |= BIT_ULL(i);
	}
	if (!take)
		goto release;
	/*
	 * The pages are charged already (claimed, allocated or migrated in:
	 * home budget H6): only the buffer may have failed, and the owner
	 * keeps them.
	 */
	bufv = *bufvp;
	if (!bufv) {
		*err = -ENOMEM;
		tdsm_home_refused(r, tdsm_page_addr(first), hweight64(take),
				  *err, TINYDSM_BUDGET_F_WRITEBACK);
		return 0;
	}
	*bufvp = NULL;
	/* One transaction for the batch, now that no other runs on it. */
	epoch = tdsm_txn_next(r);
	for (i = 0; i < n; i++)
		if (take & BIT_ULL(i))
			tdsm_pg(r, first + i)->epoch = epoch;
	tdsm_batch_msg_init(&msg, TDSM_W_FETCHV, first, n);
	msg.batch.mask = cpu_to_be64(take);
	msg.batch.epoch = cpu_to_be32(epoch);
	*err = tdsm_call_bufv(conn, &msg, bufv, &call);
	if (!*err)
		done = be64_to_cpu(call.reply.breply.done) &
		       be64_to_cpu(call.reply.breply.data) & take;
	for (i = 0; i < n; i++) {
		struct tdsm_page *pg = tdsm_pg(r, first + i);

		if (!(done & BIT_ULL(i)))
			continue;
		tdsm_page_lock(pg);
		tdsm_local_install(r, pg, first + i, bufv->frames[i],
				   TINYDSM_PAGE_SHARED);
		bufv->frames[i] = NULL;
		pg->owner = r->node_id;
		pg->copyset = (pg->copyset & ~tdsm_nbit(src)) |
			      tdsm_nbit(r->node_id);
		pg->epoch = epoch;
		tdsm_page_unlock(pg);
	}
	tdsm_bufv_free(bufv);
	if (*err)
		return done;
release:
	for (i = 0; i < n; i++) {
		struct tdsm_page *pg = tdsm_pg(r, first + i);

		if ((want & BIT_ULL(i)) && tdsm_page_home(pg) == r->node_id &&
		    pg->owner != src && !tdsm_doubt_names(r, pg, first + i, src))
			*release |= BIT_ULL(i);
	}
	return done;
}

/*
 * The owner, a FETCHV from its home: for each page of the mask, what
 * tdsm_handle_fetch() does for a FETCH DROP (tdsm_fetch_frame(): the page
 * settled, the frame newer than none the transaction knew of, given up
 * here before the reply goes out: unmapped, INVALID, the frame retained),
 * then one reply with every frame written ahead of it, and, once it
 * landed or is in doubt, each page left given up (tdsm_fetch_dropped());
 * a reply never posted puts back what was hidden (tdsm_fetch_unsent()).
 * A page whose home, as this node knows it, is not the requester is
 * refused, alone (rule E5: this node may be taking the page over by a
 * migration, and then keeps its frame as the home). It never takes
 * TDSM_PG_DIR, as FETCH does not: no deadlock with the home, which holds
 * the batch's DIRs while it waits. Without the batch's chunk it serves
 * nothing and creates none (M6).
 */
void tdsm_handle_fetchv(struct tdsm_region *r, struct tdsm_conn *conn,
			const struct tdsm_wire_msg *msg)
{
	struct tdsm_wire_breply rep = {};
	struct page *push[TDSM_WIRE_BATCH];
	u8 slot[TDSM_WIRE_BATCH];
	u32 epoch = be32_to_cpu(msg->batch.epoch);
	unsigned int i, n, npush = 0;
	enum tdsm_wire_status st;
	unsigned long first;
	u64 want, sent = 0, hid = 0;
	bool hidden;
	int err;

	st = tdsm_batch_check(r, msg, &first, &n);
	if (st) {
		tdsm_breply_error(conn, msg, st);
		return;
	}
	want = be64_to_cpu(msg->batch.mask);
	/*
	 * A request about copies here (M6): no metadata, no copy, nothing
	 * served and nothing created; the reply says so (done 0).
	 */
	if (!tdsm_chunk_get_existing(r, first)) {
		tdsm_reply_batch(conn, msg, &rep, NULL, NULL, 0, 0, 0);
		return;
	}
	for (i = 0; i < n; i++) {
		if (!(want & BIT_ULL(i)) ||
		    tdsm_page_home(tdsm_pg(r, first + i)) != msg->hdr.src)
			continue;
		/* Hidden here before the reply goes out, as for a FETCH DROP. */
		push[npush] = tdsm_fetch_frame(r, first + i, epoch, 0, &hidden);
		if (!push[npush])
			continue;
		if (hidden)
			hid |= BIT_ULL(npush);
		slot[npush++] = i;
		sent |= BIT_ULL(i);
	}
	rep.done = cpu_to_be64(sent);
	rep.data = cpu_to_be64(sent);
	err = tdsm_reply_batch(conn, msg, &rep, push, slot, npush,
			       be64_to_cpu(msg->batch.iova),
			       be32_to_cpu(msg->batch.rkey));
	if (npush)
		tdsm_inject_fetch_reply_delay();
	/*
	 * Sent, or in doubt (-ECOMM: the home may have them): give them up.
	 * Surely not sent: the home has none, what was hidden is back.
	 */
	for (i = 0; i < npush; i++) {
		if (!err || err == -ECOMM)
			tdsm_fetch_dropped(r, first + slot[i], push[i]);
		else if (hid & BIT_ULL(i))
			tdsm_fetch_unsent(r, first + slot[i], push[i]);
		put_page(push[i]);
	}
	tdsm_chunk_put(r, first);
}

/*
 * Module load, once the region's pages are set up (tdsm_pages_init()):
 * the reclaim work's queue, and the shrinker, which may run from here on.
 */
int tdsm_cache_init(void)
{
	tdsm_cache_wq = alloc_workqueue("tinydsm-cache",
					WQ_UNBOUND | WQ_MEM_RECLAIM, 1);
	if (!tdsm_cache_wq)
		return -ENOMEM;
	tdsm_shrinker = tdsm_shrinker_register("tinydsm-cache",
					       tdsm_shrink_count,
					       tdsm_shrink_scan);
	if (!tdsm_shrinker) {
		destroy_workqueue(tdsm_cache_wq);
		tdsm_cache_wq = NULL;
		return -ENOMEM;
	}
	return 0;
}

/*
 * The shrinker goes: after this no callback of it runs (both kernels wait
 * for the calls under way), so none outlives the region's pages, which go
 * later (tdsm_pages_exit()).
 */
static void tdsm_shrinker_stop(void)
{
	if (tdsm_shrinker)
		tdsm_shrinker_free(tdsm_shrinker);
	tdsm_shrinker = NULL;
}

/*
 * Module exit, first step (before the peers go): the shrinker is gone, no
 * reclaim runs or starts any more; faults may still install (and try to
 * kick it).
 */
void tdsm_cache_stop(void)
{
	WRITE_ONCE(tdsm_cache_stopping, true);
	tdsm_shrinker_stop();
	cancel_work_sync(&tdsm_reclaim_work);
	wake_up_all(&tdsm_cache_wait);
}

/*
 * Module exit (or a load that failed after tdsm_cache_init()), once
 * nothing installs any more (the transport is gone).
 */
void tdsm_cache_exit(void)
{
	struct workqueue_struct *wq = tdsm_cache_wq;

	WRITE_ONCE(tdsm_cache_stopping, true);
	tdsm_shrinker_stop();
	WRITE_ONCE(tdsm_cache_wq, NULL);
	cancel_work_sync(&tdsm_reclaim_work);
	destroy_workqueue(wq);
}
