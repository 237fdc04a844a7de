"""toolchain=host: the machine's own gcc or clang, described by a hashable identity.

The identity (version banners, binary hashes and, for cpu=native, what -march=native expands
to on this CPU) is a Value node that every compile and link depends on, so swapping compilers
or moving a cache to a different CPU rebuilds instead of reusing foreign objects.
"""

import os
import platform

from compile_flags import release_flags
from lsone.errors import InputError
from lsone.inputs.treehash import file_sha256
from steps import Toolchain
from toolchains import ToolchainIdentity, ToolchainModule, run_tool, tool_identity

CANDIDATES = (("gcc", "g++"), ("clang", "clang++"), ("cc", "c++"))


def check_compiler(path):
    if not (path and os.path.isfile(path) and os.access(path, os.X_OK)):
        raise InputError(f"toolchain=host: compiler {path!r} (from cc=/cxx=)", "is not an executable file",
                         fix="pass full paths, e.g. cc=/usr/bin/clang cxx=/usr/bin/clang++")


def find_compilers(env, cc, cxx):
    if cc or cxx:
        found = (env.WhereIs(cc or "gcc") or cc, env.WhereIs(cxx or "g++") or cxx)
        for path in found:
            check_compiler(path)
        return found
    for c, cxx_name in CANDIDATES:
        pc, pcxx = env.WhereIs(c), env.WhereIs(cxx_name)
        if pc and pcxx:
            return pc, pcxx
    raise InputError("toolchain=host", "no C/C++ compiler pair found on PATH",
                     expected="gcc/g++, clang/clang++ or cc/c++",
                     fix="install one (Debian/Ubuntu: sudo apt-get install build-essential), "
                         "or pass cc=PATH cxx=PATH")


def native_expansion(cc):
    """The concrete -m flags -march=native means here, so caches never cross CPUs."""
    out = run_tool([cc, "-march=native", "-E", "-v", "-"])
    for line in out.splitlines():
        if "cc1" in line or "-target-cpu" in line:
            return sorted(t for t in line.split() if t.startswith(("-m", "-target-cpu", "+", "-target-feature")))
    return [out.strip()[-200:]]


def toolchain_identity(cc, cxx, cpu):
    record, located = {"kind": "host", "machine": platform.machine(), "cpu": cpu}, {}
    for role, path in (("cc", cc), ("cxx", cxx)):
        record[role], located[role] = tool_identity(path)
    backend = run_tool([cxx, "-print-prog-name=cc1plus"]).strip()
    if os.path.isabs(backend) and os.path.isfile(backend):
        record["cxx"]["cc1plus_sha256"] = file_sha256(backend)
    if cpu == "native":
        record["native"] = native_expansion(cc)
    return ToolchainIdentity(record, located)


def relocatable_tools(env, identity):
    """cpu=multi: binutils' ld -r and objcopy isolate each CPU level (site_tools/isolate_cpu_levels.py)."""
    tools = []
    for name in ("ld", "objcopy"):
        path = env.WhereIs(name)
        if not path:
            raise InputError(f"cpu=multi: `{name}` (GNU binutils)", "is not on PATH; it keeps the CPU levels apart",
                             fix="install binutils (Debian/Ubuntu: sudo apt-get install binutils), "
                                 "or build one level with cpu=native")
        identity.record[name], identity.located[name] = tool_identity(path)
        tools.append(path)
    return tuple(tools)


class Host(ToolchainModule):
    name = "host"
    description = "gcc or clang from PATH (or cc=/cxx=), for this machine"
    variables = (("cc", "host C compiler (name or path); empty means auto-detect", ""),
                 ("cxx", "host C++ compiler (name or path); empty means auto-detect", ""))
    auto_cpu = "native"

    def check(self, values, repo, store, lock):
        """cc=/cxx= given as paths: executable files (names are looked up on the build's PATH later)."""
        for request in (values["cc"], values["cxx"]):
            if os.sep in request:
                check_compiler(request)

    def configure(self, env, values, realised, cpu):
        cc, cxx = find_compilers(env, values["cc"], values["cxx"])
        machine = platform.machine()
        env.Replace(CC=cc, CXX=cxx, LINK=cxx, SHCC=cc, SHCXX=cxx, AR="ar", LINKFLAGS=["-fopenmp"])
        release_flags(env)
        identity = toolchain_identity(cc, cxx, cpu)
        isolation, tools = [], {}
        if cpu == "multi":
            tools = {machine: relocatable_tools(env, identity)}
            # GCC makes some template statics STB_GNU_UNIQUE, which objcopy cannot make local; clang never does.
            isolation = [] if "clang" in identity.record["cc"]["version"].lower() else ["-fno-gnu-unique"]
        return Toolchain(self.name, self, identity, cpu, arches=[machine], label=f"{platform.system()} {machine}",
                         build_root="#build", cpu_flags=self.cpu_flags(cpu, machine),
                         openmp_flags=["-fopenmp"], openmp_defines=["GGML_USE_OPENMP"],
                         system_libs=["pthread", "m", "dl"], level_isolation_flags=isolation,
                         relocatable_tools=tools, target_os="macos" if platform.system() == "Darwin" else "linux")


TOOLCHAIN = Host()
