#!/usr/bin/env python3
"""Fetch and verify the pinned cosmocc into the store, and print the directory it is unpacked in.

The workflow's cosmocc job installs the APE loader from there before it builds:
    root=$(python .ci/cosmocc_root.py "$LSONE_STORE")   # [STORE [COSMOCC]], as store= and cosmocc=
Progress goes to stderr; a failure prints the named error and exits 1.
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "site_scons"))

from lsone.errors import InputError  # noqa: E402
from lsone.inputs.cosmocc import load_pin, resolve_cosmocc  # noqa: E402
from lsone.inputs.store import Store  # noqa: E402


def main(argv):
    store = Store(argv[1] if len(argv) > 1 and argv[1] else None)
    request = argv[2] if len(argv) > 2 else ""
    try:
        toolchain = resolve_cosmocc(request, load_pin(os.path.join(REPO, "toolchains.lock")), store,
                                    log=lambda m: print(m, file=sys.stderr))
    except InputError as e:
        print(e, file=sys.stderr)
        return 1
    print(toolchain.root)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
