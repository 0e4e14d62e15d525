/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm: tracepoints (events/tinydsm/ in tracefs), for perf, ftrace and
 * libbpf tools. Each says what happened to which page, where the question
 * came from, and how it ended.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM tinydsm

#if !defined(_TDSM_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TDSM_TRACE_H

#include <linux/tracepoint.h>

#include "evict.h"
#include "rdma.h"

/* A user access faulted on a page of the region (before anything is done). */
TRACE_EVENT(tinydsm_fault_start,
	    TP_PROTO(u64 addr, unsigned long ip, bool write),
	    TP_ARGS(addr, ip, write),
	    TP_STRUCT__entry(__field(u64, addr)
			     __field(unsigned long, ip)
			     __field(bool, write)),
	    TP_fast_assign(__entry->addr = addr;
			   __entry->ip = ip;
			   __entry->write = write;),
	    TP_printk("addr=%#llx ip=%#lx %s", __entry->addr, __entry->ip,
		      __entry->write ? "write" : "read")
);

/*
 * ...and how it ended: @err 0 or -errno (SIGBUS), @fetched if the page
 * was not here in a state good enough and this fault got it (from another
 * node, or from the home's own directory when this node is the home).
 */
TRACE_EVENT(tinydsm_fault_end,
	    TP_PROTO(u64 addr, unsigned long ip, bool write, int err, bool fetched),
	    TP_ARGS(addr, ip, write, err, fetched),
	    TP_STRUCT__entry(__field(u64, addr)
			     __field(unsigned long, ip)
			     __field(bool, write)
			     __field(bool, fetched)
			     __field(int, err)),
	    TP_fast_assign(__entry->addr = addr;
			   __entry->ip = ip;
			   __entry->write = write;
			   __entry->fetched = fetched;
			   __entry->err = err;),
	    TP_printk("addr=%#llx ip=%#lx %s%s err=%d", __entry->addr, __entry->ip,
		      __entry->write ? "write" : "read",
		      __entry->fetched ? " fetched" : "", __entry->err)
);

/* The home had the page's owner send it to node @to (FETCH), or itself. */
TRACE_EVENT(tinydsm_fetch,
	    TP_PROTO(u64 addr, u8 owner, u8 to, bool keep, int err),
	    TP_ARGS(addr, owner, to, keep, err),
	    TP_STRUCT__entry(__field(u64, addr)
			     __field(u8, owner)
			     __field(u8, to)
			     __field(bool, keep)
			     __field(int, err)),
	    TP_fast_assign(__entry->addr = addr;
			   __entry->owner = owner;
			   __entry->to = to;
			   __entry->keep = keep;
			   __entry->err = err;),
	    TP_printk("addr=%#llx owner=%u to=%u %s err=%d", __entry->addr,
		      __entry->owner, __entry->to, __entry->keep ? "keep" : "drop",
		      __entry->err)
);

/* The home had node @node drop its copy (INVAL); @moved_to: a migration. */
TRACE_EVENT(tinydsm_invalidate,
	    TP_PROTO(u64 addr, u8 node, u8 moved_to, int err),
	    TP_ARGS(addr, node, moved_to, err),
	    TP_STRUCT__entry(__field(u64, addr)
			     __field(u8, node)
			     __field(u8, moved_to)
			     __field(int, err)),
	    TP_fast_assign(__entry->addr = addr;
			   __entry->node = node;
			   __entry->moved_to = moved_to;
			   __entry->err = err;),
	    TP_printk("addr=%#llx node=%u moved_to=%u err=%d", __entry->addr,
		      __entry->node, __entry->moved_to, __entry->err)
);

/* This node, as the page's home, made @owner its owner (a write). */
TRACE_EVENT(tinydsm_owner,
	    TP_PROTO(u64 addr, u8 old_owner, u8 owner),
	    TP_ARGS(addr, old_owner, owner),
	    TP_STRUCT__entry(__field(u64, addr)
			     __field(u8, old_owner)
			     __field(u8, owner)),
	    TP_fast_assign(__entry->addr = addr;
			   __entry->old_owner = old_owner;
			   __entry->owner = owner;),
	    TP_printk("addr=%#llx owner=%u->%u", __entry->addr, __entry->old_owner,
		      __entry->owner)
);

/* An access site was rewritten (or not: @err) to @form. */
TRACE_EVENT(tinydsm_patch,
	    TP_PROTO(unsigned long site, u8 kind, u8 form, int err),
	    TP_ARGS(site, kind, form, err),
	    TP_STRUCT__entry(__field(unsigned long, site)
			     __field(u8, kind)
			     __field(u8, form)
			     __field(int, err)),
	    TP_fast_assign(__entry->site = site;
			   __entry->kind = kind;
			   __entry->form = form;
			   __entry->err = err;),
	    TP_printk("site=%#lx %s -> %s err=%d", __entry->site,
		      __entry->kind ? "uprobe" : "poke",
		      __entry->form ? "lookup" : "direct", __entry->err)
);

/* A migration batch that this node pulled: @moved of @npages from @from. */
TRACE_EVENT(tinydsm_migrate,
	    TP_PROTO(u64 addr, u32 npages, u8 from, u32 moved, int err),
	    TP_ARGS(addr, npages, from, moved, err),
	    TP_STRUCT__entry(__field(u64, addr)
			     __field(u32, npages)
			     __field(u32, moved)
			     __field(u8, from)
			     __field(int, err)),
	    TP_fast_assign(__entry->addr = addr;
			   __entry->npages = npages;
			   __entry->moved = moved;
			   __entry->from = from;
			   __entry->err = err;),
	    TP_printk("addr=%#llx npages=%u from=%u moved=%u err=%d", __entry->addr,
		      __entry->npages, __entry->from, __entry->moved, __entry->err)
);

/*
 * An EVICTV batch this node sent to @home (evict.c), about the pages from
 * index @first on: @clean read copies it had dropped (the notice), @dirty
 * pages it owned to write back. Fired once the reply was handled, or the
 * call failed (@err, -errno; -EHOSTUNREACH: no connection, nothing sent;
 * the pages owned then stay): the home took @done of them (out of its
 * copyset, or written back), and @released frames went here on its
 * release. @ns: from the send to here.
 */
TRACE_EVENT(tinydsm_evict,
	    TP_PROTO(u8 home, u64 first, u32 clean, u32 dirty, u32 done,
		     u32 released, int err, u64 ns),
	    TP_ARGS(home, first, clean, dirty, done, released, err, ns),
	    TP_STRUCT__entry(__field(u64, first)
			     __field(u64, ns)
			     __field(u32, clean)
			     __field(u32, dirty)
			     __field(u32, done)
			     __field(u32, released)
			     __field(u8, home)
			     __field(int, err)),
	    TP_fast_assign(__entry->first = first;
			   __entry->ns = ns;
			   __entry->clean = clean;
			   __entry->dirty = dirty;
			   __entry->done = done;
			   __entry->released = released;
			   __entry->home = home;
			   __entry->err = err;),
	    TP_printk("home=%u first=%llu clean=%u dirty=%u done=%u released=%u err=%d ns=%llu",
		      __entry->home, __entry->first, __entry->clean,
		      __entry->dirty, __entry->done, __entry->released,
		      __entry->err, __entry->ns)
);

TRACE_DEFINE_ENUM(TDSM_RECLAIM_BUDGET);
TRACE_DEFINE_ENUM(TDSM_RECLAIM_PRESSURE);

/*
 * One run of the reclaim work (evict.c), and why (@reason): it looked at
 * @scanned pages, freed @freed frames (read copies dropped, frames
 * released after a write-back) and took @ns.
 */
TRACE_EVENT(tinydsm_reclaim,
	    TP_PROTO(u8 reason, u64 scanned, u64 freed, u64 ns),
	    TP_ARGS(reason, scanned, freed, ns),
	    TP_STRUCT__entry(__field(u64, scanned)
			     __field(u64, freed)
			     __field(u64, ns)
			     __field(u8, reason)),
	    TP_fast_assign(__entry->scanned = scanned;
			   __entry->freed = freed;
			   __entry->ns = ns;
			   __entry->reason = reason;),
	    TP_printk("reason=%s scanned=%llu freed=%llu ns=%llu",
		      __print_symbolic(__entry->reason,
				       { TDSM_RECLAIM_BUDGET, "budget" },
				       { TDSM_RECLAIM_PRESSURE, "pressure" }),
		      __entry->scanned, __entry->freed, __entry->ns)
);

TRACE_DEFINE_ENUM(TDSM_STEP_REGISTERED);
TRACE_DEFINE_ENUM(TDSM_STEP_POSTED);
TRACE_DEFINE_ENUM(TDSM_STEP_RECEIVED);
TRACE_DEFINE_ENUM(TDSM_STEP_HANDLER);
TRACE_DEFINE_ENUM(TDSM_STEP_LOCKED);
TRACE_DEFINE_ENUM(TDSM_STEP_REPLIED);
TRACE_DEFINE_ENUM(TDSM_STEP_ANSWERED);
TRACE_DEFINE_ENUM(TDSM_STEP_WOKEN);
TRACE_DEFINE_ENUM(TDSM_STEP_SENT);

/*
 * A step (enum tdsm_msg_step) of request @id of type @type exchanged with
 * node @node. On one node, the time between two steps of an id is what
 * that node spent; the wire is the requester's POSTED to ANSWERED less
 * the peer's RECEIVED to REPLIED (the nodes' clocks are never compared).
 */
TRACE_EVENT(tinydsm_msg,
	    TP_PROTO(u8 node, u64 id, u8 type, u8 step),
	    TP_ARGS(node, id, type, step),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(u8, node)
			     __field(u8, type)
			     __field(u8, step)),
	    TP_fast_assign(__entry->id = id;
			   __entry->node = node;
			   __entry->type = type;
			   __entry->step = step;),
	    TP_printk("node=%u id=%#llx type=%u step=%s",
		      __entry->node, __entry->id, __entry->type,
		      __print_symbolic(__entry->step,
				       { TDSM_STEP_REGISTERED, "registered" },
				       { TDSM_STEP_POSTED, "posted" },
				       { TDSM_STEP_RECEIVED, "received" },
				       { TDSM_STEP_HANDLER, "handler" },
				       { TDSM_STEP_LOCKED, "locked" },
				       { TDSM_STEP_REPLIED, "replied" },
				       { TDSM_STEP_ANSWERED, "answered" },
				       { TDSM_STEP_WOKEN, "woken" },
				       { TDSM_STEP_SENT, "sent" }))
);

#endif /* _TDSM_TRACE_H */

/* Out of the kernel tree: define_trace.h finds this file through -I. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
