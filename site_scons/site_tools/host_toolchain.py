"""SCons tool: the machine's own gcc or clang, described by a hashable identity.

The identity (resolved paths, version banners, binary hashes and, for
cpu=native, what -march=native expands to on this CPU) is a Value node that
every compile and link depends on, so swapping compilers or moving a cache to
a different CPU rebuilds instead of reusing foreign objects.
"""

import os
import platform
import subprocess

import SCons.Errors

from compile_flags import identity_nodes, release_flags
from lsone.cpulevels import cpu_flags
from scons_errors import reported
from lsone.treehash import file_sha256

CANDIDATES = (("gcc", "g++"), ("clang", "clang++"), ("cc", "c++"))


def _run(cmd):
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    return result.stdout


def find_compilers(env):
    cc, cxx = env.get("CC_REQUEST"), env.get("CXX_REQUEST")
    if cc or cxx:
        found = (env.WhereIs(cc or "gcc") or cc, env.WhereIs(cxx or "g++") or cxx)
        for path in found:
            if not (path and os.path.isfile(path) and os.access(path, os.X_OK)):
                raise SCons.Errors.UserError(
                    f"toolchain=host: compiler {path!r} (from cc=/cxx=) is not an executable file.\n"
                    "  fix: pass full paths, e.g. cc=/usr/bin/clang cxx=/usr/bin/clang++")
        return found
    for c, cxx_name in CANDIDATES:
        pc, pcxx = env.WhereIs(c), env.WhereIs(cxx_name)
        if pc and pcxx:
            return pc, pcxx
    raise SCons.Errors.UserError(
        "toolchain=host: no C/C++ compiler pair found on PATH (tried gcc/g++, clang/clang++, cc/c++).\n"
        "  fix: install one (Debian/Ubuntu: sudo apt-get install build-essential), "
        "or pass cc=PATH cxx=PATH")


def native_expansion(cc):
    """The concrete -m flags -march=native means here, so caches never cross CPUs."""
    out = _run([cc, "-march=native", "-E", "-v", "-"])
    for line in out.splitlines():
        if "cc1" in line or "-target-cpu" in line:
            return sorted(t for t in line.split() if t.startswith(("-m", "-target-cpu", "+", "-target-feature")))
    return [out.strip()[-200:]]


def toolchain_identity(cc, cxx, cpu):
    ident = {"kind": "host", "machine": platform.machine(), "cpu": cpu}
    for role, path in (("cc", cc), ("cxx", cxx)):
        real = os.path.realpath(path)
        ident[role] = {"path": real, "version": _run([path, "--version"]).splitlines()[0],
                       "sha256": file_sha256(real)}
    backend = _run([cxx, "-print-prog-name=cc1plus"]).strip()
    if os.path.isabs(backend) and os.path.isfile(backend):
        ident["cxx"]["cc1plus_sha256"] = file_sha256(backend)
    if cpu == "native":
        ident["native"] = native_expansion(cc)
    return ident


def relocatable_tools(env, machine, ident):
    """cpu=multi: binutils' ld -r and objcopy isolate each CPU level (site_tools/cpu_levels.py)."""
    tools = []
    for name in ("ld", "objcopy"):
        path = env.WhereIs(name)
        if not path:
            raise SCons.Errors.UserError(f"cpu=multi: `{name}` (GNU binutils) is not on PATH; it keeps the CPU "
                                         "levels apart.\n  fix: install binutils (Debian/Ubuntu: sudo apt-get "
                                         "install binutils), or build one level with cpu=native")
        real = os.path.realpath(path)
        ident[name] = {"path": real, "version": _run([path, "--version"]).splitlines()[0],
                       "sha256": file_sha256(real)}
        tools.append(path)
    return {machine: tuple(tools)}


def generate(env):
    cc, cxx = find_compilers(env)
    cpu = env.get("CPU", "native")
    machine = platform.machine()
    env.Replace(CC=cc, CXX=cxx, LINK=cxx, SHCC=cc, SHCXX=cxx, AR="ar")
    release_flags(env)
    with reported():
        host_cpu_flags = cpu_flags(cpu, machine)
    env.Replace(
        CPU_FLAGS=host_cpu_flags,
        OPENMP_FLAGS=["-fopenmp"],
        OPENMP_DEFINES=["GGML_USE_OPENMP"],
        LINKFLAGS=["-fopenmp"],
        SYSTEM_LIBS=["pthread", "m", "dl"],
        TARGET_ARCHES=[machine],
        TARGET_LABEL=f"{platform.system()} {machine}",
        BUILD_ROOT="#build",
    )
    identity = toolchain_identity(cc, cxx, cpu)
    if cpu == "multi":
        env["RELOCATABLE_TOOLS"] = relocatable_tools(env, machine, identity)
        # GCC makes some template statics STB_GNU_UNIQUE, which objcopy cannot make local; clang never does.
        env["LEVEL_ISOLATION_FLAGS"] = [] if "clang" in identity["cc"]["version"].lower() else ["-fno-gnu-unique"]
    identity_nodes(env, identity)


def exists(env):
    return any(env.WhereIs(c) for c, _ in CANDIDATES)
