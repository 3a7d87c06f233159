"""Cluster: EKS control plane, its IAM and KMS, admin access, OIDC for IRSA, add-ons, system nodes.

- Kubernetes secrets are envelope-encrypted with a customer-managed KMS key (rotation on).
- Access uses EKS access entries (authentication mode API): the identity running `pulumi up`
  is cluster admin from creation; `cluster.admins` get AmazonEKSClusterAdminPolicy.
- Networking add-ons (vpc-cni, kube-proxy, pod identity agent) are installed before any node
  joins; CoreDNS and the EBS CSI driver once the system nodes exist to run them.
- The VPC CNI and EBS CSI driver get their AWS permissions through IRSA, not the node role.
- With node auto repair on, the EKS node monitoring agent add-on runs on every node: without it,
  auto repair only sees kubelet readiness and deleted nodes, never a failed GPU (its
  AcceleratedHardwareReady condition comes from the agent).
- Add-on versions are pinned per Kubernetes minor (infra/catalog/kubernetes_versions.yaml).
- IAM is ordered explicitly: every policy attachment exists before the cluster, node group or
  add-on that uses it is created, and is deleted only after it.
- The upgrade policy is set (STANDARD by default): EKS would otherwise default to EXTENDED
  support and bill a version past standard support at the extended rate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.iam import irsa_role, managed_policy_arn, policy_document, service_trust_policy
from infra.aws.nodes import IMDS_HOP_LIMIT, NodeGroupSpec, launch_template, node_group
from infra.catalog import kubernetes_versions
from infra.config.cluster import ClusterConfig, SystemNodes
from infra.names import GPU_TOLERATION, SYSTEM_ROLE_LABEL

# kube-proxy, the VPC CNI and the pod identity agent must run before nodes can become Ready.
_BEFORE_NODES = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
NODE_MONITORING_AGENT = "eks-node-monitoring-agent"
# What the node role holds: joining the cluster, and pulling images from ECR (the pull-through cache).
NODE_ROLE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly")


@dataclass(frozen=True)
class ClusterArgs:
    cluster_name: str
    config: ClusterConfig
    system_nodes: SystemNodes
    private_subnet_ids: Sequence[pulumi.Input[str]]
    instance_tags: Mapping[str, str]  # the stack's tags, for the EC2 instances and volumes node groups launch


class Cluster(pulumi.ComponentResource):
    """An EKS cluster ready for GPU node pools."""

    eks: aws.eks.Cluster
    oidc_provider: aws.iam.OpenIdConnectProvider
    node_role: aws.iam.Role
    partition: pulumi.Output[str]
    account_id: pulumi.Output[str]
    system_node_group: aws.eks.NodeGroup
    node_prerequisites: list[pulumi.Resource]  # what a node group must wait for

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-serving:cluster:Cluster", name, None, opts)
        invoke = pulumi.InvokeOptions(parent=self)
        self.partition = aws.get_partition_output(opts=invoke).partition
        self.account_id = aws.get_caller_identity_output(opts=invoke).account_id
        self._name = name
        self._args = args

        key = self._secrets_key()
        role, role_policies = self._control_plane_role(key)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=90,
            opts=self._child(),
        )
        self.eks = aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.config.kubernetes_version,
            role_arn=role.arn,
            vpc_config={
                "subnet_ids": list(args.private_subnet_ids),
                "endpoint_private_access": args.config.endpoint.private,
                "endpoint_public_access": args.config.endpoint.public,
                "public_access_cidrs": list(args.config.endpoint.public_cidrs) if args.config.endpoint.public else None,
            },
            encryption_config={"provider": {"key_arn": key.arn}, "resources": ["secrets"]},
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True},
            enabled_cluster_log_types=list(args.config.log_types),
            upgrade_policy={"support_type": args.config.support_type},
            opts=self._child(depends_on=[role, *role_policies, log_group]),
        )
        self._grant_admins()
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=self.eks.identities.apply(lambda ids: ids[0].oidcs[0].issuer),
            client_id_lists=["sts.amazonaws.com"],
            opts=self._child(),
        )
        self.node_role, node_policies = self._node_role()
        early_addons = self._addons(_BEFORE_NODES)
        self.node_prerequisites = [self.node_role, *node_policies, *early_addons]
        self.system_node_group = self._system_node_group()
        later = ("coredns", "aws-ebs-csi-driver") + ((NODE_MONITORING_AGENT,) if args.config.node_repair else ())
        self._addons(later, after=[self.system_node_group])
        self.register_outputs({"cluster_name": self.eks.name, "endpoint": self.eks.endpoint, "oidc_provider_arn": self.oidc_provider.arn})

    def _child(self, **kwargs) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _secrets_key(self) -> aws.kms.Key:
        root = pulumi.Output.concat("arn:", self.partition, ":iam::", self.account_id, ":root")
        # Protected: deleting the key (even scheduled, after the 30-day window) makes every secret
        # the cluster ever encrypted with it unreadable. `pulumi destroy` stops here until someone
        # lifts the protection on purpose (pulumi state unprotect).
        key = aws.kms.Key(
            f"{self._name}-secrets",
            description=f"Envelope encryption of Kubernetes secrets in EKS cluster {self._args.cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=root.apply(
                lambda arn: policy_document(
                    {"Sid": "AccountAdministersKeyThroughIam", "Effect": "Allow", "Principal": {"AWS": arn}, "Action": "kms:*", "Resource": "*"}
                )
            ),
            opts=self._child(protect=True),
        )
        aws.kms.Alias(f"{self._name}-secrets", name=f"alias/{self._args.cluster_name}-secrets", target_key_id=key.key_id, opts=self._child())
        return key

    def _control_plane_role(self, key: aws.kms.Key) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
        """The control plane's role and the policies the cluster must wait for."""
        role = aws.iam.Role(f"{self._name}-control-plane", assume_role_policy=service_trust_policy("eks.amazonaws.com"), opts=self._child())
        managed = aws.iam.RolePolicyAttachment(
            f"{self._name}-control-plane-eks", role=role.name, policy_arn=managed_policy_arn(self.partition, "AmazonEKSClusterPolicy"), opts=self._child()
        )
        kms = aws.iam.RolePolicy(
            f"{self._name}-control-plane-kms",
            role=role.id,
            policy=key.arn.apply(
                lambda arn: policy_document(
                    {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"], "Resource": arn}
                )
            ),
            opts=self._child(),
        )
        return role, [managed, kms]

    def _grant_admins(self) -> None:
        policy = pulumi.Output.concat("arn:", self.partition, ":eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy")
        for i, principal in enumerate(self._args.config.admins):
            entry = aws.eks.AccessEntry(
                f"{self._name}-admin-{i}", cluster_name=self.eks.name, principal_arn=principal, type="STANDARD", opts=self._child()
            )
            aws.eks.AccessPolicyAssociation(
                f"{self._name}-admin-{i}",
                cluster_name=self.eks.name,
                principal_arn=principal,
                policy_arn=policy,
                access_scope={"type": "cluster"},
                opts=self._child(depends_on=[entry]),
            )

    def _node_role(self) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
        """The node role and its policy attachments, which every node group must wait for."""
        role = aws.iam.Role(f"{self._name}-node", assume_role_policy=service_trust_policy("ec2.amazonaws.com"), opts=self._child())
        # The CNI policy is deliberately absent: the VPC CNI gets it through IRSA (see _addons).
        # AmazonSSMManagedInstanceCore is absent too: nothing in the kit uses Systems Manager, and it would let
        # every process on a node register it with SSM and open shells there; `kubectl debug node/<name>` gives
        # an operator a node shell through the Kubernetes API instead, under RBAC and the audit log.
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{self._name}-node-{policy}", role=role.name, policy_arn=managed_policy_arn(self.partition, policy), opts=self._child()
            )
            for policy in NODE_ROLE_POLICIES
        ]
        return role, attachments

    def _addon_role(self, addon: str, service_account: str, policy: str) -> tuple[aws.iam.Role, aws.iam.RolePolicyAttachment]:
        role = irsa_role(
            f"{self._name}-{addon}", oidc_provider=self.oidc_provider, namespace="kube-system", service_account=service_account, opts=self._child()
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{self._name}-{addon}", role=role.name, policy_arn=managed_policy_arn(self.partition, policy), opts=self._child()
        )
        return role, attachment

    def _addons(self, names: Sequence[str], after: Sequence[pulumi.Resource] = ()) -> list[aws.eks.Addon]:
        service_account_roles = {
            "vpc-cni": lambda: self._addon_role("vpc-cni", "aws-node", "AmazonEKS_CNI_Policy"),
            "aws-ebs-csi-driver": lambda: self._addon_role("ebs-csi", "ebs-csi-controller-sa", "service-role/AmazonEBSCSIDriverPolicy"),
        }
        configuration = {
            # The VPC CNI enforces Kubernetes NetworkPolicies (the kit's vLLM and TEI policies) once told to.
            "vpc-cni": json.dumps({"enableNetworkPolicy": "true"}),
            # The agent's dcgm-server DaemonSet (the GPU health checks) tolerates no taint by default, so it
            # would never run on the kit's tainted GPU nodes (aws/containers-roadmap#2567); the agent itself
            # tolerates every taint. `dcgmAgent.tolerations` is in the add-on's configuration schema
            # (aws/eks-node-monitoring-agent charts/configuration.schema.json @ 0b5f05cd).
            NODE_MONITORING_AGENT: json.dumps({"dcgmAgent": {"tolerations": [GPU_TOLERATION]}}),
        }
        versions = kubernetes_versions()[self._args.config.kubernetes_version].addons
        addons = []
        for addon in names:
            role, attachment = service_account_roles[addon]() if addon in service_account_roles else (None, None)
            addons.append(
                aws.eks.Addon(
                    f"{self._name}-{addon}",
                    cluster_name=self.eks.name,
                    addon_name=addon,
                    addon_version=versions[addon],  # None: EKS's default for the minor (see the catalog)
                    service_account_role_arn=role.arn if role else None,
                    configuration_values=configuration.get(addon),
                    resolve_conflicts_on_create="OVERWRITE",
                    resolve_conflicts_on_update="PRESERVE",
                    opts=self._child(depends_on=[*after, *([attachment] if attachment else [])]),
                )
            )
        return addons

    def _system_node_group(self) -> aws.eks.NodeGroup:
        nodes = self._args.system_nodes
        # Hop limit 1 here too. The EBS CSI node plugin (not host-network) then takes its instance id, type, region
        # and zone from its Node object instead of IMDS: the driver tries IMDS, then the Kubernetes API
        # (kubernetes-sigs/aws-ebs-csi-driver v1.56.0 pkg/cloud/metadata/metadata.go DefaultMetadataSources,
        # docs/install.md "Metadata"). The cost named there: it then counts one ENI and the root volume as
        # attached when it computes a node's volume limit; the system nodes hold only Prometheus's volume.
        template = launch_template(
            f"{self._name}-system",
            ami_type="AL2023_x86_64_STANDARD",
            volume_gib=nodes.root_volume_gib,
            hop_limit=IMDS_HOP_LIMIT,
            tags={**self._args.instance_tags, "Name": f"{self._args.cluster_name}-system"},
            opts=self._child(),
        )
        spec = NodeGroupSpec(
            node_group_name=f"{self._args.cluster_name}-system",
            capacity_type="ON_DEMAND",
            instance_types=nodes.instance_types,
            ami_type="AL2023_x86_64_STANDARD",
            min_size=nodes.min_nodes,
            max_size=nodes.max_nodes,
            labels={SYSTEM_ROLE_LABEL: "system"},
            node_repair=self._args.config.node_repair,
        )
        return node_group(
            f"{self._name}-system",
            spec,
            cluster_name=self.eks.name,
            node_role_arn=self.node_role.arn,
            subnet_ids=self._args.private_subnet_ids,
            template=template,
            opts=self._child(depends_on=self.node_prerequisites),
        )
