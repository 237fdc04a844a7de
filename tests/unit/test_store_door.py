"""One door to the store: Store.realise for pinned inputs, Store.realise_output for build results.

Fetchers only deliver to a temporary path; the store alone verifies and places. The scan below
reads every module of the build (not only lsone/) for calls that write into the store any other
way, and proves it would notice one.
"""

import ast
import hashlib
import inspect
import os

import pytest

from lsone.errors import InputError
from lsone.inputs import fetch
from lsone.inputs.pins import Pin
from lsone.inputs.store import Store
from lsone.inputs.treehash import file_digest

SITE_SCONS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          "site_scons")
STORE_MODULE = os.path.join("lsone", "inputs", "store.py")
# What places or stages an entry, or locks the store to do so: only store.py may call these.
STORE_WRITES = {"staging", "lock", "_insert_file", "_insert_tree", "_place", "_write_meta", "make_read_only",
                "insert_file", "insert_tree", "insert_output"}


def store_writes(source, filename):
    """(file:line, name) of each call or import of a store-writing name in source."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in STORE_WRITES:
                found.append((f"{filename}:{node.lineno}", name))
        elif isinstance(node, ast.ImportFrom):
            found += [(f"{filename}:{node.lineno}", a.name) for a in node.names if a.name in STORE_WRITES]
    return found


def build_modules():
    for dirpath, _dirs, files in os.walk(SITE_SCONS):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                yield os.path.relpath(path, SITE_SCONS), path


def test_the_scan_notices_a_side_door():
    side_door = "def f(store):\n    with store.staging('x') as w:\n        store.insert_tree(w, 'x', h)\n"
    assert [n for _where, n in store_writes(side_door, "x.py")] == ["staging", "insert_tree"]
    assert store_writes("from lsone.inputs.store import make_read_only\n", "y.py") == [("y.py:1", "make_read_only")]


def test_nothing_outside_store_py_writes_into_the_store():
    modules = dict(build_modules())
    assert STORE_MODULE in modules and len(modules) > 30  # the scan reads the whole build, not nothing
    found = []
    for rel, path in modules.items():
        if rel != STORE_MODULE:
            with open(path) as f:
                found += store_writes(f.read(), rel)
    assert found == []


def test_fetchers_never_see_the_store():
    """Every fetcher, and deliver (their one shape for files and trees), gets a mirror and a path."""
    for kind, fetcher in fetch.FETCHERS.items():
        assert list(inspect.signature(fetcher.fetch).parameters) == ["mirror", "dest", "log", "timeout"], kind
    assert list(inspect.signature(fetch.deliver).parameters) == ["pin", "mirror", "dest", "log", "timeout"]
    with open(fetch.__file__) as f:
        tree = ast.parse(f.read())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names} | \
        {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "store" not in imported and "Store" not in imported


def only_entries(store):
    return [n for n in os.listdir(store.root) if not n.startswith(".") and not n.endswith(".json")]


def file_digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_pin(mirror_urls, data, name="blob.bin"):
    return Pin(name, "file", file_digest_of(data), [{"type": "url", "url": u} for u in mirror_urls], size=len(data))


def test_a_bad_hash_from_a_fetcher_leaves_nothing_in_the_store(tmp_path, http_server):
    good = os.urandom(4096)
    http_server.routes["/bad.bin"] = bytes(reversed(good))  # right size, wrong bytes
    store = Store(str(tmp_path / "store"))
    with pytest.raises(InputError) as e:
        store.realise(file_pin([http_server.url + "/bad.bin"], good), log=lambda m: None)
    assert "sha256 mismatch" in str(e.value) and "/bad.bin" in str(e.value)
    assert only_entries(store) == [] and os.listdir(os.path.join(store.root, ".tmp")) == []


def test_the_next_mirror_serves_after_a_bad_one_and_only_good_bytes_are_placed(tmp_path, http_server):
    good = os.urandom(4096)
    http_server.routes["/bad.bin"] = bytes(reversed(good))
    http_server.routes["/good.bin"] = good
    store = Store(str(tmp_path / "store"))
    pin = file_pin([http_server.url + "/bad.bin", http_server.url + "/good.bin"], good)
    path = store.realise(pin, log=lambda m: None)
    assert file_digest(path) == pin.hash and only_entries(store) == [os.path.basename(os.path.dirname(path))]
    assert store.describe(path)["mirror"]["url"].endswith("/good.bin")


def test_a_new_pin_is_hashed_by_the_store_and_a_vetoed_delivery_is_not_placed(tmp_path, http_server):
    data = b"GGUF" + os.urandom(100)
    http_server.routes["/m.gguf"] = data
    store = Store(str(tmp_path / "store"))
    new = Pin("m.gguf", "file", None, [{"type": "url", "url": http_server.url + "/m.gguf"}])

    def refuse(path):
        raise InputError(path, "is not what we want")
    with pytest.raises(InputError, match="is not what we want"):
        store.realise(new, log=lambda m: None, vet=refuse)
    assert only_entries(store) == []
    path = store.realise(new, log=lambda m: None, vet=lambda path: None)
    described = store.describe(path)
    assert (described["hash"], described["size"]) == (file_digest_of(data), len(data))


def test_a_failed_build_result_leaves_nothing_and_a_good_one_is_stored_once(tmp_path):
    store = Store(str(tmp_path / "store"))
    key = "sha256:" + "2" * 64

    def broken(work):
        os.makedirs(os.path.join(work, "out"))
        raise InputError("ui=upstream", "npm run build failed")
    with pytest.raises(InputError):
        store.realise_output("demo-ui", key, broken, log=lambda m: None)
    assert only_entries(store) == [] and os.listdir(os.path.join(store.root, ".tmp")) == []
    builds = []

    def build(work):
        builds.append(work)
        out = os.path.join(work, "out")
        os.makedirs(out)
        with open(os.path.join(out, "index.html"), "w") as f:
            f.write("<html></html>")
        return out
    first = store.realise_output("demo-ui", key, build, log=lambda m: None)
    assert store.realise_output("demo-ui", key, build, log=lambda m: None) == first and len(builds) == 1
    assert store.describe(first)["inputs"] == key and store.verify(log=lambda m: None) == []
