"""A Mach-O's ad-hoc signature through packaging: the packager's record write keeps the page hashes
true, and pack.py recovers the executable as linked. (The zig-built packages: test_zig_macos.py.)"""

import hashlib
import os
import struct
import subprocess
import sys

from conftest import REPO
from lsone.packaging.argsfile import compose_embedded_args
from lsone.packaging.macho import MH_EXECUTE, code_signature_range, macho_header, mismatched_pages
from lsone.packaging.standalone import bundle, packer_module_paths
from lsone.packaging.zipembed import IMAGE_SIZE_RECORD, append_zip

PAGE = 4096


def signed_macho(pages=3):
    """A minimal arm64 MH_EXECUTE: an image-size record on page 1, then an ad-hoc SHA-256 signature
    laid out as Apple's (big-endian SuperBlob holding one CodeDirectory, one hash per page)."""
    code_limit = pages * PAGE
    slots, directory_size = pages, 44 + pages * 32
    header = struct.pack("<IiiIIIII", 0xFEEDFACF, 0x0100000C, 0, MH_EXECUTE, 1, 16, 0, 0)
    body = bytearray(header + struct.pack("<IIII", 0x1D, 16, code_limit, 12 + 8 + directory_size))
    body += bytes(code_limit - len(body))
    body[PAGE + 100:PAGE + 100 + len(IMAGE_SIZE_RECORD)] = IMAGE_SIZE_RECORD  # 8 zero bytes follow
    hashes = b"".join(hashlib.sha256(bytes(body[n * PAGE:(n + 1) * PAGE])).digest() for n in range(slots))
    directory = struct.pack(">IIIIIIIIIBBBBI", 0xFADE0C02, directory_size, 0x20001, 2, 44, 0, 0, slots, code_limit,
                            32, 2, 0, 12, 0) + hashes
    return bytes(body) + struct.pack(">IIIII", 0xFADE0CC0, 20 + directory_size, 1, 0, 20) + directory


def test_packaging_keeps_a_mach_os_page_hashes_true_and_pack_py_recovers_it_as_linked(tmp_path):
    exe = tmp_path / "exe"
    exe.write_bytes(signed_macho())
    assert macho_header(exe.read_bytes()) == ("arm64", MH_EXECUTE) and mismatched_pages(exe.read_bytes()) == 0
    manifest = b'{"summary": "synthetic", "toolchain": {}}'
    args = compose_embedded_args(open(os.path.join(REPO, "assets", "default.args")).read(), [], None)
    append_zip(str(exe), str(tmp_path / "packaged"), {".args": args.encode(), "manifest.json": manifest})
    packaged = (tmp_path / "packaged").read_bytes()
    start = code_signature_range(packaged)[0]
    assert packaged[PAGE:2 * PAGE] != exe.read_bytes()[PAGE:2 * PAGE]  # the record was written...
    assert packaged[start:start + 200] != exe.read_bytes()[start:start + 200]  # ...and its page's hash too
    assert mismatched_pages(packaged) == 0
    (tmp_path / "pack.py").write_text(bundle(packer_module_paths()))
    listed = subprocess.run([sys.executable, "-I", "pack.py", "packaged", "--list"], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert listed.returncode == 0, listed.stdout
    assert f"sha256 {hashlib.sha256(exe.read_bytes()).hexdigest()} as linked" in listed.stdout
    assert listed.stdout.splitlines()[0] == "synthetic" and listed.stdout.split()[-1] == "manifest.json"
