#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tinydsm's access-site benchmark: a lab SCRIPT (selftests/lab/lab.sh
# --nodes 2, with --module-args "max_nodes=2 region_size_mb=..." and --mem
# large enough for the working sets), run by tools/bench.sh --only access.
# The figures and their exact definitions: tools/bench/README.md.
#
# node1 measures; node2 homes the remote pages and serves perftest.
#   1. both: connect (selftests/tinydsm/cluster.sh), then the raw RDMA
#      baseline, perftest ib_read_lat/ib_read_bw node1 -> node2
#      (selftests/lab/rdma_baseline.sh, as remote_bench.sh runs it);
#   2. node2: `access_bench home` backs 2 (N + W) pages and writes one word
#      of each; node1: `access_bench remote`: (i) lookup form, one word
#      access at node2 per page, (ii) direct form, one fault and fetch per
#      page; node2 then checks the pages' copysets (lookup: {2}, fault:
#      {1, 2});
#   3. both: the baseline again (drift check); node2 is done;
#   4. node1: `access_bench local`, (a): every working set, both patterns,
#      every form, on pages homed and EXCLUSIVE here;
#   5. node1: the loops' instructions, counted by objdump and by callgrind
#      (`access_bench count` under the host's valgrind, over 9p).
#
# Results (node1): TDSM_OUT/access.env (key=value, every key prefixed acc_),
# baseline-pre/ and baseline-post/ (perftest logs), output.log.
#
# Environment (forwarded from the host by lab.sh):
#   TDSM_ACCESS_SIZES   working sets in MiB, powers of two ("1 4 16 64 256")
#   TDSM_ACCESS_REPS    timed runs per sequential figure, median (5)
#   TDSM_ACCESS_RND_REPS timed runs per random figure, median (3)
#   TDSM_ACCESS_MIN_ACC sequential: loads per timed run at least, whole
#                       passes (16777216)
#   TDSM_ACCESS_RND_ACC random: loads per timed run (4194304)
#   TDSM_ACCESS_N       timed remote loads per figure (500)
#   TDSM_ACCESS_WARMUP  untimed remote loads before each (8)
#   TDSM_ACCESS_CALLGRIND 0 skips callgrind (1)
#   TDSM_BASELINE_LAT_ITERS, TDSM_BASELINE_BW_ITERS: perftest iterations
#
# On the host (no lab), tools/bench.sh runs
#   tools/bench/access_bench.sh callgrind ENV DIR [-H]
# for the callgrind counts alone, if the lab could not give them.
set -uo pipefail

SIZES=${TDSM_ACCESS_SIZES:-1 4 16 64 256}
REPS=${TDSM_ACCESS_REPS:-5}
RND_REPS=${TDSM_ACCESS_RND_REPS:-3}
MIN_ACC=${TDSM_ACCESS_MIN_ACC:-16777216}
RND_ACC=${TDSM_ACCESS_RND_ACC:-4194304}
N=${TDSM_ACCESS_N:-500}
W=${TDSM_ACCESS_WARMUP:-8}
CALLGRIND=${TDSM_ACCESS_CALLGRIND:-1}
NPAGES=$((2 * (N + W)))

log() { printf '[%s +%ss] %s\n' "$(date +%T)" "$SECONDS" "$*"; }

# loop_insns FUNCTION BINARY: the instructions of the function's loop body,
# from its last backward jump to the jump's target, as objdump lists them.
loop_insns() {
	local line a mn op t n=0 lo=-1 hi=-1 addrs=()
	while IFS= read -r line; do
		[[ $line =~ ^[[:space:]]*([0-9a-f]+):[[:space:]]+([a-z][a-z0-9.]*)[[:space:]]*(.*)$ ]] || continue
		a=$((16#${BASH_REMATCH[1]})) mn=${BASH_REMATCH[2]} op=${BASH_REMATCH[3]}
		addrs+=("$a")
		if [[ $mn == j* && $op =~ ^([0-9a-f]+)[[:space:]]\< ]]; then
			t=$((16#${BASH_REMATCH[1]}))
			((t <= a && t >= addrs[0])) && { lo=$t hi=$a; }
		fi
	done < <(objdump -d --no-show-raw-insn --disassemble="$1" "$2")
	((lo >= 0)) || { echo "objdump: no loop in $1" >&2; return 1; }
	for a in "${addrs[@]}"; do ((a >= lo && a <= hi)) && n=$((n + 1)); done
	echo "$n"
}

# cg_counts ENV DIR [-H]: callgrind's instructions per load for every
# pattern and form, key=value to ENV. `access_bench count` calls the loop
# twice (N1, then N2 loads); --toggle-collect and --dump-after on the loop's
# function make each call one dump, so (Ir2 - Ir1) / (N2 - N1) is the
# loop's cost per load, thunk and stub included, call overhead excluded.
cg_counts() {
	local env=$1 dir=$2 pt f fn ir1 ir2 n1=65536 n2=196608 rc=0 poke
	shift 2
	command -v valgrind >/dev/null || { echo "callgrind: no valgrind"; return 1; }
	for pt in seq rnd; do
		for f in plain direct lookup; do
			fn=${pt}_site
			[[ $f == plain ]] && fn=${pt}_plain
			# Under valgrind the module's rewrite fails (EFAULT): the
			# program makes the lookup form itself (-P), the same bytes.
			poke=
			[[ $f == lookup ]] && poke=-P
			rm -f "$dir/cg.$pt.$f"*
			if ! valgrind --tool=callgrind --callgrind-out-file="$dir/cg.$pt.$f" \
				--toggle-collect="$fn" --dump-after="$fn" --smc-check=all \
				"$AB" count "$pt" "$f" 2 "$n1" "$n2" $poke "$@" \
				>"$dir/cg.$pt.$f.log" 2>&1; then
				echo "callgrind $pt $f failed:"
				tail -n 20 "$dir/cg.$pt.$f.log"
				rc=1
				continue
			fi
			ir1=$(awk '/^totals:/ { print $2 }' "$dir/cg.$pt.$f.1" 2>/dev/null)
			ir2=$(awk '/^totals:/ { print $2 }' "$dir/cg.$pt.$f.2" 2>/dev/null)
			[[ $ir1 =~ ^[0-9]+$ && $ir2 =~ ^[0-9]+$ ]] ||
				{ echo "callgrind $pt $f: no dump per call"; rc=1; continue; }
			echo "acc_cg_${pt}_${f}_ir=$(awk -v a="$ir1" -v b="$ir2" -v n=$((n2 - n1)) \
				'BEGIN { printf "%.3f", (b - a) / n }')" | tee -a "$env"
		done
	done
	return "$rc"
}

if [[ ${1:-} == callgrind ]]; then
	(($# >= 3)) || { echo "usage: $0 callgrind ENV DIR [-H]" >&2; exit 2; }
	AB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/tools/access_bench
	mkdir -p "$3"
	cg_counts "$2" "$3" "${@:4}"
	exit $?
fi

ID=$TDSM_NODE_ID
TREE=$TDSM_TREE
AB=$TREE/build/tools/access_bench
SH=$TDSM_SHARED/access
ENV=$TDSM_OUT/access.env
STEP_TIMEOUT=${TDSM_ACCESS_STEP_TIMEOUT:-600} # seconds, any one wait

[[ -x $AB ]] || { echo "access_bench.sh: $AB is not built"; exit 1; }
if ((TDSM_NODES != 2)); then
	echo "access_bench.sh: needs exactly 2 nodes, have $TDSM_NODES: skipping"
	exit 4
fi
mkdir -p "$SH"

# waitfor FILE: until FILE exists (0), or the other node gave up or the
# time is over (1).
waitfor() {
	local t
	for ((t = 0; t < STEP_TIMEOUT * 5; t++)); do
		[[ -e $1 ]] && return 0
		[[ -e $SH/abort.$((3 - ID)) ]] && { echo "node$((3 - ID)) gave up"; return 1; }
		sleep 0.2
	done
	echo "no $1 after ${STEP_TIMEOUT}s"
	return 1
}

FAILED=()
step() { # step NAME CMD ARGS...
	local name=$1 t0=$SECONDS
	shift
	log "---- $name"
	if "$@"; then
		log "---- $name done in $((SECONDS - t0)) s"
		return 0
	fi
	log "---- $name FAILED"
	FAILED+=("$name")
	return 1
}

give_up() {
	touch "$SH/abort.$ID"
	exit 1
}

# shellcheck source=selftests/tinydsm/cluster.sh
source "$TREE/selftests/tinydsm/cluster.sh"
step connect tdsm_cluster_up || give_up

# perftest between node1 (client) and node2 (server), as remote_bench.sh:
# selftests/lab/rdma_baseline.sh with its own output and meeting dirs.
baseline() { # baseline pre|post
	mkdir -p "$TDSM_OUT/baseline-$1" "$SH/baseline-$1"
	TDSM_OUT=$TDSM_OUT/baseline-$1 TDSM_SHARED=$SH/baseline-$1 \
		timeout "$STEP_TIMEOUT" "$TREE/selftests/lab/rdma_baseline.sh"
}

if ((ID == 2)); then
	rc=0
	step baseline-pre baseline pre || rc=1
	step home timeout "$STEP_TIMEOUT" "$AB" home "$NPAGES" "$SH/addr" || give_up
	step wait-remote waitfor "$SH/remote.done" || give_up
	A=$(<"$SH/addr")
	# the lookup pages stayed here alone, the faulted ones have a copy at node1
	if step check-lookup "$AB" check "$A" $((N + W)) 0x4 &&
		step check-fault "$AB" check $((A + (N + W) * 4096)) $((N + W)) 0x6; then
		echo 0 >"$SH/check.rc"
	else
		echo 1 >"$SH/check.rc"
		rc=1
	fi
	step baseline-post baseline post || rc=1
	log "node2 done (node1 goes on with the local figures)"
	exit "$rc"
fi

# ---------------------------------------------------------------- node1
trap 'touch "$SH/abort.1"' EXIT
: >"$ENV"
{
	echo "acc_kver=$TDSM_KVER"
	echo "acc_nodes=$TDSM_NODES"
	echo "acc_date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "acc_module_sha256=$(sha256sum "$TREE/build/$TDSM_KVER/tinydsm.ko" | cut -c1-16)"
	echo "acc_region_size_mb=$(cat /sys/module/tinydsm/parameters/region_size_mb)"
	echo "acc_max_nodes=$(cat /sys/module/tinydsm/parameters/max_nodes)"
	echo "acc_guest_mem_mb=$(awk '/^MemTotal/ { print int($2 / 1024) }' /proc/meminfo)"
} >>"$ENV"
log "access_bench: working sets $SIZES MiB; seq $REPS runs of >= $MIN_ACC loads, random $RND_REPS of $RND_ACC; remote $N (+$W) loads"

step baseline-pre baseline pre
sed 's/^/acc_/' "$TDSM_OUT/baseline-pre/baseline.env" >>"$ENV" 2>/dev/null

remote() {
	local A
	waitfor "$SH/addr" || return 1
	A=$(<"$SH/addr")
	log "node2's pages at $A"
	timeout "$STEP_TIMEOUT" "$AB" remote "$A" "$NPAGES" -n "$N" -W "$W" -e "$ENV"
}
step remote remote
touch "$SH/remote.done"
step check-at-home waitfor "$SH/check.rc" && [[ $(<"$SH/check.rc") == 0 ]] ||
	FAILED+=(home-copysets)
step baseline-post baseline post
sed 's/^/acc_post_/' "$TDSM_OUT/baseline-post/baseline.env" >>"$ENV" 2>/dev/null

# (a) local: TCG makes this the longest step; bounded by the lab's timeout
step local "$AB" local -s "$SIZES" -r "$REPS" -Q "$RND_REPS" -m "$MIN_ACC" -R "$RND_ACC" -e "$ENV"

objdump_counts() {
	local f n
	for f in seq_plain seq_site rnd_plain rnd_site; do
		n=$(loop_insns "$f" "$AB") || return 1
		echo "acc_obj_${f}_loop_insns=$n" | tee -a "$ENV"
	done
	objdump -d --no-show-raw-insn --disassemble=seq_plain --disassemble=seq_site \
		--disassemble=rnd_plain --disassemble=rnd_site --disassemble=remote_load \
		"$AB" >"$TDSM_OUT/loops.objdump"
}
step objdump objdump_counts

# valgrind runs here from the host's root (9p), attached to the module, on
# local pages; the lookup form is written by the program (see cg_counts),
# its thunk reads the real translation table.
if ((CALLGRIND)); then
	mkdir -p "$TDSM_OUT/callgrind"
	step callgrind cg_counts "$ENV" "$TDSM_OUT/callgrind" && echo "acc_cg_where=guest" >>"$ENV"
fi

{
	echo "acc_failed=${#FAILED[@]}"
	echo "acc_failed_list=${FAILED[*]}"
} >>"$ENV"
log "done; failed steps: ${#FAILED[@]} ${FAILED[*]}"
((${#FAILED[@]} == 0))
