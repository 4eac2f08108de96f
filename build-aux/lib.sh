# SPDX-License-Identifier: Apache-2.0
# lib.sh — shell helpers shared by ./run and build-aux/*.sh (bash).
# Source it after `cd` to the source root: it sets ROOT, the Wine prefix,
# the log directory and the functions below. Nothing here assumes a rich
# PATH: programs are looked up by their Debian paths first.

ROOT=${ROOT:-$(pwd)}
# Build output of every step goes here, one file per step; a failed step
# prints the file's tail.
XPIPE_LOGS=${XPIPE_LOGS:-$ROOT/logs}
# The one Wine prefix of the project (the Windows leg, wine-run).
XPIPE_WINEPREFIX=${XPIPE_WINEPREFIX:-$ROOT/build-win-deps/wineprefix}
export XPIPE_WINEPREFIX

log() { printf '==> %s\n' "$*" >&2; }

# find_prog VAR NAME-OR-PATH...: the first candidate that is executable
# (an absolute path as is, a bare name through PATH and then /usr/sbin,
# /usr/bin, /sbin, /bin) into VAR. Returns 1, VAR empty, when none is.
find_prog() {
    local var=$1 c d
    shift
    for c in "$@"; do
        case $c in
        /*) [ -x "$c" ] && { printf -v "$var" '%s' "$c"; return 0; } ;;
        *)
            if d=$(command -v "$c" 2>/dev/null) && [ -x "$d" ]; then
                printf -v "$var" '%s' "$d"
                return 0
            fi
            for d in /usr/sbin /usr/bin /sbin /bin; do
                [ -x "$d/$c" ] && { printf -v "$var" '%s' "$d/$c"; return 0; }
            done
            ;;
        esac
    done
    printf -v "$var" '%s' ""
    return 1
}

# Wine, wherever Debian put it: the wine64 package alone installs
# /usr/lib/wine/wine64 and /usr/lib/wine/wineserver64 and no PATH entry.
find_wine() {
    find_prog WINE /usr/lib/wine/wine64 wine64 wine || return 1
    find_prog WINESERVER /usr/lib/wine/wineserver64 /usr/lib/wine/wineserver \
        wineserver64 wineserver || return 1
}

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
}

# missing_pkgs PKG...: print the packages not installed.
missing_pkgs() {
    local p out=()
    for p in "$@"; do
        pkg_installed "$p" || out+=("$p")
    done
    printf '%s' "${out[*]}"
}

# The project's Debian packages, one group a line:
#   NAME|what it is for|the ./run commands that install it|packages
# Only `./run deps` installs every group; each command installs the groups
# it uses and no other (`./run deps --list` prints this table).
XPIPE_PKG_GROUPS=(
    "build|building the library and the examples (the demo needs only this)|demo tests bench docs valgrind deps|gcc libc6-dev meson ninja-build pkg-config python3 libapr1-dev"
    "cunit|the CUnit test suites|tests valgrind deps|libcunit1-dev"
    "docs|the API reference and the man page lint|tests docs deps|doxygen mandoc"
    "style|the formatting check|tests deps|clang-format"
    "peers|real peers for the tool's cases (1,000 socat clients)|tests deps|socat"
    "bench|the libuv column of xpipe-bench|tests bench deps|libuv1-dev"
    "smbd|a private smbd for the network-pipe cases, impacket for the SMB bench (ships daemons: none is started or enabled)|tests bench deps|samba python3-impacket procps"
    "smbclient|the SMB client (OpenSSL, GSSAPI with NTLM) and a private KDC for its Kerberos case (ships daemons: none is started or enabled; krb5-kdc needs krb5-config, whose /etc/krb5.conf is removed again when there was none)|tests deps|libssl-dev libkrb5-dev gss-ntlmssp krb5-kdc krb5-admin-server krb5-user"
    "valgrind|the valgrind legs|tests valgrind deps|valgrind"
    "fuzz|the libFuzzer leg|tests deps|clang libclang-rt-14-dev"
    "consumers|the Makefile and CMake consumer projects|tests deps|make cmake"
    "model|the Spin model checks|tests deps|spin"
    "windows|the Windows legs: mingw-w64 cross build run under Wine (also adds a deb-src entry to fetch APR's and CUnit's sources)|tests deps|gcc-mingw-w64-x86-64 wine64 cmake meson ninja-build pkg-config python3 bzip2 patch"
)

# group_field NAME N: field N (1-4) of group NAME's line.
group_field() {
    local g
    for g in "${XPIPE_PKG_GROUPS[@]}"; do
        [ "${g%%|*}" = "$1" ] || continue
        printf '%s' "$g" | cut -d'|' -f"$2"
        return 0
    done
    log "no package group named $1"
    return 1
}

# ensure_group NAME: install group NAME's missing packages, saying why.
ensure_group() {
    local why pkgs
    why=$(group_field "$1" 2) && pkgs=$(group_field "$1" 4) || return 1
    # shellcheck disable=SC2086
    ensure_pkgs "$why" $pkgs
}

# list_groups: the table above, for people.
list_groups() {
    local g name why cmds pkgs
    for g in "${XPIPE_PKG_GROUPS[@]}"; do
        IFS='|' read -r name why cmds pkgs <<<"$g"
        printf '%s: %s\n    installed by: %s\n    packages: %s' "$name" "$why" \
            "$(printf './run %s, ' $cmds | sed 's/, $//')" "$pkgs"
        [ -z "$(missing_pkgs $pkgs)" ] && printf ' (all installed)\n' \
            || printf ' (missing: %s)\n' "$(missing_pkgs $pkgs)"
    done
}

# Installs start no service. A package that ships a daemon (samba's smbd,
# krb5-kdc) starts it from its maintainer scripts through invoke-rc.d or
# deb-systemd-invoke, which first ask /usr/sbin/policy-rc.d; exit 101 means
# "not allowed". While apt-get runs, ours is in place (a policy-rc.d of the
# machine's own is kept aside and put back, byte for byte, afterwards);
# then every service of a package this install added is disabled (and
# stopped, should something have started it anyway). Services of packages
# that were already installed are never touched.
# DPKG_ROOT is honoured as invoke-rc.d honours it.
XPIPE_POLICY_RC=${DPKG_ROOT:-}/usr/sbin/policy-rc.d

services_hold() {
    local saved=$XPIPE_POLICY_RC.xpipe-saved
    # A kept-aside policy from an install that was killed stays the one
    # to put back.
    if [ -e "$XPIPE_POLICY_RC" ] && [ ! -e "$saved" ] \
        && ! grep -qs '^# xpipe-policy-rc' "$XPIPE_POLICY_RC"; then
        mv "$XPIPE_POLICY_RC" "$saved" || return 1
    fi
    mkdir -p "$(dirname "$XPIPE_POLICY_RC")"
    printf '#!/bin/sh\n# xpipe-policy-rc: no service starts while ./run installs packages\nexit 101\n' \
        >"$XPIPE_POLICY_RC" && chmod 755 "$XPIPE_POLICY_RC"
}

services_release() {
    local saved=$XPIPE_POLICY_RC.xpipe-saved
    grep -qs '^# xpipe-policy-rc' "$XPIPE_POLICY_RC" && rm -f "$XPIPE_POLICY_RC"
    [ -e "$saved" ] && mv "$saved" "$XPIPE_POLICY_RC"
    return 0
}

# installed_list: every installed package, one a line (sorted).
installed_list() {
    dpkg-query -W -f='${Package} ${Status}\n' 2>/dev/null \
        | awk '$NF == "installed" {print $1}' | sort
}

# services_disable PKG...: disable (and stop, if running) every service
# these packages ship: systemd units and System V init scripts.
services_disable() {
    local p f unit name done_list=
    for p in "$@"; do
        while IFS= read -r f; do
            case $f in
            */lib/systemd/system/*.service | */lib/systemd/system/*.socket)
                unit=${f##*/}
                case $unit in *@.service | *@.socket) continue ;; esac
                if [ -d /run/systemd/system ]; then
                    systemctl stop "$unit" >/dev/null 2>&1 || true
                fi
                if command -v deb-systemd-helper >/dev/null 2>&1; then
                    deb-systemd-helper disable "$unit" >/dev/null 2>&1 || true
                fi
                if command -v systemctl >/dev/null 2>&1; then
                    systemctl disable "$unit" >/dev/null 2>&1 || true
                fi
                done_list="$done_list $unit"
                ;;
            /etc/init.d/*)
                name=${f##*/}
                [ -x "$f" ] || continue
                if "$f" status >/dev/null 2>&1; then
                    "$f" stop >/dev/null 2>&1 || true
                fi
                update-rc.d "$name" disable >/dev/null 2>&1 || true
                done_list="$done_list $name"
                ;;
            esac
        done < <(dpkg-query -L "$p" 2>/dev/null)
    done
    [ -z "$done_list" ] || log "services of the packages just installed, disabled and not running:$done_list"
}

# Files a package's maintainer scripts write that the project never reads
# (PACKAGE:FILE): when this install added the package and the file was not
# there before, it is removed again. krb5-config (which krb5-kdc needs)
# copies a template naming ATHENA.MIT.EDU as the default realm to
# /etc/krb5.conf; the KDC rig has its own KRB5_CONFIG, and a machine
# without that file asks no KDC at all. `dpkg-reconfigure krb5-config`
# writes it again for who wants it.
XPIPE_UNWANTED_CONF="krb5-config:/etc/krb5.conf"

# ensure_pkgs WHY PKG...: install what is missing (apt-get update once per
# process, first), saying what for; a PKG may be a path to a .deb. Returns
# 1, with PKGS_WHY set to the cause, when something is still missing: not
# root, or apt-get failed.
XPIPE_APT_UPDATED=${XPIPE_APT_UPDATED:-0}
ensure_pkgs() {
    local why=$1 missing before added rc=0
    shift
    missing=$(missing_pkgs "$@")
    PKGS_WHY=
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        PKGS_WHY="not installed: $missing (run as root, or install them)"
        return 1
    fi
    log "installing for $why: $missing"
    mkdir -p "$XPIPE_LOGS"
    export DEBIAN_FRONTEND=noninteractive
    if [ "$XPIPE_APT_UPDATED" != 1 ]; then
        apt-get update -qq >>"$XPIPE_LOGS/apt.log" 2>&1 || true
        XPIPE_APT_UPDATED=1
        export XPIPE_APT_UPDATED
    fi
    before=$(installed_list)
    local c absent=
    for c in $XPIPE_UNWANTED_CONF; do
        [ -e "${DPKG_ROOT:-}${c#*:}" ] || absent="$absent $c"
    done
    # In a subshell, so that an interrupted install still puts the
    # machine's policy back.
    # shellcheck disable=SC2086
    (
        trap services_release EXIT
        services_hold || exit 1
        apt-get install -y -qq --no-install-recommends \
            -o DPkg::Lock::Timeout=120 $missing
    ) >>"$XPIPE_LOGS/apt.log" 2>&1 || rc=$?
    added=$(comm -13 <(printf '%s\n' "$before") <(installed_list))
    # shellcheck disable=SC2086
    [ -z "$added" ] || services_disable $added
    for c in $absent; do
        if printf '%s\n' "$added" | grep -qx "${c%%:*}" \
            && [ -f "${DPKG_ROOT:-}${c#*:}" ]; then
            rm -f "${DPKG_ROOT:-}${c#*:}"
            log "removed ${c#*:} again (written by ${c%%:*}'s install; xpipe's tests never read it)"
        fi
    done
    if [ $rc -ne 0 ]; then
        tail -5 "$XPIPE_LOGS/apt.log" >&2
        PKGS_WHY="apt-get could not install: $missing (see logs/apt.log)"
        return 1
    fi
    return 0
}

# logged NAME CMD...: run CMD with its output in logs/NAME.log; on failure
# print the log's tail and return CMD's status.
logged() {
    local name=$1 rc=0
    shift
    mkdir -p "$XPIPE_LOGS"
    "$@" >"$XPIPE_LOGS/$name.log" 2>&1 || rc=$?
    if [ $rc -ne 0 ]; then
        log "$name failed (exit $rc); the end of logs/$name.log:"
        tail -25 "$XPIPE_LOGS/$name.log" >&2
    fi
    return $rc
}

tools_present() {
    local t d out=
    for t in valgrind doxygen mandoc clang-format cmake make; do
        find_prog d "$t" && out="$out $t"
    done
    printf '%s' "$out"
}

# build_dir DIR [meson setup options...]: configure (again when the
# options changed), then build; output in logs/DIR-setup.log and
# logs/DIR-build.log. A configuration that no longer applies is wiped.
build_dir() {
    local dir=$1 want
    shift
    # The options, and which optional programs meson can find: installing
    # one (valgrind, doxygen...) configures the build again.
    want="$* | $(tools_present)"
    if [ -f "$dir/build.ninja" ] && [ "$(cat "$dir/.xpipe-setup" 2>/dev/null)" != "$want" ]; then
        rm -rf "$dir"
    fi
    if [ ! -f "$dir/build.ninja" ]; then
        rm -rf "$dir"
        logged "$dir-setup" meson setup "$dir" "$@" || return 1
        printf '%s' "$want" >"$dir/.xpipe-setup"
    fi
    logged "$dir-build" ninja -C "$dir"
}
