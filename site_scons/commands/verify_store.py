"""`scons verify-store`: re-hash every store entry against the hash recorded beside it."""

from lsone.inputs.store import Store
from lsone.progress import logger


def run(env, repo, arguments):
    store, log = Store(env["store"]), logger("verify-store")
    problems = store.verify(log=log)
    for p in problems:
        log(f"CORRUPT {p}")
    log(f"{len(problems)} problem(s) in {store.root}" + ("; delete those entries to re-fetch them" if problems else ""))
    return 1 if problems else 0
