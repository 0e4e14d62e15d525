# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# The host side of a lab run, shared by tools/bench.sh and tools/demo.sh
# (sourced, after they set top=<the tree>): the lab lock, the results
# directory, the kernel, starting selftests/lab/lab.sh, and telling a guest
# that died of the known Soft-RoCE panic.
#
#   lab_say LINE...       how the script says something; define it after
#                         sourcing to prefix its lines (default: echo)
#   lab_lock, lab_unlock  one lab at a time on this host, among everyone who
#                         takes $lab_lock (TDSM_LAB_LOCK, default
#                         /tmp/tdsm-lab.lock); the descriptor in lab_lock_fd
#   lab_results_dir NAME  $out, or results/NAME-<time>: created, made absolute
#   lab_newest_kver       the newest kernel with headers (tools/kvers.sh)
#   lab_sh ARG...         selftests/lab/lab.sh ARG..., without the lock's
#                         descriptor (its guests must not hold our lock)
#   lab_rxe_panicked DIR  a guest of the lab run in DIR died of a kernel
#                         panic inside Soft-RoCE (rdma_rxe): a known crash of
#                         6.12's rxe under load, outside tinydsm (README,
#                         "Known problems"), worth one more run
#                         (selftests/lab/rxe_panicked.sh, as make check)

lab_lock=${TDSM_LAB_LOCK:-/tmp/tdsm-lab.lock}
lab_lock_fd=

lab_say() { echo "$*"; }

lab_lock() {
	if [[ -e $lab_lock && ! -w $lab_lock ]]; then
		exec {lab_lock_fd}<"$lab_lock"
	else
		exec {lab_lock_fd}>>"$lab_lock"
	fi
	flock -n "$lab_lock_fd" || {
		lab_say "waiting for $lab_lock (another lab is running)"
		flock "$lab_lock_fd"
	}
}

lab_unlock() {
	[[ -n $lab_lock_fd ]] || return 0
	flock -u "$lab_lock_fd"
	exec {lab_lock_fd}>&-
	lab_lock_fd=
}

lab_results_dir() { # NAME
	out=${out:-$top/results/$1-$(date +%Y%m%d-%H%M%S)}
	mkdir -p "$out"
	out=$(realpath "$out")
}

lab_newest_kver() { "$top/tools/kvers.sh" newest; }

lab_sh() {
	if [[ -n $lab_lock_fd ]]; then
		"$top/selftests/lab/lab.sh" "$@" {lab_lock_fd}>&-
	else
		"$top/selftests/lab/lab.sh" "$@"
	fi
}

lab_rxe_panicked() { # DIR
	"$top/selftests/lab/rxe_panicked.sh" "$1" >/dev/null
}
