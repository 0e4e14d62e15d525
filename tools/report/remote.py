# SPDX-License-Identifier: GPL-2.0
"""make bench, the remote-memory benchmark's table (tools/bench/README.md)."""
import math
from common import Csv, Env, NAN, Out, cf, div, failed_lines, host_line, verdict_le

# The latency figures, in table order: key prefix and what it is.
REMOTE_LAT_ROWS = [
    ("floor", "(i) transport floor: ECHO, SEND + 4 KiB WRITE + SEND"),
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
    x = host_line(o, e, "run")
    c.row("host", "foreign_qemu_max", "count", x, "", NAN, "", "", "")
    c.row("drift", "post_ib_read_lat", "p50", post_lat, "us", div(post_lat, lat), base, "", "")
    c.row("drift", "post_ib_read_bw", "MBps", post_bw, "MB/s", div(post_bw, bw), "ib_read_bw", "", "")

    loc = e.num("loc_rd_p50_us")
    nvme = e.num("nvme_rd_p50_us")
    rd50, rd99 = e.num("rd_remote_p50_us"), e.num("rd_remote_p99_us")
    floor = e.num("floor_p50_us")
    targets = [
        ("rd_p50_x_lat", "remote read fault p50 / ib_read_lat typical", "<= 1.10",
         div(rd50, lat), 1.1),
        ("rd_p99_x_lat", "remote read fault p99 / ib_read_lat typical", "<= 1.50",
         div(rd99, lat), 1.5),
        ("rd_overhead_x_local", "(remote p50 - ib_read_lat typ.) / local fault p50", "<= 5.00",
         div(rd50 - lat, loc), 5.0),
        ("rd_p50_x_nvme", "remote read fault p50 / NVMe-oF read p50", "<= 0.80",
         div(rd50, nvme), 0.8),
        ("rd_p50_x_floor", "remote read fault p50 / transport floor p50", "<= 1.50",
         div(rd50, floor), 1.5),
    ]
    o.w("\n%-52s %9s %9s  %s\n" % ("targets (tinydsm's performance goals)",
        "measured", "target", "verdict"))
    for name, what, limit_txt, value, limit in targets:
        o.w("%-52s" % what)
        o.pnum(value, 9, 2)
        o.w(" %9s  %s\n" % (limit_txt, verdict_le(value, limit)))
        c.row("target", name, "ratio", value, "x", NAN, "", limit_txt[3:], verdict_le(value, limit))
    o.w("  for scale: remote p99 / raw p99 =")
    o.pnum(div(rd99, lat_p99), 0, 2)
    o.w("; remote p99 / NVMe-oF p99 =")
    o.pnum(div(rd99, e.num("nvme_rd_p99_us")), 0, 2)
    o.w("\n  remote p50 - raw READ typical =")
    o.pnum(rd50 - lat, 0, 1)
    o.w(" us; local fault p50 =")
    o.pnum(loc, 0, 2)
    o.w(" us\n")

    # key=value lines for scripts
    o.w("\n")
    for name, what, limit_txt, value, limit in targets:
        o.w("bench %s=%s %s_verdict=%s\n" % (name, cf(".4f", value), name,
                                             verdict_le(value, limit)))
    failed_lines(o, e, "bench", "precondition/counter")
    o.w("bench figures_missing=%d\n" % missing)
    o.flush()
    c.close()
    return 0
