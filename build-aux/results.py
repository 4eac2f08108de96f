#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Count the results of every leg of ./run tests.

Usage: results.py LEG [LEG...], each LEG one of
    LABEL=PATH               a meson testlog.json (or the consumer driver's
                             file in the same format) written by this run
    LABEL=!failed:CAUSE      the leg could not run: one failed case
    LABEL=!skipped:REASON    the leg was left out: one skipped case

Each CUnit test program prints one line
    XPIPE-RESULT backend=B suite=S passed=N failed=N skipped=N
counted here. A test that failed without printing that line (a crash, a
timeout) counts as one failed case; one that meson reports as SKIP (exit
77) counts as one skipped case, with the reason it printed. Prints a line
per leg and the final `tests: N passed, N failed[, N skipped]`; exits 1
on any failure or when nothing passed.
"""
import json
import re
import sys

LINE = re.compile(r"XPIPE-RESULT backend=(\S+) suite=(\S+) passed=(\d+) "
                  r"failed=(\d+) skipped=(\d+)")


CASE = re.compile(r"^\s*Test: (.*?) \.\.\.(.*)$")


def cases(out):
    """(case, passed, first failed assertion) for each CUnit case, from the
    basic runner's output: "Test: NAME ...passed", or "Test: NAME ..."
    followed by the assertions that failed and a line "FAILED". A case
    whose result never came (the program died in it) is a failure with
    first=None."""
    found, name, first = [], None, None
    for ln in out.splitlines():
        m = CASE.match(ln)
        if m:
            if name is not None:
                found.append((name, False, first))
            name, first = m.group(1), None
            if m.group(2).startswith("FAILED"):
                found.append((name, False, None))
                name = None
            elif m.group(2).rstrip().endswith("passed"):
                found.append((name, True, None))
                name = None
            continue
        if name is None:
            continue
        s = ln.strip()
        if s.startswith("FAILED"):
            found.append((name, False, first))
            name = None
        elif s.endswith("passed"):
            found.append((name, True, None))  # after a case's own output
            name = None
        elif first is None and s and not s.startswith("SKIP"):
            first = s
    if name is not None:
        found.append((name, False, first))
    return found


def failed_cases(out):
    """(case, first failed assertion) for each CUnit case that failed."""
    return [(c, first) for c, ok, first in cases(out) if not ok]


def count_test(t, notes):
    """Counts (passed, failed, skipped) of one meson test record."""
    out = t.get("stdout") or ""
    result = t.get("result")
    m = LINE.search(out)
    ok = result in ("OK", "EXPECTEDFAIL")
    for sk in re.findall(r"^\s*SKIP (.*)$", out, re.M):
        notes.append(f"{t['name']}: skipped {sk.strip()}")
    for case, first in failed_cases(out):
        notes.append(f"{t['name']}: FAILED {case}"
                     + (f": {first[:200]}" if first else ""))
    if m:
        p, fl, s = (int(x) for x in m.group(3, 4, 5))
        if not ok and result != "SKIP" and fl == 0:
            fl = 1  # exited badly after counting: still a failure
            notes.append(f"{t['name']}: {result} after its cases")
        return p, fl, s
    # Not a CUnit program (docs, fuzzing, the crash check, a consumer
    # project): one case.
    runs = re.search(r"Done (\d+) runs in (\d+) second",
                     out + (t.get("stderr") or ""))
    if runs:
        notes.append(f"{t['name']}: {runs.group(1)} executions in "
                     f"{runs.group(2)} s")
    if result == "SKIP":
        if not re.search(r"^\s*SKIP ", out, re.M):
            notes.append(f"{t['name']}: skipped (no reason printed)")
        return 0, 0, 1
    if ok:
        return 1, 0, 0
    why = (out + (t.get("stderr") or "")).strip().splitlines()
    notes.append(f"{t['name']}: {result}"
                 + (f": {why[-1][:160]}" if why else " with no output"))
    return 0, 1, 0


def count(path):
    passed = failed = skipped = 0
    notes = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            if not raw.strip():
                continue
            p, fl, s = count_test(json.loads(raw), notes)
            passed += p
            failed += fl
            skipped += s
    return passed, failed, skipped, notes


def line(p, f, s):
    out = f"{p} passed, {f} failed"
    return out + (f", {s} skipped" if s else "")


def main():
    tp = tf = ts = 0
    for arg in sys.argv[1:]:
        label, _, what = arg.partition("=")
        if what.startswith("!failed:"):
            p, f, s, notes = 0, 1, 0, [f"FAILED: {what[8:]}"]
        elif what.startswith("!skipped:"):
            p, f, s, notes = 0, 0, 1, [f"skipped: {what[9:]}"]
        else:
            try:
                p, f, s, notes = count(what)
            except (OSError, ValueError) as e:
                p, f, s, notes = 0, 1, 0, [f"FAILED: no results: {e}"]
        for n in notes:
            print(f"  {label}: {n}")
        print(f"{label}: {line(p, f, s)}")
        tp, tf, ts = tp + p, tf + f, ts + s
    print(f"tests: {line(tp, tf, ts)}")
    return 1 if tf or tp == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
