"""Rename symbols and make every other definition local in an ELF relocatable object: the part of GNU
objcopy's `--redefine-sym OLD=NEW --keep-global-symbol NAME` that cpu=multi needs (isolate_cpu_levels.py),
with output that depends on the input bytes alone, so the zig toolchain takes nothing from the host.

ELF wants every local symbol before the first global one (.symtab's sh_info is the index of the first
non-local), so a symbol made local moves, and whatever names symbols by index is rewritten with it:
SHT_RELA / SHT_REL r_info, SHT_GROUP signatures, SHT_SYMTAB_SHNDX (a parallel array) and LLVM's
SHT_LLVM_ADDRSIG (ULEB128 indices; rewritten, not dropped, so a later --icf=safe link stays correct).
Another section that links to .symtab is refused rather than silently left stale. New names go at the
end of .strtab; sections are laid out again in their file order, each at its alignment.

Plain Python, stdlib only: the build runs it as `python3 -m lsone.compile.elf_localise`, the tests
import it. ELF64 little-endian ET_REL objects for x86_64 and aarch64.
"""

import argparse
import struct
import sys

from ..errors import InputError

MACHINES = {62: "x86_64", 183: "aarch64"}
ET_REL = 1
SHT_NULL, SHT_SYMTAB, SHT_RELA, SHT_NOBITS, SHT_REL = 0, 2, 4, 8, 9
SHT_GROUP, SHT_SYMTAB_SHNDX, SHT_LLVM_ADDRSIG = 17, 18, 0x6FFF4C03
SHF_LINK_ORDER = 0x80
STB_LOCAL, STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE = 0, 1, 2, 10
SHN_UNDEF, SHN_COMMON, SHN_XINDEX = 0, 0xFFF2, 0xFFFF
EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
SHDR = struct.Struct("<IIQQQQIIQQ")
SYM = struct.Struct("<IBBHQQ")
RELA_INFO = struct.Struct("<QQ")  # r_offset, r_info (an addend follows in SHT_RELA)
FIX = "pass the object that the toolchain's partial link (ld.lld -r) wrote"


def _fail(name, problem, expected=None, found=None, fix=FIX):
    raise InputError(name, problem, expected=expected, found=found, fix=fix)


class Section:
    def __init__(self, index, fields, data):
        (self.name, self.type, self.flags, self.addr, self.offset, self.size,
         self.link, self.info, self.addralign, self.entsize) = fields
        self.index, self.data = index, data

    def header(self):
        return SHDR.pack(self.name, self.type, self.flags, self.addr, self.offset, self.size,
                         self.link, self.info, self.addralign, self.entsize)


class ElfObject:
    """An ELF64 little-endian relocatable object, read into its header and sections."""

    def __init__(self, data, name):
        self.name = name
        if len(data) < EHDR.size or data[:4] != b"\x7fELF":
            _fail(name, "is not an ELF file", expected="an ELF relocatable object (.o)", found=repr(data[:4]))
        ident = data[:16]
        if ident[4] != 2 or ident[5] != 1:
            _fail(name, "is not a 64-bit little-endian ELF file", expected="ELFCLASS64, ELFDATA2LSB",
                  found=f"class {ident[4]}, data {ident[5]}")
        self.header = list(EHDR.unpack_from(data))
        e_type, machine, phnum = self.header[1], self.header[2], self.header[10]
        if e_type != ET_REL or phnum:
            _fail(name, "is not a relocatable object", expected=f"ET_REL ({ET_REL}) without program headers",
                  found=f"e_type {e_type}, {phnum} program headers")
        if machine not in MACHINES:
            _fail(name, "is for a machine this localiser does not know", expected=", ".join(MACHINES.values()),
                  found=f"e_machine {machine}", fix="add it to MACHINES in lsone/compile/elf_localise.py")
        shoff, shentsize, shnum = self.header[6], self.header[11], self.header[12]
        if shentsize != SHDR.size or shoff + SHDR.size > len(data):
            _fail(name, "has a malformed section header table", found=f"e_shoff {shoff}, e_shentsize {shentsize}")
        if shnum == 0:  # 65280 sections or more: the count is in section 0's sh_size
            shnum = SHDR.unpack_from(data, shoff)[5]
        if shoff + shnum * SHDR.size > len(data):
            _fail(name, "is truncated", expected=f"{shnum} section headers at {shoff}", found=f"{len(data)} bytes")
        self.sections = []
        for index in range(shnum):
            fields = SHDR.unpack_from(data, shoff + index * SHDR.size)
            kind, offset, size = fields[1], fields[4], fields[5]
            if kind not in (SHT_NULL, SHT_NOBITS) and offset + size > len(data):
                _fail(name, f"section {index} lies past the end of the file", found=f"{offset}+{size} > {len(data)}")
            body = b"" if kind in (SHT_NULL, SHT_NOBITS) else data[offset:offset + size]
            self.sections.append(Section(index, fields, bytearray(body)))
        tables = [s for s in self.sections if s.type == SHT_SYMTAB]
        if len(tables) != 1:
            _fail(name, "does not have exactly one symbol table", expected="one SHT_SYMTAB", found=len(tables))
        self.symtab = tables[0]
        if self.symtab.entsize != SYM.size or self.symtab.link >= len(self.sections):
            _fail(name, "has a malformed symbol table", found=f"sh_entsize {self.symtab.entsize}")
        self.strtab = self.sections[self.symtab.link]

    def symbols(self):
        return [list(SYM.unpack_from(self.symtab.data, n)) for n in range(0, len(self.symtab.data), SYM.size)]

    def string(self, offset):
        end = self.strtab.data.find(b"\0", offset)
        return bytes(self.strtab.data[offset:end if end >= 0 else None]).decode("utf-8", "replace")

    def section_name(self, section):
        names = self.sections[self.header[13]].data if self.header[13] != SHN_XINDEX else \
            self.sections[self.sections[0].link].data
        return bytes(names[section.name:names.index(b"\0", section.name)]).decode("utf-8", "replace")

    def serialise(self):
        """Every section again in its file order, each at its alignment, then the section headers."""
        out = bytearray(EHDR.size)
        for section in sorted(self.sections[1:], key=lambda s: (s.offset, s.index)):
            out += bytes(-len(out) % max(section.addralign, 1))
            section.offset = len(out)
            if section.type != SHT_NOBITS:
                section.size = len(section.data)
                out += section.data
        out += bytes(-len(out) % 8)
        self.header[6] = len(out)  # e_shoff
        for section in self.sections:
            out += section.header()
        out[:EHDR.size] = EHDR.pack(*self.header)
        return bytes(out)


def _uleb_values(data, name):
    values, value, shift = [], 0, 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            values.append(value)
            value, shift = 0, 0
    if shift:
        _fail(name, "has a truncated SHT_LLVM_ADDRSIG section")
    return values


def _uleb(value):
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return out


def localise(data, renames=None, keep=(), name="object"):
    """data (an ELF relocatable object's bytes) with symbols renamed ({old: new}, undefined ones too, as
    objcopy's --redefine-sym) and every defined global or weak symbol made local but those named in keep
    (names after renaming, as --keep-global-symbol). Undefined symbols stay global. Returns the new bytes."""
    renames, keep = dict(renames or {}), set(keep)
    elf = ElfObject(data, name)
    symtab, symtab_index = elf.symtab, elf.symtab.index
    symbols = elf.symbols()
    appended = {}  # new name -> its offset in .strtab
    for symbol in symbols[1:]:
        old = elf.string(symbol[0])
        if old in renames:
            new = renames[old]
            if new not in appended:
                appended[new] = len(elf.strtab.data)
                elf.strtab.data += new.encode() + b"\0"
            symbol[0] = appended[new]
    for index, symbol in enumerate(symbols[1:], 1):
        binding, shndx = symbol[1] >> 4, symbol[3]
        if binding == STB_GNU_UNIQUE:
            _fail(name, f"symbol {elf.string(symbol[0])!r} is STB_GNU_UNIQUE, which cannot be made local",
                  expected="STB_LOCAL, STB_GLOBAL or STB_WEAK symbols", found="STB_GNU_UNIQUE",
                  fix="compile with -fno-gnu-unique (GCC), or with clang, which never emits it")
        if binding not in (STB_GLOBAL, STB_WEAK) or shndx == SHN_UNDEF or elf.string(symbol[0]) in keep:
            continue
        if shndx == SHN_COMMON:
            _fail(name, f"symbol {elf.string(symbol[0])!r} is a common symbol, which cannot be made local",
                  expected="definitions in sections", found="SHN_COMMON", fix="compile with -fno-common")
        symbol[1] = (STB_LOCAL << 4) | (symbol[1] & 0xF)
    defined = {elf.string(s[0]) for s in symbols[1:] if s[1] >> 4 != STB_LOCAL and s[3] != SHN_UNDEF}
    missing = sorted(keep - defined)
    if missing:
        _fail(name, "does not define the symbols to keep global", expected=", ".join(sorted(keep)),
              found="no definition of " + ", ".join(missing), fix="check the renames and the object's source")
    # locals first (the null symbol among them), each group in its old order: deterministic and stable
    order = sorted(range(len(symbols)), key=lambda n: (n > 0 and symbols[n][1] >> 4 != STB_LOCAL, n))
    new_index = {old: new for new, old in enumerate(order)}
    symtab.data = bytearray(b"".join(SYM.pack(*symbols[old]) for old in order))
    symtab.info = sum(1 for s in symbols if s[1] >> 4 == STB_LOCAL) + (symbols[0][1] >> 4 != STB_LOCAL)
    for section in elf.sections:
        if section.link != symtab_index or section is symtab or section.flags & SHF_LINK_ORDER:
            continue
        _rewrite_indices(section, new_index, order, name, elf.section_name(section))
    return elf.serialise()


def _rewrite_indices(section, new_index, order, name, section_name):
    """Point section's symbol indices at where each symbol now is."""
    if section.type in (SHT_RELA, SHT_REL):
        step = 24 if section.type == SHT_RELA else 16
        if section.entsize != step:
            _fail(name, f"section {section_name} has relocations of an unexpected size",
                  expected=step, found=section.entsize)
        for at in range(0, len(section.data), step):
            offset, info = RELA_INFO.unpack_from(section.data, at)
            symbol = new_index.get(info >> 32)
            if symbol is None:
                _fail(name, f"a relocation in {section_name} names symbol {info >> 32}, past the symbol table")
            RELA_INFO.pack_into(section.data, at, offset, (symbol << 32) | (info & 0xFFFFFFFF))
    elif section.type == SHT_GROUP:
        section.info = new_index[section.info]
    elif section.type == SHT_SYMTAB_SHNDX:
        entries = struct.unpack(f"<{len(section.data) // 4}I", section.data)
        section.data = bytearray(struct.pack(f"<{len(order)}I", *(entries[old] for old in order)))
    elif section.type == SHT_LLVM_ADDRSIG:
        section.data = bytearray(b"".join(_uleb(new_index[n]) for n in _uleb_values(section.data, name)))
    else:
        _fail(name, f"section {section_name} (type {section.type:#x}) refers to the symbol table in a way "
              "this localiser does not rewrite", expected="SHT_RELA, SHT_REL, SHT_GROUP, SHT_SYMTAB_SHNDX or "
              "SHT_LLVM_ADDRSIG", found=f"sh_type {section.type:#x}",
              fix="teach lsone/compile/elf_localise.py this section type, or compile without it")


def localise_file(src, out, renames=None, keep=()):
    try:
        with open(src, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError(src, "cannot be read", found=e.strerror, fix=FIX) from None
    result = localise(data, renames, keep, name=src)
    with open(out, "wb") as f:
        f.write(result)


def _rename(text):
    old, sep, new = text.partition("=")
    if not (old and sep and new):
        raise argparse.ArgumentTypeError(f"expected OLD=NEW, found {text!r}")
    return old, new


def main(argv=None):
    """objcopy's spelling: --redefine-sym=OLD=NEW ... --keep-global-symbol=NAME ... IN OUT."""
    parser = argparse.ArgumentParser(prog="python3 -m lsone.compile.elf_localise", description=__doc__.split("\n")[0])
    parser.add_argument("--redefine-sym", type=_rename, action="append", default=[], metavar="OLD=NEW")
    parser.add_argument("--keep-global-symbol", action="append", default=[], metavar="NAME")
    parser.add_argument("input")
    parser.add_argument("output")
    args = parser.parse_args(argv)
    try:
        localise_file(args.input, args.output, dict(args.redefine_sym), args.keep_global_symbol)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
