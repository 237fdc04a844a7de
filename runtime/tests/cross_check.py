"""The runtime on other systems: build runtime/'s test drivers with zig for Linux (musl), Windows
and macOS, run the Linux and Windows ones (Windows under wine) on the same inputs, and check
that they give the same answers as each other and as the packager.

    python3 runtime/tests/cross_check.py --zig PATH/TO/zig [--wine PATH/TO/wine64] [--work DIR]

zig's cache is $ZIG_GLOBAL_CACHE_DIR, else DIR/zig-cache (its first link per target builds that
target's libc and libc++: minutes); wine's prefix is $WINEPREFIX, else DIR/wineprefix.

What runs on each runnable target: the args parser on a set of args files (args_dump --each),
the zip reader on a packed, a zip64 and a truncated file (zip_dump), the args layers of a
packaged driver with an args file beside it (layer_dump), and a model entry read mapped, through
a stream and with read_entry (map_dump). macOS targets are compiled and linked only.
Exits 1 after listing every difference. Importable: check(zig, wine, work) returns that list.
"""

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "site_scons"))
from lsone.packaging.zipembed import append_zip  # noqa: E402

RUNTIME = os.path.join(REPO, "runtime")
READER_SOURCES = ["lsone_args.cpp", "lsone_zip.cpp", "lsone_image.cpp", "lsone_platform.cpp"]
DRIVERS = ["args_dump", "layer_dump", "zip_dump", "map_dump"]
# Flags the build must give each target (issue 19's zig toolchain uses the same).
TARGETS = {
    "x86_64-linux-musl": {"flags": ["-static"], "exe": "", "runs": "native"},
    "x86_64-windows-gnu": {"flags": [], "exe": ".exe", "runs": "wine"},
    "x86_64-macos": {"flags": [], "exe": "", "runs": None},
    "aarch64-macos": {"flags": [], "exe": "", "runs": None},
}
COMMON_FLAGS = ["-std=c++17", "-O1", "-g0", "-Wall", "-Wextra", "-Werror", f"-I{RUNTIME}"]
ARGS_FILES = {
    "plain": b"-m model.gguf --port 8080\n",
    "quotes": b"'single $HOME \\n literal' \"tab\\there\" \"hex\\x41\" con'cat'\"enated\"\n",
    "layers": b"--alias x\n... --port 9\r\n# a comment\n",
    "crlf": b"--a\r\n--b 'c\r\nd'\r\n",
    "unicode": "caf\u00e9 '\u2028' \"\\xe9\"".encode(),
    "error": b"--a\n'open",
    "zero_byte": b"--a\n--alias x\0y\n",  # not "nul": NUL.* names the null device on Windows
}
MODEL = b"GGUF" + struct.pack("<I", 3) + bytes(range(256)) * 300


def fnv1a(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def build(zig, target, work, env):
    """The drivers for one target: {driver: path}."""
    spec, out = TARGETS[target], os.path.join(work, target)
    os.makedirs(out, exist_ok=True)
    cxx = [zig, "c++", "-target", target, *COMMON_FLAGS]
    objects = []
    for source in READER_SOURCES:
        obj = os.path.join(out, source + ".o")
        subprocess.run([*cxx, "-c", os.path.join(RUNTIME, source), "-o", obj], check=True, env=env)
        objects.append(obj)
    drivers = {}
    for name in DRIVERS:
        drivers[name] = os.path.join(out, name + spec["exe"])
        subprocess.run([*cxx, *spec["flags"], os.path.join(RUNTIME, "tests", name + ".cpp"), *objects,
                        "-o", drivers[name]], check=True, env=env)
    return drivers


def runner(target, wine, env):
    def run(exe, *args, cwd):
        prefix = [wine] if TARGETS[target]["runs"] == "wine" else []
        r = subprocess.run([*prefix, exe, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, timeout=300)
        return r.returncode, r.stdout.decode(errors="replace").replace("\r\n", "\n"), \
            r.stderr.decode(errors="replace").replace("\r\n", "\n").strip()
    return run


def answers(drivers, run, work):
    """What one target's drivers say, on inputs made here in work (relative paths, so the same text)."""
    os.makedirs(work, exist_ok=True)
    for name, text in ARGS_FILES.items():
        with open(os.path.join(work, name + ".args"), "wb") as f:
            f.write(text)
    out = {"args_each": run(drivers["args_dump"], "--each", *[n + ".args" for n in ARGS_FILES], cwd=work),
           "args_error": run(drivers["args_dump"], "zero_byte.args", cwd=work)}

    with open(os.path.join(work, "m.gguf"), "wb") as f:
        f.write(MODEL)
    written = {}
    packed = os.path.join(work, "packed" + os.path.splitext(drivers["zip_dump"])[1])
    written["packed"] = append_zip(drivers["zip_dump"], packed, {".args": b"-c 8\n", "m.gguf": os.path.join(work, "m.gguf")})
    written["zip64"] = append_zip(drivers["zip_dump"], os.path.join(work, "zip64"), {f"e/{n:05d}": b"" for n in range(70000)})
    with open(packed, "rb") as f:
        data = f.read()
    with open(os.path.join(work, "cut"), "wb") as f:
        f.write(data[:-30])
    for name in ("packed", "zip64", "cut"):
        code, stdout, stderr = run(drivers["zip_dump"], os.path.basename(packed) if name == "packed" else name, cwd=work)
        entries = {r[0]: tuple(map(int, r[1:])) for r in (line.split("\t") for line in stdout.splitlines())}
        out["zip_" + name] = (code, entries, stderr)
    out["written"] = written

    layered = os.path.join(work, "layered")
    os.makedirs(layered, exist_ok=True)
    exe = os.path.join(layered, "layer-dump" + os.path.splitext(drivers["layer_dump"])[1])
    append_zip(drivers["layer_dump"], exe, {".args": b"--port 1 ... --host 0.0.0.0\n"})
    with open(os.path.join(layered, "layer-dump.args"), "w") as f:
        f.write("--port 2\n")
    out["layers"] = run(exe, "--port", "3", cwd=layered)

    mapped = os.path.join(work, "map-dump" + os.path.splitext(drivers["map_dump"])[1])
    out["map_written"] = append_zip(drivers["map_dump"], mapped, {"m.gguf": os.path.join(work, "m.gguf")})["m.gguf"]
    code, stdout, stderr = run(mapped, "m.gguf", cwd=work)
    out["map"] = (code, json.loads(stdout) if code == 0 else None, stderr)
    return out


def differences(target, got, reference):
    """What is wrong with one target's answers, judged by the packager and by the reference target."""
    problems = []

    def expect(what, ok, detail):
        if not ok:
            problems.append(f"{target}: {what}: {detail}")

    for key in ("args_each", "args_error", "layers"):
        expect(key, got[key] == reference[key], f"{got[key]!r} != reference {reference[key]!r}")
    expect("args_each", got["args_each"][0] == 0 and got["args_each"][1].count("\n") == len(ARGS_FILES),
           got["args_each"])
    expect("layers", got["layers"][:2] == (0, "".join(f'"{a}"\n' for a in
                                                       ["--port", "1", "--port", "2", "--port", "3", "--host",
                                                        "0.0.0.0"])), got["layers"])
    code, entries, stderr = got["zip_packed"]
    written = got["written"]["packed"]
    expect("zip_packed", code == 0 and entries == {n: (0, o, s) for n, (o, s, _) in written.items()},
           f"{got['zip_packed']} != written {written}")
    code, entries, stderr = got["zip_zip64"]
    expect("zip_zip64", code == 0 and len(entries) == 70000, (code, len(entries), stderr))
    code, entries, stderr = got["zip_cut"]
    expect("zip_cut", code == 2 and "truncated" in stderr and stderr.split(": ", 1)[1:] ==
           reference["zip_cut"][2].split(": ", 1)[1:], got["zip_cut"])
    offset, size, _ = got["map_written"]
    want = {"offset": offset, "size": size, "magic": "GGUF", "fnv1a": fnv1a(MODEL), "stream_matches": True,
            "read_entry_matches": True}
    expect("map", got["map"][:2] == (0, want), f"{got['map']} != {want}")
    expect("map", offset % 65536 == 0, f"model data at {offset}, not 64 KiB-aligned")
    return problems


def check(zig, wine, work):
    cache = os.environ.get("ZIG_GLOBAL_CACHE_DIR") or os.path.join(work, "zig-cache")  # never ~/.cache/zig
    env = dict(os.environ, ZIG_GLOBAL_CACHE_DIR=cache, ZIG_LOCAL_CACHE_DIR=cache, WINEDEBUG="-all",
               WINEPREFIX=os.environ.get("WINEPREFIX") or os.path.join(work, "wineprefix"))
    results, problems = {}, []
    for target, spec in TARGETS.items():
        drivers = build(zig, target, work, env)
        print(f"{target}: built {', '.join(sorted(drivers))}", flush=True)
        if spec["runs"]:
            results[target] = answers(drivers, runner(target, wine, env), os.path.join(work, "run-" + target))
    reference = results["x86_64-linux-musl"]
    for target, got in results.items():
        found = differences(target, got, reference)
        print(f"{target}: ran under {TARGETS[target]['runs']}: "
              f"{'the same answers as the packager and the Linux build' if not found else 'DIFFERS'}", flush=True)
        problems += found
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zig", required=True)
    parser.add_argument("--wine", default=shutil.which("wine64") or "/usr/lib/wine/wine64")
    parser.add_argument("--work", default=None)
    options = parser.parse_args()
    work = options.work or tempfile.mkdtemp(prefix="lsone-cross-")
    problems = check(os.path.abspath(options.zig), options.wine, os.path.abspath(work))
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
