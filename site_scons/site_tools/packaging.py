"""SCons tool: package the linked server into build/llama-server-one.

ArgsFile writes the embedded /zip/.args; PackerScript joins lsone's packer into
the standalone pack.py; ZipEmbed appends a deterministic aligned zip (args,
model, UI, pack.py, manifest) to the linked executable. What goes into the zip
is lsone/packaging/packer.py's, the same code pack.py runs, so both write the same bytes.
All are cheap function actions, so a change to the model or the args reruns
only them: no compile and no link.
"""

import hashlib
import json
import os

import SCons.Errors
from SCons.Script import Action, Builder

from lsone.inputs.store import check_free_space
from lsone.inputs.treehash import HASH_PREFIX, file_digest, hex_digits, iter_tree
from lsone.packaging.argsfile import compose_embedded_args
from lsone.packaging.packer import (ARGS_ENTRY, PACKER_ENTRY, UI_DIR, build_args, compose_manifest, list_ui_files,
                          model_entry_name)
from lsone.packaging.standalone import PACKER_MODULES, bundle
from lsone.packaging.zipembed import append_zip, check_gguf, source_date_epoch
from scons_errors import reported
from steps import Package


def _read(node):
    # surrogateescape and newline="": an args file's bytes reach the runtime unchanged, UTF-8 or not,
    # CRs included, as it reads them
    with open(node.abspath, encoding="utf-8", errors="surrogateescape", newline="") as f:
        return f.read()


def _write_args(target, source, env):
    user = _read(source[1]) if len(source) > 1 else None
    with reported(during_build=True):
        text = compose_embedded_args(_read(source[0]), env["ARGS_FROM_BUILD"], user,
                                     user_origin=env.get("ARGS_USER_LABEL", "args=FILE"))
    with open(target[0].abspath, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
        f.write(text)


EXECUTABLE = ""  # the ZIP_NAMES entry of the linked executable
BUILT_UI = UI_DIR + "/"  # the ZIP_NAMES entry of web_ui's description of a built UI: its files go under ui/


def _built_ui_files(node):
    """(zip name, path, digest, label) of each file of the built UI that node describes."""
    with open(node.abspath) as f:
        root = json.load(f)["store"]
    return [(BUILT_UI + rel, path, file_digest(path), path) for rel, _kind, path in iter_tree(root)]


def _zip_embed(target, source, env):
    """Each source is named by ZIP_NAMES: the executable (""), a zip entry, or a built UI ("ui/")."""
    crc_cache_path = os.path.join(os.path.dirname(target[0].abspath), "package", "crc32-by-sha256.json")
    try:
        with open(crc_cache_path) as f:
            crc_cache = json.load(f)
    except (OSError, ValueError):
        crc_cache = {}
    entries, inputs, known = {}, {}, {}
    files = []
    for name, node in zip(env["ZIP_NAMES"], source):
        if name == EXECUTABLE:
            exe_node = node
        elif name == BUILT_UI:
            files += _built_ui_files(node)
        else:  # SCons' content signature is the file's sha256
            files.append((name, node.abspath, HASH_PREFIX + node.get_csig(), str(node)))
    exe = exe_node.abspath
    for name, path, digest, label in files:
        if name.lower().endswith(".gguf"):
            with reported(during_build=True):
                check_gguf(path, label=f"model {label}")
        entries[name] = path
        inputs[name] = digest
        if digest in crc_cache:
            known[name] = crc_cache[digest]
    with reported(during_build=True):
        check_free_space(os.path.dirname(target[0].abspath),
                         os.path.getsize(exe) + sum(os.path.getsize(p) for p in entries.values()),
                         f"packaging {target[0]}")
    entries["manifest.json"] = compose_manifest(env["MANIFEST"], exe_node.get_csig(),
                                                {name: hex_digits(digest) for name, digest in inputs.items()})
    written = append_zip(exe, target[0].abspath, entries, epoch=env["ZIP_EPOCH"], known_crcs=known)
    crc_cache.update({inputs[n]: written[n][2] for n in inputs})
    os.makedirs(os.path.dirname(crc_cache_path), exist_ok=True)
    with open(crc_cache_path + ".tmp", "w") as f:
        json.dump(crc_cache, f)
    os.replace(crc_cache_path + ".tmp", crc_cache_path)
    size = os.path.getsize(target[0].abspath)
    if size >= 4 << 30:
        print(f"warning: {target[0]} is {size / (1 << 30):.1f} GiB; Windows will not run executables over "
              "4 GiB. Keep the model beside the executable instead, with -m in llama-server-one.args.")


def _write_packer(target, source, env):
    with open(target[0].abspath, "w", encoding="utf-8") as f:
        f.write(bundle([node.abspath for node in source[:len(PACKER_MODULES)]]))


def model_entry(env, path):
    """Validate model=PATH while reading SConscripts, so a bad file fails before any work."""
    if not path:
        return []
    node = env.File(path)
    if not os.path.isfile(node.abspath):
        raise SCons.Errors.UserError(f"model={path}: no such file\n  fix: pass the path of a .gguf file")
    with reported():
        check_gguf(node.abspath, label=f"model={path}")
        model_entry_name(node.abspath, f"model={path}")
    return [node]


def ui_entries(env, ui):
    """ui=DIR: every file under DIR as ui/<path>; a built UI (web_ui's node): its files, named
    when it has been built; ui=none: nothing."""
    if ui.built:
        return [BUILT_UI], [ui.built]
    if not ui.directory:
        return [], []
    with reported():
        files = list_ui_files(ui.directory, f"ui={ui.directory}")
    return [name for name, _ in files], [env.File(path) for _, path in files]


def package(env, server, toolchain, source, ui, model=None, user_args=None, target=None):
    """Declare the args file and the packaged executable (args= and ui= as build_plan checked
    them); return the Package. target: build/llama-server-one (.exe for Windows)."""
    program = server.program
    target = target or "#build/llama-server-one" + env.subst("$PROGSUFFIX")
    models = model_entry(env, model)
    names = [os.path.basename(m.abspath) for m in models]
    ui_names, ui_nodes = ui_entries(env, ui)
    args_sources = [env.File("#assets/default.args")]
    if user_args:
        args_sources.append(env.File(user_args))
    args_file = env.ArgsFile(f"{toolchain.build_root}/package/.args", args_sources,
                             ARGS_FROM_BUILD=build_args(names[0] if names else None, bool(ui_names)),
                             ARGS_USER_LABEL=f"args={os.path.basename(user_args or '')}")
    # A function action is signed by its own bytecode only, not by what it calls: the code that
    # reads and composes the files is part of the signature through these (CacheDir included).
    env.Depends(args_file, ["#site_scons/lsone/packaging/argsfile.py", "#site_scons/site_tools/packaging.py"])
    packer = env.PackerScript(f"{toolchain.build_root}/package/pack.py",
                              [f"#site_scons/lsone/{m}" for m in PACKER_MODULES] +
                              ["#site_scons/lsone/packaging/standalone.py"])
    # Plain content signatures (not content-timestamp): an args file rewritten within the same
    # second must still count as changed; that costs one hash of the model per run.
    pack_env = env.Clone(MANIFEST=package_manifest(env, toolchain, source, ui))
    # The UI first: SCons walks sources in order, so under -j a UI build starts beside the compiles.
    packaged = pack_env.ZipEmbed(target, ui_nodes + [program[0], args_file[0], packer[0]] + models,
                                 ZIP_NAMES=ui_names + [EXECUTABLE, ARGS_ENTRY, PACKER_ENTRY] + names)
    pack_env.NoCache(packaged)  # cheap to redo, and a model would bloat the CacheDir
    return Package(packaged)


def generate(env):
    env["BUILDERS"]["ArgsFile"] = Builder(action=Action(_write_args, "$ARGSCOMSTR", varlist=["ARGS_FROM_BUILD", "ARGS_USER_LABEL"]))
    env["BUILDERS"]["PackerScript"] = Builder(action=Action(_write_packer, "$PACKERCOMSTR"))
    env["BUILDERS"]["ZipEmbed"] = Builder(action=Action(_zip_embed, "$ZIPCOMSTR",
                                                        varlist=["ZIP_NAMES", "ZIP_EPOCH", "MANIFEST"]))
    env.AddMethod(package, "Package")
    env.SetDefault(ARGSCOMSTR="ARGS $TARGET", ZIPCOMSTR="ZIP  $TARGET", PACKERCOMSTR="PACK $TARGET",
                   ZIP_EPOCH=source_date_epoch(), MANIFEST={})


def exists(env):
    """assets/default.args, the args every package starts from, must be in the checkout.
    fix: restore it from git (git checkout -- assets/default.args)"""
    return os.path.isfile(env.File("#assets/default.args").abspath)


def _without_path_spans(flags):
    """Drop what sits between $( and $): machine paths, kept out of signatures for the same reason."""
    kept, depth = [], 0
    for f in flags:
        depth += (f == "$(") - (f == "$)")
        if depth == 0 and f != "$)":
            kept.append(f)
    return kept


def manifest_flags(env, toolchain):
    """The flags, minus the paths of this checkout and toolchain (prefix maps, forced includes)."""
    flags = {k: env[k] for k in ("CCFLAGS", "CFLAGS", "CXXFLAGS", "LINKFLAGS", "CPPDEFINES")}
    flags.update(CPU_FLAGS=toolchain.cpu_flags, OPENMP_FLAGS=toolchain.openmp_flags)
    return {k: _without_path_spans([str(f) for f in env.Flatten(v)]) for k, v in flags.items()}


def package_manifest(env, toolchain, source, ui):
    """The manifest of this build; with ui=upstream its toolchain names the Node that built the UI."""
    record = dict(toolchain.identity.record)  # no machine paths
    if ui.node_identity:
        record["node"] = ui.node_identity
    return manifest(source.provenance, record, manifest_flags(env, toolchain))


def manifest(provenance, toolchain_record, flags):
    """The provenance every package carries: inputs by hash, no machine paths."""
    flags_text = json.dumps(flags, sort_keys=True)
    return dict(provenance, toolchain=toolchain_record,
                flags={"values": flags, "sha256": HASH_PREFIX + hashlib.sha256(flags_text.encode()).hexdigest()})
