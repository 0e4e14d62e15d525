#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The fault breakdown's tracing on this node (tools/bench/README.md, "The
# fault's breakdown"): the tinydsm tracepoints a fault and its request
# pass (tinydsm_fault_start, tinydsm_fault_end, tinydsm_msg) into the
# ftrace buffer, nothing else.
#
#   trace_steps.sh on         empty the buffer, enable the three events
#   trace_steps.sh save FILE  disable them, copy the buffer to FILE
set -euo pipefail

T=/sys/kernel/tracing
[[ -e $T/trace ]] || T=/sys/kernel/debug/tracing
EV=$T/events/tinydsm
[[ -d $EV/tinydsm_msg ]] || { echo "trace_steps.sh: no $EV/tinydsm_msg (tracefs, module)" >&2; exit 1; }

events() { # events 0|1
	local e
	for e in tinydsm_fault_start tinydsm_fault_end tinydsm_msg; do
		echo "$1" >"$EV/$e/enable"
	done
}

case "${1:-}" in
on)
	events 0
	echo 0 >"$T/tracing_on"
	# Some 10 events a fault, 100 bytes each: room for thousands.
	echo 8192 >"$T/buffer_size_kb"
	: >"$T/trace"
	events 1
	echo 1 >"$T/tracing_on"
	;;
save)
	: "${2:?usage: $0 save FILE}"
	events 0
	cp "$T/trace" "$2"
	# Events lost to a full buffer leave faults unmatched: say so.
	lost=$(cat "$T"/per_cpu/cpu*/stats | awk '/^overrun:/ { n += $2 } END { print n + 0 }')
	((lost == 0)) || echo "trace_steps.sh: $lost events lost (the buffer overran)" >&2
	;;
*)
	echo "usage: $0 on | save FILE" >&2
	exit 2
	;;
esac
