"""Every variable and combination is checked before anything is fetched, each error in the
input / expected / found / fix shape; the store stays untouched."""

import os

import pytest

import build_plan
from conftest import REPO
from lsone.errors import InputError
from lsone.inputs.store import Store
from toolchains import Registry

DEFAULTS = {"toolchain": "host", "cpu": "auto", "cosmocc": "", "cc": "", "cxx": "", "model": "", "args": "",
            "ui": "none", "node": "", "offline": False}


def check(tmp_path, **values):
    store = Store(str(tmp_path / "store"))
    try:
        return build_plan.checked(dict(DEFAULTS, **values), REPO, store, Registry(), log=lambda m: None)
    finally:
        assert not os.path.exists(store.root)  # checked, not fetched


def refused(tmp_path, **values):
    with pytest.raises(InputError) as e:
        check(tmp_path, **values)
    return str(e.value)


def test_defaults_resolve_without_touching_the_store(tmp_path):
    plan = check(tmp_path)
    assert (plan.toolchain, plan.cpu, plan.model, plan.ui, plan.args) == ("host", "native", None, None, None)
    assert check(tmp_path, toolchain="cosmocc", cosmocc=str(tmp_path)).cpu == "multi"


def test_cosmocc_with_cpu_native_is_refused_naming_what_it_builds(tmp_path):
    message = refused(tmp_path, toolchain="cosmocc", cpu="native")
    assert message.startswith("cpu=native: refused with toolchain=cosmocc. The executable runs on other machines")
    assert "fix:      cpu=portable (x86-64 baseline" in message and "cpu=multi (" in message
    assert "toolchain=host" not in message


def test_when_auto_chose_cosmocc_the_fix_also_offers_host(tmp_path):
    message = refused(tmp_path, toolchain="auto", cosmocc=str(tmp_path), cpu="native")
    assert "refused with toolchain=cosmocc (which toolchain=auto chose)" in message
    assert "; or toolchain=host for a native build" in message


def test_an_unknown_model_name(tmp_path):
    message = refused(tmp_path, model="no-such-model.gguf")
    assert message.startswith("model=no-such-model.gguf: is neither a name in models.lock nor an existing file")
    assert "expected: one of: gemma-3-270m-q4_k_m.gguf" in message and "found:    'no-such-model.gguf'" in message
    assert "fix:" in message


def test_a_missing_args_file(tmp_path):
    message = refused(tmp_path, args=str(tmp_path / "missing.args"))
    assert "missing.args: no such file" in message
    assert "expected: an args file" in message and "found:    nothing at" in message and "fix:" in message


def test_a_malformed_args_file(tmp_path):
    bad = tmp_path / "bad.args"
    bad.write_text('-m "unterminated\n')
    assert refused(tmp_path, args=str(bad)).startswith(f"args={bad}")


def test_a_ui_directory_without_index_html(tmp_path):
    ui = tmp_path / "site"
    ui.mkdir()
    (ui / "app.js").write_text("")
    message = refused(tmp_path, ui=str(ui))
    assert message.startswith(f"ui={ui}: no index.html at the top of the directory") and "fix:" in message
    (ui / "index.html").write_text("<html></html>")
    assert check(tmp_path, ui=str(ui)).ui == str(ui)


def test_a_node_that_is_not_executable(tmp_path):
    message = refused(tmp_path, ui="upstream", node=str(tmp_path / "node"))
    assert "node=" in message and "is not an executable file" in message and "fix:" in message


def test_a_host_compiler_path_that_is_not_executable(tmp_path):
    message = refused(tmp_path, cc=str(tmp_path / "gcc"))
    assert f"compiler '{tmp_path / 'gcc'}' (from cc=/cxx=): is not an executable file" in message and "fix:" in message


def test_a_cosmocc_path_that_does_not_exist(tmp_path):
    message = refused(tmp_path, toolchain="cosmocc", cosmocc=str(tmp_path / "cosmocc-4.0.2.zip"), cpu="multi")
    assert "no such file or directory" in message and "expected: cosmocc-4.0.2.zip or the directory" in message
