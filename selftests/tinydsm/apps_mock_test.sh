#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The PARMACS programs of tools/apps/ on the host, without the module: each
# one linked with apps_mock_main.c over the module's stand-in
# (tdsm_mock.h), its ranks fork()ed processes on mock nodes 1, 2, 3. For
# each program and each of its argument sets, jobs of 1, 2, 3 and 5 ranks
# (5: two ranks share nodes 1 and 2) must exit 0, print "check NAME ok"
# and the same "digest NAME <16 hex digits>" line as the job of 1 rank
# (the digests do not depend on the process count: tools/apps/README.md).
# Then -p with another count than the job's is a usage error (exit 2),
# and a run whose check fails (ocean, too few iterations to converge)
# exits 1 saying so; nothing hangs (each rank has an alarm).
#
#   selftests/tinydsm/apps_mock_test.sh BUILD/lib/apps
#
# (make libtinydsm-test builds the binaries, NAME_mock, and runs this.)
# Prints TAP, then "N passed, N failed"; exit 0 when none failed.
set -u

dir=${1:?usage: apps_mock_test.sh BUILD/lib/apps}
tmp=$(mktemp -d /tmp/tdsm_apps_mock.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
n=0
start=$SECONDS

# NAME, then its arguments: the defaults, sizes that split unevenly, and
# larger ones.
cases=(
	"radix"
	"radix -n 100003 -r 7 -m 1000000000"
	"radix -n 2000000 -r 12 -m 4294967296"
	"fft"
	"fft -m 12"
	"fft -m 18"
	"lu"
	"lu -n 100 -b 7"
	"lu -n 384 -b 24"
	"ocean"
	"ocean -n 61 -i 50 -t 0"
	"ocean -n 200 -t 1e-8"
	"water"
	"water -n 100 -s 5"
	"water -n 1000 -s 4"
)
rank_counts=(1 2 3 5)

ok() {
	n=$((n + 1))
	pass=$((pass + 1))
	echo "ok $n - $*"
}

not_ok() {
	n=$((n + 1))
	fail=$((fail + 1))
	echo "not ok $n - $*"
}

# The output of a run, as comments.
show() {
	sed 's/^/# /' "$1"
}

echo "TAP version 13"
echo "1..$((${#cases[@]} + 6))"

for c in "${cases[@]}"; do
	read -r -a args <<<"$c"
	name=${args[0]}
	args=("${args[@]:1}")
	what="$name${args[*]:+ ${args[*]}}"
	why=
	for ranks in "${rank_counts[@]}"; do
		out=$tmp/$name.$ranks
		"$dir/${name}_mock" -n $ranks -- "${args[@]}" >"$out" 2>&1
		rc=$?
		if [[ $rc != 0 ]]; then
			why+="$ranks ranks: exit $rc; "
		elif ! grep -qx "check $name ok" "$out"; then
			why+="$ranks ranks: no \"check $name ok\"; "
		elif ! grep -qE "^digest $name [0-9a-f]{16}$" "$out"; then
			why+="$ranks ranks: no digest line; "
		fi
		d=$(grep "^digest $name " "$out")
		if [[ $ranks == 1 ]]; then
			d1=$d
		elif [[ -z $why && $d != "$d1" ]]; then
			why+="$ranks ranks: \"$d\", 1 rank: \"$d1\"; "
		fi
	done
	if [[ -z $why ]]; then
		ok "$what: ${rank_counts[*]} ranks, ${d1#digest $name }"
	else
		not_ok "$what: $why"
		for ranks in "${rank_counts[@]}"; do
			echo "# $ranks ranks:"
			show "$tmp/$name.$ranks"
		done
	fi
done

# -p must be the job's rank count: rank 0 exits 2, the others 0.
for name in radix fft lu ocean water; do
	out=$tmp/$name.p
	"$dir/${name}_mock" -n 3 -- -p 2 >"$out" 2>&1
	rc=$?
	if [[ $rc == 2 ]] && grep -q "^$name: -p 2, but the job has 3 ranks" \
		"$out" && ! grep -q "rank [12] exited" "$out"; then
		ok "$name -p 2 on 3 ranks: usage error"
	else
		not_ok "$name -p 2 on 3 ranks: exit $rc"
		show "$out"
	fi
done

# A failed check: exit 1 and the reason, the job ended all the same.
out=$tmp/ocean.fail
"$dir/ocean_mock" -n 3 -- -n 50 -i 5 >"$out" 2>&1
rc=$?
if [[ $rc == 1 ]] && grep -q "^check ocean FAILED: .* after 5 iterations" "$out" &&
	! grep -q "rank [12] exited" "$out"; then
	ok "ocean -n 50 -i 5 on 3 ranks: check FAILED, exit 1"
else
	not_ok "ocean -n 50 -i 5 on 3 ranks: exit $rc"
	show "$out"
fi

echo "# apps_mock_test: $pass passed, $fail failed ($((SECONDS - start)) s)"
[[ $fail == 0 ]]
