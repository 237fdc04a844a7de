"""The built llama-server-one serves a real (tiny) GGUF over HTTP."""


def test_health(tiny_server):
    status, body = tiny_server.request("GET", "/health")
    assert status == 200 and body == {"status": "ok"}


def test_completion_returns_tokens(tiny_server):
    status, body = tiny_server.request("POST", "/completion",
                                       {"prompt": "Hello", "n_predict": 8, "temperature": 0})
    assert status == 200
    assert body["tokens_predicted"] > 0
    assert body["timings"]["predicted_n"] == body["tokens_predicted"]


def test_models_lists_the_model(tiny_server, tiny_model):
    status, body = tiny_server.request("GET", "/v1/models")
    assert status == 200
    assert [m["id"] for m in body["data"]] == [tiny_model]


def test_malformed_json_gets_upstream_error_and_server_survives(tiny_server):
    status, body = tiny_server.request("POST", "/completion", raw=b'{"prompt": "x", ')
    assert status == 500
    assert body["error"]["type"] == "server_error" and "parse error" in body["error"]["message"]
    assert tiny_server.request("GET", "/health") == (200, {"status": "ok"})


def pinned_llama_cpp():
    import os

    from conftest import REPO
    from lsone.inputs.pins import load_pin
    return load_pin(os.path.join(REPO, "sources.lock"), "sources", "llama.cpp")


def test_version_names_pinned_commit_and_upstream_build_number(server_binary):
    import subprocess

    from lsone.packaging.ape import launch_command
    pin = pinned_llama_cpp()
    assert pin.meta["buildNumber"] == 11312  # upstream's release tag b11312 is commit 0c1e570
    out = subprocess.run([*launch_command(server_binary), "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True).stdout
    assert f"(build 11312, commit {pin.rev[:7]})" in out


def test_system_fingerprint_is_the_build_number_and_commit(tiny_server):
    pin = pinned_llama_cpp()
    status, body = tiny_server.request("POST", "/v1/chat/completions",
                                       {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
    assert status == 200 and body["system_fingerprint"] == f"b{pin.meta['buildNumber']}-{pin.rev[:7]}"


def test_a_port_another_process_holds_is_not_taken_for_ours(server_binary, tiny_model, tmp_path, monkeypatch):
    """free_port() cannot reserve its port; when another process listens there first (other test runs
    share this machine), the harness must not test that process: it starts ours on a new port."""
    import http.server
    import threading

    import integration.conftest as harness

    class Impostor(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "16")
            self.end_headers()
            self.wfile.write(b'{"status": "ok"}')

    impostor = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Impostor)
    threading.Thread(target=impostor.serve_forever, daemon=True).start()
    taken, real_free_port = impostor.server_address[1], harness.free_port
    ports = iter([taken])
    monkeypatch.setattr(harness, "free_port", lambda: next(ports, None) or real_free_port())
    server = harness.RunningServer(server_binary, ["-m", tiny_model, "-c", "256", "-t", "2"], tmp_path / "log")
    try:
        server.wait_healthy()
        assert server.port != taken
        status, body = server.request("GET", "/props")
        assert status == 200 and "default_generation_settings" in body
    finally:
        server.stop()
        impostor.shutdown()
        impostor.server_close()
