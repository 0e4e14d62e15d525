#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tinydsm's bounded-cache benchmark: a lab SCRIPT (selftests/lab/lab.sh
# --nodes 2, with --module-args "max_nodes=2 region_size_mb=..." and --mem
# large enough for the data sets), run by tools/bench.sh. The figures and
# their exact definitions: tools/bench/README.md.
#
# node2 is the home: it backs and writes two data sets of D pages each
# (every 8-byte word, tag_pattern(word, tag)). node1 streams them, 2 passes
# each, reading and checking every word (cache_bench stream):
#   1. the raw RDMA baseline, perftest ib_read_lat/ib_read_bw node1 (client)
#      <- node2 (server), the pair and direction the pages travel;
#   2. node1 sets its cache budget to B = D/4 (tinydsmctl region set cache)
#      and streams the first set: eviction on;
#   3. node1 sets the budget to 0 (unlimited; D fits in the guest) and
#      streams the second set, which it never touched: eviction off. This
#      order leaves no copy of the first set for step 2 to evict;
#   4. write-back: node1 sets the budget to B again and writes every word
#      of a third set (D = 4 B pages), 2 passes (a dirty stream: the pages
#      it owns are written back to node2 as they are evicted); then node2
#      reads every word back and checks it;
#   5. the baseline again (drift check).
#
# Results (node1): TDSM_OUT/cache.env (key=value), cache.csv, summary.txt
# (the table, also printed), baseline-pre/ and baseline-post/ (perftest
# logs), samples/<label>_p<pass>.ns (every page's time, ns, in order).
#
# Environment (forwarded from the host by lab.sh):
#   TDSM_CACHE_MB    the data set D in MiB, a multiple of 4 (16)
#   TDSM_BASELINE_LAT_ITERS, TDSM_BASELINE_BW_ITERS: perftest iterations
set -uo pipefail

MB=${TDSM_CACHE_MB:-16}

ID=$TDSM_NODE_ID
NODES=$TDSM_NODES
TREE=$TDSM_TREE
CB=$TREE/build/tools/cache_bench
RB=$TREE/build/tools/remote_bench
CTL=$TREE/build/tools/tinydsmctl
SH=$TDSM_SHARED/cachebench
ENV=$TDSM_OUT/cache.env

log() { printf '[%s +%ss] %s\n' "$(date +%T)" "$SECONDS" "$*"; }

for f in "$CB" "$RB" "$CTL"; do
	[[ -x $f ]] || { echo "cache_bench.sh: $f is not built"; exit 1; }
done
if ((NODES != 2)); then
	echo "cache_bench.sh: needs 2 nodes, have $NODES: skipping"
	exit 4
fi
if ! [[ $MB =~ ^[1-9][0-9]*$ ]] || ((MB % 4)); then
	echo "cache_bench.sh: TDSM_CACHE_MB=$MB: want a multiple of 4 MiB"
	exit 1
fi
N=$((MB * 256))           # D, pages
BUDGET_MB=$((MB / 4))     # B = D/4
# Any one step: a stream is 2 passes of N remote faults (under TCG a few
# hundred a second), with room.
STEP_TIMEOUT=${TDSM_BENCH_STEP_TIMEOUT:-$((300 + N / 10))}
mkdir -p "$SH" "$TDSM_OUT/samples"

rb() { timeout "$STEP_TIMEOUT" "$RB" "$@"; }
cb() { timeout "$STEP_TIMEOUT" "$CB" "$@"; }

# ---------------------------------------------------------------- peers
# shellcheck source=selftests/tinydsm/cluster.sh
source "$TREE/selftests/tinydsm/cluster.sh"
# shellcheck source=tools/bench/agents.sh
source "$TREE/tools/bench/agents.sh"

# ---------------------------------------------------------------- agents
# node2 runs node1's commands; a stream keeps it waiting for the next one.
((ID == 1)) || agent_node $((3 * STEP_TIMEOUT))

# ---------------------------------------------------------------- node1

# The perftest baseline (agents.sh), its figures into $ENV (post_ after)
baseline_figures() { # baseline_figures pre|post
	local rc=0 mpps pre=
	[[ $1 == post ]] && pre=post_
	rdma_baseline_run "$1" || rc=1
	[[ -s $TDSM_OUT/baseline-$1/baseline.env ]] || { echo "no baseline figures"; return 1; }
	mpps=$(bw_mpps "$TDSM_OUT/baseline-$1/ib_read_bw.log") || rc=1
	{
		sed "s/^/$pre/" "$TDSM_OUT/baseline-$1/baseline.env"
		echo "${pre}ib_read_bw_4k_Mpps=${mpps:-}"
	} >>"$ENV"
	return "$rc"
}

# budget SIZE: node1's cache budget (tinydsmctl's sizes; 0: unlimited)
budget() {
	"$CTL" region set cache "$1" || return 1
	log "cache budget $1: $("$CB" stats)"
}

# A data set of N pages homed on node2, every word written there with TAG;
# its address in $A.
A=
dataset() { # dataset TAG
	A=$(rb alloc 2 "$N") || A=
	[[ $A == 0x* ]] || { echo "alloc 2 $N failed"; return 1; }
	rcall 2 cb fill "$A" "$N" -t "$1"
}

# One stream of a set by node1: LABEL's figures in $ENV.
stream() { # stream LABEL ADDR TAG [-w]: -w writes TAG, else reads and checks
	local tag_opt=-v
	[[ ${4:-} == -w ]] && tag_opt=-t
	cb stream "$2" "$N" -P 2 -l "$1" -e "$ENV" -D "$TDSM_OUT/samples" \
		"${@:4}" "$tag_opt" "$3"
}

A_ON='' A_OFF=''
fig_setup() {
	dataset 2 || return 1
	A_ON=$A
	dataset 3 || return 1
	A_OFF=$A
	echo "cache_on_addr=$A_ON" >>"$ENV"
	echo "cache_off_addr=$A_OFF" >>"$ENV"
}

fig_on() {
	[[ -n $A_ON ]] || return 1
	budget "${BUDGET_MB}M" || return 1
	stream cache_on "$A_ON" 2
}

fig_off() {
	[[ -n $A_OFF ]] || return 1
	budget 0 || return 1
	stream cache_off "$A_OFF" 3
}

# Write-back: a dirty stream with budget B (every page node1 writes, it
# owns, and the budget makes it write them back); then the home reads every
# word: what node1 wrote last must be there, from node2's own copies or,
# for the pages node1 still holds, through a fault.
fig_wb() {
	dataset 5 || return 1
	echo "cache_wb_addr=$A" >>"$ENV"
	budget "${BUDGET_MB}M" || return 1
	stream cache_wb "$A" 4 -w || { budget 0; return 1; }
	budget 0 || return 1
	if ! rcall 2 cb check "$A" "$N" -v 4; then
		echo "cache_wb_home_check=failed" >>"$ENV"
		return 1
	fi
	echo "cache_wb_home_check=ok" >>"$ENV"
}

# Whatever happens, the budget back to unlimited and the agent let go.
finish_agents() {
	budget 0 >/dev/null 2>&1
	agents_exit
}
trap 'finish_agents' EXIT

: >"$ENV"
{
	echo "kver=$TDSM_KVER"
	echo "nodes=$NODES"
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "cache_mb=$MB"
	echo "cache_budget_mb=$BUDGET_MB"
	echo "baseline_pair=node1 (client) <- node2 (server)"
	echo "module_sha256=$(sha256sum "$TREE/build/$TDSM_KVER/tinydsm.ko" | cut -c1-16)"
} >>"$ENV"
log "cache_bench: data set $MB MiB ($N pages) homed on node2, node1's budget $BUDGET_MB MiB"

phase connect tdsm_cluster_up
if [[ " ${FAILED_PHASES[*]} " == *" connect "* ]]; then
	touch "$SH/abort"
	exit 1
fi
log "peers up"

phase baseline-pre baseline_figures pre
phase setup fig_setup
phase cache_on fig_on
phase cache_off fig_off
phase writeback fig_wb
phase baseline-post baseline_figures post

end_counters cb
failures >>"$ENV"

echo
"$TREE/tools/report/report.py" cache -c "$TDSM_OUT/cache.csv" "$ENV" | tee "$TDSM_OUT/summary.txt"
none_failed &&
	grep -q '^cache bench figures_missing=0$' "$TDSM_OUT/summary.txt"
