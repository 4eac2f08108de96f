#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Consumer projects built against xpipe as its users would build them.

Usage: run.py --src SRCROOT --work DIR --out RESULTS.json

1. install: xpipe is configured with --prefix DIR/prefix (tests and
   examples off), built and installed there; the installed tree must hold
   the headers, the library (SONAME libxpipe.so.N, N meson.build's
   xpipe_soversion), xpipe.pc, the CMake
   package, the man pages, the tool (whose --version is the project's).
2. make: a Makefile project with pkg-config (PKG_CONFIG_PATH only).
3. cmake: find_package(xpipe MAJOR.MINOR) and xpipe::xpipe (CMAKE_PREFIX_PATH
   only); cmake-version: asking for the next minor version must fail.
4. meson: xpipe as a subproject (a copy of the source tree), statically
   linked; nothing of xpipe's is built beyond the library, nothing of it
   installed.
Each project's program runs a real echo over a channel (echo.c). Results
go to RESULTS.json, one JSON object per line in meson's testlog format
(name, result OK/FAIL/SKIP, stdout), for build-aux/results.py. A case
whose tool (make, cmake) is missing is SKIP with the reason.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 600


def run(cmd, cwd=None, env=None, timeout=TIMEOUT):
    """Run cmd; return (ok, output)."""
    try:
        r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                           text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"$ {' '.join(cmd)}\n{e}"
    out = f"$ {' '.join(cmd)}\n{r.stdout}{r.stderr}"
    return r.returncode == 0, out


def which(name):
    p = shutil.which(name)
    if p:
        return p
    for d in ("/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    return None


class Case(Exception):
    """A case's verdict, raised from inside it."""

    def __init__(self, result, text):
        super().__init__(text)
        self.result, self.text = result, text


def step(log, cmd, **kw):
    ok, out = run(cmd, **kw)
    log.append(out.rstrip())
    if not ok:
        raise Case("FAIL", f"failed: {' '.join(cmd)}")
    return out


def find_file(root, pattern):
    rx = re.compile(pattern)
    for d, _, files in os.walk(root):
        for f in files:
            if rx.fullmatch(f):
                return os.path.join(d, f)
    return None


def copy_project(kind, work):
    dst = os.path.join(work, kind)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(os.path.join(HERE, kind), dst)
    shutil.copy(os.path.join(HERE, "echo.c"), dst)
    return dst


def source_files(src):
    """The project's files: git's list (tracked and new), else a walk."""
    ok, out = run(["git", "-C", src, "ls-files", "--cached", "--others",
                   "--exclude-standard"])
    if ok and out.strip():
        return [f for f in out.splitlines()[1:] if f
                and os.path.isfile(os.path.join(src, f))]
    files = []
    for d, dirs, names in os.walk(src):
        dirs[:] = [x for x in dirs if not x.startswith(("build", ".git",
                                                        "logs"))]
        files += [os.path.relpath(os.path.join(d, n), src) for n in names]
    return files


def project_versions(src):
    """meson.build's version (major, minor) and ABI version (SONAME)."""
    text = open(os.path.join(src, "meson.build")).read()
    major, minor = re.search(r"version: '(\d+)\.(\d+)\.\d+'", text).groups()
    so = re.search(r"xpipe_soversion = '(\d+)'", text).group(1)
    return int(major), int(minor), so


def case_install(a, log, ctx):
    prefix = ctx["prefix"]
    bld = os.path.join(a.work, "xpipe-build")
    if not os.path.exists(os.path.join(bld, "build.ninja")):
        shutil.rmtree(bld, ignore_errors=True)
        step(log, ["meson", "setup", bld, a.src, "--prefix", prefix,
                   "-Dtests=disabled", "-Dexamples=disabled",
                   "-Dinstall_bench=true"])
    step(log, ["ninja", "-C", bld])
    shutil.rmtree(prefix, ignore_errors=True)
    step(log, ["meson", "install", "-C", bld, "--no-rebuild"])
    missing = []
    want = {
        "include/xpipe.h": r"xpipe\.h",
        "include/xpipe_version.h": r"xpipe_version\.h",
        "libxpipe.so": r"libxpipe\.so\." + project_versions(a.src)[2],
        "xpipe.pc": r"xpipe\.pc",
        "xpipeConfig.cmake": r"xpipeConfig\.cmake",
        "xpipeConfigVersion.cmake": r"xpipeConfigVersion\.cmake",
        "man1/xpipe.1": r"xpipe\.1",
        "man7/xpipe.7": r"xpipe\.7",
        "bin/xpipe": r"xpipe",
        "xpipe-bench": r"xpipe-bench",
    }
    found = {}
    for label, rx in want.items():
        found[label] = find_file(prefix, rx)
        if not found[label]:
            missing.append(label)
    if missing:
        raise Case("FAIL", "not installed: " + " ".join(missing))
    pc = os.path.dirname(found["xpipe.pc"])
    libdir = os.path.dirname(found["libxpipe.so"])
    ctx.update(pkgconfig=pc, libdir=libdir)
    # The installed library's SONAME and exports.
    step(log, [sys.executable, os.path.join(a.src, "tests",
                                            "check_exports.py"),
               found["libxpipe.so"],
               os.path.join(prefix, "include", "xpipe.h"),
               "--soname", "libxpipe.so." + project_versions(a.src)[2]])
    env = dict(os.environ, LD_LIBRARY_PATH=libdir)
    out = step(log, [found["bin/xpipe"], "--version"], env=env)
    ver = open(os.path.join(a.src, "meson.build")).read()
    ver = re.search(r"version: '([0-9.]+)'", ver).group(1)
    if f"xpipe {ver} (library {ver}" not in out:
        raise Case("FAIL", f"installed xpipe --version does not say {ver}")
    # The benchmarks, installed on request (-Dinstall_bench): their
    # children find the library as they did (they inherit the environment:
    # bench's servers once started with an empty one).
    out = step(log, [found["xpipe-bench"], "many", "--quick"], env=env)
    if "raw epoll/poll" not in out:
        raise Case("FAIL", "installed xpipe-bench many --quick printed no "
                           "raw row")
    html = find_file(prefix, r"index\.html")
    return (f"installed in {prefix}; SONAME libxpipe.so."
            f"{project_versions(a.src)[2]}; "
            f"HTML reference: {'yes' if html else 'no (no doxygen)'}")


def run_echo(log, exe, env=None):
    out = step(log, [exe], env=env, timeout=60)
    if "echo ok:" not in out:
        raise Case("FAIL", "the echo program did not report success")
    return out.strip().splitlines()[-1]


def case_make(a, log, ctx):
    make = which("make")
    if not make:
        raise Case("SKIP", "make is not installed")
    d = copy_project("make", a.work)
    env = dict(os.environ, PKG_CONFIG_PATH=ctx["pkgconfig"])
    step(log, [make, "-C", d], env=env)
    return run_echo(log, os.path.join(d, "echo"),
                    dict(os.environ, LD_LIBRARY_PATH=ctx["libdir"]))


def case_cmake(a, log, ctx, newer=False):
    major, minor, _ = project_versions(a.src)
    have = f"{major}.{minor}"
    want = f"{major}.{minor + 1}" if newer else have
    cmake = which("cmake")
    if not cmake:
        raise Case("SKIP", "cmake is not installed")
    d = copy_project("cmake", a.work)
    b = os.path.join(d, "build")
    env = dict(os.environ, CMAKE_PREFIX_PATH=ctx["prefix"])
    env.pop("PKG_CONFIG_PATH", None)
    ok, out = run([cmake, "-S", d, "-B", b, f"-DXPIPE_WANT={want}"], env=env)
    log.append(out.rstrip())
    if newer:
        if ok:
            raise Case("FAIL", f"find_package(xpipe {want}) accepted {have}")
        if "xpipe" not in out:
            raise Case("FAIL", "the refusal does not name xpipe")
        return f"find_package(xpipe {want}) refused version {have}, as it must"
    if not ok:
        raise Case("FAIL", "cmake configure failed")
    step(log, [cmake, "--build", b], env=env)
    return run_echo(log, os.path.join(b, "echo"),
                    dict(os.environ, LD_LIBRARY_PATH=ctx["libdir"]))


def case_meson(a, log, ctx):
    d = copy_project("meson", a.work)
    sub = os.path.join(d, "subprojects", "xpipe")
    for f in source_files(a.src):
        os.makedirs(os.path.dirname(os.path.join(sub, f)), exist_ok=True)
        shutil.copy2(os.path.join(a.src, f), os.path.join(sub, f))
    b = os.path.join(d, "build")
    step(log, ["meson", "setup", b, d])
    step(log, ["ninja", "-C", b])
    built = [os.path.relpath(os.path.join(x, f), b)
             for x, _, fs in os.walk(os.path.join(b, "subprojects"))
             for f in fs]
    extra = [f for f in built if re.search(
        r"(^|/)(xpipe|xpipe-tests|hello_server|hello_client|event_server)(\.exe)?$"
        r"|\.so(\.|$)|html/index\.html", f)]
    if extra:
        raise Case("FAIL", "a subproject built more than its static library: "
                   + " ".join(extra))
    dest = os.path.join(d, "destdir")
    step(log, ["meson", "install", "-C", b, "--no-rebuild", "--destdir",
               dest])
    installed = [os.path.relpath(os.path.join(x, f), dest)
                 for x, _, fs in os.walk(dest) for f in fs]
    theirs = [f for f in installed if os.path.basename(f) != "echo"]
    if theirs or not installed:
        raise Case("FAIL", "install put xpipe's files in place: "
                   + " ".join(theirs))
    return run_echo(log, os.path.join(b, "echo")) \
        + "; installed only: " + " ".join(installed)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default=os.path.dirname(os.path.dirname(HERE)))
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    a.src, a.work = os.path.abspath(a.src), os.path.abspath(a.work)
    os.makedirs(a.work, exist_ok=True)
    if os.path.exists(a.out):
        os.remove(a.out)
    ctx = {"prefix": os.path.join(a.work, "prefix")}
    cases = [("install", case_install), ("make-pkgconfig", case_make),
             ("cmake-find-package", case_cmake),
             ("cmake-version-check",
              lambda a, log, ctx: case_cmake(a, log, ctx, newer=True)),
             ("meson-subproject", case_meson)]
    installed = False
    failed = 0
    with open(a.out, "w") as out:
        for name, fn in cases:
            log = []
            if name != "install" and name != "meson-subproject" \
                    and not installed:
                result, text = "FAIL", "the install case failed first"
            else:
                try:
                    result, text = "OK", fn(a, log, ctx)
                    installed = installed or name == "install"
                except Case as c:
                    result, text = c.result, c.text
            stdout = (f"SKIP {text}\n" if result == "SKIP" else
                      f"{result}: {text}\n") + "\n".join(log)
            failed += result == "FAIL"
            print(f"{name}: {result}: {text}")
            if result == "FAIL":
                print("\n".join(log[-3:])[-3000:])
            out.write(json.dumps({"name": name, "result": result,
                                  "stdout": stdout}) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
