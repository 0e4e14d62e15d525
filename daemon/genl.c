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
 * libnl 3.7 does not read the kernel's extended ack: the socket asks for it
 * and the error callback reads NLMSGERR_ATTR_MSG itself, as tinydsmctl does.
 * Every attribute's length is checked before it is read; attributes this
 * daemon does not know are skipped, so a newer module works.
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

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/tinydsm.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <sodium.h>

#include "tinydsmd.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

static struct nl_sock *sk, *ev;
static int family = -1;

/* What came back for one request. */
struct reply {
	bool done;
	int error;			/* 0 or -errno */
	char msg[256];
	uint8_t cmd;			/* the reply command we parse */
	struct tdd_op *op;		/* MIGRATE, REPOPULATE, NODE_EVICT */
	uint32_t self_id;		/* NODE_GET dump */
	int self_auth;			/* its TINYDSM_A_NODE_AUTH, -1: none */
};

/* Payload length of each attribute we read; 0: not read. */
static const uint8_t attr_len[TINYDSM_A_MAX + 1] = {
	[TINYDSM_A_NODE_ID] = 4, [TINYDSM_A_NODE_FLAGS] = 4,
	[TINYDSM_A_ADDR] = 8, [TINYDSM_A_NPAGES] = 4,
	[TINYDSM_A_FROM] = 4, [TINYDSM_A_TO] = 4,
	[TINYDSM_A_PAGES_MOVED] = 4, [TINYDSM_A_PAGES_SKIPPED] = 4,
	[TINYDSM_A_PAGES_DATA] = 4, [TINYDSM_A_HOLDERS] = 4,
	[TINYDSM_A_NSEC] = 8, [TINYDSM_A_PAGES_FETCHED] = 4,
	[TINYDSM_A_PAGES_MAPPED] = 4, [TINYDSM_A_SITES] = 4,
	[TINYDSM_A_EVENT] = 4, [TINYDSM_A_ERRNO] = 4,
	[TINYDSM_A_RATE] = 4, [TINYDSM_A_PAGES_LOST] = 4,
	[TINYDSM_A_NODE_AUTH] = 1,
};

/* The attributes of a genl message of command @cmd; -1 if not one. */
static int parse_attrs(const struct nlmsghdr *nlh, uint8_t cmd,
		       const struct nlattr **tb)
{
	const struct genlmsghdr *gh;
	const struct nlattr *a;
	unsigned int type;
	int rem;

	memset(tb, 0, sizeof(*tb) * (TINYDSM_A_MAX + 1));
	if (nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
		return -1;
	gh = NLMSG_DATA(nlh);
	if (gh->cmd != cmd)
		return -1;
	nla_for_each_attr(a, (const struct nlattr *)((const char *)gh + GENL_HDRLEN),
			  (int)(nlh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN), rem) {
		type = nla_type(a);
		if (type > TINYDSM_A_MAX || !attr_len[type])
			continue;
		if (nla_len(a) != attr_len[type]) {
			log_warn("genl: ignoring attribute %u of %d bytes", type,
				 nla_len(a));
			continue;
		}
		tb[type] = a;
	}
	return 0;
}

static uint32_t get_u32(const struct nlattr **tb, int type)
{
	return tb[type] ? nla_get_u32((struct nlattr *)tb[type]) : 0;
}

static uint64_t get_u64(const struct nlattr **tb, int type)
{
	return tb[type] ? nla_get_u64((struct nlattr *)tb[type]) : 0;
}

static void parse_extack(const struct nlmsghdr *nlh, size_t off,
			 struct reply *r)
{
	size_t payload = nlh->nlmsg_len - NLMSG_HDRLEN;
	const struct nlattr *a;
	int rem, len;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	off = NLMSG_ALIGN(off);
	if (off >= payload)
		return;
	nla_for_each_attr(a, (const struct nlattr *)((const char *)NLMSG_DATA(nlh) + off),
			  (int)(payload - off), rem) {
		len = nla_len(a);
		if (nla_type(a) == NLMSGERR_ATTR_MSG && len > 0)
			snprintf(r->msg, sizeof(r->msg), "%.*s",
				 (int)strnlen(nla_data(a), len),
				 (const char *)nla_data(a));
	}
}

static int err_cb(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)e - 1;
	struct reply *r = arg;
	size_t off = sizeof(*e);

	(void)who;
	r->done = true;
	r->error = e->error;
	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*e))
		return NL_STOP;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (e->msg.nlmsg_len < NLMSG_HDRLEN)
			return NL_STOP;
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	}
	parse_extack(nlh, off, r);
	return NL_STOP;
}

static int ack_cb(struct nl_msg *msg, void *arg)
{
	struct reply *r = arg;

	(void)msg;
	r->done = true;
	return NL_STOP;
}

static int finish_cb(struct nl_msg *msg, void *arg)
{
	const struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct reply *r = arg;
	int e;

	r->done = true;
	if (nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof(e)) {
		memcpy(&e, NLMSG_DATA(nlh), sizeof(e));
		if (e < 0) {
			r->error = e;
			parse_extack(nlh, sizeof(e), r);
		}
	}
	return NL_STOP;
}

static int valid_cb(struct nl_msg *msg, void *arg)
{
	const struct nlattr *tb[TINYDSM_A_MAX + 1];
	struct reply *r = arg;
	struct tdd_op *op = r->op;

	if (parse_attrs(nlmsg_hdr(msg), r->cmd, tb))
		return NL_OK;
	switch (r->cmd) {
	case TINYDSM_CMD_NODE_GET:
		if (get_u32(tb, TINYDSM_A_NODE_FLAGS) & TINYDSM_NODE_F_SELF) {
			r->self_id = get_u32(tb, TINYDSM_A_NODE_ID);
			if (tb[TINYDSM_A_NODE_AUTH])
				r->self_auth = nla_get_u8((struct nlattr *)tb[TINYDSM_A_NODE_AUTH]);
		}
		break;
	case TINYDSM_CMD_MIGRATE:
		op->moved = get_u32(tb, TINYDSM_A_PAGES_MOVED);
		op->skipped = get_u32(tb, TINYDSM_A_PAGES_SKIPPED);
		op->data = get_u32(tb, TINYDSM_A_PAGES_DATA);
		op->holders = get_u32(tb, TINYDSM_A_HOLDERS);
		op->nsec = get_u64(tb, TINYDSM_A_NSEC);
		break;
	case TINYDSM_CMD_REPOPULATE:
		op->fetched = get_u32(tb, TINYDSM_A_PAGES_FETCHED);
		op->mapped = get_u32(tb, TINYDSM_A_PAGES_MAPPED);
		op->sites = get_u32(tb, TINYDSM_A_SITES);
		op->nsec = get_u64(tb, TINYDSM_A_NSEC);
		break;
	case TINYDSM_CMD_NODE_EVICT:
		op->dropped = get_u32(tb, TINYDSM_A_NPAGES);
		op->lost = get_u32(tb, TINYDSM_A_PAGES_LOST);
		break;
	}
	return NL_OK;
}

static struct nl_msg *new_msg(uint8_t cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg)
		return NULL;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, flags,
			 cmd, TINYDSM_GENL_VERSION)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/*
 * Send @msg (consumed, NULL: out of memory) on @s and wait for its ack,
 * error or NLMSG_DONE. Returns 0 or -errno; r->msg says why when it can.
 */
static int xfer(struct nl_sock *s, struct nl_msg *msg, struct reply *r)
{
	struct nl_cb *cb;
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
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_err(cb, NL_CB_CUSTOM, err_cb, r);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, ack_cb, r);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, finish_cb, r);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, valid_cb, r);
	e = nl_send_auto(s, msg);
	nlmsg_free(msg);
	while (e >= 0 && !r->done)
		e = nl_recvmsgs(s, cb);
	nl_cb_put(cb);
	if (!r->done) {
		snprintf(r->msg, sizeof(r->msg), "netlink: %s", nl_geterror(e));
		return -EIO;
	}
	return r->error;
}

static struct nl_sock *open_sock(void)
{
	struct nl_sock *s = nl_socket_alloc();
	int one = 1;

	if (!s)
		return NULL;
	if (genl_connect(s) < 0) {
		nl_socket_free(s);
		return NULL;
	}
	setsockopt(nl_socket_get_fd(s), SOL_NETLINK, NETLINK_EXT_ACK,
		   &one, sizeof(one));
	setsockopt(nl_socket_get_fd(s), SOL_NETLINK, NETLINK_CAP_ACK,
		   &one, sizeof(one));
	return s;
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
	family = genl_ctrl_resolve(sk, TINYDSM_GENL_NAME);
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

	grp = genl_ctrl_resolve_grp(sk, TINYDSM_GENL_NAME, TINYDSM_GENL_MCGRP_EVENTS);
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
	struct reply r = { .cmd = TINYDSM_CMD_NODE_GET, .self_auth = -1 };
	int e;

	e = xfer(sk, new_msg(TINYDSM_CMD_NODE_GET, NLM_F_DUMP), &r);
	if (e) {
		log_err("cannot list the module's nodes: %s%s%s",
			tdd_errno_name(e), r.msg[0] ? ": " : "", r.msg);
		return e;
	}
	if (!r.self_id) {
		log_err("the module did not say which node it is (no NODE_GET entry with the self flag)");
		return -EPROTO;
	}
	*id = r.self_id;
	*auth = r.self_auth;
	return 0;
}

int tdd_genl_node_add(const struct tdd_node *n, char *msg, size_t size)
{
	struct reply r = { .cmd = TINYDSM_CMD_NODE_ADD };
	struct sockaddr_storage ss = n->addr;
	struct nl_msg *m;
	int e;

	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons(n->rdma_port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(n->rdma_port);
	m = new_msg(TINYDSM_CMD_NODE_ADD, 0);
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
	struct reply r = { .cmd = TINYDSM_CMD_KEY_SET };
	struct nl_msg *m;
	int e;

	m = new_msg(TINYDSM_CMD_KEY_SET, 0);
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

static void op_done(struct tdd_op *op, int e, const struct reply *r)
{
	char buf[128];

	op->err = -e;
	if (e && r->msg[0])
		snprintf(op->msg, sizeof(op->msg), "%s", r->msg);
	else if (e == -EOPNOTSUPP)
		snprintf(op->msg, sizeof(op->msg), "the module does not support this command");
	else if (e)
		snprintf(op->msg, sizeof(op->msg), "%s", strerror_r(-e, buf, sizeof(buf)));
}

void tdd_genl_node_evict(struct nl_sock *s, uint32_t id, struct tdd_op *op)
{
	struct reply r = { .cmd = TINYDSM_CMD_NODE_EVICT, .op = op };
	struct nl_msg *m;

	memset(op, 0, sizeof(*op));
	m = new_msg(TINYDSM_CMD_NODE_EVICT, 0);
	if (m && nla_put_u32(m, TINYDSM_A_NODE_ID, id)) {
		nlmsg_free(m);
		m = NULL;
	}
	op_done(op, xfer(s, m, &r), &r);
}

void tdd_genl_migrate(struct nl_sock *s, uint64_t addr, uint32_t npages,
		      uint32_t from, struct tdd_op *op)
{
	struct reply r = { .cmd = TINYDSM_CMD_MIGRATE, .op = op };
	struct nl_msg *m;

	memset(op, 0, sizeof(*op));
	m = new_msg(TINYDSM_CMD_MIGRATE, 0);
	if (m && (nla_put_u64(m, TINYDSM_A_ADDR, addr) ||
		  nla_put_u32(m, TINYDSM_A_NPAGES, npages) ||
		  nla_put_u32(m, TINYDSM_A_FROM, from))) {
		nlmsg_free(m);
		m = NULL;
	}
	op_done(op, xfer(s, m, &r), &r);
}

void tdd_genl_repopulate(struct nl_sock *s, uint64_t addr, uint32_t npages,
			 uint32_t flags, struct tdd_op *op)
{
	struct reply r = { .cmd = TINYDSM_CMD_REPOPULATE, .op = op };
	struct nl_msg *m;

	memset(op, 0, sizeof(*op));
	m = new_msg(TINYDSM_CMD_REPOPULATE, 0);
	if (m && (nla_put_u64(m, TINYDSM_A_ADDR, addr) ||
		  nla_put_u32(m, TINYDSM_A_NPAGES, npages) ||
		  (flags && nla_put_u32(m, TINYDSM_A_FLAGS, flags)))) {
		nlmsg_free(m);
		m = NULL;
	}
	op_done(op, xfer(s, m, &r), &r);
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

/* "node2", or "node#5" for an id the configuration does not have. */
static const char *node_name(uint32_t id, char *buf, size_t size)
{
	const struct tdd_node *n = tdd_config_by_id(&tdd.cfg, id);

	if (n)
		return n->name;
	snprintf(buf, size, "node#%u", id);
	return buf;
}

static int event_cb(struct nl_msg *msg, void *arg)
{
	const struct nlattr *tb[TINYDSM_A_MAX + 1];
	char a[24], b[24];
	uint32_t id, event;
	int32_t e;

	(void)arg;
	if (parse_attrs(nlmsg_hdr(msg), TINYDSM_CMD_EVENT, tb) ||
	    !tb[TINYDSM_A_EVENT])
		return NL_OK;
	event = get_u32(tb, TINYDSM_A_EVENT);
	id = get_u32(tb, TINYDSM_A_NODE_ID);
	e = (int32_t)get_u32(tb, TINYDSM_A_ERRNO);
	switch (event) {
	case TINYDSM_EV_NODE_UP:
		log_info("event: module connected to %s", node_name(id, a, sizeof(a)));
		break;
	case TINYDSM_EV_NODE_DOWN:
		log_info("event: module lost %s: %s", node_name(id, a, sizeof(a)),
			 e ? tdd_errno_name(e) : "no error");
		break;
	case TINYDSM_EV_MIGRATED:
		log_info("event: migrated %u pages 0x%" PRIx64 " from %s to %s",
			 get_u32(tb, TINYDSM_A_NPAGES), get_u64(tb, TINYDSM_A_ADDR),
			 node_name(get_u32(tb, TINYDSM_A_FROM), a, sizeof(a)),
			 node_name(get_u32(tb, TINYDSM_A_TO), b, sizeof(b)));
		break;
	case TINYDSM_EV_OWNER:
		log_dbg("event: page 0x%" PRIx64 " now owned by %s",
			get_u64(tb, TINYDSM_A_ADDR), node_name(id, a, sizeof(a)));
		break;
	case TINYDSM_EV_FAULT_STORM:
		log_warn("event: fault storm: %u faults/s, last at 0x%" PRIx64,
			 get_u32(tb, TINYDSM_A_RATE), get_u64(tb, TINYDSM_A_ADDR));
		break;
	case TINYDSM_EV_FAULT_ERROR:
		log_warn("event: fault at 0x%" PRIx64 " failed (SIGBUS): %s, home %s",
			 get_u64(tb, TINYDSM_A_ADDR), tdd_errno_name(e),
			 node_name(id, a, sizeof(a)));
		break;
	case TINYDSM_EV_EVICTED:
		log_info("event: %s evicted: %u copies dropped, %u pages it owns unreachable",
			 node_name(id, a, sizeof(a)), get_u32(tb, TINYDSM_A_NPAGES),
			 get_u32(tb, TINYDSM_A_PAGES_LOST));
		break;
	default:
		log_dbg("event: unknown event %u", event);
		break;
	}
	return NL_OK;
}
