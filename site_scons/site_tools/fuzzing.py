"""SCons tool: libFuzzer targets for runtime/'s zip reader and args parser, and for the RPC worker's
command decoding (the patched ggml-rpc.cpp over ggml-base), with ASan + UBSan.

`scons fuzz fuzz_time=S` fuzzes each target for S seconds, starting from the checked-in seeds
(tests/fuzz/corpus/<target>/) and growing a working corpus in build/fuzz/corpus/<target>/.
A crash fails the run; libFuzzer leaves the input in build/fuzz/crashes/<target>/.
`scons fuzz-regress` runs every seed and every kept crash (tests/fuzz/crashes/<target>/) once.

The objects are compiled by clang with the sanitizers into build/fuzz/obj/, apart from the
release objects, and depend on the identity of that clang. The RPC target needs the patched tree,
so `scons fuzz` prepares it as a build does (from the store), without compiling the server.
"""

import base64
import json
import os
import re
import subprocess
import sys

import SCons.Errors
from SCons.Script import Action, Builder

from lsone.inputs.cmakelists import target_sources
from lsone.inputs.sourcelists import CMAKE_TARGETS
from lsone.inputs.treehash import file_sha256
from scons_errors import reported

TARGETS = {  # name: (runtime sources, libFuzzer options)
    "zip": (["lsone_zip.cpp", "lsone_image.cpp", "lsone_platform.cpp"], ["-max_len=8192"]),
    "args": (["lsone_args.cpp", "lsone_zip.cpp", "lsone_image.cpp", "lsone_platform.cpp"], ["-max_len=4096"]),
}
# Over the patched llama.cpp tree, declared by FuzzTreeTargets once it exists: name: (runtime sources,
# tree sources compiled into a static library, so only what the target uses is linked, libFuzzer options).
TREE_TARGETS = {
    "rpc": (["lsone_rpc.cpp"], "ggml-base", ["-max_len=65536"]),
}
ALIASES = ("fuzz", "fuzz-regress")
SANITIZE = "-fsanitize=address,undefined"
CLANG_NAMES = ("clang++", "clang++-14")
INSTALL_HINT = "Debian/Ubuntu: apt-get install clang libclang-rt-14-dev"
SANITIZER_OPTIONS = {
    "ASAN_OPTIONS": "abort_on_error=1:detect_leaks=1:symbolize=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:abort_on_error=1",
}


def say(text):
    """One line per write: the targets run as parallel actions (-j), and print()'s separate newline
    let two summaries share a line."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def find_clang(env):
    for name in CLANG_NAMES:
        path = env.WhereIs(name)
        if path:
            break
    else:
        raise SCons.Errors.UserError(f"scons fuzz: no clang++ on PATH (tried {', '.join(CLANG_NAMES)}); "
                                     f"libFuzzer comes with clang.\n  fix: {INSTALL_HINT}")
    runtime_dir = subprocess.run([path, "-print-runtime-dir"], stdout=subprocess.PIPE, text=True).stdout.strip()
    if not (os.path.isdir(runtime_dir) and any(f.startswith("libclang_rt.fuzzer") for f in os.listdir(runtime_dir))):
        raise SCons.Errors.UserError(f"scons fuzz: {path} has no libFuzzer runtime (libclang_rt.fuzzer*) in "
                                     f"{runtime_dir or 'its runtime directory'}.\n  fix: {INSTALL_HINT}")
    return path


def fuzz_seconds(env):
    value = str(env.get("fuzz_time", "60"))
    if not value.isdigit() or int(value) == 0:
        raise SCons.Errors.UserError(f"fuzz_time={value}: expected a whole number of seconds per target, "
                                     "e.g. fuzz_time=60")
    return int(value)


def _process_env(env):
    run_env = dict(env["ENV"], **SANITIZER_OPTIONS)
    symbolizer = env.WhereIs("llvm-symbolizer") or env.WhereIs("llvm-symbolizer-14")
    if symbolizer:
        run_env["ASAN_SYMBOLIZER_PATH"] = symbolizer
    return run_env


def _run(env, cmd, log_path):
    with open(log_path, "w") as log:
        return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=_process_env(env)).returncode


def _failure(name, log_path, what):
    with open(log_path, errors="replace") as f:
        lines = f.read().splitlines()
    report = [x for x in lines if "ERROR:" in x or "runtime error:" in x or "broken promise" in x
              or re.match(r"\s+#\d+ ", x) or "Test unit written to" in x or x.startswith("Running:")]
    say(f"fuzz {name}: {what}; the full log is {log_path}\n" + "\n".join(report[:40]))
    for path in sorted(set(re.findall(r"Test unit written to (\S+)", "\n".join(report)))):
        if os.path.getsize(path) <= 16384:  # the input itself, so a CI log alone is enough to reproduce it
            with open(path, "rb") as f:
                say(f"fuzz {name}: the input, base64: {base64.b64encode(f.read()).decode()}")
    return 1


def _fuzz_action(target, source, env):
    """Fuzz one target for FUZZ_SECONDS; report executions and the corpus growth."""
    name, program, log_path = env["FUZZ_NAME"], source[0].abspath, target[0].abspath
    work, crashes = env.Dir(f"#build/fuzz/corpus/{name}").abspath, env.Dir(f"#build/fuzz/crashes/{name}").abspath
    for d in (work, crashes):
        os.makedirs(d, exist_ok=True)
    seeds = env.Dir(f"#tests/fuzz/corpus/{name}").abspath
    before = len(os.listdir(work))
    cmd = [program, work, seeds, f"-max_total_time={env['FUZZ_SECONDS']}", f"-artifact_prefix={crashes}/",
           "-print_final_stats=1", "-timeout=10", "-rss_limit_mb=2048", *env["FUZZ_OPTIONS"]]
    code = _run(env, cmd, log_path)
    with open(log_path, errors="replace") as f:
        log = f.read()
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    summary = {"target": name, "seconds": env["FUZZ_SECONDS"], "executions": int(runs.group(1)) if runs else None,
               "corpus_before": before, "corpus_after": len(os.listdir(work)), "exit": code}
    say(f"fuzz {name}: {json.dumps(summary)}")
    if code != 0:
        return _failure(name, log_path, "found a failing input (kept in build/fuzz/crashes/); reproduce with "
                                        f"{program} FILE; once fixed, add it to tests/fuzz/crashes/{name}/")
    return 0


def _regress_action(target, source, env):
    """Run the fuzz program once on every seed and kept crash: each must pass."""
    name, program, log_path = env["FUZZ_NAME"], source[0].abspath, target[0].abspath
    inputs = [s.abspath for s in source[1:]]
    code = _run(env, [source[0].abspath, "-runs=1", *inputs], log_path)
    say(f"fuzz-regress {name}: {len(inputs)} input(s), exit {code}")
    if code != 0:
        return _failure(name, log_path, f"an input fails again; reproduce with {program} FILE")
    return 0


def _inputs(env, name):
    files = []
    for kind in ("corpus", "crashes"):
        top = env.Dir(f"#tests/fuzz/{kind}/{name}").abspath
        if os.path.isdir(top):
            files += [os.path.join(top, f) for f in sorted(os.listdir(top)) if not f.startswith(".")]
    return [env.File(f) for f in files]


def _fuzz_env(env, requested):
    clang = find_clang(env)
    identity = {"clang": os.path.realpath(clang), "sha256": file_sha256(os.path.realpath(clang)),
                "version": subprocess.run([clang, "--version"], stdout=subprocess.PIPE, text=True).stdout}
    fenv = env.Clone(CC=clang, CXX=clang, LINK=clang, CPPDEFINES=[], CPPPATH=["#runtime"], CFLAGS=[],
                     CXXFLAGS=["-std=gnu++17"], LINKFLAGS=["-fsanitize=fuzzer", SANITIZE],
                     CCFLAGS=["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=fuzzer-no-link", SANITIZE,
                              "-fno-sanitize-recover=all"],
                     FUZZ_SECONDS=fuzz_seconds(env) if "fuzz" in requested else 0)
    return fenv, fenv.Value(json.dumps(identity, sort_keys=True))


def _declare(fenv, clang_node, name, objs, options, libs=()):
    fenv.Depends(objs, clang_node)
    program = fenv.Program(f"#build/fuzz/fuzz_{name}", objs, LIBS=list(libs))
    run = fenv.FuzzRun(f"#build/fuzz/{name}.log", program, FUZZ_NAME=name, FUZZ_OPTIONS=options)
    fenv.AlwaysBuild(run)  # time-bounded and random: a run is never up to date
    regress = fenv.FuzzRegress(f"#build/fuzz/{name}.regress.log", program + _inputs(fenv, name), FUZZ_NAME=name)
    fenv.NoCache(run, regress)
    fenv.Alias("fuzz", run)
    fenv.Alias("fuzz-regress", regress)


def fuzz_targets(env, requested):
    """Declare the runtime's fuzz programs and the fuzz / fuzz-regress aliases, if either was requested."""
    if not set(requested) & set(ALIASES):
        return []
    fenv, clang_node = _fuzz_env(env, requested)
    env["FUZZ_ENV"] = (fenv, clang_node)  # for FuzzTreeTargets, once the tree is patched
    for name, (sources, options) in sorted(TARGETS.items()):
        objs = [fenv.Object(f"#build/fuzz/obj/{src}.o", f"#runtime/{src}") for src in sources]
        objs.append(fenv.Object(f"#build/fuzz/obj/fuzz_{name}.o", f"#runtime/fuzz/fuzz_{name}.cpp"))
        _declare(fenv, clang_node, name, objs, options)
    return ALIASES


def fuzz_tree_targets(env, source, toolchain):
    """Declare the fuzz programs over the patched tree (a steps.Source), from upstream's source lists;
    toolchain (the release one) only says where the tree's generated headers are."""
    if "FUZZ_ENV" not in env:  # neither fuzz alias was requested
        return
    fenv, clang_node = env["FUZZ_ENV"]
    clang_c = os.path.join(os.path.dirname(fenv["CXX"]), os.path.basename(fenv["CXX"]).replace("clang++", "clang"))
    src = source.dir.abspath
    ggml_inc = [f"{src}/ggml/src", f"{src}/ggml/include", f"{toolchain.build_root}/gen/ggml"]
    for name, (runtime_sources, library, options) in sorted(TREE_TARGETS.items()):
        tenv = fenv.Clone(CC=clang_c, CPPPATH=["#runtime"] + ggml_inc,
                          CPPDEFINES=["GGML_BUILD", "GGML_SCHED_MAX_COPIES=4", "_GNU_SOURCE", "_XOPEN_SOURCE=600"])
        with reported():
            sources = target_sources(src, *CMAKE_TARGETS[library])
        lib_objs = [tenv.Object(f"#build/fuzz/obj/{name}/{s}.o", f"{src}/{s}") for s in sources]
        lib = tenv.StaticLibrary(f"#build/fuzz/lib/{name}-{library}", lib_objs)
        tenv.Depends(lib_objs, clang_node)
        objs = [tenv.Object(f"#build/fuzz/obj/{name}/{s}.o", f"#runtime/{s}") for s in runtime_sources]
        objs.append(tenv.Object(f"#build/fuzz/obj/fuzz_{name}.o", f"#runtime/fuzz/fuzz_{name}.cpp"))
        _declare(tenv, clang_node, name, objs, options, libs=[lib, "pthread", "m"])


def generate(env):
    env["BUILDERS"]["FuzzRun"] = Builder(action=Action(_fuzz_action, "FUZZ $TARGET",
                                                       varlist=["FUZZ_NAME", "FUZZ_SECONDS", "FUZZ_OPTIONS"]))
    env["BUILDERS"]["FuzzRegress"] = Builder(action=Action(_regress_action, "FUZZ $TARGET", varlist=["FUZZ_NAME"]))
    env.AddMethod(fuzz_targets, "FuzzTargets")
    env.AddMethod(fuzz_tree_targets, "FuzzTreeTargets")


def exists(env):
    """Nothing to check when loading: clang++ with libFuzzer is checked when a fuzz target is asked for."""
    return True
