# SPDX-License-Identifier: GPL-2.0
"""make bench, the allocator study's table (tools/bench/README.md, "The allocator study")."""
import math
from common import NAN, MIB, Csv, Env, Out, cf, div, failed_lines, fmt, host_line

STRATEGIES = ["page", "chunk", "arena"]
# What each strategy is, in the table's words.
WHAT = {
    "page": "one tdsm_alloc() per malloc, one tdsm_free() per free",
    "chunk": "a per-process allocator over 1 MiB chunks, one tdsm_alloc() each",
    "arena": "libtinydsm's heap, tdsm_malloc() / tdsm_mfree()",
}
BASE = "page"  # the ratios' base: the module's run allocator used as malloc


class Alloc:
    def __init__(self, files, csv_path, json_path):
        self.e = Env(files, 1024, prog="alloc_bench")
        self.o = Out()
        self.kver = self.e.str("kver")
        self.c = Csv(csv_path, self.kver or "", json_path)
        self.missing = 0
        self.warnings = []
        self.notes = []

    def num(self, s, key):
        return self.e.num("alloc_%s_%s" % (s, key))

    def row(self, figure, stat, value, unit, ratio=NAN, ratio_to=""):
        self.c.row("alloc", figure, stat, value, unit, ratio, ratio_to, "", "")

    def need(self, *values):
        """Count each of values that is not a number as a figure missing."""
        self.missing += sum(1 for v in values if math.isnan(v))

    def header(self):
        e, o = self.e, self.o
        o.w("tinydsm allocator study: kernel %s, %s nodes, %s\n" % (
            self.kver if self.kver is not None else "?", e.or_("nodes"), e.or_("date")))
        o.w("QEMU TCG guests, Soft-RoCE (rxe): only ratios within one run mean anything.\n")
        o.w("node%s alone, one strategy after another, each a job of one rank: %s threads x %s rounds"
            " x %s mallocs and frees, at most %s live blocks a thread;\n" % (
                e.or_("alloc_node"), e.or_("alloc_threads"), e.or_("alloc_rounds"),
                e.or_("alloc_ops"), e.or_("alloc_max_live")))
        o.w("sizes log-uniform, 16 B .. 4 KiB, and %s%% 4 KiB .. %s KiB, seed %s: the same"
            " workload for every strategy; every run homed on node%s.\n" % (
                e.or_("alloc_large_pct"), fmt(e.num("alloc_max_size") / 1024, 0),
                e.or_("alloc_seed"), e.or_("alloc_node")))
        for s in STRATEGIES:
            o.w("  %-6s %s\n" % (s, WHAT[s]))
        o.w("round trips = the strategy's TINYDSM_IOC_ALLOC + _FREE calls (not the release of what it"
            " holds at the end);\n")
        o.w("reserved/live = the most bytes of runs held / the most bytes of live blocks asked for;"
            " ns = the mean of every call;\n")
        o.w("remote faults = node%s's during the run (TINYDSM_IOC_STATS).\n\n" % e.or_("alloc_node"))

    def table(self):
        o = self.o
        o.w("  %-8s %9s %12s %11s %14s %10s %10s %14s\n" % (
            "strategy", "mallocs", "round trips", "mallocs/rt", "reserved/live",
            "ns/malloc", "ns/free", "remote faults"))
        base_rt = self.num(BASE, "round_trips")
        base_mns = self.num(BASE, "malloc_ns_mean")
        base_fns = self.num(BASE, "free_ns_mean")
        for s in STRATEGIES:
            m, rt = self.num(s, "mallocs"), self.num(s, "round_trips")
            per = div(m, rt)
            rl = div(self.num(s, "peak_reserved_bytes"), self.num(s, "peak_live_bytes"))
            mns, fns = self.num(s, "malloc_ns_mean"), self.num(s, "free_ns_mean")
            rf = self.num(s, "d_remote_faults")
            o.w("  %-8s" % s)
            o.pnum(m, 9, 0)
            o.pnum(rt, 12, 0)
            o.pnum(per, 11, 3)
            o.pnum(rl, 14, 3)
            o.pnum(mns, 10, 1)
            o.pnum(fns, 10, 1)
            o.pnum(rf, 14, 0)
            o.w("\n")
            self.need(m, rt, rl, mns, fns, rf)
            self.row(s, "mallocs", m, "count")
            self.row(s, "round_trips", rt, "count", div(rt, base_rt), "%s_round_trips" % BASE)
            self.row(s, "mallocs_per_round_trip", per, "mallocs")
            self.row(s, "reserved_per_live", rl, "ratio")
            self.row(s, "malloc_ns_mean", mns, "ns", div(mns, base_mns), "%s_malloc_ns_mean" % BASE)
            self.row(s, "free_ns_mean", fns, "ns", div(fns, base_fns), "%s_free_ns_mean" % BASE)
            self.row(s, "remote_faults", rf, "faults")

    def details(self):
        o = self.o
        o.w("\nround trips against page's (ALLOCs + FREEs): ")
        base_rt = self.num(BASE, "round_trips")
        o.w(", ".join("%s %s x" % (s, fmt(div(self.num(s, "round_trips"), base_rt), 4))
                      for s in STRATEGIES if s != BASE))
        o.w("\nmemory, the most held and the most live (MiB), and held at the end (runs, MiB:"
            " the teardown's FREEs):\n")
        for s in STRATEGIES:
            res, live = self.num(s, "peak_reserved_bytes"), self.num(s, "peak_live_bytes")
            runs, held = self.num(s, "held_runs_end"), self.num(s, "held_bytes_end")
            o.w("  %-8s held %s, live %s; at the end %s runs, %s\n" % (
                s, fmt(res / MIB, 2), fmt(live / MIB, 2), fmt(runs, 0), fmt(held / MIB, 2)))
            self.row(s, "peak_reserved", res / MIB, "MiB")
            self.row(s, "peak_live", live / MIB, "MiB")
        o.w("time, ns a call: the mean, p50 and p99 of every malloc and free; the whole run"
            " (s: the workload with its fills and checks):\n")
        for s in STRATEGIES:
            wall = self.num(s, "wall_ns") / 1e9
            o.w("  %-8s malloc %s (p50 %s, p99 %s), free %s (p50 %s, p99 %s); run %s s\n" % (
                s, fmt(self.num(s, "malloc_ns_mean"), 1), fmt(self.num(s, "malloc_ns_p50"), 0),
                fmt(self.num(s, "malloc_ns_p99"), 0), fmt(self.num(s, "free_ns_mean"), 1),
                fmt(self.num(s, "free_ns_p50"), 0), fmt(self.num(s, "free_ns_p99"), 0),
                fmt(wall, 3)))
            self.row(s, "malloc_ns_p50", self.num(s, "malloc_ns_p50"), "ns")
            self.row(s, "free_ns_p50", self.num(s, "free_ns_p50"), "ns")
            self.row(s, "run_s", wall, "s")
        o.w("node%s's remote faults, before and after each run: %s\n" % (
            self.e.or_("alloc_node"), ", ".join(
                "%s %s -> %s" % (s, fmt(self.num(s, "remote_faults_before"), 0),
                                 fmt(self.num(s, "remote_faults_after"), 0))
                for s in STRATEGIES)))
        o.w("node%s's write faults during each run (first touches of the runs' pages, mostly): %s\n" % (
            self.e.or_("alloc_node"), ", ".join(
                "%s %s" % (s, fmt(self.num(s, "d_write_faults"), 0)) for s in STRATEGIES)))
        for s in STRATEGIES:
            self.row(s, "write_faults", self.num(s, "d_write_faults"), "faults")

    def checks(self):
        """What the figures' names say must hold, else a WARNING (the run fails)."""
        w = self.warnings
        counts = {}
        for s in STRATEGIES:
            rc = self.num(s, "rc")
            if not math.isnan(rc) and rc != 0:
                w.append("%s: alloc_bench exited %s" % (s, fmt(rc, 0)))
            err = self.num(s, "errors")
            if not math.isnan(err) and err != 0:
                w.append("%s: %s blocks changed, overlapped or outside the region" % (s, fmt(err, 0)))
            m, f = self.num(s, "mallocs"), self.num(s, "frees")
            if not math.isnan(m) and not math.isnan(f) and m != f:
                w.append("%s: %s mallocs, %s frees: not everything was freed" % (
                    s, fmt(m, 0), fmt(f, 0)))
            for k in ("live_bytes_end", "live_blocks_end"):
                v = self.num(s, k)
                if not math.isnan(v) and v != 0:
                    w.append("%s: %s=%s at the end, not 0" % (s, k, fmt(v, 0)))
            if not math.isnan(m):
                counts[s] = m
            rf = self.num(s, "d_remote_faults")
            if not math.isnan(rf) and rf != 0:
                self.notes.append("%s: %s remote faults during the run, though every run is homed"
                                  " on node%s" % (s, fmt(rf, 0), self.e.or_("alloc_node")))
        m, f = self.num("page", "mallocs"), self.num("page", "frees")
        a, fr = self.num("page", "allocs"), self.num("page", "run_frees")
        if not any(math.isnan(v) for v in (m, f, a, fr)) and (a != m or fr != f):
            w.append("page: %s ALLOCs and %s FREEs for %s mallocs and %s frees, not one each" % (
                fmt(a, 0), fmt(fr, 0), fmt(m, 0), fmt(f, 0)))
        m, f = self.num("arena", "mallocs"), self.num("arena", "frees")
        hm, hf = self.num("arena", "heap_mallocs"), self.num("arena", "heap_frees")
        use = self.num("arena", "heap_in_use_end")
        if not any(math.isnan(v) for v in (m, f, hm, hf, use)) and (m != hm or f != hf or use):
            w.append("arena: the heap counts %s mallocs, %s frees, %s bytes in use at the end;"
                     " the program made %s and %s" % (fmt(hm, 0), fmt(hf, 0), fmt(use, 0),
                                                      fmt(m, 0), fmt(f, 0)))
        if len(set(counts.values())) > 1:
            w.append("the strategies' malloc counts differ (%s): not the same workload" % ", ".join(
                "%s %s" % (s, fmt(v, 0)) for s, v in counts.items()))

    def report(self):
        o = self.o
        self.header()
        self.table()
        self.details()
        host_line(o, self.e, "run")
        o.w("\n")
        self.checks()
        for n in self.notes:
            o.w("alloc bench note: %s\n" % n)
        for w in self.warnings:
            o.w("alloc bench WARNING: %s\n" % w)
        failed_lines(o, self.e, "alloc bench", "precondition")
        if self.e.str("phases_failed") is None:
            o.w("alloc bench WARNING: the run did not finish (no phases_failed line)\n")
        o.w("alloc bench mallocs_per_round_trip %s\n" % " ".join(
            "%s=%s" % (s, cf(".4f", div(self.num(s, "mallocs"), self.num(s, "round_trips"))))
            for s in STRATEGIES))
        o.w("alloc bench figures_missing=%d\n" % self.missing)
        o.flush()
        self.c.close()
        return 0
