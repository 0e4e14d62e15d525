#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tinydsm's benchmarks, host side: per kernel, one lab run (3 QEMU guests by
# default) of tools/bench/remote_bench.sh (raw RDMA (perftest), tinydsm's
# remote read and write faults, sequential throughput, local faults,
# NVMe-oF), then one of tools/bench/migrate_bench.sh (page migration
# throughput against ib_read_bw, lazy vs eager repopulation); collects the
# figures and prints the tables. What each figure is: tools/bench/README.md.
#
#   tools/bench.sh [--kver KVER]... [--nodes 2|3] [--only remote|migrate]
#                  [--pages N] [--seq-pages N] [--no-nvme]
#                  [--mig-sizes "N ..."] [--mig-reps N]
#                  [--no-build] [--timeout SEC] [--out DIR]
#
# Results: results/bench-<time>/ (or --out): <kver>/summary.txt (the
# tables), <kver>/bench.env (every remote figure, key=value, and the
# migration's derived figures, mig_* and repop_*), <kver>/bench.csv,
# <kver>/migrate.env (every migration repetition), <kver>/migrate.csv,
# <kver>/samples/ (every timed access, ns), <kver>/lab/ and
# <kver>/lab-migrate/ (the labs' logs), and figures.csv (all kernels, both
# benchmarks). Exit status: 0 if every lab run passed and measured
# everything, 1 otherwise, 2 usage.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kvers=() nodes=3 pages=500 seq_pages=2000 nvme=1 build=1 timeout=900 out=
only='' mig_sizes="1024 8192" mig_reps=3
idle_timeout=1800

usage() { sed -n '10,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
	case $1 in
	--kver) kvers+=("${2:?}"); shift 2 ;;
	--nodes) nodes=${2:?}; shift 2 ;;
	--only) only=${2:?}; shift 2 ;;
	--pages) pages=${2:?}; shift 2 ;;
	--seq-pages) seq_pages=${2:?}; shift 2 ;;
	--no-nvme) nvme=0; shift ;;
	--mig-sizes) mig_sizes=${2:?}; shift 2 ;;
	--mig-reps) mig_reps=${2:?}; shift 2 ;;
	--no-build) build=0; shift ;;
	--timeout) timeout=${2:?}; shift 2 ;;
	--out) out=${2:?}; shift 2 ;;
	*) usage ;;
	esac
done
[[ $nodes =~ ^[23]$ ]] || { echo "bench: --nodes must be 2 or 3" >&2; exit 2; }
[[ $pages =~ ^[1-9][0-9]*$ && $seq_pages =~ ^[1-9][0-9]*$ ]] ||
	{ echo "bench: --pages and --seq-pages must be positive numbers" >&2; exit 2; }
[[ -z $only || $only == remote || $only == migrate ]] ||
	{ echo "bench: --only remote or --only migrate" >&2; exit 2; }
[[ $mig_reps =~ ^[1-9][0-9]?$ ]] || { echo "bench: --mig-reps must be 1..99" >&2; exit 2; }
for n in $mig_sizes; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench: --mig-sizes: '$n' is not a page count" >&2; exit 2; }
done
[[ -n ${mig_sizes// /} ]] || { echo "bench: --mig-sizes is empty" >&2; exit 2; }
run_remote=1 run_migrate=1
[[ $only == migrate ]] && run_remote=0
[[ $only == remote ]] && run_migrate=0
if ((run_migrate && nodes < 3)); then
	[[ $only == migrate ]] && { echo "bench: the migration benchmark needs --nodes 3" >&2; exit 2; }
	echo "bench: --nodes $nodes: the migration benchmark (3 nodes) is not run"
	run_migrate=0
fi
((${#kvers[@]})) || kvers=("$("$top/tools/kvers.sh" newest)")
[[ -n ${kvers[0]} ]] || { echo "bench: no kernel with headers installed (make deps)" >&2; exit 2; }

out=${out:-$top/results/bench-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(realpath "$out")

if ((build)); then
	for k in "${kvers[@]}"; do make -s -C "$top" KVER="$k" module; done
	make -s -C "$top" "$top/build/tools/tinydsmctl" "$top/build/tools/remote_bench"
	((run_migrate)) && make -s -C "$top" "$top/build/tools/migrate_bench"
fi
rb=$top/build/tools/remote_bench
mb=$top/build/tools/migrate_bench

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
export TDSM_MIG_SIZES=$mig_sizes TDSM_MIG_REPS=$mig_reps
mig_bw_iters=${TDSM_MIG_BASELINE_BW_ITERS:-10000}
# perftest iterations: more than rdma_baseline.sh's default, so that a
# transient load on the host moves the baseline less
export TDSM_BASELINE_LAT_ITERS=${TDSM_BASELINE_LAT_ITERS:-2000}
export TDSM_BASELINE_BW_ITERS=${TDSM_BASELINE_BW_ITERS:-2000}

# run_lab DIR LABDIR HOSTENV SCRIPT: one lab run with the host sampled every
# 2 s (other qemu-system processes than this run's guests, and the load);
# its exit status in lab_rc.
lab_rc=0
run_lab() {
	local d=$1 labdir=$2 henv=$3 script=$4 sampler t0
	wait_idle
	{
		echo "host=$(uname -n)"
		echo "host_cores=$(nproc)"
		echo "host_loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
		echo "host_qemu_start=$(pgrep -c qemu-system || true)"
		echo "git_head=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo none)"
		echo "git_dirty=$(git -C "$top" status --porcelain 2>/dev/null | wc -l)"
	} >"$henv"
	while :; do
		printf '%s %s %s\n' "$(date +%s)" \
			"$( (pgrep -a qemu-system || true) | grep -vcF -- "$labdir/" || true)" \
			"$(cut -d' ' -f1 /proc/loadavg)"
		sleep 2
	done >"$henv.samples" &
	sampler=$!
	t0=$SECONDS
	lab_rc=0
	"$top/selftests/lab/lab.sh" --kver "$k" --nodes "$nodes" --timeout "$timeout" \
		--out "$labdir" "$script" 2>&1 | tee "$labdir.log" || lab_rc=$?
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
	{
		echo "host_wall_s=$((SECONDS - t0))"
		echo "lab_rc=$lab_rc"
		echo "host_foreign_qemu_max=$(awk '$2 > m { m = $2 } END { print m + 0 }' "$henv.samples")"
		echo "host_loadavg_max=$(awk '$3 > m { m = $3 } END { print m + 0 }' "$henv.samples")"
	} >>"$henv"
}

lab_line() { # lab_line HOSTENV ENV: the summary's last line
	local r w
	r=$(grep -h '^lab_rc=' "$1" | cut -d= -f2)
	w=$(grep -h '^host_wall_s=' "$1" | cut -d= -f2)
	echo "lab: $(case $r in 0) echo PASS ;; 4) echo SKIP ;; *) echo "FAIL (exit $r)" ;; esac)," \
		"host wall time $w s," \
		"module sha256 $(grep -h '^module_sha256=' "$2" | cut -d= -f2)," \
		"tree $(grep -h '^git_head=' "$1" | cut -d= -f2) ($(grep -h '^git_dirty=' "$1" | cut -d= -f2) files uncommitted)"
}

rc=0
echo "kernel,section,figure,stat,value,unit,ratio,ratio_to,target,verdict" >"$out/figures.csv"
for k in "${kvers[@]}"; do
	d=$out/$k
	mkdir -p "$d"
	: >"$d/summary.txt"
	: >"$d/bench.env"
	if ((run_remote)); then
		echo "bench: kernel $k, $nodes nodes, $pages pages per latency figure, $seq_pages sequential; results in $d"
		run_lab "$d" "$d/lab" "$d/host.env" tools/bench/remote_bench.sh
		mv -f "$d/host.env.samples" "$d/host_samples.txt"
		((lab_rc == 0)) || rc=1
		cp "$d/lab/node1/bench.env" "$d/bench.env" 2>/dev/null || : >"$d/bench.env"
		cp -r "$d/lab/node1/samples" "$d/" 2>/dev/null || true
		"$rb" report -c "$d/bench.csv" "$d/bench.env" "$d/host.env" >"$d/summary.txt" || rc=1
		{
			echo
			lab_line "$d/host.env" "$d/bench.env"
		} >>"$d/summary.txt"
		# every figure asked for must be there (2 nodes or --no-nvme ask for fewer)
		if ((nodes == 3 && nvme)) && ! grep -q '^bench figures_missing=0$' "$d/summary.txt"; then
			rc=1
		fi
		grep -q 'bench WARNING' "$d/summary.txt" && rc=1
		tail -n +2 "$d/bench.csv" >>"$out/figures.csv" 2>/dev/null || true
	fi
	if ((run_migrate)); then
		echo "bench: kernel $k, migration of ${mig_sizes// /, } pages, $mig_reps repetitions; results in $d"
		# ib_read_bw is the base of every ratio here: run it longer
		TDSM_BASELINE_BW_ITERS=$mig_bw_iters \
			run_lab "$d" "$d/lab-migrate" "$d/host-migrate.env" tools/bench/migrate_bench.sh
		mv -f "$d/host-migrate.env.samples" "$d/host_samples-migrate.txt"
		((lab_rc == 0)) || rc=1
		cp "$d/lab-migrate/node1/migrate.env" "$d/migrate.env" 2>/dev/null || : >"$d/migrate.env"
		{
			((run_remote)) && echo
			"$mb" report -c "$d/migrate.csv" -E "$d/bench.env" "$d/migrate.env" \
				"$d/host-migrate.env" || echo "migrate bench WARNING: the report failed"
			echo
			lab_line "$d/host-migrate.env" "$d/migrate.env"
		} >>"$d/summary.txt"
		grep -q '^migrate bench figures_missing=0$' "$d/summary.txt" || rc=1
		grep -q 'migrate bench WARNING' "$d/summary.txt" && rc=1
		tail -n +2 "$d/migrate.csv" >>"$out/figures.csv" 2>/dev/null || true
	fi
done

echo
for k in "${kvers[@]}"; do
	cat "$out/$k/summary.txt"
	echo
done
echo "bench: results in $out"
exit "$rc"
