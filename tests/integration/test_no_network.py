"""With a warm store the build needs no network, even without offline=1: run it with none at all.

`unshare -rn` (util-linux) starts the build in a new network namespace that has no interfaces,
not even loopback, so any connection fails at once. A fresh copy of the checkout (empty build/)
builds the default configuration there: the llama.cpp tree and the built web UI come from the
store (the pinned Node.js is not even fetched: only npm needs it), the objects from the tests'
shared CacheDir.
"""

import subprocess
import sys

import pytest

from integration.conftest import copy_checkout, scons_args

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


def test_a_warm_store_build_of_a_fresh_checkout_makes_no_network_connection(server_binary, tmp_path):
    prefix = no_network_prefix()
    checkout = copy_checkout(tmp_path / "checkout")
    result = subprocess.run([*prefix, sys.executable, "-m", "SCons", *scons_args(), "toolchain=host"], cwd=checkout,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "ZIP  build/llama-server-one" in result.stdout
    for fetching in ("[llama.cpp] downloading", "[node]", "npm ci", "pip:"):
        assert fetching not in result.stdout, result.stdout[-4000:]
