"""Flags both toolchains share: upstream's Release configuration, reproducibly."""

import json

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


# Identity fields that matter only to the CPU backend's objects (see identity_nodes).
CPU_IDENTITY_KEYS = ("cpu", "native", "ld", "objcopy")


def identity_nodes(env, identity):
    """TOOLCHAIN_NODE (the compilers) for every object; CPU_NODE (plus cpu=, what -march=native
    means here, the level-isolating tools) for the CPU backend's objects only. So builds with
    different cpu= share every other object through the CacheDir, and native objects never
    cross CPUs."""
    env["TOOLCHAIN_IDENTITY"] = identity  # the manifest shows all of it
    general = {k: v for k, v in identity.items() if k not in CPU_IDENTITY_KEYS}
    env["TOOLCHAIN_NODE"] = env.Value(json.dumps(general, sort_keys=True))
    env["CPU_NODE"] = env.Value(json.dumps(identity, sort_keys=True))


def prefix_maps(*dirs):
    """Map build-machine paths out of the binary. $( $) keeps them out of build signatures,
    so checkouts (and toolchain copies) at different paths share one CacheDir."""
    return ["$("] + [f"-ffile-prefix-map={d.rstrip('/')}/=" for d in dirs] + ["$)"]


def release_flags(env, extra_ccflags=(), extra_cxxflags=(), mapped_dirs=()):
    top = env.Dir("#").abspath
    env.Replace(
        CFLAGS=["-std=gnu11"],
        CXXFLAGS=["-std=gnu++17"] + list(extra_cxxflags),
        CCFLAGS=["-O3"] + list(extra_ccflags) + prefix_maps(top, *mapped_dirs) + ["-fno-ident"],
        CPPDEFINES=["NDEBUG"],
        ARFLAGS="rcsD",  # D: no timestamps or uids in archives (cosmoar passes any GNU ar operation string on)
        RANLIBCOM="",
    )
