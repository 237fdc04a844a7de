"""Integration fixtures: build with the real SCons, run the real server."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from conftest import REPO
from lsone.inputs.pins import load_pin
from lsone.inputs.store import Store, default_store_root
from lsone.inputs.zig import default_target
from lsone.packaging.ape import launch_command
from lsone.packaging.release import package_file

SERVER = os.path.join(REPO, "build", "llama-server-one")


@pytest.fixture(scope="session", autouse=True)
def shared_cache_dir():
    """Every test build shares one CacheDir: CI's (LSONE_CACHE_DIR) or, without it, one made for this
    session. A copy of the checkout then retrieves the session build's objects instead of compiling
    them again. Tests of a clean build (test_reproducible.py) leave it out."""
    if os.environ.get("LSONE_CACHE_DIR"):
        yield os.environ["LSONE_CACHE_DIR"]
        return
    path = tempfile.mkdtemp(prefix="lsone-test-cache-")
    os.environ["LSONE_CACHE_DIR"] = path
    try:
        yield path
    finally:
        del os.environ["LSONE_CACHE_DIR"]
        shutil.rmtree(path, ignore_errors=True)


def scons_args():
    """Extra variables for test builds, e.g. the shared cache_dir (never read by the build itself)."""
    args = []
    if os.environ.get("LSONE_CACHE_DIR"):
        args.append(f"cache_dir={os.environ['LSONE_CACHE_DIR']}")
    if os.environ.get("LSONE_STORE"):
        args.append(f"store={os.environ['LSONE_STORE']}")
    return args


def copy_checkout(root):
    """What a build reads from the checkout, copied; build/ starts empty."""
    from commands.verify import CHECKOUT_INPUTS

    os.makedirs(root, exist_ok=True)
    for name in CHECKOUT_INPUTS:
        src = os.path.join(REPO, name)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(root, name), ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, os.path.join(root, name))
    return str(root)


def run_scons(*args, cwd=REPO, env=None, check=True, timeout=3600):
    # Tests that do not name a toolchain test the host build, even where the store holds cosmocc.
    pinned = [] if any(a.startswith(("toolchain=", "cosmocc=")) for a in args) else ["toolchain=host"]
    cmd = [sys.executable, "-m", "SCons", *scons_args(), *pinned, *args]
    result = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-4000:]}")
    return result


@pytest.fixture(scope="session")
def server_binary():
    chosen = os.environ.get("LSONE_SERVER_BINARY")
    if chosen:  # a server built some other way (e.g. the cosmocc APE): test it as it is
        return os.path.abspath(chosen)
    run_scons()
    assert os.access(SERVER, os.X_OK)
    return SERVER


@pytest.fixture(scope="session")
def tiny_model(server_binary, tmp_path_factory):
    sys.path.insert(0, os.path.join(REPO, "tests"))
    from tiny_model import write_tiny_model
    path = str(tmp_path_factory.mktemp("models") / "tiny-random-llama.gguf")
    return write_tiny_model(os.path.join(REPO, "build", "llama.cpp", "gguf-py"), path)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_sockets(port):
    """Inodes of the sockets listening on 127.0.0.1:port, from /proc/net/tcp (None without /proc)."""
    try:
        with open("/proc/net/tcp") as f:
            rows = [line.split() for line in f.readlines()[1:]]
    except OSError:
        return None
    local = f"{socket.htonl(0x7F000001):08X}:{port:04X}"  # the kernel prints the address as a host-order word
    return {row[9] for row in rows if row[1] == local and row[3] == "0A"}  # 0A: LISTEN


def holds_socket(pid, inodes):
    """Whether process pid (or a child, e.g. an APE's loader) has one of these sockets open."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = f.read().split()
    except OSError:
        children = []
    for p in [pid, *children]:
        try:
            if any(os.readlink(f"/proc/{p}/fd/{fd}") in {f"socket:[{i}]" for i in inodes}
                   for fd in os.listdir(f"/proc/{p}/fd")):
                return True
        except OSError:
            continue
    return False


class RunningServer:
    # free_port() cannot reserve its port: on a machine shared by several test runs, another
    # server may bind it first. Ours then exits, and a /health that answers is someone else's.
    PORT_TRIES = 3

    def __init__(self, binary, args, log_path, env=None, wrapper=(), socket_holders=lambda: []):
        """wrapper: an argv prefix, e.g. an emulator; env: the server's environment; socket_holders: pids
        that hold the server's sockets for it (wine's wineserver does, not the Windows process)."""
        self.binary, self.args, self.env, self.wrapper = binary, list(args), env, list(wrapper)
        self.socket_holders = socket_holders
        self.log = open(log_path, "w")
        self.tries = 0
        self._start()

    def _start(self):
        self.tries += 1
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([*self.wrapper, *launch_command(self.binary), "--host", "127.0.0.1",
                                      "--port", str(self.port), *self.args], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env)

    def _port_taken(self):
        """Our server lost its port to another process: start it again on a new one, if tries are left."""
        if self.tries >= self.PORT_TRIES:
            raise RuntimeError(f"port {self.port} was taken by another process {self.tries} times; see {self.log.name}")
        self.log.write(f"\n[test] port {self.port} is another process's: starting again on a new port\n")
        self.log.flush()
        self.proc.kill()
        self.proc.wait()
        self._start()

    def wait_healthy(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.flush()
                if "couldn't bind HTTP server socket" in open(self.log.name, errors="replace").read():
                    self._port_taken()
                    continue
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                status, body = self.request("GET", "/health")
            except OSError:
                status = None
            if status == 200:
                inodes = listening_sockets(self.port)
                if inodes is None or any(holds_socket(p, inodes) for p in [self.proc.pid, *self.socket_holders()]):
                    return body
                self._port_taken()
                continue
            time.sleep(0.2)
        raise TimeoutError(f"server not healthy after {timeout} s; see {self.log.name}")

    def request(self, method, path, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="session")
def tiny_server(server_binary, tiny_model, tmp_path_factory):
    server = RunningServer(server_binary, ["-m", tiny_model, "-c", "256", "-t", "2"],
                           tmp_path_factory.mktemp("logs") / "server.log")
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


def real_store_args():
    """store= naming the real store (LSONE_STORE's, else the default), for builds whose HOME is not ours."""
    return [] if os.environ.get("LSONE_STORE") else [f"store={default_store_root()}"]


def readme_sha256(name):
    """The sha256 README.md publishes for the release artifact name."""
    with open(os.path.join(REPO, "README.md")) as f:
        found = re.findall(rf"^\s*([0-9a-f]{{64}})  {re.escape(name)}$", f.read(), re.M)
    assert len(found) == 1, f"README.md should publish one sha256 for {name}, found {len(found)}"
    return found[0]


def zig_package(tmp_path_factory, *args):
    """A toolchain=zig package built in its own checkout, so build/llama-server-one stays the host
    build. HOME is a fresh directory: zig must not write to ~/.cache/zig."""
    root = tmp_path_factory.mktemp("zig")
    checkout = copy_checkout(root / "checkout")
    home = root / "home"
    home.mkdir()
    store = real_store_args()
    run_scons("toolchain=zig", *store, *args, cwd=checkout, env=dict(os.environ, HOME=str(home)))
    target = next((a.split("=", 1)[1] for a in args if a.startswith("target=")), default_target())
    return {"checkout": checkout, "home": str(home), "package": os.path.join(checkout, "build", package_file(target)),
            "store_args": store}


@pytest.fixture(scope="session")
def zig_build(tmp_path_factory):
    """The default toolchain=zig package for this host (target= empty, so cpu=multi on Linux), once per
    session, built as if on another machine (hermetic.py): clean, as another user, with no host compiler
    reachable. test_zig_reproducible.py compares it with the README's hash; the release's Linux package
    and the CPU-level tests use it too."""
    from integration.hermetic import hermetic_build, share_cache
    from integration.test_reproducible import clone_to

    root = tmp_path_factory.mktemp("zig-hermetic")
    checkout = clone_to(str(root / "another-user" / "a-much-longer-checkout-path" / "b"))
    build = hermetic_build(checkout, str(root / "elsewhere"))
    share_cache(build["cache"], os.environ["LSONE_CACHE_DIR"])
    store = real_store_args()  # for builds after it
    return dict(build, checkout=checkout, store_args=store)


@pytest.fixture(scope="session")
def zig_aarch64_build(tmp_path_factory):
    """toolchain=zig target=linux-aarch64 (cpu=auto: multi), cross-built once per session whatever the host:
    the one aarch64 build, so its levels' scoring is tested too (under qemu-aarch64), and the release's."""
    return zig_package(tmp_path_factory, "target=linux-aarch64")


MACOS_TARGETS = ("macos-arm64", "macos-x86_64")


@pytest.fixture(scope="session")
def zig_macos_builds(tmp_path_factory):
    """Each macOS package (toolchain=zig target=macos-*), once per session: they link here, never run."""
    return {t: dict(zig_package(tmp_path_factory, f"target={t}"), target=t) for t in MACOS_TARGETS}


@pytest.fixture(scope="session", params=MACOS_TARGETS)
def zig_macos_build(request, zig_macos_builds):
    return zig_macos_builds[request.param]


def pinned_tiny_model(path):
    """The tiny model, written before any build: gguf-py from the verified llama.cpp tree in the store."""
    sys.path.insert(0, os.path.join(REPO, "tests"))
    from tiny_model import write_tiny_model
    tree = Store(os.environ.get("LSONE_STORE") or default_store_root()).realise(
        load_pin(os.path.join(REPO, "sources.lock"), "sources", "llama.cpp"))
    return write_tiny_model(os.path.join(tree, "gguf-py"), path)


# The Windows package's own args (args=FILE, after assets/default.args in its zip): its tests see them served.
WINDOWS_EMBEDDED_ARGS = "--parallel 2\n--alias from-the-zip\n"


@pytest.fixture(scope="session")
def zig_windows_build(tmp_path_factory):
    """toolchain=zig target=windows-x86_64, once per session: llama-server-one.exe with the tiny model
    and WINDOWS_EMBEDDED_ARGS in its zip (and the upstream UI, as every default package)."""
    inputs = tmp_path_factory.mktemp("zig-windows-inputs")
    model = pinned_tiny_model(str(inputs / "tiny-random-llama.gguf"))
    (inputs / "windows.args").write_text(WINDOWS_EMBEDDED_ARGS)
    return dict(zig_package(tmp_path_factory, "target=windows-x86_64", f"model={model}",
                            f"args={inputs / 'windows.args'}"), model=model)
