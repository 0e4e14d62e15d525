#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install the Debian packages tinydsm needs to build, test and demo, if any
# is missing. Needs root only when something is missing.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

packages=(
	# build: module (both Debian kernels), user space, checkpatch
	make gcc libc6-dev perl xz-utils tar
	linux-image-amd64 linux-headers-amd64
	linux-image-6.12-amd64 linux-headers-6.12-amd64
	linux-source-6.1
	# the lab's debug kernel (KASAN, lockdep, kmemleak), built from source
	linux-source-6.12 bc bison flex libelf-dev
	# tinydsmctl and the netlink test: generic netlink through libnl
	libnl-3-dev libnl-genl-3-dev pkg-config
	# the cluster key and the daemons' MACs (tools/lib/keyfile, tinydsmd);
	# the lab's guests run on the host's root, so libsodium23 comes with it
	libsodium-dev
	# RDMA user space for the lab (Soft-RoCE, perftest baseline)
	rdma-core ibverbs-utils ibverbs-providers perftest iproute2
	# the NVMe-oF comparison in the benchmark
	nvme-cli valgrind
	# the lab scripts read tinydsmctl's JSON
	jq
	# wire_test plays a misbehaving peer from user space
	librdmacm-dev libibverbs-dev
	# tinydsm-trace: a BPF CO-RE program (clang, bpftool skeleton, libbpf)
	clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev
	# libtinydsm-preload.so: jemalloc's arenas over the region
	libjemalloc-dev
	# make demo's plots
	gnuplot-nox
	# the benchmarks' and the demo's report (tools/report/report.py)
	python3
	# dkms.conf is checked with a real `dkms build`
	dkms
	spin	# make model-check: the protocol model, kmod/model/
)
# the QEMU lab's own list
mapfile -t -O ${#packages[@]} packages < <(grep -v '^[[:space:]]*\(#\|$\)' "$top/selftests/lab/packages.txt")

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#packages[@]} packages installed"
	exit 0
fi

echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: not root; run: apt-get update && apt-get install -y ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
