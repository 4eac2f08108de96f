#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kdc-rig.sh — a private MIT Kerberos KDC on 127.0.0.1 for the SMB client's
# Kerberos case: realm XPIPE.TEST, all its state in DIR (never the
# system's configuration), a user with a random password and a ticket for
# it, and the service cifs/localhost with a keytab for the test's own
# acceptor.
#
#   kdc-rig.sh start DIR   start it; prints (and writes to DIR/env) the
#                          variables the test sets: KRB5_CONFIG,
#                          KRB5CCNAME, KRB5_KTNAME, XT_KRB_USER
#   kdc-rig.sh stop DIR    stop it
#
# start exits 0 and prints "XT_KRB_SKIP=<reason>" when it cannot run (no
# krb5kdc, kdb5_util, kadmin.local or kinit): the case then skips.
set -u
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
PATH=$PATH:/usr/sbin:/sbin
realm=XPIPE.TEST

skip() {
    echo "XT_KRB_SKIP='$*'" | tee "$dir/env"
    exit 0
}

case $cmd in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    rm -f "$dir/env"
    for p in krb5kdc kdb5_util kadmin.local kinit; do
        command -v $p >/dev/null 2>&1 \
            || skip "$p is not installed (krb5-kdc, krb5-admin-server, krb5-user)"
    done
    port=$(/usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat > "$dir/krb5.conf" <<CONF
[libdefaults]
    default_realm = $realm
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
[realms]
    $realm = {
        kdc = 127.0.0.1:$port
    }
CONF
    cat > "$dir/kdc.conf" <<CONF
[kdcdefaults]
    kdc_listen = 127.0.0.1:$port
    kdc_tcp_listen = 127.0.0.1:$port
[realms]
    $realm = {
        database_name = $dir/principal
        key_stash_file = $dir/stash
        acl_file = $dir/kadm5.acl
        supported_enctypes = aes256-cts-hmac-sha1-96:normal
    }
[logging]
    kdc = FILE:$dir/kdc.log
CONF
    : > "$dir/kadm5.acl"
    export KRB5_CONFIG=$dir/krb5.conf KRB5_KDC_PROFILE=$dir/kdc.conf
    master="m-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    pass="u-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    kdb5_util -r $realm create -s -P "$master" >"$dir/setup.log" 2>&1 \
        || skip "kdb5_util create failed: $(tail -1 "$dir/setup.log")"
    {
        kadmin.local -r $realm -q "addprinc -pw $pass xpuser" \
            && kadmin.local -r $realm -q "addprinc -randkey cifs/localhost" \
            && kadmin.local -r $realm -q "ktadd -k $dir/keytab cifs/localhost"
    } >>"$dir/setup.log" 2>&1 \
        || skip "kadmin.local failed: $(tail -1 "$dir/setup.log")"
    krb5kdc -n -P "$dir/kdc.pid" >"$dir/kdc.out" 2>&1 </dev/null &
    echo $! > "$dir/kdc.pid"
    # Ready when kinit gets a ticket (bounded: 10 s).
    i=0
    while [ $i -lt 100 ]; do
        kill -0 "$(cat "$dir/kdc.pid")" 2>/dev/null \
            || skip "krb5kdc exited at start: $(tail -1 "$dir/kdc.out")"
        if echo "$pass" | KRB5CCNAME=FILE:$dir/ccache kinit xpuser@$realm \
            >"$dir/kinit.log" 2>&1; then
            cat > "$dir/env" <<ENV
KRB5_CONFIG=$dir/krb5.conf
KRB5CCNAME=FILE:$dir/ccache
KRB5_KTNAME=FILE:$dir/keytab
XT_KRB_USER=xpuser@$realm
ENV
            cat "$dir/env"
            exit 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    kill "$(cat "$dir/kdc.pid")" 2>/dev/null
    skip "no ticket from the KDC within 10 s: $(tail -1 "$dir/kinit.log")"
    ;;
stop)
    [ -f "$dir/kdc.pid" ] || exit 0
    pid=$(cat "$dir/kdc.pid")
    kill "$pid" 2>/dev/null
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -9 "$pid" 2>/dev/null
    rm -f "$dir/kdc.pid"
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
