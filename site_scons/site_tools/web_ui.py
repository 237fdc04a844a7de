"""SCons tool: the web UI to embed. ui=upstream builds llama.cpp's own UI from the pinned tree.

The upstream UI is built by an action in the graph, so under -j it runs beside the compiles,
with the Node.js the inputs step named (the pinned one, or node=PATH). Its result is a store
entry keyed by the hash of the UI's source tree, the build number it shows and that Node's
identity: npm runs once per source and Node, not on every clean build, and the pinned Node is
fetched (by this action, beside the compiles) only when the store lacks that entry. The action's target, build/ui/upstream.json, names that
entry and its content hash; packaging reads the files from there. ui=DIR embeds any
directory of static files; ui=none embeds nothing.
"""

import hashlib
import json
import os
import shutil
import subprocess

from SCons.Script import Action, Builder

from lsone.errors import InputError
from lsone.inputs.store import Store
from lsone.inputs.treehash import tree_hash
from lsone.progress import logger
from scons_errors import reported
from steps import Ui

UI_SOURCE = "tools/ui"
STORE_NAME = "llama-ui-dist"


def _run(node, args, cwd, what, build_number, **extra_env):
    """Run npm with the caller's environment (its registry settings and certificates), echoing
    output; node's own directory comes first on PATH, for the scripts npm runs."""
    cmd = node.npm(*args)
    logger("ui")(f"{what}: npm {' '.join(args)} (node {node.identity['version']})")
    # upstream's CMake passes bNNNN; the UI writes it to build.json (b0000 when it is not given)
    env = dict(os.environ, PATH=node.bin_dir + os.pathsep + os.environ.get("PATH", ""),
               LLAMA_BUILD_NUMBER=build_number, **extra_env)
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail = []
    for line in proc.stdout:
        tail = (tail + [line.rstrip()])[-15:]
        print(f"[ui]   {line.rstrip()}", flush=True)
    if proc.wait() != 0:
        raise InputError(f"ui=upstream ({what})", f"`{' '.join(cmd)}` failed with exit code {proc.returncode}",
                         found="\n" + "\n".join(tail),
                         fix="check the npm registry is reachable, or build without the UI: scons ui=none")


def ui_build_number(pin):
    """What the UI shows as llama.cpp's build: bNNNN, or unknown."""
    number = pin.meta.get("buildNumber")
    return f"b{number}" if number else "unknown"


def upstream_ui_key(source_dir, node_identity, build_number):
    """What the built UI is stored under: the hash of its source tree, the build number it shows
    and the Node that builds it."""
    text = json.dumps({"source": tree_hash(source_dir), "node": node_identity, "build": build_number},
                      sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def build_upstream_ui(store, source_dir, node, key, build_number):
    """The store path of the built UI, built with npm unless another build got there first.
    node: a lsone.inputs.node.Node or PinnedNode, realised (fetched) only when npm must run."""
    def build(work):
        npm = node.realise()  # fetched only when npm must run
        ui = os.path.join(work, "ui")
        shutil.copytree(source_dir, ui, copy_function=shutil.copyfile)
        _run(npm, ["ci", "--no-audit", "--no-fund"], ui, "npm ci (pinned by package-lock.json)", build_number)
        # SvelteKit stamps its version (version.json, the bundle, sw.js) with the clock unless told:
        # patches/0011 names it from LSONE_UI_VERSION, here the store key (source and Node).
        _run(npm, ["run", "build"], ui, "npm run build", build_number, LSONE_UI_VERSION=key.split(":")[-1][:16])
        dist = os.path.join(ui, "dist")
        if not os.path.isfile(os.path.join(dist, "index.html")):
            raise InputError("ui=upstream", "npm run build did not produce dist/index.html")
        return dist
    return store.realise_output(STORE_NAME, key, build, logger("ui"))


def _built_ui(target, source, env):
    """The action: make sure the store holds the built UI, then name it in the target."""
    spec = json.loads(source[0].read())
    with reported(during_build=True):
        path = build_upstream_ui(Store(spec["store"]), env["UI_SOURCE_DIR"], env["UI_NODE"], spec["key"],
                                 spec["build"])
    content = Store(spec["store"]).describe(path)["hash"]
    with open(target[0].abspath, "w") as f:
        json.dump({"store": path, "content": content}, f, sort_keys=True)


def ui_directory(env, ui, source, node, store, offline):
    """The Ui that ui= names (as checked by build_plan: None, "upstream" or a directory's path):
    nothing, a directory of static files, or the node of the built upstream UI's description,
    which packaging expands into the UI's files."""
    if ui != "upstream":
        return Ui(directory=ui)
    source_dir = os.path.join(source.dir.abspath, UI_SOURCE)
    build_number = ui_build_number(source.pin)
    key = upstream_ui_key(source_dir, node.identity, build_number)
    entry = store.path_for(STORE_NAME, key)
    if not os.path.isdir(entry) and offline:
        with reported():  # said now, before any compiling
            raise InputError("ui=upstream", "the built UI is not in the store and offline=1 forbids npm",
                             expected=f"{STORE_NAME} at {entry}", fix="build once online, or ui=none")
    spec = {"store": store.root, "key": key, "build": build_number}
    built = env.UpstreamUi("#build/ui/upstream.json", env.Value(json.dumps(spec, sort_keys=True)),
                           UI_SOURCE_DIR=source_dir, UI_NODE=node)
    env.NoCache(built)  # it names a store path of this machine
    if not os.path.isdir(entry):
        env.AlwaysBuild(built)  # the entry it named was deleted from the store
    return Ui(built=built[0], node_identity=node.identity)  # the manifest names the Node that built it


def generate(env):
    env["BUILDERS"]["UpstreamUi"] = Builder(action=Action(_built_ui, "$UICOMSTR"))
    env.SetDefault(UICOMSTR="UI   $TARGET")
    env.AddMethod(ui_directory, "UiDirectory")


def exists(env):
    """Nothing to check when loading: node= is checked before anything is fetched (build_plan)."""
    return True
