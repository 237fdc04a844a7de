"""`scons bump llama_cpp=REF`: move the llama.cpp pin, refresh the patches (MAINTAINERS.md)."""

import os
import platform

import SCons.Errors

from commands import reported_as_exit_code
from lsone.inputs.store import Store
from lsone.maintenance.bump import bump
from lsone.progress import logger


def run(env, repo, arguments):
    if not env["llama_cpp"]:
        raise SCons.Errors.UserError("scons bump needs llama_cpp=REF (latest, a commit, a tag, "
                                     "pip:llama-cpp-python==X or url:URL); see MAINTAINERS.md")
    # GITHUB_TOKEN, when set (as in the weekly workflow), lifts the API's anonymous rate limit.
    return reported_as_exit_code("bump", lambda: bump(repo, env["llama_cpp"], Store(env["store"]),
                                                      platform.machine(), log=logger("bump"),
                                                      github_api=env["github_api"],
                                                      token=os.environ.get("GITHUB_TOKEN")))
