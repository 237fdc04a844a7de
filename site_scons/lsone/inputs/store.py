"""The content-addressed store, outside the build directory.

Entries are named '<first 32 hex digits of the hash>-<name>' and are only ever
created by renaming a fully verified staging directory into place, so a
reader never sees a partial or unverified entry. `scons -c` never touches it.

There are two doors, and nothing else writes here: Store.realise for pinned inputs
(fetchers deliver to a temporary path, the store verifies and places) and
Store.realise_output for build results (the built UI, unpacked toolchains).
"""

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile

from .archive import extract_tree
from ..errors import InputError
from .fetch import deliver, first_delivery, mirror_origin
from .treehash import file_digest, hex_digits, iter_tree, tree_hash

APP_NAME = "llama-server-one"
DISK_MARGIN = 64 << 20


def check_free_space(directory, needed, what):
    os.makedirs(directory, exist_ok=True)
    free = shutil.disk_usage(directory).free
    if free < needed + DISK_MARGIN:
        raise InputError(what, f"not enough free disk space in {directory}",
                         expected=f"{(needed + DISK_MARGIN) / (1 << 20):.0f} MiB free",
                         found=f"{free / (1 << 20):.0f} MiB free",
                         fix="free some space, or point store= at a larger disk")


def default_store_root():
    """$XDG_CACHE_HOME/llama-server-one/store, else ~/.cache/llama-server-one/store."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, APP_NAME, "store")


def _entry_name(name, content_hash):
    digits = hex_digits(content_hash)
    safe = "".join(c if c.isalnum() or c in "._+-" else "_" for c in name)
    return f"{digits[:32]}-{safe}"


def _stat_line(rel, path):
    st = os.lstat(path)
    return f"{rel}\0{st.st_mode}\0{st.st_size}\0{st.st_mtime_ns}\n"


def _fingerprint(path):
    """Cheap stand-in for content: paths, modes, sizes and mtimes (of a file, or of a tree's entries)."""
    digest = hashlib.sha256()
    if os.path.isdir(path):
        for rel, _kind, entry in iter_tree(path):
            digest.update(_stat_line(rel, entry).encode())
    else:
        digest.update(_stat_line("", path).encode())
    return digest.hexdigest()


def cached_digest(path, cache_dir, compute, log, what):
    """compute(path), remembered under cache_dir until the path's fingerprint changes."""
    os.makedirs(cache_dir, exist_ok=True)
    key = "sha256:\0" + os.path.abspath(path)  # the notation is part of the key: older entries say sha256-
    cache = os.path.join(cache_dir, hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")
    fingerprint = _fingerprint(path)
    try:
        with open(cache) as f:
            saved = json.load(f)
        if saved.get("fingerprint") == fingerprint:
            return saved["digest"]
    except (OSError, ValueError, KeyError):
        pass
    log(f"hashing {what} {path} (once; again only when a file changes)")
    digest = compute(path)
    tmp = f"{cache}.{os.getpid()}.tmp"  # concurrent builds each write their own, then rename
    with open(tmp, "w") as f:
        json.dump({"fingerprint": fingerprint, "digest": digest}, f)
    os.replace(tmp, cache)
    return digest


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

    def pin_path(self, pin):
        """Where a pin lives once realised: a tree's directory, or a file inside its entry."""
        entry = self.path_for(pin.file, pin.hash)
        return entry if pin.kind == "tree" else os.path.join(entry, pin.file)

    def has_pin(self, pin):
        """Whether pin needs no fetching: it is here (or, for an archive, its unpacked tree is)."""
        return os.path.exists(self.pin_path(pin)) or \
            bool(pin.kind == "file" and pin.version and os.path.isdir(self.unpacked_path(pin)))

    def realise(self, pin, offline=False, log=print, local=None, timeout=(10, 60), vet=None,
                fix="run once with network access, or point store= at a warm store"):
        """The door for inputs: the store path of pin, fetched from its mirrors and verified if
        the store lacks it. Only what matches the pin's size and hash is placed.

        pin.hash None: a new pin (bump, add-model); the first mirror's delivery is hashed and
        stored, and describe(path) says its hash, size, mirror and what its archive said.
        local: the path of a copy the user already has, used instead of the mirrors.
        vet(path): raises InputError to refuse a delivery before it is placed.
        """
        if pin.hash:
            final = self.pin_path(pin)
            if os.path.exists(final):
                return final
            if offline and not local:
                raise InputError(pin.label, "not in the store and offline=1 forbids fetching",
                                 expected=f"{pin.hash} in {self.root}", fix=fix)
        mirrors = [{"type": "file", "path": local}] if local else pin.mirrors
        with self.lock(pin.file):
            if pin.hash and os.path.exists(self.pin_path(pin)):
                return self.pin_path(pin)  # another build fetched it while we waited
            if pin.kind == "file" and pin.size:
                check_free_space(self.root, pin.size, pin.label)
            what = "the pinned " + pin.kind if pin.hash else "a " + pin.kind
            expected = (f"{pin.hash} ({pin.size} bytes)" if pin.kind == "file" else pin.hash) if pin.hash \
                else f"any {pin.kind}"
            return first_delivery(pin.label, mirrors, lambda mirror: self._admit(pin, mirror, log, timeout, vet),
                                  what, expected, fix, log)

    def _admit(self, pin, mirror, log, timeout, vet):
        """One mirror's delivery for pin, into a temporary path, verified, then placed."""
        with self.staging(pin.name) as work:
            if pin.kind == "tree":
                tree = os.path.join(work, "tree")
                facts = deliver(pin, mirror, tree, log, timeout)
                if vet:
                    vet(tree)
                log("verifying tree hash")
                path = self._insert_tree(tree, pin, mirror, facts)
                log(f"{pin.name}: verified {self.describe(path)['hash']}, stored at {path}")
                return path
            # A pinned file downloads beside the staging directory, where a later run resumes it.
            partial = os.path.join(self.root, ".tmp", _entry_name(pin.file, pin.hash) + ".part") \
                if pin.hash else os.path.join(work, pin.file)
            deliver(pin, mirror, partial, log, timeout)
            got = os.path.getsize(partial)
            if pin.size is not None and got != pin.size:
                os.remove(partial)
                raise InputError(pin.label, f"wrong size from {mirror_origin(mirror)}", expected=f"{pin.size} bytes",
                                 found=f"{got} bytes")
            try:
                if vet:
                    vet(partial)
                return self._insert_file(partial, pin, mirror)
            finally:
                if os.path.exists(partial):
                    os.remove(partial)

    def describe(self, path):
        """What the store knows of the entry at path (a tree's directory, or a file pin's file):
        name, kind, hash, and for fetched entries the mirror and what its archive said."""
        entry = path if os.path.isdir(path) else os.path.dirname(path)
        try:
            with open(entry + ".json") as f:
                meta = json.load(f)
            meta["hash"]  # every entry's metadata has one
            return meta
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"store entry {entry}", f"its metadata {entry}.json is missing or unreadable ({e})",
                             fix=f"delete {entry} (and {entry}.json); the next build makes it again")

    def realise_output(self, name, input_hash, build, log=print, needed=0):
        """The door for build results (the built UI, unpacked toolchains): the store path of what
        build(work) makes in the scratch directory work and returns (a directory), stored under
        the hash of its inputs (what Nix calls input-addressed) unless a build stored it first.

        Its content hash is recorded beside it, so `verify-store` can tell if it changes later.
        """
        final = self.path_for(name, input_hash)
        if os.path.isdir(final):
            return final
        with self.lock(name):
            if os.path.isdir(final):
                return final  # another build made it while we waited
            if needed:
                check_free_space(self.root, needed, name)
            with self.staging(name) as work:
                built = build(work)
                meta = {"name": name, "kind": "tree", "hash": tree_hash(built), "include": None,
                        "inputs": input_hash}
                path = self._place(built, final, meta)
                log(f"{name}: stored at {path}")
                return path

    def unpacked_path(self, pin):
        """Where an archive pin (a toolchain) is unpacked: input-addressed by the archive's hash."""
        return self.path_for(f"{pin.name}-{pin.version}", pin.hash)

    def realise_unpacked(self, pin, offline=False, log=print, prepare=None, local=None,
                         fix="run once with network access, or point store= at a warm store"):
        """The unpacked tree of an archive pin, through both doors: the archive is an input, its
        unpacked tree a build result. prepare(tree) vets (and may fix up) its layout before it
        is stored."""
        final = self.unpacked_path(pin)
        if os.path.isdir(final):
            return final
        archive = self.realise(pin, offline, log, local=local, fix=fix)

        def unpack(work):
            tree = os.path.join(work, "tree")
            log(f"unpacking {os.path.basename(archive)}")
            count = extract_tree(archive, tree, strip_top=False)
            if prepare:
                prepare(tree)
            log(f"{pin.label}: {count} files")
            return tree
        return self.realise_output(f"{pin.name}-{pin.version}", pin.hash, unpack, log, needed=4 * pin.size)

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
                    actual = file_digest(os.path.join(path, meta["name"]))
            except (OSError, ValueError, KeyError) as e:
                problems.append(f"{entry}: unreadable ({e})")
                continue
            good = hex_digits(actual) == hex_digits(meta["hash"])  # older entries spell it sha256-<hex>
            if not good:
                problems.append(f"{entry}: expected {meta['hash']}, found {actual}")
            log(f"{'ok ' if good else 'BAD'} {entry}")
        return problems

    def _insert_file(self, staged_file, pin, mirror):
        """Verify one delivered file by sha256 (any, for a new pin) and move it into the store
        as <entry>/<file>."""
        actual = file_digest(staged_file)
        if pin.hash and actual != pin.hash:
            raise InputError(pin.file, f"sha256 mismatch for the file from {mirror_origin(mirror)}",
                             expected=pin.hash, found=actual,
                             fix="the mirror served different bytes; try another mirror or re-check the pin")
        holder = staged_file + ".entry"
        shutil.rmtree(holder, ignore_errors=True)  # left by a build killed here: never an entry, just in the way
        os.makedirs(holder)
        size = os.path.getsize(staged_file)
        os.rename(staged_file, os.path.join(holder, pin.file))
        meta = {"name": pin.file, "kind": "file", "hash": actual, "size": size, "mirror": mirror}
        return os.path.join(self._place(holder, self.path_for(pin.file, actual), meta), pin.file)

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

    def _insert_tree(self, staged_tree, pin, mirror, facts):
        """Verify staged_tree against pin's hash (any, for a new pin) and move it into the store.

        On a mismatch nothing enters the store and InputError names both hashes.
        """
        actual = tree_hash(staged_tree, pin.include)
        if pin.hash and actual != pin.hash:
            raise InputError(pin.name, f"tree hash mismatch for the source from {mirror_origin(mirror)}",
                             expected=pin.hash, found=actual,
                             fix="the mirror served different files; if the pin is wrong, "
                                 "update it with the bump command, otherwise try another mirror")
        meta = {"name": pin.name, "kind": "tree", "hash": actual, "include": pin.include, "mirror": mirror,
                "facts": facts}
        return self._place(staged_tree, self.path_for(pin.name, actual), meta)
