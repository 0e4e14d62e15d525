#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# selftests/lab/nic_stalled.sh on made-up kernel logs: it must name a
# guest whose NIC stopped sending before anything else went wrong, and
# nothing else, since make check runs a lab again when it does. Runs on
# the host (make lab-test, part of make check).
set -uo pipefail

classifier=nic_stalled.sh
# shellcheck source=selftests/lab/test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# klog NAME LINE...: a lab run NAME whose node2 printed LINE... (dmesg.live)
klog() {
	lab_log "$1" dmesg.live "${@:2}"
}

stall="[  697.021974] virtio_net virtio0 eth0: NETDEV WATCHDOG: CPU: 0: transmit queue 0 timed out 5376 ms"
rxe_warn=(
	"[  738.238096] WARNING: CPU: 0 PID: 27 at drivers/infiniband/sw/rxe/rxe_pool.c:255 __rxe_cleanup+0x118/0x160 [rdma_rxe]"
	"[  738.239836] Call Trace:"
	"[  738.241157]  tdsm_conn_teardown_work+0x10e/0x450 [tinydsm]"
)

klog stall "[  690.467613] tinydsm-selftest: end cache_trio_test rc=1" "$stall" \
	"${rxe_warn[@]}"
expect 0 stall

klog clean "[    2.000000] tinydsm: loaded"
expect 1 clean

klog report_first \
	"[  600.000000] WARNING: CPU: 0 PID: 12 at kmod/rdma.c:100 tdsm_mr_retire+0x1/0x2 [tinydsm]" \
	"$stall"
expect 1 report_first

klog hung_first \
	"[  600.000000] INFO: task kworker/u2:2:27 blocked for more than 120 seconds." \
	"$stall"
expect 1 hung_first

finish
