"""The deployment model: what a validated stack will run, computed once.

`derive(stack, config)` sizes every model, counts and prices every pool's nodes, prices the stack
and its break-even, and works out what survives the loss of every spot node. The Pulumi program,
the monitoring rules' prices, the plan report, the plan JSON and the diff all read this one frozen
object; nothing downstream recomputes sizing or cost.

A model that cannot run as configured (it does not fit its GPUs, its shape is unknown) is a
configuration error: `derive` raises `ConfigError` before any resource is registered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from infra.capacity.economics import PoolCost, capacity_warnings, pool_cost, spot_price_warnings, stack_cost
from infra.capacity.resilience import GpuPods, Survivor, after_spot_loss
from infra.capacity.sizing import ModelSizing, kv_warnings, size_model, stack_problems
from infra.config.problems import ConfigError
from infra.config.stack import StackConfig
from infra.names import EMBEDDINGS_RELEASE


@dataclass(frozen=True)
class Deployment:
    """A stack's derived model. `cost` is the plan's JSON-ready cost object."""

    stack: str
    config: StackConfig
    sizing: tuple[ModelSizing, ...]
    pools: tuple[PoolCost, ...]
    cost: Mapping[str, Any]
    survivors: Mapping[str, Survivor]
    warnings: tuple[str, ...]

    def pool(self, name: str) -> PoolCost:
        return next(p for p in self.pools if p.pool == name)

    @property
    def break_even_usd_per_million_tokens(self) -> float:
        """The hosted API's blended price the stack is compared with (0 when it compares with none)."""
        return self.cost.get("api", {}).get("usd_per_million_tokens", 0.0)

    def resilience(self) -> dict[str, dict[str, Any]]:
        """Per model: its floor, and the replicas and output tokens/s left when every spot node is gone."""
        result = {}
        for sizing in self.sizing:
            left = self.survivors[sizing.model].replicas_after_spot_loss if sizing.model in self.survivors else 0
            result[sizing.model] = {
                "floor": sizing.replicas_on_demand,
                "replicas_planned": sizing.replicas_on_demand + sizing.replicas_spot,
                "replicas_after_spot_loss": left,
                "output_tokens_per_second_after_spot_loss": round(left * sizing.output_tokens_per_second, 1),
            }
        return result


def gpu_pods(config: StackConfig, sizing: tuple[ModelSizing, ...]) -> list[GpuPods]:
    """The GPU pods the program deploys: per model an on-demand and a spot Deployment, and TEI on a GPU pool."""
    pods = []
    for s in sizing:
        pods.append(GpuPods(s.model, s.pool, "on-demand", s.tensor_parallel, s.replicas_on_demand))
        pods.append(GpuPods(s.model, s.pool, "spot", s.tensor_parallel, s.replicas_spot))
    embeddings = config.embeddings
    if embeddings.enabled and embeddings.pool is not None:
        pods.append(GpuPods(EMBEDDINGS_RELEASE, embeddings.pool, embeddings.capacity_type, 1, embeddings.replicas))
    return pods


def on_demand_gpus(config: StackConfig) -> dict[str, list[int]]:
    """Per pool, the GPUs of each on-demand node at the baseline."""
    return {pool.name: [config.instance(pool.instance_types[0]).gpus] * pool.on_demand.baseline for pool in config.gpu_pools}


def floor_warnings(deployment_resilience: dict[str, dict[str, Any]]) -> list[str]:
    return [
        f"{model}: only {left['replicas_after_spot_loss']} of its {left['floor']} on-demand replicas fit on the pool's on-demand "
        "baseline nodes; a spot reclaim would leave it below its floor (raise the pool's onDemand.baseline)"
        for model, left in deployment_resilience.items()
        if left["replicas_after_spot_loss"] < left["floor"]
    ]


def derive(stack: str, config: StackConfig) -> Deployment:
    """The deployment model of a valid stack config; ConfigError when a model cannot run as configured."""
    problems = stack_problems(config)
    if problems:
        raise ConfigError(stack, problems)
    sizing = tuple(size_model(config, model) for model in config.models)
    pools = tuple(pool_cost(config, pool, sizing) for pool in config.gpu_pools)
    survivors = after_spot_loss(on_demand_gpus(config), gpu_pods(config, sizing))
    deployment = Deployment(
        stack=stack,
        config=config,
        sizing=sizing,
        pools=pools,
        cost=MappingProxyType(stack_cost(config, sizing, pools)),
        survivors=MappingProxyType(survivors),
        warnings=(),
    )
    warnings = kv_warnings(sizing) + capacity_warnings(pools) + spot_price_warnings(config) + floor_warnings(deployment.resilience())
    return replace(deployment, warnings=tuple(warnings))
