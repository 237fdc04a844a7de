"""toolchain=zig gives the same bytes on any machine: the session's zig_build is a clean build made as
if on another machine (hermetic.py: no host compiler reachable, another user, umask, time zone, path,
store and zig caches). Its bytes must be the ones the README publishes, which were built elsewhere."""

import pytest

from integration.conftest import readme_sha256
from lsone.inputs.treehash import file_sha256
from lsone.inputs.zig import default_target
from lsone.packaging.release import artifact_name


@pytest.mark.slow  # its build fetches every input into a fresh store
def test_a_build_without_compilers_elsewhere_gives_the_published_bytes(zig_build):
    name = artifact_name(default_target())
    assert file_sha256(zig_build["package"]) == readme_sha256(name), \
        f"the hermetic build ({zig_build['log']}) is not the README's {name}: a build input changed " \
        f"(update the README from `scons release`), or the build depends on the machine"
