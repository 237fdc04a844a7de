"""Upstream's CPU backend variants (GGML_CPU_ALL_VARIANTS), read from the pinned tree.

compile_flags.UPSTREAM_VARIANTS spells out the levels cpu=multi can build; check_variants makes
a bump that changes upstream's list or a level's features fail with what to edit.
"""

import os
import re

from .errors import InputError

VARIANTS_CMAKE = "ggml/src/CMakeLists.txt"
# The if() branches of GGML_CPU_ALL_VARIANTS this build uses: (arch, first line, end line).
_BRANCHES = (("x86_64", 'GGML_SYSTEM_ARCH STREQUAL "x86"', 'GGML_SYSTEM_ARCH STREQUAL "ARM"'),
             ("aarch64", 'CMAKE_SYSTEM_NAME MATCHES "Linux"', 'CMAKE_SYSTEM_NAME MATCHES "Android"'))
_VARIANT_RE = re.compile(r"^\s*ggml_add_cpu_backend_variant\(([\w.]+)([^)]*)\)", re.M)


def upstream_variants(src):
    """{arch: {level: [features]}}, level names made C identifiers (armv8.2_1 -> armv8_2_1)."""
    with open(os.path.join(src, VARIANTS_CMAKE), encoding="utf-8") as f:
        text = f.read()
    block = text[text.find("if (GGML_CPU_ALL_VARIANTS)"):]
    found = {}
    for arch, start, end in _BRANCHES:
        begin = block.find(start)
        branch = block[begin:block.find(end, begin + 1)] if begin >= 0 else ""
        found[arch] = {m.group(1).replace(".", "_"): m.group(2).split() for m in _VARIANT_RE.finditer(branch)}
        if not found[arch]:
            raise InputError(VARIANTS_CMAKE, f"no GGML_CPU_ALL_VARIANTS list for {arch} found",
                             fix="update lsone/cpuvariants.py to where upstream lists its CPU variants now")
    return found


def check_variants(src, ours, chosen, where):
    """Each chosen level must exist upstream with the features `ours` gives it."""
    theirs = upstream_variants(src)
    for arch, levels in chosen.items():
        for level in levels:
            if theirs[arch].get(level) != ours[arch][level]:
                raise InputError(VARIANTS_CMAKE, f"upstream's CPU variant {level} ({arch}) changed",
                                 expected=" ".join(ours[arch][level]) or "(no features)",
                                 found=" ".join(theirs[arch].get(level, ["(not listed)"])),
                                 fix=f"update UPSTREAM_VARIANTS / MULTI_LEVELS in {where}")
    return theirs
