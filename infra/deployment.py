"""The deployment model: what a validated stack will run, computed once.

`derive(stack, config)` sizes every model, places every pod on the node groups in each phase
(deploy, full spot scale-out, rolling updates, a node drain, the loss of every spot node), counts
and prices the nodes placement runs, and prices the stack on the replicas that were placed. The
Pulumi program (chart values: requests, rollout strategy), the monitoring rules' prices, the plan
report, the plan JSON and the diff all read this one frozen object; nothing downstream recomputes
sizing, placement or cost. Each model's cold start on a fresh node (node, image, weights, engine) is
estimated here too: it sets the startup probe budget and says when lost capacity is whole again.

A model that cannot run as configured (it does not fit its GPUs, its shape is unknown), an
on-demand floor or a system pod that cannot be placed, or a pod bigger than any node it may use is a
configuration error: `derive` raises `ConfigError` before any resource is registered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any

from infra import PROJECT
from infra.capacity.cold_start import ColdStart, estimate
from infra.capacity.economics import PoolCost, pool_cost, spot_price_warnings, stack_cost
from infra.capacity.placement import Placement, place_stack
from infra.capacity.pods import Workload, workloads_of
from infra.capacity.quotas import QuotaNeed, quota_needs
from infra.capacity.sizing import ModelSizing, kv_warnings, size_model, stack_problems
from infra.catalog import CatalogAge, catalog_ages
from infra.config.checks import advisories, secret_requirements
from infra.config.problems import ConfigError
from infra.config.stack import StackConfig


@dataclass(frozen=True)
class Deployment:
    """A stack's derived model. `cost` is the plan's JSON-ready cost object."""

    stack: str
    config: StackConfig
    as_of: date  # the plan's date: support windows, dated prices and defaults were read on it
    sizing: tuple[ModelSizing, ...]
    workloads: tuple[Workload, ...]
    placement: Placement
    pools: tuple[PoolCost, ...]
    cost: Mapping[str, Any]
    cold_start: Mapping[str, ColdStart]  # per model: pending pod to Ready on a fresh node, by part
    warnings: tuple[str, ...]
    quotas: tuple[QuotaNeed, ...] = ()  # EC2 vCPU quotas the GPU pools need at their maximums
    catalog_ages: tuple[CatalogAge, ...] = ()  # how old each dated catalog is on as_of

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
        """Per model: its floor, the replicas placed, those (and their output tokens/s) left when every
        spot node is gone and spot replicas have moved to on-demand room, and when the floor and the
        placed replicas are whole again (seconds; None: not by itself)."""
        result = {}
        for sizing in self.sizing:
            left = self.placement.model_replicas(sizing.model, "after_spot_loss")
            placed = self.placement.model_replicas(sizing.model)
            result[sizing.model] = {
                "floor": sizing.replicas_on_demand,
                "replicas_planned": sizing.replicas_on_demand + sizing.replicas_spot,
                "replicas_placed": placed,
                "replicas_after_spot_loss": left,
                "output_tokens_per_second_after_spot_loss": round(left * sizing.output_tokens_per_second, 1),
                "floor_restored_seconds": self._floor_restored(sizing, left),
                "configured_restored_seconds": 0 if left >= placed else round(self.cold_start[sizing.model].seconds),
            }
        return result

    def _floor_restored(self, sizing: ModelSizing, left: int) -> int | None:
        """0 when the floor survives; a fresh on-demand node's cold start when the pool may add one; else None."""
        if left >= sizing.replicas_on_demand:
            return 0
        pool = self.config.pool(sizing.pool)
        return round(self.cold_start[sizing.model].seconds) if pool.on_demand.max_nodes > pool.on_demand.baseline else None


def catalog_age_warnings(ages: tuple[CatalogAge, ...], as_of: date) -> list[str]:
    return [
        f"catalog {a.file} ({a.what}) was read {a.read}, {a.age_days} days before the plan date {as_of}: "
        f"re-check it against its sources, or override the figures per stack under {PROJECT}:catalog"
        for a in ages
        if a.stale
    ]


def derive(stack: str, config: StackConfig, as_of: date, secrets_set: frozenset[str] = frozenset()) -> Deployment:
    """The deployment model of a valid stack config on the plan's date `as_of`, given the names of the secret
    keys the stack sets; ConfigError when a model cannot run or be placed. Its warnings are all the plan's
    warnings but the AWS pre-flight's (which needs the account)."""
    problems = stack_problems(config)
    if problems:
        raise ConfigError(stack, problems)
    sizing = tuple(size_model(config, model) for model in config.models)
    cold_start = {model.name: estimate(config, model, s.fit.weights_gib) for model, s in zip(config.models, sizing, strict=True)}
    workloads = workloads_of(config, sizing)
    placement = place_stack(config, workloads)
    if placement.problems:
        raise ConfigError(stack, list(placement.problems))
    pools = tuple(
        pool_cost(config, pool, sizing, placed_nodes=(placement.nodes(pool.name, "on-demand"), placement.nodes(pool.name, "spot"))) for pool in config.gpu_pools
    )
    placed = {s.model: placement.model_replicas(s.model) for s in sizing}
    ages = catalog_ages(as_of)
    warnings = (
        [f"{p} (pulumi up refuses until it is set)" for p in secret_requirements(config, secrets_set)]
        + advisories(config, as_of, secrets_set)
        + kv_warnings(sizing)
        + list(placement.warnings)
        + spot_price_warnings(config)
        + catalog_age_warnings(ages, as_of)
    )
    return Deployment(
        stack=stack,
        config=config,
        as_of=as_of,
        sizing=sizing,
        workloads=workloads,
        placement=placement,
        pools=pools,
        cost=MappingProxyType(stack_cost(config, sizing, pools, as_of, placed)),
        cold_start=MappingProxyType(cold_start),
        warnings=tuple(warnings),
        quotas=quota_needs(config),
        catalog_ages=ages,
    )
