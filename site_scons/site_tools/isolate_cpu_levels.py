"""SCons tool: one relocatable object per CPU level, with only its entry points left global.

cpu=multi compiles ggml's CPU backend once per level (lsone/compile/cpulevels.py MULTI_LEVELS) with
GGML_BACKEND_DL defined, so each level defines upstream's loadable-backend entry points
ggml_backend_init and ggml_backend_score (ggml-backend-impl.h). The levels then collide on
every other symbol, so each is isolated like a shared library would be, but statically, with
the toolchain's own tools (steps.Toolchain.partial_link / localise):

    ld -r --force-group-allocation   all of the level's objects -> one relocatable object; COMDAT
                                     groups (inline functions, template instances) are resolved
                                     inside the level and dissolved, so the final link cannot
                                     swap in another level's copy compiled for other instructions;
    objcopy --redefine-sym ...       ggml_backend_{init,score} -> lsone_cpu_<level>_{init,score};
            --keep-global-symbol ... those two stay global, every other definition becomes local.

zig has no such objcopy: its localise() runs lsone/compile/elf_localise.py, which takes the same options.
References to ggml-base and libc stay undefined, so all levels share one ggml-base.
runtime/cpu/lsone_cpu_dispatch.cpp scores the levels and provides ggml_backend_cpu_reg.
A fat toolchain does this once per architecture, on the .aarch64/ twins with the aarch64 tools.
"""

import SCons.Action
import SCons.Builder

from lsone.compile.cpulevels import ENTRY_POINTS, entry_symbol


def isolate_commands(target, source, env, for_signature):
    """CPU_LEVEL and TOOLCHAIN (a steps.Toolchain) come with each IsolatedCpuLevel call."""
    level, toolchain = env["CPU_LEVEL"], env["TOOLCHAIN"]
    renames = [f"--redefine-sym=ggml_backend_{e}={entry_symbol(level, e)}" for e in ENTRY_POINTS]
    keeps = [f"--keep-global-symbol={entry_symbol(level, e)}" for e in ENTRY_POINTS]  # names after renaming
    commands = []  # one command line, so one progress line
    for arch in toolchain.relocatable_tools:
        out = toolchain.twin_path(target[0].path, arch)
        inputs = [toolchain.twin_path(s.path, arch) for s in source]
        commands += [toolchain.partial_link(arch, f"{out}.r", inputs),
                     toolchain.localise(arch, renames + keeps, f"{out}.r", out),
                     f"rm -f {out}.r"]
    return " && ".join(commands)


def _twins_emitter(target, source, env):
    """A fat toolchain also writes (and reads) each architecture's twin."""
    toolchain = env["TOOLCHAIN"]
    extra = toolchain.arches[1:]
    for arch in extra:
        env.Depends(target[0], [env.File(toolchain.twin_path(s.get_abspath(), arch)) for s in source])
    return target + [env.File(toolchain.twin_path(target[0].get_abspath(), arch)) for arch in extra], source


def generate(env):
    env["BUILDERS"]["IsolatedCpuLevel"] = SCons.Builder.Builder(
        action=SCons.Action.CommandGeneratorAction(isolate_commands, {"cmdstr": "$ISOLATECOMSTR"}),
        emitter=_twins_emitter, suffix=".o", src_suffix=".o")


def exists(env):
    """Nothing to check: the toolchain's own ld and objcopy are found when it is configured."""
    return True
