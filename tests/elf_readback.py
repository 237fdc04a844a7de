"""GNU readelf's view of an ELF object, for tests that compare objects (lsone/compile/elf_localise.py's
output with GNU objcopy's): symbols, relocations and COMDAT groups by name, never by index."""

import re
import shutil
import subprocess

import pytest

# the Debian package of each tool the ELF tests run (./test installs them)
PACKAGES = {"g++": "build-essential", "clang++": "clang", "objcopy": "binutils", "ld": "binutils",
            "readelf": "binutils", "aarch64-linux-gnu-objcopy": "binutils-aarch64-linux-gnu",
            "aarch64-linux-gnu-ld": "binutils-aarch64-linux-gnu", "qemu-aarch64": "qemu-user"}


def tool(name):
    if not shutil.which(name):
        pytest.fail(f"{name} is not on PATH: install Debian's {PACKAGES[name]} (./test does)")
    return name


def run(*argv, cwd=None, env=None):
    result = subprocess.run([tool(argv[0]), *argv[1:]], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stderr}"
    return result


def section_names(path):
    text = run("readelf", "-SW", path).stdout
    return {int(n): name for n, name in re.findall(r"^\s*\[\s*(\d+)\]\s+(\S*)", text, re.M)}


def symbols(path):
    """{(name, binding, type, section name, value, size)} as GNU readelf reads them."""
    sections, found = section_names(path), set()
    for line in run("readelf", "-sW", path).stdout.splitlines():
        fields = line.split()
        if len(fields) >= 7 and fields[0].rstrip(":").isdigit() and fields[0] != "0:":
            ndx = fields[6]
            section = sections[int(ndx)] if ndx.isdigit() else ndx
            found.add((fields[7] if len(fields) > 7 else "", fields[4], fields[3], section, fields[1], fields[2]))
    return found


def relocations(path):
    """{relocation section: [(offset, type, symbol name and addend)]} as GNU readelf reads them."""
    found, current = {}, None
    for line in run("readelf", "-rW", path).stdout.splitlines():
        header = re.match(r"Relocation section '([^']+)'", line)
        if header:
            current = found.setdefault(header.group(1), [])
            continue
        entry = re.match(r"^([0-9a-f]{8,})\s+[0-9a-f]+\s+(\S+)\s+(?:[0-9a-f]{8,}\s+)?(.*)$", line)
        if entry and current is not None:
            current.append((entry.group(1), entry.group(2), entry.group(3).strip()))
    return found


def groups(path):
    """{(signature, member section names)} of the COMDAT groups, as GNU readelf reads them."""
    found = {}  # signature -> members
    members = None
    for line in run("readelf", "-gW", path).stdout.splitlines():
        signature = re.match(r"\s*COMDAT group section \[\s*\d+\] `[^']*' \[([^\]]*)\]", line)
        if signature:
            members = found.setdefault(signature.group(1), [])
        elif members is not None and re.match(r"\s*\[\s*\d+\]", line):
            members.append(line.split()[-1])
    return {(name, tuple(members)) for name, members in found.items()}


def check_symbol_order(path):
    """ELF's rule, read by readelf: every local symbol before .symtab's sh_info, no local after it."""
    result = run("readelf", "-sW", path)
    assert "Warning" not in result.stderr, result.stderr
    header = re.search(r"\.symtab\s+SYMTAB\s.*", run("readelf", "-SW", path).stdout).group(0)
    info = int(header.split()[-2])  # ... Flg Lk Inf Al: the flags may be empty
    bindings = [line.split()[4] for line in result.stdout.splitlines() if re.match(r"\s*\d+:", line)]
    assert all(b == "LOCAL" for b in bindings[:info]) and "LOCAL" not in bindings[info:], (info, bindings)
