"""The runtime's C++ args parser and zip reader, through small driver programs built by SCons."""

import json
import os
import random
import re
import resource
import struct
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO
from integration.conftest import run_scons
from lsone.errors import InputError
from lsone.packaging import zipembed
from lsone.packaging.argsfile import PLACEHOLDER, parse_args_text
from lsone.packaging.zipembed import IMAGE_SIZE_RECORD, append_zip

DRIVERS = os.path.join(REPO, "build", "tests")
sys.path.insert(0, os.path.join(REPO, "runtime", "tests"))
from cross_check import MODEL, fnv1a  # noqa: E402  the same model and hash as the other systems' check


@pytest.fixture(scope="module")
def drivers():
    run_scons("runtime-tests")
    return {name: os.path.join(DRIVERS, name) for name in ("args_dump", "layer_dump", "zip_dump", "map_dump")}


def cpp_parse(drivers, tmp_path, text, env=None):
    path = tmp_path / "case.args"
    path.write_bytes(text.encode())
    result = subprocess.run([drivers["args_dump"], str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, **(env or {})))
    if result.returncode:
        return result.returncode, result.stderr.strip()
    return 0, [json.loads(line) for line in result.stdout.splitlines()]


CASES = [
    ("-m model.gguf --port 8080\n", ["-m", "model.gguf", "--port", "8080"]),
    ("no-final-newline", ["no-final-newline"]),
    ("", []),
    ("# only a comment\n\n", []),
    ("--a # trailing comment\n--b", ["--a", "--b"]),
    ("x#notacomment", ["x#notacomment"]),
    ("'single $HOME \\n literal'", ["single $HOME \\n literal"]),
    ('"tab\\there" "nl\\n" "q\\"" "hex\\x41"', ["tab\there", "nl\n", 'q"', "hexA"]),
    ("back\\ slash \\#x", ["back slash", "#x"]),
    ("con'cat'\"enated\"", ["concatenated"]),
    ("--alias x\n... --port 9", ["--alias", "x", None, "--port", "9"]),
    ("'...' \"...\" \\...", ["...", "...", "..."]),
    ("'multi\nline'", ["multi\nline"]),
]


@pytest.mark.parametrize("text,expected", CASES)
def test_cpp_parser_cases(drivers, tmp_path, text, expected):
    assert cpp_parse(drivers, tmp_path, text) == (0, expected)
    # The build-time validator agrees with the runtime.
    assert [None if t is PLACEHOLDER else t for t in parse_args_text(text)] == expected


def test_cpp_parser_expands_variables_in_double_quotes(drivers, tmp_path):
    code, tokens = cpp_parse(drivers, tmp_path, '"$LSONE_X/a" "${LSONE_X}b" "$LSONE_UNSET." \'$LSONE_X\'',
                             env={"LSONE_X": "val"})
    assert (code, tokens) == (0, ["val/a", "valb", ".", "$LSONE_X"])


@pytest.mark.parametrize("text,line,problem", [
    ("--a\n'open", 2, "unterminated single quote"),
    ('--a\n--b "open\n\n', 2, "unterminated double quote"),
    ('"bad \\q"', 1, "bad escape \\q"),
    ('"\\xZZ"', 1, "bad escape \\x"),
    ("trailing\\", 1, "backslash at the end of the file"),
    ('"${UNCLOSED"', 1, "unterminated ${"),
])
def test_cpp_parser_errors_name_file_and_line(drivers, tmp_path, text, line, problem):
    code, message = cpp_parse(drivers, tmp_path, text)
    assert code == 2
    assert message.startswith(f"{tmp_path / 'case.args'}:{line}: ") and problem in message


def zip_dump(drivers, path):
    result = subprocess.run([drivers["zip_dump"], str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    if result.returncode:
        return result.returncode, result.stderr.strip()
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    return 0, {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows}


def test_zip_reader_matches_the_writer(drivers, tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + struct.pack("<I", 3) + b"x" * 5000)
    out = tmp_path / "packed"
    offsets = append_zip(drivers["zip_dump"], str(out), {".args": b"-c 8\n", "m.gguf": str(model)})
    code, entries = zip_dump(drivers, out)
    assert code == 0
    assert entries["m.gguf"] == (0, offsets["m.gguf"][0], 5008) and entries["m.gguf"][1] % 65536 == 0
    assert entries[".args"][2] == 5


def test_model_entry_mapped_streamed_and_read_gives_its_bytes(drivers, tmp_path):
    """The three ways the server reads a model from its own zip (runtime/tests/map_dump.cpp)."""
    source = tmp_path / "m.gguf"
    source.write_bytes(MODEL)
    exe = tmp_path / "map-dump"
    offset, size, _ = append_zip(drivers["map_dump"], str(exe), {".args": b"-c 8\n", "m.gguf": str(source)})["m.gguf"]
    result = subprocess.run([str(exe), "m.gguf"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"offset": offset, "size": size, "magic": "GGUF", "fnv1a": fnv1a(MODEL),
                                         "stream_matches": True, "read_entry_matches": True}
    assert offset % 65536 == 0
    missing = subprocess.run([str(exe), "nothing.gguf"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert missing.returncode == 2 and "no entry 'nothing.gguf'" in missing.stderr


def test_zip_reader_handles_zip64(drivers, tmp_path):
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.write(open(drivers["zip_dump"], "rb").read())
    out = tmp_path / "packed"
    # 70000 entries need the zip64 end-of-directory records (count > 65535).
    append_zip(str(big), str(out), {f"e/{n:05d}": b"" for n in range(70000)})
    code, entries = zip_dump(drivers, out)
    assert code == 0 and len(entries) == 70000


def test_plain_executable_has_no_entries(drivers):
    assert zip_dump(drivers, drivers["zip_dump"]) == (0, {})


def test_truncated_archive_is_reported(drivers, tmp_path):
    out = tmp_path / "packed"
    append_zip(drivers["zip_dump"], str(out), {".args": b"-c 8\n" * 100})
    data = out.read_bytes()
    (tmp_path / "cut").write_bytes(data[:-30])
    code, message = zip_dump(drivers, tmp_path / "cut")
    assert code == 2 and "truncated or damaged" in message


def test_lying_central_directory_is_reported(drivers, tmp_path):
    out = tmp_path / "packed"
    append_zip(drivers["zip_dump"], str(out), {".args": b"-c 8\n"})
    data = bytearray(out.read_bytes())
    eocd = data.rfind(b"PK\x05\x06")
    struct.pack_into("<I", data, eocd + 16, len(data) + 1000)  # central directory offset past the end
    (tmp_path / "liar").write_bytes(bytes(data))
    code, message = zip_dump(drivers, tmp_path / "liar")
    assert code == 2 and "outside the file" in message


# --- one layout: the runtime's named offsets (runtime/lsone_zip_layout.h) and the packager's ZipRecord tables

LAYOUT_RECORDS = {"end_record": zipembed.END_OF_CENTRAL_DIRECTORY, "zip64_locator": zipembed.ZIP64_LOCATOR,
                  "zip64_end_record": zipembed.ZIP64_END_OF_CENTRAL_DIRECTORY,
                  "central_header": zipembed.CENTRAL_HEADER, "local_header": zipembed.LOCAL_HEADER}
FIELD_WIDTHS = {"H": "u16", "I": "u32", "Q": "u64"}


def runtime_layout():
    """{record: {NAME: (value, width comment or None)}} from the header's namespaces."""
    text = open(os.path.join(REPO, "runtime", "lsone_zip_layout.h")).read()
    layout = {}
    records = r"^namespace (?!lsone\b|zip_layout\b)(\w+) \{(.*?)^\}  // namespace \1$"
    for name, body in re.findall(records, text, re.MULTILINE | re.DOTALL):
        layout[name] = {c: (int(v, 0), w) for c, v, w in
                        re.findall(r"^const \w+\s+(\w+)\s*=\s*(\w+);(?:\s*// (u\d+))?", body, re.MULTILINE)}
    return layout


def test_runtime_zip_layout_matches_the_packagers_records():
    layout = runtime_layout()
    assert set(LAYOUT_RECORDS) <= set(layout)
    for name, record in LAYOUT_RECORDS.items():
        constants = dict(layout[name])
        assert constants.pop("SIGNATURE")[0] == record.signature, name
        assert constants.pop("SIZE")[0] == record.size, name
        constants.pop("MAX_COMMENT", None)  # a limit, not a field
        assert constants, name
        formats = "I" + "".join(record.layout.format[2:])  # after "<I": one letter per field
        for constant, (offset, width) in constants.items():
            field = constant.lower()
            assert field in record.names, f"{name}::{constant} is not a field of the packager's {record.title}"
            index = record.names.index(field) + 1
            assert offset == struct.calcsize("<" + formats[:index]), f"{name}::{constant}"
            assert width == FIELD_WIDTHS[formats[index]], f"{name}::{constant} is read as {width}"
    assert layout["extra_block"]["ZIP64"][0] == zipembed.ZIP64_EXTRA_ID


# --- one grammar: the build-time check (argsfile.py) and the runtime agree (issue 13, item 7)

@pytest.mark.parametrize("text", [
    '"${A-B}"',                # the build used to accept it; the runtime refuses it
    '"${}"',
    'a\u00a0b c\u2028d e\x1cf',  # only ASCII whitespace separates arguments
    '"x\\0y"', '"\\x00"', 'a\0b', '# comment\nx \0',  # NUL: refused, never silently cut
    '"\\xe9\\xff" caf\u00e9',
])
def test_both_parsers_give_the_same_answer(drivers, tmp_path, text):
    assert python_answer(text.encode(), {}) == cpp_answers(drivers, tmp_path, [text.encode()], {})[0]


def test_nul_in_an_args_file_is_an_error_naming_the_line(drivers, tmp_path):
    code, message = cpp_parse(drivers, tmp_path, "--a\n--alias x\0y\n")
    assert code == 2 and message.endswith(":2: a NUL byte cannot be passed in an argument")


CORPUS_ALPHABET = [" ", "\t", "\n", "\r", "\v", "\f", "'", '"', "\\", "$", "{", "}", "#", ".", "...", "a", "b",
                   "A", "_", "0", "x", "n", "e", "?", "-", "\x1c", "\u00a0", "\u2028", "\u00e9"]
CORPUS_BYTES = [b"\x00", b"\xff", b"\xc3"]


def corpus(count, seed=13):
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randrange(0, 24)):
            parts.append(rng.choice(CORPUS_BYTES) if rng.random() < 0.02 else rng.choice(CORPUS_ALPHABET).encode())
        cases.append(b"".join(parts))
    return cases


def python_answer(data, environ):
    try:
        tokens = parse_args_text(data, "case", environ=environ)
    except InputError as e:
        return {"error_line": int(e.input_name.rsplit(":", 1)[1])}
    return [None if t is PLACEHOLDER else t.encode("utf-8", "surrogateescape").hex() for t in tokens]


def cpp_answers(drivers, tmp_path, cases, environ):
    paths = []
    for n, data in enumerate(cases):
        path = tmp_path / f"c{n}"
        path.write_bytes(data)
        paths.append(str(path))
    answers = []
    for at in range(0, len(paths), 2000):
        out = subprocess.run([drivers["args_dump"], "--each", *paths[at:at + 2000]], stdout=subprocess.PIPE,
                             env=environ, check=True).stdout
        answers += [json.loads(line) for line in out.splitlines()]
    assert len(answers) == len(cases)
    return answers


def test_parsers_agree_on_a_generated_corpus(drivers, tmp_path):
    environ = {"A": "va l", "x": "X", "_0": "", "e": "\u00e9"}
    cases = corpus(20000)
    cpp = cpp_answers(drivers, tmp_path, cases, environ)
    differ = [(data, want, python_answer(data, environ)) for data, want in zip(cases, cpp)
              if python_answer(data, environ) != want]
    assert not differ, f"{len(differ)} of {len(cases)} cases differ, e.g. {differ[:3]}"
    assert sum(isinstance(a, dict) for a in cpp) > 1000 and sum(isinstance(a, list) for a in cpp) > 5000


# --- the zip reader on damaged files (issue 13, items 4, 6 and 8)

def test_zip64_extra_field_longer_than_the_extra_data_is_refused(drivers, tmp_path):
    out = tmp_path / "packed"
    append_zip(drivers["zip_dump"], str(out), {"a": b"x", "b": b"y"})
    data = bytearray(out.read_bytes())
    cd = data.rfind(b"PK\x01\x02", 0, data.rfind(b"PK\x01\x02"))  # the first of two central entries
    name_len = struct.unpack_from("<H", data, cd + 28)[0]
    # Entry 'a' claims a zip64 size and a 24-byte zip64 field, but its extra data is only the 4-byte header;
    # the reader must not take the size from the bytes after it (the next entry).
    struct.pack_into("<I", data, cd + 24, 0xFFFFFFFF)
    struct.pack_into("<H", data, cd + 30, 4)
    struct.pack_into("<H", data, cd + 32, 0)
    data[cd + 46 + name_len:cd + 46 + name_len] = struct.pack("<HH", 1, 24)
    eocd = data.rfind(b"PK\x05\x06")
    struct.pack_into("<I", data, eocd + 12, struct.unpack_from("<I", data, eocd + 12)[0] + 4)
    (tmp_path / "bad").write_bytes(bytes(data))
    code, message = zip_dump(drivers, tmp_path / "bad")
    assert code == 2 and "extra field longer than its extra data" in message


@pytest.mark.parametrize("with_zip", [False, True])
def test_elf_section_header_offset_with_bit_63_is_survived(drivers, tmp_path, with_zip):
    data = bytearray(open(drivers["zip_dump"], "rb").read())
    struct.pack_into("<Q", data, 0x28, struct.unpack_from("<Q", data, 0x28)[0] | (1 << 63))
    odd = tmp_path / "odd"
    odd.write_bytes(bytes(data))
    if with_zip:  # written by another tool: no image-size record, so the ELF header is all there is
        with zipfile.ZipFile(odd, "a") as zf:
            zf.writestr(".args", "-c 8\n")
    code, entries = zip_dump(drivers, odd)
    assert code == 0 and list(entries) == ([".args"] if with_zip else [])
    if with_zip:
        method, offset, size = entries[".args"]
        assert odd.read_bytes()[offset:offset + size] == b"-c 8\n"


def ape_like(drivers, tmp_path):
    """An executable with no ELF header to say where its image ends, as an APE starts: MZqFpD='."""
    image = tmp_path / "ape-image"
    image.write_bytes(b"MZqFpD='\n\n" + open(drivers["zip_dump"], "rb").read())
    packed = tmp_path / "ape"
    append_zip(str(image), str(packed), {".args": b"-c 8\n" * 100, "ui/index.html": b"<p>x</p>" * 100})
    return image, packed


@pytest.mark.parametrize("keep", ["image and part of the zip", "image only", "part of the image"])
def test_truncated_ape_is_reported(drivers, tmp_path, keep):
    image, packed = ape_like(drivers, tmp_path)
    assert zip_dump(drivers, packed)[0] == 0
    image_size = os.path.getsize(image)
    size = {"image and part of the zip": image_size + 700, "image only": image_size,
            "part of the image": image_size - 1000}[keep]
    cut = tmp_path / "cut"
    cut.write_bytes(packed.read_bytes()[:size])
    code, message = zip_dump(drivers, cut)
    assert code == 2 and "truncated" in message, message


@pytest.mark.parametrize("past_a_mib", [1, 8])
def test_image_size_record_just_past_a_mib_boundary_is_found(drivers, tmp_path, past_a_mib):
    """The reader scans the file a MiB at a time with a small overlap: a record that starts a few
    bytes into the overlap has its value in the next window, and must be read there."""
    image = tmp_path / "image"
    image.write_bytes(b"MZqFpD='\n" + bytes((1 << 20) + past_a_mib - 9) + IMAGE_SIZE_RECORD + bytes(8) + bytes(4096))
    packed = tmp_path / "packed"
    append_zip(str(image), str(packed), {".args": b"-c 8\n" * 100})
    assert zip_dump(drivers, packed)[0] == 0
    cut = tmp_path / "cut"
    cut.write_bytes(packed.read_bytes()[:os.path.getsize(image) + 100])
    code, message = zip_dump(drivers, cut)
    assert code == 2 and "truncated" in message, message


def test_central_directory_size_cannot_force_a_huge_read(drivers, tmp_path):
    """A damaged end record claiming a 300 MB directory: refused before allocating or reading it."""
    exe = open(drivers["zip_dump"], "rb").read()
    claimed = 300 << 20
    bad = tmp_path / "bad"
    with open(bad, "wb") as f:
        f.write(exe)
        f.seek(len(exe) + claimed)  # a sparse hole where the directory would be
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, claimed, len(exe), 0))

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (128 << 20, 128 << 20))

    result = subprocess.run([drivers["zip_dump"], str(bad)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=limit_memory, timeout=60)
    assert result.returncode == 2 and "central directory" in result.stderr, (result.returncode, result.stderr)


# --- the args layers, through the same function the server's main() calls (issue 13, items 8 and trust model)

def layered(drivers, tmp_path, embedded=None, adjacent=None, args=(), timeout=20):
    """Run layer_dump packaged with an embedded .args (None: none) beside an adjacent file (None: none)."""
    exe = tmp_path / "layer-dump"
    if embedded is None:
        exe.write_bytes(open(drivers["layer_dump"], "rb").read())
        exe.chmod(0o755)
    else:
        append_zip(drivers["layer_dump"], str(exe), {".args": embedded.encode()})
    if adjacent is not None:
        (tmp_path / "layer-dump.args").write_text(adjacent)
    result = subprocess.run([str(exe), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            timeout=timeout)
    if result.returncode:
        return result.returncode, result.stderr.strip()
    return 0, [json.loads(line) for line in result.stdout.splitlines()]


def test_layers_in_order_and_tokens_after_the_placeholder_win(drivers, tmp_path):
    # Documented in the README's Security section: what follows `...` in the embedded file comes
    # after everything the person running the program gives, so for a repeated flag it wins.
    code, tokens = layered(drivers, tmp_path, embedded="--port 1 ... --host 0.0.0.0\n",
                           adjacent="--port 2\n", args=["--port", "3", "--host", "127.0.0.1"])
    assert (code, tokens) == (0, ["--port", "1", "--port", "2", "--port", "3", "--host", "127.0.0.1",
                                  "--host", "0.0.0.0"])


def test_empty_argv_is_survived(drivers, tmp_path):
    assert layered(drivers, tmp_path, embedded="--port 1\n", args=["--argc0"]) == (0, ["--port", "1"])


def test_fifo_as_the_adjacent_args_file_is_refused_not_waited_on(drivers, tmp_path):
    os.mkfifo(tmp_path / "layer-dump.args")
    code, message = layered(drivers, tmp_path, embedded="--port 1\n", timeout=10)
    assert code == 2 and "layer-dump.args: not a regular file" in message


def test_nul_in_the_adjacent_args_file_stops_startup(drivers, tmp_path):
    code, message = layered(drivers, tmp_path, adjacent="--alias 'a\0b'\n")
    assert code == 2 and "layer-dump.args:1: a NUL byte cannot be passed in an argument" in message
