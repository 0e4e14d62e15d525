// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: the RDMA transport. Kernel verbs and rdma_cm only, nothing
 * specific to one device: Soft-RoCE in the lab, a real NIC elsewhere.
 *
 * One RC queue pair per pair of nodes; the node with the lower id
 * connects. Messages are 64-byte SENDs (wire.h) into TDSM_RX_DEPTH posted
 * receive buffers; a request's reply carries its id. Pages move by RDMA
 * WRITE: the requester registers a fresh frame (fast registration: a
 * REG_MR, run and waited for on a second queue pair of the connection that
 * never sends, before the request goes out; usually ahead of need, so the
 * request waits for none: tdsm_buf_alloc()) and the node holding the page
 * writes the 4 KiB into it, then replies with SEND_WITH_INV so that the
 * requester's rkey dies with the reply. WRITE rather than READ:
 * the data then travels with the one request/reply round trip instead of a
 * second one, and the holder never exposes its own memory.
 *
 * Every wait is bounded. A connection is a state machine (enum
 * tdsm_conn_state, changed only by tdsm_conn_set_state() under conn->lock)
 * with one destroy path, tdsm_conn_teardown_work() in tdsm_conn_wq:
 * unpublish, stop the CM, QP to error, drain, fail the waiting calls. The
 * rules of who owns what, and until when, are in kmod/PROTOCOL.md
 * ("Connection states and object lifetimes"); in short:
 *
 * - a posted work request owns what it uses (its tx, the DMA mappings, the
 *   page references, the MR of a REG_MR) until its completion, which
 *   always comes: success, error, or the drain's flush;
 * - a request once sent is never withdrawn: its caller waits for the reply
 *   (bounded); on timeout it kills the connection and waits for the drain,
 *   which still matches a reply that landed and then fails the call;
 * - a fatal signal stops a caller only before it sends.
 */
#include <crypto/algapi.h>
#include <linux/build_bug.h>
#include <linux/delay.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/lockdep.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>

#include "auth.h"
#include "inject.h"
#include "peer.h"
#include "proto.h"
#include "rdma.h"
#include "tinydsm.h"
#include "trace.h"
#include "wire.h"

#define TDSM_CM_TIMEOUT_MS	3000
/*
 * The QPs' ack timeout, 4.096 us * 2^17 = 0.54 s: how long a sender waits
 * before it sends an unacknowledged packet again. Set on both ends. The
 * default of 6.1's rdma_cm for RoCE is 2^19 (2.1 s), most of timeout_ms:
 * one packet lost at the tail of a reply, with the wait of a nested call,
 * made a call time out. 6.12's default is this value.
 */
#define TDSM_ACK_TIMEOUT	17

unsigned short tdsm_port = 7471;
module_param_named(port, tdsm_port, ushort, 0444);
MODULE_PARM_DESC(port, "rdma_cm port to listen on and connect to (default 7471)");

struct workqueue_struct *tdsm_wq;
struct workqueue_struct *tdsm_conn_wq;

/* Buffers each connection keeps registered ahead of need (tdsm_buf_alloc()). */
static unsigned int tdsm_ready_bufs = TDSM_READY_BUFS;

static int tdsm_ready_bufs_set(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 0, TDSM_READY_BUFS);
}

static const struct kernel_param_ops tdsm_ready_bufs_ops = {
	.set = tdsm_ready_bufs_set,
	.get = param_get_uint,
};
module_param_cb(ready_buffers, &tdsm_ready_bufs_ops, &tdsm_ready_bufs, 0644);
MODULE_PARM_DESC(ready_buffers,
		 "single-page buffers registered ahead of need per connection, 0..8 (default 8; 0: each registered with its request)");

static DEFINE_MUTEX(tdsm_devs_mutex);
static LIST_HEAD(tdsm_devs);		/* under tdsm_devs_mutex */
/* Devices being removed: no new connection or buffer on them. */
#define TDSM_MAX_DYING		4
static struct ib_device *tdsm_dying[TDSM_MAX_DYING];	/* tdsm_devs_mutex */
static DECLARE_WAIT_QUEUE_HEAD(tdsm_devs_wait);	/* a device was released... */
static atomic_t tdsm_devs_released = ATOMIC_INIT(0);	/* ...this many times */
static struct rdma_cm_id *tdsm_listener;

/* Every connection until its release, for device removal. */
static DEFINE_SPINLOCK(tdsm_conns_lock);
static LIST_HEAD(tdsm_conns);		/* under tdsm_conns_lock */

struct tdsm_rx {
	struct ib_cqe cqe;
	struct tdsm_conn *conn;
	u64 dma;
	struct list_head held;	/* in conn->rx_held: a request waiting for a slot */
	struct tdsm_wire_msg msg;
};

struct tdsm_tx {
	struct ib_cqe cqe;
	struct tdsm_conn *conn;
	u64 dma;
	struct page *push;	/* RDMA WRITE source, released on completion */
	u64 push_dma;
	struct tdsm_pushv *pushv;	/* or several: a batch reply */
	struct completion *done;	/* for a lone WRITE that is waited on */
	struct completion *sent;	/* a call's: its SEND is done with */
	bool auth;		/* our TDSM_W_AUTH, posted in state AUTH */
	int status;
	struct tdsm_wire_msg msg;
};

/*
 * The RDMA WRITEs of a batch reply (tdsm_reply_batch()): one per page,
 * mapped, with a page reference each; released with the reply's tx.
 */
struct tdsm_pushv {
	unsigned int n;
	struct page *page[TDSM_WIRE_BATCH];
	u64 dma[TDSM_WIRE_BATCH];
	struct ib_sge sge[TDSM_WIRE_BATCH];
	struct ib_rdma_wr wr[TDSM_WIRE_BATCH];
};

static unsigned long tdsm_timeout(void)
{
	return msecs_to_jiffies(tdsm_timeout_ms);
}

/*
 * How long a caller waits for the reply to a request of @type. A holder
 * answers INVAL, INVALV, FETCH and FETCHV, a waiter's node WAKEUP, by
 * itself: timeout_ms. For the
 * others a home may have to ask other nodes first (EVICTV: the sender
 * itself, with a FETCHV), each bounded by timeout_ms, and waits at most
 * timeout_ms / 2 for the page's directory lock: twice as long.
 */
static unsigned long tdsm_call_timeout(u8 type)
{
	switch (type) {
	case TDSM_W_FETCH:
	case TDSM_W_INVAL:
	case TDSM_W_INVALV:
	case TDSM_W_FETCHV:
	case TDSM_W_WAKEUP:
		return tdsm_timeout();
	case TDSM_W_PLACE:
		/* A MIGRATE batch of the node asked, back to the asker. */
		return 3 * tdsm_timeout();
	default:
		return 2 * tdsm_timeout();
	}
}

/* ---- devices ---------------------------------------------------------- */

static bool tdsm_dev_dying(struct ib_device *ibdev)
{
	int i;

	lockdep_assert_held(&tdsm_devs_mutex);
	for (i = 0; i < TDSM_MAX_DYING; i++)
		if (tdsm_dying[i] == ibdev)
			return true;
	return false;
}

static struct tdsm_dev *tdsm_dev_get(struct ib_device *ibdev)
{
	struct tdsm_dev *dev;

	mutex_lock(&tdsm_devs_mutex);
	if (tdsm_dev_dying(ibdev)) {
		dev = NULL;	/* its removal waits for what is on it */
		goto out;
	}
	list_for_each_entry(dev, &tdsm_devs, list) {
		if (dev->ibdev == ibdev && kref_get_unless_zero(&dev->ref))
			goto out;
	}
	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		goto out;
	dev->ibdev = ibdev;
	kref_init(&dev->ref);
	list_add(&dev->list, &tdsm_devs);
out:
	mutex_unlock(&tdsm_devs_mutex);
	return dev;
}

static void tdsm_dev_release(struct kref *ref)
{
	struct tdsm_dev *dev = container_of(ref, struct tdsm_dev, ref);

	/* Called with tdsm_devs_mutex held (kref_put_mutex). */
	lockdep_assert_held(&tdsm_devs_mutex);
	list_del(&dev->list);
	mutex_unlock(&tdsm_devs_mutex);
	kfree(dev);
	atomic_inc(&tdsm_devs_released);
	wake_up_all(&tdsm_devs_wait);
}

static void tdsm_dev_put(struct tdsm_dev *dev)
{
	might_sleep();
	kref_put_mutex(&dev->ref, tdsm_dev_release, &tdsm_devs_mutex);
}

/* ---- connections: states ---------------------------------------------- */

/* The legal moves; anything else is a bug (WARN) and is not made. */
static const u8 tdsm_conn_legal[] = {
	[TDSM_CS_CONNECTING]	= BIT(TDSM_CS_AUTH) | BIT(TDSM_CS_UP) |
				  BIT(TDSM_CS_CLOSING),
	[TDSM_CS_AUTH]		= BIT(TDSM_CS_UP) | BIT(TDSM_CS_CLOSING),
	[TDSM_CS_UP]		= BIT(TDSM_CS_CLOSING),
	[TDSM_CS_CLOSING]	= BIT(TDSM_CS_DEAD),
	[TDSM_CS_DEAD]		= 0,
};

/*
 * The only place conn->state changes. Entering CLOSING queues the teardown,
 * which owns the connection's own reference from then on. Every waiter on
 * conn->wait looks again.
 */
static bool tdsm_conn_set_state(struct tdsm_conn *conn,
				enum tdsm_conn_state new)
{
	lockdep_assert_held(&conn->lock);
	if (WARN_ON_ONCE(!(tdsm_conn_legal[conn->state] & BIT(new))))
		return false;
	conn->state = new;
	if (new == TDSM_CS_CLOSING)
		queue_work(tdsm_conn_wq, &conn->teardown_work);
	wake_up_all(&conn->wait);
	return true;
}

static enum tdsm_conn_state tdsm_conn_state(struct tdsm_conn *conn)
{
	return READ_ONCE(conn->state);
}

bool tdsm_conn_is_up(struct tdsm_conn *conn)
{
	return tdsm_conn_state(conn) == TDSM_CS_UP;
}

/*
 * Tear the connection down, from any context (also hard IRQ: a QP event).
 * The first kill of a connection that is not yet CLOSING wins and records
 * @err; later ones do nothing. The caller holds a reference or is the
 * connection's CM handler.
 */
void tdsm_conn_kill(struct tdsm_conn *conn, int err)
{
	unsigned long flags;

	spin_lock_irqsave(&conn->lock, flags);
	if (conn->state < TDSM_CS_CLOSING) {
		conn->error = err;
		conn->killer = __builtin_return_address(0);
		tdsm_conn_set_state(conn, TDSM_CS_CLOSING);
	}
	spin_unlock_irqrestore(&conn->lock, flags);
}

/*
 * AUTH -> UP (CONNECTING -> UP for a connection without a key), unless it
 * was killed meanwhile. Called by peer.c with tdsm_peers_lock held, so
 * that UP and published go together. Once UP: *@setup_ns is how long the
 * connection took from its start, *@auth_ns how much of that the exchange
 * of proofs did (0 without a key); both at least 1 ns if not 0.
 */
bool tdsm_conn_make_up(struct tdsm_conn *conn, u64 *setup_ns, u64 *auth_ns)
{
	unsigned long flags;
	bool up = false;
	ktime_t now;

	lockdep_assert_held(&tdsm_peers_lock);
	spin_lock_irqsave(&conn->lock, flags);
	if (conn->state == (conn->keyed ? TDSM_CS_AUTH : TDSM_CS_CONNECTING))
		up = tdsm_conn_set_state(conn, TDSM_CS_UP);
	if (up) {
		now = ktime_get();
		*setup_ns = max_t(s64, ktime_to_ns(ktime_sub(now, conn->t_start)), 1);
		/* In AUTH: t_auth was set with the move there. */
		*auth_ns = conn->keyed ?
			   max_t(s64, ktime_to_ns(ktime_sub(now, conn->t_auth)), 1) : 0;
	}
	spin_unlock_irqrestore(&conn->lock, flags);
	return up;
}

/*
 * Wait until the teardown drained the queue pair and failed every call:
 * after this no completion of @conn runs any more. Not bounded by a
 * timeout of its own: the teardown is (a kill must come first).
 */
void tdsm_conn_wait_dead(struct tdsm_conn *conn)
{
	wait_event(conn->wait, tdsm_conn_state(conn) == TDSM_CS_DEAD);
}

/* What a post is: it decides in which states it may be made. */
enum tdsm_post {
	TDSM_POST_SEND,		/* UP only */
	TDSM_POST_RECV,		/* also CONNECTING and AUTH */
	TDSM_POST_AUTH,		/* our TDSM_W_AUTH: AUTH only */
	TDSM_POST_SETUP,	/* the connecting call on our id: CONNECTING only */
};

/*
 * Posts (ib_post_send/ib_post_recv) happen between these two, and only
 * while the connection is UP, except receives (also CONNECTING and AUTH)
 * and our proof (AUTH). The teardown waits until no post is under way
 * before it drains, so no work request lands on the queue pair after the
 * drain began. The connecting side's rdma_resolve_addr() is one too: it
 * runs outside our CM handler, so rdma_destroy_id() would not wait for
 * it, and a kill in that window (the peer deleted) must not free the id
 * under it.
 */
static bool tdsm_post_begin(struct tdsm_conn *conn, enum tdsm_post kind)
{
	unsigned long flags;
	bool ok;

	spin_lock_irqsave(&conn->lock, flags);
	switch (kind) {
	case TDSM_POST_RECV:
		ok = conn->state < TDSM_CS_CLOSING;
		break;
	case TDSM_POST_AUTH:
		ok = conn->state == TDSM_CS_AUTH;
		break;
	case TDSM_POST_SETUP:
		ok = conn->state == TDSM_CS_CONNECTING;
		break;
	default:
		ok = conn->state == TDSM_CS_UP;
		break;
	}
	if (ok)
		conn->posting++;
	spin_unlock_irqrestore(&conn->lock, flags);
	return ok;
}

static void tdsm_post_end(struct tdsm_conn *conn)
{
	unsigned long flags;

	spin_lock_irqsave(&conn->lock, flags);
	if (!--conn->posting && conn->state >= TDSM_CS_CLOSING)
		wake_up_all(&conn->wait);
	spin_unlock_irqrestore(&conn->lock, flags);
}

static bool tdsm_conn_quiet(struct tdsm_conn *conn)
{
	unsigned long flags;
	bool quiet;

	spin_lock_irqsave(&conn->lock, flags);
	quiet = !conn->posting;
	spin_unlock_irqrestore(&conn->lock, flags);
	return quiet;
}

/*
 * Take one of @conn's slots (@free: tx_free or req_free): 1 if taken,
 * -ENOTCONN if the connection is going, 0 to wait on (full, or still
 * connecting or authenticating: a peer's first request can beat our
 * ESTABLISHED when there is no key).
 */
static int tdsm_slot_try(struct tdsm_conn *conn, atomic_t *free)
{
	switch (tdsm_conn_state(conn)) {
	case TDSM_CS_CONNECTING:
	case TDSM_CS_AUTH:
		return 0;
	case TDSM_CS_UP:
		return atomic_add_unless(free, -1, 0);
	default:
		return -ENOTCONN;
	}
}

static bool tdsm_slot_done(struct tdsm_conn *conn, atomic_t *free, int *got)
{
	*got = tdsm_slot_try(conn, free);
	return *got != 0;
}

/*
 * Wait for a slot, at most timeout_ms; @killable: a fatal signal stops the
 * wait (only a caller that has sent nothing yet may pass it).
 * 0, -ETIMEDOUT, -ENOTCONN or -EINTR.
 */
static int tdsm_slot_get(struct tdsm_conn *conn, atomic_t *free, bool killable)
{
	long left;
	int got = 0;

	if (killable)
		left = wait_event_killable_timeout(conn->wait,
						   tdsm_slot_done(conn, free, &got),
						   tdsm_timeout());
	else
		left = wait_event_timeout(conn->wait,
					  tdsm_slot_done(conn, free, &got),
					  tdsm_timeout());
	if (left < 0)
		return -EINTR;
	if (!left && !got)
		return -ETIMEDOUT;
	return got < 0 ? got : 0;
}

static void tdsm_slot_put(struct tdsm_conn *conn, atomic_t *free)
{
	atomic_inc(free);
	wake_up_all(&conn->wait);
}

/* ---- connections: lifetime -------------------------------------------- */

static void tdsm_conn_teardown_work(struct work_struct *work);
static void tdsm_req_work_fn(struct work_struct *work);
static void tdsm_auth_timeout_fn(struct work_struct *work);
static void tdsm_refill_work_fn(struct work_struct *work);
static void tdsm_refill_kick(struct tdsm_conn *conn);
static void tdsm_buf_free(struct tdsm_conn *conn, struct tdsm_buf *buf);

/*
 * A new connection to or from @peer. @keyed: this node has the cluster key
 * now, so the connection must authenticate before it is UP.
 */
static struct tdsm_conn *tdsm_conn_alloc(struct tdsm_peer *peer, bool initiator,
					 bool keyed)
{
	struct tdsm_conn *conn = kzalloc(sizeof(*conn), GFP_KERNEL);
	int i;

	if (!conn)
		return NULL;
	kref_init(&conn->ref);		/* its own: the teardown drops it */
	kref_get(&peer->ref);
	conn->peer = peer;
	conn->initiator = initiator;
	conn->keyed = keyed;
	conn->t_start = ktime_get();
	spin_lock_init(&conn->lock);
	conn->state = TDSM_CS_CONNECTING;
	init_waitqueue_head(&conn->wait);
	INIT_LIST_HEAD(&conn->rx_held);
	spin_lock_init(&conn->mr_lock);
	INIT_LIST_HEAD(&conn->free_mrs);
	INIT_LIST_HEAD(&conn->free_mrsv);
	INIT_LIST_HEAD(&conn->ready);
	INIT_WORK(&conn->refill_work, tdsm_refill_work_fn);
	atomic_set(&conn->tx_free, TDSM_TX_DEPTH);
	atomic_set(&conn->req_free, TDSM_REQ_DEPTH);
	atomic_set(&conn->reg_free, TDSM_REG_DEPTH);
	sema_init(&conn->batch_slot, 1);
	/* BH: replies are matched in the CQ's softirq. */
	xa_init_flags(&conn->calls, XA_FLAGS_ALLOC1 | XA_FLAGS_LOCK_BH);
	for (i = 0; i < TDSM_REQ_SLOTS; i++) {
		INIT_WORK(&conn->slots[i].work, tdsm_req_work_fn);
		conn->slots[i].conn = conn;
	}
	INIT_WORK(&conn->teardown_work, tdsm_conn_teardown_work);
	INIT_DELAYED_WORK(&conn->auth_timeout, tdsm_auth_timeout_fn);
	spin_lock(&tdsm_conns_lock);
	list_add(&conn->list, &tdsm_conns);
	spin_unlock(&tdsm_conns_lock);
	return conn;
}

/*
 * The last reference went: no buffer is in use on the connection any more
 * (each holds one), and its QP is gone, so the buffers registered ahead of
 * need, the idle MRs and the PD may go.
 */
static void tdsm_conn_release(struct kref *ref)
{
	struct tdsm_conn *conn = container_of(ref, struct tdsm_conn, ref);
	struct tdsm_buf *buf, *btmp;
	struct ib_mr *mr, *tmp;

	/* Only the teardown drops the connection's own reference. */
	WARN_ON_ONCE(conn->state != TDSM_CS_DEAD);
	WARN_ON_ONCE(conn->cm_id || conn->qp || conn->reg_qp);
	WARN_ON_ONCE(!xa_empty(&conn->calls));
	spin_lock(&tdsm_conns_lock);
	list_del(&conn->list);
	spin_unlock(&tdsm_conns_lock);
	list_for_each_entry_safe(buf, btmp, &conn->ready, entry)
		tdsm_buf_free(conn, buf);
	list_for_each_entry_safe(mr, tmp, &conn->free_mrs, qp_entry)
		ib_dereg_mr(mr);
	list_for_each_entry_safe(mr, tmp, &conn->free_mrsv, qp_entry)
		ib_dereg_mr(mr);
	if (conn->pd)
		ib_dealloc_pd(conn->pd);
	if (conn->dev)
		tdsm_dev_put(conn->dev);
	xa_destroy(&conn->calls);
	tdsm_peer_put(conn->peer);
	kfree(conn);
}

/* The last put must come from process context: release may free the PD. */
void tdsm_conn_put(struct tdsm_conn *conn)
{
	might_sleep();
	kref_put(&conn->ref, tdsm_conn_release);
}

/* Fail every call still waiting for a reply on a dead connection. */
static void tdsm_conn_fail_calls(struct tdsm_conn *conn)
{
	struct tdsm_call *call;
	unsigned long id;

	xa_for_each(&conn->calls, id, call) {
		if (xa_erase_bh(&conn->calls, id) != call)
			continue;
		call->err = -ENOTCONN;
		complete(&call->done);
	}
}

/* Destroy the CQ and the receive buffers (the QP is gone). */
static void tdsm_conn_free_rx(struct tdsm_conn *conn)
{
	struct ib_device *ibdev;
	unsigned long flags;
	int i;

	if (conn->cq) {
		ib_free_cq(conn->cq);
		conn->cq = NULL;
	}
	if (!conn->rx)
		return;
	spin_lock_irqsave(&conn->lock, flags);
	INIT_LIST_HEAD(&conn->rx_held);	/* requests held back: dropped */
	spin_unlock_irqrestore(&conn->lock, flags);
	ibdev = conn->dev->ibdev;
	for (i = 0; i < conn->rx_mapped; i++)
		ib_dma_unmap_single(ibdev, conn->rx[i].dma,
				    sizeof(conn->rx[i].msg), DMA_FROM_DEVICE);
	kfree(conn->rx);
	conn->rx = NULL;
}

/*
 * The one destroy path of a connection, in tdsm_conn_wq, queued once by the
 * move to CLOSING. It owns the connection's own reference.
 */
static void tdsm_conn_teardown_work(struct work_struct *work)
{
	struct tdsm_conn *conn = container_of(work, struct tdsm_conn,
					      teardown_work);
	struct ib_qp_attr attr = { .qp_state = IB_QPS_ERR };
	unsigned long flags;
	bool was_up;

	/* CLOSING: no post starts; wait for those under way (short). */
	wait_event(conn->wait, tdsm_conn_quiet(conn));
	/* The timer of the proof exchange holds a reference while queued. */
	if (cancel_delayed_work_sync(&conn->auth_timeout))
		tdsm_conn_put(conn);
	was_up = tdsm_peer_unpublish(conn->peer, conn);
	/*
	 * The QP goes to error first, before the DREQ: from now on it answers
	 * nothing, so a peer that misses the DREQ still finds out, once its
	 * retries run out, on its next send (a probe of its stale connection,
	 * say). A QP left ready until the end would ack that probe, or hold
	 * it in RNR retries, and the peer would keep a dead connection up
	 * (PROTOCOL.md, "States", teardown step 3). The CM never
	 * touches this QP (made with the verbs): rdma_disconnect() does not
	 * move it.
	 */
	if (conn->qp)
		ib_modify_qp(conn->qp, &attr, IB_QP_STATE);
	/*
	 * Stop the CM: after rdma_destroy_id() no handler of ours runs and the
	 * CM no longer touches the QP (a late ESTABLISHED cannot revive it).
	 * The QP itself is destroyed with the verbs, as it outlives the id.
	 */
	if (conn->cm_id) {
		rdma_disconnect(conn->cm_id);
		rdma_destroy_id(conn->cm_id);
		conn->cm_id = NULL;
	}
	if (conn->qp) {
		/* Every posted WR completes or is flushed: no DMA after this. */
		ib_drain_qp(conn->qp);
		ib_destroy_qp(conn->qp);
		conn->qp = NULL;
	}
	if (conn->reg_qp) {
		/* Anything posted there is flushed; only a ready QP had any. */
		if (conn->reg_ready) {
			ib_modify_qp(conn->reg_qp, &attr, IB_QP_STATE);
			ib_drain_sq(conn->reg_qp);
		}
		ib_destroy_qp(conn->reg_qp);
		conn->reg_qp = NULL;
	}
	tdsm_conn_free_rx(conn);
	/* A reply that landed before the drain was matched: fail the rest. */
	tdsm_conn_fail_calls(conn);
	spin_lock_irqsave(&conn->lock, flags);
	tdsm_conn_set_state(conn, TDSM_CS_DEAD);
	spin_unlock_irqrestore(&conn->lock, flags);
	tdsm_peer_conn_gone(conn->peer, conn, was_up);
	tdsm_conn_put(conn);	/* the connection's own reference */
}

/* ---- sending ---------------------------------------------------------- */

/* This node as the transport presents it: set by tdsm_rdma_init(). */
static struct {
	u8 node_id;
	u8 max_nodes;
	u8 home_nodes;
	unsigned long region_pages;
} tdsm_self;

/* Every message is one SEND of exactly this size, which the receiver checks. */
static_assert(sizeof(struct tdsm_wire_msg) == TDSM_WIRE_MSG_SIZE);

void tdsm_msg_init(struct tdsm_wire_msg *msg, u8 type)
{
	memset(msg, 0, sizeof(*msg));
	msg->hdr.magic = cpu_to_be16(TDSM_WIRE_MAGIC);
	msg->hdr.version = TDSM_WIRE_VERSION;
	msg->hdr.type = type;
	msg->hdr.src = tdsm_self.node_id;
	msg->hdr.len = cpu_to_be16(TDSM_WIRE_MSG_SIZE);
}

/* Unmap and release the pages of a batch reply; frees @pv. */
static void tdsm_pushv_free(struct tdsm_conn *conn, struct tdsm_pushv *pv)
{
	unsigned int i;

	if (!pv)
		return;
	for (i = 0; i < pv->n; i++) {
		ib_dma_unmap_page(conn->dev->ibdev, pv->dma[i], PAGE_SIZE,
				  DMA_TO_DEVICE);
		put_page(pv->page[i]);
	}
	kfree(pv);
	up(&conn->batch_slot);
}

/* Release what a tx holds: mappings, page references, its slot. */
static void tdsm_tx_release(struct tdsm_tx *tx)
{
	struct tdsm_conn *conn = tx->conn;
	struct ib_device *ibdev = conn->dev->ibdev;

	if (tx->dma)
		ib_dma_unmap_single(ibdev, tx->dma, sizeof(tx->msg), DMA_TO_DEVICE);
	if (tx->push) {
		ib_dma_unmap_page(ibdev, tx->push_dma, PAGE_SIZE, DMA_TO_DEVICE);
		put_page(tx->push);
	}
	tdsm_pushv_free(conn, tx->pushv);
	tdsm_slot_put(conn, &conn->tx_free);
}

/*
 * A posted tx completed: success, error, or flushed by the drain. Runs
 * exactly once per posted tx, before the teardown ends.
 */
static void tdsm_tx_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct tdsm_tx *tx = container_of(wc->wr_cqe, struct tdsm_tx, cqe);
	struct tdsm_conn *conn = tx->conn;

	if (wc->status != IB_WC_SUCCESS) {
		if (wc->status != IB_WC_WR_FLUSH_ERR)
			pr_warn_ratelimited("node %u: send failed: %s\n",
					    conn->peer->id,
					    ib_wc_status_msg(wc->status));
		/*
		 * It was posted: it may have landed (RC acknowledges a message
		 * once it reached the peer, and the acknowledgment can be lost
		 * with the connection). -ECOMM says so: in doubt.
		 */
		tx->status = -ECOMM;
		tdsm_conn_kill(conn, -ECONNRESET);
	}
	tdsm_tx_release(tx);
	if (tx->sent)
		complete(tx->sent);	/* the call may release its buffer */
	if (tx->done) {
		/* The waiter owns @tx and reads tx->status. */
		complete(tx->done);
		return;
	}
	kfree(tx);
}

/* A tx for @conn; @killable: see tdsm_slot_get(). */
static struct tdsm_tx *tdsm_tx_alloc(struct tdsm_conn *conn, bool killable)
{
	struct tdsm_tx *tx;
	int err;

	err = tdsm_slot_get(conn, &conn->tx_free, killable);
	if (err)
		return ERR_PTR(err);
	tx = kzalloc(sizeof(*tx), GFP_KERNEL);
	if (!tx) {
		tdsm_slot_put(conn, &conn->tx_free);
		return ERR_PTR(-ENOMEM);
	}
	tx->conn = conn;
	tx->cqe.done = tdsm_tx_done;
	return tx;
}

/* Free a tx that was never posted. */
static void tdsm_tx_abort(struct tdsm_tx *tx)
{
	tdsm_tx_release(tx);
	kfree(tx);
}

/* Map @page as the source of an RDMA WRITE; takes a page reference. */
static int tdsm_tx_set_push(struct tdsm_tx *tx, struct page *page)
{
	struct ib_device *ibdev = tx->conn->dev->ibdev;

	tx->push_dma = ib_dma_map_page(ibdev, page, 0, PAGE_SIZE, DMA_TO_DEVICE);
	if (ib_dma_mapping_error(ibdev, tx->push_dma))
		return -EIO;
	get_page(page);
	tx->push = page;
	return 0;
}

/*
 * A page's RDMA WRITE is posted unsignaled, ahead of the SEND that ends
 * its reply: its completion comes only if it failed (the peer refused its
 * rkey or address, or the transport gave up) or was flushed. Say why, and
 * let the connection go: the SEND behind it is flushed too.
 */
static void tdsm_write_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct tdsm_conn *conn = wc->qp->qp_context;

	if (wc->status != IB_WC_SUCCESS && wc->status != IB_WC_WR_FLUSH_ERR)
		pr_warn_ratelimited("node %u: page write failed: %s\n",
				    conn->peer->id, ib_wc_status_msg(wc->status));
	if (wc->status != IB_WC_SUCCESS)
		tdsm_conn_kill(conn, -EIO);
}

static struct ib_cqe tdsm_write_cqe = { .done = tdsm_write_done };

/*
 * Make @tx carry @page by RDMA WRITE to @iova/@rkey: maps it and fills
 * @write and its @sge. Consumes @tx on failure.
 */
static int tdsm_tx_prep_write(struct tdsm_tx *tx, struct page *page,
			      struct ib_rdma_wr *write, struct ib_sge *sge,
			      u64 iova, u32 rkey)
{
	int err = tdsm_tx_set_push(tx, page);

	if (err) {
		tdsm_tx_abort(tx);
		return err;
	}
	sge->addr = tx->push_dma;
	sge->length = PAGE_SIZE;
	sge->lkey = tx->conn->pd->local_dma_lkey;
	memset(write, 0, sizeof(*write));
	write->wr.opcode = IB_WR_RDMA_WRITE;
	write->wr.wr_cqe = &tdsm_write_cqe;
	write->wr.sg_list = sge;
	write->wr.num_sge = 1;
	write->remote_addr = iova;
	write->rkey = rkey;
	return 0;
}

/*
 * Wait for @done, something @conn's drain completes (a work request's
 * completion), at most tdsm_timeout(): past it, kill @conn and wait for
 * the drain.
 */
static void tdsm_conn_wait_or_kill(struct tdsm_conn *conn,
				   struct completion *done)
{
	if (!wait_for_completion_timeout(done, tdsm_timeout())) {
		tdsm_conn_kill(conn, -ETIMEDOUT);
		wait_for_completion(done);
	}
}

/*
 * Wait until the posted @tx (tx->done == @done) completed, and free it.
 * The completion always comes: a timeout kills the connection, and its
 * drain flushes the work request. 0 once it landed, else -ECOMM: it went
 * out but did not complete, so it may or may not have landed.
 */
static int tdsm_tx_wait(struct tdsm_tx *tx, struct completion *done)
{
	int err;

	tdsm_conn_wait_or_kill(tx->conn, done);
	err = tx->status;
	kfree(tx);
	return err;
}

/*
 * Post the chain @head on the send queue of @qp, one of @conn's, if the
 * connection is UP and stays so until the post is in (tdsm_post_begin()).
 * On failure the connection is killed. *@posted_some: the driver took
 * part of the chain.
 */
static int tdsm_post_send(struct tdsm_conn *conn, struct ib_qp *qp,
			  struct ib_send_wr *head, enum tdsm_post kind,
			  bool *posted_some)
{
	const struct ib_send_wr *bad = NULL;
	int err;

	*posted_some = false;
	if (!tdsm_post_begin(conn, kind))
		return -ENOTCONN;
	err = ib_post_send(qp, head, &bad);
	tdsm_post_end(conn);
	if (err) {
		*posted_some = bad && bad != head;
		pr_warn_ratelimited("node %u: post send: %d\n", conn->peer->id, err);
		tdsm_conn_kill(conn, err);
	}
	return err;
}

/*
 * Post @tx's message as a SEND, after the optional @first work requests
 * (RDMA WRITEs) which RC executes in order before it.
 * @inv_rkey: if non-zero, SEND_WITH_INV of that rkey at the receiver.
 * Consumes @tx on success and on failure. On a failure after part of the
 * chain went in, waits until the drain flushed it.
 */
static int tdsm_tx_post(struct tdsm_tx *tx, struct ib_send_wr *first,
			struct ib_send_wr *last, u32 inv_rkey)
{
	struct tdsm_conn *conn = tx->conn;
	struct ib_device *ibdev = conn->dev->ibdev;
	struct ib_sge sge;
	struct ib_send_wr wr = {}, *head = &wr;
	bool some;
	int err;

	tx->dma = ib_dma_map_single(ibdev, &tx->msg, sizeof(tx->msg),
				    DMA_TO_DEVICE);
	if (ib_dma_mapping_error(ibdev, tx->dma)) {
		tx->dma = 0;
		tdsm_tx_abort(tx);
		return -EIO;
	}
	sge.addr = tx->dma;
	sge.length = sizeof(tx->msg);
	sge.lkey = conn->pd->local_dma_lkey;
	wr.wr_cqe = &tx->cqe;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.send_flags = IB_SEND_SIGNALED;
	if (inv_rkey) {
		wr.opcode = IB_WR_SEND_WITH_INV;
		wr.ex.invalidate_rkey = inv_rkey;
	} else {
		wr.opcode = IB_WR_SEND;
	}
	if (first) {
		last->next = &wr;
		head = first;
	}
	err = tdsm_post_send(conn, conn->qp, head,
			     tx->auth ? TDSM_POST_AUTH : TDSM_POST_SEND, &some);
	if (err) {
		/* The SEND is last: it was not posted, @tx is still ours. */
		if (some)
			tdsm_conn_wait_dead(conn);
		tx->sent = NULL;
		tx->done = NULL;
		tdsm_tx_abort(tx);
		return err;
	}
	atomic64_inc(&conn->peer->tx_msgs);
	return 0;
}

/* A local work request on the registration QP, waited for. */
struct tdsm_local_op {
	struct ib_cqe cqe;
	struct tdsm_conn *conn;
	struct completion done;
	int status;
	struct delayed_work late;	/* fault injection: done, later */
};

/* local_op_late_ms (inject.c): the completion reaches its waiter now. */
static void tdsm_local_late_fn(struct work_struct *work)
{
	struct tdsm_local_op *op = container_of(to_delayed_work(work),
						struct tdsm_local_op, late);

	complete(&op->done);	/* the last touch: @op is the waiter's */
}

/*
 * A local work request completed, flushed, or failed: a failure leaves
 * the registration QP in error, so the connection goes too.
 */
static void tdsm_local_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct tdsm_local_op *op = container_of(wc->wr_cqe,
						struct tdsm_local_op, cqe);

	if (wc->status != IB_WC_SUCCESS && wc->status != IB_WC_WR_FLUSH_ERR)
		pr_warn_ratelimited("node %u: %s failed: %s\n",
				    op->conn->peer->id,
				    wc->opcode == IB_WC_REG_MR ?
				    "buffer registration" : "local invalidate",
				    ib_wc_status_msg(wc->status));
	op->status = wc->status == IB_WC_SUCCESS ? 0 : -EIO;
	if (op->status)
		tdsm_conn_kill(op->conn, -EIO);
	if (tdsm_inject_local_op_late(&op->late))
		return;
	complete(&op->done);
}

/*
 * Run @wr, a REG_MR or LOCAL_INV of one of @conn's MRs, on its
 * registration QP (struct tdsm_conn, @reg_qp) and wait until it is done,
 * bounded (a timeout kills the connection, whose drain flushes it). The
 * connection must be UP. 0, or -errno: the MR's state is then unknown,
 * and it must be deregistered.
 */
static int tdsm_local_run(struct tdsm_conn *conn, struct ib_send_wr *wr)
{
	struct tdsm_local_op op = {
		.cqe.done = tdsm_local_done,
		.conn = conn,
	};
	bool some;
	int err;

	err = tdsm_slot_get(conn, &conn->reg_free, false);
	if (err)
		return err;
	init_completion(&op.done);
	INIT_DELAYED_WORK_ONSTACK(&op.late, tdsm_local_late_fn);
	wr->next = NULL;
	wr->wr_cqe = &op.cqe;
	wr->send_flags = IB_SEND_SIGNALED;
	err = tdsm_post_send(conn, conn->reg_qp, wr, TDSM_POST_SEND, &some);
	if (!err) {
		/* Not in time: the connection is killed, the result stands. */
		tdsm_conn_wait_or_kill(conn, &op.done);
		err = op.status;
	}
	destroy_delayed_work_on_stack(&op.late);
	/* Completed or never posted: its place in the send queue is free. */
	tdsm_slot_put(conn, &conn->reg_free);
	return err;
}

/*
 * Send request @req and wait for its reply in @call, bounded. @buf_conn,
 * if the reply's data goes to a buffer, is the connection that buffer is
 * registered on, and must be @conn; @reg, if given, is the buffer's
 * REG_MR, run (and waited for) before the SEND (none if it was registered
 * ahead, tdsm_buf_alloc()); @refill: a single-page buffer's, whose
 * replacement the refill registers once the request is out. Before the
 * request is sent, a fatal signal stops the caller (-EINTR). Once it is
 * sent, it is never withdrawn: the caller waits for the reply,
 * uninterruptibly, at most tdsm_call_timeout(); then it kills the
 * connection and waits for its drain, which matches a reply
 * that landed meanwhile (the peer then committed) or fails the call. And
 * it returns only once the SEND completed or was flushed, so that the
 * caller may release the buffer.
 * Returns 0 with the reply in @call->reply, or -ETIMEDOUT, -EINTR,
 * -ENOTCONN, -ENOMEM, -EIO.
 */
static int __tdsm_call(struct tdsm_conn *conn, struct tdsm_wire_msg *req,
		       struct ib_send_wr *reg, struct tdsm_conn *buf_conn,
		       bool refill, struct tdsm_call *call)
{
	unsigned long tmo = tdsm_call_timeout(req->hdr.type);
	bool timed_out = false;
	struct tdsm_tx *tx;
	u32 id;
	int err;

	init_completion(&call->done);
	init_completion(&call->sent);
	call->err = 0;
	call->invalidated = false;
	/*
	 * A buffer is registered in its connection's PD: its REG_MR, and the
	 * rkey the request hands out, are good on that connection only. A
	 * caller that looked the peer's connection up again after registering
	 * (a FETCH on behalf of a fault) may find a new one, after a
	 * reconnect, or another peer's, when a grant in doubt sends it on to
	 * the owner before: fail as on a dead connection instead of posting
	 * a REG_MR that QP refuses, which would kill that connection too.
	 */
	if (buf_conn && buf_conn != conn)
		return -ENOTCONN;
	/* One of our requests outstanding at the peer: its queue is bounded. */
	err = tdsm_slot_get(conn, &conn->req_free, true);
	if (err)
		return err;
	/* The rkey the request hands out is valid before the request leaves. */
	if (reg) {
		err = tdsm_local_run(conn, reg);
		if (err)
			goto out_slot;
	}
	if (buf_conn)
		trace_tinydsm_msg(conn->peer->id, 0, req->hdr.type,
				  TDSM_STEP_REGISTERED);
	tx = tdsm_tx_alloc(conn, true);
	if (IS_ERR(tx)) {
		err = PTR_ERR(tx);
		goto out_slot;
	}
	err = xa_alloc_cyclic_bh(&conn->calls, &id, call, xa_limit_32b,
				 &conn->next_id, GFP_KERNEL);
	if (err < 0) {
		tdsm_tx_abort(tx);
		goto out_slot;
	}
	call->tag = get_random_u32();
	req->hdr.id = cpu_to_be64((u64)call->tag << 32 | id);
	tx->msg = *req;
	tx->sent = &call->sent;
	err = tdsm_tx_post(tx, NULL, NULL, 0);
	if (err) {
		/* Not sent. Teardown may have taken the call: let it finish. */
		if (xa_erase_bh(&conn->calls, id) != call)
			wait_for_completion(&call->done);
		goto out_slot;
	}
	trace_tinydsm_msg(conn->peer->id, be64_to_cpu(req->hdr.id),
			  req->hdr.type, TDSM_STEP_POSTED);
	/*
	 * Register the next buffers now, while this request is on the wire:
	 * kicked before the post, the work could take the CPU (one vCPU in
	 * the lab) ahead of it.
	 */
	if (refill)
		tdsm_refill_kick(conn);

	if (!wait_for_completion_timeout(&call->done, tmo)) {
		pr_warn_ratelimited("node %u: no reply to a %u request within %u ms: disconnecting\n",
				    conn->peer->id, req->hdr.type,
				    jiffies_to_msecs(tmo));
		tdsm_conn_kill(conn, -ETIMEDOUT);
		wait_for_completion(&call->done);
		timed_out = true;
	}
	trace_tinydsm_msg(conn->peer->id, be64_to_cpu(req->hdr.id),
			  req->hdr.type, TDSM_STEP_WOKEN);
	/* The SEND is done with: bounded as well. */
	tdsm_conn_wait_or_kill(conn, &call->sent);
	trace_tinydsm_msg(conn->peer->id, be64_to_cpu(req->hdr.id),
			  req->hdr.type, TDSM_STEP_SENT);
	err = call->err;
	if (err && timed_out)
		err = -ETIMEDOUT;
out_slot:
	tdsm_slot_put(conn, &conn->req_free);
	return err;
}

int tdsm_call(struct tdsm_conn *conn, struct tdsm_wire_msg *req,
	      struct tdsm_buf *buf, struct tdsm_call *call)
{
	if (!buf)
		return __tdsm_call(conn, req, NULL, NULL, false, call);
	return __tdsm_call(conn, req, buf->registered ? NULL : &buf->reg_wr.wr,
			   buf->conn, true, call);
}

/* tdsm_call() for a batch request whose pages go to @bufv. */
int tdsm_call_batch(struct tdsm_conn *conn, struct tdsm_wire_msg *req,
		    struct tdsm_bufv *bufv, struct tdsm_call *call)
{
	return __tdsm_call(conn, req, &bufv->reg_wr.wr, bufv->conn, false, call);
}

/* Answer @req with @status alone. 0, or -errno: it never went out. */
int tdsm_reply_status(struct tdsm_conn *conn, const struct tdsm_wire_msg *req,
		      enum tdsm_wire_status status)
{
	return tdsm_reply_value(conn, req, status, 0);
}

/*
 * Answer @req with @status and @value in the reply's addr (an ALLOC's
 * address, a WORD load's value). 0, or -errno: it never went out.
 */
int tdsm_reply_value(struct tdsm_conn *conn, const struct tdsm_wire_msg *req,
		     enum tdsm_wire_status status, u64 value)
{
	return tdsm_reply_page(conn, req, status, 0, value, NULL, 0, 0, false);
}

/*
 * Refuse a page request with @status, no data: the reply invalidates
 * @rkey, the requester's buffer (0: none). 0, or -errno: never went out.
 */
int tdsm_reply_refuse(struct tdsm_conn *conn, const struct tdsm_wire_msg *req,
		      enum tdsm_wire_status status, u32 rkey)
{
	return tdsm_reply_page(conn, req, status, 0, 0, NULL, 0, rkey, false);
}

/*
 * Answer a page request (a READ or WRITE at its home, a FETCH at the
 * owner) with @status, @flags and @addr: @push, if given, is RDMA-written
 * first to the requester's buffer @iova/@rkey (RC keeps the order: the
 * data lands before the reply), and the reply invalidates @rkey. @wait:
 * return only once the reply (and the data) reached the peer. Returns 0
 * (sent; with @wait, landed), -ECOMM (@wait: it went out but did not
 * complete, so it may have landed: in doubt), or another -errno (it never
 * went out).
 */
int tdsm_reply_page(struct tdsm_conn *conn, const struct tdsm_wire_msg *req,
		    enum tdsm_wire_status status, u32 flags, u64 addr,
		    struct page *push, u64 iova, u32 rkey, bool wait)
{
	DECLARE_COMPLETION_ONSTACK(done);
	struct ib_rdma_wr write = {};
	struct ib_send_wr *first = NULL;
	struct ib_sge sge;
	struct tdsm_tx *tx;
	int err;

	tx = tdsm_tx_alloc(conn, false);
	if (IS_ERR(tx)) {
		pr_warn_ratelimited("node %u: reply to a %u request not sent: %ld\n",
				    conn->peer->id, req->hdr.type, PTR_ERR(tx));
		return PTR_ERR(tx);
	}
	tdsm_msg_init(&tx->msg, TDSM_W_REPLY);
	tx->msg.hdr.id = req->hdr.id;
	tx->msg.reply.status = cpu_to_be32(status);
	tx->msg.reply.flags = cpu_to_be32(flags);
	tx->msg.reply.addr = cpu_to_be64(addr);
	if (push) {
		err = tdsm_tx_prep_write(tx, push, &write, &sge, iova, rkey);
		if (err)
			return err;
		first = &write.wr;
	}
	if (wait)
		tx->done = &done;
	err = tdsm_tx_post(tx, first, first, rkey);
	if (err)
		return err;
	trace_tinydsm_msg(conn->peer->id, be64_to_cpu(req->hdr.id),
			  req->hdr.type, TDSM_STEP_REPLIED);
	if (!wait)
		return 0;
	return tdsm_tx_wait(tx, &done);
}

/*
 * Is @conn's peer still there? A zero-length RDMA WRITE (no rkey needed,
 * no effect at the peer, nothing consumed there): if the peer's QP is gone
 * its retries run out, the completion fails and the connection is torn
 * down. Fire and forget; nothing happens if no tx slot is free right now.
 */
void tdsm_conn_probe(struct tdsm_conn *conn)
{
	struct ib_rdma_wr write = {};
	struct tdsm_tx *tx;
	bool some;

	if (tdsm_slot_try(conn, &conn->tx_free) != 1)
		return;
	tx = kzalloc(sizeof(*tx), GFP_KERNEL);
	if (!tx) {
		tdsm_slot_put(conn, &conn->tx_free);
		return;
	}
	tx->conn = conn;
	tx->cqe.done = tdsm_tx_done;
	write.wr.opcode = IB_WR_RDMA_WRITE;
	write.wr.wr_cqe = &tx->cqe;
	write.wr.send_flags = IB_SEND_SIGNALED;
	if (tdsm_post_send(conn, conn->qp, &write.wr, TDSM_POST_SEND, &some))
		tdsm_tx_abort(tx);
}

/*
 * Answer @req with TDSM_WS_NOTHOME: this node is not the page's home;
 * @home is the one it knows of (0: none), for the requester to ask next.
 */
int tdsm_reply_nothome(struct tdsm_conn *conn, const struct tdsm_wire_msg *req,
		       u8 home, u32 inv_rkey)
{
	struct tdsm_tx *tx;

	tx = tdsm_tx_alloc(conn, false);
	if (IS_ERR(tx))
		return PTR_ERR(tx);
	tdsm_msg_init(&tx->msg, TDSM_W_REPLY);
	tx->msg.hdr.id = req->hdr.id;
	tx->msg.reply.status = cpu_to_be32(TDSM_WS_NOTHOME);
	tx->msg.reply.home = home;
	return tdsm_tx_post(tx, NULL, NULL, inv_rkey);
}

/*
 * RDMA WRITE @frame to @iova/@rkey on @conn and wait until it landed: 0,
 * -ECOMM if it went out but did not complete (in doubt), or another -errno
 * if it never went out.
 */
int tdsm_push_page(struct tdsm_conn *conn, struct page *frame, u64 iova,
		   u32 rkey)
{
	DECLARE_COMPLETION_ONSTACK(done);
	struct ib_rdma_wr write = {};
	struct ib_sge sge;
	struct tdsm_tx *tx;
	int err;

	bool some;

	tx = tdsm_tx_alloc(conn, false);
	if (IS_ERR(tx))
		return PTR_ERR(tx);
	err = tdsm_tx_prep_write(tx, frame, &write, &sge, iova, rkey);
	if (err)
		return err;
	tx->done = &done;
	write.wr.wr_cqe = &tx->cqe;
	write.wr.send_flags = IB_SEND_SIGNALED;
	err = tdsm_post_send(conn, conn->qp, &write.wr, TDSM_POST_SEND, &some);
	if (err) {
		tx->done = NULL;
		tdsm_tx_abort(tx);
		return err;
	}
	return tdsm_tx_wait(tx, &done);
}

/*
 * Reply to a batch request (MIGRATE, READV, EVICTV, FETCHV) on @conn:
 * @reply (status and masks, filled by the caller), after the RDMA WRITEs
 * of @n pages, page @pages[k] to @iova + @slot[k] * PAGE_SIZE. The reply
 * invalidates @rkey at the requester. Waits until the reply (and so the
 * data) landed: 0, -ECOMM if it went out but did not complete (in
 * doubt), another -errno if it never went out.
 */
int tdsm_reply_batch(struct tdsm_conn *conn, const struct tdsm_wire_msg *req,
		     const struct tdsm_wire_breply *reply, struct page **pages,
		     const u8 *slot, unsigned int n, u64 iova, u32 rkey)
{
	struct ib_device *ibdev = conn->dev->ibdev;
	DECLARE_COMPLETION_ONSTACK(done);
	struct tdsm_pushv *pv = NULL;
	struct tdsm_tx *tx;
	unsigned int i;
	int err;

	if (n) {
		/* One batch in flight per queue pair: the SQ has room for it. */
		if (down_timeout(&conn->batch_slot, tdsm_timeout()))
			return -ETIMEDOUT;
		pv = kzalloc(sizeof(*pv), GFP_KERNEL);
		if (!pv) {
			up(&conn->batch_slot);
			return -ENOMEM;
		}
	}
	tx = tdsm_tx_alloc(conn, false);
	if (IS_ERR(tx)) {
		tdsm_pushv_free(conn, pv);
		return PTR_ERR(tx);
	}
	tx->pushv = pv;
	tdsm_msg_init(&tx->msg, TDSM_W_REPLY);
	tx->msg.hdr.id = req->hdr.id;
	tx->msg.breply = *reply;
	for (i = 0; i < n; i++) {
		pv->dma[i] = ib_dma_map_page(ibdev, pages[i], 0, PAGE_SIZE,
					     DMA_TO_DEVICE);
		if (ib_dma_mapping_error(ibdev, pv->dma[i])) {
			tdsm_tx_abort(tx);
			return -EIO;
		}
		get_page(pages[i]);
		pv->page[i] = pages[i];
		pv->n = i + 1;
		pv->sge[i].addr = pv->dma[i];
		pv->sge[i].length = PAGE_SIZE;
		pv->sge[i].lkey = conn->pd->local_dma_lkey;
		pv->wr[i].wr.opcode = IB_WR_RDMA_WRITE;
		pv->wr[i].wr.wr_cqe = &tdsm_write_cqe;
		pv->wr[i].wr.sg_list = &pv->sge[i];
		pv->wr[i].wr.num_sge = 1;
		pv->wr[i].remote_addr = iova + (u64)slot[i] * PAGE_SIZE;
		pv->wr[i].rkey = rkey;
		if (i)
			pv->wr[i - 1].wr.next = &pv->wr[i].wr;
	}
	tx->done = &done;
	err = tdsm_tx_post(tx, n ? &pv->wr[0].wr : NULL,
			   n ? &pv->wr[n - 1].wr : NULL, rkey);
	if (err)
		return err;
	return tdsm_tx_wait(tx, &done);
}

/* ---- registered buffers ----------------------------------------------- */

/*
 * An MR of @conn for up to @max pages: an idle one from @free, or a new
 * one (an ERR_PTR if that fails).
 */
static struct ib_mr *tdsm_mr_get(struct tdsm_conn *conn,
				 struct list_head *free, unsigned int max)
{
	struct ib_mr *mr = NULL;

	spin_lock(&conn->mr_lock);
	if (!list_empty(free)) {
		mr = list_first_entry(free, struct ib_mr, qp_entry);
		list_del(&mr->qp_entry);
	}
	spin_unlock(&conn->mr_lock);
	if (!mr)
		mr = ib_alloc_mr(conn->pd, IB_MR_TYPE_MEM_REG, max);
	return mr;
}

/*
 * @mr, mapped, gets a fresh rkey, and @wr becomes its REG_MR for remote
 * WRITEs by the peer, to run before the request (tdsm_local_run()).
 */
static void tdsm_reg_wr_init(struct ib_reg_wr *wr, struct ib_mr *mr)
{
	ib_update_fast_reg_key(mr, ib_inc_rkey(mr->rkey));
	memset(wr, 0, sizeof(*wr));
	wr->wr.opcode = IB_WR_REG_MR;
	wr->mr = mr;
	wr->key = mr->rkey;
	wr->access = IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE;
}

/*
 * Register @frame for one remote WRITE by @conn's peer (in @conn's own PD):
 * fills @buf, whose REG_MR work request is still to run (tdsm_call(), or
 * the refill). No reference to @conn is taken.
 */
static int tdsm_buf_get(struct tdsm_conn *conn, struct page *frame,
			struct tdsm_buf *buf)
{
	struct tdsm_dev *dev = conn->dev;
	struct ib_mr *mr;
	int n;

	mr = tdsm_mr_get(conn, &conn->free_mrs, 1);
	if (IS_ERR(mr))
		return PTR_ERR(mr);

	buf->frame = frame;
	buf->mr = mr;
	sg_init_table(&buf->sg, 1);
	sg_set_page(&buf->sg, frame, PAGE_SIZE, 0);
	if (ib_dma_map_sg(dev->ibdev, &buf->sg, 1, DMA_FROM_DEVICE) != 1)
		goto err_mr;
	n = ib_map_mr_sg(mr, &buf->sg, 1, NULL, PAGE_SIZE);
	if (n != 1)
		goto err_unmap;
	tdsm_reg_wr_init(&buf->reg_wr, mr);
	buf->registered = false;
	buf->conn = NULL;
	return 0;

err_unmap:
	ib_dma_unmap_sg(dev->ibdev, &buf->sg, 1, DMA_FROM_DEVICE);
err_mr:
	ib_dereg_mr(mr);
	return -EIO;
}

/*
 * A fresh frame in @buf, mapped for one remote WRITE (tdsm_buf_get()).
 * Zeroed, so that a peer that says "data" without writing it leaks
 * nothing.
 */
static int tdsm_buf_fresh(struct tdsm_conn *conn, struct tdsm_buf *buf)
{
	struct page *frame = alloc_page(GFP_HIGHUSER | __GFP_ZERO);
	int err;

	if (!frame)
		return -ENOMEM;
	err = tdsm_buf_get(conn, frame, buf);
	if (err)
		put_page(frame);
	return err;
}

/*
 * Free @buf, registered ahead of need and never used: deregistering the MR
 * kills its rkey before the frame is unmapped and freed.
 */
static void tdsm_buf_free(struct tdsm_conn *conn, struct tdsm_buf *buf)
{
	ib_dereg_mr(buf->mr);
	ib_dma_unmap_sg(conn->dev->ibdev, &buf->sg, 1, DMA_FROM_DEVICE);
	put_page(buf->frame);
	kfree(buf);
}

/*
 * Fill @conn's list of buffers registered ahead of need, while it is UP
 * (PROTOCOL.md, "Transport": why a buffer may be registered before its
 * request). A registration that fails leaves the rest to the next kick.
 */
static void tdsm_refill_work_fn(struct work_struct *work)
{
	struct tdsm_conn *conn = container_of(work, struct tdsm_conn,
					      refill_work);
	struct tdsm_buf *buf;
	bool full;

	for (;;) {
		spin_lock(&conn->mr_lock);
		full = conn->nready >= READ_ONCE(tdsm_ready_bufs);
		spin_unlock(&conn->mr_lock);
		if (full || !tdsm_conn_is_up(conn))
			break;
		buf = kmalloc(sizeof(*buf), GFP_KERNEL);
		if (!buf)
			break;
		if (tdsm_buf_fresh(conn, buf)) {
			kfree(buf);
			break;
		}
		/* Failed: the MR's state is unknown, deregistered. */
		if (tdsm_local_run(conn, &buf->reg_wr.wr)) {
			tdsm_buf_free(conn, buf);
			break;
		}
		buf->registered = true;
		spin_lock(&conn->mr_lock);
		list_add_tail(&buf->entry, &conn->ready);
		conn->nready++;
		spin_unlock(&conn->mr_lock);
	}
	/*
	 * The work's reference. It may be the last, once the connection is
	 * torn down: the release frees the ready buffers, and this work's
	 * struct with the connection, which the workqueue no longer touches.
	 */
	tdsm_conn_put(conn);
}

/*
 * Queue the refill of @conn's ready buffers, with a reference, once half
 * of them are used (one run of the work registers several: fewer wake-ups
 * on the fault path), unless it is queued already. The caller holds a
 * reference of its own, so the put here is never the last.
 */
static void tdsm_refill_kick(struct tdsm_conn *conn)
{
	unsigned int want = READ_ONCE(tdsm_ready_bufs);
	bool enough;

	spin_lock(&conn->mr_lock);
	enough = conn->nready > want / 2;
	spin_unlock(&conn->mr_lock);
	if (enough || !tdsm_conn_is_up(conn))
		return;
	kref_get(&conn->ref);
	if (!queue_work(tdsm_wq, &conn->refill_work))
		tdsm_conn_put(conn);
}

/*
 * A frame registered for one remote WRITE by @conn's peer: @buf->frame,
 * owned by the caller once tdsm_buf_put() is done with the registration.
 * Taken from the buffers registered ahead of need if there is one (its
 * request then waits for no REG_MR), else fresh, its REG_MR to run with
 * the request; either way the refill tops the ready list up once the
 * request is out (tdsm_call()).
 * @buf holds a reference to @conn until tdsm_buf_put().
 */
int tdsm_buf_alloc(struct tdsm_conn *conn, struct tdsm_buf *buf)
{
	struct tdsm_buf *ready = NULL;
	int err = 0;

	spin_lock(&conn->mr_lock);
	if (READ_ONCE(tdsm_ready_bufs) && !list_empty(&conn->ready)) {
		ready = list_first_entry(&conn->ready, struct tdsm_buf, entry);
		list_del(&ready->entry);
		conn->nready--;
	}
	spin_unlock(&conn->mr_lock);
	if (ready) {
		*buf = *ready;
		kfree(ready);
	} else {
		err = tdsm_buf_fresh(conn, buf);
	}
	if (err)
		return err;
	kref_get(&conn->ref);
	buf->conn = conn;
	return 0;
}

/*
 * The remote WRITEs into @mr are over (replied, failed or timed out), and
 * its REG_MR is done with (__tdsm_call() waited for it). Make sure its
 * rkey is dead before the pages are used. Returns true if it is known
 * dead (the MR may be reused), false if it must be deregistered. @call:
 * the request's call; its reply may already have invalidated it.
 *
 * A reply's SEND_WITH_INV kills the rkey for good: the REG_MR ran on the
 * registration QP, which never retransmits, so nothing runs it again.
 */
static bool tdsm_mr_retire(struct tdsm_conn *conn, struct ib_mr *mr,
			   const struct tdsm_call *call)
{
	struct ib_send_wr wr = {
		.opcode = IB_WR_LOCAL_INV,
		.ex.invalidate_rkey = mr->rkey,
	};

	if (call && call->invalidated && call->inv_rkey == mr->rkey)
		return true;
	/*
	 * After a reply that did not invalidate the rkey, invalidate it
	 * here. After a failed call (@call NULL) deregister instead: the
	 * connection may be dead, and the REG_MR may not have run.
	 */
	if (!call || !tdsm_conn_is_up(conn))
		return false;
	return !tdsm_local_run(conn, &wr);
}

/*
 * Back on @list for reuse if its rkey is @dead, else deregistered (which
 * kills the rkey for sure). Either way before its pages are unmapped.
 */
static void tdsm_mr_recycle(struct tdsm_conn *conn, struct ib_mr *mr,
			    bool dead, struct list_head *list)
{
	if (dead) {
		spin_lock(&conn->mr_lock);
		list_add(&mr->qp_entry, list);
		spin_unlock(&conn->mr_lock);
	} else {
		ib_dereg_mr(mr);
	}
}

/*
 * The remote WRITE into @buf is over and its REG_MR is done with (see
 * tdsm_mr_retire()): kill the rkey, then unmap the frame.
 */
void tdsm_buf_put(struct tdsm_conn *conn, struct tdsm_buf *buf,
		  const struct tdsm_call *call)
{
	bool dead;

	if (WARN_ON_ONCE(buf->conn != conn))
		conn = buf->conn;
	dead = tdsm_mr_retire(conn, buf->mr, call);
	tdsm_mr_recycle(conn, buf->mr, dead, &conn->free_mrs);
	ib_dma_unmap_sg(conn->dev->ibdev, &buf->sg, 1, DMA_FROM_DEVICE);
	tdsm_conn_put(conn);
}

/*
 * @npages fresh zeroed pages registered as one buffer for remote WRITEs
 * by @conn's peer (in @conn's own PD), in @bufv.
 */
static int tdsm_bufv_alloc(struct tdsm_conn *conn, struct tdsm_bufv *bufv,
			   unsigned int npages)
{
	struct tdsm_dev *dev = conn->dev;
	struct ib_mr *mr;
	unsigned int i;
	int n;

	if (!npages || npages > TDSM_WIRE_BATCH)
		return -EINVAL;
	memset(bufv, 0, sizeof(*bufv));
	bufv->npages = npages;
	sg_init_table(bufv->sg, npages);
	for (i = 0; i < npages; i++) {
		bufv->frames[i] = alloc_page(GFP_HIGHUSER | __GFP_ZERO);
		if (!bufv->frames[i])
			goto err_frames;
		sg_set_page(&bufv->sg[i], bufv->frames[i], PAGE_SIZE, 0);
	}

	mr = tdsm_mr_get(conn, &conn->free_mrsv, TDSM_WIRE_BATCH);
	if (IS_ERR(mr))
		goto err_frames;
	bufv->nents = ib_dma_map_sg(dev->ibdev, bufv->sg, npages,
				    DMA_FROM_DEVICE);
	if (bufv->nents <= 0)
		goto err_mr;
	n = ib_map_mr_sg(mr, bufv->sg, bufv->nents, NULL, PAGE_SIZE);
	if (n != bufv->nents)
		goto err_unmap;
	bufv->mr = mr;
	tdsm_reg_wr_init(&bufv->reg_wr, mr);
	kref_get(&conn->ref);
	bufv->conn = conn;
	return 0;

err_unmap:
	ib_dma_unmap_sg(dev->ibdev, bufv->sg, npages, DMA_FROM_DEVICE);
err_mr:
	ib_dereg_mr(mr);
err_frames:
	for (i = 0; i < npages; i++)
		if (bufv->frames[i])
			put_page(bufv->frames[i]);
	return -ENOMEM;
}

/*
 * A batch buffer: @npages fresh zeroed frames registered for @conn's
 * peer to write (tdsm_bufv_alloc()); NULL if it could not be had. The
 * frames are the caller's: after tdsm_bufv_put() it takes those it keeps
 * (setting the slot to NULL), then tdsm_bufv_free() frees the rest and
 * the buffer.
 */
struct tdsm_bufv *tdsm_bufv_new(struct tdsm_conn *conn, unsigned int npages)
{
	struct tdsm_bufv *bufv = kmalloc(sizeof(*bufv), GFP_KERNEL);

	if (bufv && tdsm_bufv_alloc(conn, bufv, npages)) {
		kfree(bufv);
		return NULL;
	}
	return bufv;
}

/*
 * The remote WRITEs into @bufv are over: kill the rkey (tdsm_mr_retire()),
 * then unmap; the frames stay in @bufv for the caller to take or free
 * (tdsm_bufv_free()).
 */
void tdsm_bufv_put(struct tdsm_conn *conn, struct tdsm_bufv *bufv,
		   const struct tdsm_call *call)
{
	bool dead;

	if (WARN_ON_ONCE(bufv->conn != conn))
		conn = bufv->conn;
	dead = tdsm_mr_retire(conn, bufv->mr, call);
	tdsm_mr_recycle(conn, bufv->mr, dead, &conn->free_mrsv);
	ib_dma_unmap_sg(conn->dev->ibdev, bufv->sg, bufv->npages,
			DMA_FROM_DEVICE);
	tdsm_conn_put(conn);
}

/*
 * Free @bufv (tdsm_bufv_new(), put already) and the frames the caller did
 * not take (slots left non-NULL). NULL is nothing.
 */
void tdsm_bufv_free(struct tdsm_bufv *bufv)
{
	unsigned int i;

	if (!bufv)
		return;
	for (i = 0; i < bufv->npages; i++)
		if (bufv->frames[i])
			put_page(bufv->frames[i]);
	kfree(bufv);
}

/* ---- receiving -------------------------------------------------------- */

/* Post @rx; the caller is between tdsm_post_begin() and _end(). */
static int __tdsm_rx_post(struct tdsm_rx *rx)
{
	struct tdsm_conn *conn = rx->conn;
	struct ib_sge sge = {
		.addr = rx->dma,
		.length = sizeof(rx->msg),
		.lkey = conn->pd->local_dma_lkey,
	};
	struct ib_recv_wr wr = {
		.wr_cqe = &rx->cqe,
		.sg_list = &sge,
		.num_sge = 1,
	};

	return ib_post_recv(conn->qp, &wr, NULL);
}

/* Post @rx, if the connection still takes receives (tdsm_post_begin()). */
static int tdsm_rx_post(struct tdsm_rx *rx)
{
	struct tdsm_conn *conn = rx->conn;
	int err;

	if (!tdsm_post_begin(conn, TDSM_POST_RECV))
		return -ENOTCONN;
	err = __tdsm_rx_post(rx);
	tdsm_post_end(conn);
	return err;
}

/*
 * A request from the peer, in tdsm_wq. Its slot stays busy until the
 * handler returned, so that the slot's work is never queued while it runs.
 * Then the oldest request held back for want of a slot takes it.
 */
static void tdsm_req_work_fn(struct work_struct *work)
{
	struct tdsm_req_slot *slot = container_of(work, struct tdsm_req_slot,
						  work);
	struct tdsm_conn *conn = slot->conn;
	struct tdsm_wire_msg msg = slot->msg;
	struct tdsm_rx *rx = NULL;
	unsigned long flags;
	int err;

	trace_tinydsm_msg(conn->peer->id, be64_to_cpu(msg.hdr.id),
			  msg.hdr.type, TDSM_STEP_HANDLER);
	tdsm_proto_handle(conn, &msg);
	spin_lock_irqsave(&conn->lock, flags);
	if (conn->state == TDSM_CS_UP && !list_empty(&conn->rx_held)) {
		rx = list_first_entry(&conn->rx_held, struct tdsm_rx, held);
		list_del_init(&rx->held);
		/* As a post: the teardown frees no buffer until we are done. */
		conn->posting++;
	} else {
		__clear_bit(slot - conn->slots, conn->slot_busy);
	}
	spin_unlock_irqrestore(&conn->lock, flags);
	if (rx) {
		/* The slot goes to @rx's request; its buffer is posted again. */
		ib_dma_sync_single_for_cpu(conn->dev->ibdev, rx->dma,
					   sizeof(rx->msg), DMA_FROM_DEVICE);
		slot->msg = rx->msg;
		err = __tdsm_rx_post(rx);
		tdsm_post_end(conn);
		if (err)
			tdsm_conn_kill(conn, err);
		kref_get(&conn->ref);
		queue_work(tdsm_wq, &slot->work);
	}
	tdsm_conn_put(conn);	/* the slot's */
}

/*
 * Queue request @msg, received in @rx, for its handler in a free slot of
 * @conn, and post @rx again. Nothing is allocated here: the work a peer can
 * queue is bounded by TDSM_REQ_SLOTS. A peer keeps at most TDSM_REQ_DEPTH
 * requests outstanding, so slots run out only for one that does not; then
 * @rx is held back, not posted again, until a slot frees: the peer's
 * sends wait (RNR) instead of queueing more work.
 */
static void tdsm_req_queue(struct tdsm_conn *conn, struct tdsm_rx *rx,
			   const struct tdsm_wire_msg *msg)
{
	struct tdsm_req_slot *slot = NULL;
	unsigned long flags, i;
	bool held = false, early = false;
	int err;

	spin_lock_irqsave(&conn->lock, flags);
	/*
	 * Without a key, the peer's first request can beat our ESTABLISHED
	 * (CONNECTING). With one, the peer is UP, and sends requests, only
	 * once it checked our proof, which we post after our ESTABLISHED;
	 * and its own proof came before its first request, in order. So a
	 * request before its proof matched is a peer that skipped the
	 * exchange. One after it matched may beat our own move to UP (we
	 * posted our proof but did not yet mark it sent): it is taken, and
	 * its handler's reply waits for UP (tdsm_slot_try()).
	 */
	if (conn->keyed && conn->state < TDSM_CS_UP &&
	    !(conn->state == TDSM_CS_AUTH &&
	      (conn->auth & TDSM_AUTH_VERIFIED))) {
		early = true;
	} else if (conn->state <= TDSM_CS_UP) {
		i = find_first_zero_bit(conn->slot_busy, TDSM_REQ_SLOTS);
		if (i < TDSM_REQ_SLOTS && list_empty(&conn->rx_held)) {
			__set_bit(i, conn->slot_busy);
			slot = &conn->slots[i];
		} else {
			list_add_tail(&rx->held, &conn->rx_held);
			held = true;
		}
	}
	spin_unlock_irqrestore(&conn->lock, flags);
	if (early) {
		/*
		 * A failed proof too, whatever came first: a wrong proof that
		 * arrived before our ESTABLISHED is still unchecked when the
		 * request behind it comes in.
		 */
		atomic64_inc(&conn->peer->rx_bad);
		tdsm_peer_auth_failed(conn->peer,
				      "a request before its proof matched");
		tdsm_conn_kill(conn, -EPROTO);
		return;
	}
	if (held) {
		pr_warn_ratelimited("node %u: more requests than it may send: holding them back\n",
				    conn->peer->id);
		return;
	}
	err = tdsm_rx_post(rx);
	if (err && err != -ENOTCONN)
		tdsm_conn_kill(conn, err);
	if (!slot)
		return;	/* going down: the requester's call fails anyway */
	slot->msg = *msg;
	kref_get(&conn->ref);	/* the slot's, dropped by its work */
	queue_work(tdsm_wq, &slot->work);
}

/* Is @msg (of @len bytes) a well-formed message from @conn's peer? */
static const char *tdsm_msg_error(struct tdsm_conn *conn,
				  const struct tdsm_wire_msg *msg, u32 len)
{
	if (len != TDSM_WIRE_MSG_SIZE)
		return "wrong length";
	if (be16_to_cpu(msg->hdr.magic) != TDSM_WIRE_MAGIC)
		return "bad magic";
	if (msg->hdr.version != TDSM_WIRE_VERSION)
		return "unknown version";
	if (be16_to_cpu(msg->hdr.len) != TDSM_WIRE_MSG_SIZE)
		return "bad length field";
	if (msg->hdr.src != conn->peer->id)
		return "wrong source node";
	if (!msg->hdr.type || msg->hdr.type >= __TDSM_W_MAX)
		return "unknown type";
	if (msg->hdr.flags)
		return "reserved flags set";
	if (msg->hdr.type == TDSM_W_AUTH)
		return msg->hdr.id ? "id on a proof" : NULL;
	if (!msg->hdr.id)
		return "no request id";
	return NULL;
}

static void tdsm_auth_rx(struct tdsm_conn *conn, const struct tdsm_wire_msg *msg);

/*
 * The call a reply with request id @id answers, taken out of conn->calls;
 * NULL if none: the index must hold a call and the tag must be its own.
 */
static struct tdsm_call *tdsm_call_take(struct tdsm_conn *conn, u64 id)
{
	struct tdsm_call *call;

	xa_lock_bh(&conn->calls);
	call = xa_load(&conn->calls, lower_32_bits(id));
	if (call && call->tag == upper_32_bits(id))
		__xa_erase(&conn->calls, lower_32_bits(id));
	else
		call = NULL;
	xa_unlock_bh(&conn->calls);
	return call;
}

/*
 * A receive completed. Replies are matched here, in any state: during the
 * teardown's drain too, so that a reply that landed is never lost (its
 * sender committed). Requests are queued while the connection is up.
 */
static void tdsm_rx_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct tdsm_rx *rx = container_of(wc->wr_cqe, struct tdsm_rx, cqe);
	struct tdsm_conn *conn = rx->conn;
	struct ib_device *ibdev = conn->dev->ibdev;
	struct tdsm_wire_msg msg;
	struct tdsm_call *call;
	const char *why;
	int err;

	if (wc->status != IB_WC_SUCCESS) {
		if (wc->status != IB_WC_WR_FLUSH_ERR)
			pr_warn_ratelimited("node %u: receive failed: %s\n",
					    conn->peer->id,
					    ib_wc_status_msg(wc->status));
		/* A flush outside our own teardown: the QP died under us. */
		tdsm_conn_kill(conn, -ECONNRESET);
		return;
	}
	ib_dma_sync_single_for_cpu(ibdev, rx->dma, sizeof(rx->msg), DMA_FROM_DEVICE);
	memset(&msg, 0, sizeof(msg));
	memcpy(&msg, &rx->msg, min_t(u32, wc->byte_len, sizeof(msg)));
	ib_dma_sync_single_for_device(ibdev, rx->dma, sizeof(rx->msg), DMA_FROM_DEVICE);

	atomic64_inc(&conn->peer->rx_msgs);
	why = tdsm_msg_error(conn, &msg, wc->byte_len);
	if (!why && msg.hdr.type == TDSM_W_AUTH) {
		err = tdsm_rx_post(rx);
		if (err && err != -ENOTCONN)
			tdsm_conn_kill(conn, err);
		tdsm_auth_rx(conn, &msg);
		return;
	}
	if (!why && msg.hdr.type != TDSM_W_REPLY) {
		trace_tinydsm_msg(conn->peer->id, be64_to_cpu(msg.hdr.id),
				  msg.hdr.type, TDSM_STEP_RECEIVED);
		/* A request: posted again once it has a slot. */
		tdsm_req_queue(conn, rx, &msg);
		return;
	}
	err = tdsm_rx_post(rx);
	if (err && err != -ENOTCONN)
		tdsm_conn_kill(conn, err);
	if (why) {
		atomic64_inc(&conn->peer->rx_bad);
		pr_warn_ratelimited("node %u: dropped a malformed message (%s, %u bytes, type %u)\n",
				    conn->peer->id, why, wc->byte_len, msg.hdr.type);
		return;
	}

	call = tdsm_call_take(conn, be64_to_cpu(msg.hdr.id));
	if (!call) {
		/* Nothing waits: forged, or a peer's bug. Dropped. */
		atomic64_inc(&conn->peer->rx_unmatched);
		pr_warn_ratelimited("node %u: dropped a reply that matches no request\n",
				    conn->peer->id);
		if (atomic_inc_return(&conn->unmatched) > TDSM_UNMATCHED_MAX)
			tdsm_conn_kill(conn, -EPROTO);
		return;
	}
	trace_tinydsm_msg(conn->peer->id, be64_to_cpu(msg.hdr.id),
			  msg.hdr.type, TDSM_STEP_ANSWERED);
	call->reply = msg;
	if (wc->wc_flags & IB_WC_WITH_INVALIDATE) {
		call->invalidated = true;
		call->inv_rkey = wc->ex.invalidate_rkey;
	}
	if (call->on_reply)
		call->on_reply(call->on_reply_ctx);
	complete(&call->done);
}

/* ---- connection setup ------------------------------------------------- */

/* The QP died (a peer's bad RDMA access, a fatal device error): tear down. */
static void tdsm_qp_event(struct ib_event *ev, void *context)
{
	struct tdsm_conn *conn = context;
	unsigned long flags;

	switch (ev->event) {
	case IB_EVENT_COMM_EST:
		/*
		 * A message beat the RTU: tell the CM, it raises ESTABLISHED.
		 * Under conn->lock: while CONNECTING, the teardown has not
		 * begun and cm_id is alive.
		 */
		spin_lock_irqsave(&conn->lock, flags);
		if (conn->state == TDSM_CS_CONNECTING && conn->cm_id)
			rdma_notify(conn->cm_id, IB_EVENT_COMM_EST);
		spin_unlock_irqrestore(&conn->lock, flags);
		break;
	case IB_EVENT_QP_FATAL:
	case IB_EVENT_QP_REQ_ERR:
	case IB_EVENT_QP_ACCESS_ERR:
		pr_warn_ratelimited("node %u: queue pair error: %s\n",
				    conn->peer->id, ib_event_msg(ev->event));
		tdsm_conn_kill(conn, -ECONNRESET);
		break;
	default:
		break;
	}
}

/*
 * Create the QP, CQ and receive buffers once the route is known. In the
 * connection's CM handler; whatever is created here the teardown destroys.
 */
static int tdsm_conn_setup_qp(struct tdsm_conn *conn)
{
	struct rdma_cm_id *cm_id = conn->cm_id;
	struct ib_qp_init_attr attr = {};
	struct ib_device *ibdev;
	int i, err;

	conn->dev = tdsm_dev_get(cm_id->device);
	if (!conn->dev)
		return -ENODEV;
	ibdev = conn->dev->ibdev;
	if (!(ibdev->attrs.device_cap_flags & IB_DEVICE_MEM_MGT_EXTENSIONS)) {
		pr_err("%s: no fast registration (memory management extensions)\n",
		       dev_name(&ibdev->dev));
		return -EOPNOTSUPP;
	}
	/* Its own: an rkey we hand this peer is no use on another QP. */
	conn->pd = ib_alloc_pd(ibdev, 0);
	if (IS_ERR(conn->pd)) {
		err = PTR_ERR(conn->pd);
		conn->pd = NULL;
		pr_err("%s: cannot allocate a protection domain: %d\n",
		       dev_name(&ibdev->dev), err);
		return err;
	}

	conn->cq = ib_alloc_cq(ibdev, conn, TDSM_CQ_DEPTH, 0, IB_POLL_SOFTIRQ);
	if (IS_ERR(conn->cq)) {
		err = PTR_ERR(conn->cq);
		conn->cq = NULL;
		return err;
	}
	conn->rx = kcalloc(TDSM_RX_DEPTH, sizeof(*conn->rx), GFP_KERNEL);
	if (!conn->rx)
		return -ENOMEM;
	for (i = 0; i < TDSM_RX_DEPTH; i++) {
		struct tdsm_rx *rx = &conn->rx[i];
		u64 dma;

		rx->conn = conn;
		rx->cqe.done = tdsm_rx_done;
		INIT_LIST_HEAD(&rx->held);
		dma = ib_dma_map_single(ibdev, &rx->msg, sizeof(rx->msg),
					DMA_FROM_DEVICE);
		if (ib_dma_mapping_error(ibdev, dma))
			return -EIO;
		rx->dma = dma;
		conn->rx_mapped++;
	}
	attr.event_handler = tdsm_qp_event;
	attr.qp_context = conn;
	attr.send_cq = conn->cq;
	attr.recv_cq = conn->cq;
	attr.sq_sig_type = IB_SIGNAL_REQ_WR;
	attr.qp_type = IB_QPT_RC;
	attr.cap.max_send_wr = TDSM_SQ_WRS;
	attr.cap.max_recv_wr = TDSM_RX_DEPTH + 1;	/* +1 for drain */
	attr.cap.max_send_sge = 1;
	attr.cap.max_recv_sge = 1;
	err = rdma_create_qp(cm_id, conn->pd, &attr);
	if (err)
		return err;
	conn->qp = cm_id->qp;
	/* The registration QP: sends nothing, receives nothing. */
	attr.cap.max_send_wr = TDSM_REG_WRS;
	attr.cap.max_recv_wr = 1;
	attr.cap.max_send_sge = 1;
	attr.cap.max_recv_sge = 1;
	conn->reg_qp = ib_create_qp(conn->pd, &attr);
	if (IS_ERR(conn->reg_qp)) {
		err = PTR_ERR(conn->reg_qp);
		conn->reg_qp = NULL;
		return err;
	}
	for (i = 0; i < TDSM_RX_DEPTH; i++) {
		err = tdsm_rx_post(&conn->rx[i]);
		if (err)
			return err;
	}
	return 0;
}

/* Our hello for @conn, with a fresh nonce; kept for the MACs. */
static void tdsm_hello_init(struct tdsm_conn *conn)
{
	struct tdsm_wire_hello *hello = &conn->hello_mine;

	memset(hello, 0, sizeof(*hello));
	hello->magic = cpu_to_be16(TDSM_WIRE_MAGIC);
	hello->version = TDSM_WIRE_VERSION;
	hello->node_id = tdsm_self.node_id;
	hello->max_nodes = tdsm_self.max_nodes;
	hello->home_nodes = tdsm_self.home_nodes;
	hello->flags = conn->keyed ? TDSM_HELLO_F_KEY : 0;
	hello->region_pages = cpu_to_be64(tdsm_self.region_pages);
	get_random_bytes(hello->nonce, sizeof(hello->nonce));
}

/*
 * The hello rides in the private data of the connect request and of its
 * accept, a reject's reason in that of the reject. Over IB and RoCE an RC
 * connect request carries IB_CM_REQ_PRIVATE_DATA_SIZE bytes, of which
 * rdma_cm's own header takes 36: 56 are left for ours, the least of the
 * three (a REP carries IB_CM_REP_PRIVATE_DATA_SIZE, a REJ
 * IB_CM_REJ_PRIVATE_DATA_SIZE); rdma_connect() refuses more.
 */
#define TDSM_CM_PRIVATE_DATA_MAX	56
static_assert(TDSM_CM_PRIVATE_DATA_MAX + 36 == IB_CM_REQ_PRIVATE_DATA_SIZE);
static_assert(TDSM_CM_PRIVATE_DATA_MAX <= IB_CM_REP_PRIVATE_DATA_SIZE);
static_assert(TDSM_CM_PRIVATE_DATA_MAX <= IB_CM_REJ_PRIVATE_DATA_SIZE);
static_assert(sizeof(struct tdsm_wire_hello) <= TDSM_CM_PRIVATE_DATA_MAX);
static_assert(sizeof(struct tdsm_wire_reject) <= TDSM_CM_PRIVATE_DATA_MAX);

/* Check a peer's hello; 0 or an enum tdsm_wire_reject_reason. */
static int tdsm_hello_check(const void *data, u8 len)
{
	const struct tdsm_wire_hello *hello = data;

	if (!data || len < sizeof(*hello) ||
	    be16_to_cpu(hello->magic) != TDSM_WIRE_MAGIC)
		return TDSM_REJ_MALFORMED;
	if (hello->version != TDSM_WIRE_VERSION)
		return TDSM_REJ_VERSION;
	if ((hello->flags & ~TDSM_HELLO_F_KEY) ||
	    hello->reserved0 ||
	    memchr_inv(hello->reserved, 0, sizeof(hello->reserved)))
		return TDSM_REJ_MALFORMED;
	if (hello->max_nodes != tdsm_self.max_nodes ||
	    hello->home_nodes != tdsm_self.home_nodes ||
	    be64_to_cpu(hello->region_pages) != tdsm_self.region_pages)
		return TDSM_REJ_MISMATCH;
	return 0;
}

static void tdsm_conn_param_init(struct rdma_conn_param *param,
				 struct tdsm_conn *conn)
{
	memset(param, 0, sizeof(*param));
	tdsm_hello_init(conn);
	param->private_data = &conn->hello_mine;
	param->private_data_len = sizeof(conn->hello_mine);
	param->flow_control = 1;
	/*
	 * 6, not 7: Soft-RoCE reads a retry count of 7 as "retry for ever"
	 * (rxe_comp.c), so a work request to a peer whose QP is gone (a
	 * probe, a reply) never failed and a dead connection stayed UP.
	 * With 6 it fails after 7 ack timeouts (TDSM_ACK_TIMEOUT), about 4 s.
	 */
	param->retry_count = 6;
	param->rnr_retry_count = 7;	/* retry until a receive is posted */
}

static void tdsm_reject(struct rdma_cm_id *cm_id, u8 reason)
{
	struct tdsm_wire_reject rej = {
		.magic = cpu_to_be16(TDSM_WIRE_MAGIC),
		.version = TDSM_WIRE_VERSION,
		.reason = reason,
	};

	rdma_reject(cm_id, &rej, sizeof(rej), IB_CM_REJ_CONSUMER_DEFINED);
}

static const char *tdsm_reject_reason(u8 reason)
{
	switch (reason) {
	case TDSM_REJ_MALFORMED: return "malformed hello";
	case TDSM_REJ_VERSION: return "protocol version differs";
	case TDSM_REJ_UNKNOWN: return "not a configured peer";
	case TDSM_REJ_MISMATCH: return "region size, max_nodes or home_nodes differ";
	case TDSM_REJ_DUPLICATE: return "already connected";
	case TDSM_REJ_NOKEY: return "no cluster key set";
	case TDSM_REJ_AUTH: return "one end has a cluster key, the other not";
	default: return "unknown reason";
	}
}

/* ---- authentication (PROTOCOL.md, "Authentication") ------------------ */

/*
 * Post our TDSM_W_AUTH. At this point no other message was sent, so a tx
 * slot is free; the post is allowed in state AUTH only.
 */
static int tdsm_auth_send(struct tdsm_conn *conn)
{
	struct tdsm_tx *tx;

	if (!atomic_add_unless(&conn->tx_free, -1, 0))
		return -ENOBUFS;
	tx = kzalloc(sizeof(*tx), GFP_KERNEL);
	if (!tx) {
		tdsm_slot_put(conn, &conn->tx_free);
		return -ENOMEM;
	}
	tx->conn = conn;
	tx->cqe.done = tdsm_tx_done;
	tx->auth = true;
	tdsm_msg_init(&tx->msg, TDSM_W_AUTH);	/* id 0: nothing answers it */
	memcpy(tx->msg.auth.mac, conn->mac_mine, sizeof(tx->msg.auth.mac));
	return tdsm_tx_post(tx, NULL, NULL, 0);
}

/*
 * Called whenever the exchange of proofs moves (from the receive path and
 * from tdsm_auth_start(), in any order). The peer's proof is compared
 * once it is in and ours is computed (state AUTH): a mismatch kills the
 * connection, and the peer never got to send a request. Once it matched
 * and ours is posted, the connection is made UP and published, once.
 */
static void tdsm_auth_check(struct tdsm_conn *conn)
{
	const unsigned int ready = TDSM_AUTH_VERIFIED | TDSM_AUTH_SENT;
	unsigned long flags;
	bool bad = false, up;
	int err;

	spin_lock_irqsave(&conn->lock, flags);
	if (conn->state == TDSM_CS_AUTH &&
	    (conn->auth & (TDSM_AUTH_RX | TDSM_AUTH_CHECKED)) == TDSM_AUTH_RX) {
		conn->auth |= TDSM_AUTH_CHECKED;
		if (crypto_memneq(conn->mac_rx, conn->mac_peer,
				  sizeof(conn->mac_peer)))
			bad = true;
		else
			conn->auth |= TDSM_AUTH_VERIFIED;
	}
	up = conn->state == TDSM_CS_AUTH &&
	     (conn->auth & (ready | TDSM_AUTH_PUBLISH)) == ready;
	if (up)
		conn->auth |= TDSM_AUTH_PUBLISH;
	spin_unlock_irqrestore(&conn->lock, flags);
	if (bad) {
		tdsm_peer_auth_failed(conn->peer, "wrong proof of the cluster key");
		tdsm_conn_kill(conn, -EKEYREJECTED);
		return;
	}
	if (!up)
		return;
	err = tdsm_peer_publish(conn->peer, conn);
	if (err)
		tdsm_conn_kill(conn, err);
}

/* The peer's TDSM_W_AUTH arrived (receive path). One, and only before UP. */
static void tdsm_auth_rx(struct tdsm_conn *conn, const struct tdsm_wire_msg *msg)
{
	unsigned long flags;
	bool fresh, going;

	/* A test's lost proof (the knob drop_proofs): as if it never came. */
	if (tdsm_inject_drop_proof()) {
		pr_info("node %u: dropped its proof of the key (drop_proofs)\n",
			conn->peer->id);
		return;
	}
	spin_lock_irqsave(&conn->lock, flags);
	going = conn->state >= TDSM_CS_CLOSING;
	fresh = conn->keyed && conn->state < TDSM_CS_UP &&
		!(conn->auth & TDSM_AUTH_RX);
	if (fresh) {
		memcpy(conn->mac_rx, msg->auth.mac, sizeof(conn->mac_rx));
		conn->auth |= TDSM_AUTH_RX;
	}
	spin_unlock_irqrestore(&conn->lock, flags);
	if (going)
		return;
	if (!fresh) {
		atomic64_inc(&conn->peer->rx_bad);
		pr_warn_ratelimited("node %u: a proof of the key out of place: disconnecting\n",
				    conn->peer->id);
		tdsm_conn_kill(conn, -EPROTO);
		return;
	}
	tdsm_auth_check(conn);
}

/* Still no proof from the peer after timeout_ms: it does not have the key. */
static void tdsm_auth_timeout_fn(struct work_struct *work)
{
	struct tdsm_conn *conn = container_of(to_delayed_work(work),
					      struct tdsm_conn, auth_timeout);

	if (tdsm_conn_state(conn) == TDSM_CS_AUTH) {
		tdsm_peer_auth_failed(conn->peer, "no proof of the cluster key in time");
		tdsm_conn_kill(conn, -ETIMEDOUT);
	}
	tdsm_conn_put(conn);	/* the timer's */
}

/*
 * ESTABLISHED, both hellos known. Without a key (allow_unauthenticated,
 * and the peer has none either: the hellos said so), UP at once. With one:
 * AUTH, our proof sent, and UP once the peer's checks out, within
 * timeout_ms.
 */
static void tdsm_auth_start(struct tdsm_conn *conn)
{
	const struct tdsm_wire_hello *ini, *resp;
	ktime_t start = ktime_get();	/* what authentication costs: from here */
	unsigned long flags;
	bool ok;
	int err;

	if (!conn->keyed) {
		err = tdsm_peer_publish(conn->peer, conn);
		if (err)
			tdsm_conn_kill(conn, err);
		return;
	}
	ini = conn->initiator ? &conn->hello_mine : &conn->hello_peer;
	resp = conn->initiator ? &conn->hello_peer : &conn->hello_mine;
	err = tdsm_auth_macs(ini, resp, conn->initiator, conn->mac_mine,
			     conn->mac_peer);
	if (err) {
		tdsm_conn_kill(conn, err);
		return;
	}
	spin_lock_irqsave(&conn->lock, flags);
	ok = conn->state == TDSM_CS_CONNECTING &&
	     tdsm_conn_set_state(conn, TDSM_CS_AUTH);
	if (ok) {
		conn->t_auth = start;	/* before UP can read it: same lock */
		kref_get(&conn->ref);	/* the timer's */
		queue_delayed_work(tdsm_wq, &conn->auth_timeout, tdsm_timeout());
	}
	spin_unlock_irqrestore(&conn->lock, flags);
	if (!ok)
		return;	/* killed meanwhile */
	err = tdsm_auth_send(conn);
	if (err) {
		tdsm_conn_kill(conn, err);
		return;
	}
	spin_lock_irqsave(&conn->lock, flags);
	conn->auth |= TDSM_AUTH_SENT;
	spin_unlock_irqrestore(&conn->lock, flags);
	tdsm_auth_check(conn);
}

/* Do the hellos' key flags match? Else say why the peer is refused. */
static const char *tdsm_auth_mismatch(bool keyed, const struct tdsm_wire_hello *hello)
{
	bool peer_keyed = hello->flags & TDSM_HELLO_F_KEY;

	if (keyed == peer_keyed)
		return NULL;
	return keyed ? "it has no cluster key" :
		       "it has a cluster key and this node has none";
}

/* Do @a and @b name the same host (port aside)? IPv4-mapped IPv6 counts. */
static bool tdsm_same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;
	const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;

	if (a->sa_family == AF_INET6 && ipv6_addr_v4mapped(&a6->sin6_addr) &&
	    b->sa_family == AF_INET)
		return a6->sin6_addr.s6_addr32[3] == b4->sin_addr.s_addr;
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	return ipv6_addr_equal(&a6->sin6_addr, &b6->sin6_addr);
}

/*
 * A peer connects to us (we have the higher id). The new connection is
 * reserved in the peer (tdsm_peer_reserve()) and published only at
 * ESTABLISHED. Returning non-zero makes the CM destroy @cm_id: then the
 * connection must not touch it, and its teardown destroys the rest.
 */
static int tdsm_cm_connect_request(struct rdma_cm_id *cm_id,
				   struct rdma_cm_event *ev)
{
	const struct tdsm_wire_hello *hello = ev->param.conn.private_data;
	struct rdma_conn_param param;
	struct tdsm_peer *peer;
	struct tdsm_conn *conn;
	unsigned long flags;
	const char *why;
	int reason, err;
	bool mine, keyed;

	reason = tdsm_hello_check(hello, ev->param.conn.private_data_len);
	if (reason)
		goto reject;
	reason = TDSM_REJ_UNKNOWN;
	if (hello->node_id >= tdsm_self.node_id)
		goto reject;	/* the lower id connects */
	peer = tdsm_peer_find(hello->node_id);
	if (!peer)
		goto reject;
	if (!tdsm_same_host((struct sockaddr *)&cm_id->route.addr.dst_addr,
			    (struct sockaddr *)&peer->addr)) {
		/* Another host claims a configured id. */
		tdsm_peer_put(peer);
		goto reject;
	}
	keyed = tdsm_auth_has_key();
	if (!keyed && !tdsm_allow_unauth) {
		tdsm_peer_put(peer);
		reason = TDSM_REJ_NOKEY;
		goto reject;
	}
	why = tdsm_auth_mismatch(keyed, hello);
	if (why) {
		tdsm_peer_auth_failed(peer, why);
		tdsm_peer_put(peer);
		reason = TDSM_REJ_AUTH;
		goto reject;
	}
	conn = tdsm_conn_alloc(peer, false, keyed);
	tdsm_peer_put(peer);
	if (!conn) {
		tdsm_reject(cm_id, TDSM_REJ_MALFORMED);
		return -ENOMEM;	/* the CM destroys cm_id */
	}
	conn->hello_peer = *hello;
	conn->cm_id = cm_id;
	cm_id->context = conn;
	/*
	 * A connection we still have to this peer is stale (the peer only
	 * connects when it has none): the reservation kills it, and the peer
	 * retries once it is gone.
	 */
	err = tdsm_peer_reserve(conn->peer, conn);
	if (!err)
		err = rdma_set_ack_timeout(cm_id, TDSM_ACK_TIMEOUT);
	if (!err)
		err = tdsm_conn_setup_qp(conn);
	if (!err) {
		tdsm_conn_param_init(&param, conn);
		err = rdma_accept(cm_id, &param);
	}
	if (!err)
		return 0;
	/*
	 * Who destroys cm_id: the CM, if we return non-zero, or else the
	 * teardown. Decided under conn->lock, with the move to CLOSING: if a
	 * kill came first, its teardown already owns cm_id (and rejects).
	 */
	spin_lock_irqsave(&conn->lock, flags);
	mine = conn->state == TDSM_CS_CONNECTING;
	if (mine) {
		conn->cm_id = NULL;
		cm_id->context = NULL;
		conn->error = err;
		tdsm_conn_set_state(conn, TDSM_CS_CLOSING);
	}
	spin_unlock_irqrestore(&conn->lock, flags);
	if (!mine)
		return 0;
	if (err == -EBUSY) {
		reason = TDSM_REJ_DUPLICATE;
		goto reject;
	}
	pr_warn_ratelimited("node %u: cannot accept: %d\n", hello->node_id, err);
	return err;	/* the CM destroys cm_id */

reject:
	pr_info_ratelimited("refused a connection: %s\n", tdsm_reject_reason(reason));
	tdsm_reject(cm_id, reason);
	return -ECONNREFUSED;	/* the CM destroys cm_id */
}

/*
 * Bring @conn's registration QP to RTS, which the verbs require for any
 * work request, with the attributes the CM gave the message QP: an RC QP
 * needs a peer to get there, though this one never sends to it.
 */
static int tdsm_reg_qp_ready(struct tdsm_conn *conn, struct rdma_cm_id *cm_id)
{
	static const enum ib_qp_state steps[] = {
		IB_QPS_INIT, IB_QPS_RTR, IB_QPS_RTS
	};
	struct ib_qp_attr attr;
	int i, mask, err;

	for (i = 0; i < ARRAY_SIZE(steps); i++) {
		memset(&attr, 0, sizeof(attr));
		attr.qp_state = steps[i];
		err = rdma_init_qp_attr(cm_id, &attr, &mask);
		if (!err)
			err = ib_modify_qp(conn->reg_qp, &attr, mask);
		if (err) {
			pr_warn_ratelimited("node %u: registration queue pair not ready (state %d): %d\n",
					    conn->peer->id, steps[i], err);
			return err;
		}
	}
	conn->reg_ready = true;
	return 0;
}

/*
 * ESTABLISHED: the initiator checks the acceptor's hello (the acceptor
 * checked ours at the connect request); the registration QP gets ready;
 * then both authenticate.
 */
static void tdsm_cm_established(struct tdsm_conn *conn,
				struct rdma_cm_id *cm_id,
				struct rdma_cm_event *ev)
{
	const struct tdsm_wire_hello *hello = ev->param.conn.private_data;
	const char *why;
	int err;

	if (conn->initiator) {
		if (tdsm_hello_check(hello, ev->param.conn.private_data_len) ||
		    hello->node_id != conn->peer->id) {
			tdsm_conn_kill(conn, -EPROTO);
			return;
		}
		why = tdsm_auth_mismatch(conn->keyed, hello);
		if (why) {
			tdsm_peer_auth_failed(conn->peer, why);
			tdsm_conn_kill(conn, -EKEYREJECTED);
			return;
		}
		conn->hello_peer = *hello;
	}
	err = tdsm_reg_qp_ready(conn, cm_id);
	if (err) {
		tdsm_conn_kill(conn, err);
		return;
	}
	tdsm_auth_start(conn);
}

/* An event of a connection's own CM id; the caller holds a reference. */
static void tdsm_cm_event(struct tdsm_conn *conn, struct rdma_cm_id *cm_id,
			  struct rdma_cm_event *ev)
{
	const struct tdsm_wire_reject *rej;
	struct rdma_conn_param param;
	int err;

	/* Going down: the teardown destroys the id once we return. */
	if (tdsm_conn_state(conn) >= TDSM_CS_CLOSING)
		return;

	switch (ev->event) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		err = rdma_resolve_route(cm_id, TDSM_CM_TIMEOUT_MS);
		break;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		err = tdsm_conn_setup_qp(conn);
		if (!err) {
			tdsm_conn_param_init(&param, conn);
			err = rdma_connect_locked(cm_id, &param);
		}
		break;
	case RDMA_CM_EVENT_ESTABLISHED:
		tdsm_cm_established(conn, cm_id, ev);
		return;
	case RDMA_CM_EVENT_REJECTED:
		rej = ev->param.conn.private_data;
		if (rej && ev->param.conn.private_data_len >= sizeof(*rej) &&
		    be16_to_cpu(rej->magic) == TDSM_WIRE_MAGIC)
			pr_info_ratelimited("node %u refused the connection: %s\n",
					    conn->peer->id,
					    tdsm_reject_reason(rej->reason));
		err = -ECONNREFUSED;
		break;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
		err = -EHOSTUNREACH;
		break;
	case RDMA_CM_EVENT_CONNECT_ERROR:
	case RDMA_CM_EVENT_DISCONNECTED:
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
	case RDMA_CM_EVENT_ADDR_CHANGE:
	case RDMA_CM_EVENT_TIMEWAIT_EXIT:
		/* On either side, connecting or up: the connection is over. */
		err = -ECONNRESET;
		break;
	default:
		return;
	}
	if (err)
		tdsm_conn_kill(conn, err);
}

/*
 * Every CM event. A connection's own events hold a reference while they
 * run; the teardown destroys the id (which waits for a running handler)
 * before it drops the connection's own, so the connection outlives them.
 * Always 0 for a connection's id: the connection owns it.
 */
static int tdsm_cm_handler(struct rdma_cm_id *cm_id, struct rdma_cm_event *ev)
{
	struct tdsm_conn *conn = cm_id->context;

	if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST)
		return tdsm_cm_connect_request(cm_id, ev);
	if (!conn)
		return 0;	/* the listener */
	kref_get(&conn->ref);
	tdsm_cm_event(conn, cm_id, ev);
	tdsm_conn_put(conn);
	return 0;
}

/*
 * Connect to @peer (we have the lower id), in tdsm_conn_wq. Waits at most
 * 3 CM timeouts. 0 once the connection is UP (published in the peer once
 * both ends proved the key, or at ESTABLISHED without one); else the
 * connection is killed and its teardown cleans up: -EBUSY if the peer has
 * or gets one otherwise, -ENOKEY without a key (and allow_unauthenticated
 * not set), else why it failed.
 */
int tdsm_conn_connect(struct tdsm_peer *peer)
{
	struct tdsm_conn *conn;
	struct rdma_cm_id *cm_id;
	unsigned long flags;
	bool keyed;
	int err;

	keyed = tdsm_auth_has_key();
	if (!keyed && !tdsm_allow_unauth)
		return -ENOKEY;	/* retried: a key may come */
	conn = tdsm_conn_alloc(peer, true, keyed);
	if (!conn)
		return -ENOMEM;
	kref_get(&conn->ref);		/* ours, for the wait below */
	cm_id = rdma_create_id(&init_net, tdsm_cm_handler, conn, RDMA_PS_TCP,
			       IB_QPT_RC);
	if (IS_ERR(cm_id)) {
		err = PTR_ERR(cm_id);
		goto out_kill;
	}
	conn->cm_id = cm_id;
	/* Before the route: it also sets RoCE's packet lifetime. */
	err = rdma_set_ack_timeout(cm_id, TDSM_ACK_TIMEOUT);
	if (!err)
		err = tdsm_peer_reserve(peer, conn);
	if (err)
		goto out_kill;
	/* Published: a kill may come now, and its teardown waits for this. */
	if (!tdsm_post_begin(conn, TDSM_POST_SETUP)) {
		err = -ECONNRESET;
		goto out_kill;
	}
	err = rdma_resolve_addr(cm_id, NULL, (struct sockaddr *)&peer->addr,
				TDSM_CM_TIMEOUT_MS);
	tdsm_post_end(conn);
	if (err)
		goto out_kill;
	wait_event_timeout(conn->wait,
			   tdsm_conn_state(conn) >= TDSM_CS_UP,
			   msecs_to_jiffies(3 * TDSM_CM_TIMEOUT_MS));
	err = -ETIMEDOUT;
out_kill:
	/* Unless it came UP meanwhile: then it stays. */
	spin_lock_irqsave(&conn->lock, flags);
	if (conn->state < TDSM_CS_UP) {
		conn->error = err;
		tdsm_conn_set_state(conn, TDSM_CS_CLOSING);
	}
	err = conn->state == TDSM_CS_UP ? 0 : conn->error ?: -ECONNRESET;
	spin_unlock_irqrestore(&conn->lock, flags);
	tdsm_conn_put(conn);
	return err;
}

/* ---- device removal and module setup ---------------------------------- */

static int tdsm_ib_add(struct ib_device *ibdev)
{
	return 0;
}

/* Kill every connection on @ibdev; true if any is left (dying or not). */
static bool tdsm_ib_kill_conns(struct ib_device *ibdev)
{
	struct tdsm_conn *conn;
	bool any = false;

	spin_lock(&tdsm_conns_lock);
	list_for_each_entry(conn, &tdsm_conns, list) {
		if (conn->dev && conn->dev->ibdev == ibdev) {
			tdsm_conn_kill(conn, -ENODEV);
			any = true;
		}
	}
	spin_unlock(&tdsm_conns_lock);
	return any;
}

/* Is anything of ours (a PD, so MRs or connections) left on @ibdev? */
static bool tdsm_ib_busy(struct ib_device *ibdev)
{
	struct tdsm_dev *dev;
	bool busy = false;

	mutex_lock(&tdsm_devs_mutex);
	list_for_each_entry(dev, &tdsm_devs, list)
		busy |= dev->ibdev == ibdev;
	mutex_unlock(&tdsm_devs_mutex);
	return busy;
}

/*
 * A device goes away (before the CM's own removal, which runs after ours):
 * no new connection or buffer on it, tear down every connection on it,
 * and wait until every connection and registered buffer on it has been
 * released and its PD freed. Each holder lets go within a bounded time (a
 * call fails once its connection is torn down; a teardown is bounded), so
 * this waits as long as that takes, saying so now and then; returning
 * earlier would leave objects on a device that is gone.
 */
static void tdsm_ib_remove(struct ib_device *ibdev, void *client_data)
{
	unsigned long start = jiffies;
	int slot = -1, i;

	mutex_lock(&tdsm_devs_mutex);
	for (i = 0; i < TDSM_MAX_DYING && slot < 0; i++)
		if (!tdsm_dying[i])
			slot = i;
	if (slot >= 0)
		tdsm_dying[slot] = ibdev;
	mutex_unlock(&tdsm_devs_mutex);

	for (;;) {
		int seen = atomic_read(&tdsm_devs_released);

		if (!tdsm_ib_busy(ibdev))
			break;
		/* Again each time: one may have come up while we marked it. */
		tdsm_ib_kill_conns(ibdev);
		/* The condition must not sleep: a counter, not the mutex. */
		wait_event_timeout(tdsm_devs_wait,
				   atomic_read(&tdsm_devs_released) != seen,
				   msecs_to_jiffies(tdsm_timeout_ms));
		if (time_after(jiffies, start + 10 * tdsm_timeout()))
			pr_warn_ratelimited("%s: removal still waits for connections or buffers on it\n",
					    dev_name(&ibdev->dev));
	}

	if (slot >= 0) {
		mutex_lock(&tdsm_devs_mutex);
		tdsm_dying[slot] = NULL;
		mutex_unlock(&tdsm_devs_mutex);
	}
}

static struct ib_client tdsm_ib_client = {
	.name = "tinydsm",
	.add = tdsm_ib_add,
	.remove = tdsm_ib_remove,
};

static int tdsm_listen(void)
{
	struct sockaddr_in6 any6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in any4 = { .sin_family = AF_INET };
	int err;

	tdsm_listener = rdma_create_id(&init_net, tdsm_cm_handler, NULL,
				       RDMA_PS_TCP, IB_QPT_RC);
	if (IS_ERR(tdsm_listener))
		return PTR_ERR(tdsm_listener);
	/* IPv6 any, also taking IPv4; IPv4 only if the kernel has no IPv6. */
	any6.sin6_port = htons(tdsm_port);
	err = rdma_set_afonly(tdsm_listener, 0);
	if (!err)
		err = rdma_bind_addr(tdsm_listener, (struct sockaddr *)&any6);
	if (err) {
		any4.sin_port = htons(tdsm_port);
		err = rdma_bind_addr(tdsm_listener, (struct sockaddr *)&any4);
	}
	if (!err)
		err = rdma_listen(tdsm_listener, 32);
	if (err) {
		pr_err("cannot listen on rdma_cm port %u: %d\n", tdsm_port, err);
		rdma_destroy_id(tdsm_listener);
		tdsm_listener = NULL;
	}
	return err;
}

/*
 * This node as its messages and hellos present it: @node_id, and the
 * @max_nodes, @home_nodes and @region_pages a peer must share. Set before
 * the first connection.
 */
int tdsm_rdma_init(u8 node_id, u8 max_nodes, u8 home_nodes,
		   unsigned long region_pages)
{
	int err;

	tdsm_self.node_id = node_id;
	tdsm_self.max_nodes = max_nodes;
	tdsm_self.home_nodes = home_nodes;
	tdsm_self.region_pages = region_pages;
	tdsm_wq = alloc_workqueue("tinydsm", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	if (!tdsm_wq)
		return -ENOMEM;
	/*
	 * Connects and teardowns never wait behind request handlers, which
	 * may wait (bounded) for what a teardown releases.
	 */
	tdsm_conn_wq = alloc_workqueue("tinydsm_conn", WQ_UNBOUND | WQ_MEM_RECLAIM,
				       0);
	if (!tdsm_conn_wq) {
		err = -ENOMEM;
		goto err_wq;
	}
	err = ib_register_client(&tdsm_ib_client);
	if (err)
		goto err_conn_wq;
	err = tdsm_listen();
	if (err)
		goto err_client;
	return 0;

err_client:
	ib_unregister_client(&tdsm_ib_client);
err_conn_wq:
	destroy_workqueue(tdsm_conn_wq);
err_wq:
	destroy_workqueue(tdsm_wq);
	return err;
}

/*
 * After tdsm_peers_exit(): every connection was killed and is dead. The
 * listener goes first (no new one), then whatever still holds a reference
 * (a request handler, a teardown) finishes.
 */
void tdsm_rdma_exit(void)
{
	rdma_destroy_id(tdsm_listener);
	flush_workqueue(tdsm_conn_wq);
	flush_workqueue(tdsm_wq);
	flush_workqueue(tdsm_conn_wq);
	WARN_ON_ONCE(!list_empty(&tdsm_conns));
	ib_unregister_client(&tdsm_ib_client);
	destroy_workqueue(tdsm_conn_wq);
	destroy_workqueue(tdsm_wq);
	WARN_ON_ONCE(!list_empty(&tdsm_devs));
}
