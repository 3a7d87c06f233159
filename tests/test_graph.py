"""The resource graph of every example stack, built by the real program under Pulumi mocks."""

from __future__ import annotations

import json
import re

from infra.catalog import gpu_instances
from infra.config.cluster import NewVpc
from infra.names import AMI_FAMILY_LABEL, CAPACITY_TYPE_LABEL, GPU_LABEL, POOL_LABEL
from scripts.refresh_aws_api import enum
from tests.conftest import EXAMPLE_STACKS, of_type, one

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


def gpu_node_groups(plan, pool_name):
    return [g for g in of_type(plan, NODE_GROUP) if g.inputs["labels"].get(POOL_LABEL) == pool_name]


def test_there_is_at_least_one_example_stack():
    assert EXAMPLE_STACKS, "stacks/ has no Pulumi.<stack>.yaml"


def test_every_stack_file_builds(example_plan):
    types = {r.type for r in example_plan.resources}
    for expected in ("aws:ec2/vpc:Vpc", "aws:eks/cluster:Cluster", NODE_GROUP, "kubernetes:helm.sh/v4:Chart", "pulumi:providers:kubernetes"):
        assert expected in types


def test_each_gpu_pool_has_one_on_demand_group_with_the_baseline_and_one_spot_group_with_every_instance_type(example_plan):
    for pool in example_plan.deployment.config.gpu_pools:
        groups = gpu_node_groups(example_plan, pool.name)
        by_capacity = {g.inputs["capacityType"]: g for g in groups}
        assert len(groups) == len(by_capacity)
        assert set(by_capacity) == ({"ON_DEMAND", "SPOT"} if pool.spot.max else {"ON_DEMAND"})  # EKS needs maxSize >= 1

        on_demand = by_capacity["ON_DEMAND"].inputs
        assert on_demand["scalingConfig"]["minSize"] == pool.on_demand.baseline
        assert on_demand["scalingConfig"]["desiredSize"] == pool.on_demand.baseline
        assert on_demand["scalingConfig"]["maxSize"] == pool.on_demand.max_nodes
        assert on_demand["instanceTypes"] == pool.instance_types[:1]

        if pool.spot.max:
            spot = by_capacity["SPOT"].inputs
            assert spot["scalingConfig"]["minSize"] == pool.spot.min
            assert spot["scalingConfig"]["maxSize"] == pool.spot.max
            assert spot["instanceTypes"] == pool.instance_types


def test_gpu_node_groups_carry_the_gpu_taint_and_pool_gpu_and_capacity_labels(example_plan):
    for pool in example_plan.deployment.config.gpu_pools:
        gpu = gpu_instances()[pool.instance_types[0]].gpu
        for group in gpu_node_groups(example_plan, pool.name):
            assert group.inputs["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
            labels = group.inputs["labels"]
            assert labels[POOL_LABEL] == pool.name
            assert labels[GPU_LABEL] == gpu
            assert labels[CAPACITY_TYPE_LABEL] == {"ON_DEMAND": "on-demand", "SPOT": "spot"}[group.inputs["capacityType"]]
            for key, value in pool.labels.items():
                assert labels[key] == value


def test_system_nodes_are_untainted_on_demand(example_plan):
    (system,) = [g for g in of_type(example_plan, NODE_GROUP) if POOL_LABEL not in g.inputs["labels"]]
    assert system.inputs["capacityType"] == "ON_DEMAND"
    assert not system.inputs.get("taints")


def test_every_node_group_uses_a_launch_template_that_requires_imdsv2_and_sizes_the_volume(example_plan):
    templates = {f"{t.name}-id": t.inputs for t in of_type(example_plan, LAUNCH_TEMPLATE)}
    pools = {p.name: p for p in example_plan.deployment.config.gpu_pools}
    for group in of_type(example_plan, NODE_GROUP):
        template = templates[group.inputs["launchTemplate"]["id"]]
        assert template["metadataOptions"]["httpTokens"] == "required"
        assert template["metadataOptions"]["httpPutResponseHopLimit"] == 1  # no pod reaches the node role through IMDS
        (volume,) = template["blockDeviceMappings"]
        assert volume["ebs"]["encrypted"] == "true"
        pool = pools.get(group.inputs["labels"].get(POOL_LABEL))
        if pool:
            assert volume["ebs"]["volumeSize"] == pool.root_volume_gib
        assert "diskSize" not in group.inputs  # EKS rejects diskSize together with a launch template


def test_gpu_node_groups_wait_for_the_networking_addons(example_plan):
    addons = {a.inputs["addonName"]: a.urn for a in of_type(example_plan, "aws:eks/addon:Addon")}
    for group in of_type(example_plan, NODE_GROUP):
        assert addons["vpc-cni"] in group.depends_on and addons["kube-proxy"] in group.depends_on


def test_node_group_values_are_ones_the_eks_api_accepts(example_plan):
    ec2_types = enum("ec2", "InstanceType")
    for group in of_type(example_plan, NODE_GROUP):
        assert set(group.inputs["instanceTypes"]) <= ec2_types
        assert group.inputs["amiType"] in enum("eks", "AMITypes")
        assert group.inputs["capacityType"] in enum("eks", "CapacityTypes")
        for taint in group.inputs.get("taints", []):
            assert taint["effect"] in enum("eks", "TaintEffect")
        assert len(group.inputs["nodeGroupName"]) <= 63


def test_node_groups_repair_unhealthy_nodes(example_plan):
    for group in of_type(example_plan, NODE_GROUP):
        assert group.inputs["nodeRepairConfig"] == {"enabled": True}


def test_node_groups_leave_desired_size_to_the_autoscaler(example_plan):
    for group in of_type(example_plan, NODE_GROUP):
        assert group.ignore_changes == ["scalingConfig.desiredSize"]
        tags = group.inputs.get("tags", {})
        if POOL_LABEL in group.inputs["labels"]:
            assert tags["k8s.io/cluster-autoscaler/enabled"] == "true"
            assert tags[f"k8s.io/cluster-autoscaler/llm-serving-{example_plan.stack}"] == "owned"


def test_every_kubernetes_resource_uses_the_clusters_provider(example_plan):
    (provider,) = of_type(example_plan, "pulumi:providers:kubernetes")
    kubeconfig = json.loads(provider.inputs["kubeconfig"])
    (cluster,) = of_type(example_plan, "aws:eks/cluster:Cluster")
    assert kubeconfig["clusters"][0]["cluster"]["server"].endswith(".eks.amazonaws.com")
    assert kubeconfig["users"][0]["user"]["exec"]["args"][:4] == ["eks", "get-token", "--cluster-name", cluster.inputs["name"]]
    kube_resources = [r for r in example_plan.resources if r.type.startswith("kubernetes:")]
    assert kube_resources
    for resource in kube_resources:
        assert resource.provider and resource.provider.startswith(provider.urn + "::"), resource.name


def test_every_aws_resource_uses_the_stack_region_provider(example_plan):
    (provider,) = of_type(example_plan, "pulumi:providers:aws")
    assert provider.inputs["region"] == example_plan.deployment.config.region
    for resource in example_plan.resources:
        if resource.type.startswith("aws:"):
            assert resource.provider.startswith(provider.urn + "::"), resource.name


def test_cluster_encrypts_secrets_with_its_own_kms_key_and_limits_the_public_endpoint(example_plan):
    (cluster,) = of_type(example_plan, "aws:eks/cluster:Cluster")
    (key,) = of_type(example_plan, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    encryption = cluster.inputs["encryptionConfig"]
    assert encryption["resources"] == ["secrets"] and encryption["provider"]["keyArn"].endswith(f"key/{key.name}-key-id")
    endpoint = example_plan.deployment.config.cluster.endpoint
    vpc_config = cluster.inputs["vpcConfig"]
    assert vpc_config["endpointPublicAccess"] == endpoint.public
    assert vpc_config["publicAccessCidrs"] == endpoint.public_cidrs
    assert cluster.inputs["accessConfig"]["authenticationMode"] == "API"


def test_every_admin_gets_an_access_entry_with_the_cluster_admin_policy(example_plan):
    admins = example_plan.deployment.config.cluster.admins
    entries = of_type(example_plan, "aws:eks/accessEntry:AccessEntry")
    associations = of_type(example_plan, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert sorted(e.inputs["principalArn"] for e in entries) == sorted(admins)
    assert sorted(a.inputs["principalArn"] for a in associations) == sorted(admins)
    assert all(a.inputs["policyArn"].endswith("cluster-access-policy/AmazonEKSClusterAdminPolicy") for a in associations)


def test_cluster_has_the_addons_a_gpu_serving_cluster_needs(example_plan):
    addons = {a.inputs["addonName"]: a for a in of_type(example_plan, "aws:eks/addon:Addon")}
    # The node monitoring agent: node auto repair is on, and without the agent it sees kubelet readiness only.
    assert set(addons) == {"vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent", "aws-ebs-csi-driver", "eks-node-monitoring-agent"}
    assert addons["vpc-cni"].inputs["serviceAccountRoleArn"].endswith("-vpc-cni")
    assert addons["aws-ebs-csi-driver"].inputs["serviceAccountRoleArn"].endswith("-ebs-csi")
    oidc = of_type(example_plan, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert [o.inputs["clientIdLists"] for o in oidc] == [["sts.amazonaws.com"]]


def test_vpc_spans_the_configured_zones_with_tagged_private_and_public_subnets(example_plan):
    vpc = example_plan.deployment.config.cluster.network.vpc
    subnets = of_type(example_plan, "aws:ec2/subnet:Subnet")
    if not isinstance(vpc, NewVpc):
        assert not subnets and not of_type(example_plan, "aws:ec2/vpc:Vpc")
        return
    private = [s for s in subnets if "kubernetes.io/role/internal-elb" in s.inputs["tags"]]
    public = [s for s in subnets if "kubernetes.io/role/elb" in s.inputs["tags"]]
    zones = vpc.zone_total
    assert len(private) == len(public) == zones
    assert len({s.inputs["availabilityZone"] for s in private}) == zones
    nat_count = zones if vpc.nat_gateways == "perZone" else 1
    assert len(of_type(example_plan, "aws:ec2/natGateway:NatGateway")) == nat_count


def test_third_party_charts_are_pinned_and_the_device_plugin_tolerates_the_gpu_taint(example_plan):
    charts = {c.inputs["chart"]: c.inputs for c in of_type(example_plan, "kubernetes:helm.sh/v4:Chart") if "repositoryOpts" in c.inputs}
    config = example_plan.deployment.config
    autoscaled = any(m.autoscaling.enabled for m in config.models)
    monitoring = {"kube-prometheus-stack", "dcgm-exporter"} if config.monitoring.enabled else set()
    assert set(charts) == {"nvidia-device-plugin", "cluster-autoscaler"} | monitoring | ({"keda"} if autoscaled else set())
    for chart in charts.values():
        assert chart["version"][0].isdigit() and chart["repositoryOpts"]["repo"].startswith("https://")
    plugin = charts["nvidia-device-plugin"]["values"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in plugin["tolerations"]
    (term,) = plugin["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [{"key": GPU_LABEL, "operator": "Exists"}, {"key": AMI_FAMILY_LABEL, "operator": "In", "values": ["al2023"]}]


def test_cluster_autoscaler_discovers_this_cluster_and_prefers_spot(example_plan):
    (chart,) = [c for c in of_type(example_plan, "kubernetes:helm.sh/v4:Chart") if c.inputs["chart"] == "cluster-autoscaler"]
    values = chart.inputs["values"]
    assert values["autoDiscovery"]["clusterName"] == f"llm-serving-{example_plan.stack}"
    assert values["image"]["tag"].startswith("v" + example_plan.deployment.config.cluster.kubernetes_version)
    assert values["extraArgs"]["expander"].startswith("priority")
    spot_groups = [f"eks-{g.inputs['nodeGroupName']}-0a1b" for g in of_type(example_plan, NODE_GROUP) if g.inputs["capacityType"] == "SPOT"]
    top = values["expanderPriorities"][max(values["expanderPriorities"], key=int)]
    assert all(any(re.fullmatch(p, asg) for p in top) for asg in spot_groups)
    assert values["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")


def test_cluster_autoscaler_policy_only_scales_this_clusters_groups(example_plan):
    (policy,) = [p for p in of_type(example_plan, "aws:iam/rolePolicy:RolePolicy") if "cluster-autoscaler" in p.name]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    for statement in statements:
        assert "*" not in statement["Action"]
        mutating = [a for a in statement["Action"] if not a.split(":")[1].startswith(("Describe", "Get"))]
        if mutating:
            assert statement["Condition"]["StringEquals"] == {f"aws:ResourceTag/k8s.io/cluster-autoscaler/llm-serving-{example_plan.stack}": "owned"}


def test_an_existing_vpc_is_used_as_is(plan_of, write_stack):
    def use_existing(config):
        config["llm-serving:cluster"]["network"] = {
            "existingVpc": {"vpcId": "vpc-0a1b2c3d4e5f67890", "privateSubnetIds": ["subnet-0a1b2c3d", "subnet-1a2b3c4d"]}
        }

    stack, folder = write_stack("existing", edit=use_existing)
    plan = plan_of(stack, folder)
    assert not of_type(plan, "aws:ec2/vpc:Vpc") and not of_type(plan, "aws:ec2/subnet:Subnet")
    (cluster,) = of_type(plan, "aws:eks/cluster:Cluster")
    assert cluster.inputs["vpcConfig"]["subnetIds"] == ["subnet-0a1b2c3d", "subnet-1a2b3c4d"]
    for group in of_type(plan, NODE_GROUP):
        assert group.inputs["subnetIds"] == ["subnet-0a1b2c3d", "subnet-1a2b3c4d"]


def test_bottlerocket_pools_size_the_data_volume_not_the_os_volume(plan_of, write_stack):
    def bottlerocket(config):
        config["llm-serving:gpuPools"][0]["amiType"] = "BOTTLEROCKET_x86_64_NVIDIA"

    plan = plan_of(*write_stack("bottlerocket", edit=bottlerocket))
    template = one(plan, LAUNCH_TEMPLATE, "llm-serving-bottlerocket-l4-nodes")  # the small scenario's l4 pool
    assert template.inputs["blockDeviceMappings"][0]["deviceName"] == "/dev/xvdb"


def test_catalog_instance_types_are_real_ec2_instance_types():
    assert set(gpu_instances()) <= enum("ec2", "InstanceType")


def test_a_pool_without_spot_gets_no_spot_node_group(plan_of, write_stack):
    def no_spot(config):
        config["llm-serving:gpuPools"][0]["spot"] = {"max": 0}
        config["llm-serving:models"][0]["replicas"] = {"baseline": 1}

    plan = plan_of(*write_stack("no-spot", edit=no_spot))
    assert [g.inputs["capacityType"] for g in gpu_node_groups(plan, "l4")] == ["ON_DEMAND"]
    (l4,) = plan.cost["pools"]
    assert l4["spot_nodes"] == 0 and plan.cost["hourly_usd_full_spot_scale_out"] == plan.cost["hourly_usd"]


def test_the_node_role_holds_only_joining_the_cluster_and_pulling_images(example_plan):
    """No SSM: nothing in the kit uses it, and a node role is what a pod escaping to the host would hold."""
    node_role = one(example_plan, "aws:iam/role:Role", f"llm-serving-{example_plan.stack}-node")
    attached = {
        a.inputs["policyArn"].rsplit("/", 1)[1]
        for a in of_type(example_plan, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.inputs["role"] == node_role.name or a.name.startswith(f"{node_role.name}-")
    }
    assert attached == {"AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly"}
