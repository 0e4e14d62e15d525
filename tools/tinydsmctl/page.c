// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl page: the metadata of pages on this node (TINYDSM_IOC_PAGE_INFO,
 * one ioctl per page).
 *
 *   tinydsmctl page [ show ] [ RANGE ] [ FILTER ... ]
 *
 * Without a RANGE the whole region is scanned and the pages never touched
 * on this node are left out, unless --all asks for them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/tinydsm.h>

#include "tinydsmctl.h"

static int page_help(struct tdc *t)
{
	fprintf(t->help_out,
		"Usage: %s page [ show ] [ RANGE ] [ FILTER ... ]\n"
		"       %s page help\n"
		"where  RANGE := { ADDR | ADDR+N | ADDR-END }\n"
		"               the page holding ADDR, N pages from ADDR's page,\n"
		"               or the pages of [ADDR, END); decimal or 0x-hex\n"
		"       FILTER := { --owner NODE | --home NODE |\n"
		"                   --state { invalid | shared | exclusive } |\n"
		"                   --present | --all }\n"
		"       NODE := { N | nodeN }, N in 1..%d\n"
		"Without RANGE the whole region is scanned and only the pages this\n"
		"node ever touched are listed (not: invalid, no frame, no owner, no\n"
		"flags, no copies, no faults); --all lists every page.\n"
		"Examples: %s page show\n"
		"          %s page show 0x400000000000+16 --state exclusive\n"
		"          %s -j page show --owner node2 --present\n",
		t->prog, t->prog, TINYDSM_MAX_NODES - 1, t->prog, t->prog,
		t->prog);
	return TDC_EXIT_OK;
}

enum {
	COL_ADDR,
	COL_HOME,
	COL_OWNER,
	COL_STATE,
	COL_COPYSET,
	COL_FLAGS,
	COL_FAULTS,
	COL_FAULT_IP,
	NR_COLS
};

static const struct tdc_col page_cols[NR_COLS] = {
	[COL_ADDR]	= { "addr",	"ADDR",		false },
	[COL_HOME]	= { "home",	"HOME",		true },
	[COL_OWNER]	= { "owner",	"OWNER",	true },
	[COL_STATE]	= { "state",	"STATE",	false },
	[COL_COPYSET]	= { "copyset",	"COPYSET",	false },
	[COL_FLAGS]	= { "flags",	"FLAGS",	false },
	[COL_FAULTS]	= { "faults",	"FAULTS",	true },
	[COL_FAULT_IP]	= { "fault_ip",	"FAULT_IP",	false },
};

static const char *const page_state_names[] = {
	[TINYDSM_PAGE_INVALID] = "invalid",
	[TINYDSM_PAGE_SHARED] = "shared",
	[TINYDSM_PAGE_EXCLUSIVE] = "exclusive",
};

struct page_filter {
	bool all;		/* --all: untouched pages too */
	bool present;		/* --present */
	int state;		/* --state, -1: any */
	uint32_t owner;		/* --owner, 0: any */
	uint32_t home;		/* --home, 0: any */
};

static bool page_untouched(const struct tinydsm_page_info *pi)
{
	return pi->state == TINYDSM_PAGE_INVALID && !pi->flags &&
	       !pi->owner && !pi->holders && !pi->faults;
}

static bool page_wanted(const struct page_filter *f, bool ranged,
			const struct tinydsm_page_info *pi)
{
	if (!ranged && !f->all && page_untouched(pi))
		return false;
	if (f->present && !(pi->flags & TINYDSM_PAGE_F_PRESENT))
		return false;
	if (f->state >= 0 && pi->state != f->state)
		return false;
	if (f->owner && pi->owner != f->owner)
		return false;
	if (f->home && pi->home != f->home)
		return false;
	return true;
}

static void page_print_row(struct tdc *t, uint64_t addr,
			   const struct tinydsm_page_info *pi)
{
	const char *words[4];
	char state[16], unknown[16];
	int n = 0;

	tdc_row_begin(t);
	tdc_print_hex(t, COL_ADDR, addr);
	if (pi->home)
		tdc_print_uint(t, COL_HOME, pi->home);
	else
		tdc_print_none(t, COL_HOME);
	if (pi->owner)
		tdc_print_uint(t, COL_OWNER, pi->owner);
	else
		tdc_print_none(t, COL_OWNER);
	if (pi->state < ARRAY_SIZE(page_state_names)) {
		tdc_print_str(t, COL_STATE, page_state_names[pi->state]);
	} else {
		snprintf(state, sizeof(state), "state-%u", pi->state);
		tdc_print_str(t, COL_STATE, state);
	}
	tdc_print_nodes(t, COL_COPYSET, pi->holders);
	if (pi->flags & TINYDSM_PAGE_F_PRESENT)
		words[n++] = "present";
	if (pi->flags & TINYDSM_PAGE_F_WRITTEN)
		words[n++] = "written";
	if (pi->flags & TINYDSM_PAGE_F_MOVED)
		words[n++] = "moved";
	if (pi->flags & ~__TINYDSM_PAGE_F_ALL) {
		snprintf(unknown, sizeof(unknown), "%#x",
			 (unsigned int)(pi->flags & ~__TINYDSM_PAGE_F_ALL));
		words[n++] = unknown;
	}
	tdc_print_words(t, COL_FLAGS, words, n);
	tdc_print_uint(t, COL_FAULTS, pi->faults);
	if (pi->fault_ip)
		tdc_print_hex(t, COL_FAULT_IP, pi->fault_ip);
	else
		tdc_print_none(t, COL_FAULT_IP);
	tdc_row_end(t);
}

/* RANGE as given: [start, end) bytes, or npages pages from start's page. */
struct page_range {
	uint64_t start, end, npages;
};

/* "ADDR", "ADDR+N" or "ADDR-END"; -1 if it is none of them. */
static int page_parse_range(const char *s, struct page_range *r)
{
	char buf[64], *sep, op;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	memset(r, 0, sizeof(*r));
	/* The separator is after the first character: no signs. */
	sep = strpbrk(buf + 1, "+-");
	if (!sep) {
		r->npages = 1;
		return tdc_parse_u64(buf, &r->start);
	}
	op = *sep;
	*sep++ = '\0';
	if (tdc_parse_u64(buf, &r->start))
		return -1;
	if (op == '+')
		return tdc_parse_u64(sep, &r->npages) || !r->npages ? -1 : 0;
	return tdc_parse_u64(sep, &r->end) || r->end <= r->start ? -1 : 0;
}

/* The range into [*first, *first + *count) page indexes; -1 if outside. */
static int page_range_pages(const struct page_range *r,
			    const struct tinydsm_region_info *ri,
			    uint64_t *first, uint64_t *count)
{
	uint64_t npages = ri->size / ri->page_size, end;

	if (r->start < ri->base || r->start - ri->base >= ri->size)
		return -1;
	*first = (r->start - ri->base) / ri->page_size;
	if (r->npages) {
		if (r->npages > npages - *first)
			return -1;
		*count = r->npages;
		return 0;
	}
	if (r->end - ri->base > ri->size)
		return -1;
	/* END is exclusive; a page it cuts counts. */
	end = (r->end - ri->base + ri->page_size - 1) / ri->page_size;
	*count = end - *first;
	return 0;
}

static int page_parse_state(const char *s)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(page_state_names); i++)
		if (!strcmp(s, page_state_names[i]))
			return i;
	return -1;
}

static int page_show(struct tdc *t)
{
	struct page_filter f = { .state = -1 };
	struct tinydsm_region_info ri;
	struct tinydsm_page_info pi;
	struct page_range r;
	const char *range = NULL, *opt;
	uint64_t first = 0, count, i, addr;
	int ret;

	if (tdc_want_help(t))
		return page_help(t);
	for (; !tdc_no_arg(t); tdc_arg_next(t)) {
		opt = tdc_arg(t);
		if (!strcmp(opt, "--all")) {
			f.all = true;
		} else if (!strcmp(opt, "--present")) {
			f.present = true;
		} else if (!strcmp(opt, "--owner") || !strcmp(opt, "--home")) {
			tdc_arg_next(t);
			if (tdc_no_arg(t))
				return tdc_usage_error(t, page_help,
						       "page show: %s needs a NODE",
						       opt);
			if (tdc_parse_node(tdc_arg(t),
					   opt[2] == 'o' ? &f.owner : &f.home))
				return tdc_usage_error(t, page_help,
						       "page show: %s: \"%s\" is not a node (N or nodeN, N in 1..%d)",
						       opt, tdc_arg(t),
						       TINYDSM_MAX_NODES - 1);
		} else if (!strcmp(opt, "--state")) {
			tdc_arg_next(t);
			if (tdc_no_arg(t))
				return tdc_usage_error(t, page_help,
						       "page show: --state needs invalid, shared or exclusive");
			f.state = page_parse_state(tdc_arg(t));
			if (f.state < 0)
				return tdc_usage_error(t, page_help,
						       "page show: --state: \"%s\" is not invalid, shared or exclusive",
						       tdc_arg(t));
		} else if (opt[0] == '-' && opt[1] == '-') {
			return tdc_usage_error(t, page_help,
					       "page show: unknown option \"%s\"",
					       opt);
		} else if (range) {
			return tdc_usage_error(t, page_help,
					       "page show: one RANGE only (\"%s\", then \"%s\")",
					       range, opt);
		} else {
			range = opt;
			if (page_parse_range(range, &r))
				return tdc_usage_error(t, page_help,
						       "page show: \"%s\" is not ADDR, ADDR+N or ADDR-END",
						       range);
		}
	}

	ret = tdc_region_info(t, &ri);
	if (ret)
		return ret;
	count = ri.size / ri.page_size;
	if (range && page_range_pages(&r, &ri, &first, &count)) {
		tdc_err(t, "page show: %s: %s (%s): the region is %#llx-%#llx",
			range, strerror(ERANGE), tdc_errno_name(ERANGE),
			(unsigned long long)ri.base,
			(unsigned long long)(ri.base + ri.size));
		return TDC_EXIT_FAIL;
	}

	tdc_print_begin(t, page_cols, NR_COLS);
	for (i = first; i < first + count; i++) {
		addr = ri.base + i * ri.page_size;
		memset(&pi, 0, sizeof(pi));
		pi.addr = addr;
		while ((ret = ioctl(t->dev_fd, TINYDSM_IOC_PAGE_INFO, &pi)) &&
		       errno == EINTR)
			;
		if (ret) {
			ret = errno;
			/* What was listed so far stays well-formed. */
			tdc_print_end(t);
			tdc_err(t, "page show: TINYDSM_IOC_PAGE_INFO at %#llx: %s (%s)",
				(unsigned long long)addr, strerror(ret),
				tdc_errno_name(ret));
			return TDC_EXIT_FAIL;
		}
		if (page_wanted(&f, range, &pi))
			page_print_row(t, addr, &pi);
	}
	tdc_print_end(t);
	return TDC_EXIT_OK;
}

static const struct tdc_cmd page_cmds[] = {
	{ NULL,		page_show },
	{ "show",	page_show },
	{ "list",	page_show },
	{ "help",	page_help },
	{ NULL,		NULL },
};

int cmd_page(struct tdc *t)
{
	const char *arg = tdc_arg(t);

	/* "page 0x400000000000+4", "page --present": show is implied. */
	if (arg && ((arg[0] >= '0' && arg[0] <= '9') ||
		    (arg[0] == '-' && arg[1] == '-' && strcmp(arg, "--help"))))
		return page_show(t);
	return tdc_exec_cmd(t, page_cmds, "page command");
}
