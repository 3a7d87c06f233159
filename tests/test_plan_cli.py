"""`python -m infra plan`: the JSON contract of DESIGN.md, the readable view, and the Pulumi entry
point that `pulumi up` runs (the same folder, executed the way Pulumi's Python host does)."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys

import pulumi.runtime

from infra import PROJECT
from infra.offline.mocks import PlanMocks, RecordingMonitor
from infra.offline.plan import read_stack_config, stack_file
from tests.conftest import ROOT


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_plan_json_has_the_stack_and_every_resource_with_inputs():
    result = run_cli("plan", "--stack", "dev", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["stack"] == "dev"
    assert len(plan["resources"]) > 40
    for resource in plan["resources"]:
        assert set(resource) >= {"urn", "type", "name", "inputs"}
        assert resource["urn"].startswith("urn:pulumi:dev::llm-serving::") and resource["urn"].endswith("::" + resource["name"])
    assert "llm-serving-dev-eks" in {r["name"] for r in plan["resources"]}


def test_plan_json_is_deterministic():
    first, second = run_cli("plan", "--stack", "prod", "--json"), run_cli("plan", "--stack", "prod", "--json")
    assert first.returncode == 0 and first.stdout == second.stdout


def test_readable_plan_shows_node_groups_and_the_tree():
    result = run_cli("plan", "--stack", "prod")
    assert result.returncode == 0, result.stderr
    assert "Stack 'prod': configuration valid" in result.stdout
    assert "llm-serving-prod-l40s-spot       SPOT       g6e.12xlarge, g6e.24xlarge  0    7" in result.stdout
    assert "  llm-serving-prod-eks  (aws:eks/cluster:Cluster)" in result.stdout


def test_plan_of_a_bad_stack_exits_2_with_the_message_on_stderr():
    result = run_cli("plan", "--stack", "baseline-above-max", "--stacks-dir", str(ROOT / "tests" / "bad_stacks"))
    assert result.returncode == 2 and result.stdout == ""
    assert "llm-serving:gpuPools[0].onDemand.max: got 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_pulumi_runs_the_infra_folder_as_the_program():
    """Pulumi's Python host executes `main: infra/` with runpy; that path must build the stack."""
    values, secrets = read_stack_config(stack_file("dev"))
    given = {f"{PROJECT}:{key}": "decrypted-value" for key in ("apiKey", "openaiApiKey", "grafanaAdminPassword")}  # `pulumi up` refuses without them
    values, secrets = values | given, secrets + list(given)
    mocks = PlanMocks("us-east-1")
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_all_config(values, secrets)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="dev", preview=False, monitor=monitor)
    pulumi.runtime.test(lambda: runpy.run_path(str(ROOT / "infra"), run_name="__main__") and None)()
    assert "aws:eks/cluster:Cluster" in {r.type for r in monitor.registered()}


def test_pulumi_yaml_points_at_the_program_and_the_stacks():
    import yaml

    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == PROJECT and project["main"] == "infra/" and project["stackConfigDir"] == "stacks"
    assert project["runtime"]["name"] == "python" and project["runtime"]["options"]["virtualenv"] == ".venv"
