"""The offline plan: the real program, run in-process under the mock engine of infra/mocks.py.

No cloud credentials and no Pulumi CLI: the stack file is read the way the Pulumi CLI would hand
it to the program, the program validates it (infra/config.py) and registers its resources, and
the plan returns every registration with its inputs. Secrets are masked in everything it prints.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
import yaml

from infra import PROJECT, helm
from infra.program import run
from infra.resilience import after_spot_loss
from infra.sizing import ModelSizing, kv_warnings, size_model
from infra.config import advisories, load
from infra.economics import capacity_warnings, stack_cost
from infra.mocks import MASK, PlanMocks, RecordingMonitor, RegisteredResource, unwrap_secrets

ROOT = Path(__file__).resolve().parent.parent
STACKS_DIR = ROOT / "stacks"


class StackNotFound(Exception):
    pass


def stack_file(stack: str, stacks_dir: Path = STACKS_DIR) -> Path:
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in stacks_dir.glob("Pulumi.*.yaml"))
        raise StackNotFound(f"no stack '{stack}': {path} does not exist (stacks in {stacks_dir}: {', '.join(known) or 'none'})")
    return path


def read_stack_config(path: Path) -> tuple[dict[str, str], list[str]]:
    """Config values as the Pulumi CLI passes them to a program: namespaced keys, structured
    values as JSON text, and `secure:` values (which only Pulumi can decrypt) as masked secrets."""
    document = yaml.safe_load(path.read_text()) or {}
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in (document.get("config") or {}).items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[full_key] = MASK
            secret_keys.append(full_key)
        else:
            values[full_key] = value if isinstance(value, str) else json.dumps(value)
    return values, secret_keys


def render_local_charts(resources: list[RegisteredResource]) -> dict[str, list[dict[str, Any]]]:
    """`helm template` of every release of our own charts, with the values the program registered:
    each release once, the helm processes side by side."""
    releases = [
        unwrap_secrets(r.inputs, mask=False)
        for r in resources
        if r.type == "kubernetes:helm.sh/v4:Chart" and helm.is_local_chart(r.inputs["chart"])
    ]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        rendered = pool.map(lambda i: helm.template(i["chart"], i["name"], i["namespace"], i["values"]), releases)
        return {inputs["name"]: objects for inputs, objects in zip(releases, rendered)}


@dataclass
class Plan:
    stack: str
    resources: list[RegisteredResource]
    manifests: dict[str, list[dict[str, Any]]]
    sizing: list[ModelSizing]
    cost: dict[str, Any]
    warnings: list[str]

    def resilience(self) -> dict[str, Any]:
        """Per model: its floor, and the replicas and output tokens/s left when every spot node is gone."""
        survivors = after_spot_loss(self.resources, self.manifests)
        result = {}
        for sizing in self.sizing:
            left = survivors[sizing.model].replicas_after_spot_loss if sizing.model in survivors else 0
            result[sizing.model] = {
                "floor": sizing.replicas_on_demand,
                "replicas_planned": sizing.replicas_on_demand + sizing.replicas_spot,
                "replicas_after_spot_loss": left,
                "output_tokens_per_second_after_spot_loss": round(left * sizing.output_tokens_per_second, 1),
            }
        return result

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "warnings": self.warnings,
            "sizing": [s.to_json() for s in self.sizing],
            "cost": self.cost,
            "resilience": self.resilience(),
            "manifests": unwrap_secrets(self.manifests, mask=True),
            "resources": [
                {
                    "urn": r.urn,
                    "type": r.type,
                    "name": r.name,
                    "parent": r.parent,
                    "provider": r.provider,
                    "inputs": unwrap_secrets(r.inputs, mask=True),
                }
                for r in self.resources
            ],
        }


def run_plan(stack: str, stacks_dir: Path = STACKS_DIR) -> Plan:
    """Build the stack's program under mocks. Raises ConfigError (before anything is registered)
    when the stack's config is invalid, StackNotFound when there is no such stack file."""
    values, secret_keys = read_stack_config(stack_file(stack, stacks_dir))
    region = values.get(f"{PROJECT}:region", "us-east-1")
    mocks = PlanMocks(region)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.settings.ROOT.set(None)  # a fresh root stack resource for each plan in this process
    pulumi.runtime.set_all_config(values, secret_keys)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.test(run)()
    resources = monitor.registered()
    config = load()  # already validated by the program run above
    sizing = [size_model(config, model) for model in config.models]
    plan = Plan(
        stack=stack,
        resources=resources,
        manifests=render_local_charts(resources),
        sizing=sizing,
        cost=stack_cost(config, sizing),
        warnings=advisories(config) + kv_warnings(sizing) + capacity_warnings(config, sizing),
    )
    for model, left in plan.resilience().items():
        if left["replicas_after_spot_loss"] < left["floor"]:
            plan.warnings.append(
                f"{model}: only {left['replicas_after_spot_loss']} of its {left['floor']} on-demand replicas fit on the pool's on-demand "
                "baseline nodes; a spot reclaim would leave it below its floor (raise the pool's onDemand.baseline)"
            )
    return plan
