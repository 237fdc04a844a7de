"""Packaging benchmark: repackaging with the real gemma-3-270m model against `cp`, and startup
to the first token / peak RSS with the model embedded against the same model as a plain file.

    python3 bench/packaging.py [--runs 3]

Goals: repackaging <= 1.5x cp; embedded startup and RSS <= 1.05x the plain file.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, Server, gemma_model, log, post_json, scratch, timed  # noqa: E402

SCONS = [sys.executable, "-m", "SCons", "-Q"]


def first_token(exe, args, cwd):
    """Seconds from spawn to the first generated token's response, and peak RSS in KiB."""
    with Server(exe, ["-t", "2", *args], cwd=cwd) as server:
        post_json(server.url + "/completion", {"prompt": "Hello", "n_predict": 1})
        return time.monotonic() - server.started, server.peak_rss_kib()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    model = gemma_model()
    work = scratch("packaging")
    copy_to = os.path.join(work, "copy.gguf")

    log("repackaging: scons model=<gemma> after a model-less build, against cp of the model")
    subprocess.run(SCONS, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    cp_times, pack_times, zip_step = [], [], []
    for _ in range(args.runs):
        cp_times.append(timed(["cp", model, copy_to])[0])
        os.remove(copy_to)
        started = time.monotonic()
        out = subprocess.run(SCONS + ["--debug=time", f"model={model}"], cwd=REPO, check=True,
                             stdout=subprocess.PIPE, text=True).stdout
        pack_times.append(time.monotonic() - started)
        zip_step.append(float(re.search(r"execution time: build/llama-server-one: ([0-9.]+)", out).group(1)))
        subprocess.run(SCONS, cwd=REPO, check=True, stdout=subprocess.DEVNULL)  # back to no model
    subprocess.run(SCONS + [f"model={model}"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    packaged = os.path.join(work, "llama-server-one")
    shutil.copy(os.path.join(REPO, "build", "llama-server-one"), packaged)
    subprocess.run(SCONS, cwd=REPO, check=True, stdout=subprocess.DEVNULL)

    log("startup to first token and peak RSS: embedded model against -m plain file")
    embedded, plain = [], []
    for _ in range(args.runs):
        embedded.append(first_token(packaged, [], work))
        plain.append(first_token(packaged, ["-m", model], work))
    med = lambda xs: statistics.median(xs)  # noqa: E731
    rows = [("ZipEmbed step, 253 MB model (s)", med(zip_step), med(cp_times), "cp"),
            ("whole `scons model=` run (s)", med(pack_times), med(cp_times), "cp"),
            ("spawn to first token (s)", med([e[0] for e in embedded]), med([p[0] for p in plain]), "plain -m"),
            ("peak RSS (KiB)", med([e[1] for e in embedded]), med([p[1] for p in plain]), "plain -m")]
    print(f"\n{'measure (median)':30} {'ours':>10} {'peer':>10} {'ratio':>7}  peer")
    for name, ours, peer, label in rows:
        print(f"{name:30} {ours:10.2f} {peer:10.2f} {ours / peer:6.2f}x  {label}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
