#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A lab SCRIPT for nic_stall_stop_test.sh: node1's kernel log says what a
# guest whose virtio-net transmit queue stopped for good says, every 5 s
# (the kernel's own netdev watchdog message, made up), then every node
# idles far beyond the test's wait: the host must stop the lab itself.
if [[ $TDSM_NODE_ID == 1 ]]; then
	for ms in 5000 10000 15000 20000 25000 30000 35000; do
		echo "virtio_net virtio0 eth0: NETDEV WATCHDOG: CPU: 0: transmit queue 0 timed out $ms ms" >/dev/kmsg
		sleep 5
	done
fi
sleep 600
