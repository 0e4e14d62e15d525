// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmd: generic netlink towards the local module, with libnl-genl-3.
 *
 * Three sockets. The loop's, for the quick requests (NODE_GET at start,
 * NODE_ADD), blocking: a request waits for its reply and ack. The worker
 * thread's (worker.c), for the long ones: MIGRATE and REPOPULATE take one
 * chunk's time, which can be seconds when a node does not answer, and
 * NODE_EVICT scans the region. And one subscribed to the multicast group
 * "events", non-blocking, read from the poll loop.
 *
 * Threads: the family id is resolved before the worker starts and never
 * changes while it runs; everything below works on the socket it is given
 * and on the caller's stack, so tdd_genl_migrate(), tdd_genl_repopulate()
 * and tdd_genl_node_evict() run on the worker thread without touching the
 * loop's state (they use nl_geterror() and strerror_r(), both thread-safe,
 * and may log).
 *
 * The family's client is tools/lib/nl (tdsm_nl.h): the sockets, the
 * requests with the kernel's extended ack, and the attributes checked
 * against its one table of lengths (attributes this daemon does not know
 * are skipped, so a newer module works).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/tinydsm.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/socket.h>
#include <sodium.h>

#include "tdsm_nl.h"
#include "tinydsmd.h"

static struct nl_sock *sk, *ev;
static int family = -1;

/* NODE_GET dump: which entry is this node. */
struct self {
	uint32_t id;
	int auth;			/* its TINYDSM_A_NODE_AUTH, -1: none */
};

static void bad_attr(unsigned int type, int len, void *arg)
{
	(void)arg;
	log_warn("genl: ignoring attribute %u of %d bytes", type, len);
}

static int self_row(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *tb[TINYDSM_A_MAX + 1];
	struct self *me = arg;

	if (tnl_parse(nlh, TINYDSM_CMD_NODE_GET, tb, bad_attr, NULL))
		return 0;
	if (tnl_u32(tb, TINYDSM_A_NODE_FLAGS) & TINYDSM_NODE_F_SELF) {
		me->id = tnl_u32(tb, TINYDSM_A_NODE_ID);
		if (tb[TINYDSM_A_NODE_AUTH])
			me->auth = tnl_u8(tb, TINYDSM_A_NODE_AUTH);
	}
	return 0;
}

/*
 * Send @msg (consumed, NULL: out of memory) on @s and wait for its ack,
 * error or NLMSG_DONE. Returns 0 or -errno; r->msg says why when it can.
 */
static int xfer(struct nl_sock *s, struct nl_msg *msg, struct tnl_reply *r)
{
	int e;

	if (!msg) {
		snprintf(r->msg, sizeof(r->msg), "out of memory");
		return -ENOMEM;
	}
	if (!s) {
		nlmsg_free(msg);
		snprintf(r->msg, sizeof(r->msg), "the tinydsm module is not loaded");
		return -ENODEV;
	}
	e = tnl_xfer(s, msg, r);
	if (e == -NLE_NOMEM && !r->done)
		return -ENOMEM;
	if (!r->done) {
		snprintf(r->msg, sizeof(r->msg), "netlink: %s", nl_geterror(e));
		return -EIO;
	}
	return r->error;
}

static struct nl_sock *open_sock(void)
{
	struct nl_sock *s = NULL;

	return tnl_sock_open(&s) ? NULL : s;
}

static int event_cb(struct nl_msg *msg, void *arg);

int tdd_genl_open(void)
{
	int grp, e;

	sk = open_sock();
	if (!sk) {
		log_err("cannot open a generic netlink socket");
		return -EIO;
	}
	family = tnl_family(sk);
	if (family < 0) {
		if (family == -NLE_OBJ_NOTFOUND)
			log_err("tinydsm module not loaded (no generic netlink family \"%s\"): modprobe tinydsm",
				TINYDSM_GENL_NAME);
		else
			log_err("cannot look up the generic netlink family \"%s\": %s",
				TINYDSM_GENL_NAME, nl_geterror(family));
		e = family == -NLE_OBJ_NOTFOUND ? -ENOENT : -EIO;
		tdd_genl_close();
		return e;
	}

	grp = tnl_mcgrp(sk, TINYDSM_GENL_MCGRP_EVENTS);
	if (grp < 0) {
		log_warn("the module has no \"%s\" multicast group (%s): its events are not logged",
			 TINYDSM_GENL_MCGRP_EVENTS, nl_geterror(grp));
		return 0;
	}
	ev = open_sock();
	if (!ev) {
		log_warn("cannot open the events socket: its events are not logged");
		return 0;
	}
	nl_socket_disable_seq_check(ev);
	nl_socket_modify_cb(ev, NL_CB_VALID, NL_CB_CUSTOM, event_cb, NULL);
	e = nl_socket_add_membership(ev, grp);
	if (e < 0 || nl_socket_set_nonblocking(ev) < 0) {
		log_warn("cannot join the \"%s\" group: %s: events are not logged",
			 TINYDSM_GENL_MCGRP_EVENTS, nl_geterror(e));
		nl_socket_free(ev);
		ev = NULL;
	}
	return 0;
}

void tdd_genl_close(void)
{
	if (ev)
		nl_socket_free(ev);
	if (sk)
		nl_socket_free(sk);
	ev = sk = NULL;
	family = -1;
}

int tdd_genl_self_id(uint32_t *id, int *auth)
{
	struct self me = { .auth = -1 };
	struct tnl_reply r = { .row = self_row, .arg = &me };
	int e;

	e = xfer(sk, tnl_msg(family, TINYDSM_CMD_NODE_GET, NLM_F_DUMP), &r);
	if (e) {
		log_err("cannot list the module's nodes: %s%s%s",
			tdd_errno_name(e), r.msg[0] ? ": " : "", r.msg);
		return e;
	}
	if (!me.id) {
		log_err("the module did not say which node it is (no NODE_GET entry with the self flag)");
		return -EPROTO;
	}
	*id = me.id;
	*auth = me.auth;
	return 0;
}

int tdd_genl_node_add(const struct tdd_node *n, char *msg, size_t size)
{
	struct tnl_reply r = { 0 };
	struct sockaddr_storage ss = n->addr;
	struct nl_msg *m;
	int e;

	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons(n->rdma_port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(n->rdma_port);
	m = tnl_msg(family, TINYDSM_CMD_NODE_ADD, 0);
	if (m && (nla_put_u32(m, TINYDSM_A_NODE_ID, n->id) ||
		  nla_put(m, TINYDSM_A_NODE_ADDR, n->addrlen, &ss))) {
		nlmsg_free(m);
		m = NULL;
	}
	e = xfer(sk, m, &r);
	snprintf(msg, size, "%s", r.msg);
	return e;
}

/*
 * Give the module the cluster key (KEY_SET). Our request's copy of the key
 * is wiped once it is sent.
 */
int tdd_genl_key_set(const uint8_t key[TINYDSM_KEY_LEN])
{
	struct tnl_reply r = { 0 };
	struct nl_msg *m;
	int e;

	m = tnl_msg(family, TINYDSM_CMD_KEY_SET, 0);
	if (m && nla_put(m, TINYDSM_A_KEY, TINYDSM_KEY_LEN, key)) {
		nlmsg_free(m);
		m = NULL;
	}
	if (m)
		nlmsg_get(m);	/* ours, to wipe after xfer() freed its own */
	e = xfer(sk, m, &r);
	if (m) {
		sodium_memzero(nlmsg_hdr(m), nlmsg_hdr(m)->nlmsg_len);
		nlmsg_free(m);
	}
	if (!e)
		return 0;
	if (e == -EOPNOTSUPP || (e == -EINVAL && !r.msg[0]))
		log_err("the tinydsm module refused KEY_SET (%s%s%s): it predates the cluster key; load a tinydsm module that has it",
			tdd_errno_name(e), r.msg[0] ? ": " : "", r.msg);
	else if (e == -EPERM)
		log_err("KEY_SET: EPERM: giving the module its key needs CAP_NET_ADMIN (run tinydsmd as root)");
	else
		log_err("KEY_SET: the module refused the cluster key: %s%s%s",
			tdd_errno_name(e), r.msg[0] ? ": " : "", r.msg);
	return e;
}

/* ---- the worker's socket and its long requests ---- */

struct nl_sock *tdd_genl_sock_open(void)
{
	return family < 0 ? NULL : open_sock();
}

void tdd_genl_sock_close(struct nl_sock *s)
{
	if (s)
		nl_socket_free(s);
}

/* Send @m (consumed) on @s; its counters and how it went into @op. */
static void op_call(struct nl_sock *s, struct nl_msg *m, struct tdd_op *op)
{
	struct tnl_answer c = { 0 };
	struct tnl_reply r = { .row = tnl_answer_row, .arg = &c };
	char buf[128];
	int e;

	memset(op, 0, sizeof(*op));
	e = xfer(s, m, &r);
	op->moved = c.moved;
	op->skipped = c.skipped;
	op->data = c.data;
	op->holders = c.holders;
	op->fetched = c.fetched;
	op->mapped = c.mapped;
	op->sites = c.sites;
	op->nsec = c.nsec;
	op->dropped = c.dropped;
	op->lost = c.lost;
	op->err = -e;
	if (e && r.msg[0])
		snprintf(op->msg, sizeof(op->msg), "%s", r.msg);
	else if (e == -EOPNOTSUPP)
		snprintf(op->msg, sizeof(op->msg), "the module does not support this command");
	else if (e)
		snprintf(op->msg, sizeof(op->msg), "%s", strerror_r(-e, buf, sizeof(buf)));
}

void tdd_genl_node_evict(struct nl_sock *s, uint32_t id, struct tdd_op *op)
{
	struct nl_msg *m = tnl_msg(family, TINYDSM_CMD_NODE_EVICT, 0);

	if (m && nla_put_u32(m, TINYDSM_A_NODE_ID, id)) {
		nlmsg_free(m);
		m = NULL;
	}
	op_call(s, m, op);
}

void tdd_genl_migrate(struct nl_sock *s, uint64_t addr, uint32_t npages,
		      uint32_t from, struct tdd_op *op)
{
	op_call(s, tnl_range_msg(family, TINYDSM_CMD_MIGRATE, addr, npages,
				 from, -1), op);
}

void tdd_genl_repopulate(struct nl_sock *s, uint64_t addr, uint32_t npages,
			 uint32_t flags, struct tdd_op *op)
{
	op_call(s, tnl_range_msg(family, TINYDSM_CMD_REPOPULATE, addr, npages,
				 -1, flags ? (int64_t)flags : -1), op);
}

/* ---- events ---- */

int tdd_genl_events_fd(void)
{
	return ev ? nl_socket_get_fd(ev) : -1;
}

void tdd_genl_events_read(void)
{
	int e = nl_recvmsgs_default(ev);

	/* Overrun (ENOBUFS): some events were lost; say so and go on. */
	if (e < 0 && e != -NLE_AGAIN)
		log_warn("event: reading the events: %s", nl_geterror(e));
}

static int event_cb(struct nl_msg *msg, void *arg)
{
	const struct nlattr *tb[TINYDSM_A_MAX + 1];
	char a[24], b[24];
	uint32_t id, event;
	int32_t e;

	(void)arg;
	if (tnl_parse(nlmsg_hdr(msg), TINYDSM_CMD_EVENT, tb, bad_attr, NULL) ||
	    !tb[TINYDSM_A_EVENT])
		return NL_OK;
	event = tnl_u32(tb, TINYDSM_A_EVENT);
	id = tnl_u32(tb, TINYDSM_A_NODE_ID);
	e = (int32_t)tnl_u32(tb, TINYDSM_A_ERRNO);
	switch (event) {
	case TINYDSM_EV_NODE_UP:
		log_info("event: module connected to %s", tdd_node_name(&tdd.cfg, id, a, sizeof(a)));
		break;
	case TINYDSM_EV_NODE_DOWN:
		log_info("event: module lost %s: %s", tdd_node_name(&tdd.cfg, id, a, sizeof(a)),
			 e ? tdd_errno_name(e) : "no error");
		break;
	case TINYDSM_EV_MIGRATED:
		log_info("event: migrated %u pages 0x%" PRIx64 " from %s to %s",
			 tnl_u32(tb, TINYDSM_A_NPAGES), tnl_u64(tb, TINYDSM_A_ADDR),
			 tdd_node_name(&tdd.cfg, tnl_u32(tb, TINYDSM_A_FROM), a, sizeof(a)),
			 tdd_node_name(&tdd.cfg, tnl_u32(tb, TINYDSM_A_TO), b, sizeof(b)));
		break;
	case TINYDSM_EV_OWNER:
		log_dbg("event: page 0x%" PRIx64 " now owned by %s",
			tnl_u64(tb, TINYDSM_A_ADDR), tdd_node_name(&tdd.cfg, id, a, sizeof(a)));
		break;
	case TINYDSM_EV_FAULT_STORM:
		log_warn("event: fault storm: %u faults/s, last at 0x%" PRIx64,
			 tnl_u32(tb, TINYDSM_A_RATE), tnl_u64(tb, TINYDSM_A_ADDR));
		break;
	case TINYDSM_EV_FAULT_ERROR:
		log_warn("event: fault at 0x%" PRIx64 " failed (SIGBUS): %s, home %s",
			 tnl_u64(tb, TINYDSM_A_ADDR), tdd_errno_name(e),
			 tdd_node_name(&tdd.cfg, id, a, sizeof(a)));
		break;
	case TINYDSM_EV_EVICTED:
		log_info("event: %s evicted: %u copies dropped, %u pages it owns unreachable",
			 tdd_node_name(&tdd.cfg, id, a, sizeof(a)), tnl_u32(tb, TINYDSM_A_NPAGES),
			 tnl_u32(tb, TINYDSM_A_PAGES_LOST));
		break;
	case TINYDSM_EV_BUDGET:
		log_warn("event: home budget: %u pages at 0x%" PRIx64 " refused (flags %#x): %s",
			 tnl_u32(tb, TINYDSM_A_NPAGES), tnl_u64(tb, TINYDSM_A_ADDR),
			 tnl_u32(tb, TINYDSM_A_FLAGS), tdd_errno_name(e));
		break;
	default:
		log_dbg("event: unknown event %u", event);
		break;
	}
	return NL_OK;
}
