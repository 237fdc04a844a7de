"""Report lsone's InputError, and a tool whose requirements are missing, the way SCons reports its own errors."""

import contextlib
import inspect

import SCons.Errors
import SCons.Tool

from lsone.errors import InputError


@contextlib.contextmanager
def reported(during_build=False):
    """While reading SConscripts an InputError becomes a UserError; inside an action, a BuildError."""
    try:
        yield
    except InputError as e:
        if during_build:
            raise SCons.Errors.BuildError(errstr=str(e)) from None
        raise SCons.Errors.UserError(str(e)) from None


def use_tool(env, name, **kwargs):
    """env.Tool(name), once the tool's exists(env) says what it needs is there. SCons' env.Tool never
    calls exists(); here a False stops the build with the tool's exists docstring: need, then fix."""
    tool = SCons.Tool.Tool(name, **kwargs)
    if not tool.exists(env):
        need, _, fix = inspect.getdoc(tool.exists).partition("\n")
        raise SCons.Errors.UserError(f"{name}: {need}\n  {fix}".rstrip())
    tool(env)
    return tool
