"""Inference benchmark: our llama-server-one against upstream's CMake llama-server, same tree.

    python3 bench/inference.py [--rounds 3] [--ours PATH]

Real model (gemma-3-270m Q4_K_M from the package index), prompt of >= 256 tokens,
128 generated tokens, 2 threads. Prints prompt-processing and generation speed, peak RSS
and the ratios ours/upstream (goal: >= 1.00 on both speeds).
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, gemma_model, log, run_server, upstream_server  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2)
    parser.add_argument("--upstream", help="an upstream llama-server already built by CMake from the pinned tree")
    parser.add_argument("--ours", default=os.path.join(REPO, "build", "llama-server-one"),
                        help="our executable to measure (default build/llama-server-one, whichever toolchain made it)")
    args = parser.parse_args()
    model = gemma_model()
    ours = os.path.abspath(args.ours)
    if not os.path.exists(ours):
        raise SystemExit(f"{args.ours} is missing: run `scons` (or `scons toolchain=cosmocc`) first")
    binaries = {"ours": ours, "upstream": args.upstream or upstream_server()}
    results = {k: {"pp": [], "tg": [], "rss": []} for k in binaries}
    for r in range(args.rounds):
        order = list(binaries) if r % 2 == 0 else list(reversed(binaries))
        for name in order:
            timings, rss = run_server(binaries[name], model, args.requests)
            for t in timings:
                results[name]["pp"].append(t["prompt_per_second"])
                results[name]["tg"].append(t["predicted_per_second"])
            results[name]["rss"].append(rss)
            log(f"round {r + 1} {name}: pp {timings[-1]['prompt_per_second']:.1f} tok/s, "
                f"tg {timings[-1]['predicted_per_second']:.1f} tok/s (prompt {timings[-1]['prompt_n']} tokens)")
    med = {k: {m: statistics.median(v[m]) for m in v} for k, v in results.items()}
    print(f"\n{'measure (median)':32} {'ours':>10} {'upstream':>10} {'ratio':>7}")
    for key, label in (("pp", "prompt processing (tok/s)"), ("tg", "generation (tok/s)"),
                       ("rss", "peak RSS (KiB)")):
        print(f"{label:32} {med['ours'][key]:10.1f} {med['upstream'][key]:10.1f} "
              f"{med['ours'][key] / med['upstream'][key]:6.3f}x")


if __name__ == "__main__":
    main()
