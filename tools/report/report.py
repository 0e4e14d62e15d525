#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""tinydsm's report: the benchmarks' and the demo's key=value results
(the .env files the labs write) into the tables (summary.txt), the CSV,
figures.json and the plots. What each figure means: tools/bench/README.md.

  report.py remote [-c CSV] [-j JSON] ENV...      make bench: remote memory
  report.py migrate [-c CSV] [-j JSON] [-E ENV] ENV...
                                          make bench: migration; -E ENV
                                          appends the derived figures
  report.py access [-c CSV] [-j JSON] ENV...      make bench: access sites
  report.py cache [-c CSV] [-j JSON] ENV...       make bench: bounded cache
  report.py sync [-c CSV] [-j JSON] ENV...        make bench: synchronisation
  report.py alloc [-c CSV] [-j JSON] ENV...       make bench: allocator study
  report.py programs [-c CSV] [-j JSON] ENV...    make bench: the programs benchmark
  report.py steps [-e ENV] LABEL REQ-TRACE PEER-TRACE r|w
                                          make bench: where a remote read
                                          (r) or write (w) fault's time
                                          goes, from both nodes' ftrace
                                          buffers; -e ENV appends bd_*
  report.py demo DIR KVER                 make demo: DIR/summary.txt,
                                          figures.csv, figures.json, plots
  report.py results TITLE COMMAND SUMMARY...
                                          summary.txt files as a section
                                          of docs/results.md

-c: the CSV (kernel,section,figure,stat,value,unit,ratio,ratio_to,target,
verdict); -j: the same rows as JSON. ENV: key=value files, the last value
of a key wins.

Python 3 and its standard library only, not C: the report is text,
arithmetic on a few hundred figures, CSV and JSON, where C needs a
hand-rolled key=value store, a string ring buffer and an external jq;
Python has all of it, and Debian 12 has python3. It runs where the results
are, on the host (the lab guests mount the host's root, so the guest-side
scripts can run it too); the benchmarks' programs stay C because they run
in the guests and time single memory accesses.

The numbers are printed as the C and awk reports before this one printed
them: printf formats, C's NaN ("nan", "-nan") and IEEE division (x / 0 is
inf, 0 / 0 is NaN), so the tables stay line for line the same
(make report-test, tools/report/test/).

One module per report: remote.py, migrate.py, access.py, cache.py, sync.py, alloc.py, programs.py, steps.py (make bench),
demo.py (make demo); common.py has what they share.

Exit status: remote, migrate, cache, sync, alloc, programs 0; access 1 if a check of the figures failed;
steps 1 if no fault of the traces matched;
demo 1 if figures.json or a plot could not be made (its checks print in
the table, as before); 2 usage.
"""
import sys

sys.dont_write_bytecode = True  # run from the tree, often as root: leave no __pycache__

from access import Access  # noqa: E402
from alloc import Alloc  # noqa: E402
from programs import Programs  # noqa: E402
from cache import Cache  # noqa: E402
from demo import report_demo  # noqa: E402
from migrate import Migrate  # noqa: E402
from remote import report_remote  # noqa: E402
from steps import report_steps  # noqa: E402
from sync import Sync  # noqa: E402


# ------------------------------------------------------------ results


def results(title, command, files):
    """A section of docs/results.md: a title, the command that made the
    tables, and the tables as they were printed."""
    out = ["## %s\n\n" % title, "Regenerate: `%s`\n" % command]
    for path in files:
        with open(path) as f:
            text = f.read().rstrip("\n")
        out.append("\n```\n%s\n```\n" % text)
    sys.stdout.write("".join(out))
    return 0


# ------------------------------------------------------------ main


def usage():
    sys.stderr.write("usage:\n" + __doc__.split("\n\n")[1] + "\n")
    sys.exit(2)


def opts(argv, letters):
    """getopt-like: -X VALUE for each letter in letters, then files."""
    got, i = {}, 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        a = argv[i]
        if len(a) < 2 or a[1] not in letters:
            usage()
        if len(a) > 2:
            got[a[1]] = a[2:]
            i += 1
        elif i + 1 < len(argv):
            got[a[1]] = argv[i + 1]
            i += 2
        else:
            usage()
    if i == len(argv):
        usage()
    return got, argv[i:]


def main(argv):
    if len(argv) < 2:
        usage()
    cmd, args = argv[1], argv[2:]
    if cmd == "remote":
        o, files = opts(args, "cj")
        return report_remote(files, o.get("c"), o.get("j"))
    if cmd == "migrate":
        o, files = opts(args, "cjE")
        return Migrate(files, o.get("c"), o.get("j"), o.get("E")).report()
    if cmd == "access":
        o, files = opts(args, "cj")
        return Access(files, o.get("c"), o.get("j")).report()
    if cmd == "cache":
        o, files = opts(args, "cj")
        return Cache(files, o.get("c"), o.get("j")).report()
    if cmd == "sync":
        o, files = opts(args, "cj")
        return Sync(files, o.get("c"), o.get("j")).report()
    if cmd == "alloc":
        o, files = opts(args, "cj")
        return Alloc(files, o.get("c"), o.get("j")).report()
    if cmd == "programs":
        o, files = opts(args, "cj")
        return Programs(files, o.get("c"), o.get("j")).report()
    if cmd == "steps":
        o, files = opts(args, "e")
        if len(files) != 4 or files[3] not in ("r", "w"):
            usage()
        return report_steps(files[0], files[1], files[2], files[3] == "w",
                            o.get("e"))
    if cmd == "demo":
        if len(args) != 2:
            usage()
        return report_demo(args[0], args[1])
    if cmd == "results":
        if len(args) < 3:
            usage()
        return results(args[0], args[1], args[2:])
    usage()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
