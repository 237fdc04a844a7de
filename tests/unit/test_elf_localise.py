"""lsone/compile/elf_localise.py against GNU objcopy, on real objects from gcc and clang (x86_64 and, cross,
aarch64): the same symbols (name, binding, type, section, value, size) and relocations naming the same
symbols, read back by GNU readelf; and two copies of one code, isolated, link into one program that runs.
"""

import os
import subprocess

import pytest

from elf_readback import check_symbol_order, groups, relocations, run, symbols, tool
from lsone.compile import elf_localise
from lsone.compile.elf_localise import ElfObject, localise, localise_file
from lsone.errors import InputError

# The code of one CPU level in miniature: COMDAT groups (an inline function with a static, a template),
# a weak definition, an address-taken function (clang's .llvm_addrsig), data and an undefined reference;
# no headers, so clang compiles it for aarch64 too. LEVEL tells the two copies apart.
LEVEL_SOURCE = r"""
inline int bump() { static int calls; return ++calls; }
template <typename T> T scaled(T v) { return v * LEVEL; }
int level_value = LEVEL;
int (*volatile level_fn)(int) = scaled<int>;
__attribute__((weak)) int weak_hook() { return LEVEL; }
extern "C" int external_base;
extern "C" int ggml_backend_score() { return scaled(level_value) + weak_hook(); }
extern "C" int ggml_backend_init() { return external_base + level_fn(level_value) + weak_hook() + bump(); }
"""
# _start without a C library: exit code 15 when each copy kept its own data, counter and weak function.
START_SOURCE = r"""
int lsone_cpu_one_init(void), lsone_cpu_two_init(void);
int external_base = 100;
int run(void) {
    int a = lsone_cpu_one_init() - 100, b = lsone_cpu_two_init() - 100;
    int c = lsone_cpu_one_init() - 100, d = lsone_cpu_two_init() - 100;
    return (a == 3) | (b == 7) << 1 | (c == 4) << 2 | (d == 8) << 3;
}
#if defined(__x86_64__)
__asm__(".globl _start\n_start:\n xor %ebp, %ebp\n call run\n mov %eax, %edi\n mov $60, %eax\n syscall\n");
#else
__asm__(".globl _start\n_start:\n bl run\n mov x8, #93\n svc #0\n");
#endif
"""
# (compiler argv, binutils prefix, emulator) per (compiler, arch); the tools are what ./test installs
BUILDS = {
    ("gcc", "x86_64"): (["g++", "-fno-gnu-unique"], "", []),
    ("clang", "x86_64"): (["clang++", "--target=x86_64-linux-gnu"], "", []),
    ("clang", "aarch64"): (["clang++", "--target=aarch64-linux-gnu"], "aarch64-linux-gnu-", ["qemu-aarch64"]),
}
FLAGS = ["-O2", "-fno-exceptions", "-fno-rtti", "-fno-stack-protector", "-c"]
RENAMES = {"ggml_backend_init": "lsone_cpu_one_init", "ggml_backend_score": "lsone_cpu_one_score"}
KEEP = ["lsone_cpu_one_init", "lsone_cpu_one_score"]


def level_object(tmp_path, build, level=1, partial=False, name=None):
    """LEVEL_SOURCE compiled (and, partial=True, `ld -r --force-group-allocation`ed as the build does)."""
    compiler, prefix, _ = BUILDS[build]
    source = tmp_path / "level.cpp"
    source.write_text(LEVEL_SOURCE)
    out = str(tmp_path / f"{name or build[0] + '-' + build[1]}-{level}.o")
    run(*compiler, *FLAGS, f"-DLEVEL={level}", str(source), "-o", out)
    if partial:
        run(prefix + "ld", "-r", "--force-group-allocation", "-o", out + ".r", out)
        out += ".r"
    return out


def objcopy(build, src, out, renames=RENAMES, keep=KEEP):
    prefix = BUILDS[build][1]
    run(prefix + "objcopy", *[f"--redefine-sym={o}={n}" for o, n in renames.items()],
        *[f"--keep-global-symbol={k}" for k in keep], src, out)
    return out


def addrsig_names(path):
    """Names of the symbols LLVM's address-significance table lists (empty without one)."""
    with open(path, "rb") as f:
        elf = ElfObject(f.read(), path)
    table = [s for s in elf.sections if s.type == elf_localise.SHT_LLVM_ADDRSIG and s.link == elf.symtab.index]
    syms = elf.symbols()
    return sorted(elf.string(syms[n][0]) for t in table for n in elf_localise._uleb_values(t.data, path))


@pytest.mark.parametrize("partial", [False, True], ids=["compiled", "partially-linked"])
@pytest.mark.parametrize("build", list(BUILDS), ids=["-".join(b) for b in BUILDS])
def test_the_same_symbols_and_relocations_as_gnu_objcopy(tmp_path, build, partial):
    src = level_object(tmp_path, build, partial=partial)
    ours, theirs = str(tmp_path / "ours.o"), objcopy(build, src, str(tmp_path / "theirs.o"))
    localise_file(src, ours, RENAMES, KEEP)
    check_symbol_order(ours)
    assert symbols(ours) == symbols(theirs)
    globals_ = {s[0] for s in symbols(ours) if s[1] != "LOCAL" and s[3] != "UND"}
    assert globals_ == set(KEEP)  # the test object has more than the kept ones to make local
    assert {s[0] for s in symbols(ours) if s[3] == "UND"} >= {"external_base"}
    assert relocations(ours) == relocations(theirs) and relocations(ours)
    assert groups(ours) == groups(theirs) and bool(groups(src)) != partial  # ld -r dissolved them
    if not partial and build[0] == "clang":  # clang lists address-taken symbols by index: still the same ones
        assert addrsig_names(ours) == addrsig_names(src) and addrsig_names(src)


def test_the_comparison_catches_a_localiser_that_leaves_relocations_stale(tmp_path, monkeypatch):
    """The comparison above can fail: relocations left pointing at the old indices are seen."""
    build = ("clang", "x86_64")
    src = level_object(tmp_path, build)
    theirs = objcopy(build, src, str(tmp_path / "theirs.o"))
    monkeypatch.setattr(elf_localise, "_rewrite_indices", lambda *args: None)
    localise_file(src, str(tmp_path / "stale.o"), RENAMES, KEEP)
    assert relocations(str(tmp_path / "stale.o")) != relocations(theirs)


@pytest.mark.parametrize("build", list(BUILDS), ids=["-".join(b) for b in BUILDS])
def test_two_isolated_copies_of_one_code_link_and_each_keeps_its_own_state(tmp_path, build):
    compiler, prefix, emulator = BUILDS[build]
    copies = []
    for level, name in ((1, "one"), (2, "two")):
        partial = level_object(tmp_path, build, level, partial=True)
        renames = {"ggml_backend_init": f"lsone_cpu_{name}_init", "ggml_backend_score": f"lsone_cpu_{name}_score"}
        out = str(tmp_path / f"level-{name}.o")
        localise_file(partial, out, renames, renames.values())
        # renamed only, every definition left global: what the link would see without isolation
        localise_file(partial, partial + ".renamed", renames,
                      [renames.get(s[0], s[0]) for s in symbols(partial) if s[1] != "LOCAL" and s[3] != "UND"])
        copies.append((partial + ".renamed", out))
    start = tmp_path / "start.c"
    start.write_text(START_SOURCE)
    run(*compiler, "-x", "c", *FLAGS, "-ffreestanding", str(start), "-o", str(tmp_path / "start.o"))
    program = str(tmp_path / "program")
    link = [prefix + "ld", "-static", "-e", "_start", "-o", program, str(tmp_path / "start.o")]
    run(*link, *[out for _, out in copies])
    result = subprocess.run([*[tool(e) for e in emulator], program], timeout=60)
    assert result.returncode == 15  # a: 3, b: 7, then each copy's own counter: 4 and 8
    # without isolation the same link fails: the two copies define the same symbols
    clash = subprocess.run([tool(link[0]), *link[1:], *[renamed for renamed, _ in copies]],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert clash.returncode != 0 and "multiple definition of `level_value'" in clash.stdout


def test_the_same_input_gives_the_same_bytes_and_locals_keep_their_order(tmp_path):
    src = level_object(tmp_path, ("clang", "x86_64"), partial=True)
    data = open(src, "rb").read()
    first = localise(data, RENAMES, KEEP, name="a.o")
    assert localise(bytearray(data), dict(reversed(list(RENAMES.items()))), list(reversed(KEEP)), name="b") == first
    assert localise(first, {}, KEEP) == first  # already isolated: nothing moves


def error_of(data, renames=None, keep=()):
    with pytest.raises(InputError) as e:
        localise(data, renames, keep, name="level.o")
    return str(e.value)


def test_bad_input_is_named_with_what_was_expected_and_found(tmp_path):
    data = open(level_object(tmp_path, ("clang", "x86_64")), "rb").read()
    assert "level.o: is not an ELF file" in error_of(b"!<arch>\n" + data)
    assert "not a 64-bit little-endian ELF file" in error_of(data[:4] + b"\x01" + data[5:])
    executable = bytearray(data)
    executable[16] = 2  # ET_EXEC
    assert "is not a relocatable object" in error_of(bytes(executable)) and "e_type 2" in error_of(bytes(executable))
    riscv = bytearray(data)
    riscv[18] = 243
    assert "e_machine 243" in error_of(bytes(riscv)) and "x86_64, aarch64" in error_of(bytes(riscv))
    assert "is truncated" in error_of(data[:len(data) - 100])
    message = error_of(data, RENAMES, ["lsone_cpu_one_init", "lsone_cpu_typo_score"])
    assert "does not define the symbols to keep global" in message and "lsone_cpu_typo_score" in message


def test_gnu_unique_and_common_symbols_are_refused_with_the_flag_that_avoids_them(tmp_path):
    src = tmp_path / "level.cpp"
    src.write_text(LEVEL_SOURCE)
    run("g++", *FLAGS, "-DLEVEL=1", str(src), "-o", str(tmp_path / "unique.o"))  # gcc's default: STB_GNU_UNIQUE
    message = error_of(open(tmp_path / "unique.o", "rb").read(), RENAMES, KEEP)
    assert "'_ZZ4bumpvE5calls' is STB_GNU_UNIQUE" in message and "-fno-gnu-unique" in message
    (tmp_path / "common.c").write_text("int tentative; int ggml_backend_init(void) { return tentative; }\n")
    run("gcc", "-fcommon", "-c", str(tmp_path / "common.c"), "-o", str(tmp_path / "common.o"))
    message = error_of(open(tmp_path / "common.o", "rb").read(), {}, ["ggml_backend_init"])
    assert "'tentative' is a common symbol" in message and "-fno-common" in message


def test_the_command_line_speaks_objcopys_options(tmp_path, capsys):
    src = level_object(tmp_path, ("clang", "x86_64"), partial=True)
    out = str(tmp_path / "out.o")
    args = [f"--redefine-sym={o}={n}" for o, n in RENAMES.items()] + [f"--keep-global-symbol={k}" for k in KEEP]
    assert elf_localise.main(args + [src, out]) == 0
    assert open(out, "rb").read() == localise(open(src, "rb").read(), RENAMES, KEEP)
    assert elf_localise.main([src, str(tmp_path / "missing-dir" / "x.o"), "--keep-global-symbol=nowhere"]) == 1
    assert "does not define the symbols to keep global" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        elf_localise.main(["--redefine-sym=no_equals_sign", src, out])
    assert os.path.getsize(out) > 0
