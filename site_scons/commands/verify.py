"""`scons verify`: rebuild from scratch in a temporary directory and compare, like `nix build --check`."""

import os
import shutil
import subprocess
import sys
import tempfile

from commands import logger
from lsone.errors import InputError
from lsone.inputs.treehash import file_sha256
from lsone.inputs.zig import default_target
from lsone.packaging.compare import first_difference
from lsone.packaging.release import PACKAGE, challenge as compare_with_published, package_file, published_digest

# What a build reads from the checkout; build/ and caches are deliberately left behind.
CHECKOUT_INPUTS = ("SConstruct", "site_scons", "patches", "assets", "runtime", "sources.lock", "models.lock",
                   "toolchains.lock")
PATH_VARIABLES = ("model", "args", "ui", "store", "cosmocc")


def _packaged(root, arguments):
    """build/llama-server-one, whichever toolchain made it (.exe for zig's Windows target)."""
    zig = arguments.get("toolchain") == "zig"
    return os.path.join(root, "build", package_file(arguments.get("target") or default_target()) if zig else PACKAGE)


def _scons(cwd, args):
    print(f"[verify] scons {' '.join(args)}  (in {cwd})", flush=True)
    return subprocess.run([sys.executable, "-m", "SCons", "-Q", *args], cwd=cwd).returncode


def challenge(repo, args, arguments):
    """sums=FILE: build here and compare with the published line for the target, like `guix challenge`."""
    log = logger("verify")
    if arguments.get("toolchain") != "zig":
        log("sums=: a published release is built with toolchain=zig; add toolchain=zig (and target= for "
            "another platform than this host's)")
        return 1
    target = arguments.get("target") or default_target()
    sums = os.path.join(repo, arguments["sums"])
    try:  # read before anything is built
        published = published_digest(sums, target)
    except InputError as e:
        log(str(e))
        return 1
    if _scons(repo, args) != 0:
        return 1
    same, message = compare_with_published(published, target, _packaged(repo, arguments))
    log(("OK: " if same else "MISMATCH: ") + message)
    return 0 if same else 1


def run(env, repo, arguments):
    args = []
    for key, value in sorted(arguments.items()):
        if key in ("cache_dir", "sums"):
            continue  # a cache hit would copy the first build and prove nothing
        if key in PATH_VARIABLES and value and value != "none":
            value = os.path.abspath(os.path.join(repo, value))
        args.append(f"{key}={value}")
    if arguments.get("sums"):
        return challenge(repo, args, arguments)
    if _scons(repo, args) != 0:
        return 1
    ours = _packaged(repo, arguments)
    with tempfile.TemporaryDirectory(prefix="lsone-verify-") as tmp:
        for name in CHECKOUT_INPUTS:
            src = os.path.join(repo, name)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(tmp, name), ignore=shutil.ignore_patterns("__pycache__"))
            elif os.path.exists(src):
                shutil.copy2(src, os.path.join(tmp, name))
        if _scons(tmp, args) != 0:
            return 1
        theirs = _packaged(tmp, arguments)
        difference = first_difference(ours, theirs)
        if difference is None:
            print(f"[verify] OK: a clean rebuild gives the same bytes, sha256 {file_sha256(ours)}")
            return 0
        kept = tempfile.mkdtemp(prefix="lsone-verify-mismatch-")
        shutil.copy2(theirs, os.path.join(kept, "llama-server-one"))
        print(f"[verify] MISMATCH: {difference}\n"
              f"  ours:    {ours} (sha256 {file_sha256(ours)})\n"
              f"  rebuild: {kept}/llama-server-one (sha256 {file_sha256(theirs)})\n"
              f"  inspect: diffoscope {ours} {kept}/llama-server-one")
        return 1
