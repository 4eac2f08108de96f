#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Model-check the guard (lib/model/guard.pml), the POSIX wake slots
(backends/posix/wake.pml) and the Win32 poll set's wait
(backends/win32/pset.pml) with Spin, exhaustively.

Usage: check.py --work DIR --out RESULTS.json

Cases (written in meson's testlog format for build-aux/results.py):
  guard               the model as the code is: no error, with the states
                      explored and the properties checked named;
  seed-consume-busy   a copy with a known bug (the interrupt cleared while
                      another call is in flight): Spin must find it;
  seed-no-broadcast   a copy with another (the last call out does not wake
                      the closer): Spin must find it;
  seed-leave-unlocked the leave of earlier versions (count out, then lock
                      to wake the closer): Spin must find a call touching
                      the guard after close returned;
  wake-slots          the wake slots: no fd written after its thread closed
                      it, no deadlock;
  seed-plain-leave    the old code (a waiter leaves its slot with a plain
                      store): Spin must find the write to a closed fd;
  pset-wait           the Win32 poll set's wait (backends/win32/pset.pml):
                      no wake-up or packet lost, no deadlock;
  seed-no-poke        its first version (no poke flag): Spin must find
                      the lost wake-up;
  slice               the POSIX blocking slice (backends/posix/slice.pml):
                      close reaches a call asleep in a slice at once, an
                      interrupt ends it after its slice, no deadlock;
  seed-state-only     close shutting the socket down only when it is
                      sliced now: Spin must find the call left asleep.
The seeded runs prove that the check can fail. Spin and gcc must be
installed (Debian's spin); without spin every case is SKIP.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GUARD = os.path.join(HERE, "guard.pml")
WAKE = os.path.join(HERE, "..", "..", "backends", "posix", "wake.pml")
PSET = os.path.join(HERE, "..", "..", "backends", "win32", "pset.pml")
SLICE = os.path.join(HERE, "..", "..", "backends", "posix", "slice.pml")
PROPS = {GUARD: "P1 no interrupt lost, P2 consumed at most once, P3 close "
                "waits for every call, P4 no call enters after close, "
                "P5 no deadlock, P6 no call touches the guard after close "
                "returned",
         WAKE: "no fd written after its thread closed it, no deadlock",
         PSET: "no wake-up or packet lost to the event's reset, no "
               "deadlock",
         SLICE: "close never left waiting for a slice to run out, no "
                "deadlock"}


def which(name):
    return shutil.which(name) or next(
        (os.path.join(d, name) for d in ("/usr/bin", "/bin")
         if os.path.exists(os.path.join(d, name))), None)


def verify(work, spin, cc, model, defines):
    """Run Spin on model with defines; (errors, states, text)."""
    os.makedirs(work, exist_ok=True)
    for f in os.listdir(work):
        os.remove(os.path.join(work, f))
    cmd = [spin] + ["-D" + d for d in defines] + ["-a", model]
    r = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if r.returncode != 0:
        return None, 0, r.stdout + r.stderr
    r = subprocess.run([cc, "-O2", "-DSAFETY", "-DCOLLAPSE", "-w", "-o", "pan",
                        "pan.c"], cwd=work, capture_output=True, text=True)
    if r.returncode != 0:
        return None, 0, r.stdout + r.stderr
    t0 = time.time()
    r = subprocess.run(["./pan", "-m100000"], cwd=work, capture_output=True,
                       text=True, timeout=900)
    out = r.stdout + r.stderr
    m = re.search(r"errors: (\d+)", out)
    s = re.search(r"(\d+) states, stored", out)
    errors = int(m.group(1)) if m else None
    states = int(s.group(1)) if s else 0
    out += f"\n(wall time {time.time() - t0:.1f} s)"
    return errors, states, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    spin, cc = which("spin"), which("gcc") or which("cc")
    cases = [("guard", GUARD, [], False),
             ("seed-consume-busy", GUARD, ["SEED_CONSUME_BUSY"], True),
             ("seed-no-broadcast", GUARD, ["SEED_NO_BROADCAST"], True),
             ("seed-leave-unlocked", GUARD, ["SEED_LEAVE_UNLOCKED"], True),
             ("wake-slots", WAKE, [], False),
             ("seed-plain-leave", WAKE, ["SEED_PLAIN_LEAVE"], True),
             ("pset-wait", PSET, [], False),
             ("seed-no-poke", PSET, ["SEED_NO_POKE"], True),
             ("slice", SLICE, [], False),
             ("seed-state-only", SLICE, ["SEED_STATE_ONLY"], True)]
    failed = 0
    with open(a.out, "w") as f:
        for name, model, defines, must_fail in cases:
            if not spin or not cc:
                result, text = "SKIP", ("SKIP spin is not installed "
                                        "(Debian's spin package)")
            else:
                errors, states, out = verify(os.path.join(a.work, name),
                                             spin, cc, model, defines)
                found = re.findall(r"pan:1: (.*?) \(at depth", out)
                if errors is None:
                    result, text = "FAIL", "Spin did not run:\n" + out
                elif must_fail and errors > 0:
                    result = "OK"
                    text = (f"the seeded bug was found: "
                            f"{found[0] if found else 'error'}\n{out}")
                elif not must_fail and errors == 0:
                    result = "OK"
                    text = (f"{states} states explored, no error: "
                            f"{PROPS[model]}"
                            f"\n{out}")
                else:
                    result = "FAIL"
                    text = (f"errors: {errors} "
                            f"({found[0] if found else ''})\n{out}")
            failed += result == "FAIL"
            print(f"{name}: {result}: {text.splitlines()[0]}")
            f.write(json.dumps({"name": name, "result": result,
                                "stdout": text}) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
