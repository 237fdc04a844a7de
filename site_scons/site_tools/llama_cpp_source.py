"""SCons tool: the pinned llama.cpp tree, fetched, verified and patched.

env.LlamaCppSource() runs while SConscripts are read, like Nix evaluating a
fixed-output derivation: the result is a stable directory in the build tree
whose files are ordinary SCons sources, so content signatures decide what
recompiles when a patch changes.
"""

import os

from lsone.fetch import fetch_source_tree
from lsone.lockfile import load_sources_lock
from lsone.patching import list_patches, prepare_patched_tree
from lsone.store import Store
from lsone.treehash import file_sha256
from scons_errors import reported


def _log(message):
    print(f"[llama.cpp] {message}", flush=True)


def llama_cpp_source(env, lock_file="#sources.lock", patch_dir="#patches", dest="#build/llama.cpp"):
    """Return (Dir node of the patched tree, provenance dict)."""
    with reported():
        pin = load_sources_lock(env.File(lock_file).abspath)["llama.cpp"]
        store_tree = fetch_source_tree(pin, Store(env.get("STORE_DIR") or None), log=_log,
                                       offline=bool(env.get("OFFLINE")))
        patches = list_patches(env.Dir(patch_dir).abspath)
        dest_dir = env.Dir(dest)
        stamp, _results = prepare_patched_tree(store_tree, pin.tree_hash, patches, dest_dir.abspath, log=_log)
    provenance = {
        "llama.cpp": {"rev": pin.rev, "treeHash": pin.tree_hash},
        "patches": {os.path.basename(p): "sha256-" + file_sha256(p) for p in patches},
        "patchedTree": stamp,
    }
    env["LLAMA_CPP_PIN"] = pin
    return dest_dir, provenance


def generate(env):
    env.AddMethod(llama_cpp_source, "LlamaCppSource")


def exists(env):
    return True
