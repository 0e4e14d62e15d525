// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl: the tinydsm operator tool — options and object dispatch.
 *
 *   tinydsmctl [OPTIONS] OBJECT { COMMAND | help }
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/tinydsm.h>

#include "tinydsmctl.h"

static int help(struct tdc *t)
{
	fprintf(t->help_out, "Usage: %s [ OPTIONS ] OBJECT { COMMAND | help }\n"
	       "       %s -V\n"
	       "where  OBJECT := { node }\n"
	       "       OPTIONS := { -j[son] | -p[retty] | -t[ab] | -h[elp] | -V[ersion] }\n"
	       "\n"
	       "Exit status: 0 success, 1 the kernel refused the operation,\n"
	       "2 usage error, 3 the tinydsm module is not loaded.\n",
	       t->prog, t->prog);
	return TDC_EXIT_OK;
}

const char *tdc_arg(const struct tdc *t)
{
	return t->argc > 0 ? t->argv[0] : NULL;
}

void tdc_arg_next(struct tdc *t)
{
	if (t->argc > 0) {
		t->argc--;
		t->argv++;
	}
}

bool tdc_no_arg(const struct tdc *t)
{
	return t->argc <= 0;
}

/* Is this a request for help: "help" first, or -h anywhere? */
bool tdc_want_help(const struct tdc *t)
{
	int i;

	if (t->argc > 0 && !strcmp(t->argv[0], "help"))
		return true;
	for (i = 0; i < t->argc; i++)
		if (!strcmp(t->argv[i], "-h") || !strcmp(t->argv[i], "--help"))
			return true;
	return false;
}

void tdc_err(const struct tdc *t, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", t->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A usage error: say what is wrong, then the object's usage, on stderr. */
int tdc_usage_error(struct tdc *t, int (*usage)(struct tdc *t),
		    const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", t->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (usage) {
		/* The usage goes where the error went. */
		t->help_out = stderr;
		usage(t);
	}
	return TDC_EXIT_USAGE;
}

/* "EEXIST" for EEXIST; the number if the C library has no name for it. */
const char *tdc_errno_name(int err)
{
	static char buf[24];
	const char *name;

	if (err < 0)
		err = -err;
	name = strerrorname_np(err);
	if (name)
		return name;
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

/*
 * Run the command named by the current argument from @cmds; the first
 * entry (cmd NULL) is the default when there is no argument.
 */
int tdc_exec_cmd(struct tdc *t, const struct tdc_cmd *cmds, const char *what)
{
	const struct tdc_cmd *c;
	const char *arg = tdc_arg(t);

	if (!arg)
		return cmds[0].func(t);
	for (c = cmds + 1; c->cmd; c++) {
		if (!strcmp(arg, c->cmd)) {
			tdc_arg_next(t);
			return c->func(t);
		}
	}
	/* -h wherever it is: the help of this level (cmds[] has "help"). */
	if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
		for (c = cmds + 1; c->cmd; c++)
			if (!strcmp(c->cmd, "help"))
				return c->func(t);
	}
	for (c = cmds + 1; c->cmd; c++)
		if (!strcmp(c->cmd, "help"))
			break;
	return tdc_usage_error(t, c->cmd ? c->func : NULL,
			       "unknown %s \"%s\"", what, arg);
}

static int cmd_help(struct tdc *t)
{
	return help(t);
}

static int cmd_no_object(struct tdc *t)
{
	return tdc_usage_error(t, help, "no object given");
}

static const struct tdc_cmd objects[] = {
	{ NULL,		cmd_no_object },
	{ "node",	cmd_node },
	{ "help",	cmd_help },
	{ NULL,		NULL },
};

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "json",	no_argument, NULL, 'j' },
		{ "pretty",	no_argument, NULL, 'p' },
		{ "tab",	no_argument, NULL, 't' },
		{ "help",	no_argument, NULL, 'h' },
		{ "Version",	no_argument, NULL, 'V' },
		{ "version",	no_argument, NULL, 'V' },
		{ NULL,		0, NULL, 0 },
	};
	struct tdc t = {
		.prog = "tinydsmctl",
		.fmt = TDC_FMT_TEXT,
		.family = -1,
		.help_out = stdout,
	};
	bool json = false, tab = false;
	int opt, ret;

	/* "+": options stop at the object, as in iproute2. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+jpthV", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'p':
			t.pretty = true;
			break;
		case 't':
			tab = true;
			break;
		case 'h':
			return help(&t);
		case 'V':
			printf("%s %s (tinydsm ABI %d, generic netlink \"%s\" version %d)\n",
			       t.prog, TDC_VERSION, TINYDSM_ABI_VERSION,
			       TINYDSM_GENL_NAME, TINYDSM_GENL_VERSION);
			return TDC_EXIT_OK;
		default:
			if (optopt)
				return tdc_usage_error(&t, help,
						       "unknown option \"-%c\"",
						       optopt);
			return tdc_usage_error(&t, help, "unknown option \"%s\"",
					       argv[optind - 1]);
		}
	}
	if (json && tab)
		return tdc_usage_error(&t, help, "-j and -t do not mix");
	if (t.pretty && !json)
		return tdc_usage_error(&t, help, "-p needs -j");
	t.fmt = json ? TDC_FMT_JSON : tab ? TDC_FMT_TSV : TDC_FMT_TEXT;

	t.argc = argc - optind;
	t.argv = argv + optind;
	ret = tdc_exec_cmd(&t, objects, "object");
	tdc_nl_close(&t);
	if (fflush(stdout) && ret == TDC_EXIT_OK) {
		tdc_err(&t, "writing the output: %s", strerror(errno));
		ret = TDC_EXIT_FAIL;
	}
	return ret;
}
