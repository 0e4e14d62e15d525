# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2034 # tdsm_rc is read by the runners
# The runners' shell library: sourced by the lab scripts that run the C
# selftests inside a node (run_tests.sh, run_cluster_tests.sh,
# run_wire_tests.sh) and, for the list of tests, by selftests/run.sh on
# the host.

# kselftest's exit code for a test (or a whole runner) that did not apply.
ksft_skip=4

# The list of tests the build wrote from selftests/tinydsm/Makefile.
TDSM_TESTS_LIST=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/selftests/tests.list

# tdsm_tests SUITE: the tests SUITE runs (selftests, cluster2, cluster3,
# wire), in order, one "TEST [ARGS...]" a line.
tdsm_tests() {
	if [[ ! -r $TDSM_TESTS_LIST ]]; then
		echo "$TDSM_TESTS_LIST is missing: run make user" >&2
		return 1
	fi
	awk -v s="$1" '$1 == s { sub(/^[^ ]+ /, ""); print }' "$TDSM_TESTS_LIST"
}

# tdsm_tee_marked NAME FILE: copy stdin to stdout and FILE, and each test
# case's start and result, as "tinydsm-selftest: NAME: LINE", to the
# kernel log.
tdsm_tee_marked() {
	local line
	while IFS= read -r line || [[ -n $line ]]; do
		printf '%s\n' "$line"
		printf '%s\n' "$line" >&3
		case $line in
		"#  RUN "* | "ok "* | "not ok "*)
			echo "tinydsm-selftest: $1: $line" >/dev/kmsg ;;
		esac
	done 3>"$2"
}

# tdsm_run_test NAME [ARGS...]: run build/selftests/NAME, its TAP output
# saved as $TDSM_OUT/NAME.tap for the host to count, its boundaries and
# each test case's start and result marked in the kernel log (to tie dmesg
# lines to a test, and to see where a suite's time goes). Leaks: one
# kmemleak scan after rmmod (selftests/lab/guest.sh) sees every object the
# run left unreferenced; a scan per test took 10 to 20 s of the debug
# kernel's time each (a tenth of a suite) and found nothing the last one
# does not. Returns the test's exit code ($ksft_skip: skipped). A failure
# (not a skip) sets tdsm_rc to 1, the runner's exit.
tdsm_rc=0
tdsm_run_test() {
	local t=$1 r
	shift
	if [[ ! -x $TDSM_TREE/build/selftests/$t ]]; then
		echo "$t: $TDSM_TREE/build/selftests/$t is not built"
		tdsm_rc=1
		return 1
	fi
	echo "tinydsm-selftest: start $t" >/dev/kmsg
	# Line-buffered, and read a line at a time (mawk would wait for a
	# full buffer): the output streams, and the marks are timed.
	stdbuf -oL -eL "$TDSM_TREE/build/selftests/$t" "$@" 2>&1 |
		tdsm_tee_marked "$t" "$TDSM_OUT/$t.tap"
	r=${PIPESTATUS[0]}
	echo "tinydsm-selftest: end $t rc=$r" >/dev/kmsg
	[[ $r == 0 || $r == "$ksft_skip" ]] || tdsm_rc=1
	return "$r"
}

# tdsm_run_suite SUITE [FUNC]: every test of SUITE, in the list's order,
# each run as FUNC TEST [ARGS...] (default tdsm_run_test: a runner passes
# its own to do what a test needs around it).
tdsm_run_suite() {
	local run=${2:-tdsm_run_test} line lines tests words
	tests=$(tdsm_tests "$1") || { tdsm_rc=1; return 1; }
	mapfile -t lines <<<"$tests"
	for line in "${lines[@]}"; do
		[[ -n $line ]] || continue
		read -r -a words <<<"$line"
		"$run" "${words[@]}"
	done
}
