"""SCons tool: the web UI to embed. ui=upstream builds llama.cpp's own UI from the pinned tree.

The upstream UI is built by an action in the graph, so under -j it runs beside the compiles.
Its result is a store entry keyed by the hash of the UI's source tree: npm runs once per
source, not on every clean build. The action's target, build/ui/upstream.json, names that
entry and its content hash; packaging reads the files from there. ui=DIR embeds any
directory of static files; ui=none embeds nothing.
"""

import json
import os
import shutil
import subprocess

from SCons.Script import Action, Builder

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


def upstream_ui_key(source_dir):
    """What the built UI is stored under: the hash of its source tree."""
    return tree_hash(source_dir)


def build_upstream_ui(store, source_dir, npm, key):
    """The store path of the built UI, built with npm unless another build got there first."""
    final = store.path_for(STORE_NAME, key)
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
            path = store.insert_output(dist, STORE_NAME, key)
            _log(f"built UI stored at {path}")
            return path


def _built_ui(target, source, env):
    """The action: make sure the store holds the built UI, then name it in the target."""
    spec = json.loads(source[0].read())
    with reported(during_build=True):
        path = build_upstream_ui(Store(spec["store"]), env["UI_SOURCE_DIR"], env["UI_NPM"], spec["key"])
    with open(path + ".json") as f:
        content = json.load(f)["hash"]
    with open(target[0].abspath, "w") as f:
        json.dump({"store": path, "content": content}, f, sort_keys=True)


def ui_directory(env, ui, llama_cpp_dir):
    """What ui= names: None (no UI), a directory of static files, or (upstream) the node of the
    built UI's description, which packaging expands into the UI's files."""
    if not ui or ui == "none":
        return None
    if ui != "upstream":
        return ui
    source_dir = os.path.join(llama_cpp_dir.abspath, UI_SOURCE)
    store = Store(env.get("STORE_DIR") or None)
    key = upstream_ui_key(source_dir)
    entry = store.path_for(STORE_NAME, key)
    npm = ""
    if not os.path.isdir(entry):
        with reported():  # checked now, so a missing tool fails before any compiling
            if env.get("OFFLINE"):
                raise InputError("ui=upstream", "the built UI is not in the store and offline=1 forbids npm",
                                 expected=f"{STORE_NAME} at {entry}", fix="build once online, or ui=none")
            npm = find_node_tools(env["ENV"]["PATH"])
    built = env.UpstreamUi("#build/ui/upstream.json", env.Value(json.dumps({"store": store.root, "key": key})),
                           UI_SOURCE_DIR=source_dir, UI_NPM=npm)
    env.NoCache(built)  # it names a store path of this machine
    if not os.path.isdir(entry):
        env.AlwaysBuild(built)  # the entry it named was deleted from the store
    return built[0]


def generate(env):
    env["BUILDERS"]["UpstreamUi"] = Builder(action=Action(_built_ui, "$UICOMSTR"))
    env.SetDefault(UICOMSTR="UI   $TARGET")
    env.AddMethod(ui_directory, "UiDirectory")


def exists(env):
    return bool(shutil.which("npm", path=env["ENV"]["PATH"]))
