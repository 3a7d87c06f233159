"""What survives a spot reclaim: the planned graph with every spot node group gone.

Nodes are the on-demand GPU node groups at their minimum (baseline) size, with the GPUs of their
instance type; pods are the planned Deployments' replicas with their node selectors and GPU
requests. Pods that select spot nodes are lost; the others are packed onto the remaining nodes
(a pod never spans nodes). The result is the replicas, and tokens/s, each model keeps.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.catalog import gpu_instances
from infra.config import CAPACITY_TYPE_LABEL, POOL_LABEL


@dataclass(frozen=True)
class Survivor:
    release: str
    replicas_planned: int
    replicas_after_spot_loss: int


def on_demand_nodes(resources) -> dict[str, list[int]]:
    """Per pool, the GPUs of each on-demand node that runs at the baseline."""
    pools: dict[str, list[int]] = {}
    for r in resources:
        if r.type == "aws:eks/nodeGroup:NodeGroup" and r.inputs["capacityType"] == "ON_DEMAND" and POOL_LABEL in r.inputs["labels"]:
            gpus = gpu_instances()[r.inputs["instanceTypes"][0]].gpus
            pools.setdefault(r.inputs["labels"][POOL_LABEL], []).extend([gpus] * r.inputs["scalingConfig"]["minSize"])
    return pools


def gpu_pods(manifests) -> list[tuple[str, str, str, int, int]]:
    """(release, pool, capacity type, GPUs per pod, replicas) of every GPU Deployment; an autoscaled
    Deployment counts its ScaledObject's minimum."""
    pods = []
    for release, objects in manifests.items():
        scaled_minimum = {o["spec"]["scaleTargetRef"]["name"]: o["spec"]["minReplicaCount"] for o in objects if o["kind"] == "ScaledObject"}
        for obj in objects:
            if obj["kind"] != "Deployment":
                continue
            spec = obj["spec"]["template"]["spec"]
            selector = spec.get("nodeSelector", {})
            gpus = sum(int(c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0)) for c in spec["containers"])
            if gpus and POOL_LABEL in selector:
                replicas = obj["spec"].get("replicas", scaled_minimum.get(obj["metadata"]["name"], 0))
                pods.append((release, selector[POOL_LABEL], selector.get(CAPACITY_TYPE_LABEL, "any"), gpus, replicas))
    return pods


def after_spot_loss(resources, manifests) -> dict[str, Survivor]:
    free = {pool: list(nodes) for pool, nodes in on_demand_nodes(resources).items()}
    planned: dict[str, int] = {}
    kept: dict[str, int] = {}
    # Pods pinned to on-demand first (they were there before the reclaim), then any that may move.
    for release, pool, capacity, gpus, replicas in sorted(gpu_pods(manifests), key=lambda p: p[2] != "on-demand"):
        planned[release] = planned.get(release, 0) + replicas
        kept.setdefault(release, 0)
        if capacity == "spot":
            continue
        for _ in range(replicas):
            node = next((i for i, left in enumerate(free.get(pool, [])) if left >= gpus), None)
            if node is None:
                break
            free[pool][node] -= gpus
            kept[release] += 1
    return {release: Survivor(release, planned[release], kept[release]) for release in planned}
