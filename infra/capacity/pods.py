"""The pods a stack runs and what each one requests, defined once: per Deployment its replicas, CPU,
memory and GPUs, where it may run (a pool's on-demand nodes, a pool with spot preferred, or the
system nodes) and the stack config key it comes from.

Placement (infra/capacity/placement.py) places these; the program renders the same requests into
the charts' values (infra/serving, infra/cluster_services/monitoring.py), so what the plan proves
fits is what Kubernetes is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from infra.capacity.sizing import ModelSizing
from infra.catalog import cluster_pods
from infra.config.stack import StackConfig
from infra.names import EMBEDDINGS_RELEASE, ROUTER_RELEASE

Capacity = Literal["on-demand", "spot", "system"]


@dataclass(frozen=True)
class Requests:
    """What one replica requests from its node: CPU in millicores, memory in MiB, GPUs."""

    cpu_m: int
    memory_mib: int
    gpus: int = 0

    def values(self) -> dict[str, str]:
        """The Kubernetes quantities, as chart values take them."""
        return {"cpu": f"{self.cpu_m}m", "memory": f"{self.memory_mib}Mi"}


# vLLM, per GPU of a replica: the API server, tokenizer and one worker process per GPU.
VLLM_CPU_PER_GPU_M = 2000
VLLM_MEMORY_PER_GPU_MIB = 8192
# TEI: on a GPU, one GPU per replica; on CPU, on the system nodes. 1 CPU requested (no CPU limit, so a
# replica uses idle cores): a 2-vCPU system node (1.93 allocatable) holds it beside the cluster's pods.
TEI_ON_GPU = Requests(2000, 8192, 1)
TEI_ON_CPU = Requests(1000, 4096)
ROUTER = Requests(500, 1024)
# Monitoring on the system nodes (kube-prometheus-stack): Prometheus's memory grows with its series.
PROMETHEUS = Requests(500, 2048)
ALERTMANAGER = Requests(50, 128)
GRAFANA = Requests(100, 256)


@dataclass(frozen=True)
class Workload:
    """One Deployment (or one group of cluster pods) as placement sees it."""

    name: str  # the Deployment's name
    release: str  # the Helm release (a model's name, "embeddings", "router", ...)
    requests: Requests
    replicas: int  # configured
    max_replicas: int  # at full spot scale-out (the autoscaler's maximum)
    pool: str | None  # None: the system nodes
    capacity: Capacity  # on-demand: pinned to the pool's on-demand nodes; spot: the pool, spot preferred
    floor: bool  # must be placed at deploy: a ConfigError otherwise
    origin: tuple[str | int, ...]  # the stack config key that sets its replicas
    model: str | None = None  # the model it serves (capacity counts its placed replicas)


def vllm_requests(tensor_parallel: int) -> Requests:
    return Requests(VLLM_CPU_PER_GPU_M * tensor_parallel, VLLM_MEMORY_PER_GPU_MIB * tensor_parallel, tensor_parallel)


def model_workloads(config: StackConfig, sizing: Sequence[ModelSizing]) -> list[Workload]:
    workloads = []
    for i, (model, s) in enumerate(zip(config.models, sizing, strict=True)):
        requests = vllm_requests(s.tensor_parallel)
        spot_max = max(model.replicas.spot, model.autoscaling.max_spot_replicas) if model.autoscaling.enabled else model.replicas.spot
        workloads.append(
            Workload(f"{model.name}-on-demand", model.name, requests, model.replicas.baseline, model.replicas.baseline, model.pool, "on-demand", True, ("models", i, "replicas", "baseline"), model.name)
        )
        workloads.append(Workload(f"{model.name}-spot", model.name, requests, model.replicas.spot, spot_max, model.pool, "spot", False, ("models", i, "replicas", "spot"), model.name))
    return workloads


def embeddings_workload(config: StackConfig) -> Workload | None:
    embeddings = config.embeddings
    if not embeddings.enabled:
        return None
    replicas = embeddings.replicas
    if embeddings.pool is None:
        return Workload(EMBEDDINGS_RELEASE, EMBEDDINGS_RELEASE, TEI_ON_CPU, replicas, replicas, None, "system", True, ("embeddings", "replicas"))
    on_demand = embeddings.capacity_type == "on-demand"
    return Workload(EMBEDDINGS_RELEASE, EMBEDDINGS_RELEASE, TEI_ON_GPU, replicas, replicas, embeddings.pool, embeddings.capacity_type, on_demand, ("embeddings", "replicas"))


def system_workloads(config: StackConfig) -> list[Workload]:
    """The router, monitoring and the cluster's own pods on the system nodes."""
    workloads = []
    if config.fallback.enabled:
        workloads.append(Workload(ROUTER_RELEASE, ROUTER_RELEASE, ROUTER, config.fallback.replicas, config.fallback.replicas, None, "system", True, ("fallback", "replicas")))
    if config.monitoring.enabled:
        parts = [("prometheus", PROMETHEUS), ("alertmanager", ALERTMANAGER)] + ([("grafana", GRAFANA)] if config.monitoring.grafana else [])
        workloads += [Workload(name, "kube-prometheus-stack", requests, 1, 1, None, "system", True, ("monitoring",)) for name, requests in parts]
    keda = any(m.autoscaling.enabled for m in config.models)
    for pod in cluster_pods().system:
        if pod.when == "always" or (pod.when == "keda" and keda):
            workloads.append(Workload(pod.name, pod.name, Requests(pod.cpu_m, pod.memory_mib), pod.replicas, pod.replicas, None, "system", True, ("systemNodes",)))
    return workloads


def workloads_of(config: StackConfig, sizing: Sequence[ModelSizing]) -> tuple[Workload, ...]:
    """Every Deployment of the stack, system pods first, then per model its on-demand and spot ones, then TEI."""
    embeddings = embeddings_workload(config)
    return tuple(system_workloads(config) + model_workloads(config, sizing) + ([embeddings] if embeddings else []))
