#!/bin/bash
# Lab self-test for several nodes: every node pings every other node over
# the virtual switch.
set -euo pipefail
# iputils-ping if installed, else busybox's (busybox-static is a lab package).
ping=(ping)
command -v ping >/dev/null || ping=(busybox ping)
for ip in $TDSM_PEER_IPS; do
	"${ping[@]}" -c 3 -W 5 "$ip"
done
echo "node $TDSM_NODE_ID reached: $TDSM_PEER_IPS"
