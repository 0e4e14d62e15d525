#!/bin/bash
# Stage 2 of a tinydsm lab guest, run by the initramfs /init inside a chroot
# of the host's root (read-only 9p). The repo tree is at /mnt/tree (read-only),
# the run's result dir at /mnt/out (read-write, OUT on the host).
#
# Sets the node up (modules, eth0, Soft-RoCE, tinydsm.ko), waits until every
# node is set up, runs SCRIPT, waits until every node's SCRIPT is done, unloads
# tinydsm and saves the kernel log. Results go to /mnt/out/node<i>; the host
# decides the verdict from those files.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp LC_ALL=C

OUTDIR=/mnt/out
LAB=$OUTDIR/.lab # host <-> guest control files (not for SCRIPTs)
# shellcheck source=/dev/null
source "$LAB/lab.env" # LAB_NODES, LAB_KVER, LAB_NO_MODULE, LAB_MODULE_ARGS, LAB_SCRIPT, LAB_ARGS, LAB_NO_KEY

NODE=$(sed -n 's/.*\btdsm_node=\([0-9]\+\).*/\1/p' /proc/cmdline)
ND=$OUTDIR/node$NODE
TREE=/mnt/tree

say() { echo "lab-guest[node$NODE]: $*" | tee -a "$ND/setup.log" >/dev/console; }

# Write a result file in one step (the host polls for these files).
put() { echo "$2" >"$ND/.$1.tmp" && mv -f "$ND/.$1.tmp" "$ND/$1"; }

uptime_s() { cut -d' ' -f1 /proc/uptime; }

# Every node touches $LAB/<name>.<i>; wait until all nodes did, or are known
# dead (the host, or the node itself, writes $LAB/dead.<j>).
barrier() {
	local j missing
	touch "$LAB/$1.$NODE"
	while :; do
		missing=0
		for ((j = 1; j <= LAB_NODES; j++)); do
			[[ -e $LAB/$1.$j || -e $LAB/dead.$j ]] || missing=1
		done
		((missing)) || return 0
		sleep 0.2
	done
}

finish() {
	[[ -n ${DMESG_PID:-} ]] && kill "$DMESG_PID" 2>/dev/null
	[[ -n ${NIC_WATCH_PID:-} ]] && kill "$NIC_WATCH_PID" 2>/dev/null
	dmesg >"$ND/dmesg" 2>&1
	put "done" "$(uptime_s)"
	sync
	exit 0
}

# Setup failed: say why, let the other nodes go on without us, stop.
setup_fail() {
	say "SETUP FAILED: $*"
	put setup_error "$*"
	touch "$LAB/dead.$NODE"
	finish
}

[[ -d $ND ]] || { echo "lab-guest: no result dir for node '$NODE'" >/dev/console; exit 1; }

# Stream the kernel log to the host while we run: if the node hangs or
# panics, this is what is left to look at (the full dmesg is saved at the end).
dmesg -w >"$ND/dmesg.live" 2>&1 &
DMESG_PID=$!

# If the NIC's transmit queue stops for good ("NETDEV WATCHDOG"), record
# what this side sees of it twice, 10 s apart: whether its interrupts still
# come, what was sent and received (the host asks QEMU, selftests/lab/lab.sh).
# It watches the kernel's own log, not the streamed copy on the 9p share.
(
	while sleep 2; do
		dmesg | grep -aq 'NETDEV WATCHDOG' && break
	done
	for round in 1 2; do
		{
			echo "=== guest uptime $(uptime_s), round $round"
			grep -E 'CPU|virtio' /proc/interrupts
			ip -s -s link show eth0
			grep -H . /sys/class/net/eth0/queues/tx-0/tx_timeout \
				/sys/class/net/eth0/queues/tx-0/byte_queue_limits/inflight
		} >>"$ND/nic_stall.guest" 2>&1
		sleep 10
	done
) &
NIC_WATCH_PID=$!

say "stage 2 at uptime $(uptime_s)s, kernel $(uname -r)"

# configfs is a module on Debian; rdma_cm pulls it in, mount it after.
for m in virtio_net crc32_generic rdma_rxe rdma_cm ib_uverbs rdma_ucm configfs; do
	modprobe "$m" || setup_fail "modprobe $m failed"
done
mount -t configfs configfs /sys/kernel/config || setup_fail "cannot mount configfs"
mount -t debugfs debugfs /sys/kernel/debug || say "note: no debugfs"
if [[ -d /sys/kernel/tracing ]]; then
	mount -t tracefs tracefs /sys/kernel/tracing || say "note: no tracefs"
fi

IP=10.77.0.$NODE
ip link set lo up
ip link show eth0 >/dev/null 2>&1 || setup_fail "no eth0 (virtio_net did not find the NIC)"
ip addr add "$IP/24" dev eth0 || setup_fail "cannot set $IP on eth0"
ip link set eth0 up || setup_fail "cannot bring eth0 up"

rdma link add rxe0 type rxe netdev eth0 || setup_fail "rdma link add rxe0 failed"
# The port becomes ACTIVE once eth0 has carrier; give it a bounded while.
for ((t = 0; t < 150; t++)); do
	rdma link show rxe0/1 2>/dev/null | grep -q 'state ACTIVE' && break
	sleep 0.2
done
rdma link show rxe0/1 2>/dev/null | grep -q 'state ACTIVE' ||
	setup_fail "rxe0 port not ACTIVE after 30 s: $(rdma link show 2>&1)"

# Lines written to /dev/kmsg (the runners' marks of each test case) are
# all kept, not rate-limited.
echo on >/proc/sys/kernel/printk_devkmsg || setup_fail "cannot set printk_devkmsg"

# kmemleak (the debug kernel): forget what booting left, so that what is
# reported later is the run's, and stop its scans every 10 minutes: one
# takes 10 to 20 s of CPU there, enough to push a test past its bounds at
# a random moment. The scan after rmmod (below) is the one that counts.
KMEMLEAK=/sys/kernel/debug/kmemleak
if [[ -w $KMEMLEAK ]]; then
	{ echo scan >"$KMEMLEAK" && echo clear >"$KMEMLEAK" &&
		echo scan=off >"$KMEMLEAK"; } || setup_fail "kmemleak scan/clear failed"
fi

if ((!LAB_NO_MODULE)); then
	KO=$TREE/build/$LAB_KVER/tinydsm.ko
	[[ -f $KO ]] || setup_fail "$KO does not exist"
	# LAB_MODULE_ARGS is split into words on purpose: "k=v k2=v2".
	# shellcheck disable=SC2086
	insmod "$KO" node_id="$NODE" $LAB_MODULE_ARGS || setup_fail "insmod $KO node_id=$NODE $LAB_MODULE_ARGS failed"
	# The run's cluster key (lab.sh), before anything connects.
	if ((!LAB_NO_KEY)); then
		keyout=$("$TREE/build/tools/tinydsmctl" key set "$OUTDIR/shared/cluster.key" 2>&1) ||
			setup_fail "tinydsmctl key set $OUTDIR/shared/cluster.key failed: $keyout"
	fi
fi

put ready "$(uptime_s)"
say "ready at uptime $(uptime_s)s; waiting for the other nodes"
barrier ready

# The SCRIPT's environment: TDSM_* variables forwarded from the host, then
# the lab's own (which win).
# shellcheck source=/dev/null
source "$LAB/forward.env"
export TDSM_NODE_ID=$NODE TDSM_NODES=$LAB_NODES TDSM_KVER=$LAB_KVER TDSM_TREE=$TREE
export TDSM_OUT=$ND TDSM_SHARED=$OUTDIR/shared TDSM_IP=$IP TDSM_LAB_CTL=$LAB
if ((!LAB_NO_KEY)); then
	export TDSM_KEY_FILE=$OUTDIR/shared/cluster.key
fi
peers=()
for ((j = 1; j <= LAB_NODES; j++)); do
	export "TDSM_IP_$j=10.77.0.$j"
	((j == NODE)) || peers+=("10.77.0.$j")
done
export TDSM_PEER_IPS="${peers[*]}"

# TDSM_TRACE_EVENTS="rdma_cma tinydsm ..." (from the host): those trace
# event systems (or system:event) are recorded while SCRIPT runs, into
# $ND/trace.txt, for a failure that dmesg does not explain.
TRACEFS=/sys/kernel/tracing
if [[ -n ${TDSM_TRACE_EVENTS:-} && -d $TRACEFS/events ]]; then
	echo 8192 >"$TRACEFS/buffer_size_kb" 2>/dev/null
	for ev in $TDSM_TRACE_EVENTS; do
		ev_path=${ev/://}
		echo 1 >"$TRACEFS/events/$ev_path/enable" 2>/dev/null ||
			say "note: no trace events $ev"
	done
	echo 1 >"$TRACEFS/tracing_on"
fi
# TDSM_TRACE_KPROBES="r:m1 ib_init_ah_attr_from_wc ret=\$retval; ...":
# dynamic probes (kprobe_events syntax, ';' between them) recorded the
# same way, for a function that has no trace event.
if [[ -n ${TDSM_TRACE_KPROBES:-} && -w $TRACEFS/kprobe_events ]]; then
	echo 8192 >"$TRACEFS/buffer_size_kb" 2>/dev/null
	IFS=';' read -ra kprobes <<<"$TDSM_TRACE_KPROBES"
	for kp in "${kprobes[@]}"; do
		echo "$kp" >>"$TRACEFS/kprobe_events" 2>/dev/null ||
			say "note: cannot add kprobe '$kp'"
	done
	echo 1 >"$TRACEFS/events/kprobes/enable" 2>/dev/null
	echo 1 >"$TRACEFS/tracing_on"
fi

put started "$(uptime_s)"
cd "$TREE" || setup_fail "cannot cd to $TREE"
if [[ -x $LAB_SCRIPT ]]; then
	"./$LAB_SCRIPT" "${LAB_ARGS[@]}" </dev/null >"$ND/output.log" 2>&1
else
	bash "$LAB_SCRIPT" "${LAB_ARGS[@]}" </dev/null >"$ND/output.log" 2>&1
fi
rc=$?
cd /
if [[ -n ${TDSM_TRACE_EVENTS:-}${TDSM_TRACE_KPROBES:-} && -r $TRACEFS/trace ]]; then
	echo 0 >"$TRACEFS/tracing_on"
	cat "$TRACEFS/trace" >"$ND/trace.txt" 2>&1
fi
put rc "$rc"
say "SCRIPT exited with $rc at uptime $(uptime_s)s"

# Unload only when every node is done: a peer may still be using us.
barrier scriptdone
if ((!LAB_NO_MODULE)); then
	rmmod tinydsm >"$ND/rmmod.log" 2>&1
	put rmmod_rc "$?"
fi
# A last kmemleak scan once the module is gone: what it left allocated. An
# object is reported once it is 5 s old. The host reads $ND/kmemleak.
if [[ -w $KMEMLEAK ]]; then
	sleep 5
	echo scan >"$KMEMLEAK"
	cat "$KMEMLEAK" >"$ND/kmemleak"
fi
finish
