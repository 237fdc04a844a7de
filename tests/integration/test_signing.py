"""Authenticode signing appends a certificate after our zip: the runtime's zip reader must still find it.

A real APE can't be built here (no cosmocc), so the file is a minimal PE32+ (an APE is a
PE to Windows and to signing tools) with our zip appended, signed by Debian's osslsigncode
with a self-signed certificate made by openssl for the test.
"""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO
from integration.test_runtime_parsers import drivers, zip_dump  # noqa: F401 (a fixture)
from lsone.packaging.zipembed import append_zip

sys.path.insert(0, os.path.join(REPO, "tests"))
from pe_shaped import certificate_table, pe_image  # noqa: E402


CHECKSUM = (64 + 24 + 64, 64 + 24 + 68)  # PE32+ optional header field offsets in pe_image()
SECURITY_DIRECTORY = (64 + 24 + 112 + 4 * 8, 64 + 24 + 112 + 5 * 8)


def tool(name):
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed (Debian: apt-get install {name}; ./test installs it)")
    return path


@pytest.fixture(scope="module")
def test_certificate(tmp_path_factory):
    home = tmp_path_factory.mktemp("cert")
    subprocess.run([tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=llama-server-one test signer", "-keyout", str(home / "key.pem"),
                    "-out", str(home / "cert.pem")], check=True, capture_output=True)
    return home / "cert.pem", home / "key.pem"


def sign(unsigned, signed, certificate):
    cert, key = certificate
    result = subprocess.run([tool("osslsigncode"), "sign", "-certs", str(cert), "-key", str(key),
                             "-n", "llama-server-one", "-in", str(unsigned), "-out", str(signed)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert result.returncode == 0, result.stdout


def verify(path, certificate):
    return subprocess.run([tool("osslsigncode"), "verify", "-CAfile", str(certificate[0]), "-in", str(path)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).returncode


def test_signed_pe_keeps_its_zip_readable(drivers, tmp_path, test_certificate):  # noqa: F811
    image = tmp_path / "image.exe"
    image.write_bytes(pe_image())
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF\x03\0\0\0" + os.urandom(3000))
    unsigned, signed = tmp_path / "unsigned.exe", tmp_path / "signed.exe"
    append_zip(str(image), str(unsigned), {".args": b"--ctx-size 256\n", "m.gguf": str(model),
                                           "ui/index.html": b"<html>"})
    sign(unsigned, signed, test_certificate)
    offset, size = certificate_table(signed)
    data = signed.read_bytes()
    assert offset >= unsigned.stat().st_size and offset + size == len(data)  # after the zip, padding between
    before = unsigned.read_bytes()
    changed = [i for i in range(len(before)) if data[i] != before[i]]
    header_fields = set(range(*CHECKSUM)) | set(range(*SECURITY_DIRECTORY))
    assert changed and set(changed) <= header_fields  # signing rewrites two header fields, nothing else of ours
    assert verify(signed, test_certificate) == 0
    code, entries = zip_dump(drivers, signed)
    assert code == 0 and entries == zip_dump(drivers, unsigned)[1] and set(entries) == {".args", "m.gguf",
                                                                                        "ui/index.html"}
    # The signature covers the zip: one changed byte of the model breaks it.
    tampered = bytearray(data)
    tampered[entries["m.gguf"][1] + 100] ^= 1
    (tmp_path / "tampered.exe").write_bytes(bytes(tampered))
    assert verify(tmp_path / "tampered.exe", test_certificate) != 0


def test_signature_table_that_is_not_last_is_not_skipped(drivers, tmp_path, test_certificate):  # noqa: F811
    """Bytes after the certificate table are not padding: the zip is not found, as before signing support."""
    image = tmp_path / "image.exe"
    image.write_bytes(pe_image())
    unsigned, signed = tmp_path / "unsigned.exe", tmp_path / "signed.exe"
    append_zip(str(image), str(unsigned), {".args": b"-c 8\n"})
    sign(unsigned, signed, test_certificate)
    with open(signed, "ab") as f:
        f.write(b"trailing junk")
    assert zip_dump(drivers, signed) == (0, {})
