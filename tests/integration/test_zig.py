"""toolchain=zig: a static musl llama-server-one from the pinned zig, which serves a completion.

One build per session (the zig_build fixture, built as if on another machine: hermetic.py), its objects
shared through the CacheDir.
"""

import json
import os
import platform
import struct
import sys
import zipfile

import pytest

from conftest import REPO
from integration.conftest import RunningServer, copy_checkout, pinned_tiny_model, readme_sha256, run_scons

sys.path.insert(0, os.path.join(REPO, "site_scons"))
from lsone.inputs.pins import load_lock  # noqa: E402
from lsone.inputs.store import Store  # noqa: E402
from lsone.inputs.treehash import file_sha256  # noqa: E402
from lsone.inputs.zig import TARGETS, default_target, global_cache_dir, pin_name  # noqa: E402
from lsone.packaging.compare import zip_start  # noqa: E402
from lsone.packaging.release import RELEASE_TARGETS, artifact_name, read_sums  # noqa: E402

pytestmark = pytest.mark.skipif(default_target() != "linux-x86_64",
                                reason="the zig package tested here is linux-x86_64's, run where it runs")
PT_INTERP, PT_DYNAMIC = 3, 2
ELF_MACHINES = {"x86_64": 62}


def program_headers(path):
    """(e_machine, [p_type ...]) of an ELF64 little-endian executable."""
    with open(path, "rb") as f:
        head = f.read(64)
        assert head[:4] == b"\x7fELF" and head[4] == 2, f"{path} is not an ELF64 executable"
        machine, = struct.unpack_from("<H", head, 18)
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return machine, [struct.unpack_from("<I", table, n * phentsize)[0] for n in range(phnum)]


def test_the_package_is_a_static_executable_for_this_host(zig_build):
    machine, kinds = program_headers(zig_build["package"])
    assert machine == ELF_MACHINES[platform.machine()]
    assert PT_INTERP not in kinds and PT_DYNAMIC not in kinds  # no loader, no shared libraries: static musl


def test_the_manifest_names_the_wheel_and_no_machine_path(zig_build):
    with zipfile.ZipFile(zig_build["package"]) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    pin = load_lock(os.path.join(REPO, "toolchains.lock"), "toolchains")[pin_name()]
    tool = manifest["toolchain"]
    assert (tool["kind"], tool["version"], tool["wheel"]) == ("zig", pin.version, pin.hash)
    assert (tool["target"], tool["cpu"]) == (default_target(), "multi")
    with open(zig_build["package"], "rb") as f:
        data = f.read()
    for path in (zig_build["checkout"], zig_build["home"], zig_build["store"], REPO):
        assert path.encode() not in data  # anywhere, manifest included
    code = data[:zip_start(zig_build["package"])]  # the UI's JS may say anything
    assert os.path.expanduser("~").encode() + b"/" not in code and b"zig-cache" not in code


def test_zig_caches_are_beside_the_store_never_in_home(zig_build):
    assert not os.path.exists(os.path.join(zig_build["home"], ".cache", "zig"))
    pin = load_lock(os.path.join(REPO, "toolchains.lock"), "toolchains")[pin_name()]
    assert os.listdir(global_cache_dir(Store(zig_build["store"]), pin))  # musl and libc++, built once


def test_it_serves_a_completion(zig_build, tmp_path):
    model = pinned_tiny_model(str(tmp_path / "tiny.gguf"))
    server = RunningServer(zig_build["package"], ["-m", model, "-c", "256", "-t", "2"], tmp_path / "server.log")
    try:
        server.wait_healthy(timeout=600)
        status, body = server.request("POST", "/completion", {"prompt": "Hello", "n_predict": 8, "seed": 1})
        assert status == 200 and body["tokens_predicted"] == 8, body
        status, props = server.request("GET", "/props")
        assert status == 200 and "build_info" in props
    finally:
        server.stop()



def test_release_sums_match_the_readme_and_verify_challenges_a_build_with_them(zig_build, zig_aarch64_build,
                                                                              zig_windows_build, zig_macos_builds,
                                                                              tmp_path):
    # The shared builds first: release's objects and links then come from the CacheDir (the Windows one differs
    # only in its zip), so the session compiles each target once. Each default package the release builds here
    # must be byte-identical to the one built in another checkout.
    # in a checkout of its own: a release leaves the last target's package in build/
    checkout, home = copy_checkout(tmp_path / "checkout"), tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home))
    run_scons("release", "toolchain=zig", *zig_build["store_args"], cwd=checkout, env=env)
    sums = os.path.join(checkout, "build", "release", "SHA256SUMS")
    published = read_sums(sums)
    assert sorted(published) == sorted(artifact_name(t) for t in RELEASE_TARGETS) and \
        set(RELEASE_TARGETS) == set(TARGETS)  # every target
    elsewhere = {default_target(): zig_build, "linux-aarch64": zig_aarch64_build, **zig_macos_builds}
    for target, build in elsewhere.items():
        assert published[artifact_name(target)] == file_sha256(build["package"]), target
    name = artifact_name(default_target())
    assert published[name] == readme_sha256(name), "README's sha256 of the default zig package is not this build's: update it"
    ok = run_scons("verify", "toolchain=zig", f"sums={sums}", *zig_build["store_args"], cwd=checkout, env=env)
    assert "[verify] OK: " in ok.stdout
    tampered = tmp_path / "SHA256SUMS"
    tampered.write_text(f"{'0' * 64}  {name}\n")
    bad = run_scons("verify", "toolchain=zig", f"sums={tampered}", *zig_build["store_args"], cwd=checkout, env=env, check=False)
    assert bad.returncode != 0 and "MISMATCH" in bad.stdout and "differs from the published build" in bad.stdout
