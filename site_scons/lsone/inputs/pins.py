"""Pinned inputs and the one lock format: sources.lock, models.lock, toolchains.lock.

Every lock file has the same shape (in the spirit of Nix's flake.lock):

{
  "version": 2,
  "<sources|models|toolchains>": {
    "NAME": {
      "kind": "tree" or "file",
      "hash": "sha256:<hex>",           # a tree: lsone.inputs.treehash.tree_hash; a file: its sha256
      "size": N,                         # files only: checked before hashing
      "file": "x.zip",                   # files only, optional: its name in the store (default NAME)
      "include": ["src/", "LICENSE"],    # trees only, optional: the paths that count
      "mirrors": [{"type": "url", "url": "https://..."}, ...],   # see lsone.inputs.fetch.FETCHERS
      "meta": {...}                      # facts about it: rev, version, license, gguf, ...
    }
  }
}
"""

import json
import os

from ..errors import InputError
from .fetch import FETCHERS
from .treehash import HASH_RE

LOCK_VERSION = 2
KINDS = ("file", "tree")
KEYS = ("kind", "hash", "size", "file", "include", "mirrors", "meta")


class Pin:
    """One pinned input: what it is, how it hashes and where to get it."""

    def __init__(self, name, kind, hash, mirrors, size=None, file=None, include=None, meta=None):
        self.name = name
        self.kind = kind
        self.hash = hash
        self.mirrors = mirrors
        self.size = size
        self.file = file or name
        self.include = include
        self.meta = dict(meta or {})

    @property
    def rev(self):
        return self.meta.get("rev")

    @property
    def version(self):
        return self.meta.get("version")

    @property
    def label(self):
        """How messages name it: 'cosmocc 4.0.2', 'llama.cpp 0c1e57098bba', 'gemma.gguf'."""
        detail = self.version or (self.rev or "")[:12]
        return f"{self.name} {detail}" if detail else self.name

    def mirror_urls(self):
        return [m["url"] for m in self.mirrors if m.get("type") == "url"]

    def to_json(self):
        data = {"kind": self.kind, "hash": self.hash}
        if self.kind == "file":
            data["size"] = self.size
            if self.file != self.name:
                data["file"] = self.file
        elif self.include is not None:
            data["include"] = self.include
        data["mirrors"] = self.mirrors
        if self.meta:
            data["meta"] = self.meta
        return data


def _relative_paths(where, include):
    if not (isinstance(include, list) and include and all(isinstance(i, str) and i for i in include)):
        raise InputError(where, "'include' must be a non-empty list of paths")
    for i in include:
        if i.startswith("/") or ".." in i.split("/"):
            raise InputError(where, f"include entry {i!r} must be a relative path inside the tree")
    return include


def _mirrors(where, mirrors):
    if not (isinstance(mirrors, list) and mirrors):
        raise InputError(where, "'mirrors' must be a non-empty list")
    for n, mirror in enumerate(mirrors):
        kind = mirror.get("type") if isinstance(mirror, dict) else None
        if kind not in FETCHERS:
            raise InputError(f"{where}.mirrors[{n}]", "unknown mirror type",
                             expected=" or ".join(sorted(FETCHERS)), found=repr(kind))
        for key in FETCHERS[kind].fields:
            if not isinstance(mirror.get(key), str):
                raise InputError(f"{where}.mirrors[{n}]", f"a '{kind}' mirror needs a string '{key}'")
    return mirrors


def parse_pin(where, name, data):
    """Validate one lock entry; a Pin, or InputError naming the entry and the key."""
    if not isinstance(data, dict):
        raise InputError(where, "must be an object")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise InputError(where, f"unknown key(s) {', '.join(unknown)}", expected=", ".join(KEYS),
                         fix="facts about the input belong under 'meta'")
    for key in ("kind", "hash", "mirrors"):
        if key not in data:
            raise InputError(where, f"missing key '{key}'")
    if data["kind"] not in KINDS:
        raise InputError(where, "unknown kind", expected=" or ".join(KINDS), found=repr(data["kind"]))
    if not HASH_RE.match(str(data["hash"])):
        raise InputError(where, "hash is malformed", expected="sha256:<64 hex digits>", found=repr(data["hash"]))
    if data["kind"] == "file" and not (isinstance(data.get("size"), int) and data["size"] >= 0):
        raise InputError(where, "a file pin needs an integer size", found=repr(data.get("size")))
    include = data.get("include")
    if include is not None:
        _relative_paths(where, include)
    if not isinstance(data.get("meta", {}), dict):
        raise InputError(where, "'meta' must be an object")
    return Pin(name, data["kind"], data["hash"], _mirrors(where, data["mirrors"]), size=data.get("size"),
               file=data.get("file"), include=include, meta=data.get("meta"))


def load_lock(path, collection, missing_ok=False):
    """{name: Pin} from the `collection` of a lock file, or InputError naming the file and entry.
    missing_ok: a missing file reads as empty (models.lock)."""
    fix = f"restore the file from git (`git checkout -- {os.path.basename(path)}`)"
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise InputError(path, "lock file not found", fix="run scons from the repository root")
    except json.JSONDecodeError as e:
        raise InputError(path, f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})", fix=fix)
    if not isinstance(data, dict) or data.get("version") != LOCK_VERSION:
        raise InputError(path, "unsupported lock format", expected=f'"version": {LOCK_VERSION}',
                         found=repr(data.get("version") if isinstance(data, dict) else data), fix=fix)
    entries = data.get(collection)
    if not isinstance(entries, dict):
        raise InputError(path, f"'{collection}' must be an object of named entries", fix=fix)
    return {name: parse_pin(f"{path}: {collection}.{name}", name, entry) for name, entry in entries.items()}


def load_pin(path, collection, name):
    pins = load_lock(path, collection)
    if name not in pins:
        raise InputError(path, f"no '{name}' entry", expected=f"{collection}.{name}",
                         found=", ".join(sorted(pins)) or f"no {collection}",
                         fix=f"restore the file from git (`git checkout -- {os.path.basename(path)}`)")
    return pins[name]


def write_lock(path, collection, pins):
    """Write pins atomically, sorted by name with a fixed key order, so diffs stay small."""
    data = {"version": LOCK_VERSION, collection: {name: pins[name].to_json() for name in sorted(pins)}}
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
