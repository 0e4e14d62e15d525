// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: the name of a frame while user space may reach it.
 *
 * The region's frames are mapped as normal, refcounted PTEs (region.c),
 * so that get_user_pages() works on them: the kernel's shared futexes
 * take a reference on the page at the address, read its ->mapping and
 * ->index, and key the futex on (inode, index). A frame mapped for page
 * @idx of the region therefore carries the region's address space and
 * @idx (tdsm_frame_name(), under the folio lock, before the PTE exists):
 * whichever frame holds the page on this node, a futex on one of its
 * words has the same key, so a waiter queued before coherence changed the
 * frame is still woken by a FUTEX_WAKE after.
 *
 * Rule F1: a frame that carries a name is either some page's frame
 * (pg->frame) or held by the release list below; the name goes only when
 * no reference but the list's is left. A reference taken by GUP before the
 * frame was unmapped (a futex between its GUP and its read of ->mapping, an
 * O_DIRECT in flight) may still read the name: clearing it under such a
 * holder would make the futex fail with EFAULT, and a frame freed with
 * ->mapping set is a bad page. So the frame that leaves its page
 * (tdsm_frame_release(), from tdsm_local_drop()) loses its name at once if
 * ours is its only reference (no PTE maps it any more, so no new GUP can
 * find it), else goes on the list, which takes a reference, and a worker
 * clears the name and drops that reference once the others are gone.
 *
 * Rule F2: a frame is not taken from its page under a DMA pin taken while
 * it was mapped (io_uring, RDMA memory registrations, O_DIRECT on 6.12):
 * tdsm_frame_wait_unpinned() waits for the pin, at most timeout_ms / 4 (the
 * peer that takes the page waits timeout_ms for the answer), after
 * the unmap and before the frame's data are given away; a pin that
 * outlives the bound is reported, and what the device writes through it
 * after that is not seen by the other nodes.
 */
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include "frame.h"
#include "rdma.h"

/* The frames that left their page while others held them: pfn -> page. */
static DEFINE_XARRAY(tdsm_released);

/* How often the list is looked at while it is not empty. */
#define TDSM_RELEASE_POLL_MS	10

static void tdsm_frames_reap(struct work_struct *work);
static DECLARE_DELAYED_WORK(tdsm_reap_work, tdsm_frames_reap);

/*
 * Name @frame page @idx of @mapping, for a PTE about to map it. The folio
 * lock is held (the fault returns it locked), so a name changes only
 * between mappings.
 */
void tdsm_frame_name(struct page *frame, struct address_space *mapping,
		     pgoff_t idx)
{
	VM_WARN_ON_ONCE(!PageLocked(frame));
	frame->index = idx;
	WRITE_ONCE(frame->mapping, mapping);
}

/* Drop the name and the list's reference of @frame. */
static void tdsm_frame_unname(struct page *frame)
{
	WRITE_ONCE(frame->mapping, NULL);
	put_page(frame);
}

/*
 * @frame leaves its page; no PTE maps it (rule F1). The caller's
 * reference is the page's, which it keeps.
 */
void tdsm_frame_release(struct page *frame)
{
	int err;

	if (!READ_ONCE(frame->mapping))
		return;
	if (page_ref_count(frame) == 1) {
		WRITE_ONCE(frame->mapping, NULL);
		return;
	}
	get_page(frame);
	/* No sleep: the shrinker releases frames inside reclaim (E7). */
	err = xa_insert(&tdsm_released, page_to_pfn(frame), frame,
			GFP_NOWAIT | __GFP_NOWARN);
	if (err == -EBUSY) {
		/* On the list already (it left a page before): one reference. */
		put_page(frame);
		return;
	}
	if (err) {
		/*
		 * No memory for the entry: a futex racing with this release
		 * may fail with EFAULT, as on a truncated file.
		 */
		tdsm_frame_unname(frame);
		return;
	}
	mod_delayed_work(system_wq, &tdsm_reap_work,
			 msecs_to_jiffies(TDSM_RELEASE_POLL_MS));
}

/* Unname every listed frame that only the list holds (all if @force). */
static unsigned long tdsm_frames_unname_idle(bool force)
{
	unsigned long pfn, left = 0;
	struct page *frame;

	xa_for_each(&tdsm_released, pfn, frame) {
		/* A frame mapped again since is named anew: not idle. */
		if (!force && page_ref_count(frame) > 1) {
			left++;
			continue;
		}
		xa_erase(&tdsm_released, pfn);
		tdsm_frame_unname(frame);
	}
	return left;
}

static void tdsm_frames_reap(struct work_struct *work)
{
	if (tdsm_frames_unname_idle(false))
		schedule_delayed_work(&tdsm_reap_work,
				      msecs_to_jiffies(TDSM_RELEASE_POLL_MS));
}

/*
 * Rule F2: after the unmap of @frame (folio lock held), wait for a DMA pin
 * to go, at most a quarter of timeout_ms: the peer whose request takes the
 * page waits timeout_ms for our answer. @addr names the page in the report.
 */
void tdsm_frame_wait_unpinned(struct page *frame, u64 addr)
{
	unsigned long end = jiffies + msecs_to_jiffies(tdsm_timeout_ms / 4);

	while (folio_maybe_dma_pinned(page_folio(frame))) {
		if (time_after(jiffies, end)) {
			pr_warn_ratelimited("page %#llx: pinned (an MR, O_DIRECT) for more than %u ms while it is taken from this node: what the device writes through the pin from now on is lost\n",
					    addr, tdsm_timeout_ms / 4);
			return;
		}
		usleep_range(100, 200);
	}
}

/*
 * At unload, after every page's frame was released and before the address
 * space goes: references others still hold (a pin outliving its process)
 * get at most a few seconds, then every name goes.
 */
void tdsm_frames_exit(void)
{
	unsigned long left, end = jiffies + 5 * HZ;

	cancel_delayed_work_sync(&tdsm_reap_work);
	while ((left = tdsm_frames_unname_idle(false)) &&
	       time_before(jiffies, end))
		msleep(TDSM_RELEASE_POLL_MS);
	if (left)
		pr_warn("%lu frames still referenced at unload (pinned?): their name goes\n",
			left);
	tdsm_frames_unname_idle(true);
	xa_destroy(&tdsm_released);
}
