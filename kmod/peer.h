/* SPDX-License-Identifier: GPL-2.0 */
/* tinydsm: the peers this node knows (peer.c). */
#ifndef _TDSM_PEER_H
#define _TDSM_PEER_H

#include <linux/atomic.h>
#include <linux/kref.h>
#include <linux/socket.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/workqueue.h>

struct netlink_ext_ack;
struct tdsm_conn;

/**
 * struct tdsm_peer - another node
 * @id: its node id.
 * @addr: where it listens.
 * @ref: held by tdsm_peers[] and by each connection.
 * @conn: the connection once it is UP (published at ESTABLISHED, with a
 *	reference), until its teardown; under tdsm_peers_lock.
 * @connecting: the connection being set up (no reference: its teardown
 *	clears this before dropping its own), under tdsm_peers_lock.
 * @error: last connection error, -errno, under tdsm_peers_lock.
 * @removed: deleted; no more reconnects. Under tdsm_peers_lock.
 * @backoff_ms: next reconnect delay.
 * @connect_work: (re)connects, on the initiating side, in tdsm_conn_wq;
 *	queued only under tdsm_peers_lock and only while !@removed, so that
 *	tdsm_peer_del()'s cancel is final.
 * @drop_work: drops our read copies of its pages after a disconnect; holds
 *	a reference while queued.
 * @auth: enum tinydsm_node_auth of the last connection, under
 *	tdsm_peers_lock.
 * @setup_ns: how long the last connection that went UP took, from its
 *	start (struct tdsm_conn @t_start) to UP; 0 if none went up yet. Under
 *	tdsm_peers_lock, set by tdsm_peer_publish().
 * @auth_ns: of which the exchange of proofs (ESTABLISHED handled -> UP);
 *	0 if that connection went up without a key. Likewise.
 * @tx_msgs, @rx_msgs, @rx_bad: counters.
 * @auth_fails: connections refused for a missing or wrong proof.
 * @rx_unmatched: replies that matched no request outstanding on the
 *	connection (forged, or late), dropped.
 */
struct tdsm_peer {
	u8 id;
	struct sockaddr_storage addr;
	struct kref ref;
	struct tdsm_conn *conn;
	struct tdsm_conn *connecting;
	int error;
	bool removed;
	unsigned int backoff_ms;
	struct delayed_work connect_work;
	struct work_struct drop_work;
	atomic64_t tx_msgs;
	atomic64_t rx_msgs;
	atomic64_t rx_bad;
	u8 auth;
	u64 setup_ns;
	u64 auth_ns;
	atomic64_t auth_fails;
	atomic64_t rx_unmatched;
};

/**
 * struct tdsm_peer_info - a node as the netlink family reports it
 * @id: node id.
 * @self: this is the local node.
 * @addr: its address (for this node: the address it listens on).
 * @state: enum tinydsm_node_state.
 * @error: last connection error, -errno, or 0.
 * @tx_msgs, @rx_msgs: messages sent to it / received from it.
 * @rx_bad: messages from it refused as malformed.
 * @auth: enum tinydsm_node_auth.
 * @auth_fails: its connections refused for want of a proof of the key.
 * @rx_unmatched: replies from it that matched no outstanding request.
 * @setup_ns: how long its last connection that went up took, from its
 *	start to UP; 0 if none went up (then NODE_GET leaves both out).
 * @auth_ns: of which the exchange of proofs of the key; 0 without a key.
 */
struct tdsm_peer_info {
	u8 id;
	bool self;
	struct sockaddr_storage addr;
	u8 state;
	int error;
	u64 tx_msgs;
	u64 rx_msgs;
	u64 rx_bad;
	u8 auth;
	u64 auth_fails;
	u64 rx_unmatched;
	u64 setup_ns;
	u64 auth_ns;
};

/* Callers may sleep. */
int tdsm_peer_add(u8 id, const struct sockaddr_storage *addr,
		  struct netlink_ext_ack *extack);
int tdsm_peer_del(u8 id, struct netlink_ext_ack *extack);
void tdsm_peer_disconnect(u8 id);
/* Fill @info for node @id (this node included); -ENOENT if unknown. */
int tdsm_peer_get_info(u8 id, struct tdsm_peer_info *info);
/* Bumped on every add and del, for consistent netlink dumps. */
unsigned int tdsm_peers_generation(void);

/* connections to the peers, for the transport and the protocol */
extern spinlock_t tdsm_peers_lock;
struct tdsm_peer *tdsm_peer_find(u8 id);	/* +1 ref, NULL if unknown */
void tdsm_peer_put(struct tdsm_peer *peer);
struct tdsm_conn *tdsm_peer_conn(u8 id);	/* +1 ref, NULL if not up */
struct tdsm_conn *tdsm_peer_conn_wait(u8 id, unsigned int ms);
int tdsm_peer_reserve(struct tdsm_peer *peer, struct tdsm_conn *conn);
int tdsm_peer_publish(struct tdsm_peer *peer, struct tdsm_conn *conn);
bool tdsm_peer_unpublish(struct tdsm_peer *peer, struct tdsm_conn *conn);
void tdsm_peer_auth_failed(struct tdsm_peer *peer, const char *why);
void tdsm_peer_conn_gone(struct tdsm_peer *peer, struct tdsm_conn *conn,
			 bool was_up);
int tdsm_peers_init(void);
void tdsm_peers_exit(void);

#endif /* _TDSM_PEER_H */
