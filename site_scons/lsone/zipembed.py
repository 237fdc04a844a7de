"""Append a deterministic, aligned zip to an executable.

Every entry is STORED, so the executable can map any entry straight from its
own file. GGUF data starts on a 64 KiB boundary (Windows' allocation
granularity, a multiple of Apple's 16 KiB and Linux's 4 KiB pages). Offsets are
absolute from the start of the file, as Cosmopolitan's /zip expects; Python's
zipfile and unzip read such archives too. zip64 records appear only when sizes
or offsets need them. Entries are sorted and carry a fixed timestamp and fixed
permissions, so the same inputs give the same bytes.
"""

import collections
import os
import shutil
import struct
import time
import zlib

from .errors import InputError

GGUF_ALIGN = 65536
DEFAULT_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the zip format's earliest time
_CHUNK = 1 << 20
_ZIP64_LIMIT = 0xFFFFFFFF
_PAD_ID = 0xD935  # the extra-field id Android's zipalign uses for padding
GGUF_MAGIC = b"GGUF"
# runtime/lsone_image.cpp's lsone_image_size_record: this text, then 8 bytes for the image size.
IMAGE_SIZE_RECORD = b"llama-server-one-imgsize"
GGUF_VERSIONS = (1, 2, 3)


def check_gguf(path, label=None):
    """Raise InputError unless path starts with the GGUF magic and a known version."""
    label = label or path
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8 or head[:4] != GGUF_MAGIC:
        raise InputError(label, "is not a GGUF model", expected="a file starting with the bytes 'GGUF'",
                         found=repr(head[:4]), fix="pass a .gguf file (convert other formats with "
                                                   "llama.cpp's convert_hf_to_gguf.py)")
    version = struct.unpack("<I", head[4:8])[0]
    if version not in GGUF_VERSIONS:
        raise InputError(label, "has an unknown GGUF version", expected=" or ".join(map(str, GGUF_VERSIONS)),
                         found=str(version), fix="use a GGUF written by a current llama.cpp / gguf-py")


def normalize_name(name):
    """Entry names: relative, '/'-separated, no '..', no empty parts."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(parts[0]) == 2 and parts[0][1] == ":"):
        raise InputError(name, "zip entry names must be relative", fix="drop the leading '/' or drive")
    clean = [p for p in parts if p not in ("", ".")]
    if not clean or ".." in clean:
        raise InputError(name, "zip entry name is empty or escapes the archive with '..'")
    return "/".join(clean)


def dos_datetime(epoch):
    t = time.gmtime(max(epoch, DEFAULT_EPOCH))
    return ((t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2),
            ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday)


def source_date_epoch(environ=None):
    value = (environ if environ is not None else os.environ).get("SOURCE_DATE_EPOCH", "")
    return int(value) if value.isdigit() else DEFAULT_EPOCH


class _Entry:
    def __init__(self, name, source):
        self.name = normalize_name(name)
        self.source = source  # a path, or bytes
        self.offset = self.data_offset = self.size = self.crc = 0


def _copy_stream(src, out):
    crc, size = 0, 0
    while True:
        chunk = src.read(_CHUNK)
        if not chunk:
            return crc, size
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
        out.write(chunk)


def copy_range(src_path, out, size):
    """Copy a whole file to out's position in the kernel (copy_file_range), else by chunks."""
    out.flush()
    with open(src_path, "rb") as src:
        if hasattr(os, "copy_file_range"):
            try:
                done, offset = 0, out.tell()
                while done < size:
                    n = os.copy_file_range(src.fileno(), out.fileno(), size - done, done, offset + done)
                    if n == 0:
                        break
                    done += n
                out.seek(offset + done)
                if done == size:
                    return
                src.seek(done)
            except OSError:
                src.seek(0)
                out.seek(offset)
        shutil.copyfileobj(src, out, _CHUNK)


def _write_entry(out, entry, dostime, dosdate, known_crc=None):
    entry.offset = out.tell()
    name = entry.name.encode("utf-8")
    size_hint = len(entry.source) if isinstance(entry.source, bytes) else os.path.getsize(entry.source)
    zip64 = size_hint >= _ZIP64_LIMIT
    extra = struct.pack("<HHQQ", 1, 16, size_hint, size_hint) if zip64 else b""
    if entry.name.lower().endswith(".gguf"):
        data_at = entry.offset + 30 + len(name) + len(extra)
        pad = (-data_at) % GGUF_ALIGN
        if pad and pad < 4:
            pad += GGUF_ALIGN
        if pad:
            extra += struct.pack("<HH", _PAD_ID, pad - 4) + b"\0" * (pad - 4)
    header_at = out.tell()
    entry.data_offset = header_at + 30 + len(name) + len(extra)
    out.write(b"\0" * (30 + len(name) + len(extra)))
    if isinstance(entry.source, bytes):
        entry.crc, entry.size = zlib.crc32(entry.source), len(entry.source)
        out.write(entry.source)
    elif known_crc is not None:
        # The CRC is known from an earlier packaging of the same bytes: let the kernel copy.
        copy_range(entry.source, out, size_hint)
        entry.crc, entry.size = known_crc, os.path.getsize(entry.source)
    else:
        with open(entry.source, "rb") as src:
            entry.crc, entry.size = _copy_stream(src, out)
    if entry.size != size_hint:
        raise InputError(str(entry.source), "changed size while it was being packaged")
    end = out.tell()
    out.seek(header_at)
    small = 0xFFFFFFFF if zip64 else entry.size
    out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if zip64 else 20, 0x800, 0, dostime, dosdate,
                          entry.crc, small, small, len(name), len(extra)) + name + extra)
    out.seek(end)


def _central_record(entry, dostime, dosdate):
    name = entry.name.encode("utf-8")
    fields = []
    size = entry.size
    offset = entry.offset
    if entry.size >= _ZIP64_LIMIT:
        fields += [entry.size, entry.size]
        size = 0xFFFFFFFF
    if entry.offset >= _ZIP64_LIMIT:
        fields.append(entry.offset)
        offset = 0xFFFFFFFF
    extra = struct.pack("<HH", 1, 8 * len(fields)) + struct.pack(f"<{len(fields)}Q", *fields) if fields else b""
    version = 45 if fields else 20
    return struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, (3 << 8) | version, version, 0x800, 0,
                       dostime, dosdate, entry.crc, size, size, len(name), len(extra), 0, 0, 0,
                       0o100644 << 16, offset) + name + extra


def record_image_size(out, executable):
    """Write the executable's size into each of its image-size records, in out's copy of it.

    The runtime reads it back to catch a cut-off file even where no header says where the
    image ends (an APE). A fat APE holds one record per architecture. Returns how many were written.
    """
    size = os.path.getsize(executable)
    with open(executable, "rb") as f:
        image = f.read()
    end = out.tell()
    found, at = 0, image.find(IMAGE_SIZE_RECORD)
    while at >= 0:
        out.seek(at + len(IMAGE_SIZE_RECORD))
        out.write(struct.pack("<Q", size))
        found += 1
        at = image.find(IMAGE_SIZE_RECORD, at + 1)
    out.seek(end)
    return found


def append_zip(executable, output, entries, epoch=DEFAULT_EPOCH, known_crcs=None):
    """Write output = executable + a zip of entries {name: path or bytes}.

    known_crcs {name: crc32} skips reading those files in Python (the caller vouches for
    the bytes, e.g. by content hash). Returns {name: (data_offset, size, crc32)}.
    """
    known_crcs = known_crcs or {}
    items = [_Entry(name, source) for name, source in entries.items()]
    dupes = sorted(n for n, c in collections.Counter(i.name for i in items).items() if c > 1)
    if dupes:
        raise InputError("zip entries", "duplicate names after normalisation", found=", ".join(dupes))
    items.sort(key=lambda i: i.name.encode("utf-8"))
    dostime, dosdate = dos_datetime(epoch)
    tmp = output + ".tmp"
    with open(tmp, "wb") as out:
        copy_range(executable, out, os.path.getsize(executable))
        record_image_size(out, executable)
        for item in items:
            _write_entry(out, item, dostime, dosdate, known_crcs.get(item.name))
        cd_start = out.tell()
        for item in items:
            out.write(_central_record(item, dostime, dosdate))
        cd_end = out.tell()
        cd_size = cd_end - cd_start
        count = len(items)
        if cd_start >= _ZIP64_LIMIT or count >= 0xFFFF:
            out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, (3 << 8) | 45, 45, 0, 0,
                                  count, count, cd_size, cd_start))
            out.write(struct.pack("<IIQI", 0x07064B50, 0, cd_end, 1))
            out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
        else:
            out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, cd_size, cd_start, 0))
    os.chmod(tmp, 0o755)
    os.replace(tmp, output)
    return {item.name: (item.data_offset, item.size, item.crc) for item in items}
