// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: read-ahead of sequential read faults.
 *
 * A read fault on a page homed elsewhere that continues a sequential
 * stream (the page before it was the last one that stream faulted on, or
 * read ahead) asks the home for that page and up to readahead_pages pages
 * after it in one READV (migrate.c, tdsm_readv_fetch()): one round trip
 * for them all, and the faults on the pages after it are local ones. A
 * fault that continues no stream fetches its page alone, as before, so
 * random access pays nothing for this.
 *
 * The window stops at the end of the page's group of TDSM_WIRE_BATCH pages
 * (a READV is one group), at the first page homed on another node, at the
 * region's end and at the cache's budget (tdsm_cache_room()); it skips
 * pages that have a frame here and pages another task is fetching (their
 * TDSM_PG_FETCHING held), and holds the
 * FETCHING bit of each page it asks for until their install, so a fault on
 * one of them meanwhile waits for it (tdsm_acquire_once()) and then finds
 * it here. The pages come as read copies, granted by the home like any
 * READ's, so a later write anywhere invalidates them as usual.
 *
 * A node follows TDSM_RA_STREAMS streams at once (several tasks reading
 * sequentially), each slot the index its next fault would be on. The
 * slots are read and written without a lock: a race can lose a stream
 * (that fault goes alone), never change what is fetched for whom, which
 * the READV and the FETCHING bits decide.
 */
#include <linux/bitops.h>
#include <linux/minmax.h>
#include <linux/moduleparam.h>
#include <linux/wait_bit.h>

#include "evict.h"
#include "migrate.h"
#include "page.h"
#include "readahead.h"
#include "tinydsm.h"
#include "wire.h"

static unsigned int tdsm_readahead_pages = 15;

/* The faulting page and the window are one READV, one group. */
static int tdsm_readahead_pages_set(const char *val,
				    const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 0, TDSM_WIRE_BATCH - 1);
}

static const struct kernel_param_ops tdsm_readahead_pages_ops = {
	.set = tdsm_readahead_pages_set,
	.get = param_get_uint,
};
module_param_cb(readahead_pages, &tdsm_readahead_pages_ops,
		&tdsm_readahead_pages, 0644);
MODULE_PARM_DESC(readahead_pages,
		 "pages read ahead of a sequential read fault, 0..63 (default 15; 0: off)");

/*
 * Does a fault on @idx continue one of @r's streams? Its slot, or -1; a
 * fault that continues none starts a stream in the next slot.
 */
static int tdsm_stream_find(struct tdsm_region *r, unsigned long idx)
{
	unsigned int i, victim;

	for (i = 0; i < TDSM_RA_STREAMS; i++)
		if (READ_ONCE(r->ra_streams[i]) == idx)
			return i;
	victim = READ_ONCE(r->ra_victim) % TDSM_RA_STREAMS;
	WRITE_ONCE(r->ra_victim, victim + 1);
	WRITE_ONCE(r->ra_streams[victim], idx + 1);
	return -1;
}

/**
 * tdsm_readahead - a read fault's page, and the pages after it, in one READV
 * @r: the region.
 * @pg: page @idx, whose TDSM_PG_FETCHING the caller holds and whose chunk
 *	it holds (the window lies in that chunk).
 * @idx: the page a read fault wants, homed on @home, another node.
 * @home: its home.
 *
 * Returns 0 if page @idx was installed here (with whatever of the window
 * came with it); TDSM_RA_ALONE if the fault must fetch it itself with a
 * READ: it continues no stream, read-ahead is off, or the home answered
 * without it (the READ says why: forwarding, a refusal); or the READV's
 * -errno (-ETIMEDOUT, -ENOTCONN, -EHOSTUNREACH, -EINTR), which the fault
 * handles as a READ's: a READ after a timed-out READV would only wait once
 * more for a home that did not answer.
 */
int tdsm_readahead(struct tdsm_region *r, struct tdsm_page *pg,
		   unsigned long idx, u8 home)
{
	unsigned int ahead = READ_ONCE(tdsm_readahead_pages), i, n;
	unsigned long end, room;
	u64 want = BIT_ULL(0), got = 0;
	int slot, err;

	tdsm_pg_assert_held(pg, idx);
	slot = tdsm_stream_find(r, idx);
	if (slot < 0)
		return TDSM_RA_ALONE;
	/* Never past the cache's budget: the faulting page first. */
	room = tdsm_cache_room(r);
	if (room <= ahead)
		ahead = room ? room - 1 : 0;
	/* A frame here (a retained one) needs the READ's handling. */
	if (!ahead || READ_ONCE(pg->frame)) {
		WRITE_ONCE(r->ra_streams[slot], idx + 1);
		return TDSM_RA_ALONE;
	}
	end = min3(idx + 1 + ahead, round_up(idx + 1, TDSM_WIRE_BATCH),
		   r->npages);
	n = end - idx;
	for (i = 1; i < n; i++) {
		struct tdsm_page *next = tdsm_pg(r, idx + i);

		if (tdsm_page_home(next) != home)
			break;
		/* Here already, or a fault in flight has it in hand. */
		if (READ_ONCE(next->frame) ||
		    test_and_set_bit_lock(TDSM_PG_FETCHING, &next->flags))
			continue;
		want |= BIT_ULL(i);
	}
	n = i;
	WRITE_ONCE(r->ra_streams[slot], idx + n);
	/* Nothing to read ahead (the group's last page): a READ will do. */
	if (want == BIT_ULL(0))
		return TDSM_RA_ALONE;
	err = tdsm_readv_fetch(r, idx, n, want, home, &got);
	for (i = 1; i < n; i++)
		if (want & BIT_ULL(i))
			clear_and_wake_up_bit(TDSM_PG_FETCHING,
					      &tdsm_pg(r, idx + i)->flags);
	atomic64_inc(&r->readahead_batches);
	atomic64_add(hweight64(got & ~BIT_ULL(0)), &r->readahead_pages);
	if (got & BIT_ULL(0)) {
		atomic64_inc(&r->remote_faults);
		return 0;
	}
	/* No memory for the window's frames: one page may still do. */
	if (!err || err == -ENOMEM)
		return TDSM_RA_ALONE;
	return err;
}
