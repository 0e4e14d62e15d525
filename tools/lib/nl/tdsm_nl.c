// SPDX-License-Identifier: GPL-2.0
/*
 * tdsm_nl: the generic netlink client of the tinydsm family (tdsm_nl.h).
 *
 * libnl 3.7 does not read the kernel's extended ack, so the socket asks for
 * it (NETLINK_EXT_ACK, NETLINK_CAP_ACK) and the error callback reads
 * NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_MISS_TYPE and NLMSGERR_ATTR_OFFS itself,
 * checking every attribute's length before reading it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "tdsm_nl.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define TNL_ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * What the module sends, as kmod/netlink.c puts it: fixed sizes, and an
 * address that is at least its family and at most a sockaddr_storage.
 * TINYDSM_A_PAD only pads; TINYDSM_A_KEY, TINYDSM_A_CACHE_BUDGET and
 * TINYDSM_A_HOME_BUDGET are never sent back.
 */
const struct tnl_attr_len tnl_policy[TINYDSM_A_MAX + 1] = {
	[TINYDSM_A_NODE_ID]		= { 4, 4 },
	[TINYDSM_A_NODE_ADDR]		= { sizeof(sa_family_t),
					    sizeof(struct sockaddr_storage) },
	[TINYDSM_A_NODE_STATE]		= { 1, 1 },
	[TINYDSM_A_NODE_FLAGS]		= { 4, 4 },
	[TINYDSM_A_NODE_ERROR]		= { 4, 4 },
	[TINYDSM_A_NODE_TX_MSGS]	= { 8, 8 },
	[TINYDSM_A_NODE_RX_MSGS]	= { 8, 8 },
	[TINYDSM_A_NODE_RX_BAD]		= { 8, 8 },
	[TINYDSM_A_ADDR]		= { 8, 8 },
	[TINYDSM_A_NPAGES]		= { 4, 4 },
	[TINYDSM_A_FROM]		= { 4, 4 },
	[TINYDSM_A_TO]			= { 4, 4 },
	[TINYDSM_A_PAGES_MOVED]		= { 4, 4 },
	[TINYDSM_A_PAGES_SKIPPED]	= { 4, 4 },
	[TINYDSM_A_PAGES_DATA]		= { 4, 4 },
	[TINYDSM_A_HOLDERS]		= { 4, 4 },
	[TINYDSM_A_NSEC]		= { 8, 8 },
	[TINYDSM_A_PAGES_FETCHED]	= { 4, 4 },
	[TINYDSM_A_PAGES_MAPPED]	= { 4, 4 },
	[TINYDSM_A_SITES]		= { 4, 4 },
	[TINYDSM_A_EVENT]		= { 4, 4 },
	[TINYDSM_A_ERRNO]		= { 4, 4 },
	[TINYDSM_A_RATE]		= { 4, 4 },
	[TINYDSM_A_PAGES_LOST]		= { 4, 4 },
	[TINYDSM_A_FLAGS]		= { 4, 4 },
	[TINYDSM_A_NODE_AUTH]		= { 1, 1 },
	[TINYDSM_A_NODE_AUTH_FAILS]	= { 8, 8 },
	[TINYDSM_A_NODE_RX_UNMATCHED]	= { 8, 8 },
	[TINYDSM_A_NODE_SETUP_US]	= { 8, 8 },
	[TINYDSM_A_NODE_AUTH_US]	= { 8, 8 },
	[TINYDSM_A_HOLDERS64]		= { 8, 8 },
};

static const char *const tnl_attr_names[] = {
	[TINYDSM_A_NODE_ID] = "NODE_ID",
	[TINYDSM_A_NODE_ADDR] = "NODE_ADDR",
	[TINYDSM_A_NODE_STATE] = "NODE_STATE",
	[TINYDSM_A_NODE_FLAGS] = "NODE_FLAGS",
	[TINYDSM_A_NODE_ERROR] = "NODE_ERROR",
	[TINYDSM_A_NODE_TX_MSGS] = "NODE_TX_MSGS",
	[TINYDSM_A_NODE_RX_MSGS] = "NODE_RX_MSGS",
	[TINYDSM_A_NODE_RX_BAD] = "NODE_RX_BAD",
	[TINYDSM_A_PAD] = "PAD",
	[TINYDSM_A_ADDR] = "ADDR",
	[TINYDSM_A_NPAGES] = "NPAGES",
	[TINYDSM_A_FROM] = "FROM",
	[TINYDSM_A_TO] = "TO",
	[TINYDSM_A_PAGES_MOVED] = "PAGES_MOVED",
	[TINYDSM_A_PAGES_SKIPPED] = "PAGES_SKIPPED",
	[TINYDSM_A_PAGES_DATA] = "PAGES_DATA",
	[TINYDSM_A_HOLDERS] = "HOLDERS",
	[TINYDSM_A_NSEC] = "NSEC",
	[TINYDSM_A_PAGES_FETCHED] = "PAGES_FETCHED",
	[TINYDSM_A_PAGES_MAPPED] = "PAGES_MAPPED",
	[TINYDSM_A_SITES] = "SITES",
	[TINYDSM_A_EVENT] = "EVENT",
	[TINYDSM_A_ERRNO] = "ERRNO",
	[TINYDSM_A_RATE] = "RATE",
	[TINYDSM_A_PAGES_LOST] = "PAGES_LOST",
	[TINYDSM_A_FLAGS] = "FLAGS",
	[TINYDSM_A_KEY] = "KEY",
	[TINYDSM_A_NODE_AUTH] = "NODE_AUTH",
	[TINYDSM_A_NODE_AUTH_FAILS] = "NODE_AUTH_FAILS",
	[TINYDSM_A_NODE_RX_UNMATCHED] = "NODE_RX_UNMATCHED",
	[TINYDSM_A_NODE_SETUP_US] = "NODE_SETUP_US",
	[TINYDSM_A_NODE_AUTH_US] = "NODE_AUTH_US",
	[TINYDSM_A_HOLDERS64] = "HOLDERS64",
	[TINYDSM_A_CACHE_BUDGET] = "CACHE_BUDGET",
	[TINYDSM_A_HOME_BUDGET] = "HOME_BUDGET",
};

const char *tnl_attr_name(unsigned int type)
{
	static char buf[32];

	if (type < TNL_ARRAY_SIZE(tnl_attr_names) && tnl_attr_names[type])
		return tnl_attr_names[type];
	snprintf(buf, sizeof(buf), "attribute %u", type);
	return buf;
}

int tnl_sock_open(struct nl_sock **skp)
{
	struct nl_sock *sk = nl_socket_alloc();
	int one = 1, err;

	if (!sk)
		return -NLE_NOMEM;
	err = genl_connect(sk);
	if (err < 0) {
		nl_socket_free(sk);
		return err;
	}
	/* Best effort: without them errors just come without the message. */
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK,
		   &one, sizeof(one));
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_CAP_ACK,
		   &one, sizeof(one));
	*skp = sk;
	return 0;
}

int tnl_family(struct nl_sock *sk)
{
	return genl_ctrl_resolve(sk, TINYDSM_GENL_NAME);
}

int tnl_mcgrp(struct nl_sock *sk, const char *grp)
{
	return genl_ctrl_resolve_grp(sk, TINYDSM_GENL_NAME, grp);
}

struct nl_msg *tnl_msg(int family, uint8_t cmd, int flags)
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

struct nl_msg *tnl_range_msg(int family, uint8_t cmd, uint64_t addr,
			     int64_t npages, int64_t from, int64_t flags)
{
	struct nl_msg *msg = tnl_msg(family, cmd, 0);

	if (msg && (nla_put_u64(msg, TINYDSM_A_ADDR, addr) ||
		    (npages >= 0 && nla_put_u32(msg, TINYDSM_A_NPAGES, (uint32_t)npages)) ||
		    (from >= 0 && nla_put_u32(msg, TINYDSM_A_FROM, (uint32_t)from)) ||
		    (flags >= 0 && nla_put_u32(msg, TINYDSM_A_FLAGS, (uint32_t)flags)))) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/* The extended ack attributes that follow the error code at @off. */
static void tnl_parse_extack(const struct nlmsghdr *nlh, size_t off,
			     struct tnl_reply *r)
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
		switch (nla_type(a)) {
		case NLMSGERR_ATTR_MSG:
			/* A string: use up to its NUL, within its length. */
			if (len > 0)
				snprintf(r->msg, sizeof(r->msg), "%.*s",
					 (int)strnlen(nla_data(a), len),
					 (const char *)nla_data(a));
			break;
		case NLMSGERR_ATTR_MISS_TYPE:
			if (len == sizeof(uint32_t))
				r->miss_type = (int)nla_get_u32(a);
			break;
		case NLMSGERR_ATTR_OFFS:
			r->has_offs = len == sizeof(uint32_t);
			break;
		default:
			break;	/* policies: not read */
		}
	}
}

static int tnl_err_cb(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	/* libnl hands us NLMSG_DATA() of the message: its header is before. */
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)e - 1;
	struct tnl_reply *r = arg;
	size_t off = sizeof(*e);

	(void)who;
	r->done = true;
	r->error = e->error;
	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*e))
		return NL_STOP;
	/* Without NLM_F_CAPPED the whole request is echoed before the TLVs. */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (e->msg.nlmsg_len < NLMSG_HDRLEN)
			return NL_STOP;
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	}
	tnl_parse_extack(nlh, off, r);
	return NL_STOP;
}

static int tnl_ack_cb(struct nl_msg *msg, void *arg)
{
	struct tnl_reply *r = arg;

	(void)msg;
	r->done = true;
	return NL_STOP;
}

/* NLMSG_DONE: a dump that failed part-way carries its error here. */
static int tnl_finish_cb(struct nl_msg *msg, void *arg)
{
	const struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct tnl_reply *r = arg;
	int err;

	r->done = true;
	if (nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof(err)) {
		memcpy(&err, NLMSG_DATA(nlh), sizeof(err));
		if (err < 0) {
			r->error = err;
			tnl_parse_extack(nlh, sizeof(err), r);
		}
	}
	return NL_STOP;
}

static int tnl_intr_cb(struct nl_msg *msg, void *arg)
{
	struct tnl_reply *r = arg;

	(void)msg;
	r->intr = true;
	return NL_OK;
}

static int tnl_valid_cb(struct nl_msg *msg, void *arg)
{
	struct tnl_reply *r = arg;
	int err;

	if (!r->row || r->row_err)
		return NL_OK;
	err = r->row(nlmsg_hdr(msg), r->arg);
	if (err < 0) {
		r->row_err = err;
		return NL_STOP;
	}
	return NL_OK;
}

int tnl_xfer(struct nl_sock *sk, struct nl_msg *msg, struct tnl_reply *r)
{
	struct nl_cb *cb;
	int err;

	*r = (struct tnl_reply){ .miss_type = -1, .row = r->row, .arg = r->arg };
	if (!msg)
		return -NLE_NOMEM;
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		nlmsg_free(msg);
		return -NLE_NOMEM;
	}
	nl_cb_err(cb, NL_CB_CUSTOM, tnl_err_cb, r);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, tnl_ack_cb, r);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, tnl_finish_cb, r);
	nl_cb_set(cb, NL_CB_DUMP_INTR, NL_CB_CUSTOM, tnl_intr_cb, r);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, tnl_valid_cb, r);

	err = nl_send_auto(sk, msg);
	nlmsg_free(msg);
	while (err >= 0 && !r->done && !r->row_err)
		err = nl_recvmsgs(sk, cb);
	nl_cb_put(cb);
	/* The callbacks stop the loop with an error code libnl made up. */
	return r->done || r->row_err ? 0 : err;
}

int tnl_parse(const struct nlmsghdr *nlh, uint8_t cmd,
	      const struct nlattr **tb,
	      void (*bad)(unsigned int type, int len, void *arg), void *arg)
{
	const struct genlmsghdr *gh;
	const struct nlattr *a;
	unsigned int type;
	int rem, len;

	memset(tb, 0, sizeof(*tb) * (TINYDSM_A_MAX + 1));
	if (nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
		return -EINVAL;
	gh = NLMSG_DATA(nlh);
	if (gh->cmd != cmd)
		return -EINVAL;
	nla_for_each_attr(a, (const struct nlattr *)((const char *)gh + GENL_HDRLEN),
			  (int)(nlh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN), rem) {
		type = nla_type(a);
		len = nla_len(a);
		if (type > TINYDSM_A_MAX || !tnl_policy[type].max)
			continue;
		if (len < tnl_policy[type].min || len > tnl_policy[type].max) {
			if (bad)
				bad(type, len, arg);
			continue;
		}
		tb[type] = a;
	}
	return 0;
}

uint8_t tnl_u8(const struct nlattr **tb, int type)
{
	return tb[type] ? nla_get_u8((struct nlattr *)tb[type]) : 0;
}

uint32_t tnl_u32(const struct nlattr **tb, int type)
{
	return tb[type] ? nla_get_u32((struct nlattr *)tb[type]) : 0;
}

uint64_t tnl_u64(const struct nlattr **tb, int type)
{
	return tb[type] ? nla_get_u64((struct nlattr *)tb[type]) : 0;
}

int tnl_answer_row(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *tb[TINYDSM_A_MAX + 1];
	const struct genlmsghdr *gh = NLMSG_DATA(nlh);
	struct tnl_answer *c = arg;

	if (nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN ||
	    tnl_parse(nlh, gh->cmd, tb, NULL, NULL))
		return 0;
	switch (gh->cmd) {
	case TINYDSM_CMD_MIGRATE:
		c->moved = tnl_u32(tb, TINYDSM_A_PAGES_MOVED);
		c->skipped = tnl_u32(tb, TINYDSM_A_PAGES_SKIPPED);
		c->data = tnl_u32(tb, TINYDSM_A_PAGES_DATA);
		c->holders = tnl_u64(tb, TINYDSM_A_HOLDERS64);
		c->holders32 = tnl_u32(tb, TINYDSM_A_HOLDERS);
		c->nsec = tnl_u64(tb, TINYDSM_A_NSEC);
		break;
	case TINYDSM_CMD_REPOPULATE:
		c->fetched = tnl_u32(tb, TINYDSM_A_PAGES_FETCHED);
		c->mapped = tnl_u32(tb, TINYDSM_A_PAGES_MAPPED);
		c->sites = tnl_u32(tb, TINYDSM_A_SITES);
		c->nsec = tnl_u64(tb, TINYDSM_A_NSEC);
		break;
	case TINYDSM_CMD_NODE_EVICT:
		c->dropped = tnl_u32(tb, TINYDSM_A_NPAGES);
		c->lost = tnl_u32(tb, TINYDSM_A_PAGES_LOST);
		break;
	default:
		return 0;
	}
	c->replied = true;
	return 0;
}

int tnl_answer_call(struct nl_sock *sk, struct nl_msg *msg, struct tnl_answer *a)
{
	struct tnl_reply r = { .row = tnl_answer_row, .arg = a };
	int err;

	memset(a, 0, sizeof(*a));
	err = tnl_xfer(sk, msg, &r);
	a->error = r.error;
	snprintf(a->msg, sizeof(a->msg), "%.*s", (int)sizeof(a->msg) - 1, r.msg);
	return err;
}
