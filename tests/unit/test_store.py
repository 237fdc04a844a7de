import os
import stat

import pytest

from lsone.errors import InputError
from lsone.store import Store
from lsone.treehash import tree_hash


def staged_tree(path, content="hello"):
    os.makedirs(path)
    with open(os.path.join(path, "f.txt"), "w") as f:
        f.write(content)
    return path


def store_entries(store):
    return sorted(n for n in os.listdir(store.root) if not n.startswith(".") and not n.endswith(".json"))


def test_insert_verifies_and_renames_atomically(tmp_path):
    store = Store(str(tmp_path / "store"))
    with store.staging("demo") as work:
        tree = staged_tree(os.path.join(work, "tree"))
        expected = tree_hash(tree)
        path = store.insert_tree(tree, "demo", expected)
    assert path == store.path_for("demo", expected)
    assert os.path.isdir(path)
    assert tree_hash(path) == expected
    mode = os.stat(os.path.join(path, "f.txt")).st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert os.listdir(os.path.join(store.root, ".tmp")) == []


def test_mismatch_leaves_nothing_in_store(tmp_path):
    store = Store(str(tmp_path / "store"))
    wrong = "sha256:" + "0" * 64
    with pytest.raises(InputError) as e:
        with store.staging("demo") as work:
            store.insert_tree(staged_tree(os.path.join(work, "tree")), "demo", wrong, origin="mirror-x")
    assert wrong in str(e.value) and "mirror-x" in str(e.value)
    assert store_entries(store) == []
    assert os.listdir(os.path.join(store.root, ".tmp")) == []


def test_second_insert_of_same_tree_is_harmless(tmp_path):
    store = Store(str(tmp_path / "store"))
    paths = []
    for _ in range(2):
        with store.staging("demo") as work:
            tree = staged_tree(os.path.join(work, "tree"))
            paths.append(store.insert_tree(tree, "demo", tree_hash(tree)))
    assert paths[0] == paths[1]
    assert store_entries(store) == [os.path.basename(paths[0])]


def test_lock_is_reentrant_across_handles(tmp_path):
    store = Store(str(tmp_path / "store"))
    with store.lock("demo"):
        pass
    with store.lock("demo"):
        pass
