# SPDX-License-Identifier: GPL-2.0
# The harness of the lab classifiers' tests (sourced): made-up lab runs in
# a temporary directory, and expect(), which checks a classifier's exit
# status on one. The sourcing test sets classifier= (a script of
# selftests/lab) first, and ends with finish.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# lab_log NAME FILE LINE...: a lab run NAME whose node2 wrote LINE... to
# FILE (console.log, dmesg.live), and node1 only its boot line
lab_log() {
	local d=$tmp/$1 file=$2
	shift 2
	mkdir -p "$d/node1" "$d/node2"
	echo "[    1.000000] Linux version 6.12.118+deb12-amd64" >"$d/node1/$file"
	printf '%s\n' "$@" >"$d/node2/$file"
}

# expect 0|1 NAME: the classifier's exit status on lab run NAME
expect() {
	local got
	"$top/selftests/lab/$classifier" "$tmp/$2" >/dev/null
	got=$?
	if [[ $got == "$1" ]]; then
		echo "ok: $2"
	else
		echo "FAIL: $2: exit $got, expected $1"
		fails=$((fails + 1))
	fi
}

finish() {
	local name=${classifier%.sh}_test

	((fails == 0)) || { echo "$name: $fails failed"; exit 1; }
	echo "$name: all passed"
}
