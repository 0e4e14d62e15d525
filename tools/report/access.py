# SPDX-License-Identifier: GPL-2.0
"""make bench, the access-site benchmark's table (tools/bench/README.md)."""
import math
from common import Csv, Env, INF, NAN, Out, cf, div, fmt, host_line, strtoul_prefix, verdict_le

ACC_PATS = ("seq", "rnd")
ACC_MAX_SIZES = 16
# The rows of the (a) table: key, label, the key of its base, target (0: none).
ACC_ROWS = [
    ("plain", "plain", None, 0),
    ("direct", "direct", "plain", 1.02),
    ("lookup", "lookup", "plain2", 3.0),
    ("plaindsm", "plain/dsm", "plain", 0),
    ("plain2", "plain (2)", None, 0),
    ("directrw", "direct(rw)", "plain2", 1.02),
]
ACC_NMAIN = 3  # the rows above the line
# callgrind: a lookup site's instructions on a local page, at most this
# many times a plain access's (the timed cells keep 3.0: TCG makes a jump
# cost more than its one instruction)
CG_LOOKUP_X = 2.0
# remote: the lookup site's word access p50 / ib_read_lat typical, at most
REM_LOOKUP_TARGET = 1.2
PAGE_INVALID, PAGE_SHARED = 0, 1  # enum tinydsm_page_state, uapi/linux/tinydsm.h


def sizes_of(s):
    """The working sets, MiB: strtoul() until a word is not a number."""
    sizes = []
    while s and len(sizes) < ACC_MAX_SIZES:
        v, rest = strtoul_prefix(s, 10)
        if v is None:
            break
        sizes.append(v)
        s = rest
    return sizes


class Worst:
    def __init__(self):
        self.ratio, self.where, self.missed, self.measured = 0.0, "", 0, 0

    def verdict(self, not_measured="NOT MEASURED"):
        if not self.measured:
            return not_measured
        return "MISSED" if self.missed else "MET"


class Access:
    def __init__(self, files, csv_path, json_path):
        self.e = Env(files, 2048, strip_key=False, prog="access_bench")
        self.o = Out()
        s = self.e.str("acc_kver")
        self.kver = s
        self.c = Csv(csv_path, s or "", json_path)

    def row(self, figure, stat, value, unit, ratio, ratio_to, limit, verdict):
        self.c.row("access", figure, stat, value, unit, ratio, ratio_to, limit, verdict)

    def cell(self, v, ratio, with_ratio):
        """ "  12.34 (1.00x)" or n/a, 15 columns"""
        if math.isnan(v):
            b = "n/a"
        elif not with_ratio:
            b = cf(".2f", v)
        elif math.isnan(ratio):
            b = "%s (n/a)" % cf(".2f", v)
        else:
            b = "%s (%sx)" % (cf(".2f", v), cf(".%df" % (2 if ratio < 10 else 1), ratio))
        self.o.w(" %15s" % b)

    def local_table(self, p, title, verdicts):
        """The (a) table for one set of timings (prefix p: "acc_" the lab
        guest, "accnat_" native on the host); per row with a target, the
        worst cell (with verdicts, the verdicts also in the CSV)."""
        e, o = self.e, self.o
        w = [Worst() for _ in ACC_ROWS]
        lst = e.str(p + "local_sizes")
        if lst is None:
            o.w("%s: NOT MEASURED\n" % title)
            return 1, w
        sizes = sizes_of(lst)
        missing = 0
        o.w("%s\n" % title)
        o.w("%-10s" % "")
        for pt in range(len(ACC_PATS)):
            for s in sizes:
                o.w(" %15s" % ("%s %dMiB" % ("random" if pt else "seq", s)))
        o.w("\n")
        for r, (key, label, base, target) in enumerate(ACC_ROWS):
            if r == ACC_NMAIN:
                o.w("%-10s (controls: plain loads of the tinydsm pages; phase 2, after the sites"
                    " went lookup: plain, and direct again after each rewrite)\n" % "")
            o.w("%-10s" % label)
            for pt, pat in enumerate(ACC_PATS):
                for s in sizes:
                    v = e.num("%s%s_%dMiB_%s_ns" % (p, pat, s, key))
                    b = e.num("%s%s_%dMiB_%s_ns" % (p, pat, s, base)) if base else NAN
                    ratio = div(v, b)
                    self.cell(v, ratio, base)
                    if math.isnan(v):
                        missing += 1
                    self.row("%s%s_%dMiB_%s" % (p, pat, s, key), "median", v, "ns", ratio,
                             base or "",
                             ("1.02" if target < 2 else "3.00") if verdicts and target else "",
                             verdict_le(ratio, target) if verdicts and target else "")
                    if not target or math.isnan(ratio):
                        continue
                    w[r].measured += 1
                    if ratio > target:
                        w[r].missed += 1
                    if ratio > w[r].ratio:
                        w[r].ratio = ratio
                        w[r].where = "%s %dMiB" % ("random" if pt else "seq", s)
            o.w("\n")
        return missing, w

    def worst_line(self, what, w, lim, base):
        o = self.o
        o.w("  %-10s <= %s %-9s: " % (what, cf(".2f", lim) + "x", base))
        if not w.measured:
            o.w("NOT MEASURED\n")
            return
        if w.missed:
            o.w("MISSED in %d of %d cells" % (w.missed, w.measured))
        else:
            o.w("MET in all %d cells" % w.measured)
        o.w(" (highest %sx, %s)\n" % (cf(".2f", w.ratio), w.where))

    def noise_line(self, p, what):
        """How far apart two timings of the same instructions come out: the
        plain loop on the two buffers (plain/dsm over plain), over every
        cell. A target closer to 1 than this cannot be told from noise."""
        e = self.e
        lo, hi, n = INF, -INF, 0
        for mb in sizes_of(e.str(p + "local_sizes") or ""):
            for pat in ACC_PATS:
                r = div(e.num("%s%s_%dMiB_plaindsm_ns" % (p, pat, mb)),
                        e.num("%s%s_%dMiB_plain_ns" % (p, pat, mb)))
                if math.isnan(r):
                    continue
                lo = r if r < lo else lo
                hi = r if r > hi else hi
                n += 1
        if n:
            self.o.w("  %s timing noise: the same plain loop on the other buffer (plain/dsm) comes"
                     " out at %sx .. %sx of plain\n" % (what, cf(".2f", lo), cf(".2f", hi)))

    def differs(self, key, want):
        """A measured count that is not want (a missing one is not)."""
        x = self.e.num(key)
        return not math.isnan(x) and x != want

    def report(self):
        e, o = self.e, self.o
        missing = warn = 0
        o.w("tinydsm access-site benchmark: kernel %s, %s\n" % (
            self.kver if self.kver is not None else "?", e.or_("acc_date")))
        o.w("QEMU TCG guests (no KVM): ns are emulated time; compare ratios within one run only.\n\n")

        m, w = self.local_table("acc_", "(a) local page, ns/access (ratio to plain), lab guest node1",
                                True)
        missing += m
        o.w("  median of %s runs (random: %s); seq: whole passes, >= %s loads; random: %s loads"
            " of one LCG sequence (the same for every form).\n  plain: anonymous memory; direct,"
            " lookup: the site, on tinydsm pages homed and EXCLUSIVE here; lookup\n  and direct(rw)"
            " relative to plain (2), timed in turn with them after the sites first went lookup.\n"
            % (e.or_("acc_local_reps"), e.or_("acc_local_rnd_reps"), e.or_("acc_local_min_acc"),
               e.or_("acc_local_rnd_acc")))
        self.noise_line("acc_", "TCG")
        o.w("targets (timed):\n")
        self.worst_line("direct", w[1], 1.02, "plain")
        self.worst_line("lookup", w[2], 3.0, "plain (2)")
        self.worst_line("direct(rw)", w[5], 1.02, "plain (2)")
        self.row("target_direct_x_plain_worst", "ratio", w[1].ratio, "x", NAN, "", "1.02",
                 w[1].verdict())
        self.row("target_lookup_x_plain_worst", "ratio", w[2].ratio, "x", NAN, "", "3.00",
                 w[2].verdict())
        if not w[1].measured or not w[2].measured:
            missing += 1

        # the loops' machine code
        o.w("\nobjdump, instructions in the loop body (build/tools/access_bench, gcc -O2):")
        for pt, pat in enumerate(ACC_PATS):
            a = e.num("acc_obj_%s_plain_loop_insns" % pat)
            b = e.num("acc_obj_%s_site_loop_insns" % pat)
            unmeasured = math.isnan(a) or math.isnan(b)
            o.w(" %s plain %s, site (direct form) %s%s%s" % (
                pat, fmt(a, 0), fmt(b, 0),
                " NOT MEASURED" if unmeasured else " (equal)" if a == b else " (DIFFERENT)",
                ";" if pt + 1 < len(ACC_PATS) else "\n"))
            self.row("obj_rnd_loop_insns" if pt else "obj_seq_loop_insns", "site", b, "insns",
                     div(b, a), "plain", "", "NOT MEASURED" if unmeasured else
                     "EQUAL" if a == b else "DIFFERENT")
            if unmeasured:
                missing += 1

        s = e.str("acc_cg_where")
        o.w("callgrind instructions/access (%s):\n" % (
            "NOT MEASURED" if s is None else
            "lab guest node1, module attached; the lookup form written by the program, see README"
            if s == "guest" else "host, no module: lookup = simulated attach, see README"))
        for pt, pat in enumerate(ACC_PATS):
            p = e.num("acc_cg_%s_plain_ir" % pat)
            d = e.num("acc_cg_%s_direct_ir" % pat)
            lk = e.num("acc_cg_%s_lookup_ir" % pat)
            o.w("  %-6s plain %s, direct %s (%sx), lookup %s (%sx)"
                "  [direct <= 1.02x: %s, lookup <= %gx: %s]\n" % (
                    "random" if pt else "seq", fmt(p, 2), fmt(d, 2), fmt(div(d, p), 2),
                    fmt(lk, 2), fmt(div(lk, p), 2),
                    verdict_le(div(d, p), 1.02), CG_LOOKUP_X,
                    verdict_le(div(lk, p), CG_LOOKUP_X)))
            tag = "rnd" if pt else "seq"
            self.row("cg_%s_direct" % tag, "ir_per_access", d, "insns", div(d, p), "plain",
                     "1.02", verdict_le(div(d, p), 1.02))
            self.row("cg_%s_lookup" % tag, "ir_per_access", lk, "insns", div(lk, p), "plain",
                     "%.2f" % CG_LOOKUP_X, verdict_le(div(lk, p), CG_LOOKUP_X))
            self.row("cg_%s_plain" % tag, "ir_per_access", p, "insns", 1.0, "plain", "", "")
            if math.isnan(p) or math.isnan(d) or math.isnan(lk):
                missing += 1

        # remote
        lat = e.num("acc_ib_read_lat_4k_typical_us")
        rl = e.num("acc_rem_lookup_p50_us")
        rf = e.num("acc_rem_fault_p50_us")
        o.w("\nremote (node1 -> page homed on node2): lookup word access %s us (%s x ib_read_lat),"
            " fault-and-fetch %s us (%s x ib_read_lat)\n" % (
                fmt(rl, 1), fmt(div(rl, lat), 2), fmt(rf, 1), fmt(div(rf, lat), 2)))
        o.w("  p50 of %s loads each, one word of a distinct node2-homed page each (node2 wrote"
            " them; node1 never had them);\n  p99 %s / %s us; ib_read_lat typical %s us"
            " (perftest, 4 KiB READ, node1 -> node2, same run)\n" % (
                e.or_("acc_rem_lookup_n"), fmt(e.num("acc_rem_lookup_p99_us"), 1),
                fmt(e.num("acc_rem_fault_p99_us"), 1), fmt(lat, 1)))
        x = e.num("acc_post_ib_read_lat_4k_typical_us")
        if not math.isnan(x):
            o.w("  drift check: ib_read_lat typical after the remote figures %s us (%sx)\n" % (
                cf(".1f", x), cf(".2f", div(x, lat))))
        # the fault path's target for the lookup path's word access
        rem_x = div(rl, lat)
        rem_v = verdict_le(rem_x, REM_LOOKUP_TARGET)
        o.w("targets (remote):\n  lookup word access p50 <= %sx ib_read_lat typical: %s (%sx)\n" % (
            cf(".2f", REM_LOOKUP_TARGET), rem_v, fmt(rem_x, 2)))
        self.row("ib_read_lat", "typical", lat, "us", 1.0, "ib_read_lat_typical", "", "")
        self.row("rem_lookup", "p50", rl, "us", div(rl, lat), "ib_read_lat_typical", "", "")
        self.row("rem_fault", "p50", rf, "us", div(rf, lat), "ib_read_lat_typical", "", "")
        self.row("target_rem_lookup_p50_x_lat", "ratio", rem_x, "x", NAN, "",
                 cf(".2f", REM_LOOKUP_TARGET), rem_v)
        if math.isnan(lat) or math.isnan(rl) or math.isnan(rf):
            missing += 1

        # native, for scale
        if e.str("accnat_local_sizes") is not None:
            o.w("\n")
            self.local_table("accnat_", "for scale, NATIVE on the host (no module, no QEMU; "
                             "tinydsm memory = anonymous, lookup = simulated attach), ns/access:",
                             False)
            o.w("  (median of %s runs, random %s; the host is shared with other users)\n" % (
                e.or_("accnat_local_reps"), e.or_("accnat_local_rnd_reps")))
            self.noise_line("accnat_", "native")

        # what must hold for the figures to be what they say
        if self.differs("acc_local_bad_sums", 0) or self.differs("acc_rem_lookup_bad_values", 0) \
                or self.differs("acc_rem_fault_bad_values", 0):
            o.w("access bench WARNING: values read back wrong (local_bad_sums %s, remote %s/%s)\n" % (
                e.or_("acc_local_bad_sums"), e.or_("acc_rem_lookup_bad_values"),
                e.or_("acc_rem_fault_bad_values")))
            warn += 1
        if self.differs("acc_local_d_read_faults", 0) or \
                self.differs("acc_local_d_write_faults", 0) or \
                self.differs("acc_local_d_word_remote", 0):
            o.w("access bench WARNING: the local figures took faults or word accesses\n")
            warn += 1
        x = e.num("acc_rem_lookup_n") + e.num("acc_rem_warmup")
        if self.differs("acc_rem_lookup_d_word_remote", x) or \
                self.differs("acc_rem_lookup_d_read_faults", 0) or \
                self.differs("acc_rem_lookup_last_state", PAGE_INVALID):
            o.w("access bench WARNING: the lookup figure is not %s word accesses at node2"
                " without a fault\n" % cf(".0f", x))
            warn += 1
        if self.differs("acc_rem_fault_d_remote_faults", x) or \
                self.differs("acc_rem_fault_d_word_remote", 0) or \
                self.differs("acc_rem_fault_last_state", PAGE_SHARED):
            o.w("access bench WARNING: the fault figure is not %s remote read faults\n"
                % cf(".0f", x))
            warn += 1
        s = e.str("acc_failed")
        if s is not None and s != "0":
            o.w("access bench WARNING: steps failed in the lab: %s\n" % e.or_("acc_failed_list"))
            warn += 1
        s = e.str("acch_failed")
        if s is not None and s != "0":
            o.w("access bench WARNING: host steps failed: %s\n" % e.or_("acch_failed_list"))
            warn += 1
        host_line(o, e, "lab")
        o.w("\naccess bench direct_verdict=%s lookup_verdict=%s\n" % (
            w[1].verdict("NOT_MEASURED"), w[2].verdict("NOT_MEASURED")))
        o.w("access bench rem_lookup_p50_x_lat=%s rem_lookup_p50_x_lat_verdict=%s\n" % (
            cf(".4f", rem_x), rem_v.replace(" ", "_")))
        o.w("access bench figures_missing=%d\n" % missing)
        o.flush()
        self.c.close()
        return 1 if warn else 0
