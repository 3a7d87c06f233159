"""What a change does, comparing two plans (the JSON of `python -m infra plan --json`): resources
added, changed and removed, changed inputs and chart values, vLLM arguments, GPUs and cost, placed
capacity (each model's floor, replicas placed and left after a spot loss, the output tokens/s
placed) and the warnings added or resolved.

Resources are matched by URN; a changed resource lists each changed input path with its old and new
value. Plans are deterministic, so a plan diffed against itself is empty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MISSING = object()


@dataclass(frozen=True)
class Change:
    path: str
    old: Any
    new: Any


@dataclass
class ResourceChange:
    urn: str
    type: str
    name: str
    changes: list[Change]


@dataclass
class PlanDiff:
    stack: str
    added: list[dict] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)
    changed: list[ResourceChange] = field(default_factory=list)
    vllm_args: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # deployment -> {"added": [...], "removed": [...]}
    gpus: dict[str, tuple[int, int]] = field(default_factory=dict)  # "configured" / "full scale-out" -> (base, head)
    cost: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    sizing: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)
    capacity: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # "<model>: floor" / "replicas placed" / ... -> (base, head)
    warnings: dict[str, list[str]] = field(default_factory=dict)  # "added" / "resolved"

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.vllm_args or self.sizing or any(self.warnings.values())) and all(
            old == new for old, new in [*self.gpus.values(), *self.cost.values(), *self.capacity.values()]
        )

    def to_json(self) -> dict:
        return {
            "stack": self.stack,
            "empty": self.empty,
            "added": [{"urn": r["urn"], "type": r["type"], "name": r["name"]} for r in self.added],
            "removed": [{"urn": r["urn"], "type": r["type"], "name": r["name"]} for r in self.removed],
            "changed": [
                {"urn": c.urn, "type": c.type, "name": c.name, "changes": [{"path": x.path, "old": x.old, "new": x.new} for x in c.changes]}
                for c in self.changed
            ],
            "vllm_args": self.vllm_args,
            "gpus": {k: {"base": v[0], "head": v[1]} for k, v in self.gpus.items()},
            "cost": {k: {"base": v[0], "head": v[1]} for k, v in self.cost.items()},
            "sizing": {m: {k: {"base": v[0], "head": v[1]} for k, v in d.items()} for m, d in self.sizing.items()},
            "capacity": {k: {"base": v[0], "head": v[1]} for k, v in self.capacity.items()},
            "warnings": self.warnings,
        }


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted paths; lists and scalars are leaves."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def input_changes(old: dict, new: dict) -> list[Change]:
    before, after = _flatten(old), _flatten(new)
    return [
        Change(path, before.get(path, MISSING), after.get(path, MISSING))
        for path in sorted(before.keys() | after.keys())
        if before.get(path, MISSING) != after.get(path, MISSING)
    ]


def _vllm_args(plan: dict) -> dict[str, list[str]]:
    args = {}
    for release, objects in plan.get("manifests", {}).items():
        for obj in objects:
            if obj.get("kind") == "Deployment":
                for container in obj["spec"]["template"]["spec"]["containers"]:
                    if container["name"] == "vllm":
                        args[f"{release}/{obj['metadata']['name']}"] = container.get("args", [])
    return args


def gpu_counts(plan: dict) -> dict[str, int]:
    pools = (plan.get("cost") or {}).get("pools", [])
    return {
        "configured": sum((p["on_demand_nodes"] + p["spot_nodes"]) * p["gpus_per_node"] for p in pools),
        "full spot scale-out": sum((p["on_demand_nodes"] + p["spot_nodes_max"]) * p["gpus_per_node"] for p in pools),
    }


def _cost_figures(plan: dict) -> dict[str, float | None]:
    cost = plan.get("cost") or {}
    per_million = cost.get("per_million_tokens") or {}
    expected = per_million.get("expected") or {}
    return {
        "$/hour": cost.get("hourly_usd"),
        "$/month": cost.get("monthly_usd"),
        "$/hour at full spot scale-out": cost.get("hourly_usd_full_spot_scale_out"),
        "$/Mtok at 100%": per_million.get("100%"),
        "$/Mtok expected": expected.get("usd"),
    }


def placed_capacity(plan: dict) -> dict[str, Any]:
    """Per model its floor, replicas placed and replicas left after a spot loss; the output tokens/s placed."""
    figures: dict[str, Any] = {"output tokens/s placed": (plan.get("cost") or {}).get("capacity_output_tokens_per_second")}
    labels = {"floor": "floor (on-demand)", "replicas_placed": "replicas placed", "replicas_after_spot_loss": "replicas after spot loss"}
    for model, numbers in sorted((plan.get("resilience") or {}).items()):
        for key, label in labels.items():
            figures[f"{model}: {label}"] = numbers.get(key)
    return figures


def _sizing(plan: dict) -> dict[str, dict]:
    keys = (
        "gpu", "tensor_parallel", "quantization", "weights_gib", "kv_cache_gib", "fits", "max_concurrent_sequences",
        "estimated_output_tokens_per_second", "cold_start_seconds", "startup_minutes",
    )
    return {s["model"]: {k: s.get(k) for k in keys} for s in plan.get("sizing", [])}


def diff_plans(base: dict, head: dict) -> PlanDiff:
    result = PlanDiff(stack=head["stack"])
    base_resources = {r["urn"]: r for r in base["resources"]}
    head_resources = {r["urn"]: r for r in head["resources"]}
    result.added = [head_resources[u] for u in sorted(head_resources.keys() - base_resources.keys())]
    result.removed = [base_resources[u] for u in sorted(base_resources.keys() - head_resources.keys())]
    for urn in sorted(base_resources.keys() & head_resources.keys()):
        changes = input_changes(base_resources[urn]["inputs"], head_resources[urn]["inputs"])
        if changes:
            resource = head_resources[urn]
            result.changed.append(ResourceChange(urn, resource["type"], resource["name"], changes))

    base_args, head_args = _vllm_args(base), _vllm_args(head)
    for deployment in sorted(base_args.keys() | head_args.keys()):
        old, new = base_args.get(deployment, []), head_args.get(deployment, [])
        if old != new:
            result.vllm_args[deployment] = {"removed": [a for a in old if a not in new], "added": [a for a in new if a not in old]}

    base_gpus, head_gpus = gpu_counts(base), gpu_counts(head)
    result.gpus = {k: (base_gpus[k], head_gpus[k]) for k in head_gpus}
    base_cost, head_cost = _cost_figures(base), _cost_figures(head)
    result.cost = {k: (base_cost[k], head_cost[k]) for k in head_cost}
    base_capacity, head_capacity = placed_capacity(base), placed_capacity(head)
    result.capacity = {k: (base_capacity.get(k), head_capacity.get(k)) for k in sorted(base_capacity.keys() | head_capacity.keys(), key=lambda k: (k != "output tokens/s placed", k))}
    base_warnings, head_warnings = base.get("warnings", []), head.get("warnings", [])
    result.warnings = {"added": [w for w in head_warnings if w not in base_warnings], "resolved": [w for w in base_warnings if w not in head_warnings]}
    base_sizing, head_sizing = _sizing(base), _sizing(head)
    for model in sorted(base_sizing.keys() | head_sizing.keys()):
        old, new = base_sizing.get(model, {}), head_sizing.get(model, {})
        changed = {k: (old.get(k), new.get(k)) for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)}
        if changed:
            result.sizing[model] = changed
    return result


def show(value: Any, limit: int = 60) -> str:
    """A value as a short, readable cell."""
    if value is MISSING:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
