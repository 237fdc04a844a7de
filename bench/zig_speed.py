"""toolchain=zig against the host's gcc and upstream's CMake build: inference speed, build time, size.

    python3 bench/zig_speed.py [--zig-cpu native|multi] [--threads 2] [--rounds 5] [--requests 2]
                               [--cache-dir DIR | --zig PKG --gcc PKG] [--upstream U] [--builds-only]

Three builds of the same verified tree: the zig linux-x86_64 package (`toolchain=zig cpu=<--zig-cpu>`),
the host gcc package (`toolchain=host cpu=native`) and upstream's CMake Release llama-server (GGML_NATIVE,
OpenMP). The two packages are built here, in a fresh copy of the checkout with the shared store:
- with --cache-dir, through that SCons CacheDir (quick when warm; no build time is reported);
- without it, through an EMPTY CacheDir, so both are clean builds, and their wall and CPU seconds
  are reported (one build each, zig first: a single pair, not interleaved; zig's musl and libc++,
  built once per store, are not in the figure when the store already has them).
--zig and --gcc take packages built before instead; --builds-only stops after the builds (time them
while the machine is busy anyway, and measure speed later, on the quietest machine you can get).

Speed: gemma-3-270m Q4_K_M (models.lock), a >= 256-token prompt, 128 generated tokens, --threads
for both -t and -tb, no CPU pinning (each build's default threading: OpenMP for gcc and CMake,
ggml's own threadpool for zig). Every round starts each server once, the order alternating; a
round's figure is the median of its requests. Prints median [min-max] of prompt processing (pp)
and generation (tg), the per-round ratios zig / gcc and zig / cmake, and the load average.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (copy_checkout, gemma_model, interleaved, load_average, log, print_speed_table,  # noqa: E402
                    run_server, scratch, timed, upstream_server)

# name -> (scons variables, the linked executable inside build/)
BUILDS = {
    "zig": (["toolchain=zig"], "zig-linux-x86_64/bin/llama-server"),
    "gcc": (["toolchain=host", "cpu=native"], "bin/llama-server"),
}


def build_packages(zig_cpu, cache_dir, work):
    """Both packages from one fresh copy of the checkout. Returns {name: (package, executable)}
    and, for clean builds, {name: (wall s, CPU s)}."""
    checkout = copy_checkout(os.path.join(work, "checkout"))
    clean = cache_dir is None
    cache_dir = cache_dir or os.path.join(work, "empty-cache-dir")
    built, times = {}, {}
    for name, (variables, executable) in BUILDS.items():
        variables = variables + ([f"cpu={zig_cpu}"] if name == "zig" else [])
        log(f"{'clean build' if clean else 'build'} of {name}: scons {' '.join(variables)} (CacheDir {cache_dir})")
        logfile = os.path.join(work, f"scons-{name}.log")
        try:
            times[name] = timed([sys.executable, "-m", "SCons", "-j2", f"cache_dir={cache_dir}", *variables],
                                cwd=checkout, logfile=logfile)
        except subprocess.CalledProcessError:
            raise SystemExit(f"scons {' '.join(variables)} failed; see {logfile}")
        package, linked = os.path.join(work, f"{name}.package"), os.path.join(work, f"{name}.executable")
        shutil.copy2(os.path.join(checkout, "build", "llama-server-one"), package)
        shutil.copy2(os.path.join(checkout, "build", executable), linked)
        built[name] = (package, linked)
    return built, times if clean else {}


def text_bytes(path):
    """Code + data that load (`size`'s text + data), the same stripped or not."""
    fields = subprocess.run(["size", path], stdout=subprocess.PIPE, text=True, check=True).stdout.splitlines()[1].split()
    return int(fields[0]) + int(fields[1])


def measure(binary, model, requests, threads):
    timings, _rss = run_server(binary, model, requests, threads)
    return (statistics.median(t["prompt_per_second"] for t in timings),
            statistics.median(t["predicted_per_second"] for t in timings))


def speed(built, args):
    binaries = {"zig": built["zig"][0], "gcc": built["gcc"][0], "cmake": args.upstream or upstream_server()}
    model = gemma_model()
    log(load_average())
    results = interleaved(binaries, args.rounds,
                          lambda name: measure(binaries[name], model, args.requests, args.threads))
    print(f"\nzig cpu={args.zig_cpu}, gcc cpu=native, cmake GGML_NATIVE; -t {args.threads} -tb {args.threads}; "
          f"{args.rounds} rounds of {args.requests} requests; median [min-max]; ratios per round")
    print_speed_table(results, ["gcc", "cmake"])
    print(load_average(), "at the end")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--zig-cpu", default="native", help="cpu= of the zig build: native (the same CPU flags as "
                        "gcc's, so only the toolchain differs) or multi (what zig would ship)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2)
    parser.add_argument("--cache-dir", help="build the packages through this SCons CacheDir (no build times)")
    parser.add_argument("--zig", help="a toolchain=zig package built before (with --gcc: nothing is built)")
    parser.add_argument("--gcc", help="a toolchain=host cpu=native package built before")
    parser.add_argument("--upstream", help="upstream's CMake llama-server of the pinned tree (default: built once)")
    parser.add_argument("--builds-only", action="store_true", help="build (and time) the packages, measure no speed")
    args = parser.parse_args()
    if bool(args.zig) != bool(args.gcc):
        raise SystemExit("--zig and --gcc go together: give both packages, or neither to build them here")
    log(load_average())
    work = None
    if args.zig:
        built, build_times = {"zig": (args.zig, None), "gcc": (args.gcc, None)}, {}
    else:
        work = scratch("zig-speed")
        built, build_times = build_packages(args.zig_cpu, args.cache_dir, work)
        log(load_average())
    if not args.builds_only:
        speed(built, args)
    if build_times:
        (zw, zc), (gw, gc) = build_times["zig"], build_times["gcc"]
        print(f"\nclean build (empty CacheDir, -j2): zig {zw:.0f} s wall, {zc:.0f} CPU-s; gcc {gw:.0f} s wall, "
              f"{gc:.0f} CPU-s; zig / gcc: {zw / gw:.2f}x wall, {zc / gc:.2f}x CPU")
    for name, (package, linked) in built.items():
        sizes = f"package {os.path.getsize(package):,} bytes"
        if linked:
            sizes += f", executable {os.path.getsize(linked):,} bytes (text + data {text_bytes(linked):,})"
        print(f"{name}: {sizes}")
    if work:
        print(f"scratch dir: {work}")


if __name__ == "__main__":
    main()
