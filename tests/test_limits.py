"""The mechanisms behind the refusals: limits.py's name templates match the names the program really
registers, extraArgs are read as vLLM's parser reads them, credentials are redacted wherever they
appear, and a stack with only its required keys plans in every output mode."""

from __future__ import annotations

import json

import pytest
import yaml

from infra import PROJECT
from infra.config import limits, vllm_flags
from infra.config.problems import Problem
from infra.config.redact import REDACTED, looks_like_secret, redact
from infra.offline import cli
from tests.conftest import of_type


def test_the_longest_fixed_iam_role_name_is_the_one_limits_py_budgets_for(plan_of):
    plan = plan_of("dev")
    prefix = f"{PROJECT}-dev-"
    fixed = [r.name.removeprefix(prefix) for r in of_type(plan, "aws:iam/role:Role")]
    assert max(fixed, key=len) == limits.LONGEST_FIXED_ROLE_SUFFIX


def test_adapter_role_and_node_group_names_follow_limits_py_templates(plan_of):
    plan = plan_of("prod")
    prefix = f"{PROJECT}-prod"
    config = plan.deployment.config
    roles = {r.name for r in of_type(plan, "aws:iam/role:Role")}
    for model in config.models:
        if any(a.s3 for a in model.lora_adapters):
            assert limits.ADAPTER_ROLE.format(prefix=prefix, model=model.name) in roles
    groups = {r.inputs["nodeGroupName"] for r in of_type(plan, "aws:eks/nodeGroup:NodeGroup")}
    for pool in config.gpu_pools:
        assert limits.NODE_GROUP.format(prefix=prefix, pool=pool.name, capacity="on-demand") in groups


def test_a_stack_at_every_name_limit_plans_and_its_aws_names_fit(write_stack, plan_of):
    stack = "s" * limits.STACK_NAME_MAX

    def longest_names(config):
        config[f"{PROJECT}:gpuPools"][0]["name"] = "p" * 20
        config[f"{PROJECT}:models"][0]["pool"] = "p" * 20

    plan = plan_of(*write_stack(stack, edit=longest_names))
    for role in of_type(plan, "aws:iam/role:Role"):
        assert len(role.name) + limits.PULUMI_AUTONAME_SUFFIX <= limits.IAM_ROLE_NAME_MAX, role.name
    for group in of_type(plan, "aws:eks/nodeGroup:NodeGroup"):
        assert len(group.inputs["nodeGroupName"]) <= limits.NODE_GROUP_NAME_MAX


@pytest.mark.parametrize(
    ("item", "refused"),
    [
        ("--max-model-len=4096", "--max-model-len"),
        ("--max_model_len=4096", "--max-model-len"),
        ("--max_num_seqs", "--max-num-seqs"),
        ("-tp", "--tensor-parallel-size"),
        ("-tp=2", "--tensor-parallel-size"),
        ("-tp2", "--tensor-parallel-size"),
        ("-q", "--quantization"),
        ("-pp=2", "--pipeline-parallel-size"),
        ("-dp", "--data-parallel-size"),
        ("-dpl=2", "--data-parallel-size-local"),
        ("--data_parallel_size=2", "--data-parallel-size"),
        ("--no-enable-prefix-caching", "--enable-prefix-caching"),
        ("--no-enable-lora", "--enable-lora"),
        ("--gpu-memory-util=0.95", "--gpu-memory-utilization"),
        ("--served-model", "--served-model-name"),
        ("--api-key", "--api-key"),
        ("--api_key=abc", "--api-key"),
        ("--hf-token", "--hf-token"),
        ("--config=/tmp/x.yaml", "--config"),
        ("--lora-modules.x=y", "--lora-modules"),
    ],
)
def test_extra_args_are_read_as_vllms_parser_reads_them(item, refused):
    reason = vllm_flags.problem(item)
    assert reason is not None and refused in reason, (item, reason)


@pytest.mark.parametrize(
    "item", ["--enable-chunked-prefill", "--max-num-batched-tokens=8192", "-O3", "--swap-space", "4", "-1", "--disable-log-requests", "--enable-expert-parallel", "--hf-overrides.rope_theta=1e6"]
)
def test_ordinary_vllm_flags_and_values_pass(item):
    assert vllm_flags.problem(item) is None


def test_a_flag_and_its_value_in_one_item_is_refused():
    assert "one flag per item" in vllm_flags.problem("--max-num-batched-tokens 8192")


def test_the_last_value_of_a_flag_wins_as_in_argparse():
    args = ["--max-num-batched-tokens", "4096", "--max_num_batched_tokens=16384"]
    assert vllm_flags.value_of(args, "--max-num-batched-tokens") == "16384"


SECRETS = [
    "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
    "sk-proj-AbCdEfGhIjKlMnOpQrSt0123",
    "sk-ant-api03-AbCdEfGhIjKlMnOpQrSt",
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "Zx9Kq2LmP4vR7tY1wB8nC3dF6gH0jS5aQe",
]
NOT_SECRETS = [
    "0123456789abcdef0123456789abcdef01234567",  # a pinned revision
    "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4",
    "arn:aws:iam::123456789012:role/platform-admin",
    "s3://acme-ml-adapters/llama-3.1-70b/support-tone",
    "--enable-chunked-prefill",
    "my-provider-llama-3.1-8b",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_credential_shapes_are_redacted_under_any_key_and_at_any_depth(secret):
    nested = {"misspelled": [{"deep": f"--api-key={secret}"}], secret: 1}
    shown = json.dumps(redact(nested))
    assert secret not in shown and REDACTED in shown
    line = str(Problem(("tags", secret), f"bad value {secret}", nested))
    assert secret not in line


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_ordinary_values_are_not_mistaken_for_credentials(text):
    assert not looks_like_secret(text)


MINIMAL = {
    "config": {
        f"{PROJECT}:region": "us-east-1",
        f"{PROJECT}:gpuPools": [{"name": "l4", "instanceTypes": ["g6.xlarge"]}],
        f"{PROJECT}:models": [{"name": "llama-8b", "huggingFaceId": "meta-llama/Llama-3.1-8B-Instruct", "pool": "l4"}],
    }
}


def test_a_region_one_pool_and_one_model_plan_in_every_output_mode(tmp_path, capsys):
    (tmp_path / "Pulumi.minimal.yaml").write_text(yaml.safe_dump(MINIMAL))
    plan = ["plan", "--stack", "minimal", "--stacks-dir", str(tmp_path)]
    assert cli.main(plan) == cli.EXIT_OK
    assert "configuration valid" in capsys.readouterr().out
    assert cli.main([*plan, "--json"]) == cli.EXIT_OK
    (tmp_path / "base.json").write_text(capsys.readouterr().out)
    assert cli.main([*plan, "--out", str(tmp_path / "out")]) == cli.EXIT_OK
    assert cli.main([*plan, "--diff", str(tmp_path / "base.json")]) == cli.EXIT_OK
    assert "no changes" in capsys.readouterr().out
    assert cli.main([*plan, "--diff", str(tmp_path / "base.json"), "--json", "--out", str(tmp_path / "out2")]) == cli.EXIT_OK
    assert "Against" not in (tmp_path / "out" / "report.md").read_text()  # no economics.compareWith: no API verdict
