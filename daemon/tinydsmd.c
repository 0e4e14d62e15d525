// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmd: the per-node tinydsm daemon — options, logging, the poll loop.
 *
 *   tinydsmd [-c FILE] [-f] [-k KEYFILE] [-s SOCKET] [-v] [--check]
 *
 * The poll loop owns all the state; the module's long genl calls run on
 * one worker thread (worker.c), which touches nothing but its job.
 *
 * It always runs in the foreground (systemd Type=simple) and logs to
 * stderr, one line per message, prefixed with its level: "<6>" and so on
 * when stderr is the journal (systemd reads the level from it), else the
 * time and the level's name.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "keyfile.h"
#include "tinydsmd.h"

/* Exit status (tinydsmd.8). */
enum {
	TDD_EXIT_OK = 0,
	TDD_EXIT_FAIL = 1,	/* configuration or start-up failure */
	TDD_EXIT_USAGE = 2,
	TDD_EXIT_NOMODULE = 3,	/* the tinydsm module is not loaded */
};

struct tdd tdd;

static bool log_journal;

/* ---- logging ---- */

void tdd_log(enum tdd_level level, const char *fmt, ...)
{
	static const char *const names[] = {
		[TDD_ERR] = "error", [TDD_WARN] = "warning",
		[TDD_NOTICE] = "notice", [TDD_INFO] = "info",
		[TDD_DEBUG] = "debug",
	};
	char buf[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (level == TDD_DEBUG && !tdd.verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (log_journal) {
		n = fprintf(stderr, "<%d>%s\n", level, buf);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = fprintf(stderr, "%02d:%02d:%02d.%03ld %s: %s\n", tm.tm_hour,
			    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
			    names[level], buf);
	}
	(void)n;
}

/* Is stderr the journal? systemd says so in $JOURNAL_STREAM. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	return !fstat(STDERR_FILENO, &st) && st.st_dev == dev && st.st_ino == ino;
}

uint64_t tdd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *tdd_errno_name(int e)
{
	static char buf[24];
	const char *name;

	if (e < 0)
		e = -e;
	name = strerrorname_np(e);
	if (name)
		return name;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

int tdd_errno_by_name(const char *name)
{
	const char *n;
	int e;

	for (e = 1; e < 256; e++) {
		n = strerrorname_np(e);
		if (n && !strcmp(n, name))
			return e;
	}
	return 0;
}

/* ---- the poll loop ---- */

/* Members, clients, and a job's ranks: pidfd, error pipe, stdout, stderr. */
#define TDD_POLL_MAX	512

static struct pollfd pfds[TDD_POLL_MAX];
static struct {
	tdd_poll_fn fn;
	void *arg;
} handlers[TDD_POLL_MAX];
static int npfds;

void tdd_poll_add(int fd, short events, tdd_poll_fn fn, void *arg)
{
	if (fd < 0)
		return;
	if (npfds == TDD_POLL_MAX) {
		log_warn("too many descriptors to poll; some wait a round");
		return;
	}
	pfds[npfds].fd = fd;
	pfds[npfds].events = events;
	pfds[npfds].revents = 0;
	handlers[npfds].fn = fn;
	handlers[npfds].arg = arg;
	npfds++;
}

static int sigfd = -1;

static void on_signal(void *arg, short revents)
{
	struct signalfd_siginfo si;

	(void)arg;
	(void)revents;
	while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_notice("%s: exiting", strsignal(si.ssi_signo));
			tdd.stop = true;
			break;
		case SIGHUP:
			log_notice("SIGHUP: the configuration is not reloaded; restart tinydsmd to apply a new one");
			break;
		}
	}
}

static void on_events(void *arg, short revents)
{
	(void)arg;
	(void)revents;
	tdd_genl_events_read();
}

static void loop(void)
{
	int timeout, n, i, t;

	while (!tdd.stop) {
		npfds = 0;
		timeout = 1000;
		tdd_poll_add(sigfd, POLLIN, on_signal, NULL);
		tdd_poll_add(tdd_genl_events_fd(), POLLIN, on_events, NULL);
		tdd_work_poll();
		tdd_ctl_poll();
		tdd_members_poll(&timeout);
		tdd_run_poll(&timeout);
		t = tdd_migrate_timeout();
		if (t >= 0 && t < timeout)
			timeout = t;
		n = poll(pfds, npfds, timeout);
		if (n < 0 && errno != EINTR) {
			log_err("poll: %s", strerror(errno));
			tdd.stop = true;
			break;
		}
		for (i = 0; n > 0 && i < npfds && !tdd.stop; i++) {
			if (pfds[i].revents)
				handlers[i].fn(handlers[i].arg, pfds[i].revents);
		}
		tdd_members_tick();
		tdd_migrate_run();
		tdd_run_tick();
	}
}

/* ---- start ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tinydsmd [ -c FILE ] [ -f ] [ -k KEYFILE ] [ -s SOCKET ] [ -v ] [ --check ]\n"
		"       tinydsmd { -h | -V }\n"
		"  -c, --config FILE   the cluster configuration (default /etc/tinydsm.conf)\n"
		"  -f, --foreground    accepted for compatibility: tinydsmd never forks\n"
		"  -k, --key KEYFILE   the cluster key (default: the file's key-file)\n"
		"  -s, --socket PATH   the control socket (default: the file's socket,\n"
		"                      else %s)\n"
		"  -v, --verbose       log debug messages too\n"
		"      --check         check the configuration file and exit\n"
		"  -h, --help          this help\n"
		"  -V, --version       the version\n"
		"Exit status: 0 stopped by SIGTERM/SIGINT (or --check passed), 1 bad\n"
		"configuration or start-up failure, 2 usage error, 3 the tinydsm module\n"
		"is not loaded.\n", TDD_DEFAULT_SOCKET);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config",	required_argument, NULL, 'c' },
		{ "foreground",	no_argument, NULL, 'f' },
		{ "key",	required_argument, NULL, 'k' },
		{ "socket",	required_argument, NULL, 's' },
		{ "verbose",	no_argument, NULL, 'v' },
		{ "check",	no_argument, NULL, 'C' },
		{ "help",	no_argument, NULL, 'h' },
		{ "version",	no_argument, NULL, 'V' },
		{ NULL,		0, NULL, 0 },
	};
	const char *file = "/etc/tinydsm.conf", *sock = NULL, *keyfile = NULL;
	uint8_t key[TINYDSM_KEY_LEN];
	bool check = false, have_key = false;
	uint32_t module_id;
	int module_auth;
	sigset_t mask;
	int opt, ret;

	log_journal = stderr_is_journal();
	while ((opt = getopt_long(argc, argv, "c:fk:s:vhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			file = optarg;
			break;
		case 'f':
			break;
		case 'k':
			keyfile = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'v':
			tdd.verbose = true;
			break;
		case 'C':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return TDD_EXIT_OK;
		case 'V':
			printf("tinydsmd %s (tinydsm ABI %d, generic netlink \"%s\" version %d, protocol %d)\n",
			       TDD_VERSION, TINYDSM_ABI_VERSION, TINYDSM_GENL_NAME,
			       TINYDSM_GENL_VERSION, TDD_PROTO);
			return TDD_EXIT_OK;
		default:
			usage(stderr);
			return TDD_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tinydsmd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return TDD_EXIT_USAGE;
	}
	if (sock && (sock[0] != '/' || strlen(sock) >= sizeof(tdd.cfg.socket))) {
		fprintf(stderr, "tinydsmd: -s needs an absolute path of at most %zu characters\n",
			sizeof(tdd.cfg.socket) - 1);
		return TDD_EXIT_USAGE;
	}

	if (tdd_config_load(&tdd.cfg, file))
		return TDD_EXIT_FAIL;
	if (sock)
		snprintf(tdd.cfg.socket, sizeof(tdd.cfg.socket), "%s", sock);
	if (!keyfile && tdd.cfg.key_line)
		keyfile = tdd.cfg.key_file;
	if (keyfile && tdd.cfg.allow_unauth) {
		fprintf(stderr, "tinydsmd: %s:%d: allow-unauthenticated yes, but --key gives a cluster key: drop one of them\n",
			file, tdd.cfg.unauth_line);
		return TDD_EXIT_FAIL;
	}
	if (keyfile) {
		char err[512];
		int e = tdsm_key_read(keyfile, key, err, sizeof(err));

		if (e) {
			fprintf(stderr, "tinydsmd: %s (%s)\n", err, tdd_errno_name(e));
			return TDD_EXIT_FAIL;
		}
		have_key = true;
	} else if (!tdd.cfg.allow_unauth) {
		fprintf(stderr, "tinydsmd: %s:%d: no key-file: the daemons and the modules authenticate each other with a cluster key. Run tinydsmctl key generate /etc/tinydsm/cluster.key once, copy it to every node, and add \"key-file /etc/tinydsm/cluster.key\" (or run without authentication, not recommended: allow-unauthenticated yes)\n",
			file, tdd.cfg.last_line);
		return TDD_EXIT_FAIL;
	}
	if (check) {
		sodium_memzero(key, sizeof(key));
		/* Without the module, only a self line can be checked. */
		if (tdd.cfg.self_line && !tdd_config_self(&tdd.cfg, 0))
			return TDD_EXIT_FAIL;
		printf("%s: OK, %d node(s)%s%s, %s\n", file, tdd.cfg.nnodes,
		       tdd.cfg.self_line ? ", self " : "",
		       tdd.cfg.self_line ? tdd.cfg.self_name : "",
		       have_key ? "cluster key read" : "NOT AUTHENTICATED (allow-unauthenticated yes)");
		return TDD_EXIT_OK;
	}

	/* The daemons' subkey; the key itself only until the module has it. */
	if (have_key && tdd_members_key(key)) {
		sodium_memzero(key, sizeof(key));
		return TDD_EXIT_FAIL;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sigfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		return TDD_EXIT_FAIL;
	}

	ret = tdd_genl_open();
	if (ret) {
		sodium_memzero(key, sizeof(key));
		return ret == -ENOENT ? TDD_EXIT_NOMODULE : TDD_EXIT_FAIL;
	}
	ret = TDD_EXIT_FAIL;
	if (tdd_genl_self_id(&module_id, &module_auth))
		goto out_genl;
	tdd.self = tdd_config_self(&tdd.cfg, module_id);
	if (!tdd.self)
		goto out_genl;
	log_notice("tinydsmd %s starting: %s (id %u), %d node(s) in %s", TDD_VERSION,
		   tdd.self->name, tdd.self->id, tdd.cfg.nnodes, file);
	/* Before NODE_ADD: the module's connections need the key. */
	if (have_key) {
		if (tdd_genl_key_set(key))
			goto out_genl;
		log_notice("cluster key from %s given to the module; the daemons authenticate with it",
			   keyfile);
	} else {
		log_warn("RUNNING WITHOUT AUTHENTICATION (allow-unauthenticated yes in %s): any host that reaches the control port can act as a member; no key is given to the module",
			 file);
		if (module_auth == TINYDSM_AUTH_NONE)
			log_warn("the module has no key and was not loaded with allow_unauthenticated=1: it connects to no node (tinydsmctl key set FILE, or key-file here)");
	}
	sodium_memzero(key, sizeof(key));
	if (tdd_work_init())
		goto out_genl;
	if (tdd_members_init())
		goto out_work;
	if (tdd_run_init() || tdd_ctl_init(tdd.cfg.socket))
		goto out_members;

	loop();
	ret = TDD_EXIT_OK;

	tdd_run_fini();
	tdd_ctl_fini();
out_members:
	tdd_members_fini();
out_work:
	tdd_work_fini();
out_genl:
	sodium_memzero(key, sizeof(key));
	tdd_genl_close();
	close(sigfd);
	return ret;
}
