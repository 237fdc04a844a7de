"""The content-addressed store, outside the build directory.

Entries are named '<first 32 hex digits of the hash>-<name>' and are only ever
created by renaming a fully verified staging directory into place, so a
reader never sees a partial or unverified entry. `scons -c` never touches it.
"""

import contextlib
import fcntl
import json
import os
import shutil
import stat
import tempfile

from .errors import InputError
from .treehash import file_sha256, tree_hash

APP_NAME = "llama-server-one"


def default_store_root():
    """$XDG_CACHE_HOME/llama-server-one/store, else ~/.cache/llama-server-one/store."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, APP_NAME, "store")


def _entry_name(name, content_hash):
    digits = content_hash.split("-", 1)[-1]
    safe = "".join(c if c.isalnum() or c in "._+-" else "_" for c in name)
    return f"{digits[:32]}-{safe}"


def make_read_only(root):
    """Drop write bits from files (not directories, so users can still delete the store)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                mode = os.lstat(path).st_mode
                os.chmod(path, stat.S_IMODE(mode) & ~0o222)


class Store:
    def __init__(self, root=None):
        self.root = os.path.abspath(root or default_store_root())

    def path_for(self, name, content_hash):
        return os.path.join(self.root, _entry_name(name, content_hash))

    def has(self, name, content_hash):
        return os.path.exists(self.path_for(name, content_hash))

    def _ensure_dirs(self):
        for sub in (".tmp", ".locks"):
            os.makedirs(os.path.join(self.root, sub), exist_ok=True)

    @contextlib.contextmanager
    def lock(self, name):
        """Exclusive inter-process lock, so two builds never fetch one input twice at once."""
        self._ensure_dirs()
        path = os.path.join(self.root, ".locks", _entry_name(name, "x") + ".lock")
        with open(path, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def staging(self, name):
        """A scratch directory inside the store (same filesystem, so rename is atomic).

        It is always removed on exit; insert_* moves out what should stay.
        """
        self._ensure_dirs()
        path = tempfile.mkdtemp(prefix=_entry_name(name, "staging") + ".", dir=os.path.join(self.root, ".tmp"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    @staticmethod
    def _write_meta(final, meta):
        """Beside each entry, <entry>.json: what it is and the hash it must have (for verify)."""
        with open(final + ".json.tmp", "w") as f:
            json.dump(meta, f, sort_keys=True)
        os.replace(final + ".json.tmp", final + ".json")

    def verify(self, log=print):
        """Re-hash every entry; return the list of problems (empty when all is well)."""
        problems = []
        if not os.path.isdir(self.root):
            return problems
        for entry in sorted(os.listdir(self.root)):
            path = os.path.join(self.root, entry)
            if entry.startswith(".") or not os.path.isdir(path):
                continue
            if not os.path.exists(path + ".json"):
                log(f"?   {entry}: no metadata (stored by an older version); delete it to have it fetched again")
                continue
            try:
                with open(path + ".json") as f:
                    meta = json.load(f)
                if meta["kind"] == "tree":
                    actual = tree_hash(path, meta.get("include"))
                else:
                    actual = "sha256-" + file_sha256(os.path.join(path, meta["name"]))
            except (OSError, ValueError, KeyError) as e:
                problems.append(f"{entry}: unreadable ({e})")
                continue
            if actual != meta["hash"]:
                problems.append(f"{entry}: expected {meta['hash']}, found {actual}")
            log(f"{'ok ' if actual == meta['hash'] else 'BAD'} {entry}")
        return problems

    def insert_file(self, staged_file, name, expected_sha256, origin="?"):
        """Verify one staged file by sha256 and move it into the store as <entry>/<name>."""
        actual = "sha256-" + file_sha256(staged_file)
        if actual != expected_sha256:
            os.remove(staged_file)
            raise InputError(name, f"sha256 mismatch for the file from {origin}",
                             expected=expected_sha256, found=actual,
                             fix="the mirror served different bytes; try another mirror or re-check the pin")
        holder = staged_file + ".entry"
        shutil.rmtree(holder, ignore_errors=True)  # left by a build killed here: never an entry, just in the way
        os.makedirs(holder)
        os.rename(staged_file, os.path.join(holder, name))
        meta = {"name": name, "kind": "file", "hash": expected_sha256}
        return os.path.join(self._place(holder, self.path_for(name, expected_sha256), meta), name)

    def insert_output(self, staged_dir, name, input_hash):
        """Store a built output under the hash of its inputs (what Nix calls input-addressed).

        Its content hash is recorded beside it, so `verify-store` can tell if it changes later.
        """
        meta = {"name": name, "kind": "tree", "hash": tree_hash(staged_dir), "include": None, "inputs": input_hash}
        return self._place(staged_dir, self.path_for(name, input_hash), meta)

    def _place(self, staged_dir, final, meta):
        """Read-only, described, then renamed into place: readers never see half an entry."""
        make_read_only(staged_dir)
        self._write_meta(final, meta)
        try:
            os.rename(staged_dir, final)
        except OSError:
            if not os.path.isdir(final):
                raise
            # Another process placed the same entry first; ours is redundant.
        return final

    def insert_tree(self, staged_tree, name, expected_hash, include=None, origin="?"):
        """Verify staged_tree against expected_hash and move it into the store.

        On a mismatch nothing enters the store and InputError names both hashes.
        """
        actual = tree_hash(staged_tree, include)
        if actual != expected_hash:
            raise InputError(name, f"tree hash mismatch for the source from {origin}",
                             expected=expected_hash, found=actual,
                             fix="the mirror served different files; if the pin is wrong, "
                                 "update it with the bump command, otherwise try another mirror")
        meta = {"name": name, "kind": "tree", "hash": expected_hash, "include": include}
        return self._place(staged_tree, self.path_for(name, expected_hash), meta)
