// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm-trace: the BPF side. Counts the faults on tinydsm's region (per
 * page, per faulting user IP, read/write, fetched, failed), their latency
 * from tinydsm_fault_start to tinydsm_fault_end of the same thread, the
 * node's protocol events, and its cache's eviction batches (their sizes)
 * and reclaim runs (their latency). User space (tinydsm_trace.c) reads it
 * all.
 *
 * Built once against a vmlinux.h of the build host: the only kernel types
 * used are the helpers' and struct trace_entry, and the records of the
 * module's events are checked against tracefs by the loader, so the same
 * object runs on every kernel the module builds for.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "tinydsm_trace.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load: the process to trace (0: every one). */
const volatile __u32 targ_tgid;
/* ~(page size - 1): the fault address to its page. */
const volatile __u64 page_mask = ~0xfffULL;

/* Global data: user space reads it through the skeleton's mmap of .bss. */
__u64 counts[TDSM_C_MAX];
__u64 hist[TDSM_HIST_SLOTS];
__u64 batch_hist[TDSM_BATCH_SLOTS];	/* pages per EVICTV batch */
__u64 reclaim_hist[TDSM_HIST_SLOTS];	/* reclaim run latency, us */

/* Thread id -> ktime of its fault_start. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TDSM_MAX_THREADS);
	__type(key, __u32);
	__type(value, __u64);
} starts SEC(".maps");

/* Page address -> faults on it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TDSM_MAX_PAGES);
	__type(key, __u64);
	__type(value, __u64);
} pages SEC(".maps");

/* (tgid, user IP) -> faults there. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TDSM_MAX_IPS);
	__type(key, struct tdsm_ip_key);
	__type(value, __u64);
} ips SEC(".maps");

static __always_inline void count(enum tdsm_count c, __u64 n)
{
	__sync_fetch_and_add(&counts[c], n);
}

static __always_inline bool traced(__u64 pid_tgid)
{
	return !targ_tgid || (__u32)(pid_tgid >> 32) == targ_tgid;
}

/* Number of significant bits of @v: 0 for 0, 1 for 1, 2 for 2..3, ... */
static __always_inline __u64 bits(__u64 v)
{
	__u64 n = 0;

	if (v >> 32) {
		v >>= 32;
		n += 32;
	}
	if (v >> 16) {
		v >>= 16;
		n += 16;
	}
	if (v >> 8) {
		v >>= 8;
		n += 8;
	}
	if (v >> 4) {
		v >>= 4;
		n += 4;
	}
	if (v >> 2) {
		v >>= 2;
		n += 2;
	}
	if (v >> 1) {
		v >>= 1;
		n += 1;
	}
	return n + v;
}

/* The log2 slot of @v: bits(v), the last slot for anything above. */
static __always_inline __u64 slot_of(__u64 v, __u64 nslots)
{
	__u64 slot = bits(v);

	return slot < nslots ? slot : nslots - 1;
}

/*
 * Add one to @key's counter in @map. A new key is inserted with NOEXIST so
 * that two CPUs inserting it at once do not lose a count; a full map is
 * counted in @drop instead.
 */
static __always_inline void bump(void *map, const void *key, enum tdsm_count drop)
{
	__u64 one = 1, *v;
	long err;

	v = bpf_map_lookup_elem(map, key);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return;
	}
	err = bpf_map_update_elem(map, key, &one, BPF_NOEXIST);
	if (!err)
		return;
	v = bpf_map_lookup_elem(map, key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		count(drop, 1);
}

SEC("tracepoint/tinydsm/tinydsm_fault_start")
int tdsm_fault_start(struct tdsm_tp_fault_start *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), ts;
	__u32 tid = (__u32)id;

	if (!traced(id))
		return 0;
	ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&starts, &tid, &ts, BPF_ANY);
	return 0;
}

SEC("tracepoint/tinydsm/tinydsm_fault_end")
int tdsm_fault_end(struct tdsm_tp_fault_end *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), *start, page, us, slot;
	struct tdsm_ip_key ik = {};
	__u32 tid = (__u32)id;

	if (!traced(id))
		return 0;

	start = bpf_map_lookup_elem(&starts, &tid);
	if (start) {
		us = (bpf_ktime_get_ns() - *start) / 1000;
		bpf_map_delete_elem(&starts, &tid);
		slot = slot_of(us, TDSM_HIST_SLOTS);
		__sync_fetch_and_add(&hist[slot], 1);
	} else {
		/* Attached between this fault's start and its end. */
		count(TDSM_C_UNMATCHED, 1);
	}

	count(TDSM_C_FAULTS, 1);
	count(ctx->write ? TDSM_C_WRITES : TDSM_C_READS, 1);
	if (ctx->fetched)
		count(TDSM_C_FETCHED, 1);
	if (ctx->err)
		count(TDSM_C_FAILED, 1);

	page = ctx->addr & page_mask;
	bump(&pages, &page, TDSM_C_DROP_PAGES);
	ik.tgid = id >> 32;
	ik.ip = ctx->ip;
	bump(&ips, &ik, TDSM_C_DROP_IPS);
	return 0;
}

/*
 * The protocol events happen mostly in the module's workers, on behalf of
 * other nodes: they are the node's, never filtered by process.
 */
SEC("tracepoint/tinydsm/tinydsm_fetch")
int tdsm_fetch(struct tdsm_tp_fetch *ctx)
{
	count(TDSM_C_FETCH, 1);
	if (ctx->err)
		count(TDSM_C_FETCH_ERR, 1);
	return 0;
}

SEC("tracepoint/tinydsm/tinydsm_invalidate")
int tdsm_invalidate(struct tdsm_tp_invalidate *ctx)
{
	count(TDSM_C_INVAL, 1);
	if (ctx->err)
		count(TDSM_C_INVAL_ERR, 1);
	return 0;
}

SEC("tracepoint/tinydsm/tinydsm_owner")
int tdsm_owner(struct tdsm_tp_owner *ctx)
{
	count(TDSM_C_OWNER, 1);
	return 0;
}

SEC("tracepoint/tinydsm/tinydsm_patch")
int tdsm_patch(struct tdsm_tp_patch *ctx)
{
	count(TDSM_C_PATCH, 1);
	if (ctx->err)
		count(TDSM_C_PATCH_ERR, 1);
	return 0;
}

SEC("tracepoint/tinydsm/tinydsm_migrate")
int tdsm_migrate(struct tdsm_tp_migrate *ctx)
{
	count(TDSM_C_MIGRATE, 1);
	if (ctx->err)
		count(TDSM_C_MIGRATE_ERR, 1);
	count(TDSM_C_MIGRATED_PAGES, ctx->moved);
	return 0;
}

/* The cache's events: the reclaim work's, the node's too. */
SEC("tracepoint/tinydsm/tinydsm_evict")
int tdsm_evict(struct tdsm_tp_evict *ctx)
{
	__u64 slot = slot_of((__u64)ctx->clean + ctx->dirty, TDSM_BATCH_SLOTS);

	count(TDSM_C_EVICT, 1);
	if (ctx->err)
		count(TDSM_C_EVICT_ERR, 1);
	count(TDSM_C_EVICT_CLEAN, ctx->clean);
	count(TDSM_C_EVICT_DIRTY, ctx->dirty);
	count(TDSM_C_EVICT_RELEASED, ctx->released);
	__sync_fetch_and_add(&batch_hist[slot], 1);
	return 0;
}

SEC("tracepoint/tinydsm/tinydsm_reclaim")
int tdsm_reclaim(struct tdsm_tp_reclaim *ctx)
{
	__u64 slot = slot_of(ctx->ns / 1000, TDSM_HIST_SLOTS);

	count(TDSM_C_RECLAIM, 1);
	if (ctx->reason == TDSM_RECLAIM_PRESSURE)
		count(TDSM_C_RECLAIM_PRESSURE, 1);
	count(TDSM_C_RECLAIM_FREED, ctx->freed);
	__sync_fetch_and_add(&reclaim_hist[slot], 1);
	return 0;
}
