"""The policy pack's rules, as plain functions over resource properties (Pulumi engine names), so
they can be unit-tested without the Pulumi CLI. `__main__.py` wraps them in a PolicyPack.

Run them with: pulumi preview --policy-pack policy/
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

ReportViolation = Callable[..., None]

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
GPU_FAMILIES = ("g4dn.", "g4ad.", "g5.", "g5g.", "g6.", "g6e.", "g6f.", "gr6.", "g7e.", "p3.", "p3dn.", "p4d.", "p4de.", "p5.", "p5e.", "p5en.", "p6-")
PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")
POOL_LABEL = "llm-serving/pool"


def is_gpu_node_group(props: dict[str, Any]) -> bool:
    ami_type = props.get("amiType") or ""
    types = props.get("instanceTypes") or []
    return "NVIDIA" in ami_type or "GPU" in ami_type or any(t.startswith(GPU_FAMILIES) for t in types)


def gpu_node_groups_are_tainted(resource_type: str, props: dict[str, Any], report: ReportViolation) -> None:
    if resource_type != NODE_GROUP or not is_gpu_node_group(props):
        return
    taints = props.get("taints") or []
    if not any(t.get("key") == "nvidia.com/gpu" and t.get("effect") == "NO_SCHEDULE" for t in taints):
        report(f"GPU node group {props.get('nodeGroupName', '')} lacks the taint nvidia.com/gpu:NoSchedule: any pod could land on (and pay for) its GPUs.")


def imdsv2_required(resource_type: str, props: dict[str, Any], report: ReportViolation) -> None:
    if resource_type in (LAUNCH_TEMPLATE, INSTANCE):
        tokens = (props.get("metadataOptions") or {}).get("httpTokens")
        if tokens != "required":
            report(f"instance metadata must require IMDSv2 session tokens (metadataOptions.httpTokens: required), got {tokens!r}.")
    if resource_type == NODE_GROUP and not props.get("launchTemplate"):
        report("node groups must use a launch template that requires IMDSv2; without one, EKS nodes accept IMDSv1.")


def eks_secrets_encrypted(resource_type: str, props: dict[str, Any], report: ReportViolation) -> None:
    if resource_type != EKS_CLUSTER:
        return
    encryption = props.get("encryptionConfig") or {}
    if "secrets" not in (encryption.get("resources") or []) or not (encryption.get("provider") or {}).get("keyArn"):
        report("EKS clusters must envelope-encrypt Kubernetes secrets with a KMS key (encryptionConfig.resources: [secrets]).")


def no_public_s3(resource_type: str, props: dict[str, Any], report: ReportViolation) -> None:
    if resource_type.startswith("aws:s3/") and props.get("acl") in PUBLIC_ACLS:  # Bucket, BucketAcl(V2)
        report(f"S3 ACL {props['acl']} makes the bucket public.")
    if resource_type == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
        open_settings = [k for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets") if props.get(k) is not True]
        if open_settings:
            report(f"S3 public access block leaves public access open: {', '.join(open_settings)} must be true.")


def spot_gpu_pools_have_an_on_demand_baseline(resources: list[tuple[str, dict[str, Any]]], report: ReportViolation) -> None:
    """Every spot GPU node group needs an on-demand GPU node group of the same pool (and cluster) with at least one node."""
    baseline: dict[tuple[str, str], int] = defaultdict(int)
    spot = []
    for resource_type, props in resources:
        if resource_type != NODE_GROUP or not is_gpu_node_group(props):
            continue
        key = (str(props.get("clusterName", "")), (props.get("labels") or {}).get(POOL_LABEL, ""))
        if props.get("capacityType") == "SPOT":
            spot.append((key, props.get("nodeGroupName", "")))
        else:
            baseline[key] += int((props.get("scalingConfig") or {}).get("minSize", 0))
    for key, name in spot:
        if baseline[key] < 1:
            report(f"spot GPU node group {name} has no on-demand GPU node group with a baseline of at least one node in pool {key[1] or '(unlabelled)'}: one spot reclaim can take all of its capacity.")


RESOURCE_POLICIES: dict[str, tuple[str, Callable]] = {
    "gpu-node-groups-tainted": ("GPU node groups carry the nvidia.com/gpu NoSchedule taint.", gpu_node_groups_are_tainted),
    "imdsv2-required": ("Instances and node groups require IMDSv2.", imdsv2_required),
    "eks-secrets-encrypted": ("EKS clusters encrypt Kubernetes secrets with KMS.", eks_secrets_encrypted),
    "no-public-s3": ("No S3 bucket is public.", no_public_s3),
}
STACK_POLICIES: dict[str, tuple[str, Callable]] = {
    "spot-gpu-pools-have-on-demand-baseline": ("Every spot GPU pool has an on-demand baseline.", spot_gpu_pools_have_an_on_demand_baseline),
}
