#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""smb_client.py — the SMB client side of the network-pipe tests: an
independent SMB2 client (Debian's python3-impacket) that opens
\\\\127.0.0.1\\pipe\\<name> on the test rig's smbd (build-aux/smbd-rig.sh)
and reports what crossed, one line per result, on stdout.

    smb_client.py [-a] OP PIPE [ARGS]     (-a: log in anonymously)

Environment: XT_SMB_PORT, XT_SMB_USER, XT_SMB_PASS (user "-" logs in
anonymously). Exit status 0 when every check passed, 1 otherwise (with an
"error ..." line), 2 for bad usage.

OPs:
  echo PIPE N          byte mode: write N bytes, read N back, compare
  messages PIPE S...   message mode: per size, write one message and read
                       one back whole (one read), compare
  transact PIPE S...   message mode: TransactNamedPipe (FSCTL_PIPE_TRANSCEIVE)
                       with S bytes; the reply must equal them
  peer PIPE            read one message the server sends and print it
  big PIPE N           send N random bytes, then read N back; print the
                       CRC-32 and time of each direction
  vanish PIPE N        write N bytes, then drop the TCP connection abruptly
  oversize PIPE S      message mode: try one message of S bytes; print the
                       status smbd gave
"""
import os
import socket
import sys
import time
import zlib

from impacket.smbconnection import SMBConnection, SessionError

CHUNK = 60 * 1024  # under SMB2's 64 KiB default read/write sizes


def out(*words):
    print(*words, flush=True)


def connect(pipe):
    port = int(os.environ.get("XT_SMB_PORT", "4450"))
    user = os.environ.get("XT_SMB_USER", "-")
    password = os.environ.get("XT_SMB_PASS", "")
    conn = SMBConnection("127.0.0.1", "127.0.0.1", sess_port=port, timeout=20)
    if user == "-":
        conn.login("", "")
    else:
        conn.login(user, password, "")
    tid = conn.connectTree("IPC$")
    # GENERIC read/write on a pipe: FILE_READ_DATA|FILE_WRITE_DATA|...
    fid = conn.openFile(tid, "\\" + pipe, desiredAccess=0x12019F,
                        shareMode=3, creationOption=0x40,
                        fileAttributes=0x80)
    return conn, tid, fid


def pattern(n, seed):
    return bytes((i * 7 + seed) & 0xFF for i in range(n))


def read_exact(conn, tid, fid, n):
    got = bytearray()
    while len(got) < n:
        part = conn.readFile(tid, fid, 0, min(CHUNK, n - len(got)))
        if not part:
            raise RuntimeError("end of pipe after %d of %d bytes" % (len(got), n))
        got += part
    return bytes(got)


def op_echo(pipe, n):
    conn, tid, fid = connect(pipe)
    data = pattern(int(n), 3)
    for i in range(0, len(data), CHUNK):
        conn.writeFile(tid, fid, data[i:i + CHUNK])
    back = read_exact(conn, tid, fid, len(data))
    if back != data:
        raise RuntimeError("echo differs")
    out("echo", len(data), "%08x" % zlib.crc32(data))
    conn.close()


def op_messages(pipe, *sizes):
    conn, tid, fid = connect(pipe)
    for s in sizes:
        msg = pattern(int(s), int(s))
        conn.writeFile(tid, fid, msg)
        # One read, buffer larger than any message: a message pipe gives
        # exactly one whole message.
        back = conn.readFile(tid, fid, 0, 65536)
        if back != msg:
            raise RuntimeError("message of %s came back as %d bytes" % (s, len(back)))
        out("message", s, "ok")
    conn.close()


def op_transact(pipe, *sizes):
    conn, tid, fid = connect(pipe)
    for s in sizes:
        msg = pattern(int(s), 11)
        back = conn.transactNamedPipe(tid, fid, msg, waitAnswer=True)
        if back != msg:
            raise RuntimeError("transact of %s answered %d bytes" % (s, len(back)))
        out("transact", s, "ok")
    conn.close()


def op_peer(pipe):
    conn, tid, fid = connect(pipe)
    report = conn.readFile(tid, fid, 0, 65536)
    out("peer", report.decode("utf-8", "replace"))
    conn.close()


def op_big(pipe, n):
    n = int(n)
    conn, tid, fid = connect(pipe)
    data = os.urandom(n)
    t0 = time.monotonic()
    for i in range(0, n, CHUNK):
        conn.writeFile(tid, fid, data[i:i + CHUNK])
    t1 = time.monotonic()
    out("sent", n, "%08x" % zlib.crc32(data), "%.3f" % (t1 - t0))
    back = read_exact(conn, tid, fid, n)
    t2 = time.monotonic()
    out("received", n, "%08x" % zlib.crc32(back), "%.3f" % (t2 - t1))
    conn.close()


def op_vanish(pipe, n):
    conn, tid, fid = connect(pipe)
    conn.writeFile(tid, fid, pattern(int(n), 5))
    out("wrote", n)
    # No close, no logoff: the TCP connection is reset (SO_LINGER 0), as
    # when a client machine loses power.
    sock = conn.getSMBServer().get_socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    b"\x01\x00\x00\x00\x00\x00\x00\x00")
    os._exit(0)


def op_oversize(pipe, s):
    conn, tid, fid = connect(pipe)
    try:
        conn.writeFile(tid, fid, pattern(int(s), 1))
        out("oversize accepted")
    except SessionError as e:
        out("oversize refused", e.getErrorString()[0])
    conn.close()


OPS = {"echo": op_echo, "messages": op_messages, "transact": op_transact,
       "peer": op_peer, "big": op_big, "vanish": op_vanish,
       "oversize": op_oversize}


def main(argv):
    if len(argv) > 1 and argv[1] == "-a":
        os.environ["XT_SMB_USER"] = "-"
        argv = argv[:1] + argv[2:]
    if len(argv) < 3 or argv[1] not in OPS:
        sys.stderr.write(__doc__)
        return 2
    try:
        OPS[argv[1]](*argv[2:])
    except SessionError as e:
        out("error", e.getErrorString()[0])
        return 1
    except Exception as e:  # report, never hang: the test reads this line
        out("error", type(e).__name__, e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
