"""`scons prune-cache cache_dir=DIR cache_limit=SIZE`: drop least recently used CacheDir entries."""

import os

import SCons.Errors

from lsone.maintenance.cacheprune import parse_size, prune_cache


def run(env, repo, arguments):
    if not env["cache_dir"]:
        raise SCons.Errors.UserError("scons prune-cache needs cache_dir=DIR (and cache_limit=SIZE, default 2G)")
    if not os.path.isdir(env["cache_dir"]):
        print(f"cache_dir={env['cache_dir']} does not exist; nothing to prune")
        return 0
    kept, removed = prune_cache(env["cache_dir"], parse_size(env["cache_limit"]))
    print(f"pruned {env['cache_dir']}: removed {removed / (1 << 20):.1f} MiB, kept {kept / (1 << 20):.1f} MiB")
    return 0
