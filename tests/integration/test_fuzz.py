"""The fuzz targets (runtime/fuzz/, built by site_tools/fuzzing.py): every seed and every kept crash
passes, and a short fuzzing run of each target finds nothing."""

import json
import os
import re
import subprocess

from conftest import REPO
from integration.conftest import run_scons

FUZZ = os.path.join(REPO, "tests", "fuzz")
TARGETS = ("zip", "args", "rpc")


def test_every_seed_and_kept_crash_passes():
    out = run_scons("fuzz-regress").stdout
    for target in TARGETS:
        expected = sum(len(os.listdir(os.path.join(FUZZ, kind, target))) for kind in ("corpus", "crashes")
                       if os.path.isdir(os.path.join(FUZZ, kind, target)))
        assert expected > 0
        ran = re.search(rf"fuzz-regress {target}: (\d+) input\(s\), exit 0", out)
        # the alias may be up to date from an earlier run; its log still names the inputs it ran
        log = open(os.path.join(REPO, "build", "fuzz", f"{target}.regress.log")).read()
        assert (ran is None or int(ran.group(1)) == expected) and log.count("Running: ") == expected, out


def symbols(path):
    return subprocess.run(["nm", "-C", path], stdout=subprocess.PIPE, text=True, check=True).stdout


def test_fuzz_programs_have_the_sanitizers_and_the_release_build_does_not(server_binary):
    run_scons("fuzz-regress")
    for target in TARGETS:
        found = symbols(os.path.join(REPO, "build", "fuzz", f"fuzz_{target}"))
        assert "__asan_report_load" in found and "__ubsan_handle_" in found and "LLVMFuzzerTestOneInput" in found
    release = symbols(os.path.join(REPO, "build", "bin", "llama-server"))
    assert "lsone::read_zip" in release and "__asan" not in release and "__ubsan" not in release


def test_a_short_fuzzing_run_of_each_target_finds_nothing():
    """CI's smoke run: about 25 s per target from the seeds (`scons fuzz fuzz_time=600` for a real run)."""
    result = run_scons("fuzz", "fuzz_time=25", check=False)
    stats = {m["target"]: m for m in map(json.loads, re.findall(r"^fuzz \w+: (\{.*\})$", result.stdout, re.MULTILINE))}
    print("\n" + "\n".join(json.dumps(s) for s in stats.values()))
    assert result.returncode == 0, result.stdout[-6000:]
    for target in TARGETS:
        assert stats[target]["exit"] == 0 and stats[target]["executions"] > 1000, stats
