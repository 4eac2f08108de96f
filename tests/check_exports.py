#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The library exports exactly the public API.

Usage: check_exports.py LIBRARY HEADER [--soname NAME]

LIBRARY is the shared library as built: an ELF .so (its dynamic symbol
table) or a PE .dll (its export directory), read here without binutils.
HEADER is include/xpipe.h: every function declared there must carry
XPIPE_API and be exported; nothing else may be (no xpipe__* internals, no
helpers). With --soname, the ELF DT_SONAME must be NAME.
Prints the export list; exits 1 on any difference.
"""
import re
import struct
import sys

# Symbols every ELF shared object defines, not part of any API.
ELF_ALLOWED = {"_init", "_fini", "_edata", "_end", "__bss_start"}


def header_functions(path):
    """(declared functions, those declared without XPIPE_API)."""
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)   # comments
    text = re.sub(r"(?m)^\s*#.*(\\\n.*)*$", " ", text)    # preprocessor
    declared, bare = set(), set()
    # A declaration: a statement at file scope ending in ");".
    for stmt in re.split(r"[;{}]", text):
        m = re.search(r"\b(xpipe_\w+)\s*\([^()]*\)\s*$", stmt.strip())
        if not m or "typedef" in stmt:
            continue
        declared.add(m.group(1))
        if not re.search(r"\bXPIPE_API\b", stmt):
            bare.add(m.group(1))
    return declared, bare


def elf_exports(data):
    if data[:4] != b"\x7fELF":
        raise ValueError("not an ELF file")
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
    else:
        shoff, = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
    sections = []
    for i in range(shnum):
        off = shoff + i * shentsize
        if is64:
            (name, typ, flags, addr, offset, size, link, info, align,
             entsize) = struct.unpack_from(end + "IIQQQQIIQQ", data, off)
        else:
            (name, typ, flags, addr, offset, size, link, info, align,
             entsize) = struct.unpack_from(end + "IIIIIIIIII", data, off)
        sections.append((typ, offset, size, link, entsize))

    def cstr(table, off):
        base = sections[table][1] + off
        return data[base:data.index(b"\0", base)].decode()

    names, soname = set(), None
    for typ, offset, size, link, entsize in sections:
        if typ == 11:  # SHT_DYNSYM
            for k in range(1, size // entsize):
                o = offset + k * entsize
                if is64:
                    st_name, st_info, st_other, st_shndx = struct.unpack_from(
                        end + "IBBH", data, o)
                else:
                    st_name, = struct.unpack_from(end + "I", data, o)
                    st_info, st_other, st_shndx = struct.unpack_from(
                        end + "BBH", data, o + 12)
                bind, vis = st_info >> 4, st_other & 3
                if st_shndx == 0 or bind not in (1, 2) or vis not in (0, 3):
                    continue  # undefined, local, or hidden
                names.add(cstr(link, st_name))
        elif typ == 6:  # SHT_DYNAMIC
            fmt = end + ("qQ" if is64 else "iI")
            for o in range(offset, offset + size, struct.calcsize(fmt)):
                tag, val = struct.unpack_from(fmt, data, o)
                if tag == 0:
                    break
                if tag == 14:  # DT_SONAME
                    soname = cstr(link, val)
    return names - ELF_ALLOWED, soname


def pe_exports(data):
    if data[:2] != b"MZ":
        raise ValueError("not a PE file")
    pe, = struct.unpack_from("<I", data, 0x3C)
    if data[pe:pe + 4] != b"PE\0\0":
        raise ValueError("no PE signature")
    nsec, = struct.unpack_from("<H", data, pe + 6)
    optsize, = struct.unpack_from("<H", data, pe + 20)
    opt = pe + 24
    magic, = struct.unpack_from("<H", data, opt)
    ddir = opt + (112 if magic == 0x20B else 96)
    exp_rva, exp_size = struct.unpack_from("<II", data, ddir)
    secs = []
    for i in range(nsec):
        o = opt + optsize + i * 40
        vsize, va, rsize, rptr = struct.unpack_from("<IIII", data, o + 8)
        secs.append((va, max(vsize, rsize), rptr))

    def off(rva):
        for va, size, ptr in secs:
            if va <= rva < va + size:
                return rva - va + ptr
        raise ValueError(f"RVA {rva:#x} in no section")

    if exp_rva == 0:
        return set(), None
    e = off(exp_rva)
    n_names, = struct.unpack_from("<I", data, e + 24)
    names_rva, = struct.unpack_from("<I", data, e + 32)
    dll_rva, = struct.unpack_from("<I", data, e + 12)
    out = set()
    for i in range(n_names):
        rva, = struct.unpack_from("<I", data, off(names_rva) + 4 * i)
        s = off(rva)
        out.add(data[s:data.index(b"\0", s)].decode())
    s = off(dll_rva)
    return out, data[s:data.index(b"\0", s)].decode()


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    lib, header = argv[1], argv[2]
    soname = argv[argv.index("--soname") + 1] if "--soname" in argv else None
    declared, bare = header_functions(header)
    data = open(lib, "rb").read()
    exported, name = (pe_exports if data[:2] == b"MZ" else elf_exports)(data)
    print(f"{lib}: {'DLL name' if data[:2] == b'MZ' else 'SONAME'} {name}")
    print(f"exported ({len(exported)}): {' '.join(sorted(exported))}")
    bad = 0
    for what, names in (("declared without XPIPE_API", bare),
                        ("declared in the header, not exported",
                         declared - exported),
                        ("exported, not declared in the header",
                         exported - declared)):
        if names:
            print(f"FAIL {what}: {' '.join(sorted(names))}")
            bad = 1
    if not declared:
        print("FAIL no declarations found in the header")
        bad = 1
    if soname and name != soname:
        print(f"FAIL SONAME is {name}, expected {soname}")
        bad = 1
    if not bad:
        print(f"OK: {len(declared)} functions declared, the same exported")
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv))
