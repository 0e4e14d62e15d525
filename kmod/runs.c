// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: who allocated each run (TINYDSM_IOC_ALLOC), so that only they
 * may free it (TINYDSM_IOC_FREE).
 *
 * The node where a user calls ALLOC records the run (its first page, its
 * length) with the caller's fsuid. A FREE on this node of a run recorded
 * here must name the run exactly as allocated and come from the same
 * fsuid; anything else needs CAP_SYS_ADMIN (as IPC_RMID of another user's
 * SysV segment does): EPERM otherwise, and EPERM too for a run this node
 * has no record of (allocated from another node, or already freed), since
 * nothing here says whose it is. A free that names pages of this node's
 * slice that are not allocated gives EINVAL, as before.
 *
 * The allocator itself, and the only complete record of which pages are
 * allocated, is at each run's home (proto.c: tdsm_home_alloc(),
 * tdsm_home_free()), reached over the wire when the home is another node.
 * The wire's ALLOC and FREE carry no uid, so the home cannot check a FREE
 * that another node sends it: the check here covers the users of this
 * node, and a record here goes stale if a privileged user elsewhere frees
 * the run (a new ALLOC of the same pages, here, replaces it).
 * kmod/PROTOCOL.md, "Who may free a run", says what the wire needs.
 *
 * Lock: tdsm_runs_lock protects tdsm_runs; it is never held across the
 * allocator's call (which may wait for the home): a FREE takes its record
 * out first and puts it back if the free fails.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uidgid.h>
#include <linux/xarray.h>

#include "tinydsm.h"

/**
 * struct tdsm_run - a run allocated through this node
 * @npages: its length, as allocated.
 * @uid: the fsuid of the task that allocated it.
 */
struct tdsm_run {
	u32 npages;
	kuid_t uid;
};

static DEFINE_MUTEX(tdsm_runs_lock);
/* Index of a run's first page -> struct tdsm_run; under tdsm_runs_lock. */
static DEFINE_XARRAY(tdsm_runs);

static unsigned long tdsm_run_first(u64 addr)
{
	return (addr - TINYDSM_REGION_BASE) >> PAGE_SHIFT;
}

/* Forget the records of runs that overlap [first, first + npages). */
static void tdsm_runs_forget(struct tdsm_region *r, unsigned long first, u32 npages)
{
	unsigned long idx, from;
	struct tdsm_run *run;

	lockdep_assert_held(&tdsm_runs_lock);
	/* A run is at most a slice long. */
	from = first >= r->slice_pages ? first - r->slice_pages + 1 : 0;
	xa_for_each_range(&tdsm_runs, idx, run, from, first + npages - 1) {
		if (idx + run->npages <= first)
			continue;
		xa_erase(&tdsm_runs, idx);
		kfree(run);
	}
}

/* Whether every page of [first, first + npages) of this node's slice is allocated. */
static bool tdsm_runs_allocated_here(struct tdsm_region *r, unsigned long first,
				     u32 npages)
{
	unsigned long start = first - (unsigned long)(r->node_id - 1) * r->slice_pages;
	bool all;

	if (first / r->slice_pages + 1 != r->node_id || start + npages > r->slice_pages)
		return true;	/* not (only) this node's: the allocator decides */
	mutex_lock(&r->alloc_lock);
	all = find_next_zero_bit(r->alloc_map, start + npages, start) >= start + npages;
	mutex_unlock(&r->alloc_lock);
	return all;
}

/* TINYDSM_IOC_ALLOC: allocate, and remember who did. */
int tdsm_runs_alloc(struct tdsm_region *r, struct tinydsm_alloc *a)
{
	struct tdsm_run *run = kmalloc(sizeof(*run), GFP_KERNEL_ACCOUNT);
	struct tinydsm_alloc undo;
	unsigned long first;
	int err;

	if (!run)
		return -ENOMEM;
	err = tdsm_alloc_ioctl(r, true, a);
	if (err) {
		kfree(run);
		return err;
	}
	run->npages = a->npages;
	run->uid = current_fsuid();
	first = tdsm_run_first(a->addr);
	mutex_lock(&tdsm_runs_lock);
	/* Stale records of pages freed elsewhere, now allocated again. */
	tdsm_runs_forget(r, first, a->npages);
	err = xa_err(xa_store(&tdsm_runs, first, run, GFP_KERNEL_ACCOUNT));
	mutex_unlock(&tdsm_runs_lock);
	if (!err)
		return 0;
	/* No record, no run: an unrecorded run could not be freed by its owner. */
	kfree(run);
	undo = (struct tinydsm_alloc){ .addr = a->addr, .npages = a->npages };
	if (tdsm_alloc_ioctl(r, false, &undo))
		pr_warn_ratelimited("run %#llx (%u pages) allocated, not recorded, not freed\n",
				    a->addr, a->npages);
	return err;
}

/* TINYDSM_IOC_FREE: only the run's allocator, or CAP_SYS_ADMIN. */
int tdsm_runs_free(struct tdsm_region *r, struct tinydsm_alloc *a)
{
	struct tdsm_run *run = NULL;
	unsigned long first;
	bool owner, mine;
	int err;

	/* What the allocator checks first, so that its errors come first. */
	if (a->reserved[0] || a->reserved[1] || !a->npages)
		return -EINVAL;
	if (!tdsm_page_at(r, a->addr))
		return -ERANGE;
	if (a->addr & ~PAGE_MASK || a->npages > r->slice_pages)
		return -EINVAL;
	first = tdsm_run_first(a->addr);

	mutex_lock(&tdsm_runs_lock);
	run = xa_load(&tdsm_runs, first);
	owner = run && uid_eq(run->uid, current_fsuid());
	/* Exactly as allocated: not a part of the run, nor more. */
	mine = owner && run->npages == a->npages;
	if (mine)
		xa_erase(&tdsm_runs, first);	/* back below if the free fails */
	else
		run = NULL;
	mutex_unlock(&tdsm_runs_lock);

	if (!mine && !capable(CAP_SYS_ADMIN)) {
		/* Its owner, with another length; or nobody's pages here. */
		if (owner || !tdsm_runs_allocated_here(r, first, a->npages))
			return -EINVAL;
		return -EPERM;
	}

	err = tdsm_alloc_ioctl(r, false, a);
	mutex_lock(&tdsm_runs_lock);
	if (!err) {
		/* Freed: whoever's they were, the pages are nobody's now. */
		tdsm_runs_forget(r, first, a->npages);
	} else if (run && !xa_insert(&tdsm_runs, first, run, GFP_KERNEL_ACCOUNT)) {
		run = NULL;	/* still the owner's */
	}
	mutex_unlock(&tdsm_runs_lock);
	kfree(run);
	return err;
}

/* The module is unloading: no file is open. */
void tdsm_runs_exit(void)
{
	struct tdsm_run *run;
	unsigned long idx;

	mutex_lock(&tdsm_runs_lock);
	xa_for_each(&tdsm_runs, idx, run)
		kfree(run);
	xa_destroy(&tdsm_runs);
	mutex_unlock(&tdsm_runs_lock);
}
