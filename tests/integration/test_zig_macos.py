"""toolchain=zig target=macos-arm64 / macos-x86_64: the packages link, and pack.py lists their zip.

They cannot run here (no macOS). What is checked is what macOS checks before it runs one: a 64-bit
Mach-O executable for the right CPU; on arm64 (which runs nothing unsigned) signed ad hoc, with every
page hash matching the packaged file. One build per target per session (the zig_macos_build fixture).
"""

import json
import os
import subprocess
import sys
import zipfile

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "site_scons"))
from lsone.packaging.macho import (MH_EXECUTE, code_signature_range, macho_header,  # noqa: E402
                                   mismatched_pages)
from lsone.packaging.compare import zip_start  # noqa: E402
from lsone.packaging.zipembed import image_size_records  # noqa: E402

CPU = {"macos-arm64": "arm64", "macos-x86_64": "x86_64"}


def package_bytes(build):
    with open(build["package"], "rb") as f:
        return bytearray(f.read())


def test_the_package_is_a_mach_o_executable_for_its_cpu_signed_where_macos_requires_it(zig_macos_build):
    image = package_bytes(zig_macos_build)
    assert bytes(image[:4]) == b"\xcf\xfa\xed\xfe"  # MH_MAGIC_64, little-endian
    assert macho_header(image) == (CPU[zig_macos_build["target"]], MH_EXECUTE)
    signature = code_signature_range(image)
    if zig_macos_build["target"] != "macos-arm64":
        assert signature is None  # zig signs arm64 only, as Apple's ld64 does; Intel macOS runs unsigned code
        return
    assert signature, "no LC_CODE_SIGNATURE: arm64 macOS would refuse to run it"
    records = image_size_records(image[:zip_start(zig_macos_build["package"])])  # pack.py in the zip names it too
    assert records and all(at < signature[0] for at in records)  # the record is in the signed pages...
    assert mismatched_pages(image) == 0  # ...and the packager's write did not break their hashes


def test_pack_py_lists_the_zip_it_carries(zig_macos_build, tmp_path):
    with zipfile.ZipFile(zig_macos_build["package"]) as zf:
        (tmp_path / "pack.py").write_bytes(zf.read("pack.py"))
        manifest = json.loads(zf.read("manifest.json"))
    result = subprocess.run([sys.executable, "-I", "pack.py", zig_macos_build["package"], "--list"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    assert result.returncode == 0, result.stdout
    names = [line.split()[-1] for line in result.stdout.splitlines()[2:]]
    assert {".args", "manifest.json", "pack.py", "ui/index.html"} <= set(names)
    assert result.stdout.splitlines()[0] == manifest["summary"]
    # pack.py undoes the packager's record and page hashes: the executable as the build linked it
    assert f"sha256 {manifest['executable']['sha256'].split(':')[1]} as linked" in result.stdout
    assert (manifest["toolchain"]["target"], manifest["toolchain"]["cpu"]) == (zig_macos_build["target"], "portable")


def test_pack_py_repacks_it_into_the_same_bytes(zig_macos_build, tmp_path):
    with zipfile.ZipFile(zig_macos_build["package"]) as zf:
        (tmp_path / "pack.py").write_bytes(zf.read("pack.py"))
    subprocess.run([sys.executable, "-I", "pack.py", zig_macos_build["package"], "-o", "again"], cwd=tmp_path,
                   check=True, stdout=subprocess.PIPE, timeout=120)
    assert (tmp_path / "again").read_bytes() == bytes(package_bytes(zig_macos_build))
