// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl run: start the ranks of a job on the nodes, through tinydsmd;
 * tinydsmctl job show: the jobs tinydsmd knows.
 *
 *   tinydsmctl run [-n N] [--nodes a,b,c] [--per-node K] [--no-prefix]
 *       [--socket PATH] [--] PROG [ARGS...]
 *   tinydsmctl [-j [-p] | -t] job [show] [--socket PATH]
 *
 * run describes the job to the local daemon (daemon/README.md, "Jobs"):
 * this directory, PROG and its arguments, this environment; the daemon
 * takes the user from the socket (SO_PEERCRED), places the ranks, and has
 * every node's daemon start its ranks as that user. The ranks' output
 * comes back here line by line, "[RANK] " in front (--no-prefix: not);
 * the exit status is the first non-zero status of a rank (128 + N for a
 * rank killed by signal N), 0 when all exited 0. SIGINT or SIGTERM asks
 * the daemon to end every rank (a second one: tinydsmctl goes at once,
 * and the daemon ends them all the same).
 *
 * The job's root in the region (libtinydsm, tdsm_job_create(): where the
 * ranks find the job's heap, barrier and shared values) is made here, as
 * the user, once the daemon said the job's id and size, and given to the
 * ranks as TINYDSM_ROOT (run-root); tinydsmctl frees it when the job
 * ends. Without /dev/tinydsm (no module, or the user may not open it,
 * which is said) the ranks get no root: a rank that calls tdsm_init()
 * then fails, naming TINYDSM_ROOT, and one that does not use tinydsm runs
 * as ever.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "tdd_ctl.h"
#include "tdd_spec.h"
#include "tinydsm.h"
#include "tinydsmctl.h"

#define RUN_DEFAULT_SOCKET	"/run/tinydsm/tinydsmd.sock"
#define RUN_LINE_MAX		512
/* After a cancel: the daemon's grace (2 s by default) and then some. */
#define RUN_CANCEL_WAIT_S	75
#define RUN_EXIT_LOST		255	/* the daemon went away mid-job */

extern char **environ;

static int run_help(struct tdc *t)
{
	fprintf(t->help_out,
		"Usage: %s run [ -n N ] [ --nodes NAME,NAME... ] [ --per-node K ]\n"
		"           [ --no-prefix ] [ --socket PATH ] [ -- ] PROG [ ARGS... ]\n"
		"       %s run help\n"
		"Starts N ranks of PROG ARGS (rank numbers 0..N-1) as you, in this\n"
		"directory, with this environment plus TINYDSM_RANK, TINYDSM_NRANKS and\n"
		"TINYDSM_JOB, stdin from /dev/null: round-robin over the nodes (default:\n"
		"every live member of tinydsmd, this node first), or K to a node with\n"
		"--per-node. N defaults to one rank per node (K per node with --per-node).\n"
		"Every rank's output comes here, each line after \"[RANK] \" (not with\n"
		"--no-prefix). A rank that fails (non-zero exit or signal), SIGINT or\n"
		"SIGTERM, or a node lost ends every rank (SIGTERM, SIGKILL after the\n"
		"daemon's run-kill-grace-ms).\n"
		"Exit status: the first non-zero status of a rank (128+N: killed by\n"
		"signal N), 0 if every rank exited 0; 128+N after SIGINT/SIGTERM; 1 the\n"
		"job could not start (a message says why), 2 usage error, 4 tinydsmd is\n"
		"not running, 255 a node's daemon (or the local one) was lost.\n"
		"Example: %s run -n 4 -- ./solver --size 1024\n",
		t->prog, t->prog, t->prog);
	return TDC_EXIT_OK;
}

static int send_all(int fd, const char *line);

/* The job's root, made here (see the top of this file). */
struct run_root {
	bool wanted;		/* attached: the daemon waits for run-root */
	void *addr;		/* made, to free at the end */
};

/*
 * The daemon's "job id= nranks=" line came: make the job's root for it,
 * and say where (run-root addr=0 if it could not be made: the ranks
 * start without one).
 */
static int root_give(struct tdc *t, int fd, struct run_root *rr,
		     const struct tdd_kv *kv)
{
	char line[64];
	uint64_t id = 0;
	uint32_t nranks = 0;
	int err;

	if (!rr->wanted || rr->addr)
		return 0;
	if (tdd_kv_u64(kv, "id", &id) || tdd_kv_u32(kv, "nranks", &nranks))
		err = -EPROTO;
	else
		err = tdsm_job_create(nranks, id, &rr->addr);
	if (err) {
		rr->addr = NULL;
		fprintf(stderr, "%s: run: no root for job %" PRIu64 " in the region: %s (%s); a rank that calls tdsm_init() will fail\n",
			t->prog, id, strerror(-err), tdsm_strerror_detail());
	}
	snprintf(line, sizeof(line), "run-root addr=%#" PRIx64,
		 (uint64_t)(uintptr_t)rr->addr);
	return send_all(fd, line);
}

/* The job ended: its root goes (what the ranks' heap left of this node's too). */
static void root_free(struct tdc *t, struct run_root *rr)
{
	int err;

	if (!rr->addr)
		return;
	err = tdsm_job_destroy(rr->addr);
	if (err && err != -EPERM)
		fprintf(stderr, "%s: run: freeing the job's root: %s (%s)\n",
			t->prog, strerror(-err), tdsm_strerror_detail());
	rr->addr = NULL;
}

static bool valid_names(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < TINYDSM_MAX_NODES * 32 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-,") == n;
}

static int parse_uint(const char *s, uint32_t max, uint32_t *v)
{
	uint64_t n;

	if (tdc_parse_u64(s, &n) || n == 0 || n > max)
		return -1;
	*v = n;
	return 0;
}

struct run_out {
	bool prefix;
	bool mid[TDD_RUN_RANKS_MAX][2];	/* a line of that rank's fd is open */
};

/* An "out rank=R fd=F eol=E v=ENC" line. */
static void print_out(struct run_out *o, const struct tdd_kv *kv)
{
	char data[TDD_RUN_ENC_MAX + 1];
	uint32_t rank, fd, eol;
	const char *v = tdd_kv_get(kv, "v");
	ssize_t n;
	FILE *f;

	if (tdd_kv_u32(kv, "rank", &rank) || rank >= TDD_RUN_RANKS_MAX ||
	    tdd_kv_u32(kv, "fd", &fd) || (fd != 1 && fd != 2) ||
	    tdd_kv_u32(kv, "eol", &eol) || !v)
		return;
	n = tdd_dec(data, sizeof(data), v);
	if (n < 0)
		return;
	f = fd == 1 ? stdout : stderr;
	if (o->prefix && !o->mid[rank][fd - 1])
		fprintf(f, "[%u] ", rank);
	fwrite(data, 1, n, f);
	if (eol)
		fputc('\n', f);
	o->mid[rank][fd - 1] = !eol;
}

static int send_all(int fd, const char *line)
{
	char buf[RUN_LINE_MAX + 2];

	snprintf(buf, sizeof(buf), "%s\n", line);
	return tdd_ctl_send(fd, buf);
}

/* Describe the job to the daemon: run-begin, the spec's lines, run-go. */
static int send_job(struct tdc *t, int fd, const struct tdd_spec *s,
		    uint32_t nranks, uint32_t per_node, const char *nodes,
		    bool root)
{
	char line[RUN_LINE_MAX];
	struct tdd_spec_cursor cur;
	size_t len;

	len = snprintf(line, sizeof(line), "run-begin");
	if (nranks)
		len += snprintf(line + len, sizeof(line) - len, " nranks=%u", nranks);
	if (per_node)
		len += snprintf(line + len, sizeof(line) - len, " per-node=%u", per_node);
	if (root)
		len += snprintf(line + len, sizeof(line) - len, " root=1");
	if (nodes)
		snprintf(line + len, sizeof(line) - len, " nodes=%s", nodes);
	if (send_all(fd, line))
		goto fail;
	tdd_spec_cursor_init(&cur);
	while (tdd_spec_next(s, &cur, "", line, sizeof(line), TDD_RUN_ENC_MAX))
		if (send_all(fd, line))
			goto fail;
	if (send_all(fd, "run-go"))
		goto fail;
	return 0;
fail:
	tdc_err(t, "run: sending to tinydsmd: %s", strerror(errno));
	return -1;
}

/* The job's lines until its end: the exit status. */
static int follow(struct tdc *t, int fd, struct run_out *o,
		  struct run_root *rr)
{
	char buf[4 * RUN_LINE_MAX], *nl, *line, name[32];
	struct pollfd pfd[2];
	struct signalfd_siginfo si;
	int sfd, got_sig = 0, ret = -1;
	uint64_t job = 0;
	time_t give_up = 0;
	size_t len = 0;
	struct tdd_kv kv;
	sigset_t mask;
	ssize_t n;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	pfd[0] = (struct pollfd){ .fd = fd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };

	while (ret < 0) {
		fflush(stdout);
		fflush(stderr);
		if (poll(pfd, sfd >= 0 ? 2 : 1, 1000) < 0 && errno != EINTR)
			break;
		if (give_up && time(NULL) >= give_up) {
			tdc_err(t, "run: tinydsmd did not end the job within %d s of the cancel",
				RUN_CANCEL_WAIT_S);
			return 128 + got_sig;
		}
		if (sfd >= 0 && (pfd[1].revents & POLLIN) &&
		    read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (got_sig) {
				/* A second one: go; the daemon ends the job as we close. */
				return 128 + (int)si.ssi_signo;
			}
			got_sig = si.ssi_signo;
			fprintf(stderr, "%s: run: %s: ending every rank of job %" PRIu64 "\n",
				t->prog, strsignal(got_sig), job);
			if (send_all(fd, "cancel"))
				return 128 + got_sig;
			give_up = time(NULL) + RUN_CANCEL_WAIT_S;
		}
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			tdc_err(t, "run: tinydsmd closed the connection before the job ended%s",
				n < 0 ? ": read error" : "");
			return RUN_EXIT_LOST;
		}
		len += n;
		buf[len] = '\0';
		line = buf;
		while ((nl = strchr(line, '\n'))) {
			*nl = '\0';
			if (tdd_kv_parse(line, &kv)) {
				line = nl + 1;
				continue;
			}
			if (!strcmp(kv.verb, "out")) {
				print_out(o, &kv);
			} else if (!strcmp(kv.verb, "job")) {
				tdd_kv_u64(&kv, "id", &job);
				if (root_give(t, fd, rr, &kv)) {
					tdc_err(t, "run: sending to tinydsmd: %s",
						strerror(errno));
					return RUN_EXIT_LOST;
				}
			} else if (!strcmp(kv.verb, "exit")) {
				uint32_t st = 0, sig = 0, r = 0;
				const char *node = tdd_kv_get(&kv, "node");

				tdd_kv_u32(&kv, "rank", &r);
				tdd_kv_u32(&kv, "status", &st);
				if (!tdd_kv_u32(&kv, "signal", &sig) && sig)
					fprintf(stderr, "%s: run: rank %u on %s killed by signal %u (%s)\n",
						t->prog, r, node ? node : "?", sig, strsignal(sig));
				else if (st)
					fprintf(stderr, "%s: run: rank %u on %s exited with status %u\n",
						t->prog, r, node ? node : "?", st);
			} else if (!strcmp(kv.verb, "note")) {
				const char *msg = tdd_kv_get(&kv, "msg");

				fprintf(stderr, "%s: run: %s\n", t->prog, msg ? msg : "?");
			} else if (!strcmp(kv.verb, "ok")) {
				uint32_t st = RUN_EXIT_LOST;

				tdd_kv_u32(&kv, "status", &st);
				ret = got_sig ? 128 + got_sig : (int)st;
				break;
			} else if (!strcmp(kv.verb, "error")) {
				const char *msg = tdd_kv_get(&kv, "msg");

				snprintf(name, sizeof(name), "EIO");
				tdd_kv_copy(&kv, "errno", name, sizeof(name));
				tdc_err(t, "run: %s: %s", name, msg ? msg : "failed");
				ret = TDC_EXIT_FAIL;
				break;
			}
			/* started, and what a newer daemon sends: nothing to do. */
			line = nl + 1;
		}
		len -= line - buf;
		memmove(buf, line, len);
		if (len == sizeof(buf) - 1) {
			tdc_err(t, "run: a line from tinydsmd too long");
			return RUN_EXIT_LOST;
		}
	}
	if (ret < 0) {
		tdc_err(t, "run: poll: %s", strerror(errno));
		return RUN_EXIT_LOST;
	}
	return ret;
}

static int run_run(struct tdc *t)
{
	const char *sock = RUN_DEFAULT_SOCKET, *nodes = NULL, *opt;
	uint32_t nranks = 0, per_node = 0;
	static struct run_out out;
	static struct tdd_spec spec;
	struct run_root rr = {};
	char cwd[TDD_RUN_CWD_MAX];
	int fd, i, ret;

	out.prefix = true;
	while (!tdc_no_arg(t)) {
		opt = tdc_arg(t);
		if (!strcmp(opt, "--")) {
			tdc_arg_next(t);
			break;
		}
		if (opt[0] != '-')
			break;
		tdc_arg_next(t);
		if (!strcmp(opt, "--no-prefix")) {
			out.prefix = false;
			continue;
		}
		if (!strcmp(opt, "-h") || !strcmp(opt, "--help"))
			return run_help(t);
		if (tdc_no_arg(t))
			return tdc_usage_error(t, run_help, "run: %s needs a value", opt);
		if (!strcmp(opt, "-n")) {
			if (parse_uint(tdc_arg(t), TDD_RUN_RANKS_MAX, &nranks))
				return tdc_usage_error(t, run_help, "run: -n takes 1..%d",
						       TDD_RUN_RANKS_MAX);
		} else if (!strcmp(opt, "--per-node")) {
			if (parse_uint(tdc_arg(t), TDD_RUN_PER_NODE_MAX, &per_node))
				return tdc_usage_error(t, run_help, "run: --per-node takes 1..%d",
						       TDD_RUN_PER_NODE_MAX);
		} else if (!strcmp(opt, "--nodes")) {
			nodes = tdc_arg(t);
			if (!valid_names(nodes))
				return tdc_usage_error(t, run_help,
						       "run: --nodes takes node names separated by commas");
		} else if (!strcmp(opt, "--socket")) {
			sock = tdc_arg(t);
			if (!*sock || strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path))
				return tdc_usage_error(t, run_help, "run: bad socket path");
		} else {
			return tdc_usage_error(t, run_help, "run: unknown option \"%s\"", opt);
		}
		tdc_arg_next(t);
	}
	if (tdc_no_arg(t))
		return tdc_usage_error(t, run_help, "run: no program given");

	/* The ranks' TINYDSM_ROOT is the one made for them, if any. */
	unsetenv("TINYDSM_ROOT");
	i = tdsm_attach(TDSM_ATTACH_NO_SITES);
	rr.wanted = !i;
	/* No module here (ENOENT): then no rank here uses it either. */
	if (i && i != -ENOENT)
		fprintf(stderr, "%s: run: no root for the job in the region: %s (%s); a rank that calls tdsm_init() will fail\n",
			t->prog, strerror(-i), tdsm_strerror_detail());
	tdd_spec_init(&spec);
	if (!getcwd(cwd, sizeof(cwd))) {
		tdc_err(t, "run: the working directory: %s", strerror(errno));
		return TDC_EXIT_FAIL;
	}
	tdd_spec_add(&spec, TDD_SPEC_CWD, false, cwd, strlen(cwd));
	for (; !tdc_no_arg(t); tdc_arg_next(t))
		tdd_spec_add(&spec, TDD_SPEC_ARG, false, tdc_arg(t), strlen(tdc_arg(t)));
	for (i = 0; environ && environ[i]; i++)
		tdd_spec_add(&spec, TDD_SPEC_ENV, false, environ[i], strlen(environ[i]));
	if (tdd_spec_check(&spec)) {
		tdc_err(t, "run: %s (%s)", spec.why, tdc_errno_name(spec.err));
		return TDC_EXIT_FAIL;
	}

	fd = tdd_ctl_connect(sock, 0);
	if (fd < 0) {
		tdc_err(t, "run: tinydsmd is not running (cannot connect to %s: %s)",
			sock, strerror(errno));
		return TDC_EXIT_NODAEMON;
	}
	if (send_job(t, fd, &spec, nranks, per_node, nodes, rr.wanted)) {
		close(fd);
		return TDC_EXIT_FAIL;
	}
	ret = follow(t, fd, &out, &rr);
	close(fd);
	root_free(t, &rr);
	if (rr.wanted)
		tdsm_detach();
	return ret;
}

/* ---- job show ---- */

static int job_help(struct tdc *t)
{
	fprintf(t->help_out,
		"Usage: %s [ -j [ -p ] | -t ] job [ show ] [ --socket PATH ]\n"
		"       %s job help\n"
		"Shows the jobs of tinydsmctl run that the local tinydsmd knows: those\n"
		"it runs (started here; every rank) and the ranks it runs here for\n"
		"another node's daemon: JOB id, USER, RANKS, NODES (name:ranks),\n"
		"PIDS (rank:node:pid, 0 once ended), STARTED, COORDINATOR (the daemon\n"
		"that started it), COMMAND.\n"
		"Exit status: 0 success, 1 the daemon failed, 2 usage error,\n"
		"4 tinydsmd is not running.\n",
		t->prog, t->prog);
	return TDC_EXIT_OK;
}

enum { JC_ID, JC_USER, JC_RANKS, JC_NODES, JC_PIDS, JC_STARTED, JC_COORD,
       JC_CMD, JC_NR };

static const struct tdc_col job_cols[JC_NR] = {
	[JC_ID]		= { "job",		"JOB",		true },
	[JC_USER]	= { "user",		"USER",		false },
	[JC_RANKS]	= { "ranks",		"RANKS",	true },
	[JC_NODES]	= { "nodes",		"NODES",	false },
	[JC_PIDS]	= { "pids",		"PIDS",		false },
	[JC_STARTED]	= { "started",		"STARTED",	false },
	[JC_COORD]	= { "coordinator",	"COORDINATOR",	false },
	[JC_CMD]	= { "command",		"COMMAND",	false },
};

/* What a JSON string or a table cell takes as is. */
static const char *job_clean(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 ||
		    (unsigned char)*p >= 0x7f)
			*p = '?';
	return s;
}

static void job_str(struct tdc *t, int col, const struct tdd_kv *kv, const char *key)
{
	char buf[RUN_LINE_MAX];

	if (tdd_kv_copy(kv, key, buf, sizeof(buf)))
		tdc_print_str(t, col, job_clean(buf));
	else
		tdc_print_none(t, col);
}

static void job_row(struct tdc *t, char *text)
{
	char cmd[RUN_LINE_MAX], when[64];
	uint64_t v;
	struct tdd_kv kv;
	struct tm tm;
	time_t ts;
	ssize_t n;

	tdd_kv_parse(text, &kv);
	tdc_row_begin(t);
	if (!tdd_kv_u64(&kv, "id", &v))
		tdc_print_uint(t, JC_ID, v);
	else
		tdc_print_none(t, JC_ID);
	job_str(t, JC_USER, &kv, "user");
	if (!tdd_kv_u64(&kv, "nranks", &v))
		tdc_print_uint(t, JC_RANKS, v);
	else
		tdc_print_none(t, JC_RANKS);
	job_str(t, JC_NODES, &kv, "nodes");
	job_str(t, JC_PIDS, &kv, "pids");
	if (!tdd_kv_u64(&kv, "started", &v)) {
		ts = v;
		localtime_r(&ts, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		tdc_print_str(t, JC_STARTED, when);
	} else {
		tdc_print_none(t, JC_STARTED);
	}
	job_str(t, JC_COORD, &kv, "coordinator");
	n = tdd_kv_get(&kv, "cmd") ? tdd_dec(cmd, sizeof(cmd) - 1, tdd_kv_get(&kv, "cmd")) : -1;
	if (n >= 0) {
		cmd[n] = '\0';
		tdc_print_str(t, JC_CMD, job_clean(cmd));
	} else {
		tdc_print_none(t, JC_CMD);
	}
	tdc_row_end(t);
}

#define JOB_ROWS_MAX	64

static int job_show(struct tdc *t)
{
	static char rows[JOB_ROWS_MAX][RUN_LINE_MAX];
	const char *sock = RUN_DEFAULT_SOCKET, *opt, *msg;
	char line[RUN_LINE_MAX], name[32] = "EIO";
	struct tdd_kv kv;
	int i, n = 0, ret;
	FILE *f;

	if (tdc_want_help(t))
		return job_help(t);
	while (!tdc_no_arg(t)) {
		opt = tdc_arg(t);
		tdc_arg_next(t);
		if (!strcmp(opt, "--socket") && !tdc_no_arg(t)) {
			sock = tdc_arg(t);
			tdc_arg_next(t);
		} else {
			return tdc_usage_error(t, job_help, "job show: unexpected argument \"%s\"",
					       opt);
		}
	}
	if (!*sock || strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return tdc_usage_error(t, job_help, "job show: bad socket path");
	f = tdc_daemon_request(t, sock, 10, "jobs\n", &ret);
	if (!f)
		return ret;
	ret = -1;
	while (ret < 0 && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "job ", 4)) {
			if (n < JOB_ROWS_MAX)
				memcpy(rows[n++], line, sizeof(line));
		} else if (tdd_ctl_verb(line, "ok")) {
			ret = TDC_EXIT_OK;
		} else if (!strncmp(line, "error ", 6)) {
			tdd_kv_parse(line, &kv);
			tdd_kv_copy(&kv, "errno", name, sizeof(name));
			msg = tdd_kv_get(&kv, "msg");
			tdc_err(t, "job: %s: %s", name, msg ? msg : "failed");
			ret = TDC_EXIT_FAIL;
		}
	}
	fclose(f);
	if (ret < 0) {
		tdc_err(t, "job: tinydsmd closed the connection before its answer ended");
		return TDC_EXIT_FAIL;
	}
	if (ret)
		return ret;
	tdc_print_begin(t, job_cols, JC_NR);
	for (i = 0; i < n; i++)
		job_row(t, rows[i]);
	tdc_print_end(t);
	return TDC_EXIT_OK;
}

static const struct tdc_cmd job_cmds[] = {
	{ NULL,		job_show },
	{ "show",	job_show },
	{ "help",	job_help },
	{ NULL,		NULL },
};

int cmd_job(struct tdc *t)
{
	t->object = "job";
	if (tdc_arg(t) && !strcmp(tdc_arg(t), "--socket"))
		return job_show(t);
	return tdc_exec_cmd(t, job_cmds, "job command");
}

int cmd_run(struct tdc *t)
{
	t->object = "run";
	if (tdc_arg(t) && !strcmp(tdc_arg(t), "help"))
		return run_help(t);
	return run_run(t);
}
