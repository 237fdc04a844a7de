"""`scons release`: every zig target built from this checkout, each package named for its target,
and SHA256SUMS over them, in build/release/ (what `scons verify sums=` checks a build against)."""

import os
import shutil
import subprocess
import sys

from commands import logger
from lsone.packaging.release import RELEASE_TARGETS, artifact_name, package_file, write_sums

# A release is the default package of each target: only where inputs come from may be chosen.
PASSED_ON = ("store", "cache_dir", "offline", "verbose")


def run(env, repo, arguments):
    log = logger("release")
    chosen = [k for k, v in arguments.items() if k not in PASSED_ON and (k, v) != ("toolchain", "zig")]
    if chosen:
        log(f"refused: {', '.join(sorted(chosen))}: a release is each target's default package; "
            f"only {', '.join(PASSED_ON)} may be given")
        return 1
    out = os.path.join(repo, "build", "release")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    names = []
    for target in RELEASE_TARGETS:
        args = [f"{k}={v}" for k, v in sorted(arguments.items()) if k in PASSED_ON] + ["toolchain=zig", f"target={target}"]
        log(f"building {target}: scons {' '.join(args)}")
        if subprocess.run([sys.executable, "-m", "SCons", "-Q", *args], cwd=repo).returncode != 0:
            log(f"the {target} build failed; nothing is published")
            return 1
        names.append(artifact_name(target))
        shutil.copyfile(os.path.join(repo, "build", package_file(target)), os.path.join(out, names[-1]))
        os.chmod(os.path.join(out, names[-1]), 0o755)
    sums = write_sums(out, names)
    with open(sums) as f:
        log(f"wrote {sums}:\n" + f.read().rstrip())
    return 0
