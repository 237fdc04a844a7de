"""Cold first build: where the wall time goes, against upstream's CMake build in the same run.

    python3 bench/cold_build.py [--jobs 2] [--no-peer]

Ours: `scons` in a fresh copy of the checkout with an empty store and no CacheDir, so it fetches
llama.cpp and Node.js, builds the web UI with npm, compiles, links and packages (npm's own
download cache is left as it is). Every output line is timestamped; the phases are read from
them. The peer: upstream's CMake + make of the same verified tree (UI off), with its download of
the same source distribution. Prints each phase and the ratio of the totals.
"""

import argparse
import os
import re
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cmake_build, copy_checkout, full_upstream_tree, log, scratch  # noqa: E402

# (phase, the line that starts it, the line that ends it), read from scons' output
PHASES = [
    ("fetch llama.cpp (pip download of the sdist)", r"^\[llama\.cpp\] (downloading|fetching)", r"^\[llama\.cpp\] downloaded"),
    ("unpack + verify the tree", r"^\[llama\.cpp\] downloaded", r"^\[llama\.cpp\] llama\.cpp: verified"),
    ("patch + read the recipe", r"^\[llama\.cpp\] llama\.cpp: verified", r"^scons: done reading SConscript"),
    ("fetch Node.js (in the UI action)", r"^\[node\] ", r"^\[ui\] npm ci"),
    ("npm ci", r"^\[ui\] npm ci", r"^\[ui\] npm run build"),
    ("npm run build", r"^\[ui\] npm run build", r"^\[ui\] built UI stored"),
    ("compile (first to last CC/CXX/AR)", r"^(CC|CXX|AR) ", r"^(CC|CXX|AR) "),
    ("link", r"^LINK ", r"^LINK "),
    ("package (to the end)", r"^ZIP ", None),
]


def run_timestamped(cmd, cwd, logfile):
    """Run cmd; return ([(seconds since start, line)], wall seconds, CPU seconds of the children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    lines = []
    with open(logfile, "w") as out:
        # unbuffered: SCons prints to a pipe, and a buffered line would get the time of a later flush
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
        for line in proc.stdout:
            t = time.monotonic() - start
            lines.append((t, line.rstrip()))
            out.write(f"{t:8.1f} {line}")
        if proc.wait() != 0:
            raise SystemExit(f"{' '.join(cmd)} failed; see {logfile}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return lines, time.monotonic() - start, cpu


def phases(lines, total):
    """[(phase, start, end)] for the phases whose lines appear."""
    found = []
    for name, first, last in PHASES:
        starts = [t for t, line in lines if re.search(first, line)]
        if not starts:
            continue
        ends = [t for t, line in lines if re.search(last, line)] if last else [total]
        found.append((name, starts[0], max(ends) if ends else starts[0]))
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-peer", action="store_true", help="skip upstream's CMake build")
    args = parser.parse_args()
    work = scratch("cold")
    checkout = copy_checkout(os.path.join(work, "checkout"))
    store = os.path.join(work, "empty-store")
    log(f"SCons cold build: fresh checkout, empty store {store}, no CacheDir, -j{args.jobs}")
    lines, wall, cpu = run_timestamped([sys.executable, "-m", "SCons", f"-j{args.jobs}", f"store={store}"],
                                       checkout, os.path.join(work, "scons-cold.log"))
    print(f"\n{'phase (scons, cold)':48} {'from':>7} {'to':>7} {'length':>7}")
    for name, begin, end in phases(lines, wall):
        print(f"{name:48} {begin:6.1f}s {end:6.1f}s {end - begin:6.1f}s")
    print(f"{'total':48} {'':>7} {'':>7} {wall:6.1f}s  (CPU {cpu:.0f} s)")
    if args.no_peer:
        print(f"log: {work}/scons-cold.log")
        return
    log("upstream: download the same sdist, then CMake + make llama-server (UI off)")
    started = time.monotonic()
    tree = full_upstream_tree(work)
    fetch = time.monotonic() - started
    (c_conf, _), (c_build, c_cpu) = cmake_build(tree, os.path.join(work, "cmake-build"), args.jobs)
    theirs = fetch + c_conf + c_build
    print(f"\nupstream: download + unpack + verify {fetch:.1f}s, configure {c_conf:.1f}s, make {c_build:.1f}s "
          f"(CPU {c_cpu:.0f} s) = {theirs:.1f}s")
    print(f"cold build, scons (with the web UI) / upstream cmake (without): {wall:.1f}s / {theirs:.1f}s = "
          f"{wall / theirs:.2f}x")
    print(f"logs: {work}")


if __name__ == "__main__":
    main()
