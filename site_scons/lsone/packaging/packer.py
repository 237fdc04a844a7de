"""What goes into a llama-server-one's zip, for the build (ZipEmbed) and for pack.py alike.

pack.py puts your own model, args file or web UI into a llama-server-one you
downloaded, without a checkout, SCons or a compiler (Python 3 only):

    unzip -p llama-server-one pack.py > pack.py
    python3 pack.py llama-server-one --model m.gguf --args my.args --ui dir/ -o my-server

`python3 pack.py llama-server-one --list` shows what its zip holds.

It keeps the executable part byte for byte and replaces the zip. What you leave out
is kept from the input; --no-model, --no-args and --no-ui drop it instead. Given the
same inputs it writes exactly the bytes the build writes. pack.py is this module and
the modules it uses (errors, argsfile, macho, zipembed) joined into one file by
lsone/packaging/standalone.py, so there is one implementation: keep these stdlib-only.
"""

import argparse
import hashlib
import json
import os
import struct
import sys
import zlib

from .argsfile import compose_embedded_args, parse_args_text, split_embedded_args
from ..errors import InputError
from .macho import MACHO_MAGIC, refresh_page_hashes
from .zipembed import (FileRange, append_zip, check_gguf, dos_to_epoch, image_bytes, image_size_records,
                       read_appended_zip)

DESCRIPTION = """\
Put your own model, args file or web UI into a llama-server-one: the executable part is kept
byte for byte and the zip is replaced. What you leave out is kept from IN; --no-model, --no-args
and --no-ui drop it. A packaged release carries this script: unzip -p llama-server-one pack.py"""
ARGS_ENTRY, MANIFEST_ENTRY, PACKER_ENTRY, UI_DIR = ".args", "manifest.json", "pack.py", "ui"
EXECUTABLE_MAGICS = (b"\x7fELF", b"MZ", MACHO_MAGIC)  # ELF, PE / APE (an APE starts with "MZqFpD"), Mach-O


def model_entry_name(path, label):
    """A model's entry name is its file name; it must end in .gguf, which is what gets aligned."""
    name = os.path.basename(path)
    if not name.lower().endswith(".gguf"):
        raise InputError(label, "the model's file name must end in .gguf", found=name,
                         fix="rename the file to NAME.gguf (the name becomes /zip/NAME.gguf)")
    return name


def build_args(model_name, has_ui):
    """The arguments the packager knows: where the model and the UI are inside the zip."""
    return (["-m", f"/zip/{model_name}"] if model_name else []) + (["--path", f"/zip/{UI_DIR}"] if has_ui else [])


def list_ui_files(root, label):
    """[(entry name, path)] for every file under root, sorted; root must hold index.html."""
    if not os.path.isdir(root):
        raise InputError(label, "not a directory", fix="pass a directory of static files (with index.html)")
    if not os.path.isfile(os.path.join(root, "index.html")):  # before walking what may be a large tree
        raise InputError(label, "no index.html at the top of the directory", expected="DIR/index.html",
                         found=f"{len(os.listdir(root))} entries in {root}, none of them index.html",
                         fix="point it at the directory that holds index.html")
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            path = os.path.join(dirpath, f)
            files.append((f"{UI_DIR}/" + os.path.relpath(path, root).replace(os.sep, "/"), path))
    return files


def package_summary(manifest):
    """One line for --version: the package's llama.cpp, toolchain and embedded model."""
    tool = manifest.get("toolchain", {})
    compiler = tool.get("version") or tool.get("cc", {}).get("version", "")
    models = sorted(n for n in manifest.get("entries", {}) if n.lower().endswith(".gguf") and "/" not in n)
    rev = manifest.get("llama.cpp", {}).get("rev", "unknown")[:12]
    return (f"llama-server-one: llama.cpp {rev} + {len(manifest.get('patches', {}))} patches, "
            f"{tool.get('kind', 'unknown')} {compiler}".rstrip() +
            f", model {models[0] if models else 'none'}; --manifest shows the rest")


def compose_manifest(base, executable_sha256, entry_sha256s):
    """manifest.json: the build's provenance, the executable's and each entry's sha256, a summary."""
    manifest = dict(base, executable={"sha256": "sha256:" + executable_sha256, "note": "before the zip was appended"},
                    entries={name: "sha256:" + digest for name, digest in entry_sha256s.items()})
    manifest["summary"] = package_summary(manifest)
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


def _hash_source(source):
    """(sha256 hex, crc32) of bytes, a file or a FileRange, in one pass."""
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest(), zlib.crc32(source)
    path, offset, size = source if isinstance(source, FileRange) else (source, 0, os.path.getsize(source))
    digest, crc = hashlib.sha256(), 0
    with open(path, "rb") as f:
        f.seek(offset)
        while size > 0:
            chunk = f.read(min(1 << 20, size))
            if not chunk:
                raise InputError(path, "is shorter than expected while being read")
            digest.update(chunk)
            crc = zlib.crc32(chunk, crc)
            size -= len(chunk)
    return digest.hexdigest(), crc


def _read_args_file(path, label):
    """An args file's bytes as text, unchanged (README "Args files": bytes, UTF-8 or not; CRs kept),
    exactly as the build reads args=FILE."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
            return f.read()
    except OSError as e:
        raise InputError(label, "cannot be read", found=str(e), fix="pass an args file") from e


class Package:
    """An existing llama-server-one: its executable part and the zip entries to keep or replace."""

    def __init__(self, path):
        label = f"{path} (the llama-server-one to repack)"
        zip_listing = read_appended_zip(path, label)
        with open(path, "rb") as f:
            magic = f.read(4)
        if not magic.startswith(EXECUTABLE_MAGICS):
            raise InputError(label, "is not an executable", found=repr(magic),
                             expected="an ELF, a 64-bit Mach-O or an APE (starting with MZ)")
        for required in (ARGS_ENTRY, MANIFEST_ENTRY):
            if not zip_listing.find(required):
                raise InputError(label, f"its zip has no {required}, so it is not a llama-server-one package",
                                 found=", ".join(e["name"] for e in zip_listing.entries[:8]) or "an empty zip",
                                 fix="pass a llama-server-one built by scons or written by pack.py")
        for entry in zip_listing.entries:
            if entry["method"] != 0:
                raise InputError(label, f"zip entry {entry['name']!r} is compressed",
                                 expected="STORED entries, as llama-server-one writes them")
        unknown = [e["name"] for e in zip_listing.entries if not _is_ours(e["name"])]
        if unknown:  # dropping them silently would lose data
            raise InputError(label, "its zip holds entries this pack.py does not know", found=", ".join(unknown[:8]),
                             fix=f"use the pack.py that came with it: unzip -p {path} pack.py > pack.py")
        self.label, self.zip = label, zip_listing
        self.executable = FileRange(path, 0, zip_listing.start)
        image = bytearray(image_bytes(self.executable))
        for at in image_size_records(image):  # the packager wrote the image's size there
            recorded = struct.unpack_from("<Q", image, at)[0]
            if recorded != len(image):
                raise InputError(label, "its zip does not start where its executable ends",
                                 expected=f"the zip at byte {recorded} (the image size recorded when it was "
                                          "packaged)", found=f"the zip at byte {len(image)}",
                                 fix="download or build it again")
            image[at:at + 8] = bytes(8)
        refresh_page_hashes(image)  # a Mach-O's signature as linked, before the record was written
        self.executable_sha256 = hashlib.sha256(image).hexdigest()  # as linked, before packaging
        first = zip_listing.entries[0]
        self.epoch = dos_to_epoch(first["mod_time"], first["mod_date"])  # keep the input's timestamps
        try:
            self.manifest = json.loads(zip_listing.read(MANIFEST_ENTRY))
            self.args = split_embedded_args(zip_listing.read(ARGS_ENTRY).decode("utf-8", "surrogateescape"),
                                            f"{path}: /zip/.args")
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError included
            raise InputError(label, "its manifest.json or .args is damaged", found=str(e),
                             fix="download or build it again") from e

    def entries(self, predicate):
        return {e["name"]: FileRange(self.zip.path, e["data_offset"], e["size"])
                for e in self.zip.entries if predicate(e["name"])}


def _is_model(name):
    return "/" not in name and name.lower().endswith(".gguf")


def _is_ui(name):
    return name.startswith(UI_DIR + "/")


def _is_ours(name):
    return name in (ARGS_ENTRY, MANIFEST_ENTRY, PACKER_ENTRY) or _is_model(name) or _is_ui(name)


def repack(input_path, output, packer_source, model=None, args=None, ui=None, keep=("model", "args", "ui")):
    """Write output: input's executable part, then a zip of the chosen model, args and UI.

    A part given as a path replaces the input's; a part not given is kept from the input
    when it is named in keep, and dropped otherwise.
    """
    if os.path.abspath(output) == os.path.abspath(input_path):
        raise InputError(f"-o {output}", "is the input itself", fix="write to a new file, then rename it")
    package = Package(input_path)
    defaults_text, defaults_origin, user_text, user_origin = package.args
    entries = {}
    if model:
        check_gguf(model, label=f"--model {model}")
        entries[model_entry_name(model, f"--model {model}")] = model
    elif "model" in keep:
        entries.update(package.entries(_is_model))
    if ui:
        entries.update(list_ui_files(ui, f"--ui {ui}"))
    elif "ui" in keep:
        entries.update(package.entries(_is_ui))
    if args:
        user_text, user_origin = _read_args_file(args, f"--args {args}"), f"args={os.path.basename(args)}"
        parse_args_text(user_text, f"--args {args}")
    elif "args" not in keep:
        user_text = user_origin = None
    model_names = [n for n in entries if _is_model(n)]
    args_text = compose_embedded_args(defaults_text, build_args(model_names[0] if model_names else None,
                                                                any(_is_ui(n) for n in entries)),
                                      user_text, defaults_origin=defaults_origin,
                                      user_origin=user_origin or "args=FILE")
    entries[ARGS_ENTRY] = args_text.encode("utf-8", "surrogateescape")
    entries[PACKER_ENTRY] = packer_source
    hashes = {name: _hash_source(source) for name, source in entries.items()}
    entries[MANIFEST_ENTRY] = compose_manifest(package.manifest, package.executable_sha256,
                                               {name: h[0] for name, h in hashes.items()})
    return append_zip(package.executable, output, entries, epoch=package.epoch,
                      known_crcs={name: h[1] for name, h in hashes.items()})


def listing(path):
    """What pack.py --list prints: the summary, the executable part, then each entry's data offset and size."""
    package = Package(path)
    lines = [package.manifest.get("summary", ""),
             f"executable: {package.executable.size} bytes, sha256 {package.executable_sha256} as linked"]
    return "\n".join(lines + [f"{e['data_offset']:>12} {e['size']:>12}  {e['name']}" for e in package.zip.entries])


def main(argv, packer_source):
    parser = argparse.ArgumentParser(prog="pack.py", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", metavar="IN", help="a llama-server-one executable (ELF, Mach-O or APE)")
    parser.add_argument("-o", "--output", metavar="OUT", help="the file to write")
    parser.add_argument("--list", action="store_true", help="show IN's zip (offset, size, name) and write nothing")
    parser.add_argument("--model", metavar="FILE.gguf", help="embed this model as /zip/FILE.gguf")
    parser.add_argument("--args", metavar="FILE", help="your args file (cosmo_args syntax), after the defaults")
    parser.add_argument("--ui", metavar="DIR", help="a web UI directory with index.html, served at /")
    for part in ("model", "args", "ui"):
        parser.add_argument(f"--no-{part}", action="store_true", help=f"drop the input's {part}")
    opts = parser.parse_args(argv)
    if not opts.output and not opts.list:
        parser.error("-o OUT is required (or --list to only show IN's zip)")
    keep = [p for p in ("model", "args", "ui") if not getattr(opts, f"no_{p}")]
    try:
        if opts.list:
            print(listing(opts.input))
            return 0
        repack(opts.input, opts.output, packer_source, model=opts.model, args=opts.args, ui=opts.ui, keep=keep)
    except (InputError, OSError) as e:
        print(f"pack.py: {e}", file=sys.stderr)
        return 2
    print(f"pack.py: wrote {opts.output}")
    return 0
