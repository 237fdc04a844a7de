"""Read source lists out of upstream's CMakeLists files, without running CMake.

Deriving the lists means most llama.cpp bumps need no edit here. This is a
deliberately small reader: it follows set(), list(APPEND), file(GLOB) and
include() in file order, ignores conditions, and collects the literal sources
of add_library()/add_executable() and ggml's
ggml_add_backend_library(). It is used only for targets whose sources
are unconditional upstream; the tool says which.
"""

import glob
import os
import re

from ..errors import InputError

SOURCE_SUFFIXES = (".c", ".cc", ".cpp", ".cxx")
_LIB_KEYWORDS = {"STATIC", "SHARED", "MODULE", "OBJECT", "INTERFACE", "EXCLUDE_FROM_ALL", "WIN32", "MACOSX_BUNDLE"}
# ggml's own add_library wrapper for backends (ggml/src/CMakeLists.txt): same arguments, target first.
BACKEND_LIBRARY_FUNCTIONS = ("ggml_add_backend_library",)
_VAR_RE = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def _strip_comments(text):
    out = []
    for line in text.splitlines():
        in_quote = False
        for i, ch in enumerate(line):
            if ch == '"':
                in_quote = not in_quote
            elif ch == "#" and not in_quote:
                line = line[:i]
                break
        out.append(line)
    return "\n".join(out)


def iter_commands(text):
    """Yield (command_name, [arguments]) with arguments split on whitespace."""
    text = _strip_comments(text)
    command = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")
    pos = 0
    while True:
        m = command.search(text, pos)
        if not m:
            return
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        pos = i
        body = text[m.end():i - 1]
        yield m.group(1).lower(), [a.strip('"') for a in body.split()]


class CMakeListsReader:
    def __init__(self, source_root):
        self.source_root = os.path.abspath(source_root)
        self.targets = {}

    def _expand(self, token, variables):
        return _VAR_RE.sub(lambda m: " ".join(variables.get(m.group(1), [])), token)

    def read(self, relpath, variables=None):
        path = os.path.join(self.source_root, relpath)
        if not os.path.isfile(path):
            raise InputError(relpath, "upstream CMake file is missing from the source tree",
                             fix="the llama.cpp layout changed; update CMAKE_TARGETS in "
                                 "site_scons/lsone/inputs/sourcelists.py")
        cur_dir = os.path.dirname(path)
        variables = dict(variables or {})
        variables["CMAKE_CURRENT_SOURCE_DIR"] = [cur_dir]
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for name, args in iter_commands(text):
            variables["CMAKE_CURRENT_LIST_DIR"] = [cur_dir]
            expanded = []
            for a in args:
                expanded.extend(self._expand(a, variables).split())
            if name == "set" and expanded:
                variables[expanded[0]] = [a for a in expanded[1:] if a not in ("CACHE", "PARENT_SCOPE")]
            elif name == "list" and len(expanded) >= 2 and expanded[0] == "APPEND":
                variables.setdefault(expanded[1], []).extend(expanded[2:])
            elif name == "file" and len(expanded) >= 3 and expanded[0] == "GLOB":
                found = []
                for pattern in expanded[2:]:
                    full = pattern if os.path.isabs(pattern) else os.path.join(cur_dir, pattern)
                    found.extend(sorted(glob.glob(full)))
                variables[expanded[1]] = found
            elif name == "include" and expanded and expanded[0].endswith(".cmake"):
                inc = expanded[0] if os.path.isabs(expanded[0]) else os.path.join(cur_dir, expanded[0])
                if os.path.isfile(inc):
                    variables = self.read(os.path.relpath(inc, self.source_root), variables)
                    variables["CMAKE_CURRENT_SOURCE_DIR"] = [cur_dir]
            elif name in ("add_library", "add_executable", *BACKEND_LIBRARY_FUNCTIONS) and expanded:
                sources = [a for a in expanded[1:] if a not in _LIB_KEYWORDS and a != "ALIAS"]
                if "ALIAS" in expanded:
                    continue
                self.targets[expanded[0]] = [
                    os.path.relpath(os.path.normpath(s if os.path.isabs(s) else os.path.join(cur_dir, s)),
                                    self.source_root).replace(os.sep, "/")
                    for s in sources]
        return variables


def target_sources(source_root, cmake_file, target):
    """Compiled sources (relative to source_root) of target as declared in cmake_file."""
    reader = CMakeListsReader(source_root)
    reader.read(cmake_file)
    if target not in reader.targets:
        raise InputError(cmake_file, f"upstream no longer declares the target '{target}'",
                         found=", ".join(sorted(reader.targets)) or "no targets",
                         fix="update CMAKE_TARGETS in site_scons/lsone/inputs/sourcelists.py")
    sources = [s for s in reader.targets[target] if s.endswith(SOURCE_SUFFIXES)]
    missing = [s for s in sources if not os.path.isfile(os.path.join(source_root, s))]
    if missing:
        raise InputError(cmake_file, f"target '{target}' lists sources that are not in the tree",
                         found=", ".join(missing),
                         fix="a patch or the source tree is incomplete; re-fetch or refresh the patches")
    return sources
