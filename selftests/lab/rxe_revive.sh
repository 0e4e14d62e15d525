#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# rxe_revive.sh [--if-err] [NETDEV]: re-create the Soft-RoCE device on
# NETDEV (default eth0), after its link went down and came back. With
# --if-err, only if its QP1 is in ERR: after packets were dropped on the
# way out (tc), which 6.12's rxe takes as a failed send, and 6.1's
# retries.
#
# rdma_rxe cannot be trusted after its link went down: a send that fails
# while the link is down can kill the device's GSI QP (QP1), which carries
# the connection manager's MADs, and nothing ever revives it. The device
# then drops or never sends every CM message: no connection to or from
# this node can be made again, although IP works. On Debian's 6.12 QP1 is
# moved to ERR (rxe_requester() calls rxe_qp_error() on a failed
# transmit); on 6.1 the same error path stops QP1's requester while
# `rdma resource show` still says RTS (the last MAD's send completes with
# LOC_QP_OP_ERR, and nothing goes out after it). Real RoCE and InfiniBand
# adapters drop such a packet and keep QP1. The only way back is a new
# device, which tinydsm handles like any removed device.
#
# Prints QP1's state as it was, and what it did; exit status 0 if the
# device was re-created and its QP1 is usable, 1 if not.
set -u
if_err=0
[[ ${1:-} == --if-err ]] && { if_err=1; shift; }
dev=${1:-eth0}

qp1_state() { # RXE
	rdma resource show qp link "$1/1" lqpn 1 2>/dev/null |
		grep -o 'state [A-Z_]*' | head -n1
}

rxe=$(rdma link show 2>/dev/null |
	awk -v d="$dev" '$NF == d || $0 ~ ("netdev " d " ") { split($2, a, "/"); print a[1]; exit }')
if [[ -z $rxe ]]; then
	echo "rxe_revive: no RDMA link on $dev" >&2
	exit 1
fi
before=$(qp1_state "$rxe")
((if_err)) && [[ $before != "state ERR" ]] && exit 0
rdma link delete "$rxe" && rdma link add "$rxe" type rxe netdev "$dev" || exit 1
after=$(qp1_state "$rxe")
echo "rxe_revive: $rxe re-created after $dev went down (its QP1 was ${before:-not listed}, now ${after:-not listed})"
[[ $after == "state RTS" ]]
