# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# How node1 drives the other nodes of a benchmark's lab run, through files
# in the run's shared directory $SH: remote_bench.sh, migrate_bench.sh and
# cache_bench.sh source this after they set ID, NODES, TREE, SH, RB
# (remote_bench, for its waitfile), STEP_TIMEOUT, log() and rb()
# (remote_bench bounded in time), and after selftests/tinydsm/cluster.sh
# (tdsm_cluster_up).
#
#   agent WAIT            nodes 2, 3: run node1's commands, one at a time,
#                         until "exit"; give up after WAIT s without one,
#                         or when $SH/abort appears
#   agent_node WAIT       nodes 2, 3: join the cluster, agent WAIT, then
#                         exit with its status
#   rsend NODE CMD ARG... node1: hand NODE a command; its number in RSEQ
#   rwait NODE SEQ        node1: its output, and its exit status
#   rcall NODE CMD ARG... node1: rsend, then rwait
#   phase NAME FN ARG...  node1: one phase, logged and timed; the name of a
#                         failed one goes to FAILED_PHASES
#   on NODE CMD ARG...    node1: CMD here if NODE is 1, else by its agent
#   chk NAME NODE ADDR NPAGES CHECK-OPTIONS...
#                         node1: a node's view of the pages (remote_bench
#                         check); NAME@nodeNODE goes to FAILED_CHECKS if wrong
#   alloc HOME NPAGES     node1: remote_bench alloc, then HOME reads each
#                         page (backs it); the address in $A
#   end_counters CMD      node1: every node's counters (CMD stats: rb or mb)
#   failures              node1: the failed phases and checks, key=value
#   none_failed           node1: true if no phase and no check failed
#   agents_exit           node1: let the agents go (exit, and $SH/abort for
#                         one that waits for something else)
#   rdma_baseline WHEN    nodes 1, 2: perftest's RDMA baselines (READ, and
#                         SEND and READ with events), node1 (client) <-
#                         node2 (server), in TDSM_OUT/baseline-WHEN
#   rdma_baseline_run WHEN node1: node2 serves it (by its agent), node1 measures
#   bw_mpps LOG           perftest's MsgRate (Mpps) of the 4 KiB row of an
#                         ib_read_bw client log; fails if there is none

agent() { # agent WAIT
	local seq=0 f line rc
	while :; do
		seq=$((seq + 1))
		f=$SH/cmd.$ID.$seq
		"$RB" waitfile "$1" "$f" "$SH/abort" >/dev/null ||
			{ echo "agent: no command $seq from node1 within $1 s"; return 1; }
		[[ -e $f ]] || { echo "agent: node1 gave up"; return 1; }
		line=$(<"$f")
		[[ $line == exit ]] && { log "agent: done"; return 0; }
		log "agent: [$seq] $line"
		eval "$line" >"$SH/out.$ID.$seq" 2>&1
		rc=$?
		cat "$SH/out.$ID.$seq"
		echo "$rc" >"$SH/.rc.$ID.$seq" && mv -f "$SH/.rc.$ID.$seq" "$SH/rc.$ID.$seq"
	done
}

agent_node() { # agent_node WAIT
	tdsm_cluster_up || { touch "$SH/abort"; exit 1; }
	agent "$1"
	exit $?
}

declare -A CMDSEQ=([2]=0 [3]=0)
RSEQ=0
FAILED_PHASES=()
FAILED_CHECKS=()

rsend() { # rsend NODE CMD ARGS...
	local node=$1
	shift
	CMDSEQ[$node]=$((CMDSEQ[$node] + 1))
	RSEQ=${CMDSEQ[$node]}
	printf '%q ' "$@" >"$SH/.cmd.$node.$RSEQ"
	mv -f "$SH/.cmd.$node.$RSEQ" "$SH/cmd.$node.$RSEQ"
}

rwait() { # rwait NODE SEQ
	local node=$1 seq=$2 rc
	"$RB" waitfile $((STEP_TIMEOUT + 30)) "$SH/rc.$node.$seq" >/dev/null ||
		{ echo "node$node: command $seq did not finish"; return 1; }
	sed "s/^/    [node$node] /" "$SH/out.$node.$seq"
	rc=$(<"$SH/rc.$node.$seq")
	return "$rc"
}

rcall() { # rcall NODE CMD ARGS...
	rsend "$@"
	rwait "$1" "$RSEQ"
}

phase() { # phase NAME FUNCTION ARGS...
	local name=$1 t0=$SECONDS
	shift
	log "---- $name"
	if ! "$@"; then
		FAILED_PHASES+=("$name")
		log "---- $name FAILED"
	else
		log "---- $name done in $((SECONDS - t0)) s"
	fi
}

on() { # on NODE CMD ARGS...
	local node=$1
	shift
	if ((node == 1)); then "$@"; else rcall "$node" "$@"; fi
}

# A precondition or postcondition, checked by a node's own view of the
# pages (at the home: the directory, owner and copyset): a mismatch means
# the figure is not what its name says.
chk() { # chk NAME NODE ADDR NPAGES CHECK-OPTIONS...
	local name=$1 node=$2
	shift 2
	on "$node" rb check "$@" || FAILED_CHECKS+=("$name@node$node")
}

# ALLOC only reserves the pages: the home reads each once, so that it owns
# them with a frame (copyset {HOME}), the state every figure starts from.
alloc() { # alloc HOME NPAGES -> ADDR in $A
	A=$(rb alloc "$1" "$2") || A=
	[[ $A == 0x* ]] || { echo "alloc $1 $2 failed"; return 1; }
	on "$1" rb touch "$A" "$2" r || { echo "touch at node$1 failed"; return 1; }
}

end_counters() { # end_counters rb|mb
	local j
	log "counters at the end:"
	echo "    [node1] $("$1" stats)"
	for ((j = 2; j <= NODES; j++)); do rcall "$j" "$1" stats; done
}

failures() {
	echo "phases_failed=${#FAILED_PHASES[@]}"
	echo "phases_failed_list=${FAILED_PHASES[*]}"
	echo "checks_failed=${#FAILED_CHECKS[@]}"
	echo "checks_failed_list=${FAILED_CHECKS[*]}"
}

none_failed() { ((${#FAILED_PHASES[@]} == 0 && ${#FAILED_CHECKS[@]} == 0)); }

agents_exit() {
	local j
	for ((j = 2; j <= NODES; j++)); do rsend "$j" exit; done
	touch "$SH/abort"
}

# ib_read_bw's MsgRate: the same bandwidth in 4 KiB messages, whatever its
# MB means (the result row: #bytes #iterations BW_peak BW_average MsgRate).
bw_mpps() { # bw_mpps LOG
	local mpps
	mpps=$(awk '$1 == 4096 && NF >= 5 {print $5}' "$1")
	[[ $mpps =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "cannot parse ib_read_bw MsgRate in $1" >&2; return 1; }
	echo "$mpps"
}

# perftest RDMA READ baseline between node1 (client) and node2 (server):
# selftests/lab/rdma_baseline.sh with its own output and meeting dirs.
rdma_baseline() { # rdma_baseline pre|post
	mkdir -p "$TDSM_OUT/baseline-$1" "$SH/baseline-$1"
	TDSM_OUT=$TDSM_OUT/baseline-$1 TDSM_SHARED=$SH/baseline-$1 \
		"$TREE/selftests/lab/rdma_baseline.sh"
}

rdma_baseline_run() { # rdma_baseline_run pre|post
	rsend 2 rdma_baseline "$1"
	local s=$RSEQ rc=0
	rdma_baseline "$1" || rc=1
	rwait 2 "$s" || rc=1
	return "$rc"
}
