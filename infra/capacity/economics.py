"""Economics: what a stack costs per hour and per month, what a million tokens costs at a given
utilization, and how many tokens a month it takes before self-hosting beats a hosted API.

    $ per million tokens = hourly cost x (1 + ops overhead) / (tokens per second x 3600 x utilization) x 1e6

Self-hosting is a fixed cost: at 10 % utilization a token costs ten times what it costs at 100 %.
The hosted API is a variable cost. Break-even is the monthly volume where the two meet.

Node counts and capacity follow placement (infra/capacity/placement.py) when the deployment model
passes it: the nodes each group runs at deploy, and only the replicas that were placed. Without it,
each pool runs at least its node-group minimums and enough nodes for its models' replicas
(tensor-parallel GPUs each). Spot nodes are priced at the dated
regional spot price of the pool's first instance type (catalog/spot_prices.yaml, or the stack's
override); with none recorded, at on-demand, with a warning.

Per token type, per model: a replica's GPU time splits into prefill (prompt tokens) and decode (output
tokens); each token type carries the cost of its share, so

    $/M input  = replica $/hour x prefill share       / (input tok/s x 3600) x 1e6
    $/M output = replica $/hour x (1 - prefill share) / (output tok/s x 3600) x 1e6

and the blend for the workload is their token-weighted mean. Each model is judged against its own
hosted counterpart (models[].compareWith, default economics.compareWith) at that API's input and
output prices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from infra.capacity.sizing import ModelSizing
from infra.catalog import kubernetes_versions, platform_prices
from infra.config.cluster import ExistingVpc
from infra.config.pools import GpuPool
from infra.config.stack import StackConfig

HOURS_PER_MONTH = 730  # 8,760 hours / 12


def cost_per_million_tokens(hourly_usd: float, tokens_per_second: float, utilization: float, ops_overhead: float = 0.0) -> float:
    """USD per million tokens for capacity that costs `hourly_usd` and serves `tokens_per_second` at full load."""
    tokens_per_hour = tokens_per_second * 3600 * utilization
    return hourly_usd * (1 + ops_overhead) / tokens_per_hour * 1e6


@dataclass(frozen=True)
class PoolCost:
    pool: str
    instance_type: str
    gpu: str
    gpus_per_node: int
    on_demand_nodes_needed: int  # for the configured replicas, before the node groups' maximums
    spot_nodes_needed: int
    on_demand_nodes: int
    on_demand_nodes_max: int
    spot_nodes: int
    spot_nodes_max: int
    on_demand_usd_hour: float  # per node
    spot_usd_hour: float  # per node

    @property
    def hourly_usd(self) -> float:
        return self.on_demand_nodes * self.on_demand_usd_hour + self.spot_nodes * self.spot_usd_hour

    @property
    def hourly_usd_full_spot_scale_out(self) -> float:
        return self.on_demand_nodes * self.on_demand_usd_hour + self.spot_nodes_max * self.spot_usd_hour


def pool_cost(config: StackConfig, pool: GpuPool, sizings: Sequence[ModelSizing], placed_nodes: tuple[int, int] | None = None) -> PoolCost:
    """`placed_nodes`: the (on-demand, spot) nodes placement runs at deploy, instead of the estimate."""
    instance = config.instance(pool.instance_types[0])

    def nodes_for(replicas: int, tensor_parallel: int) -> float:
        return replicas * tensor_parallel / instance.gpus

    models = [s for s in sizings if s.pool == pool.name]
    embeddings = config.embeddings
    tei_gpus = embeddings.replicas if embeddings.enabled and embeddings.pool == pool.name else 0  # one GPU per TEI replica
    tei_on_demand = tei_gpus if embeddings.capacity_type == "on-demand" else 0
    on_demand = max(pool.on_demand.baseline, math.ceil(sum(nodes_for(s.replicas_on_demand, s.tensor_parallel) for s in models) + nodes_for(tei_on_demand, 1)))
    spot = max(pool.spot.min, math.ceil(sum(nodes_for(s.replicas_spot, s.tensor_parallel) for s in models) + nodes_for(tei_gpus - tei_on_demand, 1)))
    if placed_nodes is not None:
        on_demand, spot = placed_nodes
    return PoolCost(
        pool=pool.name,
        on_demand_nodes_needed=on_demand,
        spot_nodes_needed=spot,
        instance_type=instance.instance_type,
        gpu=instance.gpu,
        gpus_per_node=instance.gpus,
        on_demand_nodes=min(on_demand, pool.on_demand.max_nodes),
        on_demand_nodes_max=pool.on_demand.max_nodes,
        spot_nodes=min(spot, pool.spot.max),
        spot_nodes_max=pool.spot.max,
        on_demand_usd_hour=instance.on_demand_usd_hour,
        spot_usd_hour=instance.on_demand_usd_hour if instance.spot_usd_hour is None else instance.spot_usd_hour,
    )


def eks_control_plane_hourly(config: StackConfig, on: date) -> float:
    """EKS's cluster-hour price: the extended-support rate once the version is past standard support
    (only reachable with supportType EXTENDED; STANDARD upgrades the cluster instead)."""
    prices = platform_prices()
    version = kubernetes_versions()[config.cluster.kubernetes_version]
    return prices.eks_cluster_hour if version.in_standard_support(on) else prices.eks_cluster_hour_extended_support
def spot_price_warnings(config: StackConfig) -> list[str]:
    """Pools with spot capacity whose instance type has no recorded spot price in the stack's region."""
    notes = []
    for pool in config.gpu_pools:
        instance = config.instance(pool.instance_types[0])
        if pool.spot.max > 0 and instance.spot_usd_hour is None:
            notes.append(
                f"pool {pool.name}: no recorded spot price for {instance.instance_type} in {config.region} (catalog/spot_prices.yaml); "
                f"spot nodes are priced at on-demand; set catalog.instances.{instance.instance_type}.spotUsdHour"
            )
    return notes


def platform_hourly(config: StackConfig, as_of: date) -> dict[str, float]:
    prices = platform_prices()
    vpc = config.cluster.network.vpc
    nat_gateways = 0 if isinstance(vpc, ExistingVpc) else (vpc.zone_total if vpc.nat_gateways == "perZone" else 1)
    system_type = config.system_nodes.instance_types[0]
    system_price = prices.instances.get(system_type)
    return {
        "eks_control_plane": eks_control_plane_hourly(config, as_of),
        "nat_gateways": nat_gateways * prices.nat_gateway_hour,
        "system_nodes": config.system_nodes.min_nodes * system_price if system_price is not None else 0.0,
    }


def stack_cost(
    config: StackConfig, sizings: Sequence[ModelSizing], pools: Sequence[PoolCost], as_of: date, placed_replicas: Mapping[str, int] | None = None
) -> dict:
    """The plan's `cost` object, from the models' sizing and the pools' node counts; capacity counts
    `placed_replicas` per model where given (replicas that cannot be placed serve nothing)."""
    economics = config.economics
    platform = platform_hourly(config, as_of)
    hourly = sum(platform.values()) + sum(p.hourly_usd for p in pools)
    hourly_full = sum(platform.values()) + sum(p.hourly_usd_full_spot_scale_out for p in pools)

    workload = economics.workload
    tokens_per_output_token = (workload.prompt_tokens + workload.output_tokens) / workload.output_tokens
    replicas = {s.model: s.replicas_on_demand + s.replicas_spot for s in sizings} | dict(placed_replicas or {})
    output_tps = sum(s.output_tokens_per_second * replicas[s.model] for s in sizings)
    total_tps = output_tps * tokens_per_output_token
    monthly_capacity = total_tps * 3600 * HOURS_PER_MONTH

    cost: dict = {
        "hourly_usd": round(hourly, 4),
        "monthly_usd": round(hourly * HOURS_PER_MONTH, 2),
        "hourly_usd_full_spot_scale_out": round(hourly_full, 4),
        "monthly_usd_full_spot_scale_out": round(hourly_full * HOURS_PER_MONTH, 2),
        "ops_overhead": economics.ops_overhead,
        "monthly_usd_with_ops_overhead": round(hourly * HOURS_PER_MONTH * (1 + economics.ops_overhead), 2),
        "platform_hourly_usd": {k: round(v, 3) for k, v in platform.items()},
        "pools": [
            {
                "pool": p.pool,
                "instance_type": p.instance_type,
                "gpu": p.gpu,
                "gpus_per_node": p.gpus_per_node,
                "on_demand_nodes": p.on_demand_nodes,
                "spot_nodes": p.spot_nodes,
                "spot_nodes_max": p.spot_nodes_max,
                "on_demand_node_usd_hour": p.on_demand_usd_hour,
                "spot_node_usd_hour": round(p.spot_usd_hour, 4),
                "hourly_usd": round(p.hourly_usd, 4),
            }
            for p in pools
        ],
        "capacity_output_tokens_per_second": round(output_tps, 1),
        # the estimate's held-out band (10th..90th percentile), summed over replicas; a measured figure has none
        "capacity_output_tokens_per_second_range": [
            round(sum(s.band[0] * (s.replicas_on_demand + s.replicas_spot) for s in sizings), 1),
            round(sum(s.band[1] * (s.replicas_on_demand + s.replicas_spot) for s in sizings), 1),
        ],
        "capacity_tokens_per_second": round(total_tps, 1),
        "monthly_token_capacity": int(monthly_capacity),
        "workload": {"prompt_tokens": workload.prompt_tokens, "output_tokens": workload.output_tokens},
    }
    if total_tps <= 0:
        cost["per_million_tokens"] = None
        return cost

    utilization = economics.average_utilization
    if economics.monthly_tokens is not None:
        utilization = economics.monthly_tokens / monthly_capacity
    per_million = {
        f"{int(u * 100)}%": round(cost_per_million_tokens(hourly, total_tps, u, economics.ops_overhead), 4) for u in (1.0, 0.5, 0.1)
    }
    if utilization is not None:
        per_million["expected"] = {"utilization": round(utilization, 4), "usd": round(cost_per_million_tokens(hourly, total_tps, utilization, economics.ops_overhead), 4)}
    cost["per_million_tokens"] = per_million  # prompt + output tokens, with the ops overhead
    cost["per_million_output_tokens_at_100%"] = round(cost_per_million_tokens(hourly, output_tps, 1.0, economics.ops_overhead), 4)

    cost["models"] = [model_cost(config, s, pools, utilization) for s in sizings]
    if economics.compare_with:
        api = config.api_prices()[economics.compare_with]
        input_share = workload.prompt_tokens / (workload.prompt_tokens + workload.output_tokens)
        api_per_million = api.blended(input_share)
        monthly_fixed = hourly * HOURS_PER_MONTH * (1 + economics.ops_overhead)
        break_even = monthly_fixed / api_per_million * 1e6 if api_per_million else math.inf
        cost["api"] = {
            "name": economics.compare_with,
            "usd_per_million_tokens": round(api_per_million, 4),
            "break_even_monthly_tokens": None if math.isinf(break_even) else int(break_even),
            "break_even_utilization": None if math.isinf(break_even) else round(break_even / monthly_capacity, 4),
            "verdict": verdict(break_even, monthly_capacity, economics.monthly_tokens, monthly_fixed, api_per_million),
        }
    return cost


def per_token_type(replica_usd_hour: float, sizing: ModelSizing, utilization: float, ops_overhead: float) -> dict:
    """$/M input, output and blended tokens for one replica at a utilization."""
    share = sizing.estimate.prefill_share
    hourly = replica_usd_hour * (1 + ops_overhead) / utilization
    input_tps, output_tps = sizing.input_tokens_per_second, sizing.output_tokens_per_second
    return {
        "input": round(hourly * share / (input_tps * 3600) * 1e6, 4) if input_tps else None,
        "output": round(hourly * (1 - share) / (output_tps * 3600) * 1e6, 4),
        "blended": round(hourly / ((input_tps + output_tps) * 3600) * 1e6, 4),
    }


def model_cost(config: StackConfig, sizing: ModelSizing, pools: Sequence[PoolCost], utilization: float | None) -> dict:
    """One model's price per token type, and its break-even against its own hosted counterpart."""
    pool = next(p for p in pools if p.pool == sizing.pool)
    gpu_share = sizing.tensor_parallel / pool.gpus_per_node
    replica_usd_hour = gpu_share * (pool.on_demand_usd_hour * sizing.replicas_on_demand + pool.spot_usd_hour * sizing.replicas_spot) / max(1, sizing.replicas_on_demand + sizing.replicas_spot)
    replicas = sizing.replicas_on_demand + sizing.replicas_spot
    ops = config.economics.ops_overhead
    result: dict = {"model": sizing.model, "replica_usd_hour": round(replica_usd_hour, 4), "usd_per_million_tokens_at_100%": None}
    if sizing.output_tokens_per_second <= 0:
        return result
    result["usd_per_million_tokens_at_100%"] = per_token_type(replica_usd_hour, sizing, 1.0, ops)
    if utilization:
        result["usd_per_million_tokens_expected"] = per_token_type(replica_usd_hour, sizing, utilization, ops)
    if sizing.compare_with:
        api = config.api_prices()[sizing.compare_with]
        workload = config.economics.workload
        input_share = workload.prompt_tokens / (workload.prompt_tokens + workload.output_tokens)
        monthly_fixed = replica_usd_hour * replicas * HOURS_PER_MONTH * (1 + ops)
        capacity = (sizing.input_tokens_per_second + sizing.output_tokens_per_second) * replicas * 3600 * HOURS_PER_MONTH
        break_even = monthly_fixed / api.blended(input_share) * 1e6 if api.blended(input_share) else math.inf
        result["api"] = {
            "name": sizing.compare_with,
            "usd_per_million_input_tokens": api.input,
            "usd_per_million_output_tokens": api.output,
            "usd_per_million_tokens_blended": round(api.blended(input_share), 4),
            "break_even_monthly_tokens": None if math.isinf(break_even) else int(break_even),
            "break_even_utilization": None if math.isinf(break_even) else round(break_even / capacity, 4),
        }
    return result


def verdict(break_even: float, capacity: float, expected: int | None, monthly_fixed: float, api_per_million: float) -> str:
    if break_even > capacity:
        return f"the API is cheaper at any volume this stack can serve: break-even needs {break_even / capacity:.1f}x its capacity"
    if expected is None:
        return f"self-hosting wins above {break_even / 1e9:.2f}B tokens/month ({break_even / capacity:.0%} utilization)"
    api_monthly = expected / 1e6 * api_per_million
    if expected >= break_even:
        return f"self-hosting wins at the expected {expected / 1e9:.2f}B tokens/month: ${monthly_fixed:,.0f} vs ${api_monthly:,.0f} on the API"
    return f"the API wins at the expected {expected / 1e9:.2f}B tokens/month: ${api_monthly:,.0f} vs ${monthly_fixed:,.0f} self-hosted; break-even is {break_even / 1e9:.2f}B"
