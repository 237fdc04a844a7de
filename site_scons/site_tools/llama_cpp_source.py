"""SCons tool: the verified llama.cpp tree, patched into build/llama.cpp.

env.LlamaCppSource() runs while SConscripts are read, like Nix evaluating a
fixed-output derivation: the result is a stable directory in the build tree
whose files are ordinary SCons sources, so content signatures decide what
recompiles when a patch changes. The tree itself comes from the inputs step.
"""

import os
import shutil

from lsone.inputs.patching import list_patches, prepare_patched_tree
from lsone.inputs.treehash import file_digest
from lsone.progress import logger
from scons_errors import reported
from steps import Source


def llama_cpp_source(env, pin, store_tree, patch_dir="#patches", dest="#build/llama.cpp"):
    """The Source: the patched tree (a Dir node) and its provenance, for the pinned tree in the store."""
    with reported():
        patches = list_patches(env.Dir(patch_dir).abspath)
        dest_dir = env.Dir(dest)
        stamp, _results = prepare_patched_tree(store_tree, pin.hash, patches, dest_dir.abspath, log=logger("llama.cpp"))
    provenance = {
        "llama.cpp": {"rev": pin.rev, "treeHash": pin.hash},
        "patches": {os.path.basename(p): file_digest(p) for p in patches},
        "patchedTree": stamp,
    }
    return Source(pin, dest_dir, provenance)


def generate(env):
    env.AddMethod(llama_cpp_source, "LlamaCppSource")


def exists(env):
    """GNU patch must be on PATH: it applies patches/ (lsone.inputs.patching).
    fix: install it (Debian/Ubuntu: sudo apt-get install patch)"""
    return bool(shutil.which("patch"))
