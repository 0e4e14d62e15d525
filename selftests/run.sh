#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The tinydsm suite, run by `make check` on the host: for each kernel, the C
# selftests on one virtual node; once per kernel series, the tests on two
# and three nodes and the wire tests (on the lab's debug kernel, KASAN,
# lockdep and kmemleak, selftests/lab/debug-kernel.sh, for its series; on
# the stock kernel for the others: "Which kernel runs what" below); on the
# newest kernel the raw RDMA path between two nodes and a small make demo.
# Counts every TAP result, plus one result per lab run that fails if the
# node timed out, could not unload tinydsm, or logged a kernel WARN/BUG/oops
# or a KASAN, lockdep, kmemleak, list or hung-task report (selftests/lab/lab.sh
# decides that). Ends with "N passed, N failed".
#
#   selftests/run.sh --kver KVER [--kver KVER ...] [--debug-kver KVER | --debug-build DIR]
#                    [--out DIR] [--only SUITE[,SUITE...]] [--dry-run]
#
# Which tests each suite runs, and so which TAP files it counts, is the
# list in selftests/tinydsm/Makefile (build/selftests/tests.list, written
# by make user); a suite's time limit is the timeout in
# selftests/tinydsm/settings.
# --dry-run prints the lab runs and the tests each would count, and runs
# nothing.
#
# --debug-build DIR takes the debug kernel from the background build that
# selftests/debug_build.sh started in DIR (make check starts it first
# thing): the debug suites run once it is there, after the others.
# --only runs just the suites named (selftests, cluster2, cluster3, wire,
# rdma, demo; debug-cluster2, debug-wire, debug-cluster3 on the debug
# kernel), for a developer who is after one failure; make check runs them
# all.
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kvers=()
debug_kvers=()
debug_build=
out=$top/build/check
only=
dry_run=0
while [ $# -gt 0 ]; do
	case $1 in
	--kver) kvers+=("${2:?}"); shift 2 ;;
	--debug-kver) debug_kvers+=("${2:?}"); shift 2 ;;
	--debug-build) debug_build=${2:?}; shift 2 ;;
	--out) out=${2:?}; shift 2 ;;
	--only) only=,${2:?},; shift 2 ;;
	--dry-run) dry_run=1; shift ;;
	*) echo "usage: $0 --kver KVER [--kver KVER ...] [--debug-kver KVER | --debug-build DIR]" \
		"[--out DIR] [--only SUITE,...] [--dry-run]" >&2
	   exit 2 ;;
	esac
done
[ ${#kvers[@]} -gt 0 ] || { echo "run.sh: no kernel given (--kver)" >&2; exit 2; }

# shellcheck source=selftests/tinydsm/lib.sh
source "$top/selftests/tinydsm/lib.sh"
tdsm_tests selftests >/dev/null || exit 2

wanted() { # wanted SUITE: is SUITE to run?
	[ -z "$only" ] || [[ $only == *",$1,"* ]]
}

passed=0 failed=0 skipped=0
failures=()
((dry_run)) || { rm -rf "$out"; mkdir -p "$out"; }
start=$(date +%s)

result() { # result ok|fail|skip NAME
	case $1 in
	ok) passed=$((passed + 1)); echo "PASS: $2" ;;
	skip) skipped=$((skipped + 1)); echo "SKIP: $2" ;;
	*) failed=$((failed + 1)); failures+=("$2"); echo "FAIL: $2" ;;
	esac
}

# Count the TAP lines of one test binary's output.
count_tap() { # count_tap KVER FILE
	local name line
	name=$(basename "$2" .tap)
	if ((dry_run)); then
		echo "    count: $1 $name"
		return
	fi
	if [ ! -s "$2" ]; then
		result fail "$1 $name: no output"
		return
	fi
	while IFS= read -r line; do
		case $line in
		"not ok "*) result fail "$1 $name: ${line#not ok }" ;;
		"ok "*"# SKIP"*) result skip "$1 $name: ${line#ok }" ;;
		"ok "*) result ok "$1 $name: ${line#ok }" ;;
		esac
	done <"$2"
	# A binary that died mid-way prints fewer results than its plan.
	if ! grep -q '^# Totals:' "$2"; then
		result fail "$1 $name: did not finish (no Totals line)"
	fi
}

# A lab's hard timeout (selftests/tinydsm/settings); the debug kernel runs
# everything several times slower.
suite_timeout=$(sed -n 's/^timeout=//p' "$top/selftests/tinydsm/settings")
lab_timeout=$suite_timeout

# Labs run again because a guest died of Soft-RoCE's own panic or its
# NIC stopped sending, for the summary: "KVER NAME: the report's first
# line (first attempt in DIR)".
rxe_reruns=()

# The 5 slowest test cases of a node, from the marks the runner puts in
# its kernel log (selftests/tinydsm/lib.sh): "SECONDS TEST CASE".
slowest_cases() { # DMESG
	[ -r "$1" ] || return 0
	awk '/tinydsm-selftest: [a-z_0-9]+: (#  RUN |ok |not ok )/ {
		ts = substr($0, 2, index($0, "]") - 2) + 0
		sub(/.*tinydsm-selftest: /, "")
		t = $1; sub(/:$/, "", t)
		if ($2 == "#") { start = ts; name = $4; next }
		if (name != "") printf "%6.0f s  %s %s\n", ts - start, t, name
		name = ""
	}' "$1" | sort -rn | head -n 5
}

# One lab run: its own verdict (boot, rmmod, kernel log) is a result too.
# A lab on a stock kernel in which a guest died of the known panic of
# 6.12's Soft-RoCE (selftests/lab/rxe_panicked.sh: a panic whose report is
# inside rdma_rxe and names no tinydsm code; README, "Known problems"), or
# whose emulated NIC stopped sending (selftests/lab/nic_stalled.sh: its
# transmit queue timed out, before any error report), runs once more, as
# make demo's do, and the summary lists it. A second such fault, any other
# report, and any of them on the debug kernel fail.
lab_run() { # lab_run KVER NAME NODES SCRIPT
	local dir=$out/$1/$2 rc i problems t0 why
	t0=$(date +%s)
	echo "=== $1: $2 ($3 node(s)): $4"
	if ((dry_run)); then
		echo "    lab.sh --kver $1 --nodes $3 --timeout $lab_timeout $4"
		tdsm_tests "$2" | sed 's/^/    each node runs: /'
		return 0
	fi
	"$top/selftests/lab/lab.sh" --kver "$1" --nodes "$3" --timeout "$lab_timeout" \
		--out "$dir" "$4"
	rc=$?
	if [[ $rc -ne 0 && $1 != *-tdsm-debug ]] &&
	   { why=$("$top/selftests/lab/rxe_panicked.sh" "$dir") ||
	     why=$("$top/selftests/lab/nic_stalled.sh" "$dir"); }; then
		echo "=== $1: $2: a guest died of Soft-RoCE's panic or its NIC stalled ($why);" \
			"first attempt kept in $dir.rxe-panic, running the lab again"
		rm -rf "$dir.rxe-panic"
		mv "$dir" "$dir.rxe-panic"
		rxe_reruns+=("$1 $2: $why (first attempt in $dir.rxe-panic)")
		"$top/selftests/lab/lab.sh" --kver "$1" --nodes "$3" --timeout "$lab_timeout" \
			--out "$dir" "$4"
		rc=$?
	fi
	# Where the suite's time goes (make check must stay within CI's budget).
	echo "=== $1: $2 took $(($(date +%s) - t0)) s; its slowest test cases (node1):"
	slowest_cases "$dir/node1/dmesg" | sed 's/^/    /'
	problems=
	for ((i = 1; i <= $3; i++)); do
		[ -s "$dir/node$i/lab_problems" ] &&
			problems+="node$i: $(tr '\n' ' ' <"$dir/node$i/lab_problems") "
	done
	if [ "$rc" -eq 2 ]; then
		result fail "$1 $2: lab could not start (see above)"
	elif [ -n "$problems" ]; then
		result fail "$1 $2: lab: $problems"
	else
		result ok "$1 $2: lab: booted, tinydsm unloaded, kernel log clean"
	fi
	return "$rc"
}

# The tests SUITE runs, by name (the list's first word).
suite_tests() { # SUITE
	tdsm_tests "$1" | awk '{ print $1 }'
}

# Count node1's TAP file of every test of SUITE.
count_node1() { # KVER SUITE
	local t
	for t in $(suite_tests "$2"); do
		count_tap "$1" "$out/$1/$2/node1/$t.tap"
	done
}

# The suites, each one lab run on KVER.
suite_selftests() { # KVER
	lab_run "$1" selftests 1 selftests/tinydsm/run_tests.sh
	count_node1 "$1" selftests
}

suite_cluster() { # KVER NODES
	local i t tests
	mapfile -t tests < <(suite_tests "cluster$2")
	lab_run "$1" "cluster$2" "$2" selftests/tinydsm/run_cluster_tests.sh
	for ((i = 1; i <= $2; i++)); do
		for t in "${tests[@]}"; do
			if [[ -n ${TDSM_CLUSTER_TESTS:-} &&
				" $TDSM_CLUSTER_TESTS " != *" $t "* ]]; then
				result skip "$1 cluster$2 node$i $t: ${cluster_skip_why:-not in TDSM_CLUSTER_TESTS}"
				continue
			fi
			count_tap "$1 cluster$2 node$i" "$out/$1/cluster$2/node$i/$t.tap"
		done
	done
}

suite_wire() { # KVER
	lab_run "$1" wire 2 selftests/tinydsm/run_wire_tests.sh
	count_node1 "$1" wire
}

suite_rdma() { # KVER
	if lab_run "$1" rdma 2 selftests/lab/rdma_baseline.sh; then
		((!dry_run)) || return 0
		result ok "$1 rdma: ib_read_lat/ib_read_bw between node1 and node2 over rxe"
		sed 's/^/    /' "$out/$1/rdma/node1/baseline.env" 2>/dev/null
	else
		result fail "$1 rdma: perftest between node1 and node2 over rxe"
	fi
}

# The NODES-node suite with only TESTS, the others skipped saying WHY, unless
# the caller chose the tests (TDSM_CLUSTER_TESTS).
suite_cluster_subset() { # KVER NODES "TESTS" WHY
	local was_set=${TDSM_CLUSTER_TESTS+1} was=${TDSM_CLUSTER_TESTS-}

	if [ -z "$was" ]; then
		export TDSM_CLUSTER_TESTS=$3
		cluster_skip_why=$4
	fi
	suite_cluster "$1" "$2"
	cluster_skip_why=
	if [ -n "$was_set" ]; then
		TDSM_CLUSTER_TESTS=$was
	else
		unset TDSM_CLUSTER_TESTS
	fi
}

# Which kernel runs what. Every stock kernel runs the one-node suite (the
# module as Debian builds kernels: loading, the device, the ioctls, the
# access sites). The 2- and 3-node suites and the wire tests run once per
# kernel series: on the lab's debug kernel for its series (6.12; the same
# tests, under KASAN, lockdep and kmemleak, so the stock 6.12 kernel would
# only repeat them, and make check has to fit CI's time), on the stock
# kernel for any other series (Debian 12's own 6.1). The perftest baseline
# and the demo run on the newest stock kernel. --only, or no debug kernel
# (DEBUG_KERNEL=0), runs every suite asked for on every kernel given.
kver_series() { # KVER: 6.12.118+deb12-amd64 -> 6.12
	local IFS=.
	read -r major minor _ <<<"$1"
	echo "$major.$minor"
}
debug_series=
if [ -n "$debug_build" ] || [ ${#debug_kvers[@]} -gt 0 ]; then
	debug_series=$(sed -n 's/^series=//p' "$top/selftests/lab/debug-kernel.sh")
	for k in "${debug_kvers[@]}"; do debug_series=$(kver_series "$k"); done
fi
multi_node_here() { # KVER: run the 2- and 3-node suites and the wire on KVER?
	[ -n "$only" ] || [ -z "$debug_series" ] ||
		[[ $(kver_series "$1") != "$debug_series" ]]
}
# A suite not run on KVER, said once in the summary.
suite_elsewhere() { # KVER SUITE
	result skip "$1 $2: run on the debug kernel of the same series ($debug_series), not again here (make check's time)"
}
# The shared heap's 2-node tests (heap_cluster_test: random malloc/free
# from both nodes, the SPLASH-style applications joined, interleaved
# placement) reach the kernel only through paths the other tests drive
# under KASAN (PLACE and its failures: the wire tests), and took 202 of the
# debug kernel's 1149 s of 2-node tests: on the debug kernel's series they
# run on its stock kernel instead, in a 2-node lab of their own.
heap_pair="cluster_sync_test heap_cluster_test"
newest=${kvers[${#kvers[@]} - 1]}
for k in "${kvers[@]}"; do
	! wanted selftests || suite_selftests "$k"
	for s in cluster2 cluster3 wire; do
		wanted "$s" || continue
		if ! multi_node_here "$k" && [ "$s" = cluster2 ]; then
			suite_cluster_subset "$k" 2 "$heap_pair" \
				"run on the debug kernel of the same series ($debug_series)"
		elif ! multi_node_here "$k"; then
			suite_elsewhere "$k" "$s"
		elif [ "$s" = wire ]; then
			suite_wire "$k"
		else
			suite_cluster "$k" "${s#cluster}"
		fi
	done
	if wanted rdma && { [[ $k == "$newest" ]] || [[ -n $only ]]; }; then
		suite_rdma "$k"
	fi
done

# make demo, small (64 pages, 1 repetition), on the newest kernel given:
# the README's other command must keep working. tools/demo.sh fails if a
# lab fails, a scenario reads back wrong data or a figure is missing.
suite_demo() { # KVER
	local k=$1 f
	echo "=== $k: demo (tools/demo.sh --pages 64 --reps 1 --a-sizes 1)"
	((!dry_run)) || return 0
	mkdir -p "$out/$k" # with --only demo, no other suite made it
	if "$top/tools/demo.sh" --no-build --kver "$k" --pages 64 --reps 1 --a-sizes 1 \
		--only a,a12,b,s \
		--out "$out/$k/demo" >"$out/$k/demo.log" 2>&1; then
		result ok "$k demo: a, a.1/a.2, b.1/b.2: full table, data read back right"
		for f in summary.txt figures.csv figures.json latency.png repopulation.png access.png; do
			if [[ -s $out/$k/demo/$f ]]; then
				result ok "$k demo: wrote $f"
			else
				result fail "$k demo: no $f"
			fi
		done
	else
		result fail "$k demo: tools/demo.sh failed (see $out/$k/demo.log)"
		tail -n 30 "$out/$k/demo.log" | sed 's/^/    /'
	fi
}

if wanted demo; then
	t0=$(date +%s)
	suite_demo "$newest"
	echo "=== $newest: demo took $(($(date +%s) - t0)) s"
fi

# The debug kernel, once its background build is done.
if [ -n "$debug_build" ] && ((dry_run)); then
	debug_kvers+=("(debug kernel)")
elif [ -n "$debug_build" ]; then
	if k=$("$top/selftests/debug_build.sh" wait "$debug_build"); then
		debug_kvers+=("$k")
	else
		result fail "debug kernel: make debug-kernel failed (see $debug_build/log)"
	fi
fi

# The debug kernel: the 2- and 3-node suites and the wire tests (a
# misbehaving peer: malformed and stale messages, late writes), where the
# transport's and the protocol's failure paths run, under KASAN, lockdep
# and kmemleak. A migration runs about 100 times slower there, so the two
# tests of a node that dies in the middle of one move 512 pages, not 4096
# (TDSM_KILL_PAGES), and the tests that repeat a step many times repeat it
# fewer times (pages migrated, ping-pong rounds, atomic increments,
# processes killed mid-fault, link flaps, del/add loops): the paths are
# the same, and make check fits CI's time. A knob set by the caller wins.
# The 3-node suite there is the migration tests (a node dying in the
# middle of one, under KASAN and lockdep); trio coherence (214 s there),
# the cache with two homes and the daemons run on the stock kernel of the
# other series (6.1) only, so that make check stays within CI's time.
trio_debug="cluster_sync_test migration_test"
# The 2-node suite there is every test but run_test (tinydsmctl run: the
# daemons' code, which the debug kernel does not check; 6.1 runs it) and
# heap_cluster_test (on the stock kernel of the series, above).
pair_debug=$(suite_tests cluster2 | grep -vxE 'run_test|heap_cluster_test' | xargs)
# A lab's bound there: the 2-node suite took 789 to 1524 s on the machines
# seen (1390 s on a fresh one, where make check builds the debug kernel;
# 1524 s on one with the kernel cached, the slowest so far).
lab_timeout=2100
export TDSM_MIGRATE_PAGES=${TDSM_MIGRATE_PAGES:-128} TDSM_CTL_PAGES=${TDSM_CTL_PAGES:-128}
export TDSM_PINGPONG_ROUNDS=${TDSM_PINGPONG_ROUNDS:-40} TDSM_ATOMIC_ITERS=${TDSM_ATOMIC_ITERS:-100}
export TDSM_KILL_ROUNDS=${TDSM_KILL_ROUNDS:-15} TDSM_FLAPS=${TDSM_FLAPS:-1}
export TDSM_DEL_LOOPS=${TDSM_DEL_LOOPS:-4}
# make check's time budget. CI gives make check 90 minutes on 2 cores, and
# the debug kernel's suites, which come last, are the slowest (10 to 20
# minutes each, more on a busy host). Each starts only while this run is
# under TDSM_CHECK_BUDGET_S seconds from its start (default 3000, 50
# minutes); a later one is skipped, and the summary says so. In the order
# of what they find: the 2-node suite (coherence, the cache, connections
# failing), the wire tests (a misbehaving peer), the 3-node migration tests.
# --only, or TDSM_CHECK_BUDGET_S=0, runs them whatever the time.
check_budget=${TDSM_CHECK_BUDGET_S:-3000}
[ -z "$only" ] || check_budget=0
within_budget() { # KVER SUITE: may SUITE start now?
	local used=$(($(date +%s) - start))

	if [ "$check_budget" -eq 0 ] || [ "$used" -lt "$check_budget" ]; then
		return 0
	fi
	result skip "$1 $2: not started: $used s into the run, past make check's budget of $check_budget s (TDSM_CHECK_BUDGET_S=0 runs it)"
	return 1
}
for k in "${debug_kvers[@]}"; do
	! wanted debug-cluster2 || ! within_budget "$k" cluster2 ||
		suite_cluster_subset "$k" 2 "$pair_debug" \
			"on the stock kernels only (run_test: the daemons' code, on 6.1; heap_cluster_test: the shared heap)"
	! wanted debug-wire || ! within_budget "$k" wire || suite_wire "$k"
	if wanted debug-cluster3 && within_budget "$k" cluster3; then
		export TDSM_KILL_PAGES=${TDSM_KILL_PAGES:-512}
		suite_cluster_subset "$k" 3 "$trio_debug" \
			"on the stock 6.1 kernel only (make check's time)"
	fi
done
lab_timeout=$suite_timeout

if ((dry_run)); then
	echo "dry run: nothing was run"
	exit 0
fi
echo
echo "suite time: $(($(date +%s) - start)) s, logs in $out"
for f in "${failures[@]}"; do echo "failed: $f"; done
for f in "${rxe_reruns[@]}"; do echo "run again after Soft-RoCE's panic or a stalled NIC: $f"; done
echo "$passed passed, $failed failed, $skipped skipped"
# What each node of the first two labs that failed said last: CI keeps
# only the end of this output, and the lab's files go with it. The first
# error report, the NIC's state if it stalled (selftests/lab/lab.sh's
# snapshot of its rings, the guest's interrupt counts), the module's last
# lines.
report='BUG:|Oops|WARNING:|Kernel panic|blocked for more than|corruption|general protection'
seen=" "
for f in "${failures[@]}"; do
	read -r kv suite _ <<<"$f"
	suite=${suite%:}
	[[ $seen == *" $kv/$suite "* ]] && continue
	seen+="$kv/$suite "
	[ "$(wc -w <<<"$seen")" -le 2 ] || break
	for d in "$out/$kv/$suite"/node*; do
		[ -f "$d/dmesg.live" ] || continue
		echo "--- $kv $suite $(basename "$d"): first report, NIC, the module's last lines"
		grep -a -m 1 -E "$report" "$d/dmesg.live"
		# What failed the lab (from the console too, which holds what a
		# hung guest never streamed), in the order the kernel said it.
		[ -s "$d/kernel_errors" ] && head -n 8 "$d/kernel_errors" | sed 's/^/kernel: /'
		# A guest that hung: where its console stopped (a stall's stack).
		grep -qs '^timeout' "$d/lab_problems" && tail -n 20 "$d/console.log" |
			sed 's/^/console: /'
		stall=$(grep -a -n -m 1 'NETDEV WATCHDOG' "$d/dmesg.live")
		if [ -n "$stall" ]; then
			# what the module did just before its NIC stopped
			head -n "${stall%%:*}" "$d/dmesg.live" | grep -a tinydsm | tail -n 3
			echo "${stall#*:}"
		fi
		[ -f "$d/nic_stall.txt" ] && grep -a -E '^summary|broken' "$d/nic_stall.txt"
		[ -s "$d/qemu.log" ] && tail -n 3 "$d/qemu.log" | sed 's/^/qemu: /'
		[ -f "$d/nic_stall.guest" ] && grep -a -E '^===|virtio[0-9]-(in|out)put' "$d/nic_stall.guest" |
			awk '{ $1 = $1; print "guest: " $0 }'
		grep -a -E 'tinydsm' "$d/dmesg.live" | tail -n 5
	done
done
[ "$failed" -eq 0 ]
