"""Fetchers in the spirit of nixpkgs: a pinned hash in, a verified store path out.

Each mirror kind has one job: produce an archive. The archive is unpacked
(only the included files), hashed, and moved into the store only if the hash
matches. Mirrors are tried in order; the error lists why each one failed.
"""

import glob
import os
import stat
import subprocess
import sys
import tarfile
import time
import zipfile

from . import http
from .errors import InputError
from .progress import human_bytes
from .treehash import path_is_included, tree_hash


def fetch_url_archive(mirror, workdir, log):
    dest = os.path.join(workdir, "archive" + _archive_suffix(mirror["url"]))
    log(f"fetching {mirror['url']}")
    http.download(mirror["url"], dest)
    return dest


def fetch_pip_sdist(mirror, workdir, log):
    """Download a source distribution by name with pip's ordinary client."""
    log(f"fetching {mirror['package']} (source distribution) with pip")
    dl = os.path.join(workdir, "pip")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--progress-bar", "on", "--dest", dl, mirror["package"]]
    started = time.monotonic()
    # pip draws its own byte/rate bar on a terminal; its lines are echoed for logs.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail = []
    for line in proc.stdout:
        tail = (tail + [line.rstrip()])[-8:]
        log("  pip: " + line.rstrip())
    if proc.wait() != 0:
        raise http.DownloadError(f"pip download {mirror['package']} failed:\n" + "\n".join(tail))
    archives = sorted(glob.glob(os.path.join(dl, "*.tar.gz")) + glob.glob(os.path.join(dl, "*.zip")))
    if len(archives) != 1:
        raise http.DownloadError(f"pip download {mirror['package']} gave {len(archives)} archives, expected 1")
    size = os.path.getsize(archives[0])
    elapsed = max(time.monotonic() - started, 1e-3)
    log(f"downloaded {human_bytes(size)} in {elapsed:.0f} s ({human_bytes(size / elapsed)}/s)")
    return archives[0]


FETCHERS = {"url": fetch_url_archive, "pip-sdist": fetch_pip_sdist}
_SDIST_COMMIT_FILE = "/.git/modules/vendor/llama.cpp/HEAD"


def _archive_suffix(url):
    return ".zip" if url.endswith(".zip") else ".tar.gz"


def _safe_relpath(name):
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts or name.startswith("/"):
        return None
    return "/".join(parts)


def _member_relpath(name, subdir, strip_top=True):
    """Strip the archive's single top directory (if it has one) and then subdir; None if outside."""
    rel = _safe_relpath(name)
    if rel is None:
        return None
    if strip_top:
        if "/" not in rel:
            return None
        rel = rel.split("/", 1)[1]
    if subdir:
        prefix = subdir.strip("/") + "/"
        if not rel.startswith(prefix):
            return None
        rel = rel[len(prefix):]
    return rel


def _inside(root, path):
    real, root = os.path.realpath(path), os.path.realpath(root)
    return real == root or real.startswith(root + os.sep)


def _destination(dest_root, rel):
    """Where rel goes; refused if it is already there (a repeated name could write through a
    symlink) or if an earlier symlink member would carry it outside the tree."""
    path = os.path.join(dest_root, *rel.split("/"))
    if os.path.lexists(path):
        raise http.DownloadError(f"archive member {rel} appears twice")
    if not _inside(dest_root, os.path.dirname(path)):
        raise http.DownloadError(f"archive member {rel} would be written outside the tree (through a symlink)")
    return path


def _write_member(dest_root, rel, data_stream, executable):
    path = _destination(dest_root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        while True:
            chunk = data_stream.read(1 << 20)
            if not chunk:
                break
            out.write(chunk)
    os.chmod(path, 0o755 if executable else 0o644)


def _write_symlink(dest_root, rel, target, origin):
    """A relative symlink that stays inside the tree (resolved on disk, through earlier links)."""
    path = _destination(dest_root, rel)
    if target.startswith("/") or not _inside(dest_root, os.path.join(os.path.dirname(path), target)):
        raise http.DownloadError(f"{origin}: symlink {rel} -> {target!r} points outside the tree")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(target, path)


def extract_tree(archive, dest_root, subdir="", include=None, facts=None, strip_top=True):
    """Unpack the included files of archive/<top>/<subdir>/ into dest_root.

    strip_top=False for archives without a single top directory (cosmocc's zip).
    facts, if given, receives "commit": the llama.cpp commit a llama-cpp-python sdist records
    in its git metadata. It only names a bumped pin; the build never reads git metadata.
    """
    count = 0
    if archive.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                rel = _member_relpath(info.filename, subdir, strip_top)
                if rel is None or info.is_dir() or not path_is_included(rel, include):
                    continue
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):  # zip -y stores a symlink as its target text
                    _write_symlink(dest_root, rel, zf.read(info).decode("utf-8"), os.path.basename(archive))
                else:
                    with zf.open(info) as src:
                        _write_member(dest_root, rel, src, mode & 0o111)
                count += 1
    else:
        with tarfile.open(archive) as tf:
            for member in tf:
                if facts is not None and member.isfile() and member.name.endswith(_SDIST_COMMIT_FILE):
                    commit = tf.extractfile(member).read().decode("ascii", "replace").strip()
                    facts["commit"] = commit if len(commit) == 40 else None
                rel = _member_relpath(member.name, subdir, strip_top)
                if rel is None or not path_is_included(rel, include):
                    continue
                if member.issym():
                    _write_symlink(dest_root, rel, member.linkname, os.path.basename(archive))
                elif member.isfile() or member.islnk():
                    src = tf.extractfile(member)
                    _write_member(dest_root, rel, src, member.mode & 0o111)
                else:
                    continue
                count += 1
    if count == 0:
        raise http.DownloadError(f"{os.path.basename(archive)} has no files under '{subdir or '/'}' "
                                 f"matching the include list")
    return count


def fetch_source_tree(pin, store, log=print, offline=False):
    """Return the store path of pin's verified tree, fetching it if needed."""
    final = store.path_for(pin.name, pin.tree_hash)
    if os.path.isdir(final):
        return final
    if offline:
        raise InputError(pin.name, "not in the store and offline=1 forbids fetching",
                         expected=f"{pin.tree_hash} in {store.root}",
                         fix="run once with network access, or point store= at a warm store")
    with store.lock(pin.name):
        if os.path.isdir(final):
            return final
        return fetch_tree_from_mirrors(pin.name, pin.mirrors, pin.include, store, pin.tree_hash, log)[0]


def fetch_tree_from_mirrors(name, mirrors, include, store, expected_hash=None, log=print):
    """Try mirrors in order; return (store path, tree hash, mirror, archive facts).

    With expected_hash None (a bump discovering a new pin) the computed hash is the pin.
    """
    failures = []
    for mirror in mirrors:
        origin = mirror.get("url") or mirror.get("package")
        try:
            with store.staging(name) as work:
                archive = FETCHERS[mirror["type"]](mirror, work, log)
                facts = {}
                tree = os.path.join(work, "tree")
                os.makedirs(tree)
                n = extract_tree(archive, tree, mirror.get("subdir", ""), include, facts)
                log(f"unpacked {n} files; verifying tree hash")
                want = expected_hash or tree_hash(tree, include)
                path = store.insert_tree(tree, name, want, include, origin=origin)
                log(f"{name}: verified {want}, stored at {path}")
                return path, want, mirror, facts
        except (http.DownloadError, InputError, OSError, tarfile.TarError, zipfile.BadZipFile) as e:
            log(f"mirror {origin} failed: {e}")
            failures.append(f"  - {e}" if str(e).startswith(origin) else f"  - {origin}: {e}")
    raise InputError(name, "no mirror produced the pinned tree",
                     expected=expected_hash or "any tree", found="\n" + "\n".join(failures),
                     fix="check your network, or fetch the archive yourself and add it as a mirror")

