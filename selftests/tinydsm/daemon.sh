#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run tinydsmd on this lab node, for the tests that need the daemons.
#
#   source selftests/tinydsm/daemon.sh
#   tdsm_daemon_up      # config from the lab, start, wait until ready
#   ...                 # tinydsmctl migrate ..., tdsm_daemon_status
#   tdsm_daemon_down    # SIGTERM, wait; returns the daemon's exit status
#
# tdsm_daemon_up writes $TDSM_DAEMON_CONF (default /run/tinydsm/tinydsm.conf)
# from the lab's environment: nodes node1..node$TDSM_NODES at $TDSM_IP_<j>,
# self node$TDSM_NODE_ID, heartbeat-ms $TDSM_HEARTBEAT_MS (default 200),
# dead-after-ms $TDSM_DEAD_AFTER_MS (default 2000). It starts
# $TDSM_TREE/build/daemon/tinydsmd -v in the background, logging to
# $TDSM_OUT/tinydsmd.node$TDSM_NODE_ID.log, and waits, at most
# $TDSM_DAEMON_TIMEOUT seconds (default 60), until the daemon reports every
# member alive and the module shows every peer up (`tinydsmctl -j node
# show`, as cluster.sh reads it). Exit status 0 ready, 1 not (the log's
# tail is printed).
#
# The daemon's control socket is $TDSM_DAEMON_SOCK (default
# /run/tinydsm/tinydsmd.sock, tinydsmctl's default). /run is a tmpfs in the
# guests.
#
# The cluster key: $TDSM_KEY_FILE (default $TDSM_SHARED/cluster.key), one
# for every node of the run (the config's key-file). Node 1 generates it if
# it is not there yet (atomically: a new file renamed into place); the
# others wait for it, at most $TDSM_DAEMON_TIMEOUT seconds.

TDSM_DAEMON_CONF=${TDSM_DAEMON_CONF:-/run/tinydsm/tinydsm.conf}
TDSM_DAEMON_SOCK=${TDSM_DAEMON_SOCK:-/run/tinydsm/tinydsmd.sock}
TDSM_DAEMON_PID=
TDSM_KEY_FILE=${TDSM_KEY_FILE:-${TDSM_SHARED:-/tmp}/cluster.key}

_tdsm_daemon_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=selftests/tinydsm/cluster.sh
source "$_tdsm_daemon_here/cluster.sh"

tdsm_daemon_bin() {
	echo "${TDSM_DAEMON_BIN:-${TDSM_TREE:-.}/build/daemon/tinydsmd}"
}

tdsm_daemon_log() {
	echo "${TDSM_OUT:-/tmp}/tinydsmd.node${TDSM_NODE_ID:-1}.log"
}

# The run's key: node 1 makes it, the others wait for it.
tdsm_daemon_key() {
	local deadline=$((SECONDS + ${TDSM_DAEMON_TIMEOUT:-60})) tmp
	if [[ ${TDSM_NODE_ID:-1} == 1 && ! -e $TDSM_KEY_FILE ]]; then
		tmp=$TDSM_KEY_FILE.node1.$$
		if ! tdsm_ctl key generate "$tmp" || ! mv -f "$tmp" "$TDSM_KEY_FILE"; then
			rm -f "$tmp"
			echo "daemon: cannot write the cluster key $TDSM_KEY_FILE"
			return 1
		fi
	fi
	until [[ -s $TDSM_KEY_FILE ]]; do
		if ((SECONDS >= deadline)); then
			echo "daemon: no cluster key $TDSM_KEY_FILE (node 1 writes it)"
			return 1
		fi
		sleep 0.5
	done
}

tdsm_daemon_config() {
	local j ip
	mkdir -p "$(dirname "$TDSM_DAEMON_CONF")" || return 1
	{
		echo "# written by selftests/tinydsm/daemon.sh for this lab run"
		for ((j = 1; j <= TDSM_NODES; j++)); do
			ip=TDSM_IP_$j
			ip=${!ip:-}
			[[ -n $ip ]] || { echo "daemon: TDSM_IP_$j is not set" >&2; return 1; }
			echo "node $j name node$j addr $ip"
		done
		echo "self node$TDSM_NODE_ID"
		echo "heartbeat-ms ${TDSM_HEARTBEAT_MS:-200}"
		echo "dead-after-ms ${TDSM_DEAD_AFTER_MS:-2000}"
		echo "socket $TDSM_DAEMON_SOCK"
		echo "key-file $TDSM_KEY_FILE"
	} >"$TDSM_DAEMON_CONF"
}

# The daemon's membership, as its "status" answer has it: one line
# "member name=N id=I state=S heard_ms=MS addr=A" per node (heard_ms -1:
# never), then "ok members=N alive=N". Read with `tinydsmctl -t member
# show`; fails (status 4: no daemon) when tinydsmctl does.
tdsm_daemon_status() {
	local out
	out=$(tdsm_ctl -t member show --socket "$TDSM_DAEMON_SOCK") || return
	awk -F'\t' 'NF >= 5 {
		n++
		if ($3 == "alive") a++
		printf "member name=%s id=%s state=%s heard_ms=%s addr=%s\n",
		       $1, $2, $3, ($4 == "-" ? -1 : $4), $5
	} END { printf "ok members=%d alive=%d\n", n, a }' <<<"$out"
}

# Members the daemon does not see alive: "node<j>=<state>".
tdsm_daemon_not_alive() {
	local out st
	st=$(tdsm_daemon_status 2>/dev/null) || { echo "(no status)"; return; }
	out=$(awk '$1 == "member" {
		n = ""; s = ""
		for (i = 2; i <= NF; i++) {
			split($i, kv, "=")
			if (kv[1] == "name") n = kv[2]
			if (kv[1] == "state") s = kv[2]
		}
		if (s != "alive") printf " %s=%s", n, s
	}' <<<"$st")
	grep -q '^ok' <<<"$st" || out+=" (no ok line)"
	echo "${out# }"
}

tdsm_daemon_up() {
	local bin log timeout=${TDSM_DAEMON_TIMEOUT:-60} deadline t0=$SECONDS d m
	: "${TDSM_NODE_ID:?}" "${TDSM_NODES:?}"
	bin=$(tdsm_daemon_bin)
	log=$(tdsm_daemon_log)
	[[ -x $bin ]] || { echo "daemon: $bin is not built"; return 1; }
	tdsm_daemon_key || return 1
	tdsm_daemon_config || return 1
	"$bin" -c "$TDSM_DAEMON_CONF" -v >>"$log" 2>&1 &
	TDSM_DAEMON_PID=$!
	echo "daemon: node$TDSM_NODE_ID: tinydsmd pid $TDSM_DAEMON_PID, log $log"
	deadline=$((SECONDS + timeout))
	while :; do
		if ! kill -0 "$TDSM_DAEMON_PID" 2>/dev/null; then
			wait "$TDSM_DAEMON_PID"
			echo "daemon: tinydsmd exited with status $? before it was ready; its log:"
			tail -n 30 "$log" | sed 's/^/    /'
			TDSM_DAEMON_PID=
			return 1
		fi
		d=$(tdsm_daemon_not_alive)
		m=
		((TDSM_NODES > 1)) && m=$(tdsm_peers_not_up)
		[[ -z $d && -z $m ]] && break
		if ((SECONDS >= deadline)); then
			echo "daemon: not ready after $timeout s: daemon: ${d:-ok}; module: ${m:-ok}; its log:"
			tail -n 30 "$log" | sed 's/^/    /'
			return 1
		fi
		sleep 0.5
	done
	echo "daemon: node$TDSM_NODE_ID: tinydsmd ready after $((SECONDS - t0)) s"
	return 0
}

# Stop it: SIGTERM, then SIGKILL after 15 s. Returns its exit status.
tdsm_daemon_down() {
	local pid=$TDSM_DAEMON_PID i rc
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "daemon: tinydsmd did not stop on SIGTERM: SIGKILL"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid"
	rc=$?
	TDSM_DAEMON_PID=
	return "$rc"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	echo "usage: source $0; tdsm_daemon_up; ...; tdsm_daemon_down" >&2
	exit 2
fi
