"""Catalogs as data: GPU instance types, model architectures, hosted API prices, platform prices and
pinned third-party Helm charts, each with its source in the YAML files beside this module.

This module only loads and types them. Stack config may override numbers (see
`infra.config.CatalogOverrides`); `with_overrides` applies them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import yaml

_HERE = Path(__file__).parent
GIB = 2**30


@dataclass(frozen=True)
class GpuInstance:
    """One EC2 instance type with NVIDIA GPUs."""

    instance_type: str
    gpu: str  # GPU model, e.g. "L40S"; also the value of the node label llm-serving/gpu
    gpus: int  # GPUs per node
    gpu_memory_gb: int  # per GPU, as AWS publishes it
    gpu_memory_gib: float  # per GPU, as the driver reports it (what --gpu-memory-utilization applies to)
    bandwidth_gbs: float  # per GPU
    bf16_tflops: float  # per GPU, dense
    on_demand_usd_hour: float | None
    spot_discount: float  # fraction off the on-demand price

    @property
    def spot_usd_hour(self) -> float | None:
        return None if self.on_demand_usd_hour is None else self.on_demand_usd_hour * (1 - self.spot_discount)


@dataclass(frozen=True)
class ModelArchitecture:
    """The shape of a transformer, as its config.json gives it."""

    params: int
    active_params: int
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tied_embeddings: bool
    max_context: int


@dataclass(frozen=True)
class Checkpoint:
    architecture: str
    weight_bits: int
    gated: bool = False  # Hugging Face serves it only to an accepted account's token


@dataclass(frozen=True)
class ApiPrice:
    """A hosted API's price in USD per million tokens."""

    input: float
    output: float

    def blended(self, input_share: float) -> float:
        return self.input * input_share + self.output * (1 - input_share)


@dataclass(frozen=True)
class PlatformPrices:
    eks_cluster_hour: float
    nat_gateway_hour: float
    instances: dict[str, float]


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
            gpu_memory_gib=gpus[spec["gpu"]]["memory_mib"] / 1024,
            bandwidth_gbs=gpus[spec["gpu"]]["bandwidth_gbs"],
            bf16_tflops=gpus[spec["gpu"]]["bf16_tflops"],
            on_demand_usd_hour=spec["on_demand_usd_hour"],
            spot_discount=data["spot_discount"],
        )
        for name, spec in data["instances"].items()
    }


@cache
def model_architectures() -> dict[str, ModelArchitecture]:
    return {
        name: ModelArchitecture(**{k: v for k, v in spec.items() if k != "source"})
        for name, spec in _load("models.yaml")["architectures"].items()
    }


@cache
def checkpoints() -> dict[str, Checkpoint]:
    return {repo: Checkpoint(**spec) for repo, spec in _load("models.yaml")["checkpoints"].items()}


@cache
def api_prices() -> dict[str, ApiPrice]:
    return {name: ApiPrice(input=spec["input"], output=spec["output"]) for name, spec in _load("api_prices.yaml").items()}


@cache
def platform_prices() -> PlatformPrices:
    data = _load("platform_prices.yaml")
    return PlatformPrices(eks_cluster_hour=data["eks_cluster_hour"], nat_gateway_hour=data["nat_gateway_hour"], instances=dict(data["instances"]))


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


def with_overrides(instance: GpuInstance, on_demand_usd_hour: float | None, spot_discount: float | None) -> GpuInstance:
    """An instance type's entry with the prices a stack overrides."""
    return replace(
        instance,
        on_demand_usd_hour=instance.on_demand_usd_hour if on_demand_usd_hour is None else on_demand_usd_hour,
        spot_discount=instance.spot_discount if spot_discount is None else spot_discount,
    )
