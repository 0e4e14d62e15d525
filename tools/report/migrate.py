# SPDX-License-Identifier: GPL-2.0
"""make bench, the migration benchmark's table and derived figures
(tools/bench/README.md)."""
import math
import re
from common import (MIB, NAN, PAGE, BwBase, Csv, Env, Out, cf, div, failed_lines,
                    host_line, strtoul_prefix, verdict_ge)

MIG_MAX_SIZES = 8
MIG_MAX_REPS = 64


class MM:
    """Median, min, max of the measured values (NaNs left out)."""

    def __init__(self, values):
        s = sorted(v for v in values if not math.isnan(v))
        self.missing = len(values) - len(s)
        self.n = len(s)
        self.med = self.min = self.max = NAN
        if s:
            h = len(s) // 2
            self.med = s[h] if len(s) % 2 else (s[h - 1] + s[h]) / 2
            self.min, self.max = s[0], s[-1]


def winner(eager, lazy):
    if math.isnan(eager) or math.isnan(lazy):
        return "NOT MEASURED"
    return "eager wins" if eager < lazy else "lazy wins"


class Migrate:
    def __init__(self, files, csv_path, json_path, env_out):
        self.e = Env(files, 16384, full="die", prog="migrate_bench")
        self.o = Out()
        self.kver = self.e.str("kver")
        self.c = Csv(csv_path, self.kver or "", json_path)
        self.env_out = open(env_out, "a") if env_out else None
        self.missing = 0

    def derived(self, line):
        """A derived figure for bench.env (-E)."""
        if self.env_out:
            self.env_out.write(line + "\n")

    def rep_mm(self, reps, prefix, n, suffix):
        """One key of every repetition: lazy_1024_<r>_p1_ns ..."""
        return MM([self.e.num("%s_%d_%d%s" % (prefix, n, r + 1, suffix)) for r in range(reps)])

    def mig_pps(self, n, migs, clock):
        """Migration throughput of size n: kernel (nsec) or wall clock."""
        e = self.e
        return MM([div(e.num("mig_%d_%d_moved" % (n, i + 1)),
                       div(e.num("mig_%d_%d_%s" % (n, i + 1, clock)), 1e9)) for i in range(migs)])

    def pass_row(self, what, reps, prefix, n, pas):
        o = self.o
        t = self.rep_mm(reps, prefix, n, "_%s_ns" % pas)
        mf = self.rep_mm(reps, prefix, n, "_%s_minflt" % pas)
        rf = self.rep_mm(reps, prefix, n, "_%s_d_remote_faults" % pas)
        o.w("  %-44s" % what)
        o.pnum(t.med / 1e6, 9, 2)
        o.pnum(t.min / 1e6, 9, 2)
        o.pnum(t.max / 1e6, 9, 2)
        o.pnum(div(t.med / 1e3, n), 8, 2)
        o.pnum(mf.med, 7, 0)
        o.pnum(rf.med, 7, 0)
        o.w("\n")
        if t.missing or not t.n:
            self.missing += 1
        return t.med / 1e6

    def size(self, n, reps, bw_MBps, bw_mpps):
        e, o, c, d = self.e, self.o, self.c, self.derived
        migs = 2 * reps

        # ---- migration throughput
        kp = self.mig_pps(n, migs, "nsec")
        wp = self.mig_pps(n, migs, "wall_ns")
        ok_moved = sum(e.num("mig_%d_%d_moved" % (n, i + 1)) == float(n) for i in range(migs))
        o.w("\nmigration of %d pages (%s MiB), %d MIGRATEs alternating node2 -> node3 and back,\n"
            "node1's read copies invalidated each time (%d of %d moved every page)\n" % (
                n, cf(".1f", n * float(PAGE) / MIB), migs, ok_moved, migs))
        o.w("  %-26s %9s %9s %9s %9s %7s %7s %7s %-6s %s\n" % ("", "pages/s", "min", "max",
            "MB/s", "x bw", "x min", "x max", "target", "verdict"))
        for i, m in enumerate((kp, wp)):
            clk = "wall" if i else "kernel"
            mb = m.med * PAGE / MIB
            o.w("  %-26s" % ("wall clock around MIGRATE" if i else "kernel time (reply NSEC)"))
            o.pnum(m.med, 9, 1)
            o.pnum(m.min, 9, 1)
            o.pnum(m.max, 9, 1)
            o.pnum(mb, 9, 3)
            o.pnum(div(mb, bw_MBps), 7, 3)
            o.pnum(div(m.min * PAGE / MIB, bw_MBps), 7, 3)
            o.pnum(div(m.max * PAGE / MIB, bw_MBps), 7, 3)
            o.w(" %-6s %s\n" % (">= 0.7", verdict_ge(div(mb, bw_MBps), 0.7)))
            fig = "migrate_%d_%s" % (n, clk)
            c.row("migration", fig, "pages_per_s_p50", m.med, "1/s",
                  div(m.med / 1e6, bw_mpps), "ib_read_bw_msgrate", "", "")
            c.row("migration", fig, "pages_per_s_min", m.min, "1/s", NAN, "", "", "")
            c.row("migration", fig, "pages_per_s_max", m.max, "1/s", NAN, "", "", "")
            c.row("migration", fig, "MBps_p50", mb, "MB/s", div(mb, bw_MBps),
                  "ib_read_bw", ">=0.7", verdict_ge(div(mb, bw_MBps), 0.7))
            key = "mig_%d_%s" % (n, clk)
            d("%s_n=%d" % (key, m.n))
            d("%s_pps_p50=%s" % (key, cf(".1f", m.med)))
            d("%s_pps_min=%s" % (key, cf(".1f", m.min)))
            d("%s_pps_max=%s" % (key, cf(".1f", m.max)))
            d("%s_MBps_p50=%s" % (key, cf(".4f", mb)))
            d("%s_x_bw=%s" % (key, cf(".4f", div(mb, bw_MBps))))
            d("%s_verdict=%s" % (key, verdict_ge(div(mb, bw_MBps), 0.7)))
            if m.missing or m.n != migs:
                self.missing += 1
        if ok_moved != migs:
            self.missing += 1

        # ---- repopulation
        rw = self.rep_mm(reps, "eager", n, "_repop_wall_ns")
        rk = self.rep_mm(reps, "eager", n, "_repop_nsec")
        rfe = self.rep_mm(reps, "eager", n, "_repop_fetched")
        rma = self.rep_mm(reps, "eager", n, "_repop_mapped")
        o.w("\nrepopulation of the %d pages on node1 after a migration (%d runs each; times in ms)\n"
            % (n, reps))
        o.w("  %-44s %9s %9s %9s %8s %7s %7s\n" % ("", "p50", "min", "max",
            "us/page", "minflt", "remote"))
        l1 = self.pass_row("lazy: pass 1 (each page faults, from home)", reps, "lazy", n, "p1")
        l2 = self.pass_row("lazy: pass 2", reps, "lazy", n, "p2")
        for what, m in (("eager: REPOPULATE, wall clock", rw),
                        ("eager: REPOPULATE, kernel time (NSEC)", rk)):
            o.w("  %-44s" % what)
            o.pnum(m.med / 1e6, 9, 2)
            o.pnum(m.min / 1e6, 9, 2)
            o.pnum(m.max / 1e6, 9, 2)
            o.pnum(div(m.med / 1e3, n), 8, 2)
            if m is rw:
                o.w("  fetched %s, mapped %s\n" % (cf(".0f", rfe.med), cf(".0f", rma.med)))
            else:
                o.w("\n")
        e1 = self.pass_row("eager: pass 1 (no fault expected)", reps, "eager", n, "p1")
        e2 = self.pass_row("eager: pass 2", reps, "eager", n, "p2")
        if rw.missing or not rw.n:
            self.missing += 1
        repop = rw.med / 1e6

        # totals and break-even, from the medians
        fstar = div(repop, l1 - e1)
        o.w("  %-44s %9s %9s %9s\n" % ("totals (p50s)", "lazy", "eager", "e/l"))
        o.w("  %-44s" % "after 1 touch of every page")
        o.pnum(l1, 9, 2)
        o.pnum(repop + e1, 9, 2)
        o.pnum(div(repop + e1, l1), 9, 3)
        o.w("  %s\n" % winner(repop + e1, l1))
        o.w("  %-44s" % "after 2 touches of every page")
        o.pnum(l1 + l2, 9, 2)
        o.pnum(repop + e1 + e2, 9, 2)
        o.pnum(div(repop + e1 + e2, l1 + l2), 9, 3)
        o.w("  %s\n" % winner(repop + e1 + e2, l1 + l2))
        x = div(l1 - e1, n) * 1e3
        o.w("  break-even f* = REPOPULATE / (N x lazy fault) = %s ms / (%d x %s us) = %s:\n"
            "  %s %s %% of the pages\n" % (
                cf(".2f", repop), n, cf(".1f", x), cf(".3f", fstar),
                "eager wins when the application touches more than" if fstar <= 1 else
                "eager loses even when the application touches every page: f* >",
                cf(".1f", fstar * 100)))
        fig = "repop_%d" % n
        c.row("repopulation", fig, "lazy_pass1_ms", l1, "ms", NAN, "", "", "")
        c.row("repopulation", fig, "lazy_pass2_ms", l2, "ms", NAN, "", "", "")
        c.row("repopulation", fig, "eager_repopulate_ms", repop, "ms", div(repop, l1),
              "lazy_pass1", "", "")
        c.row("repopulation", fig, "eager_repopulate_kernel_ms", rk.med / 1e6, "ms",
              NAN, "", "", "")
        c.row("repopulation", fig, "eager_pass1_ms", e1, "ms", NAN, "", "", "")
        c.row("repopulation", fig, "eager_pass2_ms", e2, "ms", NAN, "", "", "")
        c.row("repopulation", fig, "lazy_fault_us", x, "us", NAN, "", "", "")
        c.row("repopulation", fig, "total_1_touch_ms", repop + e1, "ms",
              div(repop + e1, l1), "lazy_total_1_touch", "<1", winner(repop + e1, l1))
        c.row("repopulation", fig, "total_2_touches_ms", repop + e1 + e2, "ms",
              div(repop + e1 + e2, l1 + l2), "lazy_total_2_touches", "<1",
              winner(repop + e1 + e2, l1 + l2))
        c.row("repopulation", fig, "break_even_fraction", fstar, "", NAN, "", "", "")
        key = "repop_%d" % n
        for k, v, p in (("lazy_p1_ms", l1, 3), ("lazy_p2_ms", l2, 3), ("lazy_fault_us", x, 2),
                        ("eager_repop_ms", repop, 3), ("eager_repop_kernel_ms", rk.med / 1e6, 3),
                        ("eager_p1_ms", e1, 3), ("eager_p2_ms", e2, 3),
                        ("total1_lazy_ms", l1, 3), ("total1_eager_ms", repop + e1, 3),
                        ("total2_lazy_ms", l1 + l2, 3), ("total2_eager_ms", repop + e1 + e2, 3)):
            d("%s_%s=%s" % (key, k, cf(".%df" % p, v)))
        d("%s_verdict_1_touch=%s" % (key, winner(repop + e1, l1)))
        d("%s_verdict_2_touches=%s" % (key, winner(repop + e1 + e2, l1 + l2)))
        d("%s_break_even_fraction=%s" % (key, cf(".4f", fstar)))

    def report(self):
        e, o, c, d = self.e, self.o, self.c, self.derived
        sizes = []
        for tok in re.split(r"[ ,]+", e.or_("mig_sizes")):
            if tok and len(sizes) < MIG_MAX_SIZES:
                v, _ = strtoul_prefix(tok, 0)
                sizes.append(v or 0)
        r = e.num("mig_reps")
        reps = int(r) if not math.isnan(r) and abs(r) < 2 ** 31 else -(2 ** 31)
        if not sizes or reps < 1 or reps > MIG_MAX_REPS:
            o.w("migrate bench WARNING: no sizes or repetitions in the results (mig_sizes, mig_reps)\n")
            self.missing += 1
            reps = 0

        base = BwBase(e)
        pre_bw, post_bw, use_post, bw, bw_mpps = (base.pre, base.post, base.use_post,
                                                  base.MBps, base.mpps)
        lat = e.num("ib_read_lat_4k_typical_us")
        # perftest's MB: MsgRate x 4 KiB / BW average = 2^20 if MB = MiB
        unit = div(bw_mpps * 1e6 * PAGE, bw)
        o.w("tinydsm page-migration benchmark: kernel %s, %s nodes, %s\n" % (
            self.kver if self.kver is not None else "?", e.or_("nodes"), e.or_("date")))
        o.w("QEMU TCG guests, Soft-RoCE (rxe): only ratios within one run mean anything.\n")
        o.w("base = raw RDMA READ 4 KiB, perftest ib_read_bw (default queue depth), %s, this run:\n"
            % e.or_("baseline_pair"))
        o.w("  before %s MB/s, after %s MB/s: base = the higher, %s (%s MB/s = %s pages/s)\n" % (
            cf(".3f", pre_bw), cf(".3f", post_bw), "after" if use_post else "before",
            cf(".3f", bw), cf(".1f", bw * MIB / PAGE)))
        o.w("  unit: MsgRate %s Mpps x 4096 B / BW = %s B per MB" % (
            cf(".6f", bw_mpps), cf(".0f", unit)))
        o.w(" (%s)\n" % ("unit not checked" if math.isnan(unit) else
                         "MB = 2^20 B, as used here" if 0.98 < unit / MIB < 1.02 else
                         "WARNING: not 2^20: ratios below assume 2^20"))
        o.w("  ib_read_lat typical %s us (1 READ at a time: %s pages/s)\n" % (
            cf(".1f", lat), cf(".1f", div(1e6, lat))))
        o.w("MB/s below = 2^20 bytes/s, 4 KiB pages; x bw = MB/s / ib_read_bw MB/s.\n")
        c.row("migration", "ib_read_bw", "MBps", bw, "MB/s", 1.0, "ib_read_bw", "", "")
        c.row("migration", "ib_read_bw", "pages_per_s", bw_mpps * 1e6, "1/s", NAN, "", "", "")
        c.row("migration", "ib_read_lat", "typical", lat, "us", NAN, "", "", "")
        d("mig_ib_read_bw_MBps=%s" % cf(".4f", bw))
        d("mig_ib_read_bw_base=%s" % ("post" if use_post else "pre"))
        d("mig_pre_ib_read_bw_MBps=%s" % cf(".4f", pre_bw))
        d("mig_ib_read_bw_pps=%s" % cf(".1f", bw_mpps * 1e6))
        d("mig_ib_read_lat_typical_us=%s" % cf(".2f", lat))
        d("mig_post_ib_read_bw_MBps=%s" % cf(".4f", post_bw))
        if math.isnan(bw):
            self.missing += 1
        if reps:
            for n in sizes:
                self.size(n, reps, bw, bw_mpps)

        post_lat = e.num("post_ib_read_lat_4k_typical_us")
        if not math.isnan(post_bw):
            o.w("\ndrift check, perftest after everything else vs before: ib_read_bw %s MB/s (%sx),"
                " ib_read_lat typical %s us (%sx)\n" % (
                    cf(".3f", post_bw), cf(".2f", div(post_bw, pre_bw)),
                    cf(".1f", post_lat), cf(".2f", div(post_lat, lat))))
        c.row("drift", "mig_post_ib_read_bw", "MBps", post_bw, "MB/s", div(post_bw, pre_bw),
              "ib_read_bw_before", "", "")
        host_line(o, e, "run")

        o.w("\n")
        failed_lines(o, e, "migrate bench", "precondition/state")
        if e.str("phases_failed") is None:
            o.w("migrate bench WARNING: the run did not finish (no phases_failed line)\n")
        o.w("migrate bench figures_missing=%d\n" % self.missing)
        d("mig_figures_missing=%d" % self.missing)
        o.flush()
        c.close()
        if self.env_out:
            self.env_out.close()
        return 0
