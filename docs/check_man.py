#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The man pages lint clean: mandoc -Tlint (warnings and above), else
groff -man -ww -z; with neither installed, skip (exit 77).

Usage: check_man.py PAGE...
"""
import shutil
import subprocess
import sys


def main(pages):
    mandoc = shutil.which("mandoc") or (
        "/usr/bin/mandoc" if shutil.os.path.exists("/usr/bin/mandoc") else None)
    groff = shutil.which("groff") or (
        "/usr/bin/groff" if shutil.os.path.exists("/usr/bin/groff") else None)
    if mandoc:
        cmd = [mandoc, "-Tlint", "-W", "warning"]
    elif groff:
        cmd = [groff, "-man", "-ww", "-z"]
    else:
        print("SKIP neither mandoc nor groff is installed: man pages not linted")
        return 77
    bad = 0
    for page in pages:
        r = subprocess.run(cmd + [page], capture_output=True, text=True)
        out = (r.stdout + r.stderr).strip()
        if r.returncode != 0 or out:
            print(f"FAIL {page} ({' '.join(cmd[:2])}):\n{out}")
            bad = 1
        else:
            print(f"OK {page}: {' '.join(cmd)} is silent")
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
