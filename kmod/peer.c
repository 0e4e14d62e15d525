// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: the peers this node knows, configured over generic netlink.
 *
 * A peer is an id and an address. The node with the lower id connects
 * (tdsm_conn_connect(), retried with backoff while the peer is configured);
 * the other one accepts. Either way the connection hangs off the peer.
 *
 * Locking: tdsm_peers_mutex serialises add and del; tdsm_peers_lock (a
 * spinlock, taken briefly, also from the fault path) protects tdsm_peers[]
 * and each peer's conn, connecting, error, backoff_ms and removed fields
 * (and auth, setup_ns and auth_ns, set when a connection is published),
 * and is taken before a connection's lock (tdsm_conn_make_up()).
 *
 * A connection is reserved in its peer (->connecting) while it is set up,
 * published (->conn, with a reference) only once ESTABLISHED made it UP,
 * and unpublished by its teardown. The reconnect work is queued only
 * under tdsm_peers_lock while the peer is not removed, so that
 * tdsm_peer_del()'s cancel is final and no timer outlives the peer.
 */
#include <linux/delay.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/mutex.h>
#include <linux/netlink.h>
#include <linux/slab.h>

#include "auth.h"
#include "netlink.h"
#include "peer.h"
#include "proto.h"
#include "rdma.h"
#include "tinydsm.h"
#include "wait.h"

#define TDSM_BACKOFF_MIN_MS	250
/* Below timeout_ms's default, so that a fault waiting for a reconnect sees it. */
#define TDSM_BACKOFF_MAX_MS	2000

DEFINE_SPINLOCK(tdsm_peers_lock);
static struct tdsm_peer *tdsm_peers[TDSM_NODES_MAX + 1];	/* tdsm_peers_lock */
static DEFINE_MUTEX(tdsm_peers_mutex);
/* 0 means "not set" to genl_dump_check_consistent(): start at 1. */
static unsigned int tdsm_peers_gen = 1;			/* tdsm_peers_lock */

unsigned int tdsm_peers_generation(void)
{
	unsigned int gen;

	spin_lock_bh(&tdsm_peers_lock);
	gen = tdsm_peers_gen;
	spin_unlock_bh(&tdsm_peers_lock);
	return gen;
}

static void tdsm_peer_release(struct kref *ref)
{
	kfree(container_of(ref, struct tdsm_peer, ref));
}

void tdsm_peer_put(struct tdsm_peer *peer)
{
	kref_put(&peer->ref, tdsm_peer_release);
}

struct tdsm_peer *tdsm_peer_find(u8 id)
{
	struct tdsm_peer *peer = NULL;

	if (id > TDSM_NODES_MAX)
		return NULL;
	spin_lock_bh(&tdsm_peers_lock);
	if (tdsm_peers[id]) {
		peer = tdsm_peers[id];
		kref_get(&peer->ref);
	}
	spin_unlock_bh(&tdsm_peers_lock);
	return peer;
}

/* The established connection to node @id, with a reference; NULL if none. */
struct tdsm_conn *tdsm_peer_conn(u8 id)
{
	struct tdsm_conn *conn = NULL;

	if (id > TDSM_NODES_MAX)
		return NULL;
	spin_lock_bh(&tdsm_peers_lock);
	if (tdsm_peers[id] && tdsm_peers[id]->conn &&
	    tdsm_conn_is_up(tdsm_peers[id]->conn)) {
		conn = tdsm_peers[id]->conn;
		kref_get(&conn->ref);	/* the peer holds one: not zero */
	}
	spin_unlock_bh(&tdsm_peers_lock);
	return conn;
}

/* Queue the reconnect in @delay_ms, if this side connects. */
static void tdsm_peer_kick(struct tdsm_peer *peer, unsigned int delay_ms,
			   bool mod)
{
	lockdep_assert_held(&tdsm_peers_lock);
	if (peer->removed || tdsm_region.node_id >= peer->id)
		return;
	if (mod)
		mod_delayed_work(tdsm_conn_wq, &peer->connect_work,
				 msecs_to_jiffies(delay_ms));
	else
		queue_delayed_work(tdsm_conn_wq, &peer->connect_work,
				   msecs_to_jiffies(delay_ms));
}

/*
 * Reserve @peer for @conn while it is set up; -EBUSY if the peer is
 * removed or has another connection. On the accepting side the peer only
 * connects when it has none, so ours may be stale (its disconnect lost
 * while the link was down): one still being set up is killed; one that is
 * up is probed (tdsm_conn_probe()), and dies if the peer's end is gone.
 * Either way the peer's next attempt finds the way free, while a second
 * connection claiming a live peer's id is refused and changes nothing.
 */
int tdsm_peer_reserve(struct tdsm_peer *peer, struct tdsm_conn *conn)
{
	struct tdsm_conn *up = NULL, *pending = NULL;
	int err = 0;

	spin_lock_bh(&tdsm_peers_lock);
	if (peer->removed) {
		err = -EBUSY;
	} else if (peer->conn || peer->connecting) {
		err = -EBUSY;
		if (!conn->initiator) {
			up = peer->conn;
			pending = peer->connecting;
			if (up)
				kref_get(&up->ref);
			if (pending)
				kref_get(&pending->ref);
		}
	} else {
		peer->connecting = conn;
	}
	spin_unlock_bh(&tdsm_peers_lock);
	if (pending) {
		pr_info_ratelimited("node %u: connects again: dropping the connection under way\n",
				    peer->id);
		tdsm_conn_kill(pending, -ECONNRESET);
		tdsm_conn_put(pending);
	}
	if (up) {
		tdsm_conn_probe(up);
		tdsm_conn_put(up);
	}
	return err;
}

/*
 * ESTABLISHED: make @conn UP and publish it, together (under
 * tdsm_peers_lock), unless it was killed or the peer removed meanwhile.
 */
int tdsm_peer_publish(struct tdsm_peer *peer, struct tdsm_conn *conn)
{
	u64 setup_ns = 0, auth_ns = 0;
	int err = 0;

	spin_lock_bh(&tdsm_peers_lock);
	if (peer->removed || peer->connecting != conn || peer->conn)
		err = -EBUSY;
	else if (!tdsm_conn_make_up(conn, &setup_ns, &auth_ns))
		err = -ECONNRESET;
	if (!err) {
		kref_get(&conn->ref);	/* the peer's */
		peer->auth = conn->keyed ? TINYDSM_AUTH_KEY : TINYDSM_AUTH_OFF;
		peer->setup_ns = setup_ns;
		peer->auth_ns = auth_ns;
		peer->conn = conn;
		peer->connecting = NULL;
		peer->error = 0;
		peer->backoff_ms = TDSM_BACKOFF_MIN_MS;
	}
	spin_unlock_bh(&tdsm_peers_lock);
	if (err)
		return err;
	if (conn->keyed)
		pr_info("node %u: connected, authenticated\n", peer->id);
	else
		pr_warn("node %u: connected WITHOUT authentication (no cluster key; allow_unauthenticated is set)\n",
			peer->id);
	tdsm_event_node(TINYDSM_EV_NODE_UP, peer->id, 0);
	return 0;
}

/*
 * A connection from or to @peer did not prove the cluster key (@why): it
 * is refused; counted, and shown in NODE_GET. Any context.
 */
void tdsm_peer_auth_failed(struct tdsm_peer *peer, const char *why)
{
	atomic64_inc(&peer->auth_fails);
	spin_lock_bh(&tdsm_peers_lock);
	peer->auth = TINYDSM_AUTH_FAILED;
	spin_unlock_bh(&tdsm_peers_lock);
	pr_warn_ratelimited("node %u: refused: %s\n", peer->id, why);
}

/*
 * The teardown of @conn begins: unhook it from @peer. Returns true if it
 * was published (it was up).
 */
bool tdsm_peer_unpublish(struct tdsm_peer *peer, struct tdsm_conn *conn)
{
	bool was_up = false;

	spin_lock_bh(&tdsm_peers_lock);
	if (peer->connecting == conn) {
		peer->connecting = NULL;
		peer->error = conn->error;
	}
	if (peer->conn == conn) {
		peer->conn = NULL;
		peer->error = conn->error;
		was_up = true;
	}
	spin_unlock_bh(&tdsm_peers_lock);
	if (was_up)
		tdsm_conn_put(conn);	/* the peer's; the teardown holds its own */
	return was_up;
}

/*
 * The teardown of @conn is over (drained, calls failed). If it was up:
 * say so, drop our read copies of the peer's pages (tdsm_wq), and, on the
 * connecting side, reconnect.
 */
void tdsm_peer_conn_gone(struct tdsm_peer *peer, struct tdsm_conn *conn,
			 bool was_up)
{
	if (!was_up)
		return;
	pr_info("node %u: disconnected (%d, %pS)\n", peer->id, conn->error,
		conn->killer);
	tdsm_event_node(TINYDSM_EV_NODE_DOWN, peer->id, conn->error);
	kref_get(&peer->ref);
	if (!queue_work(tdsm_wq, &peer->drop_work))
		tdsm_peer_put(peer);
	spin_lock_bh(&tdsm_peers_lock);
	tdsm_peer_kick(peer, TDSM_BACKOFF_MIN_MS, false);
	spin_unlock_bh(&tdsm_peers_lock);
}

/*
 * After losing the connection to a node, drop our read copies of the pages
 * it homes: it may evict us meanwhile and would then no longer invalidate
 * them (see tdsm_drop_copies_of()).
 */
static void tdsm_peer_drop_work(struct work_struct *work)
{
	struct tdsm_peer *peer = container_of(work, struct tdsm_peer, drop_work);
	unsigned long dropped;

	tdsm_wait_home_lost(peer->id);
	dropped = tdsm_drop_copies_of(&tdsm_region, peer->id);

	if (dropped)
		pr_info("node %u: dropped %lu read copies of its pages\n",
			peer->id, dropped);
	tdsm_peer_put(peer);
}

static void tdsm_peer_connect_work(struct work_struct *work)
{
	struct tdsm_peer *peer = container_of(to_delayed_work(work),
					      struct tdsm_peer, connect_work);
	unsigned int delay;
	int err;

	err = tdsm_conn_connect(peer);
	if (!err)
		return;
	spin_lock_bh(&tdsm_peers_lock);
	if (err == -EBUSY && peer->conn) {
		/* Up already: nothing to do. */
		spin_unlock_bh(&tdsm_peers_lock);
		return;
	}
	/* Else try again later, also if an old one is still being torn down. */
	if (err == -EBUSY)
		pr_info_ratelimited("node %u: cannot connect yet: a connection to it is still going away\n",
				    peer->id);
	if (err != -EBUSY) {
		if (err != peer->error)
			pr_info_ratelimited("node %u: cannot connect: %d\n",
					    peer->id, err);
		peer->error = err;
	}
	delay = peer->backoff_ms;
	peer->backoff_ms = min(2 * peer->backoff_ms, TDSM_BACKOFF_MAX_MS);
	tdsm_peer_kick(peer, delay, false);
	spin_unlock_bh(&tdsm_peers_lock);
}

int tdsm_peer_add(u8 id, const struct sockaddr_storage *addr,
		  struct netlink_ext_ack *extack)
{
	struct tdsm_peer *peer;
	int err = 0;

	if (!id || id > TDSM_NODES_MAX || id > tdsm_region.max_nodes) {
		NL_SET_ERR_MSG_MOD(extack, "node id out of range (1..max_nodes)");
		return -EINVAL;
	}
	if (id == tdsm_region.node_id) {
		NL_SET_ERR_MSG_MOD(extack, "that is this node's own id");
		return -EINVAL;
	}
	if (addr->ss_family != AF_INET && addr->ss_family != AF_INET6) {
		NL_SET_ERR_MSG_MOD(extack, "address family must be AF_INET or AF_INET6");
		return -EINVAL;
	}
	peer = kzalloc(sizeof(*peer), GFP_KERNEL);
	if (!peer)
		return -ENOMEM;
	peer->id = id;
	peer->addr = *addr;
	if (addr->ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&peer->addr;

		if (!sin->sin_port)
			sin->sin_port = htons(tdsm_port);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&peer->addr;

		if (!sin6->sin6_port)
			sin6->sin6_port = htons(tdsm_port);
	}
	kref_init(&peer->ref);
	peer->backoff_ms = TDSM_BACKOFF_MIN_MS;
	INIT_DELAYED_WORK(&peer->connect_work, tdsm_peer_connect_work);
	INIT_WORK(&peer->drop_work, tdsm_peer_drop_work);
	atomic64_set(&peer->tx_msgs, 0);
	atomic64_set(&peer->rx_msgs, 0);
	atomic64_set(&peer->rx_bad, 0);
	atomic64_set(&peer->auth_fails, 0);
	atomic64_set(&peer->rx_unmatched, 0);

	mutex_lock(&tdsm_peers_mutex);
	spin_lock_bh(&tdsm_peers_lock);
	if (tdsm_peers[id]) {
		err = -EEXIST;
	} else {
		tdsm_peers[id] = peer;
		tdsm_peers_gen++;
	}
	spin_unlock_bh(&tdsm_peers_lock);
	if (err) {
		NL_SET_ERR_MSG_MOD(extack, "a node with this id exists");
		kfree(peer);
	} else {
		/* The lower id connects. */
		spin_lock_bh(&tdsm_peers_lock);
		tdsm_peer_kick(peer, 0, false);
		spin_unlock_bh(&tdsm_peers_lock);
	}
	mutex_unlock(&tdsm_peers_mutex);
	return err;
}

/*
 * Kill @peer's connections (up and being set up) and wait until they are
 * torn down. The caller keeps the peer from connecting again meanwhile,
 * or does not mind that it does.
 */
static void tdsm_peer_kill_conns(struct tdsm_peer *peer, int err)
{
	struct tdsm_conn *conns[2];
	int i;

	spin_lock_bh(&tdsm_peers_lock);
	conns[0] = peer->conn;
	conns[1] = peer->connecting;
	for (i = 0; i < 2; i++)
		if (conns[i])
			kref_get(&conns[i]->ref);
	spin_unlock_bh(&tdsm_peers_lock);
	for (i = 0; i < 2; i++) {
		if (!conns[i])
			continue;
		tdsm_conn_kill(conns[i], err);
		tdsm_conn_wait_dead(conns[i]);
		tdsm_conn_put(conns[i]);
	}
}

int tdsm_peer_del(u8 id, struct netlink_ext_ack *extack)
{
	struct tdsm_peer *peer;

	if (id > TDSM_NODES_MAX)
		return -ENOENT;
	mutex_lock(&tdsm_peers_mutex);
	spin_lock_bh(&tdsm_peers_lock);
	peer = tdsm_peers[id];
	if (peer) {
		tdsm_peers[id] = NULL;
		tdsm_peers_gen++;
		/* From now on nothing queues connect_work, nor publishes. */
		peer->removed = true;
	}
	spin_unlock_bh(&tdsm_peers_lock);
	if (!peer) {
		mutex_unlock(&tdsm_peers_mutex);
		NL_SET_ERR_MSG_MOD(extack, "no node with this id");
		return -ENOENT;
	}
	/* A connect under way ends as soon as its connection is killed. */
	tdsm_peer_kill_conns(peer, -ESHUTDOWN);
	cancel_delayed_work_sync(&peer->connect_work);
	/* One it reserved before it saw the peer removed. */
	tdsm_peer_kill_conns(peer, -ESHUTDOWN);
	mutex_unlock(&tdsm_peers_mutex);
	tdsm_peer_put(peer);
	return 0;
}

/*
 * The connection to node @id once it is up, waiting for it at most @ms
 * (a reconnect in progress); NULL if it is not up by then, or on a fatal
 * signal. A reference, as tdsm_peer_conn().
 */
struct tdsm_conn *tdsm_peer_conn_wait(u8 id, unsigned int ms)
{
	unsigned long end = jiffies + msecs_to_jiffies(ms);
	struct tdsm_conn *conn;
	struct tdsm_peer *peer;

	conn = tdsm_peer_conn(id);
	if (conn)
		return conn;
	/* Not a configured peer: nothing to wait for. */
	peer = tdsm_peer_find(id);
	if (!peer)
		return NULL;
	/* Someone needs it now: if we are the side that connects, try at once. */
	spin_lock_bh(&tdsm_peers_lock);
	if (!peer->conn && !peer->connecting)
		tdsm_peer_kick(peer, 0, true);
	spin_unlock_bh(&tdsm_peers_lock);
	tdsm_peer_put(peer);
	for (;;) {
		conn = tdsm_peer_conn(id);
		if (conn || time_after(jiffies, end) ||
		    fatal_signal_pending(current))
			return conn;
		msleep(50);
	}
}

/*
 * Drop the connection to node @id, if any, and wait until it is torn down;
 * the peer stays configured, so the connecting side reconnects later.
 */
void tdsm_peer_disconnect(u8 id)
{
	struct tdsm_peer *peer;

	peer = tdsm_peer_find(id);
	if (!peer)
		return;
	tdsm_peer_kill_conns(peer, -ECONNABORTED);
	tdsm_peer_put(peer);
}

int tdsm_peer_get_info(u8 id, struct tdsm_peer_info *info)
{
	struct tdsm_peer *peer;

	memset(info, 0, sizeof(*info));
	if (id > TDSM_NODES_MAX)
		return -ENOENT;
	info->id = id;
	if (id == tdsm_region.node_id) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&info->addr;

		info->self = true;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(tdsm_port);
		info->state = TINYDSM_NODE_UP;
		if (tdsm_auth_has_key())
			info->auth = TINYDSM_AUTH_KEY;
		else if (tdsm_allow_unauth)
			info->auth = TINYDSM_AUTH_OFF;
		return 0;
	}
	spin_lock_bh(&tdsm_peers_lock);
	peer = tdsm_peers[id];
	if (peer) {
		info->addr = peer->addr;
		info->error = peer->error;
		info->state = peer->conn && tdsm_conn_is_up(peer->conn) ?
			      TINYDSM_NODE_UP : TINYDSM_NODE_CONNECTING;
		info->tx_msgs = atomic64_read(&peer->tx_msgs);
		info->rx_msgs = atomic64_read(&peer->rx_msgs);
		info->rx_bad = atomic64_read(&peer->rx_bad);
		info->auth = peer->auth;
		info->auth_fails = atomic64_read(&peer->auth_fails);
		info->rx_unmatched = atomic64_read(&peer->rx_unmatched);
		info->setup_ns = peer->setup_ns;
		info->auth_ns = peer->auth_ns;
	}
	spin_unlock_bh(&tdsm_peers_lock);
	return peer ? 0 : -ENOENT;
}

int tdsm_peers_init(void)
{
	return 0;
}

void tdsm_peers_exit(void)
{
	int id;

	for (id = 1; id <= TDSM_NODES_MAX; id++)
		tdsm_peer_del(id, NULL);
}
