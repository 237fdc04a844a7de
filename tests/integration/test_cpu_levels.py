"""cpu=multi: every CPU level of ggml's CPU backend in one executable, the best chosen at startup.

Built in a copy of the checkout, so the main build/ stays cpu=native; the CacheDir shares every
object but the levels'. Debian's qemu-user (installed by ./test) plays old and new x86-64 CPUs:
QEMU 7.2 emulates up to AVX2, so -cpu Nehalem is pre-AVX and -cpu Haswell is AVX2.
"""

import os
import platform
import re
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import REPO
from integration.conftest import RunningServer, free_port, run_scons
from integration.test_reproducible import clone_to

sys.path.insert(0, os.path.join(REPO, "site_scons"))
from lsone.compile.cpulevels import MULTI_LEVELS  # noqa: E402

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64",
                                reason="the levels and the emulated CPU models tested here are x86-64's")
LEVELS = MULTI_LEVELS["x86_64"]
CHOSEN = re.compile(r"llama-server-one: CPU level (\w+): (.*)")


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    checkout = clone_to(str(tmp_path_factory.mktemp("multi") / "checkout"))
    run_scons("cpu=multi", "ui=none", cwd=checkout)
    return checkout


@pytest.fixture(scope="module")
def multi_binary(multi):
    return os.path.join(multi, "build", "llama-server-one")


def qemu(model, machine="x86_64"):
    """The argv prefix that runs a machine's executable as the CPU model (qemu-<machine> -cpu help lists them)."""
    tool = shutil.which(f"qemu-{machine}")
    if not tool:
        pytest.fail(f"qemu-{machine} is not on PATH: install Debian's qemu-user (./test does)")
    return [tool, "-cpu", model]


def run(binary, *args, level=None, wrapper=(), timeout=600):
    env = dict(os.environ)
    env.pop("LSONE_CPU_LEVEL", None)
    if level:
        env["LSONE_CPU_LEVEL"] = level
    return subprocess.run([*wrapper, binary, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, timeout=timeout)


def best_level(level_scores):
    """The level upstream's scores choose: the highest-scoring one the CPU can run."""
    return max((score, name) for name, score in level_scores.items() if score > 0)[1]


def scores(binary, wrapper=()):
    """{level: upstream's score on this (or the emulated) CPU}, from the startup line of --version."""
    out = run(binary, "--version", wrapper=wrapper).stdout
    line = CHOSEN.search(out)
    assert line, out
    return {name: int(score) for name, score in re.findall(r"(\w+)=(\d+)", line.group(2))}


def serve_one_completion(binary, model, log_path, level=None, wrapper=()):
    """Start the server, check /props names the level, complete a prompt; return /props' cpu_level."""
    env = dict(os.environ)
    env.pop("LSONE_CPU_LEVEL", None)
    if level:
        env["LSONE_CPU_LEVEL"] = level
    server = RunningServer(binary, ["-m", model, "-c", "256", "-t", "2"], log_path, env=env, wrapper=wrapper)
    try:
        server.wait_healthy(timeout=600)
        status, props = server.request("GET", "/props")
        assert status == 200
        status, body = server.request("POST", "/completion", {"prompt": "Hello", "n_predict": 4, "temperature": 0})
        assert status == 200 and body["tokens_predicted"] > 0
    finally:
        server.stop()
    with open(log_path) as f:
        chosen = CHOSEN.search(f.read())
    assert chosen and chosen.group(1) == props["cpu_level"]["level"]  # the startup log says the same
    return props["cpu_level"]


def check_levels_are_isolated(lib_dir, levels=LEVELS):
    """Each level is one object exporting only its renamed entry points, its COMDAT groups dissolved."""
    for level in levels:
        obj = os.path.join(lib_dir, f"ggml-cpu-{level}.o")
        defined = subprocess.run(["nm", "-g", "--defined-only", obj], stdout=subprocess.PIPE, text=True,
                                 check=True).stdout.split()[2::3]
        assert sorted(defined) == [f"lsone_cpu_{level}_init", f"lsone_cpu_{level}_score"]
        groups = subprocess.run(["readelf", "-g", obj], stdout=subprocess.PIPE, text=True, check=True).stdout
        assert "COMDAT" not in groups  # dissolved: the final link cannot swap in another level's copy


def test_each_level_is_one_object_exporting_only_its_entry_points(multi):
    check_levels_are_isolated(os.path.join(multi, "build", "lib"))


def test_best_level_is_chosen_and_reported(multi_binary, tiny_model, tmp_path):
    on_this_cpu = scores(multi_binary)
    assert list(on_this_cpu) == LEVELS and on_this_cpu["x64"] > 0
    best = best_level(on_this_cpu)
    report = serve_one_completion(multi_binary, tiny_model, tmp_path / "server.log")
    assert report["level"] == best and "highest-scoring" in report["reason"]
    assert {x["name"]: x["score"] for x in report["levels"]} == on_this_cpu


def test_version_says_which_level(multi_binary):
    out = run(multi_binary, "--version").stdout
    assert "commit 0c1e570" in out and CHOSEN.search(out)


@pytest.mark.parametrize("level", LEVELS)
def test_each_forced_level_serves_a_completion_or_is_refused(multi_binary, tiny_model, tmp_path, level):
    if scores(multi_binary)[level] == 0:
        result = run(multi_binary, "--version", level=level)
        assert result.returncode == 1 and "this CPU lacks instructions" in result.stdout
        return
    report = serve_one_completion(multi_binary, tiny_model, tmp_path / "server.log", level=level)
    assert report["level"] == level and report["reason"].startswith(f"forced by LSONE_CPU_LEVEL={level}")


def test_unknown_level_is_a_clear_error(multi_binary):
    result = run(multi_binary, "--version", level="pentium3")
    assert result.returncode == 1
    assert "LSONE_CPU_LEVEL=pentium3: no such CPU level" in result.stdout and ", ".join(LEVELS) in result.stdout


def test_old_cpu_gets_a_pre_avx_level(multi_binary, tiny_model, tmp_path):
    report = serve_one_completion(multi_binary, tiny_model, tmp_path / "nehalem.log", wrapper=qemu("Nehalem"))
    assert report["level"] == "sse42"  # SSE4.2, no AVX


def test_haswell_gets_the_avx2_level(multi_binary, tiny_model, tmp_path):
    report = serve_one_completion(multi_binary, tiny_model, tmp_path / "haswell.log", wrapper=qemu("Haswell"))
    assert report["level"] == "haswell"


def test_forcing_a_level_the_cpu_lacks_is_an_error_not_sigill(multi_binary):
    result = run(multi_binary, "--version", level="haswell", wrapper=qemu("Nehalem"))
    assert result.returncode == 1, result.stdout
    assert "LSONE_CPU_LEVEL=haswell: this CPU lacks instructions" in result.stdout and "at most sse42" in result.stdout


def test_native_build_dies_of_sigill_on_the_old_cpu(server_binary, tiny_model):
    """The emulated old CPU really lacks what a native build uses: the tests above can fail."""
    try:
        result = run(server_binary, "-m", tiny_model, "-c", "256", "--port", str(free_port()), wrapper=qemu("Nehalem"),
                     timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail("the cpu=native build kept running under -cpu Nehalem: the emulated CPU proves nothing")
    assert result.returncode == -signal.SIGILL, result.stdout[-2000:]


def test_a_one_level_build_reports_its_level(tiny_server):
    """The default build (one level, no choice at startup) names that level in /props."""
    status, body = tiny_server.request("GET", "/props")
    report = body["cpu_level"]
    assert status == 200 and report["level"] and report["levels"] == []
    assert report["reason"] == (f"built for one level (cpu={report['level']}); build with cpu=multi to choose "
                                "at startup")
