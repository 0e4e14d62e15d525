#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make check's build of the lab's debug kernel (make debug-kernel: the
# kernel, cached per machine, and tinydsm.ko for it), in the background at
# the lowest CPU priority, so that it uses the CPU the rest of make check
# leaves idle: the single-threaded model check, and the stock kernels' labs
# while they wait on timeouts and sleeps. On a machine without the cached
# kernel the build alone takes about 18 minutes of CPU on 2 cores.
#
#   selftests/debug_build.sh start DIR   start it; DIR gets log, pid, rc
#   selftests/debug_build.sh wait DIR    wait for it (at most 2 hours); print
#                                        the kernel's release, or fail
#
# If make check stops early, the build goes on to its end and is cached.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cmd=${1:-}
dir=${2:-}
[[ ($cmd == start || $cmd == wait) && -n $dir ]] ||
	{ echo "usage: $0 start|wait DIR" >&2; exit 2; }

case $cmd in
start)
	rm -rf "$dir"
	mkdir -p "$dir"
	date +%s >"$dir/start"
	(
		rc=0
		nice -n 19 make -C "$top" debug-kernel >"$dir/log" 2>&1 </dev/null || rc=$?
		echo "$rc" >"$dir/rc.tmp"
		mv "$dir/rc.tmp" "$dir/rc"
	) >/dev/null 2>&1 &
	echo $! >"$dir/pid"
	echo "debug kernel: make debug-kernel in the background (nice 19), log $dir/log"
	;;
wait)
	[[ -e $dir/pid ]] || { echo "debug kernel: no build was started in $dir" >&2; exit 1; }
	t0=$(date +%s)
	while [[ ! -e $dir/rc ]]; do
		if (($(date +%s) - t0 > 7200)); then
			echo "debug kernel: still building after 2 hours (log $dir/log)" >&2
			exit 1
		fi
		sleep 5
	done
	now=$(date +%s)
	echo "debug kernel: ready $((now - $(cat "$dir/start"))) s after its start," \
		"waited for $((now - t0)) s" >&2
	grep '^debug-kernel: built' "$dir/log" >&2 || true
	if [[ $(cat "$dir/rc") != 0 ]]; then
		echo "debug kernel: make debug-kernel failed (log $dir/log):" >&2
		tail -n 30 "$dir/log" | sed 's/^/    /' >&2
		exit 1
	fi
	tail -n 1 "$top/build/debug-kver"
	;;
esac
