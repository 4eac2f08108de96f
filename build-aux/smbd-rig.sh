#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# smbd-rig.sh — a private Samba server for the SMB bridge tests: smbd bound
# to 127.0.0.1 on a non-default port, every state directory under one temp
# directory, never the system's configuration, stopped by its PID.
#
#   smbd-rig.sh start DIR [PORT]   start (on PORT, else a free port);
#                                  prints the XT_SMB_* variables (also
#                                  written to DIR/env) on success
#   smbd-rig.sh stop DIR           stop the smbd started in DIR
#
# SMB_RIG_EXTRA, when set, holds more [global] lines (one per line), e.g.
# "server max protocol = SMB3_00" or "server smb encrypt = required".
#
# start exits 0 and prints "XT_SMB_SKIP=<reason>" when the rig cannot run
# (no smbd, not root, port taken, smbd died): the tests then skip with
# that reason instead of passing.
set -u
cmd=${1:-}
dir=${2:-}
port=${3:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR [PORT]" >&2; exit 2; }

skip() {
    echo "XT_SMB_SKIP='$*'" | tee "$dir/env"
    exit 0
}

case $cmd in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    rm -f "$dir/env"
    command -v smbd >/dev/null 2>&1 || [ -x /usr/sbin/smbd ] || skip "smbd is not installed"
    PATH=$PATH:/usr/sbin
    [ "$(id -u)" = 0 ] || skip "smbd needs root to serve sessions (running as uid $(id -u))"
    [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import impacket' 2>/dev/null \
        || skip "python3-impacket is not installed"
    if [ -z "$port" ]; then
        port=$(/usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    fi
    user=$(id -un)
    pass="xpipe-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
    for d in private lock state cache pid ncalrpc binddns log; do
        mkdir -p "$dir/$d"
    done
    cat > "$dir/smb.conf" <<CONF
[global]
    workgroup = XPIPETEST
    netbios name = XPIPERIG
    server role = standalone server
    interfaces = 127.0.0.1
    bind interfaces only = yes
    smb ports = $port
    disable netbios = yes
    server min protocol = SMB2_02
    private dir = $dir/private
    lock directory = $dir/lock
    state directory = $dir/state
    cache directory = $dir/cache
    pid directory = $dir/pid
    ncalrpc dir = $dir/ncalrpc
    binddns dir = $dir/binddns
    log file = $dir/log/smbd.log
    max log size = 0
    passdb backend = tdbsam:$dir/private/passdb.tdb
    load printers = no
    printing = bsd
    printcap name = /dev/null
    disable spoolss = yes
    map to guest = Bad User
${SMB_RIG_EXTRA:-}
CONF
    printf '%s\n%s\n' "$pass" "$pass" \
        | smbpasswd -c "$dir/smb.conf" -a -s "$user" >"$dir/log/smbpasswd.out" 2>&1 \
        || skip "smbpasswd failed: $(tail -1 "$dir/log/smbpasswd.out")"
    # Its own session: smbd signals its whole process group when it
    # stops, which must not be ours.
    setsid smbd -F --no-process-group --configfile="$dir/smb.conf" \
        >"$dir/log/smbd.out" 2>&1 </dev/null &
    echo $! > "$dir/smbd.pid"
    # Ready when the port answers (bounded: 20 s).
    i=0
    while [ $i -lt 200 ]; do
        kill -0 "$(cat "$dir/smbd.pid")" 2>/dev/null \
            || skip "smbd exited at start: $(tail -1 "$dir/log/smbd.out")"
        if /usr/bin/python3 - "$port" <<'PY' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.close()
PY
        then
            # smbd makes the np directory on first need; make it now with
            # the mode smbd gives it.
            mkdir -p "$dir/ncalrpc/np" && chmod 0700 "$dir/ncalrpc/np"
            cat > "$dir/env" <<ENV
XT_SMB_PORT=$port
XT_SMB_USER=$user
XT_SMB_PASS=$pass
XT_SMB_DOMAIN=XPIPERIG
XT_SMB_NPDIR=$dir/ncalrpc/np
XT_SMB_CONF=$dir/smb.conf
ENV
            cat "$dir/env"
            exit 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    kill "$(cat "$dir/smbd.pid")" 2>/dev/null
    skip "smbd did not answer on 127.0.0.1:$port within 20 s"
    ;;
stop)
    dir=$(cd "$dir" 2>/dev/null && pwd) || exit 0
    pid=$(cat "$dir/smbd.pid" 2>/dev/null) || pid=
    # samba-dcerpcd, which smbd starts on demand (srvsvc, ...), leads a
    # session of its own with its rpcd_* workers: they outlive smbd
    # unless stopped with it. All of them name this rig's smb.conf.
    conf="configfile=$dir/smb.conf"
    [ -z "$pid" ] || kill "$pid" 2>/dev/null
    pkill -TERM -f "$conf" 2>/dev/null
    i=0
    while { { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; } || pgrep -f "$conf" >/dev/null 2>&1; } \
        && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null
    pkill -KILL -f "$conf" 2>/dev/null
    rm -f "$dir/smbd.pid"
    ;;
*)
    echo "usage: $0 start|stop DIR [PORT]" >&2
    exit 2
    ;;
esac
