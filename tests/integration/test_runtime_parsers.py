"""The runtime's C++ args parser and zip reader, through small driver programs built by SCons."""

import json
import os
import struct
import subprocess

import pytest

from conftest import REPO
from integration.conftest import run_scons
from lsone.argsfile import PLACEHOLDER, parse_args_text
from lsone.zipembed import append_zip

DRIVERS = os.path.join(REPO, "build", "tests")


@pytest.fixture(scope="module")
def drivers():
    run_scons("runtime-tests")
    return {name: os.path.join(DRIVERS, name) for name in ("args_dump", "zip_dump")}


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
