"""One pinned file (a model, a toolchain archive) fetched into the store: sha256 and size in,
verified store path out. Mirrors are tried in order; a partial download is resumed."""

import os
import shutil
import zipfile

from . import http
from .errors import InputError

DISK_MARGIN = 64 << 20


def check_free_space(directory, needed, what):
    os.makedirs(directory, exist_ok=True)
    free = shutil.disk_usage(directory).free
    if free < needed + DISK_MARGIN:
        raise InputError(what, f"not enough free disk space in {directory}",
                         expected=f"{(needed + DISK_MARGIN) / (1 << 20):.0f} MiB free",
                         found=f"{free / (1 << 20):.0f} MiB free",
                         fix="free some space, or point store= at a larger disk")


def fetch_url(mirror, partial, timeout, log):
    log(f"downloading {mirror['url']}")
    http.download(mirror["url"], partial, timeout=timeout, backoff=0.5)


def fetch_pinned_file(label, name, sha256, size, mirrors, store, fetchers=None, log=print, offline=False,
                      timeout=(10, 60), fix="check your network"):
    """Return the store path of the file, downloading and verifying it if needed.

    label names the input in messages ("model X.gguf", "cosmocc 4.0.2"); fix says what a user
    can do when no mirror delivers (for example: pass a local copy).
    """
    fetchers = fetchers or {"url": fetch_url}
    final = os.path.join(store.path_for(name, sha256), name)
    if os.path.isfile(final):
        return final
    if offline:
        raise InputError(label, "not in the store and offline=1 forbids fetching",
                         expected=f"{sha256} in {store.root}", fix=fix)
    with store.lock(name):
        if os.path.isfile(final):
            return final  # another build fetched it while we waited
        check_free_space(store.root, size, label)
        partial = os.path.join(store.root, ".tmp", os.path.basename(store.path_for(name, sha256)) + ".part")
        failures = []
        for mirror in mirrors:
            origin = mirror.get("url") or mirror.get("package")
            try:
                if mirror["type"] not in fetchers:
                    raise http.DownloadError(f"unknown mirror type {mirror['type']!r}")
                fetchers[mirror["type"]](mirror, partial, timeout, log)
                got = os.path.getsize(partial)
                if got != size:
                    os.remove(partial)
                    raise InputError(label, f"wrong size from {origin}", expected=f"{size} bytes",
                                     found=f"{got} bytes")
                return store.insert_file(partial, name, sha256, origin=origin)
            except (http.DownloadError, InputError, OSError, zipfile.BadZipFile) as e:
                log(f"mirror {origin} failed: {e}")
                failures.append(f"  - {e}" if str(e).startswith(origin) else f"  - {origin}: {e}")
        raise InputError(label, "no mirror delivered the pinned file", expected=f"{sha256} ({size} bytes)",
                         found="\n" + "\n".join(failures), fix=fix)
