#!/usr/bin/env python3
"""Count CUnit results from meson's testlog.json files.

Usage: results.py LABEL=build/meson-logs/testlog.json [LABEL=...]

Each test program prints one line
    XPIPE-RESULT backend=B suite=S passed=N failed=N skipped=N
counted here. A meson test that failed without printing that line (a
crash, a timeout) counts as one failed case. Prints a line per build and
the final `tests: N passed, N failed[, N skipped]`; exits 1 on any failure.
"""
import json
import re
import sys

LINE = re.compile(r"XPIPE-RESULT backend=(\S+) suite=(\S+) passed=(\d+) "
                  r"failed=(\d+) skipped=(\d+)")


def count(path):
    passed = failed = skipped = 0
    notes = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            t = json.loads(raw)
            m = LINE.search(t.get("stdout") or "")
            ok = t.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
            if m:
                p, fl, s = (int(x) for x in m.group(3, 4, 5))
                if not ok and fl == 0:
                    fl = 1  # exited badly after counting: still a failure
                    notes.append(f"{t['name']}: {t.get('result')} after its cases")
            else:
                # A test that is not a CUnit program (docs, fuzzing, the
                # crash check) counts as one case.
                p, fl, s = (1, 0, 0) if ok else (0, 1, 0)
                if not ok:
                    notes.append(f"{t['name']}: {t.get('result')} with no result line")
                runs = re.search(r"Done (\d+) runs in (\d+) second",
                                 (t.get("stdout") or "") + (t.get("stderr") or ""))
                if runs:
                    notes.append(f"{t['name']}: {runs.group(1)} executions in {runs.group(2)} s")
            passed += p
            failed += fl
            skipped += s
            for sk in re.findall(r"SKIP (.*)", t.get("stdout") or ""):
                notes.append(f"{t['name']}: skipped {sk.strip()}")
    return passed, failed, skipped, notes


def line(p, f, s):
    out = f"{p} passed, {f} failed"
    return out + (f", {s} skipped" if s else "")


def main():
    tp = tf = ts = 0
    for arg in sys.argv[1:]:
        label, _, path = arg.partition("=")
        try:
            p, f, s, notes = count(path)
        except OSError as e:
            p, f, s, notes = 0, 1, 0, [f"no results: {e}"]
        for n in notes:
            print(f"  {label}: {n}")
        print(f"{label}: {line(p, f, s)}")
        tp, tf, ts = tp + p, tf + f, ts + s
    print(f"tests: {line(tp, tf, ts)}")
    return 1 if tf or tp == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
