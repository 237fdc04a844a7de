import os

import pytest

from lsone.errors import InputError
from lsone.inputs.patching import STAMP, apply_patch, prepare_patched_tree
from lsone.inputs.treehash import tree_hash

ORIGINAL = "".join(f"line {i}\n" for i in range(1, 21))


def source_tree(root):
    os.makedirs(os.path.join(root, "src"))
    with open(os.path.join(root, "src", "main.c"), "w") as f:
        f.write(ORIGINAL)
    with open(os.path.join(root, "src", "other.c"), "w") as f:
        f.write("other\n")
    return root


def write_patch(path, old, new, at=5):
    body = (f"--- a/src/main.c\n+++ b/src/main.c\n@@ -{at},3 +{at},3 @@\n"
            f" line {at}\n-{old}\n+{new}\n line {at + 2}\n")
    with open(path, "w") as f:
        f.write(body)
    return str(path)


def test_patches_apply_in_order_and_untouched_files_keep_mtime(tmp_path):
    store_tree = source_tree(str(tmp_path / "store"))
    dest = str(tmp_path / "build" / "llama.cpp")
    p1 = write_patch(tmp_path / "0001-first.patch", "line 6", "line six")
    p2 = write_patch(tmp_path / "0002-second.patch", "line six", "line 6!")
    stamp, results = prepare_patched_tree(store_tree, tree_hash(store_tree), [p1, p2], dest, log=lambda m: None)
    assert [r.status for r in results] == ["clean", "clean"]
    assert "line 6!\n" in open(os.path.join(dest, "src", "main.c")).read()
    other = os.path.join(dest, "src", "other.c")
    os.utime(other, (1000, 1000))
    main = os.path.join(dest, "src", "main.c")
    # Change one patch: only the file it touches is rewritten.
    p2 = write_patch(tmp_path / "0002-second.patch", "line six", "line 6?")
    stamp2, _ = prepare_patched_tree(store_tree, tree_hash(store_tree), [p1, p2], dest, log=lambda m: None)
    assert stamp2 != stamp
    assert "line 6?\n" in open(main).read()
    assert os.stat(other).st_mtime == 1000
    # Unchanged inputs: nothing is redone.
    assert prepare_patched_tree(store_tree, tree_hash(store_tree), [p1, p2], dest)[1] is None
    assert open(os.path.join(dest, STAMP)).read().strip() == stamp2


def test_failing_patch_names_patch_file_and_hunk_and_changes_nothing(tmp_path):
    tree = source_tree(str(tmp_path / "tree"))
    bad = write_patch(tmp_path / "0003-does-not-fit.patch", "line 99", "nope", at=12)
    with pytest.raises(InputError) as e:
        apply_patch(tree, bad)
    message = str(e.value)
    assert "patches/0003-does-not-fit.patch" in message
    assert "src/main.c" in message and "hunk #1" in message
    assert open(os.path.join(tree, "src", "main.c")).read() == ORIGINAL
    assert not any(n.endswith((".rej", ".orig")) for n in os.listdir(os.path.join(tree, "src")))


def test_failed_patch_leaves_previous_build_tree_alone(tmp_path):
    store_tree = source_tree(str(tmp_path / "store"))
    dest = str(tmp_path / "build")
    good = write_patch(tmp_path / "0001-good.patch", "line 6", "line six")
    prepare_patched_tree(store_tree, tree_hash(store_tree), [good], dest, log=lambda m: None)
    bad = write_patch(tmp_path / "0002-bad.patch", "no such line", "x")
    with pytest.raises(InputError):
        prepare_patched_tree(store_tree, tree_hash(store_tree), [good, bad], dest, log=lambda m: None)
    assert "line six\n" in open(os.path.join(dest, "src", "main.c")).read()
    assert not os.path.exists(dest + ".staging")


def test_offset_is_reported(tmp_path):
    tree = source_tree(str(tmp_path / "tree"))
    shifted = write_patch(tmp_path / "0001-shifted.patch", "line 9", "line nine", at=5)
    # The hunk claims line 5 but its context is at line 8: applies with an offset.
    with open(shifted, "w") as f:
        f.write("--- a/src/main.c\n+++ b/src/main.c\n@@ -5,3 +5,3 @@\n line 8\n-line 9\n+line nine\n line 10\n")
    assert apply_patch(tree, shifted).status == "offset"
