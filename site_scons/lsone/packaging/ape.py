"""Starting an Actually Portable Executable (toolchain=cosmocc) from Python.

An APE begins as a shell script ("MZqFpD='"). Without the APE loader registered with
binfmt_misc, execve() of it fails with ENOEXEC, and Python's subprocess does not retry
through a shell the way a shell does, so run it with sh explicitly.
"""

APE_MAGIC = b"MZqFpD='"


def is_ape(path):
    with open(path, "rb") as f:
        return f.read(len(APE_MAGIC)) == APE_MAGIC


def launch_command(path):
    """The argv prefix that starts path: [path], or ["sh", path] for an APE."""
    return ["sh", path] if is_ape(path) else [path]
