"""toolchain=zig target=linux-aarch64 cpu=multi: a static aarch64 package, cross-built on any host, run under
Debian's qemu-aarch64 (qemu-user, installed by ./test), whose CPU models play old and new Arm cores.

One build per session (the zig_aarch64_build fixture): every aarch64 level of MULTI_LEVELS, chosen at
startup by the same dispatcher and upstream scoring as on x86-64. QEMU 7.2's models: cortex-a53 is
ARMv8.0 (no dotprod, no fp16 arithmetic), cortex-a76 and neoverse-n1 are ARMv8.2 with both, max has
SVE and i8mm too.
"""

import json
import os
import sys
import zipfile

import pytest

from conftest import REPO
from integration.test_cpu_levels import best_level, check_levels_are_isolated, qemu, scores, serve_one_completion
from integration.test_zig import PT_DYNAMIC, PT_INTERP, program_headers
from integration.conftest import pinned_tiny_model

sys.path.insert(0, os.path.join(REPO, "site_scons"))
from lsone.compile.cpulevels import MULTI_LEVELS  # noqa: E402

LEVELS = MULTI_LEVELS["aarch64"]
EM_AARCH64 = 183
CPU_MODELS = {"cortex-a53": "armv8_0_1", "cortex-a76": "armv8_2_2", "neoverse-n1": "armv8_2_2", "max": "armv8_6_1"}


def aarch64(model):
    return qemu(model, "aarch64")


def test_the_package_is_a_static_aarch64_executable(zig_aarch64_build):
    machine, kinds = program_headers(zig_aarch64_build["package"])
    assert machine == EM_AARCH64
    assert PT_INTERP not in kinds and PT_DYNAMIC not in kinds  # no loader, no shared libraries: static musl


def test_each_level_exports_only_its_entry_points(zig_aarch64_build):
    check_levels_are_isolated(os.path.join(zig_aarch64_build["checkout"], "build", "zig-linux-aarch64", "lib"),
                              LEVELS)


def test_the_zip_carries_the_args_the_ui_and_a_manifest_for_the_target(zig_aarch64_build):
    with zipfile.ZipFile(zig_aarch64_build["package"]) as zf:
        names = zf.namelist()
        tool = json.loads(zf.read("manifest.json"))["toolchain"]
    assert ".args" in names and "ui/index.html" in names
    assert (tool["kind"], tool["target"], tool["cpu"]) == ("zig", "linux-aarch64", "multi")


@pytest.mark.parametrize("model", CPU_MODELS)
def test_each_emulated_cpu_gets_its_level(zig_aarch64_build, model):
    on_this_cpu = scores(zig_aarch64_build["package"], wrapper=aarch64(model))
    assert list(on_this_cpu) == LEVELS
    assert best_level(on_this_cpu) == CPU_MODELS[model]


def test_the_oldest_cpu_lacks_dotprod_and_serves_a_completion_at_the_baseline(zig_aarch64_build, tmp_path):
    package = zig_aarch64_build["package"]
    assert scores(package, wrapper=aarch64("cortex-a53"))["armv8_2_2"] == 0  # the emulated CPU really lacks dotprod
    report = serve_one_completion(package, pinned_tiny_model(str(tmp_path / "tiny.gguf")), tmp_path / "a53.log",
                                  wrapper=aarch64("cortex-a53"))
    assert report["level"] == LEVELS[0] and "highest-scoring" in report["reason"]


def test_a_dotprod_cpu_serves_a_completion_at_its_level(zig_aarch64_build, tmp_path):
    report = serve_one_completion(zig_aarch64_build["package"], pinned_tiny_model(str(tmp_path / "tiny.gguf")),
                                  tmp_path / "a76.log", wrapper=aarch64("cortex-a76"))
    assert report["level"] == "armv8_2_2"
