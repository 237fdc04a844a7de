"""fetch + verify: every input the build reads from outside the checkout, realised in one step.

Which pins a build needs follows from its variables (the lock files hold them all). Each is
realised into the store by Store.realise, and offline=1's audit is the list of those same
pins that the store lacks, named all at once before anything fails.
"""

import os

import SCons.Errors

from commands import logger
from lsone.cosmocc import available_locally, resolve_cosmocc
from lsone.errors import InputError
from lsone.models import FETCH_FIX, load_models_lock, resolve_model
from lsone.node import pinned_node, platform_pin, user_node
from lsone.pins import Pin, load_lock, load_pin
from lsone.store import Store
from lsone.zig import check_target, default_target, host_pin, pinned_zig
from scons_errors import reported


class Inputs:
    """What the rest of the recipe builds from: paths in the store (or the user's own files)."""

    def __init__(self, toolchain, llama_cpp_pin, llama_cpp_tree, model, cosmocc, node, zig=None, target=None):
        self.toolchain = toolchain            # "host", "cosmocc" or "zig"
        self.llama_cpp_pin = llama_cpp_pin
        self.llama_cpp_tree = llama_cpp_tree  # verified, unpatched
        self.model = model                    # a .gguf path, or None
        self.cosmocc = cosmocc                # a lsone.cosmocc.Toolchain, or None
        self.node = node                      # a lsone.node.Node (ui=upstream), or None
        self.zig = zig                        # a lsone.zig.Zig, or None
        self.target = target                  # toolchain=zig: a lsone.zig.TARGETS name


def _lock(repo, name):
    return os.path.join(repo, name)


def choose_toolchain(env, cosmocc_pin, store, log=print):
    """Resolve toolchain=auto: cosmocc when it is at hand without a download, else host."""
    requested = env["toolchain"]
    if requested == "host":
        if env["cosmocc"]:
            log(f"note: cosmocc={env['cosmocc']} is ignored because toolchain=host")
        return "host"
    if requested in ("cosmocc", "zig"):
        return requested
    if available_locally(env["cosmocc"], cosmocc_pin, store):
        log(f"toolchain=auto: using cosmocc ({env['cosmocc'] or 'pinned ' + cosmocc_pin.version + ', in the store'})")
        return "cosmocc"
    log(f"toolchain=auto: using host, because {cosmocc_pin.label} is not in the store and cosmocc= is not set.\n"
        f"  For the portable executable: scons toolchain=cosmocc (downloads {cosmocc_pin.size >> 20} MiB) "
        f"or scons cosmocc=/path/to/{cosmocc_pin.file}")
    return "host"


def zig_target(env, toolchain):
    """target= for toolchain=zig (this host's platform when empty), checked before anything is fetched."""
    if toolchain != "zig":
        if env["target"]:
            raise InputError(f"target={env['target']}", f"only toolchain=zig builds for another platform, "
                             f"and this build uses toolchain={toolchain}", fix="add toolchain=zig, or drop target=")
        return None
    target = env["target"] or default_target()
    if not target:
        raise InputError("target=", "this host is no platform zig builds for", fix="name one: target=linux-x86_64")
    check_target(target)
    if env["cpu"] == "native" and target != default_target():
        raise InputError("cpu=native", f"refused for target={target}: the executable runs on another platform, "
                         "not on this CPU", fix="cpu=portable, cpu=performant or cpu=multi")
    return target


def _check_cosmocc_paths(top, store, request):
    """cosmocc's compiler driver refuses any argument with a space: say so before unpacking."""
    if " " in top:
        raise SCons.Errors.UserError(f"toolchain=cosmocc: the checkout path {top!r} contains a space, which "
                                     "cosmocc's compiler driver refuses in any argument.\n"
                                     "  fix: clone or move the repository to a path without spaces")
    if " " in store.root and not os.path.isdir(os.path.expanduser(request)):
        raise SCons.Errors.UserError(f"toolchain=cosmocc: the store path {store.root!r} contains a space, and "
                                     "cosmocc would be unpacked there; its compiler driver refuses paths with spaces.\n"
                                     "  fix: point store= at a path without spaces")


def needed_pins(env, repo, toolchain, tools):
    """({role: Pin} of what this build fetches, the path of model=PATH or None). model=PATH,
    cosmocc=PATH and node=PATH are the user's own files, not pins."""
    pins, own_model = {"llama.cpp": load_pin(_lock(repo, "sources.lock"), "sources", "llama.cpp")}, None
    if env["model"]:
        model = resolve_model(env["model"], load_models_lock(_lock(repo, "models.lock")))
        if isinstance(model, Pin):
            pins["model"] = model
        else:
            own_model = model
    if toolchain == "cosmocc" and not env["cosmocc"]:
        pins["cosmocc"] = tools["cosmocc"]
    if toolchain == "zig":
        pins["zig"] = host_pin(tools)
    if env["ui"] == "upstream" and not env["node"]:
        pins["node"] = platform_pin(tools)
    return pins, own_model


def audit_offline(store, pins, ui):
    """offline=1: every needed pin the store lacks, named at once instead of failing on the first."""
    missing = [f"{'model ' if role == 'model' else ''}{pin.label} ({pin.hash})"
               for role, pin in pins.items() if not store.has_pin(pin)]
    if ui == "upstream" and not store.has_pin(pins["llama.cpp"]):
        missing.append("the built web UI (ui=upstream; its source comes with llama.cpp)")
    if missing:
        raise SCons.Errors.UserError(
            "offline=1: these inputs are not in the store " + store.root + ":\n  - " + "\n  - ".join(missing) +
            "\n  fix: run once without offline=1, point store= at a warm store, or pass ui=none / model=PATH"
            " / cosmocc=PATH")


def realise(env, repo):
    """Choose the toolchain, then fetch and verify every pinned input the build needs."""
    store = Store(env["store"])
    offline = bool(env["offline"])
    with reported():
        tools = load_lock(_lock(repo, "toolchains.lock"), "toolchains")
        tools["cosmocc"] = load_pin(_lock(repo, "toolchains.lock"), "toolchains", "cosmocc")  # or a named error
        toolchain = choose_toolchain(env, tools["cosmocc"], store)
        target = zig_target(env, toolchain)
        pins, model = needed_pins(env, repo, toolchain, tools)
        if offline:
            audit_offline(store, pins, env["ui"])
        tree = store.realise(pins["llama.cpp"], offline, logger("llama.cpp"))
        if "model" in pins:
            model = store.realise(pins["model"], offline, logger("model"), fix=FETCH_FIX)
        cosmocc = None
        if toolchain == "cosmocc":
            _check_cosmocc_paths(os.path.abspath(repo), store, env["cosmocc"])
            cosmocc = resolve_cosmocc(env["cosmocc"], tools["cosmocc"], store, offline, logger("cosmocc"))
        zig = pinned_zig(pins["zig"], store, offline, logger("zig")) if toolchain == "zig" else None
        node = None
        if env["ui"] == "upstream":
            node = user_node(env["node"], store, logger("node")) if env["node"] else \
                pinned_node(pins["node"], store, offline, logger("node"))
    return Inputs(toolchain, pins["llama.cpp"], tree, model, cosmocc, node, zig, target)
