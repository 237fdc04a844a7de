"""Join lsone's packer and the modules it uses into one stdlib-only script: pack.py.

The build embeds the result as /zip/pack.py, so the packer a user runs is the
build's own code, not a second copy. Each module's relative imports are dropped
(the names they import are defined earlier in the same file); anything else that
would tie the script to the project is refused.
"""

import ast
import os

# Each after what it imports; relative to lsone/.
PACKER_MODULES = ("errors.py", "packaging/argsfile.py", "packaging/macho.py", "packaging/zipembed.py",
                  "packaging/packer.py")
_HEADER = ('#!/usr/bin/env python3\n'
           '# pack.py: generated from llama-server-one\'s site_scons/lsone/{{{modules}}}; edit those, not this.\n'
           '# Usage: python3 pack.py IN [--model M.gguf] [--args FILE] [--ui DIR] -o OUT, or IN --list (-h: help)\n')
_FOOTER = '\nif __name__ == "__main__":\n    with open(__file__, "rb") as _self:\n' \
          '        sys.exit(main(sys.argv[1:], _self.read()))\n'

LSONE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _without_relative_imports(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text, path)
    drop = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            drop.update(range(node.lineno - 1, node.end_lineno))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0 and node.lineno - 1 not in drop:
            raise ValueError(f"{path}:{node.lineno}: a relative import inside a block cannot be joined")
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                (a.name if isinstance(node, ast.Import) else node.module or "").split(".")[0] in ("lsone", "SCons")
                for a in node.names):
            raise ValueError(f"{path}:{node.lineno}: pack.py must not import the project or SCons")
    return "".join(line for i, line in enumerate(lines) if i not in drop)


def _top_level_names(text, path):
    names = set()
    for node in ast.parse(text, path).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def bundle(paths):
    """The text of pack.py from the module files, in order."""
    names = ",".join(os.path.basename(p) if os.path.relpath(p, LSONE_DIR).startswith("..") else
                     os.path.relpath(p, LSONE_DIR) for p in paths)
    parts, defined_in = [_HEADER.format(modules=names)], {}
    for path in paths:
        text = _without_relative_imports(path)
        for name in _top_level_names(text, path):
            if defined_in.setdefault(name, path) != path:
                raise ValueError(f"{path}: {name} is also defined in {defined_in[name]}; rename one to join them")
        parts += [f"\n# ---- {os.path.basename(path)}\n", text]
    parts.append(_FOOTER)
    text = "".join(parts)
    compile(text, "pack.py", "exec")
    return text


def packer_module_paths():
    return [os.path.join(LSONE_DIR, name) for name in PACKER_MODULES]
