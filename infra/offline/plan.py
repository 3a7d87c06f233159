"""The offline plan: the real program, run in-process under the mock engine of infra/offline/mocks.py.

No cloud credentials and no Pulumi CLI: the stack file is read the way the Pulumi CLI would hand
it to the program, the program validates it (infra/config/) and registers its resources, and
the plan returns every registration with its inputs. Secrets are masked in everything it prints.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime

from infra import PROJECT, REPO_ROOT
from infra.capacity.sizing import ModelSizing
from infra.config.preflight import Mode, Preflight
from infra.config.problems import ConfigError
from infra.config.stack_file import config_section, load_stack_file, namespace_problems
from infra.deployment import Deployment
from infra.offline import helm
from infra.offline.mocks import MASK, EngineLog, PlanMocks, RecordingMonitor, RegisteredResource, unwrap_secrets
from infra.program import run

STACKS_DIR = REPO_ROOT / "stacks"


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
    values as JSON text, and `secure:` values (which only Pulumi can decrypt) as masked secrets.
    StackFileError when the file is not YAML the Pulumi CLI reads the same way (infra/config/
    stack_file.py); ConfigError for keys under a misspelled namespace."""
    config = config_section(path, load_stack_file(path))
    problems = namespace_problems(config)
    if problems:
        raise ConfigError(path.name.removeprefix("Pulumi.").removesuffix(".yaml"), problems)
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in config.items():
        key = str(key)
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
        return {inputs["name"]: objects for inputs, objects in zip(releases, rendered, strict=True)}


@dataclass
class Plan:
    """The planned graph and what the deployment model says about it."""

    deployment: Deployment
    resources: list[RegisteredResource]
    manifests: dict[str, list[dict[str, Any]]]
    warnings: list[str]
    preflight: Preflight
    engine_log: EngineLog  # what the program logged to the engine (what `pulumi up` would show)

    @property
    def stack(self) -> str:
        return self.deployment.stack

    @property
    def sizing(self) -> tuple[ModelSizing, ...]:
        return self.deployment.sizing

    @property
    def cost(self) -> dict[str, Any]:
        return dict(self.deployment.cost)

    def resilience(self) -> dict[str, Any]:
        return self.deployment.resilience()

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "as_of": self.deployment.as_of.isoformat(),
            "catalog_ages": [a.to_json() for a in self.deployment.catalog_ages],
            "warnings": self.warnings,
            "sizing": self.deployment.sizing_json(),
            "cost": self.cost,
            "resilience": self.resilience(),
            "placement": self.deployment.placement.to_json(),
            "quotas": [q.to_json() for q in self.deployment.quotas],
            "zones": {
                "chosen": [{"name": z.name, "zone_id": z.zone_id} for z in self.preflight.zones],
                "pools": {pool: {c: list(ids) for c, ids in by_capacity.items()} for pool, by_capacity in self.preflight.pool_zones.items()},
            },
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


def run_plan(stack: str, stacks_dir: Path = STACKS_DIR, *, as_of: date, mode: Mode = Mode.PLAN, quotas: dict[str, float] | None = None) -> Plan:
    """Build the stack's program under mocks on the plan date `as_of`. Raises ConfigError (before any cloud
    resource is registered) when the stack's config is invalid, StackNotFound when there is no such stack file.

    Mode.DEPLOY runs the program as `pulumi up` would, against the mock account (tests use it to
    prove what `up` refuses); `quotas` then sets the mock account's EC2 quotas (code -> vCPUs)."""
    values, secret_keys = read_stack_config(stack_file(stack, stacks_dir))
    region = values.get(f"{PROJECT}:region", "us-east-1")
    mocks = PlanMocks(region, quotas=quotas)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.settings.ROOT.set(None)  # a fresh root stack resource for each plan in this process
    pulumi.runtime.set_all_config(values, secret_keys)
    engine_log = EngineLog()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor, logger=engine_log.logger)
    derived: list[tuple[Deployment, Preflight]] = []
    pulumi.runtime.test(lambda: derived.append(run(as_of, mode)))()
    resources = monitor.registered()
    ((deployment, preflight),) = derived
    return Plan(
        deployment=deployment,
        resources=resources,
        manifests=render_local_charts(resources),
        warnings=[*deployment.warnings, *preflight.warnings],
        preflight=preflight,
        engine_log=engine_log,
    )
