#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# How often do lab guests' kernels die, and where? Runs the same lab RUNS
# times and counts the runs in which a guest logged a panic, an oops or a
# BUG, with the first report's signature (the report line, "stack guard
# page" or not, and the function it names), so that a crash inside
# Soft-RoCE can be told from one in tinydsm.
#
#   tools/panic_rate.sh [--kver KVER] [--runs N] [--kind rxe|demo] [--pages N]
#                       [--out DIR]
#
#   --kind rxe    2 nodes, tinydsm not loaded: Soft-RoCE alone under
#                 perftest load (selftests/lab/rxe_stress.sh)
#   --kind demo   make demo's labs, tinydsm loaded (tools/demo.sh --pages N
#                 --reps 1; N is 64 by default, as make check runs it;
#                 make demo's own is 1024)
#
# Prints one line per run and a summary; writes them to DIR/summary.txt.
# Exit 0 whatever the rate (this measures; it does not judge), 2 on usage.
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kver=
runs=10
kind=rxe
pages=64
out=
usage() {
	sed -n '/^#   tools/,/^# Prints/p' "$0" | sed 's/^# \{0,1\}//' >&2
	echo "usage: $0 [--kver KVER] [--runs N] [--kind rxe|demo] [--pages N] [--out DIR]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--kver) kver=${2:?}; shift 2 ;;
	--runs) runs=${2:?}; shift 2 ;;
	--kind) kind=${2:?}; shift 2 ;;
	--pages) pages=${2:?}; shift 2 ;;
	--out) out=${2:?}; shift 2 ;;
	*) usage ;;
	esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || usage
[[ $kind == rxe || $kind == demo ]] || usage
kver=${kver:-$("$top/tools/kvers.sh" newest)}
out=${out:-$top/results/panic-rate-$kind-$kver-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"

# The first kernel report in a run's consoles: "<node>: <line> [guard page]
# in <function>", or nothing if the kernels stayed well.
signature() { # signature RUNDIR
	local f line fn guard
	for f in "$1"/node*/console.log "$1"/lab*/node*/console.log; do
		[ -f "$f" ] || continue
		line=$(grep -m1 -E 'Kernel panic|BUG:|Oops|kernel BUG|general protection' "$f") ||
			continue
		guard=
		grep -q 'stack guard page' "$f" && guard=" (stack guard page was hit)"
		fn=$(grep -m1 -E '^\s*(\[[ 0-9.]+\] )?RIP: ' "$f" | sed -E 's/.*RIP: [0-9a-f]+:([^ ]+).*/\1/')
		echo "${f#"$1"/}: ${line#*] }$guard${fn:+ in $fn}"
		return
	done
}

died=0
: >"$out/summary.txt"
for ((r = 1; r <= runs; r++)); do
	d=$out/run$r
	case $kind in
	rxe)
		"$top/selftests/lab/lab.sh" --kver "$kver" --nodes 2 --no-module --timeout 900 \
			--out "$d" selftests/lab/rxe_stress.sh >"$d.log" 2>&1
		;;
	demo)
		"$top/tools/demo.sh" --no-build --no-retry --kver "$kver" --pages "$pages" --reps 1 \
			--a-sizes 1 --out "$d" >"$d.log" 2>&1
		;;
	esac
	rc=$?
	sig=$(signature "$d")
	if [ -n "$sig" ]; then
		died=$((died + 1))
		line="run $r: guest kernel died: $sig"
	else
		line="run $r: kernels well (lab status $rc)"
	fi
	echo "$line" | tee -a "$out/summary.txt"
done
echo "$kind labs on $kver: $died of $runs with a dead guest kernel" | tee -a "$out/summary.txt"
