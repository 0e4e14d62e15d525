// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: the region — /dev/tinydsm, its mmap and its page faults.
 *
 * Every open file of the device shares one address space (an inode of a
 * private pseudo filesystem, as DRM does), so that one
 * unmap_mapping_range() on it reaches the mappings of every process of the
 * node, whichever device node they opened.
 *
 * Faults: a fault on a page this node holds maps its frame; otherwise
 * tdsm_acquire() (proto.c) gets it from its home, or, on the home, from
 * its owner, one fetch per page however many tasks fault on it
 * (TDSM_PG_FETCHING).
 *
 * The frames are mapped as normal, refcounted PTEs, handed to the core
 * by .fault (and .page_mkwrite) locked, as a filesystem hands its page
 * cache: get_user_pages() works on them, so the kernel's shared futexes,
 * /proc/PID/mem, ptrace, O_DIRECT and io_uring reach the region. Each
 * frame carries the region's address space and its page index while it
 * may be reached (frame.c, F1): a shared futex is keyed on (inode, page),
 * whichever frame holds the page. Who takes a frame away takes its folio
 * lock, unmaps it, and waits (bounded) for a DMA pin to go (F2) before its
 * data leave.
 *
 * A read fault maps the frame read-only (the vm_ops have .page_mkwrite, so
 * the core write-protects the shared mapping); the first write reaches
 * .page_mkwrite, which is where a page becomes exclusive to this node. A
 * write fault on an absent PTE gets the page exclusive in .fault, and the
 * core calls .page_mkwrite before it maps it writable.
 *
 * Lock order: mmap_lock (held by the core) -> page lock (tdsm_page_lock)
 * -> folio lock of the frame -> the PTE lock (inside the core's
 * finish_fault() and unmap_mapping_range()). Every PTE of a page is
 * installed or made writable under the frame's folio lock, taken under the
 * page lock, so whoever takes a page away from this node (page lock, folio
 * lock, then unmap_mapping_range) cannot miss a PTE that a fault is still
 * installing, nor have a write-enable land after its unmap.
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/highmem.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pagemap.h>
#include <linux/pseudo_fs.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/task_stack.h>
#include <linux/uaccess.h>

#include "alloc.h"
#include "budget.h"
#include "compat.h"
#include "evict.h"
#include "frame.h"
#include "lock.h"
#include "netlink.h"
#include "page.h"
#include "place.h"
#include "proto.h"
#include "region.h"
#include "site.h"
#include "tinydsm.h"
#include "wait.h"
#include "word.h"
#include "trace.h"

#define TDSM_FS_MAGIC	0x7464736d	/* "tdsm" */

/* The internal mount holding the shared inode; set at load, cleared at unload. */
static struct vfsmount *tdsm_mnt;
static int tdsm_mnt_count;
static struct inode *tdsm_inode;

static int tdsm_fs_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, TDSM_FS_MAGIC) ? 0 : -ENOMEM;
}

/* The region's frames are never written back (tdsm_region_init()). */
static const struct address_space_operations tdsm_aops = {
	.dirty_folio = noop_dirty_folio,
};

/*
 * No .owner: the mount lives exactly from load to unload, and the module
 * reference an owner would take would make the module impossible to unload.
 */
static struct file_system_type tdsm_fs_type = {
	.name = "tinydsm",
	.init_fs_context = tdsm_fs_init_fs_context,
	.kill_sb = kill_anon_super,
};

static unsigned int tdsm_storm_faults = 10000;
module_param_named(storm_faults, tdsm_storm_faults, uint, 0644);
MODULE_PARM_DESC(storm_faults,
		 "faults per second above which a fault-storm event is sent (0: never)");

/*
 * Fault storms: the first fault after an interval of about a second that
 * saw more than storm_faults per second sends TINYDSM_EV_FAULT_STORM. The
 * faults are the region's own counters (no second count on the fault
 * path), read once per interval. Lock-free and approximate on purpose.
 */
static void tdsm_storm_note(struct tdsm_region *r, unsigned long idx)
{
	unsigned long now = jiffies, start = READ_ONCE(r->storm_start);
	u64 total, n;

	if (time_before(now, start + HZ) ||
	    cmpxchg(&r->storm_start, start, now) != start)
		return;
	/* Only the winner of the cmpxchg gets here, once per interval. */
	total = atomic64_read(&r->read_faults) + atomic64_read(&r->write_faults);
	n = total - r->storm_faults_seen;
	r->storm_faults_seen = total;
	n = div_u64(n * HZ, max(now - start, 1UL));
	if (tdsm_storm_faults && n > tdsm_storm_faults)
		tdsm_event_storm(min_t(u64, n, U32_MAX), TINYDSM_REGION_BASE +
				 ((u64)idx << PAGE_SHIFT));
}

/*
 * Count a fault on @pg; @user: it came from the mapping task itself, so its
 * user IP is worth recording (not GUP from elsewhere, not copy_*_user).
 */
static void tdsm_note_fault(struct vm_fault *vmf, struct tdsm_page *pg, bool user)
{
	tdsm_storm_note(&tdsm_region, vmf->pgoff);
	tdsm_cache_touch(pg);
	if (user) {
		pg->fault_ip = instruction_pointer(task_pt_regs(current));
		tdsm_sites_fault(&tdsm_region, vmf->vma->vm_file->private_data,
				 vmf->pgoff, pg, pg->fault_ip);
	}
	if (pg->faults < U8_MAX)
		pg->faults++;
}

/*
 * Get page @idx here (for writing if @write) when it is not: unless another
 * task of this node is already at it, in which case wait for that one.
 * Called and returns with no lock held. 0: look again; else VM_FAULT_*
 * (NOPAGE after a fatal signal, OOM for -ENOMEM, SIGBUS for the rest).
 */
static vm_fault_t tdsm_fault_acquire(struct tdsm_region *r,
				     struct tdsm_page *pg, unsigned long idx,
				     bool write, int *errp)
{
	bool merged;
	int err;

	err = tdsm_acquire_once(r, pg, idx, write, &merged);
	if (merged)	/* with the fault already in flight */
		return err ? VM_FAULT_NOPAGE : 0;
	*errp = err ? err : 1;	/* 1: fetched by this fault */
	if (err == -EINTR)
		return VM_FAULT_NOPAGE;	/* a fatal signal ends the task */
	/*
	 * No memory for the page, here or at its home (-ENOMEM), is not the
	 * page's failure: VM_FAULT_OOM, and the core retries the access as it
	 * does for any fault short of memory. Anything else: SIGBUS.
	 */
	return err ? vmf_error(err) : 0;
}

/*
 * Return with page @idx locked and held here, exclusive to this node if
 * @write: 0, or VM_FAULT_* if it cannot be (the page is then unlocked).
 * A frame in state INVALID is never mapped: elsewhere a retained frame,
 * on the page's home its own frame retained for a write grant under way
 * (proto.c, tdsm_write_owner()), whose transaction tdsm_acquire() waits for.
 */
static vm_fault_t tdsm_page_get(struct tdsm_region *r, struct tdsm_page *pg,
				unsigned long idx, bool write, int *acq)
{
	vm_fault_t ret;

	for (;;) {
		/* Interrupted only by a fatal signal: retry, the task dies first. */
		if (tdsm_page_lock_killable(pg))
			return VM_FAULT_NOPAGE;
		if (pg->frame && pg->state != TINYDSM_PAGE_INVALID &&
		    (!write || pg->state == TINYDSM_PAGE_EXCLUSIVE))
			return 0;
		tdsm_page_unlock(pg);
		ret = tdsm_fault_acquire(r, pg, idx, write, acq);
		if (ret)
			return ret;
	}
}

/*
 * Hand the frame of @pg to the core, which maps it at the fault's address:
 * writable for a write fault (after .page_mkwrite), else read-only (the
 * core write-protects the shared mapping because the vm_ops have
 * .page_mkwrite). Page lock held. The frame is named (frame.c, F1) and
 * returned locked, with a reference for the PTE: whoever takes a page away
 * takes the folio lock before its unmap (tdsm_local_unmap()), so the PTE
 * the core installs under this lock cannot outlive that unmap.
 * TDSM_PG_MAPPED is set first (before the PTE can exist), under the page
 * lock, and cleared only after an unmap (tdsm_local_unmap()) or when the
 * frame's map count is 0 under its folio lock (tdsm_local_unmapped(): a
 * munmap() took the PTEs): while it is clear no PTE maps the frame, which
 * is what lets the shrinker free a copy without unmapping it (evict.c,
 * rule E7).
 */
static vm_fault_t tdsm_hand_frame(struct vm_fault *vmf, struct tdsm_page *pg)
{
	struct page *frame = pg->frame;

	tdsm_page_assert_locked(pg);
	if (!test_bit(TDSM_PG_MAPPED, &pg->flags))
		set_bit(TDSM_PG_MAPPED, &pg->flags);
	lock_page(frame);
	tdsm_frame_name(frame, tdsm_region.mapping, vmf->pgoff);
	get_page(frame);
	vmf->page = frame;
	return VM_FAULT_LOCKED;
}

/* A write to @pg: count it. The page lock is held, the page exclusive. */
static void tdsm_note_write(struct vm_fault *vmf, struct tdsm_page *pg)
{
	tdsm_page_assert_locked(pg);
	set_bit(TDSM_PG_WRITTEN, &pg->flags);
	/*
	 * The core hides FAULT_FLAG_USER from .page_mkwrite; a write by the
	 * task's own syscall records the syscall's return address.
	 */
	tdsm_note_fault(vmf, pg, current->mm == vmf->vma->vm_mm);
	atomic64_inc(&tdsm_region.write_faults);
}

static vm_fault_t __tdsm_vm_fault(struct vm_fault *vmf, int *acq)
{
	struct tdsm_region *r = &tdsm_region;
	bool write = vmf->flags & FAULT_FLAG_WRITE;
	struct tdsm_page *pg;
	vm_fault_t ret;

	/* tdsm_mmap() keeps every VMA inside the region. */
	if (WARN_ON_ONCE(vmf->pgoff >= r->npages))
		return VM_FAULT_SIGBUS;
	/*
	 * No memory for the page's metadata: as for its frame, OOM. Its one
	 * lookup: @pg is handed down, valid until the put below (M1).
	 */
	pg = tdsm_chunk_get_pg(r, vmf->pgoff);
	if (IS_ERR(pg))
		return VM_FAULT_OOM;

	/* A write fault asks for the page writable at once. */
	ret = tdsm_page_get(r, pg, vmf->pgoff, write, acq);
	if (ret)
		goto out;
	if (write) {
		/* Counted by .page_mkwrite, which the core calls next. */
		ret = tdsm_hand_frame(vmf, pg);
	} else {
		if (!(vmf->flags & FAULT_FLAG_USER) &&
		    current->mm != vmf->vma->vm_mm) {
			/* REPOPULATE mapping it for a process: not its fault. */
			atomic64_inc(&r->prefaults);
		} else {
			tdsm_note_fault(vmf, pg, vmf->flags & FAULT_FLAG_USER);
			atomic64_inc(&r->read_faults);
		}
		ret = tdsm_hand_frame(vmf, pg);
	}
	tdsm_page_unlock(pg);
out:
	tdsm_chunk_put_pg(pg, vmf->pgoff);
	return ret;
}

/*
 * A write to a page mapped read-only, or the second step of a write fault
 * on an absent PTE (.fault got the page exclusive already; the core then
 * asks here before it maps the frame writable). The page is got
 * exclusive, and the frame returned locked: the core makes the PTE
 * writable under that lock, after checking that the PTE is the one it
 * faulted on, so a take-away (folio lock, then unmap) either comes first
 * and the core finds its PTE gone, or comes after and unmaps the writable
 * one. A frame that changed since the core saw it: fault again.
 */
static vm_fault_t __tdsm_vm_page_mkwrite(struct vm_fault *vmf, int *acq)
{
	struct tdsm_region *r = &tdsm_region;
	struct tdsm_page *pg;
	vm_fault_t ret;

	pg = tdsm_chunk_get_pg(r, vmf->pgoff);
	if (IS_ERR(pg))
		return VM_FAULT_OOM;
	ret = tdsm_page_get(r, pg, vmf->pgoff, true, acq);
	if (ret)
		goto out;
	if (pg->frame != vmf->page) {
		ret = VM_FAULT_NOPAGE;
	} else {
		tdsm_note_write(vmf, pg);
		lock_page(pg->frame);
		ret = VM_FAULT_LOCKED;
	}
	tdsm_page_unlock(pg);
out:
	tdsm_chunk_put_pg(pg, vmf->pgoff);
	return ret;
}

/*
 * The tracepoints around a fault: the user IP if the task's own access
 * faulted (not GUP from elsewhere), and how the fault ended: @acq is 0 if
 * the page was here, 1 if this fault fetched it, else -errno of the fetch.
 */
static unsigned long tdsm_fault_ip(struct vm_fault *vmf)
{
	return current->mm == vmf->vma->vm_mm ?
	       instruction_pointer(task_pt_regs(current)) : 0;
}

static void tdsm_trace_fault_end(struct vm_fault *vmf, unsigned long ip,
				 bool write, vm_fault_t ret, int acq)
{
	int err = acq < 0 ? acq : (ret & VM_FAULT_SIGBUS) ? -EIO : 0;

	trace_tinydsm_fault_end(vmf->address, ip, write, err, acq == 1);
}

static vm_fault_t tdsm_vm_fault(struct vm_fault *vmf)
{
	bool write = vmf->flags & FAULT_FLAG_WRITE;
	unsigned long ip = tdsm_fault_ip(vmf);
	vm_fault_t ret;
	int acq = 0;

	trace_tinydsm_fault_start(vmf->address, ip, write);
	ret = __tdsm_vm_fault(vmf, &acq);
	tdsm_trace_fault_end(vmf, ip, write, ret, acq);
	return ret;
}

static vm_fault_t tdsm_vm_page_mkwrite(struct vm_fault *vmf)
{
	unsigned long ip = tdsm_fault_ip(vmf);
	vm_fault_t ret;
	int acq = 0;

	/*
	 * After .fault on an absent PTE (orig_pte none), the same write fault:
	 * traced once, by .fault.
	 */
	if (pte_none(vmf->orig_pte))
		return __tdsm_vm_page_mkwrite(vmf, &acq);
	trace_tinydsm_fault_start(vmf->address, ip, true);
	ret = __tdsm_vm_page_mkwrite(vmf, &acq);
	tdsm_trace_fault_end(vmf, ip, true, ret, acq);
	return ret;
}

/* The address is the page's global name: the mapping may not move. */
static int tdsm_vm_mremap(struct vm_area_struct *vma)
{
	return -EINVAL;
}

static const struct vm_operations_struct tdsm_vm_ops = {
	.fault = tdsm_vm_fault,
	.page_mkwrite = tdsm_vm_page_mkwrite,
	.mremap = tdsm_vm_mremap,
};

/*
 * The processes that mapped the region, for REPOPULATE to map pages into
 * (the address space's VMA tree is not for modules to walk). An entry
 * holds the mm_struct (mmgrab), not its address space; entries of exited
 * processes are dropped at the next mmap or REPOPULATE.
 */
struct tdsm_mm_ref {
	struct list_head list;
	struct mm_struct *mm;
};

static DEFINE_MUTEX(tdsm_mms_lock);
static LIST_HEAD(tdsm_mms);		/* of tdsm_mm_ref, under tdsm_mms_lock */

/* Processes one REPOPULATE batch maps pages into; the others fault. */
#define TDSM_PREFAULT_MMS	32

/* Drop the entries of exited processes. tdsm_mms_lock held. */
static void tdsm_mms_prune(void)
{
	struct tdsm_mm_ref *ref, *tmp;

	lockdep_assert_held(&tdsm_mms_lock);
	list_for_each_entry_safe(ref, tmp, &tdsm_mms, list) {
		if (atomic_read(&ref->mm->mm_users))
			continue;
		list_del(&ref->list);
		mmdrop(ref->mm);
		kfree(ref);
	}
}

/*
 * The entry is allocated before tdsm_mms_lock is taken, and freed if @mm
 * has one already: nothing allocates under the lock, so no holder of it
 * waits for the kernel's reclaim, which may wait for the reclaim work
 * (WQ_MEM_RECLAIM), a taker of the lock too (and that one only tries it:
 * tdsm_mms_tryget()).
 */
static int tdsm_mms_add(struct mm_struct *mm)
{
	struct tdsm_mm_ref *ref, *new;

	new = kmalloc(sizeof(*new), GFP_KERNEL);
	if (!new)
		return -ENOMEM;
	mutex_lock(&tdsm_mms_lock);
	tdsm_mms_prune();
	list_for_each_entry(ref, &tdsm_mms, list)
		if (ref->mm == mm)
			goto out;
	mmgrab(mm);
	new->mm = mm;
	list_add(&new->list, &tdsm_mms);
	new = NULL;
out:
	mutex_unlock(&tdsm_mms_lock);
	kfree(new);
	return 0;
}

/* tdsm_mms_get() and tdsm_mms_tryget(), under tdsm_mms_lock. */
static unsigned int tdsm_mms_collect(struct mm_struct **mms)
{
	struct tdsm_mm_ref *ref;
	unsigned int nmm = 0;

	lockdep_assert_held(&tdsm_mms_lock);
	tdsm_mms_prune();
	list_for_each_entry(ref, &tdsm_mms, list) {
		if (nmm == TDSM_PREFAULT_MMS)
			break;
		if (mmget_not_zero(ref->mm))
			mms[nmm++] = ref->mm;
	}
	return nmm;
}

/*
 * The address spaces of up to TDSM_PREFAULT_MMS processes that map the
 * region, each with a reference on its users (mmget_not_zero(): its page
 * tables stay until the caller's mmput()). tdsm_mms_lock is let go before
 * the caller takes any mmap_lock (tdsm_mmap() takes it under one, for
 * writing). Returns how many.
 */
static unsigned int tdsm_mms_get(struct mm_struct **mms)
{
	unsigned int nmm;

	mutex_lock(&tdsm_mms_lock);
	nmm = tdsm_mms_collect(mms);
	mutex_unlock(&tdsm_mms_lock);
	return nmm;
}

/*
 * tdsm_mms_get() with a try of tdsm_mms_lock, for the reclaim work's
 * sample (tdsm_region_young()), which waits for no one: 0 if the lock is
 * busy, and that sample is skipped as for a busy mmap_lock.
 */
static unsigned int tdsm_mms_tryget(struct mm_struct **mms)
{
	unsigned int nmm;

	if (!mutex_trylock(&tdsm_mms_lock))
		return 0;
	nmm = tdsm_mms_collect(mms);
	mutex_unlock(&tdsm_mms_lock);
	return nmm;
}

/* Is @vma a mapping of the region's pages (not of the translation table)? */
static bool tdsm_vma_is_region(struct tdsm_region *r,
			       struct vm_area_struct *vma)
{
	return vma->vm_file && vma->vm_file->f_mapping == r->mapping &&
	       vma->vm_ops == &tdsm_vm_ops;
}

static void tdsm_mms_exit(void)
{
	struct tdsm_mm_ref *ref, *tmp;

	mutex_lock(&tdsm_mms_lock);
	list_for_each_entry_safe(ref, tmp, &tdsm_mms, list) {
		list_del(&ref->list);
		mmdrop(ref->mm);
		kfree(ref);
	}
	mutex_unlock(&tdsm_mms_lock);
}

/**
 * tdsm_region_prefault - map pages into every process that maps them
 * @r: the region.
 * @first: index of the first page of the batch.
 * @n: pages in the batch.
 * @mask: the pages to map (bit i = page @first + i), present here.
 *
 * What a fault would do, done now for the processes of this node (up to
 * TDSM_PREFAULT_MMS of them), so that their next access does not fault.
 * The region is at the same address in every process, so page i is at
 * base + i * PAGE_SIZE wherever it is mapped. Returns the PTEs established.
 */
unsigned int tdsm_region_prefault(struct tdsm_region *r, unsigned long first,
				  unsigned int n, u64 mask)
{
	struct mm_struct *mms[TDSM_PREFAULT_MMS];
	unsigned int nmm, mapped = 0, i, j;

	if (!mask)
		return 0;
	nmm = tdsm_mms_get(mms);
	for (j = 0; j < nmm; j++) {
		struct mm_struct *mm = mms[j];

		mmap_read_lock(mm);
		for (i = 0; i < n; i++) {
			unsigned long addr = TINYDSM_REGION_BASE +
				((first + i) << PAGE_SHIFT);
			struct vm_area_struct *vma;
			bool unlocked = false;

			if (!(mask & BIT_ULL(i)))
				continue;
			/* Looked up each time: a retry may drop the lock. */
			vma = vma_lookup(mm, addr);
			if (!vma || !tdsm_vma_is_region(r, vma))
				continue;
			if (!fixup_user_fault(mm, addr, 0, &unlocked))
				mapped++;
		}
		mmap_read_unlock(mm);
		mmput(mm);
	}
	return mapped;
}

/* What one tdsm_region_young() walk carries to its PTE callback. */
struct tdsm_young_walk {
	struct tdsm_region *r;
	struct mm_struct *mm;
	unsigned int young;
};

/*
 * apply_to_existing_page_range()'s callback, for each PTE that is not
 * none of a region VMA in the walked range: called with the PTE table's
 * lock held (pte_offset_map_lock(), and on 6.12 under RCU) and
 * the walker's mmap_lock for reading, so it may not sleep. It takes no
 * lock and no page bit lock: a test-and-clear of the PTE's accessed bit,
 * atomic as the hardware's setting of it is (what x86's
 * ptep_test_and_clear_young() does; that is not exported), and a set_bit
 * of TDSM_PG_REFERENCED on the page at @addr, whose chunk the clock holds.
 * Only a cached page's bit is taken (TDSM_PG_CACHED, read without the
 * page lock: a hint, like the bit it sets): the clock looks at no other,
 * and the bits of pages homed here stay as the hardware left them.
 * The TLB is not flushed, as x86's ptep_clear_flush_young() does not: a
 * CPU that still caches the entry with the bit set will not set it again
 * until the entry leaves its TLB, so a page in use may look cold once,
 * and be evicted. That costs a fault, never data: an eviction unmaps
 * (tdsm_local_take(), flushing the TLBs) before the frame goes.
 */
static int tdsm_young_pte(pte_t *pte, unsigned long addr, void *data)
{
	struct tdsm_young_walk *w = data;
	unsigned long idx = (addr - TINYDSM_REGION_BASE) >> PAGE_SHIFT;
	struct tdsm_page *pg = tdsm_pg(w->r, idx);

	mmap_assert_locked(w->mm);
	if (!test_bit(TDSM_PG_CACHED, &pg->flags) ||
	    !pte_present(ptep_get(pte)) ||
	    !test_and_clear_bit(_PAGE_BIT_ACCESSED, (unsigned long *)&pte->pte))
		return 0;
	set_bit(TDSM_PG_REFERENCED, &pg->flags);
	w->young++;
	return 0;
}

/**
 * tdsm_region_young - sample the accessed bits of pages' PTEs for the clock
 * @r: the region.
 * @first: index of the first page (the clock's group: one chunk, held).
 * @n: pages from @first on.
 *
 * For each process mapping the region (up to TDSM_PREFAULT_MMS of them,
 * if the list's mutex comes at once: tdsm_mms_tryget(); else the sample
 * is skipped): if its mmap_lock comes at once for reading (else it is
 * skipped: the clock waits for no process), the region's VMAs over the
 * pages (checked as tdsm_region_prefault() does, so that no other
 * mapping's PTEs are touched) have the accessed bit of each cached page's PTE tested and
 * cleared, and each page whose bit was set gets TDSM_PG_REFERENCED
 * (tdsm_young_pte()). The walker wants page tables without huge leaves:
 * the region's VMAs only ever get 4 KiB PTEs (a frame per fault;
 * VM_DONTEXPAND keeps khugepaged away). Only the reclaim work calls this,
 * with no page lock and no page bit held: mmap_lock, then the PTE lock,
 * as a fault takes them, and nothing under them. Never the shrinker,
 * which runs in reclaim, where a task may hold its mmap_lock. Returns the pages found
 * used (a page mapped by two processes may count twice).
 */
unsigned int tdsm_region_young(struct tdsm_region *r, unsigned long first,
			       unsigned int n)
{
	struct mm_struct *mms[TDSM_PREFAULT_MMS];
	struct tdsm_young_walk w = { .r = r };
	unsigned long start = TINYDSM_REGION_BASE + (first << PAGE_SHIFT);
	unsigned long end = start + ((unsigned long)n << PAGE_SHIFT);
	unsigned int nmm, j;

	nmm = tdsm_mms_tryget(mms);
	for (j = 0; j < nmm; j++) {
		struct vm_area_struct *vma;
		unsigned long addr = start, to;

		w.mm = mms[j];
		if (!mmap_read_trylock(w.mm)) {
			mmput_async(w.mm);
			continue;
		}
		/* The VMAs over [start, end): the region may be mapped in parts. */
		while (addr < end) {
			vma = find_vma(w.mm, addr);
			if (!vma || vma->vm_start >= end)
				break;
			addr = max(addr, vma->vm_start);
			to = min(end, vma->vm_end);
			if (tdsm_vma_is_region(r, vma))
				apply_to_existing_page_range(w.mm, addr,
							     to - addr,
							     tdsm_young_pte,
							     &w);
			addr = to;
		}
		mmap_read_unlock(w.mm);
		/* Not mmput(): the last reference's exit_mmap() is not for reclaim. */
		mmput_async(w.mm);
	}
	return w.young;
}

static int tdsm_open(struct inode *inode, struct file *file)
{
	/*
	 * The access sites this process registers through this file; whether
	 * its uprobe sites may be armed is the opener's right, decided once
	 * (uprobe.c: the arming happens on nobody's behalf, in page events).
	 */
	file->private_data =
		tdsm_sites_open(ns_capable_noaudit(&init_user_ns, CAP_SYS_PTRACE));
	if (!file->private_data)
		return -ENOMEM;
	file->f_mapping = tdsm_region.mapping;
	return 0;
}

static int tdsm_release(struct inode *inode, struct file *file)
{
	/* Its last mapping is gone too: nobody reads its runs through it. */
	tdsm_runs_file_release(&tdsm_region, file);
	tdsm_sites_release(file->private_data);
	return 0;
}

/*
 * What is wrong with mapping [pgoff, pgoff + len) (len in bytes, page
 * aligned), shared or not; NULL if nothing. The core asks
 * .get_unmapped_area before .mmap, so both check.
 */
static const char *tdsm_mmap_error(struct tdsm_region *r, unsigned long pgoff,
				   unsigned long len, bool shared)
{
	if (!shared)
		return "MAP_PRIVATE is not supported, use MAP_SHARED";
	if (pgoff >= r->npages || len >> PAGE_SHIFT > r->npages - pgoff)
		return "offset and length must lie inside the region";
	return NULL;
}

static void tdsm_mmap_refused(const char *why)
{
	pr_info_ratelimited("%s[%d]: mmap: %s\n", current->comm,
			    task_pid_nr(current), why);
}

#define TDSM_XLATE_PGOFF	(TINYDSM_XLATE_OFFSET >> PAGE_SHIFT)

/*
 * A read of the translation table where nothing is mapped yet: map its
 * page if a chunk under it made one (tdsm_xlate_page()), else the shared
 * zero page (every page under it INVALID, which is right while it has no
 * metadata), so that reading the table allocates nothing: a reader of a
 * 16 TiB table would otherwise make 2^20 pages nobody is charged for. The
 * zero page is zapped when the real one is made (tdsm_xlate_zap(),
 * page.c): if that happened between our look and our insert, the zap may
 * have missed our PTE, so look again after it (the barriers pair) and zap
 * it ourselves; the read faults again. Until then the byte reads INVALID,
 * which is always safe: a lookup then takes the slow path. The table's
 * pages stay until unload, which no mapping outlives.
 */
static vm_fault_t tdsm_xlate_fault(struct vm_fault *vmf)
{
	struct tdsm_region *r = &tdsm_region;
	unsigned long key = vmf->pgoff - TDSM_XLATE_PGOFF;
	struct page *table;
	vm_fault_t ret;

	/* tdsm_mmap_xlate() capped the length; mremap cannot grow it. */
	if (WARN_ON_ONCE(key >= DIV_ROUND_UP(r->npages, PAGE_SIZE)))
		return VM_FAULT_SIGBUS;
	table = xa_load(&r->xlate_pages, key);
	if (table)
		return vmf_insert_pfn(vmf->vma, vmf->address, page_to_pfn(table));
	ret = vmf_insert_pfn(vmf->vma, vmf->address,
			     page_to_pfn(ZERO_PAGE(vmf->address)));
	smp_mb();	/* our PTE, then the store: tdsm_xlate_zap()'s pairs */
	if (ret == VM_FAULT_NOPAGE && xa_load(&r->xlate_pages, key))
		zap_vma_ptes(vmf->vma, vmf->address, PAGE_SIZE);
	return ret;
}

static const struct vm_operations_struct tdsm_xlate_vm_ops = {
	.fault = tdsm_xlate_fault,
};

/*
 * The translation table: one byte per page, read-only, wherever the
 * process's mmap puts it. Its pages are the module's, mapped on demand
 * (special PTEs: no GUP reaches them), made only for the chunks of
 * page metadata (where none was, the zero page is mapped), so a table for
 * a big region costs only what is used, not what is read; they are never
 * in the region's address space.
 */
static int tdsm_mmap_xlate(struct tdsm_region *r, struct vm_area_struct *vma)
{
	if (vma->vm_flags & (VM_WRITE | VM_EXEC)) {
		tdsm_mmap_refused("the translation table is read-only");
		return -EPERM;
	}
	if (vma->vm_end - vma->vm_start > PAGE_ALIGN(r->npages)) {
		tdsm_mmap_refused("the translation table is one byte per page");
		return -EINVAL;
	}
	/* Never writable, so never a copy-on-write mapping of the PFNs. */
	vm_flags_clear(vma, VM_MAYWRITE | VM_MAYEXEC);
	vm_flags_set(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_ops = &tdsm_xlate_vm_ops;
	return 0;
}

/*
 * The device chooses the address: base + offset, the same on every node.
 * Without MAP_FIXED it never replaces an existing mapping (the core would).
 */
static unsigned long tdsm_get_unmapped_area(struct file *file,
					    unsigned long addr,
					    unsigned long len,
					    unsigned long pgoff,
					    unsigned long flags)
{
	const char *why;
	unsigned long want;

	if (flags & MAP_FIXED)
		return addr;	/* tdsm_mmap() checks it */
	if (pgoff == TDSM_XLATE_PGOFF)
		return tdsm_default_unmapped_area(addr, len, flags);
	why = tdsm_mmap_error(&tdsm_region, pgoff, len,
			      (flags & MAP_TYPE) != MAP_PRIVATE);
	if (why) {
		tdsm_mmap_refused(why);
		return -EINVAL;
	}
	want = TINYDSM_REGION_BASE + (pgoff << PAGE_SHIFT);
	if (find_vma_intersection(current->mm, want, want + len)) {
		tdsm_mmap_refused("the range is already mapped");
		return -EEXIST;
	}
	return want;
}

static int tdsm_mmap(struct file *file, struct vm_area_struct *vma)
{
	const char *why;

	if (vma->vm_pgoff == TDSM_XLATE_PGOFF)
		return tdsm_mmap_xlate(&tdsm_region, vma);
	why = tdsm_mmap_error(&tdsm_region, vma->vm_pgoff,
			      vma->vm_end - vma->vm_start,
			      vma->vm_flags & VM_SHARED);
	if (!why && vma->vm_start != TINYDSM_REGION_BASE + (vma->vm_pgoff << PAGE_SHIFT))
		why = "the address must be the region base plus the offset";
	if (why) {
		tdsm_mmap_refused(why);
		return -EINVAL;
	}
	if (tdsm_mms_add(vma->vm_mm))
		return -ENOMEM;
	/*
	 * Normal PTEs (see the top of the file). VM_DONTEXPAND makes the VMA
	 * VM_SPECIAL, which keeps mlock() and khugepaged away: no page is
	 * fetched or held here for them.
	 */
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_ops = &tdsm_vm_ops;
	return 0;
}

static long tdsm_ioc_region_info(struct tdsm_region *r, void __user *uarg)
{
	struct tinydsm_region_info info = {
		.abi_version = TINYDSM_ABI_VERSION,
		.node_id = r->node_id,
		.base = TINYDSM_REGION_BASE,
		.size = r->size,
		.page_size = PAGE_SIZE,
		.meta_bytes_per_page = TDSM_PAGE_META_BYTES,
		.slice_pages = r->slice_pages,
		.max_nodes = r->max_nodes,
		.home_nodes = r->home_nodes,
	};

	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
}

/*
 * ABI 1's struct tinydsm_page_info ended before @holders; its size is in
 * its ioctl number, which a program built against ABI 1 still uses. It
 * gets the first TDSM_PAGE_INFO_V1_SIZE bytes, the same fields as before.
 */
#define TDSM_PAGE_INFO_V1_SIZE	offsetof(struct tinydsm_page_info, holders)
#define TDSM_IOC_PAGE_INFO_V1	_IOC(_IOC_READ | _IOC_WRITE, TINYDSM_IOC_MAGIC, \
				     0x02, TDSM_PAGE_INFO_V1_SIZE)
static_assert(TDSM_PAGE_INFO_V1_SIZE == 32);

static long tdsm_ioc_page_info(struct tdsm_region *r, void __user *uarg,
			       size_t size)
{
	struct tinydsm_page_info info = {};
	struct tdsm_page *pg;
	unsigned long idx;

	if (copy_from_user(&info, uarg, size))
		return -EFAULT;
	if (info.reserved)
		return -EINVAL;
	if (!tdsm_addr_idx(r, info.addr, &idx))
		return -ERANGE;
	/* Asking creates nothing: no metadata is a page never seen (M5). */
	if (!tdsm_chunk_get_existing(r, idx)) {
		tdsm_page_fill_info(r, idx, NULL, &info);
	} else {
		pg = tdsm_pg(r, idx);
		if (tdsm_page_lock_killable(pg)) {
			tdsm_chunk_put(r, idx);
			return -EINTR;
		}
		tdsm_page_fill_info(r, idx, pg, &info);
		tdsm_page_unlock(pg);
		tdsm_chunk_put(r, idx);
	}
	/* An older number's caller: its size, no more (ABI 1). */
	return copy_to_user(uarg, &info, size) ? -EFAULT : 0;
}

/* @size: of the caller's struct, for an older TINYDSM_IOC_STATS number. */
static long tdsm_ioc_stats(struct tdsm_region *r, void __user *uarg,
			   size_t size)
{
	struct tinydsm_stats st = {
		.read_faults = atomic64_read(&r->read_faults),
		.write_faults = atomic64_read(&r->write_faults),
		.frames = atomic64_read(&r->frames),
		.frames_allocated = atomic64_read(&r->frames_allocated),
		.remote_faults = atomic64_read(&r->remote_faults),
		.invalidations = atomic64_read(&r->invalidations),
		.fetches = atomic64_read(&r->fetches),
		.migrated_in = atomic64_read(&r->migrated_in),
		.migrated_out = atomic64_read(&r->migrated_out),
		.repopulated = atomic64_read(&r->repopulated),
		.prefaults = atomic64_read(&r->prefaults),
		.forwards = atomic64_read(&r->forwards),
		.sites_direct = atomic64_read(&r->sites_direct),
		.sites_lookup = atomic64_read(&r->sites_lookup),
		.word_remote = atomic64_read(&r->word_remote),
		.word_served = atomic64_read(&r->word_served),
		.cached_pages = atomic64_read(&r->cached),
		.cache_budget_pages = tdsm_cache_budget_pages(),
		.evicted_clean = atomic64_read(&r->evicted_clean),
		.evicted_written = atomic64_read(&r->evicted_written),
		.evict_released = atomic64_read(&r->evict_released),
		.evict_failed = atomic64_read(&r->evict_failed),
		.evict_batches = atomic64_read(&r->evict_batches),
		.evict_batch_pages = atomic64_read(&r->evict_batch_pages),
		.reclaim_runs = atomic64_read(&r->reclaim_runs),
		.reclaim_ns = atomic64_read(&r->reclaim_ns),
		.meta_bytes = tdsm_meta_bytes(r),
		.chunks = atomic_long_read(&r->nchunks),
		.home_charged = atomic64_read(&r->home_charged),
		.home_budget_pages = tdsm_home_budget_pages(),
		.home_refused = atomic64_read(&r->home_refused),
		.shrinker_freed = atomic64_read(&r->shrinker_freed),
		.clock_young = atomic64_read(&r->clock_young),
		.readahead_batches = atomic64_read(&r->readahead_batches),
		.readahead_pages = atomic64_read(&r->readahead_pages),
	};
	s64 cached = atomic64_read(&r->cached);

	/* Read apart, the two may disagree for a moment: never below 0. */
	st.home_frames = st.frames > cached ? st.frames - cached : 0;

	BUILD_BUG_ON(offsetof(struct tinydsm_stats, cached_pages) !=
		     TINYDSM_STATS_V1_SIZE);
	BUILD_BUG_ON(offsetof(struct tinydsm_stats, meta_bytes) !=
		     TINYDSM_STATS_V2_SIZE);
	BUILD_BUG_ON(offsetof(struct tinydsm_stats, home_frames) !=
		     TINYDSM_STATS_V3_SIZE);
	BUILD_BUG_ON(offsetof(struct tinydsm_stats, clock_young) !=
		     TINYDSM_STATS_V4_SIZE);
	BUILD_BUG_ON(offsetof(struct tinydsm_stats, readahead_batches) !=
		     TINYDSM_STATS_V5_SIZE);
	return copy_to_user(uarg, &st, size) ? -EFAULT : 0;
}

static long tdsm_ioc_alloc(struct tdsm_region *r, struct file *file,
			   unsigned int cmd, void __user *uarg)
{
	struct tinydsm_alloc a;
	int err;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	/* alloc.c: the run's home allocates, and checks who may free. */
	err = tdsm_alloc_ioctl(r, file, cmd == TINYDSM_IOC_ALLOC, &a);
	if (err)
		return err;
	if (cmd == TINYDSM_IOC_ALLOC && copy_to_user(uarg, &a, sizeof(a)))
		return -EFAULT;
	return 0;
}

static long tdsm_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case TINYDSM_IOC_REGION_INFO:
		return tdsm_ioc_region_info(&tdsm_region, uarg);
	case TINYDSM_IOC_PAGE_INFO:
		return tdsm_ioc_page_info(&tdsm_region, uarg, sizeof(struct tinydsm_page_info));
	case TDSM_IOC_PAGE_INFO_V1:
		return tdsm_ioc_page_info(&tdsm_region, uarg, TDSM_PAGE_INFO_V1_SIZE);
	case TINYDSM_IOC_STATS:
		return tdsm_ioc_stats(&tdsm_region, uarg, sizeof(struct tinydsm_stats));
	case TINYDSM_IOC_STATS_V1:
		return tdsm_ioc_stats(&tdsm_region, uarg, TINYDSM_STATS_V1_SIZE);
	case TINYDSM_IOC_STATS_V2:
		return tdsm_ioc_stats(&tdsm_region, uarg, TINYDSM_STATS_V2_SIZE);
	case TINYDSM_IOC_STATS_V3:
		return tdsm_ioc_stats(&tdsm_region, uarg, TINYDSM_STATS_V3_SIZE);
	case TINYDSM_IOC_STATS_V4:
		return tdsm_ioc_stats(&tdsm_region, uarg, TINYDSM_STATS_V4_SIZE);
	case TINYDSM_IOC_STATS_V5:
		return tdsm_ioc_stats(&tdsm_region, uarg, TINYDSM_STATS_V5_SIZE);
	case TINYDSM_IOC_ALLOC:
	case TINYDSM_IOC_FREE:
		return tdsm_ioc_alloc(&tdsm_region, file, cmd, uarg);
	case TINYDSM_IOC_WORD:
		return tdsm_word_ioctl(&tdsm_region, file->private_data, uarg);
	case TINYDSM_IOC_ATOMIC:
		return tdsm_atomic_ioctl(&tdsm_region, uarg);
	case TINYDSM_IOC_WAIT:
		return tdsm_wait_ioctl(&tdsm_region, uarg);
	case TINYDSM_IOC_WAKE:
		return tdsm_wake_ioctl(&tdsm_region, uarg);
	case TINYDSM_IOC_PLACE:
		return tdsm_place_ioctl(&tdsm_region, uarg);
	case TINYDSM_IOC_SITES_ADD:
	case TINYDSM_IOC_SITES_CTL:
	case TINYDSM_IOC_SITE_INFO:
		return tdsm_sites_ioctl(file->private_data, cmd, uarg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations tdsm_fops = {
	.owner = THIS_MODULE,
	.open = tdsm_open,
	.release = tdsm_release,
	.mmap = tdsm_mmap,
	.get_unmapped_area = tdsm_get_unmapped_area,
	.unlocked_ioctl = tdsm_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/*
 * 0660 root:root; on an installed node the udev rule tools/udev/
 * 60-tinydsm.rules gives it the group tinydsm, whose members are its users
 * (README.md, "Who may use /dev/tinydsm"). Opening it is all it takes to
 * share the region; what an opener may do to others' use of it is limited
 * per call: FREE (alloc.c, at the run's home), SITES_ADD and uprobe sites (site.c, uprobe.c).
 */
static struct miscdevice tdsm_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = TINYDSM_DEVICE_NAME,
	.fops = &tdsm_fops,
	.mode = 0660,
};

int tdsm_region_init(void)
{
	int err;

	err = simple_pin_fs(&tdsm_fs_type, &tdsm_mnt, &tdsm_mnt_count);
	if (err)
		return err;
	tdsm_inode = alloc_anon_inode(tdsm_mnt->mnt_sb);
	if (IS_ERR(tdsm_inode)) {
		err = PTR_ERR(tdsm_inode);
		goto err_release_fs;
	}
	/*
	 * A dirty PTE of a named frame marks it dirty through its address
	 * space when it is zapped: nothing to write back.
	 */
	tdsm_inode->i_mapping->a_ops = &tdsm_aops;
	tdsm_region.mapping = tdsm_inode->i_mapping;

	err = misc_register(&tdsm_miscdev);
	if (err)
		goto err_put_inode;
	return 0;

err_put_inode:
	tdsm_region.mapping = NULL;
	iput(tdsm_inode);
err_release_fs:
	simple_release_fs(&tdsm_mnt, &tdsm_mnt_count);
	return err;
}

/* The device goes; its address space stays for tdsm_region_fs_exit(). */
void tdsm_region_exit(void)
{
	misc_deregister(&tdsm_miscdev);
	tdsm_mms_exit();
}

/*
 * The address space goes, after every frame lost its name (frame.c:
 * tdsm_pages_exit() released them, tdsm_frames_exit() waited for the
 * references left), since a name points into it.
 */
void tdsm_region_fs_exit(void)
{
	tdsm_region.mapping = NULL;
	iput(tdsm_inode);
	simple_release_fs(&tdsm_mnt, &tdsm_mnt_count);
}
