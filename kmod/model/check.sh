#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Check the model of the coherence protocol (tinydsm.pml) with spin.
#
#   1. safety: exhaustive searches of the model as it stands (3 nodes, 2
#      pages; 3 requests and 1 fault, then 2 requests and 2 faults, then
#      for the evictions 4 requests and 1 fault without crashes, word
#      accesses and the migration, then with grants in doubt settled lazily
#      as the code does, -DLAZY, 3 requests and 2 faults without crashes,
#      word accesses and the migration) for assertion violations (at most one
#      writable copy, every read returns the last write, no write lost, a
#      request fails only after a fault, no late reply lands) and invalid
#      end states (a deadlock, a request left waiting, a message never
#      handled);
#   2. progress: the model has no cycle, so every run ends, and with the end
#      states of 1 every request ends, answered or failed (2 requests;
#      --full: 3 requests, several minutes);
#   3. each deliberately broken variant (BUG_*): spin must find the violation;
#   4. coverage: every line marked "reach:" in the model was reached by one
#      of the safety searches.
#
# The model includes the cache's evictions (the clean-drop notice and the
# write-back); spin -DNOEVICT leaves them out.
#
# Builds in build/model/ of the tree (MODEL_BUILD overrides). Prints one line
# per check and a last line "model: <passed> passed, <failed> failed"; exits
# non-zero if a check failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${MODEL_BUILD:-$top/build/model}
model=$here/tinydsm.pml

full=0
case "${1:-}" in
--full) full=1 ;;
"") ;;
*) echo "usage: $0 [--full]" >&2; exit 2 ;;
esac

for tool in spin gcc timeout; do
	command -v "$tool" >/dev/null || {
		echo "model: $tool not found (spin: apt-get install spin, or make deps)" >&2
		exit 1
	}
done

# The searches take minutes and depend on nothing but the model, this
# script, spin and gcc. A pass is kept under a key made of those (in
# TDSM_CACHE, /var/cache/tinydsm, as the lab's debug kernel is) and shown
# again, said to be kept, until one of them changes. --full and
# MODEL_NO_CACHE=1 search whatever is kept; a failure is never kept.
if ((!full)) && [ -z "${MODEL_NO_CACHE:-}" ]; then
	cache=${TDSM_CACHE:-/var/cache/tinydsm}/model
	key=$({ cat "$model" "${BASH_SOURCE[0]}"; spin -V; gcc --version; } |
		sha256sum | cut -c1-16)
	if [ -s "$cache/$key.log" ]; then
		echo "model: this model, check, spin and gcc passed before: shown from $cache/$key.log, not searched again (MODEL_NO_CACHE=1 searches)"
		cat "$cache/$key.log"
		exit 0
	fi
	log=$(mktemp)
	rc=0
	MODEL_NO_CACHE=1 "${BASH_SOURCE[0]}" | tee "$log" || rc=$?
	if [ "$rc" -eq 0 ] && mkdir -p "$cache" 2>/dev/null &&
		cp "$log" "$cache/$key.log.tmp" 2>/dev/null; then
		mv "$cache/$key.log.tmp" "$cache/$key.log"
	fi
	rm -f "$log"
	exit "$rc"
fi

# The bounds: requests issued and faults injected in one run. An eviction is
# a request, and showing what it breaks takes four (a read, the eviction, a
# read again or a write-back, a write): the third search gets four, in a
# model without crashes, word accesses and the migration.
size=(-DNREQ=3 -DNFAULT=1)
size2=(-DNREQ=2 -DNFAULT=2)
size3=(-DNREQ=4 -DNFAULT=1 -DNOCRASH -DNOWORD -DNOMIG)
# A grant in doubt settled lazily goes wrong only after a second fault (the
# answer to the next transaction's FETCH DROP lost) and a third request.
size4=(-DNREQ=3 -DNFAULT=2 -DNOCRASH -DNOWORD -DNOMIG -DLAZY)
passed=0
failed=0
start=$SECONDS

pass() { passed=$((passed + 1)); echo "model: PASS  $*"; }
fail() { failed=$((failed + 1)); echo "model: FAIL  $*"; }

# build NAME GCCFLAGS SPINFLAGS...: spin -a and gcc in $out/NAME (spin -o3:
# no statement merging, so that every line marked "reach:" is a transition).
build() {
	local name=$1 cflags=$2
	shift 2
	rm -rf "${out:?}/$name"
	mkdir -p "$out/$name"
	cd "$out/$name"
	# shellcheck disable=SC2086 # cflags is a list of flags
	nice -n 10 spin -a -o3 "$@" "$model" >spin.log 2>&1 &&
		nice -n 10 gcc $cflags -o pan pan.c >gcc.log 2>&1
}

# search SECONDS PANFLAGS...: run pan in the current directory into pan.out.
search() {
	local secs=$1
	shift
	timeout "$secs" nice -n 10 ./pan "$@" >pan.out 2>&1 || true
}

# What pan says, from pan.out.
errors() { sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.out 2>/dev/null; }
stats() {
	local states trans secs
	states=$(awk '/states, stored/ { print $1; exit }' pan.out)
	trans=$(awk '/transitions \(/ { print $1; exit }' pan.out)
	secs=$(sed -n 's/^pan: elapsed time \([0-9.]*\).*/\1/p' pan.out)
	echo "${states:-?} states, ${trans:-?} transitions, ${secs:-?} s"
}
# Empty if the search covered everything it had to, else why not.
incomplete() {
	if ! grep -q 'errors:' pan.out; then
		echo "did not finish (time limit or crash)"
	elif grep -q 'max search depth too small' pan.out; then
		echo "search depth too small"
	elif grep -q 'reached -DMEMLIM bound' pan.out; then
		echo "out of memory (-DMEMLIM)"
	fi
}
# The first violation pan reports.
violation() {
	if [ "$(errors)" = 0 ] || [ -z "$(errors)" ]; then
		echo "no violation"
		return
	fi
	grep -m1 '^pan:[0-9]*: ' pan.out |
		grep -o 'assertion violated\|invalid end state\|non-progress cycle\|acceptance cycle' ||
		echo "an error"
}

echo "model: spin $(spin -V | sed -n 's/^Spin Version \([^ ]*\).*/\1/p'), $model"
echo "model: 3 nodes, 2 pages"

# 1. safety, exhaustive (no bitstate or hash compaction: -DCOLLAPSE is
# lossless). The searches are independent: the first two run side by side,
# one per core; the third beside the progress search and the broken
# variants.
safety() { # NAME FLAGS HASHBITS
	# shellcheck disable=SC2086 # $2 is a list of -D flags
	build "$1" "-O2 -DSAFETY -DCOLLAPSE -DMEMLIM=3072" $2 && search 900 -m200000 "-w$3" -q
}
report() { # NAME FLAGS
	local name=$1 flags=$2 why
	if [ ! -x "$out/$name/pan" ]; then
		fail "$name: spin or gcc failed (see $out/$name)"
		return
	fi
	cd "$out/$name"
	why=$(incomplete)
	if [ -n "$why" ]; then
		fail "$name (${flags//-D/}): $why"
	elif [ "$(errors)" = 0 ]; then
		pass "$name (${flags//-D/}): no violation, no invalid end state ($(stats))"
	else
		fail "$name (${flags//-D/}): $(violation) (see $out/$name/pan.out;" \
			"replay: cd $out/$name && spin -t -k tinydsm.pml.trail -p $flags $model)"
	fi
}
safety safety "${size[*]}" 26 &
safety safety2 "${size2[*]}" 26 &
wait
report safety "${size[*]}"
report safety2 "${size2[*]}"
safety evict "${size3[*]}" 24 &
evict=$!
safety lazy "${size4[*]}" 26 &
lazy=$!

# 2. progress: no cycle at all (-DNP, no progress labels)
if [ $full = 1 ]; then
	psize=("${size[@]}")
	popt=-O2
else
	psize=(-DNREQ=2 -DNFAULT=1)
	popt=-O0
fi
if build progress "$popt -DNP -DCOLLAPSE -DMEMLIM=4096" "${psize[@]}"; then
	search 600 -l -m200000
	why=$(incomplete)
	if [ -n "$why" ]; then
		fail "progress (${psize[*]#-D}): $why"
	elif [ "$(errors)" = 0 ]; then
		pass "progress (${psize[*]#-D}): no cycle, every run ends ($(stats))"
	else
		fail "progress (${psize[*]#-D}): $(violation) (see $out/progress/pan.out)"
	fi
else
	fail "progress: spin or gcc failed (see $out/progress)"
fi

# 3. broken variants: name, what it breaks, the violation spin must find, the
# size it takes to show (a stale INVAL needs three requests: read, failed
# write, write; a stale notice four: read, drop, read again, a write; readers
# a write-back forgot four: write, read, write-back, write, and no fault)
small=(-DNOCRASH -DNOWORD -DNOMIG)
bugs=(
	"BUG_NO_EPOCH|a node honours an INVAL older than its copy|assertion violated|-DNREQ=3 -DNFAULT=1"
	"BUG_NO_RECONCILE|the copyset keeps a node whose connection died|assertion violated|-DNREQ=2 -DNFAULT=1"
	"BUG_ROLLBACK_AFTER_SIDE_EFFECTS|a grant whose send failed after it went out is rolled back|assertion violated|-DNREQ=2 -DNFAULT=1"
	"BUG_DROP_SENT|the owner frees the page it sent before the home commits|assertion violated|-DNREQ=2 -DNFAULT=1"
	"BUG_NO_DROP|a node keeps its read copies of a home it lost|assertion violated|-DNREQ=2 -DNFAULT=1"
	"BUG_SILENT_WITHDRAW|a timed-out call leaves its connection up|assertion violated|-DNREQ=2 -DNFAULT=1"
	"BUG_OWNER_READABLE|the old owner reads its copy until the send completes|assertion violated|-DNREQ=2 -DNFAULT=1"
	"BUG_NO_TIMEOUT|the home waits for an ack on a dead connection|invalid end state|-DNREQ=2 -DNFAULT=1"
	"BUG_NOTICE_DEAD_CONN|a clean-drop notice that came on a dead connection is applied|assertion violated|-DNREQ=4 -DNFAULT=1 ${small[*]}"
	"BUG_RELEASE_IN_DOUBT|a write-back's reply releases the owner before a grant in doubt|assertion violated|-DNREQ=3 -DNFAULT=1"
	"BUG_WB_DROP_READERS|a write-back's install leaves the readers out of the copyset|assertion violated|-DNREQ=4 -DNFAULT=0 ${small[*]}"
	"BUG_HEIR_UNASKED|an evicted owner's page is handed to a reader without asking it|assertion violated|-DNREQ=3 -DNFAULT=1"
	"BUG_LIVE_REFUSES_RETAINED|a grant in doubt counts as taken only on a live copy, not a frame retained at its epoch|assertion violated|${size4[*]}"
)
for b in "${bugs[@]}"; do
	IFS='|' read -r name what expect flags <<<"$b"
	# shellcheck disable=SC2086 # flags is a list of -D flags
	if build "$name" "-O0 -DSAFETY -DCOLLAPSE -DMEMLIM=2048" $flags "-D$name"; then
		search 300 -m200000 -q
		found=$(violation)
		if [ "$found" = "$expect" ]; then
			pass "$name ($what): found: $found ($(stats))"
		elif [ -n "$(incomplete)" ]; then
			fail "$name ($what): $(incomplete)"
		else
			fail "$name ($what): expected $expect, got: $found (see $out/$name/pan.out)"
		fi
	else
		fail "$name: spin or gcc failed (see $out/$name)"
	fi
done

wait "$evict" || true
report evict "${size3[*]}"
wait "$lazy" || true
report lazy "${size4[*]}"

# 4. coverage: each line marked "reach:" writes the hidden variable "seen";
# pan -d lists every copy of that statement (a line in an inline has one per
# use), pan.out the copies a search never reached. A mark is covered if one
# of the four safety searches reached one of its copies (the lazy
# settlement's marks only the fourth can).
reached() { # LINE: in a search's directory
	local copies unreached
	[ -f pan.d ] || return 1
	copies=$(grep -c "tinydsm.pml:$1 => seen = 1" pan.d || true)
	unreached=$(grep -c "tinydsm.pml:$1, .*\"seen = 1\"" unreached.txt || true)
	[ "$copies" -gt 0 ] && [ "$unreached" -lt "$copies" ]
}
for name in safety safety2 evict lazy; do
	cd "$out/$name" 2>/dev/null || continue
	if [ -x pan ] && [ "$(errors)" = 0 ] && [ -z "$(incomplete)" ]; then
		./pan -d >pan.d 2>&1
		sed -n '/unreached in/,$p' pan.out >unreached.txt
	fi
done
missed=()
marked=0
while IFS=: read -r line text; do
	marked=$((marked + 1))
	if ! (cd "$out/safety" && reached "$line") && ! (cd "$out/safety2" && reached "$line") &&
		! (cd "$out/evict" && reached "$line") && ! (cd "$out/lazy" && reached "$line"); then
		missed+=("line $line (${text#*reach: })")
	fi
done < <(grep -n 'seen = 1;.*reach:' "$model" | sed 's| \*/.*||')
if [ "$marked" -gt 0 ] && [ ${#missed[@]} -eq 0 ]; then
	pass "coverage: all $marked marked branches reached"
else
	fail "coverage: never reached (or no clean safety search): ${missed[*]:-no marks found}"
fi

echo "model: $((SECONDS - start)) s"
echo "model: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
