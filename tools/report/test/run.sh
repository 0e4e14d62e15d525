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
bench migrate migrate migrate.env
bench migrate-partial migrate migrate.env
bench access access access.env
bench access-partial access access.env
bench cache cache cache.env host-cache.env
bench cache-partial cache cache.env

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
