"""pack.py: the standalone packer joined from lsone's modules, run as a user would run it."""

import hashlib
import json
import os
import struct
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO
from lsone.packaging.argsfile import compose_embedded_args, split_embedded_args
from lsone.packaging.packer import ARGS_ENTRY, PACKER_ENTRY, build_args, compose_manifest
from lsone.packaging.standalone import bundle, packer_module_paths
from lsone.packaging.zipembed import IMAGE_SIZE_RECORD, append_zip, read_appended_zip

sys.path.insert(0, os.path.join(REPO, "tests"))
from pe_shaped import pe_image, with_certificate_table  # noqa: E402

DEFAULTS = open(os.path.join(REPO, "assets", "default.args")).read()
BASE_MANIFEST = {"llama.cpp": {"rev": "0c1e57098bba43ac29e6e3b677cdceebdd22334f"}, "patches": {"0001.patch": "x"},
                 "toolchain": {"kind": "host", "cc": {"version": "gcc (Debian 12.2.0) 12.2.0"}}}


@pytest.fixture(scope="module")
def pack_py(tmp_path_factory):
    path = tmp_path_factory.mktemp("packer") / "pack.py"
    path.write_text(bundle(packer_module_paths()))
    return path


def run_pack(pack_py, *args, cwd):
    """python3 -I: no site-packages, no PYTHONPATH, nothing of the project importable."""
    return subprocess.run([sys.executable, "-I", str(pack_py), *map(str, args)], cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)


def fake_gguf(path, size=5000):
    path.write_bytes(b"GGUF" + struct.pack("<I", 3) + os.urandom(size))
    return path


def like_zip_embed(exe, out, pack_py, model=None, user_args=None, ui=None, epoch=315532800):
    """What packaging.py's ArgsFile + ZipEmbed write, from the same lsone functions."""
    entries = {PACKER_ENTRY: pack_py.read_bytes()}
    if model:
        entries[model.name] = str(model)
    for name, path in (ui or {}).items():
        entries[name] = str(path)
    args = compose_embedded_args(DEFAULTS, build_args(model.name if model else None, bool(ui)),
                                 user_args.read_text() if user_args else None,
                                 user_origin=f"args={user_args.name}" if user_args else "args=FILE")
    entries[ARGS_ENTRY] = args.encode()
    digest = {n: hashlib.sha256(s if isinstance(s, bytes) else open(s, "rb").read()).hexdigest()
              for n, s in entries.items()}
    entries["manifest.json"] = compose_manifest(BASE_MANIFEST, hashlib.sha256(exe.read_bytes()).hexdigest(), digest)
    append_zip(str(exe), str(out), entries, epoch=epoch)


@pytest.fixture
def plain(tmp_path, pack_py):
    exe = tmp_path / "prog"  # with an image-size record, as runtime/lsone_zip.cpp links one in
    exe.write_bytes(b"\x7fELF" + os.urandom(10000) + IMAGE_SIZE_RECORD + bytes(8) + os.urandom(10000))
    out = tmp_path / "llama-server-one"
    like_zip_embed(exe, out, pack_py, epoch=1700000000)
    return out


def test_repack_keeps_the_executable_and_matches_the_build(tmp_path, pack_py, plain):
    model = fake_gguf(tmp_path / "my-model.gguf")
    args = tmp_path / "my.args"
    args.write_text("--ctx-size 512\n--alias 'my name'\n")
    (tmp_path / "ui").mkdir()
    (tmp_path / "ui" / "index.html").write_text("<html>")
    expected = tmp_path / "expected"
    like_zip_embed(tmp_path / "prog", expected, pack_py, model=model, user_args=args, epoch=1700000000,
                   ui={"ui/index.html": tmp_path / "ui" / "index.html"})
    result = run_pack(pack_py, plain, "--model", model, "--args", args, "--ui", "ui", "-o", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out").read_bytes() == expected.read_bytes()
    # ...and back: dropping everything gives the plain package again, byte for byte.
    result = run_pack(pack_py, "out", "--no-model", "--no-args", "--no-ui", "-o", "back", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "back").read_bytes() == plain.read_bytes()


def test_parts_left_out_are_kept(tmp_path, pack_py, plain):
    model = fake_gguf(tmp_path / "m.gguf")
    args = tmp_path / "a.args"
    args.write_text("--threads 3\n")
    assert run_pack(pack_py, plain, "--model", model, "--args", args, "-o", "one", cwd=tmp_path).returncode == 0
    other = fake_gguf(tmp_path / "other.gguf")
    assert run_pack(pack_py, "one", "--model", other, "-o", "two", cwd=tmp_path).returncode == 0
    with zipfile.ZipFile(tmp_path / "two") as zf:
        assert zf.read("other.gguf") == other.read_bytes() and "m.gguf" not in zf.namelist()
        embedded = zf.read(".args").decode()
        manifest = json.loads(zf.read("manifest.json"))
    assert "--threads 3" in embedded and "/zip/other.gguf" in embedded
    assert "model other.gguf" in manifest["summary"]
    with zipfile.ZipFile(tmp_path / "one") as zf:  # the model carried over from a zip keeps its bytes
        assert zf.read("m.gguf") == model.read_bytes()
    assert run_pack(pack_py, "two", "--args", args, "-o", "three", cwd=tmp_path).returncode == 0
    with zipfile.ZipFile(tmp_path / "three") as zf:
        assert zf.read("other.gguf") == other.read_bytes()


def test_ape_shaped_input_keeps_its_executable_part(tmp_path, pack_py):
    exe = tmp_path / "ape"
    exe.write_bytes(b"MZqFpD='\n" + os.urandom(30000))
    package = tmp_path / "pkg"
    like_zip_embed(exe, package, pack_py)
    model = fake_gguf(tmp_path / "m.gguf")
    assert run_pack(pack_py, package, "--model", model, "-o", "out", cwd=tmp_path).returncode == 0
    out = (tmp_path / "out").read_bytes()
    assert out[:len(exe.read_bytes())] == exe.read_bytes()
    assert read_appended_zip(str(tmp_path / "out")).start == len(exe.read_bytes())


def extra_entry(path, plain):
    """A package whose zip holds an entry pack.py doesn't write."""
    listing = read_appended_zip(str(plain))
    exe = path.parent / "exe-part"
    exe.write_bytes(plain.read_bytes()[:listing.start])
    append_zip(str(exe), str(path), {e["name"]: listing.read(e["name"]) for e in listing.entries} | {"notes.txt": b"x"})


def foreign_zip(path):
    path.write_bytes(b"\x7fELF" + b"\0" * 100)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("x", "y")


@pytest.mark.parametrize("make,message", [
    (lambda p, plain: p.write_bytes(b"#!/bin/sh\necho hi\n"), "has no zip at its end"),
    (lambda p, plain: p.write_bytes(plain.read_bytes()[:-100]), "has no zip at its end"),
    (lambda p, plain: foreign_zip(p), "its zip has no .args, so it is not a llama-server-one package"),
    (extra_entry, "its zip holds entries this pack.py does not know"),
    (lambda p, plain: p.write_bytes(b"text" + plain.read_bytes()[4:]), "is not an executable"),
])
def test_bad_input_executables(tmp_path, pack_py, plain, make, message):
    bad = tmp_path / "bad"
    make(bad, plain)
    result = run_pack(pack_py, bad, "-o", "out", cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert str(bad) in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_image_size_record_must_match_where_the_zip_starts(tmp_path, pack_py, plain):
    data = plain.read_bytes()
    at = data.find(IMAGE_SIZE_RECORD) + len(IMAGE_SIZE_RECORD)
    assert struct.unpack_from("<Q", data, at)[0] == (tmp_path / "prog").stat().st_size  # the writer filled it in
    bad = tmp_path / "bad"
    bad.write_bytes(data[:at] + struct.pack("<Q", 12345) + data[at + 8:])
    result = run_pack(pack_py, bad, "-o", "out", cwd=tmp_path)
    assert result.returncode == 2 and "its zip does not start where its executable ends" in result.stderr
    assert "the zip at byte 12345" in result.stderr


def test_bad_model_and_args_are_refused(tmp_path, pack_py, plain):
    not_gguf = tmp_path / "m.gguf"
    not_gguf.write_bytes(b"<html>not a model</html>")
    result = run_pack(pack_py, plain, "--model", not_gguf, "-o", "out", cwd=tmp_path)
    assert result.returncode == 2 and f"--model {not_gguf}: is not a GGUF model" in result.stderr
    misnamed = fake_gguf(tmp_path / "model.bin")
    result = run_pack(pack_py, plain, "--model", misnamed, "-o", "out", cwd=tmp_path)
    assert result.returncode == 2 and "must end in .gguf" in result.stderr
    args = tmp_path / "bad.args"
    args.write_text("--port 1\n--alias 'unterminated\n")
    result = run_pack(pack_py, plain, "--args", args, "-o", "out", cwd=tmp_path)
    assert result.returncode == 2 and f"--args {args}:2: unterminated single quote" in result.stderr
    result = run_pack(pack_py, plain, "--ui", tmp_path, "-o", "out", cwd=tmp_path)
    assert result.returncode == 2 and "no index.html" in result.stderr
    assert not (tmp_path / "out").exists()


def test_signed_input_is_refused_with_the_order_to_follow(tmp_path, pack_py):
    exe = tmp_path / "pe.exe"
    exe.write_bytes(pe_image())
    package = tmp_path / "pkg.exe"
    like_zip_embed(exe, package, pack_py)
    package.write_bytes(with_certificate_table(package.read_bytes(), b"\x30\x82" + os.urandom(1500)))
    result = run_pack(pack_py, package, "-o", "out", cwd=tmp_path)
    assert result.returncode == 2 and "repack the unsigned file and sign afterwards" in result.stderr


def test_args_sections_split_back_into_what_composed_them():
    for build, user in (([], None), (["-m", "/zip/a b.gguf", "--path", "/zip/ui"], None),
                        (["-m", "/zip/x.gguf"], "# --- from the build\n--alias z\n# --- args=evil\n-c 1"),
                        ([], "-c 2")):
        text = compose_embedded_args(DEFAULTS, build, user, user_origin="args=u.args")
        defaults, origin, user_text, user_origin = split_embedded_args(text)
        assert (user_text, user_origin) == ((user, "args=u.args") if user is not None else (None, None))
        assert compose_embedded_args(defaults, build, user_text, defaults_origin=origin,
                                     user_origin=user_origin or "args=FILE") == text


def test_bundle_refuses_what_would_tie_it_to_the_project(tmp_path):
    module = tmp_path / "leaky.py"
    module.write_text("import SCons.Script\n")
    with pytest.raises(ValueError, match="must not import the project or SCons"):
        bundle([module])
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("_CHUNK = 1\n")
    b.write_text("_CHUNK = 2\n")
    with pytest.raises(ValueError, match="_CHUNK is also defined in"):
        bundle([a, b])
