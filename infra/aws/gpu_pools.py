"""GPU pools: per pool, an on-demand node group holding the baseline and a spot node group over
all the pool's instance types.

Both groups carry the `nvidia.com/gpu` NoSchedule taint (only pods that ask for GPUs land there)
and the labels pods select on: pool, GPU model and capacity type. A spot reclaim can only ever
take spot nodes, so whatever is pinned to the on-demand label survives it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.nodes import NodeGroupSpec, launch_template, node_group
from infra.config.pools import GpuPool
from infra.names import CAPACITY_TYPE_LABEL, GPU_LABEL, POOL_LABEL

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}  # EKS API spelling of NoSchedule

CAPACITY_TYPES = {"on-demand": "ON_DEMAND", "spot": "SPOT"}


def node_group_specs(cluster_name: str, pool: GpuPool) -> dict[str, NodeGroupSpec]:
    """The pool's node groups, keyed by capacity-type label value: on-demand, and spot unless spot.max
    is 0 (EKS refuses a node group whose maxSize is below 1)."""
    autoscaler_tags = {"k8s.io/cluster-autoscaler/enabled": "true", f"k8s.io/cluster-autoscaler/{cluster_name}": "owned"}

    def spec(capacity: str, instance_types: Sequence[str], min_size: int, max_size: int) -> NodeGroupSpec:
        return NodeGroupSpec(
            node_group_name=f"{cluster_name}-{pool.name}-{capacity}",
            capacity_type=CAPACITY_TYPES[capacity],
            instance_types=instance_types,
            ami_type=pool.ami_type,
            min_size=min_size,
            max_size=max_size,
            labels={**pool.labels, POOL_LABEL: pool.name, GPU_LABEL: pool.gpu.gpu, CAPACITY_TYPE_LABEL: capacity},
            taints=[GPU_TAINT],
            tags=autoscaler_tags,
        )

    specs = {
        # On-demand uses the first (primary) type only: predictable cost for the baseline.
        "on-demand": spec("on-demand", pool.instance_types[:1], pool.on_demand.baseline, pool.on_demand.max_nodes),
    }
    if pool.spot.max > 0:
        specs["spot"] = spec("spot", pool.instance_types, pool.spot.min, pool.spot.max)
    return specs


@dataclass(frozen=True)
class GpuNodePoolArgs:
    cluster_name: str
    eks_cluster_name: pulumi.Input[str]
    node_role_arn: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    pool: GpuPool
    prerequisites: Sequence[pulumi.Resource]


class GpuNodePool(pulumi.ComponentResource):
    """One GPU pool: a launch template shared by its on-demand and spot node groups."""

    node_groups: dict[str, aws.eks.NodeGroup]

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-serving:gpu:GpuNodePool", name, None, opts)
        pool = args.pool
        # Hop limit 1: serving pods reach AWS through IRSA and never need instance metadata.
        template = launch_template(
            f"{name}-nodes",
            ami_type=pool.ami_type,
            volume_gib=pool.root_volume_gib,
            hop_limit=1,
            tags={"Name": f"{args.cluster_name}-{pool.name}", POOL_LABEL: pool.name},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.node_groups = {
            capacity: node_group(
                f"{name}-{capacity}",
                spec,
                cluster_name=args.eks_cluster_name,
                node_role_arn=args.node_role_arn,
                subnet_ids=args.subnet_ids,
                template=template,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.prerequisites)),
            )
            for capacity, spec in node_group_specs(args.cluster_name, pool).items()
        }
        self.register_outputs({f"{capacity}_node_group": group.node_group_name for capacity, group in self.node_groups.items()})
