"""toolchain=zig target=windows-x86_64: llama-server-one.exe, a PE32+ for x86-64 that serves /health
and a completion under wine, its model, args and UI read from its own appended zip.

One build per session (the zig_windows_build fixture: the tiny model and WINDOWS_EMBEDDED_ARGS
embedded), its objects shared through the CacheDir. Wine runs in a fresh prefix under tmp.
"""

import os
import shutil
import struct
import subprocess
import sys
import urllib.request
import zipfile

import pytest

from integration.conftest import RunningServer
from integration.test_packaging import entry_data_offset

# Debian's wine64 keeps its loader off PATH (the wine package's /usr/bin/wine calls it)
WINE = shutil.which("wine64") or "/usr/lib/wine/wine64"
WINESERVER = shutil.which("wineserver64") or shutil.which("wineserver") or "/usr/lib/wine/wineserver64"
MACHINE_AMD64, PE32_PLUS, CONSOLE = 0x8664, 0x20B, 3
MODEL_ENTRY = "tiny-random-llama.gguf"


def pe_header(path):
    """(machine, optional header magic, subsystem) of a PE executable."""
    with open(path, "rb") as f:
        head = f.read(4096)
    assert head[:2] == b"MZ", f"{path} has no DOS header"
    pe, = struct.unpack_from("<I", head, 0x3C)
    assert head[pe:pe + 4] == b"PE\0\0", f"{path} has no PE signature at {pe}"
    machine, = struct.unpack_from("<H", head, pe + 4)
    magic, subsystem = struct.unpack_from("<H", head, pe + 24)[0], struct.unpack_from("<H", head, pe + 24 + 68)[0]
    return machine, magic, subsystem


def test_the_package_is_a_pe32_plus_console_executable_for_x86_64(zig_windows_build):
    assert zig_windows_build["package"].endswith("llama-server-one.exe")
    assert pe_header(zig_windows_build["package"]) == (MACHINE_AMD64, PE32_PLUS, CONSOLE)


def test_its_zip_holds_model_args_ui_and_pack_py_which_lists_it_and_rewrites_the_same_bytes(zig_windows_build, tmp_path):
    package = zig_windows_build["package"]
    with zipfile.ZipFile(package) as zf:
        names = zf.namelist()
        args = zf.read(".args").decode()
        (tmp_path / "pack.py").write_bytes(zf.read("pack.py"))
    assert {".args", "manifest.json", "pack.py", MODEL_ENTRY} <= set(names)
    assert any(n.startswith("ui/") for n in names)
    assert "/zip/tiny-random-llama.gguf" in args and "--parallel 2" in args and "--alias from-the-zip" in args
    assert entry_data_offset(package, MODEL_ENTRY)[0] % 65536 == 0  # MapViewOfFile's allocation granularity

    def pack(*argv):
        result = subprocess.run([sys.executable, "-I", "pack.py", *map(str, argv)], cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        assert result.returncode == 0, result.stdout
        return result.stdout

    listed = {row.split()[-1]: tuple(map(int, row.split()[:2])) for row in pack(package, "--list").splitlines()[2:]}
    assert listed[MODEL_ENTRY] == entry_data_offset(package, MODEL_ENTRY) and ".args" in listed
    pack(package, "--no-model", "-o", "stripped.exe")
    with zipfile.ZipFile(tmp_path / "stripped.exe") as zf:
        assert MODEL_ENTRY not in zf.namelist()
    pack("stripped.exe", "--model", zig_windows_build["model"], "-o", "again.exe")
    assert (tmp_path / "again.exe").read_bytes() == open(package, "rb").read()


@pytest.fixture(scope="module")
def wine_env(tmp_path_factory):
    """A fresh wine prefix, booted (its first start takes a while: done once, here), killed at the end."""
    if not os.access(WINE, os.X_OK):
        pytest.fail(f"wine64 is not installed ({WINE}): apt-get install wine64 (./test installs it)")
    env = dict(os.environ, WINEPREFIX=str(tmp_path_factory.mktemp("wineprefix")), WINEDEBUG="-all",
               WINELOADER=WINE, WINEDLLOVERRIDES="mscoree,mshtml=")  # no Mono or Gecko prompts
    env.pop("DISPLAY", None)
    subprocess.run([WINE, "wineboot", "--init"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=900, check=True)
    subprocess.run([WINESERVER, "-w"], env=env, timeout=900)  # the prefix is written and its services are done
    try:
        yield env
    finally:
        subprocess.run([WINESERVER, "-k"], env=env, timeout=120)  # this prefix's processes only


def prefix_wineserver(prefix):
    """The pids of this prefix's wineserver (its working directory is server-<dev>-<inode> of the prefix):
    it holds a Windows program's sockets, not the program's own process."""
    st = os.stat(prefix)
    name, pids = f"server-{st.st_dev:x}-{st.st_ino:x}", []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.path.basename(os.readlink(f"/proc/{pid}/cwd")) == name:
                pids.append(int(pid))
        except OSError:
            continue
    return pids


def get_text(url):
    with urllib.request.urlopen(url, timeout=60) as resp:
        return resp.status, resp.headers.get("Content-Type"), resp.read()


def test_under_wine_it_serves_health_and_a_completion_from_its_own_zip(zig_windows_build, wine_env, tmp_path):
    # A copy with an args file beside it: llama-server-one.args, found through GetModuleFileNameW
    exe = tmp_path / "run" / "llama-server-one.exe"
    exe.parent.mkdir()
    shutil.copy(zig_windows_build["package"], exe)
    (exe.parent / "llama-server-one.args").write_text("--alias beside-the-exe\n")
    server = RunningServer(str(exe), ["-t", "2"], tmp_path / "server.log", env=wine_env, wrapper=[WINE],
                           socket_holders=lambda: prefix_wineserver(wine_env["WINEPREFIX"]))
    try:
        health = server.wait_healthy(timeout=900)
        assert health == {"status": "ok"}, health
        status, body = server.request("POST", "/completion", {"prompt": "Hello", "n_predict": 8, "seed": 1})
        assert status == 200 and body["tokens_predicted"] == 8, body
        status, props = server.request("GET", "/props")
        assert status == 200
        assert props["total_slots"] == 2  # --parallel 2 of the embedded args
        assert props["llama_server_one"]["entries"][MODEL_ENTRY].startswith("sha256:")  # its manifest
        status, models = server.request("GET", "/v1/models")
        assert [m["id"] for m in models["data"]] == ["beside-the-exe"]  # the args file beside it, last
        status, ctype, page = get_text(server.url + "/")
        assert status == 200 and ctype.startswith("text/html") and page  # the UI, from /zip/ui
    finally:
        server.stop()
