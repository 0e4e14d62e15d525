// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: distributed shared memory for Linux — module init and exit.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>

#include "auth.h"
#include "echo.h"
#include "evict.h"
#include "frame.h"
#include "inject.h"
#include "netlink.h"
#include "page.h"
#include "peer.h"
#include "rdma.h"
#include "region.h"
#include "site.h"
#include "tinydsm.h"
#include "wait.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

#define TDSM_REGION_MIN_MB	1
/*
 * 16 TiB. A node pays for the pages it uses or homes, not for the region:
 * page metadata is made per 64-page chunk on first use, the translation
 * table per page of it when used or read, a run of ALLOC is a range in a
 * tree, and nothing at load or unload walks the region's pages. The limit
 * is the address space (below). 16 TiB is 2^32 pages: page indices are
 * unsigned long throughout; a run (tinydsm_alloc.npages, a u32) is at most
 * 2^32 - 1 pages, which is less than a slice only with a single home.
 */
#define TDSM_REGION_MAX_MB	16777216
#define TDSM_TIMEOUT_MIN_MS	1
#define TDSM_TIMEOUT_MAX_MS	600000	/* 10 minutes */

/*
 * The region lies below ELF_ET_DYN_BASE (0x555555554aaa on x86-64, about
 * 85 TiB, where PIE text and brk go) and far below the top-down mmap area
 * (128 TiB less the stack gap and up to 1 TiB of randomisation), at its
 * largest: 64 TiB + 16 TiB = 80 TiB. A bigger region would need a lower
 * base, which moves every pointer stored in shared memory.
 */
static_assert(TINYDSM_REGION_BASE + ((u64)TDSM_REGION_MAX_MB << 20) <=
	      0x550000000000ULL);
/* The translation table's mmap offset lies past every region offset. */
static_assert(((u64)TDSM_REGION_MAX_MB << 20) <= TINYDSM_XLATE_OFFSET);

static unsigned int node_id = 1;
module_param(node_id, uint, 0444);
MODULE_PARM_DESC(node_id, "this node's id, 1..64 (default 1)");

static unsigned int max_nodes = 4;
module_param(max_nodes, uint, 0444);
MODULE_PARM_DESC(max_nodes, "the highest node id, the same on every node, 1..64 (default 4)");

/*
 * Nodes 1..home_nodes home one slice each; nodes above home nothing (they
 * cache and ALLOC elsewhere). Unset (UINT_MAX) means max_nodes, so that
 * sysfs shows the value in force once loaded.
 */
static unsigned int home_nodes = UINT_MAX;
module_param(home_nodes, uint, 0444);
MODULE_PARM_DESC(home_nodes, "nodes that home a slice, the same on every node, 1..max_nodes (default max_nodes)");

static unsigned int region_size_mb = 256;
module_param(region_size_mb, uint, 0444);
MODULE_PARM_DESC(region_size_mb, "region size in MiB, 1..16777216 (16 TiB; default 256)");

/*
 * Every wait on a peer is bounded by timeout_ms (rdma.h). 0 would make
 * those waits end at once, so that a fault, a reconnect or an ack would
 * spin instead of waiting; a value near UINT_MAX overflows the jiffies
 * arithmetic of the deadlines (jiffies + msecs_to_jiffies()). So the value
 * is checked whenever it is set, at load time and when written to
 * /sys/module/tinydsm/parameters/timeout_ms later: out of range, it is
 * refused with -EINVAL and the value in force stays. Readers read it
 * without a lock: an unsigned int, written once per set.
 */
unsigned int tdsm_timeout_ms = 3000;

static int tdsm_timeout_ms_set(const char *val, const struct kernel_param *kp)
{
	unsigned int ms;

	if (kstrtouint(val, 0, &ms) || ms < TDSM_TIMEOUT_MIN_MS ||
	    ms > TDSM_TIMEOUT_MAX_MS) {
		pr_err("timeout_ms=%.*s: not a number of milliseconds in %u..%u\n",
		       (int)strcspn(val, "\n"), val, TDSM_TIMEOUT_MIN_MS,
		       TDSM_TIMEOUT_MAX_MS);
		return -EINVAL;
	}
	WRITE_ONCE(*(unsigned int *)kp->arg, ms);
	return 0;
}

static const struct kernel_param_ops tdsm_timeout_ms_ops = {
	.set = tdsm_timeout_ms_set,
	.get = param_get_uint,
};

module_param_cb(timeout_ms, &tdsm_timeout_ms_ops, &tdsm_timeout_ms, 0644);
__MODULE_PARM_TYPE(timeout_ms, "uint");
MODULE_PARM_DESC(timeout_ms, "how long to wait for a peer, ms, 1..600000 (default 3000)");

struct tdsm_region tdsm_region;

static int __init tdsm_init(void)
{
	unsigned long npages, slice_pages;
	bool region_up = false;
	int err;

	if (node_id < 1 || node_id > TDSM_NODES_MAX) {
		pr_err("node_id=%u is out of range 1..%u\n", node_id,
		       TDSM_NODES_MAX);
		return -EINVAL;
	}
	if (region_size_mb < TDSM_REGION_MIN_MB ||
	    region_size_mb > TDSM_REGION_MAX_MB) {
		pr_err("region_size_mb=%u is out of range %u..%u\n",
		       region_size_mb, TDSM_REGION_MIN_MB, TDSM_REGION_MAX_MB);
		return -EINVAL;
	}
	if (max_nodes < 1 || max_nodes > TDSM_NODES_MAX || node_id > max_nodes) {
		pr_err("max_nodes=%u must be 1..%u and at least node_id=%u\n",
		       max_nodes, TDSM_NODES_MAX, node_id);
		return -EINVAL;
	}
	if (home_nodes == UINT_MAX)
		home_nodes = max_nodes;
	if (home_nodes < 1 || home_nodes > max_nodes) {
		pr_err("home_nodes=%u must be 1..max_nodes=%u\n", home_nodes,
		       max_nodes);
		return -EINVAL;
	}
	/* Equal home slices of whole chunks: one default home per chunk. */
	npages = (unsigned long)region_size_mb << (20 - PAGE_SHIFT);
	slice_pages = round_down(npages / home_nodes, TDSM_SLICE_ALIGN);
	if (!slice_pages) {
		pr_err("region_size_mb=%u is too small for home_nodes=%u slices of %u pages\n",
		       region_size_mb, home_nodes, TDSM_SLICE_ALIGN);
		return -EINVAL;
	}
	npages = slice_pages * home_nodes;
	tdsm_region.node_id = node_id;
	tdsm_region.max_nodes = max_nodes;
	tdsm_region.home_nodes = home_nodes;

	/* Cannot fail: without debugfs the knobs stay 0 (off). */
	tdsm_inject_init();
	tdsm_wait_init();
	err = tdsm_echo_init();
	if (err)
		goto err_inject;
	err = tdsm_pages_init(&tdsm_region, npages);
	if (err)
		goto err_echo;
	err = tdsm_cache_init();
	if (err)
		goto err_pages;
	err = tdsm_patch_init();
	if (err)
		goto err_cache;
	err = tdsm_region_init();
	if (err)
		goto err_patch;
	region_up = true;
	err = tdsm_rdma_init(tdsm_region.node_id, tdsm_region.max_nodes,
			     tdsm_region.home_nodes, tdsm_region.npages);
	if (err)
		goto err_region;
	err = tdsm_peers_init();
	if (err)
		goto err_rdma;
	err = tdsm_netlink_init();
	if (err)
		goto err_peers;

	pr_info("node %u of %u, %u homing: region %#llx-%#llx (%u MiB, %lu pages per home slice), %zu bytes of metadata per page\n",
		node_id, max_nodes, home_nodes, TINYDSM_REGION_BASE,
		TINYDSM_REGION_BASE + tdsm_region.size, region_size_mb,
		tdsm_region.slice_pages, TDSM_PAGE_META_BYTES);
	if (tdsm_allow_unauth)
		pr_warn("allow_unauthenticated: until a cluster key is set, peers are NOT authenticated\n");
	else
		pr_info("no cluster key yet: no connection until one is set (tinydsmctl key set)\n");
	return 0;

err_peers:
	tdsm_peers_exit();
err_rdma:
	tdsm_rdma_exit();
err_region:
	tdsm_region_exit();
err_patch:
	tdsm_patch_exit();
err_cache:
	tdsm_cache_exit();
err_pages:
	tdsm_pages_exit(&tdsm_region);
	if (region_up) {
		tdsm_frames_exit();
		tdsm_region_fs_exit();
	}
err_echo:
	tdsm_echo_exit();
err_inject:
	tdsm_inject_exit();
	return err;
}

/*
 * The reverse of init, but for the generic netlink family, which is torn
 * down in two steps (netlink.c): its commands are closed first, because
 * they reach everything below; the family itself goes last, because the
 * teardown sends events (a NODE_DOWN per connection, and whatever the
 * transport's handlers send until tdsm_rdma_exit() has flushed them), and
 * an event may only be sent while the family is registered.
 */
static void __exit tdsm_exit(void)
{
	tdsm_netlink_stop();
	tdsm_cache_stop();	/* it sends notices to peers */
	tdsm_peers_exit();
	tdsm_rdma_exit();
	tdsm_wait_exit();	/* no handler queues or wakes any more */
	tdsm_echo_exit();	/* no handler sends its page any more */
	tdsm_region_exit();
	tdsm_patch_exit();
	tdsm_cache_exit();
	tdsm_pages_exit(&tdsm_region);
	tdsm_frames_exit();	/* every frame released: their names go */
	tdsm_region_fs_exit();	/* then the address space they named */
	tdsm_netlink_exit();
	tdsm_auth_exit();	/* no connection is left that could use the key */
	tdsm_inject_exit();
	pr_info("unloaded\n");
}

module_init(tdsm_init);
module_exit(tdsm_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("The tinydsm developers");
MODULE_DESCRIPTION("tinydsm: distributed shared memory over RDMA");
MODULE_VERSION(TINYDSM_VERSION);
