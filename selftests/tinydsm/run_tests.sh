#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside a lab node (selftests/lab/lab.sh): the tinydsm C selftests, in
# order, each one's TAP output saved as $TDSM_OUT/<test>.tap for the host to
# count. module_test unloads and reloads the module, so it runs last.
# Exit: 0 all passed (or skipped), 1 a test failed.
set -u

export TDSM_KO=$TDSM_TREE/build/$TDSM_KVER/tinydsm.ko
bins=$TDSM_TREE/build/selftests
rc=0

for t in region_test netlink_test tinydsmctl_test daemon_test site_test trace_test \
	module_test; do
	# Mark the boundaries in the kernel log, to tie dmesg lines to a test.
	echo "tinydsm-selftest: start $t" >/dev/kmsg
	"$bins/$t" 2>&1 | tee "$TDSM_OUT/$t.tap"
	r=${PIPESTATUS[0]}
	echo "tinydsm-selftest: end $t rc=$r" >/dev/kmsg
	[ "$r" -eq 0 ] || [ "$r" -eq 4 ] || rc=1
done
exit $rc
