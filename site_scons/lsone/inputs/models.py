"""Models: model=NAME from models.lock (a file pin, see lsone.inputs.pins) or model=PATH, GGUF facts,
and `scons add-model`, which pins a new one."""

import os
import sys

from ..errors import InputError
from .pins import Pin, load_lock, write_lock

FETCH_FIX = "check your network, or download the file yourself and pass model=PATH"


def load_models_lock(path):
    return load_lock(path, "models", missing_ok=True)


def resolve_model(arg, pins):
    """model=NAME (from models.lock) -> its Pin; model=PATH -> absolute path; else InputError."""
    if arg in pins:
        return pins[arg]
    if os.path.isfile(arg):
        return os.path.abspath(arg)
    known = ", ".join(sorted(pins)) or "(models.lock is empty)"
    raise InputError(f"model={arg}", "is neither a name in models.lock nor an existing file",
                     expected=f"one of: {known}; or the path of a .gguf file", found=repr(arg),
                     fix="check the spelling, or add the model with `scons add-model url=URL`")


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
    from ..packaging.zipembed import check_gguf
    mirrors = [{"type": "url", "url": url}]
    path = store.realise(Pin(name, "file", None, mirrors), log=log, vet=lambda partial: check_gguf(partial, label=url),
                         fix=FETCH_FIX)
    stored = store.describe(path)
    digest, facts = stored["hash"], gguf_facts(path, gguf_py_dir)
    pin = Pin(name, "file", digest, mirrors, size=stored["size"], meta={"license": license, "gguf": facts})
    pins[name] = pin
    write_lock(lock_path, "models", pins)
    log(f"models.lock: added {name} ({digest}, {pin.size} bytes, {facts})")
    return pin
