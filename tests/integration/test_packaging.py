"""The packaged executable: embedded model and args, layered args files, /zip/ mapping."""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile

import pytest

from conftest import REPO
from integration.conftest import SERVER, free_port, holds_socket, listening_sockets, run_scons


@pytest.fixture(scope="module")
def custom_ui(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui")
    (root / "index.html").write_text("<!doctype html><title>custom</title><p>custom UI from the zip</p>")
    (root / "assets").mkdir()
    (root / "assets" / "app.js").write_text("console.log('custom');\n")
    (root / "assets" / "style.css").write_text("body { color: #333 }\n")
    return root


@pytest.fixture(scope="module")
def packaged(tiny_model, custom_ui, tmp_path_factory):
    """build/llama-server-one with the tiny model and a custom UI inside, in a directory of its own."""
    out = run_scons(f"model={tiny_model}", f"ui={custom_ui}").stdout
    assert "ZIP  build/llama-server-one" in out
    home = tmp_path_factory.mktemp("packaged")
    exe = home / "llama-server-one"
    shutil.copy(SERVER, exe)
    yield exe
    run_scons()  # back to the default package for the other tests


def start(exe, args=(), adjacent=None):
    """Run exe in its directory; adjacent is the text of llama-server-one.args (None: no file)."""
    adjacent_file = exe.parent / "llama-server-one.args"
    if adjacent is not None:
        adjacent_file.write_text(adjacent)
    elif adjacent_file.exists():
        adjacent_file.unlink()
    log = open(exe.parent / "server.log", "w")
    return subprocess.Popen([str(exe), *args], cwd=exe.parent, stdout=log, stderr=subprocess.STDOUT)


def wait_health(proc, port, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited with {proc.returncode}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    # free_port() reserves nothing: a /health from another process is not ours
                    inodes = listening_sockets(port)
                    assert inodes is None or holds_socket(proc.pid, inodes), \
                        f"port {port} is another process's (taken after free_port() chose it); run again"
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"no server on port {port}")


def get_json(port, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # a browser may hold a streaming request open
        proc.kill()
        proc.wait(timeout=10)


def serves_on(exe, expected_port, args=(), adjacent=None):
    """Start exe and check it listens on expected_port, which the layers should have chosen."""
    proc = start(exe, args, adjacent)
    try:
        wait_health(proc, expected_port)
    finally:
        stop(proc)


def entry_data_offset(path, name):
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
    return info.header_offset + 30 + name_len + extra_len, info.file_size


def test_no_arguments_serves_the_embedded_model(packaged):
    port = free_port()
    proc = start(packaged, adjacent=f"--port {port}\n")
    try:
        wait_health(proc, port)
        body = get_json(port, "/completion", {"prompt": "Hi", "n_predict": 4})
        assert body["tokens_predicted"] > 0
        # Clients name the model by its file name without the extension, not by its /zip/ path.
        assert [m["id"] for m in get_json(port, "/v1/models")["data"]] == ["tiny-random-llama"]
        # The model is read in place: a shared read-only mapping of the executable at the entry's range.
        start_at, size = entry_data_offset(packaged, "tiny-random-llama.gguf")
        maps = [line.split() for line in open(f"/proc/{proc.pid}/maps") if line.rstrip().endswith(str(packaged))]
        shared = [(int(m[2], 16), m) for m in maps if m[1].startswith("r--s")]
        assert shared and all(start_at <= off < start_at + size for off, _ in shared), maps
    finally:
        stop(proc)


def get_raw(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def test_ui_manifest_and_model_facts_are_served(packaged):
    port = free_port()
    proc = start(packaged, adjacent=f"--port {port}\n")
    try:
        wait_health(proc, port)
        status, ctype, body = get_raw(port, "/")
        assert (status, ctype) == (200, "text/html; charset=utf-8") and b"custom UI from the zip" in body
        assert get_raw(port, "/assets/app.js")[:2] == (200, "text/javascript; charset=utf-8")
        assert get_raw(port, "/assets/style.css")[:2] == (200, "text/css; charset=utf-8")
        assert get_raw(port, "/assets/missing.js")[0] == 404
        props = get_json(port, "/props")["llama_server_one"]
        assert props["llama.cpp"]["rev"] == "0c1e57098bba43ac29e6e3b677cdceebdd22334f"
        assert props["entries"]["tiny-random-llama.gguf"].startswith("sha256:")
        meta = get_json(port, "/v1/models")["data"][0]["meta"]
        assert meta["general"]["general.name"] == "tiny-random-llama"
        assert meta["general"]["general.architecture"] == "llama"
        assert meta["n_ctx_train"] == 256 and meta["n_params"] > 0 and meta["size"] > 0
    finally:
        stop(proc)


def test_command_line_beats_adjacent_file(packaged):
    adjacent_port, cli_port = free_port(), free_port()
    serves_on(packaged, cli_port, ["--port", str(cli_port)], adjacent=f"--port {adjacent_port}\n")


def test_placeholder_puts_command_line_before_the_file(packaged):
    file_port, cli_port = free_port(), free_port()
    # The file's --port follows the command line's, so it wins.
    serves_on(packaged, file_port, ["--port", str(cli_port)], adjacent=f"# ports\n... --port {file_port}\n")


def test_without_mmap_still_loads_from_the_zip(packaged):
    port = free_port()
    proc = start(packaged, ["--load-mode", "none"], adjacent=f"--port {port}\n")  # upstream's --no-mmap
    try:
        wait_health(proc, port)
        assert get_json(port, "/completion", {"prompt": "Hi", "n_predict": 2})["tokens_predicted"] > 0
        maps = [line for line in open(f"/proc/{proc.pid}/maps") if line.rstrip().endswith(str(packaged))]
        assert not any(line.split()[1].startswith("r--s") for line in maps)  # read, not mapped
    finally:
        stop(proc)


def test_zip_is_listed_and_aligned(packaged):
    with zipfile.ZipFile(packaged) as zf:
        names = zf.namelist()
        assert names == [".args", "manifest.json", "pack.py", "tiny-random-llama.gguf",
                         "ui/assets/app.js", "ui/assets/style.css", "ui/index.html"]
        manifest = json.loads(zf.read("manifest.json"))
        args = zf.read(".args").decode()
    assert entry_data_offset(packaged, "tiny-random-llama.gguf")[0] % 65536 == 0
    assert "-m\n/zip/tiny-random-llama.gguf" in args and "--host 127.0.0.1" in args
    assert manifest["llama.cpp"]["rev"].startswith("0c1e5709")
    assert set(manifest["patches"]) == {p for p in os.listdir(os.path.join(REPO, "patches")) if p.endswith(".patch")}
    assert manifest["entries"]["tiny-random-llama.gguf"].startswith("sha256:")
    assert REPO not in json.dumps(manifest)
    if shutil.which("unzip"):
        listing = subprocess.run(["unzip", "-l", str(packaged)], stdout=subprocess.PIPE, text=True).stdout
        assert "tiny-random-llama.gguf" in listing


def test_malformed_adjacent_args_file_names_file_and_line(packaged):
    proc = start(packaged, adjacent="--port 1\n--alias 'unterminated\n")
    assert proc.wait(timeout=30) == 2
    log = (packaged.parent / "server.log").read_text()
    assert f"{packaged}.args:2: unterminated single quote" in log


def test_truncated_executable_is_reported(packaged, tmp_path):
    cut = tmp_path / "llama-server-one"
    data = packaged.read_bytes()
    cut.write_bytes(data[:len(data) - 200_000])
    cut.chmod(0o755)
    result = subprocess.run([str(cut)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    assert result.returncode == 2
    assert "truncated or damaged" in result.stdout


def test_non_gguf_model_is_refused_by_the_build(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"<html>not a model</html>")
    result = run_scons(f"model={bad}", check=False)
    assert result.returncode != 0
    assert f"model={bad}: is not a GGUF model" in result.stdout and "expected: a file starting with the bytes 'GGUF'" in result.stdout


def test_model_change_repackages_without_compiling(packaged, custom_ui, tmp_path):
    sys.path.insert(0, os.path.join(REPO, "tests"))
    from tiny_model import write_tiny_model
    other = write_tiny_model(os.path.join(REPO, "build", "llama.cpp", "gguf-py"), str(tmp_path / "other.gguf"), seed=7)
    out = run_scons(f"model={other}", f"ui={custom_ui}").stdout
    assert "ZIP  build/llama-server-one" in out
    for tool in ("CC ", "CXX ", "LINK ", "AR "):
        assert f"\n{tool}" not in out, out
    (custom_ui / "assets" / "app.js").write_text("console.log('changed');\n")
    out = run_scons(f"model={other}", f"ui={custom_ui}").stdout
    assert "ZIP  build/llama-server-one" in out and "\nCXX " not in out and "\nLINK " not in out


@pytest.mark.parametrize("compress,problem", [
    (zipfile.ZIP_DEFLATED, "the entry is compressed"),
    (zipfile.ZIP_STORED, "is not a multiple of 65536"),
])
def test_unusable_gguf_entry_is_a_clear_error(tiny_model, tmp_path, compress, problem):
    """A zip written by another tool: a compressed or unaligned model entry is refused, not crashed on."""
    exe = tmp_path / "llama-server-one"
    shutil.copy(os.path.join(REPO, "build", "bin", "llama-server"), exe)
    port = free_port()
    with zipfile.ZipFile(exe, "a", compression=compress) as zf:
        zf.writestr(".args", f"-m /zip/model.gguf --port {port}\n", compress_type=zipfile.ZIP_STORED)
        zf.write(tiny_model, "model.gguf")
    result = subprocess.run([str(exe)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    assert result.returncode != 0
    assert "/zip/model.gguf" in result.stdout and problem in result.stdout, result.stdout[-2000:]


def run_alone(exe, *args):
    """Run exe without an adjacent args file, stdout and stderr apart."""
    (exe.parent / "llama-server-one.args").unlink(missing_ok=True)
    return subprocess.run([str(exe), *args], cwd=exe.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=30)


def test_version_is_upstreams_lines_and_one_about_the_package(packaged):
    result = run_alone(packaged, "--version")
    assert result.returncode == 0 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("version: ") and "commit 0c1e570" in lines[0]
    assert lines[1].startswith("built with ")
    patches = [p for p in os.listdir(os.path.join(REPO, "patches")) if p.endswith(".patch")]
    assert len(lines) == 3, lines  # at most one line more than upstream's
    assert lines[2].startswith(f"llama-server-one: llama.cpp 0c1e57098bba + {len(patches)} patches, host ")
    assert lines[2].endswith(", model tiny-random-llama.gguf; --manifest shows the rest")


def test_manifest_flag_prints_the_manifest_as_json(packaged):
    result = run_alone(packaged, "--manifest")
    assert result.returncode == 0 and result.stderr == ""
    manifest = json.loads(result.stdout)
    with zipfile.ZipFile(packaged) as zf:
        assert manifest == json.loads(zf.read("manifest.json"))
    assert manifest["llama.cpp"]["rev"] == "0c1e57098bba43ac29e6e3b677cdceebdd22334f"


def test_own_alias_wins_over_the_model_name(packaged):
    port = free_port()
    proc = start(packaged, ["--alias", "my-name"], adjacent=f"--port {port}\n")
    try:
        wait_health(proc, port)
        assert [m["id"] for m in get_json(port, "/v1/models")["data"]] == ["my-name"]
    finally:
        stop(proc)
