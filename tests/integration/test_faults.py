"""Faults: kill -9 during a model download, at every step of a store insert and during
packaging, then build again; and two checkouts building at once on one store and one CacheDir.

Real processes (scons, killed by SIGKILL), a real HTTP server on 127.0.0.1, real files.
What is checked is what a later build sees: store entries, the packaged zip, exit codes.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
import zipfile

import pytest

from conftest import REPO
from integration.conftest import scons_args
from integration.test_reproducible import clone_to

KILL_AT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kill_at.py")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def private_store(root):
    """A store of our own, with the shared store's entries (llama.cpp, the UI) linked in read-only."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    shared = os.environ.get("LSONE_STORE") or os.path.join(cache, "llama-server-one", "store")  # README's default
    os.makedirs(root)
    for name in os.listdir(shared):
        if not name.startswith("."):
            os.symlink(os.path.join(shared, name), os.path.join(root, name))
    return root


def reset_store(root):
    """Back to the linked entries only: what the tests' own fetches put there goes."""
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if os.path.islink(path):
            continue
        for dirpath, dirnames, _ in os.walk(path):  # entries are read-only; let rmtree in
            os.chmod(dirpath, 0o755)
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


class Checkout:
    """A copy of the committed files whose models.lock pins one model at a 127.0.0.1 URL."""

    def __init__(self, path, store, model_name, model_bytes):
        self.path, self.store, self.model_name = clone_to(str(path)), store, model_name
        self.model_bytes = model_bytes
        self.exe = os.path.join(self.path, "build", "llama-server-one")

    def pin(self, http_server):
        """models.lock names the model at the server's URL, written the user's way (`scons add-model`);
        then the store forgets the model again, so the next build has to fetch it."""
        route = f"/{self.model_name}"
        serving = http_server.routes.get(route)
        http_server.routes[route] = self.model_bytes
        os.remove(os.path.join(self.path, "models.lock"))
        result = subprocess.run(self.command("add-model", f"url={http_server.url}{route}", "license=test", model=False),
                                cwd=self.path, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert result.returncode == 0, result.stdout[-3000:]
        http_server.routes[route] = serving if serving is not None else self.model_bytes
        reset_store(self.store)

    def command(self, *args, kill_steps=None, log=None, model=True):
        base = [sys.executable]
        if kill_steps is not None or log:
            base += [KILL_AT] + (["--log", log, "--watch", self.store] if log else []) + list(kill_steps or []) + ["--"]
        shared = [a for a in scons_args() if not a.startswith("store=")]  # the CacheDir, not the store
        return base + ["-m", "SCons", *shared, f"store={self.store}", "toolchain=host", "ui=none",
                       *([f"model={self.model_name}"] if model else []), *args]

    def scons(self, *args, kill_steps=None, log=None, timeout=1800):
        return subprocess.run(self.command(*args, kill_steps=kill_steps, log=log), cwd=self.path, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)

    def stored_model(self):
        """The model's files in the store that a build would take: complete entries only."""
        return [os.path.join(self.store, e, self.model_name) for e in os.listdir(self.store)
                if not e.startswith(".") and os.path.isfile(os.path.join(self.store, e, self.model_name))]

    def packaged(self):
        with zipfile.ZipFile(self.exe) as zf:
            assert zf.testzip() is None
            return {n: zf.read(n) for n in zf.namelist()}


def tiny_gguf(gguf_py, path):
    """A tiny model of its own (fresh random weights), so no store or cache already holds it."""
    sys.path.insert(0, os.path.join(REPO, "tests"))
    from tiny_model import write_tiny_model
    write_tiny_model(gguf_py, str(path), seed=uuid.uuid4().int % (1 << 32))
    return open(path, "rb").read()


@pytest.fixture(scope="module")
def checkout(server_binary, tmp_path_factory):
    """One checkout, built once (objects from the CacheDir), and its own store."""
    home = tmp_path_factory.mktemp("faults")
    model = tiny_gguf(os.path.join(REPO, "build", "llama.cpp", "gguf-py"), home / "tiny-fault.gguf")
    return Checkout(home / "checkout", private_store(str(home / "store")), "tiny-fault.gguf", model)


def assert_next_build_uses_the_verified_model(co, *args):
    result = co.scons(*args)
    assert result.returncode == 0, result.stdout[-3000:]
    stored = co.stored_model()
    assert len(stored) == 1 and sha256(stored[0]) == hashlib.sha256(co.model_bytes).hexdigest()
    return result


def test_kill_at_every_step_of_a_model_download_and_store_insert(checkout, http_server, tmp_path):
    co = checkout
    co.pin(http_server)
    # A full build that records each change the fetch makes in the store.
    log = str(tmp_path / "store-steps.log")
    first = co.scons(log=log, kill_steps=[])
    assert first.returncode == 0, first.stdout[-3000:]
    assert co.packaged()[co.model_name] == co.model_bytes
    steps = open(log).read().splitlines()
    assert any(s.startswith("os.rename") and s.endswith(co.model_name) for s in steps), steps
    print(f"\nthe fetch changes the store in {len(steps)} steps:\n" + "\n".join(steps))
    for n in range(1, len(steps) + 1):
        reset_store(co.store)
        killed = co.scons("build/package/.args", kill_steps=[f"*@{co.store}"] * n)
        assert killed.returncode == -signal.SIGKILL, f"step {n} ({steps[n - 1]}): {killed.stdout[-2000:]}"
        for path in co.stored_model():  # an entry a build would use is whole and verified
            assert sha256(path) == hashlib.sha256(co.model_bytes).hexdigest(), f"step {n}: {path}"
        assert_next_build_uses_the_verified_model(co, "build/package/.args")


def test_kill_in_the_middle_of_a_download_then_resume(checkout, http_server, tmp_path):
    co = checkout
    co.pin(http_server)
    cut = len(co.model_bytes) // 2
    http_server.routes[f"/{co.model_name}"] = ("stall", co.model_bytes, cut)
    output = open(tmp_path / "scons.log", "w+")
    proc = subprocess.Popen(co.command("build/package/.args"), cwd=co.path, stdout=output, stderr=subprocess.STDOUT)
    part = None
    deadline = time.monotonic() + 300
    while part is None or os.path.getsize(part) == 0:  # written in 64 KiB chunks
        assert proc.poll() is None and time.monotonic() < deadline, open(output.name).read()[-3000:]
        tmp = os.path.join(co.store, ".tmp")
        parts = [os.path.join(tmp, f) for f in os.listdir(tmp)] if os.path.isdir(tmp) else []
        part = next((p for p in parts if p.endswith(".part")), None)
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    have = os.path.getsize(part)
    assert 0 < have < len(co.model_bytes)
    assert co.stored_model() == []  # part of a model is nothing a build can use
    http_server.routes[f"/{co.model_name}"] = co.model_bytes
    assert_next_build_uses_the_verified_model(co)
    ranges = [r for p, r in http_server.requests if p == f"/{co.model_name}"]
    assert ranges[-1] == f"bytes={have}-", ranges  # the next build resumed where the first stopped
    assert co.packaged()[co.model_name] == co.model_bytes


def test_kill_in_the_middle_of_packaging(checkout, http_server, tmp_path):
    co = checkout
    co.pin(http_server)
    assert_next_build_uses_the_verified_model(co)
    before = co.packaged()
    extra = tmp_path / "extra.args"
    extra.write_text(f"--alias fault-{uuid.uuid4().hex[:8]}\n")
    # Killed once the new package is being written, as it opens the model to copy it in.
    killed = co.scons(f"args={extra}", kill_steps=["open@build/llama-server-one.tmp", f"read@{co.model_name}"])
    assert killed.returncode == -signal.SIGKILL, killed.stdout[-2000:]
    half_written = os.path.getsize(co.exe + ".tmp")
    if os.path.exists(co.exe):  # whatever is there is a whole package, never a half-written one
        assert co.packaged() == before
    # Back to the old inputs: nothing the killed build wrote for the new ones may leak in
    # (SCons had no chance to record it: its signatures still describe the build before).
    out = assert_next_build_uses_the_verified_model(co).stdout
    assert "the last build here was killed" in out
    assert co.packaged() == before
    assert_next_build_uses_the_verified_model(co, f"args={extra}")
    assert half_written < os.path.getsize(co.exe)  # the kill did come in the middle
    after = co.packaged()
    assert after[co.model_name] == co.model_bytes and extra.read_bytes() in after[".args"]


def test_two_checkouts_build_at_once_on_one_store_and_one_cache_dir(server_binary, http_server, tmp_path):
    """Both compile the same changed file and push it to the CacheDir, and both fetch one new model
    into the store, at the same time. A CacheDir shared by CI jobs and checkouts sees exactly this."""
    store = private_store(str(tmp_path / "store"))
    model = tiny_gguf(os.path.join(REPO, "build", "llama.cpp", "gguf-py"), tmp_path / "tiny-shared.gguf")
    marker = f"// concurrent-build test {uuid.uuid4().hex}\n"  # new source: the cache cannot hold its object
    checkouts = []
    for name, extra_default in (("one", ""), ("two", "--threads-http 3\n")):
        co = Checkout(tmp_path / name, store, "tiny-shared.gguf", model)
        source = os.path.join(co.path, "runtime", "lsone_args.cpp")
        with open(source) as f:
            text = f.read()
        with open(source, "w") as f:
            f.write(marker + text)
        with open(os.path.join(co.path, "assets", "default.args"), "a") as f:
            f.write(extra_default)
        checkouts.append(co)
    for co in checkouts:
        co.pin(http_server)
    http_server.routes["/tiny-shared.gguf"] = ("slow", model, 2)
    pinned = len(http_server.requests)
    logs = [open(tmp_path / f"{i}.log", "w+") for i in range(2)]
    procs = [subprocess.Popen(co.command(), cwd=co.path, stdout=log, stderr=subprocess.STDOUT)
             for co, log in zip(checkouts, logs)]
    codes = [p.wait(timeout=1800) for p in procs]
    outputs = [open(log.name).read() for log in logs]
    assert codes == [0, 0], "\n\n".join(o[-3000:] for o in outputs)
    for co, out in zip(checkouts, outputs):
        print("\n" + "\n".join(x for x in out.splitlines() if "lsone_args" in x or x.startswith(("LINK", "ZIP"))))
        assert "build/obj/ours/runtime/lsone_args.cpp.o" in out  # compiled, or retrieved from the other's push
        files = co.packaged()
        assert files["tiny-shared.gguf"] == model
    assert b"--threads-http 3" in checkouts[1].packaged()[".args"]
    assert b"--threads-http" not in checkouts[0].packaged()[".args"]
    assert len([p for p, _ in http_server.requests[pinned:] if p == "/tiny-shared.gguf"]) == 1  # one fetch, shared


def test_kill_after_a_compile_then_undo_the_edit(checkout, http_server):
    """An object compiled from an edit, then the build killed before SCons recorded it, then the edit
    undone: the next build must not link the object of the undone edit."""
    co = checkout
    co.pin(http_server)
    assert_next_build_uses_the_verified_model(co)
    source = os.path.join(co.path, "runtime", "lsone_args.cpp")
    original = open(source).read()
    marker = f"fault-marker-{uuid.uuid4().hex}"
    with open(source, "a") as f:
        f.write(f'\nextern "C" const char lsone_fault_marker[] = "{marker}";\n')
    # SCons reads the new object (for its signature) right after the compiler wrote it: kill there.
    killed = co.scons(kill_steps=["read@obj/ours/runtime/lsone_args.cpp.o"])
    assert killed.returncode == -signal.SIGKILL, killed.stdout[-2000:]
    with open(source, "w") as f:
        f.write(original)
    out = assert_next_build_uses_the_verified_model(co).stdout
    assert "the last build here was killed" in out
    with open(co.exe, "rb") as f:
        assert marker.encode() not in f.read()
