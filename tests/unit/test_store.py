import os
import stat
import tarfile

import pytest

from lsone.errors import InputError
from lsone.inputs.pins import Pin
from lsone.inputs.store import Store
from lsone.inputs.treehash import tree_hash


def staged_tree(path, content="hello"):
    os.makedirs(path)
    with open(os.path.join(path, "f.txt"), "w") as f:
        f.write(content)
    return path


def archived_tree(tmp_path, content="hello"):
    """A tarball of one file under a top directory (as a source archive has), and its tree's hash."""
    tree = staged_tree(str(tmp_path / "src" / "demo-1"), content)
    archive = str(tmp_path / f"demo-{content}.tar.gz")
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(tree, "demo-1")
    return archive, tree_hash(tree)


def tree_pin(archive, expected):
    return Pin("demo", "tree", expected, [{"type": "file", "path": archive}])


def store_entries(store):
    return sorted(n for n in os.listdir(store.root) if not n.startswith(".") and not n.endswith(".json"))


def test_insert_verifies_and_renames_atomically(tmp_path):
    store = Store(str(tmp_path / "store"))
    archive, expected = archived_tree(tmp_path)
    path = store.realise(tree_pin(archive, expected), log=lambda m: None)
    assert path == store.path_for("demo", expected)
    assert os.path.isdir(path)
    assert tree_hash(path) == expected
    mode = os.stat(os.path.join(path, "f.txt")).st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert os.listdir(os.path.join(store.root, ".tmp")) == []


def test_mismatch_leaves_nothing_in_store(tmp_path):
    store = Store(str(tmp_path / "store"))
    wrong = "sha256:" + "0" * 64
    archive, _right = archived_tree(tmp_path)
    with pytest.raises(InputError) as e:
        store.realise(tree_pin(archive, wrong), log=lambda m: None)
    assert wrong in str(e.value) and archive in str(e.value)
    assert store_entries(store) == []
    assert os.listdir(os.path.join(store.root, ".tmp")) == []


def test_second_insert_of_same_tree_is_harmless(tmp_path):
    store = Store(str(tmp_path / "store"))
    archive, _hash = archived_tree(tmp_path)
    paths = [store.realise(tree_pin(archive, None), log=lambda m: None) for _ in range(2)]  # new pins: fetched twice
    assert paths[0] == paths[1]
    assert store_entries(store) == [os.path.basename(paths[0])]


def test_lock_is_reentrant_across_handles(tmp_path):
    store = Store(str(tmp_path / "store"))
    with store.lock("demo"):
        pass
    with store.lock("demo"):
        pass
