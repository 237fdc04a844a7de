"""Build-time benchmark: our SCons build against upstream's CMake + make -j2, same tree, same run.

    python3 bench/build_time.py [--jobs 2]

Prints clean-build, no-op, touch and one-file-edit times and the SCons/CMake ratios.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cmake_build, copy_checkout, full_upstream_tree, log, scratch, timed  # noqa: E402

EDITED = "tools/server/server-http.cpp"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    work = scratch("build")
    scons = [sys.executable, "-m", "SCons", f"-j{args.jobs}"]

    log("SCons clean build from a fresh copy of the checkout (shared store, no CacheDir)")
    checkout = copy_checkout(os.path.join(work, "checkout"))
    s_clean = timed(scons, cwd=checkout, logfile=os.path.join(work, "scons-clean.log"))
    s_noop = timed(scons, cwd=checkout)
    ours = os.path.join(checkout, "build", "llama.cpp", EDITED)
    os.utime(ours)
    s_touch = timed(scons, cwd=checkout)
    with open(ours, "a") as f:
        f.write("\nint lsone_benchmark_edit = 1;\n")
    s_edit = timed(scons, cwd=checkout)

    log("upstream CMake build of the same verified tree")
    tree = full_upstream_tree(work)
    build_dir = os.path.join(work, "cmake-build")
    c_conf, c_build = cmake_build(tree, build_dir, args.jobs)
    make = ["make", f"-j{args.jobs}", "llama-server"]
    c_noop = timed(make, cwd=build_dir)
    theirs = os.path.join(tree, EDITED)
    os.utime(theirs)
    c_touch = timed(make, cwd=build_dir)
    with open(theirs, "a") as f:
        f.write("\nint lsone_benchmark_edit = 1;\n")
    c_edit = timed(make, cwd=build_dir)
    c_clean = (c_conf[0] + c_build[0], c_conf[1] + c_build[1])

    rows = [("clean build (wall)", s_clean[0], c_clean[0]),
            ("clean build (CPU)", s_clean[1], c_clean[1]),
            ("no-op rebuild", s_noop[0], c_noop[0]),
            (f"touch {EDITED}", s_touch[0], c_touch[0]),
            (f"edit {EDITED}", s_edit[0], c_edit[0])]
    print(f"\n{'measure':44} {'scons':>9} {'cmake':>9} {'ratio':>7}")
    for name, ours_s, theirs_s in rows:
        print(f"{name:44} {ours_s:8.1f}s {theirs_s:8.1f}s {ours_s / theirs_s:6.2f}x")
    print(f"(cmake clean = configure {c_conf[0]:.1f}s + make {c_build[0]:.1f}s; -j{args.jobs}; "
          f"goals: clean <= 0.9x, no-op <= 2 s)")
    print(f"scratch dir: {work}")


if __name__ == "__main__":
    main()
