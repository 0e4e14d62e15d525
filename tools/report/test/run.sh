#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make report-test: tools/report/report.py on the results kept here, against
# the tables, CSV and derived figures kept next to them. The expected files
# are what the reports before report.py (the C `report` subcommands of
# remote_bench, migrate_bench and access_bench, and the demo's awk) printed
# for these inputs: remote/ and demo/ are real runs, the others synthetic,
# with every key the reports read, some missing, odd values and zeros.
# cache/ and cache-partial/ (synthetic too) came with report.py's cache
# table, checked by hand: cache/ a whole run (with its dirty stream),
# cache-partial/ missing figures, wrong words, a wrong budget, failed
# phases and a dirty stream cut short (frames not released, no check).
# remote/ and remote-zeros/ gained the transport floor's row and target
# (no floor in those runs: n/a, NOT MEASURED, one more figure missing),
# then the rows of ib_send_lat and ib_read_lat -e (n/a there, two more
# figures missing) and the fault path's list of targets in place of
# the old ones; then the row of the floor with its buffer registered with
# the request (n/a in all three: one more figure missing);
# remote-baselines/ is a later real run (floor, NVMe-oF and
# all) with those two baselines added by hand, their figures checked by
# hand (the round trip twice perftest's, the ratios, the drift line).
# access/ and access-partial/ gained the target of the lookup site's
# remote word access (its table line, CSV row and key line); demo/ the
# target of b.2 lookup's word access, and a.1/a.2's note that its first
# loads, in address order, are read ahead (the table only).
# sync/ and sync-partial/ (synthetic, written by hand: no lab has run the
# synchronisation benchmark yet) came with report.py's sync table, its
# figures checked by hand: sync/ a whole 3-node run, sync-partial/ a
# 2-node one with two phases failed (figures missing), a lost update, a
# page that moved under the remote atomics, a ping-pong whose page never
# came, a mutex left locked and a barrier round without its SERIAL.
# Both then gained the fetch-adds with work between them (the target's
# pair since), the back-to-back ratio as information and each ping-pong's
# remote faults per fetch-add, checked by hand: sync/'s back-to-back
# ping-pong is now shaped as the first lab run's was (a node keeps the page
# for its burst: 3 faults in 6000 fetch-adds), sync-partial/'s work pair
# has its ping-pong failed (node2's figures and node1's end missing: two
# more figures missing) and its remote atomics run with another gap.
# alloc/ and alloc-partial/ (synthetic, written by hand: no lab has run
# the allocator study yet; the counts and bytes are those of alloc_bench
# over the host's mock with the lab's defaults, the times and the module's
# counters made up in the lab's range) came with report.py's alloc table,
# its figures checked by hand: alloc/ a whole 3-node run, alloc-partial/ a
# 2-node one whose chunk run timed out (its figures missing) and whose
# arena run found changed blocks and left one live, with a page run that
# took one ALLOC too few and 3 remote faults (a note, not a warning).
# programs/ is the programs benchmark's first lab run (6.1, the smaller
# sizes of that day), its table checked by hand against the run's
# output; programs-partial/ the same with radix on 3 nodes timed out (its
# time missing), fft's 2-node digest changed, lu's 3-node check failed
# and a counter of water's missing. programs-unmod/ is a later lab run
# (water only, with the unmodified programs under libtinydsm-preload.so),
# its second table checked by hand against the run's log.
# steps/ (synthetic ftrace buffers of both nodes) came with the fault's
# breakdown, its figures worked out by hand in the buffers' comments.
#
#   tools/report/test/run.sh     exit 0 if all match; prints N passed, N failed
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
report=$here/../report.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

# same NAME EXPECTED GOT: one comparison, with the difference if any
same() {
	if diff -u "$2" "$3" >"$tmp/diff"; then
		passed=$((passed + 1))
	else
		echo "report-test: $1 differs:"
		cat "$tmp/diff"
		failed=$((failed + 1))
	fi
}

# bench CASE SECTION ENV...: one benchmark section's table, CSV, exit
# status and (migrate) derived figures
bench() {
	local c=$1 sec=$2 rc want=0 extra=()
	shift 2
	[[ $sec == migrate ]] && { : >"$tmp/$c.derived"; extra=(-E "$tmp/$c.derived"); }
	"$report" "$sec" -c "$tmp/$c.csv" "${extra[@]}" "${@/#/$here/$c/}" >"$tmp/$c.txt"
	rc=$?
	[[ -r $here/$c/expected.rc ]] && want=$(<"$here/$c/expected.rc")
	same "$c table" "$here/$c/expected.txt" "$tmp/$c.txt"
	same "$c CSV" "$here/$c/expected.csv" "$tmp/$c.csv"
	[[ $sec == migrate ]] && same "$c derived" "$here/$c/expected-derived.env" "$tmp/$c.derived"
	same "$c exit status" <(echo "$want") <(echo "$rc")
}

bench remote remote bench.env host.env
bench remote-zeros remote bench.env
bench remote-baselines remote bench.env host.env
bench migrate migrate migrate.env
bench migrate-partial migrate migrate.env
bench access access access.env
bench access-partial access access.env
bench cache cache cache.env host-cache.env
bench cache-partial cache cache.env
bench sync sync sync.env host-sync.env
bench sync-partial sync sync.env
bench alloc alloc alloc.env host-alloc.env
bench alloc-partial alloc alloc.env
bench programs programs programs.env host-programs.env
bench programs-partial programs programs.env
bench programs-unmod programs programs.env host-programs.env

# the fault's breakdown (steps/: synthetic ftrace buffers, the expected
# figures worked out by hand in the buffers' comments): the read faults'
# table, the write faults' table, the bd_* lines both append, exit status
: >"$tmp/steps.env"
"$report" steps -e "$tmp/steps.env" rd "$here/steps/trace.node1" "$here/steps/trace.node2" r \
	>"$tmp/steps-rd.txt"
same "steps read exit status" <(echo 0) <(echo $?)
"$report" steps -e "$tmp/steps.env" wr "$here/steps/trace.node1" "$here/steps/trace.node2" w \
	>"$tmp/steps-wr.txt"
same "steps write exit status" <(echo 0) <(echo $?)
same "steps read table" "$here/steps/expected-rd.txt" "$tmp/steps-rd.txt"
same "steps write table" "$here/steps/expected-wr.txt" "$tmp/steps-wr.txt"
same "steps env" "$here/steps/expected.env" "$tmp/steps.env"
"$report" steps rd "$here/steps/trace.node2" "$here/steps/trace.node1" r >/dev/null
same "steps: no fault matched, exit 1" <(echo 1) <(echo $?)

# the demo: in a copy (it writes its outputs beside the results); its
# first line and figures.json's date and host are this run's own
cp -r "$here/demo" "$tmp/demo"
"$report" demo "$tmp/demo" KVER >/dev/null 2>"$tmp/demo.err"
same "demo table" "$here/demo/expected-summary.txt" <(tail -n +2 "$tmp/demo/summary.txt")
same "demo CSV" "$here/demo/expected-figures.csv" "$tmp/demo/figures.csv"
same "demo JSON" "$here/demo/expected-figures.json" \
	<(grep -v '"date"\|"host"' "$tmp/demo/figures.json")

echo "report-test: $passed passed, $failed failed"
((failed == 0))
