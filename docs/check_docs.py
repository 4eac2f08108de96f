#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The generated API reference is complete and clean.

Usage: check_docs.py DOCDIR HEADER SRCROOT BUILDROOT
       check_docs.py --missing     (Doxygen not installed: skip, exit 77)

Fails when Doxygen warned (an undocumented public symbol, a bad @param),
when a public function or an XPIPE_E* status code is missing from the
HTML, or when any page shows a path of the build machine (the source or
build directory).
"""
import os
import re
import sys


def main(argv):
    if argv[1:] == ["--missing"]:
        print("SKIP doxygen is not installed: the API reference was not built")
        return 77
    docdir, header, srcroot, buildroot = argv[1:5]
    bad = []
    warn = os.path.join(docdir, "doxygen-warnings.txt")
    text = open(warn, encoding="utf-8", errors="replace").read().strip()
    if text:
        bad.append("Doxygen warnings:\n" + text)
    html = ""
    for dirpath, _, files in os.walk(os.path.join(docdir, "html")):
        for f in files:
            if f.endswith((".html", ".js")):
                html += open(os.path.join(dirpath, f), encoding="utf-8",
                             errors="replace").read()
    if not html:
        bad.append("no HTML was generated")
    src = open(header, encoding="utf-8").read()
    names = {"XPIPE_" + n for n in re.findall(r"\bX\((E[A-Z]+),", src)}
    names |= set(re.findall(r"\b(xpipe_\w+)\s*\(", src))
    missing = sorted(n for n in names if n not in html)
    if missing:
        bad.append("not in the reference: " + " ".join(missing))
    for root in {srcroot, buildroot, os.path.realpath(srcroot),
                 os.path.realpath(buildroot)}:
        if root and root in html:
            bad.append(f"the reference shows the build machine's path {root}")
    for b in bad:
        print("FAIL " + b)
    if not bad:
        print(f"OK: {len(names)} public names documented, no warnings, "
              "no machine paths")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
