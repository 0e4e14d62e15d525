// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl region: the region as this node sees it (TINYDSM_IOC_REGION_INFO,
 * and its cache and metadata from TINYDSM_IOC_STATS), and this node's
 * settings for it (TINYDSM_CMD_REGION_SET, CAP_NET_ADMIN).
 *
 *   tinydsmctl region [ show ]
 *   tinydsmctl region set cache SIZE
 *   tinydsmctl region set home-budget SIZE
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <netlink/msg.h>
#include <netlink/attr.h>

#include <linux/tinydsm.h>

#include "tinydsmctl.h"

static int region_help(struct tdc *t)
{
	fprintf(t->help_out,
		"Usage: %s region [ show ]\n"
		"       %s region set cache SIZE\n"
		"       %s region set home-budget SIZE\n"
		"       %s region help\n"
		"show: this node's id, the region (base, size, pages, page size),\n"
		"the metadata kept per page, the cache budget (bytes, 0: unlimited)\n"
		"and the pages cached under it, the metadata held now (bytes,\n"
		"chunks of 64 pages), and the home slices: which pages each node\n"
		"is first the home of.\n"
		"set cache: how much memory this node keeps for copies of pages\n"
		"homed on other nodes.\n"
		"set home-budget: how many bytes of pages this node homes at most\n"
		"(allocated runs, pages first touched outside them, pages migrated\n"
		"here); past it ALLOC and MIGRATE fail with ENOSPC and a first\n"
		"touch gets SIGBUS.\n"
		"SIZE in bytes, or with K, M, G or T (powers of 1024); 0 for\n"
		"unlimited, else at least 1M. Setting needs CAP_NET_ADMIN.\n",
		t->prog, t->prog, t->prog, t->prog);
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
	struct tinydsm_stats st;
	int ret;

	if (tdc_want_help(t))
		return region_help(t);
	if (!tdc_no_arg(t))
		return tdc_usage_error(t, region_help,
				       "region show: unexpected argument \"%s\"",
				       tdc_arg(t));
	ret = tdc_region_info(t, &ri);
	if (!ret)
		ret = tdc_stats(t, &st);
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
	/* The cache of pages homed elsewhere, and the metadata held now. */
	tdc_kv_uint(t, "cache_budget", st.cache_budget_pages * ri.page_size);
	tdc_kv_uint(t, "cached_pages", st.cached_pages);
	tdc_kv_uint(t, "meta_bytes", st.meta_bytes);
	tdc_kv_uint(t, "chunks", st.chunks);
	region_print_slices(t, &ri);
	tdc_obj_end(t);
	return TDC_EXIT_OK;
}

/* SIZE: a number of bytes, maybe with K, M, G or T (powers of 1024). */
static int region_parse_size(const char *s, uint64_t *v)
{
	static const char units[] = "KMGT";
	char num[32];
	const char *u;
	size_t len;
	int shift;

	if (!s || !*s || (len = strlen(s)) >= sizeof(num))
		return -1;
	memcpy(num, s, len + 1);
	u = len > 1 ? strchr(units, num[len - 1]) : NULL;
	shift = u ? 10 * (int)(u - units + 1) : 0;
	if (u)
		num[len - 1] = '\0';
	if (tdc_parse_u64(num, v) || *v > UINT64_MAX >> shift)
		return -1;
	*v <<= shift;
	return 0;
}

/* What "region set" sets: its word, the attribute, what a module lacks. */
static const struct region_setting {
	const char *word;
	uint16_t attr;
	const char *what;
} region_settings[] = {
	{ "cache",		TINYDSM_A_CACHE_BUDGET,	"cache budget" },
	{ "home-budget",	TINYDSM_A_HOME_BUDGET,	"home budget" },
};

static int region_set(struct tdc *t)
{
	const struct region_setting *set = NULL;
	struct nl_msg *msg;
	char what[48];
	uint64_t bytes;
	size_t i;
	int ret;

	if (tdc_want_help(t))
		return region_help(t);
	for (i = 0; t->argc >= 1 && i < ARRAY_SIZE(region_settings); i++)
		if (!strcmp(tdc_arg(t), region_settings[i].word))
			set = &region_settings[i];
	if (t->argc != 2 || !set)
		return tdc_usage_error(t, region_help,
				       "region set: needs cache SIZE or home-budget SIZE");
	snprintf(what, sizeof(what), "region set %s", set->word);
	if (region_parse_size(t->argv[1], &bytes))
		return tdc_usage_error(t, region_help,
				       "%s: \"%s\" is not a size", what,
				       t->argv[1]);
	ret = tdc_nl_open(t);
	if (ret)
		return ret;
	msg = tdc_nl_msg(t, TINYDSM_CMD_REGION_SET, 0);
	if (!msg || nla_put_u64(msg, set->attr, bytes)) {
		nlmsg_free(msg);
		tdc_err(t, "region set: out of memory");
		return TDC_EXIT_FAIL;
	}
	ret = tdc_nl_do(t, msg, what);
	if (t->nl_error == -EOPNOTSUPP)
		tdc_err(t, "region set: this tinydsm module has no %s: load a newer one",
			set->what);
	else if (t->nl_error == -EPERM)
		tdc_err(t, "region set: needs CAP_NET_ADMIN (run it as root)");
	return ret;
}

static const struct tdc_cmd region_cmds[] = {
	{ NULL,		region_show },
	{ "show",	region_show },
	{ "set",	region_set },
	{ "help",	region_help },
	{ NULL,		NULL },
};

int cmd_region(struct tdc *t)
{
	return tdc_exec_cmd(t, region_cmds, "region command");
}
