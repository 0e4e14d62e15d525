#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Did a guest's network device stop sending during a lab run?
#
#   selftests/lab/nic_stalled.sh DIR
#
# Exits 0 if a guest's kernel log (DIR/node*/dmesg.live) says that its
# virtio-net transmit queue timed out ("NETDEV WATCHDOG") and holds no
# error report before that line: the emulated NIC stopped taking packets,
# so every request to that node timed out. Seen once, in a full-size 6.1
# run: 45 s and counting, on a host busy enough that the guest's
# clocksource watchdog complained just before. Prints the node and the
# line. What the dead link causes afterwards (timeouts, SIGBUS, Soft-RoCE's
# warning at unload that a QP's packets are still held in that queue) does
# not count against it. Exits 1 otherwise.
set -uo pipefail

dir=${1:?usage: $0 DIR}
report='BUG:|Oops|double fault|general protection fault|WARNING:|corruption|stack guard page|Kernel panic|blocked for more than'

for log in "$dir"/node*/dmesg.live; do
	[[ -e $log ]] || continue
	line=$(grep -a -n -m 1 'NETDEV WATCHDOG' "$log") || continue
	if head -n "$((${line%%:*} - 1))" "$log" | grep -a -Eq "$report"; then
		continue
	fi
	echo "$(basename "$(dirname "$log")"): $(sed 's/^\[ *[0-9.]*\] //' <<<"${line#*:}")"
	exit 0
done
exit 1
