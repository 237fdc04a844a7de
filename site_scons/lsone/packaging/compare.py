"""Say where two builds of llama-server-one first differ: a zip entry or an ELF section."""

import filecmp
import struct
import zipfile


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
    """None when the files are identical, else a sentence naming the first difference.

    Only the executables are read whole; zip entries (which may be GB-sized models) are
    compared by the CRC and size their central directories record.
    """
    if filecmp.cmp(a_path, b_path, shallow=False):
        return None
    a_zip, b_zip = zip_start(a_path), zip_start(b_path)
    with open(a_path, "rb") as f:
        a = f.read(a_zip)
    with open(b_path, "rb") as f:
        b = f.read(b_zip)
    if a != b:
        sa, sb = elf_sections(a), elf_sections(b)
        if not sa and not sb:  # an APE (cosmocc) is not an ELF file; its ELFs sit beside it as .com.dbg/.aarch64.elf
            at = next((n for n, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            return (f"the executables differ first at byte {at} (not ELF files; compare the .com.dbg and "
                    ".aarch64.elf beside them for sections)")
        for name in list(sa) + [n for n in sb if n not in sa]:
            if sa.get(name, (0, None))[1] != sb.get(name, (0, None))[1]:
                return f"the executables differ first in ELF section {name}"
        return "the executables differ outside their ELF sections (headers or padding)"
    with zipfile.ZipFile(a_path) as za, zipfile.ZipFile(b_path) as zb:
        ea = {i.filename: (i.CRC, i.file_size) for i in za.infolist()}
        eb = {i.filename: (i.CRC, i.file_size) for i in zb.infolist()}
    for name in sorted(set(ea) | set(eb)):
        if name not in ea or name not in eb:
            return f"zip entry {name} is only in {'the second' if name not in ea else 'the first'} build"
        if ea[name] != eb[name]:
            return f"the zips differ first in entry {name}"
    return "the zips have the same entries but differ in their headers or layout"
