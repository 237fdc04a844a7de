"""RPC benchmark: gemma split over two local workers (`llama-server-one rpc-server`) against a local run.

    python3 bench/rpc.py [--rounds 3] [--threads 1] [--ours PATH]

Both sides use the same executable and the same threads per computing process: the local server
computes with --threads, each worker with --threads (the layers run one worker after the other, so
only one computes at a time). Alternating rounds; each prints prompt processing and generation
speed. The summary gives the median with the spread (min-max) and the ratio split/local, which is
RPC's overhead on loopback. It also counts the bytes the server and its workers exchange per generated
token (from the kernel's per-socket counters, `ss -ti`) and what that alone would add over a
1 Gbit/s link.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import PROMPT, REPO, Server, free_port, gemma_model, launch_command, log, post_json  # noqa: E402

GENERATED = 64
LINK_BITS_PER_SECOND = 1e9


class Workers:
    """Two rpc-server processes on loopback, stopped on exit."""

    def __init__(self, binary, threads):
        self.ports = [free_port(), free_port()]
        self.procs = [subprocess.Popen([*launch_command(binary), "rpc-server", "-p", str(p), "-t", str(threads)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for p in self.ports]
        deadline = time.monotonic() + 60
        while not all(self._listening(p) for p in self.ports):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                self.stop()
                raise SystemExit("the RPC workers did not start")
            time.sleep(0.1)

    @staticmethod
    def _listening(port):
        out = subprocess.run(["ss", "-tlnH", f"sport = :{port}"], stdout=subprocess.PIPE, text=True).stdout
        return bool(out.strip())

    def rpc_arg(self):
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def bytes_exchanged(self):
        """Bytes the workers sent plus received on their connections (both directions of the traffic)."""
        total = 0
        for port in self.ports:
            out = subprocess.run(["ss", "-tinH", "state", "established", f"sport = :{port}"],
                                 stdout=subprocess.PIPE, text=True).stdout
            total += sum(int(n) for n in re.findall(r"bytes_(?:sent|received):(\d+)", out))
        return total

    def stop(self):
        for p in self.procs:
            p.kill()
            p.wait()


def request(server, n_predict):
    body = {"prompt": PROMPT, "n_predict": n_predict, "temperature": 0, "cache_prompt": False,
            "ignore_eos": True, "seed": 1}
    return post_json(server.url + "/completion", body)["timings"]


def measure(server, requests):
    request(server, 8)  # warm-up
    return [request(server, GENERATED) for _ in range(requests)]


def bytes_per_token(server, workers):
    """From two requests that differ only in tokens generated: the prompt's bytes cancel out."""
    def moved(n):
        before = workers.bytes_exchanged()
        request(server, n)
        return workers.bytes_exchanged() - before
    short, long = moved(1), moved(GENERATED)
    return (long - short) / (GENERATED - 1), short


def spread(values):
    return f"{statistics.median(values):8.1f} ({min(values):.1f}-{max(values):.1f})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ours", default=os.path.join(REPO, "build", "llama-server-one"))
    args = parser.parse_args()
    model, binary, t = gemma_model(), os.path.abspath(args.ours), str(args.threads)
    common = ["-m", model, "-c", "2048", "-np", "1", "-t", t, "-tb", t]
    results = {k: {"pp": [], "tg": []} for k in ("local", "split")}
    per_token = []
    for r in range(args.rounds):
        for name in (["local", "split"] if r % 2 == 0 else ["split", "local"]):
            workers = Workers(binary, args.threads) if name == "split" else None
            try:
                extra = ["--rpc", workers.rpc_arg(), "-ngl", "99", "-ts", "1,1"] if workers else ["-ngl", "0"]
                with Server(binary, common + extra) as server:
                    timings = measure(server, args.requests)
                    if workers:
                        per_token.append(bytes_per_token(server, workers))
            finally:
                if workers:
                    workers.stop()
            for tm in timings:
                assert tm["predicted_n"] == GENERATED, tm
                results[name]["pp"].append(tm["prompt_per_second"])
                results[name]["tg"].append(tm["predicted_per_second"])
            log(f"round {r + 1} {name}: pp {timings[-1]['prompt_per_second']:.1f} tok/s, "
                f"tg {timings[-1]['predicted_per_second']:.1f} tok/s (prompt {timings[-1]['prompt_n']} tokens)")
    print(f"\n{'median (min-max)':28} {'local':>22} {'split over 2 workers':>22} {'ratio':>7}")
    for key, label in (("pp", "prompt processing (tok/s)"), ("tg", "generation (tok/s)")):
        local, split = results["local"][key], results["split"][key]
        print(f"{label:28} {spread(local):>22} {spread(split):>22} "
              f"{statistics.median(split) / statistics.median(local):6.3f}x")
    token_bytes = statistics.median(b for b, _ in per_token)
    prompt_bytes = statistics.median(p for _, p in per_token)
    link_ms = token_bytes * 8 / LINK_BITS_PER_SECOND * 1000
    tg_local = statistics.median(results["local"]["tg"])
    print(f"\nbytes between server and workers: {token_bytes:,.0f} per generated token, "
          f"{prompt_bytes:,.0f} for the prompt and its first token")
    print(f"at 1 Gbit/s that is {link_ms:.3f} ms per token on the wire alone; the local run takes "
          f"{1000 / tg_local:.1f} ms per token, so the wire adds {link_ms * tg_local / 10:.2f} % "
          "(plus one network round trip per synchronous call, which loopback hides)")


if __name__ == "__main__":
    main()
