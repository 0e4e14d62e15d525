#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the nodes of a 2-node lab (selftests/lab/lab.sh --nodes 2): the
# wire protocol robustness test (suite wire in selftests/tinydsm/Makefile).
# node2's module is the one under test (the test itself tells it that node
# 1 is at TDSM_IP_1); node1 runs the same binary as a rogue "node 1" from
# user space and never configures its own module. Each node's TAP output
# goes to $TDSM_OUT/wire_test.tap; node1's holds the verdicts, node2's only
# says whether it could serve node1.
# Exit: 0 all passed (or skipped), 1 a test failed, 4 not a 2-node run.
set -u

# shellcheck source=selftests/tinydsm/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${TDSM_NODES:-0}" -ne 2 ]; then
	echo "run_wire_tests: needs exactly 2 nodes, have ${TDSM_NODES:-?}: skipping"
	exit "$ksft_skip"
fi
case ${TDSM_NODE_ID:-} in
1 | 2) ;;
*) echo "run_wire_tests: node ${TDSM_NODE_ID:-?} has no part"; exit 0 ;;
esac

export TDSM_CTL=${TDSM_CTL:-$TDSM_TREE/build/tools/tinydsmctl}
[ -x "$TDSM_CTL" ] || { echo "run_wire_tests: $TDSM_CTL missing (make user)"; exit 1; }

# shellcheck disable=SC2317 # run through tdsm_run_suite
wire_run() { # TEST [ARGS...]
	tdsm_run_test "$@"
	# What node2's module ended up with for node 1, for the record.
	if [ "$TDSM_NODE_ID" -eq 2 ]; then
		"$TDSM_CTL" node show 2>&1 | sed 's/^/# node show: /'
	fi
}

tdsm_run_suite wire wire_run
exit "$tdsm_rc"
