"""CPU levels for cpu=multi: the table follows upstream's GGML_CPU_ALL_VARIANTS; the dispatcher's table."""

import os
import sys

import pytest

from conftest import REPO
from lsone.compile.cpulevels import (MULTI_LEVELS, UPSTREAM_VARIANTS, VARIANTS_CMAKE, check_variants, dispatch_table,
                              level_flags, level_table_lines, multi_levels, upstream_variants)
from lsone.errors import InputError
from steps import Toolchain
from toolchains import ToolchainIdentity, ToolchainModule

sys.path.insert(0, os.path.join(REPO, "site_scons", "site_tools"))
from isolate_cpu_levels import isolate_commands  # noqa: E402

# An excerpt in upstream's shape (ggml/src/CMakeLists.txt at the pinned commit).
CMAKE = """
if (GGML_CPU_ALL_VARIANTS)
    if (GGML_SYSTEM_ARCH STREQUAL "x86")
        ggml_add_cpu_backend_variant(x64)
        ggml_add_cpu_backend_variant(sse42              SSE42)
        ggml_add_cpu_backend_variant(haswell            SSE42 AVX F16C FMA AVX2 BMI2)
    elseif(GGML_SYSTEM_ARCH STREQUAL "ARM")
        if (CMAKE_SYSTEM_NAME MATCHES "Linux")
            ggml_add_cpu_backend_variant(armv8.0_1)
            ggml_add_cpu_backend_variant(armv8.2_2    DOTPROD FP16_VECTOR_ARITHMETIC)
        elseif (CMAKE_SYSTEM_NAME MATCHES "Android")
            ggml_add_cpu_backend_variant(android_armv8.0_1)
        endif()
    endif()
endif()
"""


def tree(tmp_path, text=CMAKE):
    path = tmp_path / VARIANTS_CMAKE
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return str(tmp_path)


def test_reads_upstreams_variants_per_arch(tmp_path):
    assert upstream_variants(tree(tmp_path)) == {
        "x86_64": {"x64": [], "sse42": ["SSE42"], "haswell": ["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2"]},
        "aarch64": {"armv8_0_1": [], "armv8_2_2": ["DOTPROD", "FP16_VECTOR_ARITHMETIC"]}}


def test_a_changed_level_stops_the_build_naming_what_to_edit(tmp_path):
    src = tree(tmp_path, CMAKE.replace("SSE42 AVX F16C FMA AVX2 BMI2", "SSE42 AVX F16C FMA AVX2"))
    with pytest.raises(InputError) as e:
        check_variants(src, UPSTREAM_VARIANTS, {"x86_64": ["x64", "haswell"]}, "site_scons/lsone/compile/cpulevels.py")
    assert "haswell (x86_64) changed" in str(e.value) and "BMI2" in str(e.value)
    assert "site_scons/lsone/compile/cpulevels.py" in str(e.value)


def test_our_table_is_upstreams_at_the_pin():
    src = os.path.join(REPO, "build", "llama.cpp")
    if not os.path.isfile(os.path.join(src, VARIANTS_CMAKE)):
        pytest.skip("the pinned tree is not prepared in build/ (any scons build does it)")
    assert upstream_variants(src) == UPSTREAM_VARIANTS


def test_level_flags_follow_upstreams_order_on_the_portable_baseline():
    flags, defines = level_flags("x86_64", "haswell")
    assert flags == ["-march=x86-64", "-mtune=generic", "-msse4.2", "-mf16c", "-mfma", "-mbmi2", "-mavx", "-mavx2"]
    assert defines == ["GGML_SSE42", "GGML_F16C", "GGML_FMA", "GGML_BMI2", "GGML_AVX", "GGML_AVX2"]
    assert level_flags("x86_64", "x64") == (["-march=x86-64", "-mtune=generic"], [])
    assert level_flags("aarch64", "armv8_6_1") == (["-march=armv8.6-a+dotprod+fp16+sve+i8mm"],
                                                   ["GGML_USE_DOTPROD", "GGML_USE_FP16_VECTOR_ARITHMETIC",
                                                    "GGML_USE_SVE", "GGML_USE_MATMUL_INT8"])
    for arch, levels in MULTI_LEVELS.items():
        assert levels[0] in ("x64", "armv8_0_1")  # the baseline is always there: every CPU gets a level
        assert all(level in UPSTREAM_VARIANTS[arch] for level in levels)


def test_multi_levels_are_the_table_in_order_as_loadable_backends():
    built = multi_levels(["x86_64", "aarch64"])
    assert [(arch, level) for arch, level, _, _ in built] == \
        [(a, level) for a in ("x86_64", "aarch64") for level in MULTI_LEVELS[a]]
    for arch, level, flags, defines in built:
        assert (flags, defines[:-1]) == level_flags(arch, level) and defines[-1] == "GGML_BACKEND_DL"
    assert dispatch_table(["x86_64"])[2:-1] == [f"LSONE_CPU_LEVEL({level})" for level in MULTI_LEVELS["x86_64"]]


def test_dispatch_table_per_architecture():
    lines = level_table_lines({"x86_64": ["x64", "haswell"], "aarch64": ["armv8_0_1"]})
    assert lines[1:] == ["#if defined(__x86_64__)", "LSONE_CPU_LEVEL(x64)", "LSONE_CPU_LEVEL(haswell)",
                         "#elif defined(__aarch64__)", "LSONE_CPU_LEVEL(armv8_0_1)", "#endif"]


class Node:
    def __init__(self, path):
        self.path = path


class FatModule(ToolchainModule):
    name = "fat"

    def twin_path(self, path, arch):
        return path if arch == "x86_64" else path.replace("lib/", "lib/.aarch64/").replace("o/", "o/.aarch64/")


def test_isolation_keeps_only_the_renamed_entry_points_global_per_arch():
    toolchain = Toolchain("fat", FatModule(), ToolchainIdentity({}), "multi", ["x86_64", "aarch64"], "", "#build",
                          [], relocatable_tools={"x86_64": ("x-ld", "x-objcopy"), "aarch64": ("a-ld", "a-objcopy")})
    env = {"CPU_LEVEL": "haswell", "TOOLCHAIN": toolchain}
    command = isolate_commands([Node("lib/l.o")], [Node("o/a.o"), Node("o/b.o")], env, False)
    steps = command.split(" && ")
    assert steps[0] == "x-ld -r --force-group-allocation -o lib/l.o.r o/a.o o/b.o"
    assert steps[1] == ("x-objcopy --redefine-sym=ggml_backend_init=lsone_cpu_haswell_init "
                        "--redefine-sym=ggml_backend_score=lsone_cpu_haswell_score "
                        "--keep-global-symbol=lsone_cpu_haswell_init --keep-global-symbol=lsone_cpu_haswell_score "
                        "lib/l.o.r lib/l.o")
    assert steps[3] == "a-ld -r --force-group-allocation -o lib/.aarch64/l.o.r o/.aarch64/a.o o/.aarch64/b.o"
