import json
import os

import pytest

from conftest import REPO
from lsone.errors import InputError
from lsone.inputs.pins import load_lock, write_lock


def write(tmp_path, data):
    path = tmp_path / "sources.lock"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def good():
    with open(os.path.join(REPO, "sources.lock")) as f:
        return json.load(f)


def load_sources_lock(path):
    return load_lock(path, "sources")


def test_repository_lock_pins_the_commit():
    pins = load_sources_lock(os.path.join(REPO, "sources.lock"))
    pin = pins["llama.cpp"]
    assert pin.rev == "0c1e57098bba43ac29e6e3b677cdceebdd22334f"
    assert [m["type"] for m in pin.mirrors] == ["url", "pip-sdist"]
    assert pin.mirrors[0]["url"].startswith("https://github.com/ggml-org/llama.cpp/archive/" + pin.rev)
    assert pin.mirrors[1]["package"] == "llama-cpp-python==0.3.36"


def test_round_trip(tmp_path):
    path = write(tmp_path, good())
    pins = load_sources_lock(path)
    write_lock(path, "sources", pins)
    assert load_sources_lock(path)["llama.cpp"].to_json() == pins["llama.cpp"].to_json()


def test_invalid_json_names_line(tmp_path):
    with pytest.raises(InputError, match="line 1"):
        load_sources_lock(write(tmp_path, "{nope"))


def test_malformed_hash(tmp_path):
    data = good()
    data["sources"]["llama.cpp"]["hash"] = "md5-abc"
    with pytest.raises(InputError) as e:
        load_sources_lock(write(tmp_path, data))
    assert "expected: sha256:<64 hex digits>" in str(e.value) and "md5-abc" in str(e.value)


def test_unknown_mirror_type(tmp_path):
    data = good()
    data["sources"]["llama.cpp"]["mirrors"].append({"type": "ftp"})
    with pytest.raises(InputError, match="unknown mirror type"):
        load_sources_lock(write(tmp_path, data))


def test_escaping_include_rejected(tmp_path):
    data = good()
    data["sources"]["llama.cpp"]["include"] = ["../etc/"]
    with pytest.raises(InputError, match="relative path"):
        load_sources_lock(write(tmp_path, data))


def test_wrong_version(tmp_path):
    data = good()
    data["version"] = 9
    with pytest.raises(InputError, match="unsupported lock format"):
        load_sources_lock(write(tmp_path, data))


@pytest.mark.parametrize("lock, collection", [("sources.lock", "sources"), ("models.lock", "models"),
                                              ("toolchains.lock", "toolchains")])
def test_every_lock_has_the_one_schema_and_round_trips(tmp_path, lock, collection):
    path = os.path.join(REPO, lock)
    pins = load_lock(path, collection)
    assert pins and all(p.kind in ("file", "tree") and p.hash.startswith("sha256:") for p in pins.values())
    copy = str(tmp_path / lock)
    write_lock(copy, collection, pins)
    assert open(copy).read() == open(path).read()  # the writer is what wrote the repository's locks


def test_a_file_pin_needs_a_size_and_meta_holds_the_facts(tmp_path):
    entry = {"kind": "file", "hash": "sha256:" + "0" * 64, "mirrors": [{"type": "url", "url": "https://x/y"}]}
    path = write(tmp_path, {"version": 2, "sources": {"f": entry}})
    with pytest.raises(InputError, match="a file pin needs an integer size"):
        load_sources_lock(path)
    path = write(tmp_path, {"version": 2, "sources": {"f": dict(entry, size=1, license="MIT")}})
    with pytest.raises(InputError, match="unknown key.s. license") as e:
        load_sources_lock(path)
    assert "belong under 'meta'" in str(e.value)
