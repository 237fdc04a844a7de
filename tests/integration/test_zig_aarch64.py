"""toolchain=zig target=linux-aarch64: a static aarch64 package, cross-built on any host, run under
Debian's qemu-aarch64 (qemu-user, installed by ./test).

One build per session (the zig_aarch64_build fixture); its objects not specific to the CPU backend come
from the CacheDir when another build of the same target has made them.
"""

import json
import os
import zipfile

from integration.test_cpu_levels import qemu, serve_one_completion
from integration.test_zig import PT_DYNAMIC, PT_INTERP, program_headers, tiny_model_for

EM_AARCH64 = 183
OLDEST = "cortex-a53"  # ARMv8.0-A: no dotprod, no fp16 arithmetic


def test_the_package_is_a_static_aarch64_executable(zig_aarch64_build):
    machine, kinds = program_headers(zig_aarch64_build["package"])
    assert machine == EM_AARCH64
    assert PT_INTERP not in kinds and PT_DYNAMIC not in kinds  # no loader, no shared libraries: static musl


def test_the_zip_carries_the_args_the_ui_and_a_manifest_for_the_target(zig_aarch64_build):
    with zipfile.ZipFile(zig_aarch64_build["package"]) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
    assert ".args" in names and "ui/index.html" in names
    tool = manifest["toolchain"]
    assert (tool["kind"], tool["target"], tool["cpu"]) == ("zig", "linux-aarch64", "portable")


def test_it_serves_a_completion_under_qemu_on_the_oldest_armv8_cpu(zig_aarch64_build, tmp_path):
    model = tiny_model_for(zig_aarch64_build, tmp_path)
    report = serve_one_completion(zig_aarch64_build["package"], model, tmp_path / "server.log",
                                  wrapper=qemu(OLDEST, "aarch64"))
    assert report["level"] == "portable" and report["levels"] == []
