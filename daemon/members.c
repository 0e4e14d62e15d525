// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmd: membership. One TCP connection per pair of daemons, on the
 * control port; the node with the lower id connects (as the module does for
 * its RDMA connections), from its own configured address. The protocol is
 * daemon/README.md's: newline-terminated text lines "verb key=value ...".
 *
 *   hello proto=2 id=ID name=NAME config=HASH nonce=HEX   first line, both ways
 *   auth mac=HEX                                second line, both ways
 *   hb                                          every heartbeat-ms
 *   req id=N op=migrate addr=A npages=N from=ID
 *   req id=N op=repopulate addr=A npages=N [flags=TINYDSM_REPOPULATE_F_*]
 *   rep id=N err=0|ENAME [moved= skipped= data= holders= holders64=
 *       fetched= mapped= sites= nsec=] [msg=text]
 *   run-*                                       jobs of tinydsmctl run (run.c)
 *
 * holders= is the module's ABI 1 bitmap (bit n = node n, nodes 1..31),
 * which daemons before 64 nodes read; holders64= the whole set, bit n - 1
 * = node n. A rep without holders64= (an older daemon) is read from
 * holders=.
 *
 * With a cluster key (key-file), each hello carries a fresh nonce, each
 * side then proves the key with "auth mac=" (a MAC over both hellos, both
 * nonces, both ids and its role), and every later line ends in " mac=HEX"
 * (auth.h; daemon/README.md has the exact input). An acceptor keeps a new
 * connection pending until it proved the key: only then does it replace
 * the member's connection. A peer that fails (no key, another key, a bad
 * MAC on any line) is dropped, counted (status: auth_fails) and logged,
 * at most once per AUTH_LOG_MS per member. Without a key (only with
 * allow-unauthenticated yes) the hellos carry no nonce, there is no auth
 * line and no MAC, and a daemon of either kind refuses the other kind.
 *
 * A member unheard for dead-after-ms is dead: logged, and the module is told
 * NODE_EVICT so that writes stop waiting for it. When it is heard again it
 * is alive: logged, and the module is given NODE_ADD again (EEXIST fine).
 * Nothing else delays that judgement: the module's long calls run on the
 * worker thread (worker.c), so every daemon heartbeats while its module
 * works, and a member we cannot hear is dead after dead-after-ms whatever
 * it said before. (Daemons before this one sent "hb busy=1" to be spared
 * for request-timeout-ms while their loop was blocked; the key is ignored.)
 * A request we sent keeps its own request-timeout-ms, but fails at once
 * with EHOSTUNREACH when its member is declared dead.
 *
 * Requests another daemon asks us to run, and our NODE_EVICTs, are jobs
 * for the worker; their results come back to the loop, here.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "tinydsmd.h"

#define TDD_PENDING_MAX	8	/* accepted connections not yet identified */
#define AUTH_LOG_MS	10000	/* one authentication failure logged per member */
/*
 * Requests from other daemons queued for the worker at once; the rest of
 * its FIFO is kept for our evictions (one per member) and our migration.
 */
#define TDD_PEER_JOBS_MAX	16
_Static_assert(TDD_PEER_JOBS_MAX + TINYDSM_MAX_NODES + 1 <= TDD_WORK_MAX,
	       "the worker's FIFO must hold the evictions and a migration");

struct pending {
	struct tdd_line conn;
	uint64_t since;
	struct sockaddr_storage from;
	struct tdd_member *member;	/* its hello named it */
};

/* The daemons' subkey of the cluster key; keyed false: no authentication. */
static uint8_t subkey[TDD_AUTH_KEY_LEN];
static bool keyed;
static uint64_t auth_fails_total;

static struct tdd_member members[TINYDSM_MAX_NODES];	/* by id */
static struct pending pending[TDD_PENDING_MAX];
static int listen_fd = -1;
static uint32_t cfg_hash;
static uint32_t next_req_id = 1;

static const char *addr_port(const struct sockaddr_storage *ss, uint16_t port,
			     char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];

	tdd_addr_str(ss, a, sizeof(a));
	snprintf(buf, size, ss->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
		 a, port);
	return buf;
}

static socklen_t with_port(const struct tdd_node *n, uint16_t port,
			   struct sockaddr_storage *ss)
{
	*ss = n->addr;
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	return n->addrlen;
}

struct tdd_member *tdd_member_by_id(uint32_t id)
{
	if (id == 0 || id >= TINYDSM_MAX_NODES || !members[id].node)
		return NULL;
	return &members[id];
}

struct tdd_member *tdd_member_by_name(const char *name)
{
	const struct tdd_node *n = tdd_config_by_name(&tdd.cfg, name);

	return n ? tdd_member_by_id(n->id) : NULL;
}

bool tdd_node_alive(uint32_t id)
{
	struct tdd_member *m;

	if (tdd.self && id == tdd.self->id)
		return true;
	m = tdd_member_by_id(id);
	return m && m->state == TDD_M_ALIVE;
}

int tdd_members_key(const uint8_t key[TINYDSM_KEY_LEN])
{
	if (tdd_auth_subkey(subkey, key)) {
		log_err("libsodium: cannot derive the daemons' key from the cluster key");
		return -1;
	}
	keyed = true;
	return 0;
}

bool tdd_members_keyed(void)
{
	return keyed;
}

uint64_t tdd_members_auth_fails(void)
{
	return auth_fails_total;
}

/*
 * @m (or whoever claimed to be it) did not prove the key: count it, and
 * log it unless it was logged less than AUTH_LOG_MS ago (a peer with the
 * wrong key retries all the time).
 */
static void auth_failed(struct tdd_member *m, const char *from, const char *why)
{
	uint64_t now = tdd_now_ms();

	m->auth_fails++;
	auth_fails_total++;
	if (m->auth_logged && now - m->auth_logged < AUTH_LOG_MS) {
		m->auth_quiet++;
		return;
	}
	log_warn("%s: connection %s%s refused: %s (%" PRIu64 " authentication failures so far%s)",
		 m->node->name, from ? "from " : "", from ? from : "", why,
		 m->auth_fails, m->auth_quiet ? ", some not logged" : "");
	m->auth_logged = now;
	m->auth_quiet = 0;
}

/* ---- requests we sent ---- */

static void fail_request(struct tdd_member *m, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail_request(struct tdd_member *m, int e, const char *fmt, ...)
{
	tdd_reply_fn fn = m->req_fn;
	struct tdd_op op = { .err = e, .unanswered = true };
	va_list ap;

	if (!fn)
		return;
	m->req_fn = NULL;
	va_start(ap, fmt);
	vsnprintf(op.msg, sizeof(op.msg), fmt, ap);
	va_end(ap);
	fn(m, &op);
}

int tdd_member_request(struct tdd_member *m, tdd_reply_fn fn,
		       const char *fmt, ...)
{
	char buf[TDD_LINE_MAX];
	va_list ap;

	if (m->conn.fd < 0 || m->connecting || !m->hello)
		return -ENOTCONN;
	if (m->req_fn)
		return -EBUSY;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (tdd_line_printf(&m->conn, "req id=%u %s", next_req_id, buf))
		return -ENOBUFS;
	m->req_id = next_req_id++;
	m->req_fn = fn;
	m->req_deadline = tdd_now_ms() + tdd.cfg.request_timeout_ms;
	return 0;
}

void tdd_member_cancel(struct tdd_member *m)
{
	m->req_fn = NULL;
}

bool tdd_member_up(const struct tdd_member *m)
{
	return m && m->conn.fd >= 0 && !m->connecting && m->hello;
}

size_t tdd_member_queued(const struct tdd_member *m)
{
	return m->conn.wlen;
}

int tdd_member_send(struct tdd_member *m, const char *fmt, ...)
{
	char buf[TDD_LINE_MAX];
	va_list ap;

	if (!tdd_member_up(m))
		return -1;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return tdd_line_printf(&m->conn, "%s", buf);
}

/* ---- connections ---- */

static void disconnect(struct tdd_member *m, enum tdd_level level,
		       const char *why)
{
	if (m->conn.fd < 0)
		return;
	tdd_log(level, "%s: connection %s: %s", m->node->name,
		m->connecting ? "attempt failed" : "closed", why);
	tdd_line_close(&m->conn);
	m->conn_gen++;
	m->connecting = false;
	m->hello = false;
	m->auth_wait = false;
	/* Failed connects back off, up to dead-after-ms / 2. */
	if (!m->backoff_ms)
		m->backoff_ms = tdd.cfg.heartbeat_ms;
	else if (m->backoff_ms < tdd.cfg.dead_after_ms / 2)
		m->backoff_ms *= 2;
	if (m->backoff_ms > tdd.cfg.dead_after_ms / 2)
		m->backoff_ms = tdd.cfg.dead_after_ms / 2;
	m->next_connect = tdd_now_ms() + m->backoff_ms;
	fail_request(m, ENOTCONN, "lost the connection to %s's daemon (%s)",
		     m->node->name, why);
	/* Jobs with ranks there, or run here for it: they end. */
	tdd_run_member_down(m);
}

/* Our hello, kept as sent: the auth lines' MACs cover it. */
static void send_hello(struct tdd_line *l, bool connector)
{
	struct tdd_auth *a = &l->auth;
	char *mine = connector ? a->hello_c : a->hello_a;
	uint8_t *nonce = connector ? a->nonce_c : a->nonce_a;
	char hex[2 * TDD_NONCE_LEN + 1] = "";

	a->connector = connector;
	if (keyed) {
		tdd_auth_nonce(nonce);
		tdd_auth_nonce_hex(hex, nonce);
	}
	snprintf(mine, TDD_HELLO_MAX, "hello proto=%d id=%u name=%s config=%08x%s%s",
		 TDD_PROTO, tdd.self->id, tdd.self->name, cfg_hash,
		 keyed ? " nonce=" : "", hex);
	tdd_line_printf(l, "%s", mine);
}

/* Prove the key: "auth mac=", for our role. */
static void send_auth(struct tdd_line *l, uint32_t peer_id)
{
	struct tdd_auth *a = &l->auth;
	char mac[TDD_MAC_HEX + 1];

	tdd_auth_hello_mac(mac, subkey, a->connector,
			   a->connector ? tdd.self->id : peer_id,
			   a->connector ? peer_id : tdd.self->id,
			   a->nonce_c, a->nonce_a, a->hello_c, a->hello_a);
	tdd_line_printf(l, "auth mac=%s", mac);
}

/* The peer's "auth mac=" line (@line, unparsed): 0, or -1 with *why. */
static int check_auth(struct tdd_line *l, uint32_t peer_id, char *line,
		      const char **why)
{
	struct tdd_auth *a = &l->auth;
	struct tdd_kv kv;

	if (tdd_kv_parse(line, &kv) || strcmp(kv.verb, "auth")) {
		*why = "no \"auth\" line after its hello: an older daemon, or not a daemon";
		return -1;
	}
	if (!tdd_auth_hello_ok(tdd_kv_get(&kv, "mac"), subkey, !a->connector,
			       a->connector ? tdd.self->id : peer_id,
			       a->connector ? peer_id : tdd.self->id,
			       a->nonce_c, a->nonce_a, a->hello_c, a->hello_a)) {
		*why = "its auth MAC is wrong: it does not hold this cluster's key (or the handshake was altered)";
		return -1;
	}
	return 0;
}

/* Both proved the key: every line from now on is MACed, both ways. */
static void arm(struct tdd_line *l)
{
	l->auth.key = subkey;
	l->auth.tx_seq = 0;
	l->auth.rx_seq = 0;
}

/* The eviction disconnected it in the module: make sure it is known. */
static void readd(struct tdd_member *m)
{
	char msg[256];
	int e;

	e = tdd_genl_node_add(m->node, msg, sizeof(msg));
	if (e && e != -EEXIST)
		log_warn("%s: NODE_ADD again after its eviction: %s%s%s",
			 m->node->name, tdd_errno_name(e), msg[0] ? ": " : "", msg);
	m->evicted = false;
}

static void mark_alive(struct tdd_member *m)
{
	m->last_heard = tdd_now_ms();
	if (m->state == TDD_M_ALIVE)
		return;
	log_notice("%s (%u) is alive", m->node->name, m->node->id);
	m->state = TDD_M_ALIVE;
	/* An eviction still running: evicted() adds it back when it ends. */
	if (m->evicted && !m->evicting)
		readd(m);
}

static void submit_evict(struct tdd_member *m);

/* The worker ran NODE_EVICT for @job->arg: on the loop thread. */
static void evicted(struct tdd_job *job)
{
	struct tdd_member *m = job->arg;
	const struct tdd_op *op = &job->op;
	bool again = m->evict_again;

	m->evicting = false;
	m->evict_again = false;
	if (!op->err) {
		log_notice("%s evicted from the module: %u copies dropped, %u pages it owns unreachable",
			   m->node->name, op->dropped, op->lost);
		m->evicted = true;
	} else {
		log_warn("%s: NODE_EVICT: %s: %s", m->node->name,
			 tdd_errno_name(op->err), op->msg);
		/* ENOENT: the module forgot it; NODE_ADD when it is back. */
		m->evicted = op->err == ENOENT;
	}
	if (m->state == TDD_M_ALIVE) {
		/* It came back while the module evicted it. */
		if (m->evicted)
			readd(m);
	} else if (again) {
		/* It came back and died again meanwhile: evict what it got. */
		submit_evict(m);
	}
}

static void submit_evict(struct tdd_member *m)
{
	struct tdd_job job = {
		.kind = TDD_JOB_EVICT, .node = m->node->id,
		.done = evicted, .arg = m,
	};

	if (m->evicting) {
		m->evict_again = true;
		return;
	}
	/* Cannot fail: the FIFO keeps room for one eviction per member. */
	if (tdd_work_submit(&job)) {
		log_err("%s: NODE_EVICT not queued: the worker's queue is full",
			m->node->name);
		return;
	}
	m->evicting = true;
}

static void declare_dead(struct tdd_member *m, uint64_t now)
{
	if (m->last_heard)
		log_warn("%s (%u) is dead: not heard for %" PRIu64 " ms",
			 m->node->name, m->node->id, now - m->last_heard);
	else
		log_warn("%s (%u) is dead: not heard since tinydsmd started %" PRIu64 " ms ago",
			 m->node->name, m->node->id, now - m->started);
	m->state = TDD_M_DEAD;
	/* Whatever its request-timeout-ms says: it will not answer. */
	fail_request(m, EHOSTUNREACH, "%s is not answering", m->node->name);
	disconnect(m, TDD_DEBUG, "declared dead");
	submit_evict(m);
}

/*
 * Check the hello @line from @from (NULL: on our own connection @l),
 * which keeps its text and its nonce; the member, or NULL with *why and
 * *@claimed the member it said it is, if any (an authentication failure).
 */
static struct tdd_member *check_hello(struct tdd_line *l, char *line,
				      const struct sockaddr_storage *from,
				      struct tdd_member **claimed,
				      const char **why)
{
	static char reason[200];
	struct tdd_auth *au = &l->auth;
	char *theirs = from ? au->hello_c : au->hello_a;
	uint8_t *nonce = from ? au->nonce_c : au->nonce_a;
	const char *name, *h, *n;
	struct tdd_member *m;
	struct tdd_kv parsed, *kv = &parsed;
	uint32_t proto, id;

	*why = reason;
	*claimed = NULL;
	if (strlen(line) >= TDD_HELLO_MAX) {
		snprintf(reason, sizeof(reason), "a first line of %zu bytes (a hello is shorter)",
			 strlen(line));
		return NULL;
	}
	snprintf(theirs, TDD_HELLO_MAX, "%s", line);
	if (tdd_kv_parse(line, kv)) {
		snprintf(reason, sizeof(reason), "malformed line");
		return NULL;
	}
	name = tdd_kv_get(kv, "name");
	h = tdd_kv_get(kv, "config");
	n = tdd_kv_get(kv, "nonce");
	if (strcmp(kv->verb, "hello")) {
		snprintf(reason, sizeof(reason), "\"%.32s\" before hello", kv->verb);
		return NULL;
	}
	if (tdd_kv_u32(kv, "proto", &proto) || tdd_kv_u32(kv, "id", &id) || !name) {
		snprintf(reason, sizeof(reason), "malformed hello");
		return NULL;
	}
	if (proto != TDD_PROTO) {
		snprintf(reason, sizeof(reason), "protocol %u, we speak %d", proto,
			 TDD_PROTO);
		return NULL;
	}
	m = tdd_member_by_id(id);
	if (!m || strcmp(m->node->name, name)) {
		snprintf(reason, sizeof(reason), "says it is %.32s (%u), which is not a node of %s",
			 name, id, tdd.cfg.file);
		return NULL;
	}
	if (from && !tdd_same_addr(from, &m->node->addr)) {
		char a[INET6_ADDRSTRLEN];

		snprintf(reason, sizeof(reason), "says it is %s but comes from %s",
			 name, tdd_addr_str(from, a, sizeof(a)));
		return NULL;
	}
	*claimed = m;
	if (keyed && !n) {
		snprintf(reason, sizeof(reason), "it has no cluster key (no nonce in its hello) and we have one: give every node the same key-file");
		return NULL;
	}
	if (!keyed && n) {
		snprintf(reason, sizeof(reason), "it authenticates with a cluster key and we have none (allow-unauthenticated): give every node the same key-file");
		return NULL;
	}
	if (keyed && tdd_auth_nonce_parse(nonce, n)) {
		snprintf(reason, sizeof(reason), "malformed nonce in its hello (want %d hex digits)",
			 2 * TDD_NONCE_LEN);
		return NULL;
	}
	*claimed = NULL;
	if (h && strtoul(h, NULL, 16) != cfg_hash)
		log_warn("%s's configuration differs from ours (node lines hash %s, ours %08x)",
			 name, h, cfg_hash);
	return m;
}

/* ---- requests another daemon asks us to run ---- */

/* The worker ran a request of @job->arg's: answer it, on the loop thread. */
static void served(struct tdd_job *job)
{
	struct tdd_member *m = job->arg;
	const struct tdd_op *r = &job->op;
	int e = r->err;

	if (e)
		log_info("%s's request failed: %s: %s", m->node->name,
			 tdd_errno_name(e), r->msg);
	/* Not on another connection: that one's ids are not this one's. */
	if (m->conn_gen != job->gen || m->conn.fd < 0 || !m->hello) {
		log_info("%s: not answering request %u: the connection it came on is gone",
			 m->node->name, job->id);
		return;
	}
	tdd_line_printf(&m->conn,
			"rep id=%u err=%s moved=%u skipped=%u data=%u holders=%#" PRIx32 " holders64=%#" PRIx64 " fetched=%u mapped=%u sites=%u nsec=%" PRIu64 "%s%s",
			job->id, e ? tdd_errno_name(e) : "0", r->moved, r->skipped,
			r->data, (uint32_t)(r->holders << 1), r->holders,
			r->fetched, r->mapped, r->sites, r->nsec,
			e ? " msg=" : "", e ? r->msg : "");
}

static void serve_request(struct tdd_member *m, const struct tdd_kv *kv)
{
	const char *op = tdd_kv_get(kv, "op");
	struct tdd_job job = { .done = served, .arg = m, .gen = m->conn_gen };
	uint32_t id;

	if (tdd_kv_u32(kv, "id", &id))
		return;
	job.id = id;
	if (!op || tdd_kv_u64(kv, "addr", &job.addr) ||
	    tdd_kv_u32(kv, "npages", &job.npages)) {
		tdd_line_printf(&m->conn, "rep id=%u err=EINVAL msg=malformed request", id);
		return;
	}
	if (!strcmp(op, "migrate")) {
		if (tdd_kv_u32(kv, "from", &job.node)) {
			tdd_line_printf(&m->conn, "rep id=%u err=EINVAL msg=no from", id);
			return;
		}
		job.kind = TDD_JOB_MIGRATE;
		log_info("%s asks: MIGRATE 0x%" PRIx64 " +%u pages from node id %u",
			 m->node->name, job.addr, job.npages, job.node);
	} else if (!strcmp(op, "repopulate")) {
		/* flags= is optional: daemons before it did not send it. */
		if (tdd_kv_get(kv, "flags") && tdd_kv_u32(kv, "flags", &job.flags)) {
			tdd_line_printf(&m->conn, "rep id=%u err=EINVAL msg=bad flags", id);
			return;
		}
		job.kind = TDD_JOB_REPOPULATE;
		log_info("%s asks: REPOPULATE 0x%" PRIx64 " +%u pages%s",
			 m->node->name, job.addr, job.npages,
			 job.flags & TINYDSM_REPOPULATE_F_LOOKUP ? " (sites to lookup)" : "");
	} else {
		tdd_line_printf(&m->conn, "rep id=%u err=EOPNOTSUPP msg=unknown op %.32s",
				id, op);
		return;
	}
	if (tdd_work_queued() >= TDD_PEER_JOBS_MAX || tdd_work_submit(&job)) {
		log_warn("%s's request %u refused: %d jobs already wait for the module",
			 m->node->name, id, tdd_work_queued());
		tdd_line_printf(&m->conn, "rep id=%u err=EBUSY msg=%s has %d requests waiting for its module",
				id, tdd.self->name, tdd_work_queued());
	}
}

static void take_reply(struct tdd_member *m, const struct tdd_kv *kv)
{
	struct tdd_op op = { 0 };
	const char *e = tdd_kv_get(kv, "err"), *msg = tdd_kv_get(kv, "msg");
	tdd_reply_fn fn = m->req_fn;
	uint32_t id;

	if (tdd_kv_u32(kv, "id", &id) || !fn || id != m->req_id)
		return;		/* a reply to a request given up on */
	m->req_fn = NULL;
	if (!e || strcmp(e, "0")) {
		op.err = e ? tdd_errno_by_name(e) : 0;
		if (!op.err)
			op.err = EIO;
	}
	tdd_kv_u32(kv, "moved", &op.moved);
	tdd_kv_u32(kv, "skipped", &op.skipped);
	tdd_kv_u32(kv, "data", &op.data);
	if (tdd_kv_u64(kv, "holders64", &op.holders)) {
		uint32_t old = 0;

		tdd_kv_u32(kv, "holders", &old);
		op.holders = old >> 1;
	}
	tdd_kv_u32(kv, "fetched", &op.fetched);
	tdd_kv_u32(kv, "mapped", &op.mapped);
	tdd_kv_u32(kv, "sites", &op.sites);
	tdd_kv_u64(kv, "nsec", &op.nsec);
	if (msg)
		snprintf(op.msg, sizeof(op.msg), "%s", msg);
	else if (op.err)
		snprintf(op.msg, sizeof(op.msg), "%s", strerror(op.err));
	fn(m, &op);
}

/* Our own connection is up (authenticated if keyed). */
static void member_up(struct tdd_member *m)
{
	m->hello = true;
	m->auth_wait = false;
	m->backoff_ms = 0;
	log_info("%s: connected (daemon protocol %d, %s)", m->node->name, TDD_PROTO,
		 keyed ? "authenticated with the cluster key" : "NOT authenticated");
	mark_alive(m);
}

static int member_line(void *arg, char *line, const char **why)
{
	struct tdd_member *m = arg;
	struct tdd_member *claimed;
	struct tdd_kv kv;

	if (!m->hello && !m->auth_wait) {
		/* Our own connection: the first line is the answer to our hello. */
		struct tdd_member *said = check_hello(&m->conn, line, NULL, &claimed, why);

		if (said != m) {
			if (said)
				*why = "it answers as another node of the file";
			if (claimed == m)
				m->conn.auth.bad_mac = true;	/* counted by on_member */
			return -1;
		}
		if (!keyed) {
			member_up(m);
			return 0;
		}
		m->auth_wait = true;
		return 0;
	}
	if (m->auth_wait) {
		/* It proves the key first: we give nothing to one that cannot. */
		if (check_auth(&m->conn, m->node->id, line, why)) {
			m->conn.auth.bad_mac = true;
			return -1;
		}
		send_auth(&m->conn, m->node->id);
		arm(&m->conn);
		member_up(m);
		return 0;
	}
	if (tdd_kv_parse(line, &kv)) {
		*why = "malformed line";
		return -1;
	}
	mark_alive(m);
	if (!strcmp(kv.verb, "hb")) {
		/* Heard: that is all (keys are ignored, as busy=1 of old). */
	} else if (!strcmp(kv.verb, "req")) {
		serve_request(m, &kv);
	} else if (!strcmp(kv.verb, "rep")) {
		take_reply(m, &kv);
	} else if (!strncmp(kv.verb, "run-", 4)) {
		/* Jobs (run.c): only here, on a connection that proved the key. */
		tdd_run_member_line(m, &kv);
	} else if (!strcmp(kv.verb, "hello")) {
		*why = "hello twice";
		return -1;
	} else {
		log_dbg("%s: ignoring \"%s\" (a newer daemon?)", m->node->name, kv.verb);
	}
	return 0;
}

static void on_member(void *arg, short revents)
{
	struct tdd_member *m = arg;
	const char *why = NULL;
	socklen_t len;
	int e = 0;

	if (m->connecting) {
		len = sizeof(e);
		if (getsockopt(m->conn.fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
			e = errno;
		if (e) {
			disconnect(m, TDD_DEBUG, strerror(e));
			return;
		}
		if (!(revents & POLLOUT))
			return;
		m->connecting = false;
		send_hello(&m->conn, true);
		return;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		if (tdd_line_read(&m->conn, member_line, m, &why) < 0) {
			if (m->conn.auth.bad_mac) {
				auth_failed(m, NULL, why);
				disconnect(m, TDD_DEBUG, why);
				return;
			}
			disconnect(m, m->state == TDD_M_ALIVE ? TDD_INFO : TDD_DEBUG, why);
			return;
		}
	}
	if (m->conn.fd >= 0 && tdd_line_flush(&m->conn))
		disconnect(m, TDD_INFO, strerror(errno));
}

static int set_sock_opts(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

static void start_connect(struct tdd_member *m, uint64_t now)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	m->connect_at = now;
	m->next_connect = now + tdd.cfg.dead_after_ms / 2;	/* if it fails here */
	fd = socket(m->node->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("%s: socket: %s", m->node->name, strerror(errno));
		return;
	}
	set_sock_opts(fd);
	/* From our configured address: that is what the other side checks. */
	len = with_port(tdd.self, 0, &ss);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		log_warn("%s: bind to our own address: %s", m->node->name, strerror(errno));
		close(fd);
		return;
	}
	len = with_port(m->node, m->node->ctl_port, &ss);
	tdd_line_init(&m->conn, fd);
	m->conn_gen++;
	m->hello = false;
	m->auth_wait = false;
	m->outgoing = true;
	if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
		send_hello(&m->conn, true);
		return;
	}
	if (errno == EINPROGRESS) {
		m->connecting = true;
		return;
	}
	m->connecting = true;	/* for the message */
	disconnect(m, TDD_DEBUG, strerror(errno));
}

/* ---- connections we accepted ---- */

static void drop_pending(struct pending *p, const char *why)
{
	char a[INET6_ADDRSTRLEN];

	if (why)
		log_warn("connection from %s refused: %s",
			 tdd_addr_str(&p->from, a, sizeof(a)), why);
	tdd_line_close(&p->conn);
}

/*
 * A connection we accepted: its hello; with a key, we answer with our
 * hello and our auth line at once, and it stays pending until its own
 * auth line proves the key. 1 when it is the member's.
 */
static int pending_line(void *arg, char *line, const char **why)
{
	struct pending *p = arg;
	struct tdd_member *claimed;

	if (p->member) {
		/* keyed: its auth line */
		if (check_auth(&p->conn, p->member->node->id, line, why)) {
			p->conn.auth.bad_mac = true;
			return -1;
		}
		arm(&p->conn);
		return 1;	/* keep what follows for the member */
	}
	p->member = check_hello(&p->conn, line, &p->from, &claimed, why);
	if (!p->member) {
		if (claimed) {
			p->member = claimed;	/* to count the failure */
			p->conn.auth.bad_mac = true;
		}
		return -1;
	}
	if (p->member->node->id > tdd.self->id) {
		*why = "the node with the lower id connects, and that is us";
		p->member = NULL;
		return -1;
	}
	if (!keyed)
		return 1;
	send_hello(&p->conn, false);
	send_auth(&p->conn, p->member->node->id);
	return 0;
}

static void on_pending(void *arg, short revents)
{
	struct pending *p = arg;
	struct tdd_member *m;
	const char *why = NULL;
	int r;

	(void)revents;
	r = tdd_line_read(&p->conn, pending_line, p, &why);
	if (r < 0) {
		if (p->conn.auth.bad_mac && p->member) {
			char a[INET6_ADDRSTRLEN];

			auth_failed(p->member, tdd_addr_str(&p->from, a, sizeof(a)), why);
			p->member = NULL;
			drop_pending(p, NULL);
			return;
		}
		p->member = NULL;
		drop_pending(p, strcmp(why, "closed by the other side") ? why : NULL);
		return;
	}
	if (r == 0 || !p->member)
		return;
	m = p->member;
	if (m->conn.fd >= 0)
		disconnect(m, TDD_INFO, "replaced by a new connection from it");
	m->conn = p->conn;
	m->conn_gen++;
	m->hello = true;
	m->auth_wait = false;
	m->outgoing = false;
	m->connecting = false;
	p->conn.fd = -1;
	p->member = NULL;
	if (!keyed)
		send_hello(&m->conn, false);
	log_info("%s: connected (daemon protocol %d, %s)", m->node->name, TDD_PROTO,
		 keyed ? "authenticated with the cluster key" : "NOT authenticated");
	mark_alive(m);
	if (tdd_line_parse(&m->conn, member_line, m, &why) < 0)
		disconnect(m, TDD_INFO, why);
}

static void on_accept(void *arg, short revents)
{
	struct sockaddr_storage from;
	socklen_t len = sizeof(from);
	char a[INET6_ADDRSTRLEN];
	struct pending *p = NULL;
	int fd, i, j;

	(void)arg;
	(void)revents;
	while ((fd = accept4(listen_fd, (struct sockaddr *)&from, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		bool known = false;

		for (j = 1; j < TINYDSM_MAX_NODES; j++)
			if (members[j].node && tdd_same_addr(&from, &members[j].node->addr))
				known = true;
		if (!known) {
			log_warn("connection from %s refused: not a node of %s",
				 tdd_addr_str(&from, a, sizeof(a)), tdd.cfg.file);
			close(fd);
			len = sizeof(from);
			continue;
		}
		for (i = 0, p = NULL; i < TDD_PENDING_MAX && !p; i++)
			if (pending[i].conn.fd < 0)
				p = &pending[i];
		if (!p) {
			log_warn("connection from %s refused: %d connections already wait for their hello",
				 tdd_addr_str(&from, a, sizeof(a)), TDD_PENDING_MAX);
			close(fd);
			len = sizeof(from);
			continue;
		}
		set_sock_opts(fd);
		tdd_line_init(&p->conn, fd);
		p->from = from;
		p->since = tdd_now_ms();
		p->member = NULL;
		len = sizeof(from);
	}
	if (errno != EAGAIN && errno != EINTR)
		log_warn("accept: %s", strerror(errno));
}

/* ---- the loop's hooks ---- */

void tdd_members_poll(int *timeout)
{
	int i, t = tdd.cfg.heartbeat_ms / 2;

	if (t < 10)
		t = 10;
	if (t < *timeout)
		*timeout = t;
	tdd_poll_add(listen_fd, POLLIN, on_accept, NULL);
	for (i = 0; i < TDD_PENDING_MAX; i++)
		if (pending[i].conn.fd >= 0)
			tdd_poll_add(pending[i].conn.fd, POLLIN, on_pending, &pending[i]);
	for (i = 1; i < TINYDSM_MAX_NODES; i++) {
		struct tdd_member *m = &members[i];

		if (!m->node || m->conn.fd < 0)
			continue;
		tdd_poll_add(m->conn.fd, m->connecting ? POLLOUT : tdd_line_events(&m->conn),
			     on_member, m);
	}
}

/*
 * A loop that did not run for a long while (SIGSTOP, a stalled VM) has not
 * been listening: what it did not hear in that time says nothing about the
 * others. Judging them on it would evict every member at once on resume,
 * breaking the connections their modules are using. Give each the full
 * dead-after-ms again instead, counted from now.
 */
static void forgive_stall(uint64_t now)
{
	static uint64_t last_tick;
	uint64_t gap = last_tick ? now - last_tick : 0;
	/* The loop sleeps at most a heartbeat (or a second) between ticks. */
	uint64_t normal = (tdd.cfg.heartbeat_ms < 1000 ? tdd.cfg.heartbeat_ms : 1000) +
			  tdd.cfg.dead_after_ms / 4;
	int i;

	last_tick = now;
	if (gap <= normal)
		return;
	log_notice("tinydsmd did not run for %" PRIu64 " ms: restarting the members' dead-after-ms timers",
		   gap);
	for (i = 1; i < TINYDSM_MAX_NODES; i++) {
		struct tdd_member *m = &members[i];

		if (!m->node)
			continue;
		if (m->last_heard)
			m->last_heard = now;
		else
			m->started = now;
	}
}

void tdd_members_tick(void)
{
	uint64_t now = tdd_now_ms(), ref;
	int i;

	forgive_stall(now);

	for (i = 0; i < TDD_PENDING_MAX; i++) {
		if (pending[i].conn.fd >= 0 &&
		    now - pending[i].since > tdd.cfg.dead_after_ms)
			drop_pending(&pending[i], "no hello in time");
	}
	for (i = 1; i < TINYDSM_MAX_NODES; i++) {
		struct tdd_member *m = &members[i];

		if (!m->node)
			continue;
		if (m->conn.fd < 0 && m->outgoing && now >= m->next_connect)
			start_connect(m, now);
		if (m->connecting && now - m->connect_at > tdd.cfg.dead_after_ms)
			disconnect(m, TDD_DEBUG, "connect timed out");
		if (m->conn.fd >= 0 && m->hello && !m->connecting &&
		    now - m->last_sent >= tdd.cfg.heartbeat_ms) {
			if (tdd_line_printf(&m->conn, "hb"))
				disconnect(m, TDD_INFO, "it does not read what we send");
			m->last_sent = now;
		}
		if (m->req_fn && now > m->req_deadline) {
			fail_request(m, ETIMEDOUT, "%s's daemon did not answer within %u ms",
				     m->node->name, tdd.cfg.request_timeout_ms);
		}
		if (m->state == TDD_M_DEAD)
			continue;
		ref = m->last_heard ? m->last_heard : m->started;
		if (now - ref > tdd.cfg.dead_after_ms)
			declare_dead(m, now);
	}
}

int tdd_members_init(void)
{
	struct sockaddr_storage ss;
	char a[INET6_ADDRSTRLEN + 8], msg[256];
	uint64_t now = tdd_now_ms();
	socklen_t len;
	int i, e, one = 1;

	cfg_hash = tdd_config_hash(&tdd.cfg);
	for (i = 0; i < TDD_PENDING_MAX; i++)
		pending[i].conn.fd = -1;

	len = with_port(tdd.self, tdd.self->ctl_port, &ss);
	listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0) {
		log_err("socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listen_fd, (struct sockaddr *)&ss, len) < 0 ||
	    listen(listen_fd, 16) < 0) {
		log_err("cannot listen on %s (%s's address and control-port): %s%s",
			addr_port(&ss, tdd.self->ctl_port, a, sizeof(a)),
			tdd.self->name, strerror(errno),
			errno == EADDRINUSE ? " (is another tinydsmd running?)" : "");
		close(listen_fd);
		listen_fd = -1;
		return -1;
	}
	log_info("listening for the other daemons on %s",
		 addr_port(&ss, tdd.self->ctl_port, a, sizeof(a)));

	for (i = 0; i < tdd.cfg.nnodes; i++) {
		const struct tdd_node *n = &tdd.cfg.nodes[i];
		struct tdd_member *m = &members[n->id];

		if (n == tdd.self)
			continue;
		memset(m, 0, sizeof(*m));
		m->node = n;
		m->conn.fd = -1;
		m->outgoing = tdd.self->id < n->id;
		m->started = now;
		m->next_connect = now;
		e = tdd_genl_node_add(n, msg, sizeof(msg));
		if (e == -EEXIST) {
			log_dbg("%s (%u): already known to the module", n->name, n->id);
		} else if (e) {
			log_err("%s:%d: NODE_ADD %s (%u) %s: %s%s%s", tdd.cfg.file,
				n->line, n->name, n->id,
				tdd_addr_str(&n->addr, a, sizeof(a)),
				tdd_errno_name(e), msg[0] ? ": " : "", msg);
			return -1;
		} else {
			log_info("%s (%u) at %s added to the module", n->name, n->id,
				 tdd_addr_str(&n->addr, a, sizeof(a)));
		}
	}
	return 0;
}

void tdd_members_fini(void)
{
	int i;

	for (i = 1; i < TINYDSM_MAX_NODES; i++) {
		if (members[i].node) {
			tdd_line_flush(&members[i].conn);
			tdd_line_close(&members[i].conn);
		}
	}
	for (i = 0; i < TDD_PENDING_MAX; i++)
		tdd_line_close(&pending[i].conn);
	if (listen_fd >= 0)
		close(listen_fd);
	listen_fd = -1;
	sodium_memzero(subkey, sizeof(subkey));
	keyed = false;
}
