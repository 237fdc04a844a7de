"""toolchain=zig gives the same bytes on another machine: a second, clean build of the default
package where no host compiler can be reached, compared with the session's zig build.

The second build differs from the first in everything the build should not depend on:
  - a different checkout directory (a much longer path);
  - a different user (uid 65534 through a user namespace, other USER, LOGNAME and HOME);
  - umask 077 instead of 022, time zone Pacific/Kiritimati;
  - a fresh store (every input fetched and verified again, the UI built again) and so fresh zig
    caches (musl and libc++ built again), no CacheDir;
  - gcc, g++, cc, c++ and clang hidden by a mount namespace (bind mounts of /dev/null over the
    drivers, an empty directory over their libexec directories), checked unreachable first.
It needs unshare(1) with user and mount namespaces, and the package index and npm registry.
"""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO
from integration.test_reproducible import clone_to
from lsone.inputs.treehash import file_sha256
from lsone.packaging.compare import first_difference

COMPILERS = ("gcc", "g++", "cc", "c++", "clang", "clang++", "cpp")
COMPILER_DIRS = ("/usr/lib/gcc", "/usr/libexec/gcc", "/usr/lib/llvm-14", "/usr/lib/llvm-15", "/usr/lib/llvm-16")

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


def hermetic_build(checkout, store, home, log):
    """scons toolchain=zig in checkout as another user, with no compiler reachable; returns the package."""
    env = dict(os.environ, HOME=home, USER="nobody", LOGNAME="nobody", TZ="Pacific/Kiritimati",
               COMPILERS=" ".join(COMPILERS), COMPILER_DIRS=" ".join(COMPILER_DIRS))
    env.pop("SOURCE_DATE_EPOCH", None)
    scons = [sys.executable, "-m", "SCons", "toolchain=zig", f"store={store}"]
    with open(log, "w") as out:
        result = subprocess.run(["unshare", "--map-root-user", "--mount", "sh", "-c", HIDE_AND_BUILD, "sh", *scons],
                                cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=7200)
    text = open(log, errors="replace").read()
    assert result.returncode == 0, text[-4000:]
    for name in COMPILERS:
        assert f"hermetic: {name} cannot run here" in text
    assert "hermetic: building as uid 65534, umask 0077" in text
    return os.path.join(checkout, "build", "llama-server-one")


@pytest.mark.slow
def test_a_build_without_compilers_elsewhere_gives_the_same_bytes(zig_build, tmp_path):
    if not shutil.which("unshare"):
        pytest.skip("unshare(1) (util-linux) is needed to hide the host compilers")
    checkout = clone_to(str(tmp_path / "another-user" / "a-much-longer-checkout-path" / "b"))
    home = tmp_path / "home-b"
    home.mkdir()
    package = hermetic_build(checkout, str(tmp_path / "fresh-store"), str(home), tmp_path / "hermetic.log")
    difference = first_difference(zig_build["package"], package)
    assert difference is None, f"{difference}; see {tmp_path / 'hermetic.log'}"
    assert file_sha256(package) == file_sha256(zig_build["package"])
    assert not os.path.exists(home / ".cache" / "zig")  # pip and npm keep their caches there; zig does not
