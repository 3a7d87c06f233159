"""Catalogs as data: GPU instance types and pinned third-party Helm charts, each with its source.

The numbers live in the YAML files beside this module; this module only loads and types them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

_HERE = Path(__file__).parent


@dataclass(frozen=True)
class GpuInstance:
    """One EC2 instance type with NVIDIA GPUs."""

    instance_type: str
    gpu: str  # GPU model, e.g. "L40S"; also the value of the node label llm-serving/gpu
    gpus: int  # GPUs per node
    gpu_memory_gb: int  # per GPU, as AWS publishes it
    on_demand_usd_hour: float | None


@dataclass(frozen=True)
class HelmChartRef:
    """A third-party chart pinned by repository and version."""

    repo: str
    chart: str
    version: str
    image_tags: dict[str, str]


def _load(name: str) -> dict:
    return yaml.safe_load((_HERE / name).read_text())


@cache
def gpu_instances() -> dict[str, GpuInstance]:
    data = _load("gpu_instances.yaml")
    gpus = data["gpus"]
    return {
        name: GpuInstance(
            instance_type=name,
            gpu=spec["gpu"],
            gpus=spec["gpus"],
            gpu_memory_gb=gpus[spec["gpu"]]["memory_gb"],
            on_demand_usd_hour=spec["on_demand_usd_hour"],
        )
        for name, spec in data["instances"].items()
    }


@cache
def helm_charts() -> dict[str, HelmChartRef]:
    return {
        key: HelmChartRef(
            repo=spec["repo"],
            chart=spec["chart"],
            version=str(spec["version"]),
            image_tags={str(k): v for k, v in spec.get("image_tags", {}).items()},
        )
        for key, spec in _load("helm_charts.yaml").items()
    }
