/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm: the name a frame carries while user space may reach it
 * (frame.c): ->mapping and ->index, which the kernel's shared futexes key
 * on, and when a frame that carried one may lose it.
 */
#ifndef _TDSM_FRAME_H
#define _TDSM_FRAME_H

#include <linux/mm_types.h>

void tdsm_frame_name(struct page *frame, struct address_space *mapping,
		     pgoff_t idx);
void tdsm_frame_release(struct page *frame);
void tdsm_frame_wait_unpinned(struct page *frame, u64 addr);
void tdsm_frames_exit(void);

#endif /* _TDSM_FRAME_H */
