#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make soak, inside the lab (a selftests/lab/lab.sh SCRIPT, every node of a
# 3-node run; tools/soak/soak.sh starts it). What it does and every counter
# it writes: tools/soak/README.md.
#
# Every node: connect the cluster (cluster.sh) and start tinydsmd
# (daemon.sh), start its workers under `soak_worker supervise` and an agent
# that carries out the faults node1 asks of this node. node1 alone decides
# the faults, from a PRNG seeded with TDSM_SOAK_SEED, one at a time, until
# the soak's time is up; then every node heals its link, waits until the
# cluster has settled, stops its workers (each writer's final state is
# published in TDSM_SHARED/soak), and reads every checked word and counter
# back (`soak_worker verify`).
#
# Results in TDSM_OUT: node.env (this node's totals, key=value),
# workers.env, verify.env, failures.log (one FAIL line per failure),
# events.log (what this node did, timestamped), faults.log and faults.env
# (node1: every fault injected), supervisor.log, verify.log, stats.txt.
# Exit: 0 no failure on this node, 1 failures (or the cluster never came up).
#
# Environment (from the host; lab.sh forwards TDSM_*):
#   TDSM_SOAK_SECONDS (1800)   how long the workers run under faults
#   TDSM_SOAK_SEED (1)         the fault schedule's and the workers' seed
#   TDSM_SOAK_FAULTS (1)       0: no fault injection at all
#   TDSM_SOAK_INTERVAL (20)    mean seconds between two faults
#   TDSM_SOAK_KINDS            the fault kinds (default: all of
#                              migrate evict linkflap partition freeze kill netem)
#   TDSM_SOAK_WORKERS (2)      workers per node
#   TDSM_SOAK_PAGES (4)        data pages per home block
#   TDSM_SOAK_PACE_US (500)    a worker's pause after each operation
set -uo pipefail
# One block, read whole before it runs: editing this file during a run is safe.
{

ID=$TDSM_NODE_ID
N=$TDSM_NODES
TREE=$TDSM_TREE
SECS=${TDSM_SOAK_SECONDS:-1800}
SEED=${TDSM_SOAK_SEED:-1}
FAULTS=${TDSM_SOAK_FAULTS:-1}
INTERVAL=${TDSM_SOAK_INTERVAL:-20}
KINDS=${TDSM_SOAK_KINDS:-migrate evict linkflap partition freeze kill netem}
K=${TDSM_SOAK_WORKERS:-2}
P=${TDSM_SOAK_PAGES:-4}
PACE=${TDSM_SOAK_PACE_US:-500}
DEV=${TDSM_LINK_DEV:-eth0}

SW=$TREE/build/tools/soak_worker
export TDSM_CTL=$TREE/build/tools/tinydsmctl
SH=$TDSM_SHARED/soak
RUN=/run/soak
FLOG=$TDSM_OUT/failures.log
ELOG=$TDSM_OUT/events.log
NENV=$TDSM_OUT/node.env
COMMON=(--total $((N * K)) --homes "$N" --pages "$P" --seed "$SEED"
	--pace-us "$PACE" --node "$ID" --fail-log "$FLOG")
# How long any node waits for another at a meeting point.
WAIT=300

mkdir -p "$SH/cmd.$ID" "$RUN"
: >"$FLOG"
: >"$ELOG"
: >"$NENV"

ts() { date -u +%H:%M:%S.%3NZ; }
log() { echo "$(ts) soak: node$ID +${SECONDS}s $*" | tee -a "$ELOG"; }
# A failure the scripts see (the workers and verify write their own).
fail_line() { echo "FAIL t=$(ts) node=$ID $*" >>"$FLOG"; log "FAIL $*"; }
putenv() { echo "$1=$2" >>"$NENV"; }

for f in "$SW" "$TDSM_CTL" "$TREE/build/daemon/tinydsmd"; do
	[[ -x $f ]] || { echo "soak_node.sh: $f is not built"; exit 1; }
done
((N >= 2)) || { echo "soak_node.sh: needs 2 or 3 nodes, this run has $N"; exit 4; }

# Meeting point NAME among all nodes (or those the lab knows dead), bounded.
barrier() { # NAME TIMEOUT_S
	local name=$1 deadline=$((SECONDS + $2)) j missing
	touch "$SH/bar.$name.$ID"
	while :; do
		missing=
		for ((j = 1; j <= N; j++)); do
			[[ -e $SH/bar.$name.$j || -e $TDSM_LAB_CTL/dead.$j || -e $SH/abort.$j ]] ||
				missing+=" node$j"
		done
		[[ -z $missing ]] && return 0
		if ((SECONDS >= deadline)); then
			log "meeting point '$name': gave up after $2 s waiting for$missing"
			return 1
		fi
		sleep 0.5
	done
}

abort() {
	log "ABORT: $*"
	fail_line "kind=abort $*"
	putenv aborted 1
	putenv failures 1
	touch "$SH/abort.$ID"
	exit 1
}

# shellcheck source=selftests/tinydsm/daemon.sh
source "$TREE/selftests/tinydsm/daemon.sh"

# ------------------------------------------------------------- setup
# The guests do not autoload modules: load what tc needs.
modprobe -a sch_netem sch_ingress cls_matchall act_gact 2>>"$ELOG" ||
	log "note: tc modules not all loaded (netem/partition faults will fail)"
tdsm_cluster_up || abort "the cluster did not come up"
tdsm_daemon_up || abort "tinydsmd did not come up"
mapfile -t BLOCKS < <("$SW" layout "${COMMON[@]}") || abort "soak_worker layout failed"
((${#BLOCKS[@]} == N)) || abort "soak_worker layout: ${BLOCKS[*]}"
log "checked area: ${BLOCKS[*]} (data pages + 1 counter page per block)"
barrier up "$WAIT" || abort "not every node came up"

# ------------------------------------------------------------ workers
first_gid=$(((ID - 1) * K))
nice -n 5 "$SW" supervise --dir "$RUN" --workers "$K" --first-gid "$first_gid" \
	--publish "$SH" --env "$TDSM_OUT/workers.env" "${COMMON[@]}" \
	>"$TDSM_OUT/supervisor.log" 2>&1 &
SUP=$!
log "$K workers (gids $first_gid..$((first_gid + K - 1)) of $((N * K))), supervisor pid $SUP"

# --------------------------------------------------------------- agent
# Carries out the faults node1 asks of this node: $SH/cmd.<id>/<n> holds
# "KIND ARGS"; the answer goes to <n>.done. Each fault undoes itself.
heal_local() {
	# A link left down (a fault cut short): up, and a new rxe device.
	if ! ip link show "$DEV" 2>/dev/null | grep -q '[<,]UP[,>]'; then
		ip link set "$DEV" up 2>/dev/null
		"$TREE/selftests/lab/rxe_revive.sh" "$DEV" 2>/dev/null
	fi
	tc qdisc del dev "$DEV" clsact 2>/dev/null
	tc qdisc del dev "$DEV" root 2>/dev/null
	return 0
}

peer_state() { # ID: this node's module's state of the connection to ID
	tdsm_node_states 2>/dev/null | awk -v id="$1" '$1 == id { print $2; exit }'
}

run_fault() { # KIND ARGS...
	local kind=$1 t0=$SECONDS pid s
	shift
	case $kind in
	evict) # PEER
		"$SW" evict "$1" 2>&1 || return 1
		# The module reconnects by itself: how long until it is up again?
		while ((SECONDS - t0 < 60)); do
			s=$(peer_state "$1")
			[[ $s == up ]] && { echo "node$1 up again after $((SECONDS - t0)) s"; return 0; }
			sleep 0.5
		done
		echo "node$1 not up 60 s after the eviction (state ${s:-absent})"
		return 1 ;;
	linkflap) # SECS
		ip link set "$DEV" down || return 1
		sleep "$1"
		ip link set "$DEV" up || return 1
		echo "$DEV down for $1 s"
		# rxe cannot connect after its link went down: see the script.
		"$TREE/selftests/lab/rxe_revive.sh" "$DEV" || return 1 ;;
	partition) # SECS
		if ! { tc qdisc add dev "$DEV" clsact &&
			tc filter add dev "$DEV" ingress matchall action drop &&
			tc filter add dev "$DEV" egress matchall action drop; }; then
			tc qdisc del dev "$DEV" clsact 2>/dev/null
			return 1
		fi
		sleep "$1"
		tc qdisc del dev "$DEV" clsact || return 1
		echo "every packet dropped for $1 s"
		# 6.12's rxe takes a dropped packet as a failed send: see the script.
		"$TREE/selftests/lab/rxe_revive.sh" --if-err "$DEV" || return 1 ;;
	netem) # SECS DELAY_MS LOSS_PCT
		tc qdisc add dev "$DEV" root netem delay "${2}ms" loss "${3}%" || return 1
		sleep "$1"
		tc qdisc del dev "$DEV" root || return 1
		echo "netem delay ${2}ms loss ${3}% for $1 s" ;;
	kill) # WORKER_INDEX
		pid=$(cat "$RUN/worker.$1" 2>/dev/null) || { echo "no pid file for worker $1"; return 1; }
		kill -KILL "$pid" || return 1
		echo "SIGKILL to worker $1 (gid $((first_gid + $1)), pid $pid)" ;;
	*)
		echo "unknown fault '$kind'"
		return 1 ;;
	esac
}

# 6.12's rxe moves QP1 to ERR on any send that fails locally, not only
# while a link of ours is down (a peer's partition, a transient drop will
# do), and then this node can never connect again: a lab defect, not
# tinydsm's (selftests/lab/rxe_revive.sh). Between faults, look every 5 s
# and re-create the device if so; each time is logged and counted.
rxe_watch() {
	local out
	out=$("$TREE/selftests/lab/rxe_revive.sh" --if-err "$DEV" 2>&1) || true
	[[ -n $out ]] || return 0
	echo "$(ts) $out" >>"$RUN/rxe_revived"
	log "rxe watchdog: $out"
}

agent() {
	local n=1 f cmd out rc idle=0
	while [[ ! -e $SH/heal ]]; do
		f=$SH/cmd.$ID/$n
		if [[ ! -e $f ]]; then
			sleep 0.2
			idle=$((idle + 1))
			((idle % 25)) || rxe_watch
			continue
		fi
		cmd=$(<"$f")
		log "fault $n: $cmd"
		# shellcheck disable=SC2086 # "KIND ARGS": words on purpose
		out=$(run_fault $cmd 2>&1)
		rc=$?
		log "fault $n: rc=$rc ${out//$'\n'/; }"
		printf '%s %s\n' "$rc" "${out//$'\n'/; }" >"$f.done.tmp"
		mv "$f.done.tmp" "$f.done"
		heal_local
		n=$((n + 1))
	done
}
agent &
AGENT=$!

# ------------------------------------------------------------ injector
declare -A NCMD FCOUNT FFAIL
RES=
# Ask node T's agent for a fault and wait for its answer (bounded): the
# answer ("RC TEXT") in RES. Not in a subshell: NCMD numbers the commands.
ask() { # TARGET TIMEOUT_S KIND ARGS...
	local t=$1 to=$2 n f deadline
	shift 2
	n=$((${NCMD[$t]:-0} + 1))
	NCMD[$t]=$n
	f=$SH/cmd.$t/$n
	mkdir -p "$SH/cmd.$t"
	echo "$*" >"$f.tmp" && mv "$f.tmp" "$f"
	deadline=$((SECONDS + to))
	while [[ ! -e $f.done ]]; do
		if ((SECONDS >= deadline)); then
			RES="1 node$t did not carry it out within $to s"
			return
		fi
		sleep 0.3
	done
	RES=$(<"$f.done")
}

inject() {
	local end=$((SECONDS + SECS)) nk seq=0 gap kind tgt a b c to from blk start
	local np strat addr res rc t0 tstart peer
	local -a kinds
	read -r -a kinds <<<"$KINDS"
	nk=${#kinds[@]}
	RANDOM=$SEED
	: >"$TDSM_OUT/faults.log"
	while :; do
		# The same draws for every fault, whatever it is: the schedule
		# depends on the seed only.
		gap=$((INTERVAL / 2 + RANDOM % (INTERVAL + 1)))
		kind=${kinds[RANDOM % nk]}
		tgt=$((1 + RANDOM % N))
		a=$RANDOM b=$RANDOM c=$RANDOM
		((SECONDS + gap < end)) || break
		sleep "$gap"
		seq=$((seq + 1))
		t0=$SECONDS
		tstart=$(ts)
		case $kind in
		migrate)
			from=$tgt
			to=$(((tgt + a % (N - 1)) % N + 1))
			# Mostly a block homed on the source (pages start at their
			# block's node; migrations move some of them on).
			blk=$((from - 1))
			((b % 3 == 0)) && blk=$(((b / 3) % N))
			start=$((c % (P + 1)))
			np=$((1 + (a / 7) % (P + 1 - start)))
			strat=lazy
			(((b / 7) % 2)) && strat=eager
			read -r _ _ addr _ <<<"${BLOCKS[blk]}"
			addr=$(printf '0x%x' $((addr + start * 4096)))
			what="migrate --from node$from --to node$to --pages $addr+$np --strategy $strat"
			res=$(timeout 180 "$TDSM_CTL" migrate --from "node$from" --to "node$to" \
				--pages "$addr+$np" --strategy "$strat" 2>&1)
			rc=$?
			res="$rc $(tail -n 2 <<<"$res" | tr '\n' ' ')" ;;
		evict)
			peer=$(((tgt + a % (N - 1)) % N + 1))
			what="node$tgt evicts node$peer"
			ask "$tgt" 120 evict "$peer"
			res=$RES ;;
		linkflap)
			what="node$tgt $DEV down $((1 + a % 5)) s"
			ask "$tgt" 90 linkflap $((1 + a % 5))
			res=$RES ;;
		partition)
			what="node$tgt cut off $((2 + a % 7)) s"
			ask "$tgt" 90 partition $((2 + a % 7))
			res=$RES ;;
		netem)
			what="node$tgt netem delay $((1 + b % 50))ms loss $((c % 10))% for $((2 + a % 7)) s"
			ask "$tgt" 90 netem $((2 + a % 7)) $((1 + b % 50)) $((c % 10))
			res=$RES ;;
		kill)
			what="node$tgt SIGKILL worker $((a % K))"
			ask "$tgt" 60 kill $((a % K))
			res=$RES ;;
		freeze)
			what="node$tgt frozen $((1 + a % 10)) s"
			rm -f "$TDSM_LAB_CTL/thawed.$tgt"
			# Written, then renamed: the host must never read it empty.
			if echo $((1 + a % 10)) >"$TDSM_LAB_CTL/.freeze.$tgt.tmp" &&
				mv "$TDSM_LAB_CTL/.freeze.$tgt.tmp" "$TDSM_LAB_CTL/freeze.$tgt"; then
				# Wait for the thaw (a node that froze itself sees it at
				# once), by the clock: a look over 9p can take seconds.
				i=$((SECONDS + a % 10 + 31))
				while ((SECONDS < i)); do
					[[ -e $TDSM_LAB_CTL/thawed.$tgt ]] && break
					sleep 0.25
				done
				if [[ -e $TDSM_LAB_CTL/thawed.$tgt ]]; then res="0 thawed"
				else res="1 no thaw seen"; fi
			else
				res="1 cannot write $TDSM_LAB_CTL/freeze.$tgt"
			fi ;;
		*)
			what="$kind"
			res="1 unknown kind" ;;
		esac
		FCOUNT[$kind]=$((${FCOUNT[$kind]:-0} + 1))
		FCOUNT[$kind.$tgt]=$((${FCOUNT[$kind.$tgt]:-0} + 1))
		[[ ${res%% *} == 0 ]] || FFAIL[$kind]=$((${FFAIL[$kind]:-0} + 1))
		echo "t=$tstart +${t0}s seq=$seq kind=$kind $what took=$((SECONDS - t0))s rc=${res%% *} ${res#* }" |
			tee -a "$TDSM_OUT/faults.log" >>"$ELOG"
		log "fault $seq: $kind: $what: rc=${res%% *}"
	done
	{
		total=0
		for kind in migrate evict linkflap partition freeze kill netem; do
			echo "fault_$kind=${FCOUNT[$kind]:-0}"
			for ((j = 1; j <= N; j++)); do
				echo "fault_${kind}_node$j=${FCOUNT[$kind.$j]:-0}"
			done
			echo "fault_${kind}_failed=${FFAIL[$kind]:-0}"
			total=$((total + ${FCOUNT[$kind]:-0}))
		done
		echo "faults=$total"
	} >"$TDSM_OUT/faults.env"
	# What is left of the time (the schedule stops before a gap past the end).
	((SECONDS < end)) && sleep $((end - SECONDS))
}

if ((ID == 1)); then
	if ((FAULTS)); then
		log "injecting faults for $SECS s (seed $SEED, mean interval $INTERVAL s, kinds: $KINDS)"
		inject
	else
		log "no fault injection: running $SECS s"
		echo "faults=0" >"$TDSM_OUT/faults.env"
		sleep "$SECS"
	fi
	touch "$SH/heal"
else
	deadline=$((SECONDS + SECS + WAIT))
	while [[ ! -e $SH/heal && ! -e $TDSM_LAB_CTL/dead.1 && ! -e $SH/abort.1 ]] &&
		((SECONDS < deadline)); do
		sleep 1
	done
	[[ -e $SH/heal ]] || log "node1 did not end the run: ending it here"
fi

# ---------------------------------------------------------------- heal
# The agent stops once it sees the heal file (after its current fault).
for ((t = 0; t < 120; t++)); do
	kill -0 "$AGENT" 2>/dev/null || break
	sleep 1
done
kill -0 "$AGENT" 2>/dev/null && { log "the agent is stuck in a fault: stopping it"; kill "$AGENT"; }
wait "$AGENT" 2>/dev/null
heal_local
log "run over: healing and waiting for the cluster to settle"
settled=0
for ((t = 0; t < 240; t++)); do
	m=$(tdsm_peers_not_up)
	d=$(tdsm_daemon_not_alive)
	if [[ -z $m && -z $d ]]; then
		settled=1
		break
	fi
	sleep 1
done
if ((settled)); then
	log "settled after $t s: every peer up, every member alive"
else
	fail_line "kind=settle the cluster did not settle 240 s after the faults stopped: module: ${m:-ok}; daemon: ${d:-ok}"
	tdsm_ctl node show 2>&1 | sed 's/^/    /' | tee -a "$ELOG"
fi
putenv settle_failed $((1 - settled))
barrier settled "$WAIT" || fail_line "kind=settle not every node settled (meeting point timed out)"

# ---------------------------------------------------------------- stop
touch "$RUN/stop"
stopped=0
for ((t = 0; t < 120; t++)); do
	kill -0 "$SUP" 2>/dev/null || { stopped=1; break; }
	sleep 1
done
if ((stopped)); then
	wait "$SUP"
	log "workers stopped; states published (supervisor status $?)"
else
	fail_line "kind=hung the supervisor did not finish 120 s after stop"
fi
putenv supervisor_hung $((1 - stopped))
barrier published "$WAIT" || log "not every node published its writers' states"

# -------------------------------------------------------------- verify
log "final check: every word and counter, plain loads and IOC_WORD loads"
timeout 900 "$SW" verify --states "$SH" --env "$TDSM_OUT/verify.env" "${COMMON[@]}" \
	>"$TDSM_OUT/verify.log" 2>&1
vrc=$?
log "verify: rc=$vrc $(tail -n 1 "$TDSM_OUT/verify.log")"
verify_timeout=0
if ((vrc == 124)); then
	verify_timeout=1
	fail_line "kind=hung soak_worker verify did not finish in 900 s"
elif ((vrc > 1)); then
	verify_timeout=1
	fail_line "kind=verify-error soak_worker verify exited $vrc: $(tail -n 1 "$TDSM_OUT/verify.log")"
fi
putenv verify_hung $verify_timeout
barrier verified "$WAIT" || log "not every node finished its final check"

"$TDSM_CTL" stats >"$TDSM_OUT/stats.txt" 2>&1
"$TDSM_CTL" node show >"$TDSM_OUT/nodes.txt" 2>&1
tdsm_daemon_down
log "tinydsmd stopped (status $?)"

# ------------------------------------------------------------- totals
get() { # FILE KEY
	local v
	v=$(sed -n "s/^$2=//p" "$1" 2>/dev/null | tail -n 1)
	echo "${v:-0}"
}
fw=$(get "$TDSM_OUT/workers.env" fail_worker)
vf=$(get "$TDSM_OUT/verify.env" verify_failures)
[[ -s $TDSM_OUT/workers.env ]] || fw=1
[[ -s $TDSM_OUT/verify.env ]] || vf=1
total=$((fw + vf + (1 - settled) + (1 - stopped) + verify_timeout))
putenv failures "$total"
revived=0
[[ -e $RUN/rxe_revived ]] && revived=$(wc -l <"$RUN/rxe_revived")
putenv rxe_revived "$revived"
log "done: $total failure(s) on this node ($(wc -l <"$FLOG") FAIL lines in failures.log)"
((total == 0))
exit
}
