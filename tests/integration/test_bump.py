"""`scons bump`: move the pin to a new tree, refresh patches, keep the lock on failure."""

import io
import json
import os
import platform
import shutil
import subprocess
import tarfile

import pytest

from conftest import REPO
from lsone.inputs.pins import Pin, load_lock, write_lock
from lsone.inputs.store import Store
from lsone.inputs.treehash import tree_hash
from lsone.inputs.upstream import GITHUB_ARCHIVE
from lsone.maintenance.bump import bump, mirrors_for

PATCHED_FILE = "tools/server/server.cpp"


def load_sources_lock(path):
    return load_lock(path, "sources")


@pytest.fixture(scope="module")
def pinned_tree():
    pin = load_sources_lock(os.path.join(REPO, "sources.lock"))["llama.cpp"]
    return pin, Store(os.environ.get("LSONE_STORE")).realise(pin, log=lambda m: None)


@pytest.fixture
def workspace(tmp_path, pinned_tree):
    """A repo with the real lock and a store that already holds the pinned tree."""
    pin, tree = pinned_tree
    repo = tmp_path / "repo"
    (repo / "patches").mkdir(parents=True)
    shutil.copy(os.path.join(REPO, "sources.lock"), repo / "sources.lock")
    store = Store(str(tmp_path / "store"))
    os.makedirs(store.root)
    shutil.copytree(tree, store.path_for(pin.name, pin.hash))
    return repo, store, tree


def one_line_patch(line_no, old, new, lines):
    """A one-line patch to PATCHED_FILE at line_no, with 3 lines of context."""
    ctx_before = lines[line_no - 4:line_no - 1]
    ctx_after = lines[line_no:line_no + 3]
    body = [f"--- a/{PATCHED_FILE}\n", f"+++ b/{PATCHED_FILE}\n",
            f"@@ -{line_no - 3},7 +{line_no - 3},7 @@\n"]
    body += [" " + x for x in ctx_before] + ["-" + old] + ["+" + new] + [" " + x for x in ctx_after]
    return "".join(body)


def serve_tree(http_server, tree, edit=None, name="new.tar.gz"):
    """Serve tree (optionally edited: {relpath: bytes or None}) as a GitHub-style archive."""
    edit = edit or {}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tf:
        for dirpath, _dirs, files in os.walk(tree):
            for f in files:
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, tree)
                data = edit.get(rel, open(path, "rb").read())
                if data is None:
                    continue
                info = tarfile.TarInfo(f"llama.cpp-new/{rel}")
                info.size, info.mode = len(data), os.stat(path).st_mode & 0o755
                tf.addfile(info, io.BytesIO(data))
        for rel, data in edit.items():
            if data is not None and not os.path.exists(os.path.join(tree, rel)):
                info = tarfile.TarInfo(f"llama.cpp-new/{rel}")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    http_server.routes["/" + name] = buf.getvalue()
    return f"url:{http_server.url}/{name}"


def run(repo, ref, store):
    logs = []
    code = bump(str(repo), ref, store, platform.machine(), log=logs.append)
    return code, "\n".join(logs)


def test_offset_patch_is_regenerated_and_lock_updated(workspace, http_server):
    repo, store, tree = workspace
    lines = open(os.path.join(tree, PATCHED_FILE)).read().splitlines(True)
    target = next(i for i, x in enumerate(lines, 1) if i > 10 and x.strip() and len(x.strip()) > 10)
    patch = repo / "patches" / "0001-demo.patch"
    patch.write_text(one_line_patch(target, lines[target - 1], "// demo\n", lines))
    # Upstream inserts two lines at the top: our hunk now applies with an offset.
    shifted = ("// upstream line 1\n// upstream line 2\n" + "".join(lines)).encode()
    ref = serve_tree(http_server, tree, {PATCHED_FILE: shifted})
    code, log = run(repo, ref, store)
    assert code == 0, log
    assert "0001-demo.patch: offset" in log and "regenerated patches/0001-demo.patch" in log
    assert f"{PATCHED_FILE} (changed, +2 -0)" in log
    report = (repo / "build" / "bump" / "report.md").read_text()
    assert "`0001-demo.patch`: refreshed (applied with an offset; regenerated)" in report
    assert f"`{PATCHED_FILE} (changed, +2 -0)`" in report and "sources.lock updated" in report
    new_pin = load_sources_lock(str(repo / "sources.lock"))["llama.cpp"]
    assert new_pin.hash == tree_hash(store.path_for("llama.cpp", new_pin.hash), new_pin.include)
    assert new_pin.hash != load_sources_lock(os.path.join(REPO, "sources.lock"))["llama.cpp"].hash
    assert f"@@ -{target - 1}," in patch.read_text()  # re-anchored at the new position


def test_failed_patch_keeps_lock_and_reject(workspace, http_server):
    repo, store, tree = workspace
    lines = open(os.path.join(tree, PATCHED_FILE)).read().splitlines(True)
    target = next(i for i, x in enumerate(lines, 1) if i > 10 and x.strip() and len(x.strip()) > 10)
    (repo / "patches" / "0001-demo.patch").write_text(one_line_patch(target, lines[target - 1], "// demo\n", lines))
    rewritten = "".join(x.upper() for x in lines).encode()
    ref = serve_tree(http_server, tree, {PATCHED_FILE: rewritten})
    before = (repo / "sources.lock").read_bytes()
    code, log = run(repo, ref, store)
    assert code == 1
    assert f"FAILED 0001-demo.patch: {PATCHED_FILE} hunk #1" in log
    assert "sources.lock left unchanged" in log
    assert (repo / "sources.lock").read_bytes() == before
    assert os.path.getsize(repo / "build" / "bump" / "rejects" / "0001-demo.patch.rej") > 0
    report = (repo / "build" / "bump" / "report.md").read_text()
    assert report.startswith("# llama.cpp bump: failed: 1 patch(es) do not apply")
    assert f"`0001-demo.patch`: failing ({PATCHED_FILE} hunk #1 at line" in report


def test_removed_cpu_source_gives_the_fix(workspace, http_server):
    repo, store, tree = workspace
    before = (repo / "sources.lock").read_bytes()
    ref = serve_tree(http_server, tree, {"ggml/src/ggml-cpu/vec.cpp": None})
    code, log = run(repo, ref, store)
    assert code == 1
    assert "upstream removed or renamed CPU backend sources" in log and "ggml-cpu/vec.cpp" in log
    assert "site_scons/lsone/inputs/sourcelists.py" in log
    assert (repo / "sources.lock").read_bytes() == before


def test_added_server_source_is_picked_up_from_cmake(workspace, http_server):
    repo, store, tree = workspace
    cmake = open(os.path.join(tree, "tools/server/CMakeLists.txt")).read()
    cmake = cmake.replace("    server-schema.cpp\n", "    server-schema.cpp\n    server-extra.cpp\n", 1)
    ref = serve_tree(http_server, tree, {"tools/server/CMakeLists.txt": cmake.encode(),
                                         "tools/server/server-extra.cpp": b"int extra;\n"})
    code, log = run(repo, ref, store)
    assert code == 0, log
    assert "server-context: +tools/server/server-extra.cpp" in log


def serve_release(http_server, tag, sha):
    """GitHub's releases and commits API, as much of it as the bump reads, on 127.0.0.1."""
    http_server.routes["/repos/ggml-org/llama.cpp/releases/latest"] = json.dumps(
        {"tag_name": tag, "tarball_url": f"{http_server.url}/tarball/{tag}", "target_commitish": "master"}).encode()
    http_server.routes[f"/repos/ggml-org/llama.cpp/commits/{tag}"] = json.dumps({"sha": sha}).encode()


def test_latest_takes_the_newest_github_release_and_records_its_build_number(workspace, http_server):
    repo, store, tree = workspace
    sha = "0123456789abcdef" * 2 + "01234567"
    serve_release(http_server, "b9999", sha)
    licence = open(os.path.join(tree, "LICENSE"), "rb").read() + b"\n(released as b9999)\n"
    serve_tree(http_server, tree, {"LICENSE": licence}, name="tarball/b9999")
    logs = []
    code = bump(str(repo), "latest", store, platform.machine(), log=logs.append, github_api=http_server.url)
    log = "\n".join(logs)
    assert code == 0, log
    assert f"latest upstream: GitHub release b9999 (commit {sha})" in log
    pin = load_sources_lock(str(repo / "sources.lock"))["llama.cpp"]
    assert pin.rev == sha and pin.meta["buildNumber"] == 9999
    assert pin.mirrors == [{"type": "url", "url": GITHUB_ARCHIVE.format(ref=sha)}]  # not the API's tarball URL
    assert pin.hash == tree_hash(store.path_for("llama.cpp", pin.hash), pin.include)
    report = (repo / "build" / "bump" / "report.md").read_text()
    assert "resolved to GitHub release b9999" in report and f"`{sha}` (build b9999)" in report
    # Bumping again finds the same release: nothing changes, and the report says so.
    before = (repo / "sources.lock").read_bytes()
    assert bump(str(repo), "latest", store, platform.machine(), log=logs.append, github_api=http_server.url) == 0
    assert (repo / "sources.lock").read_bytes() == before
    assert "already up to date" in (repo / "build" / "bump" / "report.md").read_text()


@pytest.mark.slow
def test_bump_from_older_sdist_to_the_pinned_one(workspace):
    """Real package index: pin 0.3.35, then bump back to 0.3.36 and land on the repository's hash."""
    repo, store, tree = workspace
    (repo / "patches" / "0001-license-note.patch").write_text(
        "--- a/LICENSE\n+++ b/LICENSE\n@@ -1,2 +1,3 @@\n MIT License\n+(as patched by llama-server-one)\n \n")
    # Pin the older release by hand (the bump would refuse it: it predates vendor/hash, which
    # this build's source lists need), then bump forward to the release the repository pins.
    pins = load_sources_lock(str(repo / "sources.lock"))
    current = pins["llama.cpp"]
    older_mirrors, _ = mirrors_for("pip:llama-cpp-python==0.3.35")
    fetched = store.describe(store.realise(Pin("llama.cpp", "tree", None, older_mirrors, include=current.include),
                                           log=lambda m: None))
    older_hash, facts = fetched["hash"], fetched["facts"]
    pins["llama.cpp"] = Pin("llama.cpp", "tree", older_hash, older_mirrors, include=current.include,
                            meta={"rev": facts["commit"]})
    write_lock(str(repo / "sources.lock"), "sources", pins)
    older = load_sources_lock(str(repo / "sources.lock"))["llama.cpp"]
    code, log = run(repo, "pip:llama-cpp-python==0.3.36", store)
    assert code == 0, log
    pinned = load_sources_lock(os.path.join(REPO, "sources.lock"))["llama.cpp"]
    bumped = load_sources_lock(str(repo / "sources.lock"))["llama.cpp"]
    assert older.hash != pinned.hash and older.rev != pinned.rev
    assert "0001-license-note.patch: clean" in log
    assert (bumped.rev, bumped.hash) == (pinned.rev, pinned.hash)
    assert "buildNumber" not in bumped.meta  # an sdist does not say it: unknown, not 0
    assert bumped.mirrors[0]["url"].endswith(pinned.rev + ".tar.gz")


def test_an_unknown_build_number_shows_as_unknown_not_b0(tiny_model, tmp_path):
    """A bump that cannot know upstream's build number (a commit, a URL, an sdist) leaves it out of
    sources.lock; --version and the API then say `unknown` (upstream would show b0). The pinned
    number itself is checked on the shared build (test_server.py). Built in a copy of the checkout;
    with the tests' shared CacheDir only build-info compiles again."""
    from integration.conftest import RunningServer, copy_checkout, run_scons
    checkout = copy_checkout(tmp_path / "checkout")
    lock = os.path.join(checkout, "sources.lock")
    pins = load_sources_lock(lock)
    pin = pins["llama.cpp"]
    pins["llama.cpp"] = Pin(pin.name, "tree", pin.hash, pin.mirrors, include=pin.include,
                            meta={k: v for k, v in pin.meta.items() if k != "buildNumber"})
    write_lock(lock, "sources", pins)
    run_scons("ui=none", cwd=checkout)
    exe = os.path.join(checkout, "build", "llama-server-one")
    version = subprocess.run([exe, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
    assert f"(build unknown, commit {pin.rev[:7]})" in version
    server = RunningServer(exe, ["-m", tiny_model, "-c", "256", "-t", "2"], tmp_path / "server.log")
    try:
        server.wait_healthy()
        status, body = server.request("POST", "/v1/chat/completions",
                                      {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
    finally:
        server.stop()
    assert status == 200 and body["system_fingerprint"] == f"unknown-{pin.rev[:7]}"


def test_scons_bump_latest_says_what_it_resolved(workspace, http_server, tmp_path):
    """The command line: llama_cpp=latest with github_api= pointing at the local server."""
    from integration.conftest import copy_checkout, run_scons
    _repo, store, tree = workspace
    sha = "fedcba9876543210" * 2 + "fedcba98"
    serve_release(http_server, "b10001", sha)
    serve_tree(http_server, tree, {"LICENSE": b"changed upstream\n"}, name="tarball/b10001")
    checkout = copy_checkout(tmp_path / "checkout")
    out = run_scons("bump", "llama_cpp=latest", f"github_api={http_server.url}", f"store={store.root}",
                    cwd=checkout).stdout
    assert f"[bump] latest upstream: GitHub release b10001 (commit {sha})" in out
    assert "[bump] report: " + os.path.join(checkout, "build", "bump", "report.md") in out
    pin = load_sources_lock(os.path.join(checkout, "sources.lock"))["llama.cpp"]
    assert (pin.rev, pin.meta["buildNumber"]) == (sha, 10001)
