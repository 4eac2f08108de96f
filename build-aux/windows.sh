#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# windows.sh — the Windows half of the build: mingw-w64 cross-compilation
# run under Wine. Steps (each implies the ones before):
#   deps   install the Debian packages; cross-build APR 1.7.2 and CUnit
#          2.1-3 from Debian's source packages into build-win-deps/prefix
#          (kept: a second run reuses it)
#   setup  meson setup build-win with the cross file, and build
#   test   build and run the conformance suite under Wine
#   wine-start, wine-stop  Wine's server and services, started detached
#          from every output pipe (for runs outside meson: ./run soak)
# Exits 0 when the suite ran (its results are in
# build-win/meson-logs/testlog.json, deleted first); otherwise non-zero,
# with the cause on stderr and, when XPIPE_CAUSE_FILE is set, in that file.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. build-aux/lib.sh
DEPS=$ROOT/build-win-deps
PREFIX=$DEPS/prefix
WRAPPER=$ROOT/build-aux/wine-run
HOST=x86_64-w64-mingw32


# fail CAUSE: say why the leg cannot run, and stop.
fail() {
    log "windows: $*"
    [ -n "${XPIPE_CAUSE_FILE:-}" ] && printf '%s\n' "$*" >"$XPIPE_CAUSE_FILE"
    exit 1
}

# Debian ships no mingw build of APR or CUnit: fetch their source packages.
# That needs a deb-src entry beside the existing deb one (same URI, suite
# and key), added once.
fetch_sources() {
    local dir=$DEPS/src
    mkdir -p "$dir"
    if ls "$dir"/apr_1.7.2.orig.tar.* "$dir"/cunit_2.1-3-dfsg.orig.tar.* \
        >/dev/null 2>&1; then
        return 0
    fi
    if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list \
        /etc/apt/sources.list.d/; then
        local uri suite key
        uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' \
            /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
        key=$(awk '/^Signed-By:/ {print $2; exit}' \
            /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
        log "adding a deb-src entry for bookworm main"
        cat > /etc/apt/sources.list.d/xpipe-deb-src.sources <<SRC
Types: deb-src
URIs: ${uri:-http://deb.debian.org/debian}
Suites: bookworm
Components: main
Signed-By: ${key:-/usr/share/keyrings/debian-archive-keyring.gpg}
SRC
        apt-get update -qq
    fi
    (cd "$dir" && apt-get source --download-only -qq apr=1.7.2* cunit 2>/dev/null \
        || apt-get source --download-only -qq apr cunit)
}

build_apr() {
    [ -f "$PREFIX/lib/libapr-1.a" ] && return 0
    local src=$DEPS/src/apr-1.7.2 bld=$DEPS/build-apr
    rm -rf "$src" "$bld"
    tar -xjf "$DEPS"/src/apr_1.7.2.orig.tar.bz2 -C "$DEPS/src"
    # The source fixes APR 1.7.2 needs for mingw (see WINDOWS-BUILD notes).
    patch -d "$src" -p1 -s < build-aux/windows/apr-1.7.2-mingw.patch
    cat > "$DEPS/toolchain.cmake" <<TC
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER $HOST-gcc)
set(CMAKE_RC_COMPILER $HOST-windres)
set(CMAKE_FIND_ROOT_PATH /usr/$HOST)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
TC
    log "cross-building APR 1.7.2"
    # COM_NO_WINDOWS_H: apr.h defines NOUSER, and ole2.h (pulled by aclapi.h)
    # then misses winuser.h types.
    cmake -S "$src" -B "$bld" -G Ninja -Wno-dev \
        -DCMAKE_TOOLCHAIN_FILE="$DEPS/toolchain.cmake" \
        -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_INSTALL_PREFIX="$PREFIX" \
        -DCMAKE_C_FLAGS=-DCOM_NO_WINDOWS_H \
        -DCMAKE_CROSSCOMPILING_EMULATOR="$WRAPPER" \
        -DINSTALL_PDB=OFF -DAPR_BUILD_TESTAPR=OFF >"$DEPS/apr-cmake.log" 2>&1 \
        || { tail -30 "$DEPS/apr-cmake.log"; return 1; }
    cmake --build "$bld" >"$DEPS/apr-build.log" 2>&1 \
        || { tail -30 "$DEPS/apr-build.log"; return 1; }
    cmake --install "$bld" >>"$DEPS/apr-build.log" 2>&1
}

# APR as a DLL (liblibapr-1.dll, CMake's name for it): libxpipe-1.dll and
# the programs that link it must share one APR, as on any Windows install
# (two static copies would each keep their own pools and threads).
# wine-run puts the DLL's directory on WINEPATH.
apr_pc() {
    mkdir -p "$PREFIX/lib/pkgconfig"
    cat > "$PREFIX/lib/pkgconfig/apr-1.pc" <<PC
prefix=$PREFIX
libdir=\${prefix}/lib
includedir=\${prefix}/include
Name: APR
Description: Apache Portable Runtime (DLL, mingw-w64)
Version: 1.7.2
Libs: -L\${libdir} -l:liblibapr-1.dll.a
Libs.private: -lws2_32 -lmswsock -lrpcrt4 -ladvapi32 -lshell32
Cflags: -I\${includedir}
PC
}

build_cunit() {
    [ -f "$PREFIX/lib/libcunit.a" ] && return 0
    local src=$DEPS/src/CUnit-2.1-3 obj=$DEPS/build-cunit f
    rm -rf "$src" "$obj"
    mkdir -p "$obj" "$PREFIX/include/CUnit" "$PREFIX/lib/pkgconfig"
    tar -xzf "$DEPS"/src/cunit_2.1-3-dfsg.orig.tar.gz -C "$DEPS/src"
    [ -d "$src" ] || src=$(ls -d "$DEPS"/src/[Cc][Uu]nit*/ | head -1)
    log "cross-building CUnit 2.1-3"
    # The shipped CUnit.h is stale: regenerate it from CUnit.h.in.
    sed 's/@VERSION@-@RELEASE@/2.1-3/' "$src/CUnit/Headers/CUnit.h.in" \
        > "$PREFIX/include/CUnit/CUnit.h"
    for f in "$src"/CUnit/Headers/*.h; do
        [ "$(basename "$f")" = CUnit.h ] || cp "$f" "$PREFIX/include/CUnit/"
    done
    for f in Framework/CUError Framework/MyMem Framework/TestDB \
             Framework/TestRun Framework/Util Basic/Basic; do
        $HOST-gcc -O2 -I"$PREFIX/include" -I"$PREFIX/include/CUnit" \
            -c "$src/CUnit/Sources/$f.c" -o "$obj/$(basename "$f").o"
    done
    $HOST-ar rcs "$PREFIX/lib/libcunit.a" "$obj"/*.o
    cat > "$PREFIX/lib/pkgconfig/cunit.pc" <<PC
prefix=$PREFIX
Name: CUnit
Description: CUnit 2.1-3 (static, mingw-w64)
Version: 2.1-3
Libs: -L\${prefix}/lib -lcunit
Cflags: -I\${prefix}/include
PC
}

deps() {
    find_prog DPKG dpkg-query || fail "not a Debian system (no dpkg-query)"
    ensure_group windows || fail "required packages $PKGS_WHY"
    find_wine || fail "Wine is not installed where Debian puts it (/usr/lib/wine/wine64)"
    mkdir -p "$DEPS"
    if [ ! -f "$XPIPE_WINEPREFIX/system.reg" ]; then
        log "creating the Wine prefix"
        logged wine-prefix "$WRAPPER" cmd /c exit </dev/null \
            || fail "Wine could not create its prefix (logs/wine-prefix.log)"
    fi
    logged win-sources fetch_sources \
        || fail "could not fetch the APR and CUnit source packages (logs/win-sources.log)"
    build_apr || fail "APR did not cross-build (build-win-deps/apr-*.log)"
    [ -f "$PREFIX/bin/liblibapr-1.dll" ] || fail "APR's DLL is missing from $PREFIX/bin"
    apr_pc
    logged win-cunit build_cunit || fail "CUnit did not cross-build (logs/win-cunit.log)"
    printf "[constants]\nprefix = '%s'\nwrapper = '%s'\n" "$PREFIX" "$WRAPPER" \
        > "$DEPS/paths.ini"
}

setup() {
    deps
    build_dir build-win --cross-file "$DEPS/paths.ini" \
        --cross-file build-aux/mingw-w64.ini \
        || fail "the Windows build failed (logs/build-win-setup.log, logs/build-win-build.log)"
}

# Start Wine's server and services before the tests, detached from every
# output pipe: a service that inherits a test's stdout keeps meson waiting
# for it to close (seconds per test). Stopped again after the run.
wine_start() {
    export WINEPREFIX=$XPIPE_WINEPREFIX
    "$WINESERVER" -k >/dev/null 2>&1 || true
    "$WINESERVER" -p </dev/null >/dev/null 2>&1 \
        || fail "$WINESERVER -p did not start"
    logged wine-start "$WRAPPER" cmd /c exit </dev/null \
        || fail "Wine does not run programs (logs/wine-start.log)"
}

wine_stop() {
    WINEPREFIX=$XPIPE_WINEPREFIX "$WINESERVER" -k >/dev/null 2>&1 || true
}

case "${1:-test}" in
deps) deps ;;
setup) setup ;;
test)
    rm -f build-win/meson-logs/testlog.json build-win/meson-logs/testlog-fast.json
    setup
    log "Windows suite (backend: win32, under Wine)"
    wine_start
    meson test -C build-win --no-rebuild --suite conformance --suite package --print-errorlogs \
        >"$XPIPE_LOGS/windows-test.log" 2>&1 || true
    log "Windows suite on the fast path (XPIPE_FAST_PATH=force, under Wine)"
    rm -f build-win/meson-logs/testlog-fast.json
    meson test -C build-win --no-rebuild --suite conformance --setup fast --print-errorlogs \
        >"$XPIPE_LOGS/windows-fast-test.log" 2>&1 || true
    wine_stop
    [ -s build-win/meson-logs/testlog.json ] \
        || fail "meson test wrote no results (logs/windows-test.log: $(tail -1 "$XPIPE_LOGS/windows-test.log"))"
    ;;
wine-start) find_wine || fail "Wine is not installed"; wine_start ;;
wine-stop) find_wine && wine_stop ;;
*) echo "usage: build-aux/windows.sh deps|setup|test|wine-start|wine-stop" >&2; exit 2 ;;
esac
