# SPDX-License-Identifier: GPL-2.0
"""make bench, the remote-memory benchmark's table (tools/bench/README.md)."""
import math
from common import (Csv, Env, NAN, Out, cf, div, failed_lines, fmt, host_line, verdict_ge,
                    verdict_le)

# The latency figures, in table order: key prefix and what it is.
REMOTE_LAT_ROWS = [
    ("floor", "(i) transport floor: ECHO, SEND + 4 KiB WRITE + SEND"),
    ("floor_reg", "     the same, buffer registered with the request"),
    ("rd_remote", "(ii) read fault, node2-homed page written by node2"),
    ("rd_3hop", "     read fault, node2-homed page owned by node3"),
    ("wr_miss0", "(iii) write, 0 readers: no copy here, home owns it"),
    ("wr_upg0", "(iii) write, 0 readers: upgrade of node1's read copy"),
    ("wr_miss1", "(iii) write, 1 reader (node3): no copy here"),
    ("wr_upg1", "(iii) write, 1 reader (node3): upgrade of read copy"),
    ("wr_home0", "(iii) write at home, 0 readers (local upgrade)"),
    ("wr_home1", "(iii) write at home, 1 reader (node2)"),
    ("wr_home2", "(iii) write at home, 2 readers (node2, node3)"),
    ("loc_rd", "(v) local read fault, node1-homed allocated page"),
    ("loc_rd_fresh", "(v) local read fault, never-allocated page"),
    ("anon_rd", "(v) anonymous memory, first read (zero page)"),
    ("anon_wr", "(v) anonymous memory, first write (new page)"),
    ("nvme_rd", "(vi) NVMe-oF/RDMA 4 KiB O_DIRECT read"),
    ("brd_rd", "     node2 local brd 4 KiB O_DIRECT read"),
]

REMOTE_TPUT_ROWS = [
    ("seq", "(iv) tinydsm sequential first-touch reads"),
    ("nvme_rd_seq", "(vi) NVMe-oF sequential 4 KiB O_DIRECT reads"),
    ("brd_rd_seq", "     node2 local brd sequential reads"),
]


def prec_for(x):
    return 1 if math.isnan(x) or x >= 100 else 2


def raw_lat_row(o, c, e, key, figure, what, factor, lat, ratios):
    """One row of a perftest latency baseline other than the base
    (selftests/lab/rdma_baseline.sh: keys KEY_4k_{typical,p99,min,avg}_us,
    KEY_iters): its figures times factor, with ratios to the base if
    ratios; CSV figure FIGURE. Its p50, NaN if not measured."""
    p50, p99 = factor * e.num(key + "_4k_typical_us"), factor * e.num(key + "_4k_p99_us")
    mn, mean = factor * e.num(key + "_4k_min_us"), factor * e.num(key + "_4k_avg_us")
    n = e.str(key + "_iters")
    o.w("%-52s %5s" % (what, "-" if n is None else n))
    for x in (p50, p99, mn, mean):
        o.pnum(x, 9, prec_for(x))
    r = [div(x, lat) if ratios else NAN for x in (p50, p99, mn, mean)]
    if ratios:
        o.pnum(r[0], 7, 4 if r[0] < 0.1 else 2)
        o.pnum(r[1], 7, 4 if r[1] < 0.1 else 2)
    o.w("\n")
    for stat, x, ratio in zip(("p50", "p99", "min", "mean"), (p50, p99, mn, mean), r):
        c.row("latency", figure, stat, x, "us", ratio, "ib_read_lat_typical" if ratios else "",
              "", "")
    return p50


def report_remote(files, csv_path, json_path):
    e = Env(files, 1024)
    o = Out()
    kver = e.str("kver")
    c = Csv(csv_path, kver or "", json_path)
    missing = 0
    lat = e.num("ib_read_lat_4k_typical_us")
    lat_p99 = e.num("ib_read_lat_4k_p99_us")
    bw = e.num("ib_read_bw_4k_MBps")
    post_lat = e.num("post_ib_read_lat_4k_typical_us")
    post_bw = e.num("post_ib_read_bw_4k_MBps")

    o.w("tinydsm remote-memory benchmark: kernel %s, %s nodes, %s\n" % (
        kver if kver is not None else "?", e.or_("nodes"), e.or_("date")))
    o.w("QEMU TCG guests, Soft-RoCE (rxe): only ratios within one run mean anything.\n")
    o.w("base = raw RDMA READ 4 KiB, perftest ib_read_lat typical, node1 -> node2, this run.\n\n")

    o.w("%-52s %5s %9s %9s %9s %9s %7s %7s\n" % ("latency (us, one 4 KiB page/block each)",
        "n", "p50", "p99", "min", "mean", "p50/b", "p99/b"))
    o.w("%-52s %5s" % ("(i) raw RDMA READ, ib_read_lat (p50 = typical)", e.or_("ib_read_lat_iters")))
    o.pnum(lat, 9, 1)
    o.pnum(lat_p99, 9, 1)
    o.pnum(e.num("ib_read_lat_4k_min_us"), 9, 1)
    o.pnum(e.num("ib_read_lat_4k_avg_us"), 9, 1)
    o.pnum(1.0, 7, 2)
    o.pnum(div(lat_p99, lat), 7, 2)
    o.w("\n")
    base = "ib_read_lat_typical"
    c.row("latency", "ib_read_lat", "p50", lat, "us", 1.0, base, "", "")
    c.row("latency", "ib_read_lat", "p99", lat_p99, "us", div(lat_p99, lat), base, "", "")
    mn = e.num("ib_read_lat_4k_min_us")
    c.row("latency", "ib_read_lat", "min", mn, "us", div(mn, lat), base, "", "")
    if math.isnan(lat):
        missing += 1
    # the other raw latencies of the same run: ib_send_lat prints half the
    # round trip (one way), every figure of it; the next row doubles them
    o.w("(i) raw SEND 4 KiB ping-pong, ib_send_lat (round trip = 2 x typical)\n")
    send = raw_lat_row(o, c, e, "ib_send_lat", "ib_send_lat",
                       "     as perftest prints it: one way = round trip / 2", 1.0, lat, False)
    raw_lat_row(o, c, e, "ib_send_lat", "ib_send_lat_rtt",
                "     round trip = 2 x perftest's (p50 = 2 x typical)", 2.0, lat, True)
    lat_ev = raw_lat_row(o, c, e, "ib_read_lat_ev", "ib_read_lat_ev",
                         "(i) raw RDMA READ, completion events, ib_read_lat -e", 1.0, lat, True)
    missing += math.isnan(send) + math.isnan(lat_ev)
    for k, what in REMOTE_LAT_ROWS:
        p50, p99 = e.num(k + "_p50_us"), e.num(k + "_p99_us")
        mn, mean = e.num(k + "_min_us"), e.num(k + "_mean_us")
        o.w("%-52s" % what)
        n = e.num(k + "_n")
        o.w(" %5s" % "-" if math.isnan(n) else " " + cf("5.0f", n))
        for x in (p50, p99, mn, mean):
            o.pnum(x, 9, prec_for(x))
        r50, r99 = div(p50, lat), div(p99, lat)
        o.pnum(r50, 7, 4 if r50 < 0.1 else 2)
        o.pnum(r99, 7, 4 if r99 < 0.1 else 2)
        o.w("\n")
        c.row("latency", k, "p50", p50, "us", r50, base, "", "")
        c.row("latency", k, "p99", p99, "us", r99, base, "", "")
        c.row("latency", k, "min", mn, "us", div(mn, lat), base, "", "")
        c.row("latency", k, "mean", mean, "us", div(mean, lat), base, "", "")
        if math.isnan(p50):
            missing += 1

    if e.num("host_cores") < e.num("nodes"):
        o.w("note: the rows with node3 (owned by node3, 1 reader, 2 readers) keep 3 guests busy\n"
            "on %s host cores; the others 2 at most. They pay for the shared cores too.\n"
            % e.or_("host_cores"))
    o.w("\n%-52s %6s %9s %9s %9s %7s\n" % ("throughput (one access at a time)",
        "ops", "secs", "ops/s", "MB/s", "x bw"))
    o.w("%-52s %6s %9s" % ("(i) raw RDMA READ 4 KiB, ib_read_bw (queued)",
        e.or_("ib_read_bw_iters"), ""))
    o.pnum(bw * 1048576.0 / 4096, 9, 1)
    o.pnum(bw, 9, 3)
    o.pnum(1.0, 7, 3)
    o.w("\n")
    c.row("throughput", "ib_read_bw", "MBps", bw, "MB/s", 1.0, "ib_read_bw", "", "")
    x = div(4096.0 / 1048576.0, div(lat, 1e6))
    o.w("%-52s %6s %9s" % ("     1 RDMA READ at a time: 4 KiB / ib_read_lat", "", ""))
    o.pnum(div(1e6, lat), 9, 1)
    o.pnum(x, 9, 3)
    o.pnum(div(x, bw), 7, 3)
    o.w("\n")
    c.row("throughput", "ib_read_lat_serial", "MBps", x, "MB/s", div(x, bw), "ib_read_bw", "", "")
    if math.isnan(bw):
        missing += 1
    for k, what in REMOTE_TPUT_ROWS:
        mbps = e.num(k + "_MBps")
        o.w("%-52s" % what)
        o.pnum(e.num(k + "_pages"), 6, 0)
        o.pnum(e.num(k + "_secs"), 9, 2)
        o.pnum(e.num(k + "_ops_per_s"), 9, 1)
        o.pnum(mbps, 9, 3)
        o.pnum(div(mbps, bw), 7, 3)
        o.w("\n")
        c.row("throughput", k, "MBps", mbps, "MB/s", div(mbps, bw), "ib_read_bw", "", "")
        c.row("throughput", k, "ops_per_s", e.num(k + "_ops_per_s"), "1/s", NAN, "", "", "")
        if math.isnan(mbps):
            missing += 1
    if not math.isnan(post_lat) or not math.isnan(post_bw):
        o.w("\ndrift check, perftest again after everything else: ib_read_lat typical %s us"
            " (%sx base), ib_read_bw %s MB/s (%sx)\n" % (
                cf(".1f", post_lat), cf(".2f", div(post_lat, lat)),
                cf(".3f", post_bw), cf(".2f", div(post_bw, bw))))
    post_send = 2.0 * e.num("post_ib_send_lat_4k_typical_us")
    post_lat_ev = e.num("post_ib_read_lat_ev_4k_typical_us")
    if not math.isnan(post_send) or not math.isnan(post_lat_ev):
        def drift(x, before):
            return "n/a" if math.isnan(x) else "%s us (%sx before)" % (
                cf(".1f", x), fmt(div(x, before), 2))
        o.w("drift check, the other two: ib_send_lat round trip %s, ib_read_lat -e typical %s\n"
            % (drift(post_send, 2.0 * send), drift(post_lat_ev, lat_ev)))
    x = host_line(o, e, "run")
    c.row("host", "foreign_qemu_max", "count", x, "", NAN, "", "", "")
    c.row("drift", "post_ib_read_lat", "p50", post_lat, "us", div(post_lat, lat), base, "", "")
    c.row("drift", "post_ib_read_bw", "MBps", post_bw, "MB/s", div(post_bw, bw), "ib_read_bw", "", "")
    c.row("drift", "post_ib_send_lat_rtt", "p50", post_send, "us", div(post_send, 2.0 * send),
          "ib_send_lat_rtt_typical", "", "")
    c.row("drift", "post_ib_read_lat_ev", "p50", post_lat_ev, "us", div(post_lat_ev, lat_ev),
          "ib_read_lat_ev_typical", "", "")

    loc = e.num("loc_rd_p50_us")
    nvme = e.num("nvme_rd_p50_us")
    rd50, rd99 = e.num("rd_remote_p50_us"), e.num("rd_remote_p99_us")
    floor = e.num("floor_p50_us")
    upg50 = e.num("wr_upg0_p50_us")
    # the fault path's targets: key, what, <= or >=, limit, value
    targets = [
        ("rd_p50_x_nvme", "remote read fault p50 / NVMe-oF read p50", "<=", 0.7,
         div(rd50, nvme)),
        ("rd_p50_x_floor", "remote read fault p50 / transport floor p50", "<=", 1.5,
         div(rd50, floor)),
        ("rd_p50_x_lat", "remote read fault p50 / ib_read_lat typical", "<=", 1.5,
         div(rd50, lat)),
        ("upg_p50_x_lat", "write upgrade (wr_upg0) p50 / ib_read_lat typical", "<=", 1.2,
         div(upg50, lat)),
        ("rd_p99_x_lat", "remote read fault p99 / ib_read_lat typical", "<=", 3.0,
         div(rd99, lat)),
        ("seq_x_bw", "sequential first-touch reads / ib_read_bw, MB/s", ">=", 0.5,
         div(e.num("seq_MBps"), bw)),
    ]
    o.w("\n%-52s %9s %9s  %s\n" % ("targets (tinydsm's performance goals)",
        "measured", "target", "verdict"))
    verdicts = []
    for name, what, op, limit, value in targets:
        v = verdict_le(value, limit) if op == "<=" else verdict_ge(value, limit)
        verdicts.append(v)
        o.w("%-52s" % what)
        o.pnum(value, 9, 2)
        o.w(" %9s  %s\n" % ("%s %s" % (op, cf(".2f", limit)), v))
        c.row("target", name, "ratio", value, "x", NAN, "",
              cf(".2f", limit) if op == "<=" else ">=" + cf(".2f", limit), v)
    o.w("  for scale: remote p99 / raw p99 =")
    o.pnum(div(rd99, lat_p99), 0, 2)
    o.w("; remote p99 / NVMe-oF p99 =")
    o.pnum(div(rd99, e.num("nvme_rd_p99_us")), 0, 2)
    o.w("\n  remote p50 - raw READ typical =")
    o.pnum(rd50 - lat, 0, 1)
    o.w(" us; local fault p50 =")
    o.pnum(loc, 0, 2)
    o.w(" us\n  (remote p50 - raw READ typical) / local fault p50 =")
    o.pnum(div(rd50 - lat, loc), 0, 2)
    o.w("\n  remote p50 / ib_read_lat -e typical =")
    o.pnum(div(rd50, lat_ev), 0, 2)
    o.w("; remote p50 / ib_send_lat round trip =")
    o.pnum(div(rd50, 2.0 * send), 0, 2)
    o.w("\n")

    # key=value lines for scripts
    o.w("\n")
    for (name, what, op, limit, value), v in zip(targets, verdicts):
        o.w("bench %s=%s %s_verdict=%s\n" % (name, cf(".4f", value), name, v))
    failed_lines(o, e, "bench", "precondition/counter")
    o.w("bench figures_missing=%d\n" % missing)
    o.flush()
    c.close()
    return 0
