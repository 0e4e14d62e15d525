/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsmctl: the tinydsm operator tool — shared declarations.
 *
 * Layout, after iproute2's rdma tool: tinydsmctl.c parses the options and
 * dispatches on the object, one file per object (node.c) dispatches on the
 * command, nl.c talks generic netlink, print.c is the one print path for
 * the text table, the tab-separated mode and JSON.
 */
#ifndef TINYDSMCTL_H
#define TINYDSMCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define TDC_VERSION	"0.1"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Exit codes: scripts rely on them (see tinydsmctl.8). */
enum {
	TDC_EXIT_OK = 0,
	TDC_EXIT_FAIL = 1,	/* the operation failed: the kernel said no */
	TDC_EXIT_USAGE = 2,	/* bad command line */
	TDC_EXIT_NOFAMILY = 3,	/* tinydsm not loaded: no genl family */
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

/* nl.c: generic netlink */
struct nl_msg;
struct nlmsghdr;
int tdc_nl_open(struct tdc *t);
void tdc_nl_close(struct tdc *t);
struct nl_msg *tdc_nl_msg(struct tdc *t, uint8_t cmd, int flags);
int tdc_nl_do(struct tdc *t, struct nl_msg *msg, const char *what);
int tdc_nl_dump(struct tdc *t, uint8_t cmd, const char *what,
		int (*row)(const struct nlmsghdr *nlh, void *arg),
		void (*restart)(void *arg), void *arg);
const char *tdc_attr_name(unsigned int type);

/* Accepted payload length of an attribute type; max 0: type not known. */
struct tdc_attr_spec {
	uint16_t min, max;
};

struct nlattr;
int tdc_genl_attrs(struct tdc *t, const struct nlmsghdr *nlh, uint8_t cmd,
		   const struct nlattr **tb, unsigned int maxtype,
		   const struct tdc_attr_spec *spec);

/* print.c: one print path for the table, TSV and JSON */
struct tdc_col {
	const char *key;	/* JSON key */
	const char *title;	/* table header */
	bool right;		/* right-aligned in the table (numbers) */
};

void tdc_print_begin(struct tdc *t, const struct tdc_col *cols, int ncols);
void tdc_print_end(struct tdc *t);
void tdc_row_begin(struct tdc *t);
void tdc_row_end(struct tdc *t);
/* One field of the current row; col is the index in the column table. */
void tdc_print_uint(struct tdc *t, int col, uint64_t v);
void tdc_print_int(struct tdc *t, int col, int64_t v, const char *text);
void tdc_print_str(struct tdc *t, int col, const char *s);
/* A list of words: a JSON array, "a,b" in the table, "-" when empty. */
void tdc_print_words(struct tdc *t, int col, const char *const *words, int n);
/* A field that is absent: "-" in the table, no key in JSON. */
void tdc_print_none(struct tdc *t, int col);

/* node.c */
int cmd_node(struct tdc *t);

#endif /* TINYDSMCTL_H */
