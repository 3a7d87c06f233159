"""`plan --out` and `plan --diff`, the pull-request comment, and the GitHub workflows."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest
import yaml

from infra.offline import report
from infra.offline.diff import diff_plans, gpu_counts
from tests.conftest import AS_OF, EXAMPLE_STACKS, ROOT, SCENARIOS, dated, scenario

WORKFLOWS = ROOT / ".github" / "workflows"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra", *dated(args)], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_a_plan_diffed_against_itself_is_empty(example_plan):
    plan = example_plan.to_json()
    changes = diff_plans(json.loads(json.dumps(plan)), plan)
    assert changes.empty
    assert report.diff_report(changes).strip() == f"### `{example_plan.stack}`: no changes"


def test_out_writes_the_plan_the_report_and_one_manifest_file_per_release(tmp_path, example_plan):
    result = cli("plan", "--stack", example_plan.stack, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Stack '{example_plan.stack}': configuration valid")  # the readable plan, too
    written = json.loads((tmp_path / "plan.json").read_text())
    assert written == json.loads(json.dumps(example_plan.to_json(), sort_keys=True))
    for release, objects in example_plan.manifests.items():
        assert list(yaml.safe_load_all((tmp_path / "manifests" / f"{release}.yaml").read_text())) == objects
    report_md = (tmp_path / "report.md").read_text()
    assert report_md.startswith(f"# Plan of stack `{example_plan.stack}`") and "## Cost" in report_md and "```" in report_md


def test_every_stack_diffed_against_its_own_out_shows_no_changes(tmp_path, example_plan):
    stack = example_plan.stack
    assert cli("plan", "--stack", stack, "--out", str(tmp_path)).returncode == 0
    readable = cli("plan", "--stack", stack, "--diff", str(tmp_path / "plan.json"))
    assert readable.returncode == 0, readable.stderr
    assert readable.stdout.strip() == f"### `{stack}`: no changes"
    as_json = cli("plan", "--stack", stack, "--json", "--diff", str(tmp_path / "plan.json"))
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["empty"] is True


def test_diff_against_a_copy_with_another_gpu_type(tmp_path, plan_of, write_stack):
    base = tmp_path / "base"
    assert cli("plan", "--stack", "prod", "--stacks-dir", str(SCENARIOS), "--out", str(base)).returncode == 0

    def h100(config):
        config["llm-serving:gpuPools"][0]["instanceTypes"] = ["p5.48xlarge"]

    stack, folder = write_stack("prod", base="prod", edit=h100)
    result = cli("plan", "--stack", stack, "--stacks-dir", str(folder), "--diff", str(base / "plan.json"))
    assert result.returncode == 0, result.stderr
    comment = result.stdout
    # both node groups, the pool prices in the cost rules, and the vLLM chart (more S3 clients for p5's wider network)
    assert "### `prod`: 0 to add, 4 to change, 0 to remove" in comment
    assert "| `llm-serving-prod-monitoring-rules` (Chart) | `values.pools` |" in comment
    assert '| `llm-serving-prod-l40s-on-demand` (NodeGroup) | `instanceTypes` | `["g6e.12xlarge"]` | `["p5.48xlarge"]` |' in comment
    assert '| `llm-serving-prod-l40s-spot` (NodeGroup) | `labels.llm-serving/gpu` | `"L40S"` | `"H100"` |' in comment

    base_plan, head_plan = json.loads((base / "plan.json").read_text()), plan_of(stack, folder).to_json()
    base_gpus, head_gpus = gpu_counts(base_plan)["configured"], gpu_counts(head_plan)["configured"]
    # base: 3 on-demand nodes + 2 spot nodes for 2 TP-4 replicas, + the 2 L4 nodes. head: the 3 on-demand
    # 8-GPU nodes hold the 3 floor replicas with room for both spot replicas (spot is preferred, not
    # required), so placement opens no spot node.
    assert (base_gpus, head_gpus) == (3 * 4 + 2 * 4 + 2, 3 * 8 + 2)
    assert f"| GPUs, configured | {base_gpus} | {head_gpus} | +{head_gpus - base_gpus} " in comment
    hourly = f"| $/hour | {base_plan['cost']['hourly_usd']} | {head_plan['cost']['hourly_usd']} | +"
    assert hourly in comment
    assert "| llama-70b | gpu | \"L40S\" | \"H100\" |" in comment
    assert "| llama-70b | cold_start_seconds |" in comment  # p5's wider network streams the weights faster


def test_diff_shows_changed_vllm_arguments(plan_of, write_stack):
    def more_sequences(config):
        config["llm-serving:models"][0]["maxNumSeqs"] = 64

    changes = diff_plans(scenario("dev").to_json(), plan_of(*write_stack("dev", edit=more_sequences)).to_json())
    assert changes.vllm_args["llama-8b/llama-8b-on-demand"] == {"removed": ["--max-num-seqs=32"], "added": ["--max-num-seqs=64"]}
    (chart,) = [c for c in changes.changed if c.type == "kubernetes:helm.sh/v4:Chart"]
    assert [(c.path, c.old, c.new) for c in chart.changes] == [("values.engine.maxNumSeqs", 32, 64)]


def test_diff_json_lists_added_and_removed_resources(plan_of, write_stack):
    def second_admin(config):
        config["llm-serving:cluster"]["admins"].append("arn:aws:iam::123456789012:role/auditor")

    changes = diff_plans(scenario("dev").to_json(), plan_of(*write_stack("dev", edit=second_admin)).to_json()).to_json()
    assert sorted(r["type"] for r in changes["added"]) == ["aws:eks/accessEntry:AccessEntry", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"]
    assert changes["removed"] == [] and not changes["empty"]


def test_pr_comment_covers_every_stack(tmp_path):
    base = tmp_path / "base"
    for stack in EXAMPLE_STACKS:
        assert cli("plan", "--stack", stack, "--out", str(base / stack)).returncode == 0
    result = subprocess.run([sys.executable, "scripts/pr_comment.py", str(base), str(tmp_path / "head"), AS_OF.isoformat()], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("<!-- llm-serving-plan -->")
    for stack in EXAMPLE_STACKS:
        assert f"### `{stack}`: no changes" in result.stdout
        assert (tmp_path / "head" / stack / "diff.md").is_file()


@pytest.mark.parametrize("workflow", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_workflows_validate_against_the_github_workflow_schema(workflow):
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(WORKFLOWS / workflow)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pull_requests_run_the_tests_the_offline_plan_and_pulumi_preview_when_configured():
    workflow = yaml.safe_load((WORKFLOWS / "pull-request.yml").read_text())
    jobs = workflow["jobs"]
    assert any(step.get("run") == "make test" for step in jobs["test"]["steps"])
    plan_steps = " ".join(step.get("run", "") for step in jobs["offline-plan"]["steps"])
    assert "scripts/pr_comment.py" in plan_steps and "--out" in plan_steps
    preview = next(step for step in jobs["pulumi-preview"]["steps"] if str(step.get("uses", "")).startswith("pulumi/actions@"))
    assert preview["with"]["command"] == "preview" and preview["with"]["comment-on-pr"] is True and preview["with"]["upsert"] is True
    assert jobs["pulumi-preview"]["if"] == "${{ vars.AWS_ROLE_ARN != '' }}"
    assert jobs["pulumi-preview-skipped"]["if"] == "${{ vars.AWS_ROLE_ARN == '' }}"


def test_pulumi_preview_runs_for_every_stack_file_found(tmp_path):
    jobs = yaml.safe_load((WORKFLOWS / "pull-request.yml").read_text())["jobs"]
    assert jobs["pulumi-preview"]["strategy"]["matrix"] == {"stack": "${{ fromJSON(needs.stacks.outputs.names) }}"}
    assert "stacks" in jobs["pulumi-preview"]["needs"]
    (listing,) = [step for step in jobs["stacks"]["steps"] if step.get("id") == "list"]
    output = tmp_path / "github-output"
    result = subprocess.run(["bash", "-c", listing["run"]], cwd=ROOT, env={"GITHUB_OUTPUT": str(output), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    (line,) = output.read_text().splitlines()
    assert line.startswith("names=") and json.loads(line.removeprefix("names=")) == EXAMPLE_STACKS


def test_plan_jobs_set_up_without_the_test_tools():
    workflows = {name: yaml.safe_load((WORKFLOWS / name).read_text())["jobs"] for name in ("pull-request.yml", "deploy.yml")}
    for name, jobs in workflows.items():
        for job_name, job in jobs.items():
            runs = [step.get("run", "") for step in job.get("steps", [])]
            if job_name != "test":
                assert not any("make setup" in run and "||" not in run for run in runs), f"{name}: {job_name} installs the test tools"


def test_main_deploys_stacks_that_exist_the_last_behind_a_protected_environment():
    jobs = yaml.safe_load((WORKFLOWS / "deploy.yml").read_text())["jobs"]
    deploys = {name: job for name, job in jobs.items() if name != "test"}
    for name, job in deploys.items():
        (up,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
        assert up["with"] == {"command": "up", "stack-name": name}
        assert name in EXAMPLE_STACKS, f"deploy.yml deploys {name}, which has no stacks/Pulumi.{name}.yaml"
    order = list(deploys)
    assert deploys[order[0]]["needs"] == "test" and all(deploys[b]["needs"] == a for a, b in itertools.pairwise(order))
    assert deploys[order[-1]]["environment"] == "production"
