# SPDX-License-Identifier: GPL-2.0
# Sourced by the lab scripts that run the C selftests inside a node
# (run_tests.sh, run_cluster_tests.sh, run_wire_tests.sh).

KMEMLEAK=/sys/kernel/debug/kmemleak

# tdsm_kmemleak_scan NAME: on a kernel with kmemleak (the lab's debug
# kernel), scan now and keep what it suspects as $TDSM_OUT/NAME.kmemleak.
# A scan that finds new leaks logs "N new suspected memory leaks", which
# fails the lab run. An object is reported once it is 5 s old, so a leak in
# the last seconds of one test shows up at the next scan.
tdsm_kmemleak_scan() {
	[[ -w $KMEMLEAK ]] || return 0
	echo scan >"$KMEMLEAK"
	if [[ -s $KMEMLEAK ]]; then
		cat "$KMEMLEAK" >"$TDSM_OUT/$1.kmemleak"
		echo "$1: kmemleak suspects leaks: $TDSM_OUT/$1.kmemleak"
		return 1
	fi
}

# tdsm_run_test NAME [ARGS...]: run build/selftests/NAME, its TAP output
# saved as $TDSM_OUT/NAME.tap for the host to count, its boundaries marked
# in the kernel log (to tie dmesg lines to a test), then scan for leaks.
# Returns the test's exit code (4: skipped), or 1 if kmemleak found one.
tdsm_run_test() {
	local t=$1 r
	shift
	if [[ ! -x $TDSM_TREE/build/selftests/$t ]]; then
		echo "$t: $TDSM_TREE/build/selftests/$t is not built"
		return 1
	fi
	echo "tinydsm-selftest: start $t" >/dev/kmsg
	"$TDSM_TREE/build/selftests/$t" "$@" 2>&1 | tee "$TDSM_OUT/$t.tap"
	r=${PIPESTATUS[0]}
	echo "tinydsm-selftest: end $t rc=$r" >/dev/kmsg
	tdsm_kmemleak_scan "$t" || r=1
	return "$r"
}
