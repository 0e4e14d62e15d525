// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: fault-injection knobs for tests, in debugfs: the directory
 * tinydsm/ (/sys/kernel/debug/tinydsm/), one u32 file per knob, root
 * only (0600). They widen race windows or make a step fail on purpose;
 * all are 0 (off) at load, and the code that reads one bounds it
 * (PROTOCOL.md "Fault injection").
 *
 * Without debugfs (CONFIG_DEBUG_FS off) the files are not made, the knobs
 * stay 0 and the module loads as ever: debugfs' functions then return
 * errors that the kernel's convention is to ignore, and so does this file.
 */
#include <linux/debugfs.h>
#include <linux/kernel.h>

#include "inject.h"

u32 tdsm_inject_evict_delay_ms;

/* The knobs: one line each. */
static const struct {
	const char *name;
	u32 *value;
} tdsm_inject_knobs[] = {
	{ "evict_delay_ms", &tdsm_inject_evict_delay_ms },
};

/* tinydsm/ in debugfs, or an error pointer (debugfs_remove_recursive() takes both). */
static struct dentry *tdsm_inject_dir;

void tdsm_inject_init(void)
{
	unsigned int i;

	tdsm_inject_dir = debugfs_create_dir("tinydsm", NULL);
	for (i = 0; i < ARRAY_SIZE(tdsm_inject_knobs); i++)
		debugfs_create_u32(tdsm_inject_knobs[i].name, 0600,
				   tdsm_inject_dir, tdsm_inject_knobs[i].value);
}

void tdsm_inject_exit(void)
{
	debugfs_remove_recursive(tdsm_inject_dir);
	tdsm_inject_dir = NULL;
}
