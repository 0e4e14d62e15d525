#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tinydsm's allocator study: a lab SCRIPT (selftests/lab/lab.sh --nodes 3,
# or 2, with --module-args "region_size_mb=1024": slices of 256 MiB), run
# by tools/bench.sh --only alloc. The figures and their exact definitions:
# tools/bench/README.md, "The allocator study".
#
# node1 runs tools/bench/alloc_bench once per strategy, one after another,
# each a job of one rank of its own (the program is its own launcher), with
# TDSM_ALLOC_THREADS threads, the same workload (sizes and operations drawn
# from TDSM_ALLOC_SEED) every time:
#   1. page:  one tdsm_alloc() per malloc, one tdsm_free() per free;
#   2. chunk: a per-process allocator over 1 MiB chunks, each one
#      tdsm_alloc() (glibc's heaps, in small);
#   3. arena: libtinydsm's heap (tdsm_malloc(), tdsm_mfree()).
# Every run is homed on node1: the module's counters (node1's, before and
# after each run, in the program) say that nothing came from another node.
# The other nodes join the cluster and wait for node1 (agents.sh): nothing
# of theirs is measured; at the end every node's counters are logged.
#
# Results (node1): TDSM_OUT/alloc.env (key=value: alloc_<strategy>_*, and
# each run's exit status, alloc_<strategy>_rc), alloc.csv, summary.txt
# (the table, also printed). Exit status 0 only if every strategy ran and
# passed its own checks (contents, overlap, everything freed) and every
# figure was measured.
#
# Environment (forwarded from the host by lab.sh):
#   TDSM_ALLOC_ROUNDS     rounds (10)
#   TDSM_ALLOC_OPS        mallocs and frees per round, per thread (2000)
#   TDSM_ALLOC_THREADS    threads of the process (2)
#   TDSM_ALLOC_MAX_LIVE   live blocks per thread, at most (1000)
#   TDSM_ALLOC_SEED       the workload's seed (1)
#   TDSM_ALLOC_LARGE_PCT  blocks of 4 KiB .. MAX_SIZE, percent (10)
#   TDSM_ALLOC_MAX_SIZE   the largest block, bytes (262144)
set -uo pipefail

ROUNDS=${TDSM_ALLOC_ROUNDS:-10}
OPS=${TDSM_ALLOC_OPS:-2000}
THREADS=${TDSM_ALLOC_THREADS:-2}
MAX_LIVE=${TDSM_ALLOC_MAX_LIVE:-1000}
SEED=${TDSM_ALLOC_SEED:-1}
LARGE_PCT=${TDSM_ALLOC_LARGE_PCT:-10}
MAX_SIZE=${TDSM_ALLOC_MAX_SIZE:-262144}
STRATEGIES=(page chunk arena)

ID=$TDSM_NODE_ID
NODES=$TDSM_NODES
TREE=$TDSM_TREE
AB=$TREE/build/tools/alloc_bench
RB=$TREE/build/tools/remote_bench
SH=$TDSM_SHARED/allocbench
ENV=$TDSM_OUT/alloc.env
# Any one strategy: the page strategy's, one ALLOC and one FREE a malloc
# and first touches of every page it gets (a few ms each under TCG, for
# up to ROUNDS x OPS x THREADS mallocs), with room; three of them stay
# inside tools/bench.sh's lab timeout (900 s) if one hangs.
STEP_TIMEOUT=${TDSM_BENCH_STEP_TIMEOUT:-240}

log() { printf '[%s +%ss] %s\n' "$(date +%T)" "$SECONDS" "$*"; }

for f in "$AB" "$RB"; do
	[[ -x $f ]] || { echo "alloc_bench.sh: $f is not built"; exit 1; }
done
if ((NODES < 2 || NODES > 3)); then
	echo "alloc_bench.sh: needs 2 or 3 nodes, have $NODES: skipping"
	exit 4
fi
for v in ROUNDS OPS THREADS MAX_LIVE; do
	if ! [[ ${!v} =~ ^[1-9][0-9]{0,6}$ ]]; then
		echo "alloc_bench.sh: $v=${!v}: want a count, 1 .. 9999999"
		exit 1
	fi
done
((THREADS <= 64)) || { echo "alloc_bench.sh: TDSM_ALLOC_THREADS: 64 at most"; exit 1; }
((ROUNDS * OPS <= 4000000)) ||
	{ echo "alloc_bench.sh: TDSM_ALLOC_ROUNDS x TDSM_ALLOC_OPS: 4000000 at most"; exit 1; }
[[ $SEED =~ ^[0-9]{1,18}$ ]] || { echo "alloc_bench.sh: TDSM_ALLOC_SEED=$SEED: want a number"; exit 1; }
if ! [[ $LARGE_PCT =~ ^[0-9]{1,3}$ ]] || ((LARGE_PCT > 100)); then
	echo "alloc_bench.sh: TDSM_ALLOC_LARGE_PCT=$LARGE_PCT: want 0 .. 100"
	exit 1
fi
if ! [[ $MAX_SIZE =~ ^[1-9][0-9]{0,7}$ ]] || ((MAX_SIZE < 8192 || MAX_SIZE > 4194304)); then
	echo "alloc_bench.sh: TDSM_ALLOC_MAX_SIZE=$MAX_SIZE: want 8192 .. 4194304 bytes"
	exit 1
fi
mkdir -p "$SH"

# alloc_bench, bounded twice: its own watchdog (-T), then timeout
ab() { timeout $((STEP_TIMEOUT + 30)) "$AB" "$@" -T "$STEP_TIMEOUT"; }
rb() { timeout "$STEP_TIMEOUT" "$RB" "$@"; }

# ---------------------------------------------------------------- peers
# shellcheck source=selftests/tinydsm/cluster.sh
source "$TREE/selftests/tinydsm/cluster.sh"
# shellcheck source=tools/bench/agents.sh
source "$TREE/tools/bench/agents.sh"

# ---------------------------------------------------------------- agents
# nodes 2 and 3 wait for node1's end (its counters' command, then exit).
((ID == 1)) || agent_node $((4 * STEP_TIMEOUT))

# ---------------------------------------------------------------- node1

fig() { # fig page|chunk|arena
	local rc=0
	ab -s "$1" -r "$ROUNDS" -o "$OPS" -t "$THREADS" -m "$MAX_LIVE" -S "$SEED" \
		-L "$LARGE_PCT" -M "$MAX_SIZE" -e "$ENV" || rc=$?
	echo "alloc_$1_rc=$rc" >>"$ENV"
	return "$rc"
}

trap 'agents_exit' EXIT

: >"$ENV"
{
	echo "kver=$TDSM_KVER"
	echo "nodes=$NODES"
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "alloc_node=1"
	echo "alloc_strategies=${STRATEGIES[*]}"
	echo "alloc_rounds=$ROUNDS"
	echo "alloc_ops=$OPS"
	echo "alloc_threads=$THREADS"
	echo "alloc_max_live=$MAX_LIVE"
	echo "alloc_seed=$SEED"
	echo "alloc_large_pct=$LARGE_PCT"
	echo "alloc_max_size=$MAX_SIZE"
	echo "guest_cpus=$(nproc)"
	for p in max_nodes home_nodes region_size_mb; do
		echo "$p=$(cat "/sys/module/tinydsm/parameters/$p" 2>/dev/null)"
	done
	echo "module_sha256=$(sha256sum "$TREE/build/$TDSM_KVER/tinydsm.ko" | cut -c1-16)"
} >>"$ENV"
log "alloc_bench: node1, ${STRATEGIES[*]}; $THREADS threads x $ROUNDS rounds x $OPS mallocs and frees, at most $MAX_LIVE live blocks a thread"

phase connect tdsm_cluster_up
if [[ " ${FAILED_PHASES[*]} " == *" connect "* ]]; then
	touch "$SH/abort"
	exit 1
fi
log "peers up"

for s in "${STRATEGIES[@]}"; do
	phase "$s" fig "$s"
done

end_counters rb
failures >>"$ENV"

echo
"$TREE/tools/report/report.py" alloc -c "$TDSM_OUT/alloc.csv" "$ENV" | tee "$TDSM_OUT/summary.txt"
none_failed &&
	grep -q '^alloc bench figures_missing=0$' "$TDSM_OUT/summary.txt" &&
	! grep -q 'alloc bench WARNING' "$TDSM_OUT/summary.txt"
