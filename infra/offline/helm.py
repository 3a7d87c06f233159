"""Render our local charts with the real `helm` binary, with exactly the values the program registered.

Under Pulumi mocks a `kubernetes:helm.sh/v4:Chart` is one resource with inputs `chart`, `name`,
`namespace` and `values`; the provider would render it at deploy time. The offline plan and the
tests render it here instead, the same way (`helm template`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

KUBE_VERSION = "1.33.0"  # what `helm template` reports as the cluster version (Capabilities)


class HelmError(Exception):
    pass


def helm_binary() -> str:
    """The helm the project's set-up installed next to its Python, or one on PATH."""
    beside_python = Path(sys.executable).parent / "helm"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("helm")
    if not found:
        raise HelmError("no helm binary: run `make plan-setup` (puts helm in .venv/bin)")
    return found


def is_local_chart(chart: str) -> bool:
    """A chart input that is a folder of ours (paths are relative to the working directory)."""
    return (Path(chart) / "Chart.yaml").is_file()


def _run(args: list[str]) -> str:
    result = subprocess.run([helm_binary(), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HelmError(result.stderr.strip() or result.stdout.strip())
    return result.stdout


def _with_values_file(values: dict[str, Any], action):
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump(values, handle)
        handle.flush()
        return action(handle.name)


def template(chart: str, release: str, namespace: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The Kubernetes objects `helm template` renders for a release, in order."""
    text = _with_values_file(
        values,
        lambda path: _run(["template", release, chart, "--namespace", namespace, "--kube-version", KUBE_VERSION, "--values", path]),
    )
    return [doc for doc in yaml.safe_load_all(text) if doc]


def lint(chart: str, values: dict[str, Any]) -> str:
    return _with_values_file(values, lambda path: _run(["lint", "--strict", chart, "--values", path]))
