"""toolchain=cosmocc, driven through the real SConstruct up to where the real compiler would run.

cosmocc cannot be downloaded on these machines, so cosmocc=DIR points at stand-in tools
(tests/standin_cosmocc.py) that log their arguments and write the files the real ones write.
The assertions are on those logged command lines and on the packaged file. The builds run in a
copy of the checkout, so the main build/ (which the other tests use) is left alone.
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO
from tests.integration.conftest import copy_checkout, run_scons

sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "site_scons"))
from lsone.compile.cpulevels import MULTI_LEVELS, level_flags  # noqa: E402
from standin_cosmocc import calls, make_standin  # noqa: E402


def twin(path):
    head, tail = os.path.split(path)
    return os.path.join(head, ".aarch64", tail)


def output_of(argv):
    return argv[argv.index("-o") + 1]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    return copy_checkout(tmp_path_factory.mktemp("checkout"))


@pytest.fixture(scope="module")
def out(checkout):
    return os.path.join(checkout, "build", "cosmocc")


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    return make_standin(str(tmp_path_factory.mktemp("cosmocc")))


@pytest.fixture(scope="module")
def fake_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<I", 3) + bytes(range(256)) * 40)
    return str(path)


@pytest.fixture(scope="module")
def cosmo_build(checkout, standin, fake_model):
    result = run_scons("toolchain=cosmocc", f"cosmocc={standin}", "ui=none", f"model={fake_model}", "cache_dir=",
                       cwd=checkout)
    return result.stdout, calls(standin)


def test_every_source_is_compiled_once_in_fat_mode_with_its_twin(cosmo_build, checkout):
    _, logged = cosmo_build
    compiles = [c["argv"] for c in logged if c["tool"] in ("cosmocc", "cosmoc++") and "-c" in c["argv"]]
    assert len(compiles) > 100
    outputs = [output_of(a) for a in compiles]
    assert len(outputs) == len(set(outputs))
    for argv in compiles:
        obj = os.path.join(checkout, output_of(argv))
        assert os.path.isfile(obj) and os.path.isfile(twin(obj)), obj
        assert "-O3" in argv and "-mcosmo" in argv and "-DNDEBUG" in argv


def test_no_argument_the_fat_driver_refuses(cosmo_build):
    _, logged = cosmo_build
    for call in logged:
        for arg in call["argv"]:
            assert " " not in arg, (call["tool"], arg)
            assert arg not in ("-march=native", "-shared"), (call["tool"], arg)
            assert not arg.startswith("-march="), "per-arch flags must go through -Xx86_64-/-Xaarch64-"


def test_cxx_gets_exceptions_rtti_and_the_cosmo_fixes(cosmo_build, checkout):
    _, logged = cosmo_build
    cxx = [c["argv"] for c in logged if c["tool"] == "cosmoc++" and "-c" in c["argv"]]
    compat = os.path.join(checkout, "runtime", "cosmo_compat.h")
    for argv in cxx:
        assert "-fexceptions" in argv and "-frtti" in argv
        assert argv[argv.index("-include") + 1] == compat
    c_files = [c["argv"] for c in logged if c["tool"] == "cosmocc"]
    assert c_files and all("-include" not in a for a in c_files)  # the fixes are C++ only


def test_cpu_levels_compile_for_their_arch_only_and_isolate_with_that_archs_binutils(cosmo_build, out):
    """cpu=auto is cpu=multi for cosmocc: ggml-cpu once per level of each architecture."""
    _, logged = cosmo_build
    compiles = [c["argv"] for c in logged if "-c" in c["argv"]]
    cpu = [a for a in compiles if "/obj/cpu-" in output_of(a)]
    others = [a for a in compiles if a not in cpu]
    assert all(not any(x.startswith("-X") for x in a) for a in others)
    assert not any("/ggml-cpu/" in a[-1] for a in compiles)  # every CPU file only through the guards
    for arch, other in (("x86_64", "aarch64"), ("aarch64", "x86_64")):
        for level in MULTI_LEVELS[arch]:
            mine = [a for a in cpu if f"/obj/cpu-{level}/" in output_of(a)]
            assert mine and all(f"/gen/fat/{arch}/" in a[-1] and "-fno-gnu-unique" in a for a in mine)
            kernels = [a for a in mine if not a[-1].endswith("cpu-feats.cpp")]
            flags, defines = level_flags(arch, level)
            assert all({f"-X{arch}{f}" for f in flags} | {f"-D{d}" for d in defines + ["GGML_BACKEND_DL"]} <= set(a)
                       and not any(x.startswith(f"-X{other}") for x in a) for a in kernels)
            isolate = [c for c in logged if c["tool"].endswith("-linux-cosmo-ld") and
                       c["argv"][c["argv"].index("-o") + 1].endswith(f"/ggml-cpu-{level}.o.r")]
            assert sorted(c["tool"] for c in isolate) == ["aarch64-linux-cosmo-ld", "x86_64-linux-cosmo-ld"]
            assert os.path.isfile(os.path.join(out, "lib", ".aarch64", f"ggml-cpu-{level}.o"))
    with open(os.path.join(out, "gen", "fat", "aarch64", "ggml-cpu-arch-arm-quants.c")) as f:
        assert "#if defined(__aarch64__)" in f.read()
    with open(os.path.join(out, "gen", "cpu", "lsone_cpu_levels.inc")) as f:
        table = f.read()
    assert all(f"LSONE_CPU_LEVEL({level})" in table for arch in MULTI_LEVELS for level in MULTI_LEVELS[arch])


def test_static_libraries_come_from_cosmoar_with_their_twins(cosmo_build, checkout):
    _, logged = cosmo_build
    archives = [c["argv"] for c in logged if c["tool"] == "cosmoar"]
    assert len(archives) == 13  # cpu=multi links the CPU levels as objects
    assert any(argv[1].endswith("/lib/libggml-rpc.a") for argv in archives)  # the RPC backend in every build
    for argv in archives:
        assert argv[0] == "rcsD" and argv[1].endswith(".a")
        assert all(m.endswith(".o") for m in argv[2:])
        assert os.path.isfile(os.path.join(checkout, twin(argv[1])))


def test_link_makes_one_ape_and_zip_embed_follows(cosmo_build, standin, checkout, out):
    _, logged = cosmo_build
    links = [c["argv"] for c in logged if c["tool"] == "cosmoc++" and "-c" not in c["argv"]]
    assert len(links) == 1
    link = links[0]
    assert output_of(link) == "build/cosmocc/bin/llama-server"
    libs = [a for a in link if a.endswith(".a")]
    assert len(libs) == 13 and "-Wl,--start-group" in link
    assert "build/cosmocc/lib/libggml-rpc.a" in libs and "-fopenmp" in link
    levels = [a for a in link if "/lib/ggml-cpu-" in a]
    assert levels == [f"build/cosmocc/lib/ggml-cpu-{lv}.o" for arch in MULTI_LEVELS for lv in MULTI_LEVELS[arch]]
    # (In fat mode cosmoc++ runs apelink itself; the build never calls it, so there is nothing of ours to check.)
    packaged = os.path.join(checkout, "build", "llama-server-one")
    with open(packaged, "rb") as f:
        data = f.read()
    with open(os.path.join(out, "bin", "llama-server"), "rb") as f:
        linked = f.read()
    assert data.startswith(linked) and data.startswith(b"MZqFpD='")
    with zipfile.ZipFile(packaged) as zf:
        names = zf.namelist()
        assert names == [".args", "manifest.json", "pack.py", "tiny.gguf"]
        assert b"-m\n/zip/tiny.gguf\n" in zf.read(".args")
        manifest = json.loads(zf.read("manifest.json"))
        gguf = zf.getinfo("tiny.gguf")
    assert manifest["toolchain"]["kind"] == "cosmocc" and manifest["toolchain"]["arches"] == ["x86_64", "aarch64"]
    assert manifest["toolchain"]["cpu"] == "multi"
    assert data[gguf.header_offset:gguf.header_offset + 4] == b"PK\x03\x04"  # absolute offsets
    name_len, extra_len = struct.unpack("<HH", data[gguf.header_offset + 26:gguf.header_offset + 30])
    assert (gguf.header_offset + 30 + name_len + extra_len) % 65536 == 0


def test_tools_get_a_tmpdir_outside_the_checkout_and_in_no_signature(cosmo_build, standin, fake_model, checkout,
                                                                     out, tmp_path):
    """cosmocc's programs are APEs: without a TMPDIR their loader landed in ./.ape-1.10 of the checkout."""
    _, logged = cosmo_build
    (tmpdir,) = {c["TMPDIR"] for c in logged}
    assert tmpdir and os.path.isabs(tmpdir)
    assert not os.path.realpath(tmpdir).startswith(os.path.realpath(checkout) + os.sep)
    other = tmp_path / "other-tmp"
    other.mkdir()
    os.remove(os.path.join(out, "obj", "llama.cpp", "tools", "server", "server.cpp.o"))
    before = len(calls(standin))
    run_scons("toolchain=cosmocc", f"cosmocc={standin}", "ui=none", f"model={fake_model}", "cache_dir=",
              cwd=checkout, env=dict(os.environ, TMPDIR=str(other)))
    rerun = calls(standin)[before:]
    # Another TMPDIR rebuilt nothing but the missing object, and that compile was given it.
    assert [(c["tool"], output_of(c["argv"]), c["TMPDIR"]) for c in rerun] == [
        ("cosmoc++", "build/cosmocc/obj/llama.cpp/tools/server/server.cpp.o", str(other))]
    assert not [n for n in os.listdir(checkout) if n.startswith(".ape")]


def test_ci_script_names_the_toolchain_the_ape_loader_comes_from(standin, tmp_path):
    found = subprocess.run([sys.executable, os.path.join(REPO, ".ci", "cosmocc_root.py"), str(tmp_path / "store"),
                            standin], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == os.path.realpath(standin)
    assert os.path.isfile(os.path.join(found.stdout.strip(), "bin", "ape-x86_64.elf"))


def test_dry_run_prints_the_whole_plan(tmp_path):
    other = make_standin(str(tmp_path / "cosmocc"))
    fresh = copy_checkout(tmp_path / "fresh-checkout")
    plan = run_scons("-n", "toolchain=cosmocc", f"cosmocc={other}", "ui=none", "verbose=1", "cache_dir=",
                     cwd=fresh).stdout
    assert "cosmoc++ -o build/cosmocc/obj/llama.cpp/tools/server/server.cpp.o -c" in plan
    assert ("x86_64-linux-cosmo-ld -r --force-group-allocation -o build/cosmocc/lib/ggml-cpu-haswell.o.r "
            "build/cosmocc/obj/cpu-haswell/") in plan
    assert "aarch64-linux-cosmo-ld -r --force-group-allocation -o build/cosmocc/lib/.aarch64/ggml-cpu-haswell.o.r" in plan
    assert "cosmoc++ -o build/cosmocc/bin/llama-server" in plan
    assert "ZIP  build/llama-server-one" in plan
    assert "toolchain=cosmocc: -j" in plan and "each fat compile runs 2 compilers" in plan  # the default -j
    assert not any(line.startswith(other) for line in plan.splitlines())  # tools by name, not by path
    assert calls(other) == []  # -n ran nothing


def test_cpu_levels(cosmo_build, standin, checkout):
    result = run_scons("-n", "--cache-disable", "toolchain=cosmocc", f"cosmocc={standin}", "ui=none", "verbose=1", "cpu=performant",
                       cwd=checkout)
    assert "-Xx86_64-march=x86-64-v3 -Xaarch64-march=armv8.2-a" in result.stdout
    portable = run_scons("-n", "--cache-disable", "toolchain=cosmocc", f"cosmocc={standin}", "ui=none", "verbose=1", "cpu=portable",
                         cwd=checkout).stdout
    assert "cosmoar rcsD build/cosmocc/lib/libggml-cpu.a" in portable and "-linux-cosmo-ld" not in portable
    refused = run_scons("-n", "toolchain=cosmocc", f"cosmocc={standin}", "ui=none", "cpu=native", check=False,
                        cwd=checkout)
    assert refused.returncode != 0
    assert "cpu=native: refused with toolchain=cosmocc." in refused.stdout and "cpu=portable" in refused.stdout
    via_auto = run_scons("-n", f"cosmocc={standin}", "toolchain=auto", "ui=none", "cpu=native", check=False,
                         cwd=checkout)
    assert "(which toolchain=auto chose)" in via_auto.stdout and "toolchain=host" in via_auto.stdout


def test_cachedir_stores_and_restores_the_twins(cosmo_build, standin, fake_model, checkout, out, tmp_path):
    cache = str(tmp_path / "cache")
    args = ("toolchain=cosmocc", f"cosmocc={standin}", "ui=none", f"model={fake_model}", f"cache_dir={cache}")
    shutil.rmtree(out)
    run_scons(*args, cwd=checkout)
    before = len(calls(standin))
    shutil.rmtree(out)
    run_scons(*args, cwd=checkout)
    assert len(calls(standin)) == before  # everything came from the cache: no tool ran
    for rel in ("obj/llama.cpp/tools/server/.aarch64/server.cpp.o", "lib/.aarch64/ggml-cpu-haswell.o",
                "bin/llama-server.aarch64.elf", "bin/llama-server.com.dbg"):
        assert os.path.isfile(os.path.join(out, rel)), rel
    # The same toolchain unpacked somewhere else: same identity, same commands, all from the cache.
    elsewhere = str(tmp_path / "elsewhere" / "cosmocc")
    shutil.copytree(standin, elsewhere, symlinks=True)
    shutil.rmtree(out)
    run_scons("toolchain=cosmocc", f"cosmocc={elsewhere}", "ui=none", f"model={fake_model}", f"cache_dir={cache}",
              cwd=checkout)
    assert calls(elsewhere) == [] and os.path.isfile(os.path.join(out, "lib", ".aarch64", "ggml-cpu-haswell.o"))


def test_twins_are_targets_so_a_missing_one_is_rebuilt(cosmo_build, standin, fake_model, checkout, out):
    obj_twin = os.path.join(out, "obj", "llama.cpp", "tools", "server", ".aarch64", "server.cpp.o")
    lib_twin = os.path.join(out, "lib", ".aarch64", "libggml-base.a")
    level_twin = os.path.join(out, "lib", ".aarch64", "ggml-cpu-armv8_2_2.o")
    os.remove(obj_twin)
    os.remove(lib_twin)
    os.remove(level_twin)
    before = len(calls(standin))
    run_scons("toolchain=cosmocc", f"cosmocc={standin}", "ui=none", f"model={fake_model}", "cache_dir=", cwd=checkout)
    rerun = [(c["tool"], output_of(c["argv"]) if "-o" in c["argv"] else c["argv"][1]) for c in calls(standin)[before:]]
    assert ("cosmoc++", "build/cosmocc/obj/llama.cpp/tools/server/server.cpp.o") in rerun
    assert ("cosmoar", "build/cosmocc/lib/libggml-base.a") in rerun
    assert ("aarch64-linux-cosmo-ld", "build/cosmocc/lib/.aarch64/ggml-cpu-armv8_2_2.o.r") in rerun
    assert os.path.isfile(obj_twin) and os.path.isfile(lib_twin) and os.path.isfile(level_twin)


def test_auto_picks_cosmocc_only_when_it_is_at_hand(cosmo_build, standin, checkout):
    local = run_scons("-n", "toolchain=auto", f"cosmocc={standin}", "ui=none", cwd=checkout)
    assert "toolchain=auto: using cosmocc" in local.stdout
    from lsone.inputs.cosmocc import available_locally, load_pin
    from lsone.inputs.store import Store, default_store_root
    if available_locally("", load_pin(os.path.join(REPO, "toolchains.lock")),
                         Store(os.environ.get("LSONE_STORE") or default_store_root())):
        pytest.skip("this machine's store holds the real cosmocc, so auto rightly picks it")
    fallback = run_scons("-n", "toolchain=auto", "ui=none", cwd=checkout)
    assert "toolchain=auto: using host, because cosmocc 4.0.2 is not in the store" in fallback.stdout
    assert "scons toolchain=cosmocc" in fallback.stdout and "cosmocc=/path/to/cosmocc-4.0.2.zip" in fallback.stdout


def test_verify_rebuilds_elsewhere_and_gets_the_same_bytes(cosmo_build, standin, checkout):
    """The checkout's path leaks into neither the APE nor its manifest (it did, through the forced include)."""
    result = run_scons("verify", "toolchain=cosmocc", f"cosmocc={standin}", "ui=none", "cache_dir=", cwd=checkout)
    assert "[verify] OK: a clean rebuild gives the same bytes" in result.stdout
