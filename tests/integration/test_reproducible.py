"""Two clean builds of the same inputs give the same bytes (host toolchain, same compiler)."""

import hashlib
import os
import shutil
import socket
import subprocess
import sys

import pytest

from conftest import REPO
from integration.conftest import scons_args
from lsone.packaging.compare import zip_start


def clone_to(dest):
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True,
                           stdout=subprocess.PIPE).stdout.decode().split("\0")
    for rel in filter(None, files):
        os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
        shutil.copy2(os.path.join(REPO, rel), os.path.join(dest, rel))
    return dest


def build(checkout, tz, umask):
    # No cache_dir: a CacheDir hit would copy the first build's objects and prove nothing.
    args = [a for a in scons_args() if not a.startswith("cache_dir=")]
    env = dict(os.environ, TZ=tz, USER=f"user-{tz}", LOGNAME=f"user-{tz}")
    env.pop("SOURCE_DATE_EPOCH", None)
    cmd = f"umask {umask} && exec {sys.executable} -m SCons " + " ".join(args)
    result = subprocess.run(["sh", "-c", cmd], cwd=checkout, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    with open(os.path.join(checkout, "build", "llama-server-one"), "rb") as f:
        data = f.read()
    return hashlib.sha256(data).hexdigest(), data


@pytest.mark.slow
def test_two_clean_builds_are_bit_identical(tmp_path):
    first = clone_to(str(tmp_path / "a"))
    second = clone_to(str(tmp_path / "a-much-longer-checkout-path" / "nested" / "b"))
    hash_a, data_a = build(first, "UTC", "022")
    hash_b, data_b = build(second, "Pacific/Kiritimati", "077")
    assert hash_a == hash_b
    for needle in (first.encode(), second.encode(), str(tmp_path).encode()):
        assert needle not in data_a  # anywhere, manifest and args included
    code = data_a[:zip_start(os.path.join(first, "build", "llama-server-one"))]  # the UI's JS may say anything
    needles = [b"__DATE__", b"__TIME__"]
    if len(socket.gethostname()) >= 6:  # a short name like "vm" would match by chance
        needles.append(socket.gethostname().encode())
    for needle in needles:
        assert needle not in code
