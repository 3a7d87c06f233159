"""The AWS half of a first `up` that converges: autoscaler GPU label, node monitoring agent, one device
plugin per node, IAM ordering, the protected KMS key, tags on instances and volumes, the Kubernetes
provider's credentials, and Kubernetes/add-on/chart versions that exist and are supported."""

from __future__ import annotations

import json
from datetime import date

import pytest

from infra.catalog import gpu_instances, helm_charts, kubernetes_versions
from infra.config.problems import ConfigError
from infra.names import AMI_FAMILY_LABEL, AUTOSCALER_GPU_LABEL, POOL_LABEL
from tests.conftest import AS_OF, of_type, one

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def charts(plan) -> dict[str, dict]:
    return {c.inputs["chart"]: c for c in of_type(plan, "kubernetes:helm.sh/v4:Chart") if "repositoryOpts" in c.inputs}


def test_gpu_nodes_carry_the_cluster_autoscalers_gpu_label_with_their_gpu_model(example_plan):
    for group in of_type(example_plan, NODE_GROUP):
        labels = group.inputs["labels"]
        if POOL_LABEL in labels:
            assert labels[AUTOSCALER_GPU_LABEL] == gpu_instances()[group.inputs["instanceTypes"][0]].accelerator_label
            assert labels[AMI_FAMILY_LABEL] == "al2023"
        else:
            assert AUTOSCALER_GPU_LABEL not in labels  # system nodes have no GPUs to wait for


def test_node_repair_comes_with_the_node_monitoring_agent_on_gpu_nodes_too_and_neither_without_it(example_plan, plan_of, write_stack):
    addons = {a.inputs["addonName"]: a for a in of_type(example_plan, "aws:eks/addon:Addon")}
    agent = json.loads(addons["eks-node-monitoring-agent"].inputs["configurationValues"])
    # Its GPU health checks (dcgm-server) must tolerate the taint every kit GPU node carries.
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in agent["dcgmAgent"]["tolerations"]
    assert all(g.inputs["nodeRepairConfig"] == {"enabled": True} for g in of_type(example_plan, NODE_GROUP))

    def off(config):
        config["llm-serving:cluster"]["nodeRepair"] = False

    plan = plan_of(*write_stack("no-repair", edit=off))
    assert "eks-node-monitoring-agent" not in {a.inputs["addonName"] for a in of_type(plan, "aws:eks/addon:Addon")}
    assert all(g.inputs["nodeRepairConfig"] == {"enabled": False} for g in of_type(plan, NODE_GROUP))


def test_bottlerocket_pools_get_no_second_device_plugin(plan_of, write_stack):
    def bottlerocket(config):
        config["llm-serving:gpuPools"][0]["amiType"] = "BOTTLEROCKET_x86_64_NVIDIA"

    plan = plan_of(*write_stack("bottlerocket", edit=bottlerocket))
    assert "nvidia-device-plugin" not in charts(plan)  # every pool is Bottlerocket: its AMI runs the plugin
    assert {g.inputs["labels"][AMI_FAMILY_LABEL] for g in of_type(plan, NODE_GROUP) if POOL_LABEL in g.inputs["labels"]} == {"bottlerocket"}

    def mixed(config):
        config["llm-serving:gpuPools"][1]["amiType"] = "BOTTLEROCKET_x86_64_NVIDIA"

    plan = plan_of(*write_stack("mixed", base="prod", edit=mixed))
    (term,) = charts(plan)["nvidia-device-plugin"].inputs["values"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert {"key": AMI_FAMILY_LABEL, "operator": "In", "values": ["al2023"]} in term["matchExpressions"]
    bottlerocket_nodes = [g for g in of_type(plan, NODE_GROUP) if g.inputs["labels"].get(POOL_LABEL) == "l4"]
    assert all(g.inputs["labels"][AMI_FAMILY_LABEL] == "bottlerocket" for g in bottlerocket_nodes)


def test_iam_attachments_exist_before_whatever_uses_them(example_plan):
    attachments = {a.name: a.urn for a in of_type(example_plan, ATTACHMENT)}
    stack = example_plan.stack
    (cluster,) = of_type(example_plan, "aws:eks/cluster:Cluster")
    assert attachments[f"llm-serving-{stack}-control-plane-eks"] in cluster.depends_on
    kms_policy = one(example_plan, "aws:iam/rolePolicy:RolePolicy", f"llm-serving-{stack}-control-plane-kms")
    assert kms_policy.urn in cluster.depends_on
    node_policies = [urn for name, urn in attachments.items() if name.startswith(f"llm-serving-{stack}-node-")]
    # worker and ECR read-only; no SSM managed policy (least privilege: nothing on the nodes uses SSM)
    assert sorted(n.rsplit("-", 1)[1] for n in attachments if n.startswith(f"llm-serving-{stack}-node-")) == ["AmazonEC2ContainerRegistryReadOnly", "AmazonEKSWorkerNodePolicy"]
    for group in of_type(example_plan, NODE_GROUP):
        assert set(node_policies) <= set(group.depends_on), group.name
    addons = {a.inputs["addonName"]: a for a in of_type(example_plan, "aws:eks/addon:Addon")}
    assert attachments[f"llm-serving-{stack}-vpc-cni"] in addons["vpc-cni"].depends_on
    assert attachments[f"llm-serving-{stack}-ebs-csi"] in addons["aws-ebs-csi-driver"].depends_on
    autoscaler_policy = one(example_plan, "aws:iam/rolePolicy:RolePolicy", f"llm-serving-{stack}-cluster-autoscaler-policy")
    assert autoscaler_policy.urn in charts(example_plan)["cluster-autoscaler"].depends_on


def test_the_secrets_key_is_protected_from_deletion(example_plan):
    (key,) = of_type(example_plan, "aws:kms/key:Key")
    assert key.protect


def test_stack_tags_reach_the_instances_and_volumes_node_groups_launch(example_plan):
    tags = {"project": "llm-serving", "stack": example_plan.stack, "managed-by": "pulumi", **example_plan.deployment.config.tags}
    for template in of_type(example_plan, "aws:ec2/launchTemplate:LaunchTemplate"):
        specs = {s["resourceType"]: s["tags"] for s in template.inputs["tagSpecifications"]}
        assert set(specs) == {"instance", "volume"}
        for resource_tags in specs.values():
            assert tags.items() <= resource_tags.items(), template.name


def test_the_kubernetes_provider_signs_with_the_aws_providers_profile_and_role(plan_of, write_stack):
    role = "arn:aws:iam::444455556666:role/llm-serving-deployer"

    def credentials(config):
        config["llm-serving:aws"] = {"profile": "ml-platform", "roleArn": role}

    plan = plan_of(*write_stack("creds", edit=credentials))
    (aws_provider,) = of_type(plan, "pulumi:providers:aws")
    assert aws_provider.inputs["profile"] == "ml-platform"
    assert json.loads(aws_provider.inputs["assumeRoles"]) == [{"roleArn": role}]
    (k8s_provider,) = of_type(plan, "pulumi:providers:kubernetes")
    args = json.loads(k8s_provider.inputs["kubeconfig"])["users"][0]["user"]["exec"]["args"]
    assert args[args.index("--role-arn") + 1] == role and args[args.index("--profile") + 1] == "ml-platform"
    assert args[args.index("--region") + 1] == "us-east-1"


def test_without_credentials_config_both_providers_use_the_ambient_chain(example_plan):
    (aws_provider,) = of_type(example_plan, "pulumi:providers:aws")
    assert "profile" not in aws_provider.inputs and "assumeRoles" not in aws_provider.inputs
    (k8s_provider,) = of_type(example_plan, "pulumi:providers:kubernetes")
    args = json.loads(k8s_provider.inputs["kubeconfig"])["users"][0]["user"]["exec"]["args"]
    assert "--profile" not in args and "--role-arn" not in args


def test_the_example_stacks_run_a_version_in_standard_support_with_the_standard_upgrade_policy(example_plan):
    (cluster,) = of_type(example_plan, "aws:eks/cluster:Cluster")
    assert cluster.inputs["upgradePolicy"] == {"supportType": "STANDARD"}
    assert kubernetes_versions()[cluster.inputs["version"]].in_standard_support(AS_OF)
    assert example_plan.cost["platform_hourly_usd"]["eks_control_plane"] == 0.1


def test_a_version_in_extended_support_is_priced_at_the_extended_rate_and_warned(plan_of, write_stack):
    def extended(config):
        config["llm-serving:cluster"]["kubernetesVersion"] = "1.33"
        config["llm-serving:cluster"]["supportType"] = "EXTENDED"

    plan = plan_of(*write_stack("extended", edit=extended))
    assert plan.cost["platform_hourly_usd"]["eks_control_plane"] == 0.6
    assert any("is in EKS extended support since 2026-07-29" in w for w in plan.warnings)
    (cluster,) = of_type(plan, "aws:eks/cluster:Cluster")
    assert cluster.inputs["upgradePolicy"] == {"supportType": "EXTENDED"}


def test_addon_versions_and_the_autoscaler_image_are_pinned_for_the_clusters_minor(example_plan):
    version = kubernetes_versions()[example_plan.deployment.config.cluster.kubernetes_version]
    for addon in of_type(example_plan, "aws:eks/addon:Addon"):
        assert addon.inputs.get("addonVersion") == version.addons[addon.inputs["addonName"]], addon.name
    assert charts(example_plan)["cluster-autoscaler"].inputs["values"]["image"]["tag"] == version.cluster_autoscaler


def test_a_version_close_to_the_end_of_standard_support_is_warned_on_the_plan_date(plan_of, write_stack):
    def soon(config):
        config["llm-serving:cluster"]["kubernetesVersion"] = "1.34"  # standard support ends 2026-12-02

    plan = plan_of(*write_stack("soon", edit=soon), as_of=date(2026, 11, 20))
    assert any("1.34 leaves EKS standard support on 2026-12-02 (12 days)" in w for w in plan.warnings)
    assert not any("kubernetesVersion" in w for w in plan_of("dev", as_of=date(2026, 11, 20)).warnings)  # 1.35: months left


def test_the_same_version_past_its_standard_support_is_refused_with_the_versions_still_supported(plan_of, write_stack):
    def past(config):
        config["llm-serving:cluster"]["kubernetesVersion"] = "1.34"

    with pytest.raises(ConfigError, match=r"cluster.kubernetesVersion: got \"1.34\"; left EKS standard support on 2026-12-02 \(plan date 2026-12-03\).*Use 1.35, 1.36"):
        plan_of(*write_stack("past", edit=past), as_of=date(2026, 12, 3))


@pytest.mark.parametrize(("as_of", "version"), [(date(2026, 3, 1), "1.35"), (date(2026, 12, 4), "1.36"), (date(2027, 9, 1), "1.36")])
def test_a_stack_without_a_version_gets_the_newest_in_standard_support_on_the_plan_date(plan_of, write_stack, as_of, version):
    plan = plan_of(*write_stack("unset", edit=lambda config: config["llm-serving:cluster"].pop("kubernetesVersion")), as_of=as_of)
    (cluster,) = of_type(plan, "aws:eks/cluster:Cluster")
    assert cluster.inputs["version"] == plan.deployment.config.cluster.kubernetes_version == version
    stale = [w for w in plan.warnings if "no Kubernetes version in the catalog is in EKS standard support" in w]
    assert bool(stale) == (as_of == date(2027, 9, 1))  # past the catalog's calendar: planned, and told to refresh it


@pytest.mark.parametrize("version", sorted(kubernetes_versions()))
def test_the_version_catalog_is_consistent(version):
    entry = kubernetes_versions()[version]
    assert entry.released < entry.end_of_standard_support < entry.end_of_extended_support
    assert entry.cluster_autoscaler.startswith(f"v{version}.")  # the autoscaler's minor matches the cluster's
    assert set(entry.addons) == {"kube-proxy", "coredns", "vpc-cni", "aws-ebs-csi-driver", "eks-pod-identity-agent", "eks-node-monitoring-agent"}
    assert all(v is None or (v.startswith("v") and "-eksbuild." in v) for v in entry.addons.values())
    assert entry.addons["kube-proxy"].startswith(f"v{version}.")


def test_keda_is_pinned_to_a_chart_that_exists():
    assert helm_charts()["keda"].version == "2.20.2"  # kedacore/charts: newest tag v2.20.2; no 2.21.x
