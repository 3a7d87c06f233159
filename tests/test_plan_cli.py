"""`python -m infra plan`: the JSON contract of DESIGN.md, the readable view, and the Pulumi entry
point that `pulumi up` runs (the same folder, executed the way Pulumi's Python host does)."""

from __future__ import annotations

import json
import re
import runpy
import subprocess
import sys

import pulumi.runtime
import pytest

from infra import PROJECT
from infra.config.problems import ConfigError
from infra.offline.mocks import PlanMocks, RecordingMonitor
from infra.offline.plan import read_stack_config, stack_file
from tests.conftest import EXAMPLE_STACKS, ROOT, SCENARIOS, dated


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra", *dated(args)], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_plan_json_has_the_stack_and_every_resource_with_inputs(stack):
    result = run_cli("plan", "--stack", stack, "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["stack"] == stack
    assert len(plan["resources"]) > 40
    for resource in plan["resources"]:
        assert set(resource) >= {"urn", "type", "name", "inputs"}
        assert resource["urn"].startswith(f"urn:pulumi:{stack}::llm-serving::") and resource["urn"].endswith("::" + resource["name"])
    assert f"llm-serving-{stack}-eks" in {r["name"] for r in plan["resources"]}


def test_plan_json_is_deterministic():
    scenario = ("plan", "--stack", "prod", "--stacks-dir", str(SCENARIOS), "--json")
    first, second = run_cli(*scenario), run_cli(*scenario)
    assert first.returncode == 0 and first.stdout == second.stdout


def test_readable_plan_shows_node_groups_and_the_tree():
    result = run_cli("plan", "--stack", "prod", "--stacks-dir", str(SCENARIOS))
    assert result.returncode == 0, result.stderr
    assert "Stack 'prod': configuration valid" in result.stdout
    assert re.search(r"llm-serving-prod-l40s-spot +SPOT +g6e\.12xlarge, g6e\.24xlarge +0 +7\n", result.stdout)
    assert "  llm-serving-prod-eks  (aws:eks/cluster:Cluster)" in result.stdout


def test_plan_of_a_bad_stack_exits_2_with_the_message_on_stderr():
    result = run_cli("plan", "--stack", "baseline-above-max", "--stacks-dir", str(ROOT / "tests" / "bad_stacks"))
    assert result.returncode == 2 and result.stdout == ""
    assert "llm-serving:gpuPools[0].onDemand.max: got 2" in result.stderr
    assert "Traceback" not in result.stderr


def run_main(values: dict[str, str], secrets: list[str], quotas: dict[str, float]) -> RecordingMonitor:
    given = {f"{PROJECT}:{key}": "decrypted-value" for key in ("apiKey", "openaiApiKey", "grafanaAdminPassword")}  # `pulumi up` refuses without them
    values, secrets = values | given, secrets + list(given)
    mocks = PlanMocks("us-east-1", quotas=quotas)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_all_config(values, secrets)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="dev", preview=False, monitor=monitor)
    pulumi.runtime.test(lambda: runpy.run_path(str(ROOT / "infra"), run_name="__main__") and None)()
    return monitor


def test_pulumi_runs_the_infra_folder_as_the_program_and_it_refuses_what_up_cannot_create():
    """Pulumi's Python host executes `main: infra/` with runpy; that path is `pulumi up`: it refuses the
    example stack's placeholders, and builds the stack once they are real and the quotas allow it."""
    values, secrets = read_stack_config(stack_file("dev"))
    with pytest.raises(ConfigError) as refused:
        run_main(values, secrets, quotas={})
    assert "publicCidrs[0]" in str(refused.value) and "L-DB2E81BA" in str(refused.value)

    cluster = json.loads(values[f"{PROJECT}:cluster"])
    cluster["endpoint"]["publicCidrs"] = ["8.8.8.0/24"]
    cluster["admins"] = ["arn:aws:iam::444455556666:role/platform-admin"]
    real = {**values, f"{PROJECT}:cluster": json.dumps(cluster)}
    monitor = run_main(real, secrets, quotas={"L-DB2E81BA": 64, "L-3819A6DF": 256})
    assert "aws:eks/cluster:Cluster" in {r.type for r in monitor.registered()}


def test_pulumi_yaml_points_at_the_program_and_the_stacks():
    import yaml

    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == PROJECT and project["main"] == "infra/" and project["stackConfigDir"] == "stacks"
    assert project["runtime"]["name"] == "python" and project["runtime"]["options"]["virtualenv"] == ".venv"
