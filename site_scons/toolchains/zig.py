"""toolchain=zig: the pinned zig (clang, lld, musl, mingw-w64, libc++) for one target= platform.

Nothing of the host's toolchain is used, and none needs to be installed: the ziglang wheel
(lsone/inputs/zig.py) is the whole compiler. Linux executables are fully static (musl). Windows
ones link libc++ in and take only system DLLs (mingw-w64's CRT over Windows' own). zig has no
OpenMP, so ggml runs its own threadpool (GGML_OPENMP off).

cpu=multi (Linux targets): each level is partially linked by zig's own `ld.lld -r --force-group-allocation`
and its symbols made local by lsone/compile/elf_localise.py (zig's objcopy cannot localise), run by
name as `python3 -m`; its source hash is in the CPU backend's identity, so a change to it rebuilds the levels.

macOS executables link libc++ in and libSystem dynamically (Apple has no static libc). They use the
CPU backend only: zig ships libSystem's stubs and headers but no SDK frameworks, so Accelerate (BLAS)
and Metal cannot be linked; the build never defines GGML_USE_ACCELERATE, GGML_USE_BLAS or GGML_USE_METAL.
"""

import os
import sys

from compile_flags import release_flags
from lsone.compile import elf_localise
from lsone.compile.cpulevels import zig_spelling
from lsone.errors import InputError
from lsone.inputs.treehash import file_sha256
from lsone.inputs.zig import TARGETS, check_target, default_target, host_pin, pinned_zig
from steps import Toolchain
from toolchains import ToolchainIdentity, ToolchainModule

# Per target OS: the system libraries the link needs (upstream's CMake: on WIN32 common links ws2_32,
# userenv, ntdll and bcrypt; cpp-httplib and ggml-rpc ws2_32; macOS: libSystem's), the link flags
# and the defines every file gets (upstream adds _CRT_SECURE_NO_WARNINGS on WIN32).
SYSTEM_LIBS = {"linux": ["pthread", "m", "dl"], "windows": ["ws2_32", "userenv", "ntdll", "bcrypt"]}
# Linux: static musl (macOS has no static libc). Windows: libc++ is linked in anyway (its system DLLs cannot
# be), and -Brepro makes lld write a hash of the output where the PE header's TimeDateStamp would hold the
# link's time.
LINK_FLAGS = {"linux": ["-static"], "windows": ["-Wl,-Brepro"]}
OS_DEFINES = {"windows": ["_CRT_SECURE_NO_WARNINGS"]}
# Where cpu=multi is refused, and why (levels need an ELF partial link and the localiser); cpu=auto is portable there.
MULTI_REFUSED = {"macos": "Mach-O has a partial link (ld64 -r) but no localiser: lsone/compile/elf_localise.py "
                          "reads ELF only, and no host-independent one is proven for Mach-O yet",
                 "windows": "COFF, Windows' object format, has no partial link (ld -r), which is how cpu=multi "
                            "keeps each level's copy of ggml-cpu apart"}


def target_of(values):
    """target= (this host's platform when empty), checked."""
    target = values["target"] or default_target()
    if not target:
        raise InputError("target=", "this host is no platform zig builds for", expected=", ".join(TARGETS),
                         fix="name one, e.g. target=linux-x86_64")
    check_target(target)
    return target


class Zig(ToolchainModule):
    name = "zig"
    description = "zig (pinned in toolchains.lock): no host compiler, static executables, the same bytes anywhere"
    variables = (("target", "toolchain=zig: the platform to build for (" + ", ".join(TARGETS) + "); empty is "
                            "this host's", ""),)
    cpu_settings = ("native", "portable", "performant", "multi")
    auto_cpu = "multi"  # the executable runs on other machines: every level, the best one chosen at start

    def cpu_for_auto(self, values):
        """multi where levels can be kept apart (Linux targets), else portable."""
        return "portable" if TARGETS[target_of(values)]["os"] in MULTI_REFUSED else "multi"

    def at_hand(self, values, lock, store):
        return False  # toolchain=auto keeps host until zig's builds reach its speed (see README)

    def check(self, values, repo, store, lock):
        target = target_of(values)
        host_pin(lock)
        if values["cpu"] == "native" and target != default_target():
            raise InputError("cpu=native", f"refused for target={target}: the executable runs on another "
                             "platform, not on this CPU", fix="cpu=portable or cpu=performant")
        if values["cpu"] == "multi" and TARGETS[target]["os"] in MULTI_REFUSED:
            raise InputError("cpu=multi", f"refused for target={target}: " + MULTI_REFUSED[TARGETS[target]["os"]],
                             fix="cpu=portable or cpu=performant")

    def pins(self, values, lock):
        return {"zig": host_pin(lock)}

    def realise(self, values, lock, store, offline, log):
        return pinned_zig(host_pin(lock), store, offline, log)

    def arch_flags(self, arch, flags):
        """GCC's spellings as zig takes them: -march=x86-64-v3 is -mcpu=x86_64_v3."""
        return zig_spelling(flags)

    def configure(self, env, values, zig, cpu):
        target = target_of(values)
        platform = TARGETS[target]
        # zig by name through ENV's PATH, like cosmocc: command lines (so signatures and the CacheDir)
        # do not depend on where the store is. Its identity (the wheel's hash) is in the general node.
        env.PrependENVPath("PATH", zig.bin_dir)
        # zig's caches: the global one beside the store (musl, libc++ per target, built once), the local
        # one in build/. Never ~/.cache/zig; ENV is in no signature.
        env["ENV"]["ZIG_GLOBAL_CACHE_DIR"] = zig.global_cache
        env["ENV"]["ZIG_LOCAL_CACHE_DIR"] = env.Dir("#build/zig-cache").abspath
        driver = f"-target {platform['triple']}"
        env.Replace(CC=f"zig cc {driver}", CXX=f"zig c++ {driver}", LINK=f"zig c++ {driver}",
                    SHCC=f"zig cc {driver}", SHCXX=f"zig c++ {driver}", AR="zig ar")
        # -g0: zig's driver adds debug info unless told not to. It also keeps frame pointers, which gcc
        # drops at -O2 and above. It maps -O3 to its ReleaseFast, which runs clang at -O2. The zig root
        # is mapped out like the checkout.
        release_flags(env, extra_ccflags=["-g0", "-fomit-frame-pointer"], mapped_dirs=[zig.root])
        env.Replace(CPPDEFINES=list(env["CPPDEFINES"]) + OS_DEFINES.get(platform["os"], []))
        # -s: the debug sections of zig's own libc++ and musl objects name its cache directory. zig signs a
        # Mach-O ad hoc as it links (arm64 runs nothing unsigned); the zip is appended after that signature
        # (see lsone/packaging/macho.py).
        env.Replace(LINKFLAGS=["-s"] + LINK_FLAGS.get(platform["os"], []))
        if platform["os"] == "windows":
            env["PROGSUFFIX"] = ".exe"  # the package too: build/llama-server-one.exe
        identity = ToolchainIdentity(dict(zig.identity, target=target, cpu=cpu))
        tools = {platform["arch"]: level_isolation_tools(env, identity)} if cpu == "multi" else {}
        return Toolchain(self.name, self, identity, cpu, arches=[platform["arch"]], label=platform["triple"],
                         build_root=f"#build/zig-{target}",  # apart from other toolchains' and targets' objects
                         cpu_flags=self.cpu_flags(cpu, platform["arch"]),
                         system_libs=SYSTEM_LIBS.get(platform["os"], []),
                         relocatable_tools=tools, target_os=platform["os"])


def level_isolation_tools(env, identity):
    """cpu=multi: (partial link, localiser) as isolate_cpu_levels.py runs them. Both by name: zig through
    ENV's PATH, the localiser through ENV's PYTHONPATH and a python3 on ENV's PATH (SCons' own is appended,
    after the system directories, so it can shadow no other tool). Any Python 3 gives the same bytes."""
    localiser = elf_localise.__file__
    env["ENV"]["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.dirname(localiser)))  # site_scons/
    env.AppendENVPath("PATH", os.path.dirname(sys.executable))
    if not env.WhereIs("python3", path=env["ENV"]["PATH"]):
        raise InputError("cpu=multi with toolchain=zig", "no `python3` on the build's PATH; it runs the symbol "
                         "localiser", expected=f"python3 on {env['ENV']['PATH']}",
                         fix="install Python 3 as python3, or run SCons with a python whose directory has one")
    identity.record["localiser"] = {"module": "lsone.compile.elf_localise", "sha256": file_sha256(localiser)}
    return "zig ld.lld", "python3 -m lsone.compile.elf_localise"


TOOLCHAIN = Zig()
