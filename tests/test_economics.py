"""Economics: the worked numbers this kit exists for, and the cost of a stack composed from catalog
prices (the large test scenario for exact figures, every example stack for the invariants)."""

from __future__ import annotations

import pytest

from infra.capacity.economics import HOURS_PER_MONTH, cost_per_million_tokens
from infra.catalog import gpu_instance, platform_prices, spot_prices
from tests.conftest import scenario


def test_an_h100_at_2_dollars_serving_1111_tokens_per_second():
    assert cost_per_million_tokens(2.0, 1111, 1.0) == pytest.approx(0.50, abs=0.001)
    assert cost_per_million_tokens(2.0, 1111, 0.10) == pytest.approx(5.00, abs=0.01)


def test_operations_overhead_scales_the_cost():
    assert cost_per_million_tokens(2.0, 1111, 1.0, ops_overhead=0.30) == pytest.approx(0.65, abs=0.001)


def test_hourly_cost_is_nodes_times_catalog_prices_plus_the_platform():
    cost = scenario("prod").cost
    g6e, g6 = gpu_instance("g6e.12xlarge", "us-east-1"), gpu_instance("g6.xlarge", "us-east-1")
    platform = platform_prices()
    # l40s: 3 on-demand nodes (baseline) + 2 spot nodes (2 spot replicas at TP 4 on 4-GPU nodes);
    # l4: its on-demand baseline of 2 (two TEI replicas, a GPU each); EKS, one NAT per zone (3),
    # 3 m7i.xlarge system nodes.
    expected = (
        3 * g6e.on_demand_usd_hour
        + 2 * g6e.spot_usd_hour
        + 2 * g6.on_demand_usd_hour
        + platform.eks_cluster_hour
        + 3 * platform.nat_gateway_hour
        + 3 * platform.instances["m7i.xlarge"]
    )
    assert cost["hourly_usd"] == pytest.approx(expected, abs=0.01)
    assert cost["monthly_usd"] == pytest.approx(expected * HOURS_PER_MONTH, abs=1)
    # every spot group at its max: l40s 7 nodes (5 more), l4 4 nodes
    full = expected + 5 * g6e.spot_usd_hour + 4 * g6.spot_usd_hour
    assert cost["hourly_usd_full_spot_scale_out"] == pytest.approx(full, abs=0.01)


def test_cost_per_million_tokens_follows_utilization(example_plan):
    cost = example_plan.cost
    per_million = cost["per_million_tokens"]
    if not example_plan.deployment.config.models:
        assert per_million is None
        return
    assert per_million["10%"] == pytest.approx(per_million["100%"] * 10, rel=1e-3)
    expected = cost_per_million_tokens(cost["hourly_usd"], cost["capacity_tokens_per_second"], 1.0, cost["ops_overhead"])
    assert per_million["100%"] == pytest.approx(expected, rel=1e-3)
    economics = example_plan.deployment.config.economics
    assert ("expected" in per_million) == (economics.monthly_tokens is not None or economics.average_utilization is not None)


def test_expected_utilization_comes_from_monthly_tokens():
    plan = scenario("prod")
    cost = plan.cost
    monthly_tokens = plan.deployment.config.economics.monthly_tokens
    assert cost["per_million_tokens"]["expected"]["utilization"] == pytest.approx(monthly_tokens / cost["monthly_token_capacity"], rel=1e-3)


def test_break_even_is_fixed_monthly_cost_over_the_api_price(example_plan):
    cost = example_plan.cost
    config = example_plan.deployment.config
    if config.economics.compare_with is None or not config.models:
        assert "api" not in cost
        return
    api = cost["api"]
    monthly_fixed = cost["hourly_usd"] * HOURS_PER_MONTH * (1 + cost["ops_overhead"])
    assert api["break_even_monthly_tokens"] == pytest.approx(monthly_fixed / api["usd_per_million_tokens"] * 1e6, rel=1e-3)
    assert api["break_even_utilization"] == pytest.approx(api["break_even_monthly_tokens"] / cost["monthly_token_capacity"], rel=1e-3)


def test_the_plan_says_plainly_when_the_api_wins_at_any_volume():
    api = scenario("prod").cost["api"]
    assert api["break_even_utilization"] > 1
    assert api["verdict"].startswith("the API is cheaper at any volume this stack can serve")


def test_a_cheaper_negotiated_price_changes_the_verdict(plan_of, write_stack):
    def discounted(config):
        config["llm-serving:catalog"] = {"instances": {"g6e.12xlarge": {"onDemandUsdHour": 3.0, "spotDiscount": 0.7}}}

    cost = plan_of(*write_stack("discounted", base="prod", edit=discounted)).cost
    (l40s,) = [p for p in cost["pools"] if p["pool"] == "l40s"]
    assert l40s["on_demand_node_usd_hour"] == 3.0 and l40s["spot_node_usd_hour"] == pytest.approx(0.9)
    assert cost["api"]["break_even_utilization"] < 1
    assert cost["api"]["verdict"].startswith("self-hosting wins at the expected 20.00B tokens/month")


def test_spot_nodes_are_priced_at_the_dated_regional_spot_price(plan_of):
    (l40s,) = [p for p in plan_of("prod").cost["pools"] if p["pool"] == "l40s"]
    recorded = spot_prices().regions["us-east-1"]["g6e.12xlarge"]
    assert l40s["spot_node_usd_hour"] == pytest.approx(recorded) and spot_prices().read == "2026-11-24"


def test_a_region_without_recorded_spot_prices_is_priced_at_on_demand_with_a_warning(plan_of, write_stack):
    def elsewhere(config):
        config["llm-serving:region"] = "ap-southeast-2"

    plan = plan_of(*write_stack("no-spot-prices", base="prod", edit=elsewhere))
    (l40s,) = [p for p in plan.cost["pools"] if p["pool"] == "l40s"]
    assert l40s["spot_node_usd_hour"] == l40s["on_demand_node_usd_hour"]
    assert any("no recorded spot price for g6e.12xlarge in ap-southeast-2" in w for w in plan.warnings)


def test_a_stack_spot_price_overrides_the_catalog(plan_of, write_stack):
    def override(config):
        config["llm-serving:catalog"] = {"instances": {"g6e.12xlarge": {"spotUsdHour": 3.21}}}

    (l40s,) = [p for p in plan_of(*write_stack("spot-override", base="prod", edit=override)).cost["pools"] if p["pool"] == "l40s"]
    assert l40s["spot_node_usd_hour"] == 3.21


def test_input_and_output_tokens_are_priced_by_their_share_of_gpu_time(plan_of):
    plan = plan_of("prod")
    (model,) = plan.cost["models"]
    (sizing,) = plan.sizing
    prices = model["usd_per_million_tokens_at_100%"]
    hourly = model["replica_usd_hour"] * (1 + plan.cost["ops_overhead"])
    share = sizing.estimate.prefill_share
    assert prices["input"] == pytest.approx(hourly * share / (sizing.input_tokens_per_second * 3600) * 1e6, rel=1e-3)
    assert prices["output"] == pytest.approx(hourly * (1 - share) / (sizing.output_tokens_per_second * 3600) * 1e6, rel=1e-3)
    # the blend is what all tokens cost together, between the two
    assert prices["input"] < prices["blended"] < prices["output"]


def test_each_model_is_judged_against_its_own_hosted_counterpart(plan_of, write_stack):
    def own(config):
        config["llm-serving:models"][0]["compareWith"] = "gpt-4o"

    plan = plan_of(*write_stack("own-api", base="prod", edit=own))
    (model,) = plan.cost["models"]
    assert model["api"]["name"] == "gpt-4o" and model["api"]["usd_per_million_output_tokens"] == 10.0
    assert plan.cost["api"]["name"] == "llama-3.1-70b-managed"  # the stack-wide comparison stays
    assert plan_of("prod").cost["models"][0]["api"]["name"] == "llama-3.1-70b-managed"  # default: economics.compareWith


def test_stack_capacity_carries_the_estimates_band(plan_of):
    cost = plan_of("prod").cost
    low, high = cost["capacity_output_tokens_per_second_range"]
    assert low < cost["capacity_output_tokens_per_second"] < high
    (sizing,) = plan_of("prod").sizing
    assert low == pytest.approx(sizing.estimate.low * 5, rel=1e-3)  # 3 on-demand + 2 spot replicas
