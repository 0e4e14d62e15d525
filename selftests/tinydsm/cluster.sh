#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Connect this lab node to every other node of the run, and wait until the
# whole cluster is up. For every other node j: `tinydsmctl node add j
# $TDSM_IP_<j>` (the module has the lower id connect); then poll
# `tinydsmctl -j node show` until every peer's state is up, and then wait
# until every node of the run has seen all of its peers up. Every wait is
# bounded by TDSM_CLUSTER_TIMEOUT seconds (default 60); on failure it
# prints `tinydsmctl node show` and tells the other nodes to stop waiting.
#
#   source selftests/tinydsm/cluster.sh; tdsm_cluster_up   # or
#   selftests/tinydsm/cluster.sh                            # exit 0 up, 1 not
#
# Environment (from the lab, selftests/lab/guest.sh): TDSM_NODE_ID,
# TDSM_NODES, TDSM_IP_<j>, TDSM_SHARED, TDSM_TREE.
# tinydsmctl: $TDSM_CTL, else $TDSM_TREE/build/tools/tinydsmctl, else PATH.
#
# `-j node show` is read with jq, or python3 if there is no jq: every JSON
# object that has both "id" and "state" is a node, wherever it sits (a
# list, {"nodes": [...]}, one object per line). A state is up if it is
# "up" (any case) or 2 (TINYDSM_NODE_UP).

tdsm_ctl_path() {
	local c
	for c in "${TDSM_CTL:-}" "${TDSM_TREE:-.}/build/tools/tinydsmctl"; do
		[[ -n $c && -x $c ]] && { echo "$c"; return 0; }
	done
	command -v tinydsmctl
}

tdsm_ctl() {
	local ctl
	ctl=$(tdsm_ctl_path) || {
		echo "cluster: tinydsmctl not found (TDSM_CTL, ${TDSM_TREE:-.}/build/tools/tinydsmctl, PATH)" >&2
		return 127
	}
	"$ctl" "$@"
}

# JSON of `-j node show` on stdin -> "id state" lines.
tdsm_json_nodes() {
	if command -v jq >/dev/null; then
		jq -r '.. | objects | select(has("id") and has("state")) | "\(.id) \(.state)"'
	elif command -v python3 >/dev/null; then
		python3 -c '
import json, sys
text, dec, i = sys.stdin.read(), json.JSONDecoder(), 0
def walk(o):
    if isinstance(o, dict):
        if "id" in o and "state" in o:
            print(o["id"], o["state"])
        for v in o.values():
            walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
while True:
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    o, i = dec.raw_decode(text, i)
    walk(o)
'
	else
		echo "cluster: need jq or python3 to read 'tinydsmctl -j node show'" >&2
		return 1
	fi
}

# Print "id state" for every node tinydsmctl knows, state in lower case
# with numeric states named (0 down, 1 connecting, 2 up).
tdsm_node_states() {
	local json id state
	json=$(tdsm_ctl -j node show) || return 1
	while read -r id state; do
		id=${id//[!0-9]/}
		state=${state,,}
		case $state in
		0) state=down ;;
		1) state=connecting ;;
		2) state=up ;;
		esac
		[[ -n $id ]] && echo "$id $state"
	done < <(printf '%s\n' "$json" | tdsm_json_nodes)
}

# The peers (every node of the run but this one) not up: "node<j>=<state>".
tdsm_peers_not_up() {
	local states j s out=
	states=$(tdsm_node_states) || { echo "(node show failed)"; return; }
	for ((j = 1; j <= TDSM_NODES; j++)); do
		((j == TDSM_NODE_ID)) && continue
		s=$(awk -v id="$j" '$1 == id { print $2; exit }' <<<"$states")
		[[ $s == up ]] || out+=" node$j=${s:-absent}"
	done
	echo "${out# }"
}

# File barrier in TDSM_SHARED among all nodes of the run, bounded.
tdsm_cluster_barrier() { # NAME TIMEOUT_S
	local name=$1 deadline=$((SECONDS + $2)) j missing
	touch "$TDSM_SHARED/cluster.$name.$TDSM_NODE_ID" || return 1
	while :; do
		missing=
		for ((j = 1; j <= TDSM_NODES; j++)); do
			[[ -e $TDSM_SHARED/cluster.$name.$j ]] || missing+=" $j"
		done
		[[ -z $missing ]] && return 0
		for j in $missing; do
			if [[ -e $TDSM_SHARED/cluster.fail.$j ]]; then
				echo "cluster: node$j could not connect (see its output)"
				return 1
			fi
		done
		if ((SECONDS >= deadline)); then
			echo "cluster: timed out after $2 s waiting for node(s)$missing at '$name'"
			return 1
		fi
		sleep 0.2
	done
}

tdsm_cluster_fail() {
	echo "cluster: node$TDSM_NODE_ID: $*"
	echo "cluster: tinydsmctl node show:"
	tdsm_ctl node show 2>&1 | sed 's/^/    /'
	echo "cluster: tinydsmctl -j node show:"
	tdsm_ctl -j node show 2>&1 | sed 's/^/    /'
	[[ -n ${TDSM_SHARED:-} ]] && touch "$TDSM_SHARED/cluster.fail.$TDSM_NODE_ID"
	return 1
}

tdsm_cluster_up() {
	local timeout=${TDSM_CLUSTER_TIMEOUT:-60} j ip err deadline not_up t0=$SECONDS
	: "${TDSM_NODE_ID:?}" "${TDSM_NODES:?}" "${TDSM_SHARED:?}"
	if ! tdsm_ctl_path >/dev/null; then
		echo "cluster: node$TDSM_NODE_ID: tinydsmctl not found (TDSM_CTL, ${TDSM_TREE:-.}/build/tools/tinydsmctl, PATH)"
		touch "$TDSM_SHARED/cluster.fail.$TDSM_NODE_ID"
		return 1
	fi

	for ((j = 1; j <= TDSM_NODES; j++)); do
		((j == TDSM_NODE_ID)) && continue
		ip=TDSM_IP_$j
		ip=${!ip:-}
		[[ -n $ip ]] || { tdsm_cluster_fail "TDSM_IP_$j is not set"; return 1; }
		echo "cluster: node$TDSM_NODE_ID: tinydsmctl node add $j $ip"
		if ! err=$(tdsm_ctl node add "$j" "$ip" 2>&1); then
			# Already known (a second run in the same boot) is fine.
			if tdsm_node_states 2>/dev/null | awk -v id="$j" '$1 == id { f = 1 } END { exit !f }'; then
				echo "cluster: node$j was already known ($err)"
			else
				tdsm_cluster_fail "node add $j $ip failed: $err"
				return 1
			fi
		fi
	done

	deadline=$((SECONDS + timeout))
	while :; do
		not_up=$(tdsm_peers_not_up)
		[[ -z $not_up ]] && break
		if ((SECONDS >= deadline)); then
			tdsm_cluster_fail "peers not up after $timeout s: $not_up"
			return 1
		fi
		sleep 0.5
	done
	echo "cluster: node$TDSM_NODE_ID sees all $((TDSM_NODES - 1)) peer(s) up after $((SECONDS - t0)) s"

	# Up here is not up everywhere yet: wait for every node to say so
	# (a little longer than a node takes to give up, so that its failure,
	# not our timeout, is what gets reported).
	if ! tdsm_cluster_barrier up $((timeout + 10)); then
		tdsm_cluster_fail "not every node saw its peers up"
		return 1
	fi
	echo "cluster: all $TDSM_NODES nodes up after $((SECONDS - t0)) s"
	tdsm_ctl node show 2>&1 | sed 's/^/    /'
	return 0
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -u
	case ${1:-up} in
	up) tdsm_cluster_up ;;
	*) echo "usage: $0 [up]" >&2; exit 2 ;;
	esac
	exit $?
fi
