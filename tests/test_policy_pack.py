"""The CrossGuard policy pack (policy/): each rule on passing and failing resources, the kit's own
planned graph passing every rule, and the pack itself assembling every rule."""

from __future__ import annotations

import runpy
import sys

import pulumi_policy

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "policy"))
import policies


def violations(check, *args) -> list[str]:
    found: list[str] = []
    check(*args, lambda message, urn=None: found.append(message))
    return found


GPU_GROUP = {
    "nodeGroupName": "gpu-spot",
    "clusterName": "c",
    "amiType": "AL2023_x86_64_NVIDIA",
    "instanceTypes": ["g6.xlarge"],
    "capacityType": "SPOT",
    "labels": {"llm-serving/pool": "l4"},
    "scalingConfig": {"minSize": 0, "maxSize": 3},
    "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}],
    "launchTemplate": {"id": "lt-1", "version": "1"},
}


def test_gpu_node_groups_must_be_tainted():
    assert violations(policies.gpu_node_groups_are_tainted, policies.NODE_GROUP, GPU_GROUP) == []
    untainted = {**GPU_GROUP, "taints": []}
    assert violations(policies.gpu_node_groups_are_tainted, policies.NODE_GROUP, untainted)
    cpu = {**GPU_GROUP, "amiType": "AL2023_x86_64_STANDARD", "instanceTypes": ["m7i.large"], "taints": []}
    assert violations(policies.gpu_node_groups_are_tainted, policies.NODE_GROUP, cpu) == []


def test_imdsv2_is_required():
    assert violations(policies.imdsv2_required, policies.LAUNCH_TEMPLATE, {"metadataOptions": {"httpTokens": "required"}}) == []
    assert violations(policies.imdsv2_required, policies.LAUNCH_TEMPLATE, {"metadataOptions": {"httpTokens": "optional"}})
    assert violations(policies.imdsv2_required, policies.LAUNCH_TEMPLATE, {})
    assert violations(policies.imdsv2_required, policies.NODE_GROUP, {**GPU_GROUP, "launchTemplate": None})


def test_eks_secrets_must_be_encrypted():
    encrypted = {"encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:us-east-1:1:key/k"}}}
    assert violations(policies.eks_secrets_encrypted, policies.EKS_CLUSTER, encrypted) == []
    assert violations(policies.eks_secrets_encrypted, policies.EKS_CLUSTER, {})


def test_no_public_s3():
    assert violations(policies.no_public_s3, "aws:s3/bucket:Bucket", {"acl": "private"}) == []
    assert violations(policies.no_public_s3, "aws:s3/bucket:Bucket", {"acl": "public-read"})
    assert violations(policies.no_public_s3, "aws:s3/bucketAclV2:BucketAclV2", {"acl": "public-read-write"})
    block = {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True}
    assert violations(policies.no_public_s3, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", block) == []
    assert violations(policies.no_public_s3, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", {**block, "blockPublicPolicy": False})


def test_every_spot_gpu_pool_needs_an_on_demand_baseline():
    on_demand = {**GPU_GROUP, "nodeGroupName": "gpu-od", "capacityType": "ON_DEMAND", "scalingConfig": {"minSize": 1, "maxSize": 1}}
    assert violations(policies.spot_gpu_pools_have_an_on_demand_baseline, [(policies.NODE_GROUP, GPU_GROUP), (policies.NODE_GROUP, on_demand)]) == []
    assert violations(policies.spot_gpu_pools_have_an_on_demand_baseline, [(policies.NODE_GROUP, GPU_GROUP)])
    zero = {**on_demand, "scalingConfig": {"minSize": 0, "maxSize": 1}}
    assert violations(policies.spot_gpu_pools_have_an_on_demand_baseline, [(policies.NODE_GROUP, GPU_GROUP), (policies.NODE_GROUP, zero)])
    other_pool = {**on_demand, "labels": {"llm-serving/pool": "h100"}}
    assert violations(policies.spot_gpu_pools_have_an_on_demand_baseline, [(policies.NODE_GROUP, GPU_GROUP), (policies.NODE_GROUP, other_pool)])


def test_the_kits_own_graph_passes_every_policy(example_plan):
    resources = [(r.type, r.inputs) for r in example_plan.resources]
    found = []
    for _, check in policies.RESOURCE_POLICIES.values():
        for resource_type, props in resources:
            found += violations(check, resource_type, props)
    for _, check in policies.STACK_POLICIES.values():
        found += violations(check, resources)
    assert found == []


def test_the_pack_assembles_every_policy(monkeypatch):
    built = {}
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: built.update(kwargs))
    runpy.run_path(str(ROOT / "policy" / "__main__.py"))
    assert built["name"] == "llm-serving" and built["enforcement_level"] == pulumi_policy.EnforcementLevel.MANDATORY
    assert {p.name for p in built["policies"]} == set(policies.RESOURCE_POLICIES) | set(policies.STACK_POLICIES)
    (tainted,) = [p for p in built["policies"] if p.name == "gpu-node-groups-tainted"]
    args = pulumi_policy.ResourceValidationArgs.__new__(pulumi_policy.ResourceValidationArgs)
    args.resource_type, args.props = policies.NODE_GROUP, {**GPU_GROUP, "taints": []}
    reported = []
    tainted.validate(args, lambda message, urn=None: reported.append(message))
    assert reported
