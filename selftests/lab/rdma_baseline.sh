#!/bin/bash
# Raw RDMA baseline between two lab nodes (a lab.sh SCRIPT, --nodes 2):
# perftest 4096-byte RDMA READ latency and bandwidth over Soft-RoCE, the
# yardstick tinydsm's own figures are reported against (same run, same load).
#
# The server node (TDSM_BASELINE_SERVER, default 2) serves, the client node
# (TDSM_BASELINE_CLIENT, default 1) measures against the server's
# TDSM_IP_<server> and prints
#   baseline ib_read_lat_4k_typical_us=<x> min_us=<x> avg_us=<x> p99_us=<x>
#   baseline ib_read_bw_4k_MBps=<x>
# and writes the same figures to $TDSM_OUT/baseline.env. Other nodes idle.
# Scripts that measure several pairs in one run give each pair its own
# TDSM_SHARED (the meeting point) and TDSM_OUT.
#
# Iterations (from the host's environment; lab.sh forwards TDSM_* variables):
#   TDSM_BASELINE_LAT_ITERS (default 500), TDSM_BASELINE_BW_ITERS (default 500)
set -euo pipefail

LAT_ITERS=${TDSM_BASELINE_LAT_ITERS:-500}
BW_ITERS=${TDSM_BASELINE_BW_ITERS:-500}
LAT_PORT=18515 # perftest's out-of-band TCP exchange; stays on the lab switch
BW_PORT=18516
WAIT=120 # seconds either side waits for the other before giving up

if ((TDSM_NODES < 2)); then
	echo "rdma_baseline: needs 2 nodes, have $TDSM_NODES: skipping"
	exit 4
fi

# -F: TCG guests have no stable CPU frequency; without it perftest warns
# about cpufreq, or refuses to report latency.
COMMON=(-d rxe0 -s 4096 -F)
LAT=(ib_read_lat "${COMMON[@]}" -n "$LAT_ITERS" -p "$LAT_PORT")
BW=(ib_read_bw "${COMMON[@]}" -n "$BW_ITERS" -p "$BW_PORT")
READY=$TDSM_SHARED/rdma_baseline.servers_up
SERVER=${TDSM_BASELINE_SERVER:-2}
CLIENT=${TDSM_BASELINE_CLIENT:-1}
server_ip=TDSM_IP_$SERVER
SERVER_IP=${!server_ip:?rdma_baseline: no TDSM_IP_$SERVER}

case $TDSM_NODE_ID in
"$SERVER")
	# Both servers listen at once, on separate ports: the client runs them
	# one after the other, an idle server waits in accept() and costs nothing.
	timeout $((WAIT * 2)) "${LAT[@]}" >"$TDSM_OUT/ib_read_lat.server.log" 2>&1 &
	lat_pid=$!
	timeout $((WAIT * 2)) "${BW[@]}" >"$TDSM_OUT/ib_read_bw.server.log" 2>&1 &
	bw_pid=$!
	sleep 1
	touch "$READY"
	rc=0
	wait "$lat_pid" || { rc=1; echo "ib_read_lat server failed:"; cat "$TDSM_OUT/ib_read_lat.server.log"; }
	wait "$bw_pid" || { rc=1; echo "ib_read_bw server failed:"; cat "$TDSM_OUT/ib_read_bw.server.log"; }
	((rc)) || echo "rdma_baseline: servers done"
	exit "$rc"
	;;
"$CLIENT") ;;
*)
	echo "rdma_baseline: node $TDSM_NODE_ID has nothing to do"
	exit 0
	;;
esac

# Client. Run a perftest client, retrying (bounded) only while the server is
# not accepting yet; any other failure is final.
run_client() {
	local log=$1 t
	shift
	for ((t = 0; t < WAIT; t += 2)); do
		if "$@" "$SERVER_IP" >"$log" 2>&1; then
			return 0
		fi
		grep -q "Couldn't connect" "$log" || { cat "$log"; return 1; }
		sleep 2
	done
	echo "rdma_baseline: server $SERVER_IP not reachable after ${WAIT}s"
	cat "$log"
	return 1
}

for ((t = 0; t < WAIT; t++)); do
	[[ -e $READY ]] && break
	sleep 1
done
[[ -e $READY ]] || { echo "rdma_baseline: node$SERVER never started its servers"; exit 1; }

run_client "$TDSM_OUT/ib_read_lat.log" "${LAT[@]}" || exit 1
cat "$TDSM_OUT/ib_read_lat.log"
run_client "$TDSM_OUT/ib_read_bw.log" "${BW[@]}" || exit 1
cat "$TDSM_OUT/ib_read_bw.log"

# The result row is the line whose first field is the message size.
# ib_read_lat: #bytes #iterations t_min t_max t_typical t_avg t_stdev p99 p99.9
# ib_read_bw:  #bytes #iterations BW_peak BW_average MsgRate
read -r typical min avg p99 < <(awk '$1 == 4096 && NF >= 8 {print $5, $3, $6, $8}' "$TDSM_OUT/ib_read_lat.log")
read -r bw < <(awk '$1 == 4096 && NF >= 4 {print $4}' "$TDSM_OUT/ib_read_bw.log")
num='^[0-9]+(\.[0-9]+)?$'
for v in "${typical:-}" "${min:-}" "${avg:-}" "${p99:-}" "${bw:-}"; do
	[[ $v =~ $num ]] || { echo "rdma_baseline: cannot parse perftest output"; exit 1; }
done

echo "baseline ib_read_lat_4k_typical_us=$typical min_us=$min avg_us=$avg p99_us=$p99"
echo "baseline ib_read_bw_4k_MBps=$bw"
cat >"$TDSM_OUT/baseline.env" <<EOF
ib_read_lat_4k_typical_us=$typical
ib_read_lat_4k_min_us=$min
ib_read_lat_4k_avg_us=$avg
ib_read_lat_4k_p99_us=$p99
ib_read_bw_4k_MBps=$bw
ib_read_lat_iters=$LAT_ITERS
ib_read_bw_iters=$BW_ITERS
EOF
