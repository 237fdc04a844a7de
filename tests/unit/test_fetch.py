import io
import os
import tarfile

import pytest

from lsone.errors import InputError
from lsone.inputs import http
from lsone.inputs.archive import extract_tree
from lsone.inputs.pins import Pin
from lsone.inputs.store import Store
from lsone.inputs.treehash import tree_hash

FILES = {"src/a.c": b"int a;\n", "src/b.c": b"int b;\n", "docs/readme": b"not included\n"}


def tarball(files, top="proj-1234"):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def expected_hash(tmp_path, files):
    root = tmp_path / "expected"
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return tree_hash(str(root), ["src/"])


def pin(mirrors, tree):
    return Pin("demo", "tree", tree, mirrors, include=["src/"], meta={"rev": "1234"})


def fetch_source_tree(pin, store, **kwargs):
    return store.realise(pin, **kwargs)


def test_falls_through_failing_mirrors_to_a_good_one(tmp_path, http_server):
    http_server.routes["/good.tar.gz"] = tarball(FILES)
    http_server.routes["/broken.tar.gz"] = 500
    store = Store(str(tmp_path / "store"))
    mirrors = [{"type": "url", "url": "http://127.0.0.1:1/refused.tar.gz"},
               {"type": "url", "url": http_server.url + "/missing.tar.gz"},
               {"type": "url", "url": http_server.url + "/broken.tar.gz"},
               {"type": "url", "url": http_server.url + "/good.tar.gz"}]
    logs = []
    path = fetch_source_tree(pin(mirrors, expected_hash(tmp_path, FILES)), store, log=logs.append)
    assert sorted(os.listdir(os.path.join(path, "src"))) == ["a.c", "b.c"]
    assert not os.path.exists(os.path.join(path, "docs"))
    assert sum("failed" in line for line in logs) == 3
    # Second call is served from the store: no new requests.
    count = len(http_server.requests)
    assert fetch_source_tree(pin(mirrors, expected_hash(tmp_path, FILES)), store) == path
    assert len(http_server.requests) == count


def test_wrong_content_is_refused_and_not_stored(tmp_path, http_server):
    http_server.routes["/evil.tar.gz"] = tarball(dict(FILES, **{"src/a.c": b"int evil;\n"}))
    store = Store(str(tmp_path / "store"))
    want = expected_hash(tmp_path, FILES)
    with pytest.raises(InputError) as e:
        fetch_source_tree(pin([{"type": "url", "url": http_server.url + "/evil.tar.gz"}], want), store,
                          log=lambda m: None)
    message = str(e.value)
    assert "demo" in message and want in message and "/evil.tar.gz" in message and "mismatch" in message
    assert [n for n in os.listdir(store.root) if not n.startswith(".")] == []
    assert os.listdir(os.path.join(store.root, ".tmp")) == []


def test_offline_with_cold_store_names_the_input(tmp_path):
    store = Store(str(tmp_path / "store"))
    with pytest.raises(InputError, match="offline"):
        fetch_source_tree(pin([{"type": "url", "url": "https://example.invalid/x.tar.gz"}],
                              "sha256:" + "1" * 64), store, offline=True)


def test_extract_rejects_path_escape(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(tarball({"../../escape": b"x", "src/ok.c": b"ok"}))
    dest = tmp_path / "out"
    extract_tree(str(archive), str(dest), "", ["src/"])
    assert (dest / "src" / "ok.c").exists()
    assert not (tmp_path / "escape").exists()


def test_download_resumes_after_dropped_connection(tmp_path, http_server):
    body = os.urandom(1_000_000)
    http_server.routes["/big.bin"] = ("drop", body, 600_000)
    dest = tmp_path / "big.bin"
    assert http.download(http_server.url + "/big.bin", str(dest), backoff=0.01) == len(body)
    assert dest.read_bytes() == body
    (first, no_range), (second, resume_from) = http_server.requests
    assert no_range is None and resume_from.startswith("bytes=")
    assert 0 < int(resume_from[6:-1]) <= 600_000


def test_plain_http_only_for_loopback():
    with pytest.raises(http.DownloadError, match="only https"):
        http.check_url_allowed("http://example.com/x.tar.gz")
    http.check_url_allowed("http://127.0.0.1:8000/x")
    http.check_url_allowed("https://example.com/x")


def _zip_with(tmp_path, members):
    """members: (name, symlink target or None, file text)."""
    import stat
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, target, text in members:
            info = zipfile.ZipInfo(name)
            if target is not None:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target if target is not None else text)
    archive = tmp_path / "a.zip"
    archive.write_bytes(buf.getvalue())
    dest = tmp_path / "deep" / "tree"
    dest.mkdir(parents=True)
    return str(archive), str(dest)


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("members, refusal", [
    # each link alone stays inside the tree by its text; on disk, the second one leads out
    ([("d/l", "..", None), ("d/l/m", "..", None), ("d/l/m/escaped.txt", None, "outside\n")], "outside the tree"),
    # a link whose target only resolves outside through an earlier link
    ([("d/l", "..", None), ("f", "d/l/../escaped.txt", None)], "points outside the tree"),
    # a repeated name: the second member would be written through the first, a symlink
    ([("f", "inside.txt", None), ("f", None, "through the link\n")], "appears twice"),
])
def test_extract_refuses_writing_outside_the_tree_through_symlinks(tmp_path, members, refusal):
    archive, dest = _zip_with(tmp_path, members)
    with pytest.raises(http.DownloadError, match=refusal):
        extract_tree(archive, dest, strip_top=False)
    assert not (tmp_path / "deep" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()


# llama_cpp=latest: which upstream is newest, asked of real HTTP servers on 127.0.0.1 (GitHub's
# API shape; a PEP 503 simple index read by pip's own client).

def serve_simple_index(http_server, monkeypatch, files):
    """A package index with llama-cpp-python's files, and pip pointed at it (and nothing else)."""
    links = "".join(f'<a href="/files/{f}">{f}</a>\n' for f in files)
    http_server.routes["/simple/llama-cpp-python/"] = ("typed", "text/html",
                                                      f"<!DOCTYPE html><html><body>\n{links}</body></html>".encode())
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", http_server.url + "/simple/")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)


def test_latest_falls_back_to_the_newest_sdist_when_the_api_fails(http_server, monkeypatch):
    from lsone.inputs.upstream import resolve_latest
    http_server.routes["/repos/ggml-org/llama.cpp/releases/latest"] = 503
    serve_simple_index(http_server, monkeypatch, [
        "llama_cpp_python-0.3.9.tar.gz", "llama_cpp_python-0.3.40.tar.gz", "llama_cpp_python-0.3.35.tar.gz",
        "llama_cpp_python-0.5.0rc1.tar.gz"])  # a pre-release
    logs = []
    resolved = resolve_latest(http_server.url, log=logs.append)
    assert resolved.mirrors == [{"type": "pip-sdist", "package": "llama-cpp-python==0.3.40",
                                 "subdir": "vendor/llama.cpp"}]
    assert resolved.rev is None and resolved.build_number is None
    assert "HTTP 503" in logs[0] and "falling back" in logs[0]
    assert logs[-1] == "latest upstream: package index: llama-cpp-python==0.3.40 (its vendored llama.cpp; " \
                       "build number unknown)"


def test_latest_refuses_a_release_that_is_not_a_build_tag(http_server, monkeypatch):
    from lsone.inputs.upstream import resolve_latest
    http_server.routes["/repos/ggml-org/llama.cpp/releases/latest"] = b'{"tag_name": "master", "tarball_url": "x"}'
    serve_simple_index(http_server, monkeypatch, ["llama_cpp_python-0.3.36.tar.gz"])
    logs = []
    assert resolve_latest(http_server.url, log=logs.append).mirrors[0]["package"] == "llama-cpp-python==0.3.36"
    assert "expected a bNNNN tag_name" in logs[0] and "'master'" in logs[0]


def test_latest_names_both_sources_when_neither_answers(http_server, monkeypatch):
    from lsone.inputs.upstream import resolve_latest
    serve_simple_index(http_server, monkeypatch, [])
    del http_server.routes["/simple/llama-cpp-python/"]  # the index has no such project: 404
    with pytest.raises(InputError) as e:
        resolve_latest(http_server.url, log=lambda m: None)
    message = str(e.value)
    assert "llama_cpp=latest" in message and "releases/latest: HTTP 404" in message
    assert "pip index versions llama-cpp-python" in message and "llama_cpp=b1234" in message
