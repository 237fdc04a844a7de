"""A toolchain=zig build as if on another machine: a clean build where no host compiler can be
reached, used as the session's zig_build (so the default zig configuration is compiled once).

It differs from a plain build in everything the build should not depend on:
  - a different checkout directory (a much longer path);
  - a different user (uid 65534 through a user namespace, other USER, LOGNAME and HOME);
  - umask 077 instead of 022, time zone Pacific/Kiritimati;
  - a fresh store (every input fetched and verified again, the UI built again) and so fresh zig
    caches (musl and libc++ built again), and an empty CacheDir of its own;
  - gcc, g++, cc, c++ and clang hidden by a mount namespace (bind mounts of /dev/null over the
    drivers, an empty directory over their libexec directories), checked unreachable first.
Its objects then go into the session's shared CacheDir (never the other way), so the release
retrieves them instead of compiling them again.
It needs unshare(1) with user and mount namespaces, and the package index and npm registry.
"""

import glob
import os
import shutil
import subprocess
import sys

import pytest

COMPILERS = ("gcc", "g++", "cc", "c++", "clang", "clang++", "cpp")
COMPILER_DIRS = ("/usr/lib/gcc", "/usr/libexec/gcc", *sorted(glob.glob("/usr/lib/llvm-*")))  # every clang installed

# Runs as root of a new user+mount namespace: hide the compilers, prove it, then drop to uid 65534.
HIDE_AND_BUILD = r"""
set -eu
empty=$(mktemp -d)
for dir in $COMPILER_DIRS; do [ -d "$dir" ] && mount --bind "$empty" "$dir"; done
for name in $COMPILERS; do
    path=$(command -v "$name" || true)
    [ -n "$path" ] && mount --bind /dev/null "$(readlink -f "$path")"
done
for name in $COMPILERS; do
    if "$name" --version >/dev/null 2>&1; then echo "hermetic: $name still runs"; exit 97; fi
    echo "hermetic: $name cannot run here"
done
exec unshare --user --map-user=65534 --map-group=65534 sh -c '
    umask 077
    echo "hermetic: building as uid $(id -u), umask $(umask)"
    exec "$@"' sh "$@"
"""


def hermetic_build(checkout, root):
    """scons toolchain=zig in checkout as another user, with no compiler reachable, its store, HOME and
    CacheDir fresh under root; returns their paths and the package's."""
    if not shutil.which("unshare"):
        pytest.fail("unshare(1) is needed to hide the host compilers: install util-linux")
    paths = {name: os.path.join(root, name) for name in ("store", "home", "cache")}
    os.makedirs(paths["home"])
    log = os.path.join(root, "hermetic.log")
    env = dict(os.environ, HOME=paths["home"], USER="nobody", LOGNAME="nobody", TZ="Pacific/Kiritimati",
               COMPILERS=" ".join(COMPILERS), COMPILER_DIRS=" ".join(COMPILER_DIRS))
    env.pop("SOURCE_DATE_EPOCH", None)
    scons = [sys.executable, "-m", "SCons", "toolchain=zig", f"store={paths['store']}", f"cache_dir={paths['cache']}"]
    with open(log, "w") as out:
        result = subprocess.run(["unshare", "--map-root-user", "--mount", "sh", "-c", HIDE_AND_BUILD, "sh", *scons],
                                cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=7200)
    with open(log, errors="replace") as f:
        text = f.read()
    assert result.returncode == 0, f"the hermetic build failed (see {log}):\n{text[-4000:]}"
    for name in COMPILERS:
        assert f"hermetic: {name} cannot run here" in text, log
    assert "hermetic: building as uid 65534, umask 0077" in text, log
    return dict(paths, log=log, package=os.path.join(checkout, "build", "llama-server-one"))


def share_cache(private, shared):
    """Copy the entries of a build's own CacheDir that the shared one lacks (content-addressed:
    an entry of the same name has the same bytes)."""
    for dirpath, _, files in os.walk(private):
        into = os.path.join(shared, os.path.relpath(dirpath, private))
        os.makedirs(into, exist_ok=True)
        for name in files:
            target = os.path.join(into, name)
            if not os.path.exists(target):
                shutil.copy2(os.path.join(dirpath, name), target + ".part")
                os.replace(target + ".part", target)
