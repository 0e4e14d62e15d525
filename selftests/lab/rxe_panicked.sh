#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Did a guest of a lab run die of Soft-RoCE's own panic?
#
#   selftests/lab/rxe_panicked.sh DIR
#
# Exits 0 if a guest's console (DIR/node*/console.log) ends in a kernel
# panic whose report names code of rdma_rxe and none of tinydsm: the
# known crash of Debian 6.12's rxe under load, seen with tinydsm not
# loaded at all (README, "Known problems"; tools/panic_rate.sh --kind rxe
# measures it). Prints that report's first line. Exits 1 otherwise, and
# for any other panic, oops or report, which stays a failure of its own.
#
# The report is the console from its first line (a BUG, an oops, a double
# fault, a general protection fault, a WARNING, a list corruption) to the
# "Kernel panic" line: a report that names a tinydsm function anywhere, or
# that comes after an earlier report, is not this one.
set -uo pipefail

dir=${1:?usage: $0 DIR}
first='BUG:|Oops|double fault|general protection fault|WARNING:|corruption|stack guard page|Kernel panic'

for console in "$dir"/node*/console.log; do
	[[ -e $console ]] || continue
	grep -qs 'Kernel panic' "$console" || continue
	report=$(awk -v first="$first" '
		!on && $0 ~ first { on = 1 }
		on { print }
		on && /Kernel panic/ { exit }' "$console")
	if grep -q '\[rdma_rxe\]' <<<"$report" &&
	   ! grep -q '\[tinydsm\]' <<<"$report"; then
		echo "$(basename "$(dirname "$console")"): $(head -n 1 <<<"$report" |
			sed 's/^\[ *[0-9.]*\] //')"
		exit 0
	fi
done
exit 1
