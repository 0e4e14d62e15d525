#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs on each node of `make demo` (inside the lab): the raw RDMA baseline
# between node1 and node2, then a timed round trip through the local region.
#   demo-node.sh [PAGES]
set -euo pipefail

pages=${1:-2000}
"$TDSM_TREE/selftests/lab/rdma_baseline.sh"
"$TDSM_TREE/build/tools/region_bench" -n "$pages" | tee "$TDSM_OUT/region.txt"
