"""A minimal PE32+ image (one section, no imports) to append a zip to and sign with Authenticode.

A real APE can't be built here (no cosmocc), but an APE is a PE to Windows and to
signing tools, so this shape is what osslsigncode and signtool see.
"""

import struct

FILE_ALIGN, SECTION_ALIGN, DATA_DIRECTORIES = 0x200, 0x1000, 16


def pe_image():
    dos = bytearray(64)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 64)  # e_lfanew: the PE header follows right away
    optional_size = 112 + 8 * DATA_DIRECTORIES
    coff = b"PE\0\0" + struct.pack("<HHIIIHH", 0x8664, 1, 0, 0, 0, optional_size, 0x22)
    optional = struct.pack(
        "<HBBIIIIIQIIHHHHHHIIIIHHQQQQII", 0x20B, 14, 0, FILE_ALIGN, 0, 0, SECTION_ALIGN, SECTION_ALIGN,
        0x140000000, SECTION_ALIGN, FILE_ALIGN, 6, 0, 0, 0, 6, 0, 0, 2 * SECTION_ALIGN, FILE_ALIGN, 0,
        3, 0x8160, 0x100000, 0x1000, 0x100000, 0x1000, 0, DATA_DIRECTORIES) + b"\0" * (8 * DATA_DIRECTORIES)
    section = struct.pack("<8sIIIIIIHHI", b".text", FILE_ALIGN, SECTION_ALIGN, FILE_ALIGN, FILE_ALIGN,
                          0, 0, 0, 0, 0x60000020)
    headers = bytes(dos) + coff + optional + section
    return headers + b"\0" * (FILE_ALIGN - len(headers)) + b"\xc3" * FILE_ALIGN  # .text: ret


def certificate_table(path):
    """(file offset, size) of the PE's Authenticode certificate table; (0, 0) when unsigned."""
    with open(path, "rb") as f:
        head = f.read(64 + 24 + 112 + 8 * DATA_DIRECTORIES)
    return struct.unpack_from("<II", head, 64 + 24 + 112 + 4 * 8)


def with_certificate_table(data, table):
    """data with table appended as signing does: padded to 8 bytes, named by the security directory.

    Only the layout, not a real signature (that needs osslsigncode: see test_signing.py).
    """
    padded = bytearray(data + b"\0" * (-len(data) % 8))
    struct.pack_into("<II", padded, 64 + 24 + 112 + 4 * 8, len(padded), len(table))
    return bytes(padded) + table
