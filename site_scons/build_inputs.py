"""fetch + verify: every input the build reads from outside the checkout, realised in one step.

Which pins a build needs follows from its checked plan (build_plan.py); the lock files hold them
all, and the toolchain module names its own. Each is realised into the store by Store.realise,
and offline=1's audit is the list of those same pins that the store lacks, named all at once
before anything fails.
"""

import SCons.Errors

from lsone.inputs.models import FETCH_FIX
from lsone.inputs.node import PinnedNode, platform_pin, user_node
from lsone.inputs.pins import Pin, load_pin
from lsone.progress import logger
from build_plan import lock_path, toolchain_lock
from scons_errors import reported
from steps import Inputs


def needed_pins(plan, repo, toolchain, lock):
    """{role: Pin} of what this build fetches. model=PATH, cosmocc=PATH and node=PATH are the
    user's own files, not pins."""
    pins = {"llama.cpp": load_pin(lock_path(repo, "sources.lock"), "sources", "llama.cpp")}
    if isinstance(plan.model, Pin):
        pins["model"] = plan.model
    pins.update(toolchain.pins(plan.values, lock))
    if plan.ui == "upstream" and not plan.values["node"]:
        pins["node"] = platform_pin(lock)
    return pins


def audit_offline(store, pins, ui):
    """offline=1: every needed pin the store lacks, named at once instead of failing on the first."""
    # Node only builds the UI, which offline=1 never does (web_ui says so when the built UI is missing)
    missing = [f"{'model ' if role == 'model' else ''}{pin.label} ({pin.hash})"
               for role, pin in pins.items() if role != "node" and not store.has_pin(pin)]
    if ui == "upstream" and not store.has_pin(pins["llama.cpp"]):
        missing.append("the built web UI (ui=upstream; its source comes with llama.cpp)")
    if missing:
        raise SCons.Errors.UserError(
            "offline=1: these inputs are not in the store " + store.root + ":\n  - " + "\n  - ".join(missing) +
            "\n  fix: run once without offline=1, point store= at a warm store, or pass ui=none / model=PATH"
            " / cosmocc=PATH")


def realise(plan, repo, store, registry):
    """Fetch and verify every pinned input the checked plan needs."""
    offline = bool(plan.values["offline"])
    toolchain = registry.get(plan.toolchain)
    with reported():
        lock = toolchain_lock(repo)
        pins = needed_pins(plan, repo, toolchain, lock)
        if offline:
            audit_offline(store, pins, plan.ui)
        tree = store.realise(pins["llama.cpp"], offline, logger("llama.cpp"))
        model = plan.model
        if "model" in pins:
            model = store.realise(pins["model"], offline, logger("model"), fix=FETCH_FIX)
        realised = toolchain.realise(plan.values, lock, store, offline, logger(plan.toolchain))
        node = None
        if plan.ui == "upstream":
            # the pinned Node is fetched by the UI's action, only if the store lacks the built UI
            node = user_node(plan.values["node"], store, logger("node")) if plan.values["node"] else \
                PinnedNode(pins["node"], store, offline, logger("node"))
    return Inputs(pins["llama.cpp"], tree, model, realised, node)
