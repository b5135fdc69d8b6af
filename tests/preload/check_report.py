#!/usr/bin/env python3
"""Compares a memtally JSON report with what a test program says it did.

usage: check_report.py REPORT.json PROGRAM_STDOUT

PROGRAM_STDOUT holds lines of the form
  expect prefix=stress_ allocs=N frees=N allocated=N freed=N current=N
  expect category=Mine allocs=N ...
A "prefix" line is checked against the sum over every site whose function
name starts with the prefix; a "category" line against the category's own
("self") numbers. Every number must match exactly.
"""
import json
import sys

FIELDS = ("allocs", "frees", "allocated", "freed", "current")


def main():
    report_path, out_path = sys.argv[1], sys.argv[2]
    with open(report_path) as f:
        report = json.load(f)
    with open(out_path) as f:
        lines = [l.split() for l in f if l.startswith("expect ")]
    if not lines:
        print("check_report: no 'expect' line in the program's output")
        return 1
    g = report["global"]
    for k in FIELDS:
        if g["current"] != g["allocated"] - g["freed"]:
            print("check_report: global current != allocated - freed")
            return 1
    bad = 0
    for words in lines:
        kv = dict(w.split("=", 1) for w in words[1:])
        if "prefix" in kv:
            what = "sites %s*" % kv["prefix"]
            sites = [s for s in report["sites"]
                     if (s.get("function") or "").startswith(kv["prefix"])]
            got = {k: sum(s[k] for s in sites) for k in FIELDS}
        else:
            what = "category %s" % kv["category"]
            cat = report["categories"].get(kv["category"])
            if cat is None:
                print("check_report: %s missing from the report" % what)
                bad = 1
                continue
            got = {k: cat[k] for k in FIELDS}
        for k in FIELDS:
            want = int(kv[k])
            if got[k] != want:
                print("check_report: %s: %s is %d in the report, the program counted %d"
                      % (what, k, got[k], want))
                bad = 1
            if g[k] < want and k != "current":
                print("check_report: global %s (%d) below %s's %d" % (k, g[k], what, want))
                bad = 1
        if not bad:
            print("check_report: %s match: %s" % (what, " ".join("%s=%d" % (k, got[k]) for k in FIELDS)))
    return bad


if __name__ == "__main__":
    sys.exit(main())
