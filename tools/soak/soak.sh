#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make soak: three lab nodes for a given time, random reads, writes, atomics
# and word accesses checked word by word while faults are injected
# (migrations, evictions, link flaps, partitions, netem, guest freezes,
# worker kills). Definitions of everything it prints: tools/soak/README.md.
#
#   tools/soak/soak.sh [--minutes N] [--seconds N] [--kver KVER] [--seed S]
#       [--out DIR] [--no-faults] [--interval S] [--kinds "k ..."]
#       [--workers K] [--pages P] [--pace-us U] [--no-build] [--no-selftest]
#   tools/soak/soak.sh --report DIR     the summary of an earlier run, again
#
# Kernel: the lab's debug kernel (selftests/lab/debug-kernel.sh, built by
# `make debug-kernel` or `make soak`) unless --kver says otherwise.
# Results: results/soak-<time>/ (or --out): soak-summary.txt (the table,
# also printed), selftest.log, lab.log and lab/ (the lab run: every node's
# failures.log, events.log, faults.log, dmesg ...).
# Exit: 0 no failure and the lab passed, 1 otherwise, 2 usage.
set -euo pipefail
# One block, read whole before it runs: editing this file during a run is safe.
{

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
minutes=30 seconds='' kver='' seed='' out='' faults=1 interval=20 kinds=''
workers=2 pages=4 pace=500 build=1 selftest=1 report=''

usage() { sed -n '8,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
posint() { [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "soak: $1 must be a positive integer" >&2; exit 2; }; }
while (($#)); do
	case $1 in
	--minutes) posint "$1" "${2:-}"; minutes=$2; shift 2 ;;
	--seconds) posint "$1" "${2:-}"; seconds=$2; shift 2 ;;
	--kver) kver=${2:?}; shift 2 ;;
	--seed) [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "soak: --seed must be a number" >&2; exit 2; }
		seed=$2; shift 2 ;;
	--out) out=${2:?}; shift 2 ;;
	--no-faults) faults=0; shift ;;
	--interval) posint "$1" "${2:-}"; interval=$2; shift 2 ;;
	--kinds) kinds=${2:?}; shift 2 ;;
	--workers) posint "$1" "${2:-}"; workers=$2; shift 2 ;;
	--pages) posint "$1" "${2:-}"; pages=$2; shift 2 ;;
	--pace-us) [[ ${2:-} =~ ^[0-9]+$ ]] || usage; pace=$2; shift 2 ;;
	--no-build) build=0; shift ;;
	--no-selftest) selftest=0; shift ;;
	--report) report=${2:?}; shift 2 ;;
	-h | --help) usage ;;
	*) echo "soak: unknown option '$1'" >&2; usage ;;
	esac
done
t_start=$SECONDS
step() { printf '[soak +%4ss] %s\n' "$((SECONDS - t_start))" "$*"; }

if [[ -n $report ]]; then
	[[ -s $report/soak.params ]] || { echo "soak: $report/soak.params: not a soak run" >&2; exit 2; }
	out=$(realpath "$report")
	# shellcheck source=/dev/null
	source "$out/soak.params"
else
secs=${seconds:-$((minutes * 60))}
((workers <= 16)) || { echo "soak: --workers at most 16 per node" >&2; exit 2; }
((pages <= 256)) || { echo "soak: --pages at most 256" >&2; exit 2; }
for k in $kinds; do
	case $k in
	migrate | evict | linkflap | partition | freeze | kill | netem) ;;
	*) echo "soak: --kinds: unknown kind '$k'" >&2; exit 2 ;;
	esac
done
if [[ -z $kver ]]; then
	kver=$("$top/selftests/lab/debug-kernel.sh" --print-kver 2>/dev/null) || {
		echo "soak: the lab's debug kernel is not built: 'make debug-kernel' builds it" \
			"(make soak does), or pass --kver (e.g. --kver $("$top/tools/kvers.sh" newest))" >&2
		exit 2
	}
fi
[[ -d /lib/modules/$kver/build ]] || { echo "soak: no kernel build tree for '$kver'" >&2; exit 2; }
seed=${seed:-$(((RANDOM << 15 | RANDOM) % 1000000))}

out=${out:-$top/results/soak-$(date +%Y%m%d-%H%M%S)}
[[ ! -e $out/lab ]] || { echo "soak: $out already has a lab run" >&2; exit 2; }
mkdir -p "$out"
out=$(realpath "$out")

if ((build)); then
	step "building tinydsm.ko for $kver and the user space"
	make -s -C "$top" KVER="$kver" module user
fi
sw=$top/build/tools/soak_worker
[[ -x $sw ]] || { echo "soak: $sw is not built (make user)" >&2; exit 2; }

# The checker first, on plain memory: a soak is worth only what it checks.
if ((selftest)); then
	step "checker self-test (soak_worker selftest, no module)"
	if ! "$sw" selftest >"$out/selftest.log" 2>&1; then
		tail -n 20 "$out/selftest.log"
		step "the checker's self-test FAILED: no soak run ($out/selftest.log)"
		exit 1
	fi
	step "checker self-test: $(tail -n 1 "$out/selftest.log")"
fi

export TDSM_SOAK_SECONDS=$secs TDSM_SOAK_SEED=$seed TDSM_SOAK_FAULTS=$faults
export TDSM_SOAK_INTERVAL=$interval TDSM_SOAK_WORKERS=$workers
export TDSM_SOAK_PAGES=$pages TDSM_SOAK_PACE_US=$pace
[[ -n $kinds ]] && export TDSM_SOAK_KINDS=$kinds
# Boot, cluster and daemons, settling, stopping and the final check come
# on top of the soak's own time (each of them is bounded on the nodes).
timeout=$((secs + 1800))
what="faults every ~${interval}s (${kinds:-all kinds})"
((faults)) || what="no faults"
step "3 nodes, kernel $kver, ${secs}s, seed $seed, $what; lab timeout ${timeout}s"
printf '%s=%q\n' kver "$kver" secs "$secs" seed "$seed" what "$what" workers "$workers" \
	pages "$pages" pace "$pace" >"$out/soak.params"
set +e
"$top/selftests/lab/lab.sh" --kver "$kver" --nodes 3 --timeout "$timeout" \
	--out "$out/lab" tools/soak/soak_node.sh >"$out/lab.log" 2>&1 &
lab_pid=$!
tail -n +1 -F --pid=$lab_pid "$out/lab.log" 2>/dev/null |
	grep --line-buffered -E '^\[node[0-9]\] .*soak: .*(fault [0-9]+: [a-z]+:|FAIL|ABORT|settled|verify:|done:|injecting|no fault)|^\[lab\] .*(FAIL|freezing|RESULT|TIMEOUT|another lab)' &
tail_pid=$!
wait $lab_pid
lab_rc=$?
sleep 1
kill $tail_pid 2>/dev/null
wait $tail_pid 2>/dev/null
set -e
printf 'lab_rc=%q\n' "$lab_rc" >>"$out/soak.params"
fi

# ------------------------------------------------------------- summary
L=$out/lab
get() { # FILE KEY
	local v
	v=$(sed -n "s/^$2=//p" "$1" 2>/dev/null | tail -n 1)
	echo "${v:-0}"
}
row() { # LABEL FILE KEY [max]: one row, per node and the total (or the max)
	local label=$1 file=$2 key=$3 how=${4:-sum} i v vals=() line
	line=$(printf '  %-30s' "$label")
	for i in 1 2 3; do
		v=$(get "$L/node$i/$file" "$key")
		line+=$(printf ' %10s' "$v")
		vals+=("$v")
	done
	printf '%s %10s\n' "$line" "$(printf '%s\n' "${vals[@]}" | awk -v how="$how" '
		{ t += $1; if ($1 > m) m = $1 }
		END { if (how == "max") print m + 0; else print t + 0 }')"
}
S=$out/soak-summary.txt
failures=0
missing=''
for i in 1 2 3; do
	if [[ ! -s $L/node$i/node.env ]]; then
		missing+=" node$i"
		failures=$((failures + 1))
	else
		failures=$((failures + $(get "$L/node$i/node.env" failures)))
	fi
done
lab_ok=1
lab_why=''
for i in 1 2 3; do
	if [[ ! -e $L/node$i/lab_problems ]]; then
		lab_ok=0
		lab_why+="node$i: no verdict; "
	elif [[ -s $L/node$i/lab_problems ]]; then
		lab_ok=0
		lab_why+="node$i: $(tr '\n' ';' <"$L/node$i/lab_problems") "
	fi
done
((lab_rc == 0 || lab_rc == 1)) || { lab_ok=0; lab_why+="lab.sh exited $lab_rc; "; }
errnos=$(cat "$L"/node[123]/workers.env 2>/dev/null | sed -n 's/^\(errno_[A-Za-z0-9_]*\)=.*/\1/p' | sort -u)

{
	echo "tinydsm soak: kernel $kver, 3 nodes, ${secs} s, seed $seed, $what"
	echo "  workers: $workers per node, $pages data pages per home block, pause ${pace} us"
	echo "  results: $out"
	printf '  %-30s %10s %10s %10s %10s\n' "" node1 node2 node3 total
	echo "operations done"
	row "plain loads" workers.env plain_loads
	row "word loads (IOC_WORD)" workers.env word_loads
	row "plain stores" workers.env plain_stores
	row "word stores (IOC_WORD)" workers.env word_stores
	row "atomics (xadd)" workers.env atomics
	row "  of the loads: readbacks" workers.env readbacks
	row "final-check reads" verify.env verify_reads
	echo "errors (expected under faults)"
	row "SIGBUS on loads" workers.env sigbus_loads
	row "SIGBUS on stores" workers.env sigbus_stores
	row "SIGBUS on atomics" workers.env sigbus_atomics
	row "IOC_WORD load errors" workers.env word_load_errors
	row "IOC_WORD store errors" workers.env word_store_errors
	for e in $errnos; do row "  ${e#errno_}" workers.env "$e"; done
	row "ambiguous stores" workers.env ambiguous_stores
	row "  seen done later" workers.env ambiguous_seen_done
	row "ambiguous atomics" workers.env ambiguous_atomics
	row "workers killed (respawned)" workers.env killed
	row "longest stall, s (max)" workers.env max_stall_s max
	echo "faults injected (decided by node1; column: the node it hit)"
	for k in migrate evict linkflap partition freeze kill netem; do
		printf '  %-30s %10s %10s %10s %10s   (%s did not apply)\n' "$k" \
			"$(get "$L/node1/faults.env" "fault_${k}_node1")" \
			"$(get "$L/node1/faults.env" "fault_${k}_node2")" \
			"$(get "$L/node1/faults.env" "fault_${k}_node3")" \
			"$(get "$L/node1/faults.env" "fault_$k")" \
			"$(get "$L/node1/faults.env" "fault_${k}_failed")"
	done
	printf '  %-30s %10s %10s %10s %10s\n' "total" "" "" "" "$(get "$L/node1/faults.env" faults)"
	row "rxe QP1 dead, device re-created" node.env rxe_revived
	echo "FAILURES"
	row "word went backwards" workers.env fail_backwards
	row "writer's readback wrong" workers.env fail_readback
	row "garbage value" workers.env fail_garbage
	row "unexpected signal" workers.env fail_signal
	row "unexpected errno" workers.env fail_errno
	row "worker died (not killed)" workers.env died_other
	row "worker stalled" workers.env stalls
	row "worker hung at stop" workers.env hung
	row "final: words unreadable" verify.env verify_unreadable
	row "final: words wrong" verify.env verify_mismatch
	row "final: counters wrong" verify.env verify_counter_mismatch
	row "final: writer states missing" verify.env verify_missing_states
	row "cluster did not settle" node.env settle_failed
	row "supervisor/verify hung" node.env supervisor_hung
	row "failures" node.env failures
	row "run aborted (no soak done)" node.env aborted
	[[ -z $missing ]] || echo "  no results from:$missing (each counted as a failure)"
	if ((lab_ok)); then
		echo "lab verdict: PASS (no WARN/BUG/KASAN/lockdep/kmemleak/hung task report, rmmod ok)"
	else
		echo "lab verdict: FAIL: $lab_why"
	fi
	if ((failures)); then
		echo "failure digest (count, kind, errno or signal, page, nodes, first and last time):"
		cat "$L"/node[123]/failures.log 2>/dev/null | sort -k2,2 | awk -v ex="$out/.examples" '
		{
			k = ""; e = "-"; pg = "-"; t = ""; nd = ""
			for (i = 1; i <= NF; i++) {
				split($i, kv, "=")
				if (kv[1] == "kind") k = kv[2]
				else if (kv[1] == "errno" || kv[1] == "signal") { e = kv[2]; sub(/\(.*/, "", e) }
				else if (kv[1] == "addr") pg = substr(kv[2], 1, length(kv[2]) - 3) "000"
				else if (kv[1] == "t") t = kv[2]
				else if (kv[1] == "node") nd = kv[2]
			}
			key = k " " e " " pg
			if (!(key in n)) { order[++m] = key; first[key] = t; line[key] = $0 }
			n[key]++; last[key] = t
			if (index(nodes[key], nd) == 0) nodes[key] = nodes[key] nd
		}
		END {
			for (j = 1; j <= m; j++) {
				if (j > 60) { printf "  ... %d more groups\n", m - 60; break }
				split(order[j], f, " ")
				printf "  %6d  %-18s %-13s %-16s nodes %-4s %s .. %s\n", n[order[j]], f[1], f[2], f[3], nodes[order[j]], first[order[j]], last[order[j]]
				print "  " line[order[j]] >ex
			}
		}'
		echo "the first failure of each group:"
		cat "$out/.examples" 2>/dev/null
		rm -f "$out/.examples"
		echo "  (all of them: $L/node<i>/failures.log)"
	fi
	if ((failures == 0 && lab_ok)); then
		echo "RESULT: PASS"
	else
		echo "RESULT: FAIL ($failures failure(s), lab $( ((lab_ok)) && echo passed || echo failed))"
	fi
} >"$S"
cat "$S"
step "done in $((SECONDS - t_start)) s: $S"
((failures == 0 && lab_ok))
exit
}
