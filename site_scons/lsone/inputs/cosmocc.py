"""cosmocc, the Cosmopolitan toolchain, pinned in toolchains.lock.

It comes from one of three places, checked in this order:
  - cosmocc=DIR: a directory the user unpacked; used in place, its tree hash recorded;
  - cosmocc=ARCHIVE: a zip the user downloaded; verified by the pinned sha256, then stored;
  - the store: the pinned archive, fetched from the mirrors if needed, unpacked once.
The unpacked tree is stored under the archive's hash, with its own tree hash beside it.
"""

import os

from ..errors import InputError
from .pins import load_pin as _load_pin
from .store import cached_digest
from .treehash import file_digest, tree_hash

# What the build runs, what the 4.0.2 driver scripts (cosmocc, cosmoar) run in turn, and what
# GCC reads for -fopenmp; a directory without them is not a cosmocc, or a partial unpack that
# would fail mid-build.
EXECUTABLES = ("bin/cosmocc", "bin/cosmoc++", "bin/cosmoar", "bin/apelink", "bin/mktemper", "bin/fixupobj",
               "bin/pecheck") + tuple(f"bin/{arch}-linux-cosmo-{tool}" for arch in ("x86_64", "aarch64")
                                      for tool in ("g++", "ar", "ld", "objcopy"))  # ld, objcopy: cpu=multi
REQUIRED_FILES = EXECUTABLES + ("bin/ape-x86_64.elf", "bin/ape-aarch64.elf", "bin/ape-m1.c", "lib/gcc/libgomp.spec")


class UnpackedCosmocc:
    """An unpacked cosmocc: where it is, and what identifies it (no machine paths)."""

    def __init__(self, root, identity):
        self.root = root
        self.identity = identity


def load_pin(path, name="cosmocc"):
    return _load_pin(path, "toolchains", name)


def unavailable_fix(pin):
    mirrors = " or ".join(pin.mirror_urls())
    return (f"download {pin.file} yourself ({mirrors}) and pass cosmocc=/path/to/{pin.file}, "
            f"or cosmocc=DIR for a directory you unpacked it into; or build with toolchain=host")


def check_layout(root, origin):
    missing = [f for f in REQUIRED_FILES if not os.path.isfile(os.path.join(root, f))]
    if missing:
        raise InputError(origin, "is not a cosmocc toolchain",
                         expected="the layout of cosmocc's zip: " + ", ".join(REQUIRED_FILES),
                         found="missing " + ", ".join(missing),
                         fix="pass the directory that holds bin/ (where the zip was unpacked), or the zip itself")
    not_exec = [f for f in EXECUTABLES if not os.access(os.path.join(root, f), os.X_OK)]
    if not_exec:
        raise InputError(origin, "has tools without the execute bit", found=", ".join(not_exec),
                         fix=f"chmod +x {' '.join(os.path.join(root, f) for f in not_exec)}")
    if " " in os.path.abspath(root):
        raise InputError(origin, "its path contains a space, which cosmocc's compiler driver refuses",
                         found=os.path.abspath(root), fix="move or link it to a path without spaces")


def _stored_tree_identity(pin, path, store):
    tree = store.describe(path)["hash"]
    return {"kind": pin.name, "version": pin.version, "archive": pin.hash, "treeHash": tree}


def _pinned(pin, store, offline, log, local=None):
    check = lambda tree: check_layout(tree, f"{pin.label} ({pin.file})")  # noqa: E731
    root = store.realise_unpacked(pin, offline, log, prepare=check, local=local, fix=unavailable_fix(pin))
    return UnpackedCosmocc(root, _stored_tree_identity(pin, root, store))


def available_locally(request, pin, store):
    """Whether cosmocc can be had without a download (what toolchain=auto asks)."""
    return bool(request) or store.has_pin(pin)


def _from_archive(request, pin, store, log):
    origin = f"cosmocc={request}"
    size = os.path.getsize(request)
    if size != pin.size:  # no need to hash it: a partial or different download
        raise InputError(origin, f"is not the pinned {pin.file}", expected=f"{pin.size} bytes ({pin.hash})",
                         found=f"{size} bytes" + (" (shorter: an interrupted download?)" if size < pin.size else ""),
                         fix=f"download {pin.file} again ({' or '.join(pin.mirror_urls())})")
    actual = cached_digest(request, os.path.join(store.root, ".digests"), file_digest, log, "the archive")
    if actual != pin.hash:
        raise InputError(origin, f"is not the pinned {pin.file}", expected=pin.hash, found=actual,
                         fix=f"download {pin.file} again ({' or '.join(pin.mirror_urls())}); "
                             "a different cosmocc version needs a new pin in toolchains.lock")
    return _pinned(pin, store, False, log, local=request)  # copied into the store, hashed again


def resolve_cosmocc(request, pin, store, offline=False, log=print):
    """Return the UnpackedCosmocc for cosmocc=REQUEST (a directory or an archive), else the pinned one."""
    if request:
        request = os.path.realpath(os.path.expanduser(request))  # a symlink's target is what gets hashed
        if os.path.isdir(request):
            check_layout(request, f"cosmocc={request}")
            digest = cached_digest(request, os.path.join(store.root, ".digests"), tree_hash, log,
                                   "the toolchain directory")
            log(f"cosmocc={request}: tree {digest} (a directory is not checked against the pin)")
            return UnpackedCosmocc(request, {"kind": pin.name, "version": "unpinned directory", "treeHash": digest})
        if os.path.isfile(request):
            return _from_archive(request, pin, store, log)
        raise InputError(f"cosmocc={request}", "no such file or directory",
                         expected=f"{pin.file} or the directory it was unpacked into", fix=unavailable_fix(pin))
    return _pinned(pin, store, offline, log)
