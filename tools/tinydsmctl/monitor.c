// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl monitor: the module's notifications, one line each, from the
 * multicast group TINYDSM_GENL_MCGRP_EVENTS of the generic netlink family.
 *
 *   tinydsmctl monitor [ --count N ] [ --timeout S ]
 *
 * Every attribute is length-checked before it is read. Attributes this tool
 * does not know, or known ones of an unexpected length, are printed
 * generically (attrN=value) rather than dropped, and an unknown event is
 * "event-N": a newer module never makes an older tool fail.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/tinydsm.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "tdsm_nl.h"
#include "tinydsmctl.h"

/* Room for a burst of events before the kernel drops some (ENOBUFS). */
#define MON_RCVBUF	(1 << 20)

static int monitor_help(struct tdc *t)
{
	fprintf(t->help_out,
		"Usage: %s monitor [ --count N ] [ --timeout S ]\n"
		"       %s monitor help\n"
		"Prints the module's events as they happen, one per line:\n"
		"  node-up node=N                 node-down node=N errno=E\n"
		"  migrated addr=A npages=N from=N to=N\n"
		"  owner addr=A node=N            fault-storm addr=A rate=R\n"
		"  fault-error addr=A node=N errno=E\n"
		"  evicted node=N npages=N pages_lost=N\n"
		"  budget addr=A npages=N errno=E what=alloc|touch|migrate|writeback\n"
		"With -j one JSON object per line. Stops after N events or S\n"
		"seconds (S may have a fraction), whichever comes first.\n",
		t->prog, t->prog);
	return TDC_EXIT_OK;
}

static const char *const mon_event_names[] = {
	[TINYDSM_EV_NODE_UP] = "node-up",
	[TINYDSM_EV_NODE_DOWN] = "node-down",
	[TINYDSM_EV_MIGRATED] = "migrated",
	[TINYDSM_EV_OWNER] = "owner",
	[TINYDSM_EV_FAULT_STORM] = "fault-storm",
	[TINYDSM_EV_FAULT_ERROR] = "fault-error",
	[TINYDSM_EV_EVICTED] = "evicted",
	[TINYDSM_EV_BUDGET] = "budget",
};

enum mon_kind {
	K_U8,
	K_U32,
	K_U64,
	K_ADDR,		/* u64, in hex */
	K_ERRNO,	/* s32, -errno */
	K_NODES,	/* u64 node set, bit n - 1 = node n */
	K_NODES32,	/* u32 bitmap of ABI 1, bit n = node n */
	K_BUDGET,	/* u32, TINYDSM_BUDGET_F_*: what a home refused */
};

/* The attributes known, in the order they are printed. */
static const struct mon_attr {
	uint16_t type;
	const char *key;
	enum mon_kind kind;
} mon_attrs[] = {
	{ TINYDSM_A_ADDR,		"addr",		K_ADDR },
	{ TINYDSM_A_NPAGES,		"npages",	K_U32 },
	{ TINYDSM_A_FROM,		"from",		K_U32 },
	{ TINYDSM_A_TO,			"to",		K_U32 },
	{ TINYDSM_A_NODE_ID,		"node",		K_U32 },
	{ TINYDSM_A_RATE,		"rate",		K_U32 },
	{ TINYDSM_A_ERRNO,		"errno",	K_ERRNO },
	{ TINYDSM_A_PAGES_LOST,		"pages_lost",	K_U32 },
	{ TINYDSM_A_FLAGS,		"what",		K_BUDGET },
	{ TINYDSM_A_PAGES_MOVED,	"pages_moved",	K_U32 },
	{ TINYDSM_A_PAGES_SKIPPED,	"pages_skipped", K_U32 },
	{ TINYDSM_A_PAGES_DATA,		"pages_data",	K_U32 },
	{ TINYDSM_A_HOLDERS64,		"holders",	K_NODES },
	{ TINYDSM_A_HOLDERS,		"holders32",	K_NODES32 },
	{ TINYDSM_A_PAGES_FETCHED,	"pages_fetched", K_U32 },
	{ TINYDSM_A_PAGES_MAPPED,	"pages_mapped",	K_U32 },
	{ TINYDSM_A_SITES,		"sites",	K_U32 },
	{ TINYDSM_A_NSEC,		"nsec",		K_U64 },
	{ TINYDSM_A_NODE_STATE,		"state",	K_U8 },
	{ TINYDSM_A_NODE_FLAGS,		"flags",	K_U32 },
	{ TINYDSM_A_NODE_ERROR,		"error",	K_ERRNO },
	{ TINYDSM_A_NODE_TX_MSGS,	"tx_msgs",	K_U64 },
	{ TINYDSM_A_NODE_RX_MSGS,	"rx_msgs",	K_U64 },
	{ TINYDSM_A_NODE_RX_BAD,	"rx_bad",	K_U64 },
};

struct monitor {
	struct tdc *t;
	unsigned long count;	/* stop after this many events, 0: never */
	unsigned long seen;
};

static volatile sig_atomic_t mon_stop;

static void mon_signal(int sig)
{
	(void)sig;
	mon_stop = 1;
}

/* The attribute's entry in mon_attrs, if its length is the policy's. */
static const struct mon_attr *mon_attr_known(const struct nlattr *a)
{
	int len = nla_len(a);
	size_t i;

	for (i = 0; i < ARRAY_SIZE(mon_attrs); i++)
		if (mon_attrs[i].type == nla_type(a))
			return len >= tnl_policy[mon_attrs[i].type].min &&
			       len <= tnl_policy[mon_attrs[i].type].max ?
			       &mon_attrs[i] : NULL;
	return NULL;
}

/* TINYDSM_BUDGET_F_* as words joined by '|'; a bit we do not know in hex. */
static void mon_print_budget(struct tdc *t, const char *key, uint32_t flags)
{
	static const char *const words[] = {
		"alloc", "touch", "migrate", "writeback",
	};
	char buf[64] = "";
	size_t i, n = 0;

	for (i = 0; i < ARRAY_SIZE(words); i++)
		if (flags & (1u << i))
			n += snprintf(buf + n, sizeof(buf) - n, "%s%s",
				      n ? "|" : "", words[i]);
	flags &= ~((1u << ARRAY_SIZE(words)) - 1);
	if (flags || !n)
		snprintf(buf + n, sizeof(buf) - n, "%s%#x", n ? "|" : "", flags);
	tdc_kv_str(t, key, buf);
}

static void mon_print_known(struct tdc *t, const struct mon_attr *m,
			    const struct nlattr *a)
{
	switch (m->kind) {
	case K_U8:
		tdc_kv_uint(t, m->key, nla_get_u8(a));
		break;
	case K_U32:
		tdc_kv_uint(t, m->key, nla_get_u32(a));
		break;
	case K_U64:
		tdc_kv_uint(t, m->key, nla_get_u64(a));
		break;
	case K_ADDR:
		tdc_kv_hex(t, m->key, nla_get_u64(a));
		break;
	case K_ERRNO:
		tdc_kv_errno(t, m->key, (int32_t)nla_get_u32(a));
		break;
	case K_NODES:
		tdc_kv_nodes(t, m->key, nla_get_u64(a));
		break;
	case K_NODES32:
		tdc_kv_nodes(t, m->key, nla_get_u32(a) >> 1);
		break;
	case K_BUDGET:
		mon_print_budget(t, m->key, nla_get_u32(a));
		break;
	}
}

/* An attribute we cannot name: a number if it looks like one, else hex. */
static void mon_print_generic(struct tdc *t, const struct nlattr *a)
{
	const unsigned char *p = nla_data(a);
	char key[24], hex[2 + 2 * 64 + 4];
	int len = nla_len(a), i, n;
	uint16_t v16;

	snprintf(key, sizeof(key), "attr%u", (unsigned int)nla_type(a));
	switch (len) {
	case 1:
		tdc_kv_uint(t, key, p[0]);
		return;
	case 2:
		memcpy(&v16, p, sizeof(v16));
		tdc_kv_uint(t, key, v16);
		return;
	case 4:
		tdc_kv_uint(t, key, nla_get_u32(a));
		return;
	case 8:
		tdc_kv_uint(t, key, nla_get_u64(a));
		return;
	}
	n = snprintf(hex, sizeof(hex), "0x");
	for (i = 0; i < len && i < 64; i++)
		n += snprintf(hex + n, sizeof(hex) - n, "%02x", p[i]);
	if (len > 64)
		snprintf(hex + n, sizeof(hex) - n, "...");
	tdc_kv_str(t, key, len ? hex : "");
}

static int mon_event(struct nl_msg *msg, void *arg)
{
	const struct nlmsghdr *nlh = nlmsg_hdr(msg);
	const struct nlattr *tb[ARRAY_SIZE(mon_attrs)] = { NULL };
	const struct nlattr *a, *attrs, *ev = NULL;
	struct monitor *m = arg;
	struct tdc *t = m->t;
	const struct genlmsghdr *gh;
	const struct mon_attr *known;
	char name[24];
	int rem, len;
	size_t i;

	if (nlh->nlmsg_type != t->family ||
	    nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
		return NL_SKIP;
	gh = NLMSG_DATA(nlh);
	attrs = (const struct nlattr *)((const char *)gh + GENL_HDRLEN);
	len = (int)(nlh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN);

	nla_for_each_attr(a, attrs, len, rem)
		if (nla_type(a) == TINYDSM_A_EVENT && nla_len(a) == 4)
			ev = a;
	if (gh->cmd != TINYDSM_CMD_EVENT) {
		snprintf(name, sizeof(name), "cmd-%u", gh->cmd);
	} else if (!ev) {
		snprintf(name, sizeof(name), "event");
	} else {
		uint32_t e = nla_get_u32(ev);

		if (e < ARRAY_SIZE(mon_event_names) && mon_event_names[e])
			snprintf(name, sizeof(name), "%s", mon_event_names[e]);
		else
			snprintf(name, sizeof(name), "event-%u", e);
	}

	tdc_line_begin(t, "event", name);
	/* The known attributes in our order, then the others as they came. */
	nla_for_each_attr(a, attrs, len, rem) {
		known = mon_attr_known(a);
		if (known)
			tb[known - mon_attrs] = a;
	}
	for (i = 0; i < ARRAY_SIZE(mon_attrs); i++)
		if (tb[i])
			mon_print_known(t, &mon_attrs[i], tb[i]);
	nla_for_each_attr(a, attrs, len, rem) {
		if (a == ev || nla_type(a) == TINYDSM_A_PAD)
			continue;
		known = mon_attr_known(a);
		if (!known || tb[known - mon_attrs] != a)
			mon_print_generic(t, a);
	}
	tdc_line_end(t);

	m->seen++;
	if (m->count && m->seen >= m->count)
		return NL_STOP;
	return NL_OK;
}

static int64_t mon_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Subscribe to the events group of the family (tdc_nl_open() done). */
static int mon_subscribe(struct tdc *t, struct monitor *m)
{
	int grp, err;

	grp = tnl_mcgrp(t->sk, TINYDSM_GENL_MCGRP_EVENTS);
	if (grp == -NLE_OBJ_NOTFOUND) {
		tdc_err(t, "monitor: the tinydsm module has no multicast group \"%s\" (a module older than this tool)",
			TINYDSM_GENL_MCGRP_EVENTS);
		return TDC_EXIT_FAIL;
	}
	if (grp < 0) {
		tdc_err(t, "monitor: cannot look up the multicast group \"%s\": %s",
			TINYDSM_GENL_MCGRP_EVENTS, nl_geterror(grp));
		return TDC_EXIT_FAIL;
	}
	err = nl_socket_add_membership(t->sk, grp);
	if (err < 0) {
		tdc_err(t, "monitor: cannot join the multicast group \"%s\": %s",
			TINYDSM_GENL_MCGRP_EVENTS, nl_geterror(err));
		return TDC_EXIT_FAIL;
	}
	/* Notifications carry no sequence number of ours. */
	nl_socket_disable_seq_check(t->sk);
	nl_socket_modify_cb(t->sk, NL_CB_VALID, NL_CB_CUSTOM, mon_event, m);
	nl_socket_set_buffer_size(t->sk, MON_RCVBUF, 0);
	err = nl_socket_set_nonblocking(t->sk);
	if (err < 0) {
		tdc_err(t, "monitor: %s", nl_geterror(err));
		return TDC_EXIT_FAIL;
	}
	return TDC_EXIT_OK;
}

static int monitor(struct tdc *t)
{
	struct monitor m = { .t = t };
	struct sigaction sa = { .sa_handler = mon_signal };
	int64_t deadline = -1, left;
	struct pollfd pfd;
	const char *opt;
	double secs;
	uint64_t n;
	char *end;
	int ret, err;

	if (tdc_want_help(t))
		return monitor_help(t);
	for (; !tdc_no_arg(t); tdc_arg_next(t)) {
		opt = tdc_arg(t);
		if (!strcmp(opt, "--count")) {
			tdc_arg_next(t);
			if (tdc_parse_u64(tdc_arg(t), &n) || !n || n > 1000000000)
				return tdc_usage_error(t, monitor_help,
						       "monitor: --count needs a number of events, 1 or more");
			m.count = n;
		} else if (!strcmp(opt, "--timeout")) {
			tdc_arg_next(t);
			opt = tdc_arg(t);
			errno = 0;
			secs = opt && *opt >= '0' && *opt <= '9' ?
			       strtod(opt, &end) : -1;
			if (secs < 0 || errno || *end || !isfinite(secs) ||
			    secs > 86400.0 * 365)
				return tdc_usage_error(t, monitor_help,
						       "monitor: --timeout needs a number of seconds");
			deadline = mon_now_ms() + (int64_t)(secs * 1000);
		} else {
			return tdc_usage_error(t, monitor_help,
					       "monitor: unexpected argument \"%s\"",
					       opt);
		}
	}

	ret = tdc_nl_open(t);
	if (ret)
		return ret;
	ret = mon_subscribe(t, &m);
	if (ret)
		return ret;
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Ctrl-C or kill: a normal end, the output complete. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	pfd.fd = nl_socket_get_fd(t->sk);
	pfd.events = POLLIN;
	while (!mon_stop && !(m.count && m.seen >= m.count)) {
		left = -1;
		if (deadline >= 0) {
			left = deadline - mon_now_ms();
			if (left <= 0)
				break;
		}
		ret = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0) {
			tdc_err(t, "monitor: poll: %s", strerror(errno));
			return TDC_EXIT_FAIL;
		}
		if (!ret)
			continue;
		/* Everything queued, up to the last event wanted. */
		while (!(m.count && m.seen >= m.count)) {
			err = nl_recvmsgs_default(t->sk);
			if (err == -NLE_AGAIN)
				break;
			if (err == -NLE_NOMEM) {
				/* ENOBUFS: the kernel dropped some for us. */
				tdc_err(t, "warning: events were lost (the receive buffer overflowed)");
				continue;
			}
			if (err < 0) {
				tdc_err(t, "monitor: netlink: %s",
					nl_geterror(err));
				return TDC_EXIT_FAIL;
			}
		}
	}
	return TDC_EXIT_OK;
}

static const struct tdc_cmd monitor_cmds[] = {
	{ NULL,		monitor },
	{ "help",	monitor_help },
	{ NULL,		NULL },
};

int cmd_monitor(struct tdc *t)
{
	const char *arg = tdc_arg(t);

	/* "monitor --count 1": the options belong to monitor itself. */
	if (arg && arg[0] == '-' && arg[1] == '-' && strcmp(arg, "--help"))
		return monitor(t);
	return tdc_exec_cmd(t, monitor_cmds, "monitor argument");
}
