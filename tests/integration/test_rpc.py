"""The same file as llama.cpp's RPC worker: a split over two workers, failures, guards, bad traffic.

Everything on 127.0.0.1 with the tiny model and one thread per process; every wait is bounded.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import zipfile

import pytest

from conftest import REPO
from integration import rpc_wire
from integration.conftest import RunningServer, free_port
from lsone.packaging.ape import launch_command

PROMPT = "The quick brown fox"
# Longer than one micro-batch (-ub 64 below): the first batches produce no outputs, and gemma's
# graphs for such batches held GET_ROWS with an empty dimension, which an early worker check refused.
LONG_PROMPT = "jumps over the lazy dog " * 6
BATCHES = ["-b", "64", "-ub", "64"]
GREEDY = {"prompt": PROMPT, "n_predict": 24, "temperature": 0, "top_k": 1, "seed": 1, "cache_prompt": False,
          "return_tokens": True, "ignore_eos": True}


class Worker:
    """`llama-server-one rpc-server` on a free loopback port, its output in a log file."""

    def __init__(self, binary, log_dir, name, extra=()):
        self.port = free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.log_path = os.path.join(log_dir, f"{name}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([*launch_command(binary), "rpc-server", "-p", str(self.port), "-t", "1", *extra],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_listening()

    def wait_listening(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"worker exited with {self.proc.returncode}:\n{self.text()}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()  # served and closed at once
                return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"worker not listening on {self.endpoint} after {timeout} s:\n{self.text()}")

    def text(self):
        self.log.flush()
        return open(self.log_path, errors="replace").read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture
def worker_factory(server_binary, tmp_path):
    started = []

    def start(name="worker", extra=()):
        started.append(Worker(server_binary, str(tmp_path), name, extra))
        return started[-1]
    yield start
    for w in started:
        w.stop()


@pytest.fixture(scope="module")
def two_workers(server_binary, tmp_path_factory):
    logs = str(tmp_path_factory.mktemp("workers"))
    workers = [Worker(server_binary, logs, "a"), Worker(server_binary, logs, "b")]
    yield workers
    for w in workers:
        w.stop()


def log_of(server):
    if not server.log.closed:
        server.log.flush()
    return open(server.log.name, errors="replace").read()


def split_server(binary, tiny_model, workers, log, env=None):
    server = RunningServer(binary, ["-m", tiny_model, "-c", "256", "-np", "1", "-t", "1", *BATCHES, "--rpc", ",".join(w.endpoint for w in workers),
                                    "-ngl", "99", "-ts", ",".join(["1", "3"][:len(workers)]),
                                    "-lv", "4"], log, env=env)  # -lv 4: the loader's buffer lines
    server.wait_healthy(timeout=60)
    return server


def greedy_tokens(server, prompt=PROMPT):
    status, body = server.request("POST", "/completion", dict(GREEDY, prompt=prompt))
    assert status == 200, body
    return body["tokens"]


def exits_within(proc, seconds):
    try:
        return proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"still running {seconds} s after the failure")


def test_split_over_two_workers_gives_the_local_tokens(server_binary, tiny_model, two_workers, tmp_path):
    local = RunningServer(server_binary, ["-m", tiny_model, "-c", "256", "-np", "1", "-t", "1", *BATCHES, "-ngl", "0"], tmp_path / "local.log")
    try:
        local.wait_healthy(timeout=60)
        expected = [greedy_tokens(local, p) for p in (PROMPT, LONG_PROMPT)]
    finally:
        local.stop()
    server = split_server(server_binary, tiny_model, two_workers, tmp_path / "split.log")
    try:
        assert [greedy_tokens(server, p) for p in (PROMPT, LONG_PROMPT)] == expected
        status, props = server.request("GET", "/slots")
        assert status == 200 and props[0]["n_ctx"] == 256
    finally:
        server.stop()
    log = log_of(server)
    for w in two_workers:  # -ts 1,3 puts layers on both workers
        for kind in ("model", "KV"):
            assert re.search(rf"RPC\d\[{re.escape(w.endpoint)}\] {kind} buffer size = +[0-9.]+ MiB", log), log[-3000:]
    assert all(len(tokens) == GREEDY["n_predict"] for tokens in expected)
    assert "prompt eval time" in log and re.search(r"/ +1[0-9]{2} tokens", log), "the long prompt was not long"


def test_a_new_server_uses_the_same_workers_after_the_old_one_died(server_binary, tiny_model, two_workers, tmp_path):
    first = split_server(server_binary, tiny_model, two_workers, tmp_path / "first.log")
    tokens = greedy_tokens(first)
    first.proc.kill()  # died, as a crash would: the workers see their connection drop
    first.proc.wait(timeout=10)
    first.log.close()
    second = split_server(server_binary, tiny_model, two_workers, tmp_path / "second.log")
    try:
        assert greedy_tokens(second) == tokens
    finally:
        second.stop()


def start_streaming(server):
    """A long generation, streamed: returns the open response once its first token arrived."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    body = dict(GREEDY, n_predict=200, stream=True)
    conn.request("POST", "/completion", json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200
    assert response.readline().startswith(b"data: ")
    return conn


@pytest.mark.parametrize("failure,expected", [
    ("kill", "lost RPC worker 127.0.0.1:{port} during "),
    ("stop", "no answer within 3 s (LSONE_RPC_TIMEOUT)"),
])
def test_a_worker_lost_mid_generation_ends_the_server_with_a_clear_line(
        server_binary, tiny_model, worker_factory, tmp_path, failure, expected):
    worker = worker_factory()
    server = split_server(server_binary, tiny_model, [worker], tmp_path / "server.log",
                          env=dict(os.environ, LSONE_RPC_TIMEOUT="3"))
    try:
        conn = start_streaming(server)
        worker.proc.send_signal(signal.SIGKILL if failure == "kill" else signal.SIGSTOP)
        code = exits_within(server.proc, 30)
        conn.close()
    finally:
        server.stop()
    log = log_of(server)
    assert code == 1, log[-3000:]
    assert expected.format(port=worker.port) in log, log[-3000:]
    assert "exiting (status 1) so a supervisor can restart" in log
    assert "GGML_ABORT" not in log and "backtrace" not in log.lower()


def run_server_expecting_exit(server_binary, tiny_model, rpc, tmp_path, seconds=30):
    result = subprocess.run([*launch_command(server_binary), "-m", tiny_model, "--port", str(free_port()),
                             "--rpc", rpc, "-ngl", "99"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=seconds)
    return result.returncode, result.stdout


def test_an_unreachable_worker_at_startup_is_one_clear_line(server_binary, tiny_model, tmp_path):
    port = free_port()  # nothing listens there
    code, out = run_server_expecting_exit(server_binary, tiny_model, f"127.0.0.1:{port}", tmp_path)
    assert code == 1, out[-2000:]
    assert f"llama-server-one: cannot reach RPC worker 127.0.0.1:{port} (Connection refused)" in out, out[-2000:]
    assert "GGML_ABORT" not in out and "backtrace" not in out.lower()


def test_a_worker_of_another_protocol_version_is_named(server_binary, tiny_model, tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    fake = threading.Thread(target=rpc_wire.serve_hello_once, args=(listener, (6, 0, 0)), daemon=True)
    fake.start()
    try:
        code, out = run_server_expecting_exit(server_binary, tiny_model, f"127.0.0.1:{port}", tmp_path)
    finally:
        listener.close()
    assert code == 1, out[-2000:]
    assert f"RPC worker 127.0.0.1:{port} speaks RPC protocol 6.0.0, this server speaks 7.x" in out, out[-2000:]


def run_worker(binary, *args, cwd=None, timeout=30):
    return subprocess.run([*launch_command(binary), "rpc-server", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout, cwd=cwd)


def test_worker_usage_and_unknown_argument(server_binary):
    helped = run_worker(server_binary, "--help")
    assert helped.returncode == 0
    assert "usage: llama-server-one rpc-server" in helped.stdout and "--allow-remote" in helped.stdout
    assert "default: 127.0.0.1" in helped.stdout and "default: 50052" in helped.stdout
    unknown = run_worker(server_binary, "--frobnicate")
    assert unknown.returncode == 2 and "rpc-server: unknown argument: --frobnicate" in unknown.stderr


def test_a_non_loopback_host_is_refused_with_a_tunnel_to_use_instead(server_binary):
    result = run_worker(server_binary, "-H", "0.0.0.0", "-p", str(free_port()))
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0: the RPC protocol has no authentication" in result.stderr
    assert "ssh -N -L" in result.stderr and "--allow-remote" in result.stderr


def test_a_taken_port_is_a_clear_error(server_binary):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_worker(server_binary, "-p", str(port))
    assert result.returncode == 1
    assert f"rpc-server: cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr


def packaged_copy(server_binary, home, embedded_args=None):
    exe = home / "llama-server-one"
    shutil.copy(os.path.join(REPO, "build", "bin", "llama-server") if embedded_args else server_binary, exe)
    if embedded_args:
        with zipfile.ZipFile(exe, "a") as zf:
            zf.writestr(".args", embedded_args)
    return exe


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("layer", ["adjacent", "embedded"])
def test_an_args_layer_never_switches_to_worker_mode(server_binary, tmp_path, layer):
    port = free_port()
    text = f"rpc-server -p {port}\n"
    exe = packaged_copy(server_binary, tmp_path, embedded_args=text if layer == "embedded" else None)
    if layer == "adjacent":
        (tmp_path / "llama-server-one.args").write_text(text)
    proc = subprocess.Popen([*launch_command(str(exe))], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=30)  # the server's parser refuses the stray word and exits
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    assert not listening(port), "an args file turned the executable into an RPC worker"
    assert "Starting RPC server" not in out and "rpc-server: CPU level" not in out
    assert proc.returncode != 0 and "rpc-server" in out, out[-2000:]


def test_the_worker_ignores_args_files(server_binary, tmp_path):
    exe = packaged_copy(server_binary, tmp_path)
    (tmp_path / "llama-server-one.args").write_text("-m /zip/model.gguf --no-such-flag\n")
    port = free_port()
    worker = subprocess.Popen([*launch_command(str(exe)), "rpc-server", "-p", str(port), "-t", "1"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while not listening(port) and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert listening(port), "the worker did not start"
        with rpc_wire.connect(port) as sock:
            assert rpc_wire.hello(sock) == (7, 0, 0)
    finally:
        worker.kill()
        out, _ = worker.communicate(timeout=10)
    assert "CPU level" in out


# case: (request, given the remote buffer and its base address; what the worker logs)
BAD_TRAFFIC = {
    # a tensor whose data lies past its buffer's end: a GGML_ASSERT abort at the pin
    "tensor outside its buffer": (lambda remote, base: rpc_wire.request(
        rpc_wire.SET_TENSOR, rpc_wire.tensor(1, buffer=remote, ne=(16, 1, 1, 1), data=base + 8192) +
        b"\0" + struct.pack("<Q", 0) + bytes(64)), "tensor data out of its buffer: closing the connection"),
    # graph node id 0: a null node reached the compute at the pin
    "graph node id 0": (lambda remote, base: rpc_wire.request(rpc_wire.GRAPH_COMPUTE, rpc_wire.graph([0], [])),
                        "failed to create graph node 0 (id=0)"),
    # GET_ROWS writing 3 rows into a one-row result: only assert() checked that at the pin
    "GET_ROWS shape mismatch": (lambda remote, base: rpc_wire.request(rpc_wire.GRAPH_COMPUTE, rpc_wire.graph([3], [
        rpc_wire.tensor(1, buffer=remote, ne=(4, 2, 1, 1), data=base),
        rpc_wire.tensor(2, type=rpc_wire.TYPE_I32, buffer=remote, ne=(3, 1, 1, 1), data=base + 64),
        rpc_wire.tensor(3, buffer=remote, ne=(4, 1, 1, 1), op=rpc_wire.OP_GET_ROWS, src=(1, 2), data=base + 128),
    ])), "refusing graph: GET_ROWS node 0: shapes of rows, indices and result do not match; closing the connection"),
}


def closed_by_peer(sock):
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:  # closed with our request partly unread
        return True


@pytest.mark.parametrize("case", sorted(BAD_TRAFFIC))
def test_bad_traffic_closes_its_connection_and_the_worker_serves_on(worker_factory, case):
    make_request, logged = BAD_TRAFFIC[case]
    worker = worker_factory()
    with rpc_wire.connect(worker.port) as sock:
        assert rpc_wire.hello(sock) == (7, 0, 0)
        remote, base = rpc_wire.alloc_buffer(sock, 4096)
        sock.sendall(make_request(remote, base))
        assert closed_by_peer(sock), "the worker kept the connection open"  # or recv times out after 10 s
    assert worker.proc.poll() is None, f"the worker died:\n{worker.text()}"
    with rpc_wire.connect(worker.port) as sock:  # the next client is served
        assert rpc_wire.hello(sock) == (7, 0, 0)
    assert logged in worker.text()
