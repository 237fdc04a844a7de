"""The bump report: what was resolved, how each patch fared, what upstream changed under them.

`scons bump` writes it to build/bump/report.md whatever the outcome; the weekly workflow makes
it the body of its pull request (lock updated) or of its issue (bump failed).
"""

import difflib
import os

PATCH_STATUS = {"clean": "clean", "offset": "refreshed (applied with an offset; regenerated)",
                "fuzz": "refreshed (applied with fuzz; regenerated)", "failed": "failing"}


def line_changes(old_path, new_path):
    """(added, removed) lines between two text files; a missing file counts as empty."""
    def lines(path):
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    added = removed = 0
    for line in difflib.unified_diff(lines(old_path), lines(new_path), lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed


class BumpReport:
    def __init__(self, target):
        self.target = target  # what was asked for and what it resolved to
        self.old = self.new = None  # (rev, tree hash, build number)
        self.patches = []  # (patch name, status, detail)
        self.upstream_changes = []  # "path (changed, +A -R)"
        self.source_lists = []
        self.outcome = "bump did not finish"
        self.problem = ""  # the error that stopped it, if any
        self.updated = False

    def markdown(self):
        out = [f"# llama.cpp bump: {self.outcome}", "", f"- Resolved: {self.target}"]
        for label, pin in (("From", self.old), ("To", self.new)):
            if pin:
                rev, tree, build = pin
                out.append(f"- {label}: `{rev}` (build {f'b{build}' if build else 'unknown'}), tree `{tree}`")
        out += ["", "## Patches", ""]
        out += [f"- `{name}`: {PATCH_STATUS.get(status, status)}" + (f" ({detail})" if detail else "")
                for name, status, detail in self.patches] or ["- (no patches were applied)"]
        out += ["", "## Upstream changes in patched files", ""]
        out += [f"- `{c}`" for c in self.upstream_changes] or ["- none"]
        if self.problem:
            out += ["", "## What stopped the bump", "", "```", self.problem, "```"]
        if self.source_lists:
            out += ["", "## Source lists derived from upstream's CMakeLists", "", "```", *self.source_lists, "```"]
        return "\n".join(out) + "\n"

    def write(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.markdown())
        return path
