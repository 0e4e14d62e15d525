// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmd: jobs of `tinydsmctl run` (daemon/README.md, "Jobs").
 *
 * Two roles, often in one daemon:
 *
 *   coordinator  the daemon tinydsmctl asked (struct cjob): places the
 *                ranks, sends each node its part of the job (its ranks,
 *                the requester's uid and gid, argv, environment, cwd),
 *                forwards the ranks' output and exits to tinydsmctl, ends
 *                every rank when one fails, tinydsmctl cancels or goes
 *                away, or a node's connection is lost, and answers the
 *                job's status: the first non-zero status of a rank.
 *   executor     a daemon with ranks of a job on its node (struct xjob):
 *                forks them as the requesting user, reads their output
 *                in the poll loop, and reports their pids, output and
 *                exits to the coordinator; ends them (SIGTERM to the
 *                rank's process group, SIGKILL after run-kill-grace-ms)
 *                when asked or when the coordinator's connection is lost.
 *
 * The ranks of the coordinator's own node run through the same executor
 * code: its lines go to coord_event() directly instead of over a daemon
 * connection.
 *
 * Lines between the daemons (members.c hands us the "run-*" lines of an
 * authenticated connection):
 *
 *   coordinator -> executor
 *     run-new job=J uid=U gid=G nranks=N first=F step=S count=C
 *     run-cwd job=J [cont=1] v=ENC      (tdd_spec.h)
 *     run-arg job=J [cont=1] v=ENC
 *     run-env job=J [cont=1] v=ENC
 *     run-start job=J
 *     run-kill job=J
 *     run-ack job=J bytes=B             (output taken: B more may come)
 *   executor -> coordinator
 *     run-pid job=J rank=R pid=P
 *     run-ready job=J
 *     run-failed job=J err=ENAME msg=TEXT     (no rank of it runs there)
 *     run-out job=J rank=R fd=1|2 eol=0|1 v=ENC
 *     run-note job=J rank=R msg=TEXT
 *     run-exit job=J rank=R status=S [signal=N]
 *
 * Output: a rank's stdout and stderr are pipes read here line by line
 * (a line longer than RUN_LINE_BUF bytes goes in pieces). Back-pressure,
 * from tinydsmctl to the rank: a pipe is read only while its lines can
 * go. For the coordinator's own ranks, while tinydsmctl's connection has
 * at most RUN_ROOM / 2 bytes queued. For another node's, by credit: an
 * executor has at most RUN_WINDOW bytes of output (each line counted as
 * its value's length plus RUN_LINE_COST) that the coordinator has not
 * acknowledged, and the coordinator acknowledges lines (run-ack) only
 * while tinydsmctl's connection has at most RUN_ROOM / 2 bytes queued.
 * So a rank that writes faster than tinydsmctl reads blocks in write(2).
 * What arrives all the same at a full connection (more nodes than the
 * buffer holds windows of) is dropped, counted, and said to tinydsmctl
 * ("note msg=N line(s) of output dropped").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tinydsmd.h"

#define RUN_JOBS_MAX	16	/* jobs this daemon coordinates */
#define RUN_XJOBS_MAX	32	/* jobs with ranks on this node */
#define RUN_PROCS_MAX	64	/* rank processes on this node, all jobs */
#define RUN_LINE_BUF	1024	/* bytes of an output line before it is cut */
#define RUN_ROOM	(TDD_WBUF / 2)	/* queued bytes that stop the pipes */
#define RUN_END_EXTRA_MS 5000	/* beyond the grace, for the exits to come */
#define RUN_PIPE_LINGER_MS 1000	/* pipes kept open after a rank's exit */
#define RUN_GROUPS_MAX	1024	/* supplementary groups of a rank */
#define RUN_WINDOW	2048	/* output bytes unacknowledged, per node */
#define RUN_LINE_COST	64	/* what a line costs in a window beyond its value */
#define RUN_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* ---- executor ---- */

struct xjob;
struct proc;

struct stream {
	int fd;				/* -1: closed */
	int which;			/* 1 stdout, 2 stderr */
	struct proc *p;
	char buf[RUN_LINE_BUF];
	size_t len;
	bool eof;
};

/* What a child that could not exec reports on its error pipe. */
struct exec_fail {
	int stage;			/* enum stage */
	int err;
};

enum stage { ST_SETGROUPS, ST_SETGID, ST_SETUID, ST_CHECK, ST_PDEATH,
	     ST_CHDIR, ST_EXEC, ST_FDS };
static const char *const stage_names[] = {
	"setgroups", "setgid", "setuid", "credentials check",
	"parent-death signal", "chdir", "exec", "file descriptors",
};

struct proc {
	struct xjob *xj;
	uint32_t rank;
	pid_t pid;			/* 0: never started */
	int pidfd, errfd;
	struct stream s[2];
	bool reaped;
	int status;			/* 0..255, 128 + signal */
	int sig;
	struct exec_fail fail;
	bool failed;			/* fail holds why the exec failed */
	uint64_t reaped_at;
	bool done;			/* run-exit sent */
};

struct xjob {
	bool used;
	uint64_t id;
	struct tdd_member *origin;	/* NULL: this daemon coordinates */
	uid_t uid;
	gid_t gid;
	uint32_t nranks, first, step, count;
	struct tdd_spec *spec;		/* remote: being received */
	bool started;
	bool ending, killed;
	uint64_t kill_at;
	bool discard;			/* nobody to tell: output goes nowhere */
	uint64_t unacked;		/* output the coordinator did not ack */
	struct proc *procs;
	uint64_t start_rt;		/* realtime, s */
	char user[TDD_NAME_MAX];
	char cmd[200];
};

static struct xjob xjobs[RUN_XJOBS_MAX];
static int nprocs_running;

/* ---- coordinator ---- */

struct cnode {
	uint32_t id;
	bool self;
	struct tdd_member *m;
	uint32_t first, step, count;
	bool sent_new, sent_all, ready, gone, kill_sent;
	uint64_t ack;			/* output taken, not acknowledged yet */
	struct tdd_spec_cursor cur;
};

struct crank {
	pid_t pid;
	uint8_t node;			/* index in nodes[] */
	bool exited;
	int status;
};

struct cjob {
	bool used;
	uint64_t id;
	struct tdd_client *client;	/* NULL once it went away */
	uid_t uid;
	gid_t gid;
	char user[TDD_NAME_MAX];
	uint32_t nranks, per_node;
	struct tdd_spec *spec;
	int nnodes;
	struct cnode nodes[TINYDSM_MAX_NODES];
	struct crank *ranks;
	uint32_t nexited;
	int nready, nwith;		/* nodes ready, nodes with ranks */
	int status;			/* the first non-zero, 0 */
	bool ending, cancelled, started_said;
	bool await_root;		/* no rank until tinydsmctl's run-root */
	uint64_t start_by, end_by;
	int err;			/* the job could not start: why */
	char errmsg[300];
	uint64_t dropped, dropped_said;
	uint64_t start_rt;
	char cmd[200];
};

static struct cjob cjobs[RUN_JOBS_MAX];

/* A job being described by a control client, before its run-go. */
struct pend {
	struct tdd_client *c;
	struct tdd_spec *spec;
	uint32_t nranks, per_node;
	char nodes[TINYDSM_MAX_NODES * TDD_NAME_MAX];
	bool prefix;
	bool root;		/* run-begin root=1: a run-root comes after run-go */
};

static struct pend pends[16];
static uint64_t next_job;

static void coord_event(uint32_t node_id, struct tdd_kv *kv);
static void cjob_launch(struct cjob *cj);

/* ---- small helpers ---- */

static uint64_t realtime_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

static struct cjob *cjob_find(uint64_t id)
{
	int i;

	for (i = 0; i < RUN_JOBS_MAX; i++)
		if (cjobs[i].used && cjobs[i].id == id)
			return &cjobs[i];
	return NULL;
}

static struct xjob *xjob_find(uint64_t id, const struct tdd_member *origin)
{
	int i;

	for (i = 0; i < RUN_XJOBS_MAX; i++)
		if (xjobs[i].used && xjobs[i].id == id && xjobs[i].origin == origin)
			return &xjobs[i];
	return NULL;
}

/* "prog arg1 arg2", cut, for the log and job show. */
static void cmd_line(const struct tdd_spec *s, char *buf, size_t size)
{
	size_t len = 0;
	const char *a;
	int i;

	buf[0] = '\0';
	for (i = 0; (a = tdd_spec_item(s, TDD_SPEC_ARG, i)) && len + 1 < size; i++)
		len += snprintf(buf + len, size - len, "%s%s", i ? " " : "", a);
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
}

static void user_name(uid_t uid, char *buf, size_t size)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) || !res)
		snprintf(buf, size, "%u", (unsigned int)uid);
	else
		snprintf(buf, size, "%s", res->pw_name);
}

/* ---- executor: sending to the coordinator ---- */

/* Is there room for output towards the coordinator? */
static bool xroom(const struct xjob *xj)
{
	const struct cjob *cj;

	if (xj->discard)
		return true;
	if (!xj->origin) {
		cj = cjob_find(xj->id);
		return !cj || !cj->client || tdd_client_queued(cj->client) <= RUN_ROOM / 2;
	}
	return tdd_member_up(xj->origin) && tdd_member_queued(xj->origin) <= RUN_ROOM &&
	       xj->unacked < RUN_WINDOW;
}

/* One line to the coordinator: 0, -1 if it does not fit now. */
static int xsend(struct xjob *xj, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int xsend(struct xjob *xj, const char *fmt, ...)
{
	char buf[TDD_LINE_MAX];
	struct tdd_kv kv;
	va_list ap;

	if (xj->discard)
		return 0;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!xj->origin) {
		if (!tdd_kv_parse(buf, &kv))
			coord_event(tdd.self->id, &kv);
		return 0;
	}
	if (!tdd_member_up(xj->origin))
		return 0;	/* member_down() discards the job */
	return tdd_member_send(xj->origin, "%s", buf);
}

/* ---- executor: starting the ranks ---- */

static void xjob_free(struct xjob *xj)
{
	uint32_t i;

	if (xj->procs) {
		for (i = 0; i < xj->count; i++) {
			struct proc *p = &xj->procs[i];

			if (p->pidfd >= 0)
				close(p->pidfd);
			if (p->errfd >= 0)
				close(p->errfd);
			if (p->s[0].fd >= 0)
				close(p->s[0].fd);
			if (p->s[1].fd >= 0)
				close(p->s[1].fd);
			if (p->pid > 0 && !p->reaped) {
				/* Only at the daemon's end (tdd_run_fini). */
				kill(-p->pid, SIGKILL);
				waitpid(p->pid, NULL, 0);
				nprocs_running--;
			}
		}
	}
	free(xj->procs);
	free(xj->spec);
	memset(xj, 0, sizeof(*xj));
}

/*
 * The child, between fork and exec: async-signal-safe calls only (the
 * daemon has a worker thread). Never returns.
 */
static void __attribute__((noreturn))
child(const struct xjob *xj, int devnull, int out, int err, int errfd,
      const gid_t *groups, int ngroups, char *const argv[], char *const envp[],
      const char *path, const char *cwd, pid_t daemon_pid)
{
	struct exec_fail f = { 0 };
	struct sigaction sa = { .sa_handler = SIG_DFL };
	char file[4096];
	const char *prog = argv[0], *p, *e;
	sigset_t none;
	int sig, ret;
	size_t dl, pl;

	/* Its own process group: what the daemon signals. */
	setpgid(0, 0);
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 ||
	    dup2(errfd, 3) < 0) {
		f.stage = ST_FDS;
		goto fail_early;
	}
	errfd = 3;
	fcntl(errfd, F_SETFD, FD_CLOEXEC);
	/* Everything else the daemon has open is not the rank's. */
	if (syscall(SYS_close_range, 4, ~0U, 0) < 0) {
		for (int fd = 4; fd < 65536; fd++)
			close(fd);
	}
	/* The user's groups, then the group, then the user: in that order. */
	f.stage = ST_SETGROUPS;
	if (setgroups(ngroups, groups) < 0)
		goto fail;
	f.stage = ST_SETGID;
	if (setresgid(xj->gid, xj->gid, xj->gid) < 0)
		goto fail;
	f.stage = ST_SETUID;
	if (setresuid(xj->uid, xj->uid, xj->uid) < 0)
		goto fail;
	f.stage = ST_CHECK;
	errno = EPERM;
	if (getuid() != xj->uid || geteuid() != xj->uid ||
	    getgid() != xj->gid || getegid() != xj->gid)
		goto fail;
	/* Not root any more: no way back (the capabilities went with it). */
	if (xj->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		errno = EPERM;
		goto fail;
	}
	/* Dies with the daemon (set after setuid, which clears it). */
	f.stage = ST_PDEATH;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		goto fail;
	if (getppid() != daemon_pid) {
		errno = ESRCH;
		goto fail;
	}
	/* As the user: its permissions, not the daemon's. */
	f.stage = ST_CHDIR;
	if (chdir(cwd) < 0)
		goto fail;
	f.stage = ST_EXEC;
	if (strchr(prog, '/')) {
		execve(prog, argv, envp);
		goto fail;
	}
	/* A search of the user's PATH, as execvp(3) does it. */
	ret = ENOENT;
	pl = strlen(prog);
	for (p = path; ; p = e + 1) {
		e = strchr(p, ':');
		if (!e)
			e = p + strlen(p);
		dl = e - p;
		if (dl + 1 + pl + 1 <= sizeof(file)) {
			if (dl) {
				memcpy(file, p, dl);
				file[dl] = '/';
				memcpy(file + dl + 1, prog, pl + 1);
			} else {
				memcpy(file, prog, pl + 1);
			}
			execve(file, argv, envp);
			if (errno == EACCES)
				ret = EACCES;
			else if (errno != ENOENT && errno != ENOTDIR)
				ret = errno;
		}
		if (!*e)
			break;
	}
	errno = ret;
fail:
	f.err = errno;
	ret = write(errfd, &f, sizeof(f));
	(void)ret;
	_exit(f.stage == ST_EXEC && f.err == ENOENT ? 127 : 126);
fail_early:
	_exit(126);
}

/* Start rank @p->rank; 0, or an errno (the rank is then "failed to start"). */
static int spawn(struct xjob *xj, struct proc *p, const gid_t *groups,
		 int ngroups, char **argv, const struct tdd_spec *s,
		 const char *path)
{
	char **envp, rankv[48], nrv[48], jobv[48];
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, ef[2] = { -1, -1 };
	int devnull = -1, e, i, n = 0;
	pid_t pid, me = getpid();
	const char *v;

	envp = calloc(s->envc + 4, sizeof(*envp));
	if (!envp)
		return ENOMEM;
	for (i = 0; (v = tdd_spec_item(s, TDD_SPEC_ENV, i)); i++) {
		/* Ours, whatever the requester's environment said. */
		if (!strncmp(v, "TINYDSM_RANK=", 13) || !strncmp(v, "TINYDSM_NRANKS=", 15) ||
		    !strncmp(v, "TINYDSM_JOB=", 12))
			continue;
		envp[n++] = (char *)v;
	}
	snprintf(rankv, sizeof(rankv), "TINYDSM_RANK=%u", p->rank);
	snprintf(nrv, sizeof(nrv), "TINYDSM_NRANKS=%u", xj->nranks);
	snprintf(jobv, sizeof(jobv), "TINYDSM_JOB=%" PRIu64, xj->id);
	envp[n++] = rankv;
	envp[n++] = nrv;
	envp[n++] = jobv;
	envp[n] = NULL;

	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) ||
	    pipe2(ef, O_CLOEXEC)) {
		e = errno;
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		e = errno;
		goto fail;
	}
	if (pid == 0)
		child(xj, devnull, out[1], err[1], ef[1], groups, ngroups, argv, envp,
		      path, s->cwd, me);
	close(devnull);
	close(out[1]);
	close(err[1]);
	close(ef[1]);
	free(envp);
	p->pid = pid;
	nprocs_running++;
	p->pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (p->pidfd < 0)
		log_warn("job %" PRIu64 " rank %u: pidfd_open: %s (its exit is seen within a second)",
			 xj->id, p->rank, strerror(errno));
	p->s[0].fd = out[0];
	p->s[1].fd = err[0];
	p->errfd = ef[0];
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(err[0], F_SETFL, O_NONBLOCK);
	fcntl(ef[0], F_SETFL, O_NONBLOCK);
	return 0;
fail:
	free(envp);
	for (i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
		if (ef[i] >= 0)
			close(ef[i]);
	}
	if (devnull >= 0)
		close(devnull);
	return e;
}

/* Refuse the whole node's part of the job. */
static void xjob_refuse(struct xjob *xj, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void xjob_refuse(struct xjob *xj, int e, const char *fmt, ...)
{
	char buf[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_warn("job %" PRIu64 "%s%s: refused: %s", xj->id,
		 xj->origin ? " from " : "", xj->origin ? xj->origin->node->name : "", buf);
	xsend(xj, "run-failed job=%" PRIu64 " err=%s msg=%s: %s", xj->id,
	      tdd_errno_name(e), tdd.self->name, buf);
	xj->count = 0;		/* nothing runs: freed at the next tick */
	xj->started = true;
}

/*
 * Start this node's ranks of @xj as its uid and gid (which the coordinator
 * took from SO_PEERCRED), the job described by @s.
 */
static void xjob_start(struct xjob *xj, struct tdd_spec *s)
{
	struct passwd pw, *res = NULL;
	gid_t *groups = NULL, *mine = NULL;
	int ngroups = RUN_GROUPS_MAX, nmine = RUN_GROUPS_MAX, i, e;
	char pwbuf[4096], **argv = NULL;
	const char *path = RUN_DEFAULT_PATH, *v;
	bool member = false;
	uint32_t r;

	xj->started = true;
	xj->start_rt = realtime_s();
	cmd_line(s, xj->cmd, sizeof(xj->cmd));
	if (tdd_spec_check(s)) {
		xjob_refuse(xj, s->err, "%s", s->why);
		return;
	}
	if (xj->uid == 0 && xj->origin && !tdd.cfg.run_allow_root) {
		xjob_refuse(xj, EPERM, "runs nothing as root for another node (run-allow-root no)");
		return;
	}
	/* The same uids on every node (as NFS and Slurm assume). */
	e = getpwuid_r(xj->uid, &pw, pwbuf, sizeof(pwbuf), &res);
	if (e || !res) {
		xjob_refuse(xj, e ? e : ENOENT, "uid %u has no account here",
			    (unsigned int)xj->uid);
		return;
	}
	snprintf(xj->user, sizeof(xj->user), "%s", res->pw_name);
	if (nprocs_running + (int)xj->count > RUN_PROCS_MAX) {
		xjob_refuse(xj, EAGAIN, "%d ranks run here already (at most %d)",
			    nprocs_running, RUN_PROCS_MAX);
		return;
	}
	groups = calloc(RUN_GROUPS_MAX, sizeof(*groups));
	mine = calloc(RUN_GROUPS_MAX, sizeof(*mine));
	argv = calloc(s->argc + 1, sizeof(*argv));
	xj->procs = calloc(xj->count, sizeof(*xj->procs));
	if (!groups || !mine || !argv || !xj->procs) {
		xjob_refuse(xj, ENOMEM, "out of memory");
		goto out;
	}
	/* The group it asked with must be one of the user's, here too. */
	if (getgrouplist(res->pw_name, res->pw_gid, mine, &nmine) < 0) {
		xjob_refuse(xj, E2BIG, "%s is in more than %d groups", res->pw_name,
			    RUN_GROUPS_MAX);
		goto out;
	}
	for (i = 0; i < nmine; i++)
		member |= mine[i] == xj->gid;
	if (!member && xj->uid != 0) {
		xjob_refuse(xj, EPERM, "gid %u is not one of %s's groups here",
			    (unsigned int)xj->gid, res->pw_name);
		goto out;
	}
	if (getgrouplist(res->pw_name, xj->gid, groups, &ngroups) < 0) {
		xjob_refuse(xj, E2BIG, "%s is in more than %d groups", res->pw_name,
			    RUN_GROUPS_MAX);
		goto out;
	}
	for (i = 0; i < s->argc; i++)
		argv[i] = (char *)tdd_spec_item(s, TDD_SPEC_ARG, i);
	for (i = 0; (v = tdd_spec_item(s, TDD_SPEC_ENV, i)); i++)
		if (!strncmp(v, "PATH=", 5))
			path = v + 5;
	log_info("job %" PRIu64 "%s%s: %u rank(s) from %u as %s (uid %u gid %u) in %s: %s",
		 xj->id, xj->origin ? " from " : "", xj->origin ? xj->origin->node->name : "",
		 xj->count, xj->first, res->pw_name, (unsigned int)xj->uid,
		 (unsigned int)xj->gid, s->cwd, xj->cmd);
	fflush(stderr);
	for (r = 0; r < xj->count; r++) {
		struct proc *p = &xj->procs[r];

		p->xj = xj;
		p->rank = xj->first + r * xj->step;
		p->pidfd = p->errfd = p->s[0].fd = p->s[1].fd = -1;
		p->s[0].which = 1;
		p->s[1].which = 2;
		p->s[0].p = p->s[1].p = p;
		e = spawn(xj, p, groups, ngroups, argv, s, path);
		if (e) {
			log_warn("job %" PRIu64 " rank %u: cannot start: %s", xj->id, p->rank,
				 strerror(e));
			xsend(xj, "run-note job=%" PRIu64 " rank=%u msg=cannot start on %s: %s",
			      xj->id, p->rank, tdd.self->name, strerror(e));
			p->reaped = true;
			p->status = 255;
			p->reaped_at = tdd_now_ms();
			continue;
		}
		xsend(xj, "run-pid job=%" PRIu64 " rank=%u pid=%d", xj->id, p->rank,
		      (int)p->pid);
	}
	xsend(xj, "run-ready job=%" PRIu64, xj->id);
out:
	free(groups);
	free(mine);
	free(argv);
}

/* SIGTERM to every rank's process group, SIGKILL after the grace. */
static void xjob_end(struct xjob *xj)
{
	uint32_t i;

	if (!xj->started) {
		/* Still being described: nothing runs; forget it. */
		xj->count = 0;
		xj->started = true;
		return;
	}
	if (xj->ending)
		return;
	xj->ending = true;
	xj->kill_at = tdd_now_ms() + tdd.cfg.run_grace_ms;
	for (i = 0; i < xj->count; i++) {
		struct proc *p = &xj->procs[i];

		/* A rank not reaped yet: its pid (its group) is still its own. */
		if (p->pid > 0 && !p->reaped)
			kill(-p->pid, SIGTERM);
	}
}

/* ---- executor: the ranks' output and exits ---- */

/* Send @len bytes of @s as one output line (eol) or a piece of one. */
static int send_out(struct stream *st, const char *data, size_t len, bool eol)
{
	struct proc *p = st->p;
	struct xjob *xj = p->xj;
	char enc[TDD_RUN_ENC_MAX + 1];
	size_t off = 0, n;

	do {
		n = tdd_enc(enc, sizeof(enc), data + off, len - off);
		off += n;
		if (xsend(xj, "run-out job=%" PRIu64 " rank=%u fd=%d eol=%d v=%s", xj->id,
			  p->rank, st->which, eol && off == len, enc))
			return -1;	/* cannot happen under RUN_ROOM; lost */
		if (xj->origin)
			xj->unacked += strlen(enc) + RUN_LINE_COST;
	} while (off < len);
	return 0;
}

/* Send the complete lines of @st (and all of it when full or at EOF). */
static void stream_flush(struct stream *st)
{
	char *nl;
	size_t n;

	while (st->len && xroom(st->p->xj)) {
		nl = memchr(st->buf, '\n', st->len);
		if (nl) {
			n = nl - st->buf;
			send_out(st, st->buf, n, true);
			n++;
		} else if (st->len == sizeof(st->buf) || st->eof) {
			/* A line too long for one piece; or the last, unended. */
			n = st->len;
			send_out(st, st->buf, n, st->eof);
		} else {
			break;
		}
		memmove(st->buf, st->buf + n, st->len - n);
		st->len -= n;
	}
	if (st->eof && !st->len && st->fd >= 0) {
		close(st->fd);
		st->fd = -1;
	}
}

static void on_stream(void *arg, short revents)
{
	struct stream *st = arg;
	ssize_t n;

	(void)revents;
	if (st->fd < 0 || st->eof)
		return;
	n = read(st->fd, st->buf + st->len, sizeof(st->buf) - st->len);
	if (n > 0)
		st->len += n;
	else if (n == 0 || (errno != EAGAIN && errno != EINTR))
		st->eof = true;
	stream_flush(st);
}

/* The rank's process ended: reap it, and end what it left in its group. */
static void reap(struct proc *p)
{
	siginfo_t si = { 0 };
	int st = 0;

	if (p->reaped || p->pid <= 0)
		return;
	/* Has it ended? WNOWAIT: the zombie stays for now. */
	if (waitid(P_PID, p->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
	    si.si_pid != p->pid)
		return;
	/*
	 * Its zombie, not reaped yet, keeps its pid and so its process
	 * group id from being reused: what is left of the group (children
	 * it left behind) goes with it, then the zombie is reaped. A live
	 * rank is only signalled by xjob_end().
	 */
	kill(-p->pid, SIGKILL);
	if (waitpid(p->pid, &st, 0) != p->pid)
		st = 255 << 8;
	p->reaped = true;
	p->reaped_at = tdd_now_ms();
	nprocs_running--;
	if (WIFEXITED(st)) {
		p->status = WEXITSTATUS(st);
	} else if (WIFSIGNALED(st)) {
		p->sig = WTERMSIG(st);
		p->status = 128 + p->sig;
	} else {
		p->status = 255;
	}
	if (p->pidfd >= 0) {
		close(p->pidfd);
		p->pidfd = -1;
	}
}

static void on_pidfd(void *arg, short revents)
{
	(void)revents;
	reap(arg);
}

static void read_errfd(struct proc *p)
{
	ssize_t n;

	if (p->errfd < 0)
		return;
	n = read(p->errfd, &p->fail, sizeof(p->fail));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == (ssize_t)sizeof(p->fail) && p->fail.stage >= 0 &&
	    p->fail.stage < (int)ARRAY_SIZE(stage_names))
		p->failed = true;
	close(p->errfd);
	p->errfd = -1;
}

static void on_errfd(void *arg, short revents)
{
	(void)revents;
	read_errfd(arg);
}

/* One pass over a rank: 1 when it is all done (exit sent). */
static int proc_tick(struct proc *p, uint64_t now)
{
	struct xjob *xj = p->xj;
	int i;

	if (p->done)
		return 1;
	if (p->pid > 0 && !p->reaped && p->pidfd < 0)
		reap(p);		/* no pidfd: polled */
	for (i = 0; i < 2; i++)
		stream_flush(&p->s[i]);
	if (!p->reaped)
		return 0;
	if (p->errfd >= 0)
		read_errfd(p);
	/* Something that left its group keeps the pipes: not for long. */
	if (now - p->reaped_at > RUN_PIPE_LINGER_MS) {
		for (i = 0; i < 2; i++) {
			p->s[i].eof = true;
			stream_flush(&p->s[i]);
			if (p->s[i].fd >= 0 && (p->s[i].len == 0 || xj->discard)) {
				close(p->s[i].fd);
				p->s[i].fd = -1;
			}
		}
		if (p->errfd >= 0) {
			close(p->errfd);
			p->errfd = -1;
		}
	}
	if (p->s[0].fd >= 0 || p->s[1].fd >= 0 || p->errfd >= 0)
		return 0;
	if (!xroom(xj))
		return 0;
	if (p->failed)
		xsend(xj, "run-note job=%" PRIu64 " rank=%u msg=%s failed on %s: %s", xj->id,
		      p->rank, stage_names[p->fail.stage], tdd.self->name,
		      strerror(p->fail.err));
	if (xsend(xj, "run-exit job=%" PRIu64 " rank=%u status=%d%s%.0d", xj->id, p->rank,
		  p->status, p->sig ? " signal=" : "", p->sig))
		return 0;
	p->done = true;
	return 1;
}

static void xjob_tick(struct xjob *xj, uint64_t now)
{
	uint32_t i, done = 0;

	if (!xj->started)
		return;
	/* Ended, and its output still not taken: the coordinator gave up. */
	if (xj->ending && !xj->discard && now >= xj->kill_at + RUN_END_EXTRA_MS)
		xj->discard = true;
	if (xj->ending && !xj->killed && now >= xj->kill_at) {
		xj->killed = true;
		for (i = 0; i < xj->count; i++) {
			struct proc *p = &xj->procs[i];

			if (p->pid > 0 && !p->reaped) {
				log_info("job %" PRIu64 " rank %u (pid %d) still runs %u ms after SIGTERM: SIGKILL",
					 xj->id, p->rank, (int)p->pid, tdd.cfg.run_grace_ms);
				kill(-p->pid, SIGKILL);
			}
		}
	}
	for (i = 0; i < xj->count; i++)
		done += proc_tick(&xj->procs[i], now);
	if (done == xj->count)
		xjob_free(xj);
}

/* ---- executor: the lines of the coordinator's daemon ---- */

static void exec_line(struct tdd_member *m, const struct tdd_kv *kv)
{
	struct xjob *xj = NULL;
	uint32_t uid, gid, v;
	uint64_t id;
	int i;

	if (tdd_kv_u64(kv, "job", &id))
		return;
	if (!strcmp(kv->verb, "run-new")) {
		struct xjob tmp = { .id = id, .origin = m, .started = true };
		uint32_t nranks, first, step, count;

		if (xjob_find(id, m))
			return;		/* a duplicate: ignored */
		if (!tdd_members_keyed()) {
			xjob_refuse(&tmp, EPERM, "no cluster key (allow-unauthenticated): runs nothing for other nodes");
			return;
		}
		if (tdd_kv_u32(kv, "uid", &uid) || tdd_kv_u32(kv, "gid", &gid) ||
		    tdd_kv_u32(kv, "nranks", &nranks) || tdd_kv_u32(kv, "first", &first) ||
		    tdd_kv_u32(kv, "step", &step) || tdd_kv_u32(kv, "count", &count) ||
		    uid == (uint32_t)-1 || gid == (uint32_t)-1 || !nranks ||
		    nranks > TDD_RUN_RANKS_MAX || !count || count > TDD_RUN_PER_NODE_MAX ||
		    !step || first >= nranks || (uint64_t)first + (uint64_t)(count - 1) * step >= nranks) {
			xjob_refuse(&tmp, EINVAL, "malformed run-new");
			return;
		}
		if (uid == 0 && !tdd.cfg.run_allow_root) {
			xjob_refuse(&tmp, EPERM, "runs nothing as root for another node (run-allow-root no)");
			return;
		}
		for (i = 0; i < RUN_XJOBS_MAX && !xj; i++)
			if (!xjobs[i].used)
				xj = &xjobs[i];
		if (!xj) {
			xjob_refuse(&tmp, EAGAIN, "%d jobs run here already", RUN_XJOBS_MAX);
			return;
		}
		memset(xj, 0, sizeof(*xj));
		xj->spec = malloc(sizeof(*xj->spec));
		if (!xj->spec) {
			xjob_refuse(&tmp, ENOMEM, "out of memory");
			return;
		}
		tdd_spec_init(xj->spec);
		xj->used = true;
		xj->id = id;
		xj->origin = m;
		xj->uid = uid;
		xj->gid = gid;
		xj->nranks = nranks;
		xj->first = first;
		xj->step = step;
		xj->count = count;
		return;
	}
	xj = xjob_find(id, m);
	if (!xj)
		return;		/* refused, or ended: what follows is moot */
	if (!strcmp(kv->verb, "run-kill")) {
		xjob_end(xj);
		return;
	}
	if (!strcmp(kv->verb, "run-ack")) {
		uint64_t b;

		if (!tdd_kv_u64(kv, "bytes", &b))
			xj->unacked -= b < xj->unacked ? b : xj->unacked;
		return;
	}
	if (xj->started)
		return;
	for (i = 0; i < TDD_SPEC_NPARTS; i++) {
		if (!strcmp(kv->verb, tdd_spec_verbs[i])) {
			bool cont = !tdd_kv_u32(kv, "cont", &v) && v;

			tdd_spec_add_enc(xj->spec, i, cont, tdd_kv_get(kv, "v"));
			return;
		}
	}
	if (!strcmp(kv->verb, "run-start"))
		xjob_start(xj, xj->spec);
}

/* ---- coordinator ---- */

static void cjob_end(struct cjob *cj, const char *why);

static int node_index(const struct cjob *cj, uint32_t id)
{
	int k;

	for (k = 0; k < cj->nnodes; k++)
		if (cj->nodes[k].id == id)
			return k;
	return -1;
}

static const char *cnode_name(const struct cnode *n)
{
	static char buf[24];

	return tdd_node_name(&tdd.cfg, n->id, buf, sizeof(buf));
}

/* A rank ended, or is taken for ended (its node failed or was lost). */
static void rank_ended(struct cjob *cj, uint32_t r, int status, bool counts)
{
	struct crank *cr = &cj->ranks[r];

	if (cr->exited)
		return;
	cr->exited = true;
	cr->status = status;
	cj->nexited++;
	if (counts && status && !cj->status)
		cj->status = status;
}

/* Every rank of node @k not ended yet: ended, with @status. */
static void node_ranks_ended(struct cjob *cj, int k, int status, bool counts)
{
	const struct cnode *n = &cj->nodes[k];
	uint32_t i;

	for (i = 0; i < n->count; i++)
		rank_ended(cj, n->first + i * n->step, status, counts);
}

static void client_note(struct cjob *cj, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void client_note(struct cjob *cj, const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (cj->client)
		tdd_client_printf(cj->client, "note msg=%s", buf);
}

static void coord_event(uint32_t node_id, struct tdd_kv *kv)
{
	uint32_t r, pid, fd, eol, status, sig = 0;
	const char *v, *msg;
	struct cjob *cj;
	struct cnode *n;
	uint64_t id;
	int k, e;

	if (tdd_kv_u64(kv, "job", &id))
		return;
	cj = cjob_find(id);
	if (!cj)
		return;		/* ended */
	k = node_index(cj, node_id);
	if (k < 0) {
		log_warn("job %" PRIu64 ": \"%s\" from node %u, which has no rank of it",
			 id, kv->verb, node_id);
		return;
	}
	n = &cj->nodes[k];
	if (!strcmp(kv->verb, "run-ready")) {
		if (!n->ready) {
			n->ready = true;
			cj->nready++;
		}
		if (cj->nready == cj->nwith && !cj->started_said && cj->client && !cj->ending) {
			cj->started_said = true;
			tdd_client_printf(cj->client, "started");
		}
		return;
	}
	if (!strcmp(kv->verb, "run-failed")) {
		e = tdd_errno_by_name(tdd_kv_get(kv, "err") ? tdd_kv_get(kv, "err") : "");
		msg = tdd_kv_get(kv, "msg");
		if (!cj->err) {
			cj->err = e ? e : EIO;
			snprintf(cj->errmsg, sizeof(cj->errmsg), "%s", msg ? msg : "refused");
		}
		n->gone = true;
		node_ranks_ended(cj, k, 255, false);
		cjob_end(cj, "a node refused its ranks");
		return;
	}
	/* The rest are about one rank, which must be one of that node's. */
	if (tdd_kv_u32(kv, "rank", &r) || r >= cj->nranks || cj->ranks[r].node != k)
		return;
	if (!strcmp(kv->verb, "run-pid")) {
		if (!tdd_kv_u32(kv, "pid", &pid))
			cj->ranks[r].pid = pid;
	} else if (!strcmp(kv->verb, "run-out")) {
		v = tdd_kv_get(kv, "v");
		if (!v)
			return;
		if (!n->self)
			n->ack += strlen(v) + RUN_LINE_COST;
		if (!cj->client || tdd_kv_u32(kv, "fd", &fd) || (fd != 1 && fd != 2) ||
		    tdd_kv_u32(kv, "eol", &eol))
			return;
		/* Room for this line and the answers that end the job. */
		if (tdd_client_queued(cj->client) + TDD_LINE_MAX * 4 > TDD_WBUF ||
		    tdd_client_printf(cj->client, "out rank=%u fd=%u eol=%u v=%s", r, fd,
				      eol ? 1 : 0, v))
			cj->dropped++;
	} else if (!strcmp(kv->verb, "run-note")) {
		msg = tdd_kv_get(kv, "msg");
		client_note(cj, "rank %u: %s", r, msg ? msg : "?");
	} else if (!strcmp(kv->verb, "run-exit")) {
		if (tdd_kv_u32(kv, "status", &status) || status > 255 || cj->ranks[r].exited)
			return;
		tdd_kv_u32(kv, "signal", &sig);
		rank_ended(cj, r, status, true);
		if (cj->client)
			tdd_client_printf(cj->client, "exit rank=%u node=%s status=%u%s%.0u", r,
					  cnode_name(n), status, sig ? " signal=" : "", sig);
		if (status)
			cjob_end(cj, "a rank failed");
	}
}

/* The local part of @cj, run by this daemon's executor. */
static void start_local(struct cjob *cj, struct cnode *n)
{
	struct xjob *xj = NULL;
	int i;

	for (i = 0; i < RUN_XJOBS_MAX && !xj; i++)
		if (!xjobs[i].used)
			xj = &xjobs[i];
	n->sent_new = n->sent_all = true;
	if (!xj) {
		struct xjob tmp = { .id = cj->id, .started = true };

		xjob_refuse(&tmp, EAGAIN, "%d jobs run here already", RUN_XJOBS_MAX);
		return;
	}
	memset(xj, 0, sizeof(*xj));
	xj->used = true;
	xj->id = cj->id;
	xj->uid = cj->uid;
	xj->gid = cj->gid;
	xj->nranks = cj->nranks;
	xj->first = n->first;
	xj->step = n->step;
	xj->count = n->count;
	xjob_start(xj, cj->spec);
}

/* Send node @n its part of the job, as far as its connection takes it. */
static void pump(struct cjob *cj, struct cnode *n)
{
	char prefix[40], line[TDD_LINE_MAX];

	while (!n->sent_all && !n->gone && tdd_member_up(n->m) &&
	       tdd_member_queued(n->m) <= RUN_ROOM) {
		if (!n->sent_new) {
			if (tdd_member_send(n->m, "run-new job=%" PRIu64 " uid=%u gid=%u nranks=%u first=%u step=%u count=%u",
					    cj->id, (unsigned int)cj->uid, (unsigned int)cj->gid,
					    cj->nranks, n->first, n->step, n->count))
				return;
			n->sent_new = true;
			tdd_spec_cursor_init(&n->cur);
			continue;
		}
		snprintf(prefix, sizeof(prefix), "job=%" PRIu64 " ", cj->id);
		if (tdd_spec_next(cj->spec, &n->cur, prefix, line, sizeof(line),
				  TDD_RUN_ENC_MAX)) {
			if (tdd_member_send(n->m, "%s", line))
				return;	/* cannot happen under RUN_ROOM */
			continue;
		}
		if (tdd_member_send(n->m, "run-start job=%" PRIu64, cj->id))
			return;
		n->sent_all = true;
	}
}

static void send_kill(struct cjob *cj, struct cnode *n)
{
	struct xjob *xj;

	if (n->kill_sent || n->gone || !n->sent_new)
		return;
	if (n->self) {
		xj = xjob_find(cj->id, NULL);
		if (xj)
			xjob_end(xj);
		n->kill_sent = true;
		return;
	}
	if (tdd_member_up(n->m) && !tdd_member_send(n->m, "run-kill job=%" PRIu64, cj->id))
		n->kill_sent = true;
}

/* End every rank: a rank failed, tinydsmctl cancelled or left, a node is lost. */
static void cjob_end(struct cjob *cj, const char *why)
{
	int k;

	if (cj->ending)
		return;
	cj->ending = true;
	cj->end_by = tdd_now_ms() + tdd.cfg.run_grace_ms + RUN_END_EXTRA_MS;
	log_info("job %" PRIu64 ": ending every rank: %s", cj->id, why);
	for (k = 0; k < cj->nnodes; k++) {
		struct cnode *n = &cj->nodes[k];

		if (!n->count)
			continue;
		if (!n->sent_new || (!n->sent_all && !n->self)) {
			/* It never got the whole job: nothing of it runs there. */
			if (n->sent_new)
				send_kill(cj, n);
			n->gone = true;
			node_ranks_ended(cj, k, 255, false);
			continue;
		}
		send_kill(cj, n);
	}
}

static void cjob_free(struct cjob *cj)
{
	free(cj->spec);
	free(cj->ranks);
	memset(cj, 0, sizeof(*cj));
}

static void cjob_finish(struct cjob *cj)
{
	log_notice("job %" PRIu64 " of %s ended: status %d%s%s%s", cj->id, cj->user,
		   cj->status, cj->err ? " (" : "", cj->err ? cj->errmsg : "",
		   cj->err ? ")" : "");
	if (cj->client) {
		if (cj->err)
			tdd_client_error(cj->client, cj->err, "%s", cj->errmsg);
		else {
			tdd_client_printf(cj->client, "ok job=%" PRIu64 " status=%d cancelled=%d dropped=%" PRIu64,
					  cj->id, cj->status, cj->cancelled, cj->dropped);
			tdd_client_done(cj->client);
		}
	}
	cjob_free(cj);
}

static void cjob_tick(struct cjob *cj, uint64_t now)
{
	int k;

	for (k = 0; k < cj->nnodes; k++) {
		struct cnode *n = &cj->nodes[k];

		if (!n->count || n->self)
			continue;
		/* Nothing goes out before the root is known (run_root()). */
		if (!cj->ending && !cj->await_root)
			pump(cj, n);
		else
			send_kill(cj, n);
		/* Credit for more output, once tinydsmctl has taken this. */
		if (n->ack && !n->gone && (!cj->client ||
		    tdd_client_queued(cj->client) <= RUN_ROOM / 2) &&
		    !tdd_member_send(n->m, "run-ack job=%" PRIu64 " bytes=%" PRIu64, cj->id, n->ack))
			n->ack = 0;
	}
	if (!cj->ending && cj->await_root && now > cj->start_by) {
		cj->err = ETIMEDOUT;
		snprintf(cj->errmsg, sizeof(cj->errmsg),
			 "tinydsmctl gave no root for the job within %u ms",
			 tdd.cfg.request_timeout_ms);
		cjob_end(cj, cj->errmsg);
	}
	if (!cj->ending && cj->nready < cj->nwith && now > cj->start_by) {
		for (k = 0; k < cj->nnodes; k++) {
			if (cj->nodes[k].count && !cj->nodes[k].ready) {
				cj->err = ETIMEDOUT;
				snprintf(cj->errmsg, sizeof(cj->errmsg),
					 "%s did not start its ranks within %u ms",
					 cnode_name(&cj->nodes[k]), tdd.cfg.request_timeout_ms);
				break;
			}
		}
		cjob_end(cj, cj->errmsg);
	}
	if (cj->ending && cj->nexited < cj->nranks && now > cj->end_by) {
		client_note(cj, "%u rank(s) did not report their end within %u ms: taken for dead",
			    cj->nranks - cj->nexited, tdd.cfg.run_grace_ms + RUN_END_EXTRA_MS);
		for (k = 0; k < cj->nnodes; k++)
			node_ranks_ended(cj, k, 255, true);
	}
	if (cj->client && cj->dropped > cj->dropped_said &&
	    tdd_client_queued(cj->client) + TDD_LINE_MAX * 4 <= TDD_WBUF) {
		client_note(cj, "%" PRIu64 " line(s) of output dropped: tinydsmctl did not keep up",
			    cj->dropped - cj->dropped_said);
		cj->dropped_said = cj->dropped;
	}
	if (cj->nexited == cj->nranks)
		cjob_finish(cj);
}

/* ---- coordinator: tinydsmctl's requests ---- */

static struct pend *pend_of(struct tdd_client *c, bool make)
{
	int i;

	for (i = 0; i < (int)ARRAY_SIZE(pends); i++)
		if (pends[i].c == c)
			return &pends[i];
	if (!make)
		return NULL;
	for (i = 0; i < (int)ARRAY_SIZE(pends); i++)
		if (!pends[i].c)
			return &pends[i];
	return NULL;
}

static void pend_drop(struct pend *p)
{
	free(p->spec);
	memset(p, 0, sizeof(*p));
}

/* The nodes of the job: --nodes, else every live member, this node first. */
static int pick_nodes(struct tdd_client *c, struct cjob *cj, const char *list)
{
	char names[sizeof(pends[0].nodes)], *save, *name;
	const struct tdd_node *node;
	struct tdd_member *m;
	int i, k;

	cj->nnodes = 0;
	if (!list || !*list) {
		cj->nodes[cj->nnodes++] = (struct cnode){ .id = tdd.self->id, .self = true };
		for (i = 0; i < tdd.cfg.nnodes; i++) {
			node = &tdd.cfg.nodes[i];
			m = tdd_member_by_id(node->id);
			if (node != tdd.self && m && m->state == TDD_M_ALIVE && tdd_member_up(m))
				cj->nodes[cj->nnodes++] = (struct cnode){ .id = node->id, .m = m };
		}
		return 0;
	}
	snprintf(names, sizeof(names), "%s", list);
	for (name = strtok_r(names, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		node = tdd_config_by_name(&tdd.cfg, name);
		if (!node) {
			tdd_client_error(c, ENOENT, "unknown node '%.32s'", name);
			return -1;
		}
		for (k = 0; k < cj->nnodes; k++) {
			if (cj->nodes[k].id == node->id) {
				tdd_client_error(c, EINVAL, "node '%s' named twice", name);
				return -1;
			}
		}
		if (node == tdd.self) {
			cj->nodes[cj->nnodes++] = (struct cnode){ .id = node->id, .self = true };
			continue;
		}
		m = tdd_member_by_id(node->id);
		if (!m || m->state != TDD_M_ALIVE || !tdd_member_up(m)) {
			tdd_client_error(c, EHOSTUNREACH, "%s is not answering", name);
			return -1;
		}
		cj->nodes[cj->nnodes++] = (struct cnode){ .id = node->id, .m = m };
	}
	if (!cj->nnodes) {
		tdd_client_error(c, EINVAL, "no node given");
		return -1;
	}
	return 0;
}

static void run_go(struct tdd_client *c, const struct ucred *cred, struct pend *p)
{
	struct cjob *cj = NULL;
	char nodes[TDD_LINE_MAX - 64];
	size_t len = 0;
	uint32_t nranks, r, i;
	int k;

	tdd_client_busy(c);
	if (tdd_spec_check(p->spec)) {
		tdd_client_error(c, p->spec->err, "%s", p->spec->why);
		pend_drop(p);
		return;
	}
	for (k = 0; k < RUN_JOBS_MAX && !cj; k++)
		if (!cjobs[k].used)
			cj = &cjobs[k];
	if (!cj) {
		tdd_client_error(c, EAGAIN, "%s runs %d jobs already", tdd.self->name,
				 RUN_JOBS_MAX);
		pend_drop(p);
		return;
	}
	memset(cj, 0, sizeof(*cj));
	if (pick_nodes(c, cj, p->nodes)) {
		pend_drop(p);
		return;
	}
	nranks = p->nranks;
	if (!nranks)
		nranks = p->per_node ? p->per_node * cj->nnodes : (uint32_t)cj->nnodes;
	if (nranks > TDD_RUN_RANKS_MAX ||
	    (p->per_node && nranks > p->per_node * cj->nnodes) ||
	    (!p->per_node && (nranks + cj->nnodes - 1) / cj->nnodes > TDD_RUN_PER_NODE_MAX)) {
		tdd_client_error(c, EINVAL, "%u ranks do not fit: at most %d per job, %d per node%s",
				 nranks, TDD_RUN_RANKS_MAX, TDD_RUN_PER_NODE_MAX,
				 p->per_node ? ", and --per-node times the nodes" : "");
		pend_drop(p);
		return;
	}
	cj->ranks = calloc(nranks, sizeof(*cj->ranks));
	if (!cj->ranks) {
		tdd_client_error(c, ENOMEM, "out of memory");
		pend_drop(p);
		return;
	}
	cj->used = true;
	cj->id = next_job++;
	cj->client = c;
	cj->uid = cred->uid;
	cj->gid = cred->gid;
	user_name(cj->uid, cj->user, sizeof(cj->user));
	cj->nranks = nranks;
	cj->per_node = p->per_node;
	cj->spec = p->spec;
	cj->await_root = p->root;
	p->spec = NULL;
	pend_drop(p);
	cj->status = 0;
	cj->start_rt = realtime_s();
	cj->start_by = tdd_now_ms() + tdd.cfg.request_timeout_ms;
	cmd_line(cj->spec, cj->cmd, sizeof(cj->cmd));
	for (k = 0; k < cj->nnodes; k++) {
		struct cnode *n = &cj->nodes[k];

		tdd_run_place(nranks, cj->nnodes, cj->per_node, k, &n->first, &n->step,
			      &n->count);
		for (i = 0; i < n->count; i++) {
			r = n->first + i * n->step;
			cj->ranks[r].node = k;
		}
		if (n->count) {
			cj->nwith++;
			len += snprintf(nodes + len, sizeof(nodes) - len, "%s%s:%u",
					len ? "," : "", cnode_name(n), n->count);
			if (len >= sizeof(nodes))
				len = sizeof(nodes) - 1;
		}
	}
	log_notice("job %" PRIu64 ": %s (uid %u pid %d) runs %u rank(s) on %s: %s", cj->id,
		   cj->user, (unsigned int)cj->uid, (int)cred->pid, nranks, nodes, cj->cmd);
	tdd_client_printf(c, "job id=%" PRIu64 " nranks=%u nodes=%s", cj->id, nranks, nodes);
	/*
	 * The job's root in the region is made by tinydsmctl, as the user,
	 * once it knows the job's id and size (this line): the ranks start
	 * at its run-root, or fail at start_by.
	 */
	if (cj->await_root)
		return;
	cjob_launch(cj);
}

/* Start @cj's ranks: here, and through the other nodes' daemons. */
static void cjob_launch(struct cjob *cj)
{
	int k;

	cj->await_root = false;
	for (k = 0; k < cj->nnodes; k++)
		if (cj->nodes[k].self && cj->nodes[k].count)
			start_local(cj, &cj->nodes[k]);
	for (k = 0; k < cj->nnodes; k++)
		if (!cj->nodes[k].self && cj->nodes[k].count)
			pump(cj, &cj->nodes[k]);
}

/*
 * "run-root addr=A": the root tinydsmctl made in the region for the job it
 * is waiting for (A, page aligned; 0: none), given to every rank as
 * TINYDSM_ROOT; then the ranks start.
 */
static void run_root(struct tdd_client *c, const struct tdd_kv *kv)
{
	char env[64];
	struct cjob *cj = NULL;
	uint64_t addr;
	int i;

	for (i = 0; i < RUN_JOBS_MAX && !cj; i++)
		if (cjobs[i].used && cjobs[i].client == c && cjobs[i].await_root)
			cj = &cjobs[i];
	if (!cj) {
		tdd_client_busy(c);
		tdd_client_error(c, EINVAL, "run-root without a job waiting for its root");
		return;
	}
	if (tdd_kv_u64(kv, "addr", &addr) || addr % 4096) {
		cj->err = EINVAL;
		snprintf(cj->errmsg, sizeof(cj->errmsg),
			 "run-root: addr must be a page-aligned address, or 0");
		cjob_end(cj, cj->errmsg);
		return;
	}
	if (addr) {
		snprintf(env, sizeof(env), "TINYDSM_ROOT=%#" PRIx64, addr);
		if (tdd_spec_add(cj->spec, TDD_SPEC_ENV, false, env, strlen(env)) ||
		    tdd_spec_check(cj->spec)) {
			cj->err = cj->spec->err ? cj->spec->err : E2BIG;
			snprintf(cj->errmsg, sizeof(cj->errmsg), "run-root: %s",
				 cj->spec->why);
			cjob_end(cj, cj->errmsg);
			return;
		}
	}
	cjob_launch(cj);
}

void tdd_run_client_line(struct tdd_client *c, const struct ucred *cred,
			 const struct tdd_kv *kv)
{
	struct pend *p;
	struct cjob *cj;
	const char *nodes;
	uint32_t v;
	int i;

	if (!strcmp(kv->verb, "cancel")) {
		for (i = 0; i < RUN_JOBS_MAX; i++) {
			cj = &cjobs[i];
			if (cj->used && cj->client == c && !cj->cancelled) {
				cj->cancelled = true;
				client_note(cj, "cancelled: ending every rank");
				cjob_end(cj, "tinydsmctl cancelled it");
			}
		}
		return;
	}
	if (!strcmp(kv->verb, "run-root")) {
		run_root(c, kv);
		return;
	}
	if (!strcmp(kv->verb, "run-begin")) {
		p = pend_of(c, true);
		if (!p) {
			tdd_client_busy(c);
			tdd_client_error(c, EAGAIN, "too many jobs being described at once");
			return;
		}
		free(p->spec);
		memset(p, 0, sizeof(*p));
		p->c = c;
		p->spec = malloc(sizeof(*p->spec));
		if (!p->spec) {
			memset(p, 0, sizeof(*p));
			tdd_client_busy(c);
			tdd_client_error(c, ENOMEM, "out of memory");
			return;
		}
		tdd_spec_init(p->spec);
		/* A uid= or gid= of the request is ignored: SO_PEERCRED says who. */
		if ((tdd_kv_get(kv, "nranks") && tdd_kv_u32(kv, "nranks", &p->nranks)) ||
		    (tdd_kv_get(kv, "per-node") && tdd_kv_u32(kv, "per-node", &p->per_node)) ||
		    p->nranks > TDD_RUN_RANKS_MAX || p->per_node > TDD_RUN_PER_NODE_MAX) {
			p->spec->err = EINVAL;
			snprintf(p->spec->why, sizeof(p->spec->why),
				 "nranks must be 1..%d, per-node 1..%d", TDD_RUN_RANKS_MAX,
				 TDD_RUN_PER_NODE_MAX);
		}
		p->root = !tdd_kv_u32(kv, "root", &v) && v;
		nodes = tdd_kv_get(kv, "nodes");
		if (nodes && strlen(nodes) >= sizeof(p->nodes)) {
			p->spec->err = EINVAL;
			snprintf(p->spec->why, sizeof(p->spec->why), "node list too long");
		} else if (nodes) {
			snprintf(p->nodes, sizeof(p->nodes), "%s", nodes);
		}
		return;
	}
	p = pend_of(c, false);
	if (!p) {
		tdd_client_busy(c);
		tdd_client_error(c, EINVAL, "\"%.16s\" without run-begin", kv->verb);
		return;
	}
	for (i = 0; i < TDD_SPEC_NPARTS; i++) {
		if (!strcmp(kv->verb, tdd_spec_verbs[i])) {
			bool cont = !tdd_kv_u32(kv, "cont", &v) && v;

			tdd_spec_add_enc(p->spec, i, cont, tdd_kv_get(kv, "v"));
			return;
		}
	}
	if (!strcmp(kv->verb, "run-go")) {
		run_go(c, cred, p);
		return;
	}
	tdd_client_busy(c);
	tdd_client_error(c, EINVAL, "unknown request \"%.32s\"", kv->verb);
}

void tdd_run_client_gone(struct tdd_client *c)
{
	struct pend *p = pend_of(c, false);
	int i;

	if (p)
		pend_drop(p);
	for (i = 0; i < RUN_JOBS_MAX; i++) {
		struct cjob *cj = &cjobs[i];

		if (cj->used && cj->client == c) {
			cj->client = NULL;
			cj->cancelled = true;
			cjob_end(cj, "tinydsmctl went away");
		}
	}
}

/* "jobs": the jobs this daemon coordinates, and the others' ranks here. */
void tdd_run_jobs(struct tdd_client *c)
{
	char pids[300], nodes[200], enc[TDD_RUN_ENC_MAX + 1];
	int i, k, shown = 0, total = 0;
	size_t len, nl;
	uint32_t r, j;

	for (i = 0; i < RUN_JOBS_MAX; i++) {
		struct cjob *cj = &cjobs[i];

		if (!cj->used)
			continue;
		total++;
		len = nl = 0;
		pids[0] = nodes[0] = '\0';
		for (k = 0; k < cj->nnodes; k++) {
			struct cnode *n = &cj->nodes[k];

			if (!n->count)
				continue;
			nl += snprintf(nodes + nl, sizeof(nodes) - nl, "%s%s:%u", nl ? "," : "",
				       cnode_name(n), n->count);
			if (nl >= sizeof(nodes))
				nl = sizeof(nodes) - 1;
			for (j = 0; j < n->count && len < sizeof(pids) - 1; j++) {
				r = n->first + j * n->step;
				len += snprintf(pids + len, sizeof(pids) - len, "%s%u:%s:%d",
						len ? "," : "", r, cnode_name(n),
						cj->ranks[r].exited ? 0 : (int)cj->ranks[r].pid);
			}
		}
		if (len >= sizeof(pids) - 1)
			snprintf(pids + sizeof(pids) - 4, 4, "...");
		tdd_enc(enc, 240, cj->cmd, strlen(cj->cmd));
		if (tdd_client_queued(c) + 2 * TDD_LINE_MAX > TDD_WBUF)
			continue;
		tdd_client_printf(c, "job id=%" PRIu64 " uid=%u user=%s nranks=%u exited=%u nodes=%s pids=%s started=%" PRIu64 " coordinator=%s cmd=%s",
				  cj->id, (unsigned int)cj->uid, cj->user, cj->nranks,
				  cj->nexited, nodes, pids, cj->start_rt, tdd.self->name, enc);
		shown++;
	}
	for (i = 0; i < RUN_XJOBS_MAX; i++) {
		struct xjob *xj = &xjobs[i];

		if (!xj->used || !xj->origin || !xj->started || !xj->count)
			continue;
		total++;
		len = 0;
		pids[0] = '\0';
		for (j = 0; j < xj->count && len < sizeof(pids) - 1; j++)
			len += snprintf(pids + len, sizeof(pids) - len, "%s%u:%s:%d",
					len ? "," : "", xj->procs[j].rank, tdd.self->name,
					xj->procs[j].reaped ? 0 : (int)xj->procs[j].pid);
		if (len >= sizeof(pids) - 1)
			snprintf(pids + sizeof(pids) - 4, 4, "...");
		tdd_enc(enc, 240, xj->cmd, strlen(xj->cmd));
		if (tdd_client_queued(c) + 2 * TDD_LINE_MAX > TDD_WBUF)
			continue;
		tdd_client_printf(c, "job id=%" PRIu64 " uid=%u user=%s nranks=%u nodes=%s:%u pids=%s started=%" PRIu64 " coordinator=%s cmd=%s",
				  xj->id, (unsigned int)xj->uid, xj->user, xj->nranks,
				  tdd.self->name, xj->count, pids, xj->start_rt,
				  xj->origin->node->name, enc);
		shown++;
	}
	tdd_client_printf(c, "ok jobs=%d shown=%d", total, shown);
	tdd_client_done(c);
}

/* ---- the daemon connections ---- */

void tdd_run_member_line(struct tdd_member *m, struct tdd_kv *kv)
{
	static const char *const exec_verbs[] = {
		"run-new", "run-cwd", "run-arg", "run-env", "run-start", "run-kill",
		"run-ack",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(exec_verbs); i++) {
		if (!strcmp(kv->verb, exec_verbs[i])) {
			exec_line(m, kv);
			return;
		}
	}
	coord_event(m->node->id, kv);
}

void tdd_run_member_down(struct tdd_member *m)
{
	int i, k;

	/* Its jobs here: nobody to report to, end them. */
	for (i = 0; i < RUN_XJOBS_MAX; i++) {
		struct xjob *xj = &xjobs[i];

		if (xj->used && xj->origin == m) {
			if (xj->started && xj->count)
				log_warn("job %" PRIu64 ": lost the connection to %s, which runs it: ending its ranks here",
					 xj->id, m->node->name);
			xj->discard = true;
			xjob_end(xj);
		}
	}
	/* Our jobs with ranks there: they fail. */
	for (i = 0; i < RUN_JOBS_MAX; i++) {
		struct cjob *cj = &cjobs[i];

		if (!cj->used)
			continue;
		k = node_index(cj, m->node->id);
		if (k < 0 || !cj->nodes[k].count || cj->nodes[k].gone)
			continue;
		cj->nodes[k].gone = true;
		client_note(cj, "lost the connection to %s's daemon: its ranks are ended there",
			    m->node->name);
		log_warn("job %" PRIu64 ": lost the connection to %s: the job fails",
			 cj->id, m->node->name);
		node_ranks_ended(cj, k, 255, true);
		if (!cj->status)
			cj->status = 255;
		cjob_end(cj, "a node was lost");
	}
}

/* ---- the loop ---- */

void tdd_run_poll(int *timeout)
{
	bool busy = false;
	uint32_t j;
	int i, s;

	for (i = 0; i < RUN_XJOBS_MAX; i++) {
		struct xjob *xj = &xjobs[i];
		bool room;

		if (!xj->used || !xj->started)
			continue;
		room = xroom(xj);
		if (xj->ending && !xj->killed)
			busy = true;
		for (j = 0; j < xj->count; j++) {
			struct proc *p = &xj->procs[j];

			if (p->done)
				continue;
			if (p->pidfd >= 0)
				tdd_poll_add(p->pidfd, POLLIN, on_pidfd, p);
			if (p->errfd >= 0)
				tdd_poll_add(p->errfd, POLLIN, on_errfd, p);
			for (s = 0; s < 2; s++) {
				struct stream *st = &p->s[s];

				/* Back-pressure: no room, no read. */
				if (st->fd >= 0 && room && st->len < sizeof(st->buf))
					tdd_poll_add(st->fd, POLLIN, on_stream, st);
				if (st->len)
					busy = true;
			}
			if (p->reaped || p->pidfd < 0)
				busy = true;
		}
	}
	for (i = 0; i < RUN_JOBS_MAX; i++)
		if (cjobs[i].used)
			busy = true;
	if (busy && *timeout > 100)
		*timeout = 100;
}

void tdd_run_tick(void)
{
	uint64_t now = tdd_now_ms();
	int i;

	for (i = 0; i < RUN_XJOBS_MAX; i++)
		if (xjobs[i].used)
			xjob_tick(&xjobs[i], now);
	for (i = 0; i < RUN_JOBS_MAX; i++)
		if (cjobs[i].used)
			cjob_tick(&cjobs[i], now);
}

int tdd_run_init(void)
{
	struct timespec ts;

	/* Unique across the cluster: the node id on top, then time. */
	clock_gettime(CLOCK_REALTIME, &ts);
	next_job = (uint64_t)tdd.self->id << 56 |
		   (((uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000) & ((1ULL << 56) - 1));
	return 0;
}

/* The daemon stops: its ranks too (SIGTERM, the grace, SIGKILL). */
void tdd_run_fini(void)
{
	uint64_t end = tdd_now_ms() + tdd.cfg.run_grace_ms;
	bool left;
	uint32_t j;
	int i;

	for (i = 0; i < RUN_XJOBS_MAX; i++) {
		if (xjobs[i].used) {
			xjobs[i].discard = true;
			xjob_end(&xjobs[i]);
		}
	}
	do {
		left = false;
		for (i = 0; i < RUN_XJOBS_MAX; i++) {
			struct xjob *xj = &xjobs[i];

			for (j = 0; xj->used && j < xj->count; j++) {
				reap(&xj->procs[j]);
				left |= xj->procs[j].pid > 0 && !xj->procs[j].reaped;
			}
		}
		if (left)
			usleep(20000);
	} while (left && tdd_now_ms() < end);
	for (i = 0; i < RUN_XJOBS_MAX; i++)
		if (xjobs[i].used)
			xjob_free(&xjobs[i]);	/* SIGKILLs what is left */
	for (i = 0; i < RUN_JOBS_MAX; i++)
		if (cjobs[i].used)
			cjob_free(&cjobs[i]);
	for (i = 0; i < (int)ARRAY_SIZE(pends); i++)
		if (pends[i].c)
			pend_drop(&pends[i]);
}
