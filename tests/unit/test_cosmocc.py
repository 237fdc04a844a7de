"""cosmocc as a pinned input: fetched over real HTTP (127.0.0.1), verified, unpacked, or taken
from a local archive or directory. The archive is a small stand-in with cosmocc's layout."""

import hashlib
import io
import json
import os
import stat
import struct
import zipfile

import pytest

from lsone.errors import InputError
from lsone.inputs.cosmocc import EXECUTABLES, REQUIRED_FILES, available_locally, load_pin, resolve_cosmocc
from lsone.inputs.pins import Pin
from lsone.inputs.store import Store
from lsone.packaging.zipembed import GGUF_ALIGN, append_zip

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def standin_archive():
    """A zip laid out like cosmocc-4.0.2.zip (no top directory, exec bits, a symlink)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in REQUIRED_FILES + ("bin/x86_64-linux-cosmo-gcc", "include/stdio.h"):
            info = zipfile.ZipInfo(name)
            executable = name.startswith("bin/") and not name.endswith((".elf", ".c"))
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            zf.writestr(info, f"stand-in {name}\n")
        link = zipfile.ZipInfo("bin/x86_64-unknown-cosmo-ar")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "x86_64-linux-cosmo-gcc")
    return buf.getvalue()


def pin_for(data, urls):
    return Pin("cosmocc", "file", "sha256:" + hashlib.sha256(data).hexdigest(),
               [{"type": "url", "url": u} for u in urls], size=len(data), file="cosmocc-4.0.2.zip",
               meta={"version": "4.0.2"})


def quiet(_message):
    pass


def test_the_lock_pins_4_0_2_with_both_public_mirrors():
    pin = load_pin(os.path.join(REPO, "toolchains.lock"))
    assert pin.version == "4.0.2" and pin.size == 441763966
    assert pin.hash == "sha256:85b8c37a406d862e656ad4ec14be9f6ce474c1b436b9615e91a55208aced3f44"
    assert pin.mirror_urls() == ["https://github.com/jart/cosmopolitan/releases/download/4.0.2/cosmocc-4.0.2.zip",
                                 "https://cosmo.zip/pub/cosmocc/cosmocc-4.0.2.zip"]


def test_fetched_archive_is_verified_unpacked_and_stored(tmp_path, http_server):
    data = standin_archive()
    http_server.routes["/cosmocc-4.0.2.zip"] = data
    store = Store(str(tmp_path / "store"))
    pin = pin_for(data, [http_server.url + "/missing.zip", http_server.url + "/cosmocc-4.0.2.zip"])
    assert not available_locally("", pin, store)
    toolchain = resolve_cosmocc("", pin, store, log=quiet)
    assert os.access(os.path.join(toolchain.root, "bin", "cosmoc++"), os.X_OK)
    assert not os.access(os.path.join(toolchain.root, "bin", "ape-m1.c"), os.X_OK)
    assert os.readlink(os.path.join(toolchain.root, "bin", "x86_64-unknown-cosmo-ar")) == "x86_64-linux-cosmo-gcc"
    assert toolchain.identity["archive"] == pin.hash and toolchain.identity["treeHash"].startswith("sha256:")
    assert "root" not in json.dumps(toolchain.identity) and str(tmp_path) not in json.dumps(toolchain.identity)
    assert available_locally("", pin, store)
    assert store.verify(log=quiet) == []
    # second time: straight from the store, no request
    requests = len(http_server.requests)
    assert resolve_cosmocc("", pin, store, log=quiet).root == toolchain.root
    assert len(http_server.requests) == requests


def test_wrong_hash_is_refused_and_nothing_enters_the_store(tmp_path, http_server):
    data = standin_archive()
    tampered = bytearray(data)
    tampered[len(data) // 2] ^= 0xFF  # same size, one byte different
    http_server.routes["/cosmocc-4.0.2.zip"] = bytes(tampered)
    store = Store(str(tmp_path / "store"))
    pin = pin_for(data, [http_server.url + "/cosmocc-4.0.2.zip"])
    with pytest.raises(InputError) as e:
        resolve_cosmocc("", pin, store, log=quiet)
    assert pin.hash in str(e.value) and "cosmocc=" in str(e.value)
    assert [n for n in os.listdir(store.root) if not n.startswith(".")] == []


def test_unreachable_mirrors_name_every_mirror_and_the_local_escape(tmp_path, http_server):
    data = standin_archive()
    pin = pin_for(data, [http_server.url + "/gone.zip", "https://cosmo.invalid/cosmocc-4.0.2.zip"])
    with pytest.raises(InputError) as e:
        resolve_cosmocc("", pin, Store(str(tmp_path / "store")), log=quiet)
    message = str(e.value)
    assert http_server.url + "/gone.zip" in message and "HTTP 404" in message
    assert "https://cosmo.invalid/cosmocc-4.0.2.zip" in message
    assert "cosmocc=/path/to/cosmocc-4.0.2.zip" in message and "toolchain=host" in message


def test_offline_names_the_toolchain(tmp_path):
    pin = pin_for(standin_archive(), ["https://example.invalid/c.zip"])
    with pytest.raises(InputError, match="offline=1 forbids fetching"):
        resolve_cosmocc("", pin, Store(str(tmp_path / "store")), offline=True, log=quiet)


def test_local_archive_is_checked_by_sha256(tmp_path):
    data = standin_archive()
    pin = pin_for(data, ["https://example.invalid/c.zip"])
    store = Store(str(tmp_path / "store"))
    bad = tmp_path / "other.zip"
    tampered = bytearray(data)
    tampered[len(data) // 2] ^= 0xFF  # same size, other bytes: only the hash can tell
    bad.write_bytes(bytes(tampered))
    with pytest.raises(InputError) as e:
        resolve_cosmocc(str(bad), pin, store, log=quiet)
    assert f"cosmocc={bad}" in str(e.value) and pin.hash in str(e.value) and "found:    sha256:" in str(e.value)
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(data[:100])
    with pytest.raises(InputError, match="100 bytes .shorter: an interrupted download"):
        resolve_cosmocc(str(truncated), pin, store, log=quiet)
    good = tmp_path / "cosmocc-4.0.2.zip"
    good.write_bytes(data)
    toolchain = resolve_cosmocc(str(good), pin, store, log=quiet)
    assert toolchain.root.startswith(store.root) and toolchain.identity["archive"] == pin.hash
    assert available_locally("", pin, store)  # later builds need no cosmocc= any more


def test_directory_is_checked_for_the_layout_and_its_tree_hash_recorded(tmp_path):
    pin = pin_for(standin_archive(), ["https://example.invalid/c.zip"])
    store = Store(str(tmp_path / "store"))
    root = tmp_path / "cosmocc"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "cosmocc").write_text("#!/bin/sh\n")
    with pytest.raises(InputError) as e:
        resolve_cosmocc(str(root), pin, store, log=quiet)
    assert "missing bin/cosmoc++" in str(e.value)
    for name in REQUIRED_FILES:
        os.makedirs(os.path.dirname(root / name), exist_ok=True)
        (root / name).write_text("x\n")
    with pytest.raises(InputError, match="execute bit"):
        resolve_cosmocc(str(root), pin, store, log=quiet)
    for name in EXECUTABLES:
        os.chmod(root / name, 0o755)
    logged = []
    first = resolve_cosmocc(str(root), pin, store, log=logged.append)
    again = resolve_cosmocc(str(root), pin, store, log=logged.append)
    assert first.identity == again.identity and first.identity["treeHash"].startswith("sha256:")
    assert sum("hashing the toolchain directory" in m for m in logged) == 1  # cached by size and mtime
    (root / "bin" / "ape-m1.c").write_text("changed\n")
    assert resolve_cosmocc(str(root), pin, store, log=quiet).identity["treeHash"] != first.identity["treeHash"]
    with pytest.raises(InputError, match="no such file or directory"):
        resolve_cosmocc(str(tmp_path / "nowhere"), pin, store, log=quiet)


def test_a_partial_unpack_is_refused_up_front_not_mid_build(tmp_path):
    """What the 4.0.2 driver scripts run besides the compilers (mktemper, fixupobj, pecheck, the
    per-arch g++ and ar) and GCC's libgomp.spec (read for -fopenmp) are part of the layout."""
    pin = pin_for(standin_archive(), ["https://example.invalid/c.zip"])
    root = tmp_path / "cosmocc"
    for name in REQUIRED_FILES:
        os.makedirs(os.path.dirname(root / name), exist_ok=True)
        (root / name).write_text("x\n")
        os.chmod(root / name, 0o755)
    for gone in ("bin/mktemper", "bin/aarch64-linux-cosmo-ar", "lib/gcc/libgomp.spec"):
        os.remove(root / gone)
    with pytest.raises(InputError) as e:
        resolve_cosmocc(str(root), pin, Store(str(tmp_path / "store")), log=quiet)
    assert "missing bin/mktemper, bin/aarch64-linux-cosmo-ar, lib/gcc/libgomp.spec" in str(e.value)
    for name in ("bin/mktemper", "bin/aarch64-linux-cosmo-ar"):
        (root / name).write_text("x\n")
    (root / "lib" / "gcc" / "libgomp.spec").write_text("x\n")
    with pytest.raises(InputError, match="execute bit") as e:
        resolve_cosmocc(str(root), pin, Store(str(tmp_path / "store")), log=quiet)
    assert "bin/mktemper, bin/aarch64-linux-cosmo-ar" in str(e.value)


def test_zip_offsets_are_absolute_after_an_ape_prefix(tmp_path):
    """Cosmo's /zip and our reader take offsets from the start of the file, APE header included."""
    ape = tmp_path / "llama-server"
    ape.write_bytes(b"MZqFpD='\n\n" + os.urandom(70000))
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + struct.pack("<I", 3) + os.urandom(5000))
    out = tmp_path / "packaged"
    append_zip(str(ape), str(out), {".args": b"-c 256\n", "m.gguf": str(model)})
    data = out.read_bytes()
    assert data.startswith(b"MZqFpD='")
    with zipfile.ZipFile(out) as zf:
        for info in zf.infolist():
            assert data[info.header_offset:info.header_offset + 4] == b"PK\x03\x04"  # absolute, not relative
            name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
            start = info.header_offset + 30 + name_len + extra_len
            assert data[start:start + info.file_size] == zf.read(info)
            if info.filename == "m.gguf":
                assert start % GGUF_ALIGN == 0


def test_an_ape_is_started_through_sh(tmp_path):
    from lsone.packaging.ape import launch_command
    ape = tmp_path / "ape"
    ape.write_bytes(b"MZqFpD='\n\necho hi\n")
    elf = tmp_path / "elf"
    elf.write_bytes(b"\x7fELF" + b"\0" * 60)
    assert launch_command(str(ape)) == ["sh", str(ape)] and launch_command(str(elf)) == [str(elf)]


def test_a_broken_lock_is_named_not_a_traceback(tmp_path):
    lock = tmp_path / "toolchains.lock"
    lock.write_text(json.dumps({"version": 2, "toolchains": {"other": {"kind": "file", "file": "o.zip",
                                "hash": "sha256:" + "0" * 64, "size": 1, "mirrors": [{"type": "url", "url": "x"}]}}}))
    with pytest.raises(InputError, match="no 'cosmocc' entry"):
        load_pin(str(lock))
    lock.write_text(json.dumps({"version": 2, "toolchains": {"cosmocc": {"kind": "file", "file": "c.zip",
                                "hash": "sha256:" + "0" * 64, "size": "big", "mirrors": []}}}))
    with pytest.raises(InputError, match="integer size"):
        load_pin(str(lock))


def test_a_local_archive_is_hashed_once_until_it_changes(tmp_path):
    data = standin_archive()
    pin = pin_for(data, ["https://example.invalid/c.zip"])
    store = Store(str(tmp_path / "store"))
    archive = tmp_path / "cosmocc-4.0.2.zip"
    archive.write_bytes(data)
    logged = []
    resolve_cosmocc(str(archive), pin, store, log=logged.append)
    resolve_cosmocc(str(archive), pin, store, log=logged.append)
    assert sum("hashing the archive" in m for m in logged) == 1
    archive.write_bytes(data + b"\0")  # replaced by something else: refused
    with pytest.raises(InputError, match="is not the pinned"):
        resolve_cosmocc(str(archive), pin, store, log=logged.append)


def test_an_unpacked_entry_without_metadata_says_to_delete_it(tmp_path, http_server):
    data = standin_archive()
    http_server.routes["/c.zip"] = data
    store = Store(str(tmp_path / "store"))
    pin = pin_for(data, [http_server.url + "/c.zip"])
    root = resolve_cosmocc("", pin, store, log=quiet).root
    os.remove(root + ".json")
    with pytest.raises(InputError, match="delete"):
        resolve_cosmocc("", pin, store, log=quiet)
