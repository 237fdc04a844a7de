"""toolchain=zig: the pinned zig (clang, lld, musl, mingw-w64, libc++) for one target= platform.

Nothing of the host's toolchain is used, and none needs to be installed: the ziglang wheel
(lsone/inputs/zig.py) is the whole compiler. Linux executables are fully static (musl). Windows
ones link libc++ statically and take only system DLLs (mingw-w64's CRT over Windows' own). zig has
no OpenMP, so ggml runs its own threadpool (GGML_OPENMP off).
"""

from compile_flags import release_flags
from lsone.compile.cpulevels import zig_spelling
from lsone.errors import InputError
from lsone.inputs.zig import TARGETS, check_target, default_target, host_pin, pinned_zig
from steps import Toolchain
from toolchains import ToolchainIdentity, ToolchainModule

# Per target OS: the system libraries the link needs (upstream's CMake: on WIN32 common links ws2_32,
# userenv, ntdll and bcrypt; cpp-httplib and ggml-rpc ws2_32), the link flags and the defines
# every file gets (upstream adds _CRT_SECURE_NO_WARNINGS on WIN32).
SYSTEM_LIBS = {"linux": ["pthread", "m", "dl"], "windows": ["ws2_32", "userenv", "ntdll", "bcrypt"]}
# Linux: static musl. Windows: libc++ is linked in anyway (its system DLLs cannot be), and -Brepro makes
# lld write a hash of the output where the PE header's TimeDateStamp would hold the link's time.
LINK_FLAGS = {"linux": ["-static"], "windows": ["-Wl,-Brepro"]}
OS_DEFINES = {"windows": ["_CRT_SECURE_NO_WARNINGS"]}
# COFF (Windows' object format) has no partial link: cpu=multi's levels cannot be kept apart that way.
NO_MULTI = {"windows": "COFF, Windows' object format, has no partial link (ld -r), which is how cpu=multi keeps "
                       "each level's copy of ggml-cpu apart"}


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
    cpu_settings = ("native", "portable", "performant")
    refused_cpu = {"multi": "Its levels are kept apart by a partial link and an objcopy that makes symbols "
                            "local; zig's objcopy cannot, and no host-independent one is pinned yet. On "
                            "target=windows-x86_64 there is no partial link at all (COFF): it builds "
                            "cpu=portable or cpu=performant."}
    auto_cpu = "portable"  # the executable runs on other machines

    def at_hand(self, values, lock, store):
        return False  # toolchain=auto keeps host until zig's builds reach its speed (see README)

    def check(self, values, repo, store, lock):
        target = target_of(values)
        host_pin(lock)
        if values["cpu"] == "native" and target != default_target():
            raise InputError("cpu=native", f"refused for target={target}: the executable runs on another "
                             "platform, not on this CPU", fix="cpu=portable or cpu=performant")
        system = TARGETS[target]["os"]
        if values["cpu"] == "multi" and system in NO_MULTI:
            raise InputError("cpu=multi", f"refused for target={target}: {NO_MULTI[system]}",
                             fix="cpu=portable (runs on any x86-64) or cpu=performant")

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
        # -s: the debug sections of zig's own libc++ and musl objects name its cache directory
        env.Replace(LINKFLAGS=["-s"] + LINK_FLAGS.get(platform["os"], []))
        if platform["os"] == "windows":
            env["PROGSUFFIX"] = ".exe"  # the package too: build/llama-server-one.exe
        identity = ToolchainIdentity(dict(zig.identity, target=target, cpu=cpu))
        return Toolchain(self.name, self, identity, cpu, arches=[platform["arch"]], label=platform["triple"],
                         build_root=f"#build/zig-{target}",  # apart from other toolchains' and targets' objects
                         cpu_flags=self.cpu_flags(cpu, platform["arch"]),
                         system=platform["os"], system_libs=SYSTEM_LIBS.get(platform["os"], []))


TOOLCHAIN = Zig()
