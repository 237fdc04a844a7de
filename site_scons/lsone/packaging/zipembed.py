"""Append a deterministic, aligned zip to an executable.

Every entry is STORED, so the executable can map any entry straight from its
own file. GGUF data starts on a 64 KiB boundary (Windows' allocation
granularity, a multiple of Apple's 16 KiB and Linux's 4 KiB pages). Offsets are
absolute from the start of the file, as Cosmopolitan's /zip expects; Python's
zipfile and unzip read such archives too. zip64 records appear only when sizes
or offsets need them. Entries are sorted and carry a fixed timestamp and fixed
permissions, so the same inputs give the same bytes.
"""

import calendar
import collections
import os
import shutil
import struct
import time
import zlib

from ..errors import InputError
from .macho import refresh_page_hashes

GGUF_ALIGN = 65536
DEFAULT_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the zip format's earliest time
_CHUNK = 1 << 20
_ZIP64_LIMIT = 0xFFFFFFFF
_PAD_ID = 0xD935  # the extra-field id Android's zipalign uses for padding
GGUF_MAGIC = b"GGUF"
# runtime/lsone_image.cpp's lsone_image_size_record: this text, then 8 bytes for the image size.
IMAGE_SIZE_RECORD = b"llama-server-one-imgsize"
ZIP64_EXTRA_ID = 0x0001
VERSION_DEFAULT, VERSION_ZIP64 = 20, 45
MADE_BY_UNIX = 3 << 8
UTF8_NAMES = 0x800  # general-purpose flag bit 11: names are UTF-8
REGULAR_FILE_0644 = 0o100644 << 16  # external attributes: Unix mode in the high 16 bits


class ZipRecord:
    """One zip record layout: a signature, then little-endian fields by name (APPNOTE 4.3)."""

    def __init__(self, title, signature, fields):
        self.title, self.signature = title, signature
        self.names = [name for name, _ in fields]
        self.layout = struct.Struct("<I" + "".join(fmt for _, fmt in fields))
        self.size = self.layout.size

    def pack(self, **values):
        return self.layout.pack(self.signature, *(values[name] for name in self.names))

    def unpack(self, data, offset=0):
        """The fields as a dict, or None when data at offset does not hold this record."""
        if offset < 0 or len(data) < offset + self.size:
            return None
        signature, *values = self.layout.unpack_from(data, offset)
        return dict(zip(self.names, values)) if signature == self.signature else None


LOCAL_HEADER = ZipRecord("local file header", 0x04034B50, [
    ("version_needed", "H"), ("flags", "H"), ("method", "H"), ("mod_time", "H"), ("mod_date", "H"),
    ("crc32", "I"), ("compressed_size", "I"), ("uncompressed_size", "I"),
    ("name_length", "H"), ("extra_length", "H")])
CENTRAL_HEADER = ZipRecord("central directory header", 0x02014B50, [
    ("version_made_by", "H"), ("version_needed", "H"), ("flags", "H"), ("method", "H"),
    ("mod_time", "H"), ("mod_date", "H"), ("crc32", "I"), ("compressed_size", "I"),
    ("uncompressed_size", "I"), ("name_length", "H"), ("extra_length", "H"), ("comment_length", "H"),
    ("disk_number_start", "H"), ("internal_attributes", "H"), ("external_attributes", "I"),
    ("local_header_offset", "I")])
END_OF_CENTRAL_DIRECTORY = ZipRecord("end of central directory record", 0x06054B50, [
    ("disk_number", "H"), ("directory_disk", "H"), ("entries_on_disk", "H"), ("entries_total", "H"),
    ("directory_size", "I"), ("directory_offset", "I"), ("comment_length", "H")])
ZIP64_END_OF_CENTRAL_DIRECTORY = ZipRecord("zip64 end of central directory record", 0x06064B50, [
    ("record_size", "Q"), ("version_made_by", "H"), ("version_needed", "H"), ("disk_number", "I"),
    ("directory_disk", "I"), ("entries_on_disk", "Q"), ("entries_total", "Q"),
    ("directory_size", "Q"), ("directory_offset", "Q")])
ZIP64_LOCATOR = ZipRecord("zip64 end of central directory locator", 0x07064B50, [
    ("directory_record_disk", "I"), ("directory_record_offset", "Q"), ("disk_count", "I")])


def extra_field(header_id, payload):
    """An extra-field block: id, payload length, payload."""
    return struct.pack("<HH", header_id, len(payload)) + payload
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


def dos_to_epoch(dostime, dosdate):
    """The inverse of dos_datetime (to its two-second resolution)."""
    return calendar.timegm((1980 + (dosdate >> 9), (dosdate >> 5) & 15, dosdate & 31,
                            dostime >> 11, (dostime >> 5) & 63, (dostime & 31) * 2))


def source_date_epoch(environ=None):
    value = (environ if environ is not None else os.environ).get("SOURCE_DATE_EPOCH", "")
    return int(value) if value.isdigit() else DEFAULT_EPOCH


class _Entry:
    def __init__(self, name, source):
        self.name = normalize_name(name)
        self.source = source  # a path, or bytes
        self.offset = self.data_offset = self.size = self.crc = 0


class FileRange(collections.namedtuple("FileRange", "path offset size")):
    """An entry's bytes taken from part of a file, e.g. a model already inside another zip."""


def _source_size(source):
    if isinstance(source, bytes):
        return len(source)
    return source.size if isinstance(source, FileRange) else os.path.getsize(source)


def _copy_stream(src, out, limit=None):
    crc, size = 0, 0
    while True:
        chunk = src.read(_CHUNK if limit is None else min(_CHUNK, limit - size))
        if not chunk:
            return crc, size
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
        out.write(chunk)


def copy_range(src_path, out, size, src_offset=0):
    """Copy size bytes of a file from src_offset to out's position: in the kernel
    (copy_file_range) where it can, else by chunks."""
    out.flush()
    with open(src_path, "rb") as src:
        done, offset = 0, out.tell()
        if hasattr(os, "copy_file_range"):
            try:
                while done < size:
                    n = os.copy_file_range(src.fileno(), out.fileno(), size - done, src_offset + done, offset + done)
                    if n == 0:
                        break
                    done += n
            except OSError:
                done = 0
        out.seek(offset + done)
        src.seek(src_offset + done)
        _copy_stream(src, out, size - done)


def _write_entry(out, entry, dostime, dosdate, known_crc=None):
    entry.offset = out.tell()
    name = entry.name.encode("utf-8")
    size_hint = _source_size(entry.source)
    zip64 = size_hint >= _ZIP64_LIMIT
    extra = extra_field(ZIP64_EXTRA_ID, struct.pack("<QQ", size_hint, size_hint)) if zip64 else b""
    if entry.name.lower().endswith(".gguf"):
        data_at = entry.offset + LOCAL_HEADER.size + len(name) + len(extra)
        pad = (-data_at) % GGUF_ALIGN
        if pad and pad < 4:
            pad += GGUF_ALIGN
        if pad:
            extra += extra_field(_PAD_ID, b"\0" * (pad - 4))
    header_at = out.tell()
    entry.data_offset = header_at + LOCAL_HEADER.size + len(name) + len(extra)
    out.write(b"\0" * (LOCAL_HEADER.size + len(name) + len(extra)))
    if isinstance(entry.source, bytes):
        entry.crc, entry.size = zlib.crc32(entry.source), len(entry.source)
        out.write(entry.source)
    elif known_crc is not None:
        # The CRC is known from an earlier packaging of the same bytes: let the kernel copy.
        part = entry.source if isinstance(entry.source, FileRange) else FileRange(entry.source, 0, size_hint)
        copy_range(part.path, out, part.size, part.offset)
        entry.crc, entry.size = known_crc, _source_size(entry.source)
    elif isinstance(entry.source, FileRange):
        with open(entry.source.path, "rb") as src:
            src.seek(entry.source.offset)
            entry.crc, entry.size = _copy_stream(src, out, entry.source.size)
    else:
        with open(entry.source, "rb") as src:
            entry.crc, entry.size = _copy_stream(src, out)
    if entry.size != size_hint:
        raise InputError(str(entry.source), "changed size while it was being packaged")
    end = out.tell()
    out.seek(header_at)
    small = 0xFFFFFFFF if zip64 else entry.size
    out.write(LOCAL_HEADER.pack(
        version_needed=VERSION_ZIP64 if zip64 else VERSION_DEFAULT, flags=UTF8_NAMES, method=0,
        mod_time=dostime, mod_date=dosdate, crc32=entry.crc, compressed_size=small, uncompressed_size=small,
        name_length=len(name), extra_length=len(extra)) + name + extra)
    out.seek(end)


def _central_record(entry, dostime, dosdate):
    name = entry.name.encode("utf-8")
    zip64_values = []  # in APPNOTE order: sizes, then the local header's offset
    size = entry.size
    offset = entry.offset
    if entry.size >= _ZIP64_LIMIT:
        zip64_values += [entry.size, entry.size]
        size = 0xFFFFFFFF
    if entry.offset >= _ZIP64_LIMIT:
        zip64_values.append(entry.offset)
        offset = 0xFFFFFFFF
    extra = (extra_field(ZIP64_EXTRA_ID, struct.pack(f"<{len(zip64_values)}Q", *zip64_values))
             if zip64_values else b"")
    version = VERSION_ZIP64 if zip64_values else VERSION_DEFAULT
    return CENTRAL_HEADER.pack(
        version_made_by=MADE_BY_UNIX | version, version_needed=version, flags=UTF8_NAMES, method=0,
        mod_time=dostime, mod_date=dosdate, crc32=entry.crc, compressed_size=size, uncompressed_size=size,
        name_length=len(name), extra_length=len(extra), comment_length=0, disk_number_start=0,
        internal_attributes=0, external_attributes=REGULAR_FILE_0644, local_header_offset=offset) + name + extra


def _end_records(count, cd_start, cd_end):
    """The end-of-central-directory record, preceded by its zip64 pair when a value overflows."""
    cd_size = cd_end - cd_start
    if cd_start < _ZIP64_LIMIT and count < 0xFFFF:
        return END_OF_CENTRAL_DIRECTORY.pack(disk_number=0, directory_disk=0, entries_on_disk=count,
                                             entries_total=count, directory_size=cd_size,
                                             directory_offset=cd_start, comment_length=0)
    record = ZIP64_END_OF_CENTRAL_DIRECTORY.pack(
        record_size=ZIP64_END_OF_CENTRAL_DIRECTORY.size - 12,  # not counting signature and this field
        version_made_by=MADE_BY_UNIX | VERSION_ZIP64, version_needed=VERSION_ZIP64, disk_number=0,
        directory_disk=0, entries_on_disk=count, entries_total=count, directory_size=cd_size,
        directory_offset=cd_start)
    locator = ZIP64_LOCATOR.pack(directory_record_disk=0, directory_record_offset=cd_end, disk_count=1)
    return record + locator + END_OF_CENTRAL_DIRECTORY.pack(
        disk_number=0, directory_disk=0, entries_on_disk=0xFFFF, entries_total=0xFFFF,
        directory_size=0xFFFFFFFF, directory_offset=0xFFFFFFFF, comment_length=0)


def image_bytes(executable):
    """The bytes of an executable given as a path or a FileRange."""
    with open(executable.path if isinstance(executable, FileRange) else executable, "rb") as f:
        if isinstance(executable, FileRange):
            f.seek(executable.offset)
            return f.read(executable.size)
        return f.read()


def image_size_records(image):
    """Offsets of the 8-byte size fields of the image-size records in an executable's bytes."""
    offsets, at = [], image.find(IMAGE_SIZE_RECORD)
    while at >= 0:
        offsets.append(at + len(IMAGE_SIZE_RECORD))
        at = image.find(IMAGE_SIZE_RECORD, at + 1)
    return offsets


def record_image_size(out, executable):
    """Write the executable's size into each of its image-size records, in out's copy of it.

    The runtime reads it back to catch a cut-off file even where no header says where the
    image ends (an APE). A fat APE holds one record per architecture. Returns how many were written.
    """
    image = bytearray(image_bytes(executable))
    end = out.tell()
    offsets = image_size_records(image)
    for at in offsets:
        image[at:at + 8] = struct.pack("<Q", len(image))
        out.seek(at)
        out.write(image[at:at + 8])
    signed = refresh_page_hashes(image)  # a Mach-O's signature covers the record's page
    if signed:
        out.seek(signed[0])
        out.write(image[signed[0]:signed[1]])
    out.seek(end)
    return len(offsets)


def append_zip(executable, output, entries, epoch=DEFAULT_EPOCH, known_crcs=None):
    """Write output = executable (a path or a FileRange) + a zip of entries {name: path, bytes or FileRange}.

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
        image = executable if isinstance(executable, FileRange) else FileRange(executable, 0, _source_size(executable))
        copy_range(image.path, out, image.size, image.offset)
        record_image_size(out, image)
        for item in items:
            _write_entry(out, item, dostime, dosdate, known_crcs.get(item.name))
        cd_start = out.tell()
        for item in items:
            out.write(_central_record(item, dostime, dosdate))
        out.write(_end_records(len(items), cd_start, out.tell()))
    os.chmod(tmp, 0o755)
    os.replace(tmp, output)
    return {item.name: (item.data_offset, item.size, item.crc) for item in items}


class ZipListing:
    """The zip at the end of a file: its entries (in directory order) and where it starts."""

    def __init__(self, path, entries, start):
        self.path, self.entries, self.start = path, entries, start

    def find(self, name):
        return next((e for e in self.entries if e["name"] == name), None)

    def read(self, name):
        entry = self.find(name)
        with open(self.path, "rb") as f:
            f.seek(entry["data_offset"])
            return f.read(entry["size"])


def _damaged(label, problem):
    return InputError(label, problem, expected="a llama-server-one executable with its zip intact",
                      fix="download or build it again; a truncated download loses the zip's directory")


def _find_end_record(f, file_size, label):
    """The end-of-central-directory record, whose comment must run to the end of the file."""
    tail_len = min(file_size, 0xFFFF + END_OF_CENTRAL_DIRECTORY.size)
    f.seek(file_size - tail_len)
    tail = f.read(tail_len)
    for at in range(tail_len - END_OF_CENTRAL_DIRECTORY.size, -1, -1):
        record = END_OF_CENTRAL_DIRECTORY.unpack(tail, at)
        if record and at + END_OF_CENTRAL_DIRECTORY.size + record["comment_length"] == tail_len:
            return record, file_size - tail_len + at
    raise InputError(label, "has no zip at its end", expected="a llama-server-one executable (an ELF, Mach-O or APE "
                     "with a zip appended)", found="no end-of-central-directory record in its last 64 KiB",
                     fix="pass the llama-server-one file itself; if it was truncated, download it again; "
                         "if it was signed, repack the unsigned file and sign afterwards")


def read_appended_zip(path, label=None):
    """List the entries of the zip appended to path, with absolute data offsets."""
    label = label or path
    file_size = os.path.getsize(path)
    with open(path, "rb") as f:
        end, end_at = _find_end_record(f, file_size, label)
        count, cd_size, cd_offset = end["entries_total"], end["directory_size"], end["directory_offset"]
        if count == 0xFFFF or 0xFFFFFFFF in (cd_size, cd_offset):
            f.seek(max(end_at - ZIP64_LOCATOR.size, 0))
            locator = ZIP64_LOCATOR.unpack(f.read(ZIP64_LOCATOR.size))
            f.seek(locator["directory_record_offset"] if locator else 0)
            record = ZIP64_END_OF_CENTRAL_DIRECTORY.unpack(f.read(ZIP64_END_OF_CENTRAL_DIRECTORY.size))
            if not locator or not record:
                raise _damaged(label, "its zip64 end records are missing")
            count, cd_size, cd_offset = record["entries_total"], record["directory_size"], record["directory_offset"]
        if cd_offset + cd_size > file_size:
            raise _damaged(label, "its zip directory lies outside the file")
        f.seek(cd_offset)
        directory = f.read(cd_size)
        entries, pos = [], 0
        for index in range(count):
            header = CENTRAL_HEADER.unpack(directory, pos)
            if not header:
                raise _damaged(label, f"zip directory entry {index} is damaged")
            name_end = pos + CENTRAL_HEADER.size + header["name_length"]
            extra = directory[name_end:name_end + header["extra_length"]]
            entry = dict(header, name=directory[pos + CENTRAL_HEADER.size:name_end].decode("utf-8", "replace"))
            _apply_zip64_extra(entry, extra)
            f.seek(entry["local_header_offset"])
            local = LOCAL_HEADER.unpack(f.read(LOCAL_HEADER.size))
            if not local:
                raise _damaged(label, f"zip entry {entry['name']!r} points at a damaged local header")
            entry["data_offset"] = (entry["local_header_offset"] + LOCAL_HEADER.size + local["name_length"]
                                    + local["extra_length"])
            entry["size"] = entry["compressed_size"]
            if entry["data_offset"] + entry["size"] > file_size:
                raise _damaged(label, f"zip entry {entry['name']!r} runs past the end of the file")
            entries.append(entry)
            pos = name_end + header["extra_length"] + header["comment_length"]
    start = min([e["local_header_offset"] for e in entries] + [cd_offset])
    return ZipListing(path, entries, start)


def _apply_zip64_extra(entry, extra):
    """Replace the 0xFFFFFFFF placeholders with the zip64 extra field's values, in APPNOTE order."""
    pos = 0
    while pos + 4 <= len(extra):
        header_id, length = struct.unpack_from("<HH", extra, pos)
        if header_id == ZIP64_EXTRA_ID:
            values = list(struct.unpack_from(f"<{length // 8}Q", extra, pos + 4))
            for field in ("uncompressed_size", "compressed_size", "local_header_offset"):
                if entry[field] == 0xFFFFFFFF and values:
                    entry[field] = values.pop(0)
        pos += 4 + length
