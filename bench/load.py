"""Load benchmark: many concurrent completions against the packaged executable (tiny model inside).

    python3 bench/load.py [--requests 200] [--concurrency 200] [--slots 4] [--n-predict 16]

The same burst runs against two servers in one run: `-np SLOTS` (parallel decoding) and its
peer `-np 1` (one request at a time), for several rounds in alternating order (a shared
machine is noisy). Prints errors, and median throughput and latency percentiles for both
with the ratio. Needs build/llama-server-one and build/llama.cpp/gguf-py (run `scons`).
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

PROMPTS = ["Once upon a time", "The quick brown fox", "In a hole in the ground", "It was a dark and stormy"]


def one_completion(url, i, n_predict, timeout):
    body = {"prompt": f"{PROMPTS[i % len(PROMPTS)]} #{i}", "n_predict": n_predict, "temperature": 0.7,
            "seed": i, "cache_prompt": False}
    req = urllib.request.Request(url + "/completion", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            reply = json.loads(resp.read())
            status = resp.status
    except urllib.error.HTTPError as e:
        return {"ok": False, "error": f"HTTP {e.code}: {e.read()[:200]!r}", "seconds": time.monotonic() - started}
    except OSError as e:
        return {"ok": False, "error": f"{type(e).__name__}: {e}", "seconds": time.monotonic() - started}
    tokens = reply.get("tokens_predicted", 0)
    ok = status == 200 and tokens > 0 and isinstance(reply.get("content"), str)
    return {"ok": ok, "error": None if ok else f"bad reply {str(reply)[:200]}", "tokens": tokens,
            "seconds": time.monotonic() - started}


def burst(url, requests, concurrency, n_predict=16, timeout=300):
    """Send `requests` completions, `concurrency` at a time (all at once by default).

    Returns (results, wall seconds)."""
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(lambda i: one_completion(url, i, n_predict, timeout), range(requests)))
    return results, time.monotonic() - started


def summary(results, wall):
    latencies = sorted(r["seconds"] for r in results)
    tokens = sum(r.get("tokens", 0) for r in results if r["ok"])
    pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))]  # noqa: E731
    return {"requests": len(results), "errors": sum(not r["ok"] for r in results), "wall_s": wall,
            "requests_per_s": len(results) / wall, "tokens_per_s": tokens / wall,
            "p50_s": statistics.median(latencies), "p95_s": pct(0.95), "max_s": latencies[-1]}


def packaged_with_tiny_model(workdir):
    """A copy of build/llama-server-one repackaged with the tiny model (and ui=none) by scons."""
    sys.path.insert(0, os.path.join(REPO, "tests"))
    from tiny_model import write_tiny_model
    model = write_tiny_model(os.path.join(REPO, "build", "llama.cpp", "gguf-py"), os.path.join(workdir, "tiny.gguf"))
    exe = os.path.join(workdir, "llama-server-one")
    try:
        subprocess.run([sys.executable, "-m", "SCons", "toolchain=host", f"model={model}"], cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL)
        shutil.copy(os.path.join(REPO, "build", "llama-server-one"), exe)
    finally:
        subprocess.run([sys.executable, "-m", "SCons", "toolchain=host"], cwd=REPO, stdout=subprocess.DEVNULL)
    return exe


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--n-predict", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="bursts per setting, in alternating order; medians shown")
    parser.add_argument("--exe", help="a packaged executable with a model inside (default: package the tiny one)")
    args = parser.parse_args()
    sys.path.insert(0, HERE)
    from common import Server, log

    work = tempfile.mkdtemp(prefix="lsone-bench-load-")
    exe = args.exe or packaged_with_tiny_model(work)
    settings = [args.slots, 1]
    rows = {slots: [] for slots in settings}
    for r in range(args.rounds):
        for slots in settings if r % 2 == 0 else reversed(settings):
            ctx = 256 * slots  # the tiny model's 256-token context for every slot
            with Server(exe, ["-np", str(slots), "-c", str(ctx), "-t", "2"]) as server:
                burst(server.url, 4, 4, args.n_predict)  # warm-up
                results, wall = burst(server.url, args.requests, args.concurrency, args.n_predict)
                alive = server.proc.poll() is None
            rows[slots].append(dict(summary(results, wall), alive=alive))
            log(f"round {r + 1} -np {slots}: {json.dumps(rows[slots][-1])}")
            for failed in (x for x in results if not x["ok"]):
                log(f"error: {failed['error']}")
    shutil.rmtree(work, ignore_errors=True)
    med = {slots: {k: statistics.median(row[k] for row in rows[slots]) for k in rows[slots][0] if k != "alive"}
           for slots in settings}
    a, b = med[args.slots], med[1]
    print(f"\n{args.requests} completions, {args.concurrency} at once, n_predict {args.n_predict}, "
          f"median of {args.rounds} rounds")
    print(f"{'measure':22} {'-np ' + str(args.slots):>10} {'-np 1':>10} {'ratio':>7}")
    for key in ("requests_per_s", "tokens_per_s", "p50_s", "p95_s", "max_s"):
        print(f"{key:22} {a[key]:10.3f} {b[key]:10.3f} {a[key] / b[key]:6.2f}x")
    for slots in settings:
        print(f"-np {slots}: {sum(row['errors'] for row in rows[slots])} errors in "
              f"{args.rounds * args.requests} requests; server alive after every burst: "
              f"{all(row['alive'] for row in rows[slots])}")


if __name__ == "__main__":
    main()
