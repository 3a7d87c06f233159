"""Bad input: every file in tests/bad_stacks fails with one clear message that names the stack,
the key path, the bad value and what is allowed, and registers no resource."""

from __future__ import annotations

from pathlib import Path

import pulumi.runtime
import pytest

from infra.config.problems import ConfigError
from infra.offline import cli
from infra.offline.plan import run_plan
from tests.conftest import EXAMPLE_STACKS

BAD_STACKS = Path(__file__).parent / "bad_stacks"

# stack -> (key path, bad value as printed, what the message must say is allowed or expected)
EXPECTED = {
    "unknown-instance-type": ("llm-serving:gpuPools[0].instanceTypes[1]", '"g6.megalarge"', "Allowed: g5.xlarge"),
    "baseline-above-max": ("llm-serving:gpuPools[0].onDemand.max", "2", "must be at least baseline"),
    "spot-min-above-max": ("llm-serving:gpuPools[0].spot.max", "2", "must be at least min"),
    "negative-spot-min": ("llm-serving:gpuPools[0].spot.min", "-1", "greater than or equal to 0"),
    "zero-baseline": ("llm-serving:gpuPools[0].onDemand.baseline", "0", "greater than or equal to 1"),
    "empty-instance-list": ("llm-serving:gpuPools[0].instanceTypes", "[]", "at least 1 item"),
    "count-as-text": ("llm-serving:gpuPools[0].spot.max", '"three"', "valid integer"),
    "instance-types-not-a-list": ("llm-serving:gpuPools[0].instanceTypes", '"g6.xlarge"', "valid list"),
    "unknown-pool-key": ("llm-serving:gpuPools[0].spotMax", "3", "allowed keys here: name, instanceTypes, onDemand, spot"),
    "unknown-top-level-key": ("llm-serving:gpuPool", "[]", "allowed keys here: region, cluster, systemNodes, gpuPools"),
    "missing-pool-name": ("llm-serving:gpuPools[0].name", "missing required key", 'e.g. "l40s"'),
    "missing-region": ("llm-serving:region", "missing required key", 'e.g. "us-east-1"'),
    "unknown-ami-type": ("llm-serving:gpuPools[0].amiType", '"AL2023_x86_64_STANDARD"', "'AL2023_x86_64_NVIDIA' or 'BOTTLEROCKET_x86_64_NVIDIA'"),
    "mixed-gpu-models": ("llm-serving:gpuPools[0].instanceTypes", '["g6.xlarge", "g5.xlarge"]', "one GPU model and count"),
    "unquoted-kubernetes-version": ("llm-serving:cluster.kubernetesVersion", "1.3", 'e.g. "1.33"'),
    "bad-cidr": ("llm-serving:cluster.endpoint.publicCidrs[0]", '"300.1.2.0/24"', "not an IPv4 CIDR block"),
    "public-endpoint-open": ("llm-serving:cluster.endpoint.publicCidrs", "[]", "explicit allow-list"),
    "zone-of-another-region": ("llm-serving:cluster.network.newVpc.zones[1]", '"eu-west-1b"', "not a zone of region us-east-1"),
    "duplicate-pool-names": ("llm-serving:gpuPools", "[", "pool names must be unique; repeated: l4"),
    "unknown-system-instance-type": ("llm-serving:systemNodes.instanceTypes[0]", '"m7i.gigantic"', "not an EC2 instance type"),
    "reserved-label": ("llm-serving:gpuPools[0].labels.llm-serving/pool", '"llm-serving/pool"', "set by the kit or by EKS"),
    "unknown-region": ("llm-serving:region", '"us-middle-1"', "Allowed: af-south-1"),
    "model-on-unknown-pool": ("llm-serving:models[0].pool", '"h100"', "no such GPU pool; pools: l4"),
    "tensor-parallel-beyond-node": ("llm-serving:models[0].tensorParallelSize", "4", "pool l4 has 1 GPU(s) per node (g6.xlarge); use at most 1"),
    "unknown-quantization": ("llm-serving:models[0].quantization", '"int3"', "'awq', 'awq_marlin', 'gptq', 'gptq_marlin', 'fp8' or 'compressed-tensors'"),
    "managed-flag-in-extra-args": ("llm-serving:models[0].extraArgs[0]", '"--max-num-seqs=512"', "--max-num-seqs is set by the kit"),
    "lora-without-source": ("llm-serving:models[0].loraAdapters[0].source", "missing required key", "s3://bucket/prefix (read through IRSA) or a Hugging Face repo id"),
    "lora-bad-rank": ("llm-serving:models[0].loraAdapters[0].rank", "12", "Input should be 1, 8, 16, 32, 64, 128, 256, 320 or 512"),
    "memory-utilization-above-limit": ("llm-serving:models[0].gpuMemoryUtilization", "1.2", "less than or equal to 0.98"),
    "plaintext-api-key": ("llm-serving:apiKey", "[plain text, not shown]", "pulumi config set --secret llm-serving:apiKey"),
    "llama-70b-16-bit-on-one-80gb-gpu": ("llm-serving:models[0]", '"TP 1, 16-bit"', "needs 131.4 GiB of 16-bit weights"),
    "model-shape-unknown": ("llm-serving:models[0].huggingFaceId", '"acme/mystery-model"', "set models[].architecture to a catalog entry or give models[].shape"),
    "awq-on-16-bit-checkpoint": ("llm-serving:models[0].quantization", '"awq_marlin"', "needs a 4-bit checkpoint"),
    "unknown-api-to-compare": ("llm-serving:economics.compareWith", '"gpt-9"', "known: claude-sonnet, gpt-4o"),
    "tokens-and-utilization": ("llm-serving:economics", '"both"', "give monthlyTokens or averageUtilization, not both"),
    "embeddings-on-unknown-pool": ("llm-serving:embeddings.pool", '"a100"', "no such GPU pool; pools: l4 (or null for CPU)"),
    "embeddings-bad-model-id": ("llm-serving:embeddings.model", '"bge-m3"', "should match pattern"),
    "alert-threshold-out-of-range": ("llm-serving:monitoring.alerts.kvCacheUsage", "1.5", "less than or equal to 1"),
    "monitoring-retention-zero": ("llm-serving:monitoring.retentionDays", "0", "greater than or equal to 1"),
    "fallback-unknown-provider": ("llm-serving:fallback.hostedModel", '"cohere/command-r"', "should match pattern '^(anthropic|openai)/"),
    "fallback-timeout-zero": ("llm-serving:fallback.timeoutSeconds", "0", "greater than or equal to 1"),
    "autoscaling-max-below-floor": ("llm-serving:models[0].autoscaling.maxSpotReplicas", "2", "below replicas.spot (3)"),
    "autoscaling-without-monitoring": ("llm-serving:models[0].autoscaling.enabled", "true", "set monitoring.enabled: true"),
    "plaintext-anthropic-key": ("llm-serving:anthropicApiKey", "[plain text, not shown]", "pulumi config set --secret llm-serving:anthropicApiKey"),
}


def test_every_bad_stack_file_has_an_expectation():
    files = {p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in BAD_STACKS.glob("Pulumi.*.yaml")}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("stack", sorted(EXPECTED))
def test_bad_stack_fails_with_one_clear_message_and_registers_nothing(stack):
    path, value, allowed = EXPECTED[stack]
    with pytest.raises(ConfigError) as raised:
        run_plan(stack, BAD_STACKS)
    error = raised.value
    assert len(error.problems) == 1, str(error)
    message = str(error)
    assert f"Stack '{stack}'" in message
    line = message.splitlines()[1]
    assert line.startswith(f"  - {path}: ")
    assert value in line and allowed in line, line
    assert "sk-plain-text" not in message  # a credential in the wrong place is still never echoed
    assert pulumi.runtime.settings.get_monitor().order == []  # nothing registered, not even the provider


@pytest.mark.parametrize("stack", ["baseline-above-max", "unknown-instance-type"])
def test_plan_command_exits_non_zero_with_the_message(stack, capsys):
    assert cli.main(["plan", "--stack", stack, "--stacks-dir", str(BAD_STACKS), "--json"]) == cli.EXIT_INVALID
    captured = capsys.readouterr()
    assert captured.out == ""
    assert EXPECTED[stack][0] in captured.err and f"Stack '{stack}'" in captured.err


def test_every_problem_is_reported_at_once(write_stack):
    def two_mistakes(config):
        config["llm-serving:gpuPools"][0]["spot"]["max"] = -2
        config["llm-serving:systemNodes"]["minNodes"] = "two"

    stack, folder = write_stack("two-mistakes", edit=two_mistakes)
    with pytest.raises(ConfigError) as raised:
        run_plan(stack, folder)
    assert sorted(p.path for p in raised.value.problems) == ["llm-serving:gpuPools[0].spot.max", "llm-serving:systemNodes.minNodes"]


def test_70b_in_16_bit_on_one_gpu_says_what_would_fit():
    with pytest.raises(ConfigError) as raised:
        run_plan("llama-70b-16-bit-on-one-80gb-gpu", BAD_STACKS)
    message = str(raised.value)
    assert "What would fit: tensor parallel 2" in message and "4-bit AWQ/GPTQ" in message and "37.0 GiB" in message


def test_the_pulumi_program_refuses_the_same_stack_before_creating_anything():
    """`pulumi up` runs infra/ with runpy; it must fail the same way, with nothing registered."""
    import runpy

    from infra import PROJECT
    from infra.offline.mocks import PlanMocks, RecordingMonitor
    from infra.offline.plan import read_stack_config, stack_file
    from tests.conftest import ROOT

    values, secrets = read_stack_config(stack_file("llama-70b-16-bit-on-one-80gb-gpu", BAD_STACKS))
    monitor = RecordingMonitor(PlanMocks("us-east-1"))
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_all_config(values, secrets)
    pulumi.runtime.set_mocks(monitor.plan_mocks, project=PROJECT, stack="llama-70b-16-bit-on-one-80gb-gpu", preview=True, monitor=monitor)
    with pytest.raises(ConfigError, match="needs 131.4 GiB"):
        pulumi.runtime.test(lambda: runpy.run_path(str(ROOT / "infra"), run_name="__main__") and None)()
    assert monitor.order == []


def test_unknown_stack_names_the_stacks_there_are(capsys):
    missing = "no-such-stack"
    assert missing not in EXAMPLE_STACKS
    assert cli.main(["plan", "--stack", missing]) == cli.EXIT_INVALID
    err = capsys.readouterr().err
    assert f"no stack '{missing}'" in err and ", ".join(EXAMPLE_STACKS) in err
