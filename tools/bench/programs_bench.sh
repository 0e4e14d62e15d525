#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tinydsm's programs benchmark: a lab SCRIPT (selftests/lab/lab.sh --nodes
# 3), run by tools/bench.sh --only programs. The figures and their exact
# definitions: tools/bench/README.md, "The programs benchmark".
#
# tinydsmd runs on every node. node1 runs each program of tools/apps/
# (radix, fft, lu, ocean, water) at the benchmark's size three times,
# through `tinydsmctl run` as nobody, one rank per node: on node1 alone
# (-n 1), on node1 and node2 (-n 2), on all three (-n 3). Around each run
# every node of the lab (through its agent, agents.sh):
#   - takes its module's counters (tinydsmctl -j stats) and the bytes its
#     NIC sent and received (Soft-RoCE's traffic, and the daemons' few
#     heartbeats), before and after;
#   - runs tinydsm-trace (the node's every fault, no pid filter: the ranks
#     are the daemon's children), whose top pages and top IPs say what
#     the faults were for.
# Before the runs, perftest's RDMA READ between node1 and node2 (the raw
# baseline of the same run).
# Then unmodified programs on node1 (sort, xz -1 compress and decompress,
# python3 building a dict with PYTHONMALLOC=malloc), each three ways: as
# it is, under libtinydsm-preload.so with its heap homed on node1 (the
# region, here), and homed on node2 (the region, another node); the time,
# node1's remote faults, and the output compared with the plain run's.
#
# Results (node1): TDSM_OUT/programs.env (key=value: prog_<name>_<n>_* for
# the run of <n> nodes; each node's counters' differences, its tracer's
# totals, top pages and top IPs), programs.csv, summary.txt (the table,
# also printed), runs/<name>.<n>.out (each run's output), traces/ (each
# node's tracer JSON). Exit status 0 only if every run passed its own
# check, every program printed the same digest on 1, 2 and 3 nodes, and
# every figure was measured.
#
# Environment (forwarded from the host by lab.sh):
#   TDSM_PROG_LIST        the programs (radix fft lu ocean water)
#   TDSM_PROG_<NAME>_ARGS a program's arguments (its size; defaults below)
#   TDSM_PROG_TOP         top pages and IPs kept per node (5)
#   TDSM_UNMOD_LINES      sort's and xz's input, lines (200000)
#   TDSM_UNMOD_ITEMS      python3's dict, items (150000)
#   TDSM_PROG_PLACEMENT   the programs' heap placement, TINYDSM_PLACEMENT
#                         of their ranks (local, the library's default, or
#                         interleave: a large block's pages spread over
#                         the job's nodes, 64 at a time)
set -uo pipefail

PROGS=${TDSM_PROG_LIST:-radix fft lu ocean water}
TOP=${TDSM_PROG_TOP:-5}
LINES=${TDSM_UNMOD_LINES:-200000}
# 200000 items took 62 to 63 MiB of the preload's 64 MiB run (one home's
# slice in the lab) and ran out of it in one run of two (MemoryError).
ITEMS=${TDSM_UNMOD_ITEMS:-150000}
PLACEMENT=${TDSM_PROG_PLACEMENT:-local}
UNMOD="sort xz python"
# The sizes: a few tenths of a second to a second on node1 alone under
# TCG, and at most about a minute on 3 nodes. Radix is the exception: a
# millisecond alone, because on 3 nodes every page of its permutation's
# destination moves between the nodes (a thousand times slower), and a
# size that took a second alone would take hours there.
declare -A ARGS=(
	[radix]=${TDSM_PROG_RADIX_ARGS:--n 16384 -r 8 -m 65536}
	[fft]=${TDSM_PROG_FFT_ARGS:--m 18}
	[lu]=${TDSM_PROG_LU_ARGS:--n 512 -b 32}
	[ocean]=${TDSM_PROG_OCEAN_ARGS:--n 254 -i 200 -t 0}
	[water]=${TDSM_PROG_WATER_ARGS:--n 768 -s 5}
)

ID=$TDSM_NODE_ID
NODES=$TDSM_NODES
TREE=$TDSM_TREE
RB=$TREE/build/tools/remote_bench
TT=$TREE/build/tools/tinydsm-trace
PRELOAD=$TREE/build/lib/libtinydsm-preload.so
# The unmodified programs' files: the guest's own /tmp, not the 9p share,
# whose zero-copy reads pin the reader's pages (a pin of a region page
# does not keep it on this node).
UNMOD_DIR=/tmp/tdsm-unmod
export TDSM_CTL=$TREE/build/tools/tinydsmctl
SH=$TDSM_SHARED/programs
ENV=$TDSM_OUT/programs.env
# One run of one program: the slowest (radix, ocean on 3 nodes) take about
# a minute; with room, and five programs x three runs inside tools/bench.sh's
# lab timeout only if few hang.
STEP_TIMEOUT=${TDSM_BENCH_STEP_TIMEOUT:-400}

log() { printf '[%s +%ss] %s\n' "$(date +%T)" "$SECONDS" "$*"; }

for f in "$RB" "$TT" "$TDSM_CTL" "$PRELOAD"; do
	[[ -x $f ]] || { echo "programs_bench.sh: $f is not built"; exit 1; }
done
for p in $PROGS; do
	[[ -n ${ARGS[$p]:-} && -x $TREE/build/apps/$p ]] ||
		{ echo "programs_bench.sh: no program '$p' (build/apps/: make user)"; exit 1; }
done
if ((NODES != 3)); then
	echo "programs_bench.sh: needs 3 nodes, have $NODES: skipping"
	exit 4
fi
[[ $TOP =~ ^[1-9][0-9]?$ ]] || { echo "programs_bench.sh: TDSM_PROG_TOP: 1 .. 99"; exit 1; }
for v in LINES ITEMS; do
	[[ ${!v} =~ ^[1-9][0-9]{0,7}$ ]] ||
		{ echo "programs_bench.sh: TDSM_UNMOD_$v=${!v}: want 1 .. 99999999"; exit 1; }
done
mkdir -p "$SH" "$TDSM_OUT/runs" "$TDSM_OUT/traces"

rb() { timeout "$STEP_TIMEOUT" "$RB" "$@"; }

# The interface of this node's lab address: the one Soft-RoCE sends on.
IFACE=$(ip -o -4 addr show | awk -v a="$(eval echo "\$TDSM_IP_$ID")" \
	'{ split($4, ip, "/"); if (ip[1] == a) print $2 }')

# ---------------------------------------------------------------- every node
# mark LABEL: this node's counters and NIC bytes, key=value, in
# $SH/LABEL.node$ID.env
mark() {
	local f=$SH/$1.node$ID.env
	{
		"$TDSM_CTL" -j stats | jq -r 'to_entries[] | "\(.key)=\(.value)"' &&
			echo "net_bytes=$(($(<"/sys/class/net/$IFACE/statistics/tx_bytes") +
				$(<"/sys/class/net/$IFACE/statistics/rx_bytes")))"
	} >"$f.tmp" && mv -f "$f.tmp" "$f"
}

TRACE_PID=
# trace_on LABEL: tinydsm-trace counting every fault of this node, its
# JSON to $SH/LABEL.trace.node$ID.json once trace_off stops it
trace_on() {
	local err=$TDSM_OUT/traces/$1.node$ID.err i
	"$TT" -j -n "$TOP" >"$SH/$1.trace.node$ID.json" 2>"$err" &
	TRACE_PID=$!
	for ((i = 0; i < 300; i++)); do
		grep -q 'attached' "$err" 2>/dev/null && return 0
		kill -0 "$TRACE_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "tinydsm-trace did not attach: $(tail -n 3 "$err")"
	kill "$TRACE_PID" 2>/dev/null
	TRACE_PID=
	return 1
}

trace_off() {
	[[ -n $TRACE_PID ]] || return 1
	kill -INT "$TRACE_PID" 2>/dev/null
	wait "$TRACE_PID"
	local rc=$?
	TRACE_PID=
	return "$rc"
}

# shellcheck source=selftests/tinydsm/daemon.sh
source "$TREE/selftests/tinydsm/daemon.sh"
# shellcheck source=tools/bench/agents.sh
source "$TREE/tools/bench/agents.sh"

# The ranks run as nobody, in a directory every node has.
chmod 0666 /dev/tinydsm || { echo "cannot open /dev/tinydsm to every user"; exit 1; }

# ---------------------------------------------------------------- agents
if ((ID != 1)); then
	tdsm_daemon_up || { touch "$SH/abort"; exit 1; }
	agent $((3 * STEP_TIMEOUT))
	rc=$?
	tdsm_daemon_down
	exit "$rc"
fi

# ---------------------------------------------------------------- node1

# every CMD ARG...: CMD on every node at once (the others by their agents)
every() {
	local j rc=0
	local -A seq=()
	for ((j = 2; j <= NODES; j++)); do
		rsend "$j" "$@"
		seq[$j]=$RSEQ
	done
	"$@" || rc=1
	for j in "${!seq[@]}"; do rwait "$j" "${seq[$j]}" || rc=1; done
	return "$rc"
}

# env_of FILE PREFIX: FILE's key=value lines with PREFIX on each key
env_of() { sed "s/^/$2/" "$1"; }

# deltas LABEL NODE: the node's counters after minus before, key=value
deltas() {
	awk -F= 'NR == FNR { b[$1] = $2; next }
		 ($1 in b) && $2 ~ /^[0-9]+$/ { print $1 "=" $2 - b[$1] }' \
		"$SH/$1.pre.node$2.env" "$SH/$1.post.node$2.env"
}

# trace_keys JSON PREFIX: a tracer's totals, top pages and top IPs
trace_keys() {
	jq -r --arg p "$2" '
		(.totals | to_entries[] | "\($p)\(.key)=\(.value)"),
		"\($p)top_pages=\([.pages[] | "\(.addr):\(.count)"] | join(" "))",
		"\($p)top_ips=\([.ips[] | "\(.ip):\(.count)"] | join(" "))",
		"\($p)fetch=\(.events.fetch)", "\($p)invalidate=\(.events.invalidate)"' "$1"
}

# fn_of PROG IP: the function of the program at IP (the programs are not
# PIE: an IP is an address in the file), or "?"
fn_of() {
	local f
	f=$(addr2line -f -e "$1" "$(printf '%#x' "$2")" 2>/dev/null | head -n 1)
	[[ -n $f && $f != '??' ]] && echo "$f" || echo "?"
}

# one NAME N: the program on N nodes, one rank each, measured
one() {
	local name=$1 n=$2 label=$1.$2 k=prog_$1_$2_ out rc=0 t0 t1 ms j nodes
	local prog=$TREE/build/apps/$1
	nodes=$(seq -s, -f 'node%g' 1 "$n")
	out=$TDSM_OUT/runs/$label.out
	every trace_on "$label" || return 1
	every mark "$label.pre" || { every trace_off; return 1; }
	t0=$(date +%s%N)
	# shellcheck disable=SC2086 # the arguments are words
	(cd /tmp && TINYDSM_PLACEMENT=$PLACEMENT timeout "$STEP_TIMEOUT" \
		setpriv --reuid=nobody --regid=nogroup \
		--clear-groups -- "$TDSM_CTL" run -n "$n" --nodes "$nodes" -- \
		"$prog" ${ARGS[$name]}) >"$out" 2>&1 || rc=$?
	t1=$(date +%s%N)
	every mark "$label.post" || { ((rc)) || rc=1; }
	every trace_off || true
	sed "s/^/    /" "$out" | head -n 20
	ms=$(sed -n 's/.* in \([0-9][0-9]*\) ms .*/\1/p' "$out" | head -n 1)
	{
		echo "${k}rc=$rc"
		echo "${k}wall_ms=$(((t1 - t0) / 1000000))"
		echo "${k}ms=${ms:-}"
		echo "${k}digest=$(sed -n "s/.*digest $name \([0-9a-f]\{16\}\).*/\1/p" "$out" | head -n 1)"
		if grep -q "check $name ok" "$out"; then echo "${k}check=ok"; else echo "${k}check=failed"; fi
		for ((j = 1; j <= NODES; j++)); do
			deltas "$label" "$j" | sed "s/^/${k}n${j}_/"
			if [[ -s $SH/$label.trace.node$j.json ]]; then
				cp "$SH/$label.trace.node$j.json" "$TDSM_OUT/traces/"
				trace_keys "$SH/$label.trace.node$j.json" "${k}n${j}_trace_"
			fi
		done
	} >>"$ENV"
	# The functions of node1's top IPs (rank 0's, and the program's own)
	local ips ip fns=()
	ips=$(sed -n "s/^${k}n1_trace_top_ips=//p" "$ENV")
	for ip in $ips; do fns+=("$(fn_of "$prog" "${ip%%:*}"):${ip##*:}"); done
	echo "${k}n1_trace_top_fns=${fns[*]}" >>"$ENV"
	((rc == 0))
}

# unmod_cmd NAME DIR: the command line of unmodified program NAME, its
# output in DIR/NAME.out
unmod_cmd() {
	case $1 in
	sort) echo "sort $2/in >$2/sort.out" ;;
	xz) echo "xz -1 -T1 -c $2/in >$2/xz.z && xz -d -c $2/xz.z >$2/xz.out" ;;
	python) echo "PYTHONMALLOC=malloc python3 -c 'import hashlib
d = {i: str(i) * 3 for i in range($ITEMS)}
print(hashlib.sha256(repr(sorted(d.items())).encode()).hexdigest())' >$2/python.out" ;;
	esac
}

# unmod NAME: unmodified program NAME as it is, then with its heap in the
# region homed on node1, then on node2 (libtinydsm-preload.so)
unmod() {
	local name=$1 mode d=$UNMOD_DIR k rc=0 r t0 t1 s0 s1 pre
	for mode in plain home1 home2; do
		k=unmod_${name}_${mode}_
		pre=
		[[ $mode == home* ]] &&
			pre="LD_PRELOAD=$PRELOAD TINYDSM_HOME=${mode#home} TINYDSM_PRELOAD_STATS=1"
		s0=$("$TDSM_CTL" -j stats | jq .remote_faults)
		t0=$(date +%s%N)
		r=0
		timeout "$STEP_TIMEOUT" sh -c "$pre $(unmod_cmd "$name" "$d/$mode")" \
			2>"$d/$name.$mode.err" || r=$?
		t1=$(date +%s%N)
		s1=$("$TDSM_CTL" -j stats | jq .remote_faults)
		{
			echo "${k}rc=$r"
			echo "${k}ms=$(((t1 - t0) / 1000000))"
			echo "${k}remote_faults=$((s1 - s0))"
			if [[ $mode != plain ]]; then
				if cmp -s "$d/plain/$name.out" "$d/$mode/$name.out"; then
					echo "${k}same=1"
				else
					echo "${k}same=0"
				fi
			fi
		} >>"$ENV"
		((r == 0)) || rc=1
		log "$name $mode: status $r, $(((t1 - t0) / 1000000)) ms, $((s1 - s0)) remote faults"
		[[ -s $d/$name.$mode.err ]] && sed 's/^/    /' "$d/$name.$mode.err"
	done
	return "$rc"
}

unmod_setup() {
	local d=$UNMOD_DIR m
	for m in plain home1 home2; do mkdir -p "$d/$m"; done
	seq "$LINES" | awk '{ srand($1); print int(rand() * 1e9) " line " $1 }' >"$d/in" &&
		for m in plain home1 home2; do ln -sf ../in "$d/$m/in"; done
}

trap 'agents_exit; tdsm_daemon_down >/dev/null' EXIT

: >"$ENV"
{
	echo "kver=$TDSM_KVER"
	echo "nodes=$NODES"
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "prog_list=$PROGS"
	for p in $PROGS; do echo "prog_${p}_args=${ARGS[$p]}"; done
	echo "unmod_list=$UNMOD"
	echo "unmod_lines=$LINES"
	echo "unmod_items=$ITEMS"
	echo "prog_top=$TOP"
	echo "prog_placement=$PLACEMENT"
	echo "guest_cpus=$(nproc)"
	echo "iface=$IFACE"
	for p in max_nodes home_nodes region_size_mb timeout_ms; do
		echo "$p=$(cat "/sys/module/tinydsm/parameters/$p" 2>/dev/null)"
	done
	echo "module_sha256=$(sha256sum "$TREE/build/$TDSM_KVER/tinydsm.ko" | cut -c1-16)"
} >>"$ENV"
log "programs_bench: $PROGS on 1, 2 and 3 nodes, one rank each"

phase daemons tdsm_daemon_up
if [[ " ${FAILED_PHASES[*]} " == *" daemons "* ]]; then
	touch "$SH/abort"
	exit 1
fi
log "tinydsmd up on every node"

phase baseline rdma_baseline_run pre
[[ -r $TDSM_OUT/baseline-pre/baseline.env ]] &&
	env_of "$TDSM_OUT/baseline-pre/baseline.env" base_ >>"$ENV"

for p in $PROGS; do
	for n in 1 2 3; do
		phase "$p.$n" one "$p" "$n"
	done
done

phase unmod_setup unmod_setup
for u in $UNMOD; do
	phase "unmod.$u" unmod "$u"
done

end_counters rb
failures >>"$ENV"

echo
"$TREE/tools/report/report.py" programs -c "$TDSM_OUT/programs.csv" "$ENV" |
	tee "$TDSM_OUT/summary.txt"
none_failed &&
	grep -q '^programs bench figures_missing=0$' "$TDSM_OUT/summary.txt" &&
	! grep -q 'programs bench WARNING' "$TDSM_OUT/summary.txt"
