"""What every EKS managed node group of the kit shares: a launch template and the group itself.

The launch template requires IMDSv2, sizes the root volume (and, for GPU pools, its gp3 throughput
and IOPS), and may carry a nodeadm NodeConfig as user data. The group keeps its desired size out
of Pulumi's hands after creation, because the cluster autoscaler owns it.

User data (AL2023): EKS managed node groups take MIME multi-part user data from a launch template
and merge its `application/node.eks.aws` NodeConfig with the cluster settings they generate
(awslabs/amazon-eks-ami nodeadm/doc/examples.md, "Merging multiple configuration objects"). The
kit sets two things there, both from the nodeadm API at awslabs/amazon-eks-ami@81fec2e
(nodeadm/api/v1alpha1/nodeconfig_types.go):
- `spec.instance.localStorage.strategy: RAID0`: nodeadm's setup-local-disks builds one md RAID0
  array of the instance-store NVMe disks at /mnt/k8s-disks/0 and bind-mounts /var/lib/kubelet,
  /var/lib/containerd, /var/lib/soci-snapshotter-grpc and /var/log/pods onto it
  (templates/al2023/runtime/bin/setup-local-disks): images, emptyDirs and logs on NVMe.
- `spec.featureGates.FastImagePull: true`: containerd uses the SOCI snapshotter in parallel
  pull/unpack mode (nodeadm/internal/containerd/snapshotter/soci-snapshotter.config.toml: 16 MB
  chunks, 20 concurrent downloads and 12 unpacks per image). nodeadm ignores it below 4 vCPU or
  7 GiB (nodeadm/internal/containerd/config.go UseSOCISnapshotter); every GPU type in the catalog
  is above. Chosen over lazy loading (SOCI v1 indexes, which would need an index per image and a
  registry that keeps it) because vLLM reads most of its image at start anyway, and over a
  prepared data volume (an EBS snapshot per image and AMI) because it needs no build pipeline.
  The nodeadm docs ask for at least 600 MiB/s of root volume throughput with it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import yaml

# Bottlerocket boots from a small OS volume (/dev/xvda) and keeps images and data on /dev/xvdb;
# the AL2023 AMIs have one root volume at /dev/xvda.
_DATA_DEVICE = {"BOTTLEROCKET_x86_64_NVIDIA": "/dev/xvdb"}


def data_device(ami_type: str) -> str:
    return _DATA_DEVICE.get(ami_type, "/dev/xvda")


# Every node group's instance metadata hop limit: 1 keeps pods (one hop further than the host) off the
# node role's credentials; host-network pods (VPC CNI, kube-proxy, the pod identity agent) still reach it.
IMDS_HOP_LIMIT = 1

MIME_BOUNDARY = "LLMSERVING"
# Where nodeadm mounts the instance-store RAID0 array (LocalStorageOptions.mountPath default
# /mnt/k8s-disks/, array at <mountPath>/0 in templates/al2023/runtime/bin/setup-local-disks).
RAID0_MOUNT = "/mnt/k8s-disks/0"


def node_config(*, raid0: bool, fast_image_pull: bool) -> dict | None:
    """The nodeadm NodeConfig the kit adds (None when there is nothing to add)."""
    spec: dict = {}
    if raid0:
        spec["instance"] = {"localStorage": {"strategy": "RAID0"}}
    if fast_image_pull:
        spec["featureGates"] = {"FastImagePull": True}
    return {"apiVersion": "node.eks.aws/v1alpha1", "kind": "NodeConfig", "spec": spec} if spec else None


def al2023_user_data(config: dict) -> str:
    """MIME multi-part user data with one NodeConfig part, base64-encoded as launch templates take it."""
    document = yaml.safe_dump(config, sort_keys=False)
    mime = (
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/mixed; boundary="{MIME_BOUNDARY}"\n\n'
        f"--{MIME_BOUNDARY}\n"
        "Content-Type: application/node.eks.aws\n\n"
        f"---\n{document}\n"
        f"--{MIME_BOUNDARY}--\n"
    )
    return base64.b64encode(mime.encode()).decode()


@dataclass(frozen=True)
class VolumeSpeed:
    """gp3 throughput (MiB/s) and IOPS of the root (Bottlerocket: data) volume."""

    throughput_mibps: int
    iops: int


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
    name: str,
    *,
    ami_type: str,
    volume_gib: int,
    hop_limit: int,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    speed: VolumeSpeed | None = None,
    user_data: str | None = None,
) -> aws.ec2.LaunchTemplate:
    """IMDSv2 only (session tokens required), an encrypted gp3 volume of `volume_gib` (at `speed`
    when given, else gp3's baseline), and `user_data` (base64) when given.

    `tags` reach the instances and volumes the node group launches (the AWS provider's default
    tags only tag the launch template itself), so pass the stack's tags in.
    hop_limit 1 (IMDS_HOP_LIMIT) keeps pods off the instance metadata service (they use IRSA); 2 would let pods reach it.
    """
    ebs = {"volume_size": volume_gib, "volume_type": "gp3", "encrypted": "true", "delete_on_termination": "true"}
    if speed is not None:
        ebs |= {"throughput": speed.throughput_mibps, "iops": speed.iops}
    return aws.ec2.LaunchTemplate(
        name,
        metadata_options={
            "http_endpoint": "enabled",
            "http_tokens": "required",
            "http_put_response_hop_limit": hop_limit,
        },
        block_device_mappings=[{"device_name": data_device(ami_type), "ebs": ebs}],
        user_data=user_data,
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
