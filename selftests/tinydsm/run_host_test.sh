#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make run-host-test: tinydsmctl run on the host, without the module and
# without the lab. Two tinydsmd built with fake_genl.c (no module: only
# membership, authentication and jobs work) in a private network
# namespace (unshare -n: 127.0.0.1 and 127.0.0.2 on its own lo, nothing
# reaches the host's network), then jobs through node1's daemon: exit
# statuses, output, environment, cwd, another user, Ctrl-C, a failing
# rank, job show, a lot of output, refusals. Needs root (the daemons
# start ranks as other users), unshare(1), runuser(1) and python3 (a raw
# client of the control socket).
#
#   selftests/tinydsm/run_host_test.sh BUILD_DIR
#
# Prints "N passed, N failed"; exit 0 when none failed.
set -u

build=${1:?usage: run_host_test.sh BUILD_DIR}
build=$(cd "$build" && pwd)
if [[ ${TDSM_IN_NETNS:-} != 1 ]]; then
	if [[ $(id -u) != 0 ]]; then
		echo "run_host_test: needs root (ranks run as other users)"
		exit 4
	fi
	TDSM_IN_NETNS=1 exec unshare -n "$0" "$build"
fi

ctl=$build/tools/tinydsmctl
daemon=$build/host/tinydsmd-fake
dir=$(mktemp -d /tmp/tdsm_run_host.XXXXXX)
chmod 755 "$dir"
pass=0
fail=0
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT

ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "not ok - $1"; shift; for l in "$@"; do echo "#   $l"; done; fail=$((fail + 1)); }

ip link set lo up || { echo "run_host_test: cannot bring lo up"; exit 1; }
"$ctl" key generate "$dir/cluster.key" >/dev/null || exit 1
for i in 1 2; do
	cat >"$dir/n$i.conf" <<EOF
node 1 name node1 addr 127.0.0.1 control-port 17472
node 2 name node2 addr 127.0.0.2 control-port 17472
self node$i
heartbeat-ms 100
dead-after-ms 1000
socket $dir/n$i.sock
key-file $dir/cluster.key
run-kill-grace-ms ${TDSM_GRACE_MS:-1000}
EOF
	"$daemon" -c "$dir/n$i.conf" -v >"$dir/n$i.log" 2>&1 &
	pids+=($!)
done
for ((i = 0; i < 100; i++)); do
	out=$("$ctl" -t member show --socket "$dir/n1.sock" 2>/dev/null)
	[[ $(grep -c alive <<<"$out") == 2 ]] && break
	sleep 0.1
done
[[ $(grep -c alive <<<"$out") == 2 ]] || { echo "daemons not up"; cat "$dir"/n*.log; exit 1; }

# As nobody: root runs nothing on the other node (run-allow-root no).
# The control socket, raw: send stdin, print the answer up to its "ok" or
# "error" line (at most 10 s).
raw() { # SOCKET
	python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read())
s.settimeout(10)
buf = b""
end = time.time() + 10
while time.time() < end:
    try:
        d = s.recv(4096)
    except socket.timeout:
        break
    if not d:
        break
    buf += d
    if b"\nok" in b"\n" + buf or b"error " in buf:
        break
sys.stdout.write(buf.decode("ascii", "replace"))
' "$1"
}

run1() { (cd "$dir" && runuser -u nobody -- "$ctl" run --socket "$dir/n1.sock" "$@"); }
root1() { "$ctl" run --socket "$dir/n1.sock" "$@"; }

# Every rank, its environment, prefixed.
out=$(run1 -n 4 -- sh -c 'echo "rank $TINYDSM_RANK of $TINYDSM_NRANKS job $TINYDSM_JOB"' 2>&1)
rc=$?
if [[ $rc == 0 && $(grep -c '^\[[0-3]\] rank [0-3] of 4 job [0-9]*$' <<<"$out") == 4 ]] &&
   grep -q '^\[2\] rank 2 of 4' <<<"$out"; then ok "4 ranks, env, prefix"
else bad "4 ranks, env, prefix" "rc=$rc" "$out"; fi

# Round robin: ranks 0, 2 on node1 (127.0.0.1's daemon), 1, 3 on node2.
out=$(run1 -n 4 --no-prefix -- sh -c 'echo $TINYDSM_RANK $(cat /proc/sys/kernel/hostname) $PPID' 2>&1)
if [[ $(wc -l <<<"$out") == 4 ]] && ! grep -q '^\[' <<<"$out"; then ok "--no-prefix"
else bad "--no-prefix" "$out"; fi

# The first non-zero status.
run1 -n 3 -- sh -c 'exit $((TINYDSM_RANK == 1 ? 7 : 0))' >/dev/null 2>&1
rc=$?
[[ $rc == 7 ]] && ok "exit status 7" || bad "exit status 7" "rc=$rc"

# A signal death: 128 + 10, and the others (sleeping) end at once.
t0=$SECONDS
run1 -n 2 -- sh -c '[ $TINYDSM_RANK = 1 ] && kill -USR1 $$; exec sleep 30' >/dev/null 2>&1
rc=$?
if [[ $rc == 138 && $((SECONDS - t0)) -lt 8 ]]; then ok "signal death ends the job: 138"
else bad "signal death" "rc=$rc after $((SECONDS - t0)) s"; fi
sleep 0.5
if pgrep -f "sleep 30" >/dev/null; then bad "no rank left" "$(pgrep -af 'sleep 30')"; else ok "no rank left"; fi

# The working directory.
mkdir -p "$dir/work dir"
chmod 755 "$dir/work dir"
out=$(cd "$dir/work dir" && runuser -u nobody -- "$ctl" run --socket "$dir/n1.sock" -n 2 --no-prefix -- pwd 2>&1)
[[ $(grep -cx "$dir/work dir" <<<"$out") == 2 ]] && ok "cwd with a blank" || bad "cwd" "$out"

# Another user: runs as nobody on both nodes; nobody cannot be root.
out=$(cd "$dir" && runuser -u nobody -- "$ctl" run --socket "$dir/n1.sock" -n 2 --no-prefix -- sh -c 'echo $(id -u) $(id -g) $TINYDSM_RANK' 2>&1)
nob=$(id -u nobody)
[[ $(grep -c "^$nob " <<<"$out") == 2 ]] && ok "ranks as the requesting user" || bad "as nobody" "$out"

# Root on another node: refused (run-allow-root no).
out=$(root1 -n 2 -- true 2>&1)
rc=$?
[[ $rc == 1 ]] && grep -q EPERM <<<"$out" && ok "root refused on another node" ||
	bad "root refused" "rc=$rc" "$out"
out=$(root1 --nodes node1 -n 2 -- id -u 2>&1)
[[ $? == 0 && $(grep -c '\] 0$' <<<"$out") == 2 ]] && ok "root on its own node" || bad "root local" "$out"

# Ctrl-C: every rank ends within the grace.
(cd "$dir" && exec runuser -u nobody -- "$ctl" run --socket "$dir/n1.sock" -n 4 -- sh -c 'trap "" TERM; echo up; exec sleep 60' >"$dir/int.out" 2>&1) &
cpid=$!
for ((i = 0; i < 50; i++)); do [[ $(grep -c up "$dir/int.out") == 4 ]] && break; sleep 0.1; done
"$ctl" job show --socket "$dir/n1.sock" >"$dir/jobs.txt" 2>&1
"$ctl" -j job show --socket "$dir/n2.sock" >"$dir/jobs2.txt" 2>&1
t0=$(date +%s%N)
pkill -INT -u nobody -x tinydsmctl
wait "$cpid"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
if [[ $rc == 130 && $ms -lt $((${TDSM_GRACE_MS:-1000} + 2000)) ]]; then ok "Ctrl-C: 130 after $ms ms"
else bad "Ctrl-C" "rc=$rc after $ms ms" "$(cat "$dir/int.out")"; fi
sleep 0.3
if pgrep -u nobody sleep >/dev/null; then bad "Ctrl-C leaves no rank" "$(pgrep -au nobody)"; else ok "Ctrl-C leaves no rank"; fi
if grep -q "nobody" "$dir/jobs.txt" && grep -q "node1:2,node2:2" "$dir/jobs.txt"; then ok "job show"
else bad "job show" "$(cat "$dir/jobs.txt")"; fi
grep -q '"coordinator":"node1"' "$dir/jobs2.txt" && ok "job show on the other node" ||
	bad "job show node2" "$(cat "$dir/jobs2.txt")"

# A program that does not exist: 127 and why.
out=$(run1 --nodes node1 -n 1 -- /no/such/program 2>&1)
rc=$?
[[ $rc == 127 ]] && grep -q "No such file" <<<"$out" && ok "exec failure: 127" ||
	bad "exec failure" "rc=$rc" "$out"

# A lot of output, from both nodes (as nobody: node2 runs no root ranks).
out=$(cd "$dir" && runuser -u nobody -- "$ctl" run --socket "$dir/n1.sock" -n 2 --no-prefix -- seq 1 100000 2>"$dir/seq.err" | wc -l)
dropped=$(grep -o '[0-9]* line(s) of output dropped' "$dir/seq.err" | awk '{s += $1} END {print s + 0}')
if [[ $((out + dropped)) == 200000 ]]; then ok "200000 lines: $out shown, $dropped dropped and said"
else bad "a lot of output" "$out lines, $dropped dropped" "$(head -5 "$dir/seq.err")"; fi

# A long line and a last line without a newline.
out=$(run1 --nodes node1 --no-prefix -- sh -c 'head -c 5000 /dev/zero | tr "\0" x; echo; printf end' 2>&1)
if [[ $(head -1 <<<"$out" | tr -d '\n' | wc -c) == 5000 && $(tail -1 <<<"$out") == end ]]; then ok "long line and unended line"
else bad "long line" "$(wc -c <<<"$out")"; fi

# Bad input: refused with a reason, never a crash.
run1 -n 0 -- true >/dev/null 2>&1; [[ $? == 2 ]] && ok "-n 0 is a usage error" || bad "-n 0"
out=$(run1 --nodes node9 -- true 2>&1); [[ $? == 1 ]] && grep -q ENOENT <<<"$out" && ok "unknown node" || bad "unknown node" "$out"
out=$(run1 --nodes node1,node1 -- true 2>&1); [[ $? == 1 ]] && grep -q EINVAL <<<"$out" && ok "node twice" || bad "node twice" "$out"
out=$(run1 -n 200 --nodes node1 -- true 2>&1); [[ $? == 1 ]] && grep -q EINVAL <<<"$out" && ok "too many ranks per node" || bad "too many" "$out"
big=$(head -c 20000 /dev/zero | tr '\0' y)
out=$(run1 -- echo "$big" 2>&1); [[ $? == 1 ]] && grep -q E2BIG <<<"$out" && ok "argument too long" || bad "arg too long" "$out"
# The raw socket: a forged uid is ignored, garbage refused.
out=$(cd "$dir" && printf 'run-begin nranks=1 nodes=node1 uid=0 gid=0\nrun-cwd v=/tmp\nrun-arg v=id\nrun-arg v=-u\nrun-env v=PATH=/usr/bin:/bin\nrun-go\n' |
	runuser -u nobody -- bash -c "$(declare -f raw); raw $dir/n1.sock" 2>&1)
grep -q "v=$nob" <<<"$out" && ok "forged uid= ignored (SO_PEERCRED wins)" || bad "forged uid" "$out"
# The root tinydsmctl makes: no rank before run-root, every rank gets it.
out=$(cd "$dir" && printf 'run-begin nranks=2 root=1\nrun-cwd v=/tmp\nrun-arg v=sh\nrun-arg v=-c\nrun-arg v=echo%%20root=$TINYDSM_ROOT\nrun-env v=PATH=/usr/bin:/bin\nrun-go\nrun-root addr=0x7f0000040000\n' |
	runuser -u nobody -- bash -c "$(declare -f raw); raw $dir/n1.sock" 2>&1)
[[ $(grep -c "v=root=0x7f0000040000" <<<"$out") == 2 ]] && grep -q "^ok .*status=0" <<<"$out" &&
	ok "run-root: every rank's TINYDSM_ROOT" || bad "run-root" "$out"
out=$(cd "$dir" && printf 'run-begin nranks=2 root=1\nrun-cwd v=/tmp\nrun-arg v=true\nrun-go\nrun-root addr=0x1001\n' |
	runuser -u nobody -- bash -c "$(declare -f raw); raw $dir/n1.sock" 2>&1)
grep -q "page-aligned" <<<"$out" && ! grep -q "^started" <<<"$out" &&
	ok "run-root: an unaligned root, no rank started" || bad "run-root unaligned" "$out"
out=$(printf 'run-root addr=0x7f0000040000\n' | raw "$dir/n1.sock" 2>&1)
grep -q "errno=EINVAL msg=run-root without a job" <<<"$out" && ok "run-root without a job" || bad "run-root alone" "$out"
out=$(printf 'run-arg v=x\n' | raw "$dir/n1.sock" 2>&1)
grep -q "errno=EINVAL" <<<"$out" && ok "run-arg without run-begin" || bad "no begin" "$out"
out=$(printf 'run-begin\nrun-cwd v=%%zz\nrun-arg v=true\nrun-go\n' | raw "$dir/n1.sock" 2>&1)
grep -q "errno=EINVAL" <<<"$out" && ok "malformed encoding" || bad "malformed encoding" "$out"
out=$(printf 'run-begin\nrun-cwd v=relative\nrun-arg v=true\nrun-go\n' | raw "$dir/n1.sock" 2>&1)
grep -q "errno=EINVAL msg=the working directory" <<<"$out" && ok "relative cwd" || bad "relative cwd" "$out"

# A node lost mid-job: 255, and node1's ranks end too.
(cd "$dir" && exec runuser -u nobody -- "$ctl" run --socket "$dir/n1.sock" -n 2 -- sh -c 'echo up; exec sleep 60' >"$dir/lost.out" 2>&1) &
cpid=$!
for ((i = 0; i < 50; i++)); do [[ $(grep -c up "$dir/lost.out") == 2 ]] && break; sleep 0.1; done
kill -TERM "${pids[1]}"
wait "${pids[1]}"
wait "$cpid"
rc=$?
[[ $rc == 255 ]] && grep -q "lost the connection" "$dir/lost.out" && ok "node lost: 255" ||
	bad "node lost" "rc=$rc" "$(cat "$dir/lost.out")"
sleep 0.5
if pgrep -u nobody sleep >/dev/null; then bad "node lost leaves no rank" "$(pgrep -au nobody)"; else ok "node lost leaves no rank"; fi

if ((fail)); then
	echo "# node1's log:"; tail -n 40 "$dir/n1.log" | sed 's/^/#   /'
	echo "# node2's log:"; tail -n 40 "$dir/n2.log" | sed 's/^/#   /'
fi
echo "$pass passed, $fail failed"
((fail == 0))
