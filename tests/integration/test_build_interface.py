"""The SCons user interface: variables, errors, hermeticity, store safety."""

import os
import shutil
import stat

from integration.conftest import run_scons


def test_help_lists_variables_with_defaults():
    out = run_scons("-h").stdout
    for name in ("toolchain", "cpu", "cosmocc", "store", "cache_dir", "offline", "verbose"):
        assert f"\n{name}: " in out
    assert "default: auto" in out and "(auto|native|portable|performant|multi)" in out


def test_unknown_variable_lists_known_ones():
    result = run_scons("toolchian=host", check=False)
    assert result.returncode != 0
    assert "unknown variable(s): toolchian" in result.stdout
    assert ("known variables: args, cache_dir, cache_limit, cc, cosmocc, cpu, cxx, fuzz_time, github_api, license, "
            "llama_cpp, model, node, offline, store, sums, target, toolchain, ui, url, verbose") in result.stdout


def test_offline_with_cold_store_lists_the_missing_inputs(tmp_path):
    result = run_scons("offline=1", f"store={tmp_path / 'empty-store'}", "model=gemma-3-270m-q4_k_m.gguf", "-n",
                       check=False)
    assert result.returncode != 0
    out = result.stdout
    assert "offline=1: these inputs are not in the store" in out
    assert "- llama.cpp 0c1e57098bba (sha256:" in out
    assert "- model gemma-3-270m-q4_k_m.gguf (sha256:a5fd3b62" in out
    assert "- the built web UI (ui=upstream" in out


def test_cosmocc_with_cpu_native_fails_before_anything_is_fetched(tmp_path):
    """offline=0 and a cold store: the refusal comes first, no download starts, the store stays empty."""
    store = tmp_path / "cold-store"
    result = run_scons("toolchain=cosmocc", "cpu=native", "offline=0", f"store={store}", check=False)
    assert result.returncode != 0
    assert "cpu=native: refused with toolchain=cosmocc." in result.stdout and "fix:      cpu=portable" in result.stdout
    assert "[llama.cpp]" not in result.stdout and "[cosmocc]" not in result.stdout  # nothing was fetched
    assert not store.exists() or not any(store.iterdir())


def test_bad_inputs_fail_before_anything_is_fetched(tmp_path):
    store, site = tmp_path / "cold-store", tmp_path / "site"
    site.mkdir()
    for args, expected in ((["model=no-such-model"], "model=no-such-model: is neither a name in models.lock"),
                           ([f"args={tmp_path / 'missing.args'}"], "missing.args: no such file"),
                           ([f"ui={site}"], "no index.html at the top of the directory")):
        result = run_scons("offline=0", f"store={store}", *args, check=False)
        assert result.returncode != 0 and expected in result.stdout, result.stdout[-2000:]
        assert "[llama.cpp]" not in result.stdout
    assert not store.exists() or not any(store.iterdir())


def test_a_tool_whose_requirement_is_missing_says_so(tmp_path):
    """SConstruct calls each tool's exists() (SCons' env.Tool does not) and reports its need and fix."""
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    result = run_scons("-n", f"cache_dir={not_a_dir / 'cache'}", f"store={tmp_path / 'store'}", check=False)
    assert result.returncode != 0
    assert "build_cache: cache_dir= must be a directory this user can create and write." in result.stdout
    assert "fix: point cache_dir= at a writable directory" in result.stdout


def test_caller_environment_does_not_leak_into_the_build(server_binary):
    env = dict(os.environ, CFLAGS="-DLEAKED=1", CXXFLAGS="-DLEAKED=1", CC="false", CXX="false")
    result = run_scons(env=env)
    assert "is up to date" in result.stdout, result.stdout[-2000:]


def test_swapping_the_compiler_rebuilds(server_binary, tmp_path):
    wrapper_dir = tmp_path / "wrapped"
    wrapper_dir.mkdir()
    for name, real in (("gcc", shutil.which("gcc")), ("g++", shutil.which("g++"))):
        path = wrapper_dir / name
        path.write_text(f"#!/bin/sh\nexec {real} \"$@\"\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    result = run_scons("-n", f"cc={wrapper_dir / 'gcc'}", f"cxx={wrapper_dir / 'g++'}")
    assert "CXX  build/obj/llama.cpp/common/arg.cpp.o" in result.stdout
    assert "LINK build/bin/llama-server" in result.stdout and "ZIP  build/llama-server-one" in result.stdout


def test_clean_keeps_the_store(server_binary):
    store_root = None
    for line in run_scons("-h").stdout.splitlines():
        if line.strip().startswith("actual:") and "store" in line:
            store_root = line.split("actual:", 1)[1].strip()
    assert store_root and os.path.isdir(store_root)
    entries = sorted(os.listdir(store_root))
    out = run_scons("-c", "-n").stdout
    assert "Removed build/llama-server-one" in out and "Removed build/bin/llama-server" in out
    assert store_root not in out
    assert sorted(os.listdir(store_root)) == entries


# --cache-disable: a warm CacheDir would answer "Retrieved from cache" instead of showing the commands.
def test_cpu_portable_targets_the_baseline_isa(server_binary):
    out = run_scons("-n", "--cache-disable", "verbose=1", "cpu=portable").stdout
    cpu_lines = [line for line in out.splitlines() if "ggml/src/ggml-cpu/ops.cpp" in line and " -c " in line]
    assert cpu_lines and all("-march=x86-64" in line or "-march=armv8-a" in line for line in cpu_lines)
    assert "-march=native" not in out


def test_cpu_performant_targets_v3_and_auto_means_native_on_host(server_binary):
    out = run_scons("-n", "--cache-disable", "verbose=1", "cpu=performant").stdout
    cpu_lines = [line for line in out.splitlines() if "ggml/src/ggml-cpu/ops.cpp" in line and " -c " in line]
    assert cpu_lines and all("-march=x86-64-v3" in line or "-march=armv8.2-a" in line for line in cpu_lines)
    assert run_scons("-n", "cpu=auto").stdout.count("CXX") == 0  # the default build, already up to date
