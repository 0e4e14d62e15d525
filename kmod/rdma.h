/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm: the RDMA transport (rdma.c) and the peers it connects (peer.c).
 */
#ifndef _TDSM_RDMA_H
#define _TDSM_RDMA_H

#include <linux/completion.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/scatterlist.h>
#include <linux/semaphore.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <rdma/ib_verbs.h>
#include <rdma/ib_cm.h>
#include <rdma/rdma_cm.h>

#include "wire.h"

struct tdsm_page;

/* Receive buffers posted per connection; senders beyond it wait (RNR retry). */
#define TDSM_RX_DEPTH		64
/* Messages in flight per connection; each takes up to 3 send WRs. */
#define TDSM_TX_DEPTH		64
/* ...plus the RDMA WRITEs of one batch reply (TDSM_WIRE_BATCH). */
#define TDSM_SQ_WRS		(TDSM_TX_DEPTH * 3 + TDSM_WIRE_BATCH + 1) /* +1: drain */
#define TDSM_CQ_DEPTH		(TDSM_RX_DEPTH + TDSM_SQ_WRS + 1)

extern unsigned int tdsm_timeout_ms;	/* every wait on a peer, module param */
extern unsigned short tdsm_port;	/* rdma_cm port, module param */
extern struct workqueue_struct *tdsm_wq;

/**
 * struct tdsm_dev - an RDMA device tinydsm has connections on
 * @ibdev: the device.
 * @pd: one protection domain for all its connections, so that a buffer
 *	registered for one peer can be written by any other (a page may come
 *	from its owner while the request went to its home).
 * @ref: held by each connection and registered buffer.
 * @list: in tdsm_devs, under tdsm_devs_mutex.
 * @mr_lock: protects @free_mrs and @free_mrsv.
 * @free_mrs: fast-registration MRs of one page ready for reuse...
 * @free_mrsv: ...and of TDSM_WIRE_BATCH pages.
 */
struct tdsm_dev {
	struct ib_device *ibdev;
	struct ib_pd *pd;
	struct kref ref;
	struct list_head list;
	spinlock_t mr_lock;		/* protects free_mrs, free_mrsv */
	struct list_head free_mrs;
	struct list_head free_mrsv;
};

/* tdsm_conn.flags */
enum {
	TDSM_CONN_UP,		/* established: messages may be sent */
	TDSM_CONN_DEAD,		/* torn down or tearing down; set once */
	TDSM_CONN_QP,		/* QP, CQ and receive buffers exist */
	TDSM_CONN_ESTABLISHED,	/* was up once (never cleared) */
	TDSM_CONN_RTR,		/* the QP was connected (can receive, can be drained) */
};

/**
 * struct tdsm_conn - the one RC connection to a peer
 * @ref: held by the peer while it points here, by every user (faulting
 *	task, request handler) and by the teardown work.
 * @peer: the peer (a reference).
 * @cm_id: its rdma_cm id; ->qp is the queue pair.
 * @dev: the device (a reference) once the route is known.
 * @cq: one CQ for sends and receives, polled in softirq.
 * @rx: TDSM_RX_DEPTH receive buffers.
 * @tx_slots: messages that may still be posted (TDSM_TX_DEPTH).
 * @batch_slot: one batch reply (its TDSM_WIRE_BATCH WRITEs) at a time.
 * @calls: requests waiting for their reply, by request id.
 * @next_id: cursor for xa_alloc_cyclic() in @calls.
 * @flags: TDSM_CONN_* bits.
 * @initiator: this node connected (it has the lower id).
 * @cm_done: completed when the connection is established or failed.
 * @cm_error: why it failed, -errno.
 * @teardown_work: tdsm_conn_teardown() from any context.
 */
struct tdsm_conn {
	struct kref ref;
	struct tdsm_peer *peer;
	struct rdma_cm_id *cm_id;
	struct tdsm_dev *dev;
	struct ib_cq *cq;
	struct tdsm_rx *rx;
	struct semaphore tx_slots;
	struct semaphore batch_slot;
	struct xarray calls;
	u32 next_id;
	unsigned long flags;
	bool initiator;
	struct completion cm_done;
	int cm_error;
	struct work_struct teardown_work;
};

/**
 * struct tdsm_peer - another node
 * @id: its node id.
 * @addr: where it listens.
 * @ref: held by tdsm_peers[] and by each connection.
 * @conn: the connection, connecting or up, under tdsm_peers_lock; it
 *	holds a reference on it.
 * @error: last connection error, -errno, under tdsm_peers_lock.
 * @removed: deleted; no more reconnects. Under tdsm_peers_lock.
 * @backoff_ms: next reconnect delay.
 * @connect_work: (re)connects, on the initiating side.
 * @drop_work: drops our read copies of its pages after a disconnect; holds
 *	a reference while queued.
 * @tx_msgs, @rx_msgs, @rx_bad: counters.
 */
struct tdsm_peer {
	u8 id;
	struct sockaddr_storage addr;
	struct kref ref;
	struct tdsm_conn *conn;
	int error;
	bool removed;
	unsigned int backoff_ms;
	struct delayed_work connect_work;
	struct work_struct drop_work;
	atomic64_t tx_msgs;
	atomic64_t rx_msgs;
	atomic64_t rx_bad;
};

/**
 * struct tdsm_buf - a local page registered for one remote RDMA WRITE
 * @frame: the page that receives the data.
 * @mr: fast-registration MR mapping @frame; rkey/iova go in the request.
 * @dev: the device the MR lives on (a reference).
 * @sg: @frame, DMA-mapped.
 * @reg_wr: the REG_MR work request, chained before the request's SEND.
 * @list: in tdsm_dev.free_mrs when idle (the MR only).
 */
struct tdsm_buf {
	struct page *frame;
	struct ib_mr *mr;
	struct tdsm_dev *dev;
	struct scatterlist sg;
	struct ib_reg_wr reg_wr;
};

/**
 * struct tdsm_bufv - several local pages registered as one buffer
 * @npages: 1 .. TDSM_WIRE_BATCH.
 * @frames: fresh zeroed pages; page i is at @mr->iova + i * PAGE_SIZE.
 * @mr: fast-registration MR mapping them, in order.
 * @dev: the device the MR lives on (a reference).
 * @nents: @sg entries after DMA mapping.
 * @sg: @frames, DMA-mapped.
 * @reg_wr: the REG_MR work request, chained before the request's SEND.
 */
struct tdsm_bufv {
	unsigned int npages;
	struct page *frames[TDSM_WIRE_BATCH];
	struct ib_mr *mr;
	struct tdsm_dev *dev;
	int nents;
	struct scatterlist sg[TDSM_WIRE_BATCH];
	struct ib_reg_wr reg_wr;
};

/**
 * struct tdsm_call - a request waiting for its reply
 * @done: completed by the receive path (or by teardown).
 * @reply: the reply, valid when @err is 0.
 * @err: 0, or -ENOTCONN if the connection died first.
 * @invalidated: the reply came with IB_WC_WITH_INVALIDATE of @inv_rkey.
 * @inv_rkey: see @invalidated.
 * @grant_flags: if set, the receive path sets TDSM_PG_GRANTED here before
 *	completing, so that a later INVAL of the page waits for its install.
 * @grant_pages: the same for a batch: page i of it is @grant_pages[i]...
 * @grant_mask: ...for each bit i set here.
 */
struct tdsm_call {
	struct completion done;
	struct tdsm_wire_msg reply;
	int err;
	bool invalidated;
	u32 inv_rkey;
	unsigned long *grant_flags;
	struct tdsm_page *grant_pages;
	u64 grant_mask;
};

/* rdma.c */
int tdsm_rdma_init(void);
void tdsm_rdma_exit(void);
int tdsm_conn_connect(struct tdsm_peer *peer);
void tdsm_conn_kill(struct tdsm_conn *conn);
void tdsm_conn_put(struct tdsm_conn *conn);
void tdsm_msg_init(struct tdsm_wire_msg *msg, u8 type);
int tdsm_call(struct tdsm_conn *conn, struct tdsm_wire_msg *req,
	      struct tdsm_buf *buf, struct tdsm_call *call);
int tdsm_reply(struct tdsm_conn *conn, const struct tdsm_wire_msg *req,
	       enum tdsm_wire_status status, u32 flags, u64 addr,
	       struct page *push, u64 iova, u32 rkey, u32 inv_rkey, bool wait);
int tdsm_reply_nothome(struct tdsm_conn *conn, const struct tdsm_wire_msg *req,
		       u8 home, u32 inv_rkey);
int tdsm_push_page(struct tdsm_conn *conn, struct page *frame, u64 iova,
		   u32 rkey);
int tdsm_reply_batch(struct tdsm_conn *conn, const struct tdsm_wire_msg *req,
		     const struct tdsm_wire_breply *reply, struct page **pages,
		     const u8 *slot, unsigned int n, u64 iova, u32 rkey);
int tdsm_call_batch(struct tdsm_conn *conn, struct tdsm_wire_msg *req,
		    struct tdsm_bufv *bufv, struct tdsm_call *call);
int tdsm_bufv_alloc(struct tdsm_conn *conn, struct tdsm_bufv *bufv,
		    unsigned int npages);
void tdsm_bufv_put(struct tdsm_conn *conn, struct tdsm_bufv *bufv,
		   const struct tdsm_call *call);
void tdsm_bufv_free_frames(struct tdsm_bufv *bufv);
int tdsm_buf_alloc(struct tdsm_conn *conn, struct tdsm_buf *buf);
void tdsm_buf_put(struct tdsm_conn *conn, struct tdsm_buf *buf,
		  const struct tdsm_call *call);

/* peer.c */
extern spinlock_t tdsm_peers_lock;
struct tdsm_peer *tdsm_peer_find(u8 id);	/* +1 ref, NULL if unknown */
void tdsm_peer_put(struct tdsm_peer *peer);
struct tdsm_conn *tdsm_peer_conn(u8 id);	/* +1 ref, NULL if not up */
struct tdsm_conn *tdsm_peer_conn_wait(u8 id, unsigned int ms);
int tdsm_peer_attach(struct tdsm_peer *peer, struct tdsm_conn *conn);
void tdsm_peer_established(struct tdsm_peer *peer);
void tdsm_peer_detach(struct tdsm_peer *peer, struct tdsm_conn *conn, int err);
int tdsm_peers_init(void);
void tdsm_peers_exit(void);

/* proto.c: requests from peers, run in tdsm_wq */
void tdsm_proto_handle(struct tdsm_conn *conn, const struct tdsm_wire_msg *msg);

#endif /* _TDSM_RDMA_H */
