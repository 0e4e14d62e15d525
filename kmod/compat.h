/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the kernels tinydsm builds for (Debian's 6.1 and
 * 6.12), kept here so that the rest of the code has no version checks.
 *
 * Each difference is keyed on a TDSM_HAVE_* feature that Kbuild probes in
 * the headers being built against, not on LINUX_VERSION_CODE: a stable
 * kernel may carry a backport, and the headers are the truth.
 */
#ifndef _TDSM_COMPAT_H
#define _TDSM_COMPAT_H

#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/shrinker.h>
#include <linux/slab.h>
#include <linux/uprobes.h>

#ifndef TDSM_HAVE_VM_FLAGS_SET
/* vm_flags became read-only behind vm_flags_set() in 6.3. */
static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}
#endif

#ifndef TDSM_HAVE_VM_FLAGS_CLEAR
static inline void vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags &= ~flags;
}
#endif

/* get_user_pages_remote() lost its vmas argument in 6.5. */
static inline long tdsm_gup_remote(struct mm_struct *mm, unsigned long start,
				   unsigned long nr_pages, unsigned int gup_flags,
				   struct page **pages)
{
#ifdef TDSM_HAVE_GUP_VMAS
	return get_user_pages_remote(mm, start, nr_pages, gup_flags, pages,
				     NULL, NULL);
#else
	return get_user_pages_remote(mm, start, nr_pages, gup_flags, pages,
				     NULL);
#endif
}

/* An address for an anonymous-like mapping, as the process's mmap picks. */
static inline unsigned long tdsm_default_unmapped_area(unsigned long addr,
						       unsigned long len,
						       unsigned long flags)
{
#ifdef TDSM_HAVE_MM_GET_UNMAPPED_AREA
	return mm_get_unmapped_area(current->mm, NULL, addr, len, 0, flags);
#else
	return get_unmapped_area(NULL, addr, len, 0, flags);
#endif
}

/*
 * uprobes: 6.12 returns a handle from uprobe_register() and splits
 * unregistering into _nosync() and _sync(); 6.1 takes inode and offset.
 * Both: after tdsm_uprobe_unregister() no handler runs any more.
 */
#ifdef TDSM_HAVE_UPROBE_NOSYNC
#define TDSM_UPROBE_FILTER_ARGS	struct uprobe_consumer *uc, struct mm_struct *mm

static inline int tdsm_uprobe_register(struct inode *inode, loff_t offset,
				       struct uprobe_consumer *uc,
				       struct uprobe **handle)
{
	struct uprobe *u = uprobe_register(inode, offset, 0, uc);

	if (IS_ERR(u))
		return PTR_ERR(u);
	*handle = u;
	return 0;
}

static inline void tdsm_uprobe_unregister(struct inode *inode, loff_t offset,
					  struct uprobe_consumer *uc,
					  struct uprobe **handle)
{
	uprobe_unregister_nosync(*handle, uc);
	uprobe_unregister_sync();
	*handle = NULL;
}
#else
#define TDSM_UPROBE_FILTER_ARGS	struct uprobe_consumer *uc, \
				enum uprobe_filter_ctx ctx, struct mm_struct *mm

static inline int tdsm_uprobe_register(struct inode *inode, loff_t offset,
				       struct uprobe_consumer *uc,
				       struct uprobe **handle)
{
	return uprobe_register(inode, offset, uc);
}

static inline void tdsm_uprobe_unregister(struct inode *inode, loff_t offset,
					  struct uprobe_consumer *uc,
					  struct uprobe **handle)
{
	uprobe_unregister(inode, offset, uc);
}
#endif

/*
 * Shrinkers: 6.12 allocates the struct (shrinker_alloc(), then
 * shrinker_register(); shrinker_free() unregisters and frees it), 6.1
 * registers the caller's (register_shrinker(), unregister_shrinker()).
 * Both: tdsm_shrinker_register() returns a registered shrinker or NULL
 * (no memory); after tdsm_shrinker_free() no callback runs any more (both
 * kernels wait for the calls under way) and the struct is gone.
 */
typedef unsigned long (*tdsm_shrink_fn)(struct shrinker *s,
					struct shrink_control *sc);

#ifdef TDSM_HAVE_SHRINKER_ALLOC
static inline struct shrinker *tdsm_shrinker_register(const char *name,
						      tdsm_shrink_fn count,
						      tdsm_shrink_fn scan)
{
	struct shrinker *s = shrinker_alloc(0, "%s", name);

	if (!s)
		return NULL;
	s->count_objects = count;
	s->scan_objects = scan;
	s->seeks = DEFAULT_SEEKS;
	shrinker_register(s);
	return s;
}

static inline void tdsm_shrinker_free(struct shrinker *s)
{
	shrinker_free(s);
}
#else
static inline struct shrinker *tdsm_shrinker_register(const char *name,
						      tdsm_shrink_fn count,
						      tdsm_shrink_fn scan)
{
	struct shrinker *s = kzalloc(sizeof(*s), GFP_KERNEL);

	if (!s)
		return NULL;
	s->count_objects = count;
	s->scan_objects = scan;
	s->seeks = DEFAULT_SEEKS;
	if (register_shrinker(s, "%s", name)) {
		kfree(s);
		return NULL;
	}
	return s;
}

static inline void tdsm_shrinker_free(struct shrinker *s)
{
	unregister_shrinker(s);
	kfree(s);
}
#endif

#endif /* _TDSM_COMPAT_H */
