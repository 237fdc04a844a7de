"""SCons tool: cosmocc in fat mode, making one Actually Portable Executable (x86_64 + aarch64).

Fat mode, not per-architecture compilers joined by apelink, because cosmoar (which makes
the static libraries) refuses an object that lacks its .aarch64/ twin, and cosmoc++ already
runs both compilers, both links and apelink. SCons keeps one node per source; the emitters
below declare what cosmocc writes beside each output, so CacheDir stores and restores those
files, and an archive or link reruns when only the aarch64 half changed:
    -c -o d/x.o        also writes d/.aarch64/x.o
    cosmoar rcsD d/l.a also writes d/.aarch64/l.a
    -o d/prog          also writes d/prog.com.dbg (x86_64 ELF) and d/prog.aarch64.elf
"""

import os
import tempfile

import SCons.Builder
import SCons.Tool

from compile_flags import identity_nodes, release_flags
from lsone.cpulevels import cpu_flags
from scons_errors import reported
from lsone.cosmocc import REQUIRED_FILES

ARCHES = ("x86_64", "aarch64")


def sidecar_path(path):
    head, tail = os.path.split(path)
    return os.path.join(head, ".aarch64", tail)


def _sidecar(env, node):
    return env.File(sidecar_path(node.get_abspath()))


def _object_emitter(target, source, env):
    return target + [_sidecar(env, t) for t in target], source


def _library_emitter(target, source, env):
    env.Depends(target[0], [_sidecar(env, s) for s in source if str(s).endswith(".o")])
    return target + [_sidecar(env, target[0])], source


def _program_emitter(target, source, env):
    objects = [_sidecar(env, s) for s in source if str(s).endswith(".o")]
    libraries = [_sidecar(env, lib) for lib in env.Flatten([env.get("LIBS", [])])
                 if hasattr(lib, "get_abspath") and str(lib).endswith(".a")]
    env.Depends(target[0], objects + libraries)
    exe = target[0].get_abspath()
    stem = exe[:-4] if exe.endswith(".com") else exe
    return target + [env.File(stem + ".com.dbg"), env.File(stem + ".aarch64.elf")], source


def _add_emitters(env):
    static_obj, _shared_obj = SCons.Tool.createObjBuilders(env)
    for suffix, emitter in list(static_obj.emitter.items()):
        static_obj.add_emitter(suffix, SCons.Builder.ListEmitter([emitter, _object_emitter]))
    env.Append(LIBEMITTER=[_library_emitter], PROGEMITTER=[_program_emitter])


def fat_cpu_flags(cpu):
    """Each architecture's level through the fat driver's -X<arch> prefix, e.g. -Xx86_64-march=x86-64-v3."""
    with reported():
        return [f"-X{arch}{flag}" for arch in ARCHES for flag in cpu_flags(cpu, arch)]


def generate(env):
    """Set up env for the cosmocc that the inputs step realised (a lsone.cosmocc.Toolchain in COSMOCC)."""
    toolchain = env["COSMOCC"]
    cpu = env.get("CPU", "portable")
    # Tools by name, found through ENV's PATH: command lines (hence build signatures and the
    # CacheDir) do not depend on where the toolchain was unpacked. Its identity is in TOOLCHAIN_NODE.
    env.PrependENVPath("PATH", os.path.join(toolchain.root, "bin"))
    env.Replace(CC="cosmocc", CXX="cosmoc++", LINK="cosmoc++", AR="cosmoar")
    # The toolchain's own programs are APEs. Without /usr/bin/ape (or binfmt) each one extracts the
    # APE loader to ${TMPDIR:-${HOME:-.}}/.ape-<version>, and ENV has neither: ./.ape-1.10 in the
    # checkout. The caller's temporary directory instead ($TMPDIR, else /tmp); ENV is in no signature.
    env["ENV"]["TMPDIR"] = tempfile.gettempdir()
    # llama.cpp needs exceptions and RTTI. The driver has not added -fno-rtti -fno-exceptions
    # since 3.8.0; the flags are explicit so the build does not rest on a driver default.
    # -mcosmo (_COSMO_SOURCE) exposes Cosmopolitan's own APIs, like GetProgramExecutableName in runtime/.
    # runtime/cosmo_compat.h holds the source fixes; its path stays out of signatures
    # (FORCED_INCLUDES makes every C++ object depend on its content instead).
    compat = env.File("#runtime/cosmo_compat.h")
    release_flags(env, extra_ccflags=["-mcosmo"],
                  extra_cxxflags=["-fexceptions", "-frtti", "$(", "-include", compat.abspath, "$)"],
                  mapped_dirs=[toolchain.root])
    env.Replace(
        FORCED_INCLUDES=[compat],
        CPU_FLAGS=fat_cpu_flags(cpu),
        # cosmocc ships LLVM's libomp; llamafile builds llama.cpp with -fopenmp under cosmocc 4.0.2.
        OPENMP_FLAGS=["-fopenmp"], OPENMP_DEFINES=["GGML_USE_OPENMP"],
        LINKFLAGS=["-fopenmp"],
        SYSTEM_LIBS=[],  # libc, libm, pthreads and dl are all in cosmo's libc
        TARGET_ARCHES=list(ARCHES),
        TARGET_LABEL="Cosmopolitan " + "+".join(ARCHES),
        BUILD_ROOT="#build/cosmocc",  # apart from host objects, so switching toolchains rebuilds nothing
    )
    if cpu == "multi":  # cosmocc ships binutils per architecture; site_tools/cpu_levels.py uses them
        env.Replace(RELOCATABLE_TOOLS={arch: (f"{arch}-linux-cosmo-ld", f"{arch}-linux-cosmo-objcopy") for arch in ARCHES},
                    ARCH_PATH=lambda path, arch: path if arch == ARCHES[0] else sidecar_path(path),
                    LEVEL_ISOLATION_FLAGS=["-fno-gnu-unique"])  # GCC's unique symbols cannot be made local
    _add_emitters(env)
    identity = dict(toolchain.identity, cpu=cpu, arches=list(ARCHES))
    identity_nodes(env, identity)


def exists(env):
    toolchain = env.get("COSMOCC")
    return bool(toolchain) and all(os.path.isfile(os.path.join(toolchain.root, f)) for f in REQUIRED_FILES)
