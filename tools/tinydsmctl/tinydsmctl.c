// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl: the tinydsm operator tool — options and object dispatch.
 *
 *   tinydsmctl [OPTIONS] OBJECT { COMMAND | help }
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "tinydsmctl.h"

static int help(struct tdc *t)
{
	fprintf(t->help_out, "Usage: %s [ OPTIONS ] OBJECT { COMMAND | help }\n"
	       "       %s -V\n"
	       "where  OBJECT := { node | region | page | stats | monitor | migrate |\n"
	       "                  member | key | run | job }\n"
	       "       OPTIONS := { -j[son] | -p[retty] | -t[ab] | -h[elp] | -V[ersion] }\n"
	       "\n"
	       "Exit status: 0 success, 1 the operation failed, 2 usage error,\n"
	       "3 the tinydsm module is not loaded, 4 tinydsmd is not running.\n",
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

/* "prog: message" and a newline on stderr. */
static void verr(const struct tdc *t, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", t->prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void tdc_err(const struct tdc *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(t, fmt, ap);
	va_end(ap);
}

/* A usage error: say what is wrong, then the object's usage, on stderr. */
int tdc_usage_error(struct tdc *t, int (*usage)(struct tdc *t),
		    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(t, fmt, ap);
	va_end(ap);
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

/* "N" or "nodeN": a node id, 1 .. TINYDSM_MAX_NODES - 1. */
int tdc_parse_node(const char *s, uint32_t *id)
{
	unsigned long v;
	char *end;

	if (!s)
		return -1;
	if (!strncmp(s, "node", 4))
		s += 4;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < 1 || v >= TINYDSM_MAX_NODES)
		return -1;
	*id = v;
	return 0;
}

/* Decimal, or hexadecimal with 0x; no sign, no octal, nothing after it. */
int tdc_parse_u64(const char *s, uint64_t *v)
{
	unsigned long long x;
	char *end;
	int base = 10;

	if (!s)
		return -1;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!((*s >= '0' && *s <= '9') ||
	      (base == 16 && ((*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))))
		return -1;
	errno = 0;
	x = strtoull(s, &end, base);
	if (errno || *end)
		return -1;
	*v = x;
	return 0;
}

/*
 * Open the device, once. Its absence means the module is not loaded
 * (exit 3); TINYDSM_DEV names another path (tests, chroots).
 */
int tdc_dev_open(struct tdc *t)
{
	const char *path = getenv("TINYDSM_DEV");

	if (t->dev_fd >= 0)
		return TDC_EXIT_OK;
	if (!path || !*path)
		path = "/dev/" TINYDSM_DEVICE_NAME;
	t->dev_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (t->dev_fd >= 0)
		return TDC_EXIT_OK;
	if (errno == ENOENT || errno == ENXIO || errno == ENODEV) {
		tdc_err(t, "the tinydsm module is not loaded (cannot open %s: %s)",
			path, strerror(errno));
		return TDC_EXIT_NOFAMILY;
	}
	tdc_err(t, "cannot open %s: %s (%s)", path, strerror(errno),
		tdc_errno_name(errno));
	return TDC_EXIT_FAIL;
}

void tdc_dev_close(struct tdc *t)
{
	if (t->dev_fd >= 0) {
		close(t->dev_fd);
		t->dev_fd = -1;
	}
}

/*
 * An ioctl of the device that fills @arg (@size bytes, zeroed first),
 * @name in the error said if it fails: TDC_EXIT_OK, or the exit code.
 */
static int tdc_dev_get(struct tdc *t, unsigned long cmd, void *arg,
		       size_t size, const char *name)
{
	int ret = tdc_dev_open(t);

	if (ret)
		return ret;
	memset(arg, 0, size);
	if (ioctl(t->dev_fd, cmd, arg)) {
		tdc_err(t, "%s: %s (%s)", name, strerror(errno),
			tdc_errno_name(errno));
		return TDC_EXIT_FAIL;
	}
	return TDC_EXIT_OK;
}

int tdc_region_info(struct tdc *t, struct tinydsm_region_info *ri)
{
	int ret = tdc_dev_get(t, TINYDSM_IOC_REGION_INFO, ri, sizeof(*ri),
			      "TINYDSM_IOC_REGION_INFO");

	if (ret)
		return ret;
	if (!ri->page_size || ri->size < ri->page_size) {
		tdc_err(t, "TINYDSM_IOC_REGION_INFO: page size %u, region size %llu: not a region",
			ri->page_size, (unsigned long long)ri->size);
		return TDC_EXIT_FAIL;
	}
	return TDC_EXIT_OK;
}

/* This node's counters (TINYDSM_IOC_STATS): TDC_EXIT_OK, or said why not. */
int tdc_stats(struct tdc *t, struct tinydsm_stats *st)
{
	return tdc_dev_get(t, TINYDSM_IOC_STATS, st, sizeof(*st),
			   "TINYDSM_IOC_STATS");
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
	{ "region",	cmd_region },
	{ "page",	cmd_page },
	{ "stats",	cmd_stats },
	{ "monitor",	cmd_monitor },
	{ "migrate",	cmd_migrate },
	{ "member",	cmd_member },
	{ "key",	cmd_key },
	{ "run",	cmd_run },
	{ "job",	cmd_job },
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
		.dev_fd = -1,
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
	tdc_dev_close(&t);
	if (fflush(stdout) && ret == TDC_EXIT_OK) {
		tdc_err(&t, "writing the output: %s", strerror(errno));
		ret = TDC_EXIT_FAIL;
	}
	return ret;
}
