#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Run suites or single cases many times, on several legs, and count.

Usage (through ./run soak, which builds the legs first):
  soak.py --root DIR [--times N] [--legs L,L] [--windows] [--load]
          [--load-suite SUITE] [--jobs J] [--timeout S] SUITE[/CASE]...

SUITE is a suite of tests/meson.build; /CASE keeps only the cases whose
name holds CASE. Legs: native, native-fast, asan, asan-fast, tsan,
tsan-fast (default: native, native-fast, asan, asan-fast), and with
--windows (or in --legs) windows, windows-fast: the mingw build under
Wine. --load runs SUITE (default: reliability) natively in a loop beside
the soak, as load. Each run is one process of the suite's program; a run
that ends badly with no failed case (a sanitizer's report, a crash
between cases, a timeout) counts as a failure of the pseudo-case
"(process)". Prints a table: leg, suite, case, failures/runs, and the
first failed assertion seen; exits 1 on any failure.
"""
import argparse
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results  # noqa: E402  (the same parser as ./run tests)

LEGS = {
    # name: (build dir, program, environment)
    "native": ("build", "tests/xpipe-tests", {}),
    "native-fast": ("build", "tests/xpipe-tests", {"XPIPE_FAST_PATH": "force"}),
    "asan": ("build-asan", "tests/xpipe-tests", {"ASAN": "1"}),
    "asan-fast": ("build-asan", "tests/xpipe-tests",
                  {"ASAN": "1", "XPIPE_FAST_PATH": "force"}),
    "tsan": ("build-tsan", "tests/xpipe-tests", {"TSAN": "1"}),
    "tsan-fast": ("build-tsan", "tests/xpipe-tests",
                  {"TSAN": "1", "XPIPE_FAST_PATH": "force"}),
    "windows": ("build-win", "tests/xpipe-tests.exe", {"WINE": "1"}),
    "windows-fast": ("build-win", "tests/xpipe-tests.exe",
                     {"WINE": "1", "XPIPE_FAST_PATH": "force"}),
}
DEFAULT_LEGS = ["native", "native-fast", "asan", "asan-fast"]


def leg_command(root, leg, suite):
    bdir, prog, extra = LEGS[leg]
    env = dict(os.environ)
    env["XT_SRCDIR"] = root
    cmd = [os.path.join(root, bdir, prog), "--suite", suite]
    if extra.get("ASAN"):
        env["ASAN_OPTIONS"] = ("detect_leaks=1:abort_on_error=1:"
                               "fast_unwind_on_malloc=0")
        env["LSAN_OPTIONS"] = "suppressions=" + os.path.join(root, "tests",
                                                             "lsan.supp")
        env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
    if extra.get("TSAN"):
        env["TSAN_OPTIONS"] = ("halt_on_error=0 second_deadlock_stack=1 "
                               "suppressions=" + os.path.join(root, "tests",
                                                              "tsan.supp"))
    if extra.get("WINE"):
        cmd = [os.path.join(root, "build-aux", "wine-run")] + cmd
    if extra.get("XPIPE_FAST_PATH"):
        env["XPIPE_FAST_PATH"] = extra["XPIPE_FAST_PATH"]
    return cmd, env


def keep_log(root, leg, suite, out):
    """A failed run's whole output, in logs/soak/: its path."""
    d = os.path.join(root, "logs", "soak")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"{leg}-{suite}-{time.strftime('%H%M%S')}-"
                        f"{os.getpid()}-{threading.get_ident() % 10000}.log")
    with open(path, "w") as fh:
        fh.write(out)
    return path


def one_run(root, leg, suite, case, timeout):
    """[(case, passed, first)] of one run, with "(process)" added when the
    program ended badly but no case says why; a failed run's output is
    kept (logs/soak/, named in the first failure's text)."""
    cmd, env = leg_command(root, leg, suite)
    if case:
        env["XT_CASE"] = case
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        out = p.stdout.decode(errors="replace")
        rc = p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
        rc = None
    found = results.cases(out)
    bad = [c for c in found if not c[1]]
    if rc is None:
        found.append(("(process)", False,
                      f"no end within {timeout} s"))
    elif rc != 0 and not bad:
        tail = [ln for ln in out.strip().splitlines() if ln.strip()][-3:]
        found.append(("(process)", False,
                      f"exit {rc} after {time.monotonic() - t0:.1f} s: "
                      + " | ".join(tail)[:300]))
    elif not found:
        found.append(("(process)", False, "no case ran: " + out[-300:]))
    else:
        found.append(("(process)", True, None))
    if any(not ok for _, ok, _ in found):
        path = keep_log(root, leg, suite, out)
        found = [(c, ok, (f"{first} [{os.path.relpath(path, root)}]"
                          if first else f"[{os.path.relpath(path, root)}]")
                  if not ok else None) for c, ok, first in found]
    return found


def load_loop(root, suite, stop):
    cmd, env = leg_command(root, "native", suite)
    n = 0
    while not stop.is_set():
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        n += 1
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--times", type=int, default=20)
    ap.add_argument("--legs")
    ap.add_argument("--windows", action="store_true")
    ap.add_argument("--load", action="store_const", const="reliability")
    ap.add_argument("--load-suite", dest="load")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("targets", nargs="+")
    a = ap.parse_args()
    legs = a.legs.split(",") if a.legs else list(DEFAULT_LEGS)
    if a.windows and not a.legs:
        legs += ["windows", "windows-fast"]
    for leg in legs:
        if leg not in LEGS:
            print(f"soak: no leg named {leg} ({', '.join(LEGS)})")
            return 2
    targets = [(t.partition("/")[0], t.partition("/")[2]) for t in a.targets]

    wine = any(LEGS[leg][2].get("WINE") for leg in legs)
    if wine:
        # Else Wine's services hold each run's output pipe open for 30 s.
        subprocess.run([os.path.join(a.root, "build-aux", "windows.sh"),
                        "wine-start"], check=True)
    stop = threading.Event()
    loader = None
    if a.load:
        loader = threading.Thread(target=load_loop,
                                  args=(a.root, a.load, stop), daemon=True)
        loader.start()
    # (leg, suite, case) -> [runs, failures, first failure]
    table = {}
    failed_runs = {}  # (leg, suite) -> runs with any failure
    lock = threading.Lock()
    work = [(leg, s, c) for leg in legs for s, c in targets
            for _ in range(a.times)]
    done = [0]
    total = len(work)
    t_start = time.monotonic()

    def worker():
        while True:
            with lock:
                if not work:
                    return
                leg, suite, case = work.pop(0)
            found = one_run(a.root, leg, suite, case, a.timeout)
            with lock:
                anybad = False
                for name, ok, first in found:
                    if not ok:
                        print(f"soak: {leg} {suite}: FAILED {name}: "
                              f"{(first or 'no result')[:300]}", flush=True)
                    row = table.setdefault((leg, suite, name), [0, 0, None])
                    row[0] += 1
                    if not ok:
                        anybad = True
                        row[1] += 1
                        row[2] = row[2] or (first or "no result")
                done[0] += 1
                failed_runs[(leg, suite)] = (failed_runs.get((leg, suite), 0)
                                             + (1 if anybad else 0))
                if done[0] % 10 == 0 or anybad:
                    print(f"soak: {done[0]} of {total} runs, "
                          f"{time.monotonic() - t_start:.0f} s"
                          + (f"; {leg} {suite}: a failure" if anybad else ""),
                          flush=True)

    threads = [threading.Thread(target=worker) for _ in range(max(1, a.jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    if loader:
        loader.join()
    if wine:
        subprocess.run([os.path.join(a.root, "build-aux", "windows.sh"),
                        "wine-stop"])

    fails = sum(r[1] for r in table.values())
    print(f"\nsoak: {a.times} runs of {' '.join(a.targets)} per leg"
          + (f", with {a.load} running beside it as load" if a.load else "")
          + f", {time.monotonic() - t_start:.0f} s")
    print(f"{'leg':<13} {'suite':<12} {'failed/runs':>11}  case")
    for (leg, suite, name), (runs, bad, first) in sorted(table.items()):
        print(f"{leg:<13} {suite:<12} {bad:>5}/{runs:<5}  {name}")
        if first:
            print(f"{'':<13} {'':<12} {'':>11}    first: {first[:240]}")
    for (leg, suite), bad in sorted(failed_runs.items()):
        runs = table[(leg, suite, "(process)")][0]
        print(f"soak: {leg} {suite}: {bad} of {runs} runs failed")
    print(f"soak: {fails} failures")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
