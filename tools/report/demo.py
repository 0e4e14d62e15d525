# SPDX-License-Identifier: GPL-2.0
"""make demo's table, figures.csv, figures.json and plots
(tools/bench/README.md, "The demo's figures")."""
import json
import math
import os
import re
import subprocess
import sys
import time
from common import INF, cf, div

# ------------------------------------------------------------ demo
#
# make demo's figures went through awk before, and print as awk printed
# them: a number is read as strtod() reads the start of a string, a missing
# operand is "-", and a computed value that is not formatted prints as
# awk's print does (an integer as one, else %.6g).

_PREFIX = re.compile(r"[ \t\n\v\f\r]*([+-]?(0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)"
                     r"([pP][+-]?\d+)?|inf(inity)?|nan|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?))", re.I)


def strtod_prefix(s):
    """strtod(s, NULL): the number at the start of s, 0 if none; None if
    there is no number at all (for sort -g)."""
    m = _PREFIX.match(s)
    if not m:
        return None
    t = m.group(1)
    body = t.lstrip("+-")
    if body[:2].lower() == "0x":
        v = float.fromhex(body if "p" in body.lower() else body + "p0")
    else:
        v = float(body)
    return -v if t.startswith("-") else v


def awknum(s):
    v = strtod_prefix(s)
    return 0.0 if v is None else v


def awkstr(x):
    """A number as awk (mawk) prints it with print, or as CONVFMT makes it."""
    if math.isnan(x):
        return "-nan" if math.copysign(1, x) < 0 else "nan"
    if x == int(x) if not math.isinf(x) else False:
        if -2147483647 <= x <= 2147483647:
            return "%d" % x
    return "%.6g" % x


def calc(spec, a, b="1", expr=None):
    """calc FORMAT A [B [EXPR]] of the old report: EXPR (default a / b) of
    two figures, "-" if one is missing or the divisor is 0, "<.01" as the
    expression says, else printf FORMAT (print if negative)."""
    if a == "" or b == "":
        return "-"
    x, y = awknum(a), awknum(b)
    if expr is None:
        if y == 0:
            return "-"
        r = x / y
    elif expr == "sum":
        r = x + y
    elif expr == "pages":
        r = x * 1048576 / 4096
    elif expr == "x2":
        r = x * 2
    elif expr == "lt.01":
        r = div(x, y)
        if r < 0.01:
            return "<.01"
    s = awkstr(r)
    if s[0] in "<-":
        return s
    return cf(spec[1:], r)


def verdict(a, b, limit):
    """a / b against a target of at most limit: MET, MISSED, or NOT
    MEASURED if a figure is missing or b is 0."""
    if a == "" or b == "" or awknum(b) == 0:
        return "NOT MEASURED"
    return "MET" if awknum(a) / awknum(b) <= limit else "MISSED"


def jq_number(s):
    """jq 1.6's tonumber of a CSV field and how it prints it, or None if
    it is not a number (then the string stays)."""
    t = s.strip(" \t\n\r")
    if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", t):
        v = float(t)
    elif re.fullmatch(r"[+-]?inf(inity)?", t, re.I):
        v = -INF if t.startswith("-") else INF
    else:
        return None
    if math.isinf(v):
        v = math.copysign(1.7976931348623157e308, v)
    if v == 0:
        return "-0" if math.copysign(1, v) < 0 else "0"
    digits, exp = ("%r" % abs(v)), 0
    mant = re.fullmatch(r"(\d+)(?:\.(\d+))?(?:e([+-]\d+))?", digits)
    ip, fp, ex = mant.group(1), mant.group(2) or "", int(mant.group(3) or 0)
    dg = (ip + fp).lstrip("0")
    decpt = len(ip) + ex - ((len(ip + fp) - len((ip + fp).lstrip("0"))))
    dg = dg.rstrip("0") or "0"
    sign = "-" if v < 0 else ""
    if decpt <= -4 or decpt > len(dg) + 15:
        e = decpt - 1
        m = dg[0] + ("." + dg[1:] if len(dg) > 1 else "")
        return "%s%se%s%02d" % (sign, m, "-" if e < 0 else "+", abs(e))
    if decpt <= 0:
        return sign + "0." + "0" * -decpt + dg
    if decpt >= len(dg):
        return sign + dg + "0" * (decpt - len(dg))
    return sign + dg[:decpt] + "." + dg[decpt:]


def json_str(s):
    return json.dumps(s, ensure_ascii=False)


class Demo:
    def __init__(self, d, kver):
        self.dir, self.kver = d, kver
        self.e2 = os.path.join(d, "lab2/node1/demo.env")
        self.e3 = os.path.join(d, "lab3/node1/demo.env")
        self.eh = os.path.join(d, "host-a.env")
        self.csv = []
        self.checks_failed = False
        self.out = []
        self.cache = {}

    def lines(self, f):
        if f not in self.cache:
            try:
                with open(f, "rb") as fh:
                    self.cache[f] = fh.read().decode("utf-8", "surrogateescape").split("\n")
            except OSError:
                self.cache[f] = None
        return self.cache[f]

    def v(self, f, key):
        """The key's last value in f ("" if none)."""
        x = ""
        for line in self.lines(f) or ():
            if line.split("=", 1)[0] == key:
                x = line[len(key) + 1:]
        return x

    def has(self, f, key):
        return any(line.startswith(key + "=") for line in self.lines(f) or ())

    def med(self, f, pat, reps):
        """Median over the repetitions of a key (@ stands for the number)."""
        vals = [self.v(f, pat.replace("@", str(r))) for r in range(1, reps + 1)]
        vals = [x for x in vals if x.split()]

        def key(line):
            n = strtod_prefix(line)
            if n is None:
                return (0, 0.0, line.encode("utf-8", "surrogateescape"))
            if math.isnan(n):
                return (1, 0.0, line.encode("utf-8", "surrogateescape"))
            return (2, n, line.encode("utf-8", "surrogateescape"))
        x = [line.split()[0] for line in sorted(vals, key=key)]
        n = len(x)
        if not n:
            return ""
        if n % 2:
            return x[(n - 1) // 2]
        return awkstr((awknum(x[n // 2 - 1]) + awknum(x[n // 2])) / 2)

    def w(self, s):
        self.out.append(s)

    def row(self, scenario, figure, value, unit, ratio, ratio_to):
        self.csv.append("%s,%s,%s,%s,%s,%s" % (scenario, figure, value, unit, ratio, ratio_to))
        if value == "":
            sys.stderr.write("report: no figure for %s %s\n" % (scenario, figure))
            self.checks_failed = True

    def forms(self, f, prefix, suffix, name, unit):
        """One loop of scenario a in its three forms, keys
        prefix{plain,direct,lookup}suffix, and their CSV rows."""
        pl = self.v(f, prefix + "plain" + suffix)
        di = self.v(f, prefix + "direct" + suffix)
        lo = self.v(f, prefix + "lookup" + suffix)
        self.row("a", name + "_plain", pl, unit, "1", "a_%s_plain" % name)
        self.row("a", name + "_direct", di, unit, calc("%.3f", di, pl), "a_%s_plain" % name)
        self.row("a", name + "_lookup", lo, unit, calc("%.3f", lo, pl), "a_%s_plain" % name)
        return pl, di, lo

    def header(self):
        cpu = ""
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        cpu = (line.rstrip("\n").split(": ") + [""])[1]
                        break
        except OSError:
            pass
        w = self.w
        w("tinydsm demo, %s on %s: %d cores (%s)\n" % (
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.uname().nodename,
            len(os.sched_getaffinity(0)), cpu))
        w("Guests: Debian kernel %s under QEMU TCG (pure emulation, no KVM), 1 vCPU each,\n"
          % self.kver)
        w("Soft-RoCE (rxe) on a VDE switch. Absolute times are emulation's; compare ratios\n")
        w("within this run, which is why the raw RDMA baseline is measured in it.\n\n")

    def baseline(self):
        w, v = self.w, self.v
        w("Raw RDMA baseline: perftest, 4 KiB, between the same guests, in this run\n")
        w("  %-22s %16s %12s %12s %14s\n" % ("pair", "ib_read_lat typ", "p99", "ib_read_bw",
                                             "= pages/s"))
        for p, name, f in (("12", "node1 -> node2", self.e2), ("13", "node1 -> node3", self.e3),
                           ("32", "node3 -> node2", self.e3)):
            if self.lines(f) is None:
                continue
            lat = v(f, "base_%s_ib_read_lat_4k_typical_us" % p)
            p99 = v(f, "base_%s_ib_read_lat_4k_p99_us" % p)
            bw = v(f, "base_%s_ib_read_bw_4k_MBps" % p)
            pps = calc("%.0f", bw, "1", "pages")
            w("  %-22s %13s us %9s us %7s MB/s %14s\n" % (name, lat, p99, bw, pps))
            self.row("baseline", "ib_read_lat_typical_" + p, lat, "us", "1",
                     "ib_read_lat_typical_" + p)
            self.row("baseline", "ib_read_lat_p99_" + p, p99, "us", "", "")
            self.row("baseline", "ib_read_bw_" + p, bw, "MB/s", "1", "ib_read_bw_" + p)
        # the other two latencies of rdma_baseline.sh, in results that have
        # them: ib_send_lat prints half the round trip (one way)
        pairs = [(p, name, f) for p, name, f in (
            ("12", "node1 -> node2", self.e2), ("13", "node1 -> node3", self.e3),
            ("32", "node3 -> node2", self.e3)) if self.lines(f) is not None]
        if any(self.has(f, "base_%s_%s_4k_typical_us" % (p, k)) for p, _, f in pairs
               for k in ("ib_send_lat", "ib_read_lat_ev")):
            w("  %-22s %16s %15s %20s\n" % ("", "ib_send_lat typ", "x2 = round trip",
                                             "ib_read_lat -e typ"))
            for p, name, f in pairs:
                send = v(f, "base_%s_ib_send_lat_4k_typical_us" % p)
                rtt = calc("%.2f", send, "1", "x2")
                rtt = "" if rtt == "-" else rtt
                ev = v(f, "base_%s_ib_read_lat_ev_4k_typical_us" % p)
                lat = v(f, "base_%s_ib_read_lat_4k_typical_us" % p)
                w("  %-22s %13s us %12s us %17s us\n" % (name, send, rtt or "-", ev))
                to = "ib_read_lat_typical_" + p
                self.row("baseline", "ib_send_lat_typical_" + p, send, "us", "", "")
                self.row("baseline", "ib_send_lat_rtt_" + p, rtt, "us", calc("%.3f", rtt, lat), to)
                self.row("baseline", "ib_read_lat_ev_typical_" + p, ev, "us", calc("%.3f", ev, lat),
                         to)
            w("  ib_send_lat: a 4 KiB SEND ping-pong; perftest prints half its round trip.\n")
            w("  ib_read_lat -e: the READ with completion events (sleeps on the CQ, as tinydsm).\n")
        w("\n")

    def a(self):
        w, v, e2, eh = self.w, self.v, self.e2, self.eh
        if self.lines(e2) is None or not v(e2, "a_local_sizes"):
            return
        reps = v(e2, "a_local_reps")
        w("a: one 8-byte load on a page homed here, ns, in node1 (access_bench local, median of %s)\n"
          % reps)
        w("  %-14s %7s %9s %18s %18s %14s\n" % ("working set", "pattern", "plain",
                                                "direct (x plain)", "lookup (x plain)",
                                                "lookup/direct"))
        for s in v(e2, "a_local_sizes").split():
            for pt in ("seq", "rnd"):
                pl, di, lo = self.forms(e2, "a_%s_%sMiB_" % (pt, s), "_ns", "%s_%sMiB" % (pt, s),
                                        "ns/access")
                w("  %-14s %7s %9s %10s (%5s) %10s (%5s) %14s\n" % (
                    s + " MiB", pt, calc("%.2f", pl), calc("%.2f", di), calc("%.2f", di, pl),
                    calc("%.2f", lo), calc("%.2f", lo, pl), calc("%.2f", lo, di)))
        bad = v(e2, "a_local_bad_sums")
        if (bad or "x") != "0":
            w("  a: sums read back wrong: %s\n" % (bad or "unknown"))
            self.checks_failed = True
        if self.lines(eh) is not None:
            w("  The same loops on this host: instructions per load (callgrind, exact) and\n")
            w("  native ns per load (for scale: TCG turns every taken branch into a hop)\n")
            w("  %-22s %9s %18s %18s\n" % ("", "plain", "direct (x plain)", "lookup (x plain)"))
            for pt in ("seq", "rnd"):
                pl, di, lo = self.forms(eh, "acc_cg_%s_" % pt, "_ir", pt + "_instructions",
                                        "insns/access")
                w("  %-22s %9s %10s (%5s) %10s (%5s)\n" % (
                    pt + ", instructions", calc("%.0f", pl), calc("%.0f", di),
                    calc("%.2f", di, pl), calc("%.0f", lo), calc("%.2f", lo, pl)))
            for s in v(eh, "h_local_sizes").split():
                for pt in ("seq", "rnd"):
                    pl, di, lo = self.forms(eh, "h_%s_%sMiB_" % (pt, s), "_ns",
                                            "native_%s_%sMiB" % (pt, s), "ns/access")
                    w("  %-22s %9s %10s (%5s) %10s (%5s)\n" % (
                        "%s MiB %s, native ns" % (s, pt), calc("%.2f", pl), calc("%.2f", di),
                        calc("%.2f", di, pl), calc("%.2f", lo), calc("%.2f", lo, pl)))
        w("\n")

    def a12(self):
        w, v, e2 = self.w, self.v, self.e2
        if self.lines(e2) is None or not v(e2, "a12_npages"):
            return
        lat = v(e2, "base_12_ib_read_lat_4k_typical_us")
        w("a.1/a.2: %s pages homed on node2, the application on node1 (seed_demo a12)\n"
          % v(e2, "a12_npages"))
        # No targets here: the first loads go in address order, so the
        # module's read-ahead fetches most pages with the fault before them
        # (the fetched count below); the remote benchmark times single faults.
        w("  %-46s %12s %10s\n" % ("figure", "value", "x raw"))
        for key, name in (("touch_load", "first load of a page: fault + fetch"),
                          ("touch_store", "first store: fault + ownership")):
            for q in ("p50", "p99"):
                x = v(e2, "a12_%s_%s_us" % (key, q))
                w("  %-46s %9s us %10s\n" % ("%s, %s" % (name, q), x, calc("%.2f", x, lat)))
                self.row("a12", "%s_%s" % (key, q), x, "us", calc("%.3f", x, lat),
                         "ib_read_lat_typical_12")
        for op in ("load", "store"):
            pl = v(e2, "a12_plain_%s_ns" % op)
            di = v(e2, "a12_direct_%s_ns" % op)
            lo = v(e2, "a12_lookup_%s_ns" % op)
            w("  %-46s %9s ns %10s\n" % ("steady %s, plain memory" % op, calc("%.2f", pl),
                                         "(x plain)"))
            w("  %-46s %9s ns %10s\n" % ("steady %s, a.2: sites direct" % op, calc("%.2f", di),
                                         calc("%.2f", di, pl)))
            w("  %-46s %9s ns %10s\n" % ("steady %s, a.1: sites lookup" % op, calc("%.2f", lo),
                                         calc("%.2f", lo, pl)))
            to = "a12_steady_%s_plain" % op
            self.row("a12", "steady_%s_plain" % op, pl, "ns/access", "1", to)
            self.row("a12", "steady_%s_direct" % op, di, "ns/access", calc("%.3f", di, pl), to)
            self.row("a12", "steady_%s_lookup" % op, lo, "ns/access", calc("%.3f", lo, pl), to)
        tf = v(e2, "a12_touch_load_read_faults")
        tr = v(e2, "a12_touch_load_remote_faults")
        sf = v(e2, "a12_touch_store_write_faults")
        df = calc("%.0f", v(e2, "a12_direct_load_read_faults"),
                  v(e2, "a12_direct_store_write_faults"), "sum")
        lf = calc("%.0f", v(e2, "a12_lookup_steady_read_faults"),
                  v(e2, "a12_lookup_steady_write_faults"), "sum")
        lw = v(e2, "a12_lookup_steady_word_remote")
        ls = v(e2, "a12_lookup_steady_sites_lookup")
        w("  faults: first loads %s (%s fetched from node2, the rest read ahead), first\n"
          "  stores %s; steady\n" % (tf, tr, sf))
        w("  state: direct %s, lookup %s, with %s remote word accesses (the pages are\n"
          % (df, lf, lw or "?"))
        w("  here); %s sites rewritten to lookup for a.1\n" % (ls or "?"))
        self.row("a12", "first_load_faults", tf, "faults", "", "")
        self.row("a12", "first_store_faults", sf, "faults", "", "")
        self.row("a12", "direct_steady_faults", df, "faults", "", "")
        self.row("a12", "lookup_steady_faults", lf, "faults", "", "")
        self.row("a12", "sites_to_lookup", ls, "sites", "", "")
        # tinydsm-trace ran the application: its count against the module's
        tf_all = "0"
        for k in ("touch_load", "touch_store", "direct_load", "direct_store", "lookup_steady"):
            tf_all = calc("%.0f", tf_all, v(e2, "a12_%s_read_faults" % k), "sum")
            tf_all = calc("%.0f", tf_all, v(e2, "a12_%s_write_faults" % k), "sum")
        tt = v(e2, "a12_trace_faults")
        w("  tinydsm-trace (libbpf, on node1, around the whole run): %s faults\n" % tt)
        w("  (%s reads, %s writes, %s fetched, %s failed); the module's counters: %s;\n" % (
            v(e2, "a12_trace_reads"), v(e2, "a12_trace_writes"), v(e2, "a12_trace_fetched"),
            v(e2, "a12_trace_failed"), tf_all))
        w("  fault latency median in [%s, %s] us\n" % (v(e2, "a12_trace_p50_lo_us"),
                                                       v(e2, "a12_trace_p50_hi_us")))
        self.row("a12", "trace_faults", tt, "faults", calc("%.3f", tt, tf_all), "a12_module_faults")
        self.row("a12", "module_faults", tf_all, "faults", "", "")
        if tt != tf_all:
            w("  tinydsm-trace and the module disagree\n")
            self.checks_failed = True
        bad = v(e2, "a12_bad_values")
        if (bad or "x") != "0":
            w("  a.1/a.2: values read back wrong: %s\n" % (bad or "unknown"))
            self.checks_failed = True
        w("\n")

    def b(self):
        w, v, e3 = self.w, self.v, self.e3
        if self.lines(e3) is None or not self.has(e3, "b_lazy_1_npages"):
            return
        r = 1
        while self.has(e3, "b_lazy_%d_npages" % (r + 1)):
            r += 1
        lat = v(e3, "base_13_ib_read_lat_4k_typical_us")
        bwp = calc("%.1f", v(e3, "base_32_ib_read_bw_4k_MBps"), "1", "pages")
        w("b: node1 reads %s pages homed on node2; `tinydsmctl migrate --from node2 --to node3\n"
          % v(e3, "b_lazy_1_npages"))
        w("   --strategy S`; node1 reads them again (pass 1) and again (pass 2). Median of %d.\n"
          % r)
        w("  %-18s %9s %14s %9s %9s %10s %7s %7s %6s %16s %9s\n" % (
            "strategy", "move ms", "pages/s (x bw)", "repop ms", "pass1 ms", "all read",
            "faults", "words", "sites", "pass1 p50 (x lat)", "pass2 ms"))
        for s, label in (("lazy", "b.1 lazy"), ("eager", "b.2 eager, direct"),
                         ("lookup", "b.2 eager, lookup")):
            def m(k):
                return self.med(e3, "b_%s_@_%s" % (s, k), r)
            mv, pps, rp, p1, tot = (m("move_ms"), m("pages_per_s"), m("repop_ms"),
                                    m("pass1_ms"), m("total_ms"))
            fl, wd = m("pass1_read_faults"), m("pass1_word_remote")
            sites = calc("%.0f", m("migrate_sites_direct"), m("migrate_sites_lookup"), "sum")
            sites = calc("%.0f", sites, m("pass1_sites_direct"), "sum")
            sites = calc("%.0f", sites, m("pass1_sites_lookup"), "sum")
            pl, p2 = m("pass1_p50_us"), m("pass2_ms")
            w("  %-18s %9s %6s (%5s) %9s %9s %10s %7s %7s %6s %9s (%5s) %9s\n" % (
                label, mv, pps, calc("%.2f", pps, bwp), rp, p1, tot, fl, wd, sites, pl,
                calc("%.2f", pl, lat, "lt.01"), p2))
            row = self.row
            row("b_" + s, "move_ms", mv, "ms", "", "")
            row("b_" + s, "pages_per_s", pps, "pages/s", calc("%.3f", pps, bwp),
                "ib_read_bw_32 (pages/s)")
            row("b_" + s, "repop_ms", rp, "ms", "", "")
            row("b_" + s, "pass1_ms", p1, "ms", "", "")
            row("b_" + s, "until_all_read_ms", tot, "ms", "", "")
            row("b_" + s, "pass1_faults", fl, "faults", "", "")
            row("b_" + s, "pass1_word_accesses", wd, "accesses", "", "")
            row("b_" + s, "sites_rewritten", sites, "sites", "", "")
            row("b_" + s, "pass1_p50", pl, "us", calc("%.3f", pl, lat), "ib_read_lat_typical_13")
            row("b_" + s, "pass2_ms", p2, "ms", "", "")
            for i in range(1, r + 1):
                bad = v(e3, "b_%s_%d_bad_values" % (s, i))
                if (bad or "x") != "0":
                    w("  b %s rep %d: values read back wrong: %s\n" % (s, i, bad or "missing"))
                    self.checks_failed = True
        pl = self.med(e3, "b_lookup_@_pass1_p50_us", r)
        w("  target: b.2 lookup's pass1 p50 (a remote word access) <= 1.2 x lat: %s\n"
          % verdict(pl, lat, 1.2))
        w("  move: MIGRATE alone; repop: REPOPULATE (eager); pass1: node1 reads one word of every\n")
        w("  page after the command returned; all read: from the command's start to the last\n")
        w("  page read; faults/words: node1's faults and remote word accesses in pass 1; sites:\n")
        w("  access sites rewritten on node1; x bw: to ib_read_bw node3 -> node2 in pages/s;\n")
        w("  x lat: to ib_read_lat node1 -> node3.\n")
        w("\n")

    def json(self):
        """figures.json: the CSV's rows as objects."""
        out = ["{",
               '  "date": %s,' % json_str(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
               '  "host": %s,' % json_str(os.uname().nodename),
               '  "guest_kernel": %s,' % json_str(self.kver)]
        objs = []
        for line in self.csv:
            f = line.split(",")
            f += [None] * (6 - len(f))

            def val(x):
                if x is None:
                    return "null"
                n = jq_number(x)
                return json_str(x) if n is None else n

            def ratio(x):
                n = None if x is None else jq_number(x)
                return "null" if n is None else n
            objs.append("    {\n" + ",\n".join("      %s: %s" % (json_str(k), x) for k, x in (
                ("scenario", "null" if f[0] is None else json_str(f[0])),
                ("figure", "null" if f[1] is None else json_str(f[1])),
                ("value", val(f[2])),
                ("unit", "null" if f[3] is None else json_str(f[3])),
                ("ratio", ratio(f[4])),
                ("ratio_to", "null" if f[5] in ("", None) else json_str(f[5])))) + "\n    }")
        if objs:
            out.append('  "figures": [\n' + ",\n".join(objs) + "\n  ]")
        else:
            out.append('  "figures": []')
        with open(os.path.join(self.dir, "figures.json"), "w") as f:
            f.write("\n".join(out) + "\n}\n")

    def report(self):
        self.header()
        self.baseline()
        self.a()
        self.a12()
        self.b()
        text = "".join(self.out)
        sys.stdout.write(text)
        sys.stdout.flush()
        with open(os.path.join(self.dir, "summary.txt"), "w") as f:
            f.write(text)
        with open(os.path.join(self.dir, "figures.csv"), "w") as f:
            f.write("scenario,figure,value,unit,ratio,ratio_to\n")
            f.write("".join(line + "\n" for line in self.csv))
        rc = 0
        try:
            self.json()
        except OSError as e:
            sys.stderr.write("report: figures.json failed: %s\n" % e)
            rc = 1
        if plots(self) != 0:
            sys.stderr.write("report: plots failed\n")
            rc = 1
        # The checks above (a figure missing, values read back wrong) are
        # printed in the table but, as with the report before, do not set
        # the exit status: make demo passes or fails on the labs.
        return rc


def gnuplot(script):
    try:
        return subprocess.run(["gnuplot"], input=script, text=True).returncode
    except OSError:
        return 1


def plots(demo):
    """make demo's plots (gnuplot, PNG), from the samples the labs left:
    latency.png       distributions (CDF) of one access to a page that is
                      not here: first-touch fault+fetch (a.1/a.2), first
                      store, the fault after a lazy migration (b.1), the
                      remote word access of a lookup site (b.2 lookup), and
                      the raw ib_read_lat of the same run;
    repopulation.png  b: pages node1 has read, against time from the start
                      of `tinydsmctl migrate`, lazy vs eager (direct and
                      lookup), first repetition;
    access.png        a: ns per load, plain / direct / lookup."""
    d = demo.dir
    n2, n3 = os.path.join(d, "lab2/node1"), os.path.join(d, "lab3/node1")
    if not any(os.access(os.path.join(p, "gnuplot"), os.X_OK)
               for p in os.environ.get("PATH", "").split(os.pathsep)):
        sys.stderr.write("plots: gnuplot is not installed (make deps)\n")
        return 1
    rc = 0

    def nonempty(f):
        return os.path.isfile(f) and os.path.getsize(f) > 0

    # ---- latency
    curves, vlines = [], []
    for f, title in (("%s/a12_touch_load.cdf" % n2, "a.1/a.2 first load: fault + fetch (node1 <- node2)"),
                     ("%s/a12_touch_store.cdf" % n2, "a.1/a.2 first store: fault + ownership"),
                     ("%s/b_lazy_1_pass1.cdf" % n3, "b.1 lazy: fault after the migration (node1 <- node3)"),
                     ("%s/b_lookup_1_pass1.cdf" % n3, "b.2 lookup: remote word access (node1 -> node3)")):
        if nonempty(f):
            curves.append("'%s' using 1:2 with steps lw 2 title '%s'" % (f, title))
    for p, f in (("12", "%s/lab2/node1/demo.env" % d), ("13", "%s/lab3/node1/demo.env" % d)):
        x = demo.v(f, "base_%s_ib_read_lat_4k_typical_us" % p)
        if x:
            vlines += ["set arrow from %s, graph 0 to %s, graph 1 nohead dt 2 lw 2 lc rgb 'black'"
                       % (x, x),
                       "set label 'ib\\_read\\_lat %s' at %s, graph 0.05 rotate left offset -1,0"
                       " font ',9'" % (p, x)]
    if curves:
        rc |= gnuplot("".join(line + "\n" for line in [
            "set terminal pngcairo size 1000,600",
            "set output '%s/latency.png'" % d,
            "set title 'tinydsm: one access to a page that is not here (CDF)'",
            "set xlabel 'microseconds (log)'; set ylabel 'fraction of accesses'",
            "set logscale x; set grid; set key right bottom font ',9'",
            "set yrange [0:1]"] + (vlines or [""]) + ["plot " + ",".join(curves)]))

    # ---- repopulation
    curves = []
    for f, title in (("%s/b_lazy_1_timeline" % n3, "b.1 lazy: every page faults"),
                     ("%s/b_eager_1_timeline" % n3, "b.2 eager, direct: REPOPULATE, then loads"),
                     ("%s/b_lookup_1_timeline" % n3, "b.2 eager, lookup: word accesses at node3")):
        if nonempty(f):
            curves.append("'%s' using 1:2 with lines lw 2 title '%s'" % (f, title))
    if curves:
        rc |= gnuplot("".join(line + "\n" for line in [
            "set terminal pngcairo size 1000,600",
            "set output '%s/repopulation.png'" % d,
            "set title 'tinydsm: node1 reads every page again after tinydsmctl migrate"
            " --from node2 --to node3'",
            "set xlabel 'ms since the migration started'; set ylabel 'pages read by the"
            " application'",
            "set grid; set key right bottom font ',9'",
            "plot " + ",".join(curves)]))

    # ---- access
    e = "%s/demo.env" % n2
    if demo.v(e, "a_local_sizes"):
        dat = "%s/access.dat" % d
        with open(dat, "w") as f:
            for s in demo.v(e, "a_local_sizes").split():
                for pt in ("seq", "rnd"):
                    f.write('"%s MiB %s" %s %s %s\n' % (s, pt, *(
                        demo.v(e, "a_%s_%sMiB_%s_ns" % (pt, s, form))
                        for form in ("plain", "direct", "lookup"))))
        rc |= gnuplot("".join(line + "\n" for line in [
            "set terminal pngcairo size 1000,600",
            "set output '%s/access.png'" % d,
            "set title 'tinydsm (a): one 8-byte load on a local page (QEMU TCG guest)'",
            "set ylabel 'ns per load (log)'; set logscale y; set grid ytics",
            "set style data histograms; set style histogram clustered gap 1",
            "set style fill solid 0.8 border -1; set key left top",
            "plot '%s' using 2:xtic(1) title 'plain memory', '' using 3 title 'site, direct',"
            " '' using 4 title 'site, lookup'" % dat]))
    return 1 if rc else 0


def report_demo(d, kver):
    return Demo(d, kver).report()
