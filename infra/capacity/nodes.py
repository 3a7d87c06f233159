"""Node groups as placement sees them: what one node of each group offers to pods.

A node's room is its capacity (infra/catalog/node_shapes.yaml) less EKS's kube-reserved share and the
hard-eviction threshold, as nodeadm computes them on AL2023, less what the cluster's DaemonSets
request there; its pod slots are the VPC CNI's max pods, capped as managed node groups cap them. A
group with several instance types is taken at its smallest. GPU groups scale between their minimum
and maximum with the Cluster Autoscaler's priorities (spot first); the system group is not
autoscaled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from infra.capacity.pods import Requests
from infra.catalog import NodeShape, cluster_pods, node_shapes
from infra.config.stack import StackConfig

EVICTION_HARD_MIB = 100  # nodeadm's evictionHard memory.available
SPOT_PRIORITY, DEFAULT_PRIORITY = 50, 10  # the Cluster Autoscaler's expanderPriorities (node_autoscaler.py)


def kube_reserved_cpu_m(vcpu: int) -> int:
    """nodeadm (awslabs/amazon-eks-ami nodeadm/internal/kubelet/config.go): 6 % of the first core,
    1 % of the second, 0.5 % of the third and fourth, 0.25 % of every core above four."""
    shares = [(1, 60), (1, 10), (2, 5)]
    reserved, left = 0.0, vcpu
    for cores, per_core in shares:
        reserved += min(left, cores) * per_core
        left -= min(left, cores)
    return int(reserved + left * 2.5)


def kube_reserved_memory_mib(eni_max_pods: int) -> int:
    """nodeadm: 11 MiB per pod the node's ENIs can address, plus 255 MiB."""
    return 11 * eni_max_pods + 255


def max_pods(shape: NodeShape) -> int:
    """Managed node groups cap max pods at 110 below 30 vCPUs, 250 above (EKS user guide)."""
    return min(shape.eni_max_pods, 110 if shape.vcpu < 30 else 250)


def allocatable(shape: NodeShape, gpus: int, daemonsets: Sequence[Requests]) -> tuple[Requests, int]:
    """What pods other than DaemonSets can request on one node, and its free pod slots."""
    cpu = shape.vcpu * 1000 - kube_reserved_cpu_m(shape.vcpu) - sum(d.cpu_m for d in daemonsets)
    memory = shape.memory_mib - kube_reserved_memory_mib(shape.eni_max_pods) - EVICTION_HARD_MIB - sum(d.memory_mib for d in daemonsets)
    return Requests(cpu, memory, gpus), max_pods(shape) - len(daemonsets)


@dataclass(frozen=True)
class NodeGroup:
    name: str  # "<pool> on-demand", "<pool> spot", "system"
    pool: str | None
    capacity: str  # "on-demand", "spot" or "system"
    instance_type: str  # the smallest of the group's types: what every node is sure to offer
    instance_types: tuple[str, ...]  # every type the group may launch (what the AWS layer registers)
    room: Requests  # per node, after kube-reserved and DaemonSets
    pods: int  # pod slots per node, after DaemonSets
    min_nodes: int
    max_nodes: int
    priority: int
    origin: tuple[str | int, ...] = ()  # the stack config key that picks its instance types


def smallest(types: Sequence[str]) -> NodeShape | None:
    known = [node_shapes()[t] for t in types if t in node_shapes()]
    return min(known, key=lambda s: (s.vcpu, s.memory_mib), default=None)


def daemonset_requests(on_gpu: bool) -> list[Requests]:
    pods = cluster_pods()
    return [Requests(p.cpu_m, p.memory_mib) for p in pods.daemonsets + (pods.gpu_daemonsets if on_gpu else ())]


def gpu_group(pool: str, capacity: str, types: Sequence[str], gpus: int, low: int, high: int, priority: int, origin: tuple = ()) -> NodeGroup:
    """One GPU node group; its nodes are assumed to be the smallest of its types."""
    shape = smallest(types)
    room, slots = allocatable(shape, gpus, daemonset_requests(on_gpu=True))
    return NodeGroup(f"{pool} {capacity}", pool, capacity, shape.instance_type, tuple(types), room, slots, low, high, priority, origin)


def node_groups(config: StackConfig) -> tuple[tuple[NodeGroup, ...], list[str]]:
    """The stack's node groups, as placement simulates them and as the AWS layer registers them (one list,
    computed once), and a warning per group placement cannot model. Per GPU pool: an on-demand group on the
    pool's first (primary) type, for a predictable baseline, and a spot group over all its types unless
    spot.max is 0 (EKS refuses a node group whose maxSize is below 1)."""
    groups, warnings = [], []
    for i, pool in enumerate(config.gpu_pools):
        gpus, origin = config.instance(pool.instance_types[0]).gpus, ("gpuPools", i, "instanceTypes")
        groups.append(gpu_group(pool.name, "on-demand", pool.instance_types[:1], gpus, pool.on_demand.baseline, pool.on_demand.max_nodes, DEFAULT_PRIORITY, origin))
        if pool.spot.max > 0:
            groups.append(gpu_group(pool.name, "spot", pool.instance_types, gpus, pool.spot.min, pool.spot.max, SPOT_PRIORITY, origin))
    system = config.system_nodes
    shape = smallest(system.instance_types)
    if shape is None:
        warnings.append(f"systemNodes: no node shape in the catalog for {', '.join(system.instance_types)}; pods on the system nodes are not placed")
    else:
        room, slots = allocatable(shape, 0, daemonset_requests(on_gpu=False))
        # No autoscaler tags on the system group: it runs its minimum.
        origin = ("systemNodes", "instanceTypes")
        groups.append(NodeGroup("system", None, "system", shape.instance_type, tuple(system.instance_types), room, slots, system.min_nodes, system.min_nodes, DEFAULT_PRIORITY, origin))
    return tuple(groups), warnings
