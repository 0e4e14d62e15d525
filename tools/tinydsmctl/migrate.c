// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl migrate: move the home of a range of pages from one node to
 * another, through tinydsmd.
 *
 *   tinydsmctl [-j [-p]] migrate --from NAME --to NAME
 *       [--strategy lazy|eager|lookup] [--pages ADDR[+N|-ADDR2]] [--socket PATH]
 *
 * Unlike the other objects this one does not talk to the module: a
 * migration drives the modules of several nodes (the target's, and with
 * eager every node that held copies), and only the daemons reach the other
 * nodes. So it asks the local tinydsmd over its unix socket (protocol in
 * daemon/README.md), shows the progress on a terminal, and prints the
 * summary the daemon sends at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "tdd_ctl.h"
#include "tinydsmctl.h"

#define MIG_DEFAULT_SOCKET	"/run/tinydsm/tinydsmd.sock"
#define MIG_LINE_MAX		512

static int migrate_help(struct tdc *t)
{
	fprintf(t->help_out,
		"Usage: %s [ -j [ -p ] ] migrate --from NAME --to NAME\n"
		"           [ --strategy { lazy | eager | lookup } ] [ --pages RANGE ]\n"
		"           [ --socket PATH ]\n"
		"       %s migrate help\n"
		"where  NAME := a node name of tinydsmd's configuration\n"
		"       RANGE := { ADDR | ADDR+NPAGES | ADDR-END } (END excluded;\n"
		"                default: the home slice of the --from node)\n"
		"       PATH := tinydsmd's socket (default %s)\n"
		"Moves the home of every page of RANGE homed on --from to --to.\n"
		"lazy (default): the other copies are dropped and fault back in;\n"
		"eager: the nodes that held copies fetch them again at once, and\n"
		"their access sites go direct;\n"
		"lookup: the pages stay at --to; the holders' access sites go\n"
		"lookup (each access is done at --to, without a fault).\n"
		"Exit status: 0 done, 1 the migration failed, 2 usage error,\n"
		"3 the tinydsm module is not loaded, 4 tinydsmd is not running.\n"
		"Example: %s migrate --from node2 --to node3 --strategy eager\n",
		t->prog, t->prog, MIG_DEFAULT_SOCKET, t->prog);
	return TDC_EXIT_OK;
}

struct mig_args {
	const char *from, *to, *strategy, *socket;
	bool range;
	uint64_t addr, npages;
};

static bool mig_valid_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < 32 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static int mig_parse_u64(const char *s, const char *end, uint64_t *v)
{
	char buf[32], *e;
	size_t n = end - s;

	if (n == 0 || n >= sizeof(buf) || *s < '0' || *s > '9')
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	*v = strtoull(buf, &e, 0);
	return errno || *e ? -1 : 0;
}

/* ADDR, ADDR+NPAGES or ADDR-END (END excluded). */
static int mig_parse_range(const char *s, struct mig_args *a)
{
	const char *op = s + strcspn(s, "+-");
	long page = sysconf(_SC_PAGESIZE);
	uint64_t end;

	if (mig_parse_u64(s, op, &a->addr))
		return -1;
	a->npages = 1;
	if (*op == '+') {
		if (mig_parse_u64(op + 1, op + strlen(op), &a->npages))
			return -1;
	} else if (*op == '-') {
		if (mig_parse_u64(op + 1, op + strlen(op), &end) || end <= a->addr ||
		    (end - a->addr) % page)
			return -1;
		a->npages = (end - a->addr) / page;
	}
	a->range = true;
	return 0;
}

static int mig_parse(struct tdc *t, struct mig_args *a)
{
	const char *opt, *val, *eq;
	char key[32];

	while (!tdc_no_arg(t)) {
		opt = tdc_arg(t);
		eq = strchr(opt, '=');
		if (!strncmp(opt, "--", 2) && eq && (size_t)(eq - opt) < sizeof(key)) {
			/* --key=value */
			snprintf(key, sizeof(key), "%.*s", (int)(eq - opt), opt);
			opt = key;
			val = eq + 1;
			tdc_arg_next(t);
		} else {
			tdc_arg_next(t);
			val = tdc_arg(t);
			if (!val)
				return tdc_usage_error(t, migrate_help,
						       "migrate: %s needs a value", opt);
			tdc_arg_next(t);
		}
		if (!strcmp(opt, "--from")) {
			a->from = val;
		} else if (!strcmp(opt, "--to")) {
			a->to = val;
		} else if (!strcmp(opt, "--strategy")) {
			if (strcmp(val, "lazy") && strcmp(val, "eager") && strcmp(val, "lookup"))
				return tdc_usage_error(t, migrate_help,
						       "migrate: unknown strategy \"%s\" (lazy, eager, lookup)",
						       val);
			a->strategy = val;
		} else if (!strcmp(opt, "--pages")) {
			if (mig_parse_range(val, a))
				return tdc_usage_error(t, migrate_help,
						       "migrate: \"%s\" is not ADDR, ADDR+NPAGES or ADDR-END",
						       val);
		} else if (!strcmp(opt, "--socket")) {
			if (strlen(val) >= sizeof(((struct sockaddr_un *)0)->sun_path))
				return tdc_usage_error(t, migrate_help,
						       "migrate: socket path too long");
			a->socket = val;
		} else {
			return tdc_usage_error(t, migrate_help,
					       "migrate: unknown option \"%s\"", opt);
		}
	}
	if (!a->from || !a->to)
		return tdc_usage_error(t, migrate_help, "migrate: needs --from and --to");
	if (!mig_valid_name(a->from) || !mig_valid_name(a->to))
		return tdc_usage_error(t, migrate_help,
				       "migrate: \"%s\" is not a node name ([a-z0-9_-], at most 31)",
				       mig_valid_name(a->from) ? a->to : a->from);
	return TDC_EXIT_OK;
}

/* ---- the reply ---- */

static uint64_t mig_num(const struct tdd_kv *line, const char *key)
{
	char buf[32];

	return tdd_kv_copy(line, key, buf, sizeof(buf)) ? strtoull(buf, NULL, 0) : 0;
}

static void mig_bar(const struct tdd_kv *line)
{
	uint64_t done = mig_num(line, "done"), total = mig_num(line, "total");
	char phase[32] = "", node[40] = "", bar[41];
	int i, fill = total ? (int)(done * 40 / total) : 0;

	tdd_kv_copy(line, "phase", phase, sizeof(phase));
	if (tdd_kv_copy(line, "node", node + 1, sizeof(node) - 1))
		node[0] = ' ';
	for (i = 0; i < 40; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[40] = '\0';
	fprintf(stderr, "\r%-10s%s [%s] %3d%% %" PRIu64 "/%" PRIu64 " pages\033[K",
		phase, node, bar, total ? (int)(done * 100 / total) : 0, done, total);
}

enum {
	COL_STRATEGY, COL_MOVED, COL_SKIPPED, COL_BYTES, COL_MS, COL_MOVE_MS,
	COL_REPOP_MS, COL_PPS, COL_MBS, COL_HOLDERS, COL_REPOP, COL_MAPPED, COL_SITES, NR_COLS
};

static const struct tdc_col mig_cols[NR_COLS] = {
	[COL_STRATEGY]	= { "strategy",		"STRATEGY",	false },
	[COL_MOVED]	= { "moved",		"MOVED",	true },
	[COL_SKIPPED]	= { "skipped",		"SKIPPED",	true },
	[COL_BYTES]	= { "bytes",		"BYTES",	true },
	[COL_MS]	= { "ms",		"MS",		true },
	[COL_MOVE_MS]	= { "move_ms",		"MOVE_MS",	true },
	[COL_REPOP_MS]	= { "repop_ms",		"REPOP_MS",	true },
	[COL_PPS]	= { "pages_per_s",	"PAGES/S",	true },
	[COL_MBS]	= { "mb_per_s",		"MB/S",		true },
	[COL_HOLDERS]	= { "holders",		"HOLDERS",	false },
	[COL_REPOP]	= { "repopulated",	"REPOPULATED",	true },
	[COL_MAPPED]	= { "mapped",		"MAPPED",	true },
	[COL_SITES]	= { "sites",		"SITES",	true },
};

/* "a,b,c" -> words (in place); returns their number. */
static int mig_split(char *s, const char **words, int max)
{
	int n = 0;
	char *tok, *save;

	for (tok = strtok_r(s, ",", &save); tok && n < max;
	     tok = strtok_r(NULL, ",", &save))
		words[n++] = tok;
	return n;
}

/* The strategy: as the daemon said it; JSON has one of the three names. */
static void mig_strategy(struct tdc *t, const struct tdd_kv *line)
{
	char buf[32];
	const char *s = tdd_kv_copy(line, "strategy", buf, sizeof(buf));

	if (t->fmt == TDC_FMT_JSON &&
	    (!s || (strcmp(s, "eager") && strcmp(s, "lookup"))))
		s = "lazy";
	tdc_print_str(t, COL_STRATEGY, s ? s : "-");
}

static void mig_summary(struct tdc *t, const struct tdd_kv *line)
{
	char holders[256] = "", failed[256] = "", buf[32];
	const char *words[TINYDSM_MAX_NODES];
	int n;

	tdd_kv_copy(line, "holders", holders, sizeof(holders));
	n = mig_split(holders, words, ARRAY_SIZE(words));
	if (tdd_kv_copy(line, "repop_failed", failed, sizeof(failed)) && failed[0])
		tdc_err(t, "migrate: warning: not repopulated on %s (those copies fault back in when used)",
			failed);
	tdc_print_begin_one(t, mig_cols, NR_COLS);
	tdc_row_begin(t);
	mig_strategy(t, line);
	tdc_print_uint(t, COL_MOVED, mig_num(line, "moved"));
	tdc_print_uint(t, COL_SKIPPED, mig_num(line, "skipped"));
	tdc_print_uint(t, COL_BYTES, mig_num(line, "bytes"));
	tdc_print_uint(t, COL_MS, mig_num(line, "ms"));
	tdc_print_uint(t, COL_MOVE_MS, mig_num(line, "move_ms"));
	tdc_print_uint(t, COL_REPOP_MS, mig_num(line, "repop_ms"));
	tdc_print_uint(t, COL_PPS, mig_num(line, "pages_per_s"));
	tdc_print_decimal(t, COL_MBS, tdd_kv_copy(line, "mb_per_s", buf, sizeof(buf)));
	tdc_print_words(t, COL_HOLDERS, words, n);
	tdc_print_uint(t, COL_REPOP, mig_num(line, "repopulated"));
	tdc_print_uint(t, COL_MAPPED, mig_num(line, "mapped"));
	tdc_print_uint(t, COL_SITES, mig_num(line, "sites"));
	tdc_row_end(t);
	tdc_print_end(t);
}

static int mig_error(struct tdc *t, const struct tdd_kv *line)
{
	char name[32] = "EIO", msg[MIG_LINE_MAX] = "";

	tdd_kv_copy(line, "errno", name, sizeof(name));
	tdd_kv_copy(line, "msg", msg, sizeof(msg));
	tdc_err(t, "migrate: %s: %s", name, msg[0] ? msg : "failed");
	return !strcmp(name, "ENODEV") ? TDC_EXIT_NOFAMILY : TDC_EXIT_FAIL;
}

int cmd_migrate(struct tdc *t)
{
	struct mig_args a = { .socket = MIG_DEFAULT_SOCKET };
	char req[MIG_LINE_MAX], line[MIG_LINE_MAX];
	bool tty = isatty(STDERR_FILENO), bar = false;
	struct tdd_kv kv;
	int ret, len;
	FILE *f;

	t->object = "migrate";
	if (tdc_want_help(t))
		return migrate_help(t);
	ret = mig_parse(t, &a);
	if (ret)
		return ret;

	len = snprintf(req, sizeof(req), "migrate from=%s to=%s strategy=%s",
		       a.from, a.to, a.strategy ? a.strategy : "lazy");
	if (a.range)
		len += snprintf(req + len, sizeof(req) - len,
				" addr=%#" PRIx64 " npages=%" PRIu64, a.addr, a.npages);
	snprintf(req + len, sizeof(req) - len, "\n");

	f = tdc_daemon_request(t, a.socket, 0, req, &ret);
	if (!f)
		return ret;
	ret = -1;
	while (ret < 0 && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		tdd_kv_parse(line, &kv);	/* a word it cannot take ends it */
		if (!kv.verb)
			continue;
		if (!strcmp(kv.verb, "progress")) {
			if (tty) {
				mig_bar(&kv);
				bar = true;
			}
			continue;
		}
		if (bar) {
			fputs("\r\033[K", stderr);
			bar = false;
		}
		if (!strcmp(kv.verb, "ok")) {
			mig_summary(t, &kv);
			ret = TDC_EXIT_OK;
		} else if (!strcmp(kv.verb, "error")) {
			ret = mig_error(t, &kv);
		}
		/* Anything else: a newer daemon; ignore it. */
	}
	if (bar)
		fputs("\r\033[K", stderr);
	if (ret < 0) {
		tdc_err(t, "migrate: tinydsmd closed the connection before the end (see its log)");
		ret = TDC_EXIT_FAIL;
	}
	fclose(f);
	return ret;
}
