/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm: the wire protocol between the modules of two nodes.
 *
 * Private to the module (user space never speaks it, except the test that
 * plays a misbehaving peer). Every field is big-endian on the wire; every
 * message is exactly TDSM_WIRE_MSG_SIZE bytes, sent with IB SEND on the one
 * RC queue pair between two nodes. Page contents never travel in messages:
 * the node that has the page RDMA-WRITEs the 4 KiB frame into a buffer the
 * requester registered (iova/rkey in the request) and then sends the reply
 * on the same queue pair, so the reply arrives after the data.
 *
 * Connection: the node with the lower id connects; struct tdsm_wire_hello
 * rides in the rdma_cm private data of the connect request and of the
 * accept. A refusal carries a struct tdsm_wire_reject.
 *
 * Authentication (PROTOCOL.md, "Authentication"): each hello carries a
 * fresh nonce. Once the connection is ESTABLISHED, each end, if it holds
 * the cluster key, SENDs one TDSM_W_AUTH (id 0, not a request: nothing
 * answers it) whose body is struct tdsm_wire_auth: HMAC-SHA256 keyed with
 * the cluster key over "tinydsm-rdma-auth-v1", the sender's role ('I'
 * initiator, 'R' responder), the initiator's hello and the responder's
 * hello, as sent. The connection is up only once the peer's MAC checked
 * out; before that every other message is refused, and the connection
 * dies. A node may go without a key only with the module parameter
 * allow_unauthenticated, and only with a peer that has none either.
 *
 * Requests (id != 0, answered by one TDSM_W_REPLY with the same id):
 *   READ   requester -> home   page: addr, iova, rkey (the requester's
 *                              buffer), epoch (a retained frame it owns)
 *   WRITE  requester -> home   same, and mode TDSM_ACCESS_F_COPY if it holds
 *                              a read copy; the reply says if the buffer
 *                              was filled
 *   FETCH  home -> owner       page: addr, iova/rkey (a buffer of the
 *                              home's), dst (the home itself, nothing
 *                              else), mode (keep a read-only copy, or
 *                              drop), grant_epoch (with F_LIVE). For a
 *                              third node the home relays the page
 *                              (PROTOCOL.md, "Transport")
 *   INVAL  home -> reader      page: addr; drop the copy
 *   ALLOC  node -> home        alloc: npages, uid; reply: addr. The home
 *                              records the run with (node, uid)
 *   FREE   node -> home        alloc: addr, npages, uid, flags: the home
 *                              frees only the run recorded with exactly
 *                              that start, length, node and uid, unless
 *                              TDSM_ALLOC_F_ADMIN (TDSM_WS_PERM otherwise;
 *                              PROTOCOL.md, "Who may free a run")
 *   MIGRATE target -> home     batch: addr, npages, iova/rkey (page i of
 *                              the batch goes to iova + i * 4 KiB); the
 *                              home hands the pages over: breply
 *   READV  node -> home        batch: the same, mask = pages wanted; read
 *                              copies of several pages at once (eager
 *                              repopulation, read-ahead); a page never
 *                              touched is not served: breply
 *   INVALV home -> reader      batch: addr, npages, mask, dst: INVAL of
 *                              every page in mask (MOVED to dst if dst)
 *   WORD   node -> home        word: addr, width, op, value (store): one
 *                              load or store done at the home, which gets
 *                              the page itself first as for its own fault;
 *                              reply.addr carries the value loaded;
 *                              op WAIT: value = the waiter's id, checked
 *                              and queued at the home (reply.addr 1) or
 *                              not (0: the word differs); op WAKE: value =
 *                              how many to wake, reply.addr = how many
 *                              were (PROTOCOL.md "Wait and wake")
 *   WAKEUP home -> waiter      word: addr, value = the waiter's id, op
 *                              WAKE: wake that waiter; TDSM_WS_STALE if
 *                              it is not waiting (any more)
 *   EVICTV node -> home        batch: addr, npages, mask = read copies
 *                              the node dropped (a notice), wmask = pages
 *                              it owns and gives back (a write-back), the
 *                              two disjoint, inside one aligned group of
 *                              TDSM_WIRE_BATCH pages, no buffer; the home
 *                              takes the node out of the copysets of the
 *                              mask if its connection is still up, and
 *                              fetches the wmask's pages it can take with
 *                              a FETCHV on the same connection before it
 *                              answers (PROTOCOL.md "Eviction"): breply,
 *                              done = the pages taken out of a copyset or
 *                              written back, data = the wmask's frames the
 *                              node may free (the release)
 *   FETCHV home -> owner       batch: addr, npages, iova/rkey (a buffer of
 *                              the home's), mask = pages wanted, epoch: a
 *                              FETCH DROP of each, for a write-back; the
 *                              owner serves the pages it holds whose home
 *                              is the requester: breply, done = data = the
 *                              pages written into the buffer
 *   PLACE  home -> node        batch: addr, npages, nothing else: pull
 *                              the batch with a MIGRATE of your own
 *                              (TINYDSM_IOC_PLACE). Only the node whose
 *                              slice the pages are may ask (TDSM_WS_PERM);
 *                              a node above home_nodes answers
 *                              TDSM_WS_INVAL; the reply comes once the
 *                              MIGRATE ended, with its status
 *
 * FETCH, INVAL and INVALV carry the epoch of the home's transaction, and
 * every grant (READ/WRITE reply, READV reply) the epoch its copy gets: a
 * holder answers a FETCH or INVAL not newer than its copy with
 * TDSM_WS_STALE and keeps the copy (PROTOCOL.md, "Epochs").
 * A node that is not (or no longer) a page's home answers a request for it
 * with TDSM_WS_NOTHOME and, in reply.home, the home it knows of; the
 * requester retries there. INVAL with mode TDSM_INVAL_MOVED tells a holder
 * that the page's home moved to page.dst.
 */
#ifndef _TDSM_WIRE_H
#define _TDSM_WIRE_H

#include <linux/types.h>

#define TDSM_WIRE_MAGIC		0x7464	/* "td" */
/*
 * 2: epochs on FETCH, INVAL and their grants; 3: TDSM_FETCH_F_LIVE; 4: the
 * nonce in the hello and TDSM_W_AUTH; 5: the uid and TDSM_ALLOC_F_ADMIN of
 * ALLOC and FREE, checked by the home (TDSM_WS_PERM); 6: a protection
 * domain per connection, so FETCH sends the page to the home only; 7: a
 * batch (MIGRATE, READV, INVALV, EVICTV) lies inside one group of
 * TDSM_WIRE_BATCH pages, else TDSM_WS_INVAL; node ids go up to 64, so the
 * holders of a MIGRATE breply are a __be64 with bit n - 1 for node n (they
 * were a __be32 with bit n); and EVICTV, the notice of dropped read copies
 * and the write-back of owned ones (wmask), with its FETCHV; 8: a FETCH
 * with TDSM_FETCH_F_LIVE carries the epoch of the grant in doubt
 * (grant_epoch), and a READ or WRITE the epoch of a retained frame the
 * requester owns (epoch), so that a frame that grant installed counts as
 * taken even after it was given up (PROTOCOL.md "Grants in doubt"); 9:
 * ECHO, the transport floor (a page's round trip with nothing of the
 * page's state in it, echo.c); 10: WORD's atomic ops (CAS, ADD, XCHG,
 * AND, OR) and its expected value (TINYDSM_IOC_ATOMIC, word.c); 11:
 * WORD's ops WAIT and WAKE, and WAKEUP (TINYDSM_IOC_WAIT and _WAKE,
 * wait.c); 12: TDSM_WS_BUSY, a home whose page is held by another
 * transaction longer than half the requester's wait (it answered
 * TIMEDOUT before, which the requester took for a dead node); 13: PLACE
 * (TINYDSM_IOC_PLACE, place.c).
 * An older peer is refused (TDSM_REJ_VERSION).
 */
#define TDSM_WIRE_VERSION	13
#define TDSM_WIRE_MSG_SIZE	64
#define TDSM_WIRE_NONCE_LEN	16
#define TDSM_WIRE_MAC_LEN	32	/* HMAC-SHA256 */

enum tdsm_wire_type {
	TDSM_W_READ = 1,
	TDSM_W_WRITE,
	TDSM_W_FETCH,
	TDSM_W_INVAL,
	TDSM_W_ALLOC,
	TDSM_W_FREE,
	TDSM_W_REPLY,
	TDSM_W_MIGRATE,
	TDSM_W_READV,
	TDSM_W_INVALV,
	TDSM_W_WORD,
	TDSM_W_AUTH,
	TDSM_W_EVICTV,
	TDSM_W_FETCHV,
	TDSM_W_ECHO,
	TDSM_W_WAKEUP,
	TDSM_W_PLACE,
	__TDSM_W_MAX
};

/* Reply status: not errno values, which differ between architectures. */
enum tdsm_wire_status {
	TDSM_WS_OK = 0,
	TDSM_WS_INVAL,		/* malformed or meaningless request */
	TDSM_WS_RANGE,		/* address outside the region */
	TDSM_WS_NOTHOME,	/* this node is not the page's home */
	TDSM_WS_NOSPC,		/* no free run of that size, or the home budget is full */
	TDSM_WS_NOMEM,
	TDSM_WS_TIMEDOUT,	/* a node the home needed did not answer */
	TDSM_WS_UNREACH,	/* a node the home needed is not connected */
	TDSM_WS_STALE,		/* FETCH/INVAL of a page this node does not hold */
	TDSM_WS_IO,		/* the RDMA transfer failed */
	TDSM_WS_PERM,		/* FREE of a run that is not the requester's */
	TDSM_WS_BUSY,		/* the page's DIR is held long: ask again */
	__TDSM_WS_MAX
};

/* FETCH modes */
enum {
	TDSM_FETCH_KEEP = 1,	/* the owner keeps a read-only copy (read fault) */
	TDSM_FETCH_DROP,	/* the owner drops its copy (write fault) */
};

/*
 * FETCH mode flag: a write grant to the owner is in doubt, and only a
 * frame that grant installed is current: serve a live copy, or a frame
 * retained after giving the page up whose epoch is the grant's
 * (page.grant_epoch), not an older retained frame (PROTOCOL.md "Grants in
 * doubt").
 */
#define TDSM_FETCH_F_LIVE	0x80

/* READ/WRITE: page.mode is flags */
#define TDSM_ACCESS_F_COPY	0x1	/* WRITE: the requester holds a read copy */

/* INVAL modes */
enum {
	TDSM_INVAL_DROP = 0,	/* drop the copy */
	TDSM_INVAL_MOVED,	/* drop it: a migration moved the page to page.dst */
};

/*
 * Largest batch of MIGRATE, READV and INVALV (the bits of a __be64 mask),
 * and where a batch may lie: the region's pages form groups of
 * TDSM_WIRE_BATCH, group g being the pages whose index (address minus
 * TINYDSM_REGION_BASE, over 4 KiB) shifted right by TDSM_WIRE_BATCH_SHIFT
 * is g, and every page of a batch is in the same group. A sender splits a
 * range at the groups' edges; a receiver refuses a batch across one
 * (TDSM_WS_INVAL). A node keeps its page metadata in chunks of
 * TDSM_WIRE_BATCH pages, the groups (page.h: TDSM_CHUNK_SHIFT is
 * TDSM_WIRE_BATCH_SHIFT), and finds a whole batch in one of them.
 */
#define TDSM_WIRE_BATCH		64
#define TDSM_WIRE_BATCH_SHIFT	6	/* log2(TDSM_WIRE_BATCH) */

/* reply flags */
#define TDSM_RF_DATA	0x1	/* the page was written into the request's buffer */

/**
 * struct tdsm_wire_hdr - starts every message
 * @magic: TDSM_WIRE_MAGIC.
 * @version: TDSM_WIRE_VERSION.
 * @type: enum tdsm_wire_type.
 * @src: the sender's node id (must match the connection's peer).
 * @flags: reserved, zero.
 * @len: TDSM_WIRE_MSG_SIZE.
 * @id: request id chosen by the requester, echoed by the reply; never 0.
 */
struct tdsm_wire_hdr {
	__be16 magic;
	__u8 version;
	__u8 type;
	__u8 src;
	__u8 flags;
	__be16 len;
	__be64 id;
};

/**
 * struct tdsm_wire_page - READ, WRITE, FETCH, INVAL, ECHO
 * @addr: global address of the page (page aligned); ECHO: zero.
 * @iova: READ/WRITE/FETCH/ECHO: address of the 4 KiB destination buffer...
 * @rkey: ...and its rkey, registered by the sender of the request for
 *	the receiver only (in that connection's protection domain).
 * @dst: FETCH: the home that sends it (which registered the buffer);
 *	INVAL (MOVED): the page's new home.
 * @mode: FETCH: TDSM_FETCH_KEEP or TDSM_FETCH_DROP, maybe with
 *	TDSM_FETCH_F_LIVE; INVAL: TDSM_INVAL_*;
 *	WRITE: TDSM_ACCESS_F_COPY or 0; READ, ECHO: 0.
 * @reserved: zero.
 * @epoch: FETCH, INVAL: the id of the home's transaction that sends it; a
 *	holder whose copy is not older (it came from this transaction or a
 *	later one) answers TDSM_WS_STALE and keeps it. READ, WRITE: the
 *	epoch of a frame the requester retained after giving the page up and
 *	still owns (the claim: if a write grant to it at that epoch is in
 *	doubt, it took it), else zero; a WRITE with TDSM_ACCESS_F_COPY
 *	claims a live copy and carries zero.
 * @grant_epoch: FETCH with TDSM_FETCH_F_LIVE: the epoch of the write grant
 *	in doubt (never zero); the owner serves a frame it retained only if
 *	it has that epoch. Every other message: zero.
 */
struct tdsm_wire_page {
	__be64 addr;
	__be64 iova;
	__be32 rkey;
	__u8 dst;
	__u8 mode;
	__u8 reserved[2];
	__be32 epoch;
	__be32 grant_epoch;
};

/* ALLOC/FREE flags */
#define TDSM_ALLOC_F_ADMIN	0x1	/* FREE: the caller has CAP_SYS_ADMIN */

/**
 * struct tdsm_wire_alloc - ALLOC, FREE
 * @addr: FREE: global address of the run; ALLOC: zero.
 * @npages: number of pages.
 * @uid: the caller's fsuid, as the initial user namespace sees it (the
 *	cluster is one uid space, as NFS assumes).
 * @flags: FREE: TDSM_ALLOC_F_ADMIN or 0; ALLOC: zero.
 * @reserved: zero.
 */
struct tdsm_wire_alloc {
	__be64 addr;
	__be32 npages;
	__be32 uid;
	__u8 flags;
	__u8 reserved[3];
};

/**
 * struct tdsm_wire_batch - MIGRATE, READV, INVALV, EVICTV, FETCHV, PLACE
 * @addr: global address of the first page of the batch.
 * @iova: the requester's buffer: page i of the batch goes to iova + i * 4 KiB...
 * @rkey: ...under this rkey (INVALV, EVICTV: both zero).
 * @npages: 1 .. TDSM_WIRE_BATCH, not past the end of the group of
 *	TDSM_WIRE_BATCH pages that @addr is in.
 * @dst: INVALV: the pages' new home if a migration moves them, else 0.
 * @reserved: zero.
 * @mask: READV, INVALV, FETCHV: the pages concerned (bit i = page i), not
 *	empty; EVICTV: the read copies dropped; MIGRATE: zero.
 * @epoch: INVALV, FETCHV: the id of the home's transaction (as for INVAL
 *	and FETCH: a copy not older stays, and the page is not served);
 *	others: zero.
 * @reserved2: zero.
 * @wmask: EVICTV: the pages to write back, disjoint from @mask, and
 *	@mask | @wmask not empty; others: zero.
 */
struct tdsm_wire_batch {
	__be64 addr;
	__be64 iova;
	__be32 rkey;
	__u8 npages;
	__u8 dst;
	__u8 reserved[2];
	__be64 mask;
	__be32 epoch;
	__be32 reserved2;
	__be64 wmask;
};

/*
 * WORD ops: a load, a store, the atomic read-modify-writes of
 * TINYDSM_IOC_ATOMIC, in the order of enum tinydsm_atomic_op (word.c),
 * and the wait and wake of TINYDSM_IOC_WAIT and _WAKE (wait.c).
 */
enum {
	TDSM_WORD_LOAD = 0,
	TDSM_WORD_STORE,
	TDSM_WORD_CAS,
	TDSM_WORD_ADD,
	TDSM_WORD_XCHG,
	TDSM_WORD_AND,
	TDSM_WORD_OR,
	TDSM_WORD_WAIT,
	TDSM_WORD_WAKE,
	__TDSM_WORD_MAX
};

/**
 * struct tdsm_wire_word - WORD
 * @addr: global address of the access (not crossing a page; an atomic's
 *	aligned to @width).
 * @value: STORE: the value, in its low @width bytes; an atomic: its
 *	operand (the new value of CAS and XCHG, the addend, the mask), in
 *	@width bytes; LOAD: zero; WAIT, WAKEUP: the waiter's id (1 ..
 *	U32_MAX, the sender's); WAKE: how many to wake (1 .. INT_MAX).
 * @width: 1, 2, 4 or 8; 4 or 8 for an atomic, WAIT, WAKE and WAKEUP.
 * @op: TDSM_WORD_*; TDSM_WORD_WAKE in a WAKEUP.
 * @reserved: zero.
 * @expected: CAS, WAIT: the value expected, in @width bytes; else zero.
 *
 * The reply's addr carries the value loaded, the word's value before an
 * atomic, whether a WAIT was queued (1) or the word differs (0), or how
 * many a WAKE woke.
 */
struct tdsm_wire_word {
	__be64 addr;
	__be64 value;
	__u8 width;
	__u8 op;
	__u8 reserved[6];
	__be64 expected;
};

/**
 * struct tdsm_wire_reply - REPLY
 * @status: enum tdsm_wire_status.
 * @flags: TDSM_RF_*.
 * @addr: ALLOC: global address of the run; WORD: the value loaded;
 *	READ, WRITE granted: the grant's epoch (the home's transaction id),
 *	which the requester keeps with its copy.
 * @home: NOTHOME: the page's home as the replier knows it, 0 if unknown.
 * @reserved: zero.
 */
struct tdsm_wire_reply {
	__be32 status;
	__be32 flags;
	__be64 addr;
	__u8 home;
	__u8 reserved[7];
};

/* TDSM_W_AUTH: the sender's proof that it holds the cluster key. */
struct tdsm_wire_auth {
	__u8 mac[TDSM_WIRE_MAC_LEN];
};

/**
 * struct tdsm_wire_breply - REPLY to MIGRATE, READV, EVICTV or FETCHV
 * @status: enum tdsm_wire_status (the same place as in tdsm_wire_reply).
 * @flags: zero.
 * @done: pages handed over (MIGRATE), served (READV, FETCHV), taken out
 *	of the copyset or written back (EVICTV), bit i = page i.
 * @data: pages whose contents were written into the buffer; EVICTV: the
 *	pages of its wmask whose frame the sender may free (the release).
 * @holders: MIGRATE: the nodes whose copies were invalidated, bit n - 1 =
 *	node n (nodes 1..64).
 * @epoch: the batch's transaction id at the home: READV, the epoch of
 *	every copy it grants; MIGRATE, the epoch of the pages handed over,
 *	which the new home's own transactions must come after.
 */
struct tdsm_wire_breply {
	__be32 status;
	__be32 flags;
	__be64 done;
	__be64 data;
	__be64 holders;
	__be32 epoch;
};

struct tdsm_wire_msg {
	struct tdsm_wire_hdr hdr;
	union {
		struct tdsm_wire_page page;
		struct tdsm_wire_alloc alloc;
		struct tdsm_wire_reply reply;
		struct tdsm_wire_batch batch;
		struct tdsm_wire_breply breply;
		struct tdsm_wire_word word;
		struct tdsm_wire_auth auth;
		__u8 body[TDSM_WIRE_MSG_SIZE - sizeof(struct tdsm_wire_hdr)];
	};
};

/**
 * struct tdsm_wire_hello - private data of a connect request and its accept
 * @magic: TDSM_WIRE_MAGIC.
 * @version: TDSM_WIRE_VERSION.
 * @node_id: the sender's node id.
 * @max_nodes: the sender's max_nodes; must match.
 * @flags: TDSM_HELLO_F_*.
 * @home_nodes: the sender's home_nodes; must match.
 * @reserved0: zero.
 * @region_pages: the sender's region size in pages; must match.
 * @nonce: TDSM_WIRE_NONCE_LEN random bytes, fresh for each connection.
 * @reserved: zero.
 *
 * 40 bytes: a connect request carries at most 56 over rdma_cm on IB/RoCE.
 */
struct tdsm_wire_hello {
	__be16 magic;
	__u8 version;
	__u8 node_id;
	__u8 max_nodes;
	__u8 flags;
	__u8 home_nodes;
	__u8 reserved0;
	__be64 region_pages;
	__u8 nonce[TDSM_WIRE_NONCE_LEN];
	__u8 reserved[8];
};

/*
 * The sender holds the cluster key and will authenticate (TDSM_W_AUTH).
 * Only there for a clear refusal when one end has no key: the proof is
 * the MAC, and a peer that lies about it is refused anyway.
 */
#define TDSM_HELLO_F_KEY	0x01

/* Why a connect request was refused (private data of the reject). */
enum tdsm_wire_reject_reason {
	TDSM_REJ_MALFORMED = 1,	/* no or bad hello */
	TDSM_REJ_VERSION,	/* another protocol version */
	TDSM_REJ_UNKNOWN,	/* not a configured peer (or not one that may connect) */
	TDSM_REJ_MISMATCH,	/* region size, max_nodes or home_nodes differ */
	TDSM_REJ_DUPLICATE,	/* already connected */
	TDSM_REJ_NOKEY,		/* this node has no key and may not go without */
	TDSM_REJ_AUTH,		/* one end has a key, the other not */
};

struct tdsm_wire_reject {
	__be16 magic;
	__u8 version;
	__u8 reason;
};

#endif /* _TDSM_WIRE_H */
