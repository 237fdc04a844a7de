"""Command-line variables of the build (Godot's methods.py idea, without global state).

Commands live in site_scons/commands/, the inputs step in build_inputs.py.
"""

import os

import SCons.Errors
from SCons.Script import BoolVariable, EnumVariable, Variables

from lsone.compile.cpulevels import CPU_CHOICES
from lsone.inputs.store import default_store_root
from lsone.inputs.upstream import GITHUB_API


def declare_variables(args, registry):
    """The build's variables: the toolchains' (toolchain=, each toolchain's own) and the rest."""
    toolchains = registry.all()
    vars = Variables(None, args)
    vars.AddVariables(
        EnumVariable("toolchain", "compiler family: auto picks the first at hand of " +
                     ", ".join(t.name for t in toolchains) + "; " +
                     "; ".join(f"{t.name}: {t.description}" for t in toolchains),
                     "auto", allowed_values=("auto", *registry.names())),
        EnumVariable("cpu", "instruction set: " + ", ".join(f"{c} ({d})" for c, d in CPU_CHOICES.items()) +
                     "; auto is " + ", ".join(f"{t.auto_cpu} for {t.name}" for t in toolchains), "auto",
                     allowed_values=("auto", *CPU_CHOICES)),
        *[variable for t in toolchains for variable in t.variables],
        ("store", "content-addressed store for fetched inputs (kept by scons -c)", default_store_root()),
        ("cache_dir", "SCons CacheDir for built objects; empty disables it", ""),
        BoolVariable("offline", "forbid all network access; inputs must already be in the store", False),
        ("node", "ui=upstream: the node executable that builds the UI (npm beside it); empty uses the "
                 "Node.js pinned in toolchains.lock, fetched into the store", ""),
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


def default_jobs(toolchain, arches, log=print):
    """-j when none is given: one job per core. A fat compile (cosmocc) runs one compiler per
    architecture at once, so each job takes that many cores and that much more memory."""
    cores, per_job = cpu_count(), len(arches)
    if per_job == 1:
        return cores
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    jobs = max(1, min(cores // per_job, int(memory_gib // (per_job * COMPILE_PEAK_GIB))))
    log(f"toolchain={toolchain}: -j{jobs} (each fat compile runs {per_job} compilers: {cores} cores / {per_job}, "
        f"{memory_gib:.0f} GiB / {per_job * COMPILE_PEAK_GIB:.1f} GiB); pass -jN to choose")
    return jobs
