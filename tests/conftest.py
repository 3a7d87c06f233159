"""Fixtures: plan any stack file with the real program under Pulumi mocks and hand back every
registered resource with its resolved inputs.

Two kinds of stack, kept apart on purpose:
- the example stacks (every file in stacks/, whatever its name): the generic checks run on each, and
  read what to expect from its typed config (defaults applied) or its plan, never from raw YAML;
- the test scenarios (tests/scenarios/): fixed inputs for tests that assert specific numbers, so
  adding, editing or removing a stack in stacks/ never breaks a test.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import pytest
import time_machine
import yaml

from infra.offline import plan as plan_module
from infra.offline.mocks import RegisteredResource
from infra.offline.plan import STACKS_DIR, Plan, run_plan

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "tests" / "scenarios"
# The date every test plans on. Rules that read the calendar take it as an input (as_of); the clock is frozen
# on it too (frozen_clock), so code that defaults to today (the CLI's --as-of) agrees, on any real date.
AS_OF = date(2026, 12, 4)
EXAMPLE_STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACKS_DIR.glob("Pulumi.*.yaml"))


@pytest.fixture(autouse=True, scope="session")
def frozen_clock():
    """Today is AS_OF for the whole session (time keeps ticking from there)."""
    with time_machine.travel(datetime.combine(AS_OF, datetime.min.time(), UTC).replace(hour=12), tick=True):
        yield


def dated(args) -> list[str]:
    """CLI arguments with the tests' plan date added to a `plan` command (a subprocess has the real clock)."""
    args = list(args)
    return [*args, "--as-of", AS_OF.isoformat()] if args[:1] == ["plan"] and "--as-of" not in args else args


@cache
def example_plan_of(stack: str) -> Plan:
    """The plan of an example stack in stacks/, built once per test session."""
    return run_plan(stack, as_of=AS_OF)


@cache
def scenario(name: str) -> Plan:
    """The plan of a test scenario, tests/scenarios/Pulumi.<name>.yaml ("dev": one L4 pool, "prod":
    70B at TP 4 on L40S plus an L4 pool), built once per test session."""
    return run_plan(name, SCENARIOS, as_of=AS_OF)


@pytest.fixture(params=EXAMPLE_STACKS)
def example_plan(request) -> Plan:
    """The plan of each stack file in stacks/ (each built once per test session)."""
    return example_plan_of(request.param)


@pytest.fixture
def plan_of():
    """Plan a stack written with `write_stack` (plan_of(*write_stack(...))) or a test scenario by name
    (plan_of("prod")), with run_plan's options (mode, quotas)."""

    def plan(stack: str, stacks_dir: Path = SCENARIOS, **options) -> Plan:
        return run_plan(stack, stacks_dir, **{"as_of": AS_OF, **options})

    return plan


@pytest.fixture
def decrypted_secrets(monkeypatch):
    """Hand the plan secrets as the Pulumi CLI hands over decrypted ones: decrypted_secrets({"llm-serving:apiKey": "..."})."""

    def give(secrets: dict[str, str]) -> None:
        real_reader = plan_module.read_stack_config

        def decrypted(path):
            values, secret_keys = real_reader(path)
            return values | secrets, secret_keys + list(secrets)

        monkeypatch.setattr(plan_module, "read_stack_config", decrypted)

    return give


def raw_config(stack: str, folder: Path = SCENARIOS) -> dict:
    """A stack file's `config:` section as written, for tests that edit or mutate it (expectations come
    from the typed config or the plan)."""
    return yaml.safe_load((folder / f"Pulumi.{stack}.yaml").read_text())["config"]


@pytest.fixture
def write_stack(tmp_path):
    """Write a variant of a test scenario: write_stack("name", base="dev", edit=lambda cfg: ...)."""

    def write(name: str, *, base: str = "dev", edit=lambda config: None) -> tuple[str, Path]:
        document = yaml.safe_load((SCENARIOS / f"Pulumi.{base}.yaml").read_text())
        edit(document["config"])
        (tmp_path / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(document))
        return name, tmp_path

    return write


def make_dry_run(*args: str) -> str:
    """The commands `make -n <args>` prints, as a top-level make would (not `make test`'s sub-make,
    which would add "Entering directory" lines)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    result = subprocess.run(["make", "--no-print-directory", "-n", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def of_type(plan: Plan, type_: str) -> list[RegisteredResource]:
    return [r for r in plan.resources if r.type == type_]


def one(plan: Plan, type_: str, name: str) -> RegisteredResource:
    (match,) = [r for r in plan.resources if r.type == type_ and r.name == name]
    return match


CUSTOM_KINDS = {
    "monitoring.coreos.com/v1": {"PrometheusRule", "ServiceMonitor", "PodMonitor"},  # Prometheus Operator
    "keda.sh/v1alpha1": {"ScaledObject"},  # KEDA
}


def validate_manifest(obj: dict) -> None:
    """Strict Kubernetes 1.33 schema validation; custom resources (no schema offline) must be
    well-formed: a known apiVersion and kind, a name, and a spec."""
    group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
    if "." in group and not group.endswith("k8s.io"):  # not a Kubernetes API group
        assert obj["kind"] in CUSTOM_KINDS.get(obj["apiVersion"], set()), f"unknown custom resource {obj['apiVersion']} {obj['kind']}"
        assert obj["metadata"]["name"] and isinstance(obj["spec"], dict) and obj["spec"]
        return
    import kubernetes_validate

    kubernetes_validate.validate(obj, "1.33.0", strict=True)
