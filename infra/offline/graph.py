"""Reading capacity back from the planned graph: the on-demand node groups and the rendered GPU
Deployments, as the spot-loss arithmetic takes them. Tests use it to prove that what the program
registers and the charts render is what the deployment model assumed."""

from __future__ import annotations

from infra.capacity.resilience import GpuPods
from infra.catalog import gpu_instances
from infra.names import CAPACITY_TYPE_LABEL, POOL_LABEL


def on_demand_nodes(resources) -> dict[str, list[int]]:
    """Per pool, the GPUs of each on-demand node that runs at the baseline."""
    pools: dict[str, list[int]] = {}
    for r in resources:
        if r.type == "aws:eks/nodeGroup:NodeGroup" and r.inputs["capacityType"] == "ON_DEMAND" and POOL_LABEL in r.inputs["labels"]:
            gpus = gpu_instances()[r.inputs["instanceTypes"][0]].gpus
            pools.setdefault(r.inputs["labels"][POOL_LABEL], []).extend([gpus] * r.inputs["scalingConfig"]["minSize"])
    return pools


def gpu_pods(manifests) -> list[GpuPods]:
    """Every GPU Deployment; an autoscaled Deployment counts its ScaledObject's minimum."""
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
                pods.append(GpuPods(release, selector[POOL_LABEL], selector.get(CAPACITY_TYPE_LABEL, "any"), gpus, replicas))
    return pods
