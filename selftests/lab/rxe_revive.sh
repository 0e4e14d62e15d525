#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# rxe_revive.sh [NETDEV]: re-create the Soft-RoCE device on NETDEV (default
# eth0) if its GSI QP died.
#
# rdma_rxe moves a QP to the error state when one of its sends fails, and
# that includes QP1, the GSI QP that carries the connection manager's MADs:
# a CM message sent while the link is down (the DREQ of a connection that
# the link's loss killed, say) fails, QP1 goes to ERR, and nothing ever
# resets it. From then on the device drops every MAD: no connection to or
# from this node can be made again, although IP works. Real RoCE and
# InfiniBand adapters drop such a packet instead; rxe in Debian's 6.1 and
# 6.12 kernels does not. The only way back is a new device: that is what
# this does (tinydsm lets go of the old one like any removed device).
#
# Prints what it did; exit status 0 if the device is fine (now), 1 if not.
set -u
dev=${1:-eth0}

rxe=$(rdma link show 2>/dev/null |
	awk -v d="$dev" '$NF == d || $0 ~ ("netdev " d " ") { split($2, a, "/"); print a[1]; exit }')
if [[ -z $rxe ]]; then
	echo "rxe_revive: no RDMA link on $dev" >&2
	exit 1
fi
state=$(rdma resource show qp link "$rxe/1" lqpn 1 2>/dev/null |
	grep -o 'state [A-Z_]*' | head -n1)
[[ $state == "state ERR" ]] || exit 0
echo "rxe_revive: $rxe's GSI QP (QP1) is in state ERR (an rxe defect: a send failed while $dev was down); re-creating $rxe"
rdma link delete "$rxe" && rdma link add "$rxe" type rxe netdev "$dev" || exit 1
state=$(rdma resource show qp link "$rxe/1" lqpn 1 2>/dev/null |
	grep -o 'state [A-Z_]*' | head -n1)
echo "rxe_revive: $rxe re-created, QP1 ${state:-not listed}"
[[ $state != "state ERR" ]]
