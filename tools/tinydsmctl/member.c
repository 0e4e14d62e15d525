// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl member: the membership as the local tinydsmd sees it.
 *
 *   tinydsmctl [-j [-p] | -t] member [ show ] [ --socket PATH ]
 *
 * Like migrate, this asks the daemon, not the module: it sends "status" on
 * tinydsmd's unix socket (daemon/README.md) and prints one row per node of
 * the daemon's configuration, this node included. Keys of the daemon's
 * answer that this tool does not know are ignored (a newer daemon).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "tdd_ctl.h"
#include "tinydsmctl.h"

#define MEM_DEFAULT_SOCKET	"/run/tinydsm/tinydsmd.sock"
#define MEM_LINE_MAX		512
#define MEM_TIMEOUT_S		10	/* the daemon answers at once */

static int member_help(struct tdc *t)
{
	fprintf(t->help_out,
		"Usage: %s [ -j [ -p ] | -t ] member [ show ] [ --socket PATH ]\n"
		"       %s member help\n"
		"where  PATH := tinydsmd's socket (default %s)\n"
		"Shows every node of tinydsmd's configuration as the daemon sees it:\n"
		"NAME, ID, STATE (alive, dead, or unknown: not heard yet, not judged\n"
		"yet), LAST-HEARD-MS (ms since the daemon last heard it; - never), ADDR,\n"
		"AUTH-FAILS (its daemon's hellos and lines that failed the cluster key's\n"
		"checks; - for this node).\n"
		"Exit status: 0 success, 1 the daemon failed, 2 usage error,\n"
		"4 tinydsmd is not running.\n",
		t->prog, t->prog, MEM_DEFAULT_SOCKET);
	return TDC_EXIT_OK;
}

enum { COL_NAME, COL_ID, COL_STATE, COL_HEARD, COL_ADDR, COL_AUTH_FAILS, NR_COLS };

static const struct tdc_col member_cols[NR_COLS] = {
	[COL_NAME]	= { "name",		"NAME",			false },
	[COL_ID]	= { "id",		"ID",			true },
	[COL_STATE]	= { "state",		"STATE",		false },
	[COL_HEARD]	= { "last_heard_ms",	"LAST-HEARD-MS",	true },
	[COL_ADDR]	= { "addr",		"ADDR",			false },
	[COL_AUTH_FAILS] = { "auth_fails",	"AUTH-FAILS",		true },
};

/* Keep only what a JSON string or a table cell can take as is. */
static const char *mem_clean(char *s)
{
	char *p;

	for (p = s; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			*p = '?';
	return s;
}

static void mem_row(struct tdc *t, char *text)
{
	char name[64], id[16], state[32], heard[32], addr[64], fails[32];
	struct tdd_kv line;
	long long ms;
	char *end;

	tdd_kv_parse(text, &line);	/* a word it cannot take ends it */
	tdc_row_begin(t);
	if (tdd_kv_copy(&line, "name", name, sizeof(name)))
		tdc_print_str(t, COL_NAME, mem_clean(name));
	else
		tdc_print_none(t, COL_NAME);
	if (tdd_kv_copy(&line, "id", id, sizeof(id)))
		tdc_print_uint(t, COL_ID, strtoul(id, NULL, 10));
	else
		tdc_print_none(t, COL_ID);
	if (tdd_kv_copy(&line, "state", state, sizeof(state)))
		tdc_print_str(t, COL_STATE, mem_clean(state));
	else
		tdc_print_none(t, COL_STATE);
	/* heard_ms=-1: never heard. */
	if (tdd_kv_copy(&line, "heard_ms", heard, sizeof(heard)) &&
	    (ms = strtoll(heard, &end, 10)) >= 0 && !*end && end != heard)
		tdc_print_uint(t, COL_HEARD, ms);
	else
		tdc_print_none(t, COL_HEARD);
	if (tdd_kv_copy(&line, "addr", addr, sizeof(addr)))
		tdc_print_str(t, COL_ADDR, mem_clean(addr));
	else
		tdc_print_none(t, COL_ADDR);
	/* Counted per peer daemon: none for this node's own row. */
	if (tdd_kv_copy(&line, "auth_fails", fails, sizeof(fails)) &&
	    (ms = strtoll(fails, &end, 10)) >= 0 && !*end && end != fails)
		tdc_print_uint(t, COL_AUTH_FAILS, ms);
	else
		tdc_print_none(t, COL_AUTH_FAILS);
	tdc_row_end(t);
}

/*
 * Send "status" and read the answer into @rows (the member lines, at most
 * TINYDSM_MAX_NODES of them). TDC_EXIT_OK on its "ok" line.
 */
static int mem_status(struct tdc *t, const char *sock,
		      char rows[][MEM_LINE_MAX], int *nrows)
{
	char line[MEM_LINE_MAX], name[32] = "EIO";
	struct tdd_kv kv;
	const char *msg;
	bool timeout;
	int ret;
	FILE *f;

	f = tdc_daemon_request(t, sock, MEM_TIMEOUT_S, "status\n", &ret);
	if (!f)
		return ret;
	*nrows = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "member ", 7)) {
			if (*nrows < TINYDSM_MAX_NODES)
				memcpy(rows[(*nrows)++], line, sizeof(line));
		} else if (tdd_ctl_verb(line, "ok")) {
			fclose(f);
			return TDC_EXIT_OK;
		} else if (!strncmp(line, "error ", 6)) {
			fclose(f);
			tdd_kv_parse(line, &kv);
			tdd_kv_copy(&kv, "errno", name, sizeof(name));
			msg = tdd_kv_get(&kv, "msg");
			tdc_err(t, "member: %s: %s", name, msg ? msg : "failed");
			return TDC_EXIT_FAIL;
		}
		/* Anything else: a newer daemon; ignore it. */
	}
	timeout = ferror(f) && (errno == EAGAIN || errno == EWOULDBLOCK);
	fclose(f);
	tdc_err(t, "member: tinydsmd %s before its answer ended (see its log)",
		timeout ? "timed out" : "closed the connection");
	return TDC_EXIT_FAIL;
}

static int member_show(struct tdc *t)
{
	static char rows[TINYDSM_MAX_NODES][MEM_LINE_MAX];
	const char *sock = MEM_DEFAULT_SOCKET, *opt;
	int i, n, ret;

	if (tdc_want_help(t))
		return member_help(t);
	while (!tdc_no_arg(t)) {
		opt = tdc_arg(t);
		tdc_arg_next(t);
		if (!strncmp(opt, "--socket=", 9)) {
			sock = opt + 9;
		} else if (!strcmp(opt, "--socket") && !tdc_no_arg(t)) {
			sock = tdc_arg(t);
			tdc_arg_next(t);
		} else if (!strcmp(opt, "--socket")) {
			return tdc_usage_error(t, member_help,
					       "member show: --socket needs a value");
		} else {
			return tdc_usage_error(t, member_help,
					       "member show: unexpected argument \"%s\"", opt);
		}
	}
	if (!*sock || strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return tdc_usage_error(t, member_help, "member show: bad socket path");

	ret = mem_status(t, sock, rows, &n);
	if (ret)
		return ret;
	tdc_print_begin(t, member_cols, NR_COLS);
	for (i = 0; i < n; i++)
		mem_row(t, rows[i]);
	tdc_print_end(t);
	return TDC_EXIT_OK;
}

static const struct tdc_cmd member_cmds[] = {
	{ NULL,		member_show },
	{ "show",	member_show },
	{ "help",	member_help },
	{ NULL,		NULL },
};

int cmd_member(struct tdc *t)
{
	t->object = "member";
	/* "member --socket X": options without the command mean show. */
	if (tdc_arg(t) && !strncmp(tdc_arg(t), "--socket", 8))
		return member_show(t);
	return tdc_exec_cmd(t, member_cmds, "member command");
}
