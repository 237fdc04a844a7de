"""`scons COMMAND`: what is not a build target, one small module each, all listed here.

Each module has run(env, repo, arguments) -> exit code. They run instead of a build,
before anything is fetched.
"""

import importlib

import SCons.Errors

from lsone.errors import InputError
from lsone.progress import logger

COMMANDS = {"bump": "bump", "verify": "verify", "prune-cache": "prune_cache", "add-model": "add_model",
            "verify-store": "verify_store", "release": "release"}


def requested(targets):
    """The command named among the command-line targets, or None for a build."""
    named = [t for t in targets if t in COMMANDS]
    if len(named) > 1:
        raise SCons.Errors.UserError(f"one command at a time, not {' and '.join(named)}")
    return named[0] if named else None


def run(name, env, repo, arguments):
    if name not in COMMANDS:
        raise SCons.Errors.UserError(f"unknown command {name!r}; the commands are: {', '.join(sorted(COMMANDS))}")
    return importlib.import_module(f"commands.{COMMANDS[name]}").run(env, repo, arguments)


def reported_as_exit_code(name, work):
    """work() -> exit code; a bad input is printed (no traceback) and exits 1."""
    try:
        return work()
    except InputError as e:
        logger(name)(str(e))
        return 1
