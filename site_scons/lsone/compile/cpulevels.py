"""CPU levels, in one place: what each cpu= setting compiles for, and upstream's variant list.

- the cpu= choices and what each means (CPU_CHOICES: the variable's help and the errors);
- cpu=native / portable / performant: one level for the whole build (CPU_LEVELS, cpu_flags;
  a toolchain passes them through its arch_flags);
- cpu=multi: ggml's CPU backend once per level in MULTI_LEVELS, each with its UPSTREAM_VARIANTS
  features (multi_levels, level_flags); site_tools/isolate_cpu_levels.py keeps the levels'
  symbols apart, and the dispatcher chooses among them from dispatch_table;
- the identity fields only the CPU backend depends on (CPU_IDENTITY_KEYS), the arch macros;
- upstream_variants / check_variants read GGML_CPU_ALL_VARIANTS from the pinned tree, so a bump
  that changes a level we build stops with what to edit here.
Plain Python: the build and the tests import it without SCons.
"""

import os
import re

from ..errors import InputError

# The cpu= settings, each with what it means (the variable's help and the errors say these).
CPU_CHOICES = {
    "native": "this CPU, like upstream's GGML_NATIVE; host only",
    "portable": "x86-64 baseline, K8-level / ARMv8.0, runs everywhere",
    "performant": "x86-64-v3 / ARMv8.2-a, faster, needs AVX2-class or ARMv8.2 CPUs",
    "multi": "every level of upstream's GGML_CPU_ALL_VARIANTS we build, the best chosen at startup",
}

# cpu=portable and cpu=performant per architecture (cosmocc passes them through -X<arch>).
CPU_LEVELS = {
    "portable": {"x86_64": ["-march=x86-64", "-mtune=generic"], "aarch64": ["-march=armv8-a"]},
    "performant": {"x86_64": ["-march=x86-64-v3"], "aarch64": ["-march=armv8.2-a"]},
}

# cpu=multi: ggml's CPU backend once per level, all linked in, the best chosen at startup.
# Levels and features are upstream's GGML_CPU_ALL_VARIANTS (ggml/src/CMakeLists.txt); each feature's
# flags and define are what ggml_add_cpu_backend_variant_impl (ggml/src/ggml-cpu/CMakeLists.txt)
# adds, in its order. The defines select upstream's cpu-feats.cpp score checks for the level.
# Names are C identifiers (they name the level's entry points): armv8.2_2 is armv8_2_2.
X86_FEATURES = {
    "SSE42": (["-msse4.2"], "GGML_SSE42"), "F16C": (["-mf16c"], "GGML_F16C"), "FMA": (["-mfma"], "GGML_FMA"),
    "BMI2": (["-mbmi2"], "GGML_BMI2"), "AVX": (["-mavx"], "GGML_AVX"), "AVX2": (["-mavx2"], "GGML_AVX2"),
    "AVX_VNNI": (["-mavxvnni"], "GGML_AVX_VNNI"),
    "AVX512": (["-mavx512f", "-mavx512cd", "-mavx512vl", "-mavx512dq", "-mavx512bw"], "GGML_AVX512"),
    "AVX512_VBMI": (["-mavx512vbmi"], "GGML_AVX512_VBMI"), "AVX512_VNNI": (["-mavx512vnni"], "GGML_AVX512_VNNI"),
    "AVX512_BF16": (["-mavx512bf16"], "GGML_AVX512_BF16"), "AMX_TILE": (["-mamx-tile"], "GGML_AMX_TILE"),
    "AMX_INT8": (["-mamx-int8"], "GGML_AMX_INT8"),
}
# (-march base it raises to, +tag, define), in upstream's order.
ARM_FEATURES = {
    "DOTPROD": ("armv8.2-a", "+dotprod", "GGML_USE_DOTPROD"),
    "FP16_VECTOR_ARITHMETIC": ("armv8.2-a", "+fp16", "GGML_USE_FP16_VECTOR_ARITHMETIC"),
    "SVE": ("armv8.2-a", "+sve", "GGML_USE_SVE"), "MATMUL_INT8": ("armv8.6-a", "+i8mm", "GGML_USE_MATMUL_INT8"),
    "SVE2": ("armv8.6-a", "+sve2", "GGML_USE_SVE2"), "SME": ("armv9.2-a", "+sme", "GGML_USE_SME"),
}
UPSTREAM_VARIANTS = {
    "x86_64": {
        "x64": [], "sse42": ["SSE42"], "sandybridge": ["SSE42", "AVX"], "ivybridge": ["SSE42", "AVX", "F16C"],
        "piledriver": ["SSE42", "AVX", "F16C", "FMA"], "haswell": ["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2"],
        "skylakex": ["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512"],
        "cannonlake": ["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VBMI"],
        "cascadelake": ["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VNNI"],
        "icelake": ["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VBMI", "AVX512_VNNI"],
        "cooperlake": ["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VNNI", "AVX512_BF16"],
        "zen4": ["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VBMI", "AVX512_VNNI",
                 "AVX512_BF16"],
        "alderlake": ["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX_VNNI"],
        "sapphirerapids": ["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VBMI", "AVX512_VNNI",
                           "AVX512_BF16", "AMX_TILE", "AMX_INT8"],
    },
    "aarch64": {
        "armv8_0_1": [], "armv8_2_1": ["DOTPROD"], "armv8_2_2": ["DOTPROD", "FP16_VECTOR_ARITHMETIC"],
        "armv8_2_3": ["DOTPROD", "FP16_VECTOR_ARITHMETIC", "SVE"],
        "armv8_6_1": ["DOTPROD", "FP16_VECTOR_ARITHMETIC", "SVE", "MATMUL_INT8"],
        "armv8_6_2": ["DOTPROD", "FP16_VECTOR_ARITHMETIC", "SVE", "MATMUL_INT8", "SVE2"],
        "armv9_2_1": ["DOTPROD", "FP16_VECTOR_ARITHMETIC", "SVE", "MATMUL_INT8", "SME"],
        "armv9_2_2": ["DOTPROD", "FP16_VECTOR_ARITHMETIC", "SVE", "MATMUL_INT8", "SVE2", "SME"],
    },
}
# The levels cpu=multi links, lowest first; MAINTAINERS.md has the figures behind the choice.
MULTI_LEVELS = {
    "x86_64": ["x64", "sse42", "sandybridge", "haswell", "alderlake", "skylakex", "icelake"],
    "aarch64": ["armv8_0_1", "armv8_2_2", "armv8_6_1"],
}


def level_flags(arch, level):
    """(compiler flags, defines) of one upstream variant, on top of cpu=portable's baseline."""
    features = UPSTREAM_VARIANTS[arch][level]
    if arch == "x86_64":
        chosen = [X86_FEATURES[f] for f in X86_FEATURES if f in features]
        return CPU_LEVELS["portable"][arch] + [x for flags, _ in chosen for x in flags], [d for _, d in chosen]
    chosen = [ARM_FEATURES[f] for f in ARM_FEATURES if f in features]
    march = max([base for base, _, _ in chosen] or ["armv8-a"])
    return ["-march=" + march + "".join(tag for _, tag, _ in chosen)], [d for _, _, d in chosen]


def cpu_flags(cpu, arch):
    """The flags every object gets on one architecture. cpu=multi's levels bring their own flags on
    top; this baseline is for what runs before a level is chosen."""
    if cpu == "native":
        return ["-march=native"]
    if cpu == "multi":
        cpu = "portable"
    if arch not in CPU_LEVELS.get(cpu, {}):
        raise InputError(f"cpu={cpu}", f"no flags known for architecture {arch!r}",
                         fix="use cpu=native (host) or one of " + ", ".join(sorted(CPU_LEVELS)))
    return CPU_LEVELS[cpu][arch]


# Identity fields that matter only to the CPU backend's objects: cpu=, what -march=native means on
# this machine, the tools that isolate the levels. Every other object is shared across cpu= settings.
CPU_IDENTITY_KEYS = ("cpu", "native", "ld", "objcopy", "localiser")

# What each architecture's compiler predefines: a fat compiler's per-architecture sources and the
# dispatcher's table are guarded by these.
ARCH_MACROS = {"x86_64": "__x86_64__", "aarch64": "__aarch64__"}

# Each isolated level keeps only upstream's loadable-backend entry points, renamed per level.
ENTRY_POINTS = ("init", "score")


def entry_symbol(level, entry):
    return f"lsone_cpu_{level}_{entry}"


def multi_levels(arches):
    """cpu=multi: (arch, level, flags, defines) of each level to build, lowest first per architecture.
    GGML_BACKEND_DL makes each level define upstream's loadable-backend entry points."""
    return [(arch, level, flags, defines + ["GGML_BACKEND_DL"]) for arch in arches for level in MULTI_LEVELS[arch]
            for flags, defines in [level_flags(arch, level)]]


def check_multi_levels(src, arches):
    """The levels cpu=multi builds for arches are upstream's, at the tree src."""
    return check_variants(src, UPSTREAM_VARIANTS, {a: MULTI_LEVELS[a] for a in arches},
                          "site_scons/lsone/compile/cpulevels.py")


def single_level_defines(cpu):
    """The dispatcher's define when one level is built: it reports that level by name."""
    return [("LSONE_CPU_SINGLE_LEVEL", cpu)]


def dispatch_table(arches):
    """cpu=multi: the dispatcher's table of the levels built for arches."""
    return level_table_lines({arch: MULTI_LEVELS[arch] for arch in arches})


def level_table_lines(levels_by_arch):
    """The dispatcher's table (runtime/cpu/lsone_cpu_dispatch.cpp includes it), per architecture."""
    lines = ["// Generated by llama-server-one: the CPU levels linked into this executable, lowest first."]
    for n, (arch, levels) in enumerate(levels_by_arch.items()):
        lines.append(f"#{'el' if n else ''}if defined({ARCH_MACROS[arch]})")
        lines += [f"LSONE_CPU_LEVEL({level})" for level in levels]
    return lines + ["#endif"]


# zig's clang takes LLVM's CPU names, not GCC's -march spellings: the same levels, spelled for zig.
ZIG_MARCH = {"native": "native", "x86-64": "x86_64", "x86-64-v3": "x86_64_v3", "armv8-a": "generic",
             "armv8.2-a": "generic+v8_2a", "armv8.6-a": "generic+v8_6a", "armv9.2-a": "generic+v9_2a"}
ZIG_ARM_TAGS = {"+fp16": "+fullfp16"}  # the other tags (+dotprod, +sve, +i8mm, +sve2, +sme) are LLVM's names too


def zig_spelling(flags):
    """GCC-style CPU flags (cpu_flags, level_flags) as zig cc takes them: -march=x86-64-v3 is
    -mcpu=x86_64_v3, armv8.2-a+dotprod+fp16 is generic+v8_2a+dotprod+fullfp16; -mtune=generic goes."""
    spelled = []
    for flag in flags:
        if flag == "-mtune=generic":
            continue
        if flag.startswith("-march="):
            base, *tags = re.split(r"(?=\+)", flag[len("-march="):])
            if base not in ZIG_MARCH:
                raise InputError(flag, "has no zig spelling", expected=", ".join(ZIG_MARCH),
                                 fix="add it to ZIG_MARCH in site_scons/lsone/compile/cpulevels.py")
            flag = "-mcpu=" + ZIG_MARCH[base] + "".join(ZIG_ARM_TAGS.get(t, t) for t in tags)
        spelled.append(flag)
    return spelled


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
                             fix="update lsone/compile/cpulevels.py to where upstream lists its CPU variants now")
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
