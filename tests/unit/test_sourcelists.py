import os

import pytest

from lsone.errors import InputError
from lsone.inputs.sourcelists import CPU_CMAKE, GGML_CPU_ARCH, GGML_CPU_COMMON, all_source_lists, cpu_sources


def cpu_tree(root, extra_cmake=""):
    files = GGML_CPU_COMMON + GGML_CPU_ARCH["x86_64"]
    for rel in files:
        path = os.path.join(root, "ggml/src", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "w").close()
    with open(os.path.join(root, CPU_CMAKE), "w") as f:
        f.write("list(APPEND GGML_CPU_SOURCES\n" + "\n".join(files) +
                "\nggml-cpu/arch/riscv/quants.c ggml-cpu/kleidiai/kernels.cpp\n" + extra_cmake + ")\n")
    return str(root)


def test_matching_tree_gives_the_list(tmp_path):
    assert cpu_sources(cpu_tree(tmp_path), "x86_64") == GGML_CPU_COMMON + GGML_CPU_ARCH["x86_64"]


def test_upstream_added_a_source(tmp_path):
    with pytest.raises(InputError) as e:
        cpu_sources(cpu_tree(tmp_path, "ggml-cpu/new-kernel.cpp\n"), "x86_64")
    assert "upstream added CPU backend sources: ggml-cpu/new-kernel.cpp" in str(e.value)
    assert "site_scons/lsone/inputs/sourcelists.py" in str(e.value)


def test_upstream_removed_a_source(tmp_path):
    root = cpu_tree(tmp_path)
    os.remove(os.path.join(root, "ggml/src/ggml-cpu/ops.cpp"))
    with pytest.raises(InputError, match="removed or renamed.*\n.*ggml-cpu/ops.cpp"):
        cpu_sources(root, "x86_64")


def test_unknown_machine(tmp_path):
    with pytest.raises(InputError, match="riscv64"):
        cpu_sources(cpu_tree(tmp_path), "riscv64")


def test_fat_lists_split_common_and_per_arch_sources():
    from conftest import REPO
    tree = os.path.join(REPO, "build", "llama.cpp")
    if not os.path.isdir(tree):
        pytest.skip("needs the patched tree from a first scons run")
    fat = all_source_lists(tree, ["x86_64", "aarch64"])
    assert fat["ggml-cpu"] == ["ggml/src/" + f for f in GGML_CPU_COMMON]
    assert fat["ggml-cpu:x86_64"] == ["ggml/src/" + f for f in GGML_CPU_ARCH["x86_64"]]
    assert fat["ggml-cpu:aarch64"] == ["ggml/src/" + f for f in GGML_CPU_ARCH["aarch64"]]
    single = all_source_lists(tree, "x86_64")
    assert single["ggml-cpu"] == fat["ggml-cpu"] + fat["ggml-cpu:x86_64"]
    assert {k: v for k, v in fat.items() if not k.startswith("ggml-cpu")} == \
        {k: v for k, v in single.items() if k != "ggml-cpu"}


def rpc_tree(root, sources):
    from lsone.inputs.sourcelists import RPC_CMAKE
    base = os.path.join(root, os.path.dirname(RPC_CMAKE))
    os.makedirs(base, exist_ok=True)
    for name in sources:
        open(os.path.join(base, name), "w").close()
    with open(os.path.join(root, RPC_CMAKE), "w") as f:  # the shape of upstream's file at the pin
        f.write('message(STATUS "Using RPC backend")\n\nggml_add_backend_library(ggml-rpc\n' +
                "".join(f"                         {s}\n" for s in sources) + "                        )\n"
                "if (WIN32)\n    target_link_libraries(ggml-rpc PRIVATE ws2_32)\nendif()\n"
                "if (GGML_RPC_RDMA)\n    target_sources(ggml-rpc PRIVATE transport-apple.cpp)\nendif()\n")
    return str(root)


def test_rpc_sources_read_from_ggml_add_backend_library(tmp_path):
    from lsone.inputs.sourcelists import GGML_RPC, rpc_sources
    assert rpc_sources(rpc_tree(tmp_path, ["ggml-rpc.cpp", "transport.cpp"])) == GGML_RPC


def test_rpc_source_renamed_upstream_stops_the_build(tmp_path):
    from lsone.inputs.sourcelists import rpc_sources
    with pytest.raises(InputError) as e:
        rpc_sources(rpc_tree(tmp_path, ["ggml-rpc.cpp", "transport-tcp.cpp"]))
    text = str(e.value)
    assert "ggml/src/ggml-rpc/CMakeLists.txt" in text and "RPC backend sources changed" in text
    assert "transport-tcp.cpp" in text and "ggml/src/ggml-rpc/transport.cpp" in text
    assert "GGML_RPC in site_scons/lsone/inputs/sourcelists.py" in text


def test_rpc_source_missing_from_the_tree_is_named(tmp_path):
    from lsone.inputs.sourcelists import rpc_sources
    root = rpc_tree(tmp_path, ["ggml-rpc.cpp", "transport.cpp"])
    os.remove(os.path.join(root, "ggml/src/ggml-rpc/transport.cpp"))
    with pytest.raises(InputError, match="ggml/src/ggml-rpc/transport.cpp"):
        rpc_sources(root)
