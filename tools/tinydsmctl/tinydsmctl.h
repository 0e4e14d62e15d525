/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsmctl: the tinydsm operator tool — shared declarations.
 *
 * Layout, after iproute2's rdma tool: tinydsmctl.c parses the options and
 * dispatches on the object, one file per object (node.c, region.c, page.c,
 * stats.c, monitor.c, migrate.c, member.c) dispatches on the command,
 * nl.c talks generic netlink (with tools/lib/nl), ctl.c to tinydsmd (with
 * tools/lib/ctl), print.c is the one print path for the text table, the
 * tab-separated mode and JSON.
 */
#ifndef TINYDSMCTL_H
#define TINYDSMCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* From the file VERSION at the top (the Makefile's -DTINYDSM_VERSION). */
#ifndef TINYDSM_VERSION
#error "TINYDSM_VERSION is not defined: build with the top Makefile"
#endif
#define TDC_VERSION	TINYDSM_VERSION

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Exit codes: scripts rely on them (see tinydsmctl.8). */
enum {
	TDC_EXIT_OK = 0,
	TDC_EXIT_FAIL = 1,	/* the operation failed: the kernel said no */
	TDC_EXIT_USAGE = 2,	/* bad command line */
	TDC_EXIT_NOFAMILY = 3,	/* tinydsm not loaded: no genl family or device */
	TDC_EXIT_NODAEMON = 4,	/* migrate, member: tinydsmd is not running */
};

enum tdc_format {
	TDC_FMT_TEXT,		/* aligned table with a header */
	TDC_FMT_TSV,		/* tab-separated, no header: for scripts */
	TDC_FMT_JSON,
};

struct nl_sock;

struct tdc {
	int argc;
	char **argv;
	const char *prog;	/* argv[0], for messages */
	const char *object;	/* the object being run, for messages */
	enum tdc_format fmt;
	bool pretty;		/* -p: indented JSON */
	FILE *help_out;		/* usage: stdout for -h, stderr on errors */
	struct nl_sock *sk;	/* NULL until tdc_nl_open() */
	int family;		/* generic netlink family id */
	int nl_error;		/* the kernel's -errno for the last request */
	int dev_fd;		/* /dev/tinydsm, -1 until tdc_dev_open() */
};

struct tdc_cmd {
	const char *cmd;
	int (*func)(struct tdc *t);
};

/* tinydsmctl.c: argument handling */
const char *tdc_arg(const struct tdc *t);
void tdc_arg_next(struct tdc *t);
bool tdc_no_arg(const struct tdc *t);
bool tdc_want_help(const struct tdc *t);
int tdc_exec_cmd(struct tdc *t, const struct tdc_cmd *cmds, const char *what);
int tdc_usage_error(struct tdc *t, int (*help)(struct tdc *t),
		    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void tdc_err(const struct tdc *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *tdc_errno_name(int err);
/* "N" or "nodeN", N in 1..TINYDSM_MAX_NODES - 1; -1 if not a node. */
int tdc_parse_node(const char *s, uint32_t *id);
/* A decimal or 0x-prefixed hexadecimal number, all of @s. */
int tdc_parse_u64(const char *s, uint64_t *v);

/* tinydsmctl.c: /dev/tinydsm (TINYDSM_DEV overrides the path) */
struct tinydsm_region_info;
struct tinydsm_stats;
int tdc_dev_open(struct tdc *t);
void tdc_dev_close(struct tdc *t);
int tdc_region_info(struct tdc *t, struct tinydsm_region_info *ri);
int tdc_stats(struct tdc *t, struct tinydsm_stats *st);

/*
 * ctl.c: send the request line @req to tinydsmd's control socket @path
 * (replies time out after @timeout_s, 0: never); its answer to read, or
 * NULL with why said and *@ret the exit code (TDC_EXIT_NODAEMON when it
 * cannot be reached).
 */
FILE *tdc_daemon_request(struct tdc *t, const char *path, int timeout_s,
			 const char *req, int *ret);

/* nl.c: generic netlink */
struct nl_msg;
struct nlmsghdr;
int tdc_nl_open(struct tdc *t);
void tdc_nl_close(struct tdc *t);
struct nl_msg *tdc_nl_msg(struct tdc *t, uint8_t cmd, int flags);
int tdc_nl_do(struct tdc *t, struct nl_msg *msg, const char *what);
/* A request whose reply message goes to @row, then its ack. */
int tdc_nl_call(struct tdc *t, struct nl_msg *msg, const char *what,
		int (*row)(const struct nlmsghdr *nlh, void *arg), void *arg);
int tdc_nl_dump(struct tdc *t, uint8_t cmd, const char *what,
		int (*row)(const struct nlmsghdr *nlh, void *arg),
		void (*restart)(void *arg), void *arg);
/* The attributes of a @cmd message, tb[0 .. TINYDSM_A_MAX] (tnl_parse()). */
struct nlattr;
int tdc_genl_attrs(struct tdc *t, const struct nlmsghdr *nlh, uint8_t cmd,
		   const struct nlattr **tb);

/* print.c: one print path for the table, TSV and JSON */
struct tdc_col {
	const char *key;	/* JSON key */
	const char *title;	/* table header */
	bool right;		/* right-aligned in the table (numbers) */
};

void tdc_print_begin(struct tdc *t, const struct tdc_col *cols, int ncols);
/* A table of one row: in JSON that row's object alone, not an array. */
void tdc_print_begin_one(struct tdc *t, const struct tdc_col *cols, int ncols);
void tdc_print_end(struct tdc *t);
void tdc_row_begin(struct tdc *t);
void tdc_row_end(struct tdc *t);
/* One field of the current row; col is the index in the column table. */
void tdc_print_uint(struct tdc *t, int col, uint64_t v);
void tdc_print_int(struct tdc *t, int col, int64_t v, const char *text);
void tdc_print_str(struct tdc *t, int col, const char *s);
/*
 * A decimal number given as text ("12.50"): as it is in the table, "-" if
 * NULL; a JSON number, 0 if NULL or not made of digits and dots.
 */
void tdc_print_decimal(struct tdc *t, int col, const char *s);
/* A list of words: a JSON array, "a,b" in the table, "-" when empty. */
void tdc_print_words(struct tdc *t, int col, const char *const *words, int n);
/* A field that is absent: "-" in the table, no key in JSON. */
void tdc_print_none(struct tdc *t, int col);
/* An address: "0x..." in every format (a JSON string, never rounded). */
void tdc_print_hex(struct tdc *t, int col, uint64_t v);
/*
 * A node set (bit n - 1 = node n, as ABI 2 reports them): a JSON array of
 * node ids, "1,3" in the table, "-" when empty.
 */
void tdc_print_nodes(struct tdc *t, int col, uint64_t set);

/*
 * One object of named values (region show, stats): "key  value" lines in
 * the table, "key<TAB>value" lines in TSV, a JSON object. A list of rows
 * may follow the values inside it (tdc_print_list_begin): a table after a
 * blank line, TSV lines that start with @key, a JSON array member @key.
 */
void tdc_obj_begin(struct tdc *t);
void tdc_obj_end(struct tdc *t);
void tdc_print_list_begin(struct tdc *t, const char *key,
			  const struct tdc_col *cols, int ncols);
void tdc_print_list_end(struct tdc *t);
/*
 * One line of named values (monitor): "name key=value ..." in the table,
 * "name<TAB>key=value..." in TSV, {"@tag":"name", ...} in JSON; flushed.
 */
void tdc_line_begin(struct tdc *t, const char *tag, const char *name);
void tdc_line_end(struct tdc *t);
/* A named value of the current object or line. */
void tdc_kv_uint(struct tdc *t, const char *key, uint64_t v);
void tdc_kv_hex(struct tdc *t, const char *key, uint64_t v);
void tdc_kv_str(struct tdc *t, const char *key, const char *s);
/* -errno: its name ("ETIMEDOUT") as text, the number in JSON. */
void tdc_kv_errno(struct tdc *t, const char *key, int32_t err);
void tdc_kv_nodes(struct tdc *t, const char *key, uint64_t set);

/* One file per object. */
int cmd_node(struct tdc *t);
int cmd_region(struct tdc *t);
int cmd_page(struct tdc *t);
int cmd_stats(struct tdc *t);
int cmd_monitor(struct tdc *t);
int cmd_migrate(struct tdc *t);	/* migrate.c */
int cmd_member(struct tdc *t);	/* member.c */
int cmd_key(struct tdc *t);	/* key.c */
int cmd_run(struct tdc *t);	/* run.c */
int cmd_job(struct tdc *t);	/* run.c */

#endif /* TINYDSMCTL_H */
