// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl stats: this node's counters (TINYDSM_IOC_STATS).
 *
 *   tinydsmctl stats [ show ]
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <linux/tinydsm.h>

#include "tinydsmctl.h"

/* Every counter of struct tinydsm_stats, in its order, by its field name. */
static const struct {
	const char *key;
	size_t off;
} stats_fields[] = {
#define F(f) { #f, offsetof(struct tinydsm_stats, f) }
	F(read_faults),
	F(write_faults),
	F(frames),
	F(frames_allocated),
	F(remote_faults),
	F(invalidations),
	F(fetches),
	F(migrated_in),
	F(migrated_out),
	F(repopulated),
	F(prefaults),
	F(forwards),
	F(sites_direct),
	F(sites_lookup),
	F(word_remote),
	F(word_served),
	F(cached_pages),
	F(cache_budget_pages),
	F(evicted_clean),
	F(evicted_written),
	F(evict_released),
	F(evict_failed),
	F(evict_batches),
	F(evict_batch_pages),
	F(reclaim_runs),
	F(reclaim_ns),
	F(meta_bytes),
	F(chunks),
	F(home_frames),
	F(home_charged),
	F(home_budget_pages),
	F(home_refused),
	F(shrinker_freed),
	F(clock_young),
	F(readahead_batches),
	F(readahead_pages),
#undef F
};

/* A counter added to the ABI must be added above. */
_Static_assert(sizeof(struct tinydsm_stats) ==
	       sizeof(__u64) * ARRAY_SIZE(stats_fields),
	       "struct tinydsm_stats has a counter stats_fields[] lacks");

static int stats_help(struct tdc *t)
{
	size_t i;

	fprintf(t->help_out,
		"Usage: %s stats [ show ]\n"
		"       %s stats help\n"
		"Shows this node's counters since the module was loaded:\n",
		t->prog, t->prog);
	for (i = 0; i < ARRAY_SIZE(stats_fields); i++)
		fprintf(t->help_out, "%s%s", i % 4 ? ", " : i ? ",\n  " : "  ",
			stats_fields[i].key);
	fputc('\n', t->help_out);
	return TDC_EXIT_OK;
}

static int stats_show(struct tdc *t)
{
	struct tinydsm_stats st;
	uint64_t v;
	size_t i;
	int ret;

	if (tdc_want_help(t))
		return stats_help(t);
	if (!tdc_no_arg(t))
		return tdc_usage_error(t, stats_help,
				       "stats show: unexpected argument \"%s\"",
				       tdc_arg(t));
	ret = tdc_stats(t, &st);
	if (ret)
		return ret;
	tdc_obj_begin(t);
	for (i = 0; i < ARRAY_SIZE(stats_fields); i++) {
		memcpy(&v, (const char *)&st + stats_fields[i].off, sizeof(v));
		tdc_kv_uint(t, stats_fields[i].key, v);
	}
	tdc_obj_end(t);
	return TDC_EXIT_OK;
}

static const struct tdc_cmd stats_cmds[] = {
	{ NULL,		stats_show },
	{ "show",	stats_show },
	{ "help",	stats_help },
	{ NULL,		NULL },
};

int cmd_stats(struct tdc *t)
{
	return tdc_exec_cmd(t, stats_cmds, "stats command");
}
