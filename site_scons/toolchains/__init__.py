"""The toolchain interface and its registry.

A toolchain is one module in this package whose TOOLCHAIN object is a ToolchainModule:
its pins, its variables (a target=, say), the cpu= settings it accepts, its identity record (no
machine paths), its CPU-setting flags, and how it compiles (configure() sets the ENV_KEYS),
partial-links and localises symbols. Adding a toolchain is that module plus its REGISTRY line;
tests/unit/test_toolchains.py proves it with a module from a temporary directory.
"""

import importlib.util
import json
import os
import subprocess

from lsone.compile.cpulevels import CPU_CHOICES, CPU_IDENTITY_KEYS, cpu_flags
from lsone.errors import InputError
from lsone.inputs.treehash import file_sha256

MODULES_DIR = os.path.dirname(os.path.abspath(__file__))

# toolchain= name -> its module in this package. toolchain=auto takes the first of these that
# is at hand without a download (ToolchainModule.at_hand), so the order is the preference.
REGISTRY = {"cosmocc": "cosmocc", "host": "host", "zig": "zig"}

# What a toolchain's configure() must set: the construction variables SCons' own builders read.
ENV_KEYS = ("CC", "CXX", "LINK", "AR", "ARFLAGS", "CFLAGS", "CXXFLAGS", "CCFLAGS", "CPPDEFINES", "LINKFLAGS")


def run_tool(cmd):
    """A tool's output (stdout and stderr), for its version banner and the like."""
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          stdin=subprocess.DEVNULL).stdout


def tool_identity(path, version_args=("--version",)):
    """(record, located): what identifies a tool (its version banner and sha256, no machine path)
    and where it is on this machine. The one place a tool's identity record is made."""
    real = os.path.realpath(path)
    record = {"version": run_tool([path, *version_args]).splitlines()[0], "sha256": file_sha256(real)}
    return record, real


class ToolchainIdentity:
    """record: published in the manifest, no machine paths. located: {role: path} of this machine's
    tools, which only the build signature sees (a driver finds its cc1plus, as and ld beside it, so
    which one ran is part of what made an object). Only the CPU backend depends on CPU_IDENTITY_KEYS."""

    def __init__(self, record, located=None):
        self.record = record
        self.located = located or {}

    def signature(self):
        """The record with each located tool's path in its entry, as the build signature sees it."""
        merged = dict(self.record)
        for role, path in self.located.items():
            merged[role] = dict({"path": path}, **merged[role])
        return merged

    def general_signature(self):
        return {k: v for k, v in self.signature().items() if k not in CPU_IDENTITY_KEYS}


class ToolchainModule:
    """What every toolchain declares. Subclasses override what differs from these defaults."""

    name = None
    description = ""
    variables = ()            # its own SCons variables (e.g. a target=): (key, help, default) tuples or
                              # what EnumVariable / BoolVariable return; check() validates them
    cpu_settings = tuple(CPU_CHOICES)  # the cpu= settings it builds
    auto_cpu = "native"       # what cpu=auto means with this toolchain (cpu_for_auto may refine it)
    refused_cpu = {}          # cpu= setting -> why this toolchain cannot build it

    # --- before any fetch ---
    def cpu_for_auto(self, values):
        """cpu=auto's setting for these values (a toolchain may choose per target)."""
        return self.auto_cpu

    def at_hand(self, values, lock, store):
        """toolchain=auto: whether this one needs no download."""
        return True

    def auto_note(self, values, lock, store, chosen):
        """What toolchain=auto says when it chooses (or, being earlier in REGISTRY, passes over) this one."""
        return None

    def check(self, values, repo, store, lock):
        """Every check of this toolchain's own variables that needs no fetch; raise InputError."""

    def pins(self, values, lock):
        """{role: Pin} this toolchain fetches for these variables (lock: toolchains.lock's pins)."""
        return {}

    # --- fetch ---
    def realise(self, values, lock, store, offline, log):
        """The toolchain's realised inputs (what configure needs), fetched through the store."""
        return None

    # --- compile ---
    def cpu_flags(self, cpu, arch):
        """Flags that put one architecture's objects at a cpu= level (lsone/compile/cpulevels.py's)."""
        return self.arch_flags(arch, cpu_flags(cpu, arch))

    def arch_flags(self, arch, flags):
        """Flags meant for one architecture, as this toolchain's driver takes them."""
        return list(flags)

    # --- cpu=multi: partial link and symbol localisation ---
    def twin_path(self, path, arch):
        """Where one architecture's half of an output is: the output itself, or for a fat toolchain's
        other architectures its twin (cosmocc: d/.aarch64/x.o beside d/x.o)."""
        return path

    def partial_link(self, tools, out, inputs):
        """One relocatable object of inputs, COMDAT groups resolved inside it (GNU ld; tools: (ld, objcopy))."""
        return f"{tools[0]} -r --force-group-allocation -o {out} {' '.join(inputs)}"

    def localise(self, tools, options, src, out):
        """src with its symbols renamed and made local as options say (GNU objcopy)."""
        return " ".join([tools[1]] + list(options) + [src, out])

    # --- the build ---
    def configure(self, env, values, realised, cpu):
        """Set env's ENV_KEYS for this toolchain; return the typed steps.Toolchain."""
        raise NotImplementedError


def load_module(name, module_name, module_dirs=(MODULES_DIR,)):
    """The toolchain module module_name (from the first of module_dirs that has it)."""
    for directory in module_dirs:
        path = os.path.join(directory, module_name + ".py")
        if os.path.isfile(path):
            spec = importlib.util.spec_from_file_location(f"toolchains.{module_name}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise InputError(f"toolchain={name}", f"its module {module_name}.py is missing",
                     expected=f"site_scons/toolchains/{module_name}.py", fix="restore it from git")


class Registry:
    """The toolchains there are. module_dirs: where their modules are (this package, or a test's)."""

    def __init__(self, entries=None, module_dirs=(MODULES_DIR,)):
        self.entries = dict(REGISTRY if entries is None else entries)
        self.module_dirs = tuple(module_dirs)
        self._loaded = {}

    def names(self):
        return list(self.entries)

    def get(self, name):
        """The ToolchainModule registered as name."""
        if name not in self._loaded:
            toolchain = load_module(name, self.entries[name], self.module_dirs).TOOLCHAIN
            if toolchain.name != name:
                raise InputError(f"{self.entries[name]}.py", "its TOOLCHAIN is registered under another name",
                                 expected=name, found=toolchain.name, fix="make REGISTRY and TOOLCHAIN.name agree")
            self._loaded[name] = toolchain
        return self._loaded[name]

    def all(self):
        return [self.get(name) for name in self.entries]

    def choose(self, requested, values, lock, store, log=print):
        """toolchain=NAME, or toolchain=auto's one rule: the first in REGISTRY order at hand without a
        download. Each one auto passes over or takes says why (auto_note)."""
        if requested != "auto":
            return requested
        for toolchain in self.all():
            chosen = toolchain.at_hand(values, lock, store)
            note = toolchain.auto_note(values, lock, store, chosen)
            if note:
                log(note)
            if chosen:
                return toolchain.name
        raise InputError("toolchain=auto", "no toolchain is at hand", expected=" or ".join(self.entries),
                         fix="name one: toolchain=" + "|".join(self.entries))

    def configure(self, env, plan, realised):
        """Set env up for the plan's toolchain (what SCons' builders read); return the typed Toolchain."""
        name = plan.toolchain
        toolchain = self.get(name).configure(env, plan.values, realised, plan.cpu)
        check_env_keys(env, name)
        signature = toolchain.identity
        # every object depends on the compilers; the CPU backend's also on cpu= and its tools
        toolchain.general_node = env.Value(json.dumps(signature.general_signature(), sort_keys=True))
        toolchain.cpu_node = env.Value(json.dumps(signature.signature(), sort_keys=True))
        return toolchain


def check_env_keys(env, name, keys=ENV_KEYS):
    """After a toolchain's tool loads: every key SCons' builders need is set."""
    missing = [k for k in keys if env.get(k) is None]
    if missing:
        raise InputError(f"toolchain={name}", "its tool did not set what the build needs",
                         expected=", ".join(keys), found="missing " + ", ".join(missing),
                         fix=f"set them in configure() of site_scons/toolchains/{REGISTRY.get(name, name)}.py")
