"""docs/deploy.md, the Deploy chapter, checked against the kit: the offline commands it gives are run,
its config keys exist, and the names, ports, numbers and costs it quotes are the plan's."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest
import yaml

from infra.config import reference as config_reference
from infra.offline.plan import STACKS_DIR
from tests.conftest import ROOT, example_plan_of, make_dry_run, of_type, scenario

DOC = (ROOT / "docs" / "deploy.md").read_text()
SHELL_LINES = [line.strip() for block in re.findall(r"```sh\n(.*?)```", DOC, re.S) for line in block.splitlines() if line.strip()]
OFFLINE_PLANS = [line for line in SHELL_LINES if line.startswith(".venv/bin/python -m infra plan")]


def test_the_chapter_walks_from_plan_to_destroy_in_order():
    headings = re.findall(r"^## \d+\. (.+)$", DOC, re.M)
    expected = ["Plan first", "Prerequisites", "Pulumi login", "Secrets", "virtualenv", "pulumi up", "Kubeconfig", "First token", "Dashboards", "pulumi destroy"]
    assert len(headings) == len(expected) and all(word in heading for word, heading in zip(expected, headings, strict=False)), headings


def test_make_plan_runs_the_plan_of_the_stack_named():
    (line,) = [line for line in SHELL_LINES if line.startswith("make plan")]
    stack = line.split("STACK=")[1]
    assert make_dry_run(*shlex.split(line)[1:]).rstrip().endswith(f"-m infra plan --stack {stack}")


def test_the_offline_plan_commands_run_in_order(tmp_path):
    assert len(OFFLINE_PLANS) >= 3
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for line in OFFLINE_PLANS:
        args = shlex.split(line)[1:]  # `.venv/bin/python`: this interpreter
        result = subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, f"{line}: {result.stderr}"
        if "--diff" in args:
            assert "no changes" in result.stdout


def cost_rows() -> dict[str, tuple[str, str]]:
    return {m[0]: (m[1], m[2]) for m in re.findall(r"^\| `([\w-]+)` \| [^|]+ \| \$([\d.,]+) \| \$([\d.,]+) \|$", DOC, re.M)}


def test_the_cost_table_quotes_each_stacks_plan():
    rows = {stack: row for stack, row in cost_rows().items() if (STACKS_DIR / f"Pulumi.{stack}.yaml").is_file()}
    assert rows, "no row of the cost table names a stack in stacks/"
    for stack, (configured, full) in rows.items():
        cost = example_plan_of(stack).cost
        assert (configured, full) == (f"{cost['hourly_usd']:,.2f}", f"{cost['hourly_usd_full_spot_scale_out']:,.2f}"), stack


def test_every_config_key_the_chapter_names_exists():
    known = {row.path for row in config_reference.rows() + config_reference.secret_rows()}
    named = {re.sub(r"\[\d+\]", "[]", key).rstrip(".") for key in re.findall(r"llm-serving:[A-Za-z][\w.\[\]]*", DOC)}
    assert named and named <= known, sorted(named - known)


def test_pulumi_project_settings_are_the_ones_described():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert f"stackConfigDir: {project['stackConfigDir']}" in DOC
    assert f"virtualenv: {project['runtime']['options']['virtualenv']}" in DOC and f"toolchain: {project['runtime']['options']['toolchain']}" in DOC


def test_the_router_port_forward_matches_its_service():
    plan = scenario("dev")
    (service,) = [o for o in plan.manifests["router"] if o["kind"] == "Service"]
    name, namespace, port = service["metadata"]["name"], service["metadata"]["namespace"], service["spec"]["ports"][0]["port"]
    assert f"kubectl -n {namespace} port-forward svc/{name} {port} &" in SHELL_LINES
    assert any(line.startswith(f"curl -s localhost:{port}/v1/chat/completions") for line in SHELL_LINES)
    model = plan.deployment.config.models[0].name
    assert f'"model": "{model}"' in DOC


def test_the_grafana_commands_name_the_monitoring_release():
    (chart,) = [c for c in of_type(scenario("dev"), "kubernetes:helm.sh/v4:Chart") if c.inputs["chart"] == "kube-prometheus-stack"]
    grafana = f"svc/{chart.inputs['name']}-grafana"
    assert f"kubectl -n {chart.inputs['namespace']} port-forward {grafana} 3000:80" in SHELL_LINES


def test_what_remains_after_destroy_is_what_the_program_creates():
    plan = scenario("dev")
    (key,) = of_type(plan, "aws:kms/key:Key")
    (logs,) = of_type(plan, "aws:cloudwatch/logGroup:LogGroup")
    assert f"for {key.inputs['deletionWindowInDays']} days (`deletionWindowInDays`)" in DOC
    assert f"({logs.inputs['retentionInDays']}-day" in DOC
    assert logs.inputs["name"] == "/aws/eks/llm-serving-dev/cluster" and "`/aws/eks/llm-serving-<stack>/cluster`" in DOC
    assert not of_type(plan, "aws:s3/bucket:Bucket") and not of_type(plan, "aws:s3/bucketV2:BucketV2") and "**No S3 bucket**" in DOC


@pytest.mark.parametrize("code", ["L-DB2E81BA", "L-3819A6DF", "L-417A185B", "L-7212CCBC", "L-1216C47A"])
def test_quota_codes_appear_with_their_names(code):
    assert re.search(rf"\| [A-Z][^|]+ \| `{code}` \|", DOC)
