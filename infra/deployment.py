"""The deployment model: what a validated stack will run, computed once.

`derive(stack, config)` sizes every model, estimates its cold start on a fresh node, counts and
prices every pool's nodes, prices the stack and its break-even, and works out what survives the
loss of every spot node and how long the rest takes to come back. The Pulumi program,
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

from infra.capacity.cold_start import ColdStart, estimate
from infra.capacity.economics import PoolCost, capacity_warnings, pool_cost, stack_cost
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
    cold_start: Mapping[str, ColdStart]  # per model: pending pod to Ready on a fresh node, by part
    warnings: tuple[str, ...]

    def pool(self, name: str) -> PoolCost:
        return next(p for p in self.pools if p.pool == name)

    @property
    def break_even_usd_per_million_tokens(self) -> float:
        """The hosted API's blended price the stack is compared with (0 when it compares with none)."""
        return self.cost.get("api", {}).get("usd_per_million_tokens", 0.0)

    def startup_minutes(self, model: str) -> int:
        """The model's startup probe budget: stack config's startupMinutes, or derived from its cold start."""
        configured = next(m.startup_minutes for m in self.config.models if m.name == model)
        return configured if configured is not None else self.cold_start[model].startup_minutes

    def sizing_json(self) -> list[dict[str, Any]]:
        """The plan's `sizing` list: each model's sizing with its cold start (total and parts)."""
        return [
            {
                **s.to_json(),
                "cold_start_seconds": round(self.cold_start[s.model].seconds),
                "cold_start": self.cold_start[s.model].to_json(),
                "startup_minutes": self.startup_minutes(s.model),
            }
            for s in self.sizing
        ]

    def resilience(self) -> dict[str, dict[str, Any]]:
        """Per model: its floor, the replicas and output tokens/s left when every spot node is gone,
        and when the floor and the configured replicas are whole again (seconds; None: not by itself)."""
        result = {}
        for sizing in self.sizing:
            left = self.survivors[sizing.model].replicas_after_spot_loss if sizing.model in self.survivors else 0
            planned = sizing.replicas_on_demand + sizing.replicas_spot
            result[sizing.model] = {
                "floor": sizing.replicas_on_demand,
                "replicas_planned": planned,
                "replicas_after_spot_loss": left,
                "output_tokens_per_second_after_spot_loss": round(left * sizing.output_tokens_per_second, 1),
                "floor_restored_seconds": self._floor_restored(sizing, left),
                "configured_restored_seconds": 0 if left >= planned else round(self.cold_start[sizing.model].seconds),
            }
        return result

    def _floor_restored(self, sizing: ModelSizing, left: int) -> int | None:
        """0 when the floor survives; a fresh on-demand node's cold start when the pool may add one; else None."""
        if left >= sizing.replicas_on_demand:
            return 0
        pool = self.config.pool(sizing.pool)
        return round(self.cold_start[sizing.model].seconds) if pool.on_demand.max_nodes > pool.on_demand.baseline else None


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
    cold_start = {model.name: estimate(config, model, s.fit.weights_gib) for model, s in zip(config.models, sizing)}
    pools = tuple(pool_cost(config, pool, sizing) for pool in config.gpu_pools)
    survivors = after_spot_loss(on_demand_gpus(config), gpu_pods(config, sizing))
    deployment = Deployment(
        stack=stack,
        config=config,
        sizing=sizing,
        pools=pools,
        cost=MappingProxyType(stack_cost(config, sizing, pools)),
        survivors=MappingProxyType(survivors),
        cold_start=MappingProxyType(cold_start),
        warnings=(),
    )
    warnings = kv_warnings(sizing) + capacity_warnings(pools) + floor_warnings(deployment.resilience())
    return replace(deployment, warnings=tuple(warnings))
