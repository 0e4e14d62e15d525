#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make demo: boot two virtual nodes, connect them as a cluster, measure the
# raw RDMA baseline between them (perftest over Soft-RoCE) and a round trip
# through node1's home slice of the region, and print the figures with their
# ratio to the baseline. Remote-page figures: make bench.
#
#   tools/demo.sh [--kver KVER] [--pages N]
#
# Results: results/demo-<time>/ (summary.txt, figures.csv, the lab's logs).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kver=$("$top/tools/kvers.sh" newest)
pages=2000
while [ $# -gt 0 ]; do
	case $1 in
	--kver) kver=${2:?}; shift 2 ;;
	--pages) pages=${2:?}; shift 2 ;;
	*) echo "usage: $0 [--kver KVER] [--pages N]" >&2; exit 2 ;;
	esac
done

out=$top/results/demo-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
echo "demo: kernel $kver, 2 nodes, $pages pages; results in $out"
"$top/selftests/lab/lab.sh" --kver "$kver" --nodes 2 --timeout 900 \
	--out "$out/lab" tools/demo-node.sh "$pages"

# key=value figures from node1
fig() { grep -ho "\b$1=[0-9.]*" "$out/lab/node1/output.log" | tail -n 1 | cut -d= -f2; }
lat=$(fig ib_read_lat_4k_typical_us)
bw=$(fig ib_read_bw_4k_MBps)
rd=$(fig first_read_fault_ns_p50)
wr=$(fig first_write_fault_ns_p50)
srd=$(fig steady_read_ns_per_access)
swr=$(fig steady_write_ns_per_access)
bad=$(fig bad_words)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.4f", a / b; else print "-" }'; }

{
	echo "tinydsm demo, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -n), guest kernel $kver"
	echo "QEMU TCG guests, Soft-RoCE (rxe) on a VDE switch: only same-run ratios mean anything."
	echo
	printf '%-44s %14s %18s\n' "figure" "value" "x ib_read_lat"
	printf '%-44s %11s us %18s\n' "raw RDMA READ 4 KiB, ib_read_lat typical" "$lat" "1"
	printf '%-44s %9s MB/s %18s\n' "raw RDMA READ 4 KiB, ib_read_bw" "$bw" "-"
	printf '%-44s %11s ns %18s\n' "node1 region: first-touch read fault p50" "$rd" "$(ratio "$rd" "$(awk -v l="$lat" 'BEGIN{print l*1000}')")"
	printf '%-44s %11s ns %18s\n' "node1 region: first write fault p50" "$wr" "$(ratio "$wr" "$(awk -v l="$lat" 'BEGIN{print l*1000}')")"
	printf '%-44s %11s ns %18s\n' "node1 region: steady read, per 8 B" "$srd" "-"
	printf '%-44s %11s ns %18s\n' "node1 region: steady write, per 8 B" "$swr" "-"
	printf '%-44s %14s\n' "node1 region: words read back wrong" "$bad"
	echo
	echo "Both nodes connected as one cluster; each timed its own home slice. Remote faults"
	echo "(fetch from the owner over RDMA) against this baseline: make bench."
} | tee "$out/summary.txt"

{
	echo "figure,value,unit"
	echo "ib_read_lat_4k_typical,$lat,us"
	echo "ib_read_bw_4k,$bw,MB/s"
	echo "region_first_read_fault_p50,$rd,ns"
	echo "region_first_write_fault_p50,$wr,ns"
	echo "region_steady_read_per_access,$srd,ns"
	echo "region_steady_write_per_access,$swr,ns"
	echo "region_bad_words,$bad,words"
} >"$out/figures.csv"
[ "$bad" = 0 ]
