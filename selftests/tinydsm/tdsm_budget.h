/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The home budget from the tests (region_test.c, migration_test.c): set it
 * with TINYDSM_CMD_REGION_SET, and hear the TINYDSM_EV_BUDGET events of
 * its refusals in the family's "events" multicast group (CAP_NET_ADMIN).
 * Built with tools/lib/nl (the Makefile's NL_CFLAGS, TDSM_NL, NL_LIBS).
 */
#ifndef TDSM_BUDGET_H
#define TDSM_BUDGET_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <linux/tinydsm.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/socket.h>

#include "tdsm_nl.h"

/*
 * REGION_SET with TINYDSM_A_HOME_BUDGET @bytes: 0, the kernel's -errno
 * (its extack message in @msg, if given), or -ENOTCONN when the family
 * cannot be reached.
 */
static inline int hb_set(uint64_t bytes, char *msg, size_t len)
{
	struct nl_sock *sk = NULL;
	struct tnl_reply r;
	struct nl_msg *m;
	int family;

	memset(&r, 0, sizeof(r));
	if (tnl_sock_open(&sk) < 0)
		return -ENOTCONN;
	family = tnl_family(sk);
	m = family < 0 ? NULL : tnl_msg(family, TINYDSM_CMD_REGION_SET, 0);
	if (m && nla_put_u64(m, TINYDSM_A_HOME_BUDGET, bytes)) {
		nlmsg_free(m);
		m = NULL;
	}
	if (!m || tnl_xfer(sk, m, &r) || !r.done)
		r.error = -ENOTCONN;
	nl_socket_free(sk);
	if (msg && len)
		snprintf(msg, len, "%s", r.msg);
	return r.error;
}

/* A TINYDSM_EV_BUDGET event as heard. */
struct hb_event {
	uint64_t addr;
	uint32_t npages, flags;
	int32_t err;
};

/* What hb_listen_cb() looks for, and what it found. */
struct hb_listener {
	struct nl_sock *sk;
	int family;
	uint32_t want;		/* TINYDSM_BUDGET_F_* of the event wanted */
	bool heard;
	struct hb_event ev;
};

static inline int hb_listen_cb(struct nl_msg *msg, void *arg)
{
	const struct nlattr *tb[TINYDSM_A_MAX + 1];
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct hb_listener *l = arg;

	if (l->heard || nlh->nlmsg_type != l->family ||
	    tnl_parse(nlh, TINYDSM_CMD_EVENT, tb, NULL, NULL) ||
	    tnl_u32(tb, TINYDSM_A_EVENT) != TINYDSM_EV_BUDGET ||
	    tnl_u32(tb, TINYDSM_A_FLAGS) != l->want)
		return NL_OK;
	l->heard = true;
	l->ev.addr = tnl_u64(tb, TINYDSM_A_ADDR);
	l->ev.npages = tnl_u32(tb, TINYDSM_A_NPAGES);
	l->ev.flags = tnl_u32(tb, TINYDSM_A_FLAGS);
	l->ev.err = (int32_t)tnl_u32(tb, TINYDSM_A_ERRNO);
	return NL_OK;
}

/* Join the events group, before the refusal: 0, or -1. */
static inline int hb_listen(struct hb_listener *l, uint32_t want)
{
	int grp, rcvbuf = 1 << 20;

	memset(l, 0, sizeof(*l));
	l->want = want;
	if (tnl_sock_open(&l->sk) < 0)
		return -1;
	l->family = tnl_family(l->sk);
	grp = tnl_mcgrp(l->sk, TINYDSM_GENL_MCGRP_EVENTS);
	nl_socket_disable_seq_check(l->sk);
	nl_socket_modify_cb(l->sk, NL_CB_VALID, NL_CB_CUSTOM, hb_listen_cb, l);
	setsockopt(nl_socket_get_fd(l->sk), SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		   sizeof(rcvbuf));
	if (l->family < 0 || grp < 0 ||
	    nl_socket_add_memberships(l->sk, grp, 0) < 0 ||
	    nl_socket_set_nonblocking(l->sk) < 0) {
		nl_socket_free(l->sk);
		l->sk = NULL;
		return -1;
	}
	return 0;
}

/* Read events for up to @ms milliseconds, until the wanted one: heard? */
static inline bool hb_heard(struct hb_listener *l, int ms)
{
	struct pollfd p = { .fd = nl_socket_get_fd(l->sk), .events = POLLIN };
	struct timespec t0, t;
	int left = ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!l->heard && left > 0) {
		if (poll(&p, 1, left) > 0)
			nl_recvmsgs_default(l->sk);
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = ms - (int)((t.tv_sec - t0.tv_sec) * 1000 +
				  (t.tv_nsec - t0.tv_nsec) / 1000000);
	}
	return l->heard;
}

static inline void hb_unlisten(struct hb_listener *l)
{
	if (l->sk)
		nl_socket_free(l->sk);
	l->sk = NULL;
}

#endif /* TDSM_BUDGET_H */
