#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The house rules, checked (CONTRIBUTING.md, "Layout").

Usage: check_layout.py SRCROOT ARCHIVE NM   check the tree and the
                                             internal static library
       check_layout.py --self-test          each rule, seeded with a
                                             violation, must fail

Rules:
  symbols   no extern symbol of the internal library without the xpipe
            prefix (ARCHIVE: libxpipe-internal.a; NM: the nm to read it);
  circles   no two files of lib/ and backends/ that call each other;
  headers   lib/ includes no OS header: its own, APR's and C11's only;
  size      no file of lib/ or backends/ over about 600 lines (FILE_MAX),
            no function over about 80 (FUNC_MAX), unless the file is listed in LONG_FILES with
            its reason, or the function's leading comment gives one
            ("Long: ...");
  formats   no %z, %ll or %j in a format APR formats (xpipe__fail,
            xpipe__log, apr_psprintf, apr_snprintf): APR's formatter has
            none of them, prints them as text and reads the next
            arguments wrongly (APR_SIZE_T_FMT, APR_INT64_T_FMT instead);
  statuses  every code of XPIPE_STATUS_MAP has its XPIPE_STATUS_IS_ macro
            and its entry in docs/xpipe.7.in, and no code is defined
            outside the list.
"""
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile

# "About 600 lines" a file, "about 80" a function: the grace is 5%.
FILE_MAX = 630
FUNC_MAX = 84
# Files allowed past FILE_MAX, each with its reason (none now).
LONG_FILES = {}
# What lib/ may include beside its own headers and APR's (apr*.h).
C11_HEADERS = {
    "assert.h", "complex.h", "ctype.h", "errno.h", "fenv.h", "float.h",
    "inttypes.h", "iso646.h", "limits.h", "locale.h", "math.h",
    "setjmp.h", "signal.h", "stdalign.h", "stdarg.h", "stdatomic.h",
    "stdbool.h", "stddef.h", "stdint.h", "stdio.h", "stdlib.h",
    "stdnoreturn.h", "string.h", "tgmath.h", "threads.h", "time.h",
    "uchar.h", "wchar.h", "wctype.h",
}
SOURCE_DIRS = ("lib", "backends")


def c_files(root):
    out = []
    for top in SOURCE_DIRS:
        for d, dirs, names in os.walk(os.path.join(root, top)):
            dirs.sort()
            for n in sorted(names):
                if n.endswith((".c", ".h")):
                    out.append(os.path.relpath(os.path.join(d, n), root))
    return out


def read(root, rel):
    with open(os.path.join(root, rel), encoding="utf-8",
              errors="replace") as fh:
        return fh.read()


# ---------------------------------------------------------------- symbols
def nm_table(nm_text):
    """(definitions: symbol -> object, uses: object -> symbols) from the
    output of nm -A on an archive."""
    defs, uses = {}, collections.defaultdict(set)
    for line in nm_text.splitlines():
        m = re.match(r"[^:]+:([^:]+):\s*(?:[0-9a-fA-F]+)?\s+([A-Za-z])\s+(\S+)",
                     line)
        if not m:
            continue
        obj, kind, sym = m.groups()
        if kind in "TDBRCGS":
            defs[sym] = obj
        elif kind == "U":
            uses[obj].add(sym)
    return defs, uses


def check_symbols(nm_text):
    defs, _ = nm_table(nm_text)
    bad = []
    for sym, obj in sorted(defs.items()):
        # mingw's emulated TLS names a variable __emutls_v.<name>.
        name = re.sub(r"^(__emutls_[vt]\.|_+(?=xpipe))", "", sym)
        if not name.startswith("xpipe") and not sym.startswith("."):
            bad.append(f"{obj} defines extern {sym} without the xpipe prefix")
    return bad


def obj_source(obj):
    """meson's object name (lib_channel.c.o, backends_posix_conn.c.obj)
    as the source it came from."""
    base = re.sub(r"\.(o|obj)$", "", obj)
    return base.replace("_", "/", 1) if base.startswith("lib_") else base


def check_circles(nm_text):
    defs, uses = nm_table(nm_text)
    dep = collections.defaultdict(set)
    for obj, syms in uses.items():
        for s in syms:
            if s in defs and defs[s] != obj:
                dep[obj].add(defs[s])
    bad = []
    for a in sorted(dep):
        for b in sorted(dep[a]):
            if a < b and a in dep[b]:
                bad.append(f"{obj_source(a)} and {obj_source(b)} call each "
                           "other: break the circle (a shared header, a "
                           "function moved, or a hook)")
    return bad


# ---------------------------------------------------------------- headers
def check_headers(root, files):
    bad = []
    for rel in files:
        if not rel.startswith("lib/"):
            continue
        for n, line in enumerate(read(root, rel).splitlines(), 1):
            m = re.match(r"\s*#\s*include\s*<([^>]+)>", line)
            if not m:
                continue
            h = m.group(1)
            if h.startswith("apr") or h in C11_HEADERS:
                continue
            bad.append(f"{rel}:{n}: lib/ includes the OS header <{h}>: OS "
                       "code belongs in backends/")
    return bad


# ---------------------------------------------------------------- size
def functions(text):
    """(name, first line, length in lines, leading comment) of each
    function defined at file scope: a body from a '{' to a '}' in column
    0 after a signature."""
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        if lines[i] == "{":
            j = i
            while j < len(lines) and lines[j] != "}":
                j += 1
            k = i - 1
            sig = []
            while k >= 0 and lines[k].strip() and not lines[k].startswith(
                    ("/*", " *", "}", "#")) and not lines[k].endswith(";"):
                sig.insert(0, lines[k])
                k -= 1
            m = re.search(r"(\w+)\s*\(", " ".join(sig))
            comment = []
            while k >= 0 and (lines[k].startswith(("/*", " *"))
                              or lines[k].endswith("*/")):
                comment.insert(0, lines[k])
                k -= 1
            if m:
                out.append((m.group(1), i + 1, j - i + 1, "\n".join(comment)))
            i = j
        i += 1
    return out


def check_size(root, files):
    bad = []
    for rel in files:
        text = read(root, rel)
        n = text.count("\n")
        if n > FILE_MAX and rel not in LONG_FILES:
            bad.append(f"{rel}: {n} lines (more than {FILE_MAX}): split it "
                       "by role, or list it in LONG_FILES with its reason")
        for name, first, length, comment in functions(text):
            if length > FUNC_MAX and "Long:" not in comment:
                bad.append(f"{rel}:{first}: {name}() has {length} lines "
                           f"(more than {FUNC_MAX}): split it, or say why "
                           "not in its comment (\"Long: ...\")")
    return bad


# ---------------------------------------------------------------- formats
APR_FORMATTERS = ("xpipe__fail", "xpipe__log", "apr_psprintf", "apr_snprintf",
                  "apr_pvsprintf", "apr_vsnprintf")


def check_formats(root, files):
    bad = []
    call = re.compile(r"\b(%s)\s*\(" % "|".join(APR_FORMATTERS))
    for rel in files:
        text = read(root, rel)
        for m in call.finditer(text):
            end = text.find(";", m.end())
            args = text[m.end():end if end >= 0 else len(text)]
            for lit in re.findall(r'"((?:[^"\\]|\\.)*)"', args):
                if re.search(r"%[-+ #0-9.]*(z|ll|j)", lit):
                    line = text.count("\n", 0, m.start()) + 1
                    bad.append(f"{rel}:{line}: {m.group(1)} is given "
                               f"\"{lit}\": APR formats no %z/%ll/%j")
    return bad


# ---------------------------------------------------------------- statuses
def check_statuses(root):
    header = read(root, "include/xpipe.h")
    page = read(root, "docs/xpipe.7.in")
    listed = re.findall(r"\bX\((E[A-Z]+),\s*(\d+),", header)
    bad = []
    if not listed:
        return ["include/xpipe.h: no XPIPE_STATUS_MAP entries found"]
    names = [n for n, _ in listed]
    if [int(k) for _, k in listed] != list(range(1, len(listed) + 1)):
        bad.append("XPIPE_STATUS_MAP does not number its codes 1, 2, 3, ...")
    for n in names:
        if not re.search(r"#define XPIPE_STATUS_IS_%s\(s\)" % n, header):
            bad.append(f"XPIPE_{n} has no XPIPE_STATUS_IS_{n} macro")
        if not re.search(r"^\.B XPIPE_%s$" % n, page, re.M):
            bad.append(f"XPIPE_{n} is not described in docs/xpipe.7.in")
    for m in re.finditer(r"\b(XPIPE_E[A-Z]+)\s*=\s*XPIPE_START_ERROR", header):
        bad.append(f"{m.group(1)} is defined outside XPIPE_STATUS_MAP")
    for m in re.finditer(r"#define XPIPE_STATUS_IS_(E[A-Z]+)\(", header):
        if m.group(1) not in names:
            bad.append(f"XPIPE_STATUS_IS_{m.group(1)} names no listed code")
    return bad


def check_all(root, nm_text):
    files = c_files(root)
    results = {
        "symbols": check_symbols(nm_text),
        "circles": check_circles(nm_text),
        "headers": check_headers(root, files),
        "size": check_size(root, files),
        "formats": check_formats(root, files),
        "statuses": check_statuses(root),
    }
    return results


# ---------------------------------------------------------------- self-test
def self_test():
    """Seed one violation per rule into a copy of the tree (and into nm
    text) and see each rule catch it, and only it."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    clean_nm = ("lib.a:lib_a.c.o:0000000000000000 T xpipe__a\n"
                "lib.a:lib_a.c.o:                 U xpipe__b\n"
                "lib.a:lib_b.c.o:0000000000000000 T xpipe__b\n")
    seeds = {
        "symbols": (clean_nm + "lib.a:lib_b.c.o:0000000000000010 T smb2_sign\n",
                    None),
        "circles": (clean_nm + "lib.a:lib_b.c.o:                 U xpipe__a\n",
                    None),
        "headers": (clean_nm, ("lib/status.c", "#include <unistd.h>\n")),
        "size": (clean_nm, ("lib/seeded.c",
                            "/* SPDX-License-Identifier: Apache-2.0 */\n"
                            "int xpipe__seeded(void)\n{\n"
                            + "    (void)0;\n" * (FUNC_MAX + 5)
                            + "    return 0;\n}\n")),
        "formats": (clean_nm, ("lib/status.c",
                               "static void seeded(apr_size_t n)\n{\n"
                               "    xpipe__fail(1, \"%zu\", n);\n}\n")),
        # a code listed without its IS macro or its page entry
        "statuses": (clean_nm, ("include/xpipe.h",
                                "/* X(ESEED, 18, \"seeded\") */\n")),
    }
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for rule, (nm_text, seed) in seeds.items():
            tree = os.path.join(tmp, rule)
            for top in SOURCE_DIRS + ("include", "docs"):
                shutil.copytree(os.path.join(root, top),
                                os.path.join(tree, top))
            if seed:
                path = os.path.join(tree, seed[0])
                with open(path, "a", encoding="utf-8") as fh:
                    fh.write(seed[1])
            got = check_all(tree, nm_text)
            caught = [r for r, b in got.items() if b]
            if caught == [rule]:
                print(f"OK {rule}: the seeded violation is caught: "
                      f"{got[rule][0]}")
            else:
                failed = 1
                print(f"FAIL {rule}: the seeded violation gave {caught}")
                for r in caught:
                    for b in got[r][:3]:
                        print(f"    {r}: {b}")
    return failed


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) != 4:
        print(__doc__)
        return 2
    root, archive, nm = argv[1:4]
    out = subprocess.run([nm, "-A", archive], capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout:
        print(f"FAIL {nm} -A {archive}: {out.stderr.strip()}")
        return 1
    results = check_all(root, out.stdout)
    bad = 0
    for rule, problems in results.items():
        for p in problems:
            print(f"FAIL {rule}: {p}")
            bad = 1
        if not problems:
            print(f"OK {rule}")
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv))
