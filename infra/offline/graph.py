"""Reading placement back from the planned graph: the GPU node groups the program registers (types,
sizes, labels, and the autoscaler's expander priorities) and the GPU Deployments the charts render
(requests, replicas, node selection), as placement takes them. Tests place these with the same
algorithm and check the result equals the deployment model's: what Kubernetes is asked for is what
the plan placed."""

from __future__ import annotations

import re

from infra.capacity.nodes import DEFAULT_PRIORITY, NodeGroup, gpu_group
from infra.capacity.pods import Requests, Workload
from infra.catalog import gpu_instances
from infra.names import CAPACITY_TYPE_LABEL, POOL_LABEL

UNITS_MIB = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024**2}


def cpu_m(quantity: str | int) -> int:
    text = str(quantity)
    return int(text[:-1]) if text.endswith("m") else int(float(text) * 1000)


def memory_mib(quantity: str) -> int:
    return int(float(quantity[:-2]) * UNITS_MIB[quantity[-2:]])


def expander_priorities(resources) -> dict[str, int]:
    """The Cluster Autoscaler's priority expander: node group name pattern -> priority."""
    (chart,) = [r for r in resources if r.type == "kubernetes:helm.sh/v4:Chart" and r.inputs.get("chart") == "cluster-autoscaler"]
    return {pattern: int(priority) for priority, patterns in chart.inputs["values"]["expanderPriorities"].items() for pattern in patterns}


def gpu_node_groups(resources) -> list[NodeGroup]:
    """Every GPU node group, with the priority the expander gives its ASG (named eks-<group>-<uuid>)."""
    priorities = expander_priorities(resources)
    groups = []
    for r in resources:
        if r.type != "aws:eks/nodeGroup:NodeGroup" or POOL_LABEL not in r.inputs["labels"]:
            continue
        asg = f"eks-{r.inputs['nodeGroupName']}-0000"
        priority = max((p for pattern, p in priorities.items() if re.fullmatch(pattern, asg)), default=DEFAULT_PRIORITY)
        scaling, labels = r.inputs["scalingConfig"], r.inputs["labels"]
        gpus = gpu_instances()[r.inputs["instanceTypes"][0]].gpus
        groups.append(gpu_group(labels[POOL_LABEL], labels[CAPACITY_TYPE_LABEL], r.inputs["instanceTypes"], gpus, scaling["minSize"], scaling["maxSize"], priority))
    return groups


def node_selection(spec: dict) -> tuple[str, str]:
    """(pool, capacity): pinned to on-demand by nodeSelector, or spot preferred by node affinity."""
    selector = spec.get("nodeSelector", {})
    if CAPACITY_TYPE_LABEL in selector:
        return selector[POOL_LABEL], selector[CAPACITY_TYPE_LABEL]
    preferred = spec["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    (expression,) = [e for term in preferred for e in term["preference"]["matchExpressions"] if e["key"] == CAPACITY_TYPE_LABEL]
    return selector[POOL_LABEL], expression["values"][0]


def gpu_workloads(manifests) -> list[Workload]:
    """Every GPU Deployment; an autoscaled Deployment runs its ScaledObject's minimum and scales to its maximum."""
    workloads = []
    for release, objects in manifests.items():
        scaled = {o["spec"]["scaleTargetRef"]["name"]: o["spec"] for o in objects if o["kind"] == "ScaledObject"}
        for obj in objects:
            spec = obj["spec"]["template"]["spec"] if obj["kind"] == "Deployment" else None
            if spec is None or POOL_LABEL not in spec.get("nodeSelector", {}):
                continue
            requests = [c["resources"]["requests"] for c in spec["containers"]]
            total = Requests(sum(cpu_m(r["cpu"]) for r in requests), sum(memory_mib(r["memory"]) for r in requests), sum(int(r.get("nvidia.com/gpu", 0)) for r in requests))
            name = obj["metadata"]["name"]
            replicas = obj["spec"].get("replicas", scaled.get(name, {}).get("minReplicaCount", 0))
            most = scaled[name]["maxReplicaCount"] if name in scaled else replicas
            pool, capacity = node_selection(spec)
            workloads.append(Workload(name, release, total, replicas, most, pool, capacity, capacity == "on-demand", ()))
    return workloads
