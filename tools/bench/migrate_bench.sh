#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tinydsm's page-migration benchmark: a lab SCRIPT (selftests/lab/lab.sh
# --nodes 3), run by tools/bench.sh. The figures and their exact
# definitions: tools/bench/README.md.
#
# node2 homes and fills the pages (TINYDSM_IOC_ALLOC home 2); node1 is the
# application: one process maps the run, reads every page (read copies) and
# keeps it mapped; node3 pulls the run with TINYDSM_CMD_MIGRATE from node2,
# then node2 pulls it back from node3, and so on, alternating, so that each
# migration moves every page with node1's copies to invalidate. After each
# migration node1 repopulates, lazily (two read passes, the first faulting
# on every page) or eagerly (TINYDSM_CMD_REPOPULATE, then two passes),
# alternately. perftest ib_read_bw/ib_read_lat between node3 (client) and
# node2 (server), the pair the pages travel between, runs before and after.
#
# node1 drives and hands nodes 2 and 3 their steps through files in
# TDSM_SHARED/migbench (cmd.<node>.<seq>, answered by out.<node>.<seq> and
# rc.<node>.<seq>), as remote_bench.sh does; node1's application process
# (migrate_bench app) runs as a bash coprocess and answers one line per
# command.
#
# Results (node1): TDSM_OUT/migrate.env (key=value, every repetition),
# migrate.csv, summary.txt (the table, also printed), baseline-pre/ and
# baseline-post/ (perftest logs).
#
# Environment (forwarded from the host by lab.sh):
#   TDSM_MIG_SIZES   pages per run, space-separated ("1024 8192")
#   TDSM_MIG_REPS    repetitions per size (3): each is one migration followed
#                    by a lazy repopulation and one followed by an eager one
#   TDSM_BASELINE_LAT_ITERS, TDSM_BASELINE_BW_ITERS: perftest iterations
set -uo pipefail

SIZES=${TDSM_MIG_SIZES:-1024 8192}
REPS=${TDSM_MIG_REPS:-3}

ID=$TDSM_NODE_ID
NODES=$TDSM_NODES
TREE=$TDSM_TREE
MB=$TREE/build/tools/migrate_bench
RB=$TREE/build/tools/remote_bench
CTL=$TREE/build/tools/tinydsmctl
SH=$TDSM_SHARED/migbench
ENV=$TDSM_OUT/migrate.env
STEP_TIMEOUT=${TDSM_BENCH_STEP_TIMEOUT:-300} # seconds, any one step
APP_NODE=1 SRC=2 DST=3

log() { printf '[%s +%ss] %s\n' "$(date +%T)" "$SECONDS" "$*"; }

rb() { timeout "$STEP_TIMEOUT" "$RB" "$@"; }
mb() { timeout "$STEP_TIMEOUT" "$MB" "$@"; }

for f in "$MB" "$RB" "$CTL"; do
	[[ -x $f ]] || { echo "migrate_bench.sh: $f is not built"; exit 1; }
done
if ((NODES != 3)); then
	echo "migrate_bench.sh: needs 3 nodes, have $NODES: skipping"
	exit 4
fi
[[ $REPS =~ ^[1-9][0-9]?$ ]] || { echo "migrate_bench.sh: TDSM_MIG_REPS=$REPS: want 1..99"; exit 1; }
for n in $SIZES; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "migrate_bench.sh: bad size '$n' in TDSM_MIG_SIZES"; exit 1; }
done
mkdir -p "$SH"

# ---------------------------------------------------------------- peers
# Every node adds every other, waits (bounded) until its peers are up,
# and until every node saw that: tdsm_cluster_up.
# shellcheck source=selftests/tinydsm/cluster.sh
source "$TREE/selftests/tinydsm/cluster.sh"
# shellcheck source=tools/bench/agents.sh
source "$TREE/tools/bench/agents.sh"

# perftest between node3 (client) and node2 (server): the RDMA READs carry
# data node2 -> node3, as the first migration of each pair does. Meeting
# point and logs: $SH/baseline-<when>.
baseline_srv() { # on node2
	local d=$SH/baseline-$1
	mkdir -p "$d/server"
	TDSM_BASELINE_SERVER=2 TDSM_BASELINE_CLIENT=3 TDSM_OUT=$d/server TDSM_SHARED=$d \
		"$TREE/selftests/lab/rdma_baseline.sh"
}

baseline_cli() { # on node3
	local d=$SH/baseline-$1
	mkdir -p "$d/client"
	TDSM_BASELINE_SERVER=2 TDSM_BASELINE_CLIENT=3 TDSM_OUT=$d/client TDSM_SHARED=$d \
		"$TREE/selftests/lab/rdma_baseline.sh"
}

# ---------------------------------------------------------------- agents
# Nodes 2 and 3 run node1's commands (agent).
((ID == 1)) || agent_node 1800

# ---------------------------------------------------------------- node1

# The application: one migrate_bench process that keeps the run mapped.
APP_UP=0
app_start() { # app_start ADDR NPAGES TAG
	local reply
	coproc APP { exec "$MB" app "$1" "$2" -v "$3" -e "$ENV"; }
	APP_UP=1
	IFS= read -r -t "$STEP_TIMEOUT" reply <&"${APP[0]}"
	log "app: ${reply:-no answer}"
	[[ $reply == ok* ]]
}

app() { # app CMD ARG: one command, its answer; fails unless "ok"
	local reply=
	if ! ((APP_UP)) || [[ -z ${APP[1]:-} ]]; then
		echo "app: not running"
		return 1
	fi
	echo "$*" >&"${APP[1]}" || { echo "app: gone (sending '$*')"; return 1; }
	IFS= read -r -t "$STEP_TIMEOUT" reply <&"${APP[0]}" ||
		{ echo "app: no answer to '$*' within ${STEP_TIMEOUT} s"; return 1; }
	log "app: $reply"
	[[ $reply == ok* ]]
}

app_stop() {
	local pid=${APP_PID:-}
	((APP_UP)) || return 0
	APP_UP=0
	if [[ -n ${APP[1]:-} ]]; then
		{ echo quit >&"${APP[1]}"; } 2>/dev/null
		{ IFS= read -r -t 30 _ <&"${APP[0]}"; } 2>/dev/null
	fi
	[[ -n $pid ]] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
	return 0
}

# A state check by the application (node1's view); recorded, not fatal.
app_chk() { # app_chk NAME moved|shared HOME
	app "$2" "$3" || FAILED_CHECKS+=("$1@node1")
}

A=
# A page's copyset (bit n = node n); the holders of a migration (bit n - 1).
bit() { echo $((1 << $1)); }
nset() { echo $((1 << ($1 - 1))); }

# One size: alloc, fill, read; then REPS x (migrate + lazy, migrate + eager).
run_size() { # run_size NPAGES TAG
	local n=$1 tag=$2 r i=0 mode from=$SRC to=$DST a t
	alloc "$SRC" "$n" || return 1
	a=$A
	echo "mig_${n}_addr=$a" >>"$ENV"
	rcall "$SRC" rb touch "$a" "$n" w -t "$tag" || return 1
	chk "first_${n}.pre" "$SRC" "$a" "$n" -o "$SRC" -c "$(bit "$SRC")"
	app_start "$a" "$n" "$tag" || { app_stop; return 1; }
	# node1 reads every page: a read copy of each (remote faults from node2)
	app pass "first_${n}" || { app_stop; return 1; }
	app_chk "first_${n}.post" shared "$SRC"
	for ((r = 1; r <= REPS; r++)); do
		for mode in lazy eager; do
			i=$((i + 1))
			chk "mig_${n}_$i.pre" "$from" "$a" "$n" -o "$from" \
				-c $(($(bit "$from") | $(bit $APP_NODE)))
			echo "mig_${n}_${i}_mode=$mode" >>"$ENV"
			rcall "$to" mb migrate "$a" "$n" "$from" -l "mig_${n}_$i" \
				-e "$SH/mig.env" -x "$(nset $APP_NODE)" || { app_stop; return 1; }
			chk "mig_${n}_$i.post" "$to" "$a" "$n" -o "$to" -c "$(bit "$to")" \
				-s 2
			app_chk "mig_${n}_$i.node1" moved "$to"
			t=${mode}_${n}_$r
			if [[ $mode == eager ]]; then
				app repop "${t}_repop" || { app_stop; return 1; }
			fi
			app pass "${t}_p1" || { app_stop; return 1; }
			app pass "${t}_p2" || { app_stop; return 1; }
			app_chk "${t}.node1" shared "$to"
			chk "${t}.home" "$to" "$a" "$n" -o "$to" \
				-c $(($(bit "$to") | $(bit $APP_NODE)))
			t=$from from=$to to=$t
		done
	done
	app_stop
}

finish_agents() {
	app_stop
	agents_exit
}
trap 'finish_agents' EXIT

: >"$ENV"
: >"$SH/mig.env"
{
	echo "kver=$TDSM_KVER"
	echo "nodes=$NODES"
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "mig_sizes=$SIZES"
	echo "mig_reps=$REPS"
	echo "baseline_pair=node3 (client) <- node2 (server)"
	echo "module_sha256=$(sha256sum "$TREE/build/$TDSM_KVER/tinydsm.ko" | cut -c1-16)"
} >>"$ENV"
log "migrate_bench: sizes $SIZES pages, $REPS repetitions (each: migrate + lazy, migrate + eager)"

phase connect tdsm_cluster_up
if [[ " ${FAILED_PHASES[*]} " == *" connect "* ]]; then
	touch "$SH/abort"
	exit 1
fi
log "peers up"

baseline_run() { # baseline_run pre|post
	local d=$SH/baseline-$1 s2 s3 rc=0 mpps
	mkdir -p "$d"
	rsend 2 baseline_srv "$1"
	s2=$RSEQ
	rsend 3 baseline_cli "$1"
	s3=$RSEQ
	rwait 3 "$s3" || rc=1
	rwait 2 "$s2" || rc=1
	mkdir -p "$TDSM_OUT/baseline-$1"
	cp -r "$d/." "$TDSM_OUT/baseline-$1/" 2>/dev/null
	[[ -s $d/client/baseline.env ]] || { echo "no baseline figures"; return 1; }
	# perftest's MsgRate (Mpps): the same bandwidth in pages, whatever MB means
	mpps=$(bw_mpps "$d/client/ib_read_bw.log") || rc=1
	{
		cat "$d/client/baseline.env"
		echo "ib_read_bw_4k_Mpps=${mpps:-}"
	} >"$d/figures.env"
	return "$rc"
}

phase baseline-pre baseline_run pre
cat "$SH/baseline-pre/figures.env" >>"$ENV" 2>/dev/null

tag=10
for n in $SIZES; do
	tag=$((tag + 1))
	phase "size-$n" run_size "$n" "$tag"
done

phase baseline-post baseline_run post
sed 's/^/post_/' "$SH/baseline-post/figures.env" >>"$ENV" 2>/dev/null

end_counters mb
cat "$SH/mig.env" >>"$ENV"
failures >>"$ENV"

echo
"$TREE/tools/report/report.py" migrate -c "$TDSM_OUT/migrate.csv" "$ENV" | tee "$TDSM_OUT/summary.txt"
none_failed &&
	grep -q '^migrate bench figures_missing=0$' "$TDSM_OUT/summary.txt"
