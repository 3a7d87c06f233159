"""Bad input: every file in tests/bad_stacks fails with one clear message that names the stack,
the key path, the bad value and what is allowed, and registers no resource."""

from __future__ import annotations

from pathlib import Path

import pulumi.runtime
import pytest

from infra.config.problems import ConfigError
from infra.offline import cli
from infra.offline.plan import run_plan
from tests.conftest import AS_OF, EXAMPLE_STACKS

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
    "unquoted-kubernetes-version": ("llm-serving:cluster.kubernetesVersion", "1.3", 'e.g. "1.35"'),
    "bad-cidr": ("llm-serving:cluster.endpoint.publicCidrs[0]", '"300.1.2.0/24"', "not an IPv4 CIDR block"),
    "public-endpoint-open": ("llm-serving:cluster.endpoint.publicCidrs", "[]", "explicit allow-list"),
    "zone-eks-refuses": ("llm-serving:cluster.network.newVpc.zones[1]", '"us-east-1e"', "is zone ID use1-az3 in this account, where EKS cannot place a cluster"),
    "kubernetes-version-past-standard-support": ("llm-serving:cluster.kubernetesVersion", '"1.33"', "left EKS standard support on 2026-07-29"),
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
    "70b-16bit-one-gpu": ("llm-serving:models[0]", '"TP 1, 16-bit"', "needs 131.4 GiB of 16-bit weights"),
    "model-shape-unknown": ("llm-serving:models[0].huggingFaceId", '"acme/mystery-model"', "set models[].architecture to a catalog entry or give models[].shape"),
    "awq-on-16-bit": ("llm-serving:models[0].quantization", '"awq_marlin"', "needs a 4-bit checkpoint"),
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
    # Downstream limits (infra/config/limits.py), route names, extraArgs as vLLM reads them, secrets anywhere.
    "model-named-router": ("llm-serving:models[0].name", "\"router\"", "reserved: embeddings, hosted-fallback, router"),
    "adapter-named-like-model": ("llm-serving:models[0].loraAdapters[0].name", "\"llama-8b\"", "names must be unique across the stack"),
    "adapter-on-two-models": ("llm-serving:models[1].loraAdapters[0].name", "\"tone\"", "already serves 'tone' for llm-serving:models[0].loraAdapters[0].name"),
    "model-named-like-embeddings": ("llm-serving:models[0].name", "\"bge-m3\"", "the router serves the embedding model BAAI/bge-m3 as 'bge-m3'"),
    "adapter-named-fallback": ("llm-serving:models[0].loraAdapters[0].name", "\"hosted-fallback\"", "reserved: embeddings, hosted-fallback, router"),
    "pool-named-on": ("llm-serving:gpuPools[0].name", "\"on\"", "read this name as a boolean or null"),
    "model-named-no": ("llm-serving:models[0].name", "\"no\"", "read this name as a boolean or null"),
    "extra-args-underscore": ("llm-serving:models[0].extraArgs[0]", "\"--max_model_len=4096\"", "vLLM reads it as --max-model-len"),
    "extra-args-short-alias": ("llm-serving:models[0].extraArgs[0]", "\"-tp=2\"", "vLLM reads it as --tensor-parallel-size"),
    "extra-args-abbreviated": ("llm-serving:models[0].extraArgs[0]", "\"--gpu-memory-util=0.95\"", "vLLM reads it as --gpu-memory-utilization"),
    "extra-args-no-form": ("llm-serving:models[0].extraArgs[0]", "\"--no-enable-prefix-caching\"", "vLLM reads it as --enable-prefix-caching"),
    "extra-args-pipeline": ("llm-serving:models[0].extraArgs[0]", "\"--pipeline-parallel-size\"", "changes how many GPUs or nodes a replica uses"),
    "extra-args-api-key": ("llm-serving:models[0].extraArgs[0]", "\"--api-key=[redacted: looks like a crede", "looks like a credential"),
    "extra-args-hf-token-flag": ("llm-serving:models[0].extraArgs[0]", "\"--hf-token\"", "carries a credential"),
    "extra-args-flag-and-value": ("llm-serving:models[0].extraArgs[0]", "\"--max-num-batched-tokens 8192\"", "one flag per item"),
    "extra-args-config-file": ("llm-serving:models[0].extraArgs[0]", "\"--config=/etc/vllm.yaml\"", "loads flags from a file the kit cannot check"),
    "secret-misspelled-key": ("llm-serving:huggingfaceToken", "\"[redacted: looks like a credential]\"", "unknown key; allowed keys here: region"),
    "secret-in-tags": ("llm-serving:tags.owner", "\"[redacted: looks like a credential]\"", "pulumi config set --secret"),
    "secret-nested-unknown": ("llm-serving:cluster.awsAccessKeyId", "\"[redacted: looks like a credential]\"", "unknown key; allowed keys here: kubernetesVersion"),
    "public-cidr-open": ("llm-serving:cluster.endpoint.publicCidrs", "[\"0.0.0.0/0\"]", "each /8 or narrower"),
    "public-cidr-wide": ("llm-serving:cluster.endpoint.publicCidrs", "[\"203.0.113.0/24\", \"64.0.0.0/2\"]", "each /8 or narrower"),
    "endpoint-public-only": ("llm-serving:cluster.endpoint.private", "false", "nodes would never join; keep private: true"),
    "s3-adapter-wildcard": ("llm-serving:models[0].loraAdapters[0].source", "\"s3://acme-ml-adapters/*\"", "give the adapter's exact prefix"),
    "duplicate-zones": ("llm-serving:cluster.network.newVpc.zones", "[\"us-east-1a\", \"us-east-1a\"]", "list each once"),
    "unknown-zone": ("llm-serving:cluster.network.newVpc.zones[1]", "\"us-east-1z\"", "letters a-f"),
    "vpc-cidr-public": ("llm-serving:cluster.network.newVpc.cidr", "\"8.8.0.0/16\"", "inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10"),
    "vpc-cidr-too-small": ("llm-serving:cluster.network.newVpc.cidr", "\"10.20.0.0/24\"", "a /16 to /20 block"),
    "spot-max-above-quota": ("llm-serving:gpuPools[0].spot.max", "451", "less than or equal to 450"),
    "reserved-tag-prefix": ("llm-serving:tags", "{\"environment\": \"dev\", \"aws:team\": \"ml\"}", "reserved for AWS"),
    "tag-value-too-long": ("llm-serving:tags", "{\"environment\": \"dev\", \"note\": \"xxxxxxxx", "values up to 256"),
    "system-nodes-arm64": ("llm-serving:systemNodes.instanceTypes[0]", "\"m7g.large\"", "the kit's node AMIs are x86_64"),
    "hpa-stabilization-long": ("llm-serving:models[0].autoscaling.scaleDownStabilizationSeconds", "7200", "less than or equal to 3600"),
    "prometheus-gp3-too-big": ("llm-serving:monitoring.storageGib", "20000", "less than or equal to 16384"),
    "max-num-seqs-above-batch": ("llm-serving:models[0].maxNumSeqs", "4096", "above max_num_batched_tokens (2048"),
    "tei-batch-below-input": ("llm-serving:embeddings.maxBatchTokens", "512", "use at least 8192"),
    "fp8-on-awq-checkpoint": ("llm-serving:models[0].quantization", "\"fp8\"", "is quantized with awq; vLLM refuses a different --quantization"),
    "gptq-on-awq-checkpoint": ("llm-serving:models[0].quantization", "\"gptq_marlin\"", "use null (read from the checkpoint) or awq, awq_marlin"),
    "weight-bits-contradict": ("llm-serving:models[0].weightBits", "4", "is 16-bit in the catalog"),
    "architecture-contradict": ("llm-serving:models[0].architecture", "\"llama-3.1-70b\"", "is llama-3.1-8b in the catalog"),
    "monthly-tokens-zero": ("llm-serving:economics.monthlyTokens", "0", "greater than 0"),
    "monthly-tokens-inf": ("llm-serving:economics.monthlyTokens", "\"inf\"", "not a finite number"),
    "huge-float": ("llm-serving:models[0].runtimeOverheadGib", "1e+300", "exact only up to 9,007,199,254,740,992"),
    "stack-name-too-long-for-aws-names": ("stack name", "\"stack-name-too-long-for-aws-names\"", "at most 20 characters"),
    "max-model-len-sexagesimal": ("llm-serving:models[0].maxModelLen", "\"1:30\"", "valid integer"),
    "label-value-too-long": ("llm-serving:gpuPools[0].labels.team", "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "up to 63 alphanumerics"),
    "adapter-role-long": ("llm-serving:models[0].name", "\"llama-8b-customer-support-tuned\"", "IAM allows 56"),
    "too-many-gpu-pools": ("llm-serving:gpuPools", "[{\"name\": \"l4\", \"instanceTypes\": [\"g6.xl", "at most 14 items"),
    "key-control-character": ('llm-serving:cluster["end\\u001epoint"]', '{"public": false}', "unknown key; allowed keys here: kubernetesVersion"),
    "misspelled-namespace": ("llm_serving:region", '"us-east-1"', "did you mean llm-serving:region?"),
}
# Credentials the corpus pastes where they do not belong: never in any message.
PASTED_SECRETS = ("sk-plain-text", "hf_AbCdEf", "sk-proj-AbCd", "AKIAIOSFODNN7", "sk-live-0123")


def corpus_problems(stack: str, error: ConfigError) -> list:
    """The corpus's file names describe the mistake and are often longer than a stack name may be
    (limits.STACK_NAME_MAX); that problem is only expected from the file that is about it."""
    if stack == "stack-name-too-long-for-aws-names":
        return error.problems
    return [p for p in error.problems if p.loc != ()]


def test_every_bad_stack_file_has_an_expectation():
    files = {p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in BAD_STACKS.glob("Pulumi.*.yaml")}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("stack", sorted(EXPECTED))
def test_bad_stack_fails_with_one_clear_message_and_registers_nothing(stack):
    path, value, allowed = EXPECTED[stack]
    before = pulumi.runtime.settings.get_monitor()
    registered_before = len(getattr(before, "order", []))
    with pytest.raises(ConfigError) as raised:
        run_plan(stack, BAD_STACKS, as_of=AS_OF)
    error = raised.value
    problems = corpus_problems(stack, error)
    assert len(problems) == 1, str(error)
    message = str(error)
    assert f"Stack '{stack}'" in message
    line = f"  - {problems[0]}"
    assert line in message.splitlines()
    assert line.startswith(f"  - {path}: ")
    assert value in line and allowed in line, line
    assert not [s for s in PASTED_SECRETS if s in message]  # a credential in the wrong place is never echoed
    monitor = pulumi.runtime.settings.get_monitor()
    if monitor is before:  # refused while reading the file, before the plan set up an engine
        assert len(getattr(monitor, "order", [])) == registered_before
    else:
        # Nothing registered but, for problems only AWS can reveal (pre-flight), the AWS provider that asked it.
        registered = [request.type for _, request in monitor.order]
        assert set(registered) <= {"pulumi:providers:aws"}, registered


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
        run_plan(stack, folder, as_of=AS_OF)
    assert sorted(p.path for p in raised.value.problems) == ["llm-serving:gpuPools[0].spot.max", "llm-serving:systemNodes.minNodes"]


def test_70b_in_16_bit_on_one_gpu_says_what_would_fit():
    with pytest.raises(ConfigError) as raised:
        run_plan("70b-16bit-one-gpu", BAD_STACKS, as_of=AS_OF)
    message = str(raised.value)
    assert "What would fit: tensor parallel 2" in message and "4-bit AWQ/GPTQ" in message and "37.0 GiB" in message


def test_the_pulumi_program_refuses_the_same_stack_before_creating_anything():
    """`pulumi up` runs infra/ with runpy; it must fail the same way, with nothing registered."""
    import runpy

    from infra import PROJECT
    from infra.offline.mocks import PlanMocks, RecordingMonitor
    from infra.offline.plan import read_stack_config, stack_file
    from tests.conftest import ROOT

    values, secrets = read_stack_config(stack_file("70b-16bit-one-gpu", BAD_STACKS))
    given = {f"{PROJECT}:{key}": "decrypted-value" for key in ("apiKey", "openaiApiKey", "anthropicApiKey", "grafanaAdminPassword")}
    values, secrets = values | given, secrets + list(given)  # the secrets `pulumi up` needs, so the sizing error is the one left
    monitor = RecordingMonitor(PlanMocks("us-east-1"))
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_all_config(values, secrets)
    pulumi.runtime.set_mocks(monitor.plan_mocks, project=PROJECT, stack="70b-16bit-one-gpu", preview=True, monitor=monitor)
    with pytest.raises(ConfigError, match=r"needs 131\.4 GiB"):
        pulumi.runtime.test(lambda: runpy.run_path(str(ROOT / "infra"), run_name="__main__") and None)()
    assert monitor.order == []


def test_unknown_stack_names_the_stacks_there_are(capsys):
    missing = "no-such-stack"
    assert missing not in EXAMPLE_STACKS
    assert cli.main(["plan", "--stack", missing]) == cli.EXIT_INVALID
    err = capsys.readouterr().err
    assert f"no stack '{missing}'" in err and ", ".join(EXAMPLE_STACKS) in err
