#!/bin/bash
# Raw RDMA baseline between two lab nodes (a lab.sh SCRIPT, --nodes 2):
# perftest 4096-byte RDMA READ latency and bandwidth over Soft-RoCE, the
# yardstick tinydsm's own figures are reported against (same run, same load),
# then two more latencies: a 4 KiB SEND ping-pong (ib_send_lat), and the
# RDMA READ again with completion events (ib_read_lat -e: perftest sleeps
# until the CQ's interrupt, as the module does, instead of busy-polling).
#
# The server node (TDSM_BASELINE_SERVER, default 2) serves, the client node
# (TDSM_BASELINE_CLIENT, default 1) measures against the server's
# TDSM_IP_<server> and prints
#   baseline ib_read_lat_4k_typical_us=<x> min_us=<x> avg_us=<x> p99_us=<x>
#   baseline ib_read_bw_4k_MBps=<x>
#   baseline ib_send_lat_4k_typical_us=<x> min_us=<x> avg_us=<x> p99_us=<x> (one way: ...)
#   baseline ib_read_lat_ev_4k_typical_us=<x> min_us=<x> avg_us=<x> p99_us=<x>
# and writes the same figures to $TDSM_OUT/baseline.env. Other nodes idle.
# ib_send_lat's figures are as perftest prints them: HALF the round trip
# (perftest's latency tests time round trips, and divide them by 2 for
# SEND and WRITE but not for READ and atomics: print_report_lat()'s
# rtt_factor), so a round trip is 2 x each of them; ib_read_lat's are
# whole READs. The exit status is the first two's: if ib_send_lat or
# ib_read_lat -e fails, or prints no figures, this says so and leaves its
# keys out of baseline.env (the reports print "n/a" for them).
# Scripts that measure several pairs in one run give each pair its own
# TDSM_SHARED (the meeting point) and TDSM_OUT.
#
# Iterations (from the host's environment; lab.sh forwards TDSM_* variables):
#   TDSM_BASELINE_LAT_ITERS (default 500: each of the three latency tests),
#   TDSM_BASELINE_BW_ITERS (default 500)
set -euo pipefail

LAT_ITERS=${TDSM_BASELINE_LAT_ITERS:-500}
BW_ITERS=${TDSM_BASELINE_BW_ITERS:-500}
LAT_PORT=18515 # perftest's out-of-band TCP exchange; stays on the lab switch
BW_PORT=18516
SEND_PORT=18517
LAT_EV_PORT=18518
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
SEND=(ib_send_lat "${COMMON[@]}" -n "$LAT_ITERS" -p "$SEND_PORT")
LAT_EV=(ib_read_lat "${COMMON[@]}" -e -n "$LAT_ITERS" -p "$LAT_EV_PORT")
READY=$TDSM_SHARED/rdma_baseline.servers_up
SERVER=${TDSM_BASELINE_SERVER:-2}
CLIENT=${TDSM_BASELINE_CLIENT:-1}
server_ip=TDSM_IP_$SERVER
SERVER_IP=${!server_ip:?rdma_baseline: no TDSM_IP_$SERVER}

case $TDSM_NODE_ID in
"$SERVER")
	# All servers listen at once, on separate ports: the client runs them
	# one after the other, an idle server waits in accept() and costs nothing.
	timeout $((WAIT * 2)) "${LAT[@]}" >"$TDSM_OUT/ib_read_lat.server.log" 2>&1 &
	lat_pid=$!
	timeout $((WAIT * 2)) "${BW[@]}" >"$TDSM_OUT/ib_read_bw.server.log" 2>&1 &
	bw_pid=$!
	timeout $((WAIT * 2)) "${SEND[@]}" >"$TDSM_OUT/ib_send_lat.server.log" 2>&1 &
	send_pid=$!
	timeout $((WAIT * 2)) "${LAT_EV[@]}" >"$TDSM_OUT/ib_read_lat_ev.server.log" 2>&1 &
	lat_ev_pid=$!
	sleep 1
	touch "$READY"
	rc=0
	wait "$lat_pid" || { rc=1; echo "ib_read_lat server failed:"; cat "$TDSM_OUT/ib_read_lat.server.log"; }
	wait "$bw_pid" || { rc=1; echo "ib_read_bw server failed:"; cat "$TDSM_OUT/ib_read_bw.server.log"; }
	# the other two, as on the client: said, but the exit status is the first two's
	wait "$send_pid" || { echo "ib_send_lat server failed:"; cat "$TDSM_OUT/ib_send_lat.server.log"; }
	wait "$lat_ev_pid" || { echo "ib_read_lat -e server failed:"; cat "$TDSM_OUT/ib_read_lat_ev.server.log"; }
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
		# bounded as the servers are: a completion event that never comes
		# (-e) would otherwise hold the run until the lab's own timeout
		if timeout $((WAIT * 2)) "$@" "$SERVER_IP" >"$log" 2>&1; then
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
# the other two: a failure leaves their figures out (below), no more
send_ok=0 lat_ev_ok=0
if run_client "$TDSM_OUT/ib_send_lat.log" "${SEND[@]}"; then
	send_ok=1
	cat "$TDSM_OUT/ib_send_lat.log"
fi
if run_client "$TDSM_OUT/ib_read_lat_ev.log" "${LAT_EV[@]}"; then
	lat_ev_ok=1
	cat "$TDSM_OUT/ib_read_lat_ev.log"
fi

# The result row is the line whose first field is the message size.
# ib_read_lat, ib_send_lat:
#              #bytes #iterations t_min t_max t_typical t_avg t_stdev p99 p99.9
# ib_read_bw:  #bytes #iterations BW_peak BW_average MsgRate
num='^[0-9]+(\.[0-9]+)?$'
# lat_row LOG: "typical min avg p99" of a latency test's log; fails if
# the log has no such row
lat_row() {
	local typical min avg p99 v
	read -r typical min avg p99 < <(awk '$1 == 4096 && NF >= 8 {print $5, $3, $6, $8}' "$1" 2>/dev/null) || true
	for v in "${typical:-}" "${min:-}" "${avg:-}" "${p99:-}"; do
		[[ $v =~ $num ]] || return 1
	done
	echo "$typical $min $avg $p99"
}
read -r typical min avg p99 < <(lat_row "$TDSM_OUT/ib_read_lat.log") || true
read -r bw < <(awk '$1 == 4096 && NF >= 4 {print $4}' "$TDSM_OUT/ib_read_bw.log") || true
for v in "${typical:-}" "${bw:-}"; do
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

# extra OK NAME LOG WHAT [NOTE]: the figures of one of the other two
# (NAME: their keys' prefix), printed and appended to baseline.env if its
# client succeeded (OK 1) and LOG has them
extra() {
	local ok=$1 name=$2 log=$3 what=$4 note=${5:-} row typical min avg p99
	if ((!ok)); then
		echo "rdma_baseline: $what failed: its figures are left out"
		return
	fi
	if ! row=$(lat_row "$log"); then
		echo "rdma_baseline: no $what figures in $log: left out"
		return
	fi
	read -r typical min avg p99 <<<"$row"
	echo "baseline ${name}_4k_typical_us=$typical min_us=$min avg_us=$avg p99_us=$p99$note"
	{
		echo "${name}_4k_typical_us=$typical"
		echo "${name}_4k_min_us=$min"
		echo "${name}_4k_avg_us=$avg"
		echo "${name}_4k_p99_us=$p99"
		echo "${name}_iters=$LAT_ITERS"
	} >>"$TDSM_OUT/baseline.env"
}
# ib_send_lat's figures as perftest prints them: one way, half the round trip
extra "$send_ok" ib_send_lat "$TDSM_OUT/ib_send_lat.log" ib_send_lat " (one way: half the round trip)"
extra "$lat_ev_ok" ib_read_lat_ev "$TDSM_OUT/ib_read_lat_ev.log" "ib_read_lat -e"
