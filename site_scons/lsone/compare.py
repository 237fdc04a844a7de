"""Say where two builds of llama-server-one first differ: a zip entry or an ELF section."""

import hashlib
import struct
import zipfile


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def zip_start(path):
    """Offset where the appended zip begins (its first local header), or the file size."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile:
        infos = []
    with open(path, "rb") as f:
        size = f.seek(0, 2)
    return min((i.header_offset for i in infos), default=size)


def elf_sections(data):
    """{name: (file offset, bytes)} of an ELF64 little-endian image's sections, in file order."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return {}
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3a)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + n * shentsize) for n in range(shnum)]
    names_off, names_size = headers[shstrndx][4], headers[shstrndx][5]
    names = data[names_off:names_off + names_size]
    sections = {}
    for name_idx, kind, _flags, _addr, offset, size, *_rest in sorted(headers, key=lambda h: h[4]):
        name = names[name_idx:names.index(b"\0", name_idx)].decode() or "(null)"
        sections[name] = (offset, b"" if kind == 8 else data[offset:offset + size])  # NOBITS: no bytes
    return sections


def first_difference(a_path, b_path):
    """None when the files are identical, else a sentence naming the first difference."""
    with open(a_path, "rb") as f:
        a = f.read()
    with open(b_path, "rb") as f:
        b = f.read()
    if a == b:
        return None
    a_zip, b_zip = zip_start(a_path), zip_start(b_path)
    if a[:a_zip] != b[:b_zip]:
        sa, sb = elf_sections(a[:a_zip]), elf_sections(b[:b_zip])
        for name in list(sa) + [n for n in sb if n not in sa]:
            if sa.get(name, (0, None))[1] != sb.get(name, (0, None))[1]:
                return f"the executables differ first in ELF section {name}"
        return "the executables differ outside their ELF sections (headers or padding)"
    with zipfile.ZipFile(a_path) as za, zipfile.ZipFile(b_path) as zb:
        na, nb = za.namelist(), zb.namelist()
        for name in sorted(set(na) | set(nb)):
            if name not in na or name not in nb:
                return f"zip entry {name} is only in {'the second' if name not in na else 'the first'} build"
            if _sha256(za.read(name)) != _sha256(zb.read(name)):
                return f"the zips differ first in entry {name}"
    return "the zips have the same entries but differ in their headers or layout"
