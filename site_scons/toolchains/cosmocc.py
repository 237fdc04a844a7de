"""toolchain=cosmocc: cosmocc in fat mode, making one Actually Portable Executable (x86_64 + aarch64).

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

from compile_flags import release_flags
from lsone.errors import InputError
from lsone.inputs.cosmocc import available_locally, resolve_cosmocc, unavailable_fix
from steps import Toolchain
from toolchains import ToolchainIdentity, ToolchainModule

ARCHES = ("x86_64", "aarch64")


def twin_path(path):
    head, tail = os.path.split(path)
    return os.path.join(head, ".aarch64", tail)


def _twin(env, node):
    return env.File(twin_path(node.get_abspath()))


def _object_emitter(target, source, env):
    return target + [_twin(env, t) for t in target], source


def _library_emitter(target, source, env):
    env.Depends(target[0], [_twin(env, s) for s in source if str(s).endswith(".o")])
    return target + [_twin(env, target[0])], source


def _program_emitter(target, source, env):
    objects = [_twin(env, s) for s in source if str(s).endswith(".o")]
    libraries = [_twin(env, lib) for lib in env.Flatten([env.get("LIBS", [])])
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


class Cosmocc(ToolchainModule):
    name = "cosmocc"
    description = "cosmocc (pinned in toolchains.lock), one Actually Portable Executable for x86_64 + aarch64"
    variables = (("cosmocc", "toolchain=cosmocc: a local cosmocc zip (verified by its pinned sha256) or a directory "
                             "it was unpacked into; empty fetches the pinned one into the store", ""),)
    cpu_settings = ("portable", "performant", "multi")
    refused_cpu = {"native": "The executable runs on other machines, and cosmocc compiles for two architectures "
                             "at once, so there is no single native CPU."}
    auto_cpu = "multi"  # one file for every CPU

    def pins(self, values, lock):
        return {} if values["cosmocc"] else {"cosmocc": lock["cosmocc"]}

    def at_hand(self, values, lock, store):
        return available_locally(values["cosmocc"], lock["cosmocc"], store)

    def auto_note(self, values, lock, store, chosen):
        pin = lock["cosmocc"]
        if chosen:
            return f"toolchain=auto: using cosmocc ({values['cosmocc'] or 'pinned ' + pin.version + ', in the store'})"
        return (f"toolchain=auto: using host, because {pin.label} is not in the store and cosmocc= is not set.\n"
                f"  For the portable executable: scons toolchain=cosmocc (downloads {pin.size >> 20} MiB) "
                f"or scons cosmocc=/path/to/{pin.file}")

    def check(self, values, repo, store, lock):
        """cosmocc's compiler driver refuses any argument with a space: say so before unpacking."""
        request = values["cosmocc"]
        if " " in repo:
            raise InputError("toolchain=cosmocc", "the checkout path contains a space, which cosmocc's compiler "
                             "driver refuses in any argument", found=repr(repo),
                             fix="clone or move the repository to a path without spaces")
        if " " in store.root and not os.path.isdir(os.path.expanduser(request)):
            raise InputError("toolchain=cosmocc", "the store path contains a space, and cosmocc would be unpacked "
                             "there; its compiler driver refuses paths with spaces", found=repr(store.root),
                             fix="point store= at a path without spaces")
        if request and not os.path.exists(os.path.expanduser(request)):
            pin = lock["cosmocc"]
            raise InputError(f"cosmocc={request}", "no such file or directory",
                             expected=f"{pin.file} or the directory it was unpacked into", fix=unavailable_fix(pin))

    def realise(self, values, lock, store, offline, log):
        return resolve_cosmocc(values["cosmocc"], lock["cosmocc"], store, offline, log)

    def arch_flags(self, arch, flags):
        """Through the fat driver's -X<arch> prefix, e.g. -Xx86_64-march=x86-64-v3."""
        return [f"-X{arch}{flag}" for flag in flags]

    def twin_path(self, path, arch):
        return path if arch == ARCHES[0] else twin_path(path)

    def configure(self, env, values, unpacked, cpu):
        """Set env up for the cosmocc that the inputs step realised (a lsone.inputs.cosmocc.UnpackedCosmocc)."""
        # Tools by name, found through ENV's PATH: command lines (hence build signatures and the
        # CacheDir) do not depend on where the toolchain was unpacked. Its identity is in the general node.
        env.PrependENVPath("PATH", os.path.join(unpacked.root, "bin"))
        env.Replace(CC="cosmocc", CXX="cosmoc++", LINK="cosmoc++", AR="cosmoar")
        # The toolchain's own programs are APEs. Without /usr/bin/ape (or binfmt) each one extracts the
        # APE loader to ${TMPDIR:-${HOME:-.}}/.ape-<version>, and ENV has neither: ./.ape-1.10 in the
        # checkout. The caller's temporary directory instead ($TMPDIR, else /tmp); ENV is in no signature.
        env["ENV"]["TMPDIR"] = tempfile.gettempdir()
        # llama.cpp needs exceptions and RTTI. The driver has not added -fno-rtti -fno-exceptions
        # since 3.8.0; the flags are explicit so the build does not rest on a driver default.
        # -mcosmo (_COSMO_SOURCE) exposes Cosmopolitan's own APIs, like GetProgramExecutableName in runtime/.
        # runtime/cosmo_compat.h holds the source fixes; its path stays out of signatures
        # (forced_includes makes every C++ object depend on its content instead).
        compat = env.File("#runtime/cosmo_compat.h")
        release_flags(env, extra_ccflags=["-mcosmo"],
                      extra_cxxflags=["-fexceptions", "-frtti", "$(", "-include", compat.abspath, "$)"],
                      mapped_dirs=[unpacked.root])
        # cosmocc ships LLVM's libomp; llamafile builds llama.cpp with -fopenmp under cosmocc 4.0.2.
        env.Replace(LINKFLAGS=["-fopenmp"])
        _add_emitters(env)
        tools, isolation = {}, []
        if cpu == "multi":  # cosmocc ships binutils per architecture
            tools = {arch: (f"{arch}-linux-cosmo-ld", f"{arch}-linux-cosmo-objcopy") for arch in ARCHES}
            isolation = ["-fno-gnu-unique"]  # GCC's unique symbols cannot be made local
        identity = ToolchainIdentity(dict(unpacked.identity, cpu=cpu, arches=list(ARCHES)))
        return Toolchain(self.name, self, identity, cpu, arches=list(ARCHES),
                         label="Cosmopolitan " + "+".join(ARCHES),
                         build_root="#build/cosmocc",  # apart from host objects: switching toolchains rebuilds nothing
                         cpu_flags=[f for arch in ARCHES for f in self.cpu_flags(cpu, arch)],
                         openmp_flags=["-fopenmp"], openmp_defines=["GGML_USE_OPENMP"],
                         system_libs=[],  # libc, libm, pthreads and dl are all in cosmo's libc
                         forced_includes=[compat], level_isolation_flags=isolation, relocatable_tools=tools)


TOOLCHAIN = Cosmocc()
