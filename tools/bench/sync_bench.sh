#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tinydsm's synchronisation benchmark: a lab SCRIPT (selftests/lab/lab.sh
# --nodes 3, or 2), run by tools/bench.sh. The figures and their exact
# definitions: tools/bench/README.md, "The synchronisation benchmark".
#
# node1 allocates one run of pages homed on node2 (sync_bench setup: a
# page per figure, and a page of barriers at which the nodes start and end
# each phase they run together), then, driving the other nodes as
# agents.sh does:
#   1. rtt_pre: node1 alone times TDSM_SYNC_SAMPLES remote atomics, each a
#      tdsm_atomic() FETCH_OR 0 of a node2-homed word: the base of the
#      ratios;
#   2. lock_alone: node1 alone times as many uncontended
#      tdsm_mutex_lock() + tdsm_mutex_unlock();
#   3. fa_atomic: every node at once, TDSM_SYNC_OPS tdsm_fetch_add64() of
#      one word (done at the home: the page stays there); node1 checks the
#      word is NODES x OPS;
#   4. fa_pingpong: the same with the processor's lock xadd on the mapping
#      (the page moves to each writer);
#   5. fa_atomic_work, fa_pingpong_work: the same two, TDSM_SYNC_WORK_OPS
#      fetch-adds per node with TDSM_SYNC_GAP_US of local work after each
#      (sync_bench add -g), so that the nodes' updates interleave (the
#      target's pair: back to back a node keeps the page for its whole
#      burst);
#   6. lock_shared: every node at once, TDSM_SYNC_LOCK_OPS lock/unlock of
#      one tdsm_mutex_t;
#   7. barrier: every node, TDSM_SYNC_BARRIER_ROUNDS tdsm_barrier_wait();
#   8. token: node1 and node3 (node2 on 2 nodes) pass a token
#      TDSM_SYNC_HANDOFFS times with tdsm_wait()/tdsm_wake();
#   9. rtt_post: the base again (the drift check).
#
# Results (node1): TDSM_OUT/sync.env (key=value: node1's figures, then the
# other nodes' own, which they append to files in the shared directory),
# sync.csv, summary.txt (the table, also printed), samples/<label>.ns
# (every timed round trip and uncontended lock, ns, in the order taken).
# Exit status 0 only if every phase ran, every check held and every
# figure was measured.
#
# Environment (forwarded from the host by lab.sh):
#   TDSM_SYNC_OPS             fetch-adds per node, each way, back to back (2000)
#   TDSM_SYNC_WORK_OPS        fetch-adds per node, each way, with work between (500)
#   TDSM_SYNC_GAP_US          the work after each of those, us (200; 1 .. 1000000)
#   TDSM_SYNC_LOCK_OPS        contended lock/unlock per node (500)
#   TDSM_SYNC_BARRIER_ROUNDS  barrier rounds (200)
#   TDSM_SYNC_HANDOFFS        token handoffs, both ways together (200)
#   TDSM_SYNC_SAMPLES         round trips and uncontended locks timed (500)
# (TDSM_SYNC_ITERS and TDSM_SYNC_ROUNDS are sync_cluster_test's.)
set -uo pipefail

OPS=${TDSM_SYNC_OPS:-2000}
OPS_WORK=${TDSM_SYNC_WORK_OPS:-500}
GAP=${TDSM_SYNC_GAP_US:-200}
LOCK_OPS=${TDSM_SYNC_LOCK_OPS:-500}
ROUNDS=${TDSM_SYNC_BARRIER_ROUNDS:-200}
HANDOFFS=${TDSM_SYNC_HANDOFFS:-200}
SAMPLES=${TDSM_SYNC_SAMPLES:-500}

ID=$TDSM_NODE_ID
NODES=$TDSM_NODES
TREE=$TDSM_TREE
SB=$TREE/build/tools/sync_bench
RB=$TREE/build/tools/remote_bench
SH=$TDSM_SHARED/syncbench
ENV=$TDSM_OUT/sync.env
# Any one step: the longest, the contended lock or the ping-pong with work
# between (at most NODES x OPS_WORK page moves of a few ms each under TCG,
# and OPS_WORK x GAP of work per node), with room; it stays inside
# tools/bench.sh's lab timeout (900 s) if one step hangs.
STEP_TIMEOUT=${TDSM_BENCH_STEP_TIMEOUT:-300}

log() { printf '[%s +%ss] %s\n' "$(date +%T)" "$SECONDS" "$*"; }

for f in "$SB" "$RB"; do
	[[ -x $f ]] || { echo "sync_bench.sh: $f is not built"; exit 1; }
done
if ((NODES < 2 || NODES > 3)); then
	echo "sync_bench.sh: needs 2 or 3 nodes, have $NODES: skipping"
	exit 4
fi
for v in OPS OPS_WORK GAP LOCK_OPS ROUNDS HANDOFFS SAMPLES; do
	if ! [[ ${!v} =~ ^[1-9][0-9]{0,6}$ ]]; then
		echo "sync_bench.sh: $v=${!v}: want a count, 1 .. 9999999"
		exit 1
	fi
done
((HANDOFFS >= 2)) || { echo "sync_bench.sh: TDSM_SYNC_HANDOFFS: 2 at least"; exit 1; }
((GAP <= 1000000)) || { echo "sync_bench.sh: TDSM_SYNC_GAP_US: 1000000 (1 s) at most"; exit 1; }
# the token's other node: not the home when there is another
PEER=$((NODES >= 3 ? 3 : 2))
OTHERS=$(seq -s ' ' 2 "$NODES")
mkdir -p "$SH" "$TDSM_OUT/samples"

# sync_bench, bounded twice: its own watchdog (-T), then timeout
sb() { timeout $((STEP_TIMEOUT + 30)) "$SB" "$@" -T "$STEP_TIMEOUT"; }
rb() { timeout "$STEP_TIMEOUT" "$RB" "$@"; }

# ---------------------------------------------------------------- peers
# shellcheck source=selftests/tinydsm/cluster.sh
source "$TREE/selftests/tinydsm/cluster.sh"
# shellcheck source=tools/bench/agents.sh
source "$TREE/tools/bench/agents.sh"

# ---------------------------------------------------------------- agents
# nodes 2 and 3 run node1's commands; a phase keeps them waiting.
((ID == 1)) || agent_node $((3 * STEP_TIMEOUT))

# ---------------------------------------------------------------- node1

# together "NODE..." ARG...: the same sync_bench step on node1 and those
# nodes at once (theirs by their agents, each appending its figures to a
# file of its own in $SH); fails if any of them failed.
together() {
	local j rc=0
	local -A seq=()
	for j in $1; do
		rsend "$j" sb "${@:2}" -e "$SH/sync.node$j.env"
		seq[$j]=$RSEQ
	done
	sb "${@:2}" -e "$ENV" || rc=1
	for j in "${!seq[@]}"; do rwait "$j" "${seq[$j]}" || rc=1; done
	return "$rc"
}

A=
fig_setup() {
	A=$(sb setup -n "$NODES" -e "$ENV") || A=
	[[ $A == 0x* ]] || { echo "sync_bench setup failed"; A=; return 1; }
}

fig_rtt() { # fig_rtt pre|post
	[[ -n $A ]] || return 1
	sb rtt "$A" -l "rtt_$1" -N "$SAMPLES" -e "$ENV" -D "$TDSM_OUT/samples"
}

fig_lock_alone() {
	[[ -n $A ]] || return 1
	sb lock "$A" -N "$SAMPLES" -e "$ENV" -D "$TDSM_OUT/samples"
}

fig_add() { # fig_add atomic|pingpong: back to back
	[[ -n $A ]] || return 1
	together "$OTHERS" add "$A" "$1" -n "$NODES" -o "$OPS"
}

fig_add_work() { # fig_add_work atomic|pingpong: GAP us of work after each
	[[ -n $A ]] || return 1
	together "$OTHERS" add "$A" "$1" -n "$NODES" -o "$OPS_WORK" -g "$GAP"
}

fig_lock_shared() {
	[[ -n $A ]] || return 1
	together "$OTHERS" mutex "$A" -n "$NODES" -o "$LOCK_OPS"
}

fig_barrier() {
	[[ -n $A ]] || return 1
	together "$OTHERS" barrier "$A" -n "$NODES" -o "$ROUNDS"
}

fig_token() {
	[[ -n $A ]] || return 1
	together "$PEER" token "$A" -p "$PEER" -o "$HANDOFFS"
}

trap 'agents_exit' EXIT

: >"$ENV"
{
	echo "kver=$TDSM_KVER"
	echo "nodes=$NODES"
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "sync_ops=$OPS"
	echo "sync_work_ops=$OPS_WORK"
	echo "sync_gap_us=$GAP"
	echo "sync_lock_ops=$LOCK_OPS"
	echo "sync_barrier_rounds=$ROUNDS"
	echo "sync_handoffs=$HANDOFFS"
	echo "sync_samples=$SAMPLES"
	echo "token_pair=node1 and node$PEER"
	echo "module_sha256=$(sha256sum "$TREE/build/$TDSM_KVER/tinydsm.ko" | cut -c1-16)"
} >>"$ENV"
log "sync_bench: $NODES nodes, the words homed on node2; $OPS fetch-adds per node each way back to back, $OPS_WORK with $GAP us of work after each"

phase connect tdsm_cluster_up
if [[ " ${FAILED_PHASES[*]} " == *" connect "* ]]; then
	touch "$SH/abort"
	exit 1
fi
log "peers up"

phase setup fig_setup
phase rtt_pre fig_rtt pre
phase lock_alone fig_lock_alone
phase fa_atomic fig_add atomic
phase fa_pingpong fig_add pingpong
phase fa_atomic_work fig_add_work atomic
phase fa_pingpong_work fig_add_work pingpong
phase lock_shared fig_lock_shared
phase barrier fig_barrier
phase token fig_token
phase rtt_post fig_rtt post

end_counters rb
for ((j = 2; j <= NODES; j++)); do
	if [[ -r $SH/sync.node$j.env ]]; then
		cat "$SH/sync.node$j.env" >>"$ENV"
	fi
done
failures >>"$ENV"

echo
"$TREE/tools/report/report.py" sync -c "$TDSM_OUT/sync.csv" "$ENV" | tee "$TDSM_OUT/summary.txt"
none_failed &&
	grep -q '^sync bench figures_missing=0$' "$TDSM_OUT/summary.txt" &&
	! grep -q 'sync bench WARNING' "$TDSM_OUT/summary.txt"
