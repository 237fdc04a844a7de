"""SCons tool: an opt-in CacheDir (cache_dir=DIR) that records when each entry was last used.

Entries are keyed by build signature, so they are shared safely between checkouts and CI
runs; `scons prune-cache cache_limit=SIZE` evicts by least recent use.
"""

import os

import SCons.CacheDir


class LastUseCacheDir(SCons.CacheDir.CacheDir):
    @classmethod
    def copy_from_cache(cls, env, src, dst):
        try:
            os.utime(src)  # mtime = last use, for pruning
        except OSError:
            pass
        return super().copy_from_cache(env, src, dst)


def generate(env):
    if env.get("cache_dir"):
        env.CacheDir(env["cache_dir"], LastUseCacheDir)


def exists(env):
    """cache_dir= must be a directory this user can create and write.
    fix: point cache_dir= at a writable directory, or leave it empty"""
    path = env.get("cache_dir")
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    path = path or "."
    return not env.get("cache_dir") or (os.path.isdir(path) and os.access(path, os.W_OK))
