/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm-trace: what the BPF program (tinydsm_trace.bpf.c) and its loader
 * (tinydsm_trace.c) share: the tracepoint records as the program reads
 * them, and the layout of its counters and maps.
 *
 * The records mirror TP_STRUCT__entry() of kmod/trace.h after the common
 * header. They are not relocated (the module's events have no BTF the
 * program could be relocated against), so the loader compares every field
 * here with the event's format file in tracefs before it loads anything.
 */
#ifndef TINYDSM_TRACE_H
#define TINYDSM_TRACE_H

#ifndef __VMLINUX_H__
#include <stdbool.h>
#include <linux/types.h>

/* The common header of every trace record (struct trace_entry in vmlinux.h). */
struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
};
#endif

struct tdsm_tp_fault_start {
	struct trace_entry ent;
	__u64 addr;
	unsigned long ip;
	bool write;
};

struct tdsm_tp_fault_end {
	struct trace_entry ent;
	__u64 addr;
	unsigned long ip;
	bool write;
	bool fetched;
	int err;
};

struct tdsm_tp_fetch {
	struct trace_entry ent;
	__u64 addr;
	__u8 owner;
	__u8 to;
	bool keep;
	int err;
};

struct tdsm_tp_invalidate {
	struct trace_entry ent;
	__u64 addr;
	__u8 node;
	__u8 moved_to;
	int err;
};

struct tdsm_tp_owner {
	struct trace_entry ent;
	__u64 addr;
	__u8 old_owner;
	__u8 owner;
};

struct tdsm_tp_patch {
	struct trace_entry ent;
	unsigned long site;
	__u8 kind;
	__u8 form;
	int err;
};

struct tdsm_tp_migrate {
	struct trace_entry ent;
	__u64 addr;
	__u32 npages;
	__u32 moved;
	__u8 from;
	int err;
};

struct tdsm_tp_evict {
	struct trace_entry ent;
	__u64 first;
	__u64 ns;
	__u32 clean;
	__u32 dirty;
	__u32 done;
	__u32 released;
	__u8 home;
	int err;
};

struct tdsm_tp_reclaim {
	struct trace_entry ent;
	__u64 scanned;
	__u64 freed;
	__u64 ns;
	__u8 reason;
};

/* tdsm_tp_reclaim.reason (enum tdsm_reclaim_reason in kmod/evict.h) */
#define TDSM_RECLAIM_PRESSURE	1

/* Indexes into the program's counts[] (global, read through the skeleton). */
enum tdsm_count {
	TDSM_C_FAULTS,		/* fault_end events of the traced process(es) */
	TDSM_C_READS,
	TDSM_C_WRITES,
	TDSM_C_FETCHED,		/* ...that brought the page here */
	TDSM_C_FAILED,		/* ...that ended with err != 0 (SIGBUS) */
	TDSM_C_UNMATCHED,	/* ...without a start seen (no latency) */
	TDSM_C_DROP_PAGES,	/* not in pages: the map was full */
	TDSM_C_DROP_IPS,	/* not in ips: the map was full */
	TDSM_C_FETCH,		/* node-wide protocol events from here on */
	TDSM_C_FETCH_ERR,
	TDSM_C_INVAL,
	TDSM_C_INVAL_ERR,
	TDSM_C_OWNER,
	TDSM_C_PATCH,
	TDSM_C_PATCH_ERR,
	TDSM_C_MIGRATE,
	TDSM_C_MIGRATE_ERR,
	TDSM_C_MIGRATED_PAGES,
	TDSM_C_EVICT,		/* EVICTV batches this node sent */
	TDSM_C_EVICT_ERR,
	TDSM_C_EVICT_CLEAN,	/* ...the read copies they named */
	TDSM_C_EVICT_DIRTY,	/* ...the pages to write back they named */
	TDSM_C_EVICT_RELEASED,	/* ...the frames freed on the home's release */
	TDSM_C_RECLAIM,		/* runs of the reclaim work */
	TDSM_C_RECLAIM_PRESSURE, /* ...for memory pressure (else the budget) */
	TDSM_C_RECLAIM_FREED,	/* ...the frames they freed */
	TDSM_C_MAX
};

/*
 * Latency slots: slot 0 holds faults under 1 us, slot i >= 1 those of
 * [2^(i-1), 2^i) us; the last slot also holds everything longer.
 */
#define TDSM_HIST_SLOTS		27	/* up to about a minute */
/*
 * Batch size slots, the same way in pages: slot i >= 1 holds batches of
 * [2^(i-1), 2^i) pages, the last one the full batches of 64.
 */
#define TDSM_BATCH_SLOTS	8

#define TDSM_MAX_THREADS	16384	/* faults in flight (one per thread) */
#define TDSM_MAX_PAGES		65536	/* distinct pages counted per page */
#define TDSM_MAX_IPS		16384	/* distinct (process, IP) pairs */

struct tdsm_ip_key {
	__u32 tgid;
	__u32 pad;		/* zero: the key is hashed as bytes */
	__u64 ip;
};

#endif /* TINYDSM_TRACE_H */
