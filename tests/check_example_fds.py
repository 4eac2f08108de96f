#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The examples leave nothing open: each of their processes, under
valgrind --track-fds=yes, exits with only stdin, stdout and stderr open
(xpipe_terminate releases the main thread's wake object; other threads'
go when they end).

Usage: check_example_fds.py VALGRIND EXAMPLES_DIR

Runs spawn_worker (parent and child), hello_server with hello_client,
event_server with hello_client, and broker serving one client; every
exchange is checked by its output. valgrind reports on stderr (a pipe), so
no log file is among the descriptors counted.
"""
import os
import re
import subprocess
import sys

TIMEOUT = 120
REPORT = re.compile(r"==(\d+)== FILE DESCRIPTORS: (\d+) open \((\d+) std\) at exit")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def vg(valgrind, argv, children=False):
    return [valgrind, "--track-fds=yes", "--log-fd=2"] \
        + (["--trace-children=yes"] if children else []) + argv


def reports(name, err):
    found = REPORT.findall(err)
    check(bool(found), f"{name}: valgrind reported the descriptors")
    for pid, n, std in found:
        check(n == std, f"{name}: process {pid} exits with {n} open, "
              f"{std} of them stdio")
    if any(n != std for _, n, std in found):
        print(err)


def served(valgrind, exdir, server, extra, name, text):
    """server (under valgrind) and hello_client (under valgrind): the
    server says it listens before the client starts."""
    srv = subprocess.Popen(vg(valgrind, [os.path.join(exdir, server), name]
                              + extra, children=server == "broker"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        line = srv.stdout.readline()
        check("listening" in line, f"{server}: says it listens ({line.strip()!r})")
        cli = subprocess.run(vg(valgrind, [os.path.join(exdir, "hello_client"),
                                           name, text]),
                             capture_output=True, text=True, timeout=TIMEOUT)
        check(text.upper() in cli.stdout.upper() and cli.returncode == 0,
              f"{server}: the client got its reply ({cli.stdout.strip()!r})")
        reports(f"hello_client of {server}", cli.stderr)
        out, err = srv.communicate(timeout=TIMEOUT)
        check(srv.returncode == 0, f"{server}: exits 0 ({srv.returncode})")
        reports(server, err)
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()


def main():
    valgrind, exdir = sys.argv[1], sys.argv[2]
    r = subprocess.run(vg(valgrind, [os.path.join(exdir, "spawn_worker")],
                          children=True),
                       capture_output=True, text=True, timeout=TIMEOUT)
    check(r.returncode == 0 and "THE PARENT" in r.stdout,
          f"spawn_worker: the child answered ({r.returncode})")
    reports("spawn_worker", r.stderr)
    base = f"xt-fds-{os.getpid()}"
    served(valgrind, exdir, "hello_server", ["--once"], base, "Hello Server!")
    served(valgrind, exdir, "event_server", ["--once"], base + "-ev",
           "Hello event loop!")
    served(valgrind, exdir, "broker", ["2", "1"], base + "-br", "Hello broker!")
    print(f"{len(failures)} failed" if failures else "OK")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
