#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tinydsm's benchmarks, host side: per kernel, one lab run (3 QEMU guests by
# default) of tools/bench/remote_bench.sh (raw RDMA (perftest), tinydsm's
# remote read and write faults, sequential throughput, local faults,
# NVMe-oF), then one of tools/bench/migrate_bench.sh (page migration
# throughput against ib_read_bw, lazy vs eager repopulation), then one of
# tools/bench/access_bench.sh (2 nodes: what an access site costs, direct
# and lookup form, local and remote), then one of tools/bench/cache_bench.sh
# (2 nodes: streaming a data set 4x node1's cache budget, eviction on and
# off, and a dirty stream written back, against ib_read_bw), then one of
# tools/bench/meta_bench.sh (1 node, a 16 TiB region: the page metadata of
# 1 GiB touched), then one of tools/bench/sync_bench.sh (--nodes: remote
# atomics against a page ping-pong, tinydsm's mutex, barrier and wait/wake
# across the nodes, against the remote atomic's round trip), then one of
# tools/bench/alloc_bench.sh (--nodes, node1 measured: a malloc-heavy
# workload with three allocation strategies, their round trips and
# fragmentation), then one of tools/bench/programs_bench.sh (3 nodes,
# tinydsmd on each: the SPLASH-style programs of tools/apps/ on 1, 2 and
# 3 nodes, their counters and their tracers' top pages and IPs);
# collects the figures and prints the tables
# (tools/report/report.py). What each figure is: tools/bench/README.md.
#
#   tools/bench.sh [--kver KVER]... [--nodes 2|3]
#                  [--only remote|migrate|access|cache|meta|sync|alloc|programs]
#                  [--pages N] [--seq-pages N] [--no-nvme]
#                  [--mig-sizes "N ..."] [--mig-reps N]
#                  [--acc-sizes "MiB ..."] [--acc-reps N] [--acc-no-native]
#                  [--cache-mb MiB] [--meta-mb MiB] [--sync-ops N]
#                  [--alloc-ops N] [--no-build] [--timeout SEC] [--out DIR]
#
# Every lab run holds the lock /tmp/tdsm-lab.lock (flock; TDSM_LAB_LOCK),
# so that labs started under the same lock never share the cores: do not
# run this script itself under that lock. The lab skeleton (lock, results
# directory, kernel, lab.sh) is tools/lab-host.sh, shared with demo.sh.
#
# Results: results/bench-<time>/ (or --out): <kver>/summary.txt (the
# tables), <kver>/bench.env (every remote figure, key=value, and the
# migration's derived figures, mig_* and repop_*), <kver>/bench.csv,
# <kver>/migrate.env (every migration repetition), <kver>/migrate.csv,
# <kver>/access.env, <kver>/access-host.env, <kver>/access.csv (the access
# benchmark's figures; also appended to bench.env),
# <kver>/cache.env, <kver>/cache.csv (the cache benchmark's figures),
# <kver>/meta.env (the metadata benchmark's, key=value, also printed as
# they are in summary.txt), <kver>/sync.env, <kver>/sync.csv (the
# synchronisation benchmark's), <kver>/alloc.env, <kver>/alloc.csv (the
# allocator study's), <kver>/programs.env, <kver>/programs.csv,
# <kver>/programs-runs/ (the programs benchmark's; each run's output),
# <kver>/samples/ (every timed access, ns;
# the cache benchmark's every page's time in <kver>/samples-cache/, the
# synchronisation benchmark's round trips and locks in
# <kver>/samples-sync/), <kver>/lab/, <kver>/lab-migrate/,
# <kver>/lab-access/, <kver>/lab-cache/, <kver>/lab-meta/, <kver>/lab-sync/
# <kver>/lab-alloc/ and <kver>/lab-programs/ (the labs' logs), and
# figures.csv (all kernels, all benchmarks). Exit status: 0 if every lab
# run passed and measured everything, 1 otherwise, 2 usage.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/lab-host.sh
source "$top/tools/lab-host.sh"
lab_say() { echo "bench: $*"; }
kvers=() nodes=3 pages=500 seq_pages=2000 nvme=1 build=1 timeout=900 out=
only='' mig_sizes="1024 8192" mig_reps=3
idle_timeout=1800

acc_sizes="1 4 16 64 256" acc_reps=5 acc_native=1
# the cache benchmark's data set D (MiB): tools/bench/README.md says why 16
cache_mb=16
# the metadata benchmark's memory touched (MiB): README.md says why 1 GiB
meta_mb=1024
# the synchronisation benchmark's fetch-adds per node, each way
sync_ops=2000
# the allocator study's mallocs and frees per round, per thread
alloc_ops=2000

usage() { sed -n '21,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
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
	--acc-sizes) acc_sizes=${2:?}; shift 2 ;;
	--acc-reps) acc_reps=${2:?}; shift 2 ;;
	--acc-no-native) acc_native=0; shift ;;
	--cache-mb) cache_mb=${2:?}; shift 2 ;;
	--meta-mb) meta_mb=${2:?}; shift 2 ;;
	--sync-ops) sync_ops=${2:?}; shift 2 ;;
	--alloc-ops) alloc_ops=${2:?}; shift 2 ;;
	--no-build) build=0; shift ;;
	--timeout) timeout=${2:?}; shift 2 ;;
	--out) out=${2:?}; shift 2 ;;
	*) usage ;;
	esac
done
[[ $nodes =~ ^[23]$ ]] || { echo "bench: --nodes must be 2 or 3" >&2; exit 2; }
[[ $pages =~ ^[1-9][0-9]*$ && $seq_pages =~ ^[1-9][0-9]*$ ]] ||
	{ echo "bench: --pages and --seq-pages must be positive numbers" >&2; exit 2; }
[[ $only =~ ^(|remote|migrate|access|cache|meta|sync|alloc|programs)$ ]] ||
	{ echo "bench: --only remote, migrate, access, cache, meta, sync, alloc or programs" >&2; exit 2; }
[[ $mig_reps =~ ^[1-9][0-9]?$ ]] || { echo "bench: --mig-reps must be 1..99" >&2; exit 2; }
for n in $mig_sizes; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench: --mig-sizes: '$n' is not a page count" >&2; exit 2; }
done
[[ -n ${mig_sizes// /} ]] || { echo "bench: --mig-sizes is empty" >&2; exit 2; }
acc_max=0
for n in $acc_sizes; do
	if ! [[ $n =~ ^[1-9][0-9]*$ ]] || (( (n & (n - 1)) != 0 || n > 1024 )); then
		echo "bench: --acc-sizes: '$n' is not a power of two MiB up to 1024" >&2
		exit 2
	fi
	if ((n > acc_max)); then acc_max=$n; fi
done
((acc_max)) || { echo "bench: --acc-sizes is empty" >&2; exit 2; }
if ! [[ $acc_reps =~ ^[1-9][0-9]?$ ]] || ((acc_reps > 64)); then
	echo "bench: --acc-reps must be 1..64" >&2
	exit 2
fi
if ! [[ $cache_mb =~ ^[1-9][0-9]*$ ]] || ((cache_mb % 4 || cache_mb > 1024)); then
	echo "bench: --cache-mb must be a multiple of 4 MiB up to 1024" >&2
	exit 2
fi
# a run of meta_mb MiB: at most 2^32 - 1 pages (a u32), and the guest's
# memory holds it
if ! [[ $meta_mb =~ ^[1-9][0-9]*$ ]] || ((meta_mb > 16384)); then
	echo "bench: --meta-mb must be 1..16384 MiB" >&2
	exit 2
fi
if ! [[ $sync_ops =~ ^[1-9][0-9]{0,6}$ ]]; then
	echo "bench: --sync-ops must be 1..9999999" >&2
	exit 2
fi
# alloc_bench.sh's rounds (10) x ops: at most 4000000 a thread
if ! [[ $alloc_ops =~ ^[1-9][0-9]{0,5}$ ]] || ((alloc_ops > 400000)); then
	echo "bench: --alloc-ops must be 1..400000" >&2
	exit 2
fi
run_remote=0 run_migrate=0 run_access=0 run_cache=0 run_meta=0 run_sync=0 run_alloc=0
run_programs=0
case $only in
'') run_remote=1 run_migrate=1 run_access=1 run_cache=1 run_meta=1 run_sync=1 run_alloc=1
	run_programs=1 ;;
remote) run_remote=1 ;;
migrate) run_migrate=1 ;;
access) run_access=1 ;;
cache) run_cache=1 ;;
meta) run_meta=1 ;;
sync) run_sync=1 ;;
alloc) run_alloc=1 ;;
programs) run_programs=1 ;;
esac
if ((run_migrate && nodes < 3)); then
	[[ $only == migrate ]] && { echo "bench: the migration benchmark needs --nodes 3" >&2; exit 2; }
	echo "bench: --nodes $nodes: the migration benchmark (3 nodes) is not run"
	run_migrate=0
fi
((${#kvers[@]})) || kvers=("$(lab_newest_kver)")
[[ -n ${kvers[0]} ]] || { echo "bench: no kernel with headers installed (make deps)" >&2; exit 2; }

lab_results_dir bench

if ((build)); then
	for k in "${kvers[@]}"; do make -s -C "$top" KVER="$k" module; done
	make -s -C "$top" "$top/build/tools/tinydsmctl" "$top/build/tools/remote_bench"
	((run_migrate)) && make -s -C "$top" "$top/build/tools/migrate_bench"
	((run_access)) && make -s -C "$top" "$top/build/tools/access_bench"
	((run_cache)) && make -s -C "$top" "$top/build/tools/cache_bench"
	((run_meta)) && make -s -C "$top" "$top/build/tools/meta_bench"
	((run_sync)) && make -s -C "$top" "$top/build/tools/sync_bench"
	((run_alloc)) && make -s -C "$top" "$top/build/tools/alloc_bench"
	((run_programs)) && make -s -C "$top" user
fi
ab=$top/build/tools/access_bench
report=$top/tools/report/report.py

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

# run_lab DIR LABDIR HOSTENV SCRIPT [LAB.SH OPTION...]: one lab run, under
# the lab lock, with the host sampled every 2 s (other qemu-system processes
# than this run's guests, and the load); its exit status in lab_rc.
# lab_nodes (if set) overrides --nodes.
lab_rc=0
run_lab() {
	local d=$1 labdir=$2 henv=$3 script=$4 sampler t0
	lab_lock
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
	lab_sh --kver "$k" --nodes "${lab_nodes:-$nodes}" \
		--timeout "$timeout" --out "$labdir" "${@:5}" "$script" 2>&1 |
		tee "$labdir.log" || lab_rc=$?
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
	lab_unlock
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
		"module sha256 $(grep -hE '^(acc_)?module_sha256=' "$2" | cut -d= -f2)," \
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
		"$report" remote -c "$d/bench.csv" "$d/bench.env" "$d/host.env" >"$d/summary.txt" || rc=1
		{
			# the fault's breakdown, as node1 matched the two traces
			if [[ -s $d/lab/node1/breakdown.txt ]]; then
				echo
				echo "Where a remote fault's time goes (traced, node1 <- node2):"
				cat "$d/lab/node1/breakdown.txt"
			fi
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
			"$report" migrate -c "$d/migrate.csv" -E "$d/bench.env" "$d/migrate.env" \
				"$d/host-migrate.env" || echo "migrate bench WARNING: the report failed"
			echo
			lab_line "$d/host-migrate.env" "$d/migrate.env"
		} >>"$d/summary.txt"
		grep -q '^migrate bench figures_missing=0$' "$d/summary.txt" || rc=1
		grep -q 'migrate bench WARNING' "$d/summary.txt" && rc=1
		tail -n +2 "$d/migrate.csv" >>"$out/figures.csv" 2>/dev/null || true
	fi
	if ((run_access)); then
		echo "bench: kernel $k, access sites: working sets ${acc_sizes// /, } MiB, $acc_reps runs per sequential figure; results in $d"
		# one home slice (of 2) holds the largest set; node1's guest both
		# copies of it (tinydsm frames and anonymous memory)
		acc_region=$((2 * (acc_max + 64)))
		acc_mem=$((2 * acc_max + 768))
		((acc_mem >= 1024)) || acc_mem=1024
		TDSM_ACCESS_SIZES=$acc_sizes TDSM_ACCESS_REPS=$acc_reps lab_nodes=2 \
			run_lab "$d" "$d/lab-access" "$d/host-access.env" tools/bench/access_bench.sh \
			--mem "$acc_mem" --module-args "max_nodes=2 region_size_mb=$acc_region"
		mv -f "$d/host-access.env.samples" "$d/host_samples-access.txt"
		((lab_rc == 0)) || rc=1
		cp "$d/lab-access/node1/access.env" "$d/access.env" 2>/dev/null || : >"$d/access.env"
		# the host's part: callgrind here only if the lab could not count
		# (no valgrind in the guest), and the native timing for scale
		: >"$d/access-host.env"
		acc_host_failed=()
		if ! grep -q '^acc_cg_where=' "$d/access.env"; then
			if "$top/tools/bench/access_bench.sh" callgrind "$d/access-host.env" \
				"$d/callgrind-host" -H >"$d/callgrind-host.log" 2>&1; then
				echo "acc_cg_where=host" >>"$d/access-host.env"
			else
				acc_host_failed+=(callgrind)
			fi
		fi
		if ((acc_native)); then
			lab_lock
			"$ab" local -H -s "$acc_sizes" -r "$acc_reps" -Q "${TDSM_ACCESS_RND_REPS:-3}" \
				-m "${TDSM_ACCESS_MIN_ACC:-16777216}" -R "${TDSM_ACCESS_RND_ACC:-4194304}" \
				-k accnat_ -e "$d/access-host.env" >"$d/access-native.log" 2>&1 ||
				acc_host_failed+=(native)
			lab_unlock
		fi
		{
			echo "acch_failed=${#acc_host_failed[@]}"
			echo "acch_failed_list=${acc_host_failed[*]}"
		} >>"$d/access-host.env"
		cat "$d/access.env" "$d/access-host.env" >>"$d/bench.env"
		{
			((run_remote || run_migrate)) && echo
			"$report" access -c "$d/access.csv" "$d/access.env" "$d/access-host.env" \
				"$d/host-access.env" || true
			echo
			lab_line "$d/host-access.env" "$d/access.env"
			for f in "$d/lab-access"/node*/lab_problems; do
				if [[ -s $f ]]; then
					echo "lab problems, $(basename "$(dirname "$f")"): $(paste -sd ';' "$f")"
				fi
			done
		} >>"$d/summary.txt"
		grep -q '^access bench figures_missing=0$' "$d/summary.txt" || rc=1
		grep -q 'access bench WARNING' "$d/summary.txt" && rc=1
		tail -n +2 "$d/access.csv" >>"$out/figures.csv" 2>/dev/null || true
	fi
	if ((run_cache)); then
		echo "bench: kernel $k, cache: data set $cache_mb MiB, budget $((cache_mb / 4)) MiB; results in $d"
		# node2's home slice (of 2) holds the three data sets (the third
		# for the write-back), and node2's guest their frames
		cache_region=$((2 * (3 * cache_mb + 64)))
		cache_mem=$((3 * cache_mb + 768))
		((cache_mem >= 1024)) || cache_mem=1024
		# ib_read_bw is the base of the throughput ratio: run it longer
		TDSM_CACHE_MB=$cache_mb TDSM_BASELINE_BW_ITERS=$mig_bw_iters lab_nodes=2 \
			run_lab "$d" "$d/lab-cache" "$d/host-cache.env" tools/bench/cache_bench.sh \
			--mem "$cache_mem" --module-args "max_nodes=2 region_size_mb=$cache_region"
		mv -f "$d/host-cache.env.samples" "$d/host_samples-cache.txt"
		((lab_rc == 0)) || rc=1
		cp "$d/lab-cache/node1/cache.env" "$d/cache.env" 2>/dev/null || : >"$d/cache.env"
		cp -r "$d/lab-cache/node1/samples" "$d/samples-cache" 2>/dev/null || true
		{
			((run_remote || run_migrate || run_access)) && echo
			"$report" cache -c "$d/cache.csv" "$d/cache.env" "$d/host-cache.env" ||
				echo "cache bench WARNING: the report failed"
			echo
			lab_line "$d/host-cache.env" "$d/cache.env"
		} >>"$d/summary.txt"
		grep -q '^cache bench figures_missing=0$' "$d/summary.txt" || rc=1
		grep -q 'cache bench WARNING' "$d/summary.txt" && rc=1
		tail -n +2 "$d/cache.csv" >>"$out/figures.csv" 2>/dev/null || true
	fi
	if ((run_meta)); then
		echo "bench: kernel $k, metadata: $meta_mb MiB touched in a 16 TiB region, 1 node; results in $d"
		# 1 node homes the whole 16 TiB (one slice); the guest holds the
		# pages touched, and 1 GiB for itself
		TDSM_META_MB=$meta_mb lab_nodes=1 \
			run_lab "$d" "$d/lab-meta" "$d/host-meta.env" tools/bench/meta_bench.sh \
			--mem $((meta_mb + 1024)) --module-args "max_nodes=1 region_size_mb=16777216"
		mv -f "$d/host-meta.env.samples" "$d/host_samples-meta.txt"
		((lab_rc == 0)) || rc=1
		cp "$d/lab-meta/node1/meta.env" "$d/meta.env" 2>/dev/null || : >"$d/meta.env"
		# no table (report.py has no meta section): the figures as they are
		{
			((run_remote || run_migrate || run_access || run_cache)) && echo
			cat "$d/lab-meta/node1/summary.txt" 2>/dev/null || true
			for key in meta_bytes_after meta_bytes_per_mib meta_bytes_after_free; do
				grep -q "^$key=" "$d/meta.env" ||
					echo "meta bench WARNING: no $key (figures missing)"
			done
			echo
			lab_line "$d/host-meta.env" "$d/meta.env"
		} >>"$d/summary.txt"
		grep -q 'meta bench WARNING' "$d/summary.txt" && rc=1
	fi
	if ((run_sync)); then
		echo "bench: kernel $k, synchronisation: $nodes nodes, $sync_ops fetch-adds per node each way; results in $d"
		# the words are on a few pages homed on node2: the lab's defaults
		TDSM_SYNC_OPS=$sync_ops \
			run_lab "$d" "$d/lab-sync" "$d/host-sync.env" tools/bench/sync_bench.sh
		mv -f "$d/host-sync.env.samples" "$d/host_samples-sync.txt"
		((lab_rc == 0)) || rc=1
		cp "$d/lab-sync/node1/sync.env" "$d/sync.env" 2>/dev/null || : >"$d/sync.env"
		cp -r "$d/lab-sync/node1/samples" "$d/samples-sync" 2>/dev/null || true
		{
			((run_remote || run_migrate || run_access || run_cache || run_meta)) && echo
			"$report" sync -c "$d/sync.csv" "$d/sync.env" "$d/host-sync.env" ||
				echo "sync bench WARNING: the report failed"
			echo
			lab_line "$d/host-sync.env" "$d/sync.env"
		} >>"$d/summary.txt"
		grep -q '^sync bench figures_missing=0$' "$d/summary.txt" || rc=1
		grep -q 'sync bench WARNING' "$d/summary.txt" && rc=1
		tail -n +2 "$d/sync.csv" >>"$out/figures.csv" 2>/dev/null || true
	fi
	if ((run_alloc)); then
		echo "bench: kernel $k, allocator study: node1 of $nodes, $alloc_ops mallocs and frees per round and thread; results in $d"
		# a region of 1 GiB: slices of 256 MiB (max_nodes 4), room for
		# node1's runs of every strategy; the rest is the lab's defaults
		TDSM_ALLOC_OPS=$alloc_ops \
			run_lab "$d" "$d/lab-alloc" "$d/host-alloc.env" tools/bench/alloc_bench.sh \
			--module-args "region_size_mb=1024"
		mv -f "$d/host-alloc.env.samples" "$d/host_samples-alloc.txt"
		((lab_rc == 0)) || rc=1
		cp "$d/lab-alloc/node1/alloc.env" "$d/alloc.env" 2>/dev/null || : >"$d/alloc.env"
		{
			((run_remote || run_migrate || run_access || run_cache || run_meta || run_sync)) && echo
			"$report" alloc -c "$d/alloc.csv" "$d/alloc.env" "$d/host-alloc.env" ||
				echo "alloc bench WARNING: the report failed"
			echo
			lab_line "$d/host-alloc.env" "$d/alloc.env"
		} >>"$d/summary.txt"
		grep -q '^alloc bench figures_missing=0$' "$d/summary.txt" || rc=1
		grep -q 'alloc bench WARNING' "$d/summary.txt" && rc=1
		tail -n +2 "$d/alloc.csv" >>"$out/figures.csv" 2>/dev/null || true
	fi
	if ((run_programs)); then
		echo "bench: kernel $k, programs: tools/apps/ on 1, 2 and 3 nodes; results in $d"
		# always 3 nodes (one rank per node, up to 3), tinydsmd on each
		lab_nodes=3 run_lab "$d" "$d/lab-programs" "$d/host-programs.env" \
			tools/bench/programs_bench.sh --timeout 3000
		mv -f "$d/host-programs.env.samples" "$d/host_samples-programs.txt"
		((lab_rc == 0)) || rc=1
		cp "$d/lab-programs/node1/programs.env" "$d/programs.env" 2>/dev/null ||
			: >"$d/programs.env"
		cp -r "$d/lab-programs/node1/runs" "$d/programs-runs" 2>/dev/null || true
		{
			((run_remote || run_migrate || run_access || run_cache || run_meta ||
				run_sync || run_alloc)) && echo
			"$report" programs -c "$d/programs.csv" "$d/programs.env" \
				"$d/host-programs.env" ||
				echo "programs bench WARNING: the report failed"
			echo
			lab_line "$d/host-programs.env" "$d/programs.env"
		} >>"$d/summary.txt"
		grep -q '^programs bench figures_missing=0$' "$d/summary.txt" || rc=1
		grep -q 'programs bench WARNING' "$d/summary.txt" && rc=1
		tail -n +2 "$d/programs.csv" >>"$out/figures.csv" 2>/dev/null || true
	fi
done

echo
for k in "${kvers[@]}"; do
	cat "$out/$k/summary.txt"
	echo
done
echo "bench: results in $out"
exit "$rc"
