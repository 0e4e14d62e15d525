// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: the uprobe path — access sites in programs that were not built
 * with libtinydsm's macros.
 *
 * A user fault on a region page from an instruction that is not a
 * registered site makes that instruction a site of kind
 * TINYDSM_SITE_UPROBE, if it is one of the movs x86_mov.c decodes (the
 * loads and stores compilers emit for plain accesses). Its direct form is
 * the instruction itself, untouched; its lookup form is a uprobe at it,
 * registered for this process only (the consumer's filter). The handler
 * computes the address from the registers, does the access where the page
 * is (tdsm_word_access(): here, or one WORD request to the home), writes
 * the result into the destination register, and moves the IP past the
 * instruction, so that the kernel skips the single-step. An access that is
 * not in the region, crosses a page, or fails is left to the instruction
 * itself (single-stepped as usual, faulting as usual).
 *
 * Cost, next to the text-poke path: each access in lookup form takes an
 * int3 trap, the uprobe lookup and the return to user space (a few
 * microseconds natively), where a poked site jumps to its thunk in user
 * space and reaches the kernel only when the page is elsewhere.
 * Registering and unregistering a uprobe write the text of every process
 * of the filter (here: one) and, on 6.12, wait for an RCU Tasks Trace
 * grace period. So the uprobe path suits programs that cannot be rebuilt,
 * and pages that stay away long enough to amortise the rewrites.
 */
#include <linux/module.h>
#include <linux/mm.h>
#include <linux/ptrace.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uprobes.h>

#include "compat.h"
#include "page.h"
#include "site.h"
#include "tinydsm.h"
#include "uprobe.h"
#include "wire.h"
#include "word.h"
#include "x86_mov.h"

/* Uprobe sites one file's faults may create (each costs a kzalloc). */
#define TDSM_UPROBE_SITES_MAX	256

/*
 * Arming a uprobe site writes the text of the process through the
 * kernel's uprobes, which walk every process that maps the file (libc:
 * all of them) to find the ones to write, and keep a global uprobe per
 * file and offset. That is more than a process may do to itself: the
 * kernel lets a user register uprobes only with CAP_PERFMON or
 * CAP_SYS_ADMIN (perf, tracefs). We ask for CAP_SYS_PTRACE, the right to
 * rewrite other processes' text, which is what this does, rather than
 * CAP_SYS_ADMIN, which would grant everything else with it. The opener
 * of the file must have it (struct tdsm_sites.uprobe_priv, decided at
 * open), because sites are armed on nobody's behalf too: by page events
 * in a worker, and by REPOPULATE. Or this parameter allows every opener.
 * Without either, uprobe sites are still recorded (their faults counted,
 * TINYDSM_IOC_SITE_INFO shows them) but stay direct: SITES_SET_FORM to
 * lookup gives EPERM, SITES_SET_FORM_ALL and page events leave them be.
 */
static bool tdsm_uprobe_unpriv;
module_param_named(uprobe_sites_unprivileged, tdsm_uprobe_unpriv, bool, 0644);
MODULE_PARM_DESC(uprobe_sites_unprivileged,
		 "let openers without CAP_SYS_PTRACE arm uprobe access sites (default N)");

bool tdsm_uprobe_may_arm(const struct tdsm_sites *t)
{
	return t->uprobe_priv || READ_ONCE(tdsm_uprobe_unpriv);
}

static int tdsm_uprobe_handler(struct uprobe_consumer *uc, struct pt_regs *regs)
{
	struct tdsm_site *s = container_of(uc, struct tdsm_site, uc);
	struct tdsm_region *r = &tdsm_region;
	u64 addr, value = 0;
	unsigned long idx;
	u8 at;

	if (current->mm != s->owner->mm)
		return 0;
	addr = tdsm_mov_addr(&s->mov, regs);
	if (!tdsm_addr_idx(r, addr, &idx) ||
	    (addr & ~PAGE_MASK) + s->mov.width > PAGE_SIZE)
		return 0;
	if (s->mov.store)
		value = tdsm_mov_store_value(&s->mov, regs);
	if (tdsm_word_access(r, addr, s->mov.width,
			     s->mov.store ? TDSM_WORD_STORE : TDSM_WORD_LOAD,
			     &value, 0, &at))
		return 0;	/* the instruction runs, and faults as usual */
	if (!s->mov.store)
		tdsm_mov_load_result(&s->mov, regs, value);
	atomic64_inc(&s->words);
	tdsm_page_add_site(r, idx, s->id);
	/* Done: past the instruction, and the kernel skips the single-step. */
	instruction_pointer_set(regs, instruction_pointer(regs) + s->mov.len);
	return 0;
}

static bool tdsm_uprobe_filter(TDSM_UPROBE_FILTER_ARGS)
{
	struct tdsm_site *s = container_of(uc, struct tdsm_site, uc);

	return mm == s->owner->mm;
}

/*
 * A user fault on page @idx from @ip, which is no registered site: make it
 * a uprobe site if it is a mov we can emulate. The fault path: mmap_lock
 * held, so no t->lock; the instruction's bytes are resident (it just ran).
 */
void tdsm_uprobe_site_new(struct tdsm_region *r, struct tdsm_sites *t,
			  unsigned long idx, unsigned long ip)
{
	unsigned int n = min_t(unsigned long, TDSM_MOV_MAX_LEN,
			       PAGE_SIZE - (ip & ~PAGE_MASK));
	u8 code[TDSM_MOV_MAX_LEN];
	struct tdsm_site *s;
	struct tdsm_mov mov;
	int err;

	if (READ_ONCE(t->closed) ||
	    atomic_read(&t->uprobe_sites) >= TDSM_UPROBE_SITES_MAX)
		return;
	if (copy_from_user_nofault(code, (const void __user *)ip, n) ||
	    tdsm_mov_decode(code, n, &mov))
		return;
	/* Counted against the process's max_sites_per_mm, as poked sites. */
	if (!tdsm_sites_charge(t, 1))
		return;
	s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	if (!s) {
		tdsm_sites_uncharge(t, 1);
		return;
	}
	s->owner = t;
	s->addr = ip;
	s->kind = TINYDSM_SITE_UPROBE;
	s->len = mov.len;
	s->width = mov.width;
	s->flags = mov.store ? TINYDSM_SITE_F_STORE : 0;
	s->form = TINYDSM_SITE_DIRECT;
	s->mov = mov;
	s->uc.handler = tdsm_uprobe_handler;
	s->uc.filter = tdsm_uprobe_filter;
	atomic64_set(&s->faults, 1);

	if (xa_alloc_cyclic(&tdsm_site_ids, &s->id, s, xa_limit_31b,
			    &tdsm_site_next_id, GFP_KERNEL_ACCOUNT) < 0) {
		kfree(s);
		tdsm_sites_uncharge(t, 1);
		return;
	}
	xa_lock(&t->by_addr);
	err = t->closed ? -ESRCH : __xa_insert(&t->by_addr, ip, s,
					       GFP_ATOMIC | __GFP_ACCOUNT);
	xa_unlock(&t->by_addr);
	if (err) {
		/* Another thread made it first, or the file is closing. */
		xa_erase(&tdsm_site_ids, s->id);
		kfree_rcu(s, rcu);
		tdsm_sites_uncharge(t, 1);
		return;
	}
	atomic_inc(&t->uprobe_sites);
	tdsm_page_add_site(r, idx, s->id);
}

/* Where the site's instruction lives: its file and offset. */
static int tdsm_uprobe_locate(struct tdsm_site *s)
{
	struct mm_struct *mm = s->owner->mm;
	struct vm_area_struct *vma;
	int err = 0;

	if (s->inode)
		return 0;
	if (!mmget_not_zero(mm))
		return -ESRCH;
	mmap_read_lock(mm);
	vma = vma_lookup(mm, s->addr);
	if (!vma || !vma->vm_file || !(vma->vm_flags & VM_EXEC) ||
	    s->addr + s->len > vma->vm_end) {
		err = -EFAULT;
	} else {
		s->inode = igrab(file_inode(vma->vm_file));
		s->offset = s->addr - vma->vm_start +
			    ((loff_t)vma->vm_pgoff << PAGE_SHIFT);
		if (!s->inode)
			err = -ESTALE;
	}
	mmap_read_unlock(mm);
	mmput(mm);
	return err;
}

/*
 * Put a uprobe site in @form: lookup registers the uprobe, direct
 * unregisters it (when this returns, no handler runs any more, so the site
 * may be freed). @s->owner->lock held, no mmap_lock.
 */
int tdsm_uprobe_set_form(struct tdsm_site *s, u8 form)
{
	int err;

	lockdep_assert_held(&s->owner->lock);
	if (form == TINYDSM_SITE_DIRECT) {
		if (s->armed)
			tdsm_uprobe_unregister(s->inode, s->offset, &s->uc, &s->uprobe);
		s->armed = false;
		return 0;
	}
	if (!tdsm_uprobe_may_arm(s->owner))
		return -EPERM;
	err = tdsm_uprobe_locate(s);
	if (err)
		return err;
	err = tdsm_uprobe_register(s->inode, s->offset, &s->uc, &s->uprobe);
	if (!err)
		s->armed = true;
	return err;
}

/* The site is being freed (its table is): let go of the file. */
void tdsm_uprobe_site_free(struct tdsm_site *s)
{
	if (s->inode)
		iput(s->inode);
}
