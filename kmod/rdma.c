// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: the RDMA transport. Kernel verbs and rdma_cm only, nothing
 * specific to one device: Soft-RoCE in the lab, a real NIC elsewhere.
 *
 * One RC queue pair per pair of nodes; the node with the lower id
 * connects. Messages are 64-byte SENDs (wire.h) into TDSM_RX_DEPTH posted
 * receive buffers; a request's reply carries its id. Pages move by RDMA
 * WRITE: the requester registers a fresh frame (fast registration, REG_MR
 * chained before its request) and the node holding the page writes the
 * 4 KiB into it, then replies on the same queue pair with SEND_WITH_INV so
 * that the requester's rkey dies with the reply. WRITE rather than READ:
 * the data then travels with the one request/reply round trip instead of a
 * second one, and the holder never exposes its own memory.
 *
 * Every wait is bounded by tdsm_timeout_ms. A connection that fails (a
 * completion error, a disconnect, the device going away) is torn down
 * once: disconnect, drain, fail the waiting calls, free. The initiating
 * side then reconnects with backoff while the peer is configured.
 */
#include <linux/delay.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>

#include "rdma.h"
#include "tinydsm.h"

#define TDSM_CM_TIMEOUT_MS	3000

unsigned short tdsm_port = 7471;
module_param_named(port, tdsm_port, ushort, 0444);
MODULE_PARM_DESC(port, "rdma_cm port to listen on and connect to (default 7471)");

struct workqueue_struct *tdsm_wq;

static DEFINE_MUTEX(tdsm_devs_mutex);
static LIST_HEAD(tdsm_devs);		/* under tdsm_devs_mutex */
static struct rdma_cm_id *tdsm_listener;

struct tdsm_rx {
	struct ib_cqe cqe;
	struct tdsm_conn *conn;
	u64 dma;
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

struct tdsm_req_work {
	struct work_struct work;
	struct tdsm_conn *conn;
	struct tdsm_wire_msg msg;
};

static unsigned long tdsm_timeout(void)
{
	return msecs_to_jiffies(tdsm_timeout_ms);
}

/* ---- devices ---------------------------------------------------------- */

static struct tdsm_dev *tdsm_dev_get(struct ib_device *ibdev)
{
	struct tdsm_dev *dev;

	mutex_lock(&tdsm_devs_mutex);
	list_for_each_entry(dev, &tdsm_devs, list) {
		if (dev->ibdev == ibdev && kref_get_unless_zero(&dev->ref))
			goto out;
	}
	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		goto out;
	dev->pd = ib_alloc_pd(ibdev, 0);
	if (IS_ERR(dev->pd)) {
		pr_err("%s: cannot allocate a protection domain: %ld\n",
		       dev_name(&ibdev->dev), PTR_ERR(dev->pd));
		kfree(dev);
		dev = NULL;
		goto out;
	}
	dev->ibdev = ibdev;
	kref_init(&dev->ref);
	spin_lock_init(&dev->mr_lock);
	INIT_LIST_HEAD(&dev->free_mrs);
	INIT_LIST_HEAD(&dev->free_mrsv);
	list_add(&dev->list, &tdsm_devs);
out:
	mutex_unlock(&tdsm_devs_mutex);
	return dev;
}

static void tdsm_dev_release(struct kref *ref)
{
	struct tdsm_dev *dev = container_of(ref, struct tdsm_dev, ref);
	struct ib_mr *mr, *tmp;

	/* Called with tdsm_devs_mutex held (kref_put_mutex). */
	list_del(&dev->list);
	mutex_unlock(&tdsm_devs_mutex);
	list_for_each_entry_safe(mr, tmp, &dev->free_mrs, qp_entry)
		ib_dereg_mr(mr);
	list_for_each_entry_safe(mr, tmp, &dev->free_mrsv, qp_entry)
		ib_dereg_mr(mr);
	ib_dealloc_pd(dev->pd);
	kfree(dev);
}

static void tdsm_dev_put(struct tdsm_dev *dev)
{
	kref_put_mutex(&dev->ref, tdsm_dev_release, &tdsm_devs_mutex);
}

/* ---- connections: lifetime -------------------------------------------- */

static void tdsm_conn_teardown_work(struct work_struct *work);

static struct tdsm_conn *tdsm_conn_alloc(struct tdsm_peer *peer, bool initiator)
{
	struct tdsm_conn *conn = kzalloc(sizeof(*conn), GFP_KERNEL);

	if (!conn)
		return NULL;
	kref_init(&conn->ref);
	kref_get(&peer->ref);
	conn->peer = peer;
	conn->initiator = initiator;
	sema_init(&conn->tx_slots, TDSM_TX_DEPTH);
	sema_init(&conn->batch_slot, 1);
	/* BH: replies are matched in the CQ's softirq. */
	xa_init_flags(&conn->calls, XA_FLAGS_ALLOC1 | XA_FLAGS_LOCK_BH);
	init_completion(&conn->cm_done);
	INIT_WORK(&conn->teardown_work, tdsm_conn_teardown_work);
	return conn;
}

static void tdsm_conn_free_qp(struct tdsm_conn *conn)
{
	struct ib_device *ibdev;
	int i;

	if (!test_and_clear_bit(TDSM_CONN_QP, &conn->flags))
		return;
	ibdev = conn->dev->ibdev;
	rdma_destroy_qp(conn->cm_id);
	ib_free_cq(conn->cq);
	for (i = 0; i < TDSM_RX_DEPTH; i++)
		ib_dma_unmap_single(ibdev, conn->rx[i].dma,
				    sizeof(conn->rx[i].msg), DMA_FROM_DEVICE);
	kfree(conn->rx);
	conn->rx = NULL;
}

static void tdsm_conn_release(struct kref *ref)
{
	struct tdsm_conn *conn = container_of(ref, struct tdsm_conn, ref);

	tdsm_conn_free_qp(conn);
	if (conn->cm_id)
		rdma_destroy_id(conn->cm_id);
	if (conn->dev)
		tdsm_dev_put(conn->dev);
	WARN_ON_ONCE(!xa_empty(&conn->calls));
	xa_destroy(&conn->calls);
	tdsm_peer_put(conn->peer);
	kfree(conn);
}

/* The last put must come from process context: release destroys the cm_id. */
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

static void tdsm_conn_teardown_work(struct work_struct *work)
{
	struct tdsm_conn *conn = container_of(work, struct tdsm_conn,
					      teardown_work);

	tdsm_peer_detach(conn->peer, conn, conn->cm_error ?: -ECONNRESET);
	/*
	 * Only a queue pair that was connected can have work in flight; one
	 * that never was (refused, failed half-way) cannot be drained, and
	 * destroying it discards its posted receives.
	 */
	if (test_bit(TDSM_CONN_QP, &conn->flags) &&
	    test_bit(TDSM_CONN_RTR, &conn->flags)) {
		rdma_disconnect(conn->cm_id);
		/* No completion handler runs after this; no DMA either. */
		ib_drain_qp(conn->cm_id->qp);
	}
	tdsm_conn_fail_calls(conn);
	tdsm_conn_put(conn);	/* the teardown's reference */
}

/*
 * Tear the connection down, once, from any context. The caller must hold
 * a reference or be the CM handler of its cm_id. Whoever sets
 * TDSM_CONN_DEAD first owns the cleanup: here the teardown work, or
 * tdsm_conn_connect() for its own connection that never came up.
 */
void tdsm_conn_kill(struct tdsm_conn *conn)
{
	if (test_and_set_bit(TDSM_CONN_DEAD, &conn->flags))
		return;
	clear_bit(TDSM_CONN_UP, &conn->flags);
	kref_get(&conn->ref);
	queue_work(tdsm_wq, &conn->teardown_work);
}

/* ---- sending ---------------------------------------------------------- */

void tdsm_msg_init(struct tdsm_wire_msg *msg, u8 type)
{
	memset(msg, 0, sizeof(*msg));
	msg->hdr.magic = cpu_to_be16(TDSM_WIRE_MAGIC);
	msg->hdr.version = TDSM_WIRE_VERSION;
	msg->hdr.type = type;
	msg->hdr.src = tdsm_region.node_id;
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

static void tdsm_tx_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct tdsm_tx *tx = container_of(wc->wr_cqe, struct tdsm_tx, cqe);
	struct tdsm_conn *conn = tx->conn;
	struct ib_device *ibdev = conn->dev->ibdev;

	if (wc->status != IB_WC_SUCCESS) {
		if (wc->status != IB_WC_WR_FLUSH_ERR)
			pr_warn_ratelimited("node %u: send failed: %s\n",
					    conn->peer->id,
					    ib_wc_status_msg(wc->status));
		tx->status = -EIO;
		tdsm_conn_kill(conn);
	}
	if (tx->dma)
		ib_dma_unmap_single(ibdev, tx->dma, sizeof(tx->msg), DMA_TO_DEVICE);
	if (tx->push) {
		ib_dma_unmap_page(ibdev, tx->push_dma, PAGE_SIZE, DMA_TO_DEVICE);
		put_page(tx->push);
	}
	tdsm_pushv_free(conn, tx->pushv);
	up(&conn->tx_slots);
	if (tx->done) {
		/* The waiter owns @tx and reads tx->status. */
		complete(tx->done);
		return;
	}
	kfree(tx);
}

static struct tdsm_tx *tdsm_tx_alloc(struct tdsm_conn *conn)
{
	struct tdsm_tx *tx;

	/*
	 * A peer's first request can arrive before our ESTABLISHED event (the
	 * queue pair receives once the accept is sent): wait for it, bounded.
	 */
	if (!test_bit(TDSM_CONN_UP, &conn->flags) &&
	    (test_bit(TDSM_CONN_DEAD, &conn->flags) ||
	     !wait_for_completion_timeout(&conn->cm_done, tdsm_timeout()) ||
	     !test_bit(TDSM_CONN_UP, &conn->flags)))
		return ERR_PTR(-ENOTCONN);
	if (down_timeout(&conn->tx_slots, tdsm_timeout()))
		return ERR_PTR(-ETIMEDOUT);
	tx = kzalloc(sizeof(*tx), GFP_KERNEL);
	if (!tx) {
		up(&conn->tx_slots);
		return ERR_PTR(-ENOMEM);
	}
	tx->conn = conn;
	tx->cqe.done = tdsm_tx_done;
	return tx;
}

static void tdsm_tx_abort(struct tdsm_tx *tx)
{
	struct ib_device *ibdev = tx->conn->dev->ibdev;

	if (tx->dma)
		ib_dma_unmap_single(ibdev, tx->dma, sizeof(tx->msg), DMA_TO_DEVICE);
	if (tx->push) {
		ib_dma_unmap_page(ibdev, tx->push_dma, PAGE_SIZE, DMA_TO_DEVICE);
		put_page(tx->push);
	}
	tdsm_pushv_free(tx->conn, tx->pushv);
	up(&tx->conn->tx_slots);
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
	sge->lkey = tx->conn->dev->pd->local_dma_lkey;
	memset(write, 0, sizeof(*write));
	write->wr.opcode = IB_WR_RDMA_WRITE;
	write->wr.sg_list = sge;
	write->wr.num_sge = 1;
	write->remote_addr = iova;
	write->rkey = rkey;
	return 0;
}

/*
 * Wait until the posted @tx (tx->done == @done) completed, and free it.
 * The completion always comes: a timeout kills the connection, and its
 * drain flushes the work request.
 */
static int tdsm_tx_wait(struct tdsm_tx *tx, struct completion *done)
{
	int err;

	if (!wait_for_completion_timeout(done, tdsm_timeout())) {
		tdsm_conn_kill(tx->conn);
		wait_for_completion(done);
	}
	err = tx->status;
	kfree(tx);
	return err;
}

/*
 * Post @tx's message as a SEND, after the optional @first work requests
 * (a REG_MR, an RDMA WRITE) which RC executes in order before it.
 * @inv_rkey: if non-zero, SEND_WITH_INV of that rkey at the receiver.
 * Consumes @tx on success and on failure.
 */
static int tdsm_tx_post(struct tdsm_tx *tx, struct ib_send_wr *first,
			struct ib_send_wr *last, u32 inv_rkey)
{
	struct tdsm_conn *conn = tx->conn;
	struct ib_device *ibdev = conn->dev->ibdev;
	struct ib_sge sge;
	struct ib_send_wr wr = {}, *head = &wr;
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
	sge.lkey = conn->dev->pd->local_dma_lkey;
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
	err = ib_post_send(conn->cm_id->qp, head, NULL);
	if (err) {
		pr_warn_ratelimited("node %u: post send: %d\n", conn->peer->id, err);
		tdsm_tx_abort(tx);
		tdsm_conn_kill(conn);
		return err;
	}
	atomic64_inc(&conn->peer->tx_msgs);
	return 0;
}

/*
 * Take back a call that was never sent. Teardown (tdsm_conn_fail_calls())
 * may have taken it first: then it completes the call, and the call, which
 * lives in our caller's stack frame, must outlive that.
 */
static void tdsm_call_withdraw(struct tdsm_conn *conn, struct tdsm_call *call,
			       u32 id)
{
	if (xa_erase_bh(&conn->calls, id) != call)
		wait_for_completion(&call->done);
}

/*
 * Send request @req and wait for its reply in @call, bounded. @buf, if
 * given, is registered by a REG_MR chained before the SEND.
 * Returns 0 with the reply in @call->reply, or -ETIMEDOUT, -EINTR (fatal
 * signal), -ENOTCONN, -ENOMEM, -EIO.
 */
static int __tdsm_call(struct tdsm_conn *conn, struct tdsm_wire_msg *req,
		       struct ib_send_wr *first, struct tdsm_call *call)
{
	struct tdsm_tx *tx;
	long left;
	u32 id;
	int err;

	init_completion(&call->done);
	call->err = 0;
	call->invalidated = false;
	err = xa_alloc_cyclic_bh(&conn->calls, &id, call, xa_limit_32b,
				 &conn->next_id, GFP_KERNEL);
	if (err < 0)
		return err;
	tx = tdsm_tx_alloc(conn);
	if (IS_ERR(tx)) {
		tdsm_call_withdraw(conn, call, id);
		return PTR_ERR(tx);
	}
	req->hdr.id = cpu_to_be64(id);
	tx->msg = *req;
	if (first)
		first->next = NULL;
	err = tdsm_tx_post(tx, first, first, 0);
	if (err) {
		tdsm_call_withdraw(conn, call, id);
		return err;
	}

	left = wait_for_completion_killable_timeout(&call->done, tdsm_timeout());
	if (left > 0)
		return call->err;
	/* No reply in time: withdraw the call unless the reply is landing. */
	if (xa_erase_bh(&conn->calls, id) != call) {
		wait_for_completion(&call->done);
		return call->err;
	}
	if (left == 0) {
		pr_warn_ratelimited("node %u: no reply to a %u request within %u ms\n",
				    conn->peer->id, req->hdr.type, tdsm_timeout_ms);
		return -ETIMEDOUT;
	}
	return -EINTR;
}

int tdsm_call(struct tdsm_conn *conn, struct tdsm_wire_msg *req,
	      struct tdsm_buf *buf, struct tdsm_call *call)
{
	return __tdsm_call(conn, req, buf ? &buf->reg_wr.wr : NULL, call);
}

/* tdsm_call() for a batch request whose pages go to @bufv. */
int tdsm_call_batch(struct tdsm_conn *conn, struct tdsm_wire_msg *req,
		    struct tdsm_bufv *bufv, struct tdsm_call *call)
{
	return __tdsm_call(conn, req, &bufv->reg_wr.wr, call);
}

/*
 * Reply to @req on @conn. @push, if given, is RDMA-written to @iova/@rkey
 * first (RC keeps the order: the data lands before the reply). @inv_rkey:
 * the requester's buffer rkey, invalidated by the reply (0: none). @wait:
 * return only once the reply (and the data) reached the peer.
 */
int tdsm_reply(struct tdsm_conn *conn, const struct tdsm_wire_msg *req,
	       enum tdsm_wire_status status, u32 flags, u64 addr,
	       struct page *push, u64 iova, u32 rkey, u32 inv_rkey, bool wait)
{
	DECLARE_COMPLETION_ONSTACK(done);
	struct ib_rdma_wr write = {};
	struct ib_send_wr *first = NULL;
	struct ib_sge sge;
	struct tdsm_tx *tx;
	int err;

	tx = tdsm_tx_alloc(conn);
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
	err = tdsm_tx_post(tx, first, first, inv_rkey);
	if (err || !wait)
		return err;
	return tdsm_tx_wait(tx, &done);
}

/*
 * Answer @req with TDSM_WS_NOTHOME: this node is not the page's home;
 * @home is the one it knows of (0: none), for the requester to ask next.
 */
int tdsm_reply_nothome(struct tdsm_conn *conn, const struct tdsm_wire_msg *req,
		       u8 home, u32 inv_rkey)
{
	struct tdsm_tx *tx;

	tx = tdsm_tx_alloc(conn);
	if (IS_ERR(tx))
		return PTR_ERR(tx);
	tdsm_msg_init(&tx->msg, TDSM_W_REPLY);
	tx->msg.hdr.id = req->hdr.id;
	tx->msg.reply.status = cpu_to_be32(TDSM_WS_NOTHOME);
	tx->msg.reply.home = home;
	return tdsm_tx_post(tx, NULL, NULL, inv_rkey);
}

/* RDMA WRITE @frame to @iova/@rkey on @conn and wait until it landed. */
int tdsm_push_page(struct tdsm_conn *conn, struct page *frame, u64 iova,
		   u32 rkey)
{
	DECLARE_COMPLETION_ONSTACK(done);
	struct ib_rdma_wr write = {};
	struct ib_sge sge;
	struct tdsm_tx *tx;
	int err;

	tx = tdsm_tx_alloc(conn);
	if (IS_ERR(tx))
		return PTR_ERR(tx);
	err = tdsm_tx_prep_write(tx, frame, &write, &sge, iova, rkey);
	if (err)
		return err;
	tx->done = &done;
	write.wr.wr_cqe = &tx->cqe;
	write.wr.send_flags = IB_SEND_SIGNALED;
	err = ib_post_send(conn->cm_id->qp, &write.wr, NULL);
	if (err) {
		tx->done = NULL;
		tdsm_tx_abort(tx);
		tdsm_conn_kill(conn);
		return err;
	}
	return tdsm_tx_wait(tx, &done);
}

/*
 * Reply to a batch request (MIGRATE, READV) on @conn: @reply (status and
 * masks, filled by the caller), after the RDMA WRITEs of @n pages, page
 * @pages[k] to @iova + @slot[k] * PAGE_SIZE. The reply invalidates @rkey
 * at the requester. Waits until the reply (and so the data) landed.
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
	tx = tdsm_tx_alloc(conn);
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
		pv->sge[i].lkey = conn->dev->pd->local_dma_lkey;
		pv->wr[i].wr.opcode = IB_WR_RDMA_WRITE;
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
 * Register @frame for one remote WRITE on @conn's device: fills @buf, whose
 * REG_MR work request the caller chains before its request (tdsm_call()).
 */
static int tdsm_buf_get(struct tdsm_conn *conn, struct page *frame,
			struct tdsm_buf *buf)
{
	struct tdsm_dev *dev = conn->dev;
	struct ib_mr *mr = NULL;
	int n;

	spin_lock(&dev->mr_lock);
	if (!list_empty(&dev->free_mrs)) {
		mr = list_first_entry(&dev->free_mrs, struct ib_mr, qp_entry);
		list_del(&mr->qp_entry);
	}
	spin_unlock(&dev->mr_lock);
	if (!mr) {
		mr = ib_alloc_mr(dev->pd, IB_MR_TYPE_MEM_REG, 1);
		if (IS_ERR(mr))
			return PTR_ERR(mr);
	}

	buf->frame = frame;
	buf->mr = mr;
	sg_init_table(&buf->sg, 1);
	sg_set_page(&buf->sg, frame, PAGE_SIZE, 0);
	if (ib_dma_map_sg(dev->ibdev, &buf->sg, 1, DMA_FROM_DEVICE) != 1)
		goto err_mr;
	n = ib_map_mr_sg(mr, &buf->sg, 1, NULL, PAGE_SIZE);
	if (n != 1)
		goto err_unmap;
	ib_update_fast_reg_key(mr, ib_inc_rkey(mr->rkey));

	memset(&buf->reg_wr, 0, sizeof(buf->reg_wr));
	buf->reg_wr.wr.opcode = IB_WR_REG_MR;
	buf->reg_wr.mr = mr;
	buf->reg_wr.key = mr->rkey;
	buf->reg_wr.access = IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE;
	kref_get(&dev->ref);
	buf->dev = dev;
	return 0;

err_unmap:
	ib_dma_unmap_sg(dev->ibdev, &buf->sg, 1, DMA_FROM_DEVICE);
err_mr:
	ib_dereg_mr(mr);
	return -EIO;
}

/*
 * A fresh frame, registered for one remote WRITE: @buf->frame, owned by the
 * caller once tdsm_buf_put() is done with the registration. Zeroed, so that
 * a peer that says "data" without writing it leaks nothing.
 */
int tdsm_buf_alloc(struct tdsm_conn *conn, struct tdsm_buf *buf)
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

static void tdsm_inv_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct tdsm_tx *tx = container_of(wc->wr_cqe, struct tdsm_tx, cqe);

	tx->status = wc->status == IB_WC_SUCCESS ? 0 : -EIO;
	complete(tx->done);
}

/*
 * The remote WRITEs into @mr are over (replied, failed or timed out): make
 * sure its rkey is dead before the pages are used. Returns true if it is
 * known dead (the MR may be reused), false if it must be deregistered.
 * @call: the request's call; its reply may already have invalidated it.
 */
static bool tdsm_mr_retire(struct tdsm_conn *conn, struct ib_mr *mr,
			   const struct tdsm_call *call)
{
	bool dead = call && call->invalidated && call->inv_rkey == mr->rkey;

	/*
	 * After a reply that did not invalidate the rkey, invalidate it on the
	 * queue pair. After a failed call (@call NULL) the queue pair may be
	 * stuck behind the unanswered request: deregister at once instead.
	 */
	if (!dead && call && test_bit(TDSM_CONN_UP, &conn->flags)) {
		DECLARE_COMPLETION_ONSTACK(done);
		struct tdsm_tx inv = { .cqe.done = tdsm_inv_done, .done = &done };
		struct ib_send_wr wr = {
			.opcode = IB_WR_LOCAL_INV,
			.wr_cqe = &inv.cqe,
			.send_flags = IB_SEND_SIGNALED,
			.ex.invalidate_rkey = mr->rkey,
		};

		if (!down_timeout(&conn->tx_slots, tdsm_timeout())) {
			if (!ib_post_send(conn->cm_id->qp, &wr, NULL)) {
				if (!wait_for_completion_timeout(&done, tdsm_timeout())) {
					tdsm_conn_kill(conn);
					wait_for_completion(&done);
				}
				dead = !inv.status;
			}
			up(&conn->tx_slots);
		}
	}
	return dead;
}

/* Back on @list for reuse if its rkey is @dead, else deregistered. */
static void tdsm_mr_recycle(struct tdsm_dev *dev, struct ib_mr *mr, bool dead,
			    struct list_head *list)
{
	if (dead) {
		spin_lock(&dev->mr_lock);
		list_add(&mr->qp_entry, list);
		spin_unlock(&dev->mr_lock);
	} else {
		/* Not sure the rkey is dead: deregistering kills it for sure. */
		ib_dereg_mr(mr);
	}
}

/* The remote WRITE into @buf is over; see tdsm_mr_retire(). */
void tdsm_buf_put(struct tdsm_conn *conn, struct tdsm_buf *buf,
		  const struct tdsm_call *call)
{
	struct tdsm_dev *dev = buf->dev;
	bool dead = tdsm_mr_retire(conn, buf->mr, call);

	ib_dma_unmap_sg(dev->ibdev, &buf->sg, 1, DMA_FROM_DEVICE);
	tdsm_mr_recycle(dev, buf->mr, dead, &dev->free_mrs);
	tdsm_dev_put(dev);
}

/*
 * @npages fresh zeroed pages registered as one buffer for remote WRITEs
 * on @conn's device. The frames are the caller's: it takes those it keeps
 * (setting the slot to NULL) after tdsm_bufv_put(), which frees the rest.
 */
int tdsm_bufv_alloc(struct tdsm_conn *conn, struct tdsm_bufv *bufv,
		    unsigned int npages)
{
	struct tdsm_dev *dev = conn->dev;
	struct ib_mr *mr = NULL;
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

	spin_lock(&dev->mr_lock);
	if (!list_empty(&dev->free_mrsv)) {
		mr = list_first_entry(&dev->free_mrsv, struct ib_mr, qp_entry);
		list_del(&mr->qp_entry);
	}
	spin_unlock(&dev->mr_lock);
	if (!mr) {
		mr = ib_alloc_mr(dev->pd, IB_MR_TYPE_MEM_REG, TDSM_WIRE_BATCH);
		if (IS_ERR(mr))
			goto err_frames;
	}
	bufv->nents = ib_dma_map_sg(dev->ibdev, bufv->sg, npages,
				    DMA_FROM_DEVICE);
	if (bufv->nents <= 0)
		goto err_mr;
	n = ib_map_mr_sg(mr, bufv->sg, bufv->nents, NULL, PAGE_SIZE);
	if (n != bufv->nents)
		goto err_unmap;
	ib_update_fast_reg_key(mr, ib_inc_rkey(mr->rkey));
	bufv->mr = mr;
	bufv->reg_wr.wr.opcode = IB_WR_REG_MR;
	bufv->reg_wr.mr = mr;
	bufv->reg_wr.key = mr->rkey;
	bufv->reg_wr.access = IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE;
	kref_get(&dev->ref);
	bufv->dev = dev;
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
 * The remote WRITEs into @bufv are over: kill the rkey (tdsm_mr_retire()),
 * unmap; the frames stay in @bufv for the caller to take or free
 * (tdsm_bufv_free_frames()).
 */
void tdsm_bufv_put(struct tdsm_conn *conn, struct tdsm_bufv *bufv,
		   const struct tdsm_call *call)
{
	struct tdsm_dev *dev = bufv->dev;
	bool dead = tdsm_mr_retire(conn, bufv->mr, call);

	ib_dma_unmap_sg(dev->ibdev, bufv->sg, bufv->npages, DMA_FROM_DEVICE);
	tdsm_mr_recycle(dev, bufv->mr, dead, &dev->free_mrsv);
	tdsm_dev_put(dev);
}

/* Free the frames of @bufv the caller did not take (slots left non-NULL). */
void tdsm_bufv_free_frames(struct tdsm_bufv *bufv)
{
	unsigned int i;

	for (i = 0; i < bufv->npages; i++) {
		if (bufv->frames[i])
			put_page(bufv->frames[i]);
		bufv->frames[i] = NULL;
	}
}

/* ---- receiving -------------------------------------------------------- */

static int tdsm_rx_post(struct tdsm_rx *rx)
{
	struct tdsm_conn *conn = rx->conn;
	struct ib_sge sge = {
		.addr = rx->dma,
		.length = sizeof(rx->msg),
		.lkey = conn->dev->pd->local_dma_lkey,
	};
	struct ib_recv_wr wr = {
		.wr_cqe = &rx->cqe,
		.sg_list = &sge,
		.num_sge = 1,
	};

	return ib_post_recv(conn->cm_id->qp, &wr, NULL);
}

static void tdsm_req_work_fn(struct work_struct *work)
{
	struct tdsm_req_work *rw = container_of(work, struct tdsm_req_work, work);

	tdsm_proto_handle(rw->conn, &rw->msg);
	tdsm_conn_put(rw->conn);
	kfree(rw);
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
	if (!msg->hdr.id)
		return "no request id";
	return NULL;
}

/* A batch reply arrived: its pages are granted, see struct tdsm_call. */
static void tdsm_grant_batch(struct tdsm_page *pages, u64 mask)
{
	while (mask) {
		unsigned int i = __ffs64(mask);

		set_bit(TDSM_PG_GRANTED, &pages[i].flags);
		mask &= mask - 1;
	}
}

static void tdsm_rx_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct tdsm_rx *rx = container_of(wc->wr_cqe, struct tdsm_rx, cqe);
	struct tdsm_conn *conn = rx->conn;
	struct ib_device *ibdev = conn->dev->ibdev;
	struct tdsm_wire_msg msg;
	struct tdsm_req_work *rw;
	struct tdsm_call *call;
	const char *why;

	if (wc->status != IB_WC_SUCCESS) {
		if (wc->status != IB_WC_WR_FLUSH_ERR)
			pr_warn_ratelimited("node %u: receive failed: %s\n",
					    conn->peer->id,
					    ib_wc_status_msg(wc->status));
		/* A flush outside our own teardown: the QP died under us. */
		tdsm_conn_kill(conn);
		return;
	}
	ib_dma_sync_single_for_cpu(ibdev, rx->dma, sizeof(rx->msg), DMA_FROM_DEVICE);
	memset(&msg, 0, sizeof(msg));
	memcpy(&msg, &rx->msg, min_t(u32, wc->byte_len, sizeof(msg)));
	ib_dma_sync_single_for_device(ibdev, rx->dma, sizeof(rx->msg), DMA_FROM_DEVICE);
	if (tdsm_rx_post(rx))
		tdsm_conn_kill(conn);

	atomic64_inc(&conn->peer->rx_msgs);
	why = tdsm_msg_error(conn, &msg, wc->byte_len);
	if (why) {
		atomic64_inc(&conn->peer->rx_bad);
		pr_warn_ratelimited("node %u: dropped a malformed message (%s, %u bytes, type %u)\n",
				    conn->peer->id, why, wc->byte_len, msg.hdr.type);
		return;
	}

	if (msg.hdr.type == TDSM_W_REPLY) {
		call = xa_erase(&conn->calls, be64_to_cpu(msg.hdr.id));
		if (!call) {
			/* Late (its caller gave up) or forged: nothing waits. */
			atomic64_inc(&conn->peer->rx_bad);
			return;
		}
		call->reply = msg;
		if (wc->wc_flags & IB_WC_WITH_INVALIDATE) {
			call->invalidated = true;
			call->inv_rkey = wc->ex.invalidate_rkey;
		}
		if (call->grant_flags)
			set_bit(TDSM_PG_GRANTED, call->grant_flags);
		if (call->grant_pages)
			tdsm_grant_batch(call->grant_pages, call->grant_mask);
		complete(&call->done);
		return;
	}

	/* A request: handlers sleep, so they run in tdsm_wq, in order of arrival. */
	rw = kmalloc(sizeof(*rw), GFP_ATOMIC);
	if (!rw) {
		tdsm_conn_kill(conn);
		return;
	}
	INIT_WORK(&rw->work, tdsm_req_work_fn);
	kref_get(&conn->ref);
	rw->conn = conn;
	rw->msg = msg;
	queue_work(tdsm_wq, &rw->work);
}

/* ---- connection setup ------------------------------------------------- */

/* The QP died (a peer's bad RDMA access, a fatal device error): tear down. */
static void tdsm_qp_event(struct ib_event *ev, void *context)
{
	struct tdsm_conn *conn = context;

	switch (ev->event) {
	case IB_EVENT_COMM_EST:
		/* A message beat the RTU: tell the CM, it raises ESTABLISHED. */
		rdma_notify(conn->cm_id, IB_EVENT_COMM_EST);
		break;
	case IB_EVENT_QP_FATAL:
	case IB_EVENT_QP_REQ_ERR:
	case IB_EVENT_QP_ACCESS_ERR:
		pr_warn_ratelimited("node %u: queue pair error: %s\n",
				    conn->peer->id, ib_event_msg(ev->event));
		tdsm_conn_kill(conn);
		break;
	default:
		break;
	}
}

/* Create the QP, CQ and receive buffers once the route is known. */
static int tdsm_conn_setup_qp(struct tdsm_conn *conn)
{
	struct rdma_cm_id *cm_id = conn->cm_id;
	struct ib_qp_init_attr attr = {};
	struct ib_device *ibdev;
	int i, err;

	conn->dev = tdsm_dev_get(cm_id->device);
	if (!conn->dev)
		return -ENOMEM;
	ibdev = conn->dev->ibdev;
	if (!(ibdev->attrs.device_cap_flags & IB_DEVICE_MEM_MGT_EXTENSIONS)) {
		pr_err("%s: no fast registration (memory management extensions)\n",
		       dev_name(&ibdev->dev));
		return -EOPNOTSUPP;
	}

	conn->cq = ib_alloc_cq(ibdev, conn, TDSM_CQ_DEPTH, 0, IB_POLL_SOFTIRQ);
	if (IS_ERR(conn->cq)) {
		err = PTR_ERR(conn->cq);
		conn->cq = NULL;
		return err;
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
	err = rdma_create_qp(cm_id, conn->dev->pd, &attr);
	if (err)
		goto err_cq;

	conn->rx = kcalloc(TDSM_RX_DEPTH, sizeof(*conn->rx), GFP_KERNEL);
	if (!conn->rx) {
		err = -ENOMEM;
		goto err_qp;
	}
	for (i = 0; i < TDSM_RX_DEPTH; i++) {
		struct tdsm_rx *rx = &conn->rx[i];

		rx->conn = conn;
		rx->cqe.done = tdsm_rx_done;
		rx->dma = ib_dma_map_single(ibdev, &rx->msg, sizeof(rx->msg),
					    DMA_FROM_DEVICE);
		if (ib_dma_mapping_error(ibdev, rx->dma)) {
			err = -EIO;
			goto err_rx;
		}
	}
	set_bit(TDSM_CONN_QP, &conn->flags);
	for (i = 0; i < TDSM_RX_DEPTH; i++) {
		err = tdsm_rx_post(&conn->rx[i]);
		if (err)
			return err;	/* the QP is torn down with the connection */
	}
	return 0;

err_rx:
	while (--i >= 0)
		ib_dma_unmap_single(ibdev, conn->rx[i].dma,
				    sizeof(conn->rx[i].msg), DMA_FROM_DEVICE);
	kfree(conn->rx);
	conn->rx = NULL;
err_qp:
	rdma_destroy_qp(cm_id);
err_cq:
	ib_free_cq(conn->cq);
	conn->cq = NULL;
	return err;
}

static void tdsm_hello_init(struct tdsm_wire_hello *hello)
{
	memset(hello, 0, sizeof(*hello));
	hello->magic = cpu_to_be16(TDSM_WIRE_MAGIC);
	hello->version = TDSM_WIRE_VERSION;
	hello->node_id = tdsm_region.node_id;
	hello->max_nodes = tdsm_region.max_nodes;
	hello->region_pages = cpu_to_be64(tdsm_region.npages);
}

/* Check a peer's hello; 0 or an enum tdsm_wire_reject_reason. */
static int tdsm_hello_check(const void *data, u8 len)
{
	const struct tdsm_wire_hello *hello = data;

	if (!data || len < sizeof(*hello) ||
	    be16_to_cpu(hello->magic) != TDSM_WIRE_MAGIC)
		return TDSM_REJ_MALFORMED;
	if (hello->version != TDSM_WIRE_VERSION)
		return TDSM_REJ_VERSION;
	if (memchr_inv(hello->reserved0, 0, sizeof(hello->reserved0)) ||
	    memchr_inv(hello->reserved, 0, sizeof(hello->reserved)))
		return TDSM_REJ_MALFORMED;
	if (hello->max_nodes != tdsm_region.max_nodes ||
	    be64_to_cpu(hello->region_pages) != tdsm_region.npages)
		return TDSM_REJ_MISMATCH;
	return 0;
}

static void tdsm_conn_param_init(struct rdma_conn_param *param,
				 struct tdsm_wire_hello *hello)
{
	memset(param, 0, sizeof(*param));
	tdsm_hello_init(hello);
	param->private_data = hello;
	param->private_data_len = sizeof(*hello);
	param->flow_control = 1;
	param->retry_count = 7;
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
	case TDSM_REJ_MISMATCH: return "region size or max_nodes differ";
	case TDSM_REJ_DUPLICATE: return "already connected";
	default: return "unknown reason";
	}
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

/* A peer connects to us (we have the higher id). */
static int tdsm_cm_connect_request(struct rdma_cm_id *cm_id,
				   struct rdma_cm_event *ev)
{
	const struct tdsm_wire_hello *hello = ev->param.conn.private_data;
	struct rdma_conn_param param;
	struct tdsm_wire_hello mine;
	struct tdsm_peer *peer;
	struct tdsm_conn *conn;
	int reason, err;

	reason = tdsm_hello_check(hello, ev->param.conn.private_data_len);
	if (reason)
		goto reject;
	reason = TDSM_REJ_UNKNOWN;
	if (hello->node_id >= tdsm_region.node_id)
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
	conn = tdsm_conn_alloc(peer, false);
	if (!conn) {
		tdsm_peer_put(peer);
		tdsm_reject(cm_id, TDSM_REJ_MALFORMED);
		return -ENOMEM;	/* the CM destroys cm_id */
	}
	conn->cm_id = cm_id;
	cm_id->context = conn;
	/* The peer takes our reference; teardown drops it. */
	err = tdsm_peer_attach(peer, conn);
	tdsm_peer_put(peer);
	if (err) {
		conn->cm_id = NULL;
		tdsm_conn_put(conn);
		reason = TDSM_REJ_DUPLICATE;
		goto reject;
	}
	err = tdsm_conn_setup_qp(conn);
	if (!err) {
		tdsm_conn_param_init(&param, &mine);
		err = rdma_accept(cm_id, &param);
		if (!err)	/* the QP receives from now on */
			set_bit(TDSM_CONN_RTR, &conn->flags);
	}
	if (err) {
		pr_warn_ratelimited("node %u: cannot accept: %d\n",
				    hello->node_id, err);
		/* Returning non-zero makes the CM destroy cm_id: not ours now. */
		set_bit(TDSM_CONN_DEAD, &conn->flags);
		tdsm_conn_free_qp(conn);
		conn->cm_id = NULL;
		tdsm_peer_detach(conn->peer, conn, err);	/* frees conn */
		return err;
	}
	return 0;

reject:
	pr_info_ratelimited("refused a connection: %s\n", tdsm_reject_reason(reason));
	tdsm_reject(cm_id, reason);
	return -ECONNREFUSED;	/* the CM destroys cm_id */
}

static int tdsm_cm_handler(struct rdma_cm_id *cm_id, struct rdma_cm_event *ev)
{
	struct tdsm_conn *conn = cm_id->context;
	struct rdma_conn_param param;
	struct tdsm_wire_hello hello;
	const struct tdsm_wire_reject *rej;
	int err;

	if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST)
		return tdsm_cm_connect_request(cm_id, ev);
	if (!conn)
		return 0;	/* the listener */

	switch (ev->event) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		err = rdma_resolve_route(cm_id, TDSM_CM_TIMEOUT_MS);
		if (err)
			goto fail;
		return 0;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		err = tdsm_conn_setup_qp(conn);
		if (err)
			goto fail;
		tdsm_conn_param_init(&param, &hello);
		err = rdma_connect_locked(cm_id, &param);
		if (err)
			goto fail;
		return 0;
	case RDMA_CM_EVENT_ESTABLISHED:
		if (conn->initiator &&
		    tdsm_hello_check(ev->param.conn.private_data,
				     ev->param.conn.private_data_len)) {
			err = -EPROTO;
			goto fail;
		}
		set_bit(TDSM_CONN_RTR, &conn->flags);
		set_bit(TDSM_CONN_ESTABLISHED, &conn->flags);
		set_bit(TDSM_CONN_UP, &conn->flags);
		tdsm_peer_established(conn->peer);
		complete(&conn->cm_done);
		return 0;
	case RDMA_CM_EVENT_REJECTED:
		rej = ev->param.conn.private_data;
		if (rej && ev->param.conn.private_data_len >= sizeof(*rej) &&
		    be16_to_cpu(rej->magic) == TDSM_WIRE_MAGIC)
			pr_info_ratelimited("node %u refused the connection: %s\n",
					    conn->peer->id,
					    tdsm_reject_reason(rej->reason));
		err = -ECONNREFUSED;
		goto fail;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
		err = -EHOSTUNREACH;
		goto fail;
	case RDMA_CM_EVENT_CONNECT_ERROR:
		err = -ECONNRESET;
		goto fail;
	case RDMA_CM_EVENT_DISCONNECTED:
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
	case RDMA_CM_EVENT_ADDR_CHANGE:
	case RDMA_CM_EVENT_TIMEWAIT_EXIT:
		err = -ECONNRESET;
		goto fail;
	default:
		return 0;
	}

fail:
	conn->cm_error = err;
	if (conn->initiator && !completion_done(&conn->cm_done)) {
		/* tdsm_conn_connect() waits for this and cleans up. */
		complete(&conn->cm_done);
		return 0;
	}
	tdsm_conn_kill(conn);
	return 0;
}

/*
 * Connect to @peer (we have the lower id). Sleeps, bounded. On success the
 * connection is published in the peer; on failure everything is undone.
 */
int tdsm_conn_connect(struct tdsm_peer *peer)
{
	struct tdsm_conn *conn;
	struct rdma_cm_id *cm_id;
	int err;

	conn = tdsm_conn_alloc(peer, true);
	if (!conn)
		return -ENOMEM;
	cm_id = rdma_create_id(&init_net, tdsm_cm_handler, conn, RDMA_PS_TCP,
			       IB_QPT_RC);
	if (IS_ERR(cm_id)) {
		tdsm_conn_put(conn);
		return PTR_ERR(cm_id);
	}
	conn->cm_id = cm_id;
	kref_get(&conn->ref);		/* for the peer */
	err = tdsm_peer_attach(peer, conn);
	if (err) {
		tdsm_conn_put(conn);
		goto out_destroy;
	}
	err = rdma_resolve_addr(cm_id, NULL, (struct sockaddr *)&peer->addr,
				TDSM_CM_TIMEOUT_MS);
	if (err)
		goto out_detach;
	if (!wait_for_completion_timeout(&conn->cm_done,
					 msecs_to_jiffies(3 * TDSM_CM_TIMEOUT_MS)))
		err = -ETIMEDOUT;
	else
		err = conn->cm_error;
	if (!err && test_bit(TDSM_CONN_UP, &conn->flags)) {
		tdsm_conn_put(conn);	/* the peer holds it now */
		return 0;
	}
	if (!err)
		err = -ECONNRESET;
out_detach:
	if (test_and_set_bit(TDSM_CONN_DEAD, &conn->flags)) {
		/* tdsm_conn_kill() came first: its teardown work cleans up. */
		tdsm_conn_put(conn);
		return err;
	}
	tdsm_peer_detach(peer, conn, err);
out_destroy:
	/* Connected only if it came up after we stopped waiting. */
	if (test_bit(TDSM_CONN_QP, &conn->flags) &&
	    test_bit(TDSM_CONN_RTR, &conn->flags)) {
		rdma_disconnect(conn->cm_id);
		ib_drain_qp(conn->cm_id->qp);
	}
	tdsm_conn_free_qp(conn);
	rdma_destroy_id(conn->cm_id);
	conn->cm_id = NULL;
	tdsm_conn_put(conn);
	return err;
}

/* ---- device removal and module setup ---------------------------------- */

static int tdsm_ib_add(struct ib_device *ibdev)
{
	return 0;
}

/*
 * A device goes away: tear down every connection on it and wait until
 * they have released it (the CM also reports DEVICE_REMOVAL per id; this
 * makes sure nothing of ours is left when we return).
 */
static void tdsm_ib_remove(struct ib_device *ibdev, void *client_data)
{
	struct tdsm_conn *conn;
	int id, tries;

	for (id = 1; id < TINYDSM_MAX_NODES; id++) {
		conn = tdsm_peer_conn(id);
		if (!conn)
			continue;
		if (conn->dev && conn->dev->ibdev == ibdev)
			tdsm_conn_kill(conn);
		tdsm_conn_put(conn);
	}
	for (tries = 0; tries < 100; tries++) {
		struct tdsm_dev *dev;
		bool busy = false;

		flush_workqueue(tdsm_wq);
		mutex_lock(&tdsm_devs_mutex);
		list_for_each_entry(dev, &tdsm_devs, list)
			busy |= dev->ibdev == ibdev;
		mutex_unlock(&tdsm_devs_mutex);
		if (!busy)
			return;
		msleep(50);
	}
	pr_err("%s: still in use after its removal\n", dev_name(&ibdev->dev));
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

int tdsm_rdma_init(void)
{
	int err;

	tdsm_wq = alloc_workqueue("tinydsm", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	if (!tdsm_wq)
		return -ENOMEM;
	err = ib_register_client(&tdsm_ib_client);
	if (err)
		goto err_wq;
	err = tdsm_listen();
	if (err)
		goto err_client;
	return 0;

err_client:
	ib_unregister_client(&tdsm_ib_client);
err_wq:
	destroy_workqueue(tdsm_wq);
	return err;
}

/* After tdsm_peers_exit(): no connection is left. */
void tdsm_rdma_exit(void)
{
	rdma_destroy_id(tdsm_listener);
	flush_workqueue(tdsm_wq);
	ib_unregister_client(&tdsm_ib_client);
	destroy_workqueue(tdsm_wq);
	WARN_ON_ONCE(!list_empty(&tdsm_devs));
}
