# SPDX-License-Identifier: GPL-2.0
"""The report's common ground: numbers as C's printf and strtod make them,
the key=value results as the C reports read them, the benchmarks' CSV."""
import json
import math
import re
import sys

NAN = float("nan")
INF = float("inf")
PAGE = 4096
MIB = 1048576.0
CSV_HEAD = "kernel,section,figure,stat,value,unit,ratio,ratio_to,target,verdict\n"


# ------------------------------------------------------------ C arithmetic


def div(a, b):
    """a / b as C computes it on doubles: x / 0 is +-inf, 0 / 0 NaN."""
    try:
        return a / b
    except ZeroDivisionError:
        if math.isnan(a):
            return a
        if a == 0:
            return INF - INF  # the CPU's default NaN, as C's 0.0 / 0.0
        neg = (math.copysign(1, a) < 0) != (math.copysign(1, b) < 0)
        return -INF if neg else INF


def cf(spec, x):
    """printf's %f with spec "[W].Pf" ("9.2f", ".4f"); C prints a negative
    NaN as -nan, Python as nan."""
    if math.isnan(x) and math.copysign(1, x) < 0:
        w = spec.split(".")[0]
        return "%*s" % (int(w or 0), "-nan")
    return ("%" + spec) % x


def fmt(x, prec):
    """x with prec decimals, or "n/a"."""
    return "n/a" if math.isnan(x) else cf(".%df" % prec, x)


_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_SPECIAL = re.compile(r"[+-]?(inf(inity)?|nan(\([0-9A-Za-z_]*\))?)", re.I)
_HEX = re.compile(r"[+-]?0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)([pP][+-]?\d+)?")


def strtod_all(s):
    """strtod(s) if it reads the whole of s, else NaN (the reports' kv_num)."""
    t = s.lstrip(" \t\n\v\f\r")
    if _FLOAT.fullmatch(t) or _SPECIAL.fullmatch(t):
        return float(t)
    if _HEX.fullmatch(t):
        m = t[1:] if t[0] in "+-" else t
        v = float.fromhex(m if "p" in m.lower() else m + "p0")
        return -v if t[0] == "-" else v
    return NAN


def strtoul_prefix(s, base):
    """strtoul(s, &end, base): the number and the rest, or None if none."""
    m = re.match(r"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|[0-9]+)", s)
    if not m:
        return None, s
    digits = m.group(2)
    if base == 0:
        if digits[:2].lower() == "0x":
            v = int(digits, 16)
        elif digits.startswith("0") and len(digits) > 1:
            om = re.match(r"[0-7]*", digits)
            v = int(om.group(0) or "0", 8)
            return (-v if m.group(1) == "-" else v) % (1 << 64), s[m.start(2) + len(om.group(0)):]
        else:
            v = int(digits)
    else:
        if digits[:2].lower() == "0x":
            digits = "0"
        v = int(digits)
    end = m.start(2) + len(digits)
    return (-v if m.group(1) == "-" else v) % (1 << 64), s[end:]


# ------------------------------------------------------------ results


class Env:
    """The key=value lines of result files, read as the C reports read
    them: the last value of a key wins, lines of 511 characters at most,
    keys under 80 and values under 160 characters, at most max_keys keys."""

    def __init__(self, files, max_keys, strip_key=True, full="stop", prog="report"):
        self.kv = {}
        for path in files:
            try:
                with open(path, "rb") as f:
                    data = f.read().decode("utf-8", "surrogateescape")
            except OSError as e:
                sys.stderr.write("%s: %s: %s (skipped)\n" % (prog, path, e.strerror))
                continue
            for line in self._lines(data):
                if "=" not in line or line[0] == "#":
                    continue
                k, v = line.split("=", 1)
                v = re.split(r"[\r\n]", v, maxsplit=1)[0]
                if strip_key:
                    k = k.lstrip(" \t")
                if " " in k or len(k.encode("utf-8", "surrogateescape")) >= 80 or \
                        len(v.encode("utf-8", "surrogateescape")) >= 160:
                    continue
                if k not in self.kv and len(self.kv) == max_keys:
                    if full == "die":
                        sys.exit("%s: more than %d keys" % (prog, max_keys))
                    break
                self.kv[k] = v

    @staticmethod
    def _lines(data):
        """fgets() with a 512-byte buffer: a longer line comes in pieces."""
        for line in data.splitlines(keepends=True):
            while len(line) > 511:
                yield line[:511]
                line = line[511:]
            yield line

    def str(self, key):
        return self.kv.get(key)

    def or_(self, key):
        v = self.kv.get(key)
        return "?" if v is None else v

    def num(self, key):
        v = self.kv.get(key)
        return NAN if not v else strtod_all(v)


class Csv:
    """The benchmarks' CSV (kernel,section,figure,stat,value,unit,ratio,
    ratio_to,target,verdict), and optionally the same rows as JSON."""

    def __init__(self, path, kver, json_path=None):
        self.kver = kver
        self.f = open(path, "w") if path else None
        if self.f:
            self.f.write(CSV_HEAD)
        self.json_path = json_path
        self.rows = []

    def row(self, section, figure, stat, value, unit, ratio, ratio_to, limit, verdict):
        self.rows.append((section, figure, stat, value, unit, ratio, ratio_to, limit, verdict))
        if not self.f:
            return
        self.f.write("%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n" % (
            self.kver, section, figure, stat, "" if math.isnan(value) else cf(".4f", value),
            unit, "" if math.isnan(ratio) else cf(".4f", ratio), ratio_to, limit, verdict))

    def close(self):
        if self.f:
            self.f.close()
        if self.json_path:
            write_json(self.json_path, {"kernel": self.kver, "figures": [
                {"section": r[0], "figure": r[1], "stat": r[2],
                 "value": r[3] if math.isfinite(r[3]) else None, "unit": r[4],
                 "ratio": r[5] if math.isfinite(r[5]) else None, "ratio_to": r[6] or None,
                 "target": r[7] or None, "verdict": r[8] or None} for r in self.rows]})


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, allow_nan=False)
        f.write("\n")


class Out:
    """stdout, written in pieces as printf wrote it."""

    def __init__(self):
        self.parts = []

    def w(self, s):
        self.parts.append(s)

    def pnum(self, x, w, prec):
        """ "1234.5" or "n/a" in w columns, after a space"""
        if math.isnan(x):
            self.w(" %*s" % (w, "n/a"))
        else:
            self.w(" " + cf("%d.%df" % (w, prec), x))

    def flush(self, f=sys.stdout):
        f.write("".join(self.parts))
        f.flush()
        self.parts = []


def host_line(o, e, where):
    x = e.num("host_foreign_qemu_max")
    if not math.isnan(x):
        o.w("host during the %s: %s cores, load average up to %s, other QEMU guests: %s%s\n" % (
            where, e.or_("host_cores"), e.or_("host_loadavg_max"), cf(".0f", x),
            " (WARNING: another lab shared the cores: figures are noisier)" if x > 0 else ""))
    return x


def failed_lines(o, e, who, checks):
    """The lab script's own count of failed checks and phases, if not 0."""
    s = e.str("checks_failed")
    if s is not None and s != "0":
        o.w("%s WARNING: %s %s checks failed: %s\n" % (who, s, checks,
                                                       e.or_("checks_failed_list")))
    s = e.str("phases_failed")
    if s is not None and s != "0":
        o.w("%s WARNING: %s phases failed: %s\n" % (who, s, e.or_("phases_failed_list")))


def verdict_le(value, limit):
    if math.isnan(value):
        return "NOT MEASURED"
    return "MET" if value <= limit else "MISSED"


def verdict_ge(value, limit):
    if math.isnan(value):
        return "NOT MEASURED"
    return "MET" if value >= limit else "MISSED"


class BwBase:
    """The base of a throughput ratio: the better of the two perftest
    ib_read_bw runs of a lab (before: ib_read_bw_4k_*, after: post_...). A
    busy host only slows perftest down, and the targets are lower bounds on
    tinydsm / raw, so the higher base is the strict reading. pre, post, MBps
    (the base's MB/s), mpps (its MsgRate, 10^6 4 KiB messages a second),
    use_post (which one)."""

    def __init__(self, e):
        self.pre = e.num("ib_read_bw_4k_MBps")
        self.post = e.num("post_ib_read_bw_4k_MBps")
        self.use_post = not math.isnan(self.post) and (
            math.isnan(self.pre) or self.post > self.pre)
        self.MBps = self.post if self.use_post else self.pre
        self.mpps = e.num("post_ib_read_bw_4k_Mpps" if self.use_post else "ib_read_bw_4k_Mpps")
