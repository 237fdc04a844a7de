"""Published builds: one package per zig target, named for it, and a SHA256SUMS over them all.

`scons release` writes them; `scons verify sums=SHA256SUMS` rebuilds one and compares it with the
published line, as `guix challenge` compares a local build with a substitute server's.
The SHA256SUMS format is sha256sum's: `<64 hex digits>  <name>` per line.
"""

import os
import re

from ..errors import InputError
from ..inputs.treehash import file_sha256
from ..inputs.zig import TARGETS

PACKAGE = "llama-server-one"
# What `scons release` builds, in order.
RELEASE_TARGETS = ("linux-x86_64", "linux-aarch64", "windows-x86_64", "macos-arm64", "macos-x86_64")
SUMS_FILE = "SHA256SUMS"
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](\S+)$")


def _suffix(target):
    return ".exe" if TARGETS.get(target, {}).get("os") == "windows" else ""  # no target: a host build


def package_file(target):
    """What a build for target writes under build/: llama-server-one (llama-server-one.exe for Windows)."""
    return PACKAGE + _suffix(target)


def artifact_name(target):
    """llama-server-one-linux-x86_64 (a Windows target's ends in .exe)."""
    return f"{PACKAGE}-{target}" + _suffix(target)


def write_sums(directory, names):
    """SHA256SUMS for the named files in directory, sorted by name; returns its path."""
    lines = [f"{file_sha256(os.path.join(directory, name))}  {name}\n" for name in sorted(names)]
    path = os.path.join(directory, SUMS_FILE)
    with open(path, "w", encoding="ascii") as f:
        f.writelines(lines)
    return path


def read_sums(path):
    """{name: hex digest} from a SHA256SUMS file, or InputError naming the file and line."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError as e:
        raise InputError(f"sums={path}", f"cannot be read ({e.strerror})",
                         fix="pass the SHA256SUMS file published with the release")
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.match(line.strip())
        if not match:
            raise InputError(f"sums={path}", f"line {number} is not a sha256sum line",
                             expected="<64 lowercase hex digits>  <file name>", found=repr(line[:120]),
                             fix="pass the SHA256SUMS file as published, unedited")
        sums[match.group(2)] = match.group(1)
    return sums


def published_digest(sums_path, target):
    """The published sha256 of target's package, or InputError (read before anything is built)."""
    name = artifact_name(target)
    published = read_sums(sums_path)
    if name not in published:
        raise InputError(f"sums={sums_path}", f"lists no {name}", expected=name,
                         found=", ".join(sorted(published)) or "no entries",
                         fix="build a target the release published (target=...)")
    return published[name]


def challenge(published, target, built):
    """(same?, message): the package built here against the published digest for target."""
    name, ours = artifact_name(target), file_sha256(built)
    if ours == published:
        return True, f"{name}: the same bytes as published, sha256 {ours}"
    return False, f"{name}: differs from the published build\n  published:  {published}\n  built here: {ours}"
