# SPDX-License-Identifier: Apache-2.0
# lib.sh — shell helpers shared by ./run and build-aux/*.sh (bash).
# Source it after `cd` to the source root: it sets ROOT, the Wine prefix,
# the log directory and the functions below. Nothing here assumes a rich
# PATH: programs are looked up by their Debian paths first.

ROOT=${ROOT:-$(pwd)}
# Build output of every step goes here, one file per step; a failed step
# prints the file's tail.
XPIPE_LOGS=$ROOT/logs
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

# ensure_pkgs PKG...: install what is missing (apt-get update once per
# process, first). Returns 1, with PKGS_WHY set to the cause, when
# something is still missing: not root, or apt-get failed.
XPIPE_APT_UPDATED=${XPIPE_APT_UPDATED:-0}
ensure_pkgs() {
    local missing
    missing=$(missing_pkgs "$@")
    PKGS_WHY=
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        PKGS_WHY="not installed: $missing (run as root, or install them)"
        return 1
    fi
    log "installing: $missing"
    mkdir -p "$XPIPE_LOGS"
    export DEBIAN_FRONTEND=noninteractive
    if [ "$XPIPE_APT_UPDATED" != 1 ]; then
        apt-get update -qq >>"$XPIPE_LOGS/apt.log" 2>&1 || true
        XPIPE_APT_UPDATED=1
        export XPIPE_APT_UPDATED
    fi
    # shellcheck disable=SC2086
    if ! apt-get install -y -qq --no-install-recommends $missing \
        >>"$XPIPE_LOGS/apt.log" 2>&1; then
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
