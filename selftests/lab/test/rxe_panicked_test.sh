#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# selftests/lab/rxe_panicked.sh on made-up consoles: it must name the
# known Soft-RoCE panic and nothing else, since make check runs a lab
# again when it does. Runs on the host (make lab-test, part of make check).
set -uo pipefail

classifier=rxe_panicked.sh
# shellcheck source=selftests/lab/test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# console NAME LINE...: a lab run NAME whose node2 printed LINE... (console.log)
console() {
	lab_log "$1" console.log "${@:2}"
}

rxe_stack=(
	"[  812.120001] Oops: double fault: 0000 [#1] PREEMPT SMP NOPTI"
	"[  812.120002] CPU: 1 UID: 0 PID: 77 Comm: kworker/u8:3 Tainted: G OE 6.12.118+deb12-amd64"
	"[  812.120003] Workqueue: rxe_wq do_work [rdma_rxe]"
	"[  812.120004] RIP: 0010:kmem_cache_alloc_node_noprof+0x5d/0x2f0"
	"[  812.120005] Call Trace:"
	"[  812.120006]  __alloc_skb+0x8c/0x1a0"
	"[  812.120007]  rxe_init_packet+0x8f/0x240 [rdma_rxe]"
	"[  812.120008]  send_common_ack+0x6d/0x110 [rdma_rxe]"
	"[  812.120009]  rxe_receiver+0x5a1/0x1390 [rdma_rxe]"
	"[  812.120010] Modules linked in: tinydsm(OE) rdma_rxe ib_core"
)
console rxe "${rxe_stack[@]}" "[  812.130000] Kernel panic - not syncing: Fatal exception"
expect 0 rxe

console clean "[    2.000000] tinydsm: loaded"
expect 1 clean

console no_panic "${rxe_stack[@]}"
expect 1 no_panic

console tinydsm_frame "${rxe_stack[@]}" \
	"[  812.120011]  tdsm_recv_done+0x44/0x90 [tinydsm]" \
	"[  812.130000] Kernel panic - not syncing: Fatal exception"
expect 1 tinydsm_frame

console tinydsm_first \
	"[  700.000000] WARNING: CPU: 0 PID: 12 at kmod/rdma.c:100 tdsm_mr_retire+0x1/0x2 [tinydsm]" \
	"[  700.000001] Call Trace:" \
	"[  700.000002]  tdsm_bufv_put+0x1/0x2 [tinydsm]" \
	"${rxe_stack[@]}" "[  812.130000] Kernel panic - not syncing: Fatal exception"
expect 1 tinydsm_first

console other_panic \
	"[  500.000000] BUG: kernel NULL pointer dereference, address: 0000000000000008" \
	"[  500.000001] Call Trace:" \
	"[  500.000002]  ext4_writepages+0x1/0x2" \
	"[  500.000003] Kernel panic - not syncing: Fatal exception"
expect 1 other_panic

finish
