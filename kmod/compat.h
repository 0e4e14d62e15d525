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

#ifndef TDSM_HAVE_VM_FLAGS_SET
/* vm_flags became read-only behind vm_flags_set() in 6.3. */
static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}
#endif

#endif /* _TDSM_COMPAT_H */
