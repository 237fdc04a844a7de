"""Adding a toolchain is one module plus one registry line: a module from a temporary directory
is accepted by the variables, toolchain=auto's rule, the checks before fetching and the set-up."""

import json
import os
import textwrap

import pytest
from SCons.Environment import Environment

import build_options
import build_plan
from conftest import REPO
from lsone.errors import InputError
from lsone.inputs.store import Store
from steps import Plan
from toolchains import ENV_KEYS, MODULES_DIR, REGISTRY, Registry

# A toolchain for several targets, with its own variable; only this file knows it.
MINI = '''
from lsone.errors import InputError
from steps import Toolchain
from toolchains import ToolchainIdentity, ToolchainModule

TARGETS = {"linux-x86_64": ["x86_64"], "linux-aarch64": ["aarch64"]}


class Mini(ToolchainModule):
    name = "mini"
    description = "a test's toolchain"
    variables = (("target", "mini: what to build for", "linux-x86_64"),)
    cpu_settings = ("portable", "performant")
    refused_cpu = {"native": "It cross-compiles."}
    auto_cpu = "portable"

    def at_hand(self, values, lock, store):
        return values.get("target") == "linux-aarch64"

    def check(self, values, repo, store, lock):
        if values["target"] not in TARGETS:
            raise InputError(f"target={values['target']}", "not a target of toolchain=mini",
                             expected=", ".join(TARGETS), found=values["target"], fix="pick one of those")

    def cpu_flags(self, cpu, arch):
        return [f"-mini-{cpu}-{arch}"]

    def configure(self, env, values, realised, cpu):
        env.Replace(CC="mini-cc", CXX="mini-c++", LINK="mini-c++", AR="mini-ar", ARFLAGS="rcsD", CFLAGS=[],
                    CXXFLAGS=[], CCFLAGS=["-O3"], CPPDEFINES=[], LINKFLAGS=[])
        arches = TARGETS[values["target"]]
        return Toolchain(self.name, self, ToolchainIdentity({"kind": "mini", "cpu": cpu}), cpu, arches,
                         label=values["target"], build_root="#build/mini",
                         cpu_flags=[f for arch in arches for f in self.cpu_flags(cpu, arch)])


TOOLCHAIN = Mini()
'''


@pytest.fixture
def registry(tmp_path):
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "mini.py").write_text(textwrap.dedent(MINI))
    return Registry(dict(REGISTRY, mini="mini"), module_dirs=(MODULES_DIR, str(modules)))  # the one line


def values_for(registry, **args):
    """The variables as SConstruct declares and reads them."""
    variables = build_options.declare_variables(args, registry)
    env = Environment(variables=variables, tools=[])
    assert variables.UnknownVariables() == {}
    return {key: env[key] for key in variables.keys()}, env


def test_a_new_module_brings_its_name_and_its_variables(registry):
    values, _ = values_for(registry, toolchain="mini", target="linux-aarch64")
    assert values["toolchain"] == "mini" and values["target"] == "linux-aarch64"
    assert values["cosmocc"] == "" and values["cc"] == ""  # the others' variables stay declared


def test_the_checks_accept_it_and_apply_its_rules_before_any_fetch(registry, tmp_path):
    store = Store(str(tmp_path / "store"))
    values, _ = values_for(registry, toolchain="mini", target="linux-aarch64", ui="none")
    plan = build_plan.checked(values, REPO, store, registry, log=lambda m: None)
    assert (plan.toolchain, plan.cpu) == ("mini", "portable")  # cpu=auto is the module's own default
    with pytest.raises(InputError) as e:
        build_plan.checked(dict(values, cpu="native"), REPO, store, registry)
    assert str(e.value).startswith("cpu=native: refused with toolchain=mini. It cross-compiles.")
    assert "fix:      cpu=portable (" in str(e.value)
    with pytest.raises(InputError) as e:
        build_plan.checked(dict(values, target="windows-mips"), REPO, store, registry)
    assert "target=windows-mips: not a target of toolchain=mini" in str(e.value)
    assert "expected: linux-x86_64, linux-aarch64" in str(e.value)
    assert not os.path.exists(store.root)  # nothing was fetched, nothing was even made


def test_auto_is_one_rule_over_the_registry(registry, tmp_path):
    first = Registry(dict(mini="mini", **REGISTRY), module_dirs=registry.module_dirs)
    store, notes = Store(str(tmp_path / "store")), []
    values, _ = values_for(first, target="linux-aarch64", ui="none")
    assert build_plan.checked(values, REPO, store, first, log=notes.append).toolchain == "mini"
    values, _ = values_for(first, target="linux-x86_64", ui="none")  # mini is not at hand: the next one
    assert build_plan.checked(values, REPO, store, first, log=notes.append).toolchain in REGISTRY


def test_set_up_checks_the_env_keys_it_must_set(registry):
    values, env = values_for(registry, toolchain="mini", target="linux-aarch64")
    plan = Plan("mini", "performant", values)
    toolchain = registry.configure(env, plan, None)
    assert toolchain.arches == ["aarch64"] and toolchain.cpu_flags == ["-mini-performant-aarch64"]
    assert all(env.get(key) is not None for key in ENV_KEYS)
    assert '"kind": "mini"' in toolchain.general_node.read() and '"cpu"' not in toolchain.general_node.read()
    forgetful = registry.get("mini")
    original = forgetful.configure

    def without_ar(env, *args):
        result = original(env, *args)
        del env["AR"]
        return result
    forgetful.configure = without_ar
    with pytest.raises(InputError) as e:
        registry.configure(Environment(tools=[]), plan, None)
    assert "toolchain=mini: its tool did not set what the build needs" in str(e.value)
    assert "found:    missing AR" in str(e.value)


def test_host_identity_record_holds_no_machine_paths_but_the_signature_does():
    """cpu=multi on host: cc, cxx, ld and objcopy are identified by version and sha256 only."""
    env = Environment(tools=[])
    toolchain = Registry().get("host").configure(env, {"cc": "", "cxx": ""}, None, "multi")
    identity = toolchain.identity
    assert set(identity.located) == {"cc", "cxx", "ld", "objcopy"}
    record = json.dumps(identity.record)
    for role, path in identity.located.items():
        assert os.path.isabs(path) and path not in record
        assert identity.record[role]["sha256"] and identity.signature()[role]["path"] == path
    assert "ld" not in identity.general_signature() and "cc" in identity.general_signature()
