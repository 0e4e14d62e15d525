# SPDX-License-Identifier: GPL-2.0
"""make bench, the synchronisation benchmark's table (tools/bench/README.md)."""
import math
from common import NAN, Csv, Env, Out, cf, div, failed_lines, fmt, host_line, verdict_ge

TARGET = 3.0  # remote-atomic fetch-adds per second / ping-pong's, with work between, at least
BASE = "atomic_rtt_p50"  # what the ratios' base is called in the CSV

# The phases every node runs at once: the key's label, what a node counts
# (<label>_n<id>_<what>), the table's words (%s: the us of work after each
# fetch-add), a unit of work, and whether the nodes' work adds up (a
# barrier's rounds are every node's at once).
PHASES = [
    ("fa_atomic", "ops", "fetch-add, remote atomic", "op", True),
    ("fa_pingpong", "ops", "fetch-add, page ping-pong", "op", True),
    ("fa_atomic_work", "ops", "fetch-add + %s us work, remote atomic", "op", True),
    ("fa_pingpong_work", "ops", "fetch-add + %s us work, page ping-pong", "op", True),
    ("lock_shared", "ops", "lock handoffs, contended", "handoff", True),
    ("barrier", "rounds", "barrier rounds", "round", False),
    ("token", "passes", "token handoffs, wait/wake", "handoff", True),
]
ADDS = 4  # PHASES[:ADDS]: the fetch-adds, before the uncontended lock in the table


def pnum(o, x, w, prec):
    """Out.pnum, "-" for a cell that has no meaning (None)."""
    if x is None:
        o.w(" %*s" % (w, "-"))
    else:
        o.pnum(x, w, prec)


class Sync:
    def __init__(self, files, csv_path, json_path):
        self.e = Env(files, 1024, prog="sync_bench")
        self.o = Out()
        self.kver = self.e.str("kver")
        self.c = Csv(csv_path, self.kver or "", json_path)
        self.missing = 0
        self.warnings = []
        nodes = self.e.num("nodes")
        self.nodes = int(nodes) if not math.isnan(nodes) and 1 <= nodes <= 64 else 0
        home = self.e.num("sync_home")
        self.home = int(home) if not math.isnan(home) else 2

    def row(self, figure, stat, value, unit, ratio=NAN, ratio_to="", limit="", verdict=""):
        self.c.row("sync", figure, stat, value, unit, ratio, ratio_to, limit, verdict)

    def need(self, *values):
        """Count a figure missing if any of values is not a number."""
        if any(math.isnan(v) for v in values):
            self.missing += 1

    def members(self, label):
        """The nodes that ran a phase: every node, or node1 and its peer."""
        if label == "token":
            peer = self.e.num("token_peer")
            if math.isnan(peer):
                peer = 3 if self.nodes >= 3 else 2
            return [1, int(peer)]
        return list(range(1, self.nodes + 1))

    def node(self, label, j, key):
        return self.e.num("%s_n%d_%s" % (label, j, key))

    def gap(self, label):
        """The us of work after each fetch-add of a phase with work between."""
        gap = self.e.num(label + "_gap_us")
        return self.e.num("sync_gap_us") if math.isnan(gap) else gap

    def phase(self, label, what, summed):
        """(the slowest node's seconds, the work of all nodes): NaN if a node's is missing."""
        nodes = self.members(label)
        secs = [self.node(label, j, "ns") / 1e9 for j in nodes]
        done = [self.node(label, j, what) for j in nodes]
        if not nodes or any(math.isnan(v) for v in secs + done):
            return NAN, NAN
        return max(secs), sum(done) if summed else max(done)

    def header(self, rtt, rtt99):
        e, o = self.e, self.o
        o.w("tinydsm synchronisation benchmark: kernel %s, %s nodes, %s\n" % (
            self.kver if self.kver is not None else "?", e.or_("nodes"), e.or_("date")))
        o.w("QEMU TCG guests, Soft-RoCE (rxe): only ratios within one run mean anything.\n")
        o.w("each word measured on a page of its own, homed on node%d; every node attaches with"
            " libtinydsm;\nthe nodes of a phase start it at a barrier, each times its own loop,"
            " the slowest node's time is the phase's\n" % self.home)
        o.w("base (rtt) = the remote atomic's round trip: node1's tdsm_atomic() FETCH_OR 0 of a"
            " node%d-homed word, one at a time:\n" % self.home)
        o.w("  p50 %s us, p99 %s us (%s samples)\n" % (
            fmt(rtt, 1), fmt(rtt99, 1), e.or_("rtt_pre_n")))
        o.w("us each = the slowest node's time / the work of all nodes; x rtt = us each / rtt p50"
            " (a p99: / rtt p99).\n")
        o.w("fetch-add + N us work: N us of local work after each fetch-add, in the node's time"
            " (so that the nodes' updates interleave).\n\n")

    def phase_row(self, phase, rtt):
        """A phase of all nodes: its rate, time each and ratio; the rate."""
        o = self.o
        label, what, words, unit, summed = phase
        secs, done = self.phase(label, what, summed)
        rate = div(done, secs)
        us = div(secs * 1e6, done)
        nodes = self.members(label)
        if label == "token":
            title = "%s, node%d <-> node%d: %s" % (words, nodes[0], nodes[1], fmt(done, 0))
        else:
            if "%s" in words:
                words = words % fmt(self.gap(label), 0)
            title = "%s: %d nodes x %s" % (words, len(nodes),
                                           fmt(self.e.num("%s_%s" % (label, what)), 0))
        o.w("  %-56s" % title)
        o.pnum(rate, 10, 1)
        o.pnum(us, 10, 1)
        o.pnum(div(us, rtt), 7, 2)
        o.w("\n")
        self.need(rate)
        if label not in ("fa_atomic", "fa_atomic_work"):  # their rates: the ratios' rows, below
            self.row(label, "%ss_per_s" % unit, rate, "1/s")
        self.row(label, "us_per_%s" % unit, us, "us", div(us, rtt), BASE)
        return rate

    def table(self, rtt, rtt99):
        """The figures, in the README's order: the rates of the phases by label."""
        self.o.w("  %-56s %10s %10s %7s\n" % ("figure", "per second", "us each", "x rtt"))
        rates = {}
        for phase in PHASES[:ADDS]:
            rates[phase[0]] = self.phase_row(phase, rtt)
        self.lock_alone(rtt, rtt99)
        for phase in PHASES[ADDS:]:
            rates[phase[0]] = self.phase_row(phase, rtt)
        return rates

    def lock_alone(self, rtt, rtt99):
        """The uncontended lock: node1's latency, not a phase of all nodes."""
        e, o = self.e, self.o
        p50, p99 = e.num("lock_alone_p50_us"), e.num("lock_alone_p99_us")
        for stat, v, base, base_name in (("p50", p50, rtt, BASE),
                                         ("p99", p99, rtt99, "atomic_rtt_p99")):
            o.w("  %-56s" % ("lock + unlock, uncontended, node1 alone: %s" % stat))
            pnum(o, None, 10, 1)
            o.pnum(v, 10, 1)
            o.pnum(div(v, base), 7, 2)
            o.w("\n")
            self.row("lock_alone", "%s_us" % stat, v, "us", div(v, base), base_name)
        self.need(p50)

    def per_node(self):
        """Each node's own loop: its time, and where its operations were done."""
        o = self.o
        o.w("each node's loop: seconds [word ops done at another node, remote faults]:\n")
        for label, *_ in PHASES:
            o.w("  %-16s" % label)
            for j in self.members(label):
                s = self.node(label, j, "ns") / 1e9
                o.w(" node%d %s [%s, %s]" % (j, fmt(s, 3), fmt(self.node(label, j, "d_word_remote"), 0),
                                             fmt(self.node(label, j, "d_remote_faults"), 0)))
                self.row(label, "node%d_s" % j, s, "s")
            o.w("\n")
        o.w("page ping-pong, remote faults per fetch-add (all nodes' faults / all nodes' ops;"
            " 1: the page came for every one):\n")
        for label in ("fa_pingpong", "fa_pingpong_work"):
            faults, ops, per = self.faults_per_op(label)
            o.w("  %-16s %s (%s / %s)\n" % (label, fmt(per, 4), fmt(faults, 0), fmt(ops, 0)))
            self.row(label, "remote_faults_per_op", per, "faults/op")
            self.need(per)

    def faults_per_op(self, label):
        """A phase's remote faults of all nodes, its ops of all nodes, and the one / the other."""
        nodes = self.members(label)
        faults = [self.node(label, j, "d_remote_faults") for j in nodes]
        ops = [self.node(label, j, "ops") for j in nodes]
        if not nodes or any(math.isnan(v) for v in faults + ops):
            return NAN, NAN, NAN
        return sum(faults), sum(ops), div(sum(faults), sum(ops))

    def checks(self):
        """What the figures' names say must hold, else a WARNING (the run fails)."""
        e, w = self.e, self.warnings
        for label, *_ in PHASES[:ADDS]:
            final, want = e.num(label + "_final"), e.num(label + "_expected")
            if not math.isnan(final) and final != want:
                w.append("%s: the word is %s, not %s (nodes x ops): an update was lost" % (
                    label, fmt(final, 0), fmt(want, 0)))
        for label in ("fa_atomic", "fa_atomic_work"):
            for j in [j for j in self.members(label) if j != self.home]:
                rf = self.node(label, j, "d_remote_faults")
                wr = self.node(label, j, "d_word_remote")
                ops, st = self.node(label, j, "ops"), self.node(label, j, "page_state")
                if not math.isnan(rf) and rf != 0:
                    w.append("%s: node%d took %s remote faults: the page moved" % (
                        label, j, fmt(rf, 0)))
                if not math.isnan(wr) and not math.isnan(ops) and wr != ops:
                    w.append("%s: node%d did %s of its %s fetch-adds at the home" % (
                        label, j, fmt(wr, 0), fmt(ops, 0)))
                if not math.isnan(st) and st != 0:
                    w.append("%s: the page is here at node%d (state %s), not only at the home" % (
                        label, j, fmt(st, 0)))
        for label in ("fa_pingpong", "fa_pingpong_work"):
            for j in [j for j in self.members(label) if j != self.home]:
                rf = self.node(label, j, "d_remote_faults")
                if not math.isnan(rf) and rf == 0:
                    w.append("%s: node%d's fetch-adds took no remote fault: the page never"
                             " came" % (label, j))
        gaps = [(k, e.num(k)) for k in ("sync_gap_us", "fa_atomic_work_gap_us",
                                        "fa_pingpong_work_gap_us")]
        gaps = [(k, g) for k, g in gaps if not math.isnan(g)]
        if len(set(g for _, g in gaps)) > 1:
            w.append("the work after each fetch-add differs: %s: the work pair's ratio compares"
                     " unlike loops" % ", ".join("%s=%s" % (k, fmt(g, 0)) for k, g in gaps))
        for label in ("rtt_pre", "rtt_post", "lock_alone"):
            rf, wr, n = (e.num(label + k) for k in ("_d_remote_faults", "_d_word_remote", "_n"))
            per = 2 if label == "lock_alone" else 1  # an uncontended lock + unlock: 2 atomics
            if not math.isnan(rf) and rf != 0:
                w.append("%s: %s remote faults: the page moved" % (label, fmt(rf, 0)))
            if not math.isnan(wr) and not math.isnan(n) and wr != per * n:
                w.append("%s: %s atomics done at the home for %s samples, not %d each" % (
                    label, fmt(wr, 0), fmt(n, 0), per))
        for label in ("lock_alone", "lock_shared"):
            word = e.num(label + "_word_end")
            if not math.isnan(word) and word != 0:
                w.append("%s: the mutex word is %s at the end, not 0 (unlocked)" % (
                    label, fmt(word, 0)))
        serial = [self.node("barrier", j, "serial") for j in self.members("barrier")]
        rounds = e.num("barrier_rounds")
        if serial and not any(math.isnan(s) for s in serial) and sum(serial) != rounds:
            w.append("barrier: %s SERIAL returns in %s rounds, not one a round" % (
                fmt(sum(serial), 0), fmt(rounds, 0)))
        final, want = e.num("token_final"), e.num("token_handoffs")
        if not math.isnan(final) and final != want:
            w.append("token: the word is %s after %s handoffs" % (fmt(final, 0), fmt(want, 0)))

    def report(self):
        e, o = self.e, self.o
        rtt, rtt99 = e.num("rtt_pre_p50_us"), e.num("rtt_pre_p99_us")
        self.header(rtt, rtt99)
        self.row("atomic_rtt", "p50_us", rtt, "us", 1.0, BASE)
        self.row("atomic_rtt", "p99_us", rtt99, "us")
        self.need(rtt)
        rates = self.table(rtt, rtt99)

        # the target: the remote atomic against the page ping-pong, with work
        # between the updates (back to back, a node keeps the page for a burst)
        x = div(rates["fa_atomic_work"], rates["fa_pingpong_work"])
        v = verdict_ge(x, TARGET)
        o.w("\nfetch-adds of one word by every node with %s us of work between them,"
            " remote atomic / page ping-pong: %s x (target >= %s): %s\n" % (
                fmt(self.gap("fa_pingpong_work"), 0), fmt(x, 2), fmt(TARGET, 0), v))
        self.row("fa_atomic_work", "ops_per_s", rates["fa_atomic_work"], "1/s", x,
                 "fa_pingpong_work_ops_per_s", ">=%s" % fmt(TARGET, 0), v)
        xb = div(rates["fa_atomic"], rates["fa_pingpong"])
        o.w("back to back, remote atomic / page ping-pong: %s x (information, not the target's):\n"
            "  a node keeps the page for a whole burst of updates: it measures how long a page"
            " stays, not what an update costs\n" % fmt(xb, 2))
        self.row("fa_atomic", "ops_per_s", rates["fa_atomic"], "1/s", xb, "fa_pingpong_ops_per_s")
        o.w("\n")
        self.per_node()

        post = e.num("rtt_post_p50_us")
        if not math.isnan(post):
            o.w("drift check, the round trip after everything else vs before: p50 %s us (%sx)\n" % (
                fmt(post, 1), fmt(div(post, rtt), 2)))
        self.c.row("drift", "sync_post_atomic_rtt", "p50_us", post, "us", div(post, rtt),
                   "atomic_rtt_p50_before", "", "")
        host_line(o, e, "run")

        o.w("\n")
        self.checks()
        for w in self.warnings:
            o.w("sync bench WARNING: %s\n" % w)
        failed_lines(o, e, "sync bench", "precondition")
        if e.str("phases_failed") is None:
            o.w("sync bench WARNING: the run did not finish (no phases_failed line)\n")
        o.w("sync bench atomic_x_pingpong=%s atomic_x_pingpong_verdict=%s"
            " atomic_x_pingpong_back_to_back=%s\n" % (cf(".4f", x), v, cf(".4f", xb)))
        o.w("sync bench figures_missing=%d\n" % self.missing)
        o.flush()
        self.c.close()
        return 0
