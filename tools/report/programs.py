# SPDX-License-Identifier: GPL-2.0
"""make bench, the programs benchmark's table (tools/bench/README.md, "The programs benchmark")."""
import math
from common import NAN, MIB, Csv, Env, Out, cf, div, failed_lines, fmt, host_line

RUNS = (1, 2, 3)  # nodes, one rank each


class Programs:
    def __init__(self, files, csv_path, json_path):
        self.e = Env(files, 8192, prog="programs_bench")
        self.o = Out()
        self.kver = self.e.str("kver")
        self.c = Csv(csv_path, self.kver or "", json_path)
        self.progs = (self.e.str("prog_list") or "").split()
        self.missing = 0
        self.warnings = []

    def num(self, p, n, key):
        return self.e.num("prog_%s_%d_%s" % (p, n, key))

    def node_sum(self, p, n, key):
        """The sum over the run's nodes (1..n) of their counter @key."""
        vals = [self.num(p, n, "n%d_%s" % (j, key)) for j in range(1, n + 1)]
        return NAN if any(math.isnan(v) for v in vals) else sum(vals)

    def per_rank(self, p, n, key):
        return div(self.node_sum(p, n, key), n)

    def pages_in(self, p, n):
        """Pages a rank received on faults: its remote faults, and the pages read-ahead brought."""
        return div(self.node_sum(p, n, "remote_faults") + self.node_sum(p, n, "readahead_pages"), n)

    def wire_mib(self, p, n):
        """Bytes the run's NICs sent and received (every node of the lab), per rank."""
        return div(sum(self.num(p, n, "n%d_net_bytes" % j) for j in RUNS), n * MIB)

    def row(self, figure, stat, value, unit, ratio=NAN, ratio_to=""):
        self.c.row("programs", figure, stat, value, unit, ratio, ratio_to, "", "")

    def header(self):
        e, o = self.e, self.o
        o.w("tinydsm programs benchmark: kernel %s, %s nodes, %s\n" % (
            self.kver if self.kver is not None else "?", e.or_("nodes"), e.or_("date")))
        o.w("QEMU TCG guests, Soft-RoCE (rxe): only ratios within one run mean anything.\n")
        o.w("tools/apps/ through `tinydsmctl run` as nobody, one rank per node: node1 alone, node1-2,"
            " node1-3; sizes:\n")
        for p in self.progs:
            o.w("  %-6s %s\n" % (p, e.or_("prog_%s_args" % p)))
        o.w("heap placement (TINYDSM_PLACEMENT): %s\n" % (e.str("prog_placement") or "local"))
        self.rtt = e.num("base_ib_read_lat_4k_typical_us")
        o.w("raw RDMA READ of 4 KiB, node1 -> node2 (ib_read_lat, typical): %s us;"
            " ib_read_bw %s MB/s\n" % (fmt(self.rtt, 1), fmt(e.num("base_ib_read_bw_4k_MBps"), 0)))
        o.w("time = process 0's own clock over the parallel part; x1 = time / the 1-node run's;"
            " per rank = the nodes' counters' sum / ranks:\n")
        o.w("remote faults (TINYDSM_IOC_STATS remote_faults), word ops (word and atomic requests sent"
            " to a home: word_remote),\n")
        o.w("pages in (remote faults + read-ahead pages), MiB on the wire (every node's NIC, sent +"
            " received, / ranks); floor = remote faults x rtt / time.\n\n")

    def table(self):
        o = self.o
        o.w("  %-6s %5s %9s %8s %13s %9s %9s %8s %7s  %s\n" % (
            "prog", "nodes", "time ms", "x1", "remote faults", "word ops", "pages in", "MiB wire",
            "floor", "digest"))
        for p in self.progs:
            t1 = self.num(p, 1, "ms")
            for n in RUNS:
                t = self.num(p, n, "ms")
                rf, wo = self.per_rank(p, n, "remote_faults"), self.per_rank(p, n, "word_remote")
                pin, mib = self.pages_in(p, n), self.wire_mib(p, n)
                floor = div(rf * self.rtt / 1000.0, t) if not math.isnan(self.rtt) else NAN
                o.w("  %-6s %5d" % (p, n))
                o.pnum(t, 9, 0)
                o.pnum(div(t, t1), 8, 2)
                o.pnum(rf, 13, 1)
                o.pnum(wo, 9, 1)
                o.pnum(pin, 9, 1)
                o.pnum(mib, 8, 2)
                o.w(" %6s%%" % fmt(100 * floor, 1) if not math.isnan(floor) else " %7s" % "n/a")
                o.w("  %s\n" % (self.e.str("prog_%s_%d_digest" % (p, n)) or "-"))
                self.need(t, rf, wo, pin, mib)
                fig = "%s_%d" % (p, n)
                self.row(fig, "time", t, "ms", div(t, t1), "%s_1_time" % p)
                self.row(fig, "remote_faults_per_rank", rf, "faults")
                self.row(fig, "word_ops_per_rank", wo, "ops")
                self.row(fig, "pages_in_per_rank", pin, "pages")
                self.row(fig, "wire_mib_per_rank", mib, "MiB")
                self.row(fig, "fault_floor", floor, "fraction")

    def unmod(self):
        """Unmodified programs with their heap in the region (libtinydsm-preload.so)."""
        o, e = self.o, self.e
        names = (e.str("unmod_list") or "").split()
        if not names:
            return
        o.w("\nunmodified programs on node1, heap by libtinydsm-preload.so (sort and xz -1 of %s"
            " lines, python3 a dict of %s items, PYTHONMALLOC=malloc):\n" % (
                e.or_("unmod_lines"), e.or_("unmod_items")))
        o.w("x = time / the plain run's; faults = node1's remote faults during the run\n")
        o.w("  %-7s %9s %15s %7s %8s %15s %7s %8s\n" % (
            "program", "plain ms", "heap node1 ms", "x", "faults", "heap node2 ms", "x", "faults"))
        for n in names:
            t0 = e.num("unmod_%s_plain_ms" % n)
            o.w("  %-7s" % n)
            o.pnum(t0, 9, 0)
            for m in ("home1", "home2"):
                t = e.num("unmod_%s_%s_ms" % (n, m))
                rf = e.num("unmod_%s_%s_remote_faults" % (n, m))
                o.pnum(t, 15, 0)
                o.pnum(div(t, t0), 7, 2)
                o.pnum(rf, 8, 0)
                self.need(t, rf)
                self.row("unmod_%s_%s" % (n, m), "time", t, "ms", div(t, t0), "unmod_%s_plain_time" % n)
                self.row("unmod_%s_%s" % (n, m), "remote_faults", rf, "faults")
            o.w("\n")
            self.need(t0)
            self.row("unmod_%s_plain" % n, "time", t0, "ms")
            for m in ("plain", "home1", "home2"):
                rc = e.num("unmod_%s_%s_rc" % (n, m))
                if math.isnan(rc) or rc != 0:
                    self.warnings.append("%s (%s): exit status %s" % (n, m, fmt(rc, 0)))
                if m != "plain" and e.str("unmod_%s_%s_same" % (n, m)) != "1":
                    self.warnings.append("%s (%s): its output differs from the plain run's" % (n, m))

    def need(self, *values):
        self.missing += sum(1 for v in values if math.isnan(v))

    def traffic(self):
        """What the 3-node runs' faults were: the tracers' top pages and node1's top functions."""
        o, e = self.o, self.e
        o.w("\nthe 3-node runs' faults (tinydsm-trace on every node): per node faults, the top pages"
            " (address:faults), node1's top functions:\n")
        for p in self.progs:
            k = "prog_%s_3_" % p
            o.w("  %s\n" % p)
            for j in RUNS:
                o.w("    node%d: %s faults (%s fetched); pages %s\n" % (
                    j, fmt(e.num(k + "n%d_trace_faults" % j), 0),
                    fmt(e.num(k + "n%d_trace_fetched" % j), 0),
                    self.pages(e.str(k + "n%d_trace_top_pages" % j))))
            o.w("    node1's functions: %s\n" % self.functions(e.str(k + "n1_trace_top_fns")))
            top = self.top_share(p)
            if not math.isnan(top):
                o.w("    the top %s pages of each node: %s%% of the run's faults\n" % (
                    e.or_("prog_top"), fmt(100 * top, 1)))
            self.row("%s_3" % p, "top_pages_share", top, "fraction")

    @staticmethod
    def functions(s):
        """function:faults of the top IPs, one entry a function (their IPs' faults added)."""
        if not s:
            return "-"
        tot = {}
        for x in s.split():
            f, _, c = x.rpartition(":")
            tot[f] = tot.get(f, 0) + int(c)
        return " ".join("%s:%d" % (f, c) for f, c in sorted(tot.items(), key=lambda t: -t[1]))

    @staticmethod
    def pages(s):
        if not s:
            return "-"
        return " ".join("%#x:%s" % (int(a), c) for a, c in (x.split(":") for x in s.split()))

    def top_share(self, p):
        """The share of the 3-node run's faults that its nodes' top pages took."""
        k = "prog_%s_3_" % p
        total = self.node_sum(p, 3, "trace_faults")
        top = 0
        for j in RUNS:
            s = self.e.str(k + "n%d_trace_top_pages" % j) or ""
            top += sum(int(x.split(":")[1]) for x in s.split())
        return div(top, total)

    def checks(self):
        """Every run passed its own check; the digest is the same on 1, 2 and 3 nodes."""
        w, e = self.warnings, self.e
        if not self.progs:
            w.append("no programs (no prog_list)")
        for p in self.progs:
            digests = set()
            for n in RUNS:
                rc = self.num(p, n, "rc")
                if math.isnan(rc) or rc != 0:
                    w.append("%s on %d nodes: exit status %s" % (p, n, fmt(rc, 0)))
                if e.str("prog_%s_%d_check" % (p, n)) != "ok":
                    w.append("%s on %d nodes: its check did not pass" % (p, n))
                digests.add(e.str("prog_%s_%d_digest" % (p, n)) or "")
            if len(digests) != 1 or "" in digests:
                w.append("%s: digests differ between 1, 2 and 3 nodes: %s" % (
                    p, " ".join(sorted(d or "none" for d in digests))))

    def report(self):
        o = self.o
        self.header()
        self.table()
        self.traffic()
        self.unmod()
        host_line(o, self.e, "run")
        o.w("\n")
        self.checks()
        for w in self.warnings:
            o.w("programs bench WARNING: %s\n" % w)
        failed_lines(o, self.e, "programs bench", "precondition")
        if self.e.str("phases_failed") is None:
            o.w("programs bench WARNING: the run did not finish (no phases_failed line)\n")
        o.w("programs bench x1 %s\n" % " ".join(
            "%s_%d=%s" % (p, n, cf(".3f", div(self.num(p, n, "ms"), self.num(p, 1, "ms"))))
            for p in self.progs for n in RUNS[1:]))
        o.w("programs bench figures_missing=%d\n" % self.missing)
        o.flush()
        self.c.close()
        return 0
