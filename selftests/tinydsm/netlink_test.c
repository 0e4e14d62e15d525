// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm generic netlink tests on one node (lab, module loaded, node id
 * $TDSM_NODE_ID): the NODE_GET dump, NODE_ADD and NODE_DEL with good and
 * bad attributes, the strict policies, permissions, unknown commands.
 *
 * The peers added here point at 10.77.0.99, which does not exist: they
 * never connect, so their state is only ever CONNECTING or DOWN. Every test
 * deletes its peers (the fixture's teardown does it again, in case an
 * assertion stopped the test half-way), so later tests start clean.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/tinydsm.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "kselftest_harness.h"
#include "tdsm_nl.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define PEER_IP		"10.77.0.99"	/* on the lab switch, but nobody */
#define PEER_PORT	7471
#define NOBODY		65534

/* One NODE_GET message, as the test saw it. */
struct node {
	uint32_t id;
	bool has_addr;
	struct sockaddr_storage addr;
	int addr_len;
	uint8_t state;
	uint32_t flags;
	int32_t error;
	uint64_t tx, rx, bad;
	uint8_t auth;
	uint64_t auth_fails, unmatched;
	bool has_setup;			/* SETUP_US and AUTH_US came */
	uint64_t setup_us, auth_us;
};

/* What came back for one request. */
struct reply {
	bool done;
	int error;			/* 0 or -errno */
	char msg[256];			/* extack message */
	int miss_type;			/* extack missing attribute, or -1 */
	bool has_offs;			/* extack points at a bad attribute */
	bool intr;			/* NLM_F_DUMP_INTR seen */
	struct node nodes[TINYDSM_MAX_NODES + 1];
	int n;
	char bad[160];			/* first malformed dump message: why */
};

static unsigned int this_node(void)
{
	const char *id = getenv("TDSM_NODE_ID");

	return id ? (unsigned int)atoi(id) : 1;
}

/* Two peer ids that are not this node. */
static uint32_t peer_id(int i)
{
	uint32_t id = 2 + i;

	return id >= this_node() ? id + 1 : id;
}

static void note_bad(struct reply *r, const char *why, int type)
{
	if (!r->bad[0])
		snprintf(r->bad, sizeof(r->bad), "%s (attribute %d)", why, type);
}

/* A NODE_GET message: check every attribute's length before reading it. */
static int node_row(const struct nlmsghdr *nlh, void *arg)
{
	static const int len[TINYDSM_A_MAX + 1] = {
		[TINYDSM_A_NODE_ID] = 4, [TINYDSM_A_NODE_STATE] = 1,
		[TINYDSM_A_NODE_FLAGS] = 4, [TINYDSM_A_NODE_ERROR] = 4,
		[TINYDSM_A_NODE_TX_MSGS] = 8, [TINYDSM_A_NODE_RX_MSGS] = 8,
		[TINYDSM_A_NODE_RX_BAD] = 8, [TINYDSM_A_NODE_AUTH] = 1,
		[TINYDSM_A_NODE_AUTH_FAILS] = 8, [TINYDSM_A_NODE_RX_UNMATCHED] = 8,
		[TINYDSM_A_NODE_SETUP_US] = 8, [TINYDSM_A_NODE_AUTH_US] = 8,
	};
	const struct genlmsghdr *gh = nlmsg_data(nlh);
	uint64_t seen = 0, want;	/* bit n: attribute n (more than 32) */
	struct reply *r = arg;
	struct nlattr *a;
	struct node *nd;
	int rem, type;

	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		r->intr = true;
	if (nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN ||
	    gh->cmd != TINYDSM_CMD_NODE_GET) {
		note_bad(r, "not a NODE_GET message", 0);
		return 0;
	}
	if (r->n >= (int)ARRAY_SIZE(r->nodes)) {
		note_bad(r, "more nodes than TINYDSM_MAX_NODES", 0);
		return 0;
	}
	nd = &r->nodes[r->n];
	memset(nd, 0, sizeof(*nd));
	nla_for_each_attr(a, genlmsg_attrdata(gh, 0), genlmsg_attrlen(gh, 0), rem) {
		type = nla_type(a);
		if (type == TINYDSM_A_PAD)
			continue;
		if (type <= 0 || type > TINYDSM_A_MAX) {
			note_bad(r, "unknown attribute", type);
			continue;
		}
		if (seen & (1ull << type))
			note_bad(r, "attribute twice", type);
		seen |= 1ull << type;
		if (type == TINYDSM_A_NODE_ADDR) {
			if (nla_len(a) < 2 || nla_len(a) > (int)sizeof(nd->addr)) {
				note_bad(r, "bad address length", type);
				continue;
			}
			nd->has_addr = true;
			nd->addr_len = nla_len(a);
			memcpy(&nd->addr, nla_data(a), nla_len(a));
			continue;
		}
		if (nla_len(a) != len[type]) {
			note_bad(r, "bad attribute length", type);
			continue;
		}
		switch (type) {
		case TINYDSM_A_NODE_ID:
			nd->id = nla_get_u32(a);
			break;
		case TINYDSM_A_NODE_STATE:
			nd->state = nla_get_u8(a);
			break;
		case TINYDSM_A_NODE_FLAGS:
			nd->flags = nla_get_u32(a);
			break;
		case TINYDSM_A_NODE_ERROR:
			nd->error = (int32_t)nla_get_u32(a);
			break;
		case TINYDSM_A_NODE_TX_MSGS:
			nd->tx = nla_get_u64(a);
			break;
		case TINYDSM_A_NODE_RX_MSGS:
			nd->rx = nla_get_u64(a);
			break;
		case TINYDSM_A_NODE_RX_BAD:
			nd->bad = nla_get_u64(a);
			break;
		case TINYDSM_A_NODE_AUTH:
			nd->auth = nla_get_u8(a);
			break;
		case TINYDSM_A_NODE_AUTH_FAILS:
			nd->auth_fails = nla_get_u64(a);
			break;
		case TINYDSM_A_NODE_RX_UNMATCHED:
			nd->unmatched = nla_get_u64(a);
			break;
		case TINYDSM_A_NODE_SETUP_US:
			nd->setup_us = nla_get_u64(a);
			break;
		case TINYDSM_A_NODE_AUTH_US:
			nd->auth_us = nla_get_u64(a);
			break;
		}
	}
	/* Everything the uapi lists, the address being optional. */
	want = 1u << TINYDSM_A_NODE_ID | 1u << TINYDSM_A_NODE_STATE |
	       1u << TINYDSM_A_NODE_FLAGS | 1u << TINYDSM_A_NODE_ERROR |
	       1u << TINYDSM_A_NODE_TX_MSGS | 1u << TINYDSM_A_NODE_RX_MSGS |
	       1u << TINYDSM_A_NODE_RX_BAD | 1u << TINYDSM_A_NODE_AUTH |
	       1u << TINYDSM_A_NODE_AUTH_FAILS | 1u << TINYDSM_A_NODE_RX_UNMATCHED;
	if ((seen & want) != want)
		note_bad(r, "missing attributes", (int)(want & ~seen));
	/* The setup times: both or neither, never for this node. */
	nd->has_setup = seen & 1ull << TINYDSM_A_NODE_SETUP_US;
	if (nd->has_setup != !!(seen & 1ull << TINYDSM_A_NODE_AUTH_US))
		note_bad(r, "SETUP_US without AUTH_US or the reverse",
			 TINYDSM_A_NODE_SETUP_US);
	if (nd->has_setup && (nd->flags & TINYDSM_NODE_F_SELF))
		note_bad(r, "setup times for this node", TINYDSM_A_NODE_SETUP_US);
	if (nd->has_setup && nd->auth_us > nd->setup_us)
		note_bad(r, "AUTH_US above SETUP_US", TINYDSM_A_NODE_AUTH_US);
	if (nd->has_addr &&
	    !((nd->addr.ss_family == AF_INET &&
	       nd->addr_len == sizeof(struct sockaddr_in)) ||
	      (nd->addr.ss_family == AF_INET6 &&
	       nd->addr_len == sizeof(struct sockaddr_in6))))
		note_bad(r, "address is not a sockaddr_in or sockaddr_in6",
			 TINYDSM_A_NODE_ADDR);
	r->n++;
	return 0;
}

/* A socket with extended acks, and the family id; NULL if not found. */
static struct nl_sock *nl_open(int *family)
{
	struct nl_sock *sk = NULL;

	if (tnl_sock_open(&sk))
		return NULL;
	*family = tnl_family(sk);
	if (*family < 0) {
		nl_socket_free(sk);
		return NULL;
	}
	return sk;
}

static struct nl_msg *new_msg(int family, uint8_t cmd, int flags)
{
	return tnl_msg(family, cmd, flags);
}

/* Send @msg (consumed), collect the answer; 0 or a libnl error. */
static int xfer(struct nl_sock *sk, struct nl_msg *msg, struct reply *r)
{
	struct tnl_reply nr = { .row = node_row, .arg = r };
	int err;

	memset(r, 0, sizeof(*r));
	err = tnl_xfer(sk, msg, &nr);
	r->done = nr.done;
	r->error = nr.error;
	snprintf(r->msg, sizeof(r->msg), "%s", nr.msg);
	r->miss_type = nr.miss_type;
	r->has_offs = nr.has_offs;
	r->intr |= nr.intr;
	return err;
}

static struct sockaddr_in peer_sin(void)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(PEER_PORT),
	};

	inet_pton(AF_INET, PEER_IP, &sin.sin_addr);
	return sin;
}

/* NODE_ADD with the given attributes (id < 0 or !addr: left out). */
static int node_add_raw(struct nl_sock *sk, int family, int64_t id,
			const void *addr, int addr_len, struct reply *r)
{
	struct nl_msg *msg = new_msg(family, TINYDSM_CMD_NODE_ADD, 0);

	if (msg && id >= 0 && nla_put_u32(msg, TINYDSM_A_NODE_ID, (uint32_t)id))
		return -NLE_NOMEM;
	if (msg && addr && nla_put(msg, TINYDSM_A_NODE_ADDR, addr_len, addr))
		return -NLE_NOMEM;
	return xfer(sk, msg, r);
}

static int node_add(struct nl_sock *sk, int family, uint32_t id,
		    struct reply *r)
{
	struct sockaddr_in sin = peer_sin();

	return node_add_raw(sk, family, id, &sin, sizeof(sin), r);
}

static int node_del(struct nl_sock *sk, int family, int64_t id,
		    struct reply *r)
{
	struct nl_msg *msg = new_msg(family, TINYDSM_CMD_NODE_DEL, 0);

	if (msg && id >= 0 && nla_put_u32(msg, TINYDSM_A_NODE_ID, (uint32_t)id))
		return -NLE_NOMEM;
	return xfer(sk, msg, r);
}

static int node_dump(struct nl_sock *sk, int family, struct reply *r)
{
	return xfer(sk, new_msg(family, TINYDSM_CMD_NODE_GET, NLM_F_DUMP), r);
}

static const struct node *find_node(const struct reply *r, uint32_t id)
{
	int i;

	for (i = 0; i < r->n; i++)
		if (r->nodes[i].id == id)
			return &r->nodes[i];
	return NULL;
}

FIXTURE(nl) {
	struct nl_sock *sk;
	int family;
	struct reply r;
};

FIXTURE_SETUP(nl)
{
	self->sk = nl_open(&self->family);
	ASSERT_NE(NULL, self->sk)
		TH_LOG("no generic netlink family \"%s\": is tinydsm loaded?",
		       TINYDSM_GENL_NAME);
}

FIXTURE_TEARDOWN(nl)
{
	struct reply r;

	if (!self->sk)
		return;
	/* Leave no peer behind, whatever happened. */
	node_del(self->sk, self->family, peer_id(0), &r);
	node_del(self->sk, self->family, peer_id(1), &r);
	nl_socket_free(self->sk);
}

#define ASSERT_NL_ERR(expect, call) do {				\
	ASSERT_EQ(0, (call));						\
	ASSERT_EQ(-(expect), self->r.error)				\
		TH_LOG("got %d (%s), extack \"%s\"", self->r.error,	\
		       strerror(-self->r.error), self->r.msg);		\
} while (0)

/* Nothing configured: the dump is exactly this node, flagged SELF. */
TEST_F(nl, dump_is_self)
{
	const struct node *nd;

	ASSERT_EQ(0, node_dump(self->sk, self->family, &self->r));
	ASSERT_EQ(0, self->r.error);
	EXPECT_STREQ("", self->r.bad);
	EXPECT_FALSE(self->r.intr);
	ASSERT_EQ(1, self->r.n);
	nd = &self->r.nodes[0];
	EXPECT_EQ(this_node(), nd->id);
	EXPECT_EQ(TINYDSM_NODE_F_SELF, nd->flags);
	EXPECT_EQ(0, nd->error);
	TH_LOG("self: node %u state %u, address %s", nd->id, nd->state,
	       nd->has_addr ? "present" : "absent");
}

TEST_F(nl, add_dump_del)
{
	struct sockaddr_in want = peer_sin();
	const struct node *nd;
	uint32_t id = peer_id(0);

	ASSERT_NL_ERR(0, node_add(self->sk, self->family, id, &self->r));

	ASSERT_EQ(0, node_dump(self->sk, self->family, &self->r));
	ASSERT_EQ(0, self->r.error);
	EXPECT_STREQ("", self->r.bad);
	ASSERT_EQ(2, self->r.n);
	/* This node first. */
	EXPECT_EQ(this_node(), self->r.nodes[0].id);
	EXPECT_EQ(TINYDSM_NODE_F_SELF, self->r.nodes[0].flags);
	nd = find_node(&self->r, id);
	ASSERT_NE(NULL, nd);
	EXPECT_EQ(0, nd->flags);
	/* Nobody is at 10.77.0.99: never UP. */
	EXPECT_TRUE(nd->state == TINYDSM_NODE_CONNECTING ||
		    nd->state == TINYDSM_NODE_DOWN)
		TH_LOG("state %u", nd->state);
	ASSERT_TRUE(nd->has_addr);
	ASSERT_EQ(sizeof(want), nd->addr_len);
	EXPECT_EQ(0, memcmp(&want, &nd->addr, sizeof(want)));
	EXPECT_EQ(0, nd->rx);
	EXPECT_EQ(0, nd->bad);

	ASSERT_NL_ERR(0, node_del(self->sk, self->family, id, &self->r));
	ASSERT_EQ(0, node_dump(self->sk, self->family, &self->r));
	ASSERT_EQ(0, self->r.error);
	ASSERT_EQ(1, self->r.n);
	EXPECT_EQ(NULL, find_node(&self->r, id));
}

/* Port 0 means the module's default port; IPv6 works like IPv4. */
TEST_F(nl, add_ipv6_default_port)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	const struct node *nd;
	const struct sockaddr_in6 *got;
	uint32_t id = peer_id(1);

	inet_pton(AF_INET6, "fd00:77::99", &sin6.sin6_addr);
	ASSERT_NL_ERR(0, node_add_raw(self->sk, self->family, id, &sin6,
				      sizeof(sin6), &self->r));
	ASSERT_EQ(0, node_dump(self->sk, self->family, &self->r));
	ASSERT_EQ(0, self->r.error);
	EXPECT_STREQ("", self->r.bad);
	nd = find_node(&self->r, id);
	ASSERT_NE(NULL, nd);
	ASSERT_TRUE(nd->has_addr);
	ASSERT_EQ(sizeof(sin6), nd->addr_len);
	got = (const struct sockaddr_in6 *)&nd->addr;
	EXPECT_EQ(AF_INET6, got->sin6_family);
	EXPECT_EQ(0, memcmp(&sin6.sin6_addr, &got->sin6_addr,
			    sizeof(sin6.sin6_addr)));
	ASSERT_NL_ERR(0, node_del(self->sk, self->family, id, &self->r));
}

TEST_F(nl, add_twice_is_eexist)
{
	struct sockaddr_in other = peer_sin();
	uint32_t id = peer_id(0);

	ASSERT_NL_ERR(0, node_add(self->sk, self->family, id, &self->r));
	ASSERT_NL_ERR(EEXIST, node_add(self->sk, self->family, id, &self->r));
	/* The id is what counts, not the address. */
	other.sin_port = htons(PEER_PORT + 1);
	ASSERT_NL_ERR(EEXIST, node_add_raw(self->sk, self->family, id, &other,
					   sizeof(other), &self->r));
	ASSERT_NL_ERR(0, node_del(self->sk, self->family, id, &self->r));
}

TEST_F(nl, add_own_id_is_einval)
{
	ASSERT_NL_ERR(EINVAL, node_add(self->sk, self->family, this_node(),
				       &self->r));
	EXPECT_STRNE("", self->r.msg);
	ASSERT_EQ(0, node_dump(self->sk, self->family, &self->r));
	EXPECT_EQ(1, self->r.n);
}

/*
 * Ids outside 1..TINYDSM_MAX_NODES - 1 stop at the policy
 * (NLA_POLICY_RANGE), which answers ERANGE and points at the attribute.
 */
TEST_F(nl, add_id_out_of_range)
{
	static const uint32_t ids[] = { 0, TINYDSM_MAX_NODES, 255, 256,
					UINT32_MAX };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		ASSERT_EQ(0, node_add(self->sk, self->family, ids[i],
				      &self->r));
		ASSERT_EQ(-ERANGE, self->r.error)
			TH_LOG("id %u: %d, extack \"%s\"", ids[i],
			       self->r.error, self->r.msg);
		EXPECT_TRUE(self->r.has_offs);
	}
	ASSERT_NL_ERR(ERANGE, node_del(self->sk, self->family, 0, &self->r));
	ASSERT_NL_ERR(ERANGE, node_del(self->sk, self->family,
				       TINYDSM_MAX_NODES, &self->r));
}

/* The module's max_nodes parameter, 0 if it cannot be read. */
static unsigned int module_max_nodes(void)
{
	FILE *f = fopen("/sys/module/tinydsm/parameters/max_nodes", "re");
	unsigned int v = 0;

	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

/*
 * Node ids go up to 64 (ABI 2): 64 passes the policy, and is then a node
 * only if max_nodes is 64 (added, and deleted again); below that, the
 * handler refuses it with EINVAL and says why (module_test loads the
 * module with max_nodes=64). 65 is the first id the policy stops, with
 * ERANGE, a message and the attribute.
 */
TEST_F(nl, add_id_64_and_65)
{
	unsigned int max_nodes = module_max_nodes();

	ASSERT_NE(0, max_nodes);
	if (this_node() == 64)
		SKIP(return, "this node is node 64");
	ASSERT_EQ(0, node_add(self->sk, self->family, 64, &self->r));
	if (max_nodes >= 64) {
		ASSERT_EQ(0, self->r.error) TH_LOG("extack \"%s\"", self->r.msg);
		ASSERT_EQ(0, node_dump(self->sk, self->family, &self->r));
		EXPECT_EQ(2, self->r.n);
		EXPECT_EQ(64, self->r.nodes[1].id);
		ASSERT_NL_ERR(0, node_del(self->sk, self->family, 64, &self->r));
	} else {
		ASSERT_EQ(-EINVAL, self->r.error)
			TH_LOG("node 64 with max_nodes %u: %d, extack \"%s\"",
			       max_nodes, self->r.error, self->r.msg);
		EXPECT_STRNE("", self->r.msg);
	}
	ASSERT_NL_ERR(ERANGE, node_add(self->sk, self->family, 65, &self->r));
	EXPECT_STRNE("", self->r.msg);
	EXPECT_TRUE(self->r.has_offs);
	ASSERT_EQ(0, node_dump(self->sk, self->family, &self->r));
	EXPECT_EQ(1, self->r.n);
}

TEST_F(nl, add_missing_attrs)
{
	struct sockaddr_in sin = peer_sin();

	ASSERT_NL_ERR(EINVAL, node_add_raw(self->sk, self->family, -1, &sin,
					   sizeof(sin), &self->r));
	EXPECT_EQ(TINYDSM_A_NODE_ID, self->r.miss_type);
	EXPECT_STRNE("", self->r.msg);

	ASSERT_NL_ERR(EINVAL, node_add_raw(self->sk, self->family, peer_id(0),
					   NULL, 0, &self->r));
	EXPECT_EQ(TINYDSM_A_NODE_ADDR, self->r.miss_type);
	EXPECT_STRNE("", self->r.msg);

	ASSERT_NL_ERR(EINVAL, node_add_raw(self->sk, self->family, -1, NULL, 0,
					   &self->r));
	ASSERT_NL_ERR(EINVAL, node_del(self->sk, self->family, -1, &self->r));
	EXPECT_EQ(TINYDSM_A_NODE_ID, self->r.miss_type);

	ASSERT_EQ(0, node_dump(self->sk, self->family, &self->r));
	EXPECT_EQ(1, self->r.n);
}

/* The address must be exactly a sockaddr_in or a sockaddr_in6. */
TEST_F(nl, add_bad_addr_length)
{
	struct sockaddr_in sin = peer_sin();
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	uint8_t buf[sizeof(struct sockaddr_in6) + 1] = { 0 };
	uint32_t id = peer_id(0);

	/* 3 bytes: a family and one byte. */
	memcpy(buf, &sin, 3);
	ASSERT_NL_ERR(EINVAL, node_add_raw(self->sk, self->family, id, buf, 3,
					   &self->r));
	EXPECT_STRNE("", self->r.msg);
	EXPECT_TRUE(self->r.has_offs);
	/* Empty. */
	ASSERT_NL_ERR(EINVAL, node_add_raw(self->sk, self->family, id, buf, 0,
					   &self->r));
	/* AF_INET, one byte short and one byte long. */
	ASSERT_NL_ERR(EINVAL, node_add_raw(self->sk, self->family, id, &sin,
					   sizeof(sin) - 1, &self->r));
	memcpy(buf, &sin, sizeof(sin));
	ASSERT_NL_ERR(EINVAL, node_add_raw(self->sk, self->family, id, buf,
					   sizeof(sin) + 1, &self->r));
	/* AF_INET6 in a sockaddr_in's length, and one byte long. */
	ASSERT_NL_ERR(EINVAL, node_add_raw(self->sk, self->family, id, &sin6,
					   sizeof(sin), &self->r));
	memcpy(buf, &sin6, sizeof(sin6));
	ASSERT_NL_ERR(EINVAL, node_add_raw(self->sk, self->family, id, buf,
					   sizeof(sin6) + 1, &self->r));
	/* AF_INET in a sockaddr_in6's length. */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &sin, sizeof(sin));
	ASSERT_NL_ERR(EINVAL, node_add_raw(self->sk, self->family, id, buf,
					   sizeof(sin6), &self->r));

	ASSERT_EQ(0, node_dump(self->sk, self->family, &self->r));
	EXPECT_EQ(1, self->r.n);
}

TEST_F(nl, add_bad_addr_family)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct sockaddr_in sin = peer_sin();
	uint32_t id = peer_id(0);

	strcpy(sun.sun_path, "/tmp/not-a-node");
	ASSERT_NL_ERR(EINVAL, node_add_raw(self->sk, self->family, id, &sun,
					   sizeof(sun), &self->r));
	EXPECT_STRNE("", self->r.msg);
	/* An AF_UNIX address in the length of a sockaddr_in. */
	ASSERT_NL_ERR(EINVAL, node_add_raw(self->sk, self->family, id, &sun,
					   sizeof(sin), &self->r));
	EXPECT_STRNE("", self->r.msg);
	/* AF_UNSPEC. */
	sin.sin_family = AF_UNSPEC;
	ASSERT_NL_ERR(EINVAL, node_add_raw(self->sk, self->family, id, &sin,
					   sizeof(sin), &self->r));

	ASSERT_EQ(0, node_dump(self->sk, self->family, &self->r));
	EXPECT_EQ(1, self->r.n);
}

/* Strict policies: an attribute a command does not take is refused. */
TEST_F(nl, unknown_attrs_rejected)
{
	struct sockaddr_in sin = peer_sin();
	struct nl_msg *msg;

	/* NODE_ADD with a NODE_STATE, and with a type past TINYDSM_A_MAX. */
	msg = new_msg(self->family, TINYDSM_CMD_NODE_ADD, 0);
	ASSERT_NE(NULL, msg);
	ASSERT_EQ(0, nla_put_u32(msg, TINYDSM_A_NODE_ID, peer_id(0)));
	ASSERT_EQ(0, nla_put(msg, TINYDSM_A_NODE_ADDR, sizeof(sin), &sin));
	ASSERT_EQ(0, nla_put_u8(msg, TINYDSM_A_NODE_STATE, 0));
	ASSERT_NL_ERR(EINVAL, xfer(self->sk, msg, &self->r));

	msg = new_msg(self->family, TINYDSM_CMD_NODE_ADD, 0);
	ASSERT_NE(NULL, msg);
	ASSERT_EQ(0, nla_put_u32(msg, TINYDSM_A_NODE_ID, peer_id(0)));
	ASSERT_EQ(0, nla_put(msg, TINYDSM_A_NODE_ADDR, sizeof(sin), &sin));
	ASSERT_EQ(0, nla_put_u32(msg, TINYDSM_A_MAX + 7, 0));
	ASSERT_NL_ERR(EINVAL, xfer(self->sk, msg, &self->r));

	/* NODE_DEL with an address. */
	msg = new_msg(self->family, TINYDSM_CMD_NODE_DEL, 0);
	ASSERT_NE(NULL, msg);
	ASSERT_EQ(0, nla_put_u32(msg, TINYDSM_A_NODE_ID, peer_id(0)));
	ASSERT_EQ(0, nla_put(msg, TINYDSM_A_NODE_ADDR, sizeof(sin), &sin));
	ASSERT_NL_ERR(EINVAL, xfer(self->sk, msg, &self->r));

	/* A NODE_ID of the wrong size. */
	msg = new_msg(self->family, TINYDSM_CMD_NODE_DEL, 0);
	ASSERT_NE(NULL, msg);
	ASSERT_EQ(0, nla_put_u16(msg, TINYDSM_A_NODE_ID, peer_id(0)));
	ASSERT_NL_ERR(EINVAL, xfer(self->sk, msg, &self->r));

	/* The NODE_GET dump takes no attributes at all. */
	msg = new_msg(self->family, TINYDSM_CMD_NODE_GET, NLM_F_DUMP);
	ASSERT_NE(NULL, msg);
	ASSERT_EQ(0, nla_put_u32(msg, TINYDSM_A_NODE_ID, this_node()));
	ASSERT_NL_ERR(EINVAL, xfer(self->sk, msg, &self->r));

	ASSERT_EQ(0, node_dump(self->sk, self->family, &self->r));
	EXPECT_EQ(1, self->r.n);
}

TEST_F(nl, reserved_header_rejected)
{
	struct nl_msg *msg = new_msg(self->family, TINYDSM_CMD_NODE_DEL, 0);
	struct genlmsghdr *gh;

	ASSERT_NE(NULL, msg);
	gh = nlmsg_data(nlmsg_hdr(msg));
	gh->reserved = 1;
	ASSERT_EQ(0, nla_put_u32(msg, TINYDSM_A_NODE_ID, peer_id(0)));
	ASSERT_NL_ERR(EINVAL, xfer(self->sk, msg, &self->r));
}

TEST_F(nl, del_unknown_is_enoent)
{
	ASSERT_NL_ERR(ENOENT, node_del(self->sk, self->family, peer_id(0),
				       &self->r));
	/* This node is not a peer either. */
	ASSERT_NL_ERR(ENOENT, node_del(self->sk, self->family, this_node(),
				       &self->r));
}

TEST_F(nl, unknown_command)
{
	static const uint8_t cmds[] = { TINYDSM_CMD_UNSPEC,
					TINYDSM_CMD_MAX + 1, 255 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		ASSERT_EQ(0, xfer(self->sk, new_msg(self->family, cmds[i], 0),
				  &self->r));
		ASSERT_EQ(-EOPNOTSUPP, self->r.error)
			TH_LOG("command %u: %d", cmds[i], self->r.error);
	}
	/* NODE_GET is a dump only; NODE_ADD is not a dump. */
	ASSERT_NL_ERR(EOPNOTSUPP,
		      xfer(self->sk, new_msg(self->family, TINYDSM_CMD_NODE_GET, 0),
			   &self->r));
	ASSERT_NL_ERR(EOPNOTSUPP,
		      xfer(self->sk, new_msg(self->family, TINYDSM_CMD_NODE_ADD,
					     NLM_F_DUMP), &self->r));
}

/* KEY_SET with @len bytes of @key (@len < 0: no attribute). */
static int key_set(struct nl_sock *sk, int family, const void *key, int len,
		   struct reply *r)
{
	struct nl_msg *msg = new_msg(family, TINYDSM_CMD_KEY_SET, 0);

	if (msg && len >= 0 && nla_put(msg, TINYDSM_A_KEY, len, key))
		return -EMSGSIZE;
	return xfer(sk, msg, r);
}

/* Give the module the run's key again (TDSM_KEY_FILE): 0 or -1. */
static int key_restore(void)
{
	const char *key = getenv("TDSM_KEY_FILE"), *tree = getenv("TDSM_TREE");
	char cmd[1024];

	if (!key)
		return 0;
	snprintf(cmd, sizeof(cmd), "'%s/build/tools/tinydsmctl' key set '%s'",
		 tree ? tree : ".", key);
	return system(cmd) == 0 ? 0 : -1;
}

/*
 * KEY_SET takes exactly TINYDSM_KEY_LEN bytes, not all zero; a key it
 * takes shows as this node's "key" in the dump; nothing reads it back.
 */
TEST_F(nl, key_set_checks_its_input)
{
	uint8_t key[TINYDSM_KEY_LEN + 1] = { 0 };
	const struct node *me;
	unsigned int i;

	ASSERT_NL_ERR(EINVAL, key_set(self->sk, self->family, key, -1, &self->r));
	EXPECT_EQ(TINYDSM_A_KEY, self->r.miss_type);
	ASSERT_NL_ERR(EINVAL, key_set(self->sk, self->family, key, 0, &self->r));
	ASSERT_NL_ERR(EINVAL, key_set(self->sk, self->family, key,
				      TINYDSM_KEY_LEN - 1, &self->r));
	ASSERT_NL_ERR(EINVAL, key_set(self->sk, self->family, key,
				      TINYDSM_KEY_LEN + 1, &self->r));
	ASSERT_NL_ERR(EINVAL, key_set(self->sk, self->family, key,
				      TINYDSM_KEY_LEN, &self->r));
	EXPECT_NE(NULL, strstr(self->r.msg, "zero")) TH_LOG("extack: %s", self->r.msg);

	for (i = 0; i < TINYDSM_KEY_LEN; i++)
		key[i] = (uint8_t)(i * 37 + 1);
	ASSERT_NL_ERR(0, key_set(self->sk, self->family, key, TINYDSM_KEY_LEN,
				 &self->r));
	ASSERT_EQ(0, node_dump(self->sk, self->family, &self->r));
	me = find_node(&self->r, this_node());
	ASSERT_NE(NULL, me);
	EXPECT_EQ(TINYDSM_AUTH_KEY, me->auth);
	/* The dump carries no key attribute: valid_cb would flag it unknown... */
	EXPECT_STREQ("", self->r.bad);
	ASSERT_EQ(0, key_restore());
}

/* What the unprivileged child saw. */
struct unpriv_result {
	int setup;		/* 0, or the errno of the step that failed */
	int add, del, dump;	/* the kernel's answers */
	int dump_n;
	int key;		/* KEY_SET */
	int join;		/* 0, or errno of joining the events group */
};

static void unpriv_child(int fd, uint32_t id)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2] = { 0 };
	struct unpriv_result res = { 0 };
	struct nl_sock *sk;
	struct reply r;
	int family, grp;

	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY) ||
	    syscall(SYS_capset, &hdr, data)) {
		res.setup = errno;
		goto out;
	}
	sk = nl_open(&family);
	if (!sk) {
		res.setup = ENOENT;
		goto out;
	}
	node_add(sk, family, peer_id(1), &r);
	res.add = r.error;
	node_del(sk, family, id, &r);
	res.del = r.error;
	node_dump(sk, family, &r);
	res.dump = r.error;
	res.dump_n = r.n;
	key_set(sk, family, "0123456789abcdef0123456789abcdef", TINYDSM_KEY_LEN, &r);
	res.key = r.error;
	grp = tnl_mcgrp(sk, TINYDSM_GENL_MCGRP_EVENTS);
	if (grp < 0)
		res.join = ENOENT;
	else if (setsockopt(nl_socket_get_fd(sk), SOL_NETLINK,
			    NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)))
		res.join = errno;
	nl_socket_free(sk);
out:
	if (write(fd, &res, sizeof(res)) != sizeof(res))
		_exit(1);
	_exit(0);
}

/*
 * NODE_ADD, NODE_DEL and KEY_SET need CAP_NET_ADMIN, and so does listening
 * to the events; the dump is for anyone.
 */
TEST_F(nl, unprivileged)
{
	struct unpriv_result res;
	uint32_t id = peer_id(0);
	int fds[2], status;
	pid_t pid;

	if (getuid() != 0)
		SKIP(return, "needs root to drop privileges");
	ASSERT_NL_ERR(0, node_add(self->sk, self->family, id, &self->r));

	ASSERT_EQ(0, pipe(fds));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		unpriv_child(fds[1], id);
	}
	close(fds[1]);
	ASSERT_EQ(sizeof(res), read(fds[0], &res, sizeof(res)));
	close(fds[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, res.setup) TH_LOG("child setup: %s", strerror(res.setup));
	EXPECT_EQ(-EPERM, res.add);
	EXPECT_EQ(-EPERM, res.del);
	EXPECT_EQ(0, res.dump);
	EXPECT_EQ(2, res.dump_n);
	EXPECT_EQ(-EPERM, res.key);
	EXPECT_EQ(EPERM, res.join) TH_LOG("joining the events group: %s",
					  strerror(res.join));

	/* The peer is still there: the child could not delete it. */
	ASSERT_NL_ERR(0, node_del(self->sk, self->family, id, &self->r));
	ASSERT_EQ(0, node_dump(self->sk, self->family, &self->r));
	EXPECT_EQ(1, self->r.n);
}

/*
 * Dumps while another process adds and deletes a peer: every dump has this
 * node first and the peer at most once. (Each add starts a connection
 * attempt that the delete waits for, so a round is slow: keep it short.)
 */
TEST_F(nl, dump_while_changing)
{
	uint32_t id = peer_id(0);
	int i, dumps = 0, status;
	struct reply r;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct nl_sock *sk;
		int family, bad = 0;

		sk = nl_open(&family);
		if (!sk)
			_exit(2);
		for (i = 0; i < 10; i++) {
			node_add(sk, family, id, &r);
			bad |= r.error != 0;
			node_del(sk, family, id, &r);
			bad |= r.error != 0;
		}
		nl_socket_free(sk);
		_exit(bad);
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		ASSERT_EQ(0, node_dump(self->sk, self->family, &r));
		ASSERT_EQ(0, r.error);
		ASSERT_STREQ("", r.bad);
		ASSERT_LE(1, r.n);
		ASSERT_GE(2, r.n);
		ASSERT_EQ(this_node(), r.nodes[0].id);
		ASSERT_EQ(TINYDSM_NODE_F_SELF, r.nodes[0].flags);
		if (r.n == 2)
			ASSERT_EQ(id, r.nodes[1].id);
		dumps++;
	}
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("the adding child failed");
	TH_LOG("%d dumps while the peer came and went", dumps);
}

/* Busy-wait @us microseconds: finer than a sleep's timer slack. */
static void spin_us(unsigned int us)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000 +
	       (t.tv_nsec - t0.tv_nsec) / 1000 < us);
}

/*
 * A peer deleted at any moment of its first connect: each add starts a
 * connection attempt at once (this node has the lower id), and the delete
 * kills it wherever it is, also inside the CM's address resolution, which
 * the teardown must wait for before it frees the CM id. The gaps sweep
 * that window; a use after free shows as a WARN or oops in the kernel log,
 * which fails the run. Needs the cluster key: without one no connect
 * starts.
 */
TEST_F(nl, del_while_connecting)
{
	unsigned int rounds = 300, i;
	uint32_t id = peer_id(0);
	const struct node *nd;

	if (peer_id(0) < this_node())
		SKIP(return, "this node (%u) has the higher id: it never connects",
		     this_node());
	ASSERT_EQ(0, node_dump(self->sk, self->family, &self->r));
	nd = find_node(&self->r, this_node());
	ASSERT_NE(NULL, nd);
	if (nd->auth != TINYDSM_AUTH_KEY)
		SKIP(return, "no cluster key on this node: no connect would start");
	for (i = 0; i < rounds; i++) {
		ASSERT_NL_ERR(0, node_add(self->sk, self->family, id, &self->r));
		/* 0 to 600 us in 2 us steps, in an order that mixes them. */
		spin_us((i * 37) % rounds * 2);
		ASSERT_NL_ERR(0, node_del(self->sk, self->family, id, &self->r));
	}
	TH_LOG("%u rounds of add, wait, delete", rounds);
	/* The last delete waited for its teardown: nothing is left. */
	ASSERT_EQ(0, node_dump(self->sk, self->family, &self->r));
	EXPECT_EQ(NULL, find_node(&self->r, id));
}

TEST_HARNESS_MAIN
