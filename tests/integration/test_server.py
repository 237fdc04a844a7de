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


def test_version_names_pinned_commit(server_binary):
    import subprocess

    from lsone.ape import launch_command
    out = subprocess.run([*launch_command(server_binary), "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True).stdout
    assert "commit 0c1e570" in out
