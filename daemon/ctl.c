// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmd: the unix socket tinydsmctl talks to (default
 * /run/tinydsm/tinydsmd.sock, mode 0666). One request line per exchange,
 * answered by zero or more lines and then exactly one "ok ..." or
 * "error errno=ENAME msg=..." line (daemon/README.md):
 *
 *   status                       member lines (name, id, state, addr...),
 *                                then ok
 *   migrate from=NAME to=NAME [strategy=lazy|eager|lookup] [addr=A npages=N]
 *                                progress lines, then ok (the summary)
 *   run-begin ..., run-cwd/run-arg/run-env ..., run-go
 *                                a job (run.c): job, out, exit, note lines,
 *                                then ok status=S; "cancel" meanwhile
 *   jobs                         job lines, then ok
 *
 * Anyone may ask for the status and the jobs, and run a job as himself
 * (the uid and gid are SO_PEERCRED's, never the request's). A request
 * that changes the cluster needs uid 0 or CAP_NET_ADMIN in the client's
 * effective set, checked with SO_PEERCRED and /proc/PID/status;
 * otherwise "error errno=EPERM".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tinydsmd.h"

#define TDD_CLIENTS_MAX	16
#define CAP_NET_ADMIN_BIT 12

struct tdd_client {
	struct tdd_line conn;
	struct ucred cred;
	bool busy;		/* a request is being answered */
	bool closing;		/* close once the output is flushed */
};

static struct tdd_client clients[TDD_CLIENTS_MAX];
static int listen_fd = -1;
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

int tdd_client_printf(struct tdd_client *c, const char *fmt, ...)
{
	char buf[TDD_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return tdd_line_printf(&c->conn, "%s", buf);
}

/* A progress line: dropped if the client does not keep up. */
void tdd_client_progress(struct tdd_client *c, const char *fmt, ...)
{
	char buf[TDD_LINE_MAX];
	va_list ap;

	if (!c || c->conn.wlen > sizeof(c->conn.wbuf) / 2)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	tdd_line_printf(&c->conn, "%s", buf);
}

void tdd_client_done(struct tdd_client *c)
{
	c->busy = false;
}

void tdd_client_busy(struct tdd_client *c)
{
	c->busy = true;
}

size_t tdd_client_queued(const struct tdd_client *c)
{
	return c->conn.wlen;
}

void tdd_client_error(struct tdd_client *c, int e, const char *fmt, ...)
{
	char buf[TDD_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	tdd_line_printf(&c->conn, "error errno=%s msg=%s", tdd_errno_name(e), buf);
	tdd_client_done(c);
}

/* uid 0, or CAP_NET_ADMIN in the effective set of the client's process. */
static bool privileged(const struct tdd_client *c)
{
	unsigned long long caps;
	char path[64], line[256];
	bool ok = false;
	FILE *f;

	if (c->cred.uid == 0)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)c->cred.pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "CapEff: %llx", &caps) == 1) {
			ok = caps & (1ULL << CAP_NET_ADMIN_BIT);
			break;
		}
	}
	fclose(f);
	return ok;
}

static void do_status(struct tdd_client *c)
{
	static const char *const states[] = {
		[TDD_M_UNKNOWN] = "unknown", [TDD_M_ALIVE] = "alive",
		[TDD_M_DEAD] = "dead",
	};
	uint64_t now = tdd_now_ms();
	char addr[INET6_ADDRSTRLEN];
	int i, alive = 0;

	for (i = 0; i < tdd.cfg.nnodes; i++) {
		const struct tdd_node *n = &tdd.cfg.nodes[i];
		struct tdd_member *m = tdd_member_by_id(n->id);

		tdd_addr_str(&n->addr, addr, sizeof(addr));
		if (n == tdd.self) {
			alive++;
			tdd_client_printf(c, "member name=%s id=%u self=1 state=alive heard_ms=0 connected=1 evicted=0 addr=%s auth=%s",
					  n->name, n->id, addr, tdd_members_keyed() ? "key" : "off");
			continue;
		}
		if (!m)
			continue;
		alive += m->state == TDD_M_ALIVE;
		tdd_client_printf(c, "member name=%s id=%u self=0 state=%s heard_ms=%" PRId64 " connected=%d evicted=%d addr=%s auth_fails=%" PRIu64,
				  n->name, n->id, states[m->state],
				  m->last_heard ? (int64_t)(now - m->last_heard) : -1,
				  m->conn.fd >= 0 && m->hello, m->evicted, addr,
				  m->auth_fails);
	}
	tdd_client_printf(c, "ok members=%d alive=%d migrating=%d auth=%s auth_fails=%" PRIu64,
			  tdd.cfg.nnodes, alive, tdd_migrate_active(),
			  tdd_members_keyed() ? "key" : "off", tdd_members_auth_fails());
	tdd_client_done(c);
}

static int client_line(void *arg, char *line, const char **why)
{
	struct tdd_client *c = arg;
	struct tdd_kv kv;

	(void)why;
	if (tdd_kv_parse(line, &kv)) {
		if (c->busy) {
			tdd_client_printf(c, "error errno=EBUSY msg=one request at a time on a connection");
			return 0;
		}
		c->busy = true;
		tdd_client_error(c, EINVAL, "malformed request");
		return 0;
	}
	/*
	 * A job's lines: its description, and while it waits or runs, its
	 * root (run-root) and a cancel.
	 */
	if (!strcmp(kv.verb, "cancel") || !strcmp(kv.verb, "run-root") ||
	    (!c->busy && !strncmp(kv.verb, "run-", 4))) {
		tdd_run_client_line(c, &c->cred, &kv);
		return 0;
	}
	if (c->busy) {
		tdd_client_printf(c, "error errno=EBUSY msg=one request at a time on a connection");
		return 0;
	}
	c->busy = true;
	if (!strcmp(kv.verb, "status")) {
		do_status(c);
	} else if (!strcmp(kv.verb, "migrate")) {
		if (!privileged(c)) {
			log_notice("refused a migrate request from uid %u (pid %d): no CAP_NET_ADMIN",
				   c->cred.uid, (int)c->cred.pid);
			tdd_client_error(c, EPERM, "operation requires CAP_NET_ADMIN");
			return 0;
		}
		tdd_migrate_request(c, &kv);
	} else if (!strcmp(kv.verb, "jobs")) {
		tdd_run_jobs(c);
	} else {
		tdd_client_error(c, EINVAL, "unknown request \"%.32s\" (status, migrate, run-begin, jobs)",
				 kv.verb);
	}
	return 0;
}

static void drop_client(struct tdd_client *c)
{
	if (c->busy)
		tdd_migrate_client_gone(c);
	tdd_run_client_gone(c);
	c->busy = false;
	c->closing = false;
	tdd_line_close(&c->conn);
}

static void on_client(void *arg, short revents)
{
	struct tdd_client *c = arg;
	const char *why;

	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		if (tdd_line_read(&c->conn, client_line, c, &why) < 0) {
			if (strcmp(why, "closed by the other side"))
				log_info("control client pid %d: %s", (int)c->cred.pid, why);
			drop_client(c);
			return;
		}
	}
	if (tdd_line_flush(&c->conn))
		drop_client(c);
}

static void on_accept(void *arg, short revents)
{
	struct tdd_client *c;
	socklen_t len;
	int fd, i;

	(void)arg;
	(void)revents;
	while ((fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		for (i = 0, c = NULL; i < TDD_CLIENTS_MAX && !c; i++)
			if (clients[i].conn.fd < 0)
				c = &clients[i];
		if (!c) {
			static const char busy[] = "error errno=EBUSY msg=too many clients\n";

			if (send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				log_dbg("control: %s", strerror(errno));
			close(fd);
			continue;
		}
		tdd_line_init(&c->conn, fd);
		len = sizeof(c->cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0) {
			log_warn("control: SO_PEERCRED: %s", strerror(errno));
			tdd_line_close(&c->conn);
		}
		c->busy = false;
	}
}

void tdd_ctl_poll(void)
{
	int i;

	tdd_poll_add(listen_fd, POLLIN, on_accept, NULL);
	for (i = 0; i < TDD_CLIENTS_MAX; i++)
		if (clients[i].conn.fd >= 0)
			tdd_poll_add(clients[i].conn.fd, tdd_line_events(&clients[i].conn),
				     on_client, &clients[i]);
}

int tdd_ctl_init(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char dir[sizeof(sock_path)], *slash;
	struct stat st;
	int fd, i;

	for (i = 0; i < TDD_CLIENTS_MAX; i++)
		clients[i].conn.fd = -1;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			log_err("cannot create %s: %s", dir, strerror(errno));
			return -1;
		}
	}
	/* A socket file left by a daemon that died: reuse; a live one: no. */
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		log_err("%s exists and is not a socket", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(fd);
		log_err("another tinydsmd serves %s", path);
		return -1;
	}
	if (fd >= 0)
		close(fd);
	unlink(path);

	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 ||
	    bind(listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(path, 0666) < 0 || listen(listen_fd, 8) < 0) {
		log_err("cannot serve %s: %s", path, strerror(errno));
		if (listen_fd >= 0)
			close(listen_fd);
		listen_fd = -1;
		return -1;
	}
	snprintf(sock_path, sizeof(sock_path), "%s", path);
	log_info("serving tinydsmctl on %s", path);
	return 0;
}

void tdd_ctl_fini(void)
{
	int i;

	for (i = 0; i < TDD_CLIENTS_MAX; i++) {
		if (clients[i].conn.fd >= 0) {
			tdd_line_flush(&clients[i].conn);
			drop_client(&clients[i]);
		}
	}
	if (listen_fd >= 0) {
		close(listen_fd);
		unlink(sock_path);
	}
	listen_fd = -1;
}
