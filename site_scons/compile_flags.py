"""Flags both toolchains share: upstream's Release configuration, reproducibly."""

import json

# Identity fields that matter only to the CPU backend's objects (see identity_nodes).
CPU_IDENTITY_KEYS = ("cpu", "native", "ld", "objcopy")


def identity_nodes(env, identity):
    """TOOLCHAIN_NODE (the compilers) for every object; CPU_NODE (plus cpu=, what -march=native
    means here, the level-isolating tools) for the CPU backend's objects only. So builds with
    different cpu= share every other object through the CacheDir, and native objects never
    cross CPUs."""
    env["TOOLCHAIN_IDENTITY"] = identity  # the manifest shows all of it
    general = {k: v for k, v in identity.items() if k not in CPU_IDENTITY_KEYS}
    env["TOOLCHAIN_NODE"] = env.Value(json.dumps(general, sort_keys=True))
    env["CPU_NODE"] = env.Value(json.dumps(identity, sort_keys=True))


def prefix_maps(*dirs):
    """Map build-machine paths out of the binary. $( $) keeps them out of build signatures,
    so checkouts (and toolchain copies) at different paths share one CacheDir."""
    return ["$("] + [f"-ffile-prefix-map={d.rstrip('/')}/=" for d in dirs] + ["$)"]


def release_flags(env, extra_ccflags=(), extra_cxxflags=(), mapped_dirs=()):
    top = env.Dir("#").abspath
    env.Replace(
        CFLAGS=["-std=gnu11"],
        CXXFLAGS=["-std=gnu++17"] + list(extra_cxxflags),
        CCFLAGS=["-O3"] + list(extra_ccflags) + prefix_maps(top, *mapped_dirs) + ["-fno-ident"],
        CPPDEFINES=["NDEBUG"],
        ARFLAGS="rcsD",  # D: no timestamps or uids in archives (cosmoar passes any GNU ar operation string on)
        RANLIBCOM="",
    )
