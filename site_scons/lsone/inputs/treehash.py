"""Content hashes, written `sha256:<hex>` everywhere (locks, store, manifest).

tree_hash is this project's own serialisation of a directory tree, not Nix's NAR
(`nix hash path` gives a different value). Only what the build can observe counts:
the sorted relative paths, whether a file is executable, symlink targets and the
bytes. Timestamps, owners and the archive a tree came from do not, so any mirror
that yields the same files verifies against the same hash. The exact byte stream is
described in MAINTAINERS.md ("Tree hashes").
"""

import hashlib
import os
import re
import stat

HASH_PREFIX = "sha256:"
HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_LEGACY_PREFIX = "sha256-"  # store metadata written before the notation was settled
_CHUNK = 1 << 20


def path_is_included(relpath, include):
    """True when relpath (posix) lies under one of the include prefixes.

    An include ending in '/' names a directory; otherwise it names one file.
    None includes everything.
    """
    if include is None:
        return True
    for prefix in include:
        if prefix.endswith("/"):
            if relpath.startswith(prefix):
                return True
        elif relpath == prefix:
            return True
    return False


def iter_tree(root, include=None):
    """Yield (relpath, kind, abspath) for every included entry, sorted by path.

    kind is 'file', 'exec' or 'symlink'. Directories are implied by their files.
    """
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            abspath = os.path.join(dirpath, name)
            relpath = os.path.relpath(abspath, root).replace(os.sep, "/")
            if not path_is_included(relpath, include):
                continue
            mode = os.lstat(abspath).st_mode
            if stat.S_ISLNK(mode):
                kind = "symlink"
            elif stat.S_ISREG(mode):
                kind = "exec" if mode & 0o111 else "file"
            else:
                continue
            entries.append((relpath, kind, abspath))
    entries.sort(key=lambda e: e[0].encode("utf-8"))
    return entries


def hex_digits(content_hash):
    """The hex digits of a `sha256:<hex>` hash (also of the older `sha256-<hex>` spelling)."""
    for prefix in (HASH_PREFIX, _LEGACY_PREFIX):
        if content_hash.startswith(prefix):
            return content_hash[len(prefix):]
    return content_hash


def file_digest(path):
    """'sha256:<hex>' of one file."""
    return HASH_PREFIX + file_sha256(path)


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_hash(root, include=None):
    """Return 'sha256:<hex>' over the included entries of root."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"tree hash: {root} is not a directory")
    digest = hashlib.sha256()
    count = 0
    for relpath, kind, abspath in iter_tree(root, include):
        name = relpath.encode("utf-8")
        digest.update(b"entry\0" + len(name).to_bytes(8, "little") + name)
        digest.update(kind.encode() + b"\0")
        if kind == "symlink":
            target = os.readlink(abspath).encode("utf-8")
            digest.update(len(target).to_bytes(8, "little") + target)
        else:
            digest.update(os.path.getsize(abspath).to_bytes(8, "little"))
            with open(abspath, "rb") as f:
                for chunk in iter(lambda: f.read(_CHUNK), b""):
                    digest.update(chunk)
        count += 1
    if count == 0:
        raise ValueError(f"tree hash: no files of {root} match the include list {include}")
    return HASH_PREFIX + digest.hexdigest()
