"""./test, the README's test command: it installs what is missing, or names it, then runs pytest."""

import os
import subprocess
import sys

from conftest import REPO

TEST = os.path.join(REPO, "test")


def load_table():
    from importlib.machinery import SourceFileLoader
    from importlib.util import module_from_spec, spec_from_loader
    loader = SourceFileLoader("test_command", TEST)
    module = module_from_spec(spec_from_loader("test_command", loader))
    loader.exec_module(module)
    return module.DEBIAN_PACKAGES


def command_packages():
    """The packages found by a command on PATH (the file-glob rows do not depend on PATH)."""
    return list(dict.fromkeys(package for probe, package, _why in load_table() if "/" not in probe))


def run_test_command(tmp_path, *args):
    """./test with only python3 on PATH, plus what tmp_path/bin holds."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    os.symlink(sys.executable, bin_dir / "python3")
    env = dict(os.environ, PATH=str(bin_dir))
    return subprocess.run([sys.executable, TEST, *args], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=300)


def test_where_it_cannot_install_it_names_every_missing_package_and_runs_pytest(tmp_path):
    result = run_test_command(tmp_path, "--collect-only", "-q", "tests/unit/test_pins.py")
    assert result.returncode == 0, result.stderr
    assert "cannot install Debian packages here" in result.stderr
    for package in command_packages():
        assert f"  {package}: " in result.stderr
    assert "python3 -m pytest tests/unit" in result.stderr  # the quick tier, for such machines
    assert "test_pins.py::" in result.stdout  # pytest ran, from the checkout, with the arguments given


def test_it_asks_apt_get_for_exactly_the_missing_packages(tmp_path):
    """A recording apt-get stands in for Debian's (the real one would change this machine)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt-get.log"
    (bin_dir / "apt-get").write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    (bin_dir / "apt-get").chmod(0o755)
    os.symlink("/usr/bin/env", bin_dir / "env")
    os.symlink("/bin/echo", bin_dir / "chromium")  # present: must not be asked for
    if os.geteuid() != 0:
        os.symlink("/usr/bin/env", bin_dir / "sudo")  # sudo CMD... runs CMD
    result = run_test_command(tmp_path, "--collect-only", "-q", "tests/unit/test_pins.py")
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "update -q"
    asked = calls[1].split()
    assert asked[:3] == ["install", "-y", "-q"]
    assert set(command_packages()) - {"chromium"} <= set(asked[3:])
    assert "chromium" not in asked[3:]
    assert len(asked[3:]) == len(set(asked[3:]))  # each package once (gcc and g++ are one package)
