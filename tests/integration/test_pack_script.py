"""pack.py, taken out of a built llama-server-one, writes the bytes the build writes."""

import json
import shutil
import subprocess
import sys
import zipfile

import pytest

from integration.conftest import SERVER, free_port, run_scons
from integration.test_packaging import get_json, start, stop, wait_health


@pytest.fixture(scope="module")
def builds(tiny_model, tmp_path_factory):
    """Two packages of the same build from SCons: plain (no model, args or UI) and full."""
    home = tmp_path_factory.mktemp("pack")
    ui = home / "ui"
    (ui / "assets").mkdir(parents=True)
    (ui / "index.html").write_text("<!doctype html><p>mine</p>")
    (ui / "assets" / "app.js").write_text("console.log('mine');\n")
    args = home / "my.args"
    # Bytes as they are: not UTF-8 (\xe9) and a CR inside quotes reach the zip unchanged.
    args.write_bytes(b"# mine, caf\xe9\r\n--ctx-size 256 --threads 2 --alias 'a\rb'\n")
    try:
        run_scons("ui=none")
        shutil.copy(SERVER, home / "plain")
        run_scons(f"model={tiny_model}", f"args={args}", f"ui={ui}")
        shutil.copy(SERVER, home / "full")
        yield home, tiny_model, args, ui
    finally:
        run_scons()  # back to the default package for the other tests


def pack(home, *args):
    result = subprocess.run([sys.executable, "-I", "pack.py", *map(str, args)], cwd=home,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    assert result.returncode == 0, result.stdout
    return result


def test_pack_py_writes_exactly_what_the_build_writes(builds):
    home, model, args, ui = builds
    # The README's way to get it: unzip -p llama-server-one pack.py
    with open(home / "pack.py", "wb") as f:
        subprocess.run(["unzip", "-p", str(home / "plain"), "pack.py"], stdout=f, check=True)
    pack(home, "plain", "--model", model, "--args", args, "--ui", ui, "-o", "repacked")
    assert (home / "repacked").read_bytes() == (home / "full").read_bytes()
    pack(home, "full", "--no-model", "--no-args", "--no-ui", "-o", "stripped")
    assert (home / "stripped").read_bytes() == (home / "plain").read_bytes()
    with zipfile.ZipFile(home / "full") as zf:  # the manifest names what is inside
        manifest = json.loads(zf.read("manifest.json"))
        assert zf.read("pack.py") == (home / "pack.py").read_bytes()
    assert manifest["entries"]["pack.py"].startswith("sha256:")
    with zipfile.ZipFile(home / "repacked") as zf:
        assert args.read_bytes().rstrip(b"\n") in zf.read(".args")
    assert "model tiny-random-llama.gguf" in manifest["summary"]


def test_repacked_server_serves_the_model_by_its_name(builds):
    home, model = builds[0], builds[1]
    with zipfile.ZipFile(home / "plain") as zf:
        (home / "pack.py").write_bytes(zf.read("pack.py"))
    pack(home, "plain", "--model", model, "-o", "llama-server-one")
    exe = home / "llama-server-one"
    port = free_port()
    proc = start(exe, adjacent=f"--port {port}\n")
    try:
        wait_health(proc, port)
        assert [m["id"] for m in get_json(port, "/v1/models")["data"]] == ["tiny-random-llama"]
        assert get_json(port, "/completion", {"prompt": "Hi", "n_predict": 2})["tokens_predicted"] > 0
    finally:
        stop(proc)
