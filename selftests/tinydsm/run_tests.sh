#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside a lab node (selftests/lab/lab.sh): the tinydsm C selftests, in
# order, each one's TAP output saved as $TDSM_OUT/<test>.tap for the host to
# count. module_test unloads and reloads the module, so it runs last.
# Exit: 0 all passed (or skipped), 1 a test failed.
set -u

# shellcheck source=selftests/tinydsm/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export TDSM_KO=$TDSM_TREE/build/$TDSM_KVER/tinydsm.ko
rc=0

for t in region_test netlink_test tinydsmctl_test daemon_test site_test trace_test priv_test \
	module_test; do
	tdsm_run_test "$t"
	r=$?
	[ "$r" -eq 0 ] || [ "$r" -eq 4 ] || rc=1
done
exit $rc
