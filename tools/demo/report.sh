#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make demo's report: the table, figures.csv, figures.json and the plots,
# from the labs' results (tools/demo.sh runs it; run it again on saved
# results to redo them). Definitions: tools/demo/README.md.
#
#   tools/demo/report.sh DIR KVER
#
# DIR holds lab2/node1/demo.env (a, a.1/a.2) and lab3/node1/demo.env (b);
# either may be missing (--only). Exit status 1 if a scenario read back
# wrong data or lacks a figure.
set -uo pipefail

dir=${1:?usage: report.sh DIR KVER}
kver=${2:?usage: report.sh DIR KVER}
e2=$dir/lab2/node1/demo.env
e3=$dir/lab3/node1/demo.env
eh=$dir/host-a.env
csv=$dir/figures.csv
sum=$dir/summary.txt
rc=0

# v FILE KEY: the key's last value ("" if none)
v() { [[ -r $1 ]] && awk -F= -v k="$2" '$1 == k { x = substr($0, length(k) + 2) } END { print x }' "$1"; }
# calc FORMAT A [B [EXPR]]: awk arithmetic on a and b (default a / b; 1 if
# no B), "-" if an operand is missing or a divisor is 0
calc() {
	local expr=${4:-}
	[[ -n $expr ]] || expr='(b + 0 == 0 ? "-" : a / b)'
	awk -v a="$2" -v b="${3-1}" "BEGIN { if (a == \"\" || b == \"\") print \"-\";
		else { x = $expr; if (x ~ /^[<-]/) print x; else printf \"$1\", x } }"
}
# med FILE KEYPATTERN REPS: median over repetitions of b_<s>_<r>_<key>
med() {
	local f=$1 pat=$2 r vals=()
	for ((r = 1; r <= $3; r++)); do
		vals+=("$(v "$f" "${pat/@/$r}")")
	done
	printf '%s\n' "${vals[@]}" | awk 'NF' | sort -g | awk '{ x[n++] = $1 } END {
		if (n) print (n % 2) ? x[(n - 1) / 2] : (x[n / 2 - 1] + x[n / 2]) / 2 }'
}
# forms ENV PREFIX SUFFIX NAME UNIT: one loop of scenario a in its three
# forms, ENV keys PREFIX{plain,direct,lookup}SUFFIX, into pl, di, lo and
# the CSV rows a,NAME_{plain,direct,lookup} (ratios to plain)
forms() {
	pl=$(v "$1" "$2plain$3")
	di=$(v "$1" "$2direct$3")
	lo=$(v "$1" "$2lookup$3")
	row a "$4_plain" "$pl" "$5" 1 "a_$4_plain"
	row a "$4_direct" "$di" "$5" "$(calc %.3f "$di" "$pl")" "a_$4_plain"
	row a "$4_lookup" "$lo" "$5" "$(calc %.3f "$lo" "$pl")" "a_$4_plain"
}
row() { # row SCENARIO FIGURE VALUE UNIT RATIO RATIO_TO
	echo "$1,$2,${3:-},$4,${5:-},$6" >>"$csv"
	[[ -n ${3:-} ]] || { echo "report: no figure for $1 $2" >&2; rc=1; }
}

echo "scenario,figure,value,unit,ratio,ratio_to" >"$csv"
host_cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
{
echo "tinydsm demo, $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -n): $(nproc) cores ($host_cpu)"
echo "Guests: Debian kernel $kver under QEMU TCG (pure emulation, no KVM), 1 vCPU each,"
echo "Soft-RoCE (rxe) on a VDE switch. Absolute times are emulation's; compare ratios"
echo "within this run, which is why the raw RDMA baseline is measured in it."
echo

# ------------------------------------------------------------ baseline
echo "Raw RDMA baseline: perftest, 4 KiB, between the same guests, in this run"
printf '  %-22s %16s %12s %12s %14s\n' pair "ib_read_lat typ" "p99" "ib_read_bw" "= pages/s"
for pair in 12:"node1 -> node2":e2 13:"node1 -> node3":e3 32:"node3 -> node2":e3; do
	IFS=: read -r p name f <<<"$pair"
	f=${!f}
	[[ -r $f ]] || continue
	lat=$(v "$f" "base_${p}_ib_read_lat_4k_typical_us")
	p99=$(v "$f" "base_${p}_ib_read_lat_4k_p99_us")
	bw=$(v "$f" "base_${p}_ib_read_bw_4k_MBps")
	pps=$(calc '%.0f' "$bw" 1 'a * 1048576 / 4096')
	printf '  %-22s %13s us %9s us %7s MB/s %14s\n' "$name" "$lat" "$p99" "$bw" "$pps"
	row baseline "ib_read_lat_typical_$p" "$lat" us 1 "ib_read_lat_typical_$p"
	row baseline "ib_read_lat_p99_$p" "$p99" us "" ""
	row baseline "ib_read_bw_$p" "$bw" MB/s 1 "ib_read_bw_$p"
done
echo

# ------------------------------------------------------------ a
if [[ -r $e2 && -n $(v "$e2" a_local_sizes) ]]; then
	reps=$(v "$e2" a_local_reps)
	echo "a: one 8-byte load on a page homed here, ns, in node1 (access_bench local, median of $reps)"
	printf '  %-14s %7s %9s %18s %18s %14s\n' "working set" pattern plain "direct (x plain)" "lookup (x plain)" "lookup/direct"
	for s in $(v "$e2" a_local_sizes); do
		for pt in seq rnd; do
			forms "$e2" "a_${pt}_${s}MiB_" _ns "${pt}_${s}MiB" ns/access
			printf '  %-14s %7s %9s %10s (%5s) %10s (%5s) %14s\n' "$s MiB" "$pt" \
				"$(calc %.2f "$pl")" "$(calc %.2f "$di")" "$(calc %.2f "$di" "$pl")" \
				"$(calc %.2f "$lo")" "$(calc %.2f "$lo" "$pl")" "$(calc %.2f "$lo" "$di")"
		done
	done
	bad=$(v "$e2" a_local_bad_sums)
	[[ ${bad:-x} == 0 ]] || { echo "  a: sums read back wrong: ${bad:-unknown}"; rc=1; }
	if [[ -r $eh ]]; then
		echo "  The same loops on this host: instructions per load (callgrind, exact) and"
		echo "  native ns per load (for scale: TCG turns every taken branch into a hop)"
		printf '  %-22s %9s %18s %18s\n' "" plain "direct (x plain)" "lookup (x plain)"
		for pt in seq rnd; do
			forms "$eh" "acc_cg_${pt}_" _ir "${pt}_instructions" insns/access
			printf '  %-22s %9s %10s (%5s) %10s (%5s)\n' "$pt, instructions" \
				"$(calc %.0f "$pl")" "$(calc %.0f "$di")" "$(calc %.2f "$di" "$pl")" \
				"$(calc %.0f "$lo")" "$(calc %.2f "$lo" "$pl")"
		done
		for s in $(v "$eh" h_local_sizes); do
			for pt in seq rnd; do
				forms "$eh" "h_${pt}_${s}MiB_" _ns "native_${pt}_${s}MiB" ns/access
				printf '  %-22s %9s %10s (%5s) %10s (%5s)\n' "$s MiB $pt, native ns" \
					"$(calc %.2f "$pl")" "$(calc %.2f "$di")" "$(calc %.2f "$di" "$pl")" \
					"$(calc %.2f "$lo")" "$(calc %.2f "$lo" "$pl")"
			done
		done
	fi
	echo
fi

# ------------------------------------------------------------ a.1 / a.2
if [[ -r $e2 && -n $(v "$e2" a12_npages) ]]; then
	lat=$(v "$e2" base_12_ib_read_lat_4k_typical_us)
	n=$(v "$e2" a12_npages)
	echo "a.1/a.2: $n pages homed on node2, the application on node1 (seed_demo a12)"
	printf '  %-46s %12s %10s\n' figure value "x raw"
	for k in touch_load:"first load of a page: fault + fetch" touch_store:"first store: fault + ownership"; do
		IFS=: read -r key name <<<"$k"
		for q in p50 p99; do
			x=$(v "$e2" "a12_${key}_${q}_us")
			printf '  %-46s %9s us %10s\n' "$name, $q" "$x" "$(calc %.2f "$x" "$lat")"
			row a12 "${key}_${q}" "$x" us "$(calc %.3f "$x" "$lat")" ib_read_lat_typical_12
		done
	done
	for op in load store; do
		pl=$(v "$e2" "a12_plain_${op}_ns")
		di=$(v "$e2" "a12_direct_${op}_ns")
		lo=$(v "$e2" "a12_lookup_${op}_ns")
		printf '  %-46s %9s ns %10s\n' "steady $op, plain memory" "$(calc %.2f "$pl")" "(x plain)"
		printf '  %-46s %9s ns %10s\n' "steady $op, a.2: sites direct" "$(calc %.2f "$di")" "$(calc %.2f "$di" "$pl")"
		printf '  %-46s %9s ns %10s\n' "steady $op, a.1: sites lookup" "$(calc %.2f "$lo")" "$(calc %.2f "$lo" "$pl")"
		row a12 "steady_${op}_plain" "$pl" ns/access 1 "a12_steady_${op}_plain"
		row a12 "steady_${op}_direct" "$di" ns/access "$(calc %.3f "$di" "$pl")" "a12_steady_${op}_plain"
		row a12 "steady_${op}_lookup" "$lo" ns/access "$(calc %.3f "$lo" "$pl")" "a12_steady_${op}_plain"
	done
	tf=$(v "$e2" a12_touch_load_read_faults)
	tr=$(v "$e2" a12_touch_load_remote_faults)
	sf=$(v "$e2" a12_touch_store_write_faults)
	df=$(calc %.0f "$(v "$e2" a12_direct_load_read_faults)" \
		"$(v "$e2" a12_direct_store_write_faults)" 'a + b')
	lf=$(calc %.0f "$(v "$e2" a12_lookup_steady_read_faults)" \
		"$(v "$e2" a12_lookup_steady_write_faults)" 'a + b')
	lw=$(v "$e2" a12_lookup_steady_word_remote)
	ls=$(v "$e2" a12_lookup_steady_sites_lookup)
	echo "  faults: first loads $tf ($tr fetched from node2), first stores $sf; steady"
	echo "  state: direct $df, lookup $lf, with ${lw:-?} remote word accesses (the pages are"
	echo "  here); ${ls:-?} sites rewritten to lookup for a.1"
	row a12 first_load_faults "$tf" faults "" ""
	row a12 first_store_faults "$sf" faults "" ""
	row a12 direct_steady_faults "$df" faults "" ""
	row a12 lookup_steady_faults "$lf" faults "" ""
	row a12 sites_to_lookup "$ls" sites "" ""
	# tinydsm-trace ran the application: its count against the module's
	tf_all=0
	for k in touch_load touch_store direct_load direct_store lookup_steady; do
		tf_all=$(calc %.0f "$tf_all" "$(v "$e2" "a12_${k}_read_faults")" 'a + b')
		tf_all=$(calc %.0f "$tf_all" "$(v "$e2" "a12_${k}_write_faults")" 'a + b')
	done
	tt=$(v "$e2" a12_trace_faults)
	echo "  tinydsm-trace (libbpf, on node1, around the whole run): $tt faults"
	echo "  ($(v "$e2" a12_trace_reads) reads, $(v "$e2" a12_trace_writes) writes, $(v "$e2" a12_trace_fetched) fetched, $(v "$e2" a12_trace_failed) failed); the module's counters: $tf_all;"
	echo "  fault latency median in [$(v "$e2" a12_trace_p50_lo_us), $(v "$e2" a12_trace_p50_hi_us)] us"
	row a12 trace_faults "$tt" faults "$(calc %.3f "$tt" "$tf_all")" a12_module_faults
	row a12 module_faults "$tf_all" faults "" ""
	[[ $tt == "$tf_all" ]] || { echo "  tinydsm-trace and the module disagree"; rc=1; }
	bad=$(v "$e2" a12_bad_values)
	[[ ${bad:-x} == 0 ]] || { echo "  a.1/a.2: values read back wrong: ${bad:-unknown}"; rc=1; }
	echo
fi

# ------------------------------------------------------------ b
if [[ -r $e3 ]] && grep -q '^b_lazy_1_npages=' "$e3"; then
	r=1
	while grep -q "^b_lazy_$((r + 1))_npages=" "$e3"; do r=$((r + 1)); done
	n=$(v "$e3" b_lazy_1_npages)
	lat=$(v "$e3" base_13_ib_read_lat_4k_typical_us)
	bw=$(v "$e3" base_32_ib_read_bw_4k_MBps)
	bwp=$(calc '%.1f' "$bw" 1 'a * 1048576 / 4096')
	echo "b: node1 reads $n pages homed on node2; \`tinydsmctl migrate --from node2 --to node3"
	echo "   --strategy S\`; node1 reads them again (pass 1) and again (pass 2). Median of $r."
	printf '  %-18s %9s %14s %9s %9s %10s %7s %7s %6s %16s %9s\n' strategy "move ms" "pages/s (x bw)" \
		"repop ms" "pass1 ms" "all read" faults words sites "pass1 p50 (x lat)" "pass2 ms"
	for s in lazy eager lookup; do
		case $s in
		lazy) label="b.1 lazy" ;;
		eager) label="b.2 eager, direct" ;;
		lookup) label="b.2 eager, lookup" ;;
		esac
		mv=$(med "$e3" "b_${s}_@_move_ms" "$r")
		pps=$(med "$e3" "b_${s}_@_pages_per_s" "$r")
		rp=$(med "$e3" "b_${s}_@_repop_ms" "$r")
		p1=$(med "$e3" "b_${s}_@_pass1_ms" "$r")
		tot=$(med "$e3" "b_${s}_@_total_ms" "$r")
		fl=$(med "$e3" "b_${s}_@_pass1_read_faults" "$r")
		wd=$(med "$e3" "b_${s}_@_pass1_word_remote" "$r")
		sd=$(med "$e3" "b_${s}_@_migrate_sites_direct" "$r")
		sl=$(med "$e3" "b_${s}_@_migrate_sites_lookup" "$r")
		sp1d=$(med "$e3" "b_${s}_@_pass1_sites_direct" "$r")
		sp1l=$(med "$e3" "b_${s}_@_pass1_sites_lookup" "$r")
		sites=$(calc %.0f "$sd" "$sl" 'a + b')
		sites=$(calc %.0f "$sites" "$sp1d" 'a + b')
		sites=$(calc %.0f "$sites" "$sp1l" 'a + b')
		pl=$(med "$e3" "b_${s}_@_pass1_p50_us" "$r")
		p2=$(med "$e3" "b_${s}_@_pass2_ms" "$r")
		printf '  %-18s %9s %6s (%5s) %9s %9s %10s %7s %7s %6s %9s (%5s) %9s\n' "$label" \
			"$mv" "$pps" "$(calc %.2f "$pps" "$bwp")" "$rp" "$p1" "$tot" "$fl" "$wd" \
			"$sites" "$pl" "$(calc %.2f "$pl" "$lat" '(a / b < 0.01 ? "<.01" : a / b)')" "$p2"
		row "b_$s" move_ms "$mv" ms "" ""
		row "b_$s" pages_per_s "$pps" pages/s "$(calc %.3f "$pps" "$bwp")" "ib_read_bw_32 (pages/s)"
		row "b_$s" repop_ms "$rp" ms "" ""
		row "b_$s" pass1_ms "$p1" ms "" ""
		row "b_$s" until_all_read_ms "$tot" ms "" ""
		row "b_$s" pass1_faults "$fl" faults "" ""
		row "b_$s" pass1_word_accesses "$wd" accesses "" ""
		row "b_$s" sites_rewritten "$sites" sites "" ""
		row "b_$s" pass1_p50 "$pl" us "$(calc %.3f "$pl" "$lat")" ib_read_lat_typical_13
		row "b_$s" pass2_ms "$p2" ms "" ""
		for ((i = 1; i <= r; i++)); do
			bad=$(v "$e3" "b_${s}_${i}_bad_values")
			[[ ${bad:-x} == 0 ]] || { echo "  b $s rep $i: values read back wrong: ${bad:-missing}"; rc=1; }
		done
	done
	echo "  move: MIGRATE alone; repop: REPOPULATE (eager); pass1: node1 reads one word of every"
	echo "  page after the command returned; all read: from the command's start to the last"
	echo "  page read; faults/words: node1's faults and remote word accesses in pass 1; sites:"
	echo "  access sites rewritten on node1; x bw: to ib_read_bw node3 -> node2 in pages/s;"
	echo "  x lat: to ib_read_lat node1 -> node3."
	echo
fi
} | tee "$sum"

# figures.json: the CSV's rows as objects
if command -v jq >/dev/null; then
	jq -R -s --arg kver "$kver" --arg date "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" \
		--arg host "$(uname -n)" '
		split("\n") | map(select(length > 0)) | .[1:] | map(split(",")) |
		map({scenario: .[0], figure: .[1],
		     value: (.[2] | tonumber? // .), unit: .[3],
		     ratio: (.[4] | tonumber? // null), ratio_to: (if .[5] == "" then null else .[5] end)}) |
		{date: $date, host: $host, guest_kernel: $kver, figures: .}' "$csv" >"$dir/figures.json" ||
		{ echo "report: figures.json failed" >&2; rc=1; }
fi

"$(dirname "${BASH_SOURCE[0]}")/plots.sh" "$dir" || { echo "report: plots failed" >&2; rc=1; }
exit "$rc"
