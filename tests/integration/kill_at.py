"""Run a Python program and kill -9 it at a chosen file-system step, for fault tests.

    python3 kill_at.py [--log FILE --watch TEXT] [STEP...] -- -m SCons ARGS...

A STEP is EVENT@TEXT: a file-system change on a path containing TEXT, where EVENT is a Python
audit event (open for writing, os.rename (also os.replace), os.mkdir, os.chmod, os.remove,
os.rmdir, shutil.rmtree), * for any of those, or read for an open for reading. When the steps
have been seen in order, the process sends itself SIGKILL just before that call runs: no
cleanup, no finally blocks, no flushing, as after a power cut or the OOM killer.

--log FILE records every change on a path containing the --watch TEXT, so a test can list
the steps of a run and kill at each one in turn. Python only: whatever the program runs as a
subprocess is not watched.
"""

import os
import runpy
import signal
import sys

EVENTS = {"open", "os.rename", "os.mkdir", "os.chmod", "os.remove", "os.rmdir", "shutil.rmtree"}


WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _kind(event, args):
    """The event's name, with opens split into open (for writing) and read."""
    if event != "open":
        return event
    mode, flags = args[1], args[2]
    writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & WRITE_FLAGS)
    return "open" if writes else "read"


def _install(steps, log_path, watch):
    log = open(log_path, "a", buffering=1) if log_path else None
    pending = [s.split("@", 1) for s in steps]

    def hook(event, args):
        if event not in EVENTS:
            return
        paths = [os.fsdecode(p) for p in args[:2 if event == "os.rename" else 1]
                 if isinstance(p, (str, bytes, os.PathLike))]
        if not paths:
            return  # an fd, not a path
        kind = _kind(event, args)
        if log and kind != "read" and any(watch in p for p in paths):
            log.write(f"{kind}\t{' -> '.join(paths)}\n")
        if pending:
            want, text = pending[0]
            if (want == kind or (want == "*" and kind != "read")) and any(text in p for p in paths):
                pending.pop(0)
                if not pending:
                    os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(hook)


def main(argv):
    log_path = watch = None
    if argv[:1] == ["--log"]:
        log_path, watch, argv = argv[1], argv[3], argv[4:]
    split = argv.index("--")
    steps, program = argv[:split], argv[split + 1:]
    if program[:1] != ["-m"] or len(program) < 2:
        raise SystemExit("usage: kill_at.py [--log FILE --watch TEXT] [STEP...] -- -m MODULE ARGS...")
    _install(steps, log_path, watch)
    sys.argv = [program[1], *program[2:]]
    runpy.run_module(program[1], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
