#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside every node of a multi-node lab run (selftests/lab/lab.sh
# --nodes 2 or 3): connects the nodes (cluster.sh), then the multi-node C
# selftests, in order, each one's TAP output saved as $TDSM_OUT/<test>.tap
# for the host to count:
#   cluster_sync_test   the file barriers the other tests meet at
#   coherence_test      pair_* on 2 nodes, trio_* on 3 (all nodes run it)
#   migration_test      3 nodes: MIGRATE and REPOPULATE (scenario b)
#   site_cluster_test   2 nodes: an access site follows its page
#   daemon_cluster_test 3 nodes, with tinydsmd on each (daemon.sh):
#                       tinydsmctl migrate, daemon restart, nodes that die
#   unload_cluster_test 2 nodes only: node1 unloads tinydsm while it listens
#                       to its events, then loads it again and reconnects
#   peer_failure_test   2 nodes only; node2 takes eth0 down, then up again
#   conn_test           2 nodes only: kills mid-fault, a word storm under
#                       netem delay, link flaps and del/add loops
# Exit: 0 all passed (or skipped), 1 a test failed or the nodes did not
# connect, 4 fewer than 2 nodes (nothing to do).
#
# TDSM_CLUSTER_TESTS="coherence_test ..." runs only those tests.
# TDSM_CLUSTER_SETUP=0 skips cluster.sh: only for running the tests'
# own plumbing against a module that has no peers yet.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=selftests/tinydsm/lib.sh
source "$here/lib.sh"
rc=0

if ((TDSM_NODES < 2)); then
	echo "run_cluster_tests: needs 2 or 3 nodes, this run has $TDSM_NODES: skipping"
	exit 4
fi

run() { # run TEST
	local t=$1 r
	# TDSM_CLUSTER_TESTS="a b": only those (for working on one test).
	if [[ -n ${TDSM_CLUSTER_TESTS:-} && " $TDSM_CLUSTER_TESTS " != *" $t "* ]]; then
		return
	fi
	tdsm_run_test "$t"
	r=$?
	[ "$r" -eq 0 ] || [ "$r" -eq 4 ] || rc=1
}

# On the 9p share, which is what the nodes meet on.
mkdir -p "$TDSM_OUT/sync"
TDSM_SYNC_TEST_DIR=$TDSM_OUT/sync run cluster_sync_test

# shellcheck source=selftests/tinydsm/cluster.sh
source "$here/cluster.sh"
if [[ ${TDSM_CLUSTER_SETUP:-1} != 0 ]] && ! tdsm_cluster_up; then
	echo "run_cluster_tests: the nodes did not all connect; no test run"
	exit 1
fi

run coherence_test
run migration_test
run site_cluster_test

if ((TDSM_NODES == 3)) && [[ -z ${TDSM_CLUSTER_TESTS:-} || " $TDSM_CLUSTER_TESTS " == *" daemon_cluster_test "* ]]; then
	# shellcheck source=selftests/tinydsm/daemon.sh
	source "$here/daemon.sh"
	if tdsm_daemon_up; then
		run daemon_cluster_test
	else
		echo "run_cluster_tests: tinydsmd did not come up; daemon_cluster_test not run"
		rc=1
	fi
	tdsm_daemon_down
	# The restart test starts a daemon of its own: stop whatever runs.
	pkill -TERM -x tinydsmd 2>/dev/null && sleep 1
	# Whatever became of the partition tests, the network must be back.
	tc qdisc del dev "${TDSM_LINK_DEV:-eth0}" clsact 2>/dev/null || true
fi

if ((TDSM_NODES == 2)); then
	# Before peer_failure_test: after a link went down, rxe may not
	# reconnect on 6.12, and this test needs node1 to reconnect.
	run unload_cluster_test
	run peer_failure_test
	# Whatever became of the test, the link must be up for the unload.
	ip link set "${TDSM_LINK_DEV:-eth0}" up 2>/dev/null || true
	run conn_test
	# What the network layers think after the stress, for a reconnect
	# that did not happen: neighbours, RDMA links, resources and counters.
	{ ip neigh show; rdma link show; rdma resource show
	  rdma resource show qp; rdma statistic show; } \
		>"$TDSM_OUT/conn_test.net.txt" 2>&1
	ip link set "${TDSM_LINK_DEV:-eth0}" up 2>/dev/null || true
	tc qdisc del dev "${TDSM_LINK_DEV:-eth0}" root 2>/dev/null || true
fi
exit $rc
