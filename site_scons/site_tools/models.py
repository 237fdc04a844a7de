"""SCons tool: model=NAME from models.lock (fetched into the store, verified) or model=PATH."""

from lsone.models import ModelPin, fetch_model, load_models_lock, resolve_model
from lsone.store import Store
from scons_errors import reported


def model_file(env, arg, lock_file="#models.lock"):
    """The path of the model to embed, or None without model=."""
    if not arg:
        return None
    with reported():
        resolved = resolve_model(arg, load_models_lock(env.File(lock_file).abspath))
        if isinstance(resolved, ModelPin):
            return fetch_model(resolved, Store(env.get("STORE_DIR") or None), offline=bool(env.get("OFFLINE")),
                               log=lambda m: print(f"[model] {m}", flush=True))
        return resolved


def generate(env):
    env.AddMethod(model_file, "ModelFile")


def exists(env):
    return True
