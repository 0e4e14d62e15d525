/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm: the RDMA transport (rdma.c): connections, buffers, calls.
 */
#ifndef _TDSM_RDMA_H
#define _TDSM_RDMA_H

#include <linux/atomic.h>
#include <linux/bitmap.h>
#include <linux/completion.h>
#include <linux/kref.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/scatterlist.h>
#include <linux/semaphore.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <rdma/ib_verbs.h>
#include <rdma/ib_cm.h>
#include <rdma/rdma_cm.h>

#include "wire.h"

struct tdsm_peer;

/*
 * The steps of a request's round trip that the tracepoint tinydsm_msg
 * marks, in order, for the fault path's breakdown (tools/bench). The
 * request id is the same at both ends; the registration comes before the
 * id exists (traced with id 0, on the requester's task).
 */
enum tdsm_msg_step {
	TDSM_STEP_REGISTERED,	/* requester: its buffer's REG_MR completed (or ran ahead) */
	TDSM_STEP_POSTED,	/* requester: the request's SEND posted */
	TDSM_STEP_RECEIVED,	/* peer: the request's receive completed */
	TDSM_STEP_HANDLER,	/* peer: its handler starts (after the workqueue) */
	TDSM_STEP_LOCKED,	/* peer, the home: the page's directory entry locked */
	TDSM_STEP_REPLIED,	/* peer: the reply, and the data ahead of it, posted */
	TDSM_STEP_ANSWERED,	/* requester: the reply's receive completed */
	TDSM_STEP_WOKEN,	/* requester: the caller runs again */
	TDSM_STEP_SENT,		/* requester: its own SEND's completion seen */
};

/*
 * Requests this node may have outstanding on one connection (sent, reply
 * not yet in): the peer's bounded queue of requests (TDSM_REQ_SLOTS) does
 * not fill up. A request's slot at the receiver is busy from its arrival
 * until its handler returned, which may be a little after its reply, hence
 * the margin. A peer that sends more anyway is held back (RNR).
 */
#define TDSM_REQ_DEPTH		16
#define TDSM_REQ_SLOTS		(3 * TDSM_REQ_DEPTH)
/* Receive buffers posted per connection, reposted as soon as read. */
#define TDSM_RX_DEPTH		64
/*
 * Messages in flight per connection; each takes up to 2 send WRs (a page's
 * RDMA WRITE, the SEND; REG_MR and LOCAL_INV go on the registration QP).
 */
#define TDSM_TX_DEPTH		64
/* ...plus the RDMA WRITEs of one batch reply (TDSM_WIRE_BATCH). */
#define TDSM_SQ_WRS		(TDSM_TX_DEPTH * 2 + TDSM_WIRE_BATCH + 1) /* +1: drain */
/*
 * Single-page buffers kept registered ahead of need per connection, at
 * most (tdsm_buf_alloc(); module parameter ready_buffers, 0..this): a
 * fault takes one and sends its request at once, and the REG_MRs of the
 * replacements run after, off the fault's path.
 */
#define TDSM_READY_BUFS		8
/* Registrations and invalidations under way on the registration QP. */
#define TDSM_REG_DEPTH		32
#define TDSM_REG_WRS		(TDSM_REG_DEPTH + 1)	/* +1: drain */
#define TDSM_CQ_DEPTH		(TDSM_RX_DEPTH + TDSM_SQ_WRS + TDSM_REG_WRS + 1)
/*
 * Replies that match no request, per connection, before it is dropped. A
 * reply always matches on a sound connection (a call that times out kills
 * it), so these are forgeries: a few are counted, guessing goes no further.
 */
#define TDSM_UNMATCHED_MAX	8

extern unsigned int tdsm_timeout_ms;	/* every wait on a peer, module param */
extern unsigned short tdsm_port;	/* rdma_cm port, module param */
extern struct workqueue_struct *tdsm_wq;	/* request handlers, drop_work */
extern struct workqueue_struct *tdsm_conn_wq;	/* connect and teardown */

/**
 * struct tdsm_dev - an RDMA device tinydsm has connections on
 * @ibdev: the device.
 * @ref: held by each connection (until its release), so that a device
 *	removal can wait until nothing of ours is left on it; the last put
 *	wakes it.
 * @list: in tdsm_devs, under tdsm_devs_mutex.
 */
struct tdsm_dev {
	struct ib_device *ibdev;
	struct kref ref;
	struct list_head list;
};

/*
 * The states of a connection (kmod/PROTOCOL.md, "Connection states and
 * object lifetimes"). Only tdsm_conn_set_state() changes conn->state, under
 * conn->lock, along tdsm_conn_legal[]:
 *
 *   CONNECTING -> AUTH     ESTABLISHED, with a cluster key: our proof sent
 *   CONNECTING -> UP       ESTABLISHED, no key (allow_unauthenticated),
 *                          published in the peer (peer.c)
 *   AUTH       -> UP       the peer's proof checked out; published
 *   CONNECTING -> CLOSING  a CM error, a refusal, connect() gave up, a kill
 *   AUTH       -> CLOSING  a wrong or missing proof (auth_timeout), a kill
 *   UP         -> CLOSING  tdsm_conn_kill(): a failed completion, a QP
 *                          event, a CM disconnect, a call timeout, evict/del
 *   CLOSING    -> DEAD     the teardown work, once: unpublished, CM id
 *                          destroyed, QP in error and drained, calls failed
 */
enum tdsm_conn_state {
	TDSM_CS_CONNECTING,
	TDSM_CS_AUTH,
	TDSM_CS_UP,
	TDSM_CS_CLOSING,
	TDSM_CS_DEAD,
};

/* conn->auth: how far the exchange of proofs is (PROTOCOL.md). */
#define TDSM_AUTH_SENT		BIT(0)	/* our TDSM_W_AUTH is posted */
#define TDSM_AUTH_RX		BIT(1)	/* the peer's arrived, in mac_rx */
#define TDSM_AUTH_CHECKED	BIT(2)	/* compared (once, in state AUTH)... */
#define TDSM_AUTH_VERIFIED	BIT(3)	/* ...and it matched */
#define TDSM_AUTH_PUBLISH	BIT(4)	/* both done: made UP, once */

/* One request from the peer, queued for its handler (tdsm_wq). */
struct tdsm_req_slot {
	struct work_struct work;
	struct tdsm_conn *conn;
	struct tdsm_wire_msg msg;
};

/**
 * struct tdsm_conn - the one RC connection to a peer
 * @ref: see "Connection states and object lifetimes" in PROTOCOL.md: one
 *	reference is the connection's own, dropped by its teardown; the peer
 *	holds one while it publishes the connection; every user (a caller of
 *	tdsm_peer_conn(), a queued request, a running CM handler) holds one.
 * @peer: the peer (a reference).
 * @cm_id: its rdma_cm id, owned; destroyed by the teardown (NULL if the
 *	CM destroyed it, after a failed accept).
 * @qp: the queue pair, created on @cm_id; destroyed by the teardown.
 * @reg_qp: a second RC queue pair in @pd that never sends: the REG_MRs
 *	and LOCAL_INVs of our buffers run there, each waited for. On the
 *	message QP a retransmission would run them again (Soft-RoCE's
 *	requester restarts at the oldest unacknowledged work request,
 *	local ones included): a REG_MR run twice fails and kills the QP, an
 *	invalidated rkey comes back. Ready (RTS) from ESTABLISHED on;
 *	destroyed by the teardown, after the message QP.
 * @reg_ready: @reg_qp reached RTS; set by the ESTABLISHED handler, read
 *	by the teardown once the CM id (and so that handler) is gone.
 * @dev: the device (a reference, dropped at release) once the route is known.
 * @pd: the connection's own protection domain, with the route: its QP and
 *	every buffer registered for its peer live in it, so no other
 *	connection's peer can use their rkeys. Freed at release, after the
 *	idle MRs (every buffer holds a reference to the connection).
 * @mr_lock: protects @free_mrs, @free_mrsv, @ready and @nready.
 * @free_mrs: fast-registration MRs of one page ready for reuse...
 * @free_mrsv: ...and of TDSM_WIRE_BATCH pages; in @pd.
 * @ready: single-page buffers registered ahead of need (struct tdsm_buf,
 *	@entry), at most ready_buffers; they hold no reference to the
 *	connection, whose release frees them.
 * @nready: how many are on @ready.
 * @refill_work: registers buffers until @ready is full (tdsm_wq); holds
 *	a reference while queued or running.
 * @cq: one CQ for both QPs' sends and receives, polled in softirq.
 * @rx: TDSM_RX_DEPTH receive buffers...
 * @rx_mapped: ...of which the first this many are DMA-mapped.
 * @lock: protects @state, @posting, @error, @slot_busy and @rx_held.
 * @state: enum tdsm_conn_state.
 * @posting: posts under way (ib_post_*, and rdma_resolve_addr()); the
 *	teardown drains only once none is, and none starts after it began
 *	(tdsm_post_begin()).
 * @error: why it went down, -errno, set when it left UP or CONNECTING...
 * @killer: ...and where tdsm_conn_kill() was called from, for the log.
 * @initiator: this node connected (it has the lower id).
 * @keyed: this node had the cluster key when the connection began: it
 *	must authenticate (state AUTH) before it is UP. Set once, at alloc.
 * @t_start: ktime_get() when the connection began (tdsm_conn_alloc(): the
 *	connect started, or the CONNECT_REQUEST came). Set once, at alloc.
 * @t_auth: ktime_get() when the ESTABLISHED handler began the exchange of
 *	proofs (keyed only), set under @lock with the move to AUTH; read
 *	under @lock with the move to UP.
 * @hello_mine, @hello_peer: the hellos as sent and as received, which the
 *	MACs cover; @hello_peer is set before the connection leaves CONNECTING.
 * @mac_mine: the MAC we send in TDSM_W_AUTH...
 * @mac_peer: ...and the one we expect from the peer (auth.c).
 * @mac_rx: the MAC the peer sent, once TDSM_AUTH_RX is set.
 * @auth: TDSM_AUTH_* bits, under @lock.
 * @auth_timeout: kills the connection if it is still in AUTH after
 *	timeout_ms; holds a reference while queued.
 * @wait: woken on every state change, freed slot and finished post.
 * @tx_free: messages that may still be posted (TDSM_TX_DEPTH).
 * @req_free: requests that may still be sent (TDSM_REQ_DEPTH).
 * @reg_free: local work requests that may still go on @reg_qp.
 * @batch_slot: one batch reply (its TDSM_WIRE_BATCH WRITEs) at a time.
 * @calls: requests waiting for their reply, by the low 32 bits of the
 *	request id (struct tdsm_call, @tag).
 * @next_id: cursor for xa_alloc_cyclic() in @calls.
 * @unmatched: replies that matched no call; past TDSM_UNMATCHED_MAX the
 *	peer is taken for a forger (ours never sends one) and disconnected.
 * @slot_busy: which of @slots hold a request not handled yet.
 * @slots: the peer's requests, queued to tdsm_wq; at most TDSM_REQ_SLOTS.
 * @rx_held: receive buffers holding a request that found no free slot (a
 *	peer over its credits), not posted again until one frees: the peer
 *	waits (RNR). Under @lock.
 * @teardown_work: the one destroy path, queued by the move to CLOSING.
 * @list: in tdsm_conns (device removal finds them there).
 */
struct tdsm_conn {
	struct kref ref;
	struct tdsm_peer *peer;
	struct rdma_cm_id *cm_id;
	struct ib_qp *qp;
	struct ib_qp *reg_qp;
	bool reg_ready;
	struct tdsm_dev *dev;
	struct ib_pd *pd;
	spinlock_t mr_lock;	/* free_mrs, free_mrsv, ready, nready */
	struct list_head free_mrs;
	struct list_head free_mrsv;
	struct list_head ready;
	unsigned int nready;
	struct work_struct refill_work;
	struct ib_cq *cq;
	struct tdsm_rx *rx;
	unsigned int rx_mapped;
	spinlock_t lock;	/* state, posting, error, slot_busy, rx_held */
	enum tdsm_conn_state state;
	unsigned int posting;
	int error;
	void *killer;
	bool initiator;
	bool keyed;
	ktime_t t_start;
	ktime_t t_auth;
	struct tdsm_wire_hello hello_mine;
	struct tdsm_wire_hello hello_peer;
	u8 mac_mine[TDSM_WIRE_MAC_LEN];
	u8 mac_peer[TDSM_WIRE_MAC_LEN];
	u8 mac_rx[TDSM_WIRE_MAC_LEN];
	unsigned int auth;
	struct delayed_work auth_timeout;
	wait_queue_head_t wait;
	atomic_t tx_free;
	atomic_t req_free;
	atomic_t reg_free;
	struct semaphore batch_slot;
	struct xarray calls;
	u32 next_id;
	atomic_t unmatched;
	DECLARE_BITMAP(slot_busy, TDSM_REQ_SLOTS);
	struct tdsm_req_slot slots[TDSM_REQ_SLOTS];
	struct list_head rx_held;
	struct work_struct teardown_work;
	struct list_head list;
};

/**
 * struct tdsm_buf - a local page registered for one remote RDMA WRITE
 * @frame: the page that receives the data.
 * @mr: fast-registration MR mapping @frame; rkey/iova go in the request.
 * @conn: the connection whose PD the MR lives in (a reference): only its
 *	peer may write there. The MR goes back to its free_mrs when idle.
 * @sg: @frame, DMA-mapped.
 * @reg_wr: the REG_MR work request, run on the connection's @reg_qp
 *	before the request is sent, unless @registered.
 * @registered: taken from the connection's @ready list: its REG_MR ran
 *	already, the request goes out without waiting for one.
 * @entry: in the connection's @ready list, while there.
 */
struct tdsm_buf {
	struct page *frame;
	struct ib_mr *mr;
	struct tdsm_conn *conn;
	struct scatterlist sg;
	struct ib_reg_wr reg_wr;
	bool registered;
	struct list_head entry;
};

/**
 * struct tdsm_bufv - several local pages registered as one buffer
 * @npages: 1 .. TDSM_WIRE_BATCH.
 * @frames: fresh zeroed pages; page i is at @mr->iova + i * PAGE_SIZE.
 * @mr: fast-registration MR mapping them, in order.
 * @conn: the connection whose PD the MR lives in (a reference).
 * @nents: @sg entries after DMA mapping.
 * @sg: @frames, DMA-mapped.
 * @reg_wr: the REG_MR work request, run on the connection's @reg_qp
 *	before the request is sent.
 */
struct tdsm_bufv {
	unsigned int npages;
	struct page *frames[TDSM_WIRE_BATCH];
	struct ib_mr *mr;
	struct tdsm_conn *conn;
	int nents;
	struct scatterlist sg[TDSM_WIRE_BATCH];
	struct ib_reg_wr reg_wr;
};

/**
 * struct tdsm_call - a request waiting for its reply
 * @done: completed by the receive path (or by teardown).
 * @sent: completed when the request's SEND completed or was flushed: only
 *	then may the buffer be released.
 * @reply: the reply, valid when @err is 0.
 * @err: 0, or -ENOTCONN if the connection died first.
 * @tag: random, the high 32 bits of the request id: a peer cannot guess the
 *	id of a request it was not sent, nor answer one twice.
 * @invalidated: the reply came with IB_WC_WITH_INVALIDATE of @inv_rkey.
 * @inv_rkey: see @invalidated.
 * @on_reply: if set, the receive path calls it with @on_reply_ctx once it
 *	matched the reply (in @reply), before it completes @done; from the
 *	CQ's context, so it must not sleep. The protocol marks the pages
 *	granted here, so that a later INVAL waits for their install.
 * @on_reply_ctx: lives until tdsm_call() or tdsm_call_batch() returned:
 *	the receive path may call @on_reply until @done completes, and the
 *	call returns only after that (also on a timeout or a dead connection).
 */
struct tdsm_call {
	struct completion done;
	struct completion sent;
	struct tdsm_wire_msg reply;
	int err;
	u32 tag;
	bool invalidated;
	u32 inv_rkey;
	void (*on_reply)(void *ctx);
	void *on_reply_ctx;
};

/* rdma.c */
int tdsm_rdma_init(u8 node_id, u8 max_nodes, u8 home_nodes,
		   unsigned long region_pages);
void tdsm_rdma_exit(void);
int tdsm_conn_connect(struct tdsm_peer *peer);
void tdsm_conn_kill(struct tdsm_conn *conn, int err);
void tdsm_conn_wait_dead(struct tdsm_conn *conn);
bool tdsm_conn_make_up(struct tdsm_conn *conn, u64 *setup_ns, u64 *auth_ns);
bool tdsm_conn_is_up(struct tdsm_conn *conn);
void tdsm_conn_probe(struct tdsm_conn *conn);
void tdsm_conn_put(struct tdsm_conn *conn);
void tdsm_msg_init(struct tdsm_wire_msg *msg, u8 type);
int tdsm_call(struct tdsm_conn *conn, struct tdsm_wire_msg *req,
	      struct tdsm_buf *buf, struct tdsm_call *call);
int tdsm_reply_status(struct tdsm_conn *conn, const struct tdsm_wire_msg *req,
		      enum tdsm_wire_status status);
int tdsm_reply_value(struct tdsm_conn *conn, const struct tdsm_wire_msg *req,
		     enum tdsm_wire_status status, u64 value);
int tdsm_reply_refuse(struct tdsm_conn *conn, const struct tdsm_wire_msg *req,
		      enum tdsm_wire_status status, u32 rkey);
int tdsm_reply_page(struct tdsm_conn *conn, const struct tdsm_wire_msg *req,
		    enum tdsm_wire_status status, u32 flags, u64 addr,
		    struct page *push, u64 iova, u32 rkey, bool wait);
int tdsm_reply_nothome(struct tdsm_conn *conn, const struct tdsm_wire_msg *req,
		       u8 home, u32 inv_rkey);
int tdsm_push_page(struct tdsm_conn *conn, struct page *frame, u64 iova,
		   u32 rkey);
int tdsm_reply_batch(struct tdsm_conn *conn, const struct tdsm_wire_msg *req,
		     const struct tdsm_wire_breply *reply, struct page **pages,
		     const u8 *slot, unsigned int n, u64 iova, u32 rkey);
int tdsm_call_batch(struct tdsm_conn *conn, struct tdsm_wire_msg *req,
		    struct tdsm_bufv *bufv, struct tdsm_call *call);
struct tdsm_bufv *tdsm_bufv_new(struct tdsm_conn *conn, unsigned int npages);
void tdsm_bufv_put(struct tdsm_conn *conn, struct tdsm_bufv *bufv,
		   const struct tdsm_call *call);
void tdsm_bufv_free(struct tdsm_bufv *bufv);
int tdsm_buf_alloc(struct tdsm_conn *conn, struct tdsm_buf *buf);
void tdsm_buf_put(struct tdsm_conn *conn, struct tdsm_buf *buf,
		  const struct tdsm_call *call);

#endif /* _TDSM_RDMA_H */
