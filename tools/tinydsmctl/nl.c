// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl: generic netlink with libnl-genl-3 — the socket, the family,
 * one request and its acknowledgment, one dump.
 *
 * libnl 3.7 does not read the kernel's extended ack, so the socket asks for
 * it (NETLINK_EXT_ACK, NETLINK_CAP_ACK) and the error callback reads
 * NLMSGERR_ATTR_MSG and NLMSGERR_ATTR_MISS_TYPE itself, validating every
 * attribute's length before reading it.
 */
#define _GNU_SOURCE
#include <errno.h>
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

#include "tinydsmctl.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* A dump that keeps changing under us is retried this many times. */
#define TDC_DUMP_TRIES	5

/* What came back for one request. */
struct tdc_reply {
	bool done;		/* the ack, the error or NLMSG_DONE arrived */
	int error;		/* 0 or -errno, from the kernel */
	bool intr;		/* a dump part had NLM_F_DUMP_INTR */
	char msg[256];		/* the kernel's extack message, or "" */
	int miss_type;		/* extack: missing attribute type, or -1 */
	int (*row)(const struct nlmsghdr *nlh, void *arg);
	void *arg;
	int row_err;		/* a row callback failed (-errno) */
};

static const char *const tdc_attr_names[] = {
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
};

const char *tdc_attr_name(unsigned int type)
{
	static char buf[32];

	if (type < ARRAY_SIZE(tdc_attr_names) &&
	    tdc_attr_names[type])
		return tdc_attr_names[type];
	snprintf(buf, sizeof(buf), "attribute %u", type);
	return buf;
}

/* The extended ack attributes that follow the error code at @off. */
static void tdc_parse_extack(const struct nlmsghdr *nlh, size_t off,
			     struct tdc_reply *r)
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
		default:
			break;	/* offsets, policies: not shown */
		}
	}
}

static int tdc_err_cb(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	/* libnl hands us NLMSG_DATA() of the message: its header is before. */
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)e - 1;
	struct tdc_reply *r = arg;
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
	tdc_parse_extack(nlh, off, r);
	return NL_STOP;
}

static int tdc_ack_cb(struct nl_msg *msg, void *arg)
{
	struct tdc_reply *r = arg;

	(void)msg;
	r->done = true;
	return NL_STOP;
}

/* NLMSG_DONE: a dump that failed part-way carries its error here. */
static int tdc_finish_cb(struct nl_msg *msg, void *arg)
{
	const struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct tdc_reply *r = arg;
	int err;

	r->done = true;
	if (nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof(err)) {
		memcpy(&err, NLMSG_DATA(nlh), sizeof(err));
		if (err < 0) {
			r->error = err;
			tdc_parse_extack(nlh, sizeof(err), r);
		}
	}
	return NL_STOP;
}

static int tdc_intr_cb(struct nl_msg *msg, void *arg)
{
	struct tdc_reply *r = arg;

	(void)msg;
	r->intr = true;
	return NL_OK;
}

static int tdc_valid_cb(struct nl_msg *msg, void *arg)
{
	struct tdc_reply *r = arg;
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

int tdc_nl_open(struct tdc *t)
{
	int one = 1, err;

	if (t->sk)
		return TDC_EXIT_OK;
	t->sk = nl_socket_alloc();
	if (!t->sk) {
		tdc_err(t, "cannot allocate a netlink socket");
		return TDC_EXIT_FAIL;
	}
	err = genl_connect(t->sk);
	if (err < 0) {
		tdc_err(t, "cannot open a generic netlink socket: %s",
			nl_geterror(err));
		goto err_free;
	}
	/* Best effort: without them errors just come without the message. */
	setsockopt(nl_socket_get_fd(t->sk), SOL_NETLINK, NETLINK_EXT_ACK,
		   &one, sizeof(one));
	setsockopt(nl_socket_get_fd(t->sk), SOL_NETLINK, NETLINK_CAP_ACK,
		   &one, sizeof(one));

	t->family = genl_ctrl_resolve(t->sk, TINYDSM_GENL_NAME);
	if (t->family == -NLE_OBJ_NOTFOUND) {
		tdc_err(t, "the tinydsm module is not loaded (no generic netlink family \"%s\" in this network namespace)",
			TINYDSM_GENL_NAME);
		nl_socket_free(t->sk);
		t->sk = NULL;
		return TDC_EXIT_NOFAMILY;
	}
	if (t->family < 0) {
		tdc_err(t, "cannot look up the generic netlink family \"%s\": %s",
			TINYDSM_GENL_NAME, nl_geterror(t->family));
		goto err_free;
	}
	return TDC_EXIT_OK;

err_free:
	nl_socket_free(t->sk);
	t->sk = NULL;
	return TDC_EXIT_FAIL;
}

void tdc_nl_close(struct tdc *t)
{
	if (t->sk) {
		nl_socket_free(t->sk);
		t->sk = NULL;
	}
}

struct nl_msg *tdc_nl_msg(struct tdc *t, uint8_t cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg)
		return NULL;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, t->family, 0, flags,
			 cmd, TINYDSM_GENL_VERSION)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/* Send @msg (consumed) and read until its ack, error or NLMSG_DONE. */
static int tdc_nl_xfer(struct tdc *t, struct nl_msg *msg, struct tdc_reply *r)
{
	struct nl_cb *cb;
	int err;

	r->miss_type = -1;
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		nlmsg_free(msg);
		return -NLE_NOMEM;
	}
	nl_cb_err(cb, NL_CB_CUSTOM, tdc_err_cb, r);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, tdc_ack_cb, r);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, tdc_finish_cb, r);
	nl_cb_set(cb, NL_CB_DUMP_INTR, NL_CB_CUSTOM, tdc_intr_cb, r);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, tdc_valid_cb, r);

	err = nl_send_auto(t->sk, msg);
	nlmsg_free(msg);
	while (err >= 0 && !r->done && !r->row_err)
		err = nl_recvmsgs(t->sk, cb);
	nl_cb_put(cb);
	/* The callbacks stop the loop with an error code libnl made up. */
	return r->done || r->row_err ? 0 : err;
}

/* Say why @what failed, the kernel's own words included. */
static void tdc_report(struct tdc *t, const char *what,
		       const struct tdc_reply *r)
{
	char miss[64] = "";

	if (r->miss_type >= 0)
		snprintf(miss, sizeof(miss), " (missing %s)",
			 tdc_attr_name(r->miss_type));
	tdc_err(t, "%s: %s (%s)%s%s%s", what, strerror(-r->error),
		tdc_errno_name(r->error), r->msg[0] ? ": " : "", r->msg, miss);
}

int tdc_nl_call(struct tdc *t, struct nl_msg *msg, const char *what,
		int (*row)(const struct nlmsghdr *nlh, void *arg), void *arg)
{
	struct tdc_reply r = { .row = row, .arg = arg };
	int err;

	err = tdc_nl_xfer(t, msg, &r);
	t->nl_error = r.error;
	if (err < 0) {
		tdc_err(t, "%s: netlink: %s", what, nl_geterror(err));
		return TDC_EXIT_FAIL;
	}
	if (r.row_err) {
		tdc_err(t, "%s: %s", what, strerror(-r.row_err));
		return TDC_EXIT_FAIL;
	}
	if (r.error) {
		tdc_report(t, what, &r);
		return TDC_EXIT_FAIL;
	}
	return TDC_EXIT_OK;
}

int tdc_nl_do(struct tdc *t, struct nl_msg *msg, const char *what)
{
	return tdc_nl_call(t, msg, what, NULL, NULL);
}

/*
 * Dump @cmd, calling @row for every message. If the dump was interrupted
 * by a change (NLM_F_DUMP_INTR), @restart forgets the rows and it runs
 * again, a few times at most.
 */
int tdc_nl_dump(struct tdc *t, uint8_t cmd, const char *what,
		int (*row)(const struct nlmsghdr *nlh, void *arg),
		void (*restart)(void *arg), void *arg)
{
	struct tdc_reply r;
	struct nl_msg *msg;
	int tries, err;

	for (tries = 0; tries < TDC_DUMP_TRIES; tries++) {
		memset(&r, 0, sizeof(r));
		r.row = row;
		r.arg = arg;
		restart(arg);
		msg = tdc_nl_msg(t, cmd, NLM_F_DUMP);
		if (!msg) {
			tdc_err(t, "%s: out of memory", what);
			return TDC_EXIT_FAIL;
		}
		err = tdc_nl_xfer(t, msg, &r);
		if (err < 0) {
			tdc_err(t, "%s: netlink: %s", what, nl_geterror(err));
			return TDC_EXIT_FAIL;
		}
		if (r.row_err) {
			tdc_err(t, "%s: %s", what, strerror(-r.row_err));
			return TDC_EXIT_FAIL;
		}
		if (r.error) {
			tdc_report(t, what, &r);
			return TDC_EXIT_FAIL;
		}
		if (!r.intr)
			return TDC_EXIT_OK;
	}
	tdc_err(t, "%s: the nodes kept changing during the dump (%d tries)",
		what, TDC_DUMP_TRIES);
	return TDC_EXIT_FAIL;
}

/*
 * The attributes of one genetlink message of command @cmd, into tb[0 ..
 * maxtype]. An attribute is kept only if spec[] knows its type and its
 * length is within the bounds there; unknown types are skipped (a newer
 * module may send more), a known type with a bad length is skipped with a
 * warning. -EINVAL if the message is not a @cmd message at all.
 */
int tdc_genl_attrs(struct tdc *t, const struct nlmsghdr *nlh, uint8_t cmd,
		   const struct nlattr **tb, unsigned int maxtype,
		   const struct tdc_attr_spec *spec)
{
	const struct genlmsghdr *gh;
	const struct nlattr *a;
	unsigned int type;
	int rem, len;

	memset(tb, 0, sizeof(*tb) * (maxtype + 1));
	if (nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
		return -EINVAL;
	gh = NLMSG_DATA(nlh);
	if (gh->cmd != cmd)
		return -EINVAL;
	nla_for_each_attr(a, (const struct nlattr *)((const char *)gh + GENL_HDRLEN),
			  (int)(nlh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN), rem) {
		type = nla_type(a);
		len = nla_len(a);
		if (type > maxtype || !spec[type].max)
			continue;
		if (len < spec[type].min || len > spec[type].max) {
			tdc_err(t, "warning: ignoring %s of %d bytes from the kernel",
				tdc_attr_name(type), len);
			continue;
		}
		tb[type] = a;
	}
	return 0;
}
