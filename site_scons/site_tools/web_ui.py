"""SCons tool: the web UI to embed. ui=upstream builds llama.cpp's own UI from the pinned tree.

The built dist/ is kept in the store under the hash of the UI's source tree, so npm runs
once per source, not on every clean build. ui=DIR embeds any directory of static files;
ui=none embeds nothing.
"""

import os
import shutil
import subprocess

from lsone.errors import InputError
from lsone.store import Store
from lsone.treehash import tree_hash
from scons_errors import reported

UI_SOURCE = "tools/ui"
STORE_NAME = "llama-ui-dist"


def _log(message):
    print(f"[ui] {message}", flush=True)


def _run(cmd, cwd, what):
    """Run npm with the caller's environment (its registry settings and certificates), echoing output."""
    _log(f"{what}: {' '.join(cmd)}")
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail = []
    for line in proc.stdout:
        tail = (tail + [line.rstrip()])[-15:]
        print(f"[ui]   {line.rstrip()}", flush=True)
    if proc.wait() != 0:
        raise InputError(f"ui=upstream ({what})", f"`{' '.join(cmd)}` failed with exit code {proc.returncode}",
                         found="\n" + "\n".join(tail),
                         fix="check the npm registry is reachable, or build without the UI: scons ui=none")


def find_node_tools(search_path):
    """npm's path, after checking node is there too; a clear error otherwise."""
    npm, node = shutil.which("npm", path=search_path), shutil.which("node", path=search_path)
    if not (npm and node):
        missing = " and ".join(n for n, p in (("node", node), ("npm", npm)) if not p)
        raise InputError("ui=upstream", "building llama.cpp's web UI needs Node.js and npm",
                         expected=f"node and npm on the build's PATH ({search_path})", found=f"no {missing}",
                         fix="install them (Debian/Ubuntu: sudo apt-get install nodejs npm; or https://nodejs.org), "
                             "or build without a UI: scons ui=none (or ui=DIR for your own static files)")
    return npm


def build_upstream_ui(env, source_dir):
    """The store path of the built UI for this UI source tree, building it if needed."""
    src_hash = tree_hash(source_dir)
    store = Store(env.get("STORE_DIR") or None)
    final = store.path_for(STORE_NAME, src_hash)
    if os.path.isdir(final):
        return final
    if env.get("OFFLINE"):
        raise InputError("ui=upstream", "the built UI is not in the store and offline=1 forbids npm",
                         expected=f"{STORE_NAME} for UI sources {src_hash}", fix="build once online, or ui=none")
    npm = find_node_tools(env["ENV"]["PATH"])
    with store.lock(STORE_NAME):
        if os.path.isdir(final):
            return final
        with store.staging(STORE_NAME) as work:
            ui = os.path.join(work, "ui")
            shutil.copytree(source_dir, ui, copy_function=shutil.copyfile)
            _run([npm, "ci", "--no-audit", "--no-fund"], ui, "npm ci (pinned by package-lock.json)")
            _run([npm, "run", "build"], ui, "npm run build")
            dist = os.path.join(ui, "dist")
            if not os.path.isfile(os.path.join(dist, "index.html")):
                raise InputError("ui=upstream", "npm run build did not produce dist/index.html")
            path = store.insert_output(dist, STORE_NAME, src_hash)
            _log(f"built UI stored at {path}")
            return path


def ui_directory(env, ui, llama_cpp_dir):
    """What ui= names: None (no UI), or a directory of static files."""
    if not ui or ui == "none":
        return None
    if ui != "upstream":
        return ui
    with reported():
        return build_upstream_ui(env, os.path.join(llama_cpp_dir.abspath, UI_SOURCE))


def generate(env):
    env.AddMethod(ui_directory, "UiDirectory")


def exists(env):
    return True
