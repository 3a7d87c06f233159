"""Node autoscaling: the Cluster Autoscaler, grown into the GPU pools' spot node groups first.

Why the Cluster Autoscaler and not Karpenter: the kit's capacity model is EKS managed node groups
(an on-demand baseline group and a spot group per pool), which the Cluster Autoscaler drives
directly through their auto-discovery tags. Karpenter would replace those groups with its own
NodePools and bypass the managed groups' baseline guarantee. The priority expander prefers any
`*-spot-*` group and falls back to on-demand groups only when spot cannot grow.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.iam import irsa_role, policy_document
from infra.aws.image_cache import ImageMirror
from infra.catalog import kubernetes_versions
from infra.cluster_services.kube import third_party_chart
from infra.names import KUBE_SYSTEM_NAMESPACE, SYSTEM_ROLE_LABEL

NAMESPACE = KUBE_SYSTEM_NAMESPACE
# The chart's default image repository (cluster-autoscaler chart 9.52.1 values.yaml image.repository).
IMAGE = "registry.k8s.io/autoscaling/cluster-autoscaler"
SERVICE_ACCOUNT = "cluster-autoscaler"
# How long the autoscaler waits for a new node to register before it gives up on that group
# (--max-node-provision-time); Pulumi's await budget for pods that need a new node includes it.
NODE_PROVISION_SECONDS = 15 * 60


def autoscaler_policy(cluster_name: str, partition: str, region: str, account_id: str) -> str:
    """Read what it must; change only the Auto Scaling groups tagged as this cluster's."""
    return policy_document(
        {
            "Sid": "DiscoverGroupsAndInstanceTypes",
            "Effect": "Allow",
            "Action": [
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations",
                "autoscaling:DescribeScalingActivities",
                "autoscaling:DescribeTags",
                "ec2:DescribeImages",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:GetInstanceTypesFromInstanceRequirements",
            ],
            "Resource": "*",  # these Describe calls support no resource-level scoping
        },
        {
            # Labels and taints of a node group scaled to zero come from the EKS API.
            "Sid": "ReadManagedNodeGroups",
            "Effect": "Allow",
            "Action": ["eks:DescribeNodegroup"],
            "Resource": f"arn:{partition}:eks:{region}:{account_id}:nodegroup/{cluster_name}/*",
        },
        {
            "Sid": "ScaleOnlyThisClustersGroups",
            "Effect": "Allow",
            "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
            "Resource": "*",
            "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}},
        },
    )


def autoscaler_values(cluster_name: str, region: str, kubernetes_version: str, role_arn: pulumi.Input[str], images: ImageMirror = ImageMirror()) -> dict:
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster_name},
        "image": {"repository": images.repository(IMAGE), "tag": kubernetes_versions()[kubernetes_version].cluster_autoscaler},  # same minor as the cluster
        "rbac": {"serviceAccount": {"name": SERVICE_ACCOUNT, "annotations": {"eks.amazonaws.com/role-arn": role_arn}}},
        "nodeSelector": {SYSTEM_ROLE_LABEL: "system"},
        "extraArgs": {
            "expander": "priority,least-waste",
            "balance-similar-node-groups": True,
            # vLLM pods use emptyDir for /dev/shm and caches; without this GPU nodes never scale down.
            "skip-nodes-with-local-storage": False,
            "scale-down-unneeded-time": "10m",
            "max-node-provision-time": f"{NODE_PROVISION_SECONDS // 60}m",
        },
        # Managed node group ASGs are named eks-<node group name>-<uuid>.
        "expanderPriorities": {"50": [".*-spot-.*"], "10": [".*"]},
    }


@dataclass(frozen=True)
class NodeAutoscalerArgs:
    cluster_name: str
    region: str
    kubernetes_version: str
    partition: pulumi.Input[str]
    account_id: pulumi.Input[str]
    oidc_provider: aws.iam.OpenIdConnectProvider
    images: ImageMirror = ImageMirror()


class NodeAutoscaler(pulumi.ComponentResource):
    """The Cluster Autoscaler with an IRSA role scoped to this cluster's node groups."""

    def __init__(self, name: str, args: NodeAutoscalerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-serving:cluster:NodeAutoscaler", name, None, opts)
        role = irsa_role(
            f"{name}-role", oidc_provider=args.oidc_provider, namespace=NAMESPACE, service_account=SERVICE_ACCOUNT, opts=pulumi.ResourceOptions(parent=self)
        )
        policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=pulumi.Output.all(args.partition, args.account_id).apply(
                lambda a: autoscaler_policy(args.cluster_name, a[0], args.region, a[1])
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.chart = third_party_chart(
            name,
            "cluster-autoscaler",
            namespace=NAMESPACE,
            values=autoscaler_values(args.cluster_name, args.region, args.kubernetes_version, role.arn, args.images),
            # The pod must not start before its role may scale groups (and the policy must outlive it on delete).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.register_outputs({"role_arn": role.arn})
