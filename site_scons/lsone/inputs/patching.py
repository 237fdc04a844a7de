"""Apply patches/*.patch to a copy of a verified tree, inside the build directory.

GNU patch does the work. Each patch is dry-run first so a failing one leaves
no half-applied files behind, and its failure names the patch, file and hunk.
"""

import hashlib
import os
import re
import shutil
import subprocess

from ..errors import InputError
from .treehash import HASH_PREFIX, file_sha256, iter_tree

STAMP = ".lsone-patched"
_FILE_RE = re.compile(r"^(?:patching|checking) file '?(.+?)'?$")
_HUNK_RE = re.compile(r"^Hunk #(\d+) (FAILED|succeeded|ignored) at (\d+)(?: with fuzz (\d+))?(?: \(offset (-?\d+) lines?\))?")


class PatchResult:
    """How one patch applied. text: for 'offset'/'fuzz' in a bump, the patch regenerated against
    the new tree; for 'failed', patch's output. rejects: where a bump keeps the failed hunks."""

    def __init__(self, path, status, details, text=None, rejects=None):
        self.path = path
        self.name = os.path.basename(path)
        self.status = status  # 'clean', 'offset', 'fuzz' or 'failed'
        self.details = details  # list of (file, hunk, outcome, line, fuzz, offset)
        self.text = text
        self.rejects = rejects


def list_patches(patch_dir):
    if not os.path.isdir(patch_dir):
        return []
    return sorted(os.path.join(patch_dir, n) for n in os.listdir(patch_dir) if n.endswith(".patch"))


def parse_patch_output(text):
    details, current = [], None
    for line in text.splitlines():
        m = _FILE_RE.match(line.strip())
        if m:
            current = m.group(1)
            continue
        m = _HUNK_RE.match(line.strip())
        if m:
            hunk, outcome, at, fuzz, offset = m.groups()
            details.append((current, int(hunk), outcome, int(at), int(fuzz or 0), int(offset or 0)))
    return details


def classify(details):
    if any(d[2] == "FAILED" for d in details):
        return "failed"
    if any(d[4] for d in details):
        return "fuzz"
    if any(d[5] for d in details):
        return "offset"
    return "clean"


def require_patch_tool():
    tool = shutil.which("patch")
    if not tool:
        raise InputError("patch", "GNU patch is needed to apply patches/*.patch but was not found on PATH",
                         fix="install it (Debian/Ubuntu: sudo apt-get install patch)")
    return tool


def apply_patch(tree, patch_path, fuzz=0):
    """Apply one patch to tree. Returns a PatchResult; raises InputError on failure."""
    name = os.path.basename(patch_path)
    base = [require_patch_tool(), "-p1", "--batch", "--forward", f"--fuzz={fuzz}",
            "--no-backup-if-mismatch", "-d", tree, "-i", os.path.abspath(patch_path)]
    dry = subprocess.run(base + ["--dry-run"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    details = parse_patch_output(dry.stdout)
    if dry.returncode != 0:
        failed = [d for d in details if d[2] == "FAILED"]
        if failed:
            where = "; ".join(f"{f} hunk #{h} (at line {at})" for f, h, _, at, _, _ in failed)
        else:
            where = dry.stdout.strip().splitlines()[-1] if dry.stdout.strip() else "unknown"
        raise InputError(f"patches/{name}", f"does not apply: {where}",
                         found=dry.stdout.strip(),
                         fix=f"refresh patches/{name} against the pinned source (see MAINTAINERS.md)")
    real = subprocess.run(base, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if real.returncode != 0:
        raise InputError(f"patches/{name}", "applied in a dry run but not for real", found=real.stdout)
    return PatchResult(patch_path, classify(details), details)


def patch_set_hash(tree_hash, patches):
    """Identity of (verified tree, ordered patches): the stamp of a patched copy."""
    digest = hashlib.sha256(tree_hash.encode())
    for p in patches:
        digest.update(b"\0" + os.path.basename(p).encode() + b"\0" + file_sha256(p).encode())
    return HASH_PREFIX + digest.hexdigest()


def _same_file(a, b):
    if not os.path.isfile(b) or os.path.islink(b):
        return False
    sa, sb = os.stat(a), os.stat(b)
    if sa.st_size != sb.st_size or (sa.st_mode & 0o111 != 0) != (sb.st_mode & 0o111 != 0):
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(1 << 20), fb.read(1 << 20)
            if ca != cb:
                return False
            if not ca:
                return True


def _sync_tree(src, dest):
    """Make dest equal src, leaving unchanged files (and their mtimes) alone."""
    wanted = set()
    for rel, kind, path in iter_tree(src):
        wanted.add(rel)
        target = os.path.join(dest, *rel.split("/"))
        if kind != "symlink" and _same_file(path, target):
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.lexists(target):
            os.remove(target)
        os.replace(path, target)
    for rel, _kind, path in iter_tree(dest):
        if rel not in wanted and rel != STAMP:
            os.remove(path)


def prepare_patched_tree(store_tree, tree_hash, patches, dest, log=print):
    """Keep dest as store_tree + patches, touching only files whose bytes change.

    Stable paths and untouched mtimes mean a changed patch recompiles only the
    objects that depend on the files it changes.
    """
    want = patch_set_hash(tree_hash, patches)
    stamp = os.path.join(dest, STAMP)
    if os.path.isfile(stamp) and open(stamp).read().strip() == want:
        return want, None
    staging = dest.rstrip("/") + ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    log(f"preparing patched source in {dest} ({len(patches)} patches)")
    shutil.copytree(store_tree, staging, symlinks=True, copy_function=shutil.copyfile)
    for rel, kind, _path in iter_tree(store_tree):
        if kind == "exec":
            os.chmod(os.path.join(staging, *rel.split("/")), 0o755)
    results = []
    try:
        for p in patches:
            result = apply_patch(staging, p)
            log(f"  applied {result.name} ({result.status})")
            results.append(result)
        os.makedirs(dest, exist_ok=True)
        if os.path.exists(stamp):
            os.remove(stamp)
        _sync_tree(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    with open(stamp, "w") as f:
        f.write(want + "\n")
    return want, results
