"""`scons add-model url=URL license=TEXT`: pin a GGUF file in models.lock, with its GGUF facts."""

import os

import SCons.Errors

from commands import reported_as_exit_code
from lsone.inputs.models import add_model
from lsone.inputs.pins import load_pin
from lsone.inputs.store import Store
from lsone.progress import logger


def run(env, repo, arguments):
    if not env["url"]:
        raise SCons.Errors.UserError("scons add-model needs url=https://.../NAME.gguf (and license=...)")
    store, log = Store(env["store"]), logger("add-model")

    def work():
        tree = store.realise(load_pin(os.path.join(repo, "sources.lock"), "sources", "llama.cpp"), log=log)
        add_model(os.path.join(repo, "models.lock"), env["url"], store, os.path.join(tree, "gguf-py"),
                  license=env["license"], log=log)  # gguf-py from the pinned tree reads the facts
        return 0
    return reported_as_exit_code("add-model", work)
