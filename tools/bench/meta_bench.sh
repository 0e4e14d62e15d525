#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tinydsm's metadata benchmark: a lab SCRIPT (selftests/lab/lab.sh --nodes 1,
# with --module-args "max_nodes=1 region_size_mb=16777216", a 16 TiB region,
# and --mem large enough for the pages touched), run by tools/bench.sh. The
# figures and their exact definitions: tools/bench/README.md.
#
# The one node ALLOCs a run of TDSM_META_MB MiB homed on itself, writes one
# word in every page of it (first touches on the home: no RDMA), and puts
# its metadata (TINYDSM_IOC_STATS meta_bytes, chunks) and /proc/meminfo's
# MemFree and Slab before and after; then FREEs the run and waits for the
# chunk worker (tools/bench/meta_bench.c).
#
# Results (node1): TDSM_OUT/meta.env (key=value), summary.txt (the same
# lines, also printed).
#
# Environment (forwarded from the host by lab.sh):
#   TDSM_META_MB     MiB touched (1024)
set -uo pipefail

MB=${TDSM_META_MB:-1024}

TREE=$TDSM_TREE
MB_BIN=$TREE/build/tools/meta_bench
ENV=$TDSM_OUT/meta.env
# 1 GiB of first touches is a few hundred thousand local faults: minutes
# at most under TCG, with room; and the 20 s wait for the chunk worker.
STEP_TIMEOUT=${TDSM_BENCH_STEP_TIMEOUT:-600}

log() { printf '[%s +%ss] %s\n' "$(date +%T)" "$SECONDS" "$*"; }

[[ -x $MB_BIN ]] || { echo "meta_bench.sh: $MB_BIN is not built"; exit 1; }
if ((TDSM_NODES != 1)); then
	echo "meta_bench.sh: needs 1 node, have $TDSM_NODES: skipping"
	exit 4
fi
if ! [[ $MB =~ ^[1-9][0-9]*$ ]]; then
	echo "meta_bench.sh: TDSM_META_MB=$MB: want a number of MiB"
	exit 1
fi

: >"$ENV"
{
	echo "kver=$TDSM_KVER"
	echo "nodes=$TDSM_NODES"
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "meta_mb=$MB"
	echo "guest_mem_mb=$(awk '/^MemTotal/ { print int($2 / 1024) }' /proc/meminfo)"
	for p in max_nodes home_nodes region_size_mb; do
		echo "$p=$(cat "/sys/module/tinydsm/parameters/$p" 2>/dev/null)"
	done
	echo "module_sha256=$(sha256sum "$TREE/build/$TDSM_KVER/tinydsm.ko" | cut -c1-16)"
} >>"$ENV"
log "meta_bench: $MB MiB touched on node $TDSM_NODE_ID's home slice"

rc=0
timeout "$STEP_TIMEOUT" "$MB_BIN" -m "$MB" -e "$ENV" || rc=$?
log "meta_bench exited with $rc"
echo "meta_bench_rc=$rc" >>"$ENV"

echo
{
	echo "metadata of a region (tools/bench/README.md, \"The metadata benchmark\"):"
	cat "$ENV"
	# FREE gives every chunk of the run back (meta_test asserts it too)
	if ((rc == 0)) && ! grep -q '^chunks_freed=yes$' "$ENV"; then
		echo "meta bench WARNING: the run's chunks were not all freed within 20 s of its FREE"
	fi
} | tee "$TDSM_OUT/summary.txt"
grep -q 'meta bench WARNING' "$TDSM_OUT/summary.txt" && rc=1
exit "$rc"
