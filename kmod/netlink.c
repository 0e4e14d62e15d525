// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: the generic netlink family TINYDSM_GENL_NAME. Its commands:
 *   NODE_ADD, NODE_DEL, NODE_GET (a dump)   the nodes this node knows;
 *   KEY_SET                                 the cluster key;
 *   REGION_SET                              the cache and home budgets;
 *   MIGRATE, REPOPULATE                     move pages' home here; fetch
 *                                           or look up pages moved away;
 *   NODE_EVICT                              drop a dead node's copies;
 * and one multicast group, TINYDSM_GENL_MCGRP_EVENTS, whose messages are
 * TINYDSM_CMD_EVENT notifications (never a request). Every command but
 * NODE_GET needs CAP_NET_ADMIN (GENL_ADMIN_PERM); NODE_GET is for anyone.
 * Joining the events group needs CAP_NET_ADMIN too: the events carry page
 * addresses and faulting nodes. The commands, their attributes, replies and
 * errors, and the events are documented at the top of uapi/linux/tinydsm.h.
 *
 * This file only translates: every command goes to the code that does the
 * work (the peer API of peer.c, migrate.c, auth.c, evict.c), which keeps its own
 * locking, so the family runs with parallel_ops and holds no lock of its own
 * (in particular not genl_mutex, which every family without parallel_ops
 * shares: a slow RDMA disconnect in NODE_DEL or a long MIGRATE would hold
 * them all up).
 *
 * Lifetime, against the module's exit (main.c): commands reach peer.c,
 * migrate.c and region.c, which the exit tears down, and events come from
 * that teardown itself (NODE_DOWN as each connection goes) and from the
 * transport's handlers until they are gone. So the exit closes the
 * commands first (tdsm_netlink_stop(): those running finish, later ones
 * get -ESHUTDOWN) while the family stays registered, and unregisters it
 * last (tdsm_netlink_exit()), once nothing is left that sends events.
 * Events may only be sent while the family is registered: after
 * genl_unregister_family() its multicast group ids are free, and another
 * family may own them. tdsm_event_send() therefore checks, under RCU, a
 * flag that tdsm_netlink_exit() clears (and waits for) before it
 * unregisters: an event raised too late is dropped, never sent.
 *
 * Validation is in the per-command policies, parsed strictly: an attribute
 * a command does not take, or of the wrong size, is refused with -EINVAL,
 * a node id outside 1..TDSM_NODES_MAX or a page count of 0 with
 * -ERANGE (NLA_POLICY_RANGE, NLA_POLICY_MIN), any bad address or unknown
 * REPOPULATE flag with -EINVAL. The handlers check that the required
 * attributes are present. The code they call checks what depends on the
 * state (a known node, this node's own id, the key, the range in the
 * region); NODE_EVICT's handler checks its node itself.
 */
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/module.h>
#include <linux/netlink.h>
#include <linux/ratelimit.h>
#include <linux/socket.h>
#include <linux/string.h>
#include <net/genetlink.h>

#include "auth.h"
#include "budget.h"
#include "evict.h"
#include "migrate.h"
#include "netlink.h"
#include "peer.h"
#include "tinydsm.h"

static struct genl_family tdsm_genl_family;

/* Commands run under it (read); tdsm_netlink_stop() takes it to close them. */
static DECLARE_RWSEM(tdsm_nl_cmds_sem);
static bool tdsm_nl_cmds_closed;	/* under tdsm_nl_cmds_sem */
/* The family is registered: events may be sent (READ_ONCE, under RCU). */
static bool tdsm_nl_events_on;

/*
 * Enter a command: 0, with tdsm_nl_cmds_sem held for reading until
 * tdsm_nl_cmd_end(); -ESHUTDOWN once the module is unloading.
 */
static int tdsm_nl_cmd_begin(struct netlink_ext_ack *extack)
{
	down_read(&tdsm_nl_cmds_sem);
	if (!tdsm_nl_cmds_closed)
		return 0;
	up_read(&tdsm_nl_cmds_sem);
	NL_SET_ERR_MSG_MOD(extack, "the module is unloading");
	return -ESHUTDOWN;
}

static void tdsm_nl_cmd_end(void)
{
	up_read(&tdsm_nl_cmds_sem);
}

/*
 * TINYDSM_A_NODE_ADDR is a struct sockaddr_in or a struct sockaddr_in6,
 * nothing else: the length must be exactly the one of the family it names.
 */
static int tdsm_nl_validate_addr(const struct nlattr *attr,
				 struct netlink_ext_ack *extack)
{
	const struct sockaddr *sa = nla_data(attr);
	int len = nla_len(attr);

	if (len < (int)sizeof(sa->sa_family)) {
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "node address too short for a sockaddr");
		return -EINVAL;
	}
	switch (sa->sa_family) {
	case AF_INET:
		if (len == sizeof(struct sockaddr_in))
			return 0;
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "AF_INET node address is not a struct sockaddr_in");
		return -EINVAL;
	case AF_INET6:
		if (len == sizeof(struct sockaddr_in6))
			return 0;
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "AF_INET6 node address is not a struct sockaddr_in6");
		return -EINVAL;
	default:
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "node address family is not AF_INET or AF_INET6");
		return -EINVAL;
	}
}

static const struct nla_policy tdsm_node_add_policy[TINYDSM_A_NODE_ADDR + 1] = {
	[TINYDSM_A_NODE_ID]	= NLA_POLICY_RANGE(NLA_U32, 1,
						   TDSM_NODES_MAX),
	/*
	 * No .len: the function checks the exact length itself, so that every
	 * bad address gets -EINVAL (a policy length bound answers -ERANGE).
	 */
	[TINYDSM_A_NODE_ADDR]	= NLA_POLICY_VALIDATE_FN(NLA_BINARY,
							 tdsm_nl_validate_addr),
};

static const struct nla_policy tdsm_node_del_policy[TINYDSM_A_NODE_ID + 1] = {
	[TINYDSM_A_NODE_ID]	= NLA_POLICY_RANGE(NLA_U32, 1,
						   TDSM_NODES_MAX),
};

static int __tdsm_nl_node_add(struct sk_buff *skb, struct genl_info *info)
{
	struct sockaddr_storage addr = {};
	const struct nlattr *attr;

	if (GENL_REQ_ATTR_CHECK(info, TINYDSM_A_NODE_ID)) {
		NL_SET_ERR_MSG_MOD(info->extack, "missing node id");
		return -EINVAL;
	}
	if (GENL_REQ_ATTR_CHECK(info, TINYDSM_A_NODE_ADDR)) {
		NL_SET_ERR_MSG_MOD(info->extack, "missing node address");
		return -EINVAL;
	}

	/* The policy checked the length: a sockaddr_in or a sockaddr_in6. */
	attr = info->attrs[TINYDSM_A_NODE_ADDR];
	BUILD_BUG_ON(sizeof(struct sockaddr_in6) > sizeof(addr));
	memcpy(&addr, nla_data(attr), nla_len(attr));

	return tdsm_peer_add(nla_get_u32(info->attrs[TINYDSM_A_NODE_ID]),
			     &addr, info->extack);
}

static int __tdsm_nl_node_del(struct sk_buff *skb, struct genl_info *info)
{
	if (GENL_REQ_ATTR_CHECK(info, TINYDSM_A_NODE_ID)) {
		NL_SET_ERR_MSG_MOD(info->extack, "missing node id");
		return -EINVAL;
	}

	return tdsm_peer_del(nla_get_u32(info->attrs[TINYDSM_A_NODE_ID]),
			     info->extack);
}

/**
 * struct tdsm_nl_dump - the cursor of a NODE_GET dump, kept in cb->args
 * @pos: the next position: 0 is this node, 1 + id is node @id (this
 *	node's id is skipped there, it came first).
 * @self: this node's id, found by the dump's start; 0 if the peer table
 *	has no self entry.
 *
 * The cursor is a node id, not a pointer, so a node deleted between two
 * parts of a dump is just not found; the generation check flags the dump
 * as interrupted (NLM_F_DUMP_INTR) so that user space can retry.
 */
struct tdsm_nl_dump {
	unsigned long pos;
	unsigned long self;
};

static struct tdsm_nl_dump *tdsm_nl_dump_ctx(struct netlink_callback *cb)
{
	BUILD_BUG_ON(sizeof(struct tdsm_nl_dump) > sizeof(cb->args));
	return (struct tdsm_nl_dump *)cb->args;
}

static int tdsm_nl_node_dump_start(struct netlink_callback *cb)
{
	struct tdsm_nl_dump *ctx = tdsm_nl_dump_ctx(cb);
	struct tdsm_peer_info info;
	unsigned int id;

	ctx->pos = 0;
	ctx->self = 0;
	for (id = 1; id <= TDSM_NODES_MAX; id++) {
		if (!tdsm_peer_get_info(id, &info) && info.self) {
			ctx->self = id;
			break;
		}
	}
	return 0;
}

static int tdsm_nl_put_addr(struct sk_buff *skb,
			    const struct sockaddr_storage *addr)
{
	switch (addr->ss_family) {
	case AF_INET:
		return nla_put(skb, TINYDSM_A_NODE_ADDR,
			       sizeof(struct sockaddr_in), addr);
	case AF_INET6:
		return nla_put(skb, TINYDSM_A_NODE_ADDR,
			       sizeof(struct sockaddr_in6), addr);
	default:
		return 0;	/* no address (yet): no attribute */
	}
}

/* One NODE_GET message for @info; -EMSGSIZE if it does not fit in @skb. */
static int tdsm_nl_fill_node(struct sk_buff *skb, struct netlink_callback *cb,
			     const struct tdsm_peer_info *info)
{
	void *hdr;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &tdsm_genl_family, NLM_F_MULTI, TINYDSM_CMD_NODE_GET);
	if (!hdr)
		return -EMSGSIZE;
	genl_dump_check_consistent(cb, hdr);

	if (nla_put_u32(skb, TINYDSM_A_NODE_ID, info->id) ||
	    tdsm_nl_put_addr(skb, &info->addr) ||
	    nla_put_u8(skb, TINYDSM_A_NODE_STATE, info->state) ||
	    nla_put_u32(skb, TINYDSM_A_NODE_FLAGS,
			info->self ? TINYDSM_NODE_F_SELF : 0) ||
	    nla_put_s32(skb, TINYDSM_A_NODE_ERROR, info->error) ||
	    nla_put_u64_64bit(skb, TINYDSM_A_NODE_TX_MSGS, info->tx_msgs,
			      TINYDSM_A_PAD) ||
	    nla_put_u64_64bit(skb, TINYDSM_A_NODE_RX_MSGS, info->rx_msgs,
			      TINYDSM_A_PAD) ||
	    nla_put_u64_64bit(skb, TINYDSM_A_NODE_RX_BAD, info->rx_bad,
			      TINYDSM_A_PAD) ||
	    nla_put_u8(skb, TINYDSM_A_NODE_AUTH, info->auth) ||
	    nla_put_u64_64bit(skb, TINYDSM_A_NODE_AUTH_FAILS, info->auth_fails,
			      TINYDSM_A_PAD) ||
	    nla_put_u64_64bit(skb, TINYDSM_A_NODE_RX_UNMATCHED,
			      info->rx_unmatched, TINYDSM_A_PAD))
		goto cancel;
	/* Once a connection went up; in us, rounded up (0: it had no key). */
	if (info->setup_ns &&
	    (nla_put_u64_64bit(skb, TINYDSM_A_NODE_SETUP_US,
			       DIV_ROUND_UP_ULL(info->setup_ns, NSEC_PER_USEC),
			       TINYDSM_A_PAD) ||
	     nla_put_u64_64bit(skb, TINYDSM_A_NODE_AUTH_US,
			       DIV_ROUND_UP_ULL(info->auth_ns, NSEC_PER_USEC),
			       TINYDSM_A_PAD)))
		goto cancel;
	genlmsg_end(skb, hdr);
	return 0;

cancel:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

static int __tdsm_nl_node_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct tdsm_nl_dump *ctx = tdsm_nl_dump_ctx(cb);
	struct tdsm_peer_info info;
	unsigned long id;
	int err;

	cb->seq = tdsm_peers_generation();

	for (; ctx->pos <= 1 + TDSM_NODES_MAX; ctx->pos++) {
		if (ctx->pos == 0) {
			id = ctx->self;
			if (!id)
				continue;
		} else {
			id = ctx->pos - 1;
			if (id == ctx->self)
				continue;
		}

		err = tdsm_peer_get_info(id, &info);
		if (err == -ENOENT)
			continue;
		if (err)
			return err;

		err = tdsm_nl_fill_node(skb, cb, &info);
		if (err) {
			/* Full: the rest goes in the next part. */
			if (skb->len)
				break;
			return err;
		}
	}
	/* 0 (nothing added) ends the dump. */
	return skb->len;
}

static const struct nla_policy tdsm_migrate_policy[TINYDSM_A_FROM + 1] = {
	[TINYDSM_A_ADDR]	= { .type = NLA_U64 },
	[TINYDSM_A_NPAGES]	= NLA_POLICY_MIN(NLA_U32, 1),
	[TINYDSM_A_FROM]	= NLA_POLICY_RANGE(NLA_U32, 1, TDSM_NODES_MAX),
};

static const struct nla_policy tdsm_repopulate_policy[TINYDSM_A_FLAGS + 1] = {
	[TINYDSM_A_ADDR]	= { .type = NLA_U64 },
	[TINYDSM_A_NPAGES]	= NLA_POLICY_MIN(NLA_U32, 1),
	[TINYDSM_A_FLAGS]	= NLA_POLICY_MASK(NLA_U32, __TINYDSM_REPOPULATE_F_ALL),
};

/* Start a reply to @info's command; NULL if out of memory. */
static struct sk_buff *tdsm_nl_reply_new(struct genl_info *info, void **hdr)
{
	struct sk_buff *skb = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);

	if (!skb)
		return NULL;
	*hdr = genlmsg_put_reply(skb, info, &tdsm_genl_family, 0,
				 info->genlhdr->cmd);
	if (!*hdr) {
		nlmsg_free(skb);
		return NULL;
	}
	return skb;
}

static int __tdsm_nl_migrate(struct sk_buff *skb, struct genl_info *info)
{
	struct tdsm_migrate_result res = {};
	struct sk_buff *msg;
	void *hdr;
	int err;

	if (GENL_REQ_ATTR_CHECK(info, TINYDSM_A_ADDR) ||
	    GENL_REQ_ATTR_CHECK(info, TINYDSM_A_NPAGES) ||
	    GENL_REQ_ATTR_CHECK(info, TINYDSM_A_FROM)) {
		NL_SET_ERR_MSG_MOD(info->extack,
				   "MIGRATE needs an address, a page count and a source node");
		return -EINVAL;
	}
	err = tdsm_migrate(&tdsm_region,
			   nla_get_u64(info->attrs[TINYDSM_A_ADDR]),
			   nla_get_u32(info->attrs[TINYDSM_A_NPAGES]),
			   nla_get_u32(info->attrs[TINYDSM_A_FROM]),
			   &res, info->extack);
	/*
	 * A migration that stopped after some batches keeps them moved: the
	 * caller gets what moved in a reply, and then the error (the ack).
	 */
	if (err && !res.moved && !res.skipped)
		return err;
	msg = tdsm_nl_reply_new(info, &hdr);
	if (!msg)
		return err ?: -ENOMEM;
	if (nla_put_u32(msg, TINYDSM_A_PAGES_MOVED, res.moved) ||
	    nla_put_u32(msg, TINYDSM_A_PAGES_SKIPPED, res.skipped) ||
	    nla_put_u32(msg, TINYDSM_A_PAGES_DATA, res.data) ||
	    nla_put_u32(msg, TINYDSM_A_HOLDERS, tdsm_nset_u32(res.holders)) ||
	    nla_put_u64_64bit(msg, TINYDSM_A_HOLDERS64, res.holders,
			      TINYDSM_A_PAD) ||
	    nla_put_u64_64bit(msg, TINYDSM_A_NSEC, res.nsec, TINYDSM_A_PAD)) {
		nlmsg_free(msg);
		return err ?: -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	if (!err)
		return genlmsg_reply(msg, info);
	genlmsg_reply(msg, info);
	return err;
}

static int __tdsm_nl_repopulate(struct sk_buff *skb, struct genl_info *info)
{
	struct tdsm_migrate_result res = {};
	struct sk_buff *msg;
	u32 flags = 0;
	void *hdr;
	int err;

	if (GENL_REQ_ATTR_CHECK(info, TINYDSM_A_ADDR) ||
	    GENL_REQ_ATTR_CHECK(info, TINYDSM_A_NPAGES)) {
		NL_SET_ERR_MSG_MOD(info->extack, "REPOPULATE needs an address and a page count");
		return -EINVAL;
	}
	if (info->attrs[TINYDSM_A_FLAGS])
		flags = nla_get_u32(info->attrs[TINYDSM_A_FLAGS]);
	err = tdsm_repopulate(&tdsm_region,
			      nla_get_u64(info->attrs[TINYDSM_A_ADDR]),
			      nla_get_u32(info->attrs[TINYDSM_A_NPAGES]),
			      flags, &res, info->extack);
	if (err)
		return err;
	msg = tdsm_nl_reply_new(info, &hdr);
	if (!msg)
		return -ENOMEM;
	if (nla_put_u32(msg, TINYDSM_A_PAGES_FETCHED, res.fetched) ||
	    nla_put_u32(msg, TINYDSM_A_PAGES_MAPPED, res.mapped) ||
	    nla_put_u32(msg, TINYDSM_A_SITES, res.sites) ||
	    nla_put_u64_64bit(msg, TINYDSM_A_NSEC, res.nsec, TINYDSM_A_PAD)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

static int __tdsm_nl_node_evict(struct sk_buff *skb, struct genl_info *info)
{
	struct tdsm_peer_info pi;
	struct sk_buff *msg;
	u32 dropped, lost;
	void *hdr;
	u8 id;

	if (GENL_REQ_ATTR_CHECK(info, TINYDSM_A_NODE_ID)) {
		NL_SET_ERR_MSG_MOD(info->extack, "missing node id");
		return -EINVAL;
	}
	id = nla_get_u32(info->attrs[TINYDSM_A_NODE_ID]);
	if (tdsm_peer_get_info(id, &pi)) {
		NL_SET_ERR_MSG_MOD(info->extack, "no such node");
		return -ENOENT;
	}
	if (pi.self) {
		NL_SET_ERR_MSG_MOD(info->extack, "cannot evict this node");
		return -EINVAL;
	}
	tdsm_peer_disconnect(id);
	tdsm_evict(&tdsm_region, id, &dropped, &lost);
	tdsm_event_evicted(id, dropped, lost);
	msg = tdsm_nl_reply_new(info, &hdr);
	if (!msg)
		return -ENOMEM;
	if (nla_put_u32(msg, TINYDSM_A_NODE_ID, id) ||
	    nla_put_u32(msg, TINYDSM_A_NPAGES, dropped) ||
	    nla_put_u32(msg, TINYDSM_A_PAGES_LOST, lost)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

/*
 * The key is NLA_BINARY of exactly TINYDSM_KEY_LEN bytes: an exact length
 * bound (NLA_POLICY_EXACT_LEN) would answer -ERANGE; say -EINVAL instead,
 * as for every other malformed value.
 */
static const struct nla_policy tdsm_key_set_policy[TINYDSM_A_KEY + 1] = {
	[TINYDSM_A_KEY]		= { .type = NLA_BINARY },
};

static int __tdsm_nl_key_set(struct sk_buff *skb, struct genl_info *info)
{
	const struct nlattr *attr = info->attrs[TINYDSM_A_KEY];

	if (GENL_REQ_ATTR_CHECK(info, TINYDSM_A_KEY)) {
		NL_SET_ERR_MSG_MOD(info->extack, "missing key");
		return -EINVAL;
	}
	return tdsm_auth_set_key(nla_data(attr), nla_len(attr), info->extack);
}

static const struct nla_policy tdsm_region_set_policy[TINYDSM_A_HOME_BUDGET + 1] = {
	[TINYDSM_A_CACHE_BUDGET]	= { .type = NLA_U64 },
	[TINYDSM_A_HOME_BUDGET]		= { .type = NLA_U64 },
};

/* Either budget or both; both checked before either is set. */
static int __tdsm_nl_region_set(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *cache = info->attrs[TINYDSM_A_CACHE_BUDGET];
	struct nlattr *home = info->attrs[TINYDSM_A_HOME_BUDGET];
	int err;

	if (!cache && !home) {
		NL_SET_ERR_MSG_MOD(info->extack, "nothing to set (no cache or home budget)");
		return -EINVAL;
	}
	err = 0;
	if (home)
		err = tdsm_budget_check(nla_get_u64(home), TDSM_BUDGET_HOME,
					info->extack);
	if (!err && cache)
		err = tdsm_budget_check(nla_get_u64(cache), TDSM_BUDGET_CACHE,
					info->extack);
	if (err)
		return err;
	/* Checked: neither setter refuses now. */
	if (cache)
		WARN_ON_ONCE(tdsm_cache_set_budget(nla_get_u64(cache), NULL));
	if (home)
		tdsm_home_set_budget(nla_get_u64(home));
	return 0;
}

/* Every command runs through here: none runs once the exit closed them. */
#define TDSM_NL_DOIT(name)						\
static int name(struct sk_buff *skb, struct genl_info *info)		\
{									\
	int err = tdsm_nl_cmd_begin(info->extack);			\
									\
	if (err)							\
		return err;						\
	err = __##name(skb, info);					\
	tdsm_nl_cmd_end();						\
	return err;							\
}

TDSM_NL_DOIT(tdsm_nl_node_add)
TDSM_NL_DOIT(tdsm_nl_node_del)
TDSM_NL_DOIT(tdsm_nl_migrate)
TDSM_NL_DOIT(tdsm_nl_repopulate)
TDSM_NL_DOIT(tdsm_nl_node_evict)
TDSM_NL_DOIT(tdsm_nl_key_set)
TDSM_NL_DOIT(tdsm_nl_region_set)

static int tdsm_nl_node_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	int err = tdsm_nl_cmd_begin(cb->extack);

	if (err)
		return err;
	err = __tdsm_nl_node_dump(skb, cb);
	tdsm_nl_cmd_end();
	return err;
}

static const struct genl_ops tdsm_genl_ops[] = {
	{
		.cmd = TINYDSM_CMD_NODE_ADD,
		.doit = tdsm_nl_node_add,
		.policy = tdsm_node_add_policy,
		.maxattr = ARRAY_SIZE(tdsm_node_add_policy) - 1,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = TINYDSM_CMD_NODE_DEL,
		.doit = tdsm_nl_node_del,
		.policy = tdsm_node_del_policy,
		.maxattr = ARRAY_SIZE(tdsm_node_del_policy) - 1,
		.flags = GENL_ADMIN_PERM,
	}, {
		/* No policy: the core rejects any attribute. */
		.cmd = TINYDSM_CMD_NODE_GET,
		.start = tdsm_nl_node_dump_start,
		.dumpit = tdsm_nl_node_dump,
	}, {
		.cmd = TINYDSM_CMD_MIGRATE,
		.doit = tdsm_nl_migrate,
		.policy = tdsm_migrate_policy,
		.maxattr = ARRAY_SIZE(tdsm_migrate_policy) - 1,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = TINYDSM_CMD_REPOPULATE,
		.doit = tdsm_nl_repopulate,
		.policy = tdsm_repopulate_policy,
		.maxattr = ARRAY_SIZE(tdsm_repopulate_policy) - 1,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = TINYDSM_CMD_NODE_EVICT,
		.doit = tdsm_nl_node_evict,
		.policy = tdsm_node_del_policy,
		.maxattr = ARRAY_SIZE(tdsm_node_del_policy) - 1,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = TINYDSM_CMD_KEY_SET,
		.doit = tdsm_nl_key_set,
		.policy = tdsm_key_set_policy,
		.maxattr = ARRAY_SIZE(tdsm_key_set_policy) - 1,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = TINYDSM_CMD_REGION_SET,
		.doit = tdsm_nl_region_set,
		.policy = tdsm_region_set_policy,
		.maxattr = ARRAY_SIZE(tdsm_region_set_policy) - 1,
		.flags = GENL_ADMIN_PERM,
	},
};

static const struct genl_multicast_group tdsm_genl_mcgrps[] = {
	/* Page addresses, faulting nodes, errors: not for everyone. */
	{ .name = TINYDSM_GENL_MCGRP_EVENTS, .flags = GENL_MCAST_CAP_NET_ADMIN, },
};

/*
 * resv_start_op stays 0: every command is new, so the core validates the
 * reserved header fields and parses attributes strictly, and a command
 * without a policy takes no attributes.
 */
static struct genl_family tdsm_genl_family __ro_after_init = {
	.name = TINYDSM_GENL_NAME,
	.version = TINYDSM_GENL_VERSION,
	.module = THIS_MODULE,
	.ops = tdsm_genl_ops,
	.n_ops = ARRAY_SIZE(tdsm_genl_ops),
	.mcgrps = tdsm_genl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(tdsm_genl_mcgrps),
	.parallel_ops = true,
};

/* ---- events ------------------------------------------------------------ */

/*
 * An event message with @event and whatever @fill puts in; sent only if
 * someone listens. GFP_ATOMIC: events come from any context.
 */
struct tdsm_event_args {
	u32 event;
	u8 node, from, to;
	int err;
	u64 addr;
	u32 npages, rate, lost, flags;
	bool has_node, has_addr, has_range, has_err, has_rate, has_lost;
	bool has_budget;
};

/* Someone listens, and the family is there to send to them. RCU held. */
static bool tdsm_events_wanted(void)
{
	RCU_LOCKDEP_WARN(!rcu_read_lock_held(), "events looked up outside RCU");
	return READ_ONCE(tdsm_nl_events_on) &&
	       genl_has_listeners(&tdsm_genl_family, &init_net, 0);
}

static void __tdsm_event_send(const struct tdsm_event_args *a)
{
	struct sk_buff *skb;
	void *hdr;

	skb = genlmsg_new(NLMSG_GOODSIZE, GFP_ATOMIC);
	if (!skb)
		return;
	hdr = genlmsg_put(skb, 0, 0, &tdsm_genl_family, 0, TINYDSM_CMD_EVENT);
	if (!hdr)
		goto fail;
	if (nla_put_u32(skb, TINYDSM_A_EVENT, a->event) ||
	    (a->has_node && nla_put_u32(skb, TINYDSM_A_NODE_ID, a->node)) ||
	    (a->has_addr &&
	     nla_put_u64_64bit(skb, TINYDSM_A_ADDR, a->addr, TINYDSM_A_PAD)) ||
	    (a->has_range && (nla_put_u32(skb, TINYDSM_A_NPAGES, a->npages) ||
			      nla_put_u32(skb, TINYDSM_A_FROM, a->from) ||
			      nla_put_u32(skb, TINYDSM_A_TO, a->to))) ||
	    (a->has_err && nla_put_s32(skb, TINYDSM_A_ERRNO, a->err)) ||
	    (a->has_rate && nla_put_u32(skb, TINYDSM_A_RATE, a->rate)) ||
	    (a->has_lost && (nla_put_u32(skb, TINYDSM_A_NPAGES, a->npages) ||
			     nla_put_u32(skb, TINYDSM_A_PAGES_LOST, a->lost))) ||
	    (a->has_budget && (nla_put_u32(skb, TINYDSM_A_NPAGES, a->npages) ||
			       nla_put_u32(skb, TINYDSM_A_FLAGS, a->flags))))
		goto fail;
	genlmsg_end(skb, hdr);
	genlmsg_multicast(&tdsm_genl_family, skb, 0, 0, GFP_ATOMIC);
	return;
fail:
	nlmsg_free(skb);
}

/* Sent only while the family is registered; see the top of this file. */
static void tdsm_event_send(const struct tdsm_event_args *a)
{
	rcu_read_lock();
	if (tdsm_events_wanted())
		__tdsm_event_send(a);
	rcu_read_unlock();
}

void tdsm_event_node(u32 event, u8 node, int err)
{
	struct tdsm_event_args a = { .event = event, .node = node,
				     .has_node = true, .err = err,
				     .has_err = event == TINYDSM_EV_NODE_DOWN };

	tdsm_event_send(&a);
}

void tdsm_event_migrated(u64 addr, u32 npages, u8 from, u8 to)
{
	struct tdsm_event_args a = { .event = TINYDSM_EV_MIGRATED,
				     .addr = addr, .has_addr = true,
				     .npages = npages, .from = from, .to = to,
				     .has_range = true };

	tdsm_event_send(&a);
}

/*
 * Send @a if someone listens and @rs allows: events that may come at the
 * rate of faults spend the rate only on listeners.
 */
static void tdsm_event_send_ratelimited(const struct tdsm_event_args *a,
					struct ratelimit_state *rs)
{
	bool wanted;

	rcu_read_lock();
	wanted = tdsm_events_wanted();
	rcu_read_unlock();
	if (wanted && __ratelimit(rs))
		tdsm_event_send(a);
}

/* TINYDSM_EV_OWNER (rate-limited) or TINYDSM_EV_FAULT_ERROR. */
void tdsm_event_page(u32 event, u64 addr, u8 node, int err)
{
	static DEFINE_RATELIMIT_STATE(owner_rs, HZ, 100);
	struct tdsm_event_args a = { .event = event, .addr = addr,
				     .has_addr = true, .node = node,
				     .has_node = true, .err = err,
				     .has_err = event == TINYDSM_EV_FAULT_ERROR };

	if (event == TINYDSM_EV_OWNER)
		tdsm_event_send_ratelimited(&a, &owner_rs);
	else
		tdsm_event_send(&a);
}

/* TINYDSM_EV_BUDGET, rate-limited like TINYDSM_EV_OWNER. */
void tdsm_event_budget(u64 addr, u32 npages, int err, u32 why)
{
	static DEFINE_RATELIMIT_STATE(budget_rs, HZ, 100);
	struct tdsm_event_args a = { .event = TINYDSM_EV_BUDGET,
				     .addr = addr, .has_addr = true,
				     .err = err, .has_err = true,
				     .npages = npages, .flags = why,
				     .has_budget = true };

	tdsm_event_send_ratelimited(&a, &budget_rs);
}

void tdsm_event_storm(u32 rate, u64 addr)
{
	struct tdsm_event_args a = { .event = TINYDSM_EV_FAULT_STORM,
				     .rate = rate, .has_rate = true,
				     .addr = addr, .has_addr = true };

	tdsm_event_send(&a);
}

void tdsm_event_evicted(u8 node, u32 dropped, u32 lost)
{
	struct tdsm_event_args a = { .event = TINYDSM_EV_EVICTED,
				     .node = node, .has_node = true,
				     .npages = dropped, .lost = lost,
				     .has_lost = true };

	tdsm_event_send(&a);
}

/* Called last by the module's init: commands and events from now on. */
int __init tdsm_netlink_init(void)
{
	int err;

	tdsm_nl_cmds_closed = false;
	err = genl_register_family(&tdsm_genl_family);
	if (!err)
		WRITE_ONCE(tdsm_nl_events_on, true);
	return err;
}

/*
 * Called first by the module's exit: wait for the commands that run, and
 * refuse the others, before the exit tears down what they use. The family
 * stays registered, for the events of the teardown.
 */
void tdsm_netlink_stop(void)
{
	down_write(&tdsm_nl_cmds_sem);
	tdsm_nl_cmds_closed = true;
	up_write(&tdsm_nl_cmds_sem);
}

/*
 * Called last by the module's exit, once nothing that sends events is
 * left: no event may go out on the family once it is unregistered.
 */
void tdsm_netlink_exit(void)
{
	WRITE_ONCE(tdsm_nl_events_on, false);
	synchronize_rcu();	/* an event already past the check is out */
	genl_unregister_family(&tdsm_genl_family);
}

MODULE_ALIAS_GENL_FAMILY(TINYDSM_GENL_NAME);
