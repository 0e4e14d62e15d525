// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl region: the region as this node sees it (TINYDSM_IOC_REGION_INFO).
 *
 *   tinydsmctl region [ show ]
 */
#define _GNU_SOURCE
#include <stdio.h>

#include <linux/tinydsm.h>

#include "tinydsmctl.h"

static int region_help(struct tdc *t)
{
	fprintf(t->help_out,
		"Usage: %s region [ show ]\n"
		"       %s region help\n"
		"Shows this node's id, the region (base, size, pages, page size),\n"
		"the metadata kept per page and the home slices: which pages each\n"
		"node is first the home of.\n",
		t->prog, t->prog);
	return TDC_EXIT_OK;
}

enum {
	COL_NODE,
	COL_START,
	COL_END,
	COL_PAGES,
	COL_FLAGS,
	NR_COLS
};

static const struct tdc_col slice_cols[NR_COLS] = {
	[COL_NODE]	= { "node",	"HOME",		true },
	[COL_START]	= { "start",	"START",	false },
	[COL_END]	= { "end",	"END",		false },
	[COL_PAGES]	= { "pages",	"PAGES",	true },
	[COL_FLAGS]	= { "flags",	"FLAGS",	false },
};

/* The nodes that home a slice: a module that does not say has max_nodes. */
static uint32_t region_home_nodes(const struct tinydsm_region_info *ri)
{
	return ri->home_nodes ? ri->home_nodes : ri->max_nodes;
}

/* Slice n - 1 is homed on node n; the last one may be cut by the region. */
static void region_print_slices(struct tdc *t,
				const struct tinydsm_region_info *ri)
{
	uint64_t npages = ri->size / ri->page_size, first, count;
	static const char *const self[] = { "self" };
	uint32_t n;

	tdc_print_list_begin(t, "slices", slice_cols, NR_COLS);
	for (n = 1; ri->slice_pages && n <= region_home_nodes(ri); n++) {
		first = (uint64_t)(n - 1) * ri->slice_pages;
		if (first >= npages)
			break;
		count = npages - first < ri->slice_pages ?
			npages - first : ri->slice_pages;
		tdc_row_begin(t);
		tdc_print_uint(t, COL_NODE, n);
		tdc_print_hex(t, COL_START, ri->base + first * ri->page_size);
		tdc_print_hex(t, COL_END,
			      ri->base + (first + count) * ri->page_size);
		tdc_print_uint(t, COL_PAGES, count);
		tdc_print_words(t, COL_FLAGS, self, n == ri->node_id);
		tdc_row_end(t);
	}
	tdc_print_list_end(t);
}

static int region_show(struct tdc *t)
{
	struct tinydsm_region_info ri;
	int ret;

	if (tdc_want_help(t))
		return region_help(t);
	if (!tdc_no_arg(t))
		return tdc_usage_error(t, region_help,
				       "region show: unexpected argument \"%s\"",
				       tdc_arg(t));
	ret = tdc_region_info(t, &ri);
	if (ret)
		return ret;

	tdc_obj_begin(t);
	tdc_kv_uint(t, "node_id", ri.node_id);
	tdc_kv_uint(t, "abi_version", ri.abi_version);
	tdc_kv_hex(t, "base", ri.base);
	tdc_kv_hex(t, "end", ri.base + ri.size);
	tdc_kv_uint(t, "size", ri.size);
	tdc_kv_uint(t, "pages", ri.size / ri.page_size);
	tdc_kv_uint(t, "page_size", ri.page_size);
	tdc_kv_uint(t, "meta_bytes_per_page", ri.meta_bytes_per_page);
	tdc_kv_uint(t, "max_nodes", ri.max_nodes);
	tdc_kv_uint(t, "home_nodes", region_home_nodes(&ri));
	tdc_kv_uint(t, "slice_pages", ri.slice_pages);
	region_print_slices(t, &ri);
	tdc_obj_end(t);
	return TDC_EXIT_OK;
}

static const struct tdc_cmd region_cmds[] = {
	{ NULL,		region_show },
	{ "show",	region_show },
	{ "help",	region_help },
	{ NULL,		NULL },
};

int cmd_region(struct tdc *t)
{
	return tdc_exec_cmd(t, region_cmds, "region command");
}
