"""Flags both toolchains share: upstream's Release configuration, reproducibly."""


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
