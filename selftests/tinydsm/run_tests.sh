#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside a lab node (selftests/lab/lab.sh): the tinydsm C selftests of
# one node (suite selftests in selftests/tinydsm/Makefile), in order, each
# one's TAP output saved as $TDSM_OUT/<test>.tap for the host to count.
# Exit: 0 all passed (or skipped), 1 a test failed.
set -u

# shellcheck source=selftests/tinydsm/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export TDSM_KO=$TDSM_TREE/build/$TDSM_KVER/tinydsm.ko

tdsm_run_suite selftests
exit "$tdsm_rc"
