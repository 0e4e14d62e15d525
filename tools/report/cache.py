# SPDX-License-Identifier: GPL-2.0
"""make bench, the bounded-cache benchmark's table (tools/bench/README.md)."""
import math
from common import (MIB, NAN, PAGE, BwBase, Csv, Env, Out, div, failed_lines, fmt, host_line,
                    verdict_ge)

TARGET = 0.7  # streaming with eviction, pages/s / ib_read_bw msgs/s, at least

# The table's rows: the stream and pass (the keys' prefix) and what it is.
ROWS = [
    ("cache_on_p1", "eviction on (budget B): pass 1"),
    ("cache_on_p2", "eviction on: pass 2"),
    ("cache_off_p1", "eviction off (unlimited): pass 1"),
    ("cache_off_p2", "eviction off: pass 2 (copies kept)"),
]
BASE_ROW = "cache_off_p1"  # the latencies' base: every page faults, no eviction


def times(x):
    """ "1.23x", or "n/a" """
    return "n/a" if math.isnan(x) else fmt(x, 2) + "x"


class Cache:
    def __init__(self, files, csv_path, json_path):
        self.e = Env(files, 1024, prog="cache_bench")
        self.o = Out()
        self.kver = self.e.str("kver")
        self.c = Csv(csv_path, self.kver or "", json_path)
        self.missing = 0
        self.warnings = []

    def row(self, figure, stat, value, unit, ratio=NAN, ratio_to="", limit="", verdict=""):
        self.c.row("cache", figure, stat, value, unit, ratio, ratio_to, limit, verdict)

    def need(self, *values):
        """Count a figure missing if any of values is not a number."""
        if any(math.isnan(v) for v in values):
            self.missing += 1

    def stream_rows(self, base_mps):
        e, o = self.e, self.o
        b50, b99 = e.num(BASE_ROW + "_p50_us"), e.num(BASE_ROW + "_p99_us")
        o.w("  %-36s %9s %6s %9s %9s %7s %7s %7s %7s %7s\n" % (
            "stream (every word read, checked)", "pages/s", "x bw", "p50 us", "p99 us",
            "x off", "x off", "faults", "evicted", "cached"))
        o.w("  %-36s %9s %6s %9s %9s %7s %7s %7s %7s %7s\n" % (
            "", "", "", "per page", "per page", "p50", "p99", "", "", "at most"))
        for key, what in ROWS:
            pps, p50, p99 = e.num(key + "_pps"), e.num(key + "_p50_us"), e.num(key + "_p99_us")
            o.w("  %-36s" % what)
            o.pnum(pps, 9, 1)
            o.pnum(div(pps, base_mps), 6, 3)
            o.pnum(p50, 9, 1)
            o.pnum(p99, 9, 1)
            o.pnum(div(p50, b50), 7, 2)
            o.pnum(div(p99, b99), 7, 2)
            o.pnum(e.num(key + "_d_remote_faults"), 7, 0)
            o.pnum(e.num(key + "_d_evicted_clean"), 7, 0)
            o.pnum(e.num(key + "_cached_pages_max"), 7, 0)
            o.w("\n")
            self.need(pps, p50, p99)
            self.row(key, "pages_per_s", pps, "1/s", div(pps, base_mps), "ib_read_bw_msgrate")
            self.row(key, "page_p50_us", p50, "us", div(p50, b50), BASE_ROW + "_p50")
            self.row(key, "page_p99_us", p99, "us", div(p99, b99), BASE_ROW + "_p99")

    def checks(self, n, budget):
        """What the figures' names say must hold, else a WARNING (the run fails)."""
        e, w = self.e, self.warnings
        for s in ("cache_on", "cache_off", "cache_wb"):
            bad = e.num(s + "_bad_words")
            if not math.isnan(bad) and bad != 0:
                w.append("%s: %s words read wrong: the data is wrong" % (s, fmt(bad, 0)))
        on_b, off_b = e.num("cache_on_budget_pages"), e.num("cache_off_budget_pages")
        if not math.isnan(on_b) and on_b != budget:
            w.append("cache_on: the budget was %s pages, not B = %s" % (
                fmt(on_b, 0), fmt(budget, 0)))
        if not math.isnan(off_b) and off_b != 0:
            w.append("cache_off: the budget was %s pages, not unlimited" % fmt(off_b, 0))
        ev = e.num("cache_on_d_evicted_clean")
        if not math.isnan(ev) and ev == 0:
            w.append("cache_on: no copy was evicted: the budget did nothing")
        ev = e.num("cache_off_d_evicted_clean")
        if not math.isnan(ev) and ev != 0:
            w.append("cache_off: %s copies evicted without a budget" % fmt(ev, 0))
        wb_b = e.num("cache_wb_budget_pages")
        if not math.isnan(wb_b) and wb_b != budget:
            w.append("cache_wb: the budget was %s pages, not B = %s" % (
                fmt(wb_b, 0), fmt(budget, 0)))
        wb, rel = e.num("cache_wb_d_evicted_written"), e.num("cache_wb_d_evict_released")
        if not math.isnan(wb) and wb == 0:
            w.append("cache_wb: no page was written back: the budget did nothing")
        if not math.isnan(wb) and not math.isnan(rel) and rel < wb:
            w.append("cache_wb: %s pages written back, only %s frames released" % (
                fmt(wb, 0), fmt(rel, 0)))
        if e.str("cache_wb_home_check") == "failed":
            w.append("cache_wb: node2 did not read back what node1 wrote")
        for key in [k for k, _ in ROWS[:3]] + ["cache_wb_p1", "cache_wb_p2"]:
            f = e.num(key + "_d_remote_faults")
            if not math.isnan(f) and f < n / 2:
                w.append("%s: %s remote faults for %d pages: not a first-touch stream" % (
                    key, fmt(f, 0), n))

    def writeback(self, base_mps):
        e, o = self.e, self.o
        if e.str("cache_wb_pages") is None:
            o.w("write-back throughput: NOT MEASURED (the run did not get there)\n")
            self.row("cache_wb", "written_back_per_s", NAN, "1/s", verdict="NOT MEASURED")
            self.missing += 1
            return
        secs = e.num("cache_wb_p1_secs") + e.num("cache_wb_p2_secs")
        wb = e.num("cache_wb_d_evicted_written")
        rel, bad = e.num("cache_wb_d_evict_released"), e.num("cache_wb_d_evict_failed")
        o.w("write-back, a dirty stream (every word of a third set written, 2 passes) with"
            " budget B:\n")
        for p in (1, 2):
            k = "cache_wb_p%d" % p
            pps = e.num(k + "_pps")
            o.w("  pass %d %s pages/s (%s x bw), per page p50 %s us, p99 %s us, "
                "%s written back\n" % (
                    p, fmt(pps, 1), fmt(div(pps, base_mps), 3),
                    fmt(e.num(k + "_p50_us"), 1), fmt(e.num(k + "_p99_us"), 1),
                    fmt(e.num(k + "_d_evicted_written"), 0)))
            self.row(k, "pages_per_s", pps, "1/s", div(pps, base_mps), "ib_read_bw_msgrate")
            self.need(pps)
        o.w("  written back: %s pages in %s s = %s pages/s (%s x bw); %s frames released,"
            " %s write-backs failed\n" % (
                fmt(wb, 0), fmt(secs, 3), fmt(div(wb, secs), 1),
                fmt(div(div(wb, secs), base_mps), 3), fmt(rel, 0), fmt(bad, 0)))
        check = e.str("cache_wb_home_check")
        o.w("  node2 read every word back: %s\n" % {
            "ok": "ok", "failed": "FAILED (wrong words, or no answer: node2's log)"}.get(
                check, "not done"))
        self.row("cache_wb", "written_back_per_s", div(wb, secs), "1/s",
                 div(div(wb, secs), base_mps), "ib_read_bw_msgrate")
        for stat, v in (("evicted_written", wb), ("evict_released", rel),
                        ("evict_failed", bad)):
            self.row("cache_wb", stat, v, "")
        self.need(div(wb, secs), rel, bad)
        if check is None:
            self.missing += 1

    def report(self):
        e, o = self.e, self.o
        mb = e.num("cache_mb")
        n = mb * MIB / PAGE
        budget = e.num("cache_budget_mb") * MIB / PAGE
        base = BwBase(e)
        base_mps = base.mpps * 1e6
        lat = e.num("ib_read_lat_4k_typical_us")
        o.w("tinydsm cache benchmark: kernel %s, %s nodes, %s\n" % (
            self.kver if self.kver is not None else "?", e.or_("nodes"), e.or_("date")))
        o.w("QEMU TCG guests, Soft-RoCE (rxe): only ratios within one run mean anything.\n")
        o.w("data set D = %s pages (%s MiB), homed and written by node2; node1 reads every word"
            " of it, checked,\n" % (fmt(n, 0), fmt(mb, 1)))
        o.w("in address order, 2 passes, with budget B = %s pages (%s MiB, D/4), then a second"
            " such set unlimited;\nthen node1 writes every word of a third set, 2 passes,"
            " with budget B, and node2 reads it back, checked\n" % (
                fmt(budget, 0), fmt(budget * PAGE / MIB, 1)))
        o.w("base = raw RDMA READ 4 KiB, perftest ib_read_bw (default queue depth), %s, this run:\n"
            % e.or_("baseline_pair"))
        o.w("  before %s MB/s, after %s MB/s: base = the higher, %s: %s Mpps = %s pages/s\n" % (
            fmt(base.pre, 3), fmt(base.post, 3), "after" if base.use_post else "before",
            fmt(base.mpps, 6), fmt(base_mps, 1)))
        o.w("  ib_read_lat typical %s us (1 READ at a time: %s pages/s)\n" % (
            fmt(lat, 1), fmt(div(1e6, lat), 1)))
        o.w("x bw = pages/s / ib_read_bw pages/s; x off = the page time / eviction off, pass 1.\n\n")
        self.row("ib_read_bw", "MBps", base.MBps, "MB/s", 1.0, "ib_read_bw")
        self.row("ib_read_bw", "msgs_per_s", base_mps, "1/s")
        self.row("ib_read_lat", "typical", lat, "us")
        self.need(base_mps, n, budget)
        self.stream_rows(base_mps)

        # the target: the eviction-on stream as a whole
        secs = e.num("cache_on_p1_secs") + e.num("cache_on_p2_secs")
        pps = div(2 * n, secs)
        x = div(pps, base_mps)
        o.w("\nstreaming with eviction, both passes: %s pages/s = %s x ib_read_bw"
            " (target >= %s): %s\n" % (fmt(pps, 1), fmt(x, 3), fmt(TARGET, 1),
                                       verdict_ge(x, TARGET)))
        self.row("cache_on", "pages_per_s", pps, "1/s", x, "ib_read_bw_msgrate",
                 ">=%s" % fmt(TARGET, 1), verdict_ge(x, TARGET))
        p50, p99 = e.num("cache_on_p2_p50_us"), e.num("cache_on_p2_p99_us")
        b50, b99 = e.num(BASE_ROW + "_p50_us"), e.num(BASE_ROW + "_p99_us")
        o.w("fault latency with eviction / without (per page: on, pass 2 / off, pass 1):"
            " p50 %s, p99 %s\n" % (times(div(p50, b50)), times(div(p99, b99))))
        self.row("cache_on", "latency_p50_x_off", div(p50, b50), "")
        self.row("cache_on", "latency_p99_x_off", div(p99, b99), "")

        # the eviction's own counters over the eviction-on stream
        ev = e.num("cache_on_d_evicted_clean")
        nb, bp = e.num("cache_on_d_evict_batches"), e.num("cache_on_d_evict_batch_pages")
        runs, rns = e.num("cache_on_d_reclaim_runs"), e.num("cache_on_d_reclaim_ns")
        cmax = max((e.num(k + "_cached_pages_max") for k in ("cache_on_p1", "cache_on_p2")),
                   key=lambda v: -1 if math.isnan(v) else v)
        o.w("eviction, both passes: %s clean copies dropped, %s EVICTV batches of %s pages"
            " on average,\n  %s reclaim runs of %s ms on average; cached pages at most %s"
            " (budget %s)\n" % (
                fmt(ev, 0), fmt(nb, 0), fmt(div(bp, nb), 1), fmt(runs, 0),
                fmt(div(rns, runs) / 1e6, 3), fmt(cmax, 0), fmt(budget, 0)))
        for stat, v, unit in (("evicted_clean", ev, ""), ("evict_batches", nb, ""),
                              ("mean_batch_pages", div(bp, nb), ""),
                              ("reclaim_runs", runs, ""),
                              ("mean_reclaim_ms", div(rns, runs) / 1e6, "ms"),
                              ("cached_pages_max", cmax, "")):
            self.row("cache_on", stat, v, unit)
        self.need(ev, nb, bp, runs, rns)
        self.writeback(base_mps)

        post_lat = e.num("post_ib_read_lat_4k_typical_us")
        if not math.isnan(base.post):
            o.w("drift check, perftest after everything else vs before: ib_read_bw %s MB/s (%sx),"
                " ib_read_lat typical %s us (%sx)\n" % (
                    fmt(base.post, 3), fmt(div(base.post, base.pre), 2),
                    fmt(post_lat, 1), fmt(div(post_lat, lat), 2)))
        self.c.row("drift", "cache_post_ib_read_bw", "MBps", base.post, "MB/s",
                   div(base.post, base.pre), "ib_read_bw_before", "", "")
        host_line(o, e, "run")

        o.w("\n")
        self.checks(n, budget)
        for w in self.warnings:
            o.w("cache bench WARNING: %s\n" % w)
        failed_lines(o, e, "cache bench", "precondition")
        if e.str("phases_failed") is None:
            o.w("cache bench WARNING: the run did not finish (no phases_failed line)\n")
        o.w("cache bench figures_missing=%d\n" % self.missing)
        o.flush()
        self.c.close()
        return 0
