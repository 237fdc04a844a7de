"""zig, the hermetic toolchain: a pinned ziglang wheel from the package index, unpacked in the store.

zig carries clang, lld and the C libraries of every target it knows (musl, mingw-w64, macOS
stubs), so one pinned file is the whole compiler: nothing is taken from the host. The pin is
the wheel for the host platform (zig-<system>-<machine> in toolchains.lock); the executables it
makes depend on target=, never on the host.

zig writes what it builds for a target (musl, libc++, compiler-rt) to its caches. They live
beside the store (global, shared by every checkout) and under build/ (local), never in
~/.cache/zig, and they are kept between builds: the first link for a target fills them.
Plain Python: the build and the tests import it without SCons.
"""

import os
import platform

from ..errors import InputError
from .node import pin_name as platform_pin_name

WHEEL_ROOT = "ziglang"
EXECUTABLE = "ziglang/zig"
REQUIRED_FILES = (EXECUTABLE, "ziglang/lib/libcxx/include/vector", "ziglang/lib/libc/musl/libc.S")

# target= names -> zig's target triple, the architecture of cpulevels.py and what the platform is.
# Only what has been built and run: linux-aarch64 is proven under qemu-aarch64 (tests/integration/
# test_zig_aarch64.py), windows-x86_64 (mingw-w64's CRT, libc++ linked in) under wine (test_zig_windows.py).
# macOS is linked, never run here: its minimum is zig's default (macOS 15.0), and libc++ is linked in, so
# only libSystem is dynamic.
TARGETS = {
    "linux-x86_64": {"triple": "x86_64-linux-musl", "arch": "x86_64", "os": "linux"},
    "linux-aarch64": {"triple": "aarch64-linux-musl", "arch": "aarch64", "os": "linux"},
    "windows-x86_64": {"triple": "x86_64-windows-gnu", "arch": "x86_64", "os": "windows"},
    "macos-arm64": {"triple": "aarch64-macos", "arch": "aarch64", "os": "macos"},
    "macos-x86_64": {"triple": "x86_64-macos", "arch": "x86_64", "os": "macos"},
}
HOST_TARGETS = {("Linux", "x86_64"): "linux-x86_64", ("Linux", "aarch64"): "linux-aarch64"}


class Zig:
    """An unpacked zig: the executable, its cache directories, and what identifies it (no machine paths)."""

    def __init__(self, root, global_cache, identity):
        self.root = root
        self.global_cache = global_cache
        self.identity = identity

    @property
    def executable(self):
        return os.path.join(self.root, EXECUTABLE)

    @property
    def bin_dir(self):
        return os.path.dirname(self.executable)


def pin_name(system=None, machine=None):
    """The toolchains.lock entry for this host, e.g. zig-linux-x86_64."""
    return "zig-" + platform_pin_name(system, machine).split("-", 1)[1]


def host_pin(pins, name=None):
    name = name or pin_name()
    if name not in pins:
        known = ", ".join(sorted(n for n in pins if n.startswith("zig-")))
        raise InputError("toolchain=zig", f"no pinned zig for this host ({name})", expected=known,
                         fix="build with toolchain=host, or add this platform's ziglang wheel to toolchains.lock")
    return pins[name]


def default_target(system=None, machine=None):
    """target= when none is given: the host's own platform (None where zig has no such target)."""
    return HOST_TARGETS.get((system or platform.system(), machine or platform.machine()))


def check_target(target):
    if target not in TARGETS:
        raise InputError(f"target={target}", "is not a platform zig builds for here",
                         expected=", ".join(TARGETS), fix="pick one of those, or leave target= empty for this host")
    return TARGETS[target]


def check_layout(tree, origin):
    """Vet an unpacked wheel before it is stored: a partial or foreign one would fail mid-build."""
    missing = [f for f in REQUIRED_FILES if not os.path.isfile(os.path.join(tree, f))]
    if missing:
        raise InputError(origin, "is not a ziglang wheel", expected=", ".join(REQUIRED_FILES),
                         found="missing " + ", ".join(missing), fix="check the pin in toolchains.lock")
    if not os.access(os.path.join(tree, EXECUTABLE), os.X_OK):
        raise InputError(origin, f"{EXECUTABLE} lacks the execute bit", fix="check the pin in toolchains.lock")


def global_cache_dir(store, pin):
    """zig's global cache (musl, libc++, compiler-rt per target): beside the store, one per zig, so
    every checkout and build shares it. It is a cache, not a store entry: deleting it costs a rebuild."""
    return os.path.join(store.root, ".zig-cache", f"{pin.name}-{pin.version}-{pin.hash.split(':')[1][:16]}")


def pinned_zig(pin, store, offline=False, log=print):
    """The pinned zig, unpacked in the store (fetched and verified first if needed)."""
    root = store.realise_unpacked(pin, offline, log, prepare=lambda tree: check_layout(tree, pin.label),
                                  fix="check your network, or build with toolchain=host")
    cache = global_cache_dir(store, pin)
    os.makedirs(cache, exist_ok=True)
    return Zig(root, cache, {"kind": "zig", "version": pin.version, "wheel": pin.hash})
