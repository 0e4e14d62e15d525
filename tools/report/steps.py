# SPDX-License-Identifier: GPL-2.0
"""Where a remote fault's time goes: the requester's and the peer's ftrace
buffers (tools/bench/trace_steps.sh save) of the same faults, matched by
request id, into one row per step (tools/bench/README.md, "The fault's
breakdown").

The requester's buffer has, for each fault, tinydsm_fault_start and
tinydsm_fault_end on the faulting task, and between them the task's
tinydsm_msg steps of its first READ or WRITE call (registered, posted,
woken, sent) and the reply's (answered, in the completion handler, on any
task). The peer's buffer has the same request's received, handler, locked
and replied. Times are differences on one node's own clock; the two nodes'
clocks are never compared: the wire is the requester's posted-to-answered
less the peer's received-to-replied.
"""
import math
import re

from common import NAN, fmt

LINE = re.compile(r"^\s*(?P<task>.+?)-(?P<pid>\d+)\s+\[\d+\]\s+(?:\S+\s+)?"
                  r"(?P<ts>\d+\.\d+): (?P<ev>tinydsm_\w+): (?P<rest>.*)$")
MSG = re.compile(r"node=(\d+) id=(0x[0-9a-f]+|0) type=(\d+) step=(\w+)")
END = re.compile(r" err=(-?\d+)$")

W_READ, W_WRITE = 1, 2

# (key, row, from step, to step, whose clock); "fault" and "end" are the
# fault's own start and end
ROWS = [
    ("reg", "entry -> buffer registered", "fault", "registered", "req"),
    ("post", "registered -> request posted", "registered", "posted", "req"),
    ("rtt", "request posted -> reply received", "posted", "answered", "req"),
    ("peer_queue", "  peer: received -> handler runs", "received", "handler", "peer"),
    ("peer_lock", "  peer: handler -> directory locked", "handler", "locked", "peer"),
    ("peer_reply", "  peer: locked -> reply posted", "locked", "replied", "peer"),
    ("wire", "  wire and Soft-RoCE (the rest)", None, None, "wire"),
    ("wake", "reply received -> task woken", "answered", "woken", "req"),
    ("send", "woken -> own SEND completed", "woken", "sent", "req"),
    ("map", "SEND completed -> fault returns", "sent", "end", "req"),
    ("total", "entry -> fault returns (total)", "fault", "end", "req"),
]


def parse(path):
    """(ts in µs, pid, event, rest) of each tinydsm event in an ftrace file."""
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if m:
                out.append((float(m["ts"]) * 1e6, int(m["pid"]), m["ev"],
                            m["rest"]))
    return out


def requester_faults(events, write):
    """The faults (read faults, or write faults if @write) that made a READ
    or WRITE call and ended well: {step: µs} each, with "id"."""
    answered, open_, done = {}, {}, []
    want = W_WRITE if write else W_READ
    for ts, pid, ev, rest in events:
        if ev == "tinydsm_fault_start":
            open_[pid] = {"fault": ts, "write": rest.endswith("write")}
        elif ev == "tinydsm_msg":
            m = MSG.search(rest)
            if not m:
                continue
            rid, typ, step = int(m[2], 16), int(m[3]), m[4]
            if step == "answered":
                answered.setdefault(rid, ts)
                continue
            f = open_.get(pid)
            if f is None or "sent" in f:
                continue  # not in a fault, or past its first call
            if step == "registered" and "posted" not in f:
                f["registered"] = ts
            elif step == "posted" and "posted" not in f:
                if typ in (W_READ, W_WRITE):
                    f["posted"], f["id"], f["type"] = ts, rid, typ
            elif step in ("woken", "sent") and f.get("id") == rid:
                f.setdefault(step, ts)
        elif ev == "tinydsm_fault_end":
            f = open_.pop(pid, None)
            m = END.search(rest)
            if (f is None or not m or int(m[1]) != 0 or f["write"] != write or
                    f.get("type") != want or "sent" not in f):
                continue
            f["end"] = ts
            f["answered"] = answered.get(f["id"])
            if f["answered"] is not None:
                done.append(f)
    return done


def peer_steps(events):
    """{request id: {step: µs}} of the requests the peer received."""
    steps = {}
    for ts, _, ev, rest in events:
        if ev != "tinydsm_msg":
            continue
        m = MSG.search(rest)
        if m and m[4] in ("received", "handler", "locked", "replied"):
            steps.setdefault(int(m[2], 16), {}).setdefault(m[4], ts)
    return steps


def p50_p99(xs):
    """The median and the nearest-rank 99th percentile of xs (NaN if
    empty), as the benchmarks' own summaries take them (bench/common.c)."""
    if not xs:
        return NAN, NAN
    s, n = sorted(xs), len(xs)
    med = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    return med, s[(99 * n + 99) // 100 - 1]


def breakdown(req_path, peer_path, write):
    """[(row, samples in µs)] and the number of faults matched."""
    faults = requester_faults(parse(req_path), write)
    peer = peer_steps(parse(peer_path))
    rows = []
    for key, name, a, b, whose in ROWS:
        xs = []
        for f in faults:
            p = peer.get(f["id"], {})
            if whose == "req" and a in f and b in f and f[a] is not None:
                xs.append(f[b] - f[a])
            elif whose == "peer" and a in p and b in p:
                xs.append(p[b] - p[a])
            elif whose == "wire" and "received" in p and "replied" in p:
                xs.append((f["answered"] - f["posted"]) -
                          (p["replied"] - p["received"]))
        rows.append((key, name, xs))
    return rows, len(faults)


def report_steps(label, req_path, peer_path, write, env_path=None):
    """Print the table of @label's faults; append bd_@label_* to env_path."""
    rows, n = breakdown(req_path, peer_path, write)
    total = p50_p99(rows[-1][2])[0]
    print("%s: %d %s faults matched (µs; share: of the total's p50)" %
          (label, n, "write" if write else "read"))
    print("  %-38s %9s %9s %6s %6s" % ("step", "p50", "p99", "n", "share"))
    env = []
    for key, name, xs in rows:
        p50, p99 = p50_p99(xs)
        share = 100.0 * p50 / total
        print("  %-38s %9s %9s %6d %6s" % (name, fmt(p50, 1), fmt(p99, 1), len(xs),
                                          fmt(share, 0) + ("" if math.isnan(share) else "%")))
        env.append("bd_%s_%s_p50_us=%s" % (label, key, fmt(p50, 2)))
        env.append("bd_%s_%s_p99_us=%s" % (label, key, fmt(p99, 2)))
    env.append("bd_%s_faults=%d" % (label, n))
    if env_path:
        with open(env_path, "a") as f:
            f.write("\n".join(env) + "\n")
    return 0 if n else 1
