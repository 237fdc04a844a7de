"""toolchain=zig gives the same bytes on any machine: the session's zig_build is a clean build made as
if on another machine (hermetic.py: no host compiler reachable, another user, umask, time zone, path,
store and zig caches). Its bytes must be the ones the README publishes, which were built elsewhere."""

import os
import re

import pytest

from conftest import REPO
from lsone.inputs.treehash import file_sha256
from lsone.inputs.zig import default_target
from lsone.packaging.release import artifact_name


def readme_sha256(name):
    with open(os.path.join(REPO, "README.md")) as f:
        found = re.findall(rf"^\s*([0-9a-f]{{64}})  {re.escape(name)}$", f.read(), re.M)
    assert len(found) == 1, f"README.md should publish one sha256 for {name}, found {len(found)}"
    return found[0]


@pytest.mark.slow  # its build fetches every input into a fresh store
def test_a_build_without_compilers_elsewhere_gives_the_published_bytes(zig_build):
    name = artifact_name(default_target())
    assert file_sha256(zig_build["package"]) == readme_sha256(name), \
        f"the hermetic build ({zig_build['log']}) is not the README's {name}: a build input changed " \
        f"(update the README from `scons release`), or the build depends on the machine"
    assert not os.path.exists(os.path.join(zig_build["home"], ".cache", "zig"))  # pip and npm cache there; zig must not
