"""A stand-in for cosmocc 4.0.2's documented interface, for machines that cannot download it.

make_standin(root) writes bin/cosmocc, bin/cosmoc++, bin/cosmoar, bin/apelink and the per-architecture
bin/<arch>-linux-cosmo-{ld,objcopy} (ld -r and objcopy only) as small
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
from lsone.inputs.cosmocc import EXECUTABLES, REQUIRED_FILES  # noqa: E402

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


def arch_inputs(paths):
    """Each architecture's binutils get that architecture's objects: aarch64's are the .aarch64/ twins."""
    arch = PROG.split("-")[0]
    for p in paths:
        if not os.path.isfile(p):
            fail(f"{p}: No such file")
        if ("/.aarch64/" in p) != (arch == "aarch64"):
            fail(f"{p}: file format not recognized (not an {arch} object)")


def relocatable_link():
    if "-r" not in ARGS:
        fail("only -r (a relocatable link) is supported here")
    out = ARGS[ARGS.index("-o") + 1]
    inputs = [a for i, a in enumerate(ARGS) if not a.startswith("-") and ARGS[i - 1] != "-o"]
    arch_inputs(inputs)
    write(out, [PROG] + [content(p) for p in inputs])


def objcopy():
    options = [a for a in ARGS if a.startswith("-")]
    files = [a for a in ARGS if not a.startswith("-")]
    if len(files) != 2 or any(o.split("=")[0] not in ("--redefine-sym", "--keep-global-symbol") for o in options):
        fail("usage: objcopy [--redefine-sym OLD=NEW] [--keep-global-symbol=SYM] IN OUT")
    arch_inputs(files[:1])
    write(files[1], [PROG] + options + [content(files[0])])


def layout_only():
    fail("stand-in: present for the layout check; the stand-in drivers never run it")


log()
TOOLS = {"cosmocc": compiler, "cosmoc++": compiler, "cosmoar": archiver, "apelink": apelink}
for _arch in ("x86_64", "aarch64"):
    TOOLS.update({f"{_arch}-linux-cosmo-ld": relocatable_link, f"{_arch}-linux-cosmo-objcopy": objcopy})
TOOLS.get(PROG, layout_only)()
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
