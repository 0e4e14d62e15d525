#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tinydsm's remote-memory benchmark: a lab SCRIPT (selftests/lab/lab.sh
# --nodes 3, or 2 for a subset), run by tools/bench.sh. The figures and
# their exact definitions: tools/bench/README.md.
#
# node1 measures and drives; node2 is the home of the remote pages, the
# perftest server and the NVMe-oF target; node3 holds the extra read copies
# that some write faults must invalidate. Node1 hands nodes 2 and 3 their
# steps through files in TDSM_SHARED/bench (cmd.<node>.<seq>, answered by
# out.<node>.<seq> and rc.<node>.<seq>); they do nothing else, so that they
# stay idle while node1 times.
#
# Results (node1): TDSM_OUT/bench.env (key=value), bench.csv, summary.txt
# (the table, also printed), baseline-pre/ and baseline-post/ (perftest logs),
# samples/<figure>.ns (every timed access, in ns, in the order taken).
#
# Environment (forwarded from the host by lab.sh):
#   TDSM_BENCH_PAGES     timed pages (or blocks) per latency figure (500)
#   TDSM_BENCH_WARMUP    untimed accesses before each of them (8)
#   TDSM_BENCH_SEQ_PAGES pages (blocks) of the throughput figures (2000)
#   TDSM_BENCH_NVME      0 skips the NVMe-oF figures (1)
#   TDSM_BENCH_BREAKDOWN_PAGES  faults of each traced breakdown, 0: none (200)
#   TDSM_BASELINE_LAT_ITERS, TDSM_BASELINE_BW_ITERS: perftest iterations
#     (selftests/lab/rdma_baseline.sh, default 500 each)
set -uo pipefail

N=${TDSM_BENCH_PAGES:-500}
W=${TDSM_BENCH_WARMUP:-8}
SEQ=${TDSM_BENCH_SEQ_PAGES:-2000}
NVME=${TDSM_BENCH_NVME:-1}
BD=${TDSM_BENCH_BREAKDOWN_PAGES:-200}
NW=$((N + W))

ID=$TDSM_NODE_ID
NODES=$TDSM_NODES
TREE=$TDSM_TREE
RB=$TREE/build/tools/remote_bench
CTL=$TREE/build/tools/tinydsmctl
NVMEOF=$TREE/tools/bench/nvmeof.sh
SH=$TDSM_SHARED/bench
ENV=$TDSM_OUT/bench.env
STEP_TIMEOUT=${TDSM_BENCH_STEP_TIMEOUT:-300} # seconds, any one step

log() { printf '[%s +%ss] %s\n' "$(date +%T)" "$SECONDS" "$*"; }

# remote_bench, bounded in time like every step; raw samples to samples/
rb() { timeout "$STEP_TIMEOUT" "$RB" "$@"; }
rbd() { local c=$1; shift; rb "$c" -D "$TDSM_OUT/samples" "$@"; }

for f in "$RB" "$CTL"; do
	[[ -x $f ]] || { echo "remote_bench.sh: $f is not built"; exit 1; }
done
if ((NODES < 2)); then
	echo "remote_bench.sh: needs 2 or 3 nodes, have $NODES: skipping"
	exit 4
fi
mkdir -p "$SH" "$TDSM_OUT/samples"

# ---------------------------------------------------------------- peers
# Every node adds every other, waits (bounded) until its peers are up,
# and until every node saw that: tdsm_cluster_up.
# shellcheck source=selftests/tinydsm/cluster.sh
source "$TREE/selftests/tinydsm/cluster.sh"
# shellcheck source=tools/bench/agents.sh
source "$TREE/tools/bench/agents.sh"

# ---------------------------------------------------------------- agents
# Nodes 2 and 3 run node1's commands (agent).
((ID == 1)) || agent_node 1200

# ---------------------------------------------------------------- node1

# Node1's timed accesses, started in the background with -p (read every
# page first) -R/-G (then pause): the caller sets the other nodes up while
# node1 holds its read copies, then lets it go.
BG=
bg_start() { # bg_start LABEL ADDR NPAGES w EXTRA...
	local label=$1
	rm -f "$SH/$label.ready" "$SH/$label.go"
	rbd fault "$2" "$3" "$4" -p -R "$SH/$label.ready" -G "$SH/$label.go" -W "$W" \
		-l "$label" -e "$ENV" "${@:5}" >"$TDSM_OUT/$label.log" 2>&1 &
	BG=$!
	"$RB" waitfile "$STEP_TIMEOUT" "$SH/$label.ready" >/dev/null ||
		{ kill "$BG"; wait "$BG"; cat "$TDSM_OUT/$label.log"; return 1; }
}

bg_finish() { # bg_finish LABEL
	local rc
	touch "$SH/$1.go"
	wait "$BG"
	rc=$?
	cat "$TDSM_OUT/$1.log"
	return "$rc"
}

# ------------------------------------------------------------ the figures
# Copyset bitmaps: bit n = node n (0x2 node1, 0x4 node2, 0x8 node3).

# node2 is the home; node WRITER wrote the pages (owner WRITER, copyset
# COPYSET-PRE) and node1 reads each once. (ii) rd_remote: the home wrote
# them. rd_3hop: node3 did (the home holds no copy): the home forwards to
# node3, which sends node1 the page.
fig_rd() { # fig_rd LABEL WRITER COPYSET-PRE COPYSET-POST
	local label=$1 w=$2
	alloc 2 "$NW" || return 1
	rcall "$w" rb touch "$A" "$NW" w -t "$w" || return 1
	chk "$label.pre" 2 "$A" "$NW" -o "$w" -c "$3"
	rbd fault "$A" "$NW" r -W "$W" -v "$w" -l "$label" -e "$ENV" || return 1
	chk "$label.post" 2 "$A" "$NW" -o "$w" -c "$4"
}

# (iii) write: the home owns the pages, READERS (none: wr_miss0, wr_upg0;
# node3: wr_miss1, wr_upg1) hold read copies, node1 writes. miss: node1
# never touched the pages. upg (upgrade): node1 read them just before, in
# the same process (bg_start).
fig_wr() { # fig_wr miss|upg LABEL COPYSET READER...
	local how=$1 label=$2 cs=$3 r
	shift 3
	alloc 2 "$NW" || return 1
	if [[ $how == upg ]]; then
		bg_start "$label" "$A" "$NW" w -t 1 || return 1
	fi
	for r in "$@"; do
		rcall "$r" rb touch "$A" "$NW" r && continue
		[[ $how == upg ]] && bg_finish "$label"
		return 1
	done
	chk "$label.pre" 2 "$A" "$NW" -o 2 -c "$cs"
	if [[ $how == upg ]]; then
		bg_finish "$label" || return 1
	else
		rbd fault "$A" "$NW" w -W "$W" -t 1 -l "$label" -e "$ENV" || return 1
	fi
	chk "$label.post" 2 "$A" "$NW" -o 1 -c 0x2
}

# (iii) node1 is the home and owner and holds a read copy; READERS (node2,
# node3, ...) hold read copies too; node1 writes.
fig_wr_home() { # fig_wr_home LABEL COPYSET READER...
	local label=$1 cs=$2 r
	shift 2
	alloc 1 "$NW" || return 1
	bg_start "$label" "$A" "$NW" w -t 1 || return 1
	for r in "$@"; do
		rcall "$r" rb touch "$A" "$NW" r || { bg_finish "$label"; return 1; }
	done
	chk "$label.pre" 1 "$A" "$NW" -o 1 -c "$cs" -s 1
	bg_finish "$label" || return 1
	chk "$label.post" 1 "$A" "$NW" -o 1 -c 0x2 -s 2
}

# (v) node1 reads pages of its own slice: allocated (the frame is there),
# or never allocated (the fault allocates a zeroed frame). The latter come
# from the top of node1's slice, which the allocator hands out last.
fig_local() {
	local mb homes slice top
	alloc 1 "$NW" || return 1
	chk loc_rd.pre 1 "$A" "$NW" -o 1 -c 0x2 -s 1
	rbd fault "$A" "$NW" r -W "$W" -l loc_rd -e "$ENV" || return 1
	mb=$(cat /sys/module/tinydsm/parameters/region_size_mb 2>/dev/null || echo 256)
	homes=$(cat /sys/module/tinydsm/parameters/home_nodes 2>/dev/null ||
		cat /sys/module/tinydsm/parameters/max_nodes 2>/dev/null || echo 4)
	slice=$((mb * 256 / homes / 64 * 64))
	top=$(printf '%#x' $((0x400000000000 + (slice - NW) * 4096)))
	chk loc_rd_fresh.pre 1 "$top" "$NW" -o 0 -s 0
	rbd fault "$top" "$NW" r -W "$W" -l loc_rd_fresh -e "$ENV" || return 1
	rbd anon "$N" -W "$W" -e "$ENV"
}

# (iv) SEQ node2-homed pages written by node2, read by node1 in order.
fig_seq() {
	alloc 2 "$SEQ" || return 1
	rcall 2 rb touch "$A" "$SEQ" w -t 2 || return 1
	rb seq "$A" "$SEQ" -v 2 -l seq -e "$ENV"
}

# (i) The transport floor: N ECHOes to node2 (+W warm-up), each a page's
# round trip with no page's state in it (kmod/echo.c), timed by the module.
fig_floor() {
	rbd floor 2 "$N" -W "$W" -l floor -e "$ENV"
}

# The same with module parameter ready_buffers=0 on node1: each ECHO's
# buffer registered with its request (REG_MR waited for before the SEND),
# as every fault's was before buffers were registered ahead of need.
READY_PARAM=/sys/module/tinydsm/parameters/ready_buffers
fig_floor_reg() {
	local was rc=0
	was=$(cat "$READY_PARAM") || return 1
	echo 0 >"$READY_PARAM" || return 1
	rbd floor 2 "$N" -W "$W" -l floor_reg -e "$ENV" || rc=1
	echo "$was" >"$READY_PARAM" || rc=1
	return "$rc"
}

# (vii) The fault's breakdown (tools/bench/README.md): BD read faults as
# rd_remote's and BD write upgrades as wr_upg0's, on their own pages,
# with the steps traced on node1 and node2 (trace_steps.sh); steps.py
# matches the two buffers by request id. Apart from the timed figures:
# tracing costs each event some hundred ns.
TS=$TREE/tools/bench/trace_steps.sh
traced() { # traced NAME CMD ARGS...: CMD with both nodes tracing
	local name=$1 rc
	shift
	"$TS" on && rcall 2 "$TS" on || return 1
	"$@"
	rc=$?
	"$TS" save "$TDSM_OUT/trace-$name.node1" || rc=1
	rcall 2 "$TS" save "$SH/trace-$name.node2" || rc=1
	return "$rc"
}
fig_breakdown() {
	local r=$TREE/tools/report/report.py
	alloc 2 "$BD" || return 1
	rcall 2 rb touch "$A" "$BD" w -t 2 || return 1
	traced rd rb fault "$A" "$BD" r -W 0 -v 2 -l bd_rd_fault >/dev/null || return 1
	alloc 2 "$BD" || return 1
	bg_start bd_upg_fault "$A" "$BD" w -t 1 || return 1
	traced upg bg_finish bd_upg_fault >/dev/null || return 1
	{
		"$r" steps -e "$ENV" rd "$TDSM_OUT/trace-rd.node1" "$SH/trace-rd.node2" r &&
		"$r" steps -e "$ENV" upg "$TDSM_OUT/trace-upg.node1" "$SH/trace-upg.node2" w
	} | tee "$TDSM_OUT/breakdown.txt"
}

# (vi) NVMe-oF over RDMA: node2's brd RAM disk, read by node1.
NVME_UP=0 NVME_CONN=0
fig_nvme() {
	local fill=$((NW > SEQ ? NW : SEQ)) dev
	rcall 2 "$NVMEOF" target-up "$TDSM_IP_2" 16 "$fill" || return 1
	NVME_UP=1
	# the same reads on node2's own RAM disk: the block layer, no network
	rcall 2 rb blk-read /dev/ram0 "$N" -W "$W" -S "$SEQ" -l brd_rd -e "$SH/node2.env" || return 1
	dev=$("$NVMEOF" connect "$TDSM_IP_2") || return 1
	NVME_CONN=1
	log "NVMe-oF namespace: $dev"
	rbd blk-read "$dev" "$N" -W "$W" -S "$SEQ" -l nvme_rd -e "$ENV" || return 1
}

nvme_down() {
	local rc=0
	if ((NVME_CONN)); then "$NVMEOF" disconnect || rc=1; fi
	if ((NVME_UP)); then rcall 2 "$NVMEOF" target-down || rc=1; fi
	NVME_CONN=0 NVME_UP=0
	return "$rc"
}

# Whatever happens, let the agents go.
trap 'agents_exit' EXIT

: >"$ENV"
{
	echo "kver=$TDSM_KVER"
	echo "nodes=$NODES"
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "pages=$N"
	echo "warmup=$W"
	echo "seq_pages_cfg=$SEQ"
	echo "module_sha256=$(sha256sum "$TREE/build/$TDSM_KVER/tinydsm.ko" | cut -c1-16)"
} >>"$ENV"
log "remote_bench: $NODES nodes, $N timed pages per figure (+$W warm-up), $SEQ sequential"

phase connect tdsm_cluster_up || true
if [[ " ${FAILED_PHASES[*]} " == *" connect "* ]]; then
	touch "$SH/abort"
	exit 1
fi
log "peers up"

phase baseline-pre rdma_baseline_run pre
cat "$TDSM_OUT/baseline-pre/baseline.env" >>"$ENV" 2>/dev/null

phase floor fig_floor
phase floor_reg fig_floor_reg
phase rd_remote fig_rd rd_remote 2 0x4 0x6
((NODES >= 3)) && phase rd_3hop fig_rd rd_3hop 3 0x8 0xa
phase wr_miss0 fig_wr miss wr_miss0 0x4
phase wr_upg0 fig_wr upg wr_upg0 0x6
((NODES >= 3)) && phase wr_miss1 fig_wr miss wr_miss1 0xc 3
((NODES >= 3)) && phase wr_upg1 fig_wr upg wr_upg1 0xe 3
phase wr_home0 fig_wr_home wr_home0 0x2
phase wr_home1 fig_wr_home wr_home1 0x6 2
((NODES >= 3)) && phase wr_home2 fig_wr_home wr_home2 0xe 2 3
phase local fig_local
phase seq fig_seq
((BD > 0)) && phase breakdown fig_breakdown
if ((NVME)); then
	phase nvme fig_nvme
	phase nvme-down nvme_down
fi
phase baseline-post rdma_baseline_run post
sed 's/^/post_/' "$TDSM_OUT/baseline-post/baseline.env" >>"$ENV" 2>/dev/null

end_counters rb
cat "$SH/node2.env" >>"$ENV" 2>/dev/null
failures >>"$ENV"

echo
"$TREE/tools/report/report.py" remote -c "$TDSM_OUT/bench.csv" "$ENV" | tee "$TDSM_OUT/summary.txt"
if [[ -s $TDSM_OUT/breakdown.txt ]]; then
	echo
	echo "Where a remote fault's time goes (traced, node1 <- node2):"
	cat "$TDSM_OUT/breakdown.txt"
fi | tee -a "$TDSM_OUT/summary.txt"
none_failed
