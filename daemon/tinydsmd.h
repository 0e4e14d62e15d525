/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsmd: the per-node tinydsm daemon — shared declarations.
 *
 * One process, one poll() loop (tinydsmd.c) that owns all the daemon's
 * state, and one worker thread (worker.c) that runs the module's long genl
 * calls and touches nothing but its job (struct tdd_job). By concern:
 *   config.c   the configuration file
 *   genl.c     generic netlink towards the local module (tools/lib/nl)
 *   worker.c   the worker thread: MIGRATE, REPOPULATE, NODE_EVICT
 *   line.c     non-blocking line-based streams with bounded buffers
 *   auth.c     the MACs between the daemons (libsodium)
 *   members.c  membership: TCP between the daemons, heartbeats, eviction,
 *              requests run for another daemon
 *   ctl.c      the unix socket that tinydsmctl talks to
 *   migrate.c  the migration driver (coordinator side)
 *   run.c      jobs of tinydsmctl run: the ranks' processes, their output
 */
#ifndef TINYDSMD_H
#define TINYDSMD_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "config.h"
#include "tdd_ctl.h"
#include "tdd_spec.h"

/* From the file VERSION at the top (the Makefile's -DTINYDSM_VERSION). */
#ifndef TINYDSM_VERSION
#error "TINYDSM_VERSION is not defined: build with the top Makefile"
#endif
#define TDD_VERSION	TINYDSM_VERSION
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Protocol lines (daemon <-> daemon, tinydsmctl <-> daemon). */
#define TDD_LINE_MAX	512		/* longest line, newline included */
#define TDD_WBUF	16384		/* bytes queued to one peer or client */
#define TDD_PROTO	2		/* daemon protocol version (2: MACs) */

/*
 * A set of node ids (the holders of a migration) as the module's ABI 2
 * reports them: bit n - 1 for node n, nodes 1..TINYDSM_MAX_NODES - 1.
 */
static inline uint64_t tdd_nbit(uint32_t id)
{
	return id ? 1ULL << (id - 1) : 0;
}

/* ---- logging (tinydsmd.c) ---- */
enum tdd_level { TDD_ERR = 3, TDD_WARN = 4, TDD_NOTICE = 5, TDD_INFO = 6, TDD_DEBUG = 7 };
void tdd_log(enum tdd_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define log_err(...)	tdd_log(TDD_ERR, __VA_ARGS__)
#define log_warn(...)	tdd_log(TDD_WARN, __VA_ARGS__)
#define log_notice(...)	tdd_log(TDD_NOTICE, __VA_ARGS__)
#define log_info(...)	tdd_log(TDD_INFO, __VA_ARGS__)
#define log_dbg(...)	tdd_log(TDD_DEBUG, __VA_ARGS__)

uint64_t tdd_now_ms(void);		/* CLOCK_MONOTONIC */
const char *tdd_errno_name(int err);	/* "ENOENT" for ENOENT or -ENOENT */
int tdd_errno_by_name(const char *name);	/* 0 if unknown */

/* ---- line.c: a non-blocking stream of lines ---- */
struct tdd_line {
	int fd;				/* -1: closed */
	char rbuf[2 * TDD_LINE_MAX];
	size_t rlen;
	char wbuf[TDD_WBUF];
	size_t wlen;
	struct tdd_auth auth;		/* key NULL: no MACs (yet) */
};

void tdd_line_init(struct tdd_line *l, int fd);
void tdd_line_close(struct tdd_line *l);
/*
 * A line handler: 0 go on, 1 stop here and keep the rest in the buffer,
 * -1 garbage (*why says why).
 */
typedef int (*tdd_line_fn)(void *arg, char *line, const char **why);
/*
 * Read what is there and call @fn for every complete line (without the
 * newline). Returns 0 (or 1 if @fn said stop), or -1 with *why set: EOF,
 * an error, a line too long or not printable, or @fn's own reason.
 */
int tdd_line_read(struct tdd_line *l, tdd_line_fn fn, void *arg,
		  const char **why);
/* The same for the lines already buffered. */
int tdd_line_parse(struct tdd_line *l, tdd_line_fn fn, void *arg,
		   const char **why);
/* Queue one line (the newline is added). -1 if it does not fit. */
int tdd_line_printf(struct tdd_line *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Write what is queued; -1 on a write error. */
int tdd_line_flush(struct tdd_line *l);
short tdd_line_events(const struct tdd_line *l);


/* ---- genl.c ---- */
/* What a long genl call returned (the worker fills it in). */
struct tdd_op {
	int err;			/* 0 or a positive errno */
	char msg[256];			/* why, when err */
	/* err: no answer came (the other daemon went away): what it did is unknown */
	bool unanswered;
	/* MIGRATE; holders: a node set, tdd_nbit() */
	uint32_t moved, skipped, data;
	uint64_t holders;
	/* REPOPULATE */
	uint32_t fetched, mapped, sites;
	uint64_t nsec;
	/* NODE_EVICT */
	uint32_t dropped, lost;
};

struct nl_sock;

/* The loop's socket: opened first, the quick requests only. */
int tdd_genl_open(void);		/* 0, -ENOENT: no family, -EIO */
void tdd_genl_close(void);
/* This node's id, and its enum tinydsm_node_auth (-1: not reported). */
int tdd_genl_self_id(uint32_t *id, int *auth);
int tdd_genl_node_add(const struct tdd_node *n, char *msg, size_t size);
int tdd_genl_key_set(const uint8_t key[TINYDSM_KEY_LEN]);	/* logs why */
int tdd_genl_events_fd(void);		/* -1: no events */
void tdd_genl_events_read(void);
/*
 * The worker's socket and its long requests: called on the worker thread
 * only (after tdd_genl_open(), which resolved the family), each on the
 * socket it is given; they touch no daemon state but @op.
 */
struct nl_sock *tdd_genl_sock_open(void);
void tdd_genl_sock_close(struct nl_sock *s);
void tdd_genl_migrate(struct nl_sock *s, uint64_t addr, uint32_t npages,
		      uint32_t from, struct tdd_op *op);
void tdd_genl_repopulate(struct nl_sock *s, uint64_t addr, uint32_t npages,
			 uint32_t flags, struct tdd_op *op);
void tdd_genl_node_evict(struct nl_sock *s, uint32_t id, struct tdd_op *op);

/* ---- worker.c: the module's long genl calls, off the poll loop ---- */
enum tdd_job_kind {
	TDD_JOB_MIGRATE,		/* addr, npages, node = FROM */
	TDD_JOB_REPOPULATE,		/* addr, npages */
	TDD_JOB_EVICT,			/* node */
};

struct tdd_job;
typedef void (*tdd_job_fn)(struct tdd_job *job);

/*
 * One call for the worker thread. The thread rule: the loop fills a job in
 * and hands it to tdd_work_submit(), which copies it into the loop's FIFO.
 * While the job runs, the worker reads its call fields, writes its @op, and
 * touches nothing else of the daemon (no member, no migration, no
 * configuration, no buffer of the loop; it may log). When it is done, the
 * loop gets the job back through an eventfd and calls @done with it, on the
 * loop thread, where the synchronous result used to be handled. @done, @arg,
 * @id and @gen are the loop's alone: the worker never reads them.
 */
struct tdd_job {
	/* the call: set by the loop, read by the worker */
	enum tdd_job_kind kind;
	uint64_t addr;
	uint32_t npages;
	uint32_t node;
	uint32_t flags;			/* REPOPULATE: TINYDSM_REPOPULATE_F_* */
	/* the result: written by the worker, read by @done */
	struct tdd_op op;
	/* the loop's own */
	tdd_job_fn done;
	void *arg;
	uint32_t id, gen;
};

/*
 * Jobs queued, the running one included: requests of other daemons, an
 * eviction per member (up to 64) and a migration (members.c).
 */
#define TDD_WORK_MAX	128

int tdd_work_init(void);		/* after tdd_genl_open() */
void tdd_work_fini(void);
/* Queue @job (copied); -ENOBUFS if TDD_WORK_MAX jobs are queued. */
int tdd_work_submit(const struct tdd_job *job);
int tdd_work_queued(void);		/* jobs queued, the running one included */
void tdd_work_poll(void);		/* add the completion eventfd */

/* ---- members.c ---- */
enum tdd_member_state {
	TDD_M_UNKNOWN,			/* never heard since we started */
	TDD_M_ALIVE,
	TDD_M_DEAD,
};

struct tdd_member;
typedef void (*tdd_reply_fn)(struct tdd_member *m, struct tdd_op *op);

struct tdd_member {
	const struct tdd_node *node;
	struct tdd_line conn;
	bool connecting;		/* non-blocking connect() in progress */
	bool hello;			/* its hello arrived on conn (and proved the key) */
	bool auth_wait;			/* we connected: our auth sent, theirs awaited */
	bool outgoing;			/* we connected (lower id connects) */
	enum tdd_member_state state;
	bool evicted;			/* we told the module NODE_EVICT */
	uint64_t started;		/* when we started watching it */
	uint64_t last_heard;		/* 0: never */
	uint64_t last_sent;
	uint64_t next_connect;
	uint64_t connect_at;		/* when the connect() started */
	uint32_t backoff_ms;		/* between failed connects, doubling */
	uint32_t conn_gen;		/* +1 whenever conn is closed or replaced */
	bool evicting;			/* a NODE_EVICT job is queued or running */
	bool evict_again;		/* declared dead again meanwhile */
	uint64_t auth_fails;		/* connections refused: key not proved */
	uint64_t auth_logged;		/* when the last failure was logged */
	uint64_t auth_quiet;		/* failures not logged since */
	/* the one request we have outstanding there (migrate.c) */
	uint32_t req_id;
	uint64_t req_deadline;
	tdd_reply_fn req_fn;
};

/* Authenticate the daemons with @key (before tdd_members_init). */
int tdd_members_key(const uint8_t key[TINYDSM_KEY_LEN]);
bool tdd_members_keyed(void);
uint64_t tdd_members_auth_fails(void);
int tdd_members_init(void);
void tdd_members_fini(void);
void tdd_members_poll(int *timeout);	/* add fds, shorten the timeout */
void tdd_members_tick(void);		/* heartbeats, deaths, reconnects */
struct tdd_member *tdd_member_by_id(uint32_t id);
struct tdd_member *tdd_member_by_name(const char *name);
bool tdd_node_alive(uint32_t id);	/* self is always alive */
/* Send a request line "req id=N op=..."; @fn gets the reply or a failure. */
int tdd_member_request(struct tdd_member *m, tdd_reply_fn fn,
		       const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void tdd_member_cancel(struct tdd_member *m);
/* Connected, and its hello (and key) checked: lines may go. */
bool tdd_member_up(const struct tdd_member *m);
/* Bytes queued towards it, not yet sent. */
size_t tdd_member_queued(const struct tdd_member *m);
/* Queue one line to it: 0, -1 if it does not fit (or no connection). */
int tdd_member_send(struct tdd_member *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- ctl.c ---- */
struct tdd_client;
int tdd_ctl_init(const char *path);
void tdd_ctl_fini(void);
void tdd_ctl_poll(void);
int tdd_client_printf(struct tdd_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Send "error errno=NAME msg=..." and be done with the request. */
void tdd_client_error(struct tdd_client *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void tdd_client_done(struct tdd_client *c);
/* A request is being answered (until tdd_client_done/_error). */
void tdd_client_busy(struct tdd_client *c);
/* Bytes queued towards the client, not yet sent. */
size_t tdd_client_queued(const struct tdd_client *c);
void tdd_client_progress(struct tdd_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- migrate.c ---- */
void tdd_migrate_request(struct tdd_client *c, const struct tdd_kv *kv);
void tdd_migrate_client_gone(struct tdd_client *c);
void tdd_migrate_run(void);		/* a step due: run it */
int tdd_migrate_timeout(void);		/* ms until the next step, -1 none */
bool tdd_migrate_active(void);

/* ---- run.c: jobs of tinydsmctl run ---- */
struct ucred;
int tdd_run_init(void);
void tdd_run_fini(void);		/* ends this node's ranks */
void tdd_run_poll(int *timeout);	/* add fds, shorten the timeout */
void tdd_run_tick(void);
/* A run-begin, run-cwd/arg/env, run-go or cancel line of a control client. */
void tdd_run_client_line(struct tdd_client *c, const struct ucred *cred,
			 const struct tdd_kv *kv);
void tdd_run_client_gone(struct tdd_client *c);
void tdd_run_jobs(struct tdd_client *c);	/* the "jobs" request */
/* A "run-*" line on an authenticated member connection. */
void tdd_run_member_line(struct tdd_member *m, struct tdd_kv *kv);
/* Its connection closed (or it was declared dead): its jobs' part ends. */
void tdd_run_member_down(struct tdd_member *m);

/* ---- the poll loop (tinydsmd.c) ---- */
typedef void (*tdd_poll_fn)(void *arg, short revents);
/* Add an fd to this round's poll set. */
void tdd_poll_add(int fd, short events, tdd_poll_fn fn, void *arg);

/* The daemon's global state. */
struct tdd {
	struct tdd_config cfg;
	const struct tdd_node *self;
	bool verbose;
	bool stop;
};

extern struct tdd tdd;

#endif /* TINYDSMD_H */
