import os

import pytest

from lsone.inputs.treehash import path_is_included, tree_hash


def make_tree(root):
    os.makedirs(os.path.join(root, "src", "sub"))
    with open(os.path.join(root, "src", "a.c"), "w") as f:
        f.write("int a;\n")
    with open(os.path.join(root, "src", "sub", "b.h"), "w") as f:
        f.write("#pragma once\n")
    with open(os.path.join(root, "run.sh"), "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(os.path.join(root, "run.sh"), 0o755)
    return root


def test_same_content_same_hash_regardless_of_timestamps(tmp_path):
    a = make_tree(str(tmp_path / "a"))
    b = make_tree(str(tmp_path / "b"))
    os.utime(os.path.join(b, "src", "a.c"), (1, 1))
    assert tree_hash(a) == tree_hash(b)
    assert tree_hash(a).startswith("sha256:") and len(tree_hash(a)) == 7 + 64


def test_tampered_file_changes_hash(tmp_path):
    root = make_tree(str(tmp_path / "t"))
    before = tree_hash(root)
    with open(os.path.join(root, "src", "a.c"), "w") as f:
        f.write("int b;\n")
    assert tree_hash(root) != before


def test_added_file_changes_hash(tmp_path):
    root = make_tree(str(tmp_path / "t"))
    before = tree_hash(root)
    open(os.path.join(root, "src", "new.c"), "w").close()
    assert tree_hash(root) != before


def test_mode_bit_changes_hash(tmp_path):
    root = make_tree(str(tmp_path / "t"))
    before = tree_hash(root)
    os.chmod(os.path.join(root, "run.sh"), 0o644)
    assert tree_hash(root) != before


def test_renamed_file_changes_hash(tmp_path):
    root = make_tree(str(tmp_path / "t"))
    before = tree_hash(root)
    os.rename(os.path.join(root, "src", "a.c"), os.path.join(root, "src", "c.c"))
    assert tree_hash(root) != before


def test_include_list_ignores_files_outside(tmp_path):
    root = make_tree(str(tmp_path / "t"))
    before = tree_hash(root, ["src/"])
    with open(os.path.join(root, "run.sh"), "w") as f:
        f.write("changed")
    open(os.path.join(root, ".git"), "w").close()
    assert tree_hash(root, ["src/"]) == before
    assert tree_hash(root, ["src/", "run.sh"]) != before


def test_include_matching():
    assert path_is_included("common/arg.cpp", ["common/"])
    assert not path_is_included("commonx/arg.cpp", ["common/"])
    assert path_is_included("LICENSE", ["LICENSE"])
    assert not path_is_included("LICENSE.md", ["LICENSE"])


def test_empty_selection_is_an_error(tmp_path):
    root = make_tree(str(tmp_path / "t"))
    with pytest.raises(ValueError, match="no files"):
        tree_hash(root, ["nothing/"])
