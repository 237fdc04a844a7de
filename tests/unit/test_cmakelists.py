import os

import pytest

from lsone.errors import InputError
from lsone.inputs.cmakelists import target_sources


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def project(root):
    write(root, "lib/CMakeLists.txt", """
# comment with add_library(fake x.cpp)
set(TARGET core)
include(parts/sources.cmake)
file(GLOB MODEL_SOURCES "models/*.cpp")
set(CORE_SOURCES
    a.cpp   # trailing comment
    b.c
)
add_library(${TARGET} STATIC ${CORE_SOURCES} core.h ${PART_SOURCES} ${MODEL_SOURCES})
if (WIN32)
    target_link_libraries(${TARGET} PRIVATE ws2_32)
endif()
add_library(core::core ALIAS core)
add_executable(tool main.cpp)
""")
    write(root, "lib/parts/sources.cmake", "set(PART_SOURCES ${CMAKE_CURRENT_LIST_DIR}/p.cpp)\n")
    for rel in ("a.cpp", "b.c", "core.h", "parts/p.cpp", "models/m1.cpp", "models/m2.cpp", "main.cpp"):
        write(root, "lib/" + rel, "")
    return root


def test_reads_sets_globs_and_includes(tmp_path):
    root = project(str(tmp_path))
    assert target_sources(root, "lib/CMakeLists.txt", "core") == [
        "lib/a.cpp", "lib/b.c", "lib/parts/p.cpp", "lib/models/m1.cpp", "lib/models/m2.cpp"]
    assert target_sources(root, "lib/CMakeLists.txt", "tool") == ["lib/main.cpp"]


def test_missing_source_is_named(tmp_path):
    root = project(str(tmp_path))
    os.remove(os.path.join(root, "lib", "b.c"))
    with pytest.raises(InputError, match="lib/b.c"):
        target_sources(root, "lib/CMakeLists.txt", "core")


def test_vanished_target_lists_known_ones(tmp_path):
    root = project(str(tmp_path))
    with pytest.raises(InputError) as e:
        target_sources(root, "lib/CMakeLists.txt", "server")
    assert "core" in str(e.value) and "tool" in str(e.value)


def test_reads_ggml_backend_libraries(tmp_path):
    root = str(tmp_path)
    write(root, "ggml/src/ggml-x/CMakeLists.txt", "ggml_add_backend_library(ggml-x\n    x.cpp\n    y.cpp\n)\n")
    for name in ("x.cpp", "y.cpp"):
        write(root, "ggml/src/ggml-x/" + name, "")
    assert target_sources(root, "ggml/src/ggml-x/CMakeLists.txt", "ggml-x") == [
        "ggml/src/ggml-x/x.cpp", "ggml/src/ggml-x/y.cpp"]
