# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# How node1 drives the other nodes of a benchmark's lab run, through files
# in the run's shared directory $SH: remote_bench.sh and migrate_bench.sh
# source this after they set ID, SH, RB (remote_bench, for its waitfile),
# STEP_TIMEOUT and log().
#
#   agent WAIT            nodes 2, 3: run node1's commands, one at a time,
#                         until "exit"; give up after WAIT s without one,
#                         or when $SH/abort appears
#   rsend NODE CMD ARG... node1: hand NODE a command; its number in RSEQ
#   rwait NODE SEQ        node1: its output, and its exit status
#   rcall NODE CMD ARG... node1: rsend, then rwait
#   phase NAME FN ARG...  node1: one phase, logged and timed; the name of a
#                         failed one goes to FAILED_PHASES

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

declare -A CMDSEQ=([2]=0 [3]=0)
RSEQ=0
FAILED_PHASES=()

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
