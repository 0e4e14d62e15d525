#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside every node of a multi-node lab run (selftests/lab/lab.sh
# --nodes 2 or 3): the multi-node C selftests of suite cluster2 or cluster3
# (selftests/tinydsm/Makefile), in order, each one's TAP output saved as
# $TDSM_OUT/<test>.tap for the host to count:
#   cluster_sync_test   the file barriers the other tests meet at (before
#                       the nodes connect, cluster.sh)
#   coherence_pair_test 2 nodes: ownership, reads, writes, ALLOC/FREE
#   coherence_trio_test 3 nodes: invalidation, lost or evicted owners,
#                       no stale read at an owner giving its page up
#                       (a debugfs knob), atomics (both: coherence.h;
#                       all nodes run them)
#   cache_trio_test     3 nodes: node1, with a cache budget, reads and
#                       writes a data set 4 times it, homed on node2 and
#                       node3; no write lost to eviction and write-back
#   migration_test      3 nodes: MIGRATE and REPOPULATE (scenario b)
#   site_cluster_test   2 nodes: an access site follows its page
#   shrinker_test       2 nodes: memory pressure (an anonymous hog) frees
#                       node1's unmapped read copies; no stale copy after
#   meta_test           2 nodes: page metadata grows with use (at most
#                       12.5 KiB a MiB touched, and the table) and goes
#                       after FREE and after invalidations
#   daemon_cluster_test 3 nodes, with tinydsmd on each (daemon.sh):
#                       tinydsmctl migrate, daemon restart, nodes that die
#   preload_test        2 nodes: runs that belong to an open file, and
#                       libtinydsm-preload.so (sort, xz, python3 with
#                       their heap homed on node2)
#   run_test            2 and 3 nodes, with tinydsmd on each: tinydsmctl
#                       run (exit statuses, output, env, Ctrl-C, job show)
#   unload_cluster_test 2 nodes: node1 unloads tinydsm while it listens
#                       to its events, then loads it again and reconnects
#   peer_failure_test   2 nodes; node2 takes eth0 down, then up again
#   conn_test           2 nodes: kills mid-fault, faults over a link that
#                       loses 5% of its packets, a word storm under
#                       netem delay, link flaps and del/add loops
# Exit: 0 all passed (or skipped), 1 a test failed or the nodes did not
# connect, 4 fewer than 2 nodes (nothing to do).
#
# TDSM_CLUSTER_TESTS="coherence_pair_test ..." runs only those tests.
# TDSM_CLUSTER_SETUP=0 skips cluster.sh: only for running the tests'
# own plumbing against a module that has no peers yet.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=selftests/tinydsm/lib.sh
source "$here/lib.sh"
# shellcheck source=selftests/tinydsm/cluster.sh
source "$here/cluster.sh"
# shellcheck source=selftests/tinydsm/daemon.sh
source "$here/daemon.sh"

if ((TDSM_NODES < 2)); then
	echo "run_cluster_tests: needs 2 or 3 nodes, this run has $TDSM_NODES: skipping"
	exit "$ksft_skip"
fi

# TDSM_CLUSTER_TESTS="a b": only those (for working on one test).
# (SC2317: these functions run through tdsm_run_suite.)
# shellcheck disable=SC2317
selected() { # TEST
	[[ -z ${TDSM_CLUSTER_TESTS:-} || " $TDSM_CLUSTER_TESTS " == *" $1 "* ]]
}

# shellcheck disable=SC2317
run_selected() { # TEST [ARGS...]
	if selected "$1"; then
		tdsm_run_test "$@"
	fi
}

connected=0

# One test of the suite, with what it needs around it.
# shellcheck disable=SC2317
cluster_run() { # TEST [ARGS...]
	if [[ $1 == cluster_sync_test ]]; then
		# On the 9p share, which is what the nodes meet on.
		mkdir -p "$TDSM_OUT/sync"
		TDSM_SYNC_TEST_DIR=$TDSM_OUT/sync run_selected "$@"
		return
	fi
	# Every other test needs the nodes connected.
	if ((!connected)); then
		if [[ ${TDSM_CLUSTER_SETUP:-1} != 0 ]] && ! tdsm_cluster_up; then
			echo "run_cluster_tests: the nodes did not all connect; no test run"
			exit 1
		fi
		connected=1
	fi
	case $1 in
	daemon_cluster_test | run_test)
		selected "$1" || return
		if tdsm_daemon_up; then
			run_selected "$@"
		else
			echo "run_cluster_tests: tinydsmd did not come up; $1 not run"
			tdsm_rc=1
		fi
		tdsm_daemon_down
		# The restart test starts a daemon of its own: stop whatever runs.
		pkill -TERM -x tinydsmd 2>/dev/null && sleep 1
		# Whatever became of the partition tests, the network must be back.
		tc qdisc del dev "${TDSM_LINK_DEV:-eth0}" clsact 2>/dev/null || true
		;;
	peer_failure_test)
		run_selected "$@"
		# Whatever became of the test, the link must be up for the unload.
		ip link set "${TDSM_LINK_DEV:-eth0}" up 2>/dev/null || true
		;;
	conn_test)
		run_selected "$@"
		# What the network layers think after the stress, for a reconnect
		# that did not happen: neighbours, RDMA links, resources and counters.
		{ ip neigh show; rdma link show; rdma resource show
		  rdma resource show qp; rdma statistic show; } \
			>"$TDSM_OUT/conn_test.net.txt" 2>&1
		ip link set "${TDSM_LINK_DEV:-eth0}" up 2>/dev/null || true
		tc qdisc del dev "${TDSM_LINK_DEV:-eth0}" root 2>/dev/null || true
		;;
	*)
		run_selected "$@"
		# Soft-RoCE's counters and the link's drops after the test
		# (retransmissions, send errors), for a connection that died
		# under load.
		selected "$1" || return 0
		{ rdma statistic show; ip -s link show "${TDSM_LINK_DEV:-eth0}"
		  tc -s qdisc show dev "${TDSM_LINK_DEV:-eth0}"; } \
			>"$TDSM_OUT/$1.net.txt" 2>&1
		;;
	esac
}

tdsm_run_suite "cluster$TDSM_NODES" cluster_run
exit "$tdsm_rc"
