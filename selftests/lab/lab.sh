#!/bin/bash
# tinydsm virtual-node lab: boot N QEMU guests (Debian's kernel, TCG) on one
# private VDE switch, each running SCRIPT from this repo as root, and decide
# pass/fail on the host.
#
#   selftests/lab/lab.sh [--kver KVER] [--nodes N] [--timeout SEC] [--out DIR]
#       [--mem MiB] [--smp N] [--no-module] [--module-args "k=v ..."]
#       [--no-key] SCRIPT [ARGS...]
#
# Every run has a fresh cluster key, $OUT/shared/cluster.key (mode 0600),
# which each guest gives its module right after loading it (tinydsmctl key
# set); SCRIPTs find it in TDSM_KEY_FILE. --no-key: neither (the module then
# connects to nobody, unless --module-args allow_unauthenticated=1).
#
# Exit: 0 pass, 4 skipped (a node's SCRIPT exited 4, nothing failed),
#       1 failure, 2 usage or missing prerequisite.
#
# Guest side: selftests/lab/init (initramfs /init: mounts the host root over
# 9p) and selftests/lab/guest.sh (node setup, SCRIPT, rmmod, dmesg).
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$LAB_DIR/../.." && pwd)

usage() {
	sed -n '6,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	[[ -n ${1:-} ]] && echo "lab.sh: $1" >&2
	exit 2
}
# Missing prerequisite: say what and which Debian package has it.
need() { echo "lab.sh: missing prerequisite: $1${2:+ (Debian package: $2)}" >&2; exit 2; }
msg() { echo "[lab] $*"; }

# ---------------------------------------------------------------- arguments
KVER='' NODES=1 TIMEOUT=300 OUT='' MEM=1024 SMP=1 NO_MODULE=0 MODULE_ARGS='' NO_KEY=0
while (($#)); do
	case $1 in
	--kver) KVER=${2:?}; shift 2 ;;
	--nodes) NODES=${2:?}; shift 2 ;;
	--timeout) TIMEOUT=${2:?}; shift 2 ;;
	--out) OUT=${2:?}; shift 2 ;;
	--mem) MEM=${2:?}; shift 2 ;;
	--smp) SMP=${2:?}; shift 2 ;;
	--no-module) NO_MODULE=1; shift ;;
	--module-args) MODULE_ARGS=${2?}; shift 2 ;;
	--no-key) NO_KEY=1; shift ;;
	-h | --help) usage ;;
	--) shift; break ;;
	-*) usage "unknown option $1" ;;
	*) break ;;
	esac
done
(($#)) || usage "SCRIPT missing"
SCRIPT=$1
shift
ARGS=("$@")

[[ $NODES =~ ^[1-3]$ ]] || usage "--nodes must be 1..3"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || usage "--timeout must be a positive number of seconds"
[[ $MEM =~ ^[1-9][0-9]*$ ]] || usage "--mem must be MiB"
[[ $SMP =~ ^[1-9][0-9]*$ ]] || usage "--smp must be a positive number"

# SCRIPT is relative to the repo top; accept an absolute path inside the tree.
[[ $SCRIPT == /* ]] && SCRIPT=$(realpath "$SCRIPT")
SCRIPT=${SCRIPT#"$TOP"/}
[[ $SCRIPT != /* && $SCRIPT != ../* ]] || usage "SCRIPT must be inside the repo ($TOP)"
[[ -f $TOP/$SCRIPT ]] || usage "SCRIPT $TOP/$SCRIPT does not exist"

# ------------------------------------------------------------ prerequisites
for c in qemu-system-x86_64:qemu-system-x86 vde_switch:vde2 cpio:cpio gzip:gzip \
	xz:xz-utils modprobe:kmod sha256sum:coreutils tail:coreutils socat:socat; do
	command -v "${c%%:*}" >/dev/null || need "command ${c%%:*}" "${c#*:}"
done
# The guest runs the host's own binaries; check the ones it relies on.
for c in /bin/bash:bash /usr/bin/dmesg:util-linux /sbin/ip:iproute2 /usr/bin/rdma:iproute2 \
	/sbin/insmod:kmod /usr/bin/ibv_devinfo:ibverbs-utils \
	/etc/libibverbs.d/rxe.driver:ibverbs-providers; do
	[[ -e ${c%%:*} ]] || need "${c%%:*}" "${c#*:}"
done
# The initramfs needs a busybox that runs without a libc.
BUSYBOX=/bin/busybox
[[ -x $BUSYBOX ]] || need "$BUSYBOX" busybox-static
[[ $(ldd "$BUSYBOX" 2>&1 || true) == *'not a dynamic executable'* ]] ||
	need "a statically linked $BUSYBOX (the busybox package's is dynamic)" busybox-static

# Kernel: the newest with both the image and the build dir (headers).
have_kver() { [[ -e /boot/vmlinuz-$1 && -d /lib/modules/$1/build ]]; }
if [[ -z $KVER ]]; then
	for v in $(find /lib/modules -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -rV); do
		if have_kver "$v"; then KVER=$v; break; fi
	done
	[[ -n $KVER ]] || need "an installed kernel with /boot/vmlinuz-<ver> and /lib/modules/<ver>/build" \
		"linux-image-amd64 + linux-headers-amd64"
fi
[[ -e /boot/vmlinuz-$KVER ]] || need "/boot/vmlinuz-$KVER" "linux-image-$KVER"
[[ -d /lib/modules/$KVER/build ]] || need "/lib/modules/$KVER/build" "linux-headers-$KVER"
[[ -r /boot/vmlinuz-$KVER ]] || need "read access to /boot/vmlinuz-$KVER (Debian installs it 0600: run as root)"
KO=$TOP/build/$KVER/tinydsm.ko
if ((!NO_MODULE)) && [[ ! -f $KO ]]; then
	echo "lab.sh: $KO does not exist: build the module for $KVER first, or pass --no-module" >&2
	exit 2
fi

# -------------------------------------------------------------- initramfs
# Built once per kernel, cached under build/lab/<KVER>/ (build/ is not
# committed), rebuilt when any input changes: /init, busybox, the modules.
# It holds only what is needed to mount the host root over 9p; everything
# else is loaded later with the host's own modprobe inside the guest.
INITRD_MODS=(virtio_pci 9pnet_virtio 9p)

initramfs() {
	local dir=$TOP/build/lab/$KVER m kw path files=() f stamp tmp
	mkdir -p "$dir"
	for m in "${INITRD_MODS[@]}"; do
		modprobe -S "$KVER" --show-depends "$m" >"$dir/.deps" 2>&1 ||
			need "module $m for $KVER: $(cat "$dir/.deps")" "linux-image-$KVER"
		while read -r kw path _; do
			# "builtin <mod>" needs nothing; "insmod <file>" in load order.
			[[ $kw == insmod ]] || continue
			[[ " ${files[*]} " == *" $path "* ]] || files+=("$path")
		done <"$dir/.deps"
	done
	rm -f "$dir/.deps"
	stamp=$( {
		sha256sum "$LAB_DIR/init" "$BUSYBOX"
		for f in "${files[@]}"; do stat -c '%n %s %Y' "$f"; done
	} | sha256sum | cut -d' ' -f1)
	INITRD=$dir/initramfs.cpio.gz
	if [[ -f $INITRD && $(cat "$dir/initramfs.stamp" 2>/dev/null) == "$stamp" ]]; then
		return
	fi
	msg "building $INITRD"
	tmp=$(mktemp -d "$dir/.root.XXXXXX")
	mkdir -p "$tmp"/{bin,dev,proc,sys,newroot,mods}
	cp "$BUSYBOX" "$tmp/bin/busybox"
	ln -s busybox "$tmp/bin/sh"
	cp "$LAB_DIR/init" "$tmp/init"
	chmod 755 "$tmp/init"
	: >"$tmp/modules.list"
	for f in "${files[@]}"; do
		m=$(basename "$f")
		# busybox insmod cannot read compressed modules: store them plain.
		case $f in
		*.ko.xz) m=${m%.xz}; xz -dc "$f" >"$tmp/mods/$m" ;;
		*.ko.zst) m=${m%.zst}; command -v zstd >/dev/null || need zstd zstd; zstd -qdc "$f" >"$tmp/mods/$m" ;;
		*.ko.gz) m=${m%.gz}; gzip -dc "$f" >"$tmp/mods/$m" ;;
		*) cp "$f" "$tmp/mods/$m" ;;
		esac
		echo "$m" >>"$tmp/modules.list"
	done
	f=$(mktemp "$dir/.initramfs.XXXXXX")
	(cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -6) >"$f"
	rm -rf "$tmp"
	chmod 644 "$f"
	mv -f "$f" "$INITRD" # atomic: a concurrent run sees the old or the new one
	echo "$stamp" >"$dir/initramfs.stamp"
}
initramfs

# ------------------------------------------------------------------- lock
# One lab at a time on this machine, whichever checkout starts it: TCG
# guests are timing-sensitive, and two labs on 2 cores make each other's
# peers time out. Held (fd 9) until this script exits.
LAB_LOCK=${TDSM_LAB_LOCK:-/run/lock/tinydsm-lab.lock}
exec 9>>"$LAB_LOCK" || need "a writable lock file $LAB_LOCK"
if ! flock -n 9; then
	msg "another lab is running ($LAB_LOCK); waiting for it"
	flock 9
fi

# ---------------------------------------------------------------- run dir
if [[ -z $OUT ]]; then
	OUT=$(mktemp -d /var/tmp/tinydsm-lab.XXXXXX)
else
	mkdir -p "$OUT"
	[[ -z $(ls -A "$OUT") ]] || usage "--out $OUT is not empty (stale results would be read as this run's)"
fi
OUT=$(realpath "$OUT")
mkdir -p "$OUT/shared" "$OUT/.lab"
for ((i = 1; i <= NODES; i++)); do mkdir -p "$OUT/node$i"; done
# The run's cluster key: 32 random bytes as 64 hex digits, readable by root
# only (the module's key file format, tools/lib/keyfile/keyfile.h).
if ((!NO_KEY)); then
	(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$OUT/shared/cluster.key" &&
		echo >>"$OUT/shared/cluster.key") || need "a cluster key in $OUT/shared"
fi
msg "kernel $KVER, $NODES node(s), timeout ${TIMEOUT}s, results in $OUT"

# What every guest needs to know, read by guest.sh (its node id comes from
# the kernel command line).
{
	printf 'LAB_NODES=%q\nLAB_KVER=%q\nLAB_NO_MODULE=%q\n' "$NODES" "$KVER" "$NO_MODULE"
	printf 'LAB_MODULE_ARGS=%q\nLAB_SCRIPT=%q\nLAB_NO_KEY=%q\n' "$MODULE_ARGS" "$SCRIPT" "$NO_KEY"
	printf 'LAB_ARGS=('
	((${#ARGS[@]})) && printf '%q ' "${ARGS[@]}"
	printf ')\n'
} >"$OUT/.lab/lab.env"
# The host's TDSM_* variables reach SCRIPT (e.g. iteration counts); the ones
# the lab sets itself (node id, addresses, dirs) override them in the guest.
for v in $(compgen -e TDSM_ || true); do
	printf 'export %s=%q\n' "$v" "${!v}"
done >"$OUT/.lab/forward.env"

# ---------------------------------------------------------------- cleanup
VDE_DIR=$OUT/vde
declare -a WRAPPER=() TAILS=()
# shellcheck disable=SC2317 # called from the traps
cleanup() {
	local i pid
	trap - EXIT INT TERM
	for ((i = 1; i <= NODES; i++)); do
		pid=$(cat "$OUT/node$i/qemu.pid" 2>/dev/null) || continue
		# SIGCONT first: a node frozen by a test would not see SIGTERM.
		[[ -e $OUT/node$i/qemu_exit ]] || { kill -CONT "$pid"; kill "$pid"; } 2>/dev/null || true
	done
	if [[ -f $VDE_DIR.pid ]]; then
		kill "$(cat "$VDE_DIR.pid")" 2>/dev/null || true
		rm -f "$VDE_DIR.pid"
	fi
	for pid in "${TAILS[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'echo "[lab] interrupted" >&2; exit 1' INT TERM

# ------------------------------------------------------------ switch, guests
LAB_DGRAM_QLEN=4096
# One private switch per run (its socket dir is in OUT): the guests see each
# other and nothing else; no host interface is attached to it.
(( ${#VDE_DIR} < 100 )) || usage "--out path too long for a unix socket ($VDE_DIR/ctl)"
# The switch and QEMU talk over unix datagram sockets, whose receive queue
# holds net.unix.max_dgram_qlen datagrams (10 by default); past that the
# switch drops frames for a guest that TCG has not got to yet. A batch's
# 64 page writes are a burst of some 260 frames: the drops made Soft-RoCE
# retransmit (out_of_seq_request at the receiver, completer_retry_err at
# the sender in <test>.net.txt), and on 6.12 a retransmission can kill the
# queue pair (README, "Known problems"). The length is read when a socket
# is made: raised, never lowered, before the switch and the guests start.
if (($(sysctl -n net.unix.max_dgram_qlen 2>/dev/null || echo 0) < LAB_DGRAM_QLEN)); then
	sysctl -q -w net.unix.max_dgram_qlen=$LAB_DGRAM_QLEN ||
		echo "[lab] could not raise net.unix.max_dgram_qlen: expect dropped frames under load" >&2
fi
vde_switch -s "$VDE_DIR" -p "$VDE_DIR.pid" -d
for ((t = 0; t < 50; t++)); do [[ -S $VDE_DIR/ctl ]] && break; sleep 0.1; done
[[ -S $VDE_DIR/ctl ]] || { echo "lab.sh: vde_switch did not start" >&2; exit 1; }

now_ms() { local t=${EPOCHREALTIME//[!0-9]/}; echo $((t / 1000)); }
secs() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }

# The debug kernel (selftests/lab/debug-kernel.sh) interprets ACPI's AML so
# slowly under TCG (KASAN, kmemleak, lockdep on every allocation) that the
# i440FX machine's PCI interrupt routing method (_PRT, a loop of 128 rounds)
# hits AML's 30 s loop timeout, again and again, and trips the soft-lockup
# detector at boot. The q35 machine's _PRT is a plain table: boot the debug
# kernel on q35. (KASAN reports are "BUG: KASAN: ...", caught by BUG: below.)
MACHINE=()
[[ $KVER == *-tdsm-debug ]] && MACHINE=(-M q35)

# qboot (shipped with QEMU) starts a -kernel guest about a second sooner than
# SeaBIOS under TCG; fall back to QEMU's default firmware without it.
BIOS=()
[[ -e /usr/share/qemu/qboot.rom ]] && BIOS=(-bios qboot.rom)

T0=$(now_ms)
for ((i = 1; i <= NODES; i++)); do
	nd=$OUT/node$i
	qemu=(qemu-system-x86_64 "${MACHINE[@]}" -accel tcg -cpu max -m "$MEM" -smp "$SMP"
		-nodefaults -nographic -no-reboot "${BIOS[@]}"
		-monitor "unix:$nd/monitor.sock,server=on,wait=off"
		-serial "file:$nd/console.log" -pidfile "$nd/qemu.pid"
		-kernel "/boot/vmlinuz-$KVER" -initrd "$INITRD"
		-append "console=ttyS0 quiet panic=-1 tdsm_node=$i"
		-netdev "vde,id=n0,sock=$VDE_DIR"
		-device "virtio-net-pci,netdev=n0,mac=52:54:00:77:00:0$i,romfile="
		-fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap"
		-device "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot"
		-fsdev "local,id=tree,path=$TOP,security_model=none,readonly=on,multidevs=remap"
		-device "virtio-9p-pci,fsdev=tree,mount_tag=tree"
		-fsdev "local,id=out,path=$OUT,security_model=none,multidevs=remap"
		-device "virtio-9p-pci,fsdev=out,mount_tag=out")
	# The wrapper records qemu's exit status, so the host sees the node stop.
	("${qemu[@]}" </dev/null >"$nd/qemu.log" 2>&1 9>&-; echo $? >"$nd/qemu_exit") 9>&- &
	WRAPPER[i]=$!
	# Live output: follow the node's output.log (on the out share) until
	# its qemu is gone.
	tail -n +1 -F --pid="${WRAPPER[i]}" "$nd/output.log" 2>/dev/null | sed -u "s/^/[node$i] /" &
	TAILS+=($!)
done

# ------------------------------------------------------- fault injection
# A guest asks the host to freeze a node (its own or another) by writing a
# number of seconds, 1..15, into .lab/freeze.<node> (TDSM_LAB_CTL in the
# guest). The host stops that node's qemu with SIGSTOP, and SIGCONTs it after
# the given time: to its peers the node stops answering, then comes back
# with its state as it was. .lab/thawed.<node> is written once it runs again.
# At most 15 s: the guest's own clock jumps by the time it was stopped, and
# a longer jump trips its soft-lockup and RCU-stall detectors (20 s, 21 s).
freeze_requests() {
	local f j secs pid
	for f in "$OUT"/.lab/freeze.[1-3]; do
		[[ -e $f ]] || continue
		j=${f##*.}
		secs=$(cat "$f" 2>/dev/null || true)
		# Created but not written yet (a writer without a rename): next poll.
		[[ -n $secs ]] || continue
		rm -f "$f" "$OUT/.lab/thawed.$j"
		pid=$(cat "$OUT/node$j/qemu.pid" 2>/dev/null || true)
		if [[ ! $secs =~ ^[1-9][0-9]*$ ]] || ((secs > 15)) || [[ -z $pid ]]; then
			msg "bad freeze request for node$j ('$secs'): ignored"
			continue
		fi
		msg "freezing node$j for ${secs}s (SIGSTOP)"
		kill -STOP "$pid" 2>/dev/null || continue
		(sleep "$secs"; kill -CONT "$pid" 2>/dev/null
		 echo "[lab] node$j thawed (SIGCONT)"; touch "$OUT/.lab/thawed.$j") 9>&- &
	done
}

# ------------------------------------------------------------ NIC stalls
# A guest whose virtio-net transmit queue stops for good says so in its
# kernel log ("NETDEV WATCHDOG", selftests/lab/nic_stalled.sh). Where the
# ring is stuck decides whose bug it is: requests the guest made available
# that QEMU never took (avail index ahead of QEMU's last_avail_idx) are
# QEMU's side; requests QEMU returned (used index) that the guest never
# reaped are the guest's. Ask QEMU's monitor twice, 10 s apart, into
# node<i>/nic_stall.txt.
hmp() { # hmp NODE COMMAND: its output, without the prompt and echo
	printf '%s\n' "$2" | socat -t 2 - "UNIX-CONNECT:$OUT/node$1/monitor.sock" 2>&1 |
		tr -d '\r' | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' | grep -av '^(qemu)\|^QEMU .* monitor' || true
}
last_hex() { [[ $1 =~ (0x[0-9a-f]+)[[:space:]]*$ ]] && echo $((BASH_REMATCH[1])) || echo '?'; }
# A ring as QEMU sees it, and its indexes as they are in guest memory: the
# avail ring is flags, idx, ring[num], used_event; the used ring is flags,
# idx, ring[num] (8 bytes each), avail_event.
ring_snapshot() { # ring_snapshot NODE DEV QUEUE
	local st num avail used
	st=$(hmp "$1" "info virtio-queue-status $2 $3")
	echo "$st"
	num=$(sed -n 's/^ *num: *\([0-9]*\)$/\1/p' <<<"$st")
	avail=$(sed -n 's/^ *avail: *\(0x[0-9a-f]*\)$/\1/p' <<<"$st")
	used=$(sed -n 's/^ *used: *\(0x[0-9a-f]*\)$/\1/p' <<<"$st")
	[[ -n $num && -n $avail && -n $used ]] || return 0
	local a ue u ae
	a=$(hmp "$1" "xp /2hx $avail" | cut -d: -f2)
	ue=$(hmp "$1" "xp /1hx $((avail + 4 + 2 * num))" | cut -d: -f2)
	u=$(hmp "$1" "xp /2hx $used" | cut -d: -f2)
	ae=$(hmp "$1" "xp /1hx $((used + 4 + 8 * num))" | cut -d: -f2)
	echo "  guest memory: avail flags, idx:$a; used_event:$ue; used flags, idx:$u; avail_event:$ae"
	# One line for selftests/run.sh's summary of a failed lab.
	echo "summary: queue $3: qemu last_avail_idx $(sed -n 's/^ *last_avail_idx: *//p' <<<"$st")," \
		"used_idx $(sed -n 's/^ *used_idx: *//p' <<<"$st"), inuse $(sed -n 's/^ *inuse: *//p' <<<"$st");" \
		"guest avail idx $(last_hex "$a"), used idx $(last_hex "$u"), used_event $(last_hex "$ue")," \
		"avail_event $(last_hex "$ae")"
}
nic_snapshot() { # nic_snapshot NODE
	local f=$OUT/node$1/nic_stall.txt dev round q
	dev=$(hmp "$1" 'info virtio' | sed -n 's/^\(\/machine\/[^ ]*\) \[virtio-net\]$/\1/p' | head -n 1)
	for round in 1 2; do
		{
			echo "=== host $(date -u +%T), round $round: $dev (queue 0 receives, 1 sends)"
			[[ -z $dev ]] || hmp "$1" "info virtio-status $dev"
			[[ -z $dev ]] || for q in 0 1; do ring_snapshot "$1" "$dev" "$q"; done
		} >>"$f"
		((round == 2)) || sleep 10
	done
}
# A queue stuck for NIC_STALL_MS does not come back (seen: 45 s, 140 s and
# counting): every test after it waits out its timeouts against a node
# that cannot answer. Once the snapshot is taken, stop the lab instead of
# running out its --timeout; the verdict says why.
NIC_STALL_MS=30000
declare -a NIC_SEEN=() NIC_SNAP=()
NIC_STALLED=
nic_stalls() { # returns 0 once a node's queue is stuck for good
	local i ms
	for ((i = 1; i <= NODES; i++)); do
		[[ ! -e $OUT/node$i/qemu_exit ]] || continue
		if [[ -z ${NIC_SEEN[i]:-} ]]; then
			grep -aq 'NETDEV WATCHDOG' "$OUT/node$i/dmesg.live" 2>/dev/null || continue
			NIC_SEEN[i]=1
			msg "node$i: its NIC stopped sending (NETDEV WATCHDOG); QEMU's view of it goes to node$i/nic_stall.txt"
			nic_snapshot "$i" 9>&- &
			NIC_SNAP[i]=$!
			continue
		fi
		# The snapshot is done, and the queue is still stuck.
		kill -0 "${NIC_SNAP[i]}" 2>/dev/null && continue
		ms=$(grep -a 'NETDEV WATCHDOG' "$OUT/node$i/dmesg.live" | tail -n 1 |
			sed -n 's/.* timed out \([0-9]*\) ms.*/\1/p')
		if [[ -n $ms ]] && ((ms >= NIC_STALL_MS)); then
			NIC_STALLED="node$i's NIC stopped sending: its transmit queue timed out $ms ms ago"
			return 0
		fi
	done
	return 1
}

# ------------------------------------------------------------------- watch
# Poll the nodes' marker files until every qemu has exited or the hard
# timeout hits. Boot time = qemu start to SCRIPT start, seen from the host.
declare -a T_READY=() T_START=() T_DONE=() BOOT=() STOPPED=()
DEADLINE=$((T0 + TIMEOUT * 1000))
while :; do
	now=$(now_ms)
	running=0
	for ((i = 1; i <= NODES; i++)); do
		nd=$OUT/node$i
		if [[ -e $nd/qemu_exit ]]; then
			STOPPED[i]=1
			# Stopped without finishing: let the other nodes stop waiting.
			[[ -e $nd/done || -e $OUT/.lab/dead.$i ]] || touch "$OUT/.lab/dead.$i"
			continue
		fi
		running=1
		if [[ -z ${T_READY[i]:-} && -e $nd/ready ]]; then
			T_READY[i]=$now
			msg "node$i set up after $(secs $((now - T0)))s (guest uptime $(cat "$nd/ready")s)"
		fi
		if [[ -z ${T_START[i]:-} && -e $nd/started ]]; then
			T_START[i]=$now
			BOOT[i]=$(secs $((now - T0)))
			msg "node$i SCRIPT started after ${BOOT[i]}s"
		fi
		if [[ -z ${T_DONE[i]:-} && -e $nd/done ]]; then T_DONE[i]=$now; fi
		# Finished but still running 20 s later: poweroff hung, stop it.
		if [[ -n ${T_DONE[i]:-} ]] && ((now - T_DONE[i] > 20000)); then
			msg "node$i finished but did not power off; killing its qemu"
			kill "$(cat "$nd/qemu.pid")" 2>/dev/null || true
		fi
	done
	((running)) || break
	freeze_requests
	if nic_stalls || ((now > DEADLINE)); then
		if [[ -n $NIC_STALLED ]]; then
			msg "$NIC_STALLED: stopping the guests"
		else
			msg "TIMEOUT after ${TIMEOUT}s: stopping the guests"
		fi
		for ((i = 1; i <= NODES; i++)); do
			pid=$(cat "$OUT/node$i/qemu.pid" 2>/dev/null) || continue
			[[ -e $OUT/node$i/qemu_exit ]] || { kill -CONT "$pid"; kill "$pid"; } 2>/dev/null || true
		done
		sleep 2
		for ((i = 1; i <= NODES; i++)); do
			[[ -e $OUT/node$i/qemu_exit ]] || kill -9 "$(cat "$OUT/node$i/qemu.pid" 2>/dev/null)" 2>/dev/null || true
		done
		break
	fi
	sleep 0.25
done
for pid in "${WRAPPER[@]}"; do wait "$pid" 2>/dev/null || true; done
WALL=$(secs $(($(now_ms) - T0)))
for pid in "${TAILS[@]}"; do wait "$pid" 2>/dev/null || true; done
TAILS=()

# ----------------------------------------------------------------- verdict
# Kernel log lines that fail a run. WARNING:/BUG:/kernel BUG/Call Trace/Oops
# are matched case-sensitively (a "Warning:" is often harmless, e.g. from
# ACPI); the rest case-insensitively (BAD_CI is lower case, matched against
# the lower-cased line).
BAD_CS='WARNING:|BUG:|kernel BUG|Call Trace|Oops|Kernel panic|INFO: task .* blocked'
BAD_CI='general protection|refcount_t|ubsan|possible circular locking|possible recursive locking|inconsistent lock state|lock held when returning|suspected memory leak|tinydsm.*leak|list_(add|del) corruption|odebug|detected stall|stack guard page'

FAIL=0 SKIP=0
for ((i = 1; i <= NODES; i++)); do
	nd=$OUT/node$i
	why=()
	rc=$(cat "$nd/rc" 2>/dev/null || true)
	if [[ -e $nd/setup_error ]]; then
		why+=("setup failed: $(cat "$nd/setup_error")")
	elif [[ -z $rc ]]; then
		if [[ -n ${STOPPED[i]:-} ]]; then why+=("guest stopped without an rc (see $nd/console.log)")
		elif [[ -n $NIC_STALLED ]]; then why+=("stopped: $NIC_STALLED")
		else why+=("timeout (no rc after ${TIMEOUT}s)"); fi
	elif [[ $rc == 4 ]]; then
		SKIP=1
	elif [[ $rc != 0 ]]; then
		why+=("SCRIPT exited $rc")
	fi
	if [[ -n $rc && ! -e $nd/done ]]; then
		# SCRIPT finished, the node did not: stuck waiting for the other
		# nodes, in rmmod, or died.
		if [[ -n ${STOPPED[i]:-} ]]; then why+=("guest stopped after SCRIPT exited, before rmmod/dmesg (see $nd/console.log)")
		else why+=("timeout after SCRIPT exited (waiting for other nodes, or in rmmod)"); fi
	elif [[ -n $rc ]] && ((!NO_MODULE)); then
		rr=$(cat "$nd/rmmod_rc" 2>/dev/null || true)
		[[ $rr == 0 ]] || why+=("rmmod tinydsm failed (${rr:-no exit code}): $(cat "$nd/rmmod.log" 2>/dev/null)")
	fi
	# The final dmesg, or what was streamed before the node stopped, plus
	# the serial console (it holds a panic that never reached a file).
	logs=("$nd/console.log")
	if [[ -s $nd/dmesg ]]; then
		logs+=("$nd/dmesg")
	elif [[ -s $nd/dmesg.live ]]; then
		logs+=("$nd/dmesg.live")
	fi
	if [[ -s $nd/kmemleak ]]; then
		why+=("kmemleak: $(grep -c '^unreferenced object' "$nd/kmemleak") suspected leaks ($nd/kmemleak)")
	fi
	bad=$(cat "${logs[@]}" 2>/dev/null | tr -d '\r' | awk -v cs="$BAD_CS" -v ci="$BAD_CI" \
		'$0 ~ cs || tolower($0) ~ ci' | LC_ALL=C sort -u || true)
	# Kept in node<i>/kernel_errors: selftests/run.sh's summary quotes it.
	printf '%s' "$bad" >"$nd/kernel_errors"
	if [[ -n $bad ]]; then
		why+=("kernel log has errors")
		echo "[lab] node$i: offending kernel log lines:"
		printf '%s\n' "$bad" | sed 's/^/    /'
	fi
	# Everything but the SCRIPT's own exit code, for callers that count the
	# SCRIPT's results themselves (selftests/run.sh).
	: >"$nd/lab_problems"
	for w in "${why[@]}"; do
		[[ $w == 'SCRIPT exited'* ]] || echo "$w" >>"$nd/lab_problems"
	done
	if ((${#why[@]})); then
		FAIL=1
		reasons=$(printf '%s; ' "${why[@]}")
		msg "node$i FAILED: ${reasons%; }"
		echo "[lab] node$i: last lines of $nd/output.log:"
		tail -n 30 "$nd/output.log" 2>/dev/null | sed 's/^/    /' || true
		[[ -e $nd/output.log ]] || tail -n 30 "$nd/console.log" 2>/dev/null | sed 's/^/    console: /' || true
	else
		msg "node$i ok (rc=$rc)"
	fi
done

msg "boot time (qemu start -> SCRIPT start): $(for ((i = 1; i <= NODES; i++)); do printf 'node%d=%ss ' "$i" "${BOOT[i]:-n/a}"; done)"
msg "wall time ${WALL}s, results in $OUT"
if ((FAIL)); then msg "RESULT: FAIL"; exit 1; fi
if ((SKIP)); then msg "RESULT: SKIP"; exit 4; fi
msg "RESULT: PASS"
exit 0
