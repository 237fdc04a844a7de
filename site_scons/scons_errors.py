"""Report lsone's InputError the way SCons reports its own errors: the message, no traceback."""

import contextlib

import SCons.Errors

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
