#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make demo, inside the lab (a selftests/lab/lab.sh SCRIPT; tools/demo.sh
# runs it twice): scenarios a, a.1/a.2 and b.1/b.2 on lab guests, as below.
# Definitions of every figure: tools/bench/README.md ("The demo's figures").
#
# 2 nodes (scenarios a and a.1/a.2):
#   both: connect; ib_read_lat/ib_read_bw node1 -> node2 (rdma_baseline.sh);
#   node2: back NPAGES pages, every word written (seed_demo home);
#   node1: a: `access_bench local` on pages homed here (plain, direct and
#          lookup loads); a.1/a.2: `seed_demo a12` on node2's pages.
# 3 nodes (scenarios b.1/b.2), tinydsmd on every node:
#   node1 -> node3 and node3 -> node2: ib_read_lat/ib_read_bw (the pairs
#   the pages travel between after and during the migration);
#   node2: one run of NPAGES pages per strategy and repetition;
#   node1: per run, `seed_demo b`: read every page, `tinydsmctl migrate
#          --from node2 --to node3 --strategy lazy|eager|lookup`, read
#          every page again, twice.
#
# Results on node1: TDSM_OUT/demo.env (key=value), *.cdf and *.timeline
# (seed_demo's samples), baseline*/ (perftest logs).
#
# Environment (from the host: lab.sh forwards TDSM_*):
#   TDSM_DEMO_PAGES (1024), TDSM_DEMO_REPS (3), TDSM_DEMO_SCENARIOS
#   ("a a12 b": which to run of those this node count can run),
#   TDSM_DEMO_A_SIZES (scenario a's working sets, MiB: "1 16")
set -uo pipefail

PAGES=${TDSM_DEMO_PAGES:-1024}
REPS=${TDSM_DEMO_REPS:-3}
SCEN=" ${TDSM_DEMO_SCENARIOS:-a a12 b} "
A_SIZES=${TDSM_DEMO_A_SIZES:-1 16}
ID=$TDSM_NODE_ID
TREE=$TDSM_TREE
SD=$TREE/build/tools/seed_demo
AB=$TREE/build/tools/access_bench
RB=$TREE/build/tools/remote_bench
TT=$TREE/build/tools/tinydsm-trace
export TDSM_CTL=$TREE/build/tools/tinydsmctl
SH=$TDSM_SHARED/demo
ENV=$TDSM_OUT/demo.env
WAIT=900 # seconds, the longest any node waits for another
STRATEGIES="lazy eager lookup"

log() { printf 'demo: +%ss %s\n' "$SECONDS" "$*"; }
fail() { log "FAILED: $*"; touch "$SH/abort"; exit 1; }
waitfor() { "$RB" waitfile "$WAIT" "$1" "$SH/abort" >/dev/null && [[ -e $1 ]]; }
want() { [[ $SCEN == *" $1 "* ]]; }

for f in "$SD" "$AB" "$RB" "$TT" "$TDSM_CTL"; do
	[[ -x $f ]] || { echo "demo_node.sh: $f is not built"; exit 1; }
done
mkdir -p "$SH"

# shellcheck source=selftests/tinydsm/daemon.sh
source "$TREE/selftests/tinydsm/daemon.sh"
tdsm_cluster_up || fail "the cluster did not come up"
log "cluster up ($TDSM_NODES nodes)"

# baseline PAIR SERVER CLIENT: perftest from CLIENT to SERVER (the lab's
# rdma_baseline.sh), the pair's meeting point and figures in $SH/baseline-PAIR
baseline() {
	local d=$SH/baseline-$1 out=$TDSM_OUT/baseline-$1
	mkdir -p "$d" "$out"
	TDSM_BASELINE_SERVER=$2 TDSM_BASELINE_CLIENT=$3 TDSM_OUT=$out TDSM_SHARED=$d \
		"$TREE/selftests/lab/rdma_baseline.sh" >"$out/log" 2>&1 || return
	if ((ID == $3)); then cp "$out/baseline.env" "$d/baseline.env"; fi
}

# trace_env JSON PREFIX: tinydsm-trace's totals and its latency histogram's
# median bucket as key=value
trace_env() {
	jq -r --arg p "$2" '
		(.totals | to_entries[] | "\($p)\(.key)=\(.value)"),
		(.histogram.buckets as $b | ([$b[].count] | add) as $n |
		 [foreach $b[] as $x (0; . + $x.count; [., $x])] |
		 map(select(.[0] * 2 >= $n)) | first | .[1] |
		 "\($p)p50_lo_us=\(.lo)", "\($p)p50_hi_us=\(.hi)")' "$1"
}

# base_env PAIR: the pair's figures into demo.env, keys base_PAIR_*
base_env() {
	waitfor "$SH/baseline-$1/baseline.env" || fail "no baseline for $1"
	sed "s/^/base_$1_/" "$SH/baseline-$1/baseline.env" >>"$ENV"
	log "baseline $1: $(tr '\n' ' ' <"$SH/baseline-$1/baseline.env")"
}

if ((TDSM_NODES == 2)); then
	log "ib_read_lat/ib_read_bw node1 -> node2"
	baseline 12 2 1 || fail "perftest node1 -> node2"
	if ((ID == 2)); then
		"$SD" home "$PAGES" "$SH/a12.addr" || fail "seed_demo home"
		waitfor "$SH/done"
		exit 0
	fi
	echo "nodes=2" >>"$ENV"
	base_env 12
	if want a; then
		log "a: per-access cost on pages homed here (working sets: $A_SIZES MiB)"
		"$AB" local -s "$A_SIZES" -r "$REPS" -Q "$REPS" -m 16777216 -R 1048576 \
			-e "$ENV" -k a_ || fail "access_bench local"
	fi
	if want a12; then
		waitfor "$SH/a12.addr" || fail "node2 did not back its pages"
		log "a.1/a.2: $PAGES pages homed on node2, under tinydsm-trace"
		# The tracer runs the application and counts its faults; the
		# application's figures go to demo.env, its progress to stderr.
		"$TT" -j -n 5 -- /bin/sh -c 'exec "$@" >/dev/null' sh \
			"$SD" -r "$REPS" -e "$ENV" -k a12_ -o "$TDSM_OUT" \
			a12 "$(<"$SH/a12.addr")" "$PAGES" >"$TDSM_OUT/a12.trace.json" ||
			fail "seed_demo a12 under tinydsm-trace"
		trace_env "$TDSM_OUT/a12.trace.json" a12_trace_ >>"$ENV" ||
			fail "tinydsm-trace's JSON"
	fi
	touch "$SH/done"
	log "done"
	exit 0
fi

((TDSM_NODES == 3)) || { echo "demo_node.sh: 2 or 3 nodes, not $TDSM_NODES"; exit 1; }
tdsm_daemon_up || fail "tinydsmd did not come up"
log "tinydsmd up"
if ((ID != 1)); then
	# node1 -> node3 first, then node3 -> node2: one pair at a time
	if ((ID == 3)); then
		log "ib_read_lat/ib_read_bw node1 -> node3"
		baseline 13 3 1 || fail "perftest node1 -> node3"
		log "ib_read_lat/ib_read_bw node3 -> node2"
		baseline 32 2 3 || fail "perftest node3 -> node2"
	else
		baseline 32 2 3 || fail "perftest node3 -> node2"
		for ((r = 1; r <= REPS; r++)); do
			for s in $STRATEGIES; do
				"$SD" home "$PAGES" "$SH/b.$s.$r.addr" >/dev/null ||
					fail "seed_demo home"
			done
		done
		log "node2 backs $((REPS * 3)) runs of $PAGES pages"
	fi
	waitfor "$SH/done"
	tdsm_daemon_down
	exit 0
fi

echo "nodes=3" >>"$ENV"
baseline 13 3 1 || fail "perftest node1 -> node3"
base_env 13
base_env 32
rc=0
if want b; then
	for ((r = 1; r <= REPS; r++)); do
		for s in $STRATEGIES; do
			waitfor "$SH/b.$s.$r.addr" || fail "node2 did not back its pages"
			log "b ($s, $r of $REPS): migrate $PAGES pages node2 -> node3"
			"$SD" -e "$ENV" -k "b_${s}_${r}_" -o "$TDSM_OUT" \
				b "$(<"$SH/b.$s.$r.addr")" "$PAGES" "$s" node2 node3 || rc=1
		done
	done
fi
touch "$SH/done"
tdsm_daemon_down || rc=1
log "done"
exit "$rc"
