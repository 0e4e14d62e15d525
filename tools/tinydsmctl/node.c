// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl node: the nodes this node knows.
 *
 *   tinydsmctl node [ show ]
 *   tinydsmctl node add ID ADDR[:PORT]
 *   tinydsmctl node del ID
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netlink.h>
#include <linux/tinydsm.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include "tinydsmctl.h"

static int node_help(struct tdc *t)
{
	fprintf(t->help_out,
		"Usage: %s node [ show ]\n"
		"       %s node add ID ADDR[:PORT]\n"
		"       %s node del ID\n"
		"       %s node evict ID\n"
		"       %s node help\n"
		"where  ID := the node's id, 1..%d\n"
		"       ADDR := { IPV4 | IPV6 | [IPV6] }, IPV6 may carry %%SCOPE\n"
		"       PORT := the port the node listens on (none or 0: the\n"
		"               module's default)\n"
		"Examples: %s node add 2 10.77.0.2\n"
		"          %s node add 3 [fe80::1%%eth0]:7471\n"
		"evict: the node is dead: drop it from the copysets of the pages\n"
		"homed here and disconnect it (it is reconnected when it answers\n"
		"again); shows the copies dropped and the pages it owns (lost).\n"
		"show: SETUP-US is how long the last connection to the node that\n"
		"went up took to set up, in microseconds; AUTH-US how much of it\n"
		"the proof of the cluster key took (0: no key); \"-\" before any.\n",
		t->prog, t->prog, t->prog, t->prog, t->prog,
		TINYDSM_MAX_NODES - 1, t->prog, t->prog);
	return TDC_EXIT_OK;
}

/* ---- show ---- */

enum {
	COL_ID,
	COL_ADDR,
	COL_STATE,
	COL_FLAGS,
	COL_ERROR,
	COL_TX,
	COL_RX,
	COL_BAD,
	COL_AUTH,
	COL_AUTH_FAILS,
	COL_UNMATCHED,
	COL_SETUP_US,
	COL_AUTH_US,
	NR_COLS
};

static const struct tdc_col node_cols[NR_COLS] = {
	[COL_ID]	= { "id",	"ID",		true },
	[COL_ADDR]	= { "address",	"ADDRESS",	false },
	[COL_STATE]	= { "state",	"STATE",	false },
	[COL_FLAGS]	= { "flags",	"FLAGS",	false },
	[COL_ERROR]	= { "error",	"ERROR",	false },
	[COL_TX]	= { "tx_msgs",	"TX",		true },
	[COL_RX]	= { "rx_msgs",	"RX",		true },
	[COL_BAD]	= { "rx_bad",	"BAD",		true },
	[COL_AUTH]	= { "auth",	"AUTH",		false },
	[COL_AUTH_FAILS] = { "auth_fails", "AUTH-FAILS",	true },
	[COL_UNMATCHED]	= { "rx_unmatched", "UNMATCHED",	true },
	[COL_SETUP_US]	= { "setup_us",	"SETUP-US",	true },
	[COL_AUTH_US]	= { "auth_us",	"AUTH-US",	true },
};

struct node_row {
	const struct nlattr *tb[TINYDSM_A_MAX + 1];
	struct nlmsghdr *nlh;	/* a copy: tb points into it */
};

struct node_rows {
	struct tdc *t;
	struct node_row *rows;
	size_t n, cap;
};

static void node_rows_free(void *arg)
{
	struct node_rows *nr = arg;
	size_t i;

	for (i = 0; i < nr->n; i++)
		free(nr->rows[i].nlh);
	nr->n = 0;
}

static int node_row_add(const struct nlmsghdr *nlh, void *arg)
{
	struct node_rows *nr = arg;
	struct node_row *row;

	if (nr->n == nr->cap) {
		size_t cap = nr->cap ? 2 * nr->cap : 8;
		struct node_row *rows = realloc(nr->rows, cap * sizeof(*rows));

		if (!rows)
			return -ENOMEM;
		nr->rows = rows;
		nr->cap = cap;
	}
	/* Keep a copy of the message: the attributes point into it. */
	row = &nr->rows[nr->n];
	row->nlh = malloc(nlh->nlmsg_len);
	if (!row->nlh)
		return -ENOMEM;
	memcpy(row->nlh, nlh, nlh->nlmsg_len);
	if (tdc_genl_attrs(nr->t, row->nlh, TINYDSM_CMD_NODE_GET, row->tb))
		goto skip;	/* not a NODE_GET message: not ours to show */
	if (!row->tb[TINYDSM_A_NODE_ID]) {
		tdc_err(nr->t, "warning: ignoring a node without an id");
		goto skip;
	}
	nr->n++;
	return 0;

skip:
	free(row->nlh);
	return 0;
}

/* "10.77.0.2:7471", "fe80::1%eth0" or "[fe80::1]:7471"; port 0 not shown. */
static int node_format_addr(const struct nlattr *a, char *buf, size_t size)
{
	struct sockaddr_storage ss = { 0 };
	char host[NI_MAXHOST];
	socklen_t len = nla_len(a);
	unsigned int port;

	memcpy(&ss, nla_data(a), len);
	if (ss.ss_family == AF_INET && len == sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;

		if (!inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host)))
			return -1;
		port = ntohs(sin->sin_port);
	} else if (ss.ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

		if (getnameinfo((const struct sockaddr *)&ss, len, host,
				sizeof(host), NULL, 0, NI_NUMERICHOST))
			return -1;
		port = ntohs(sin6->sin6_port);
	} else {
		return -1;
	}
	if (port)
		snprintf(buf, size, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
			 host, port);
	else
		snprintf(buf, size, "%s", host);
	return 0;
}

static const char *node_state_name(unsigned int state, char *buf, size_t size)
{
	switch (state) {
	case TINYDSM_NODE_DOWN:
		return "down";
	case TINYDSM_NODE_CONNECTING:
		return "connecting";
	case TINYDSM_NODE_UP:
		return "up";
	}
	snprintf(buf, size, "state-%u", state);
	return buf;
}

/*
 * A peer: key (authenticated with the cluster key), off (connected without
 * authentication), failed (its last connection did not prove the key),
 * none (never connected). This node: key, or none (no key: the module
 * connects to nobody), or off (no key, allow_unauthenticated).
 */
static const char *node_auth_name(const struct tdc *t, unsigned int auth,
				  bool self, char *buf, size_t size)
{
	switch (auth) {
	case TINYDSM_AUTH_NONE:
		return "none";
	case TINYDSM_AUTH_KEY:
		return "key";
	case TINYDSM_AUTH_OFF:
		/* The table spells out why; scripts get one word. */
		return self && t->fmt == TDC_FMT_TEXT ? "off (allow_unauthenticated)" : "off";
	case TINYDSM_AUTH_FAILED:
		return "failed";
	}
	snprintf(buf, size, "auth-%u", auth);
	return buf;
}

static bool node_is_self(const struct node_row *row)
{
	return row->tb[TINYDSM_A_NODE_FLAGS] &&
	       (nla_get_u32(row->tb[TINYDSM_A_NODE_FLAGS]) & TINYDSM_NODE_F_SELF);
}

static void node_print_u64(struct tdc *t, int col, const struct nlattr *a)
{
	if (a)
		tdc_print_uint(t, col, nla_get_u64(a));
	else
		tdc_print_none(t, col);
}

/* This node without a key: on stderr, whatever the format, every time. */
static void node_warn_auth(struct tdc *t, const struct node_row *row)
{
	const struct nlattr *a = row->tb[TINYDSM_A_NODE_AUTH];

	if (!a)
		return;
	switch (nla_get_u8(a)) {
	case TINYDSM_AUTH_OFF:
		tdc_err(t, "WARNING: this node runs WITHOUT AUTHENTICATION (module parameter allow_unauthenticated): any host that reaches it can join the cluster and read or write its memory");
		break;
	case TINYDSM_AUTH_NONE:
		tdc_err(t, "WARNING: this node has no cluster key: the module connects to no node and accepts none (tinydsmctl key set FILE, or key_file in tinydsmd's configuration)");
		break;
	}
}

static void node_print_row(struct tdc *t, const struct node_row *row)
{
	const struct nlattr *const *tb = row->tb;
	char addr[NI_MAXHOST + 16], state[16], unknown[16];
	const char *words[2];
	uint32_t flags;
	int32_t err;
	int n = 0;

	tdc_row_begin(t);
	tdc_print_uint(t, COL_ID, nla_get_u32(tb[TINYDSM_A_NODE_ID]));

	if (tb[TINYDSM_A_NODE_ADDR] &&
	    !node_format_addr(tb[TINYDSM_A_NODE_ADDR], addr, sizeof(addr)))
		tdc_print_str(t, COL_ADDR, addr);
	else
		tdc_print_none(t, COL_ADDR);

	if (tb[TINYDSM_A_NODE_STATE])
		tdc_print_str(t, COL_STATE,
			      node_state_name(nla_get_u8(tb[TINYDSM_A_NODE_STATE]),
					      state, sizeof(state)));
	else
		tdc_print_none(t, COL_STATE);

	if (tb[TINYDSM_A_NODE_FLAGS]) {
		flags = nla_get_u32(tb[TINYDSM_A_NODE_FLAGS]);
		if (flags & TINYDSM_NODE_F_SELF)
			words[n++] = "self";
		if (flags & ~(uint32_t)__TINYDSM_NODE_F_ALL) {
			snprintf(unknown, sizeof(unknown), "%#x",
				 flags & ~(uint32_t)__TINYDSM_NODE_F_ALL);
			words[n++] = unknown;
		}
		tdc_print_words(t, COL_FLAGS, words, n);
	} else {
		tdc_print_none(t, COL_FLAGS);
	}

	if (tb[TINYDSM_A_NODE_ERROR]) {
		err = (int32_t)nla_get_u32(tb[TINYDSM_A_NODE_ERROR]);
		tdc_print_int(t, COL_ERROR, err, err ? tdc_errno_name(err) : "-");
	} else {
		tdc_print_none(t, COL_ERROR);
	}

	node_print_u64(t, COL_TX, tb[TINYDSM_A_NODE_TX_MSGS]);
	node_print_u64(t, COL_RX, tb[TINYDSM_A_NODE_RX_MSGS]);
	node_print_u64(t, COL_BAD, tb[TINYDSM_A_NODE_RX_BAD]);
	/* A module before authentication sends none of these: "-". */
	if (tb[TINYDSM_A_NODE_AUTH])
		tdc_print_str(t, COL_AUTH,
			      node_auth_name(t, nla_get_u8(tb[TINYDSM_A_NODE_AUTH]),
					     node_is_self(row), state, sizeof(state)));
	else
		tdc_print_none(t, COL_AUTH);
	node_print_u64(t, COL_AUTH_FAILS, tb[TINYDSM_A_NODE_AUTH_FAILS]);
	node_print_u64(t, COL_UNMATCHED, tb[TINYDSM_A_NODE_RX_UNMATCHED]);
	/* Sent once a connection went up (never for this node): else "-". */
	node_print_u64(t, COL_SETUP_US, tb[TINYDSM_A_NODE_SETUP_US]);
	node_print_u64(t, COL_AUTH_US, tb[TINYDSM_A_NODE_AUTH_US]);
	tdc_row_end(t);
}

static int node_show(struct tdc *t)
{
	struct node_rows nr = { .t = t };
	size_t i;
	int ret;

	if (tdc_want_help(t))
		return node_help(t);
	if (!tdc_no_arg(t))
		return tdc_usage_error(t, node_help,
				       "node show: unexpected argument \"%s\"",
				       tdc_arg(t));
	ret = tdc_nl_open(t);
	if (ret)
		return ret;
	ret = tdc_nl_dump(t, TINYDSM_CMD_NODE_GET, "node show", node_row_add,
			  node_rows_free, &nr);
	if (ret == TDC_EXIT_OK) {
		/* The kernel sends this node first: keep its order. */
		tdc_print_begin(t, node_cols, NR_COLS);
		for (i = 0; i < nr.n; i++)
			node_print_row(t, &nr.rows[i]);
		tdc_print_end(t);
		for (i = 0; i < nr.n; i++)
			if (node_is_self(&nr.rows[i]))
				node_warn_auth(t, &nr.rows[i]);
	}
	node_rows_free(&nr);
	free(nr.rows);
	return ret;
}

/* ---- add, del ---- */

/* A node id: a decimal number; its range is the kernel's to check. */
static int node_parse_id(const char *s, uint32_t *id)
{
	unsigned long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -1;
	*id = v;
	return 0;
}

static int node_parse_port(const char *s, uint16_t *port)
{
	unsigned long v;
	char *end;

	if (!*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 65535)
		return -1;
	*port = htons(v);
	return 0;
}

/* "a.b.c.d" or "a.b.c.d:port". */
static int node_parse_ipv4(const char *s, struct sockaddr_storage *ss,
			   socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	const char *colon = strchr(s, ':');
	size_t hlen = colon ? (size_t)(colon - s) : strlen(s);
	char host[INET_ADDRSTRLEN];

	if (hlen >= sizeof(host))
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	/* inet_pton, not inet_aton: no "10.1" shorthands. */
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -1;
	if (colon && node_parse_port(colon + 1, &sin->sin_port))
		return -1;
	sin->sin_family = AF_INET;
	*len = sizeof(*sin);
	return 0;
}

/* The @hlen bytes at @s, an IPv6 address with an optional %scope. */
static int node_parse_ipv6(const char *s, size_t hlen, const char *port,
			   struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = {
		.ai_family = AF_INET6,
		.ai_flags = AI_NUMERICHOST,
	}, *ai;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char host[NI_MAXHOST];
	uint16_t nport = 0;

	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (port && node_parse_port(port, &nport))
		return -1;
	/* getaddrinfo() for the scope: inet_pton() knows no %eth0. */
	if (getaddrinfo(host, NULL, &hints, &ai))
		return -1;
	if (ai->ai_family != AF_INET6 || ai->ai_addrlen != sizeof(*sin6)) {
		freeaddrinfo(ai);
		return -1;
	}
	memcpy(sin6, ai->ai_addr, sizeof(*sin6));
	freeaddrinfo(ai);
	sin6->sin6_port = nport;
	*len = sizeof(*sin6);
	return 0;
}

/*
 * IPv4 "a.b.c.d" or "a.b.c.d:port"; IPv6 "addr", "[addr]" or
 * "[addr]:port", addr possibly with a %scope.
 */
static int node_parse_addr(const char *s, struct sockaddr_storage *ss,
			   socklen_t *len)
{
	const char *end;

	memset(ss, 0, sizeof(*ss));
	if (s[0] != '[') {
		/* At most one colon: IPv4 and its port; more: bare IPv6. */
		if (strchr(s, ':') == strrchr(s, ':'))
			return node_parse_ipv4(s, ss, len);
		return node_parse_ipv6(s, strlen(s), NULL, ss, len);
	}
	end = strchr(s, ']');
	if (!end || (end[1] && end[1] != ':'))
		return -1;
	return node_parse_ipv6(s + 1, end - s - 1, end[1] ? end + 2 : NULL,
			       ss, len);
}

static int node_add(struct tdc *t)
{
	struct sockaddr_storage ss;
	struct nl_msg *msg;
	char what[64];
	socklen_t len;
	uint32_t id;
	int ret;

	if (tdc_want_help(t))
		return node_help(t);
	if (t->argc != 2)
		return tdc_usage_error(t, node_help,
				       "node add: needs ID and ADDR[:PORT]");
	if (node_parse_id(t->argv[0], &id))
		return tdc_usage_error(t, node_help,
				       "node add: \"%s\" is not a node id",
				       t->argv[0]);
	if (node_parse_addr(t->argv[1], &ss, &len))
		return tdc_usage_error(t, node_help,
				       "node add: \"%s\" is not an IPv4 or IPv6 address[:port]",
				       t->argv[1]);

	ret = tdc_nl_open(t);
	if (ret)
		return ret;
	msg = tdc_nl_msg(t, TINYDSM_CMD_NODE_ADD, 0);
	if (!msg || nla_put_u32(msg, TINYDSM_A_NODE_ID, id) ||
	    nla_put(msg, TINYDSM_A_NODE_ADDR, len, &ss)) {
		nlmsg_free(msg);
		tdc_err(t, "node add: out of memory");
		return TDC_EXIT_FAIL;
	}
	snprintf(what, sizeof(what), "node add %u", id);
	return tdc_nl_do(t, msg, what);
}

/*
 * "node VERB ID": parse the one argument and build @cmd's request for that
 * node. Returns the message with *@id and @what ("node VERB ID") set, or
 * NULL with *@ret the exit status (usage, help, no netlink, no memory).
 */
static struct nl_msg *node_id_msg(struct tdc *t, const char *verb, int cmd,
				  uint32_t *id, char *what, size_t len, int *ret)
{
	struct nl_msg *msg;

	if (tdc_want_help(t)) {
		*ret = node_help(t);
		return NULL;
	}
	if (t->argc != 1) {
		*ret = tdc_usage_error(t, node_help, "node %s: needs ID", verb);
		return NULL;
	}
	if (node_parse_id(t->argv[0], id)) {
		*ret = tdc_usage_error(t, node_help, "node %s: \"%s\" is not a node id",
				       verb, t->argv[0]);
		return NULL;
	}
	*ret = tdc_nl_open(t);
	if (*ret)
		return NULL;
	msg = tdc_nl_msg(t, cmd, 0);
	if (!msg || nla_put_u32(msg, TINYDSM_A_NODE_ID, *id)) {
		nlmsg_free(msg);
		tdc_err(t, "node %s: out of memory", verb);
		*ret = TDC_EXIT_FAIL;
		return NULL;
	}
	snprintf(what, len, "node %s %u", verb, *id);
	return msg;
}

static int node_del(struct tdc *t)
{
	struct nl_msg *msg;
	char what[64];
	uint32_t id;
	int ret;

	msg = node_id_msg(t, "del", TINYDSM_CMD_NODE_DEL, &id, what, sizeof(what), &ret);
	if (!msg)
		return ret;
	return tdc_nl_do(t, msg, what);
}

/* ---- evict ---- */

struct evict_reply {
	struct tdc *t;
	bool seen;
	uint32_t dropped, lost;
};

static int node_evict_reply(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *tb[TINYDSM_A_MAX + 1];
	struct evict_reply *er = arg;

	if (tdc_genl_attrs(er->t, nlh, TINYDSM_CMD_NODE_EVICT, tb))
		return 0;	/* not ours */
	er->seen = true;
	if (tb[TINYDSM_A_NPAGES])
		er->dropped = nla_get_u32(tb[TINYDSM_A_NPAGES]);
	if (tb[TINYDSM_A_PAGES_LOST])
		er->lost = nla_get_u32(tb[TINYDSM_A_PAGES_LOST]);
	return 0;
}

static int node_evict(struct tdc *t)
{
	struct evict_reply er = { .t = t };
	struct nl_msg *msg;
	char what[64];
	uint32_t id;
	int ret;

	msg = node_id_msg(t, "evict", TINYDSM_CMD_NODE_EVICT, &id, what, sizeof(what),
			  &ret);
	if (!msg)
		return ret;
	ret = tdc_nl_call(t, msg, what, node_evict_reply, &er);
	if (ret)
		return ret;
	if (!er.seen) {
		tdc_err(t, "%s: the module sent no result", what);
		return TDC_EXIT_FAIL;
	}
	tdc_obj_begin(t);
	tdc_kv_uint(t, "node", id);
	tdc_kv_uint(t, "copies_dropped", er.dropped);
	tdc_kv_uint(t, "pages_lost", er.lost);
	tdc_obj_end(t);
	return TDC_EXIT_OK;
}

static const struct tdc_cmd node_cmds[] = {
	{ NULL,		node_show },
	{ "show",	node_show },
	{ "list",	node_show },
	{ "add",	node_add },
	{ "del",	node_del },
	{ "evict",	node_evict },
	{ "help",	node_help },
	{ NULL,		NULL },
};

int cmd_node(struct tdc *t)
{
	return tdc_exec_cmd(t, node_cmds, "node command");
}
