#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Print the installed Debian kernels tinydsm can be built for and booted:
# those with both /boot/vmlinuz-<ver> and /lib/modules/<ver>/build.
#
#   kvers.sh            every such kernel, oldest first
#   kvers.sh newest     the newest one
#   kvers.sh series S   the newest one whose version starts with S (e.g. 6.1.)
#   kvers.sh debug      the lab's debug kernels (selftests/lab/debug-kernel.sh),
#                       which the other forms leave out
#
# Never hard-code an ABI number: it changes whenever Debian updates.
set -euo pipefail

list() {
	local v
	for d in /lib/modules/*/build; do
		[ -e "$d/Makefile" ] || continue
		v=${d#/lib/modules/}
		v=${v%/build}
		[ -f "/boot/vmlinuz-$v" ] && echo "$v"
	done | sort -V
}

stock() { list | grep -v -- '-tdsm-debug$' || true; }

case "${1:-all}" in
all) stock ;;
newest) stock | tail -n 1 ;;
series) : "${2:?series needs a prefix}"; stock | grep "^${2//./\\.}" | tail -n 1 ;;
debug) list | grep -- '-tdsm-debug$' || true ;;
*) echo "usage: $0 [all|newest|series PREFIX|debug]" >&2; exit 2 ;;
esac
