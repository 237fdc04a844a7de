"""Mach-O (macOS) executables: what they are, and their ad-hoc signature's page hashes.

zig signs a Mach-O ad hoc as it links it: a CodeDirectory of one hash per page up to the
signature, and no certificate. arm64 macOS runs no unsigned code and kills a process whose
pages do not match their hashes. The packager writes the image size into the executable
(zipembed.record_image_size), inside the signed pages, so the page hashes are computed again
over the bytes it wrote; zeroing the record and doing the same gives the bytes as linked.
The zip itself is appended after the signature and is not covered by it (README: known limits).
Stdlib only: it is part of pack.py (standalone.py).
"""

import hashlib
import struct

MACHO_MAGIC = b"\xcf\xfa\xed\xfe"  # MH_MAGIC_64 (0xfeedfacf), little-endian
CPU_TYPES = {0x0100000C: "arm64", 0x01000007: "x86_64"}
MH_EXECUTE = 2
LC_CODE_SIGNATURE = 0x1D
_SUPERBLOB, _CODE_DIRECTORY = 0xFADE0CC0, 0xFADE0C02
_HASHES = {1: hashlib.sha1, 2: hashlib.sha256, 3: hashlib.sha256, 4: hashlib.sha384}  # CS_HASHTYPE_*


def macho_header(image):
    """(cpu type name, file type) of a 64-bit little-endian Mach-O, or None for anything else."""
    if bytes(image[:4]) != MACHO_MAGIC or len(image) < 32:
        return None
    cputype, _, filetype = struct.unpack_from("<iiI", image, 4)
    return CPU_TYPES.get(cputype & 0xFFFFFFFF, hex(cputype & 0xFFFFFFFF)), filetype


def code_signature_range(image):
    """(offset, size) of the LC_CODE_SIGNATURE data, or None (not a Mach-O, or unsigned)."""
    if macho_header(image) is None:
        return None
    ncmds, = struct.unpack_from("<I", image, 16)
    at = 32
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", image, at)
        if cmd == LC_CODE_SIGNATURE:
            return struct.unpack_from("<II", image, at + 8)
        at += size
    return None


def _code_directories(image):
    """(offset, hash offset, slot count, code limit, hash size, hash function, page size) of each
    CodeDirectory in the signature; big-endian, as Apple's codesign structures are."""
    found = code_signature_range(image)
    if not found:
        return []
    start = found[0]
    magic, _, count = struct.unpack_from(">III", image, start)
    if magic != _SUPERBLOB:
        return []
    directories = []
    for n in range(count):
        _, offset = struct.unpack_from(">II", image, start + 12 + 8 * n)
        at = start + offset
        if struct.unpack_from(">I", image, at)[0] != _CODE_DIRECTORY:
            continue
        hash_offset, _, _, slots, limit = struct.unpack_from(">IIIII", image, at + 16)
        hash_size, hash_type, _, page_shift = struct.unpack_from(">BBBB", image, at + 36)
        directories.append((at, hash_offset, slots, limit, hash_size, _HASHES[hash_type], 1 << page_shift))
    return directories


def _page_hashes(image, directory):
    """[(slot offset, hash as the image is now, hash it should be)] for each page of one CodeDirectory."""
    at, hash_offset, slots, limit, hash_size, digest, page = directory
    return [(at + hash_offset + n * hash_size, bytes(image[at + hash_offset + n * hash_size:][:hash_size]),
             digest(bytes(image[n * page:min((n + 1) * page, limit)])).digest()[:hash_size]) for n in range(slots)]


def refresh_page_hashes(image):
    """Make an ad-hoc signature's page hashes match image (a bytearray) again; returns the
    (start, end) of what changed, or None when nothing did (not a signed Mach-O, or no change)."""
    changed = []
    for directory in _code_directories(image):
        for slot, now, due in _page_hashes(image, directory):
            if now != due:
                image[slot:slot + len(due)] = due
                changed += [slot, slot + len(due)]
    return (min(changed), max(changed)) if changed else None


def mismatched_pages(image):
    """How many pages of a signed Mach-O no longer match their hashes (macOS kills such a process)."""
    return sum(now != due for directory in _code_directories(image) for _, now, due in _page_hashes(image, directory))
