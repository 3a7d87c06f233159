"""What every EKS managed node group of the kit shares: a launch template and the group itself.

The launch template requires IMDSv2 and sizes the root volume. The group keeps its desired
size out of Pulumi's hands after creation, because the cluster autoscaler owns it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

# Bottlerocket boots from a small OS volume (/dev/xvda) and keeps images and data on /dev/xvdb;
# the AL2023 AMIs have one root volume at /dev/xvda.
_DATA_DEVICE = {"BOTTLEROCKET_x86_64_NVIDIA": "/dev/xvdb"}


def data_device(ami_type: str) -> str:
    return _DATA_DEVICE.get(ami_type, "/dev/xvda")


@dataclass(frozen=True)
class NodeGroupSpec:
    """One managed node group, in EKS API terms."""

    node_group_name: str
    capacity_type: str  # ON_DEMAND | SPOT
    instance_types: Sequence[str]
    ami_type: str
    min_size: int
    max_size: int
    labels: Mapping[str, str]
    taints: Sequence[Mapping[str, str]] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    node_repair: bool = True


def launch_template(
    name: str, *, ami_type: str, volume_gib: int, hop_limit: int, tags: Mapping[str, str], opts: pulumi.ResourceOptions
) -> aws.ec2.LaunchTemplate:
    """IMDSv2 only (session tokens required), an encrypted gp3 volume of `volume_gib`.

    `tags` reach the instances and volumes the node group launches (the AWS provider's default
    tags only tag the launch template itself), so pass the stack's tags in.
    hop_limit 1 keeps pods off the instance metadata service (they use IRSA); 2 lets pods reach it.
    """
    return aws.ec2.LaunchTemplate(
        name,
        metadata_options={
            "http_endpoint": "enabled",
            "http_tokens": "required",
            "http_put_response_hop_limit": hop_limit,
        },
        block_device_mappings=[
            {
                "device_name": data_device(ami_type),
                "ebs": {"volume_size": volume_gib, "volume_type": "gp3", "encrypted": "true", "delete_on_termination": "true"},
            }
        ],
        tag_specifications=[
            {"resource_type": "instance", "tags": dict(tags)},
            {"resource_type": "volume", "tags": dict(tags)},
        ],
        update_default_version=True,
        opts=opts,
    )


def node_group(
    name: str,
    spec: NodeGroupSpec,
    *,
    cluster_name: pulumi.Input[str],
    node_role_arn: pulumi.Input[str],
    subnet_ids: Sequence[pulumi.Input[str]],
    template: aws.ec2.LaunchTemplate,
    opts: pulumi.ResourceOptions,
) -> aws.eks.NodeGroup:
    return aws.eks.NodeGroup(
        name,
        cluster_name=cluster_name,
        node_group_name=spec.node_group_name,
        node_role_arn=node_role_arn,
        subnet_ids=list(subnet_ids),
        capacity_type=spec.capacity_type,
        instance_types=list(spec.instance_types),
        ami_type=spec.ami_type,
        scaling_config={"min_size": spec.min_size, "max_size": spec.max_size, "desired_size": spec.min_size},
        update_config={"max_unavailable": 1},
        # EKS reboots or replaces unhealthy nodes: on kubelet readiness alone, or also on GPU, kernel, network
        # and storage faults once the node monitoring agent add-on reports them (infra/aws/cluster.py).
        node_repair_config={"enabled": spec.node_repair},
        launch_template={"id": template.id, "version": template.latest_version.apply(str)},
        labels=dict(spec.labels),
        taints=[dict(t) for t in spec.taints],
        tags=dict(spec.tags),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["scalingConfig.desiredSize"])),
    )
