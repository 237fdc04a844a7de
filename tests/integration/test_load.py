"""Load: 200 concurrent completions against the packaged executable (tiny model inside, -np 4)."""

import os
import shutil
import sys

import pytest

from conftest import REPO
from integration.conftest import SERVER, RunningServer, run_scons

sys.path.insert(0, os.path.join(REPO, "bench"))
from load import burst, summary  # noqa: E402  (bench/load.py: the same burst the benchmark measures)


@pytest.fixture(scope="module")
def packaged_tiny(tiny_model, tmp_path_factory):
    home = tmp_path_factory.mktemp("load")
    try:
        assert "ZIP  build/llama-server-one" in run_scons(f"model={tiny_model}", "ui=none").stdout
        shutil.copy(SERVER, home / "llama-server-one")
    finally:
        run_scons()  # back to the default package for the other tests
    return home / "llama-server-one"


def test_200_concurrent_completions_all_succeed(packaged_tiny, tmp_path):
    # No -m: the model comes from the embedded /zip/.args. 4 slots of the tiny model's 256 tokens.
    server = RunningServer(str(packaged_tiny), ["-np", "4", "-c", "1024", "-t", "2"], tmp_path / "server.log")
    try:
        server.wait_healthy()
        results, wall = burst(server.url, requests=200, concurrency=200, n_predict=8)
        stats = summary(results, wall)
        print(f"\n200 concurrent completions: {stats}")
        errors = [r["error"] for r in results if not r["ok"]]
        assert errors == [], f"{len(errors)} of 200 failed, e.g. {errors[:3]}"
        assert server.proc.poll() is None, "the server died under load"
        assert server.request("GET", "/health") == (200, {"status": "ok"})
    finally:
        server.stop()
    log = open(tmp_path / "server.log", errors="replace").read()
    assert "n_slots = 4" in log, log[-2000:]
