"""Which upstream sources make up llama-server, and checks that they still do.

Most lists are read from upstream's CMakeLists (see cmakelists.py). The CPU
backend's lists are spelled out here because upstream picks them inside if()
branches; `check_cpu_sources` makes a bump that adds or removes one fail with a
message that says what to edit, instead of a mysterious link error.
"""

import os
import re

from .cmakelists import target_sources
from ..errors import InputError

THIS_FILE = "site_scons/lsone/inputs/sourcelists.py"

# Upstream CMake targets whose source lists are unconditional: (CMakeLists path, target).
CMAKE_TARGETS = {
    "llama-server": ("tools/server/CMakeLists.txt", "llama-server"),
    "llama-server-impl": ("tools/server/CMakeLists.txt", "llama-server-impl"),
    "server-context": ("tools/server/CMakeLists.txt", "server-context"),
    "llama-common": ("common/CMakeLists.txt", "llama-common"),
    "cpp-httplib": ("vendor/cpp-httplib/CMakeLists.txt", "cpp-httplib"),
    "mtmd": ("tools/mtmd/CMakeLists.txt", "mtmd"),
    "vendor-hash": ("vendor/hash/CMakeLists.txt", "vendor-hash"),
    "llama": ("src/CMakeLists.txt", "llama"),
    "ggml": ("ggml/src/CMakeLists.txt", "ggml"),
    "ggml-base": ("ggml/src/CMakeLists.txt", "ggml-base"),
}

# The RPC backend (server's --rpc, and the worker mode): upstream declares it with
# ggml_add_backend_library. Its sources are pinned here as well, because patches/ and the worker's
# fuzz target name them: a bump that renames one must stop here, not deep in a patch or a link.
RPC_CMAKE = "ggml/src/ggml-rpc/CMakeLists.txt"
GGML_RPC = ["ggml/src/ggml-rpc/ggml-rpc.cpp", "ggml/src/ggml-rpc/transport.cpp"]

CPU_CMAKE = "ggml/src/ggml-cpu/CMakeLists.txt"
GGML_CPU_COMMON = [
    "ggml-cpu/ggml-cpu.c", "ggml-cpu/ggml-cpu.cpp", "ggml-cpu/repack.cpp", "ggml-cpu/hbm.cpp",
    "ggml-cpu/quants.c", "ggml-cpu/traits.cpp", "ggml-cpu/amx/amx.cpp", "ggml-cpu/amx/mmq.cpp",
    "ggml-cpu/tiled/tiled.cpp", "ggml-cpu/tiled/tiled-kernel.cpp", "ggml-cpu/binary-ops.cpp",
    "ggml-cpu/unary-ops.cpp", "ggml-cpu/vec.cpp", "ggml-cpu/ops.cpp",
    "ggml-cpu/llamafile/sgemm.cpp",  # GGML_LLAMAFILE=ON, upstream's default
]
GGML_CPU_ARCH = {
    "x86_64": ["ggml-cpu/arch/x86/quants.c", "ggml-cpu/arch/x86/repack.cpp"],
    "aarch64": ["ggml-cpu/arch/arm/quants.c", "ggml-cpu/arch/arm/repack.cpp"],
}
GGML_CPU_ARCH["arm64"] = GGML_CPU_ARCH["aarch64"]
# Sources upstream's CPU CMakeLists names that this build knowingly leaves out:
# other architectures, optional vendor kernels (KleidiAI, SpacemiT) and CMake probes.
GGML_CPU_NOT_USED = ("ggml-cpu/arch/", "ggml-cpu/kleidiai/", "ggml-cpu/spacemit/", "ggml-cpu/cmake/")
_CPU_SOURCE_RE = re.compile(r"ggml-cpu/[A-Za-z0-9_./-]+\.(?:c|cc|cpp)\b")


def cpu_sources(src, machine):
    """The CPU backend's sources for machine, relative to ggml/src, after checking upstream."""
    if machine not in GGML_CPU_ARCH:
        raise InputError("cpu backend", f"no source list for machine {machine!r}",
                         expected=", ".join(sorted(GGML_CPU_ARCH)),
                         fix=f"add the architecture's files to GGML_CPU_ARCH in {THIS_FILE}")
    ours = GGML_CPU_COMMON + GGML_CPU_ARCH[machine]
    missing = [f for f in ours if not os.path.isfile(os.path.join(src, "ggml/src", f))]
    if missing:
        raise InputError(CPU_CMAKE, "upstream removed or renamed CPU backend sources",
                         found=", ".join(missing),
                         fix=f"remove or rename them in GGML_CPU_COMMON/GGML_CPU_ARCH in {THIS_FILE}")
    with open(os.path.join(src, CPU_CMAKE), encoding="utf-8") as f:
        mentioned = set(_CPU_SOURCE_RE.findall(f.read()))
    known = set(ours) | {g for arch in GGML_CPU_ARCH.values() for g in arch}
    added = sorted(m for m in mentioned - known if not m.startswith(GGML_CPU_NOT_USED))
    if added:
        raise InputError(CPU_CMAKE, "upstream added CPU backend sources: " + ", ".join(added),
                         fix=f"add them to GGML_CPU_COMMON in {THIS_FILE} "
                             "(or to GGML_CPU_NOT_USED if this build does not need them)")
    return ours


def rpc_sources(src):
    """The RPC backend's sources, after checking that upstream still declares exactly these."""
    declared = target_sources(src, RPC_CMAKE, "ggml-rpc")
    if declared != GGML_RPC:
        raise InputError(RPC_CMAKE, "upstream's RPC backend sources changed",
                         expected=", ".join(GGML_RPC), found=", ".join(declared),
                         fix=f"update GGML_RPC in {THIS_FILE}, then the patches and runtime/fuzz/fuzz_rpc.cpp "
                             "that name these files")
    return declared


def cpu_feats_source(machine):
    """Upstream's feature scoring for machine's CPU levels (built only for GGML_BACKEND_DL variants)."""
    return "ggml/src/" + os.path.dirname(GGML_CPU_ARCH[machine][0]) + "/cpu-feats.cpp"


def all_source_lists(src, machine):
    """{target: [sources relative to the tree]} for every library of the server.

    machine may be a list (a fat build): then "ggml-cpu" holds the common CPU sources and
    "ggml-cpu:<machine>" each architecture's own.
    """
    lists = {name: target_sources(src, cmake, target) for name, (cmake, target) in CMAKE_TARGETS.items()}
    lists["ggml-rpc"] = rpc_sources(src)
    if isinstance(machine, str):
        lists["ggml-cpu"] = ["ggml/src/" + f for f in cpu_sources(src, machine)]
        return lists
    for m in machine:
        lists[f"ggml-cpu:{m}"] = ["ggml/src/" + f for f in cpu_sources(src, m) if f in GGML_CPU_ARCH[m]]
    lists["ggml-cpu"] = ["ggml/src/" + f for f in GGML_CPU_COMMON]
    return lists
