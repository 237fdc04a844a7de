"""Writes the fuzz seed corpus (tests/fuzz/corpus/): small valid and near-valid inputs.

Run it from the repository after changing it: python3 tests/fuzz/make_seeds.py
The files are checked in, so the fuzzers and `scons fuzz-regress` never depend on running it.
"""

import os
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "site_scons"))

from lsone.packaging.zipembed import IMAGE_SIZE_RECORD, append_zip  # noqa: E402

sys.path.insert(0, os.path.join(HERE, ".."))
from pe_shaped import pe_image, with_certificate_table  # noqa: E402
from integration import rpc_wire as w  # noqa: E402

ENTRIES = {".args": b"--port 8080\n-m /zip/m.gguf\n", "ui/index.html": b"<html></html>\n", "manifest.json": b"{}\n"}


def elf_image(body=b"\x90" * 64):
    """A little-endian ELF64 header, a body and one section header last, as our linkers lay it out."""
    shoff = 64 + len(body)
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    header += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x400000, 0, shoff, 0, 64, 56, 0, 64, 1, 0)
    return header + body + b"\0" * 64


def ape_image():
    """What a cosmocc APE starts with: a shell-script MZ header, no ELF header at offset 0."""
    return b"MZqFpD='\n\n\0\0\0\0\0\0\0\0'\n" + b"#!/bin/sh\nexit 0\n" + b"\0" * 40


def appended(prefix, entries=ENTRIES):
    with tempfile.TemporaryDirectory() as tmp:
        exe, out = os.path.join(tmp, "exe"), os.path.join(tmp, "out")
        with open(exe, "wb") as f:
            f.write(prefix)
        append_zip(exe, out, entries)
        with open(out, "rb") as f:
            return f.read()


def local_header(name, data, zip64=False):
    extra = struct.pack("<HHQQ", 1, 16, len(data), len(data)) if zip64 else b""
    small = 0xFFFFFFFF if zip64 else len(data)
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0x800, 0, 0, 0x21, 0, small, small, len(name),
                       len(extra)) + name + extra + data


def zip64_archive(prefix=b""):
    """One entry whose sizes and offset live in a zip64 extra field, and zip64 end records."""
    name, data = b"ui/a.txt", b"zip64 entry data\n"
    offset = len(prefix)
    body = prefix + local_header(name, data, zip64=True)
    extra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x32D, 45, 0x800, 0, 0, 0x21, 0, 0xFFFFFFFF,
                          0xFFFFFFFF, len(name), len(extra), 0, 0, 0, 0o100644 << 16, 0xFFFFFFFF) + name + extra
    cd_start = len(body)
    cd_end = cd_start + len(central)
    eocd64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x32D, 45, 0, 0, 1, 1, len(central), cd_start)
    locator = struct.pack("<IIQI", 0x07064B50, 0, cd_end, 1)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return body + central + eocd64 + locator + eocd


def zip_seeds():
    elf_zip = appended(elf_image())
    recorded = appended(ape_image() + IMAGE_SIZE_RECORD + bytes(8))  # the packager fills in the image size
    return {
        "empty": b"",
        "elf-plain": elf_image(),
        "elf-zip": elf_zip,
        "elf-zip-truncated": elf_zip[:-30],
        "elf-zip-commented": elf_zip[:-2] + struct.pack("<H", 5) + b"hello",
        "ape-zip": appended(ape_image()),
        "ape-zip-recorded": recorded,
        "ape-zip-recorded-truncated": recorded[:len(ape_image()) + len(IMAGE_SIZE_RECORD) + 8 + 10],
        "plain-zip": appended(b""),
        "zip64": zip64_archive(),
        "elf-zip64": zip64_archive(elf_image()),
        "ape-zip64": zip64_archive(ape_image()),
        "pe-zip-signed": with_certificate_table(appended(pe_image()), b"\x30\x82" + b"\x5a" * 64),
    }


def escaped(s):
    return s.replace(b"\\", b"\\\\") + b"\\\n"


def args_input(embedded, adjacent=b"", command_line=()):
    """The layout fuzz_args.cpp reads with FuzzedDataProvider: command-line strings and the
    adjacent file (backslash-terminated), the embedded file, then the argument count last."""
    return b"".join(escaped(a) for a in command_line) + escaped(adjacent) + embedded + bytes([len(command_line)])


def args_seeds():
    with open(os.path.join(HERE, "..", "..", "assets", "default.args"), "rb") as f:
        default = f.read()
    return {
        "default": args_input(default),
        "layers": args_input(b"--alias x\n... --port 9\n", b"--ctx-size 512 ...\n# note\n--threads 2",
                             [b"--port", b"7000"]),
        "quotes": args_input(b"'single $HOME \\n literal' \"tab\\there\" \"q\\\"\" \"hex\\x41\" con'cat'\"en\""),
        "variables": args_input(b'"$HOME/a" "${PATH}b" "$LSONE_UNSET." \'$HOME\' "$" "${"'),
        "escapes": args_input(b"back\\ slash \\#x x#notacomment \\...\n'...' \"...\" ...\nline\\\ncontinued"),
        "errors": args_input(b"--a\n'open", b'"bad \\q" "\\xZZ" trailing\\'),
        "multiline": args_input(b"'multi\nline' \"a\\\nb\" # comment\n--b\t--c\r\n\f\v"),
    }


# fuzz_rpc.cpp's placeholders for the worker's pointers: the k-th buffer allocated, its base plus an offset
def buf(k=0):
    return 0xB0F5 << 48 | k << 32


def at(offset, k=0):
    return 0xDA7A << 48 | k << 32 | offset


def hello():
    return w.request(w.HELLO, bytes(w.CAPS_SIZE))


def rpc_seeds():
    """One client's byte stream each: valid sessions, and the malformed requests test_rpc.py sends."""
    dev = struct.pack("<I", 0)
    alloc = w.request(w.ALLOC_BUFFER, struct.pack("<IQ", 0, 4096)) + w.request(w.BUFFER_GET_BASE, struct.pack("<Q", buf()))
    vec = w.tensor(1, buffer=buf(), ne=(16, 1, 1, 1), data=at(0))
    rows = w.tensor(1, buffer=buf(), ne=(4, 2, 1, 1), data=at(0))
    idx = w.tensor(2, type=w.TYPE_I32, buffer=buf(), ne=(3, 1, 1, 1), data=at(64))
    get_rows = w.tensor(3, buffer=buf(), ne=(4, 3, 1, 1), op=w.OP_GET_ROWS, src=(1, 2), data=at(128))
    dest = w.tensor(4, buffer=buf(), ne=(4, 8, 1, 1), data=at(256))
    set_rows = w.tensor(5, buffer=buf(), ne=(4, 8, 1, 1), op=w.OP_SET_ROWS, src=(1, 6), data=at(256))
    set_idx = w.tensor(6, type=w.TYPE_I32, buffer=buf(), ne=(2, 1, 1, 1), data=at(64))
    return {
        "hello": hello(),
        "queries": hello() + w.request(w.DEVICE_COUNT) + w.request(w.GET_ALIGNMENT, dev) +
                   w.request(w.GET_MAX_SIZE, dev) + w.request(w.GET_DEVICE_MEMORY, dev) +
                   w.request(w.GET_ALLOC_SIZE, dev + w.tensor(1, ne=(8, 2, 1, 1)) + bytes(10 * w.TENSOR_SIZE)),
        "tensor-io": hello() + alloc + w.request(w.SET_TENSOR, vec + b"\0" + struct.pack("<Q", 0) + bytes(64)) +
                     w.request(w.GET_TENSOR, vec + struct.pack("<QQ", 0, 64)) +
                     w.request(w.MEMSET_TENSOR, vec + struct.pack("<QQB", 8, 16, 7)) +
                     w.request(w.COPY_TENSOR, vec + w.tensor(2, buffer=buf(), ne=(16, 1, 1, 1), data=at(64))) +
                     w.request(w.INIT_TENSOR, vec) + w.request(w.BUFFER_CLEAR, struct.pack("<QB", buf(), 0)) +
                     w.request(w.SET_TENSOR_HASH, vec + struct.pack("<QQ", 0, 0x1234)) +
                     w.request(w.FREE_BUFFER, struct.pack("<Q", buf())),
        "graph-get-rows": hello() + alloc + w.request(w.GRAPH_COMPUTE, w.graph([3], [rows, idx, get_rows])) +
                          w.request(w.GRAPH_RECOMPUTE, dev),
        "graph-set-rows": hello() + alloc + w.request(w.GRAPH_COMPUTE, w.graph([5], [rows, set_idx, dest, set_rows])),
        "bad-tensor-outside-buffer": hello() + alloc + w.request(
            w.SET_TENSOR, w.tensor(1, buffer=buf(), ne=(16, 1, 1, 1), data=at(8192)) + b"\0" + bytes(8) + bytes(64)),
        "bad-graph-node-0": hello() + w.request(w.GRAPH_COMPUTE, w.graph([0], [])),
        "bad-get-rows-shape": hello() + alloc + w.request(w.GRAPH_COMPUTE, w.graph([3], [
            rows, idx, w.tensor(3, buffer=buf(), ne=(4, 1, 1, 1), op=w.OP_GET_ROWS, src=(1, 2), data=at(128))])),
        "bad-region-past-tensor": hello() + alloc + w.request(w.GET_TENSOR, vec + struct.pack("<QQ", 32, 64)),
    }


def main():
    for target, seeds in (("zip", zip_seeds()), ("args", args_seeds()), ("rpc", rpc_seeds())):
        out = os.path.join(HERE, "corpus", target)
        os.makedirs(out, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
        print(f"{out}: {len(seeds)} seeds, {sum(map(len, seeds.values()))} bytes")


if __name__ == "__main__":
    main()
