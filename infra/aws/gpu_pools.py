"""GPU pools: per pool, an on-demand node group holding the baseline and a spot node group over
all the pool's instance types.

Both groups carry the `nvidia.com/gpu` NoSchedule taint (only pods that ask for GPUs land there)
and the labels pods select on: pool, GPU model and capacity type. A spot reclaim can only ever
take spot nodes, so whatever is pinned to the on-demand label survives it. They also carry
`k8s.amazonaws.com/accelerator` (the Cluster Autoscaler's GPU label: it waits for a new node's GPUs
to be advertised instead of scaling out again) and the AMI family (the device plugin selects AL2023).

Each group spans only the zones that offer its instance types (the pre-flight lookup decides).

AZ rebalancing: an EKS managed node group's Auto Scaling group may terminate a node to even out
zones (`AZRebalance`) without honouring PodDisruptionBudgets (EKS user guide, managed node groups).
`aws.eks.NodeGroup` has no setting for it, and EKS's service-linked role suspends and resumes
AZRebalance itself, so a suspension made from here could be undone by EKS. The kit does not fight
EKS for the ASG; docs/before-first-up.md says what this risks (an on-demand baseline node replaced
without a drain, mostly after a zone outage) and the manual mitigation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.nodes import (
    IMDS_HOP_LIMIT,
    NodeGroupSpec,
    VolumeSpeed,
    al2023_user_data,
    launch_template,
    node_config,
    node_group,
)
from infra.capacity.nodes import NodeGroup
from infra.config.pools import GpuPool
from infra.names import (
    AMI_FAMILY_LABEL,
    AUTOSCALER_GPU_LABEL,
    CAPACITY_TYPE_LABEL,
    GPU_LABEL,
    GPU_NODE_GROUP_TAINT,
    POOL_LABEL,
)

CAPACITY_TYPES = {"on-demand": "ON_DEMAND", "spot": "SPOT"}


def ami_family(ami_type: str) -> str:
    """The AMI family label value: "al2023" or "bottlerocket"."""
    return "bottlerocket" if ami_type.startswith("BOTTLEROCKET") else "al2023"


def node_labels(pool: GpuPool, capacity: str) -> dict[str, str]:
    """The Kubernetes labels of the pool's nodes of one capacity type."""
    return {
        **pool.labels,
        POOL_LABEL: pool.name,
        GPU_LABEL: pool.gpu.gpu,
        CAPACITY_TYPE_LABEL: capacity,
        AUTOSCALER_GPU_LABEL: pool.gpu.accelerator_label,
        AMI_FAMILY_LABEL: ami_family(pool.ami_type),
    }


def node_group_specs(cluster_name: str, pool: GpuPool, groups: Sequence[NodeGroup], node_repair: bool = True) -> dict[str, NodeGroupSpec]:
    """The pool's node groups as placement simulated them (capacity/nodes.py `node_groups`), keyed by
    capacity-type label value."""
    autoscaler_tags = {"k8s.io/cluster-autoscaler/enabled": "true", f"k8s.io/cluster-autoscaler/{cluster_name}": "owned"}
    return {
        group.capacity: NodeGroupSpec(
            node_group_name=f"{cluster_name}-{pool.name}-{group.capacity}",
            capacity_type=CAPACITY_TYPES[group.capacity],
            instance_types=group.instance_types,
            ami_type=pool.ami_type,
            min_size=group.min_nodes,
            max_size=group.max_nodes,
            labels=node_labels(pool, group.capacity),
            taints=[GPU_NODE_GROUP_TAINT],
            tags=autoscaler_tags,
            node_repair=node_repair,
        )
        for group in groups
        if group.pool == pool.name
    }


@dataclass(frozen=True)
class GpuNodePoolArgs:
    cluster_name: str
    eks_cluster_name: pulumi.Input[str]
    node_role_arn: pulumi.Input[str]
    subnet_ids: Mapping[str, Sequence[pulumi.Input[str]]]  # per capacity type: subnets in zones that offer its instance types
    pool: GpuPool
    node_groups: Sequence[NodeGroup]  # the deployment model's (placement's) groups of this pool
    prerequisites: Sequence[pulumi.Resource]
    instance_tags: Mapping[str, str]  # the stack's tags, for the instances and volumes
    node_repair: bool = True


class GpuNodePool(pulumi.ComponentResource):
    """One GPU pool: a launch template shared by its on-demand and spot node groups."""

    node_groups: dict[str, aws.eks.NodeGroup]

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-serving:gpu:GpuNodePool", name, None, opts)
        pool = args.pool
        # Hop limit 1 (as on the system nodes): serving pods reach AWS through IRSA and never need instance metadata.
        config = node_config(raid0=pool.disks.instance_store == "raid0", fast_image_pull=pool.disks.fast_image_pull)
        template = launch_template(
            f"{name}-nodes",
            ami_type=pool.ami_type,
            volume_gib=pool.root_volume_gib,
            hop_limit=IMDS_HOP_LIMIT,
            speed=VolumeSpeed(pool.disks.throughput_mibps, pool.disks.iops),
            user_data=al2023_user_data(config) if config else None,  # config checks refuse both on Bottlerocket
            tags={**args.instance_tags, "Name": f"{args.cluster_name}-{pool.name}", POOL_LABEL: pool.name},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.node_groups = {
            capacity: node_group(
                f"{name}-{capacity}",
                spec,
                cluster_name=args.eks_cluster_name,
                node_role_arn=args.node_role_arn,
                subnet_ids=args.subnet_ids[capacity],
                template=template,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.prerequisites)),
            )
            for capacity, spec in node_group_specs(args.cluster_name, pool, args.node_groups, args.node_repair).items()
        }
        self.register_outputs({f"{capacity}_node_group": group.node_group_name for capacity, group in self.node_groups.items()})
