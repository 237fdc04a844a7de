"""The packaged server against damaged or hostile packages and a rebuild while it runs (issue 13).

Packages are crafted here with lsone.packaging.zipembed.append_zip around the linked server
(build/bin/llama-server), then run for real on 127.0.0.1.
"""

import json
import os
import struct
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import REPO
from integration.conftest import RunningServer
from lsone.packaging.zipembed import append_zip

LINKED = os.path.join(REPO, "build", "bin", "llama-server")


@pytest.fixture(scope="module")
def linked(server_binary):
    """The server before packaging (server_binary builds it)."""
    return LINKED


def package(linked, path, model=None, args="", manifest=None, files=None):
    """path = the linked server + a zip of .args, an optional model, manifest.json text and files."""
    entries = {".args": args.encode()}
    if model:
        entries["model.gguf"] = model
    if manifest is not None:
        entries["manifest.json"] = manifest.encode() if isinstance(manifest, str) else manifest
    entries.update(files or {})
    append_zip(linked, str(path), entries)
    return path


class Served(RunningServer):
    """RunningServer, plus raw bodies and request headers."""

    def log_tail(self):
        self.log.flush()
        return open(self.log.name, errors="replace").read()[-3000:]

    def get(self, path, headers=None):
        req = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def post(self, path, body):
        return self.request("POST", path, body)


@pytest.fixture
def serve():
    started = []

    def start(exe, args=()):
        started.append(Served(str(exe), args, exe.parent / "server.log"))
        started[-1].wait_healthy()
        return started[-1]

    yield start
    for s in started:
        s.stop()


MODEL_ARGS = "-m /zip/model.gguf -c 256 -t 2\n"


def test_rebuild_while_running_keeps_serving_the_original_file(linked, tiny_model, tmp_path, serve):
    """Item 1: a new package renamed over the running one (as the build does) changes nothing it serves."""
    exe = package(linked, tmp_path / "llama-server-one", tiny_model, MODEL_ARGS + "--sleep-idle-seconds 1\n",
                  manifest='{"build": "first"}')
    server = serve(exe)
    # The rebuild: a smaller package (no model) replaces the file under the same name.
    package(linked, exe, args="--port 1\n", manifest='{"build": "second"}')
    status, body = server.get("/v1/models")
    assert status == 200, server.log_tail()
    assert json.loads(body)["data"][0]["meta"]["general"]["general.name"] == "tiny-random-llama"
    status, body = server.get("/props")
    assert json.loads(body)["llama_server_one"] == {"build": "first"}
    # After sleeping, the model is loaded again: from the file the server started from.
    deadline = time.monotonic() + 20
    while not json.loads(server.get("/props")[1])["is_sleeping"]:
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.3)
    assert server.post("/completion", {"prompt": "Hi", "n_predict": 4})[1]["tokens_predicted"] > 0
    assert server.proc.poll() is None


def test_manifest_is_read_once(linked, tiny_model, tmp_path, serve):
    """Item 8: /props does not read the manifest from the file again on every request."""
    manifest = json.dumps({"build": "x", "padding": "p" * (1 << 20)})
    server = serve(package(linked, tmp_path / "llama-server-one", tiny_model, MODEL_ARGS, manifest=manifest))
    assert json.loads(server.get("/props")[1])["llama_server_one"]["build"] == "x"

    def bytes_read():
        return int(next(line for line in open(f"/proc/{server.proc.pid}/io") if line.startswith("rchar")).split()[1])

    before = bytes_read()
    for _ in range(10):
        assert server.get("/props")[0] == 200
    assert bytes_read() - before < len(manifest), "the manifest was read again"


UI_FILES = {
    "ui/index.html": b"<p>index</p>",
    "ui/_app/immutable/bundle.js": b"console.log('bundle')",
    "ui/.*": b"dot-star",
    "ui/{x}.js": b"braces",
    "ui/logo (1).png": b"logo",
    "ui/c++.txt": b"plus",
    "ui/(a*)*b": b"backtracking",
}


def test_ui_file_names_are_matched_literally(linked, tiny_model, tmp_path, serve):
    """Item 2: names with regex characters neither shadow the API, nor abort startup, nor go unserved."""
    server = serve(package(linked, tmp_path / "llama-server-one", tiny_model, MODEL_ARGS + "--path /zip/ui\n",
                           files=UI_FILES))
    assert json.loads(server.get("/health")[1]) == {"status": "ok"}
    assert "default_generation_settings" in json.loads(server.get("/props")[1])
    assert json.loads(server.get("/v1/models")[1])["data"]
    for name, url in [(".*", "/.*"), ("{x}.js", "/%7Bx%7D.js"), ("logo (1).png", "/logo%20(1).png"),
                      ("c++.txt", "/c++.txt"), ("(a*)*b", "/(a*)*b"), ("index.html", "/")]:
        assert server.get(url) == (200, UI_FILES["ui/" + name]), url
    # Backtracking through (a*)*b over 40 a's would take hours; 10 s leaves a loaded 2-core machine room.
    started = time.monotonic()
    assert server.get("/" + "a" * 40 + "c")[0] == 404
    assert time.monotonic() - started < 10


def test_api_key_keeps_the_embedded_ui_public(linked, tiny_model, tmp_path, serve):
    """Item 5: like upstream's compiled-in UI, the zip's UI loads without the key; the API does not."""
    server = serve(package(linked, tmp_path / "llama-server-one", tiny_model,
                           MODEL_ARGS + "--path /zip/ui --api-key sesame\n",
                           files={n: UI_FILES[n] for n in ("ui/index.html", "ui/_app/immutable/bundle.js")}))
    assert server.get("/") == (200, b"<p>index</p>")
    assert server.get("/_app/immutable/bundle.js") == (200, b"console.log('bundle')")
    assert server.get("/props")[0] == 401
    assert server.get("/props", {"Authorization": "Bearer sesame"})[0] == 200


def test_bad_manifest_and_odd_model_metadata_never_500(linked, tmp_path, serve):
    """Item 3: a manifest that is not JSON, a general.* string that is not UTF-8 and NaN/inf floats."""
    import sys
    sys.path.insert(0, os.path.join(REPO, "tests"))
    from tiny_model import write_tiny_model
    model = tmp_path / "odd.gguf"
    write_tiny_model(os.path.join(REPO, "build", "llama.cpp", "gguf-py"), str(model),
                     float_metadata={"general.nan": float("nan"), "general.inf": float("inf")})
    data = model.read_bytes()
    model.write_bytes(data.replace(b"tiny-random-llama", b"tiny-\xff\xfe-bad-utf-8", 1))
    server = serve(package(linked, tmp_path / "llama-server-one", str(model), MODEL_ARGS + "--sleep-idle-seconds 1\n",
                           manifest='{"build": not json'))
    status, body = server.get("/props")
    assert status == 200 and json.loads(body)["llama_server_one"] is None
    status, body = server.get("/v1/models")
    general = json.loads(body)["data"][0]["meta"]["general"]
    assert status == 200 and general["general.nan"] is None and general["general.inf"] is None
    assert general["general.name"].startswith("tiny-\ufffd")
    deadline = time.monotonic() + 20  # going to sleep builds /props again: it must not abort
    while not json.loads(server.get("/props")[1])["is_sleeping"]:
        assert time.monotonic() < deadline and server.proc.poll() is None, server.log_tail()
        time.sleep(0.3)
    assert server.get("/props")[0] == 200 and server.proc.poll() is None


def test_truncated_package_without_a_header_to_ask_is_reported(linked, tiny_model, tmp_path):
    """Item 6: the size recorded at packaging catches a cut-off file when no ELF header tells
    where the image ends, as in an APE (here: the ELF's section header fields are zeroed)."""
    headerless = tmp_path / "headerless"
    data = bytearray(open(linked, "rb").read())
    struct.pack_into("<Q", data, 0x28, 0)  # e_shoff
    struct.pack_into("<H", data, 0x3c, 0)  # e_shnum
    headerless.write_bytes(bytes(data))
    packed = package(str(headerless), tmp_path / "packed", tiny_model, MODEL_ARGS)
    for keep in (len(data) + 100_000, len(data)):
        cut = tmp_path / "llama-server-one"
        cut.write_bytes(packed.read_bytes()[:keep])
        cut.chmod(0o755)
        result = subprocess.run([str(cut)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        assert result.returncode == 2 and "truncated" in result.stdout, result.stdout[-2000:]
