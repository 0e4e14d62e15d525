#!/bin/bash
# Soft-RoCE alone under load, tinydsm not loaded (a lab.sh SCRIPT for
# --nodes 2 --no-module): perftest's RDMA READ, RDMA WRITE and SEND
# bandwidth tests with 4 KiB messages at a deep queue, and then the same
# with the other node as the client, over and over for TDSM_RXE_STRESS_S
# seconds (default 240, about a demo lab's traffic time). Whether a guest's
# kernel dies under it (tools/panic_rate.sh counts that) tells rxe's own
# crashes from tinydsm's: nothing of tinydsm runs here.
set -euo pipefail

SECONDS_WANTED=${TDSM_RXE_STRESS_S:-240}
ITERS=${TDSM_RXE_STRESS_ITERS:-2000}
PORT=18600
WAIT=120 # seconds a client waits for its server
TESTS=(ib_read_bw ib_write_bw ib_send_bw)
COMMON=(-d rxe0 -s 4096 -F -q 2 -t 64 -n "$ITERS")

if ((TDSM_NODES != 2)); then
	echo "rxe_stress: needs exactly 2 nodes, have $TDSM_NODES: skipping"
	exit 4
fi
other=$((3 - TDSM_NODE_ID))
other_ip_var=TDSM_IP_$other
other_ip=${!other_ip_var:?rxe_stress: no TDSM_IP_$other}

# Round r: node (r % 2) + 1 serves every test, the other one is the client.
# Each test of a round has its own port; the client retries only while the
# server is not listening yet.
serve() { # serve ROUND
	local i pids=()
	for i in "${!TESTS[@]}"; do
		timeout $((WAIT * 2)) "${TESTS[$i]}" "${COMMON[@]}" -p $((PORT + 10 * ($1 % 10) + i)) \
			>"$TDSM_OUT/server.$1.$i.log" 2>&1 &
		pids+=($!)
	done
	sleep 1
	touch "$TDSM_SHARED/rxe_stress.up.$1"
	for i in "${pids[@]}"; do
		wait "$i" || return 1
	done
}

client() { # client ROUND
	local i t log
	for ((t = 0; t < WAIT; t++)); do
		[[ -e $TDSM_SHARED/rxe_stress.up.$1 ]] && break
		sleep 1
	done
	for i in "${!TESTS[@]}"; do
		log=$TDSM_OUT/client.$1.$i.log
		for ((t = 0; t < WAIT; t += 2)); do
			if "${TESTS[$i]}" "${COMMON[@]}" -p $((PORT + 10 * ($1 % 10) + i)) \
				"$other_ip" >"$log" 2>&1; then
				break
			fi
			grep -q "Couldn't connect" "$log" || { cat "$log"; return 1; }
			sleep 2
		done
		awk -v t="${TESTS[$i]}" '$1 == 4096 && NF >= 4 {print "rxe_stress: " t " " $4 " MB/s"}' "$log"
	done
}

rounds=0
start=$SECONDS
# Both nodes decide the next round from the same shared clock file, so
# they agree on when to stop: node1 writes "go" or "stop" for each round.
while :; do
	if ((TDSM_NODE_ID == 1)); then
		if ((SECONDS - start < SECONDS_WANTED)); then
			echo go >"$TDSM_SHARED/rxe_stress.round.$rounds"
		else
			echo stop >"$TDSM_SHARED/rxe_stress.round.$rounds"
		fi
	fi
	for ((t = 0; t < WAIT; t++)); do
		[[ -s $TDSM_SHARED/rxe_stress.round.$rounds ]] && break
		sleep 1
	done
	case $(cat "$TDSM_SHARED/rxe_stress.round.$rounds" 2>/dev/null) in
	go) ;;
	stop) break ;;
	*) echo "rxe_stress: no word from node1 for round $rounds"; exit 1 ;;
	esac
	if ((rounds % 2 + 1 == TDSM_NODE_ID)); then
		serve "$rounds" || { echo "rxe_stress: a server of round $rounds failed"; exit 1; }
	else
		client "$rounds" || { echo "rxe_stress: a client of round $rounds failed"; exit 1; }
	fi
	rounds=$((rounds + 1))
done
echo "rxe_stress: $rounds rounds of ${TESTS[*]} in $((SECONDS - start)) s"
