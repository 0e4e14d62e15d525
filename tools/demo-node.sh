#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs on each node of `make demo` (inside the lab): connect the cluster,
# measure the raw RDMA baseline between node1 and node2, then a timed round
# trip through the pages this node is home of (its own slice of the region).
#   demo-node.sh [PAGES]
set -euo pipefail

pages=${1:-2000}
"$TDSM_TREE/selftests/tinydsm/cluster.sh"
"$TDSM_TREE/selftests/lab/rdma_baseline.sh"

# This node's home slice starts at page (node_id - 1) * region pages / max_nodes.
params=/sys/module/tinydsm/parameters
region_pages=$(($(cat $params/region_size_mb) * 1024 * 1024 / $(getconf PAGESIZE)))
max_nodes=$(cat $params/max_nodes)
first=$(((TDSM_NODE_ID - 1) * (region_pages / max_nodes)))
"$TDSM_TREE/build/tools/region_bench" -n "$pages" -o "$first" | tee "$TDSM_OUT/region.txt"
