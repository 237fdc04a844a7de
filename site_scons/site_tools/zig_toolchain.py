"""SCons tool: zig cc / zig c++ for one target= platform, from the pinned ziglang wheel.

Nothing of the host's toolchain is used: zig brings clang, lld, an archiver and each target's
C library and libc++. Linux executables are fully static (musl). zig has no OpenMP, so ggml
runs its own threadpool (GGML_OPENMP off, as upstream builds without OpenMP).
"""

import os

from compile_flags import identity_nodes, release_flags
from lsone.cpulevels import cpu_flags, zig_spelling
from lsone.zig import TARGETS
from scons_errors import reported


def zig_cpu_flags(cpu, arch):
    with reported():
        return zig_spelling(cpu_flags(cpu, arch))


def generate(env):
    """Set up env for the zig the inputs step realised (a lsone.zig.Zig in ZIG) and target= (ZIG_TARGET)."""
    zig, target = env["ZIG"], env["ZIG_TARGET"]
    platform = TARGETS[target]
    cpu = env.get("CPU", "portable")
    # zig by name through ENV's PATH, like cosmocc: command lines (so signatures and the CacheDir) do
    # not depend on where the store is. Its identity (the wheel's hash) is in TOOLCHAIN_NODE.
    env.PrependENVPath("PATH", zig.bin_dir)
    # zig's caches: the global one beside the store (musl, libc++ per target, built once), the local
    # one in build/. Never ~/.cache/zig; ENV is in no signature.
    env["ENV"]["ZIG_GLOBAL_CACHE_DIR"] = zig.global_cache
    env["ENV"]["ZIG_LOCAL_CACHE_DIR"] = env.Dir("#build/zig-cache").abspath
    driver = f"-target {platform['triple']}"
    env.Replace(CC=f"zig cc {driver}", CXX=f"zig c++ {driver}", LINK=f"zig c++ {driver}",
                SHCC=f"zig cc {driver}", SHCXX=f"zig c++ {driver}", AR="zig ar")
    # -g0: zig's driver adds debug info unless told not to. It also keeps frame pointers, which gcc
    # drops at -O2 and above. It maps -O3 to its ReleaseFast, which runs clang at -O2. The zig root is
    # mapped out like the checkout.
    release_flags(env, extra_ccflags=["-g0", "-fomit-frame-pointer"], mapped_dirs=[zig.root])
    link_flags = ["-s"]  # debug sections of the libc++/musl objects name zig's cache directory
    if platform["os"] == "linux":
        link_flags.append("-static")
    env.Replace(
        CPU_FLAGS=zig_cpu_flags(cpu, platform["arch"]),
        OPENMP_FLAGS=[], OPENMP_DEFINES=[],
        LINKFLAGS=link_flags,
        SYSTEM_LIBS=["pthread", "m", "dl"] if platform["os"] == "linux" else [],
        TARGET_ARCHES=[platform["arch"]],
        TARGET_LABEL=platform["triple"],
        BUILD_ROOT=f"#build/zig-{target}",  # apart from other toolchains' and targets' objects
    )
    identity_nodes(env, dict(zig.identity, target=target, cpu=cpu))


def exists(env):
    zig = env.get("ZIG")
    return bool(zig) and os.access(zig.executable, os.X_OK)
