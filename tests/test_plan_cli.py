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
from infra.offline.mocks import PlanMocks, RecordingMonitor
from infra.offline.plan import read_stack_config, stack_file
from tests.conftest import EXAMPLE_STACKS, ROOT, SCENARIOS


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


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
    scenario = ("plan", "--stack", "large", "--stacks-dir", str(SCENARIOS), "--json")
    first, second = run_cli(*scenario), run_cli(*scenario)
    assert first.returncode == 0 and first.stdout == second.stdout


def test_readable_plan_shows_node_groups_and_the_tree():
    result = run_cli("plan", "--stack", "large", "--stacks-dir", str(SCENARIOS))
    assert result.returncode == 0, result.stderr
    assert "Stack 'large': configuration valid" in result.stdout
    assert re.search(r"llm-serving-large-l40s-spot +SPOT +g6e\.12xlarge, g6e\.24xlarge +0 +7\n", result.stdout)
    assert "  llm-serving-large-eks  (aws:eks/cluster:Cluster)" in result.stdout


def test_plan_of_a_bad_stack_exits_2_with_the_message_on_stderr():
    result = run_cli("plan", "--stack", "baseline-above-max", "--stacks-dir", str(ROOT / "tests" / "bad_stacks"))
    assert result.returncode == 2 and result.stdout == ""
    assert "llm-serving:gpuPools[0].onDemand.max: got 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_pulumi_runs_the_infra_folder_as_the_program():
    """Pulumi's Python host executes `main: infra/` with runpy; that path must build the stack."""
    values, secrets = read_stack_config(stack_file("small", SCENARIOS))
    mocks = PlanMocks("us-east-1")
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_all_config(values, secrets)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="small", preview=False, monitor=monitor)
    pulumi.runtime.test(lambda: runpy.run_path(str(ROOT / "infra"), run_name="__main__") and None)()
    assert "aws:eks/cluster:Cluster" in {r.type for r in monitor.registered()}


def test_pulumi_yaml_points_at_the_program_and_the_stacks():
    import yaml

    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == PROJECT and project["main"] == "infra/" and project["stackConfigDir"] == "stacks"
    assert project["runtime"]["name"] == "python" and project["runtime"]["options"]["virtualenv"] == ".venv"
