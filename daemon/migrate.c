// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmd: the migration driver. The daemon that gets a "migrate" request
 * from tinydsmctl coordinates it; one migration at a time.
 *
 *   1. Check the request: names known, from != to, the range inside the
 *      region and page-aligned (default: the from node's home slice), both
 *      nodes alive.
 *   2. Move: chunk by chunk (migrate-chunk-pages), the TARGET's module runs
 *      TINYDSM_CMD_MIGRATE {ADDR, NPAGES, FROM}: here through genl on the
 *      worker thread (worker.c) when the target is this node, else through
 *      the target's daemon ("req op=migrate"); asynchronously either way,
 *      so the poll loop keeps going.
 *      A chunk that fails with EHOSTUNREACH/ETIMEDOUT/ENOTCONN while from
 *      and to are alive is retried (some third node may not answer: once
 *      membership declares it dead it is evicted everywhere) until
 *      2 x dead-after-ms + 5 s without progress; if from or to is dead the
 *      migration stops, and running it again resumes (moved pages are no
 *      longer homed on FROM, the kernel skips them).
 *   3. Eager and lookup only: every node of the union of the chunks'
 *      HOLDERS but the target runs TINYDSM_CMD_REPOPULATE over the range,
 *      chunk by chunk (lookup: with TINYDSM_REPOPULATE_F_LOOKUP).
 *   4. The summary goes back to tinydsmctl and to the log.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tinydsmd.h"

#define TDD_RETRY_EXTRA_MS	5000

enum phase { PH_MOVE, PH_REPOP };

/*
 * What the holders do once the pages moved: nothing (lazy: their accesses
 * fault and fetch), REPOPULATE (eager: pages fetched back, sites direct),
 * or REPOPULATE with TINYDSM_REPOPULATE_F_LOOKUP (lookup: pages left at the
 * new home, their access sites put in lookup form).
 */
enum mig_strategy { MIG_LAZY, MIG_EAGER, MIG_LOOKUP };
static const char *const strategy_names[] = { "lazy", "eager", "lookup" };

static int strategy_by_name(const char *name)
{
	int i;

	for (i = 0; i < (int)(sizeof(strategy_names) / sizeof(strategy_names[0])); i++)
		if (!strcmp(name, strategy_names[i]))
			return i;
	return -1;
}

static struct {
	bool active;
	struct tdd_client *client;	/* NULL once it went away */
	bool cancelled;
	const struct tdd_node *from, *to;
	int strategy;			/* enum mig_strategy */
	uint64_t addr;
	uint32_t npages, page_size;
	enum phase phase;
	uint32_t cursor;		/* pages done in this phase (and holder) */
	uint32_t chunk;			/* pages of the chunk in flight */
	bool waiting;			/* a remote request is in flight */
	uint64_t due;			/* when the next step runs */
	uint64_t retry_deadline;	/* 0: no failure pending */
	uint64_t holders;		/* union of the chunks' HOLDERS64 */
	uint64_t repop_left;		/* holders still to repopulate */
	uint32_t repop_node;		/* the one being repopulated, 0: none */
	uint64_t repop_failed;
	uint64_t moved, skipped, data, fetched, mapped, sites;
	uint32_t chunk_moved;		/* moved by failed attempts at the chunk */
	bool lost;			/* the last attempt went unanswered */
	uint64_t t0, t_repop;		/* start; end of the move (0: lazy) */
} mg;

bool tdd_migrate_active(void)
{
	return mg.active;
}

int tdd_migrate_timeout(void)
{
	uint64_t now = tdd_now_ms();

	if (!mg.active || mg.waiting)
		return -1;
	return mg.due > now ? (int)(mg.due - now) : 0;
}

/* "node1,node3" for a node set (tdd_nbit()); "" if empty. */
static void names_of(uint64_t bits, char *buf, size_t size)
{
	char tmp[24];
	size_t len = 0;
	uint32_t id;

	buf[0] = '\0';
	for (id = 1; id < TINYDSM_MAX_NODES && len < size; id++)
		if (bits & tdd_nbit(id))
			len += snprintf(buf + len, size - len, "%s%s", len ? "," : "",
					tdd_node_name(&tdd.cfg, id, tmp, sizeof(tmp)));
}

static void finish(void)
{
	if (mg.client)
		tdd_client_done(mg.client);
	memset(&mg, 0, sizeof(mg));
}

static void fail(int e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(int e, const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_warn("migration %s -> %s: %s: %s", mg.from->name, mg.to->name,
		 tdd_errno_name(e), buf);
	if (mg.client)
		tdd_client_error(mg.client, e, "%s", buf);
	finish();
}

static void succeed(void)
{
	uint64_t now = tdd_now_ms(), bytes = mg.data * mg.page_size;
	uint64_t ms = now - mg.t0, move_ms, repop_ms;
	char holders[256], failed[256];
	double secs;

	/* The rate is the move's own: repopulation is a separate figure. */
	move_ms = (mg.t_repop ? mg.t_repop : now) - mg.t0;
	repop_ms = mg.t_repop ? now - mg.t_repop : 0;
	secs = (move_ms ? move_ms : 1) / 1000.0;
	names_of(mg.holders, holders, sizeof(holders));
	names_of(mg.repop_failed, failed, sizeof(failed));
	log_notice("migration %s -> %s (%s) done: %" PRIu64 " pages moved (%" PRIu64 " skipped), %" PRIu64 " bytes in %" PRIu64 " ms (move %" PRIu64 " ms, repopulation %" PRIu64 " ms), holders %s, %" PRIu64 " repopulated, %" PRIu64 " mapped, %" PRIu64 " sites%s%s",
		   mg.from->name, mg.to->name, strategy_names[mg.strategy],
		   mg.moved, mg.skipped, bytes, ms, move_ms, repop_ms,
		   holders[0] ? holders : "none", mg.fetched, mg.mapped, mg.sites,
		   failed[0] ? "; not repopulated on " : "", failed);
	if (mg.client)
		tdd_client_printf(mg.client,
				  "ok moved=%" PRIu64 " skipped=%" PRIu64 " bytes=%" PRIu64 " ms=%" PRIu64 " move_ms=%" PRIu64 " repop_ms=%" PRIu64 " pages_per_s=%.0f mb_per_s=%.2f holders=%s strategy=%s repopulated=%" PRIu64 " mapped=%" PRIu64 " sites=%" PRIu64 " repop_failed=%s",
				  mg.moved, mg.skipped, bytes, ms, move_ms, repop_ms,
				  mg.moved / secs, bytes / 1e6 / secs, holders,
				  strategy_names[mg.strategy], mg.fetched, mg.mapped,
				  mg.sites, failed);
	finish();
}

static bool retryable(int e)
{
	return e == EHOSTUNREACH || e == ETIMEDOUT || e == ENOTCONN;
}

/*
 * A chunk failed with a network error. Retry while from and to are alive
 * and the deadline has not passed; true if a retry is scheduled.
 */
static bool retry(const struct tdd_op *op)
{
	uint64_t now = tdd_now_ms();

	if (!mg.retry_deadline)
		mg.retry_deadline = now + 2 * tdd.cfg.dead_after_ms + TDD_RETRY_EXTRA_MS;
	if (now >= mg.retry_deadline)
		return false;
	log_info("migration %s -> %s: chunk at page %u failed (%s: %s): retrying while membership settles",
		 mg.from->name, mg.to->name, mg.cursor, tdd_errno_name(op->err),
		 op->msg);
	mg.due = now + 2 * tdd.cfg.heartbeat_ms;
	return true;
}

static uint32_t repop_flags(void)
{
	return mg.strategy == MIG_LOOKUP ? TINYDSM_REPOPULATE_F_LOOKUP : 0;
}

/*
 * Say what moved: the pages the module said it moved, chunks that failed
 * part-way included. A chunk whose answer never came (its daemon went
 * away) may have moved pages too; nobody can say how many.
 */
static void stopped(int e, const char *why)
{
	char lost[96] = "";

	if (mg.lost)
		snprintf(lost, sizeof(lost), " (what the chunk of %u pages in flight on %s did is unknown)",
			 mg.chunk, mg.to->name);
	fail(e, "migration stopped: %" PRIu64 " of %u pages moved%s: %s; run the same command again to resume",
	     mg.moved, mg.npages, lost, why);
}

static void end_move(void)
{
	if (mg.moved == 0 && mg.skipped == mg.npages) {
		fail(ENOENT, "no pages homed on %s in that range", mg.from->name);
		return;
	}
	if (mg.strategy == MIG_LAZY) {
		succeed();
		return;
	}
	mg.phase = PH_REPOP;
	mg.t_repop = tdd_now_ms();
	mg.repop_left = mg.holders & ~tdd_nbit(mg.to->id);
	mg.repop_node = 0;
	mg.cursor = 0;
	mg.due = tdd_now_ms();
}

static void move_result(const struct tdd_op *op)
{
	char why[300];

	mg.waiting = false;
	/*
	 * What the chunk moved counts, whether it ended well or not: a MIGRATE
	 * that stops after some batches still answers with what they moved.
	 * A retry of the chunk finds those pages homed elsewhere, and the
	 * module counts them skipped: here they are moved, once. (An attempt
	 * that went unanswered moved what it moved unseen: a retry counts
	 * those pages skipped.)
	 */
	mg.moved += op->moved;
	mg.data += op->data;
	mg.holders |= op->holders;
	mg.lost = op->unanswered;
	if (!op->err) {
		mg.skipped += op->skipped - (op->skipped < mg.chunk_moved ?
					     op->skipped : mg.chunk_moved);
		mg.chunk_moved = 0;
		mg.cursor += mg.chunk;
		mg.retry_deadline = 0;
		tdd_client_progress(mg.client, "progress phase=move done=%u total=%u moved=%" PRIu64 " skipped=%" PRIu64,
				    mg.cursor, mg.npages, mg.moved, mg.skipped);
		mg.due = tdd_now_ms();
		return;
	}
	mg.chunk_moved += op->moved;
	if (!retryable(op->err)) {
		snprintf(why, sizeof(why), "%s: %s", tdd_errno_name(op->err), op->msg);
		if (mg.cursor || mg.moved || mg.lost)
			stopped(op->err, why);
		else
			fail(op->err, "%s", op->msg);
		return;
	}
	if (!tdd_node_alive(mg.from->id) || !tdd_node_alive(mg.to->id)) {
		snprintf(why, sizeof(why), "%s is not answering",
			 tdd_node_alive(mg.to->id) ? mg.from->name : mg.to->name);
		stopped(EHOSTUNREACH, why);
		return;
	}
	if (!retry(op))
		stopped(op->err, op->msg);
}

static void repop_result(const struct tdd_op *op)
{
	char tmp[24];

	mg.waiting = false;
	if (!op->err) {
		mg.fetched += op->fetched;
		mg.mapped += op->mapped;
		mg.sites += op->sites;
		mg.cursor += mg.chunk;
		mg.retry_deadline = 0;
		tdd_client_progress(mg.client, "progress phase=repopulate node=%s done=%u total=%u",
				    tdd_node_name(&tdd.cfg, mg.repop_node, tmp, sizeof(tmp)),
				    mg.cursor, mg.npages);
		mg.due = tdd_now_ms();
		return;
	}
	if (retryable(op->err) && tdd_node_alive(mg.repop_node) && retry(op))
		return;
	/* The pages are still right there: they fault back in lazily. */
	log_warn("migration %s -> %s: repopulating %s failed: %s: %s",
		 mg.from->name, mg.to->name, tdd_node_name(&tdd.cfg, mg.repop_node, tmp, sizeof(tmp)),
		 tdd_errno_name(op->err), op->msg);
	mg.repop_failed |= tdd_nbit(mg.repop_node);
	mg.repop_node = 0;
	mg.retry_deadline = 0;
	mg.due = tdd_now_ms();
}

static void move_reply(struct tdd_member *m, struct tdd_op *op)
{
	(void)m;
	move_result(op);
}

static void repop_reply(struct tdd_member *m, struct tdd_op *op)
{
	(void)m;
	repop_result(op);
}

/* Our worker ran the chunk: on the loop thread. */
static void chunk_done(struct tdd_job *job)
{
	if (!mg.active || !mg.waiting)
		return;
	if (job->kind == TDD_JOB_MIGRATE)
		move_result(&job->op);
	else
		repop_result(&job->op);
}

/* Run @op for this chunk on node @id: here, or through its daemon. */
static void run_chunk(uint32_t id, bool move)
{
	uint64_t a = mg.addr + (uint64_t)mg.cursor * mg.page_size;
	struct tdd_member *m;
	struct tdd_op op;
	int e;

	mg.chunk = mg.npages - mg.cursor;
	if (mg.chunk > tdd.cfg.chunk_pages)
		mg.chunk = tdd.cfg.chunk_pages;
	if (id == tdd.self->id) {
		struct tdd_job job = {
			.kind = move ? TDD_JOB_MIGRATE : TDD_JOB_REPOPULATE,
			.addr = a, .npages = mg.chunk, .node = mg.from->id,
			.flags = repop_flags(), .done = chunk_done,
		};

		e = tdd_work_submit(&job);
		if (!e) {
			mg.waiting = true;
			return;
		}
		memset(&op, 0, sizeof(op));
		op.err = -e;
		snprintf(op.msg, sizeof(op.msg), "%d jobs already wait for the module",
			 tdd_work_queued());
		if (move)
			move_result(&op);
		else
			repop_result(&op);
		return;
	}
	m = tdd_member_by_id(id);
	if (move)
		e = tdd_member_request(m, move_reply,
				       "op=migrate addr=%#" PRIx64 " npages=%u from=%u",
				       a, mg.chunk, mg.from->id);
	else
		e = tdd_member_request(m, repop_reply,
				       "op=repopulate addr=%#" PRIx64 " npages=%u flags=%u",
				       a, mg.chunk, repop_flags());
	if (!e) {
		mg.waiting = true;
		return;
	}
	memset(&op, 0, sizeof(op));
	op.err = e == -ENOTCONN ? ENOTCONN : -e;
	snprintf(op.msg, sizeof(op.msg), "no connection to %s's daemon", m->node->name);
	if (move)
		move_result(&op);
	else
		repop_result(&op);
}

void tdd_migrate_run(void)
{
	if (!mg.active || mg.waiting || tdd_now_ms() < mg.due)
		return;
	if (mg.cancelled) {
		log_warn("migration %s -> %s cancelled: %" PRIu64 " of %u pages moved: the client went away",
			 mg.from->name, mg.to->name, mg.moved, mg.npages);
		finish();
		return;
	}
	if (mg.phase == PH_MOVE) {
		if (mg.cursor < mg.npages)
			run_chunk(mg.to->id, true);
		else
			end_move();
		return;
	}
	if (!mg.repop_node || mg.cursor >= mg.npages) {
		if (mg.repop_node)
			mg.repop_left &= ~tdd_nbit(mg.repop_node);
		mg.repop_node = 0;
		mg.cursor = 0;
		while (mg.repop_left && !mg.repop_node) {
			uint32_t id = __builtin_ctzll(mg.repop_left) + 1;
			char tmp[24];

			if (tdd_config_by_id(&tdd.cfg, id)) {
				mg.repop_node = id;
			} else {
				log_warn("migration: holder %s is not in %s: not repopulated",
					 tdd_node_name(&tdd.cfg, id, tmp, sizeof(tmp)), tdd.cfg.file);
				mg.repop_failed |= tdd_nbit(id);
				mg.repop_left &= ~tdd_nbit(id);
			}
		}
		if (!mg.repop_node) {
			succeed();
			return;
		}
	}
	run_chunk(mg.repop_node, false);
}

void tdd_migrate_client_gone(struct tdd_client *c)
{
	if (mg.active && mg.client == c) {
		mg.client = NULL;
		mg.cancelled = true;
	}
}

static int region_info(struct tinydsm_region_info *ri, char *why, size_t size)
{
	int fd = open("/dev/" TINYDSM_DEVICE_NAME, O_RDONLY | O_CLOEXEC);

	/* Opened only for the ioctl: an open device keeps rmmod from working. */
	if (fd < 0) {
		snprintf(why, size, "/dev/%s: %s", TINYDSM_DEVICE_NAME, strerror(errno));
		return -errno;
	}
	memset(ri, 0, sizeof(*ri));
	if (ioctl(fd, TINYDSM_IOC_REGION_INFO, ri) < 0) {
		snprintf(why, size, "REGION_INFO: %s", strerror(errno));
		close(fd);
		return -errno;
	}
	close(fd);
	return 0;
}

void tdd_migrate_request(struct tdd_client *c, const struct tdd_kv *kv)
{
	const char *from = tdd_kv_get(kv, "from"), *to = tdd_kv_get(kv, "to");
	const char *strategy = tdd_kv_get(kv, "strategy");
	const struct tdd_node *f, *t;
	struct tinydsm_region_info ri;
	uint64_t addr, end, npages;
	char why[200];
	int e, st;

	if (mg.active) {
		tdd_client_error(c, EBUSY, "a migration (%s to %s) is already running",
				 mg.from->name, mg.to->name);
		return;
	}
	if (!from || !to) {
		tdd_client_error(c, EINVAL, "migrate needs from= and to=");
		return;
	}
	f = tdd_config_by_name(&tdd.cfg, from);
	t = tdd_config_by_name(&tdd.cfg, to);
	if (!f || !t) {
		tdd_client_error(c, ENOENT, "unknown node '%.32s'", f ? to : from);
		return;
	}
	if (f == t) {
		tdd_client_error(c, EINVAL, "cannot migrate %s to itself", f->name);
		return;
	}
	st = strategy ? strategy_by_name(strategy) : MIG_LAZY;
	if (st < 0) {
		tdd_client_error(c, EINVAL, "unknown strategy '%.32s' (lazy, eager, lookup)",
				 strategy);
		return;
	}
	e = region_info(&ri, why, sizeof(why));
	if (e) {
		tdd_client_error(c, e == -ENOENT ? ENODEV : -e,
				 "cannot read the region: %s", why);
		return;
	}
	if (!ri.page_size)
		ri.page_size = 4096;
	if (tdd_kv_get(kv, "addr") || tdd_kv_get(kv, "npages")) {
		if (tdd_kv_u64(kv, "addr", &addr) || tdd_kv_u64(kv, "npages", &npages)) {
			tdd_client_error(c, EINVAL, "a range needs addr= and npages=, both numbers");
			return;
		}
	} else {
		/* A module that does not report home_nodes has max_nodes. */
		uint32_t homes = ri.home_nodes ? ri.home_nodes : ri.max_nodes;

		if (f->id > homes) {
			tdd_client_error(c, EINVAL, "%s has no home slice (the module has home_nodes %u): give a range",
					 f->name, homes);
			return;
		}
		addr = ri.base + (uint64_t)(f->id - 1) * ri.slice_pages * ri.page_size;
		npages = ri.slice_pages;
	}
	end = ri.base + ri.size;
	if (addr % ri.page_size) {
		tdd_client_error(c, EINVAL, "address %#" PRIx64 " is not page aligned", addr);
		return;
	}
	if (npages == 0) {
		tdd_client_error(c, EINVAL, "the range is empty");
		return;
	}
	if (npages > UINT32_MAX) {
		/* A 16 TiB slice (one home) is 2^32 pages. */
		tdd_client_error(c, ERANGE, "%" PRIu64 " pages: a migration moves at most %u, give a range",
				 npages, UINT32_MAX);
		return;
	}
	if (addr < ri.base || addr >= end || npages > (end - addr) / ri.page_size) {
		tdd_client_error(c, ERANGE, "range %#" PRIx64 " +%" PRIu64 " pages is outside the region %#" PRIx64 "-%#" PRIx64,
				 addr, npages, (uint64_t)ri.base, end);
		return;
	}
	if (!tdd_node_alive(f->id) || !tdd_node_alive(t->id)) {
		tdd_client_error(c, EHOSTUNREACH, "%s is not answering",
				 tdd_node_alive(f->id) ? t->name : f->name);
		return;
	}

	memset(&mg, 0, sizeof(mg));
	mg.active = true;
	mg.client = c;
	mg.from = f;
	mg.to = t;
	mg.strategy = st;
	mg.addr = addr;
	mg.npages = npages;
	mg.page_size = ri.page_size;
	mg.phase = PH_MOVE;
	mg.t0 = mg.due = tdd_now_ms();
	log_notice("migration %s -> %s (%s) of %#" PRIx64 " +%" PRIu64 " pages started",
		   f->name, t->name, strategy_names[mg.strategy], addr, npages);
	tdd_client_progress(c, "progress phase=move done=0 total=%u moved=0 skipped=0",
			    mg.npages);
}
