#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench_smb_impacket.py — the impacket column of `xpipe bench smb`: the
same operations as xpipe's SMB client, through the same smbd to the same
exported listener, by Debian's python3-impacket (an independent SMB2/3
client).

    bench_smb_impacket.py HOST PORT USER DOMAIN PIPE OP COUNT

Password: $XPIPE_BENCH_PW. OP r: COUNT 64-byte round trips; OP s: COUNT
bytes in 64 KiB writes, then the server's one-byte answer. Protocol on
stdio: "ready DIALECT SIGNED" once logged in and open; then it waits for
a line on stdin (the tool counts from there) and prints
"done TOTAL_NS MEDIAN_NS" (MEDIAN_NS: of the round trips; 0 for a
stream), then closes.
"""
import os
import struct
import sys
import time

from impacket.smbconnection import SMBConnection

CHUNK = 64 * 1024


def read_exact(conn, tid, fid, n):
    got = bytearray()
    while len(got) < n:
        part = conn.readFile(tid, fid, 0, n - len(got))
        if not part:
            raise RuntimeError("end of pipe after %d of %d bytes" % (len(got), n))
        got += part
    return bytes(got)


def main(argv):
    host, port, user, domain, pipe, op, count = argv[1:8]
    count = int(count)
    conn = SMBConnection(host, host, sess_port=int(port), timeout=60)
    conn.login(user, os.environ.get("XPIPE_BENCH_PW", ""), domain)
    tid = conn.connectTree("IPC$")
    fid = conn.openFile(tid, "\\" + pipe, desiredAccess=0x12019F,
                        shareMode=3, creationOption=0x40, fileAttributes=0x80)
    signed = 1 if conn.isSigningRequired() else 0
    print("ready %x %d" % (conn.getDialect(), signed), flush=True)
    sys.stdin.readline()
    lat = []
    t0 = time.perf_counter_ns()
    if op == "r":
        conn.writeFile(tid, fid, b"r")
        msg = bytes(range(64))
        for _ in range(count):
            a = time.perf_counter_ns()
            conn.writeFile(tid, fid, msg)
            if read_exact(conn, tid, fid, 64) != msg:
                raise RuntimeError("the echo differs")
            lat.append(time.perf_counter_ns() - a)
    else:
        conn.writeFile(tid, fid, b"s" + struct.pack("<Q", count))
        block = bytes(CHUNK)
        left = count
        while left > 0:
            n = min(CHUNK, left)
            conn.writeFile(tid, fid, block[:n])
            left -= n
        if read_exact(conn, tid, fid, 1) != b"k":
            raise RuntimeError("no answer after the stream")
    total = time.perf_counter_ns() - t0
    lat.sort()
    print("done %d %d" % (total, lat[len(lat) // 2] if lat else 0), flush=True)
    conn.closeFile(tid, fid)
    conn.logoff()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
