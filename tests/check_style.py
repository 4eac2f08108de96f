#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Source hygiene.

Usage: check_style.py spdx SRCROOT     every source file names its licence
                                       (an SPDX line in its first lines)
       check_style.py format SRCROOT   every C file is as .clang-format
                                       formats it (clang-format missing:
                                       skip, exit 77)
"""
import os
import shutil
import subprocess
import sys

SOURCE_EXT = (".c", ".h", ".in", ".py", ".sh", ".build", ".txt", ".ini",
              ".cmake", ".pml", ".supp")
SOURCE_NAMES = {"run", "wine-run", "meson.build", "meson_options.txt"}
SKIP_DIRS = {".git", "corpus", "logs"}


def sources(root):
    """The project's tracked files (git), else a walk of the tree."""
    try:
        out = subprocess.run(["git", "-C", root, "ls-files"],
                             capture_output=True, text=True, check=True)
        files = [f for f in out.stdout.splitlines() if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, dirs, names in os.walk(root):
            dirs[:] = [x for x in dirs if x not in SKIP_DIRS
                       and not x.startswith("build")]
            files += [os.path.relpath(os.path.join(d, n), root) for n in names]
    keep = []
    for f in files:
        parts = f.split("/")
        if any(p in SKIP_DIRS for p in parts[:-1]):
            continue
        name = parts[-1]
        if name in SOURCE_NAMES or name.endswith(SOURCE_EXT) \
                or f.startswith(".ci/"):
            if os.path.isfile(os.path.join(root, f)):
                keep.append(f)
    return sorted(keep)


def spdx(root):
    files = sources(root)
    bad = []
    for f in files:
        with open(os.path.join(root, f), encoding="utf-8",
                  errors="replace") as fh:
            head = "".join(fh.readline() for _ in range(5))
        if "SPDX-License-Identifier: Apache-2.0" not in head:
            bad.append(f)
    for f in bad:
        print(f"FAIL {f}: no 'SPDX-License-Identifier: Apache-2.0' line "
              "in its first 5 lines")
    if not bad:
        print(f"OK: {len(files)} source files carry the SPDX line")
    return 1 if bad or not files else 0


def find_clang_format():
    for c in ("clang-format", "clang-format-14", "clang-format-15",
              "clang-format-16"):
        p = shutil.which(c) or (f"/usr/bin/{c}"
                                if os.path.exists(f"/usr/bin/{c}") else None)
        if p:
            return p
    return None


def format_check(root):
    cf = find_clang_format()
    if not cf:
        print("SKIP clang-format is not installed: formatting not checked")
        return 77
    files = [f for f in sources(root) if f.endswith((".c", ".h"))]
    bad = []
    for f in files:
        r = subprocess.run([cf, "--style=file", "--dry-run", "--Werror",
                            "--assume-filename=" + f,
                            os.path.join(root, f)],
                           capture_output=True, text=True, cwd=root)
        if r.returncode != 0:
            bad.append(f)
            print(f"FAIL {f} is not formatted (clang-format -i {f}):")
            print("\n".join((r.stdout + r.stderr).splitlines()[:12]))
    if not bad:
        print(f"OK: {len(files)} C files formatted as .clang-format says "
              f"({cf})")
    return 1 if bad or not files else 0


def main(argv):
    if len(argv) != 3 or argv[1] not in ("spdx", "format"):
        print(__doc__)
        return 2
    return spdx(argv[2]) if argv[1] == "spdx" else format_check(argv[2])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
