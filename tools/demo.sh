#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make demo: these scenarios on QEMU guests, end to end.
#   a        per-access cost on a local page: plain, direct site, lookup site
#   a.1/a.2  2 nodes, pages homed on node2, application on node1: first-touch
#            fault+fetch, then steady state with sites lookup (a.1) and
#            direct (a.2)
#   b.1/b.2  3 nodes: node1 reads node2's pages, `tinydsmctl migrate --from
#            node2 --to node3`, then lazy (b.1) or eager (b.2: direct, or
#            lookup) repopulation
#   s        3 nodes: synchronisation across the nodes (tools/bench.sh
#            --only sync): remote atomics against a page ping-pong, the
#            mutex uncontended and contended, a 3-node barrier, wait/wake
#            handoffs, each against the remote atomic's round trip
#   m        3 nodes: the allocator study (tools/bench.sh --only alloc):
#            one ALLOC per malloc, glibc-like chunks and libtinydsm's
#            arenas, their mallocs per round trip and fragmentation
#   p        3 nodes: the SPLASH-style programs of tools/apps/ on 1, 2
#            and 3 nodes (tools/bench.sh --only programs): time, faults,
#            traffic and what the faults were for
# with the raw RDMA baseline (perftest ib_read_lat/ib_read_bw between the
# same guests, in the same run) and every figure as a ratio to it.
# Definitions: tools/bench/README.md; what runs where: tools/demo/README.md.
# The table, CSV, JSON and plots: tools/report/report.py demo.
#
#   tools/demo.sh [--kver KVER] [--pages N] [--reps N] [--only a,a12,b,s,m,p]
#                 [--a-sizes "MiB ..."] [--out DIR] [--no-build] [--no-retry]
#
# --no-retry: a lab whose guest kernel panicked in rdma_rxe is not run
# again (tools/panic_rate.sh counts such panics).
#
# Results: results/demo-<time>/ (or --out): summary.txt (the table, also
# printed), figures.csv, figures.json, latency.png, repopulation.png,
# access.png, lab2/ and lab3/ (the labs' logs, every sample), sync/ (s:
# tools/bench.sh's results, its table also printed), alloc/ (m: the
# same), programs/ (p: the same), host-a.env
# (scenario a on the host: callgrind counts, native times). Exit status:
# 0 every scenario ran and read back the right data, 1 otherwise, 2 usage.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/lab-host.sh
source "$top/tools/lab-host.sh"
kver='' pages=1024 reps=5 only='a,a12,b,s,m,p' a_sizes='1 16' out='' build=1 retry=1

usage() { sed -n '/^#   tools\/demo.sh \[/,/^#$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
	case $1 in
	--kver) kver=${2:?}; shift 2 ;;
	--pages) pages=${2:?}; shift 2 ;;
	--reps) reps=${2:?}; shift 2 ;;
	--only) only=${2:?}; shift 2 ;;
	--a-sizes) a_sizes=${2:?}; shift 2 ;;
	--out) out=${2:?}; shift 2 ;;
	--no-build) build=0; shift ;;
	--no-retry) retry=0; shift ;;
	-h|--help) usage ;;
	*) echo "demo: unknown option '$1'" >&2; usage ;;
	esac
done
if ! [[ $pages =~ ^[1-9][0-9]*$ ]] || ((pages > 65536)); then
	echo "demo: --pages must be 1..65536" >&2; exit 2
fi
if ! [[ $reps =~ ^[1-9][0-9]?$ ]] || ((reps > 20)); then
	echo "demo: --reps must be 1..20" >&2; exit 2
fi
scen=" "
for s in ${only//,/ }; do
	case $s in
	a|a12|b) scen+="$s " ;;
	a.1|a.2|a1|a2) scen+="a12 " ;;
	b.1|b.2|b1|b2) scen+="b " ;;
	s|sync) scen+="s " ;;
	m|alloc) scen+="m " ;;
	p|programs) scen+="p " ;;
	*) echo "demo: --only: '$s' is not a, a12, b, s, m or p" >&2; exit 2 ;;
	esac
done
[[ -n ${scen// /} ]] || { echo "demo: --only is empty" >&2; exit 2; }
for n in $a_sizes; do
	if ! [[ $n =~ ^[1-9][0-9]*$ ]] || ((n & (n - 1) || n > 256)); then
		echo "demo: --a-sizes: '$n' is not a power of two MiB up to 256" >&2; exit 2
	fi
done
kver=${kver:-$(lab_newest_kver)}
[[ -n $kver && -d /lib/modules/$kver/build ]] ||
	{ echo "demo: no kernel headers for '$kver' (make deps)" >&2; exit 2; }

[[ -z $out || (! -e $out/lab2 && ! -e $out/lab3) ]] ||
	{ echo "demo: $out already has labs" >&2; exit 2; }
lab_results_dir demo
t_start=$SECONDS

step() { printf '[demo +%3ss] %s\n' "$((SECONDS - t_start))" "$*"; }
lab_say() { step "$@"; }

if ((build)); then
	step "building tinydsm.ko for $kver and the user space"
	make -s -C "$top" KVER="$kver" module
	make -s -C "$top" "$top/build/tools/tinydsmctl" "$top/build/daemon/tinydsmd" \
		"$top/build/tools/remote_bench" "$top/build/tools/access_bench" \
		"$top/build/tools/seed_demo" "$top/build/tools/sync_bench" \
		"$top/build/tools/alloc_bench"
	if [[ $scen == *" p "* ]]; then make -s -C "$top" user; fi
fi

# One lab at a time on this host (the tests and benchmarks take it too).
lab_lock

# Region: node2 backs every run (b: 3 per repetition); slices of 4 nodes.
runs=$((reps * 3))
((runs < 1)) && runs=1
need_mb=$(((pages * runs * 4096 + (1 << 20) - 1) >> 20))
region_mb=$((need_mb * 4 + 64))
((region_mb < 256)) && region_mb=256
mem_mb=$((need_mb * 2 + 1024))
export TDSM_DEMO_PAGES=$pages TDSM_DEMO_REPS=$reps TDSM_DEMO_SCENARIOS="$scen"
export TDSM_DEMO_A_SIZES="$a_sizes"

rc=0
# lab_once NODES DIR: one lab run; progress lines (demo:, seed_demo:) to the
# console. A guest that stops before its script is done (a kernel panic)
# makes the others stop waiting at once (the shared abort file), instead of
# at the end of their waits.
lab_once() {
	local n=$1 d=$2 pid i r
	lab_sh --kver "$kver" --nodes "$n" --timeout 1500 \
		--mem "$mem_mb" --module-args "region_size_mb=$region_mb" \
		--out "$d" tools/demo/demo_node.sh >"$d.log" 2>&1 &
	pid=$!
	tail -n +1 -F --pid=$pid "$d.log" 2>/dev/null |
		grep --line-buffered -E '^\[node[0-9]\] (demo|seed_demo):|^\[lab\].*(FAIL|fail|error)' &
	while kill -0 "$pid" 2>/dev/null; do
		for ((i = 1; i <= n; i++)); do
			if [[ -e $d/node$i/qemu_exit && ! -e $d/node$i/done &&
				! -e $d/shared/demo/abort ]]; then
				step "node$i stopped before its script was done: stopping the others"
				mkdir -p "$d/shared/demo" && touch "$d/shared/demo/abort"
			fi
		done
		sleep 1
	done
	wait "$pid"
	r=$?
	wait
	return "$r"
}

# lab NODES: lab_once, and once more if a guest kernel panicked inside
# Soft-RoCE (lab_rxe_panicked). The first attempt is kept.
lab() {
	local n=$1 d=$out/lab$1 r
	step "booting $n QEMU guests (kernel $kver, TCG, Soft-RoCE): scenarios${scen}"
	set +e
	lab_once "$n" "$d"
	r=$?
	if ((r && retry)) && lab_rxe_panicked "$d"; then
		step "a guest kernel panicked in rdma_rxe (Soft-RoCE); kept in lab$n.panic/, running the lab again"
		mv "$d" "$d.panic" && mv "$d.log" "$d.panic.log"
		lab_once "$n" "$d"
		r=$?
	fi
	set -e
	if ((r)); then
		step "lab of $n nodes failed (status $r): $d.log"
		tail -n 20 "$d.log" | sed 's/^/    /'
		rc=1
	fi
}

# a, on the host, before the labs: the loops' instructions per access
# (callgrind: exact, whatever the machine) and their native time, for scale.
if [[ $scen == *" a "* ]]; then
	step "a: instructions per access (callgrind) and native times, on this host"
	mkdir -p "$out/host-a"
	if ! "$top/build/tools/access_bench" local -H -s "$a_sizes" -r "$reps" -Q "$reps" \
		-m 16777216 -R 4194304 -e "$out/host-a.env" -k h_ >"$out/host-a/native.log" 2>&1 ||
		! "$top/tools/bench/access_bench.sh" callgrind "$out/host-a.env" "$out/host-a" -H \
			>"$out/host-a/callgrind.log" 2>&1; then
		step "a on the host failed: $out/host-a/"
		rc=1
	fi
fi
if [[ $scen == *" a "* || $scen == *" a12 "* ]]; then lab 2; fi
if [[ $scen == *" b "* ]]; then lab 3; fi
lab_unlock

step "report"
if [[ $scen == *" a "* || $scen == *" a12 "* || $scen == *" b "* ]]; then
	"$top/tools/report/report.py" demo "$out" "$kver" || rc=1
fi
# s and m: benchmarks with labs of their own, which take the lab lock
# themselves (so after ours is let go); their tables go in the summary.
# bench_scenario NAME ONLY TITLE
bench_scenario() {
	local name=$1 only=$2 title=$3
	step "$name: $title (tools/bench.sh --only $only)"
	if ! "$top/tools/bench.sh" --no-build --kver "$kver" --only "$only" \
		--out "$out/$only" >"$out/$only.log" 2>&1; then
		step "$name failed: $out/$only.log"
		tail -n 20 "$out/$only.log" | sed 's/^/    /'
		rc=1
	fi
	if [[ -s $out/$only/$kver/summary.txt ]]; then
		tee -a "$out/summary.txt" <"$out/$only/$kver/summary.txt"
	fi
}
if [[ $scen == *" s "* ]]; then
	bench_scenario s sync "synchronisation across 3 nodes"
fi
if [[ $scen == *" m "* ]]; then
	bench_scenario m alloc "the allocator study, node1 of 3"
fi
if [[ $scen == *" p "* ]]; then
	bench_scenario p programs "tools/apps/ on 1, 2 and 3 nodes"
fi
step "done in $((SECONDS - t_start)) s: $out"
exit "$rc"
