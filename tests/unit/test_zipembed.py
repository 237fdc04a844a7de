import hashlib
import os
import shutil
import struct
import subprocess
import zipfile

import pytest

from lsone.errors import InputError
from lsone.packaging.zipembed import GGUF_ALIGN, append_zip, check_gguf, normalize_name, read_appended_zip


def fake_gguf(path, size=1000):
    with open(path, "wb") as f:
        f.write(b"GGUF" + struct.pack("<I", 3) + os.urandom(size))
    return str(path)


def exe(tmp_path, size=12345):
    path = tmp_path / "prog"
    path.write_bytes(b"\x7fELF" + os.urandom(size))
    return str(path)


def test_entries_are_stored_aligned_sorted_and_readable(tmp_path):
    model = fake_gguf(tmp_path / "m.gguf")
    out = str(tmp_path / "out")
    offsets = append_zip(exe(tmp_path), out, {"ui/index.html": b"<html/>", ".args": b"-c 256\n",
                                              "m.gguf": model})
    assert offsets["m.gguf"][0] % GGUF_ALIGN == 0
    with zipfile.ZipFile(out) as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == [".args", "m.gguf", "ui/index.html"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
        assert zf.read("m.gguf") == open(model, "rb").read()
        assert zf.testzip() is None
    with open(out, "rb") as f:
        f.seek(offsets["m.gguf"][0])
        assert f.read(4) == b"GGUF"
    if shutil.which("unzip"):
        listing = subprocess.run(["unzip", "-l", out], stdout=subprocess.PIPE, text=True)
        assert "m.gguf" in listing.stdout and "ui/index.html" in listing.stdout


def test_same_inputs_same_bytes(tmp_path):
    model = fake_gguf(tmp_path / "m.gguf")
    program = exe(tmp_path)
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    append_zip(program, a, {"m.gguf": model, "x": b"1"}, epoch=1700000000)
    os.utime(model, (1, 1))
    append_zip(program, b, {"x": b"1", "m.gguf": model}, epoch=1700000000)
    assert open(a, "rb").read() == open(b, "rb").read()


def test_bytes_unchanged_since_the_fields_were_named(tmp_path):
    """sha256 of this output from the writer before its header fields had names (bare format strings)."""
    program, model, out = tmp_path / "prog", tmp_path / "g.gguf", str(tmp_path / "out")
    program.write_bytes(b"\x7fELF" + bytes(range(256)) * 40)
    model.write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(range(256)) * 20)
    append_zip(str(program), out, {".args": b"-c 256\n", "g.gguf": str(model), "ui/index.html": b"<html/>"},
               epoch=1700000000)
    digest = hashlib.sha256(open(out, "rb").read()).hexdigest()
    assert digest == "3f9d6efe57ad9da013d472cf13df1914468e8f084c943eede10dbdac49414e0b"
    listing = read_appended_zip(out)
    assert listing.start == program.stat().st_size
    with zipfile.ZipFile(out) as zf:
        assert [(e["name"], e["size"], e["crc32"]) for e in listing.entries] == \
            [(i.filename, i.file_size, i.CRC) for i in zf.infolist()]
    assert listing.read("g.gguf") == model.read_bytes()


def test_bad_names_and_duplicates(tmp_path):
    for bad in ("/etc/passwd", "../x", "a/../../b", ""):
        with pytest.raises(InputError):
            normalize_name(bad)
    assert normalize_name("ui//./a.js") == "ui/a.js"
    with pytest.raises(InputError, match="duplicate"):
        append_zip(exe(tmp_path), str(tmp_path / "o"), {"a/b": b"1", "a//b": b"2"})


def test_non_gguf_model_is_refused(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(InputError) as e:
        check_gguf(str(bad))
    assert "is not a GGUF model" in str(e.value) and "'GGUF'" in str(e.value)
    with pytest.raises(InputError, match="unknown GGUF version"):
        check_gguf(_versioned(tmp_path, 99))


def _versioned(tmp_path, version):
    path = tmp_path / "v.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<I", version))
    return str(path)


@pytest.mark.slow
def test_zip64_when_offsets_pass_4gib(tmp_path):
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(0x1_0000_0100)  # sparse: 4 GiB + 256 bytes of executable
    out = str(tmp_path / "out")
    append_zip(str(big), out, {"late.txt": b"after four gigabytes"})
    with zipfile.ZipFile(out) as zf:
        assert zf.read("late.txt") == b"after four gigabytes"
    listing = read_appended_zip(out)  # zip64 end records and the offset in the zip64 extra field
    assert listing.start == 0x1_0000_0100 and listing.read("late.txt") == b"after four gigabytes"
    os.remove(out)
