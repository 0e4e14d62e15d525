#!/bin/bash
# Lab self-test: show what a node looks like to a SCRIPT (kernel, RDMA
# device, environment). Fails if the Soft-RoCE device is missing.
set -euo pipefail
echo "node $TDSM_NODE_ID of $TDSM_NODES, kernel $(uname -r), ip $TDSM_IP, peers '$TDSM_PEER_IPS'"
echo "tree $TDSM_TREE out $TDSM_OUT shared $TDSM_SHARED cwd $PWD"
rdma link show
ibv_devices
ibv_devinfo -d rxe0 | grep -E 'state|transport'
ibv_devinfo -d rxe0 | grep -q PORT_ACTIVE
lsmod | grep -E '^(rdma_rxe|rdma_cm|rdma_ucm|ib_uverbs|virtio_net|crc32_generic) ' | cut -d' ' -f1 | sort | tr '\n' ' '
echo
