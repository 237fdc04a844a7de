"""Unpacking archives (tar or zip) into a tree: only the included files, nothing outside it."""

import os
import stat
import tarfile
import zipfile

from . import http
from .treehash import path_is_included

_SDIST_COMMIT_FILE = "/.git/modules/vendor/llama.cpp/HEAD"


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
    if zipfile.is_zipfile(archive):
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
