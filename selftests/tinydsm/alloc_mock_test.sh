#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The allocator study (tools/bench/alloc_bench.c) on the host, without the
# module: alloc_bench linked with apps_mock_main.c over the module's
# stand-in (tdsm_mock.h), its ranks fork()ed processes on mock nodes 1, 2,
# 3. Each strategy (page, chunk, arena) on 1 rank and on 3, with threads:
# exit 0 (the launcher also finds no run of the region left once the job is
# destroyed), no contents, overlap or range error, nothing live at the end,
# as many frees as mallocs, the module's counters n/a (no module); page
# makes exactly one round trip (ALLOC) per malloc and one (FREE) per free;
# chunk a handful (its 1 MiB chunks); arena far fewer than one per malloc
# (fewer than one per 4), and the heap's own counts agree with the
# program's. The same workload (the same sizes and operations, from the
# seed) for the three: the same malloc count. Then chunk's blocks above
# 512 KiB (runs of their own, each given back), a block whose contents are
# changed on purpose (exit 1, the block named), and a bad strategy (exit 2).
#
#   selftests/tinydsm/alloc_mock_test.sh BUILD/lib/bench/alloc_bench_mock
#
# (make libtinydsm-test builds the binary and runs this.) Prints TAP, then
# "N passed, N failed"; exit 0 when none failed.
set -u

bin=${1:?usage: alloc_mock_test.sh BUILD/lib/bench/alloc_bench_mock}
tmp=$(mktemp -d /tmp/tdsm_alloc_mock.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
n=0
start=$SECONDS
# small: the whole test stays within a few seconds
work=(-r 8 -o 600 -t 3 -m 250 -S 7 -T 30)

ok() {
	n=$((n + 1))
	pass=$((pass + 1))
	echo "ok $n - $*"
}

not_ok() {
	n=$((n + 1))
	fail=$((fail + 1))
	echo "not ok $n - $*"
}

show() {
	sed 's/^/# /' "$1"
}

# key FILE STRATEGY NAME: the value of alloc_STRATEGY_NAME in FILE
key() {
	sed -n "s/^alloc_$2_$3=//p" "$1" | tail -n 1
}

echo "TAP version 13"
echo "1..9"

declare -A mallocs=()
for ranks in 1 3; do
	for s in page chunk arena; do
		out=$tmp/$s.$ranks
		"$bin" -n $ranks -- -s $s "${work[@]}" >"$out" 2>&1
		rc=$?
		why=
		k() { key "$out" $s "$1"; }
		m=$(k mallocs) f=$(k frees) rt=$(k round_trips)
		[[ $rc == 0 ]] || why+="exit $rc; "
		[[ $m =~ ^[0-9]+$ && $m -gt 0 ]] || why+="mallocs '$m'; "
		[[ $rt =~ ^[0-9]+$ ]] || why+="round trips '$rt'; "
		[[ -z $why ]] || { not_ok "$s, $ranks rank(s): $why"; show "$out"; continue; }
		[[ $(k ranks) == "$ranks" ]] || why+="ranks $(k ranks); "
		[[ $(k errors) == 0 ]] || why+="errors $(k errors); "
		[[ $(k live_bytes_end) == 0 && $(k live_blocks_end) == 0 ]] ||
			why+="live at the end: $(k live_blocks_end) blocks, $(k live_bytes_end) bytes; "
		[[ $f == "$m" ]] || why+="$m mallocs, $f frees; "
		[[ $(k remote_faults_before) == n/a && $(k d_remote_faults) == n/a ]] ||
			why+="remote faults '$(k remote_faults_before)' without a module; "
		[[ $(k peak_live_bytes) -gt 0 && $(k peak_reserved_bytes) -ge $(k peak_live_bytes) ]] ||
			why+="peaks: reserved $(k peak_reserved_bytes), live $(k peak_live_bytes); "
		case $s in
		page)
			[[ $(k allocs) == "$m" && $(k run_frees) == "$f" && $rt == $((m + f)) ]] ||
				why+="$(k allocs) ALLOCs, $(k run_frees) FREEs, $rt round trips for $m mallocs and $f frees; "
			[[ $(k held_runs_end) == 0 && $(k held_bytes_end) == 0 ]] ||
				why+="$(k held_runs_end) runs held at the end; "
			;;
		chunk)
			[[ $(k run_frees) == 0 && $(k allocs) == "$(k held_runs_end)" ]] ||
				why+="$(k allocs) ALLOCs, $(k run_frees) FREEs, $(k held_runs_end) chunks held; "
			((rt * 100 < m)) || why+="$rt round trips for $m mallocs; "
			[[ $(k held_bytes_end) == $(($(k held_runs_end) * 1048576)) ]] ||
				why+="$(k held_bytes_end) bytes held in $(k held_runs_end) chunks; "
			;;
		arena)
			((rt * 4 < m)) || why+="$rt round trips for $m mallocs: not far fewer; "
			[[ $(k heap_mallocs) == "$m" && $(k heap_frees) == "$f" && $(k heap_in_use_end) == 0 ]] ||
				why+="the heap counts $(k heap_mallocs) mallocs, $(k heap_frees) frees, $(k heap_in_use_end) bytes in use; "
			;;
		esac
		if [[ -n ${mallocs[$ranks]:-} && ${mallocs[$ranks]} != "$m" ]]; then
			why+="$m mallocs, not ${mallocs[$ranks]} as the strategy before: not the same workload; "
		fi
		mallocs[$ranks]=$m
		if [[ -z $why ]]; then
			ok "$s, $ranks rank(s): $m mallocs, $rt round trips ($(k mallocs_per_round_trip) mallocs each), reserved/live $(k reserved_per_live)"
		else
			not_ok "$s, $ranks rank(s): $why"
			show "$out"
		fi
	done
done

# chunk: blocks of up to 1 MiB, those above 512 KiB a run of their own,
# each given back (ALLOCs: the chunks and those runs; FREEs: those runs).
out=$tmp/chunk.big
"$bin" -n 3 -- -s chunk "${work[@]}" -L 30 -M 1048576 >"$out" 2>&1
rc=$?
a=$(key "$out" chunk allocs) fr=$(key "$out" chunk run_frees) h=$(key "$out" chunk held_runs_end)
if [[ $rc == 0 && $fr =~ ^[0-9]+$ && $fr -gt 0 && $a == $((h + fr)) &&
	$(key "$out" chunk errors) == 0 && $(key "$out" chunk live_bytes_end) == 0 ]]; then
	ok "chunk, blocks up to 1 MiB, 3 ranks: $fr runs of their own, each freed; $h chunks"
else
	not_ok "chunk, blocks up to 1 MiB: exit $rc, $a ALLOCs, $fr FREEs, $h chunks"
	show "$out"
fi

# A block changed behind the allocator's back: found, exit 1, every rank ends.
out=$tmp/corrupt
"$bin" -n 3 -- -s arena "${work[@]}" -C 25 >"$out" 2>&1
rc=$?
if [[ $rc == 1 ]] && grep -q "thread 0's block 24 of .* changed before its free" "$out" &&
	grep -q '^alloc_arena_errors=1$' "$out" && ! grep -q "rank [12] exited" "$out"; then
	ok "arena, 3 ranks, a byte of a block flipped: exit 1, the block named"
else
	not_ok "arena, a byte of a block flipped: exit $rc"
	show "$out"
fi

out=$tmp/usage
"$bin" -n 1 -- -s buddy >"$out" 2>&1
rc=$?
if [[ $rc == 2 ]] && grep -q "^usage: alloc_bench -s page|chunk|arena" "$out"; then
	ok "-s buddy: usage, exit 2"
else
	not_ok "-s buddy: exit $rc"
	show "$out"
fi

echo "# alloc_mock_test: $pass passed, $fail failed ($((SECONDS - start)) s)"
[[ $fail == 0 ]]
