// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm unloaded while user space listens to its events (2 or more lab
 * nodes, connected by run_cluster_tests.sh).
 *
 *   unload_tells_listeners   node1 joins the family's "events" multicast
 *       group, and nlctrl's "notify" group, which announces the family's
 *       removal (CTRL_CMD_DELFAMILY). Then it unloads tinydsm. The unload
 *       takes node1's connections down, and each sends NODE_DOWN: every
 *       one must reach the listener, and before the family is gone, since
 *       a family's events may only be sent while it is registered (its
 *       group ids are free for any other family once it is not). node1
 *       then loads the module again with the parameters it had and adds
 *       its peers back; every node sees the cluster up again.
 *
 *   unload_everywhere_at_once   every node unloads tinydsm at the same
 *       barrier (each connection torn down from both ends at once), loads
 *       it again and adds its peers back; the cluster must come up again.
 *
 * delete_module() returns once the module's exit is done, and multicast
 * delivery is synchronous: whatever the unload sent is in the listener's
 * socket when it returns, so the events are read without waiting on a
 * clock. The lab fails the run on any WARN, BUG or oops in a kernel log.
 *
 * The module: $TDSM_KO, else $TDSM_TREE/build/$TDSM_KVER/tinydsm.ko.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/tinydsm.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "kselftest_harness.h"
#include "tdsm_cluster.h"
#include "tdsm_nl.h"

#define UP_TIMEOUT_S	90	/* a reconnect under TCG takes seconds */

FIXTURE(unload) {
	struct tc_sync s;
	char err[512];
};

FIXTURE_SETUP(unload)
{
	tc_sync_init(&self->s, "unload_cluster", _metadata->name);
}

FIXTURE_TEARDOWN(unload)
{
	TC_MARK_FAILED();
}

#define BARRIER(step) TC_BARRIER(step, 3 * self->s.timeout_s)

/* ------------------------------------------------- the module's nodes */

struct peer {
	uint32_t id;
	uint8_t state;
	bool self;
	struct sockaddr_storage addr;
	int addrlen;
};

struct dump {
	struct peer p[TINYDSM_MAX_NODES];
	unsigned int n;
};

static int dump_row(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *tb[TINYDSM_A_MAX + 1];
	struct dump *d = arg;
	struct peer *p;

	if (tnl_parse(nlh, TINYDSM_CMD_NODE_GET, tb, NULL, NULL) ||
	    !tb[TINYDSM_A_NODE_ID] || d->n >= TINYDSM_MAX_NODES)
		return 0;
	p = &d->p[d->n++];
	memset(p, 0, sizeof(*p));
	p->id = tnl_u32(tb, TINYDSM_A_NODE_ID);
	p->state = tnl_u8(tb, TINYDSM_A_NODE_STATE);
	p->self = tnl_u32(tb, TINYDSM_A_NODE_FLAGS) & TINYDSM_NODE_F_SELF;
	if (tb[TINYDSM_A_NODE_ADDR]) {
		p->addrlen = nla_len(tb[TINYDSM_A_NODE_ADDR]);
		memcpy(&p->addr, nla_data(tb[TINYDSM_A_NODE_ADDR]), p->addrlen);
	}
	return 0;
}

/*
 * Send a message of @cmd (@id and @p's address when @p) on a socket of its
 * own and read the answer into @d: 0, or -errno.
 */
static int genl_call(uint8_t cmd, int flags, const struct peer *p,
		     struct dump *d)
{
	struct tnl_reply r = { .row = dump_row, .arg = d };
	struct nl_sock *sk = NULL;
	struct nl_msg *msg;
	int family, e;

	if (tnl_sock_open(&sk))
		return -ENOENT;
	family = tnl_family(sk);
	if (family < 0) {
		nl_socket_free(sk);
		return -ENOENT;
	}
	msg = tnl_msg(family, cmd, flags);
	if (msg && p && (nla_put_u32(msg, TINYDSM_A_NODE_ID, p->id) ||
			 nla_put(msg, TINYDSM_A_NODE_ADDR, p->addrlen, &p->addr))) {
		nlmsg_free(msg);
		msg = NULL;
	}
	e = tnl_xfer(sk, msg, &r);
	nl_socket_free(sk);
	if (!r.done)
		return e == -NLE_NOMEM ? -ENOMEM : -EIO;
	return r.error;
}

/* The module's nodes (NODE_GET): 0, or -errno. */
static int node_dump(struct dump *d)
{
	memset(d, 0, sizeof(*d));
	return genl_call(TINYDSM_CMD_NODE_GET, NLM_F_DUMP, NULL, d);
}

static int node_add(const struct peer *p)
{
	struct dump d = { 0 };

	return genl_call(TINYDSM_CMD_NODE_ADD, 0, p, &d);
}

/* Wait until every node of @want (bitmap) is up in the module, bounded. */
static int wait_up(uint32_t want, int timeout_s, char *err, size_t len)
{
	double end = tc_now() + timeout_s;
	uint32_t up;
	struct dump d;
	unsigned int i;
	int e;

	for (;;) {
		up = 0;
		e = node_dump(&d);
		for (i = 0; !e && i < d.n; i++)
			if (d.p[i].state == TINYDSM_NODE_UP)
				up |= TC_NODE(d.p[i].id);
		if ((up & want) == want)
			return 0;
		if (tc_now() > end) {
			snprintf(err, len, "nodes %#x not up after %d s (up: %#x, dump: %d)",
				 want & ~up, timeout_s, up, e);
			return -1;
		}
		usleep(200000);
	}
}

/* ---------------------------------------------------------- the listener */

struct heard {
	int family;			/* tinydsm's id while it existed */
	uint32_t down_before_gone;	/* NODE_DOWN before DELFAMILY, bit n = node n */
	uint32_t down_after_gone;
	unsigned int events;
	bool gone;			/* CTRL_CMD_DELFAMILY of tinydsm */
	char log[512];
};

static int listen_cb(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct genlmsghdr *gh = nlmsg_data(nlh);
	struct nlattr *tb[CTRL_ATTR_MAX + 1 > TINYDSM_A_MAX + 1 ?
			  CTRL_ATTR_MAX + 1 : TINYDSM_A_MAX + 1];
	struct heard *h = arg;
	size_t w = strlen(h->log);
	uint32_t ev, node = 0;

	if (nlh->nlmsg_type == GENL_ID_CTRL) {
		if (gh->cmd != CTRL_CMD_DELFAMILY ||
		    genlmsg_parse(nlh, 0, tb, CTRL_ATTR_MAX, NULL) ||
		    !tb[CTRL_ATTR_FAMILY_NAME] ||
		    strcmp(nla_get_string(tb[CTRL_ATTR_FAMILY_NAME]), TINYDSM_GENL_NAME))
			return NL_OK;
		h->gone = true;
		snprintf(h->log + w, sizeof(h->log) - w, " DELFAMILY");
		return NL_OK;
	}
	if (nlh->nlmsg_type != h->family || gh->cmd != TINYDSM_CMD_EVENT ||
	    genlmsg_parse(nlh, 0, tb, TINYDSM_A_MAX, NULL) || !tb[TINYDSM_A_EVENT])
		return NL_OK;
	h->events++;
	ev = nla_get_u32(tb[TINYDSM_A_EVENT]);
	if (tb[TINYDSM_A_NODE_ID])
		node = nla_get_u32(tb[TINYDSM_A_NODE_ID]);
	snprintf(h->log + w, sizeof(h->log) - w, " ev%u/node%u", ev, node);
	if (ev == TINYDSM_EV_NODE_DOWN && node < 32) {
		if (h->gone)
			h->down_after_gone |= TC_NODE(node);
		else
			h->down_before_gone |= TC_NODE(node);
	}
	return NL_OK;
}

/* A socket in tinydsm's "events" and nlctrl's "notify" groups. */
static struct nl_sock *listener_open(struct heard *h, char *err, size_t len)
{
	struct nl_sock *sk = NULL;
	int events, notify, rcvbuf = 1 << 20;

	if (tnl_sock_open(&sk)) {
		snprintf(err, len, "no generic netlink socket");
		goto fail;
	}
	h->family = tnl_family(sk);
	events = tnl_mcgrp(sk, TINYDSM_GENL_MCGRP_EVENTS);
	notify = genl_ctrl_resolve_grp(sk, "nlctrl", "notify");
	if (h->family < 0 || events < 0 || notify < 0) {
		snprintf(err, len, "resolving: family %d, events group %d, notify group %d",
			 h->family, events, notify);
		goto fail;
	}
	nl_socket_disable_seq_check(sk);
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, listen_cb, h);
	setsockopt(nl_socket_get_fd(sk), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (nl_socket_add_memberships(sk, events, notify, 0) < 0 ||
	    nl_socket_set_nonblocking(sk) < 0) {
		snprintf(err, len, "cannot join the groups");
		goto fail;
	}
	return sk;
fail:
	if (sk)
		nl_socket_free(sk);
	return NULL;
}

/* Everything queued on the listener: 0, or the libnl error. */
static int listener_drain(struct nl_sock *sk)
{
	int e;

	do
		e = nl_recvmsgs_default(sk);
	while (e >= 0);
	return e == -NLE_AGAIN ? 0 : e;
}

/* ------------------------------------------------------------ the module */

/*
 * Load the module again with @params and add back the peers of @d that
 * @want names; 0 once they are all up again (bounded), else -1 with the
 * reason in @err.
 */
static int reload(const char *ko, const char *params, const struct dump *d,
		  uint32_t want, char *err, size_t len)
{
	unsigned int i;
	int e;

	if (tc_module_load(ko, params)) {
		snprintf(err, len, "finit_module(%s, %s): %s", ko, params, strerror(errno));
		return -1;
	}
	/* A new module has no key: the run's, before any peer is added. */
	e = tc_key_set();
	if (e) {
		snprintf(err, len, "tinydsmctl key set %s: exit status %d",
			 getenv("TDSM_KEY_FILE"), e);
		return -1;
	}
	for (i = 0; i < d->n; i++) {
		if (d->p[i].self || !(want & TC_NODE(d->p[i].id)))
			continue;
		e = node_add(&d->p[i]);
		if (e) {
			snprintf(err, len, "NODE_ADD %u: %s", d->p[i].id, strerror(-e));
			return -1;
		}
	}
	return wait_up(want, UP_TIMEOUT_S, err, len);
}

TEST_F_TIMEOUT(unload, unload_tells_listeners, 400)
{
	struct heard h = { 0 };
	struct nl_sock *sk;
	char params[256], kobuf[512];
	uint32_t peers = 0, want;
	const char *ko;
	struct dump d;
	unsigned int i;
	int e;

	if (self->s.nodes < 2)
		SKIP(return, "needs 2 or more nodes, this run has %u (TDSM_NODES)",
		     self->s.nodes);
	want = tc_mask(&self->s, TC_ALL) & ~TC_NODE(self->s.id);
	BARRIER("start");
	if (self->s.id != 1) {
		/* node1's unload and reload take its connection to us with them. */
		TC_BARRIER("reloaded", 3 * UP_TIMEOUT_S);
		ASSERT_EQ(0, wait_up(TC_NODE(1), UP_TIMEOUT_S, self->err, sizeof(self->err)))
			TH_LOG("node1 after its reload: %s", self->err);
		BARRIER("done");
		return;
	}

	ko = tc_ko_path(kobuf, sizeof(kobuf));
	ASSERT_NE(NULL, ko) TH_LOG("set TDSM_KO, or TDSM_TREE and TDSM_KVER");
	ASSERT_EQ(0, access(ko, R_OK)) TH_LOG("%s: %s", ko, strerror(errno));
	ASSERT_EQ(0, tc_module_params(params, sizeof(params)));
	ASSERT_EQ(0, node_dump(&d));
	for (i = 0; i < d.n; i++)
		if (!d.p[i].self && d.p[i].state == TINYDSM_NODE_UP)
			peers |= TC_NODE(d.p[i].id);
	ASSERT_EQ(want, peers & want) TH_LOG("peers up before the unload: %#x", peers);

	sk = listener_open(&h, self->err, sizeof(self->err));
	ASSERT_NE(NULL, sk) TH_LOG("%s", self->err);
	ASSERT_EQ(0, syscall(SYS_delete_module, "tinydsm", O_NONBLOCK))
		TH_LOG("delete_module: %s", strerror(errno));
	e = listener_drain(sk);
	nl_socket_free(sk);
	TH_LOG("heard during the unload:%s", h.log);
	EXPECT_EQ(0, e) TH_LOG("reading the events: %s", nl_geterror(e));
	EXPECT_TRUE(h.gone) TH_LOG("no CTRL_CMD_DELFAMILY for %s", TINYDSM_GENL_NAME);
	EXPECT_EQ(want, h.down_before_gone & want)
		TH_LOG("NODE_DOWN before the family went: %#x, want %#x (after it: %#x)",
		       h.down_before_gone, want, h.down_after_gone);
	EXPECT_EQ(0, h.down_after_gone);

	/* Back as it was: loaded with the same parameters, its peers up. */
	EXPECT_EQ(0, reload(ko, params, &d, want, self->err, sizeof(self->err)))
		TH_LOG("after the reload: %s", self->err);
	TC_BARRIER("reloaded", 3 * UP_TIMEOUT_S);
	BARRIER("done");
}

/*
 * Every node unloads tinydsm at the same moment, so that each connection
 * is torn down from both ends at once (a DISCONNECTED arriving while the
 * local teardown runs, a peer's reject racing our own destroy), then loads
 * it again and adds its peers back: all must come up again, and the lab
 * fails the run on any WARN, KASAN, lockdep or kmemleak report.
 */
TEST_F_TIMEOUT(unload, unload_everywhere_at_once, 400)
{
	char params[256], kobuf[512];
	uint32_t peers = 0, want;
	const char *ko;
	struct dump d;
	unsigned int i;

	if (self->s.nodes < 2)
		SKIP(return, "needs 2 or more nodes, this run has %u (TDSM_NODES)",
		     self->s.nodes);
	want = tc_mask(&self->s, TC_ALL) & ~TC_NODE(self->s.id);
	ko = tc_ko_path(kobuf, sizeof(kobuf));
	ASSERT_NE(NULL, ko) TH_LOG("set TDSM_KO, or TDSM_TREE and TDSM_KVER");
	ASSERT_EQ(0, access(ko, R_OK)) TH_LOG("%s: %s", ko, strerror(errno));
	ASSERT_EQ(0, tc_module_params(params, sizeof(params)));
	ASSERT_EQ(0, wait_up(want, UP_TIMEOUT_S, self->err, sizeof(self->err)))
		TH_LOG("before the unload: %s", self->err);
	ASSERT_EQ(0, node_dump(&d));
	for (i = 0; i < d.n; i++)
		if (!d.p[i].self && d.p[i].state == TINYDSM_NODE_UP)
			peers |= TC_NODE(d.p[i].id);
	ASSERT_EQ(want, peers & want) TH_LOG("peers up before the unload: %#x", peers);

	BARRIER("unload");
	ASSERT_EQ(0, syscall(SYS_delete_module, "tinydsm", O_NONBLOCK))
		TH_LOG("delete_module: %s", strerror(errno));
	BARRIER("unloaded");
	EXPECT_EQ(0, reload(ko, params, &d, want, self->err, sizeof(self->err)))
		TH_LOG("after the reload: %s", self->err);
	TC_BARRIER("reloaded", 3 * UP_TIMEOUT_S);
	BARRIER("done");
}

TEST_HARNESS_MAIN
