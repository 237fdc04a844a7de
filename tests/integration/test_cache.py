"""The CacheDir: a fresh checkout with a warm cache compiles nothing; a patch byte recompiles only its files."""

import json
import os
import re
import sys
import time
import uuid
import zipfile

import pytest

from integration.conftest import run_scons
from integration.test_reproducible import clone_to


def build(checkout, cache):
    args = [a for a in ("-j2",)]
    started = time.monotonic()
    out = run_scons(*args, f"cache_dir={cache}", cwd=checkout).stdout
    return out, time.monotonic() - started


def compiled(out):
    return re.findall(r"^(?:CC|CXX) +(\S+)$", out, re.MULTILINE)


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory):
    """CI's cache when it has one (LSONE_CACHE_DIR), else one filled by a first build."""
    cache = os.environ.get("LSONE_CACHE_DIR") or str(tmp_path_factory.mktemp("scons-cache"))
    first = clone_to(str(tmp_path_factory.mktemp("first") / "checkout"))
    build(first, cache)
    return cache


@pytest.mark.slow
def test_fresh_checkout_with_warm_cache_runs_no_compiler(warm_cache, tmp_path):
    checkout = clone_to(str(tmp_path / "fresh"))
    out, seconds = build(checkout, warm_cache)
    assert compiled(out) == [], out[-3000:]
    assert "LINK " not in out
    assert len(re.findall(r"^Retrieved `build/obj/", out, re.MULTILINE)) > 100
    print(f"\nwarm-cache rebuild of a fresh checkout: {seconds:.1f} s, 0 compiles")

    # One byte in a patch: only the files it patches recompile, and the manifest names the new hash.
    patch = os.path.join(checkout, "patches", "0001-server-main-layered-args.patch")
    text = open(patch).read()
    assert "embedded, adjacent, command line" in text
    # A fresh byte each run: the shared cache must not already hold the result.
    marker = f"embedded, adjacent, command line ({uuid.uuid4().hex[:8]})"
    open(patch, "w").write(text.replace("embedded, adjacent, command line", marker))
    out, _ = build(checkout, warm_cache)
    assert compiled(out) == ["build/obj/llama.cpp/tools/server/main.cpp.o"], out[-3000:]
    with zipfile.ZipFile(os.path.join(checkout, "build", "llama-server-one")) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    sys.path.insert(0, os.path.join(checkout, "site_scons"))
    from lsone.treehash import file_sha256
    assert manifest["patches"]["0001-server-main-layered-args.patch"] == "sha256-" + file_sha256(patch)


@pytest.mark.slow
def test_scons_verify_rebuilds_and_matches(server_binary):
    out = run_scons("verify").stdout
    assert "[verify] OK: a clean rebuild gives the same bytes" in out, out[-3000:]
