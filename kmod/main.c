// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: distributed shared memory for Linux — module init and exit.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>

#include "tinydsm.h"

#define TDSM_REGION_MIN_MB	1
#define TDSM_REGION_MAX_MB	16384	/* 16 GiB: 128 MiB of page metadata */

static unsigned int node_id = 1;
module_param(node_id, uint, 0444);
MODULE_PARM_DESC(node_id, "this node's id, 1..31 (default 1)");

static unsigned int region_size_mb = 256;
module_param(region_size_mb, uint, 0444);
MODULE_PARM_DESC(region_size_mb, "region size in MiB, 1..16384 (default 256)");

struct tdsm_region tdsm_region;

static int __init tdsm_init(void)
{
	int err;

	if (node_id < 1 || node_id >= TINYDSM_MAX_NODES) {
		pr_err("node_id=%u is out of range 1..%u\n", node_id,
		       TINYDSM_MAX_NODES - 1);
		return -EINVAL;
	}
	if (region_size_mb < TDSM_REGION_MIN_MB ||
	    region_size_mb > TDSM_REGION_MAX_MB) {
		pr_err("region_size_mb=%u is out of range %u..%u\n",
		       region_size_mb, TDSM_REGION_MIN_MB, TDSM_REGION_MAX_MB);
		return -EINVAL;
	}
	tdsm_region.node_id = node_id;

	err = tdsm_pages_init(&tdsm_region,
			      (unsigned long)region_size_mb << (20 - PAGE_SHIFT));
	if (err)
		return err;
	err = tdsm_region_init();
	if (err)
		goto err_pages;

	pr_info("node %u: region %#llx-%#llx (%u MiB), %zu bytes of metadata per page\n",
		node_id, TINYDSM_REGION_BASE,
		TINYDSM_REGION_BASE + tdsm_region.size, region_size_mb,
		sizeof(struct tdsm_page));
	return 0;

err_pages:
	tdsm_pages_exit(&tdsm_region);
	return err;
}

static void __exit tdsm_exit(void)
{
	tdsm_region_exit();
	tdsm_pages_exit(&tdsm_region);
	pr_info("unloaded\n");
}

module_init(tdsm_init);
module_exit(tdsm_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("The tinydsm developers");
MODULE_DESCRIPTION("tinydsm: distributed shared memory over RDMA");
MODULE_VERSION("0.1");
