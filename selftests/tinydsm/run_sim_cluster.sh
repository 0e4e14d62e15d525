#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make run-sim-test: the lab's run_test (tinydsmctl run on 2 and 3 nodes)
# on the host, without QEMU and without the module. Each "node" is a mount
# namespace of its own (its own /tmp and /run/tinydsm, which its daemon's
# ranks share) running tinydsmd built with fake_genl.c and run_test; the
# nodes share one network namespace made for the run (127.0.0.1..3 on its
# lo, nothing reaches the host's network) and meet in a shared directory
# for the barriers (TDSM_SHARED). What differs from the lab: one kernel,
# one pid namespace (a node's pgrep sees the others' processes), no
# module. Needs root, unshare(1).
#
#   selftests/tinydsm/run_sim_cluster.sh BUILD_DIR [NODES...]   (default: 2 3)
#
# Exit 0 when every node of every run passed.
set -u

build=${1:?usage: run_sim_cluster.sh BUILD_DIR [NODES...]}
build=$(cd "$build" && pwd)
shift
tree=$(cd "$(dirname "$0")/../.." && pwd)

if [[ ${TDSM_SIM_STAGE:-} == node ]]; then
	# One node: $1 its id, $2 the node count, $3 the shared directory.
	i=$1 n=$2 shared=$3
	mount -t tmpfs none /tmp && chmod 1777 /tmp || exit 1
	mkdir -p /run/tinydsm && mount -t tmpfs none /run/tinydsm || exit 1
	{
		for ((j = 1; j <= n; j++)); do
			echo "node $j name node$j addr 127.0.0.$j control-port 17472"
		done
		echo "self node$i"
		echo "heartbeat-ms 100"
		echo "dead-after-ms 1000"
		echo "key-file $shared/cluster.key"
	} >/run/tinydsm/tinydsm.conf
	"$build/host/tinydsmd-fake" -c /run/tinydsm/tinydsm.conf -v >"$shared/tinydsmd.node$i.log" 2>&1 &
	dpid=$!
	for ((k = 0; k < 100; k++)); do
		out=$("$build/tools/tinydsmctl" -t member show 2>/dev/null)
		[[ $(grep -c alive <<<"$out") == "$n" ]] && break
		sleep 0.1
	done
	TDSM_NODE_ID=$i TDSM_NODES=$n TDSM_SHARED=$shared TDSM_TREE=$tree \
		TDSM_BARRIER_TIMEOUT=30 "$build/selftests/run_test" >"$shared/run_test.node$i.tap" 2>&1
	rc=$?
	kill -TERM "$dpid"
	wait "$dpid"
	exit "$rc"
fi

if [[ ${TDSM_SIM_STAGE:-} != netns ]]; then
	[[ $(id -u) == 0 ]] || { echo "run_sim_cluster: needs root"; exit 4; }
	TDSM_SIM_STAGE=netns exec unshare -n "$0" "$build" "$@"
fi

ip link set lo up || exit 1
(($#)) || set -- 2 3
fail=0
for n in "$@"; do
	shared=$(mktemp -d /run/tdsm_sim.XXXXXX)
	chmod 755 "$shared"
	"$build/tools/tinydsmctl" key generate "$shared/cluster.key" >/dev/null || exit 1
	pids=()
	for ((i = 1; i <= n; i++)); do
		TDSM_SIM_STAGE=node unshare -m "$0" "$build" "$i" "$n" "$shared" &
		pids+=($!)
	done
	for ((i = 1; i <= n; i++)); do
		if wait "${pids[i - 1]}"; then
			echo "ok - $n nodes: node$i: $(grep -h '^# Totals' "$shared/run_test.node$i.tap")"
		else
			echo "not ok - $n nodes: node$i"
			grep -h -B3 -A12 '^not ok\|FAIL' "$shared/run_test.node$i.tap" | sed 's/^/#   /' | head -60
			tail -n 20 "$shared/tinydsmd.node$i.log" | sed 's/^/#   /'
			fail=1
		fi
	done
	rm -rf "$shared"
done
exit "$fail"
