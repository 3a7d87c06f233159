"""infra/deployment.py and the program's entry: every input named (the plan date among them), every warning
in one place, and `pulumi up` logging what the offline plan prints."""

from __future__ import annotations

import json
from datetime import date

from infra.catalog import CATALOG_STALE_DAYS, catalog_ages
from infra.config.preflight import Mode
from infra.deployment import catalog_age_warnings
from infra.names import CAPACITY_TYPE_LABEL, POOL_LABEL
from tests.conftest import AS_OF, of_type
from tests.test_preflight import ENOUGH, real_values


def test_the_program_logs_every_warning_the_offline_plan_prints(plan_of):
    plan = plan_of("prod")
    assert plan.warnings  # the scenario has some (secrets the offline plan never has, among them)
    assert plan.engine_log.warnings() == plan.warnings


def test_under_up_the_engine_log_carries_the_warnings_that_are_not_refusals(plan_of, write_stack):
    plan = plan_of(*write_stack("up", edit=real_values), mode=Mode.DEPLOY, quotas=ENOUGH)
    assert plan.engine_log.warnings() == plan.warnings
    assert not any("pulumi up refuses until it is set" in w for w in plan.warnings)
    assert any("revision is 'main'" in w for w in plan.engine_log.warnings())


def test_the_same_stack_and_date_give_the_same_plan_json(plan_of):
    first, second = (json.dumps(plan_of("prod").to_json(), sort_keys=True) for _ in range(2))
    assert first == second
    assert json.loads(first)["as_of"] == AS_OF.isoformat()


def test_the_eks_price_and_the_support_warnings_follow_the_plan_date_not_the_clock(plan_of, write_stack):
    def extended(config):
        config["llm-serving:cluster"]["kubernetesVersion"] = "1.34"
        config["llm-serving:cluster"]["supportType"] = "EXTENDED"

    name, folder = write_stack("extended", edit=extended)
    before, after = plan_of(name, folder, as_of=date(2026, 12, 1)), plan_of(name, folder, as_of=date(2026, 12, 2))
    assert before.cost["platform_hourly_usd"]["eks_control_plane"] == 0.1
    assert after.cost["platform_hourly_usd"]["eks_control_plane"] == 0.6  # extended support is billed from its first day
    assert any("is in EKS extended support since 2026-12-02" in w for w in after.warnings)


def test_a_catalog_read_more_than_six_months_before_the_plan_date_is_warned():
    read = {a.file: a.read for a in catalog_ages(AS_OF)}
    fresh_day = read["spot_prices.yaml"]
    ages = catalog_ages(date.fromordinal(fresh_day.toordinal() + CATALOG_STALE_DAYS))
    assert not [w for w in catalog_age_warnings(ages, AS_OF) if "spot_prices.yaml" in w]
    later = date.fromordinal(fresh_day.toordinal() + CATALOG_STALE_DAYS + 1)
    (warning,) = [w for w in catalog_age_warnings(catalog_ages(later), later) if "spot_prices.yaml" in w]
    assert f"read {fresh_day}, {CATALOG_STALE_DAYS + 1} days before the plan date {later}" in warning


def test_the_plan_json_says_how_old_each_dated_catalog_is(plan_of):
    ages = {a["file"]: a for a in plan_of("dev").to_json()["catalog_ages"]}
    assert ages["spot_prices.yaml"]["age_days"] == (AS_OF - date.fromisoformat(ages["spot_prices.yaml"]["read"])).days
    assert {"gpu_instances.yaml", "kubernetes_versions.yaml", "api_prices.yaml"} <= set(ages)


def test_the_aws_layer_registers_exactly_the_node_groups_placement_simulated(example_plan):
    registered = sorted(
        (r.inputs["labels"].get(POOL_LABEL), r.inputs["labels"].get(CAPACITY_TYPE_LABEL), tuple(r.inputs["instanceTypes"]), r.inputs["scalingConfig"]["minSize"], r.inputs["scalingConfig"]["maxSize"])
        for r in of_type(example_plan, "aws:eks/nodeGroup:NodeGroup")
        if POOL_LABEL in r.inputs["labels"]
    )
    simulated = sorted((g.group.pool, g.group.capacity, g.group.instance_types, g.group.min_nodes, g.group.max_nodes) for g in example_plan.deployment.placement.groups if g.group.pool)
    assert registered == simulated
