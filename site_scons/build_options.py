"""Command-line variables of the build (Godot's methods.py idea, without global state)."""

import os

import SCons.Errors
from SCons.Script import BoolVariable, EnumVariable, Variables

from lsone.store import default_store_root
from lsone.upstream import GITHUB_API
from scons_errors import reported


def declare_variables(args):
    vars = Variables(None, args)
    vars.AddVariables(
        EnumVariable("toolchain", "compiler family: auto picks cosmocc when available, else host",
                     "auto", allowed_values=("auto", "host", "cosmocc")),
        EnumVariable("cpu", "instruction set: native (this CPU, like upstream's GGML_NATIVE; host only), "
                     "portable (x86-64 baseline, K8-level / ARMv8.0), performant (x86-64-v3 / ARMv8.2-a), "
                     "multi (every level of upstream's GGML_CPU_ALL_VARIANTS we build, the best chosen at "
                     "startup); auto is native for host, multi for cosmocc", "auto",
                     allowed_values=("auto", "native", "portable", "performant", "multi")),
        ("cosmocc", "toolchain=cosmocc: a local cosmocc zip (verified by its pinned sha256) or a directory "
                    "it was unpacked into; empty fetches the pinned one into the store", ""),
        ("store", "content-addressed store for fetched inputs (kept by scons -c)", default_store_root()),
        ("cache_dir", "SCons CacheDir for built objects; empty disables it", ""),
        BoolVariable("offline", "forbid all network access; inputs must already be in the store", False),
        ("cc", "host C compiler (name or path); empty means auto-detect", ""),
        ("cxx", "host C++ compiler (name or path); empty means auto-detect", ""),
        BoolVariable("verbose", "print full compiler command lines", False),
        ("model", "model to embed (started with -m /zip/NAME): a name from models.lock or a .gguf path", ""),
        ("ui", "web UI to embed, served at /: upstream (llama.cpp's, built with npm), a directory of "
               "static files, or none", "upstream"),
        ("args", "an args file (cosmo_args syntax) embedded after assets/default.args", ""),
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


def choose_toolchain(env, repo, log=print):
    """Resolve toolchain=auto: cosmocc when it is at hand without a download, else host."""
    requested = env["toolchain"]
    if requested == "host":
        if env["cosmocc"]:
            log(f"note: cosmocc={env['cosmocc']} is ignored because toolchain=host")
        return "host"
    if requested == "cosmocc":
        return "cosmocc"
    from lsone.cosmocc import available_locally, load_pin
    from lsone.store import Store

    with reported():
        pin = load_pin(os.path.join(repo, "toolchains.lock"))
    if available_locally(env["cosmocc"], pin, Store(env["store"])):
        log(f"toolchain=auto: using cosmocc ({env['cosmocc'] or 'pinned ' + pin.version + ', in the store'})")
        return "cosmocc"
    log(f"toolchain=auto: using host, because {pin.label} is not in the store and cosmocc= is not set.\n"
        f"  For the portable executable: scons toolchain=cosmocc (downloads {pin.size >> 20} MiB) "
        f"or scons cosmocc=/path/to/{pin.file}")
    return "host"


def resolve_cpu(cpu, toolchain, requested_toolchain):
    if cpu == "auto":
        return "multi" if toolchain == "cosmocc" else "native"
    if cpu == "native" and toolchain == "cosmocc":
        chosen = "" if requested_toolchain == "cosmocc" else " (which toolchain=auto chose)"
        raise SCons.Errors.UserError(
            f"cpu=native: refused with toolchain=cosmocc{chosen}. The executable runs on other machines, "
            "and cosmocc compiles for two architectures at once, so there is no single native CPU.\n"
            "  fix: cpu=multi (every level, the best chosen at startup), cpu=portable (x86-64 baseline, "
            "K8-level / ARMv8.0, runs everywhere) or cpu=performant "
            "(x86-64-v3 / ARMv8.2-a, faster, needs AVX2-class or ARMv8.2 CPUs)" +
            ("" if requested_toolchain == "cosmocc" else "; or toolchain=host for a native build"))
    return cpu


def check_offline_inputs(env, repo):
    """offline=1: name every input the store lacks at once, instead of failing on the first."""
    from lsone.lockfile import load_sources_lock
    from lsone.models import ModelPin, load_models_lock, resolve_model
    from lsone.store import Store
    from lsone.treehash import tree_hash

    store = Store(env["store"])
    missing = []
    pin = load_sources_lock(os.path.join(repo, "sources.lock"))["llama.cpp"]
    tree = store.path_for(pin.name, pin.tree_hash)
    if not os.path.isdir(tree):
        missing.append(f"llama.cpp {pin.rev[:12]} ({pin.tree_hash})")
    if env["model"]:
        model = resolve_model(env["model"], load_models_lock(os.path.join(repo, "models.lock")))
        if isinstance(model, ModelPin) and not store.has(model.name, model.sha256):
            missing.append(f"model {model.name} ({model.sha256})")
    if env["ui"] == "upstream":
        if not os.path.isdir(tree):
            missing.append("the built web UI (ui=upstream; its source comes with llama.cpp)")
        elif not store.has("llama-ui-dist", tree_hash(os.path.join(tree, "tools", "ui"))):
            missing.append("the built web UI (ui=upstream; npm would build it)")
    if env["toolchain"] == "cosmocc":
        from lsone.cosmocc import available_locally, load_pin

        with reported():
            cosmocc = load_pin(os.path.join(repo, "toolchains.lock"))
        if not available_locally(env["cosmocc"], cosmocc, store):
            missing.append(f"{cosmocc.label} ({cosmocc.sha256}); or pass cosmocc=PATH")
    if missing:
        raise SCons.Errors.UserError(
            "offline=1: these inputs are not in the store " + store.root + ":\n  - " + "\n  - ".join(missing) +
            "\n  fix: run once without offline=1, point store= at a warm store, or pass ui=none / model=PATH")


def run_command(command, env, repo, arguments):
    if command == "bump":
        return run_bump(env, repo)
    if command == "prune-cache":
        return run_prune_cache(env)
    if command in ("add-model", "verify-store"):
        return run_model_command(command, env, repo)
    from verify import verify_rebuild
    return verify_rebuild(repo, arguments)


def run_model_command(command, env, repo):
    from lsone.errors import InputError
    from lsone.fetch import fetch_source_tree
    from lsone.lockfile import load_sources_lock
    from lsone.models import add_model
    from lsone.store import Store

    store = Store(env["store"])
    log = lambda m: print(f"[{command}] {m}", flush=True)  # noqa: E731
    try:
        if command == "verify-store":
            problems = store.verify(log=log)
            for p in problems:
                log(f"CORRUPT {p}")
            log(f"{len(problems)} problem(s) in {store.root}" + ("; delete those entries to re-fetch them"
                                                                if problems else ""))
            return 1 if problems else 0
        if not env["url"]:
            raise SCons.Errors.UserError("scons add-model needs url=https://.../NAME.gguf (and license=...)")
        pin = load_sources_lock(os.path.join(repo, "sources.lock"))["llama.cpp"]
        tree = fetch_source_tree(pin, store, log=log)
        add_model(os.path.join(repo, "models.lock"), env["url"], store, os.path.join(tree, "gguf-py"),
                  license=env["license"], log=log)
        return 0
    except InputError as e:
        log(str(e))
        return 1


def run_prune_cache(env):
    from lsone.cacheprune import parse_size, prune_cache

    if not env["cache_dir"]:
        raise SCons.Errors.UserError("scons prune-cache needs cache_dir=DIR (and cache_limit=SIZE, default 2G)")
    if not os.path.isdir(env["cache_dir"]):
        print(f"cache_dir={env['cache_dir']} does not exist; nothing to prune")
        return 0
    kept, removed = prune_cache(env["cache_dir"], parse_size(env["cache_limit"]))
    print(f"pruned {env['cache_dir']}: removed {removed / (1 << 20):.1f} MiB, kept {kept / (1 << 20):.1f} MiB")
    return 0


def run_bump(env, repo):
    """`scons bump llama_cpp=REF`: move the pin, refresh patches; returns the exit code."""
    import platform

    from lsone.bump import bump
    from lsone.errors import InputError
    from lsone.store import Store

    if not env["llama_cpp"]:
        raise SCons.Errors.UserError("scons bump needs llama_cpp=REF (latest, a commit, a tag, "
                                     "pip:llama-cpp-python==X or url:URL); see MAINTAINERS.md")
    try:
        # GITHUB_TOKEN, when set (as in the weekly workflow), lifts the API's anonymous rate limit.
        return bump(repo, env["llama_cpp"], Store(env["store"]), platform.machine(),
                    log=lambda m: print(f"[bump] {m}", flush=True), github_api=env["github_api"],
                    token=os.environ.get("GITHUB_TOKEN"))
    except InputError as e:
        print(f"[bump] {e}", flush=True)
        return 1


def quiet_output(env):
    """Short progress lines unless verbose=1."""
    if env["verbose"]:
        return
    for key, label in (("CCCOMSTR", "CC"), ("CXXCOMSTR", "CXX"), ("ARCOMSTR", "AR"),
                       ("LINKCOMSTR", "LINK"), ("ISOLATECOMSTR", "LD-R"), ("SUBSTFILECOMSTR", "GEN"), ("TEXTFILECOMSTR", "GEN")):
        env[key] = f"{label:5}$TARGET"


def zip_epoch():
    """Zip timestamps: SOURCE_DATE_EPOCH when the caller sets it (the one variable read on
    purpose, as reproducible-builds.org defines it), else a fixed 1980-01-01."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    return int(value) if value.isdigit() else 315532800


def _without_path_spans(flags):
    """Drop what sits between $( and $): machine paths, kept out of signatures for the same reason."""
    kept, depth = [], 0
    for f in flags:
        depth += (f == "$(") - (f == "$)")
        if depth == 0 and f != "$)":
            kept.append(f)
    return kept


def manifest_flags(env):
    """The flags, minus the paths of this checkout and toolchain (prefix maps, forced includes)."""
    return {k: _without_path_spans([str(f) for f in env.Flatten(env[k])]) for k in
            ("CCFLAGS", "CFLAGS", "CXXFLAGS", "CPU_FLAGS", "OPENMP_FLAGS", "LINKFLAGS", "CPPDEFINES")}


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
