"""A stand-in for cosmocc 4.0.2's documented interface, for machines that cannot download it.

make_standin(root) writes bin/cosmocc, bin/cosmoc++, bin/cosmoar and bin/apelink as small
programs that log their argument lists and TMPDIR to ROOT.calls.jsonl (beside the tree, whose
hash is the toolchain identity) and write the files the real tools
write (the .aarch64/ twins, the .com.dbg and .aarch64.elf beside a link). Like the real tools
they refuse arguments with spaces, -march=native in fat mode, and an input without its
.aarch64/ twin. They compile nothing: the output's bytes are a hash of the inputs and flags.
The rest of the layout the build checks for (the tools the real driver scripts run, GCC's
libgomp.spec) is there too; those tools refuse to run, since the stand-in drivers never call them.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "site_scons"))
from lsone.cosmocc import EXECUTABLES, REQUIRED_FILES  # noqa: E402

DRIVER = r'''
import hashlib, json, os, re, subprocess, sys

BIN = os.path.dirname(os.path.abspath(__file__))
PROG = os.path.basename(sys.argv[0])
ARGS = sys.argv[1:]


def log():
    with open(os.path.abspath(os.path.join(BIN, "..")) + ".calls.jsonl", "a") as f:  # outside the tree:
        f.write(json.dumps({"tool": PROG, "argv": ARGS, "cwd": os.getcwd(), "TMPDIR": os.environ.get("TMPDIR")}) + "\n")


def fail(message):
    sys.stderr.write(f"{PROG}: fatal error: {message}\n")
    sys.exit(1)


def twin(path):
    head, tail = os.path.split(path)
    return os.path.join(head, ".aarch64", tail)


def write(path, parts):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    digest = hashlib.sha256()
    for p in parts:
        digest.update(p if isinstance(p, bytes) else str(p).encode())
    with open(path, "wb") as f:
        f.write(b"standin " + digest.hexdigest().encode() + b"\n")


def content(path):
    with open(path, "rb") as f:
        return f.read()


def compiler():
    out, inputs, flags, intent, i = None, [], [], "ld", 0
    while i < len(ARGS):
        a = ARGS[i]
        if " " in a:
            fail(f"arguments containing spaces unsupported: {a}")
        if a == "-march=native":
            fail("-march=native can't be used when building fat binaries")
        if a in ("-shared", "-r", "-S", "-pie", "-nostdlib", "-mred-zone", "-fsanitize=thread"):
            fail(f"{a} flag not supported")
        if a == "-o":
            out, i = ARGS[i + 1], i + 2
            continue
        if a.startswith("-o"):
            out, i = a[2:], i + 1
            continue
        if a == "-c":
            intent = "cc"
        elif a == "-include":  # like a real compiler, the header's content matters, not its path
            flags += [a, content(ARGS[i + 1])]
            i += 2
            continue
        elif a in ("-x", "-I", "-D"):
            flags += [a, ARGS[i + 1]]
            i += 2
            continue
        elif a.startswith("-ffile-prefix-map="):
            pass  # maps build paths away, as it does for the real compiler
        elif not a.startswith("-"):
            if a.endswith((".s", ".S")):
                fail(f"{a}: assembler input files not supported")
            if not os.path.isfile(a):
                fail(f"{a}: no such file")
            inputs.append(a)
        else:
            flags.append(a)
        i += 1
    if not inputs:
        fail("no input files")
    if intent == "cc":
        write(out, ["x86_64"] + flags + [content(p) for p in inputs])
        write(twin(out), ["aarch64"] + flags + [content(p) for p in inputs])
        return
    for p in inputs:
        if p.endswith((".o", ".a")) and not os.path.isfile(twin(p)):
            fail(f"{p}: linker input missing concomitant {twin(p)} file")
    stem = out[:-4] if out.endswith(".com") else out
    write(stem + ".com.dbg", ["x86_64 elf"] + flags + [content(p) for p in inputs])
    write(stem + ".aarch64.elf", ["aarch64 elf"] + flags + [content(twin(p)) if p.endswith((".o", ".a"))
                                                           else content(p) for p in inputs])
    subprocess.run([os.path.join(BIN, "apelink"), "-l", os.path.join(BIN, "ape-x86_64.elf"),
                    "-l", os.path.join(BIN, "ape-aarch64.elf"), "-M", os.path.join(BIN, "ape-m1.c"),
                    "-o", out, stem + ".com.dbg", stem + ".aarch64.elf"], check=True)


def archiver():
    # cosmoar hands any GNU ar operation string to the per-arch ar; the stand-in makes archives only.
    if len(ARGS) < 2 or not re.fullmatch(r"-?[qr][abcDfilMNoOPsSTuUvV]*", ARGS[0]):
        fail("the stand-in cosmoar only creates archives: cosmoar r[MODIFIERS] ARCHIVE FILE...")
    out, members = ARGS[1], ARGS[2:]
    for m in members:
        if not os.path.isfile(twin(m)):
            fail(f"{m}: missing concomitant {twin(m)} file")
    write(out, [content(m) for m in members])
    write(twin(out), [content(twin(m)) for m in members])


def apelink():
    out = ARGS[ARGS.index("-o") + 1]
    elves = [a for a in ARGS[ARGS.index("-o") + 2:]]
    with open(out, "wb") as f:
        f.write(b"MZqFpD='\n\n")  # an APE starts as a shell script, not an ELF
        for e in elves:
            f.write(content(e))
    os.chmod(out, 0o755)


def layout_only():
    fail("stand-in: present for the layout check; the stand-in drivers never run it")


log()
{"cosmocc": compiler, "cosmoc++": compiler, "cosmoar": archiver, "apelink": apelink}.get(PROG, layout_only)()
'''


def make_standin(root):
    """Write the stand-in toolchain under root; return root."""
    for rel in REQUIRED_FILES:
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(f"#!{sys.executable}\n" + DRIVER if rel in EXECUTABLES else f"stand-in {rel}\n")
        if rel in EXECUTABLES:
            os.chmod(path, 0o755)
    return root


def calls(root):
    """The logged calls, in order: [{"tool": ..., "argv": [...], "cwd": ...}]."""
    path = os.path.abspath(root) + ".calls.jsonl"
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f]
