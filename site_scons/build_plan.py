"""check: every variable and combination, before anything is fetched.

Each choice the build makes from its variables (the toolchain, the CPU setting, the model, the
UI, the args file) is made and checked here, so a bad one stops the build at once, with the
input / expected / found / fix shape, instead of after a download.
"""

import os

from lsone.compile.cpulevels import CPU_CHOICES
from lsone.errors import InputError
from lsone.inputs.models import load_models_lock, resolve_model
from lsone.inputs.pins import Pin, load_lock
from lsone.packaging.argsfile import parse_args_text
from lsone.packaging.packer import list_ui_files, model_entry_name
from lsone.packaging.zipembed import check_gguf
from steps import Plan
from toolchains import REGISTRY, Registry


def lock_path(repo, name):
    return os.path.join(repo, name)


def toolchain_lock(repo):
    return load_lock(lock_path(repo, "toolchains.lock"), "toolchains")


def read_text(path):
    # surrogateescape and newline="": an args file's bytes reach the runtime unchanged, as it reads them
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        return f.read()


def check_cpu(cpu, toolchain, registry, via_auto, values):
    """cpu=auto is the toolchain's own default; a setting it cannot build is refused, naming those it can."""
    if cpu == "auto":
        return toolchain.cpu_for_auto(values)
    if cpu in toolchain.cpu_settings:
        return cpu
    chosen = " (which toolchain=auto chose)" if via_auto else ""
    others = [t.name for t in registry.all() if cpu in t.cpu_settings]
    fix = ", ".join(f"cpu={c} ({CPU_CHOICES[c]})" for c in toolchain.cpu_settings)
    if via_auto and others:
        fix += f"; or toolchain={others[0]} for a {cpu} build"  # the first in REGISTRY order
    raise InputError(f"cpu={cpu}", f"refused with toolchain={toolchain.name}{chosen}. " +
                     toolchain.refused_cpu.get(cpu, f"It builds only cpu={', '.join(toolchain.cpu_settings)}."),
                     fix=fix)


def check_model(request, repo):
    """model=NAME (a models.lock Pin) or model=PATH (an absolute path, its GGUF header checked); else None."""
    if not request:
        return None
    model = resolve_model(request, load_models_lock(lock_path(repo, "models.lock")))
    if not isinstance(model, Pin):
        check_gguf(model, label=f"model={request}")
        model_entry_name(model, f"model={request}")
    return model


def check_args(request):
    if not request:
        return None
    path = os.path.abspath(request)
    if not os.path.isfile(path):
        raise InputError(f"args={request}", "no such file", expected="an args file (cosmo_args syntax)",
                         found=f"nothing at {path}", fix="pass the path of an existing file, or leave args= empty")
    parse_args_text(read_text(path), f"args={request}")  # a malformed file fails now, before any compiling
    return path


def check_ui(request):
    if not request or request == "none":
        return None
    if request == "upstream":
        return "upstream"
    path = os.path.abspath(request)
    list_ui_files(path, f"ui={request}")  # a directory with index.html at its top
    return path


def check_node(request):
    if request:
        path = os.path.abspath(os.path.expanduser(request))
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise InputError(f"node={request}", "is not an executable file", expected="the path of a node executable",
                             found=path, fix="pass e.g. node=/usr/bin/node, or leave node= empty for the pinned Node.js")


def checked(values, repo, store, registry=None, log=print):
    """The Plan for these variables; InputError for the first that is wrong. Fetches nothing."""
    registry = registry or Registry(REGISTRY)
    lock = toolchain_lock(repo)
    requested = values["toolchain"]
    name = registry.choose(requested, values, lock, store, log)
    toolchain = registry.get(name)
    for other in registry.all():  # another toolchain's variables are set, but do nothing
        for variable in other.variables:
            key = variable[0]
            if other is not toolchain and key not in [v[0] for v in toolchain.variables] and values.get(key):
                log(f"note: {key}={values[key]} is ignored because toolchain={name}")
    cpu = check_cpu(values["cpu"], toolchain, registry, via_auto=requested == "auto", values=values)
    model = check_model(values["model"], repo)
    args = check_args(values["args"])
    ui = check_ui(values["ui"])
    if ui == "upstream":
        check_node(values["node"])
    toolchain.check(values, os.path.abspath(repo), store, lock)
    return Plan(name, cpu, dict(values), model=model, ui=ui, args=args)
