"""sources.lock: pinned source trees, in the spirit of Nix's flake.lock.

{
  "version": 1,
  "sources": {
    "llama.cpp": {
      "rev": "<commit>",
      "treeHash": "sha256-<hex>",
      "include": ["common/", "ggml/", "CMakeLists.txt", ...],
      "mirrors": [
        {"type": "url", "url": "https://...tar.gz", "subdir": "llama.cpp-<commit>"},
        {"type": "pip-sdist", "package": "llama-cpp-python==0.3.36", "subdir": "vendor/llama.cpp"}
      ]
    }
  }
}
"""

import json
import os
import re

from .errors import InputError

LOCK_VERSION = 1
MIRROR_TYPES = {"url": ("url",), "pip-sdist": ("package",)}
SHA256_RE = re.compile(r"^sha256-[0-9a-f]{64}$")  # tree hashes and file hashes alike


class SourcePin:
    """One pinned source tree: what it is, how it hashes and where to get it."""

    def __init__(self, name, rev, tree_hash, include, mirrors, extra=None):
        self.name = name
        self.rev = rev
        self.tree_hash = tree_hash
        self.include = include
        self.mirrors = mirrors
        self.extra = extra or {}

    def to_json(self):
        data = dict(self.extra)
        data.update({"rev": self.rev, "treeHash": self.tree_hash,
                     "include": self.include, "mirrors": self.mirrors})
        return data


def _fail(path, problem, fix="restore the file from git (`git checkout -- sources.lock`)"):
    raise InputError(path, problem, fix=fix)


def parse_source_pin(path, name, data):
    where = f"{path}: sources.{name}"
    if not isinstance(data, dict):
        _fail(where, "must be an object")
    for key in ("rev", "treeHash", "include", "mirrors"):
        if key not in data:
            _fail(where, f"missing key '{key}'")
    if not SHA256_RE.match(str(data["treeHash"])):
        raise InputError(where, "treeHash is malformed", expected="sha256-<64 hex digits>",
                         found=repr(data["treeHash"]))
    include = data["include"]
    if not (isinstance(include, list) and include and all(isinstance(i, str) and i for i in include)):
        _fail(where, "'include' must be a non-empty list of paths")
    for i in include:
        if i.startswith("/") or ".." in i.split("/"):
            _fail(where, f"include entry {i!r} must be a relative path inside the tree")
    mirrors = data["mirrors"]
    if not (isinstance(mirrors, list) and mirrors):
        _fail(where, "'mirrors' must be a non-empty list")
    for n, mirror in enumerate(mirrors):
        kind = mirror.get("type") if isinstance(mirror, dict) else None
        if kind not in MIRROR_TYPES:
            raise InputError(f"{where}.mirrors[{n}]", "unknown mirror type",
                             expected=" or ".join(sorted(MIRROR_TYPES)), found=repr(kind))
        for key in MIRROR_TYPES[kind]:
            if not isinstance(mirror.get(key), str):
                _fail(f"{where}.mirrors[{n}]", f"a '{kind}' mirror needs a string '{key}'")
    extra = {k: v for k, v in data.items() if k not in ("rev", "treeHash", "include", "mirrors")}
    return SourcePin(name, str(data["rev"]), data["treeHash"], include, mirrors, extra)


def read_lock(path, collection, missing_ok=False):
    """The {name: entry} object under `collection` of a version-1 lock file (sources.lock,
    models.lock, toolchains.lock), or a named error. missing_ok: a missing file reads as empty."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise InputError(path, "lock file not found", fix="run scons from the repository root")
    except json.JSONDecodeError as e:
        raise InputError(path, f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})")
    if not isinstance(data, dict) or data.get("version") != LOCK_VERSION:
        raise InputError(path, "unsupported lock format", expected=f'"version": {LOCK_VERSION}',
                         found=repr(data.get("version") if isinstance(data, dict) else data))
    entries = data.get(collection)
    if not isinstance(entries, dict):
        _fail(path, f"'{collection}' must be an object of named entries")
    return entries


def load_sources_lock(path):
    """Read a sources.lock and return {name: SourcePin}."""
    sources = read_lock(path, "sources")
    if not sources:
        _fail(path, "'sources' must be a non-empty object")
    return {name: parse_source_pin(path, name, entry) for name, entry in sources.items()}


def write_sources_lock(path, pins):
    """Write pins atomically, with stable key order, so diffs stay small."""
    data = {"version": LOCK_VERSION,
            "sources": {name: pins[name].to_json() for name in sorted(pins)}}
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
