"""Pre-flight: what the offline plan warns about and `pulumi up` refuses (placeholders, the caller as an
admin, EC2 quotas), zones by ID without the ones EKS refuses, and GPU node groups only in zones that
offer their instance types. "up" is the real program in Mode.DEPLOY against the mock account."""

from __future__ import annotations

import pytest

from infra.capacity.quotas import quota_needs
from infra.catalog import gpu_instances
from infra.config.load import SECRET_KEYS
from infra.config.preflight import EKS_UNSUPPORTED_ZONE_IDS, Mode, principal_of
from infra.config.problems import ConfigError
from infra.offline.mocks import CALLER_ARN, zone_id_prefix, zones_of
from tests.conftest import of_type

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ENOUGH = {"L-DB2E81BA": 10_000, "L-417A185B": 10_000, "L-3819A6DF": 10_000, "L-7212CCBC": 10_000}
OWN_ACCOUNT = "444455556666"


def with_secrets(config):
    """Every credential the kit reads, set (as `pulumi config set --secret` would): `up` refuses a stack
    without the ones it needs (tests/test_router_config.py), which is not what these tests are about."""
    for key in SECRET_KEYS:
        config[f"llm-serving:{key}"] = {"secure": "v1:placeholder"}


def real_values(config):
    """The example stack with its placeholders replaced by values a real account could have."""
    with_secrets(config)
    config["llm-serving:cluster"]["endpoint"]["publicCidrs"] = ["8.8.8.0/24"]
    config["llm-serving:cluster"]["admins"] = [f"arn:aws:iam::{OWN_ACCOUNT}:role/platform-admin"]


def expected_quotas(config) -> dict[str, int]:
    """Recomputed from the typed config and the catalog: max nodes x vCPUs (spot: the pool's largest type)."""
    needs = dict.fromkeys(("L-DB2E81BA", "L-417A185B", "L-3819A6DF", "L-7212CCBC"), 0)
    for pool in config.gpu_pools:
        family = "G" if pool.instance_types[0].startswith("g") else "P"
        on_demand = pool.on_demand.max_nodes * gpu_instances()[pool.instance_types[0]].vcpus
        spot = pool.spot.max * max(gpu_instances()[t].vcpus for t in pool.instance_types)
        for code, vcpus in (({"G": "L-DB2E81BA", "P": "L-417A185B"}[family], on_demand), ({"G": "L-3819A6DF", "P": "L-7212CCBC"}[family], spot)):
            needs[code] += vcpus
    return needs


def test_the_plan_lists_the_vcpus_each_ec2_quota_must_allow(example_plan):
    quotas = {q["code"]: q for q in example_plan.to_json()["quotas"]}
    assert {code: q["vcpus"] for code, q in quotas.items()} == expected_quotas(example_plan.deployment.config)
    names = {"L-DB2E81BA": "Running On-Demand G and VT instances", "L-3819A6DF": "All G and VT Spot Instance Requests"}
    assert all(quotas[code]["name"] == name for code, name in names.items() if code in quotas)


def test_prod_needs_200_on_demand_and_704_spot_g_vcpus(plan_of):
    # l40s: 4 x g6e.12xlarge (48) + l4: 2 x g6.xlarge (4); spot: 7 x g6e.24xlarge (96) + 4 x g6.2xlarge (8).
    assert {q.code: q.vcpus for q in plan_of("prod").deployment.quotas} == {"L-DB2E81BA": 200, "L-3819A6DF": 704, "L-417A185B": 0, "L-7212CCBC": 0}


def test_p_instances_count_against_the_p_quotas(plan_of, write_stack):
    def h100(config):
        config["llm-serving:gpuPools"][0]["instanceTypes"] = ["p5.48xlarge"]

    needs = {q.code: q.vcpus for q in quota_needs(plan_of(*write_stack("h100", base="prod", edit=h100)).deployment.config)}
    assert needs["L-417A185B"] == 4 * 192 and needs["L-7212CCBC"] == 7 * 192


def test_the_plan_warns_about_placeholders_and_still_succeeds(example_plan):
    warnings = "\n".join(example_plan.warnings)
    for i, cidr in enumerate(example_plan.deployment.config.cluster.endpoint.public_cidrs):
        assert f'publicCidrs[{i}]: got "{cidr}"; an RFC 5737 documentation range' in warnings
    if any(":123456789012:" in admin for admin in example_plan.deployment.config.cluster.admins):
        assert "uses AWS's example account ID" in warnings
    assert "(pulumi up refuses this)" in warnings or not example_plan.preflight.warnings


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_up_refuses_the_example_stacks_placeholders_before_creating_anything(plan_of, write_stack, stack):
    with pytest.raises(ConfigError) as refused:
        plan_of(*write_stack(stack, base=stack, edit=with_secrets), mode=Mode.DEPLOY, quotas=ENOUGH)
    lines = str(refused.value)
    assert "an RFC 5737 documentation range" in lines and "uses AWS's example account ID" in lines


def test_up_refuses_a_private_range_for_the_public_endpoint(plan_of, write_stack):
    def private(config):
        real_values(config)
        config["llm-serving:cluster"]["endpoint"]["publicCidrs"] = ["10.1.0.0/16"]

    stack = write_stack("private", edit=private)
    assert any("not a public (globally routable) range" in w for w in plan_of(*stack).warnings)
    with pytest.raises(ConfigError, match=r"publicCidrs\[0\]: got \"10.1.0.0/16\"; not a public"):
        plan_of(*stack, mode=Mode.DEPLOY, quotas=ENOUGH)


@pytest.mark.parametrize("base", ["dev", "prod"])
def test_up_builds_a_stack_with_real_values_and_enough_quota(plan_of, write_stack, base):
    plan = plan_of(*write_stack(f"real-{base}", base=base, edit=real_values), mode=Mode.DEPLOY, quotas=ENOUGH)
    assert of_type(plan, NODE_GROUP) and not plan.preflight.warnings


def test_up_fails_on_a_quota_below_the_pools_maximums_naming_the_quota_and_the_request_command(plan_of, write_stack):
    stack = write_stack("short", base="prod", edit=real_values)
    with pytest.raises(ConfigError) as refused:
        plan_of(*stack, mode=Mode.DEPLOY, quotas={**ENOUGH, "L-3819A6DF": 703})
    (problem,) = refused.value.problems
    assert 'EC2 quota L-3819A6DF "All G and VT Spot Instance Requests" in us-east-1 allows 703 vCPUs' in str(problem)
    assert "aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-3819A6DF --desired-value 704 --region us-east-1" in str(problem)
    plan_of(*stack, mode=Mode.DEPLOY, quotas={**ENOUGH, "L-3819A6DF": 704})  # exactly enough passes


def test_an_assumed_role_session_is_its_role():
    assert principal_of("arn:aws:sts::123456789012:assumed-role/deployer/ci-run-7") == "arn:aws:iam::123456789012:role/deployer"
    assert principal_of("arn:aws:iam::123456789012:user/alice") == "arn:aws:iam::123456789012:user/alice"


@pytest.mark.parametrize("admin", ["arn:aws:iam::123456789012:role/deployer", "arn:aws:iam::123456789012:role/ci/deployer"])
def test_the_identity_running_up_is_never_given_a_second_access_entry(plan_of, write_stack, admin):
    assert principal_of(CALLER_ARN) == "arn:aws:iam::123456789012:role/deployer"  # the mock caller

    def caller_as_admin(config):
        real_values(config)
        config["llm-serving:cluster"]["admins"] = [f"arn:aws:iam::{OWN_ACCOUNT}:role/platform-admin", admin]

    stack = write_stack("caller", edit=caller_as_admin)
    assert any("admins[1]" in w and "identity running `pulumi up`" in w for w in plan_of(*stack).warnings)
    with pytest.raises(ConfigError, match=r"admins\[1\].*is the identity running `pulumi up`"):
        plan_of(*stack, mode=Mode.DEPLOY, quotas=ENOUGH)


def test_another_accounts_role_of_the_same_name_is_not_the_caller(plan_of, write_stack):
    def other(config):
        real_values(config)
        config["llm-serving:cluster"]["admins"] = [f"arn:aws:iam::{OWN_ACCOUNT}:role/deployer"]

    plan_of(*write_stack("other", edit=other), mode=Mode.DEPLOY, quotas=ENOUGH)


@pytest.mark.parametrize("region", ["us-east-1", "us-west-1", "ca-central-1"])
def test_the_mock_account_has_the_zone_ids_eks_refuses(region):
    assert {zone_id for _, zone_id in zones_of(region)} & EKS_UNSUPPORTED_ZONE_IDS


@pytest.mark.parametrize(("region", "zone_count"), [("us-east-1", 5), ("ca-central-1", 3)])
def test_chosen_zones_never_include_one_eks_refuses(plan_of, write_stack, region, zone_count):
    def many_zones(config):
        config["llm-serving:region"] = region
        config["llm-serving:cluster"]["network"]["newVpc"]["zoneCount"] = zone_count

    plan = plan_of(*write_stack("zones", edit=many_zones))
    chosen = {z.zone_id for z in plan.preflight.zones}
    assert len(chosen) == zone_count and not chosen & EKS_UNSUPPORTED_ZONE_IDS
    names = {z.name for z in plan.preflight.zones}
    subnets = of_type(plan, "aws:ec2/subnet:Subnet")
    assert {s.inputs["availabilityZone"] for s in subnets} == names


def test_a_region_without_enough_zones_eks_supports_is_refused(plan_of, write_stack):
    def too_many(config):
        config["llm-serving:region"] = "ca-central-1"
        config["llm-serving:cluster"]["network"]["newVpc"]["zoneCount"] = 4

    with pytest.raises(ConfigError, match=r"zoneCount: got 4; ca-central-1 has 3 zones EKS supports"):
        plan_of(*write_stack("too-many", edit=too_many))


def test_gpu_node_groups_span_only_zones_that_offer_their_instance_types(plan_of, write_stack):
    # The mock account offers no p5 in use1-az1 (us-east-1c), one of prod's three zones.
    def h100(config):
        config["llm-serving:gpuPools"][0]["instanceTypes"] = ["p5.48xlarge"]

    plan = plan_of(*write_stack("h100", base="prod", edit=h100))
    assert [z.zone_id for z in plan.preflight.zones] == ["use1-az4", "use1-az6", "use1-az1"]
    subnet_of = {f"{s.name}-id": s.inputs["availabilityZone"] for s in of_type(plan, "aws:ec2/subnet:Subnet")}
    groups = {g.inputs["nodeGroupName"]: g for g in of_type(plan, NODE_GROUP)}
    for capacity in ("on-demand", "spot"):
        assert sorted(subnet_of[s] for s in groups[f"llm-serving-h100-l40s-{capacity}"].inputs["subnetIds"]) == ["us-east-1a", "us-east-1b"]
    assert sorted(subnet_of[s] for s in groups["llm-serving-h100-l4-on-demand"].inputs["subnetIds"]) == ["us-east-1a", "us-east-1b", "us-east-1c"]


def test_a_pool_whose_type_no_vpc_zone_offers_is_refused(plan_of, write_stack):
    def nowhere(config):
        config["llm-serving:gpuPools"][0]["instanceTypes"] = ["p5.48xlarge"]
        config["llm-serving:cluster"]["network"]["newVpc"]["zones"] = ["us-east-1c", "us-east-1f"]  # use1-az1, use1-az5

    with pytest.raises(ConfigError, match=r"gpuPools\[0\].instanceTypes\[0\]: got \"p5.48xlarge\"; not offered in any of the VPC's zones"):
        plan_of(*write_stack("nowhere", base="prod", edit=nowhere))


@pytest.mark.parametrize(
    ("region", "prefix"),
    [("us-east-1", "use1"), ("eu-west-1", "euw1"), ("ap-southeast-2", "apse2"), ("ap-northeast-1", "apne1"), ("ca-central-1", "cac1"), ("sa-east-1", "sae1")],
)
def test_the_mock_account_names_zone_ids_the_way_aws_does(region, prefix):
    assert zone_id_prefix(region) == prefix
