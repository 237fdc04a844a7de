"""Command-line variables of the build (Godot's methods.py idea, without global state).

Commands live in site_scons/commands/, the inputs step in build_inputs.py.
"""

import os

import SCons.Errors
from SCons.Script import BoolVariable, EnumVariable, Variables

from lsone.store import default_store_root
from lsone.upstream import GITHUB_API
from lsone.zig import TARGETS as ZIG_TARGETS


def declare_variables(args):
    vars = Variables(None, args)
    vars.AddVariables(
        EnumVariable("toolchain", "compiler family: auto picks cosmocc when available, else host; zig is the "
                     "pinned, hermetic one (no host compiler needed, static executables)",
                     "auto", allowed_values=("auto", "host", "cosmocc", "zig")),
        ("target", "toolchain=zig: the platform to build for (" + ", ".join(ZIG_TARGETS) + "); empty is "
                   "this host's", ""),
        EnumVariable("cpu", "instruction set: native (this CPU, like upstream's GGML_NATIVE; host only), "
                     "portable (x86-64 baseline, K8-level / ARMv8.0), performant (x86-64-v3 / ARMv8.2-a), "
                     "multi (every level of upstream's GGML_CPU_ALL_VARIANTS we build, the best chosen at "
                     "startup); auto is native for host, multi for cosmocc, portable for zig", "auto",
                     allowed_values=("auto", "native", "portable", "performant", "multi")),
        ("cosmocc", "toolchain=cosmocc: a local cosmocc zip (verified by its pinned sha256) or a directory "
                    "it was unpacked into; empty fetches the pinned one into the store", ""),
        ("store", "content-addressed store for fetched inputs (kept by scons -c)", default_store_root()),
        ("cache_dir", "SCons CacheDir for built objects; empty disables it", ""),
        BoolVariable("offline", "forbid all network access; inputs must already be in the store", False),
        ("node", "ui=upstream: the node executable that builds the UI (npm beside it); empty uses the "
                 "Node.js pinned in toolchains.lock, fetched into the store", ""),
        ("cc", "host C compiler (name or path); empty means auto-detect", ""),
        ("cxx", "host C++ compiler (name or path); empty means auto-detect", ""),
        BoolVariable("verbose", "print full compiler command lines", False),
        ("model", "model to embed (started with -m /zip/NAME): a name from models.lock or a .gguf path", ""),
        ("ui", "web UI to embed, served at /: upstream (llama.cpp's, built with npm), a directory of "
               "static files, or none", "upstream"),
        ("args", "an args file (cosmo_args syntax) embedded after assets/default.args", ""),
        ("sums", "for `scons verify`: a published SHA256SUMS (from `scons release`) to compare this build with", ""),
        ("cache_limit", "for `scons prune-cache`: the size to prune cache_dir to (e.g. 2G)", "2G"),
        ("url", "for `scons add-model`: the https URL of a .gguf file", ""),
        ("license", "for `scons add-model`: the model's license, recorded in models.lock", ""),
        ("fuzz_time", "for `scons fuzz`: seconds to fuzz each target", "60"),
        ("llama_cpp", "for `scons bump`: latest, a commit, a tag, pip:llama-cpp-python==X or url:URL", ""),
        ("github_api", "for `scons bump llama_cpp=latest`: the GitHub API to ask for the latest release",
         GITHUB_API),
    )
    return vars


def reject_unknown(vars):
    unknown = vars.UnknownVariables()
    if unknown:
        known = ", ".join(sorted(o.key for o in vars.options))
        raise SCons.Errors.UserError(
            f"unknown variable(s): {', '.join(sorted(unknown))}\n  known variables: {known}\n"
            "  see `scons -h` for their meaning and defaults")


def quiet_output(env):
    """Short progress lines unless verbose=1."""
    if env["verbose"]:
        return
    for key, label in (("CCCOMSTR", "CC"), ("CXXCOMSTR", "CXX"), ("ARCOMSTR", "AR"),
                       ("LINKCOMSTR", "LINK"), ("ISOLATECOMSTR", "LD-R"), ("SUBSTFILECOMSTR", "GEN"), ("TEXTFILECOMSTR", "GEN")):
        env[key] = f"{label:5}$TARGET"


def cpu_count():
    return os.cpu_count() or 1


# Memory budget of one compiler process at -O3. Measured with host g++ 12 on the heaviest sources
# (/usr/bin/time, max RSS): httplib.cpp 616 MiB, server-context.cpp 607 MiB, arg.cpp 580 MiB.
# Rounded up for cosmocc's GCC 14 with libc++ headers, which could not be measured here.
COMPILE_PEAK_GIB = 1.0


def default_jobs(toolchain, log=print):
    """-j when none is given: one job per core for host. A fat cosmocc compile runs its x86_64 and
    aarch64 compilers at once, so each job takes two cores and twice the memory."""
    cores = cpu_count()
    if toolchain != "cosmocc":
        return cores
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    jobs = max(1, min(cores // 2, int(memory_gib // (2 * COMPILE_PEAK_GIB))))
    log(f"toolchain=cosmocc: -j{jobs} (each fat compile runs two compilers: {cores} cores / 2, "
        f"{memory_gib:.0f} GiB / {2 * COMPILE_PEAK_GIB:.1f} GiB); pass -jN to choose")
    return jobs
