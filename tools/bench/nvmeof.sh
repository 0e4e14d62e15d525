#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The stock-kernel alternative to tinydsm for remote memory, for
# tools/bench/remote_bench.sh: a brd RAM disk on one node exported over
# NVMe-oF/RDMA (nvmet + nvmet-rdma, configfs), read by another node through
# nvme-rdma (nvme-cli's `nvme connect -t rdma`). Runs inside a lab guest, as
# root, with configfs mounted at /sys/kernel/config (the lab does that).
#
#   nvmeof.sh target-up ADDR MIB FILL_BLOCKS   brd of MIB MiB, the first
#                        FILL_BLOCKS 4 KiB blocks written with remote_bench's
#                        pattern, exported on ADDR:4420 as NQN
#   nvmeof.sh target-down                      undo target-up
#   nvmeof.sh connect ADDR                     connect; prints the block device
#   nvmeof.sh disconnect                       disconnect NQN
#
# Debian packages: nvme-cli (host side); the modules brd, nvmet, nvmet-rdma,
# nvme-rdma ship with Debian's kernel.
set -euo pipefail

NQN=nqn.2026-11.org.tinydsm:bench
PORT=4420
CFG=/sys/kernel/config/nvmet
RB=${TDSM_TREE:-.}/build/tools/remote_bench

die() { echo "nvmeof: $*" >&2; exit 1; }

target_up() {
	local addr=$1 mib=$2 fill=$3 sub ns port
	[[ -d /sys/kernel/config ]] || die "configfs is not mounted"
	# rd_nr=1: one RAM disk, /dev/ram0; rd_size is in KiB
	modprobe brd rd_nr=1 rd_size=$((mib * 1024)) max_part=0 || die "modprobe brd failed"
	for ((t = 0; t < 50; t++)); do [[ -b /dev/ram0 ]] && break; sleep 0.1; done
	[[ -b /dev/ram0 ]] || die "/dev/ram0 did not appear"
	# brd allocates its pages on write: write what node1 will read, so that
	# reads hit real pages (and carry a pattern the reader checks)
	"$RB" blk-fill /dev/ram0 "$fill"
	modprobe nvmet || die "modprobe nvmet failed"
	modprobe nvmet-rdma || die "modprobe nvmet-rdma failed"
	[[ -d $CFG ]] || die "$CFG does not exist after modprobe nvmet"
	sub=$CFG/subsystems/$NQN
	mkdir "$sub"
	echo 1 >"$sub/attr_allow_any_host"
	ns=$sub/namespaces/1
	mkdir "$ns"
	echo -n /dev/ram0 >"$ns/device_path"
	echo 1 >"$ns/enable"
	port=$CFG/ports/1
	mkdir "$port"
	echo rdma >"$port/addr_trtype"
	echo ipv4 >"$port/addr_adrfam"
	echo "$addr" >"$port/addr_traddr"
	echo "$PORT" >"$port/addr_trsvcid"
	ln -s "$sub" "$port/subsystems/$NQN"
	echo "nvmeof: target up: /dev/ram0 ($mib MiB, $fill blocks written) as $NQN on rdma $addr:$PORT"
}

target_down() {
	local sub=$CFG/subsystems/$NQN port=$CFG/ports/1
	[[ -L $port/subsystems/$NQN ]] && rm -f "$port/subsystems/$NQN"
	[[ -d $port ]] && rmdir "$port"
	if [[ -d $sub ]]; then
		[[ -d $sub/namespaces/1 ]] && { echo 0 >"$sub/namespaces/1/enable"; rmdir "$sub/namespaces/1"; }
		rmdir "$sub"
	fi
	modprobe -r nvmet-rdma nvmet 2>/dev/null || true
	modprobe -r brd 2>/dev/null || true
	echo "nvmeof: target down"
}

# The namespace block device of the controller connected to NQN.
find_dev() {
	local c n
	for c in /sys/class/nvme/nvme*; do
		[[ -e $c/subsysnqn && $(cat "$c/subsysnqn") == "$NQN" ]] || continue
		for n in /sys/block/nvme*n*; do
			[[ -e $n ]] || continue
			case ${n##*/} in *c*) continue ;; esac # hidden multipath paths
			# with native multipath the disk hangs off the subsystem,
			# else off the controller: both show the NQN
			if [[ $(cat "$n/device/subsysnqn" 2>/dev/null || cat "$n/../../subsysnqn" 2>/dev/null || true) == "$NQN" ]] ||
				[[ -e $c/${n##*/} ]]; then
				echo "/dev/${n##*/}"
				return 0
			fi
		done
	done
	return 1
}

connect() {
	local addr=$1 uuid dev
	command -v nvme >/dev/null || die "nvme not found (Debian package nvme-cli)"
	modprobe nvme-rdma || die "modprobe nvme-rdma failed"
	# The host root is read-only in the lab: no /etc/nvme/hostnqn to
	# generate, so name this host explicitly.
	uuid=$(cat /proc/sys/kernel/random/uuid)
	nvme connect -t rdma -a "$addr" -s "$PORT" -n "$NQN" \
		--hostnqn="nqn.2014-08.org.nvmexpress:uuid:$uuid" --hostid="$uuid" >&2 ||
		die "nvme connect -t rdma -a $addr -s $PORT -n $NQN failed"
	for ((t = 0; t < 100; t++)); do
		dev=$(find_dev) && [[ -b $dev ]] && { echo "$dev"; return 0; }
		sleep 0.1
	done
	ls -l /sys/class/nvme/ /sys/block/ >&2 || true
	die "connected, but no block device of $NQN appeared"
}

disconnect() {
	nvme disconnect -n "$NQN" >&2 || die "nvme disconnect -n $NQN failed"
}

case ${1:-} in
target-up) (($# == 4)) || die "usage: $0 target-up ADDR MIB FILL_BLOCKS"; target_up "$2" "$3" "$4" ;;
target-down) target_down ;;
connect) (($# == 2)) || die "usage: $0 connect ADDR"; connect "$2" ;;
disconnect) disconnect ;;
*) sed -n '9,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
