"""Two builds of the same inputs give the same bytes (host toolchain, same compiler): the session's
build and a clean one elsewhere."""

import os
import shutil
import socket
import subprocess
import sys

import pytest

from conftest import REPO
from integration.conftest import SERVER, scons_args
from lsone.packaging.compare import zip_start


def clone_to(dest):
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True,
                           stdout=subprocess.PIPE).stdout.decode().split("\0")
    for rel in filter(None, files):
        os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
        shutil.copy2(os.path.join(REPO, rel), os.path.join(dest, rel))
    return dest


@pytest.mark.slow
def test_a_clean_build_elsewhere_is_bit_identical(server_binary, tmp_path):
    """`scons verify` builds again from scratch in a temporary checkout and compares byte for byte.
    Here that second build has another (longer) path, time zone, umask and user than the session's.
    No CacheDir: a hit would copy the first build's objects and prove nothing."""
    args = [a for a in scons_args() if not a.startswith("cache_dir=")] + ["toolchain=host", "verify"]
    elsewhere = tmp_path / "a-much-longer-checkout-path" / "nested"
    elsewhere.mkdir(parents=True)
    env = dict(os.environ, TZ="Pacific/Kiritimati", USER="user-kiritimati", LOGNAME="user-kiritimati",
               TMPDIR=str(elsewhere))  # verify builds in a directory under TMPDIR
    env.pop("SOURCE_DATE_EPOCH", None)
    cmd = f"umask 077 && exec {sys.executable} -m SCons " + " ".join(args)
    result = subprocess.run(["sh", "-c", cmd], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "[verify] OK: a clean rebuild gives the same bytes" in result.stdout, result.stdout[-3000:]
    assert f"(in {elsewhere}/lsone-verify-" in result.stdout  # the rebuild ran where we said
    with open(SERVER, "rb") as f:  # what verify compared (server_binary may be another build's)
        data = f.read()
    for needle in (REPO.encode(), str(elsewhere).encode(), str(tmp_path).encode()):
        assert needle not in data  # anywhere, manifest and args included
    code = data[:zip_start(SERVER)]  # the UI's JS may say anything
    needles = [b"__DATE__", b"__TIME__"]
    if len(socket.gethostname()) >= 6:  # a short name like "vm" would match by chance
        needles.append(socket.gethostname().encode())
    for needle in needles:
        assert needle not in code
