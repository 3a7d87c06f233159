"""Catalogs as data: GPU instance types, dated spot prices, node shapes (vCPUs, memory, max pods, and the
pods the cluster runs on every node), model architectures, hosted API prices, platform prices, published
throughput measurements (and the model constants fitted on them), pinned third-party Helm charts, EKS
Kubernetes versions and the cold-start figures, each with its source in the YAML files beside this module.

This module only loads and types them. Stack config may override numbers (see
`infra.config.economics.CatalogOverrides`); `with_overrides` applies them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
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
    vcpus: int  # what the EC2 vCPU quotas count
    accelerator_label: str  # value of k8s.amazonaws.com/accelerator (the Cluster Autoscaler's GPU label)
    gpu_memory_gb: int  # per GPU, as AWS publishes it
    gpu_memory_gib: float  # per GPU, as the driver reports it (what --gpu-memory-utilization applies to)
    bandwidth_gbs: float  # per GPU
    bf16_tflops: float  # per GPU, dense
    fp8_tflops: float | None  # per GPU, dense; None: no FP8 tensor cores (Ampere)
    on_demand_usd_hour: float | None
    spot_usd_hour: float | None = None  # None: no recorded spot price for the region
    spot_price_source: str = "none recorded"
    network_gbps: float = 0.0  # baseline network bandwidth, Gbit/s
    ebs_mbps: int = 0  # EBS bandwidth, Mbit/s
    instance_store_gb: int = 0  # NVMe instance store, all disks, GB (0: none)

    @property
    def quota_family(self) -> str:
        """The EC2 vCPU quota family the instance counts against: "G" (G and VT) or "P"."""
        return self.instance_type[0].upper()

    @property
    def spot_discount(self) -> float | None:
        if self.spot_usd_hour is None or not self.on_demand_usd_hour:
            return None
        return 1 - self.spot_usd_hour / self.on_demand_usd_hour


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
    kv_latent_dim: int | None = None  # MLA: cached latent per layer and token, not split by tensor parallel
    experts: int | None = None  # MoE: routed experts per layer
    experts_per_token: int | None = None

    def expert_share_read(self, batch: int) -> float:
        """Share of the weights a decode step of `batch` sequences reads: the dense part plus the routed
        experts its tokens touch, 1 - (1 - k/E)^batch of them (uniform routing)."""
        if not self.is_moe:
            return 1.0
        if not self.experts or not self.experts_per_token:
            return min(1.0, self.active_params / self.params * batch)
        routed = self.experts_per_token / self.experts
        expert_params = (self.params - self.active_params) / (1 - routed)  # total = dense + experts; active = dense + routed x experts
        dense = self.params - expert_params
        return (dense + expert_params * (1 - (1 - routed) ** batch)) / self.params

    @property
    def is_moe(self) -> bool:
        return self.active_params < self.params


@dataclass(frozen=True)
class Checkpoint:
    architecture: str
    weight_bits: int
    format: str | None = None  # "mxfp4" for gpt-oss; None: AWQ/GPTQ at 4 bits, FP8 at 8, BF16 at 16
    quantization: str | None = None  # quant_method in the checkpoint's config.json; None: unquantized
    gated: bool = False  # Hugging Face serves it only to an accepted account's token


@dataclass(frozen=True)
class SpotPrices:
    """Dated spot prices per region and instance type."""

    read: str
    source: str
    regions: dict[str, dict[str, float]]


@dataclass(frozen=True)
class Measurement:
    """One published throughput measurement (calibration.yaml)."""

    id: str
    engine: str
    engine_version: str
    architecture: str
    weight_bits: int
    precision: str
    gpu: str
    tensor_parallel: int
    prompt_tokens: float
    output_tokens: float
    concurrency: int | None  # None: every request at once
    metric: str  # "output" or "total"
    value: float
    source: str
    date: str
    max_num_seqs: int | None = None


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
    eks_cluster_hour_extended_support: float
    nat_gateway_hour: float
    instances: dict[str, float]


@dataclass(frozen=True)
class HelmChartRef:
    """A third-party chart pinned by repository and version."""

    repo: str
    chart: str
    version: str



@dataclass(frozen=True)
class ImagePin:
    """A container image the kit runs (images.yaml): repository and tag, the engine version where one matters."""

    repository: str
    tag: str = ""
    version: str = ""
    tags_by_gpu: dict[str, str] | None = None  # images built per GPU architecture ("cpu" for none)
    source: str = ""

    def tag_for(self, gpu: str | None) -> str:
        return (self.tags_by_gpu or {})[gpu or "cpu"] if self.tags_by_gpu else self.tag


@cache
def image_pins() -> dict[str, ImagePin]:
    return {name: ImagePin(**spec) for name, spec in _load("images.yaml").items()}


@dataclass(frozen=True)
class NodeShape:
    """What one node of an instance type offers before Kubernetes reserves its share."""

    instance_type: str
    vcpu: int
    memory_mib: int
    eni_max_pods: int  # pods the VPC CNI can address (ENIs x (IPv4 per ENI - 1) + 2)


@dataclass(frozen=True)
class ClusterPod:
    """A pod the cluster runs besides the kit's own: its requests, replicas, and when it runs."""

    name: str
    cpu_m: int
    memory_mib: int
    replicas: int = 1
    when: str = "always"  # "always", or the feature it comes with ("keda")


@dataclass(frozen=True)
class ClusterPods:
    daemonsets: tuple[ClusterPod, ...]  # every node
    gpu_daemonsets: tuple[ClusterPod, ...]  # GPU nodes only
    system: tuple[ClusterPod, ...]  # Deployments on the system nodes


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
            vcpus=spec["vcpus"],
            accelerator_label=gpus[spec["gpu"]]["accelerator_label"],
            gpu_memory_gb=gpus[spec["gpu"]]["memory_gb"],
            gpu_memory_gib=gpus[spec["gpu"]]["memory_mib"] / 1024,
            bandwidth_gbs=gpus[spec["gpu"]]["bandwidth_gbs"],
            bf16_tflops=gpus[spec["gpu"]]["bf16_tflops"],
            fp8_tflops=gpus[spec["gpu"]]["fp8_tflops"],
            on_demand_usd_hour=spec["on_demand_usd_hour"],
            network_gbps=spec["network_gbps"],
            ebs_mbps=spec["ebs_mbps"],
            instance_store_gb=spec["instance_store_gb"],
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
def spot_prices() -> SpotPrices:
    data = _load("spot_prices.yaml")
    return SpotPrices(read=data["read"], source=data["source"], regions={r: dict(p) for r, p in data["regions"].items()})


def gpu_instance(instance_type: str, region: str) -> GpuInstance:
    """An instance type's entry with the region's recorded spot price (None when none is recorded)."""
    instance = gpu_instances()[instance_type]
    recorded = spot_prices().regions.get(region, {}).get(instance_type)
    if recorded is None:
        return instance
    return replace(instance, spot_usd_hour=recorded, spot_price_source=f"{region} median of zones, read {spot_prices().read}")


@cache
def measurements() -> tuple[Measurement, ...]:
    return tuple(Measurement(**row) for row in _load("calibration.yaml")["measurements"])


@cache
def calibration_fit() -> dict:
    """The throughput model's fitted constants and measured held-out error (calibration_fit.yaml)."""
    return _load("calibration_fit.yaml")


@cache
def api_prices() -> dict[str, ApiPrice]:
    return {name: ApiPrice(input=spec["input"], output=spec["output"]) for name, spec in _load("api_prices.yaml").items()}


@cache
def platform_prices() -> PlatformPrices:
    data = _load("platform_prices.yaml")
    return PlatformPrices(eks_cluster_hour=data["eks_cluster_hour"],
        eks_cluster_hour_extended_support=data["eks_cluster_hour_extended_support"],
        nat_gateway_hour=data["nat_gateway_hour"], instances=dict(data["instances"]))


@cache
def node_shapes() -> dict[str, NodeShape]:
    return {name: NodeShape(instance_type=name, **spec) for name, spec in _load("node_shapes.yaml")["instances"].items()}


@cache
def cluster_pods() -> ClusterPods:
    data = _load("node_shapes.yaml")

    def pods(section: str) -> tuple[ClusterPod, ...]:
        return tuple(ClusterPod(name=name, **{k: v for k, v in spec.items() if k != "source"}) for name, spec in data[section].items())

    return ClusterPods(daemonsets=pods("daemonsets"), gpu_daemonsets=pods("gpu_daemonsets"), system=pods("system_pods"))


@cache
def helm_charts() -> dict[str, HelmChartRef]:
    return {
        key: HelmChartRef(
            repo=spec["repo"],
            chart=spec["chart"],
            version=str(spec["version"]),
        )
        for key, spec in _load("helm_charts.yaml").items()
    }


@dataclass(frozen=True)
class Figure:
    """One sourced number of the cold-start estimate."""

    value: float
    source: str


@cache
def cold_start_figures() -> dict[str, Figure]:
    """The cold-start estimate's figures by name (cold_start.yaml), each with its source."""
    return {name: Figure(value=float(spec["value"]), source=" ".join(str(spec["source"]).split())) for name, spec in _load("cold_start.yaml").items()}


def with_overrides(instance: GpuInstance, on_demand_usd_hour: float | None, spot_usd_hour: float | None, spot_discount: float | None) -> GpuInstance:
    """An instance type's entry with the prices a stack overrides: a spot price, or a discount off on-demand."""
    on_demand = instance.on_demand_usd_hour if on_demand_usd_hour is None else on_demand_usd_hour
    instance = replace(instance, on_demand_usd_hour=on_demand)
    if spot_usd_hour is not None:
        return replace(instance, spot_usd_hour=spot_usd_hour, spot_price_source="stack override")
    if spot_discount is not None and on_demand is not None:
        return replace(instance, spot_usd_hour=on_demand * (1 - spot_discount), spot_price_source=f"stack override ({spot_discount:.0%} off on-demand)")
    return instance


@dataclass(frozen=True)
class KubernetesVersion:
    """One EKS Kubernetes minor: its support calendar, autoscaler image and pinned add-on versions."""

    version: str
    released: date
    end_of_standard_support: date
    end_of_extended_support: date
    cluster_autoscaler: str
    addons: dict[str, str | None]  # None: EKS's default for the minor (no build could be sourced)

    def in_standard_support(self, on: date) -> bool:
        return on < self.end_of_standard_support


def default_kubernetes_version(as_of: date) -> str:
    """The newest catalog Kubernetes minor in EKS standard support on `as_of` (what a stack that sets no
    version gets); the newest minor of all when none is (the version check then says why it is refused)."""
    versions = sorted(kubernetes_versions().values(), key=lambda v: v.released)
    supported = [v for v in versions if v.released <= as_of and v.in_standard_support(as_of)]
    return (supported or versions)[-1].version


CATALOG_STALE_DAYS = 183  # about six months


@dataclass(frozen=True)
class CatalogAge:
    """How old one dated catalog file is on a plan's as-of date."""

    file: str
    what: str
    read: date
    age_days: int

    @property
    def stale(self) -> bool:
        return self.age_days > CATALOG_STALE_DAYS

    def to_json(self) -> dict:
        return {"file": self.file, "what": self.what, "read": self.read.isoformat(), "age_days": self.age_days, "stale": self.stale}


def catalog_ages(as_of: date) -> tuple[CatalogAge, ...]:
    """Each dated catalog's read date and age on `as_of` (infra/catalog/read_dates.yaml)."""
    return tuple(CatalogAge(file, entry["what"], entry["read"], (as_of - entry["read"]).days) for file, entry in _load("read_dates.yaml").items())


@cache
def kubernetes_versions() -> dict[str, KubernetesVersion]:
    return {
        str(version): KubernetesVersion(version=str(version), **{k: (dict(v) if k == "addons" else v) for k, v in spec.items()})
        for version, spec in _load("kubernetes_versions.yaml")["versions"].items()
    }
