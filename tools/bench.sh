#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tinydsm's remote-memory benchmark, host side: boots one lab run per kernel
# (3 QEMU guests by default) running tools/bench/remote_bench.sh, collects
# its figures and prints the table: raw RDMA (perftest), tinydsm's remote
# read and write faults, sequential throughput, local faults, NVMe-oF.
# What each figure is: tools/bench/README.md.
#
#   tools/bench.sh [--kver KVER]... [--nodes 2|3] [--pages N] [--seq-pages N]
#                  [--no-nvme] [--no-build] [--timeout SEC] [--out DIR]
#
# Results: results/bench-<time>/ (or --out): <kver>/summary.txt (the table),
# <kver>/bench.env (every figure, key=value), <kver>/bench.csv,
# <kver>/samples/ (every timed access, ns), <kver>/lab/ (the lab's logs),
# and figures.csv (all kernels). Exit status: 0 if every
# lab run passed and measured everything, 1 otherwise, 2 usage.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kvers=() nodes=3 pages=500 seq_pages=2000 nvme=1 build=1 timeout=900 out=
idle_timeout=1800

usage() { sed -n '9,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
	case $1 in
	--kver) kvers+=("${2:?}"); shift 2 ;;
	--nodes) nodes=${2:?}; shift 2 ;;
	--pages) pages=${2:?}; shift 2 ;;
	--seq-pages) seq_pages=${2:?}; shift 2 ;;
	--no-nvme) nvme=0; shift ;;
	--no-build) build=0; shift ;;
	--timeout) timeout=${2:?}; shift 2 ;;
	--out) out=${2:?}; shift 2 ;;
	*) usage ;;
	esac
done
[[ $nodes =~ ^[23]$ ]] || { echo "bench: --nodes must be 2 or 3" >&2; exit 2; }
[[ $pages =~ ^[1-9][0-9]*$ && $seq_pages =~ ^[1-9][0-9]*$ ]] ||
	{ echo "bench: --pages and --seq-pages must be positive numbers" >&2; exit 2; }
((${#kvers[@]})) || kvers=("$("$top/tools/kvers.sh" newest)")
[[ -n ${kvers[0]} ]] || { echo "bench: no kernel with headers installed (make deps)" >&2; exit 2; }

out=${out:-$top/results/bench-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(realpath "$out")

if ((build)); then
	for k in "${kvers[@]}"; do make -s -C "$top" KVER="$k" module; done
	make -s -C "$top" "$top/build/tools/tinydsmctl" "$top/build/tools/remote_bench"
fi
rb=$top/build/tools/remote_bench

# The guests share this host's cores: another lab running at the same time
# would be measured too. Wait (bounded) until no other lab is running.
wait_idle() {
	local t n
	for ((t = 0; t < idle_timeout; t += 10)); do
		n=$(pgrep -c qemu-system || true)
		((n < 2)) && return 0
		((t == 0)) && echo "bench: $n qemu-system processes are running (another lab?): waiting up to ${idle_timeout}s"
		sleep 10
	done
	echo "bench: WARNING: still $(pgrep -c qemu-system || true) qemu-system processes; measuring anyway"
}

export TDSM_BENCH_PAGES=$pages TDSM_BENCH_SEQ_PAGES=$seq_pages TDSM_BENCH_NVME=$nvme
# perftest iterations: more than rdma_baseline.sh's default, so that a
# transient load on the host moves the baseline less
export TDSM_BASELINE_LAT_ITERS=${TDSM_BASELINE_LAT_ITERS:-2000}
export TDSM_BASELINE_BW_ITERS=${TDSM_BASELINE_BW_ITERS:-2000}

rc=0
echo "kernel,section,figure,stat,value,unit,ratio,ratio_to,target,verdict" >"$out/figures.csv"
for k in "${kvers[@]}"; do
	d=$out/$k
	mkdir -p "$d"
	wait_idle
	{
		echo "host=$(uname -n)"
		echo "host_cores=$(nproc)"
		echo "host_loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
		echo "host_qemu_start=$(pgrep -c qemu-system || true)"
		echo "git_head=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo none)"
		echo "git_dirty=$(git -C "$top" status --porcelain 2>/dev/null | wc -l)"
	} >"$d/host.env"
	echo "bench: kernel $k, $nodes nodes, $pages pages per latency figure, $seq_pages sequential; results in $d"
	# Every 2 s: how many qemu-system processes are not this run's guests,
	# and the load: a busy host makes every figure noisy.
	while :; do
		printf '%s %s %s\n' "$(date +%s)" \
			"$( (pgrep -a qemu-system || true) | grep -vcF -- "$d/lab/" || true)" \
			"$(cut -d' ' -f1 /proc/loadavg)"
		sleep 2
	done >"$d/host_samples.txt" &
	sampler=$!
	t0=$SECONDS
	lab_rc=0
	"$top/selftests/lab/lab.sh" --kver "$k" --nodes "$nodes" --timeout "$timeout" \
		--out "$d/lab" tools/bench/remote_bench.sh 2>&1 | tee "$d/lab.log" || lab_rc=$?
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
	{
		echo "host_wall_s=$((SECONDS - t0))"
		echo "lab_rc=$lab_rc"
		echo "host_foreign_qemu_max=$(awk '$2 > m { m = $2 } END { print m + 0 }' "$d/host_samples.txt")"
		echo "host_loadavg_max=$(awk '$3 > m { m = $3 } END { print m + 0 }' "$d/host_samples.txt")"
	} >>"$d/host.env"
	((lab_rc == 0)) || rc=1
	cp "$d/lab/node1/bench.env" "$d/bench.env" 2>/dev/null || : >"$d/bench.env"
	cp -r "$d/lab/node1/samples" "$d/" 2>/dev/null || true
	"$rb" report -c "$d/bench.csv" "$d/bench.env" "$d/host.env" >"$d/summary.txt" || rc=1
	{
		echo
		echo "lab: $(case $lab_rc in 0) echo PASS ;; 4) echo SKIP ;; *) echo "FAIL (exit $lab_rc)" ;; esac)," \
			"host wall time $((SECONDS - t0)) s," \
			"module sha256 $(grep -h '^module_sha256=' "$d/bench.env" | cut -d= -f2)," \
			"tree $(grep -h '^git_head=' "$d/host.env" | cut -d= -f2) ($(grep -h '^git_dirty=' "$d/host.env" | cut -d= -f2) files uncommitted)"
	} >>"$d/summary.txt"
	# every figure asked for must be there (2 nodes or --no-nvme ask for fewer)
	if ((nodes == 3 && nvme)) && ! grep -q '^bench figures_missing=0$' "$d/summary.txt"; then
		rc=1
	fi
	grep -q 'bench WARNING' "$d/summary.txt" && rc=1
	tail -n +2 "$d/bench.csv" >>"$out/figures.csv" 2>/dev/null || true
done

echo
for k in "${kvers[@]}"; do
	cat "$out/$k/summary.txt"
	echo
done
echo "bench: results in $out"
exit "$rc"
