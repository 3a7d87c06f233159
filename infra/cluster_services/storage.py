"""Storage: an encrypted gp3 StorageClass (EBS CSI driver) as the cluster default, for Prometheus
and other volumes. EKS ships only the legacy gp2 class."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s


def default_storage_class(name: str, opts: pulumi.ResourceOptions) -> k8s.storage.v1.StorageClass:
    return k8s.storage.v1.StorageClass(
        name,
        metadata={"name": "gp3", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        provisioner="ebs.csi.aws.com",
        parameters={"type": "gp3", "encrypted": "true"},
        volume_binding_mode="WaitForFirstConsumer",  # create the volume in the zone of the pod's node
        allow_volume_expansion=True,
        reclaim_policy="Delete",
        opts=opts,
    )
