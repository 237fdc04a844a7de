"""toolchain=zig cpu=multi: every x86-64 level in one static musl executable, kept apart by zig's
ld.lld -r and lsone/compile/elf_localise.py, the best chosen at startup by the same dispatcher and
upstream scoring as the host build. One build per session (zig_build); qemu-user plays old CPUs
as in test_cpu_levels.py (QEMU 7.2: up to AVX2; Conroe has no SSE4.2, so only the baseline runs there).
"""

import glob
import json
import os
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO
from elf_readback import check_symbol_order, groups, relocations, run, symbols
from integration.test_cpu_levels import (LEVELS, best_level, check_levels_are_isolated, qemu, scores,
                                         serve_one_completion)
from integration.test_zig import program_headers, PT_DYNAMIC, PT_INTERP
from integration.conftest import pinned_tiny_model

sys.path.insert(0, os.path.join(REPO, "site_scons"))
from lsone.compile.elf_localise import localise_file  # noqa: E402
from lsone.inputs.pins import load_lock  # noqa: E402
from lsone.inputs.store import Store, default_store_root  # noqa: E402
from lsone.inputs.treehash import file_sha256  # noqa: E402
from lsone.inputs.zig import default_target, host_pin, pinned_zig  # noqa: E402

pytestmark = pytest.mark.skipif(default_target() != "linux-x86_64",
                                reason="the levels and emulated CPU models tested here are x86-64's")


@pytest.fixture(scope="module")
def package(zig_build):
    return zig_build["package"]


def test_it_is_static_and_each_level_exports_only_its_entry_points(zig_build, package):
    _, kinds = program_headers(package)
    assert PT_INTERP not in kinds and PT_DYNAMIC not in kinds
    check_levels_are_isolated(os.path.join(zig_build["checkout"], "build", "zig-linux-x86_64", "lib"))


def test_the_manifest_names_the_localiser_by_its_hash_and_no_machine_path(zig_build, package):
    with zipfile.ZipFile(package) as zf:
        tool = json.loads(zf.read("manifest.json"))["toolchain"]
    localiser = os.path.join(REPO, "site_scons", "lsone", "compile", "elf_localise.py")
    assert tool["cpu"] == "multi" and tool["localiser"]["sha256"] == file_sha256(localiser)
    with open(package, "rb") as f:
        data = f.read()
    assert zig_build["checkout"].encode() not in data and REPO.encode() not in data


def test_the_best_level_serves_a_completion_and_props_names_it(zig_build, package, tmp_path):
    on_this_cpu = scores(package)
    assert list(on_this_cpu) == LEVELS and on_this_cpu["x64"] > 0
    report = serve_one_completion(package, pinned_tiny_model(str(tmp_path / "tiny.gguf")), tmp_path / "server.log")
    assert report["level"] == best_level(on_this_cpu) and "highest-scoring" in report["reason"]


@pytest.mark.parametrize("model, level", [("Nehalem", "sse42"), ("SandyBridge", "sandybridge"),
                                          ("Haswell", "haswell")])
def test_emulated_cpus_get_their_levels(package, model, level):
    assert best_level(scores(package, wrapper=qemu(model))) == level


def test_a_cpu_without_sse42_gets_the_baseline_and_serves_a_completion(zig_build, package, tmp_path):
    assert scores(package, wrapper=qemu("Conroe"))["sse42"] == 0  # the emulated CPU really lacks SSE4.2
    report = serve_one_completion(package, pinned_tiny_model(str(tmp_path / "tiny.gguf")), tmp_path / "conroe.log",
                                  wrapper=qemu("Conroe"))
    assert report["level"] == LEVELS[0] == "x64"


def test_on_zigs_own_objects_the_localiser_agrees_with_gnu_objcopy(zig_build, tmp_path):
    """The baseline level's objects, partially linked as the build does: the same symbols, relocations and
    groups from our localiser as from GNU objcopy (thousands of each), locals before globals."""
    store = Store(os.environ.get("LSONE_STORE") or default_store_root())
    zig = pinned_zig(host_pin(load_lock(os.path.join(REPO, "toolchains.lock"), "toolchains")), store, offline=True)
    level_dir = os.path.join(zig_build["checkout"], "build", "zig-linux-x86_64", "obj", "cpu-x64")
    objects = sorted(glob.glob(os.path.join(level_dir, "**", "*.o"), recursive=True))
    partial = str(tmp_path / "x64.o.r")
    subprocess.run([zig.executable, "ld.lld", "-r", "--force-group-allocation", "-o", partial, *objects], check=True,
                   env=dict(os.environ, ZIG_GLOBAL_CACHE_DIR=zig.global_cache, ZIG_LOCAL_CACHE_DIR=str(tmp_path)))
    options = {"ggml_backend_init": "lsone_cpu_x64_init", "ggml_backend_score": "lsone_cpu_x64_score"}
    ours, theirs = str(tmp_path / "ours.o"), str(tmp_path / "theirs.o")
    localise_file(partial, ours, options, options.values())
    run("objcopy", *[f"--redefine-sym={o}={n}" for o, n in options.items()],
        *[f"--keep-global-symbol={n}" for n in options.values()], partial, theirs)
    check_symbol_order(ours)
    found = symbols(ours)
    assert found == symbols(theirs) and len(found) > 1000
    assert relocations(ours) == relocations(theirs) and groups(ours) == groups(theirs)
