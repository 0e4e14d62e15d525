/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The rogue of wire_test.c: a user-space "node 1" that speaks tinydsm's
 * private wire protocol (kmod/wire.h) by hand over real RDMA (librdmacm,
 * libibverbs), so that the tests can send what a module never would and
 * check every byte of what comes back. It connects (rogue_connect) or
 * accepts (rogue_accept) one rdma_cm connection, posts sends and RDMA
 * writes, binds a type 2 memory window over a page of its buffer,
 * receives into an inbox, and calls the module (rogue_call) or answers it
 * (rogue_reply, rogue_breply). Every wait is bounded; errors are in
 * r->err.
 *
 * For wire_test.c alone; include it after tdsm_cluster.h (tc_now).
 */
#ifndef TDSM_ROGUE_H
#define TDSM_ROGUE_H

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "../../kmod/wire.h"

#define ROGUE			1	/* the node id the rogue claims */
#define TARGET			2	/* the node whose module is under test */
#define REJ_CONSUMER_DEFINED	28	/* IB_CM_REJ_CONSUMER_DEFINED */

#define PG			4096
#define RX_SLOTS		32	/* receive buffers the rogue posts */
#define TX_SLOTS		16	/* send buffers, reused round robin */
#define SLOT_SIZE		256	/* bytes per message buffer (> 64) */
#define DATA_PAGES		4
#define CQ_DEPTH		(RX_SLOTS + 4 * TX_SLOTS + 16)
#define INBOX			128

/*
 * A receive that invalidated an rkey. Soft-RoCE writes the kernel's
 * IB_WC_WITH_INVALIDATE (1 << 2) into user completions, which libibverbs
 * calls IBV_WC_IP_CSUM_OK; other devices set IBV_WC_WITH_INV (1 << 3).
 * Neither bit means anything else for an RC receive.
 */
#define WC_INV_FLAGS		(IBV_WC_WITH_INV | IBV_WC_IP_CSUM_OK)

/* wr_id: the kind in the top byte, the slot below. */
enum { WR_RECV = 1, WR_SEND, WR_WRITE, WR_BIND };
#define WR_ID(kind, slot)	(((uint64_t)(kind) << 56) | (uint32_t)(slot))
#define WR_KIND(id)		((unsigned int)((id) >> 56))
#define WR_SLOT(id)		((unsigned int)((id) & 0xffffffffu))

static const char *const status_names[] = {
	[TDSM_WS_OK] = "OK", [TDSM_WS_INVAL] = "INVAL",
	[TDSM_WS_RANGE] = "RANGE", [TDSM_WS_NOTHOME] = "NOTHOME",
	[TDSM_WS_NOSPC] = "NOSPC", [TDSM_WS_NOMEM] = "NOMEM",
	[TDSM_WS_TIMEDOUT] = "TIMEDOUT", [TDSM_WS_UNREACH] = "UNREACH",
	[TDSM_WS_STALE] = "STALE", [TDSM_WS_IO] = "IO",
	[TDSM_WS_PERM] = "PERM", [TDSM_WS_BUSY] = "BUSY",
};

static const char *st_name(long s)
{
	if (s >= 0 && s < __TDSM_WS_MAX)
		return status_names[s];
	return s == -1 ? "no reply" : "?";
}

static double now_ms(void)
{
	return tc_now() * 1000.0;
}

static void hex(const void *buf, size_t len, char *out, size_t outlen)
{
	const uint8_t *b = buf;
	size_t i, w = 0;

	out[0] = '\0';
	for (i = 0; i < len && w + 3 < outlen; i++)
		w += snprintf(out + w, outlen - w, "%02x", b[i]);
}

/* ------------------------------------------------------------ the rogue */

struct rx_msg {
	uint32_t byte_len;
	unsigned int wc_flags;
	uint32_t inv_rkey;	/* if wc_flags & WC_INV_FLAGS */
	union {
		struct tdsm_wire_msg m;
		uint8_t raw[SLOT_SIZE];
	};
};

struct rogue {
	struct rdma_event_channel *ec;
	struct rdma_cm_id *listen;	/* the accepting rogue's listener */
	struct rdma_cm_id *id;
	struct ibv_comp_channel *ch;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	uint8_t *msgs;			/* RX_SLOTS + TX_SLOTS buffers */
	struct ibv_mr *msgs_mr;
	uint8_t *data;			/* DATA_PAGES pages */
	struct ibv_mr *data_mr;
	struct ibv_mw *mw;		/* type 2, over one data page */
	uint32_t mw_rkey;
	bool mw_bound;
	bool up;			/* established, not disconnected */
	bool disconnected;		/* a DISCONNECTED event came */
	int wc_error;			/* first completion error (not flush) */
	int wc_error_kind;
	bool flushed;
	bool tx_busy[TX_SLOTS];
	int tx_status[TX_SLOTS];
	unsigned int tx_next;
	uint64_t op_wait;		/* a lone signaled WR waited for */
	bool op_done;
	int op_status;
	struct rx_msg inbox[INBOX];
	unsigned int in_head, in_tail;
	uint64_t next_id;
	/* the last connect */
	int cm_event;
	int cm_status;
	uint8_t pdata[256];
	unsigned int pdata_len;
	char err[768];
};

static uint8_t *rx_buf(struct rogue *r, unsigned int slot)
{
	return r->msgs + (size_t)slot * SLOT_SIZE;
}

static uint8_t *tx_buf(struct rogue *r, unsigned int slot)
{
	return r->msgs + (size_t)(RX_SLOTS + slot) * SLOT_SIZE;
}

static int post_recv(struct rogue *r, unsigned int slot)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)rx_buf(r, slot),
		.length = SLOT_SIZE,
		.lkey = r->msgs_mr->lkey,
	};
	struct ibv_recv_wr wr = {
		.wr_id = WR_ID(WR_RECV, slot),
		.sg_list = &sge,
		.num_sge = 1,
	}, *bad;

	return ibv_post_recv(r->qp, &wr, &bad);
}

static void on_wc(struct rogue *r, const struct ibv_wc *wc)
{
	unsigned int kind = WR_KIND(wc->wr_id), slot = WR_SLOT(wc->wr_id);
	struct rx_msg *m;

	if (wc->status == IBV_WC_WR_FLUSH_ERR) {
		r->flushed = true;
	} else if (wc->status != IBV_WC_SUCCESS && !r->wc_error) {
		r->wc_error = wc->status;
		r->wc_error_kind = kind;
	}
	switch (kind) {
	case WR_RECV:
		if (wc->status != IBV_WC_SUCCESS || slot >= RX_SLOTS)
			break;
		if (r->in_tail - r->in_head >= INBOX) {
			snprintf(r->err, sizeof(r->err), "inbox overflow");
			break;
		}
		m = &r->inbox[r->in_tail++ % INBOX];
		memset(m, 0, sizeof(*m));
		m->byte_len = wc->byte_len;
		m->wc_flags = wc->wc_flags;
		if (wc->wc_flags & WC_INV_FLAGS) {
			m->inv_rkey = wc->invalidated_rkey;
			if (r->mw_bound && m->inv_rkey == r->mw_rkey)
				r->mw_bound = false;
		}
		memcpy(m->raw, rx_buf(r, slot),
		       wc->byte_len < SLOT_SIZE ? wc->byte_len : SLOT_SIZE);
		memset(rx_buf(r, slot), 0, SLOT_SIZE);
		if (post_recv(r, slot))
			snprintf(r->err, sizeof(r->err), "cannot repost a receive");
		break;
	case WR_SEND:
		if (slot < TX_SLOTS) {
			r->tx_busy[slot] = false;
			r->tx_status[slot] = wc->status;
		}
		break;
	}
	if (r->op_wait && wc->wr_id == r->op_wait) {
		r->op_done = true;
		r->op_status = wc->status;
	}
}

static int cq_drain(struct rogue *r)
{
	struct ibv_wc wc[16];
	int n, i, total = 0;

	while ((n = ibv_poll_cq(r->cq, 16, wc)) > 0) {
		for (i = 0; i < n; i++)
			on_wc(r, &wc[i]);
		total += n;
	}
	return total;
}

static void cm_poll(struct rogue *r)
{
	struct rdma_cm_event *ev;

	while (!rdma_get_cm_event(r->ec, &ev)) {
		if (ev->event == RDMA_CM_EVENT_DISCONNECTED ||
		    ev->event == RDMA_CM_EVENT_DEVICE_REMOVAL) {
			r->disconnected = true;
			r->up = false;
		}
		rdma_ack_cm_event(ev);
	}
}

/* Wait until a completion or a CM event arrives, or @ms pass. */
static void rogue_wait(struct rogue *r, int ms)
{
	struct pollfd pfd[2];
	struct ibv_cq *ecq;
	void *ctx;

	if (cq_drain(r))
		return;
	cm_poll(r);
	if (ibv_req_notify_cq(r->cq, 0) == 0 && cq_drain(r))
		return;
	pfd[0].fd = r->ch->fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = r->ec->fd;
	pfd[1].events = POLLIN;
	if (poll(pfd, 2, ms > 0 ? ms : 0) > 0) {
		if ((pfd[0].revents & POLLIN) &&
		    !ibv_get_cq_event(r->ch, &ecq, &ctx))
			ibv_ack_cq_events(ecq, 1);
		if (pfd[1].revents & POLLIN)
			cm_poll(r);
	}
	cq_drain(r);
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Wait for a CM event on @r's id: its type, or -1 after @ms. */
static int cm_wait(struct rogue *r, int ms)
{
	struct rdma_cm_event *ev;
	struct pollfd pfd = { .fd = r->ec->fd, .events = POLLIN };
	double end = now_ms() + ms;
	int type;

	for (;;) {
		if (!rdma_get_cm_event(r->ec, &ev))
			break;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (now_ms() >= end)
			return -1;
		poll(&pfd, 1, (int)(end - now_ms()) + 1);
	}
	type = ev->event;
	r->cm_event = type;
	r->cm_status = ev->status;
	if (type == RDMA_CM_EVENT_ESTABLISHED || type == RDMA_CM_EVENT_REJECTED ||
	    type == RDMA_CM_EVENT_CONNECT_RESPONSE) {
		r->pdata_len = ev->param.conn.private_data_len;
		if (r->pdata_len > sizeof(r->pdata))
			r->pdata_len = sizeof(r->pdata);
		memset(r->pdata, 0, sizeof(r->pdata));
		if (ev->param.conn.private_data)
			memcpy(r->pdata, ev->param.conn.private_data, r->pdata_len);
		else
			r->pdata_len = 0;
	}
	if (type == RDMA_CM_EVENT_DISCONNECTED)
		r->disconnected = true;
	rdma_ack_cm_event(ev);
	return type;
}

static void rogue_close(struct rogue *r)
{
	if (!r)
		return;
	if (r->id && r->up)
		rdma_disconnect(r->id);
	if (r->mw)
		ibv_dealloc_mw(r->mw);
	if (r->qp)
		rdma_destroy_qp(r->id);
	if (r->msgs_mr)
		ibv_dereg_mr(r->msgs_mr);
	if (r->data_mr)
		ibv_dereg_mr(r->data_mr);
	if (r->cq)
		ibv_destroy_cq(r->cq);
	if (r->ch)
		ibv_destroy_comp_channel(r->ch);
	if (r->pd)
		ibv_dealloc_pd(r->pd);
	if (r->id)
		rdma_destroy_id(r->id);
	if (r->listen)
		rdma_destroy_id(r->listen);
	if (r->ec)
		rdma_destroy_event_channel(r->ec);
	free(r->msgs);
	free(r->data);
	free(r);
}

#define ROGUE_FAIL(r, ...) do {						\
	snprintf((r)->err, sizeof((r)->err), __VA_ARGS__);		\
	return -1;							\
} while (0)

static int rogue_verbs(struct rogue *r);

/* Resolve @ip:@port, create the QP and post the receives. */
static int rogue_setup(struct rogue *r, const char *ip, unsigned int port)
{
	struct sockaddr_in dst = { .sin_family = AF_INET };
	int ev;

	dst.sin_port = htons(port);
	if (inet_pton(AF_INET, ip, &dst.sin_addr) != 1)
		ROGUE_FAIL(r, "bad address '%s'", ip);
	r->ec = rdma_create_event_channel();
	if (!r->ec)
		ROGUE_FAIL(r, "rdma_create_event_channel: %s", strerror(errno));
	if (set_nonblock(r->ec->fd))
		ROGUE_FAIL(r, "event channel: %s", strerror(errno));
	if (rdma_create_id(r->ec, &r->id, r, RDMA_PS_TCP))
		ROGUE_FAIL(r, "rdma_create_id: %s", strerror(errno));
	if (rdma_resolve_addr(r->id, NULL, (struct sockaddr *)&dst, 3000))
		ROGUE_FAIL(r, "rdma_resolve_addr: %s", strerror(errno));
	ev = cm_wait(r, 10000);
	if (ev != RDMA_CM_EVENT_ADDR_RESOLVED)
		ROGUE_FAIL(r, "resolving %s: %s (status %d)", ip,
			   ev < 0 ? "timed out" : rdma_event_str(ev), r->cm_status);
	if (rdma_resolve_route(r->id, 3000))
		ROGUE_FAIL(r, "rdma_resolve_route: %s", strerror(errno));
	ev = cm_wait(r, 10000);
	if (ev != RDMA_CM_EVENT_ROUTE_RESOLVED)
		ROGUE_FAIL(r, "route to %s: %s (status %d)", ip,
			   ev < 0 ? "timed out" : rdma_event_str(ev), r->cm_status);
	return rogue_verbs(r);
}

/*
 * The verbs of @r on its id, whose device is known: PD, CQ, QP, buffers,
 * receives posted. Both the connecting and the accepting rogue use it.
 */
static int rogue_verbs(struct rogue *r)
{
	struct ibv_qp_init_attr qa = { 0 };
	struct ibv_device_attr da;
	unsigned int i;

	r->pd = ibv_alloc_pd(r->id->verbs);
	if (!r->pd)
		ROGUE_FAIL(r, "ibv_alloc_pd: %s", strerror(errno));
	r->ch = ibv_create_comp_channel(r->id->verbs);
	if (!r->ch || set_nonblock(r->ch->fd))
		ROGUE_FAIL(r, "completion channel: %s", strerror(errno));
	r->cq = ibv_create_cq(r->id->verbs, CQ_DEPTH, NULL, r->ch, 0);
	if (!r->cq)
		ROGUE_FAIL(r, "ibv_create_cq: %s", strerror(errno));
	qa.send_cq = r->cq;
	qa.recv_cq = r->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = 4 * TX_SLOTS + 8;
	qa.cap.max_recv_wr = RX_SLOTS;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	if (rdma_create_qp(r->id, r->pd, &qa))
		ROGUE_FAIL(r, "rdma_create_qp: %s", strerror(errno));
	r->qp = r->id->qp;

	r->msgs = aligned_alloc(PG, (size_t)(RX_SLOTS + TX_SLOTS) * SLOT_SIZE);
	r->data = aligned_alloc(PG, (size_t)DATA_PAGES * PG);
	if (!r->msgs || !r->data)
		ROGUE_FAIL(r, "out of memory");
	memset(r->msgs, 0, (size_t)(RX_SLOTS + TX_SLOTS) * SLOT_SIZE);
	memset(r->data, 0, (size_t)DATA_PAGES * PG);
	r->msgs_mr = ibv_reg_mr(r->pd, r->msgs,
				(size_t)(RX_SLOTS + TX_SLOTS) * SLOT_SIZE,
				IBV_ACCESS_LOCAL_WRITE);
	if (!r->msgs_mr)
		ROGUE_FAIL(r, "ibv_reg_mr: %s", strerror(errno));

	/* A type 2 memory window, if the device has them (see the top). */
	if (!ibv_query_device(r->id->verbs, &da) &&
	    (da.device_cap_flags & IBV_DEVICE_MEM_WINDOW_TYPE_2B)) {
		r->data_mr = ibv_reg_mr(r->pd, r->data, (size_t)DATA_PAGES * PG,
					IBV_ACCESS_LOCAL_WRITE |
					IBV_ACCESS_REMOTE_WRITE |
					IBV_ACCESS_MW_BIND);
		if (r->data_mr)
			r->mw = ibv_alloc_mw(r->pd, IBV_MW_TYPE_2);
		if (r->mw)
			r->mw_rkey = r->mw->rkey;
	}
	if (!r->data_mr)
		r->data_mr = ibv_reg_mr(r->pd, r->data, (size_t)DATA_PAGES * PG,
					IBV_ACCESS_LOCAL_WRITE |
					IBV_ACCESS_REMOTE_WRITE);
	if (!r->data_mr)
		ROGUE_FAIL(r, "ibv_reg_mr (data): %s", strerror(errno));

	for (i = 0; i < RX_SLOTS; i++)
		if (post_recv(r, i))
			ROGUE_FAIL(r, "ibv_post_recv: %s", strerror(errno));
	r->next_id = 0x1000;
	return 0;
}

/*
 * Connect with @pdata as the private data. Returns the CM event that ended
 * the attempt (ESTABLISHED, REJECTED, ...), or -1 (r->err says why).
 */
static int rogue_connect(struct rogue *r, const void *pdata, uint8_t len)
{
	struct rdma_conn_param p = {
		.private_data = pdata,
		.private_data_len = len,
		.responder_resources = 1,
		.initiator_depth = 1,
		.retry_count = 7,
		.rnr_retry_count = 7,
	};
	int ev;

	if (rdma_connect(r->id, &p))
		ROGUE_FAIL(r, "rdma_connect: %s", strerror(errno));
	do {
		ev = cm_wait(r, 15000);
	} while (ev == RDMA_CM_EVENT_CONNECT_RESPONSE);
	if (ev < 0)
		ROGUE_FAIL(r, "no answer to the connect request in 15 s");
	r->up = ev == RDMA_CM_EVENT_ESTABLISHED;
	return ev;
}

/*
 * The other way round: listen on @port (any address) for node2, which
 * connects to a peer with a higher id, take its connect request, whose
 * hello goes to @theirs (zeroed if shorter), and accept it with @pdata.
 * 0 once ESTABLISHED, or -1.
 */
static int rogue_accept(struct rogue *r, unsigned int port, const void *pdata,
			uint8_t len, struct tdsm_wire_hello *theirs, int ms)
{
	struct sockaddr_in any = { .sin_family = AF_INET };
	struct rdma_conn_param p = {
		.private_data = pdata,
		.private_data_len = len,
		.responder_resources = 1,
		.initiator_depth = 1,
		.rnr_retry_count = 7,
	};
	struct rdma_cm_event *ev;
	struct pollfd pfd;
	double end = now_ms() + ms;

	any.sin_port = htons(port);
	r->ec = rdma_create_event_channel();
	if (!r->ec || set_nonblock(r->ec->fd))
		ROGUE_FAIL(r, "event channel: %s", strerror(errno));
	if (rdma_create_id(r->ec, &r->listen, r, RDMA_PS_TCP) ||
	    rdma_bind_addr(r->listen, (struct sockaddr *)&any) ||
	    rdma_listen(r->listen, 1))
		ROGUE_FAIL(r, "listening on port %u: %s", port, strerror(errno));
	pfd.fd = r->ec->fd;
	pfd.events = POLLIN;
	while (!r->id) {
		if (rdma_get_cm_event(r->ec, &ev)) {
			if ((errno != EAGAIN && errno != EWOULDBLOCK) ||
			    now_ms() >= end)
				ROGUE_FAIL(r, "no connect request on port %u in %d ms",
					   port, ms);
			poll(&pfd, 1, (int)(end - now_ms()) + 1);
			continue;
		}
		if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST) {
			r->id = ev->id;
			r->pdata_len = ev->param.conn.private_data_len;
			if (r->pdata_len > sizeof(r->pdata))
				r->pdata_len = sizeof(r->pdata);
			memset(r->pdata, 0, sizeof(r->pdata));
			if (ev->param.conn.private_data)
				memcpy(r->pdata, ev->param.conn.private_data,
				       r->pdata_len);
		}
		rdma_ack_cm_event(ev);
	}
	memcpy(theirs, r->pdata, sizeof(*theirs));
	if (rogue_verbs(r))
		return -1;
	if (rdma_accept(r->id, &p))
		ROGUE_FAIL(r, "rdma_accept: %s", strerror(errno));
	if (cm_wait(r, 15000) != RDMA_CM_EVENT_ESTABLISHED)
		ROGUE_FAIL(r, "accepted node2's connect, but it did not come up (%d)",
			   r->cm_event);
	r->up = true;
	return 0;
}

/* A tinydsm reject in @r's last event: its reason; 0 if accepted; -1 else. */
static int rogue_reject_reason(const struct rogue *r)
{
	const struct tdsm_wire_reject *rej = (const void *)r->pdata;

	if (r->cm_event == RDMA_CM_EVENT_ESTABLISHED)
		return 0;
	if (r->cm_event != RDMA_CM_EVENT_REJECTED ||
	    r->cm_status != REJ_CONSUMER_DEFINED ||
	    r->pdata_len < sizeof(*rej) ||
	    be16toh(rej->magic) != TDSM_WIRE_MAGIC ||
	    rej->version != TDSM_WIRE_VERSION)
		return -1;
	return rej->reason;
}

/* Wait for one of @r's send buffers to be free: its slot, or -1. */
static int tx_slot(struct rogue *r)
{
	double end = now_ms() + 10000;
	unsigned int slot = r->tx_next % TX_SLOTS;

	while (r->tx_busy[slot]) {
		if (r->wc_error || r->flushed || now_ms() > end)
			ROGUE_FAIL(r, "no send buffer free (%s)",
				   r->wc_error ? ibv_wc_status_str(r->wc_error) :
				   r->flushed ? "flushed" : "timeout");
		rogue_wait(r, 100);
	}
	r->tx_next++;
	return (int)slot;
}

/* Wait for the SEND in @slot: 0, or the completion status (-1: none). */
static int tx_wait(struct rogue *r, int slot)
{
	double end = now_ms() + 15000;

	while (r->tx_busy[slot]) {
		if (now_ms() > end)
			return -1;
		rogue_wait(r, 100);
	}
	return r->tx_status[slot];
}

/*
 * Post @len bytes of @buf as a SEND (SEND_WITH_INV of @inv if non-zero),
 * after the optional @first work request. Returns the slot, or -1.
 */
static int rogue_post(struct rogue *r, const void *buf, size_t len,
		      uint32_t inv, struct ibv_send_wr *first)
{
	struct ibv_sge sge;
	struct ibv_send_wr wr = { 0 }, *bad;
	int slot = tx_slot(r);

	if (slot < 0)
		return -1;
	if (len > SLOT_SIZE)
		ROGUE_FAIL(r, "message too long");
	memcpy(tx_buf(r, slot), buf, len);
	sge.addr = (uintptr_t)tx_buf(r, slot);
	sge.length = (uint32_t)len;
	sge.lkey = r->msgs_mr->lkey;
	wr.wr_id = WR_ID(WR_SEND, slot);
	wr.sg_list = len ? &sge : NULL;
	wr.num_sge = len ? 1 : 0;
	wr.send_flags = IBV_SEND_SIGNALED;
	if (inv) {
		wr.opcode = IBV_WR_SEND_WITH_INV;
		wr.invalidate_rkey = inv;
	} else {
		wr.opcode = IBV_WR_SEND;
	}
	if (first)
		first->next = &wr;
	r->tx_busy[slot] = true;
	errno = ibv_post_send(r->qp, first ? first : &wr, &bad);
	if (errno) {
		r->tx_busy[slot] = false;
		ROGUE_FAIL(r, "ibv_post_send: %s", strerror(errno));
	}
	return slot;
}

/* Send and wait for the send completion: 0, or why not in r->err. */
static int rogue_send(struct rogue *r, const void *buf, size_t len)
{
	int slot = rogue_post(r, buf, len, 0, NULL);
	int st;

	if (slot < 0)
		return -1;
	st = tx_wait(r, slot);
	if (st)
		ROGUE_FAIL(r, "send completion: %s",
			   st < 0 ? "none in 15 s" : ibv_wc_status_str(st));
	return 0;
}

/* Post one lone signaled work request and wait for it: 0, or -1. */
static int rogue_op(struct rogue *r, struct ibv_send_wr *wr)
{
	struct ibv_send_wr *bad;
	double end = now_ms() + 10000;

	wr->send_flags |= IBV_SEND_SIGNALED;
	r->op_wait = wr->wr_id;
	r->op_done = false;
	errno = ibv_post_send(r->qp, wr, &bad);
	if (errno) {
		r->op_wait = 0;
		ROGUE_FAIL(r, "ibv_post_send (opcode %d): %s", wr->opcode,
			   strerror(errno));
	}
	while (!r->op_done && now_ms() < end)
		rogue_wait(r, 100);
	r->op_wait = 0;
	if (!r->op_done)
		ROGUE_FAIL(r, "no completion for opcode %d", wr->opcode);
	if (r->op_status)
		ROGUE_FAIL(r, "opcode %d: %s", wr->opcode,
			   ibv_wc_status_str(r->op_status));
	return 0;
}

/*
 * Bind a memory window over data page @page: its rkey in r->mw_rkey. Each
 * bind takes a fresh window, so that every rkey the rogue hands out is used
 * once: Soft-RoCE oopses when a type 2 window that a SEND_WITH_INV already
 * invalidated is invalidated again (rxe_do_invalidate_mw() puts a NULL qp),
 * so the rogue never posts a LOCAL_INV.
 */
static int rogue_bind(struct rogue *r, unsigned int page)
{
	struct ibv_send_wr wr = { 0 };
	uint32_t rkey;

	if (!r->mw)
		ROGUE_FAIL(r, "no memory window");
	ibv_dealloc_mw(r->mw);
	r->mw_bound = false;
	r->mw = ibv_alloc_mw(r->pd, IBV_MW_TYPE_2);
	if (!r->mw)
		ROGUE_FAIL(r, "ibv_alloc_mw: %s", strerror(errno));
	rkey = ibv_inc_rkey(r->mw->rkey);
	wr.wr_id = WR_ID(WR_BIND, 0);
	wr.opcode = IBV_WR_BIND_MW;
	wr.bind_mw.mw = r->mw;
	wr.bind_mw.rkey = rkey;
	wr.bind_mw.bind_info.mr = r->data_mr;
	wr.bind_mw.bind_info.addr = (uintptr_t)(r->data + (size_t)page * PG);
	wr.bind_mw.bind_info.length = PG;
	wr.bind_mw.bind_info.mw_access_flags = IBV_ACCESS_REMOTE_WRITE;
	if (rogue_op(r, &wr))
		return -1;
	r->mw_rkey = rkey;
	r->mw_bound = true;
	return 0;
}

/*
 * The next message: 1 (in *out), 0 if none came within @ms, -1 if the
 * connection failed (r->err says how).
 */
static int rogue_recv(struct rogue *r, struct rx_msg *out, int ms)
{
	double end = now_ms() + ms;

	for (;;) {
		if (r->in_head != r->in_tail) {
			*out = r->inbox[r->in_head++ % INBOX];
			return 1;
		}
		if (r->wc_error || r->flushed || r->disconnected)
			ROGUE_FAIL(r, "connection failed: %s%s",
				   r->wc_error ? ibv_wc_status_str(r->wc_error) :
				   r->flushed ? "work requests flushed" : "",
				   r->disconnected ? " (disconnected)" : "");
		if (now_ms() >= end)
			return 0;
		rogue_wait(r, (int)(end - now_ms()) + 1);
	}
}

/* Wait until the module disconnects us: 0, or -1 after @ms. */
static int rogue_wait_disconnect(struct rogue *r, int ms)
{
	double end = now_ms() + ms;

	while (!r->disconnected) {
		if (now_ms() >= end)
			return -1;
		rogue_wait(r, 200);
	}
	r->up = false;
	return 0;
}

/*
 * The node id the rogue's messages name (hdr.src): ROGUE, unless a test
 * plays another node on another connection.
 */
static uint8_t rogue_src = ROGUE;

static void msg_init(struct tdsm_wire_msg *m, uint8_t type)
{
	memset(m, 0, sizeof(*m));
	m->hdr.magic = htobe16(TDSM_WIRE_MAGIC);
	m->hdr.version = TDSM_WIRE_VERSION;
	m->hdr.type = type;
	m->hdr.src = rogue_src;
	m->hdr.len = htobe16(TDSM_WIRE_MSG_SIZE);
}

/*
 * The rogue as a home numbers its transactions as the module does: each
 * grant it sends and each FETCH or INVAL gets the next id (the epoch), so
 * that its requests are always newer than the copies it granted.
 */
static uint32_t rogue_txn;

static void msg_page(struct tdsm_wire_msg *m, uint8_t type, uint64_t addr,
		     uint64_t iova, uint32_t rkey, uint8_t dst, uint8_t mode)
{
	msg_init(m, type);
	m->page.addr = htobe64(addr);
	m->page.iova = htobe64(iova);
	m->page.rkey = htobe32(rkey);
	m->page.dst = dst;
	m->page.mode = mode;
	if (type == TDSM_W_FETCH || type == TDSM_W_INVAL)
		m->page.epoch = htobe32(++rogue_txn);
}

static void msg_alloc(struct tdsm_wire_msg *m, uint8_t type, uint64_t addr,
		      uint32_t npages)
{
	msg_init(m, type);
	m->alloc.addr = htobe64(addr);
	m->alloc.npages = htobe32(npages);
}

/*
 * A batch request (MIGRATE, READV, INVALV) of @npages from @addr, pages
 * @mask of it, no buffer (rkey 0: the module then replies with a plain
 * SEND); an INVALV gets the next epoch, as the rogue's own transaction.
 */
static void msg_batch(struct tdsm_wire_msg *m, uint8_t type, uint64_t addr,
		      uint8_t npages, uint64_t mask)
{
	msg_init(m, type);
	m->batch.addr = htobe64(addr);
	m->batch.npages = npages;
	m->batch.mask = htobe64(mask);
	if (type == TDSM_W_INVALV)
		m->batch.epoch = htobe32(++rogue_txn);
}

/*
 * The group of TDSM_WIRE_BATCH pages that the page at @addr is in: a batch
 * lies inside one (wire.h).
 */
static uint64_t batch_group(uint64_t addr)
{
	return ((addr - TINYDSM_REGION_BASE) / PG) >> TDSM_WIRE_BATCH_SHIFT;
}

/* The address of the first page of the group after @addr's. */
static uint64_t batch_group_next(uint64_t addr)
{
	return TINYDSM_REGION_BASE +
	       ((batch_group(addr) + 1) << TDSM_WIRE_BATCH_SHIFT) * PG;
}

static void fmt_msg(const struct rx_msg *x, char *buf, size_t len)
{
	const struct tdsm_wire_msg *m = &x->m;
	char h[2 * TDSM_WIRE_MSG_SIZE + 1];

	hex(x->raw, x->byte_len < TDSM_WIRE_MSG_SIZE ? x->byte_len :
	    TDSM_WIRE_MSG_SIZE, h, sizeof(h));
	snprintf(buf, len, "%u bytes, type %u src %u id %#" PRIx64
		 " status %u (%s) flags %#x addr %#" PRIx64 ", wc_flags %#x"
		 " inv_rkey %#x [%s]",
		 x->byte_len, m->hdr.type, m->hdr.src, be64toh(m->hdr.id),
		 be32toh(m->reply.status), st_name(be32toh(m->reply.status)),
		 be32toh(m->reply.flags), be64toh(m->reply.addr), x->wc_flags,
		 x->inv_rkey, h);
}

/*
 * Is @x a well-formed message of type @type from node2 (the module)?
 * NULL, or what is wrong.
 */
static const char *module_msg_error(const struct rx_msg *x, uint8_t type)
{
	const struct tdsm_wire_hdr *h = &x->m.hdr;

	if (x->byte_len != TDSM_WIRE_MSG_SIZE)
		return "length is not 64 bytes";
	if (be16toh(h->magic) != TDSM_WIRE_MAGIC)
		return "bad magic";
	if (h->version != TDSM_WIRE_VERSION)
		return "bad version";
	if (h->type != type)
		return "unexpected type";
	if (h->src != TARGET)
		return "src is not node 2";
	if (h->flags)
		return "reserved flags set";
	if (be16toh(h->len) != TDSM_WIRE_MSG_SIZE)
		return "len field is not 64";
	if (!h->id)
		return "id 0";
	/* grant_epoch: with TDSM_FETCH_F_LIVE, and only there (version 8). */
	if ((h->type == TDSM_W_READ || h->type == TDSM_W_WRITE ||
	     h->type == TDSM_W_FETCH || h->type == TDSM_W_INVAL) &&
	    (h->type == TDSM_W_FETCH &&
	     (x->m.page.mode & TDSM_FETCH_F_LIVE)) != !!x->m.page.grant_epoch)
		return "grant_epoch set without TDSM_FETCH_F_LIVE, or not with it";
	if (h->type == TDSM_W_MIGRATE || h->type == TDSM_W_READV ||
	    h->type == TDSM_W_INVALV || h->type == TDSM_W_FETCHV) {
		uint64_t addr = be64toh(x->m.batch.addr);
		unsigned int n = x->m.batch.npages;

		if (!n || n > TDSM_WIRE_BATCH)
			return "batch of 0 or more than TDSM_WIRE_BATCH pages";
		if (batch_group(addr) != batch_group(addr + (n - 1) * PG))
			return "batch across two groups of TDSM_WIRE_BATCH pages";
	}
	return NULL;
}

/*
 * Send request @req with a fresh id and wait for its reply: the reply's
 * status (in *rep), or -1 with r->err set (no reply, an unexpected
 * message, a connection failure).
 */
static long rogue_call(struct rogue *r, struct tdsm_wire_msg *req,
		       struct rx_msg *rep, int ms)
{
	struct rx_msg x;
	uint64_t id = r->next_id++;
	char d[400];
	const char *why;
	double end = now_ms() + ms;
	int got;

	req->hdr.id = htobe64(id);
	if (rogue_post(r, req, sizeof(*req), 0, NULL) < 0)
		return -1;
	for (;;) {
		got = rogue_recv(r, &x, (int)(end - now_ms()) + 1);
		if (got < 0)
			return -1;
		if (!got)
			ROGUE_FAIL(r, "no reply to a type %u request (id %#" PRIx64
				   ") within %d ms", req->hdr.type, id, ms);
		fmt_msg(&x, d, sizeof(d));
		why = module_msg_error(&x, TDSM_W_REPLY);
		if (why)
			ROGUE_FAIL(r, "instead of a reply: %s: %s", why, d);
		if (be64toh(x.m.hdr.id) != id)
			ROGUE_FAIL(r, "reply to another id (want %#" PRIx64 "): %s",
				   id, d);
		*rep = x;
		return be32toh(x.m.reply.status);
	}
}

/*
 * @wr (zeroed by the caller): an RDMA WRITE, id @wr_id, of the rogue's
 * data page @page to @raddr, @rkey; @sge, its one entry.
 */
static void rogue_write_wr(const struct rogue *r, struct ibv_send_wr *wr,
			   struct ibv_sge *sge, size_t page, uint64_t wr_id,
			   uint64_t raddr, uint32_t rkey)
{
	sge->addr = (uintptr_t)(r->data + page * PG);
	sge->length = PG;
	sge->lkey = r->data_mr->lkey;
	wr->wr_id = wr_id;
	wr->opcode = IBV_WR_RDMA_WRITE;
	wr->sg_list = sge;
	wr->num_sge = 1;
	wr->wr.rdma.remote_addr = raddr;
	wr->wr.rdma.rkey = rkey;
}

/* Reply to the module's request @req, after RDMA-writing data page @page. */
static int rogue_reply(struct rogue *r, const struct tdsm_wire_msg *req,
		       uint32_t status, uint32_t flags, int page, bool with_inv)
{
	struct tdsm_wire_msg rep;
	struct ibv_sge sge;
	struct ibv_send_wr write = { 0 };
	uint32_t rkey = be32toh(req->page.rkey);
	int slot, st;

	msg_init(&rep, TDSM_W_REPLY);
	rep.hdr.id = req->hdr.id;
	rep.reply.status = htobe32(status);
	rep.reply.flags = htobe32(flags);
	if (status == TDSM_WS_OK &&
	    (req->hdr.type == TDSM_W_READ || req->hdr.type == TDSM_W_WRITE))
		rep.reply.addr = htobe64(++rogue_txn);	/* the grant's epoch */
	if (page >= 0)
		rogue_write_wr(r, &write, &sge, page, WR_ID(WR_WRITE, 0),
			       be64toh(req->page.iova), rkey);
	slot = rogue_post(r, &rep, sizeof(rep), with_inv ? rkey : 0,
			  page >= 0 ? &write : NULL);
	if (slot < 0)
		return -1;
	st = tx_wait(r, slot);
	if (st)
		ROGUE_FAIL(r, "reply send: %s",
			   st < 0 ? "no completion" : ibv_wc_status_str(st));
	return 0;
}

/*
 * Reply to the module's batch request @req (MIGRATE, READV, FETCHV): data pages
 * 0 .. @npush - 1 RDMA-written to pages 0 .. @npush - 1 of its buffer first,
 * then the batch reply, invalidating the buffer's rkey if @with_inv.
 */
static int rogue_breply(struct rogue *r, const struct tdsm_wire_msg *req,
			uint32_t status, uint64_t done, uint64_t data,
			unsigned int npush, bool with_inv)
{
	struct ibv_send_wr write[DATA_PAGES], *bad;
	struct ibv_sge sge[DATA_PAGES];
	struct tdsm_wire_msg rep;
	uint32_t rkey = be32toh(req->batch.rkey);
	unsigned int i;
	int slot, st;

	if (npush > DATA_PAGES)
		ROGUE_FAIL(r, "at most %d pages per batch reply", DATA_PAGES);
	memset(write, 0, sizeof(write));
	for (i = 0; i < npush; i++) {
		rogue_write_wr(r, &write[i], &sge[i], i, WR_ID(WR_WRITE, i),
			       be64toh(req->batch.iova) + (uint64_t)i * PG, rkey);
		write[i].next = i + 1 < npush ? &write[i + 1] : NULL;
	}
	/* Unsignaled; the reply, posted after them on the same QP, lands last. */
	if (npush) {
		errno = ibv_post_send(r->qp, write, &bad);
		if (errno)
			ROGUE_FAIL(r, "ibv_post_send (writes): %s", strerror(errno));
	}
	msg_init(&rep, TDSM_W_REPLY);
	rep.hdr.id = req->hdr.id;
	rep.breply.status = htobe32(status);
	rep.breply.done = htobe64(done);
	rep.breply.data = htobe64(data);
	if (status == TDSM_WS_OK)
		rep.breply.epoch = htobe32(++rogue_txn);	/* the batch's */
	slot = rogue_post(r, &rep, sizeof(rep), with_inv ? rkey : 0, NULL);
	if (slot < 0)
		return -1;
	st = tx_wait(r, slot);
	if (st)
		ROGUE_FAIL(r, "batch reply send: %s",
			   st < 0 ? "no completion" : ibv_wc_status_str(st));
	return 0;
}

#endif /* TDSM_ROGUE_H */
