import os
import shutil
import sys
import zipfile

import pytest

from lsone.maintenance.cacheprune import parse_size, prune_cache
from lsone.packaging.compare import elf_sections, first_difference
from lsone.packaging.zipembed import append_zip


def test_parse_size():
    assert parse_size("2G") == 2 << 30 and parse_size("500M") == 500 << 20 and parse_size("10") == 10
    assert parse_size("1.5KiB") == 1536
    with pytest.raises(ValueError, match="500 megs"):
        parse_size("500 megs")


def test_prune_drops_least_recently_used_first(tmp_path):
    for n, age in enumerate([300, 100, 200, 50]):  # seconds since last use
        path = tmp_path / f"{n:02X}" / f"entry{n}"
        path.parent.mkdir()
        path.write_bytes(b"x" * 1000)
        os.utime(path, (1_000_000 - age, 1_000_000 - age))
    (tmp_path / "config").write_text("prefix_len = 2\n")
    kept, removed = prune_cache(str(tmp_path), 2500)
    assert (kept, removed) == (2000, 2000)
    left = sorted(p.name for p in tmp_path.rglob("entry*"))
    assert left == ["entry1", "entry3"]  # the two most recently used
    assert (tmp_path / "config").exists()


def test_identical_files_have_no_difference(tmp_path):
    exe = sys.executable
    shutil.copy(exe, tmp_path / "a")
    shutil.copy(exe, tmp_path / "b")
    assert first_difference(str(tmp_path / "a"), str(tmp_path / "b")) is None


def test_difference_names_the_elf_section(tmp_path):
    data = bytearray(open(os.path.realpath(sys.executable), "rb").read())
    sections = elf_sections(bytes(data))
    assert ".text" in sections or ".dynsym" in sections
    target = ".rodata" if ".rodata" in sections else next(n for n, (_, b) in sections.items() if b)
    offset = sections[target][0]
    (tmp_path / "a").write_bytes(bytes(data))
    data[offset] ^= 0xFF
    (tmp_path / "b").write_bytes(bytes(data))
    assert first_difference(str(tmp_path / "a"), str(tmp_path / "b")).endswith(f"ELF section {target}")


def test_difference_names_the_zip_entry(tmp_path):
    exe = tmp_path / "exe"
    exe.write_bytes(b"\x7fELF-not-really" * 10)
    append_zip(str(exe), str(tmp_path / "a"), {"a.txt": b"same", "b.txt": b"one"})
    append_zip(str(exe), str(tmp_path / "b"), {"a.txt": b"same", "b.txt": b"two"})
    assert first_difference(str(tmp_path / "a"), str(tmp_path / "b")) == "the zips differ first in entry b.txt"
    with zipfile.ZipFile(tmp_path / "a") as zf:
        assert zf.namelist() == ["a.txt", "b.txt"]
