// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: access sites, and rewriting them between their two forms.
 *
 * A site (uapi "Access sites") is one mov in a process's text, recorded by
 * libtinydsm in an ELF section. Direct form: the mov itself. Lookup form:
 * jmp rel32 to the site's thunk, int3 up to the site's length; the thunk
 * reaches the data wherever it is (TINYDSM_IOC_WORD, word.c).
 *
 * Rewriting writes the process's own copy of its text (get_user_pages_remote
 * with FOLL_FORCE, as ptrace does: the first write makes the page a private
 * anonymous copy). Other threads may run the site meanwhile, on other CPUs,
 * so the bytes change int3-first, as text_poke_bp() does for the kernel:
 *
 *   1. int3 on the first byte;          every CPU serialised
 *   2. the other bytes;                 every CPU serialised
 *   3. the first byte of the new form;  every CPU serialised
 *
 * "Serialised" is kick_all_cpus_sync(): an IPI to every other CPU, whose
 * return is serialising, so no CPU keeps a stale decode of the site. A
 * thread that meets the int3 between 1 and 3 traps; our die notifier sees
 * that its IP is the site being rewritten and sends it back to the site's
 * first byte, where it meets the int3 again until step 3. The notifier runs
 * with interrupts off, so once step 3's IPI has been taken everywhere no
 * CPU is still inside it for this site, and the site can be forgotten.
 * Only one site is rewritten at a time (tdsm_poke_mutex), which keeps the
 * notifier's check to one comparison.
 *
 * Per page, the region remembers the sites that touched it
 * (struct tdsm_page.sites): a fault from a direct site, a word access from
 * a lookup site. Page events (a copy leaves or arrives; proto.c calls
 * tdsm_sites_page_note() under the page lock) queue work that, for files
 * whose policy is eager, puts those sites in lookup form (the page left)
 * or direct form (the page is here). Lazy files leave their sites alone:
 * the next access faults and brings the page back. REPOPULATE puts the
 * sites of the pages it fetched back in direct form, whatever the policy.
 *
 * Lock order: tdsm_sites.lock -> mmap_lock of its mm -> tdsm_poke_mutex
 * -> tdsm_poke_lock. The fault path (mmap_lock held) takes none of these:
 * it finds sites under RCU.
 */
#include <linux/bitops.h>
#include <linux/highmem.h>
#include <linux/kdebug.h>
#include <linux/kfifo.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/ptrace.h>
#include <linux/rculist.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include "compat.h"
#include "page.h"
#include "site.h"
#include "tinydsm.h"
#include "uprobe.h"
#include "x86_mov.h"
#include "trace.h"

/* id -> struct tdsm_site, for page events; RCU readers. */
DEFINE_XARRAY_ALLOC1(tdsm_site_ids);
u32 tdsm_site_next_id;

/*
 * Sites one process may have, over all its open files, text-poke and
 * uprobe sites alike: each costs a struct tdsm_site (and its share of two
 * xarrays), charged to the process's memory cgroup (GFP_KERNEL_ACCOUNT).
 * The default lets one file register TINYDSM_SITES_MAX sites, about 16 MiB.
 * Read at each add, so a change applies to the next one; lowering it
 * takes no site away.
 */
static unsigned int tdsm_max_sites_per_mm = TINYDSM_SITES_MAX;
module_param_named(max_sites_per_mm, tdsm_max_sites_per_mm, uint, 0644);
MODULE_PARM_DESC(max_sites_per_mm,
		 "access sites one process may register, over all its files (default 65536)");

/* Every file's table, to refuse one site registered by two files. */
static DEFINE_MUTEX(tdsm_sites_list_lock);
static LIST_HEAD(tdsm_sites_list);

/* The site being rewritten, for the int3 notifier (one at a time). */
static DEFINE_MUTEX(tdsm_poke_mutex);
static DEFINE_RAW_SPINLOCK(tdsm_poke_lock);
static struct mm_struct *tdsm_poke_mm;		/* under tdsm_poke_lock */
static unsigned long tdsm_poke_addr;		/* under tdsm_poke_lock */

/*
 * Page events for the patch worker: the sites the page had when its copy
 * came or went, taken then, so that the worker needs no page metadata
 * (which may be gone by the time it runs: page.h, M2).
 */
struct tdsm_page_event {
	u32 sites[TDSM_PAGE_SITES];
	bool here;
};

#define TDSM_EVENTS	1024
static DEFINE_SPINLOCK(tdsm_events_lock);
static DEFINE_KFIFO(tdsm_events, struct tdsm_page_event, TDSM_EVENTS);
static struct workqueue_struct *tdsm_patch_wq;
static void tdsm_events_work_fn(struct work_struct *work);
static DECLARE_WORK(tdsm_events_work, tdsm_events_work_fn);
static atomic64_t tdsm_events_dropped;

/* ---- the int3 notifier ------------------------------------------------ */

static int tdsm_die_notify(struct notifier_block *nb, unsigned long val,
			   void *data)
{
	struct die_args *args = data;
	struct pt_regs *regs = args->regs;
	unsigned long flags;
	bool ours;

	if (val != DIE_INT3 || !regs || !user_mode(regs))
		return NOTIFY_DONE;
	raw_spin_lock_irqsave(&tdsm_poke_lock, flags);
	ours = tdsm_poke_mm && tdsm_poke_mm == current->mm &&
	       instruction_pointer(regs) - 1 == tdsm_poke_addr;
	raw_spin_unlock_irqrestore(&tdsm_poke_lock, flags);
	if (!ours)
		return NOTIFY_DONE;
	/* Back to the first byte of the site: run it again once whole. */
	instruction_pointer_set(regs, tdsm_poke_addr);
	return NOTIFY_STOP;
}

/* Before uprobes' notifier (INT_MAX - 1), which would claim the int3. */
static struct notifier_block tdsm_die_nb = {
	.notifier_call = tdsm_die_notify,
	.priority = INT_MAX,
};

/* ---- writing text ----------------------------------------------------- */

static void tdsm_text_write(struct page **pages, unsigned long addr,
			    unsigned int off, const u8 *buf, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		unsigned long a = addr + off + i;
		struct page *pg = pages[(a >> PAGE_SHIFT) - (addr >> PAGE_SHIFT)];
		u8 *p = kmap_local_page(pg);

		WRITE_ONCE(p[a & ~PAGE_MASK], buf[i]);
		kunmap_local(p);
	}
}

static void tdsm_text_read(struct page **pages, unsigned long addr, u8 *buf,
			   unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		unsigned long a = addr + i;
		struct page *pg = pages[(a >> PAGE_SHIFT) - (addr >> PAGE_SHIFT)];
		u8 *p = kmap_local_page(pg);

		buf[i] = READ_ONCE(p[a & ~PAGE_MASK]);
		kunmap_local(p);
	}
}

/* Text a site may live in: executable, private, of a file. */
static bool tdsm_text_vma_ok(struct vm_area_struct *vma, unsigned long addr,
			     unsigned int len)
{
	return vma && vma->vm_file && (vma->vm_flags & VM_EXEC) &&
	       !(vma->vm_flags & VM_SHARED) && addr + len <= vma->vm_end;
}

/*
 * Rewrite @len bytes at @addr in @mm from @old to @new, int3-first. -ESTALE
 * if the bytes there are not @old (something else rewrote the text).
 */
static int tdsm_poke(struct mm_struct *mm, unsigned long addr, const u8 *old,
		     const u8 *new, unsigned int len)
{
	unsigned int npages = ((addr + len - 1) >> PAGE_SHIFT) -
			      (addr >> PAGE_SHIFT) + 1;
	struct page *pages[2];
	u8 cur[TDSM_SITE_LEN_MAX], int3 = TDSM_INT3;
	long got;
	int err = 0, i;

	mmap_read_lock(mm);
	if (!tdsm_text_vma_ok(vma_lookup(mm, addr), addr, len)) {
		err = -EFAULT;
		goto out_unlock;
	}
	got = tdsm_gup_remote(mm, addr & PAGE_MASK, npages,
			      FOLL_WRITE | FOLL_FORCE, pages);
	if (got != npages) {
		for (i = 0; i < got; i++)
			put_page(pages[i]);
		err = got < 0 ? got : -EFAULT;
		goto out_unlock;
	}
	tdsm_text_read(pages, addr, cur, len);
	if (memcmp(cur, old, len)) {
		err = -ESTALE;
		goto out_put;
	}

	mutex_lock(&tdsm_poke_mutex);
	raw_spin_lock_irq(&tdsm_poke_lock);
	tdsm_poke_mm = mm;
	tdsm_poke_addr = addr;
	raw_spin_unlock_irq(&tdsm_poke_lock);

	tdsm_text_write(pages, addr, 0, &int3, 1);
	kick_all_cpus_sync();
	tdsm_text_write(pages, addr, 1, new + 1, len - 1);
	kick_all_cpus_sync();
	tdsm_text_write(pages, addr, 0, new, 1);
	kick_all_cpus_sync();

	raw_spin_lock_irq(&tdsm_poke_lock);
	tdsm_poke_mm = NULL;
	tdsm_poke_addr = 0;
	raw_spin_unlock_irq(&tdsm_poke_lock);
	mutex_unlock(&tdsm_poke_mutex);

out_put:
	for (i = 0; i < npages; i++) {
		if (!err)
			set_page_dirty_lock(pages[i]);
		put_page(pages[i]);
	}
out_unlock:
	mmap_read_unlock(mm);
	return err;
}

static void tdsm_site_lookup_bytes(const struct tdsm_site *s, u8 *buf)
{
	s32 rel = s->lookup - (s->addr + TDSM_SITE_LEN_MIN);

	buf[0] = TDSM_JMP32;
	memcpy(buf + 1, &rel, sizeof(rel));
	memset(buf + TDSM_SITE_LEN_MIN, TDSM_INT3, s->len - TDSM_SITE_LEN_MIN);
}

/* Put @s in @form. @s->owner->lock held. 0, or -errno (left as it was). */
static int tdsm_site_set_form(struct tdsm_site *s, u8 form)
{
	struct tdsm_sites *t = s->owner;
	struct tdsm_region *r = &tdsm_region;
	u8 lookup[TDSM_SITE_LEN_MAX];
	int err;

	lockdep_assert_held(&t->lock);
	if (s->form == form)
		return 0;
	if (t->closed && form == TINYDSM_SITE_LOOKUP)
		return -ESRCH;
	if (s->kind == TINYDSM_SITE_UPROBE) {
		err = tdsm_uprobe_set_form(s, form);
		goto out;
	}
	if (!mmget_not_zero(t->mm))
		return -ESRCH;	/* exited or exec'd: nothing to rewrite */
	tdsm_site_lookup_bytes(s, lookup);
	if (form == TINYDSM_SITE_LOOKUP)
		err = tdsm_poke(t->mm, s->addr, s->direct, lookup, s->len);
	else
		err = tdsm_poke(t->mm, s->addr, lookup, s->direct, s->len);
	mmput(t->mm);
out:
	trace_tinydsm_patch(s->addr, s->kind, form, err);
	if (err) {
		/* -EPERM: a uprobe site its opener may not arm; it stays direct. */
		if (err != -EPERM)
			pr_warn_ratelimited("site %#lx: cannot rewrite it: %d\n",
					    s->addr, err);
		return err;
	}
	s->form = form;
	atomic64_inc(&s->patches);
	atomic64_inc(form == TINYDSM_SITE_LOOKUP ? &r->sites_lookup :
		     &r->sites_direct);
	return 0;
}

/* ---- tables ------------------------------------------------------------ */

/* Reserve @n sites of @t's process; false, nothing reserved, if over the cap. */
bool tdsm_sites_charge(struct tdsm_sites *t, unsigned int n)
{
	unsigned int max = READ_ONCE(tdsm_max_sites_per_mm);

	if ((unsigned int)atomic_add_return(n, &t->quota->sites) <= max)
		return true;
	atomic_sub(n, &t->quota->sites);
	return false;
}

void tdsm_sites_uncharge(struct tdsm_sites *t, unsigned int n)
{
	atomic_sub(n, &t->quota->sites);
}

static void tdsm_quota_free(struct kref *ref)
{
	kfree(container_of(ref, struct tdsm_sites_quota, ref));
}

/*
 * The process's quota: another open table of @mm has it, else a new one.
 * tdsm_sites_list_lock held, so that two first opens of a process do not
 * make two.
 */
static struct tdsm_sites_quota *tdsm_quota_get(struct mm_struct *mm,
					       struct tdsm_sites_quota *fresh)
{
	struct tdsm_sites *t;

	lockdep_assert_held(&tdsm_sites_list_lock);
	list_for_each_entry(t, &tdsm_sites_list, list) {
		if (mm && t->mm == mm) {
			kref_get(&t->quota->ref);
			kfree(fresh);
			return t->quota;
		}
	}
	kref_init(&fresh->ref);
	atomic_set(&fresh->sites, 0);
	return fresh;
}

struct tdsm_sites *tdsm_sites_open(bool uprobe_priv)
{
	struct tdsm_sites_quota *q = kzalloc(sizeof(*q), GFP_KERNEL_ACCOUNT);
	struct tdsm_sites *t = kzalloc(sizeof(*t), GFP_KERNEL_ACCOUNT);

	if (!t || !q) {
		kfree(q);
		kfree(t);
		return NULL;
	}
	kref_init(&t->ref);
	mutex_init(&t->lock);
	xa_init(&t->by_addr);
	t->uprobe_priv = uprobe_priv;
	t->mm = current->mm;
	if (t->mm)
		mmgrab(t->mm);
	mutex_lock(&tdsm_sites_list_lock);
	t->quota = tdsm_quota_get(t->mm, q);
	list_add(&t->list, &tdsm_sites_list);
	mutex_unlock(&tdsm_sites_list_lock);
	return t;
}

static void tdsm_sites_free(struct kref *ref)
{
	struct tdsm_sites *t = container_of(ref, struct tdsm_sites, ref);
	struct tdsm_site *s;
	unsigned long i;

	xa_for_each(&t->by_addr, i, s) {
		if (s->kind == TINYDSM_SITE_UPROBE)
			tdsm_uprobe_site_free(s);
		kfree_rcu(s, rcu);
	}
	xa_destroy(&t->by_addr);
	tdsm_sites_uncharge(t, t->count + atomic_read(&t->uprobe_sites));
	kref_put(&t->quota->ref, tdsm_quota_free);
	if (t->mm)
		mmdrop(t->mm);
	kfree_rcu(t, rcu);
}

static void tdsm_sites_put(struct tdsm_sites *t)
{
	kref_put(&t->ref, tdsm_sites_free);
}

/* The file is closed: sites back to direct (if the process lives), forgotten. */
void tdsm_sites_release(struct tdsm_sites *t)
{
	struct tdsm_site *s;
	unsigned long i;

	if (!t)
		return;
	mutex_lock(&tdsm_sites_list_lock);
	list_del(&t->list);
	mutex_unlock(&tdsm_sites_list_lock);

	mutex_lock(&t->lock);
	xa_lock(&t->by_addr);
	t->closed = true;	/* the fault path adds no uprobe site after this */
	xa_unlock(&t->by_addr);
	xa_for_each(&t->by_addr, i, s) {
		tdsm_site_set_form(s, TINYDSM_SITE_DIRECT);
		xa_erase(&tdsm_site_ids, s->id);
	}
	mutex_unlock(&t->lock);
	tdsm_sites_put(t);
}

/* ---- adding sites (TINYDSM_IOC_SITES_ADD) ----------------------------- */

static int tdsm_site_cmp(const void *a, const void *b)
{
	const struct tdsm_site *x = *(const struct tdsm_site **)a;
	const struct tdsm_site *y = *(const struct tdsm_site **)b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* A site of any table of @mm that overlaps [addr, addr + len). */
static bool tdsm_sites_overlap(struct mm_struct *mm, unsigned long addr,
			       unsigned int len)
{
	struct tdsm_sites *t;
	struct tdsm_site *s;
	unsigned long i;
	bool hit = false;

	lockdep_assert_held(&tdsm_sites_list_lock);
	list_for_each_entry(t, &tdsm_sites_list, list) {
		if (t->mm != mm)
			continue;
		i = addr > TDSM_SITE_LEN_MAX ? addr - TDSM_SITE_LEN_MAX : 0;
		xa_for_each_range(&t->by_addr, i, s, i, addr + len - 1) {
			if (s->addr + s->len > addr) {
				hit = true;
				break;
			}
		}
		if (hit)
			break;
	}
	return hit;
}

/*
 * Check entry @e (at user address @ue) and make its site. The entry's
 * bytes were read from the text into @text. NULL and *@why if refused.
 */
static unsigned long tdsm_entry_site(const struct tinydsm_site_entry *e,
				     unsigned long ue)
{
	return ue + offsetof(struct tinydsm_site_entry, site) + e->site;
}

static struct tdsm_site *tdsm_site_make(struct mm_struct *mm,
					const struct tinydsm_site_entry *e,
					unsigned long ue, const u8 *text,
					const char **why)
{
	unsigned long addr = tdsm_entry_site(e, ue);
	unsigned long lookup = ue + offsetof(struct tinydsm_site_entry, lookup) +
			       e->lookup;
	u8 want[TDSM_SITE_LEN_MAX];
	struct tdsm_site *s;
	int len;

	*why = "reserved bytes or unknown flags";
	if (memchr_inv(e->reserved, 0, sizeof(e->reserved)) ||
	    (e->flags & ~__TINYDSM_SITE_F_ALL) || hweight8(e->flags) > 1)
		return NULL;
	*why = "width, registers or length are not a site's";
	if (e->len < TDSM_SITE_LEN_MIN || e->len > TDSM_SITE_LEN_MAX ||
	    e->value_reg > 15 || e->addr_reg > 15)
		return NULL;
	if (e->flags & TINYDSM_SITE_F_FETCH_ADD)
		len = tdsm_site_encode_atomic(TDSM_SITE_XADD, e->width,
					      e->value_reg, e->addr_reg, want);
	else if (e->flags & TINYDSM_SITE_F_XCHG)
		len = tdsm_site_encode_atomic(TDSM_SITE_XCHG, e->width,
					      e->value_reg, e->addr_reg, want);
	else if (e->flags & TINYDSM_SITE_F_CAS)
		len = tdsm_site_encode_atomic(TDSM_SITE_CMPXCHG, e->width,
					      e->value_reg, e->addr_reg, want);
	else
		len = tdsm_site_encode(e->width, e->flags & TINYDSM_SITE_F_STORE,
				       e->value_reg, e->addr_reg, want);
	if (len != e->len)
		return NULL;
	*why = "the site is not in an executable private file mapping";
	if (!tdsm_text_vma_ok(vma_lookup(mm, addr), addr, len))
		return NULL;
	*why = "the lookup thunk is not in an executable mapping, or is inside the site";
	if (!tdsm_text_vma_ok(vma_lookup(mm, lookup), lookup, 1) ||
	    (lookup >= addr && lookup < addr + len))
		return NULL;
	*why = "the bytes at the site are not the direct form its entry describes";
	if (memcmp(text, want, len))
		return NULL;
	*why = "out of memory";
	s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	if (!s)
		return NULL;
	s->addr = addr;
	s->lookup = lookup;
	s->kind = TINYDSM_SITE_POKE;
	s->len = len;
	s->width = e->width;
	s->flags = e->flags;
	s->form = TINYDSM_SITE_DIRECT;
	memcpy(s->direct, want, len);
	s->entry = ue;
	return s;
}

/* The index in the caller's table of the entry that made @s. */
static u32 tdsm_entry_index(const struct tinydsm_sites *req,
			    const struct tdsm_site *s)
{
	return (s->entry - req->table) / sizeof(struct tinydsm_site_entry);
}

static long tdsm_sites_add(struct tdsm_sites *t, void __user *uarg)
{
	struct tinydsm_site_entry *entries = NULL;
	u8 (*text)[TDSM_SITE_LEN_MAX] = NULL;
	struct tdsm_site **sites = NULL;
	struct mm_struct *mm = current->mm;
	struct tinydsm_sites req;
	const char *why = NULL;
	unsigned int i, made = 0, inserted = 0;
	long err;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.added || req.bad_index || memchr_inv(req.reserved, 0, sizeof(req.reserved)))
		return -EINVAL;
	if (t->mm != mm)
		return -EPERM;	/* only the process that opened the file */
	if (!req.count || (req.table & 3))
		return -EINVAL;
	if (req.count > TINYDSM_SITES_MAX)
		return -E2BIG;
	entries = kvmalloc_array(req.count, sizeof(*entries), GFP_KERNEL_ACCOUNT);
	sites = kvcalloc(req.count, sizeof(*sites), GFP_KERNEL_ACCOUNT);
	text = kvmalloc_array(req.count, sizeof(*text), GFP_KERNEL_ACCOUNT);
	err = -ENOMEM;
	if (!entries || !sites || !text)
		goto out;
	err = -EFAULT;
	if (copy_from_user(entries, u64_to_user_ptr(req.table),
			   array_size(req.count, sizeof(*entries))))
		goto out;
	/* The sites' bytes, before mmap_lock: reading text may fault it in. */
	for (i = 0; i < req.count; i++) {
		unsigned int n = min_t(unsigned int, entries[i].len, TDSM_SITE_LEN_MAX);

		memset(text[i], 0, sizeof(text[i]));
		if (copy_from_user(text[i], (const void __user *)
				   tdsm_entry_site(&entries[i], req.table + i * sizeof(*entries)),
				   n)) {
			req.bad_index = i;
			why = "the site's address cannot be read";
			err = -EINVAL;
			goto out_bad_entry;
		}
	}

	mutex_lock(&t->lock);
	err = -E2BIG;
	if (t->count + req.count > TINYDSM_SITES_MAX)
		goto out_unlock;
	/* The process's cap, over all its files (given back if refused below). */
	err = -EDQUOT;
	if (!tdsm_sites_charge(t, req.count)) {
		pr_info_ratelimited("%s[%d]: sites refused: %u more would exceed max_sites_per_mm=%u\n",
				    current->comm, task_pid_nr(current), req.count,
				    READ_ONCE(tdsm_max_sites_per_mm));
		goto out_unlock;
	}

	/* Check each entry against the process's mappings and text. */
	mmap_read_lock(mm);
	for (i = 0; i < req.count; i++) {
		sites[i] = tdsm_site_make(mm, &entries[i], req.table + i * sizeof(*entries),
					  text[i], &why);
		if (!sites[i])
			break;
		sites[i]->owner = t;
		made++;
	}
	mmap_read_unlock(mm);
	err = -EINVAL;
	if (made < req.count) {
		req.bad_index = i;
		goto out_refuse;
	}

	/* Two sites may not overlap; a thunk may not lie inside a site. */
	sort(sites, req.count, sizeof(*sites), tdsm_site_cmp, NULL);
	for (i = 1; i < req.count; i++) {
		if (sites[i - 1]->addr + sites[i - 1]->len > sites[i]->addr) {
			why = "two sites overlap";
			req.bad_index = tdsm_entry_index(&req, sites[i]);
			goto out_refuse;
		}
	}
	mutex_lock(&tdsm_sites_list_lock);
	for (i = 0; i < req.count; i++) {
		if (tdsm_sites_overlap(mm, sites[i]->addr, sites[i]->len)) {
			mutex_unlock(&tdsm_sites_list_lock);
			why = "a site is already registered";
			req.bad_index = tdsm_entry_index(&req, sites[i]);
			err = -EEXIST;
			goto out_refuse;
		}
	}
	for (i = 0; i < req.count; i++) {
		err = xa_alloc_cyclic(&tdsm_site_ids, &sites[i]->id, sites[i],
				      xa_limit_31b, &tdsm_site_next_id,
				      GFP_KERNEL_ACCOUNT);
		if (err < 0)
			break;
		err = xa_insert(&t->by_addr, sites[i]->addr, sites[i],
				GFP_KERNEL_ACCOUNT);
		if (err) {
			xa_erase(&tdsm_site_ids, sites[i]->id);
			break;
		}
		inserted++;
	}
	mutex_unlock(&tdsm_sites_list_lock);
	if (inserted < req.count) {
		/* Out of memory: take back what went in, so all or none. */
		for (i = 0; i < inserted; i++) {
			xa_erase(&t->by_addr, sites[i]->addr);
			xa_erase(&tdsm_site_ids, sites[i]->id);
		}
		synchronize_rcu();
		why = "out of memory";
		err = -ENOMEM;
		goto out_refuse;
	}
	t->count += req.count;
	mutex_unlock(&t->lock);
	req.added = req.count;
	err = copy_to_user(uarg, &req, sizeof(req)) ? -EFAULT : 0;
	goto out;

out_refuse:
	tdsm_sites_uncharge(t, req.count);
	mutex_unlock(&t->lock);
out_bad_entry:
	pr_info_ratelimited("%s[%d]: sites refused, entry %u: %s\n", current->comm,
			    task_pid_nr(current), req.bad_index, why);
	for (i = 0; i < made; i++)
		kfree(sites[i]);
	if (copy_to_user(uarg, &req, sizeof(req)))
		err = -EFAULT;
	goto out;
out_unlock:
	mutex_unlock(&t->lock);
out:
	kvfree(text);
	kvfree(entries);
	kvfree(sites);
	return err;
}

/* ---- page events ------------------------------------------------------- */

/*
 * Remember that site @id touched page @pg (a small per-page LRU), whose
 * chunk the caller holds (page.h, M1): the fault path, which has it.
 */
static void tdsm_page_note_site(struct tdsm_page *pg, u32 id)
{
	u32 *slot = pg->sites;

	BUILD_BUG_ON(TDSM_PAGE_SITES != 2);
	if (READ_ONCE(slot[0]) == id || READ_ONCE(slot[1]) == id) {
		/* already there */
	} else if (!READ_ONCE(slot[0])) {
		WRITE_ONCE(slot[0], id);
	} else if (!READ_ONCE(slot[1])) {
		WRITE_ONCE(slot[1], id);
	} else {
		WRITE_ONCE(slot[0], READ_ONCE(slot[1]));
		WRITE_ONCE(slot[1], id);
	}
}

/*
 * tdsm_page_note_site() for page @idx, from a caller that holds no
 * reference on its chunk: after the access (a word access, a uprobe), when
 * the page's metadata may be gone, and with it its hints (page.h, M2);
 * none is created for them.
 */
void tdsm_page_add_site(struct tdsm_region *r, unsigned long idx, u32 id)
{
	if (!tdsm_chunk_get_existing(r, idx))
		return;
	tdsm_page_note_site(tdsm_pg(r, idx), id);
	tdsm_chunk_put(r, idx);
}

/*
 * The fault on page @idx, @pg (its chunk held by the fault, M1), at user
 * IP @ip: no second reference, no lookup, for a registered site.
 */
void tdsm_sites_fault(struct tdsm_region *r, struct tdsm_sites *t, unsigned long idx,
		      struct tdsm_page *pg, unsigned long ip)
{
	struct tdsm_site *s;

	if (!t || t->mm != current->mm)
		return;
	rcu_read_lock();
	s = xa_load(&t->by_addr, ip);
	if (s) {
		atomic64_inc(&s->faults);
		tdsm_page_note_site(pg, s->id);
	}
	rcu_read_unlock();
	/* Not a registered site: any instruction may take the uprobe path. */
	if (!s)
		tdsm_uprobe_site_new(r, t, idx, ip);
}

void tdsm_sites_word(struct tdsm_region *r, struct tdsm_sites *t, unsigned long idx,
		     unsigned long site)
{
	struct tdsm_site *s;

	if (!t || t->mm != current->mm)
		return;
	rcu_read_lock();
	s = xa_load(&t->by_addr, site);
	if (s) {
		atomic64_inc(&s->words);
		tdsm_page_add_site(r, idx, s->id);
	}
	rcu_read_unlock();
}

/* @pg: the page's metadata, its chunk held by the caller (page.h, M1). */
void tdsm_sites_page_note(struct tdsm_page *pg, bool here)
{
	struct tdsm_page_event ev = { .here = here };
	unsigned long flags;
	bool queued;

	ev.sites[0] = READ_ONCE(pg->sites[0]);
	ev.sites[1] = READ_ONCE(pg->sites[1]);
	if (!ev.sites[0] && !ev.sites[1])
		return;
	spin_lock_irqsave(&tdsm_events_lock, flags);
	queued = kfifo_put(&tdsm_events, ev);
	spin_unlock_irqrestore(&tdsm_events_lock, flags);
	if (!queued)
		atomic64_inc(&tdsm_events_dropped);	/* those sites stay lazy */
	if (tdsm_patch_wq)
		queue_work(tdsm_patch_wq, &tdsm_events_work);
}

/* A site and the form a page event wants for it. */
struct tdsm_site_want {
	struct tdsm_site *site;
	u8 form;
};

/*
 * Collect the sites @ids (a page's, 0: none; with a reference on their
 * tables) into @want, skipping duplicates. Returns the new count.
 */
static unsigned int tdsm_collect(const u32 *ids, u8 form,
				 struct tdsm_site_want *want, unsigned int n,
				 unsigned int max)
{
	unsigned int k, j;

	rcu_read_lock();
	for (k = 0; k < TDSM_PAGE_SITES && n < max; k++) {
		u32 id = ids[k];
		struct tdsm_site *s;

		if (!id)
			continue;
		s = xa_load(&tdsm_site_ids, id);
		if (!s)
			continue;
		for (j = 0; j < n; j++)
			if (want[j].site == s)
				break;
		if (j < n) {
			want[j].form = form;	/* the later event wins */
			continue;
		}
		if (!kref_get_unless_zero(&s->owner->ref))
			continue;
		want[n].site = s;
		want[n].form = form;
		n++;
	}
	rcu_read_unlock();
	return n;
}

/* Put each collected site in its form (eager tables only unless @all). */
static unsigned int tdsm_apply(struct tdsm_site_want *want, unsigned int n, bool all)
{
	unsigned int i, done = 0;

	for (i = 0; i < n; i++) {
		struct tdsm_site *s = want[i].site;
		struct tdsm_sites *t = s->owner;

		mutex_lock(&t->lock);
		if (!t->closed && s->form != want[i].form &&
		    (all || READ_ONCE(t->policy) == TINYDSM_SITES_POLICY_EAGER) &&
		    !tdsm_site_set_form(s, want[i].form))
			done++;
		mutex_unlock(&t->lock);
		tdsm_sites_put(t);
	}
	return done;
}

#define TDSM_WANT_BATCH	64

static void tdsm_events_work_fn(struct work_struct *work)
{
	struct tdsm_site_want *want;
	struct tdsm_page_event ev;
	unsigned int n;
	bool more = true;

	want = kmalloc_array(TDSM_WANT_BATCH, sizeof(*want), GFP_KERNEL);
	while (more) {
		n = 0;
		for (;;) {
			spin_lock_irq(&tdsm_events_lock);
			more = kfifo_get(&tdsm_events, &ev);
			spin_unlock_irq(&tdsm_events_lock);
			if (!more)
				break;
			if (want)
				n = tdsm_collect(ev.sites, ev.here ? TINYDSM_SITE_DIRECT :
						 TINYDSM_SITE_LOOKUP, want, n, TDSM_WANT_BATCH);
			if (n > TDSM_WANT_BATCH - TDSM_PAGE_SITES)
				break;
		}
		if (want)
			tdsm_apply(want, n, false);
		cond_resched();
	}
	kfree(want);
}

/**
 * tdsm_sites_page_event - put the sites of some pages in one form, now
 * @r: the region.
 * @first: index of the first page of the batch.
 * @n: pages in the batch (at most 64).
 * @mask: the pages concerned (bit i = page @first + i), each with its
 *	metadata held by the caller (page.h, M1).
 * @form: enum tinydsm_site_form.
 *
 * For REPOPULATE (whatever the files' policy): the pages came back, their
 * recorded sites go direct; or, with TINYDSM_REPOPULATE_F_LOOKUP, they stay
 * away and their sites go lookup. Page events queued before are applied
 * first, so that they cannot undo this afterwards. Returns the sites
 * rewritten.
 */
unsigned int tdsm_sites_page_event(struct tdsm_region *r, unsigned long first,
				   unsigned int n, u64 mask, u8 form)
{
	struct tdsm_site_want *want;
	unsigned int i, j, k = 0, done = 0;

	flush_workqueue(tdsm_patch_wq);
	want = kmalloc_array(TDSM_WANT_BATCH, sizeof(*want), GFP_KERNEL);
	if (!want)
		return 0;
	for (i = 0; i < n; i++) {
		u32 ids[TDSM_PAGE_SITES];
		struct tdsm_page *pg;

		if (!(mask & BIT_ULL(i)))
			continue;
		/* The caller holds these pages' metadata (page.h, M1). */
		pg = tdsm_pg(r, first + i);
		for (j = 0; j < TDSM_PAGE_SITES; j++)
			ids[j] = READ_ONCE(pg->sites[j]);
		k = tdsm_collect(ids, form, want, k, TDSM_WANT_BATCH);
		if (k > TDSM_WANT_BATCH - TDSM_PAGE_SITES) {
			done += tdsm_apply(want, k, true);
			k = 0;
		}
	}
	done += tdsm_apply(want, k, true);
	kfree(want);
	return done;
}

/* ---- ioctls ------------------------------------------------------------ */

static long tdsm_sites_ctl(struct tdsm_sites *t, void __user *uarg)
{
	struct tinydsm_sites_ctl c;
	struct tdsm_site *s;
	unsigned long i;
	long err = 0;

	if (copy_from_user(&c, uarg, sizeof(c)))
		return -EFAULT;
	if (memchr_inv(c.reserved, 0, sizeof(c.reserved)))
		return -EINVAL;
	mutex_lock(&t->lock);
	switch (c.op) {
	case TINYDSM_SITES_GET:
		c.policy = t->policy;
		c.count = t->count;
		break;
	case TINYDSM_SITES_SET_POLICY:
		if (c.policy > TINYDSM_SITES_POLICY_EAGER)
			err = -EINVAL;
		else
			WRITE_ONCE(t->policy, c.policy);
		break;
	case TINYDSM_SITES_SET_FORM:
		err = -EINVAL;
		if (c.form > TINYDSM_SITE_LOOKUP)
			break;
		err = -ENOENT;
		s = xa_load(&t->by_addr, c.addr);
		if (!s)
			break;
		c.count = s->form != c.form;
		err = tdsm_site_set_form(s, c.form);
		break;
	case TINYDSM_SITES_SET_FORM_ALL:
		err = -EINVAL;
		if (c.form > TINYDSM_SITE_LOOKUP)
			break;
		err = 0;
		c.count = 0;
		xa_for_each(&t->by_addr, i, s) {
			if (s->form == c.form)
				continue;
			/* Uprobe sites this file may not arm stay direct. */
			if (s->kind == TINYDSM_SITE_UPROBE &&
			    c.form == TINYDSM_SITE_LOOKUP && !tdsm_uprobe_may_arm(t))
				continue;
			err = tdsm_site_set_form(s, c.form);
			if (err)
				break;
			c.count++;
		}
		break;
	default:
		err = -EINVAL;
	}
	mutex_unlock(&t->lock);
	if (err)
		return err;
	return copy_to_user(uarg, &c, sizeof(c)) ? -EFAULT : 0;
}

static long tdsm_site_info(struct tdsm_sites *t, void __user *uarg)
{
	struct tinydsm_site_info info;
	struct tdsm_site *s;

	if (copy_from_user(&info, uarg, sizeof(info)))
		return -EFAULT;
	if (memchr_inv(info.reserved, 0, sizeof(info.reserved)) ||
	    memchr_inv(info.reserved0, 0, sizeof(info.reserved0)))
		return -EINVAL;
	mutex_lock(&t->lock);
	s = xa_load(&t->by_addr, info.addr);
	if (s) {
		info.lookup = s->lookup;
		info.form = s->form;
		info.kind = s->kind;
		info.width = s->width;
		info.flags = s->flags;
		info.len = s->len;
		info.patches = atomic64_read(&s->patches);
		info.faults = atomic64_read(&s->faults);
		info.words = atomic64_read(&s->words);
	}
	mutex_unlock(&t->lock);
	if (!s)
		return -ENOENT;
	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
}

long tdsm_sites_ioctl(struct tdsm_sites *t, unsigned int cmd, void __user *uarg)
{
	switch (cmd) {
	case TINYDSM_IOC_SITES_ADD:
		return tdsm_sites_add(t, uarg);
	case TINYDSM_IOC_SITES_CTL:
		return tdsm_sites_ctl(t, uarg);
	case TINYDSM_IOC_SITE_INFO:
		return tdsm_site_info(t, uarg);
	default:
		return -ENOTTY;
	}
}

/* ---- init and exit ------------------------------------------------------ */

int tdsm_patch_init(void)
{
	int err;

	tdsm_patch_wq = alloc_ordered_workqueue("tinydsm_patch", 0);
	if (!tdsm_patch_wq)
		return -ENOMEM;
	err = register_die_notifier(&tdsm_die_nb);
	if (err) {
		destroy_workqueue(tdsm_patch_wq);
		tdsm_patch_wq = NULL;
	}
	return err;
}

/* Every file is closed (the module is unloading). */
void tdsm_patch_exit(void)
{
	destroy_workqueue(tdsm_patch_wq);
	tdsm_patch_wq = NULL;
	unregister_die_notifier(&tdsm_die_nb);
	/* Sites and tables are freed with kfree_rcu(). */
	rcu_barrier();
	WARN_ON(!xa_empty(&tdsm_site_ids));
	if (atomic64_read(&tdsm_events_dropped))
		pr_info("%lld page events dropped (their sites stayed lazy)\n",
			(long long)atomic64_read(&tdsm_events_dropped));
}
