"""SCons tool: what a killed build (kill -9, the OOM killer, a power cut) wrote is built again.

SCons records what it built in build/.sconsign only when a build ends; Ctrl-C still gets
there, SIGKILL does not. A killed build leaves outputs made from its inputs beside the
signatures of the build before it, so a later build with those earlier inputs takes them as
up to date: an object compiled from an edit since undone, a package's args since changed.

So a marker file holding the build's pid exists while a build runs. A build that finds one whose
process is gone knows that build died, and deletes every output written since the marker
appeared before it builds anything.
Outputs retrieved from the CacheDir count too: build_cache touches what it retrieves.
"""

import atexit
import os

MARKER = "#build/.build-running"


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _derived_files(directory):
    for name, node in sorted(directory.entries.items()):
        if name in (".", ".."):
            continue
        if hasattr(node, "entries"):
            yield from _derived_files(node)
        elif node.has_builder():
            yield node


def forget_killed_build_outputs(env):
    """Call once every target is declared: delete what the killed build wrote, so it is rebuilt."""
    since = env.get("KILLED_BUILD_SINCE")
    if since is None:
        return
    stale = []
    for node in _derived_files(env.Dir("#build")):
        try:
            if os.lstat(node.abspath).st_mtime_ns >= since:
                stale.append(node.abspath)
        except FileNotFoundError:
            pass
    for path in stale:
        os.remove(path)
    print(f"note: the last build here was killed before it could record its work "
          f"({env.File(MARKER).path} was left behind); rebuilding the {len(stale)} file(s) it wrote")
    atexit.register(_remove, env.File(MARKER).abspath)


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def generate(env):
    marker = env.File(MARKER).abspath
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    try:
        with open(marker) as f:
            owner = int(f.read().strip() or 0)
    except (FileNotFoundError, ValueError):
        owner = None
    if owner and _running(owner):
        print(f"note: another build (pid {owner}) is running in this checkout; they share build/.sconsign")
    elif owner is not None:
        env["KILLED_BUILD_SINCE"] = os.stat(marker).st_mtime_ns  # kept until a build has dealt with it
    else:
        with open(marker, "w") as f:
            f.write(f"{os.getpid()}\n")
        atexit.register(_remove, marker)  # after SCons has written build/.sconsign
    env.AddMethod(forget_killed_build_outputs, "ForgetKilledBuildOutputs")


def exists(env):
    """Nothing to check: it needs only the build directory."""
    return True
