"""CPU levels: speed of cpu=multi (and each forced level) against cpu=native and upstream's CMake
build, and what each level costs to build.

    python3 bench/cpu_levels.py speed --multi M --native N [--upstream U] [--rounds 5] [--levels]
    python3 bench/cpu_levels.py cost --log BUILD.log [--build build]

speed: gemma-3-270m Q4_K_M, 2 threads pinned to cores (OMP_PROC_BIND/OMP_PLACES: both builds use
OpenMP), a >= 256-token prompt and 128 generated tokens. Every round runs every binary once, the
order alternating, so drift hits all alike. Prints the median and the min-max spread of prompt
processing and generation, and the per-round ratio to cpu=native (median and spread).
With --levels, the multi build once per level forced with LSONE_CPU_LEVEL (the README table).

cost: from the log of a clean `scons cpu=multi --debug=time`, the compile seconds each level adds
(and its share of all commands), and each level object's size: the figures behind MULTI_LEVELS.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, gemma_model, interleaved, print_speed_table, run_server, upstream_server  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "site_scons"))
from lsone.compile.cpulevels import MULTI_LEVELS  # noqa: E402

PINNED = {"OMP_PROC_BIND": "close", "OMP_PLACES": "cores"}


def measure(binary, model, requests, level=None):
    env = {k: v for k, v in os.environ.items() if k != "LSONE_CPU_LEVEL"}
    env.update(PINNED, **({"LSONE_CPU_LEVEL": level} if level else {}))
    timings, _rss = run_server(binary, model, requests, env=env)
    return (statistics.median(t["prompt_per_second"] for t in timings),
            statistics.median(t["predicted_per_second"] for t in timings))


def speed(args):
    model = gemma_model()
    entries = {"native": (args.native, None), "multi": (args.multi, None)}
    if args.upstream != "none":
        entries["upstream-cmake"] = (args.upstream or upstream_server(), None)
    if args.levels:  # a forced level this CPU lacks: the server refuses to start, and is dropped
        entries.update({f"multi:{lv}": (args.multi, lv) for lv in MULTI_LEVELS["x86_64"]})

    def run(name):
        binary, level = entries[name]
        return measure(binary, model, args.requests, level)

    results = interleaved(entries, args.rounds, run)
    print(f"\n{args.rounds} rounds, {args.requests} requests each; median [min-max]; ratios per round vs native")
    print_speed_table(results, ["native"])


def cost(args):
    """Per-level compile seconds from a build's `--debug=time` log, and each level object's size."""
    seconds, total = {}, 0.0
    with open(args.log) as f:
        for line in f:
            m = re.match(r"Command execution time: (\S+): ([\d.]+) seconds", line)
            if m:
                total += float(m.group(2))
                level = re.search(r"/obj/cpu-(\w+)/", m.group(1))
                if level:
                    seconds[level.group(1)] = seconds.get(level.group(1), 0.0) + float(m.group(2))
    print(f"{'level':16} {'compile s':>10} {'share':>6} {'text KiB':>9} {'object KiB':>11}")
    for level in MULTI_LEVELS["x86_64"]:
        obj = os.path.join(args.build, "lib", f"ggml-cpu-{level}.o")
        text = int(subprocess.run(["size", obj], stdout=subprocess.PIPE, text=True, check=True)
                   .stdout.splitlines()[1].split()[0])
        print(f"{level:16} {seconds.get(level, 0):10.1f} {seconds.get(level, 0) / total:6.1%} {text >> 10:9} "
              f"{os.path.getsize(obj) >> 10:11}")
    levels = sum(seconds.values())
    print(f"{'all levels':16} {levels:10.1f} {levels / total:6.1%}   (whole build: {total:.1f} s of commands)")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--multi", required=True, help="a cpu=multi build of llama-server-one")
    s.add_argument("--native", required=True, help="a cpu=native build of llama-server-one")
    s.add_argument("--upstream", help="upstream's CMake llama-server (default: build it once); none to skip")
    s.add_argument("--rounds", type=int, default=5)
    s.add_argument("--requests", type=int, default=2)
    s.add_argument("--levels", action="store_true", help="also every level of the multi build, forced")
    c = sub.add_parser("cost")
    c.add_argument("--log", required=True, help="the output of a clean `scons cpu=multi --debug=time` (no CacheDir hits)")
    c.add_argument("--build", default=os.path.join(REPO, "build"), help="that build's build/ directory")
    args = parser.parse_args()
    speed(args) if args.command == "speed" else cost(args)


if __name__ == "__main__":
    main()
