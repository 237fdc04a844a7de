"""Move the llama.cpp pin to a new upstream and refresh the patches.

    scons bump llama_cpp=latest                   # newest release (GitHub API, else the package index)
    scons bump llama_cpp=<commit or tag>          # public archive URL
    scons bump llama_cpp=pip:llama-cpp-python==X  # the package index's sdist
    scons bump llama_cpp=url:https://.../x.tar.gz

The lock file is rewritten only when every patch applies. Patches that apply
with an offset or fuzz are regenerated; failed ones keep their rejects.
Either way the report (lsone/maintenance/bumpreport.py) is written to build/bump/report.md.
"""

import difflib
import os
import re
import shutil
import subprocess

from .bumpreport import BumpReport, line_changes
from ..errors import InputError
from ..inputs.patching import PatchResult, classify, list_patches, parse_patch_output, require_patch_tool
from ..inputs.pins import Pin, load_lock, write_lock
from ..inputs.sourcelists import CMAKE_TARGETS, RPC_CMAKE, all_source_lists, target_sources
from ..inputs.upstream import BUILD_TAG, GITHUB_API, GITHUB_ARCHIVE, PIP_PACKAGE, Resolved, resolve_latest


def mirrors_for(ref):
    """Mirrors and a provisional rev for a bump reference."""
    if ref.startswith("pip:"):
        spec = ref[4:]
        if not spec.startswith(PIP_PACKAGE + "=="):
            raise InputError("llama_cpp", "unsupported package reference", expected=f"pip:{PIP_PACKAGE}==VERSION",
                             found=ref)
        return [{"type": "pip-sdist", "package": spec, "subdir": "vendor/llama.cpp"}], None
    if ref.startswith("url:"):
        return [{"type": "url", "url": ref[4:]}], None
    if re.fullmatch(r"[0-9a-f]{40}|b\d+|v[0-9][\w.]*", ref):
        return [{"type": "url", "url": GITHUB_ARCHIVE.format(ref=ref)}], ref
    raise InputError("llama_cpp", "cannot tell what to bump to",
                     expected="a 40-digit commit, a tag (b1234), pip:llama-cpp-python==X or url:URL",
                     found=repr(ref))


def _patched_files(patch_path):
    with open(patch_path, encoding="utf-8", errors="replace") as f:
        return sorted({line[6:].split("\t")[0].strip() for line in f if line.startswith("+++ b/")})


def _unified_diff(before_root, after_root, files):
    out = []
    for rel in files:
        a_path, b_path = os.path.join(before_root, rel), os.path.join(after_root, rel)
        a = open(a_path, encoding="utf-8").read().splitlines(True) if os.path.exists(a_path) else []
        b = open(b_path, encoding="utf-8").read().splitlines(True) if os.path.exists(b_path) else []
        out += difflib.unified_diff(a, b, f"a/{rel}" if a else "/dev/null", f"b/{rel}" if b else "/dev/null")
    return "".join(out)


def try_patches(tree, patches, work, log):
    """Apply patches with fuzz to a scratch copy of tree; return a PatchResult per patch, in order."""
    scratch = os.path.join(work, "patched")
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(tree, scratch, copy_function=shutil.copyfile)
    results = []
    for p in patches:
        name = os.path.basename(p)
        before = os.path.join(work, "before-" + name)
        shutil.rmtree(before, ignore_errors=True)
        files = _patched_files(p)
        for rel in files:
            if os.path.exists(os.path.join(scratch, rel)):
                os.makedirs(os.path.dirname(os.path.join(before, rel)), exist_ok=True)
                shutil.copyfile(os.path.join(scratch, rel), os.path.join(before, rel))
        rejects = os.path.join(work, "rejects", name + ".rej")
        os.makedirs(os.path.dirname(rejects), exist_ok=True)
        run = subprocess.run([require_patch_tool(), "-p1", "--batch", "--forward", "--fuzz=3",
                              "--no-backup-if-mismatch", "-d", scratch, "-i", os.path.abspath(p),
                              "-r", rejects], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        details = parse_patch_output(run.stdout)
        status = "failed" if run.returncode != 0 else classify(details)
        new_text = _unified_diff(before, scratch, files) if status in ("offset", "fuzz") else None
        if status != "failed" and os.path.exists(rejects):
            os.remove(rejects)
        results.append(PatchResult(p, status, details, run.stdout if status == "failed" else new_text, rejects))
        log(f"  {name}: {status}")
    return results


def changed_files(old_tree, new_tree, paths):
    changed = []
    for rel in paths:
        a, b = os.path.join(old_tree, rel), os.path.join(new_tree, rel)
        if not (os.path.exists(a) and os.path.exists(b)):
            changed.append(f"{rel} ({'added' if os.path.exists(b) else 'removed'})")
        elif open(a, "rb").read() != open(b, "rb").read():
            changed.append(f"{rel} (changed, +%d -%d)" % line_changes(a, b))
    return changed


def resolve(ref, github_api, token, log):
    """What a bump reference names: its mirrors, commit and build number where known."""
    if ref == "latest":
        return resolve_latest(github_api, token, log)
    mirrors, rev = mirrors_for(ref)
    tag = BUILD_TAG.fullmatch(ref)
    return Resolved(ref, mirrors, rev, int(tag.group(1)) if tag else None)


def source_list_changes(old_tree, new_tree, machine):
    """Per target, the sources upstream added or removed. The new tree must fit the build's
    lists (InputError with the fix otherwise); an old tree that predates a target is fine."""
    new = all_source_lists(new_tree, machine)
    declared_in = dict(CMAKE_TARGETS, **{"ggml-rpc": (RPC_CMAKE, "ggml-rpc")})  # where each target's list is
    report = []
    for target in sorted(new):
        try:
            old = set(all_source_lists(old_tree, machine)[target]) if target == "ggml-cpu" else \
                set(target_sources(old_tree, *declared_in[target]))
        except InputError:
            old = set()
        added = sorted(set(new[target]) - old)
        removed = sorted(old - set(new[target]))
        if added or removed:
            report.append(f"  {target}: " + ", ".join([f"+{a}" for a in added] + [f"-{r}" for r in removed]))
    return report


def bump(repo, ref, store, machine, log=print, github_api=GITHUB_API, token=None):
    """Run a bump; return 0 when the lock was updated (or already current), 1 when a person is needed.
    The report goes to build/bump/report.md in every case."""
    work = os.path.join(repo, "build", "bump")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    report = BumpReport(f"`llama_cpp={ref}`")
    try:
        return _bump(repo, ref, store, machine, log, github_api, token, work, report)
    except InputError as e:
        report.outcome = "failed: " + str(e).splitlines()[0]
        report.problem = str(e)
        raise
    finally:
        log(f"report: {report.write(os.path.join(work, 'report.md'))}")


def _bump(repo, ref, store, machine, log, github_api, token, work, report):
    lock_path = os.path.join(repo, "sources.lock")
    pins = load_lock(lock_path, "sources")
    old = pins["llama.cpp"]
    report.old = (old.rev, old.hash, old.meta.get("buildNumber"))
    target = resolve(ref, github_api, token, log)
    if target.description != ref:
        report.target += f" resolved to {target.description}"
    old_tree = store.realise(old, log=log)
    new_tree = store.realise(Pin(old.name, "tree", None, target.mirrors, include=old.include), log=log,
                             fix="check your network, or fetch the archive yourself and add it as a mirror")
    new = store.describe(new_tree)
    new_hash, mirror, facts = new["hash"], new["mirror"], new["facts"]
    rev = target.rev or facts.get("commit") or "unknown"
    report.new = (rev, new_hash, target.build_number)
    log(f"new tree: {rev} {new_hash}" + (f" (build b{target.build_number})" if target.build_number else ""))
    if new_hash == old.hash:
        report.outcome = f"already up to date ({rev[:12]})"
        log("sources.lock already pins this tree; nothing to do.")
        return 0

    patches = list_patches(os.path.join(repo, "patches"))
    log(f"applying {len(patches)} patches to the new tree:")
    results = try_patches(new_tree, patches, work, log)
    touched = sorted({f for p in patches for f in _patched_files(p)})
    upstream = changed_files(old_tree, new_tree, touched)
    report.upstream_changes = upstream
    if upstream:
        log("upstream changed files our patches touch:\n  " + "\n  ".join(upstream))
    failed = []
    for r in results:
        problem = ""
        if r.status == "failed":
            hunks = [f"{f} hunk #{h} at line {at}" for f, h, outcome, at, _fz, _off in r.details if outcome == "FAILED"]
            problem = "; ".join(hunks) or r.text.strip()
            failed.append((r.name, problem, r.rejects))
        report.patches.append((r.name, r.status, problem))
    try:
        lists = source_list_changes(old_tree, new_tree, machine)
    except InputError as e:
        log(f"the new tree does not fit the build's source lists:\n{e}")
        log("sources.lock left unchanged.")
        report.source_lists = str(e).splitlines()
        report.outcome = "failed: the new tree does not fit the build's source lists"
        return 1
    report.source_lists = lists
    if lists:
        log("source lists derived from upstream's CMakeLists changed (no edit needed):\n" + "\n".join(lists))

    if failed:
        for name, problem, rejects in failed:
            log(f"FAILED {name}: {problem}\n  rejects kept in {rejects}")
        log("sources.lock left unchanged; resolve the failed patches (MAINTAINERS.md) and run the bump again.")
        report.outcome = f"failed: {len(failed)} patch(es) do not apply"
        return 1
    for r in results:
        if r.status in ("offset", "fuzz"):
            with open(r.path, "w", encoding="utf-8") as f:
                f.write(r.text)
            log(f"regenerated {os.path.relpath(r.path, repo)} against the new tree")
    # Upstream's build number (the bNNNN tag) when the reference says it; left out (unknown) otherwise.
    meta = {k: v for k, v in old.meta.items() if k != "buildNumber"}
    meta.update(rev=rev, **({"buildNumber": target.build_number} if target.build_number else {}))
    mirror_list = list(target.mirrors)
    if re.fullmatch(r"[0-9a-f]{40}", rev) and (ref == "latest" or mirror["type"] != "url"):
        # the canonical archive by commit (not the API's tarball URL), ahead of any sdist
        mirror_list = [{"type": "url", "url": GITHUB_ARCHIVE.format(ref=rev)}] + \
            [m for m in mirror_list if m["type"] != "url"]
    pins["llama.cpp"] = Pin(old.name, "tree", new_hash, mirror_list, include=old.include, meta=meta)
    write_lock(lock_path, "sources", pins)
    log(f"sources.lock: llama.cpp {old.rev[:12]} -> {rev[:12]} ({new_hash})")
    report.outcome = f"sources.lock updated to {rev[:12]}"
    report.updated = True
    return 0
