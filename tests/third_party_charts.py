"""Render the pinned third-party charts the program installs, with exactly the values it passes, from a folder of
renderable chart sources named by LLM_SERVING_THIRD_PARTY_CHARTS (one `<chart>-<version>/` per pin; CI points it
at the shared reference). Small on purpose: the plan itself is gaining third-party rendering, and this helper
then gives way to it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from infra.offline import helm
from infra.offline.mocks import unwrap_secrets
from infra.offline.plan import Plan

ENV = "LLM_SERVING_THIRD_PARTY_CHARTS"


def charts_folder() -> Path:
    """The folder of chart sources, or a skip saying why there is none."""
    folder = os.environ.get(ENV)
    if not folder:
        pytest.skip(f"{ENV} is not set: no renderable sources of the pinned third-party charts (CI sets it; or `helm pull` each pin into a folder)")
    return Path(folder)


def render_third_party(plan: Plan, folder: Path) -> dict[str, list[dict[str, Any]]]:
    """release -> the objects `helm template` renders for each third-party chart of the plan."""
    rendered = {}
    for resource in plan.resources:
        if resource.type != "kubernetes:helm.sh/v4:Chart" or "repositoryOpts" not in resource.inputs:
            continue
        inputs = unwrap_secrets(resource.inputs, mask=False)
        source = folder / f"{inputs['chart']}-{inputs['version']}"
        assert (source / "Chart.yaml").is_file(), f"{source} missing: the pinned chart {inputs['chart']} {inputs['version']} is not in {folder}"
        rendered[inputs["name"]] = helm.template(str(source), inputs["name"], inputs["namespace"], inputs["values"])
    return rendered
