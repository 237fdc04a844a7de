"""toolchain=zig: the pinned ziglang wheels, target= names, zig's CPU spellings, where its caches go."""

import hashlib
import os
import subprocess

import pytest
from SCons.Environment import Environment

import build_plan
from conftest import REPO
from lsone.compile.cpulevels import MULTI_LEVELS, cpu_flags, level_flags, zig_spelling
from lsone.errors import InputError
from lsone.inputs.pins import load_lock
from lsone.inputs.store import Store
from lsone.inputs.treehash import file_sha256
from lsone.packaging.release import artifact_name, challenge, package_file, published_digest, write_sums
from toolchains import Registry
from test_cpu_levels import Node
from isolate_cpu_levels import isolate_commands
from lsone.inputs.zig import (EXECUTABLE, REQUIRED_FILES, TARGETS, Zig, check_layout, check_target, default_target,
                       global_cache_dir, host_pin, pin_name)


def lock():
    return load_lock(os.path.join(REPO, "toolchains.lock"), "toolchains")


def test_the_lock_pins_ziglang_0_17_1_for_linux_x86_64_and_aarch64():
    pins = lock()
    for name, platform in (("zig-linux-x86_64", "manylinux_2_12_x86_64"), ("zig-linux-aarch64", "manylinux_2_17_aarch64")):
        pin = pins[name]
        assert pin.kind == "file" and pin.version == "0.17.1" and pin.size > 90 << 20
        assert pin.file.startswith("ziglang-0.17.1-") and pin.file.endswith(".whl") and platform in pin.file
        assert pin.mirrors == [{"type": "pip", "package": "ziglang==0.17.1", "platform": platform}]
    assert pins["zig-linux-x86_64"].hash == \
        "sha256:ea6cc5d87b033cf0aedfbc8f9549a908cae6c50ac31f1698188fa48a74524b54"
    assert pin_name("Linux", "x86_64") == "zig-linux-x86_64" and pin_name("Linux", "aarch64") == "zig-linux-aarch64"
    assert pin_name("Darwin", "arm64") == "zig-macos-aarch64"


def test_an_unpinned_host_names_the_way_out():
    with pytest.raises(InputError) as e:
        host_pin(lock(), pin_name("FreeBSD", "riscv64"))
    assert "no pinned zig for this host (zig-freebsd-riscv64)" in str(e.value)
    assert "zig-linux-x86_64" in str(e.value) and "toolchain=host" in str(e.value)


def test_targets_default_to_the_host_and_unknown_ones_are_named():
    assert default_target("Linux", "x86_64") == "linux-x86_64"
    assert default_target("Linux", "aarch64") == "linux-aarch64"
    assert default_target("SunOS", "sparc") is None
    assert check_target("linux-x86_64")["triple"] == "x86_64-linux-musl"
    assert check_target("linux-aarch64") == {"triple": "aarch64-linux-musl", "arch": "aarch64", "os": "linux"}
    with pytest.raises(InputError) as e:
        check_target("linux-riscv64")
    assert "target=linux-riscv64" in str(e.value) and "linux-x86_64" in str(e.value)
    assert {t["arch"] for t in TARGETS.values()} <= set(MULTI_LEVELS)  # every target has cpulevels' tables


def test_cpu_settings_are_spelled_the_way_zig_takes_them():
    assert zig_spelling(cpu_flags("portable", "x86_64")) == ["-mcpu=x86_64"]  # -mtune=generic is refused by zig
    assert zig_spelling(cpu_flags("performant", "x86_64")) == ["-mcpu=x86_64_v3"]
    assert zig_spelling(cpu_flags("portable", "aarch64")) == ["-mcpu=generic"]
    assert zig_spelling(cpu_flags("performant", "aarch64")) == ["-mcpu=generic+v8_2a"]
    assert zig_spelling(cpu_flags("native", "x86_64")) == ["-mcpu=native"]
    assert zig_spelling(level_flags("aarch64", "armv8_2_2")[0]) == ["-mcpu=generic+v8_2a+dotprod+fullfp16"]
    assert zig_spelling(level_flags("x86_64", "haswell")[0])[:2] == ["-mcpu=x86_64", "-msse4.2"]
    for arch, levels in MULTI_LEVELS.items():  # every level cpu=multi builds has a spelling
        for level in levels:
            assert not any(f.startswith(("-march", "-mtune")) for f in zig_spelling(level_flags(arch, level)[0]))
    with pytest.raises(InputError, match="has no zig spelling"):
        zig_spelling(["-march=armv7-a"])


def plan(tmp_path, **values):
    defaults = {"toolchain": "zig", "cpu": "auto", "target": "", "cosmocc": "", "cc": "", "cxx": "", "model": "",
                "args": "", "ui": "none", "node": "", "offline": False}
    store = Store(str(tmp_path / "store"))
    try:
        return build_plan.checked(dict(defaults, **values), REPO, store, Registry(), log=lambda m: None)
    finally:
        assert not os.path.exists(store.root)  # checked, not fetched


def test_zig_is_one_module_in_the_registry_and_its_checks_run_before_any_fetch(tmp_path):
    assert "zig" in Registry().names() and Registry().get("zig").variables[0][0] == "target"
    assert plan(tmp_path).cpu == "multi"  # cpu=auto: the executable runs on other machines, at their best
    assert plan(tmp_path, target="linux-x86_64", cpu="performant").cpu == "performant"
    assert plan(tmp_path, target="linux-aarch64", cpu="performant").cpu == "performant"
    with pytest.raises(InputError, match="target=linux-riscv64: is not a platform zig builds for"):
        plan(tmp_path, target="linux-riscv64")
    assert plan(tmp_path, cpu="multi").cpu == "multi"


def test_cpu_multi_is_refused_for_a_target_without_an_elf_partial_link(tmp_path, monkeypatch):
    monkeypatch.setitem(TARGETS, "windows-x86_64", {"triple": "x86_64-windows-gnu", "arch": "x86_64", "os": "windows"})
    assert plan(tmp_path, target="windows-x86_64", cpu="portable").cpu == "portable"
    assert plan(tmp_path, target="windows-x86_64").cpu == "portable"  # cpu=auto where multi is refused
    with pytest.raises(InputError) as e:
        plan(tmp_path, target="windows-x86_64", cpu="multi")
    assert "cpu=multi: refused for target=windows-x86_64" in str(e.value) and "cpu=portable" in str(e.value)


def unpacked_zig(tmp_path):
    """What configure() gets from the store, without a zig: it runs nothing at configure time."""
    return Zig(str(tmp_path / "zig"), str(tmp_path / "cache"), {"kind": "zig", "version": "0.17.1", "wheel": "sha256:x"})


def test_cpu_multi_isolates_levels_with_zigs_lld_and_the_localiser_by_name_its_hash_in_the_identity(tmp_path):
    """No machine path in the commands; the localiser's sha256 rebuilds the levels when it changes, and only them."""
    env = Environment(tools=[])
    zig = unpacked_zig(tmp_path)
    toolchain = Registry().get("zig").configure(env, {"target": "linux-x86_64"}, zig, "multi")
    assert toolchain.relocatable_tools == {"x86_64": ("zig ld.lld", "python3 -m lsone.compile.elf_localise")}
    localiser = os.path.join(REPO, "site_scons", "lsone", "compile", "elf_localise.py")
    assert toolchain.identity.record["localiser"]["sha256"] == file_sha256(localiser)
    assert "localiser" not in toolchain.identity.general_signature()  # only the CPU backend's objects depend on it
    command = isolate_commands([Node("build/lib/ggml-cpu-x64.o")], [Node("build/obj/a.o")],
                               {"CPU_LEVEL": "x64", "TOOLCHAIN": toolchain}, False)
    assert command.startswith("zig ld.lld -r --force-group-allocation -o build/lib/ggml-cpu-x64.o.r build/obj/a.o "
                              "&& python3 -m lsone.compile.elf_localise "
                              "--redefine-sym=ggml_backend_init=lsone_cpu_x64_init")
    assert REPO not in command and str(tmp_path) not in command
    found = subprocess.run(["python3", "-m", "lsone.compile.elf_localise", "--help"], env=env["ENV"],
                           stdout=subprocess.PIPE, text=True)  # as the build runs it: by ENV's PATH and PYTHONPATH
    assert found.returncode == 0 and "--keep-global-symbol" in found.stdout
    portable = Registry().get("zig").configure(Environment(tools=[]), {"target": "linux-x86_64"}, zig, "portable")
    assert "localiser" not in portable.identity.record and portable.relocatable_tools == {}



def test_cpu_multi_isolation_follows_the_targets_architecture(tmp_path):
    """Nothing in it is x86_64's: linux-aarch64 gets the same tools for aarch64."""
    zig = unpacked_zig(tmp_path)
    toolchain = Registry().get("zig").configure(Environment(tools=[]), {"target": "linux-aarch64"}, zig, "multi")
    assert toolchain.arches == ["aarch64"] and list(toolchain.relocatable_tools) == ["aarch64"]
    assert toolchain.cpu_flags == ["-mcpu=generic"]


def test_macos_targets_build_one_cpu_level_and_refuse_cpu_multi_with_the_reason(tmp_path):
    assert (TARGETS["macos-arm64"]["triple"], TARGETS["macos-x86_64"]["triple"]) == ("aarch64-macos", "x86_64-macos")
    assert plan(tmp_path, target="macos-arm64").cpu == "portable"
    assert plan(tmp_path, target="macos-x86_64", cpu="performant").cpu == "performant"
    with pytest.raises(InputError, match="cpu=native: refused for target=macos-arm64"):
        plan(tmp_path, target="macos-arm64", cpu="native")
    zig = Registry().get("zig")  # cpu=multi on macOS, as check() sees it once zig's cpu=multi is allowed
    with pytest.raises(InputError) as e:
        zig.check({"target": "macos-x86_64", "cpu": "multi"}, REPO, None, lock())
    assert "Mach-O has a partial link (ld64 -r) but no localiser" in str(e.value) and "cpu=portable" in str(e.value)


def test_windows_refuses_cpu_multi_for_coff_and_cpu_native(tmp_path):
    assert check_target("windows-x86_64")["triple"] == "x86_64-windows-gnu"
    assert plan(tmp_path, target="windows-x86_64", cpu="performant").cpu == "performant"
    with pytest.raises(InputError) as e:
        plan(tmp_path, target="windows-x86_64", cpu="multi")
    assert "COFF, Windows' object format, has no partial link" in str(e.value)
    with pytest.raises(InputError, match="cpu=native: refused for target=windows-x86_64"):
        plan(tmp_path, target="windows-x86_64", cpu="native")


def test_auto_does_not_pick_zig_before_it_reaches_hosts_speed(tmp_path):
    assert plan(tmp_path, toolchain="auto").toolchain == "host"


def test_the_manifest_identity_is_the_wheel_and_the_target_and_cpu_flags_in_zigs_spelling():
    zig = Registry().get("zig")
    assert zig.cpu_flags("performant", "x86_64") == ["-mcpu=x86_64_v3"]
    assert zig.cpu_flags("portable", "aarch64") == ["-mcpu=generic"]


def test_an_unpacked_wheel_is_vetted(tmp_path):
    with pytest.raises(InputError, match="is not a ziglang wheel"):
        check_layout(str(tmp_path), "zig-test")
    for rel in REQUIRED_FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    with pytest.raises(InputError, match="lacks the execute bit"):
        check_layout(str(tmp_path), "zig-test")
    (tmp_path / EXECUTABLE).chmod(0o755)
    check_layout(str(tmp_path), "zig-test")


def test_the_global_cache_sits_beside_the_store_one_per_wheel(tmp_path):
    store = Store(str(tmp_path / "store"))
    pins = lock()
    x86, arm = (global_cache_dir(store, pins[n]) for n in ("zig-linux-x86_64", "zig-linux-aarch64"))
    assert x86.startswith(store.root + os.sep) and x86 != arm
    assert ".cache/zig" not in x86


def test_release_names_and_sha256sums_round_trip(tmp_path):
    assert artifact_name("linux-x86_64") == "llama-server-one-linux-x86_64"
    assert artifact_name("windows-x86_64") == "llama-server-one-windows-x86_64.exe"
    assert (package_file("linux-x86_64"), package_file("windows-x86_64")) == ("llama-server-one", "llama-server-one.exe")
    (tmp_path / "llama-server-one-linux-x86_64").write_bytes(b"one")
    (tmp_path / "llama-server-one-linux-aarch64").write_bytes(b"two")
    sums = write_sums(str(tmp_path), ["llama-server-one-linux-x86_64", "llama-server-one-linux-aarch64"])
    lines = open(sums).read().splitlines()
    assert [line.split("  ")[1] for line in lines] == ["llama-server-one-linux-aarch64", "llama-server-one-linux-x86_64"]
    published = published_digest(sums, "linux-x86_64")
    assert published == hashlib.sha256(b"one").hexdigest()  # what sha256sum prints
    same, message = challenge(published, "linux-x86_64", str(tmp_path / "llama-server-one-linux-x86_64"))
    assert same and published in message
    same, message = challenge(published, "linux-x86_64", str(tmp_path / "llama-server-one-linux-aarch64"))
    assert not same and "differs from the published build" in message


def test_a_bad_or_incomplete_sha256sums_is_named_before_any_build(tmp_path):
    sums = tmp_path / "SHA256SUMS"
    sums.write_text("0" * 64 + "  llama-server-one-linux-aarch64\n")
    with pytest.raises(InputError) as e:
        published_digest(str(sums), "linux-x86_64")
    assert "lists no llama-server-one-linux-x86_64" in str(e.value) and "llama-server-one-linux-aarch64" in str(e.value)
    sums.write_text("not a checksum line\n")
    with pytest.raises(InputError, match="line 1 is not a sha256sum line"):
        published_digest(str(sums), "linux-x86_64")
    with pytest.raises(InputError, match="cannot be read"):
        published_digest(str(tmp_path / "missing"), "linux-x86_64")
