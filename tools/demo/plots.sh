#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make demo's plots (gnuplot, PNG), from the samples the labs left:
#   latency.png       distributions (CDF) of one access to a page that is
#                     not here: first-touch fault+fetch (a.1/a.2), first
#                     store, the fault after a lazy migration (b.1), the
#                     remote word access of a lookup site (b.2 lookup), and
#                     the raw ib_read_lat of the same run;
#   repopulation.png  b: pages node1 has read, against time from the start
#                     of `tinydsmctl migrate`, lazy vs eager (direct and
#                     lookup), first repetition;
#   access.png        a: ns per load, plain / direct / lookup.
#
#   tools/demo/plots.sh DIR
set -uo pipefail

dir=${1:?usage: plots.sh DIR}
n2=$dir/lab2/node1
n3=$dir/lab3/node1
command -v gnuplot >/dev/null || { echo "plots: gnuplot is not installed (make deps)" >&2; exit 1; }

v() { [[ -r $1 ]] && awk -F= -v k="$2" '$1 == k { x = substr($0, length(k) + 2) } END { print x }' "$1"; }
rc=0

# ---------------------------------------------------------------- latency
curves=() vlines=()
add() { # add FILE TITLE
	[[ -s $1 ]] && curves+=("'$1' using 1:2 with steps lw 2 title '$2'")
}
add "$n2/a12_touch_load.cdf" "a.1/a.2 first load: fault + fetch (node1 <- node2)"
add "$n2/a12_touch_store.cdf" "a.1/a.2 first store: fault + ownership"
add "$n3/b_lazy_1_pass1.cdf" "b.1 lazy: fault after the migration (node1 <- node3)"
add "$n3/b_lookup_1_pass1.cdf" "b.2 lookup: remote word access (node1 -> node3)"
for b in 12:"$dir/lab2/node1/demo.env" 13:"$dir/lab3/node1/demo.env"; do
	x=$(v "${b#*:}" "base_${b%%:*}_ib_read_lat_4k_typical_us")
	[[ -n $x ]] && vlines+=("set arrow from $x, graph 0 to $x, graph 1 nohead dt 2 lw 2 lc rgb 'black'"
		"set label 'ib\\_read\\_lat ${b%%:*}' at $x, graph 0.05 rotate left offset -1,0 font ',9'")
done
if ((${#curves[@]})); then
	{
		echo "set terminal pngcairo size 1000,600"
		echo "set output '$dir/latency.png'"
		echo "set title 'tinydsm: one access to a page that is not here (CDF)'"
		echo "set xlabel 'microseconds (log)'; set ylabel 'fraction of accesses'"
		echo "set logscale x; set grid; set key right bottom font ',9'"
		echo "set yrange [0:1]"
		printf '%s\n' "${vlines[@]}"
		printf 'plot %s\n' "$(IFS=,; echo "${curves[*]}")"
	} | gnuplot || rc=1
fi

# ---------------------------------------------------------------- repopulation
curves=()
add2() { [[ -s $1 ]] && curves+=("'$1' using 1:2 with lines lw 2 title '$2'"); }
add2 "$n3/b_lazy_1_timeline" "b.1 lazy: every page faults"
add2 "$n3/b_eager_1_timeline" "b.2 eager, direct: REPOPULATE, then loads"
add2 "$n3/b_lookup_1_timeline" "b.2 eager, lookup: word accesses at node3"
if ((${#curves[@]})); then
	{
		echo "set terminal pngcairo size 1000,600"
		echo "set output '$dir/repopulation.png'"
		echo "set title 'tinydsm: node1 reads every page again after tinydsmctl migrate --from node2 --to node3'"
		echo "set xlabel 'ms since the migration started'; set ylabel 'pages read by the application'"
		echo "set grid; set key right bottom font ',9'"
		printf 'plot %s\n' "$(IFS=,; echo "${curves[*]}")"
	} | gnuplot || rc=1
fi

# ---------------------------------------------------------------- access
e=$n2/demo.env
if [[ -n $(v "$e" a_local_sizes) ]]; then
	dat=$dir/access.dat
	: >"$dat"
	for s in $(v "$e" a_local_sizes); do
		for pt in seq rnd; do
			echo "\"$s MiB $pt\" $(v "$e" "a_${pt}_${s}MiB_plain_ns") $(v "$e" "a_${pt}_${s}MiB_direct_ns") $(v "$e" "a_${pt}_${s}MiB_lookup_ns")" >>"$dat"
		done
	done
	{
		echo "set terminal pngcairo size 1000,600"
		echo "set output '$dir/access.png'"
		echo "set title 'tinydsm (a): one 8-byte load on a local page (QEMU TCG guest)'"
		echo "set ylabel 'ns per load (log)'; set logscale y; set grid ytics"
		echo "set style data histograms; set style histogram clustered gap 1"
		echo "set style fill solid 0.8 border -1; set key left top"
		echo "plot '$dat' using 2:xtic(1) title 'plain memory', '' using 3 title 'site, direct', '' using 4 title 'site, lookup'"
	} | gnuplot || rc=1
fi
exit "$rc"
