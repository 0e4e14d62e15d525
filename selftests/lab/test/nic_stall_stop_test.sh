#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A lab whose guest's NIC stopped sending stops there, with QEMU's and the
# guest's view of the NIC kept (selftests/lab/lab.sh, "NIC stalls"), and
# selftests/lab/nic_stalled.sh names that node. Boots two guests without
# tinydsm; node1 makes up the kernel's watchdog messages
# (nic_stall_script.sh). A lab that did not stop itself ends in its
# --timeout instead, and the verdict says so.
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
kver=${1:-$("$top/tools/kvers.sh" newest)}
out=$(mktemp -d /tmp/tdsm-nic-stall.XXXXXX)
trap 'rm -rf "$out"' EXIT
fails=0
check() { # check WHAT COMMAND...
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then
		echo "ok: $what"
	else
		echo "FAIL: $what"
		fails=$((fails + 1))
	fi
}

"$top/selftests/lab/lab.sh" --kver "$kver" --nodes 2 --no-module --timeout 600 \
	--out "$out/lab" selftests/lab/test/nic_stall_script.sh >"$out/lab.log" 2>&1
rc=$?
check "the lab fails" test "$rc" = 1
check "the host stopped it: node1's NIC" \
	grep -q "node1 FAILED: stopped: node1's NIC stopped sending" "$out/lab.log"
check "node2 failed for the same reason" \
	grep -q "node2 FAILED: stopped: node1's NIC stopped sending" "$out/lab.log"
check "QEMU's view, twice: both rings of node1's NIC" \
	test "$(grep -c '^summary: queue [01]: qemu last_avail_idx' "$out/lab/node1/nic_stall.txt")" = 4
check "the guest's view, twice" \
	test "$(grep -c '^=== guest uptime' "$out/lab/node1/nic_stall.guest")" = 2
check "node2 stalled not" test ! -e "$out/lab/node2/nic_stall.txt"
check "nic_stalled.sh names node1" \
	grep -q '^node1: .*NETDEV WATCHDOG' <("$top/selftests/lab/nic_stalled.sh" "$out/lab")
if ((fails)); then
	echo "nic_stall_stop_test: $fails failed; the lab's output:"
	sed 's/^/    /' "$out/lab.log"
	exit 1
fi
echo "nic_stall_stop_test: all passed"
