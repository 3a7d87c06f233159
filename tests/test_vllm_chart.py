"""charts/vllm rendered by the real helm binary with exactly the values the program registered
for each example stack, and validated against the Kubernetes schemas."""

from __future__ import annotations

import copy
import json

import pytest

from infra.names import CAPACITY_TYPE_LABEL, POOL_LABEL
from infra.offline import helm
from infra.offline import plan as plan_module
from infra.offline.cli import render_text
from infra.offline.mocks import MASK
from tests.conftest import AS_OF, EXAMPLE_STACKS, SCENARIOS, of_type, scenario, validate_manifest

VLLM_CHART = "charts/vllm"


def vllm_releases(plan):
    return {c.inputs["name"]: c.inputs for c in of_type(plan, "kubernetes:helm.sh/v4:Chart") if c.inputs["chart"].endswith(VLLM_CHART)}


def deployments(plan, release):
    return {o["metadata"]["labels"]["llm-serving/capacity-type"]: o for o in plan.manifests[release] if o["kind"] == "Deployment"}


def container(deployment):
    (vllm,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "vllm"]
    return vllm


def models_of(plan):
    """The stack's models, typed, with every default applied."""
    return {m.name: m for m in plan.deployment.config.models}


def test_every_model_is_one_release_of_our_chart_in_the_plan(example_plan):
    releases = vllm_releases(example_plan)
    assert set(releases) == set(models_of(example_plan))
    assert set(example_plan.manifests) >= set(releases)


def test_helm_lint_passes_with_the_programs_values(example_plan):
    for release in vllm_releases(example_plan).values():
        helm.lint(release["chart"], release["values"])


def test_every_rendered_object_validates_strictly_against_kubernetes_1_33(example_plan):
    for objects in example_plan.manifests.values():
        for obj in objects:
            validate_manifest(obj)


def test_vllm_args_carry_the_configured_engine_settings(example_plan):
    for name, model in models_of(example_plan).items():
        for deployment in deployments(example_plan, name).values():
            args = container(deployment)["args"]
            # `vllm serve <model>`: positional and first; vLLM deprecates --model for `vllm serve`.
            assert container(deployment)["command"] == ["vllm", "serve"]
            cached = example_plan.deployment.config.weight_cache.enabled
            # From the weight cache: s3://<bucket>/<hf-id>/<revision> (tests/test_weights_and_images.py); else the Hugging Face id.
            assert args[0].endswith(f"/{model.hugging_face_id}/{model.revision}") if cached else args[0] == model.hugging_face_id
            assert not any(a.startswith("--model") and not a.startswith("--model-") for a in args)
            assert f"--tensor-parallel-size={model.tensor_parallel_size}" in args
            assert f"--max-num-seqs={model.max_num_seqs}" in args
            assert f"--gpu-memory-utilization={model.gpu_memory_utilization}" in args
            assert f"--max-model-len={model.max_model_len}" in args
            assert ("--enable-prefix-caching" if model.prefix_caching else "--no-enable-prefix-caching") in args
            if model.quantization:
                assert f"--quantization={model.quantization}" in args
            else:
                assert not any(a.startswith("--quantization") for a in args)
            assert all(isinstance(a, str) for a in args)


def test_lora_adapters_become_lora_modules_with_matching_limits(example_plan):
    for name, model in models_of(example_plan).items():
        adapters = model.lora_adapters
        args = container(deployments(example_plan, name)["on-demand"])["args"]
        if not adapters:
            assert "--enable-lora" not in args
            continue
        assert "--enable-lora" in args
        start = args.index("--lora-modules") + 1
        assert args[start : start + len(adapters)] == [f"{a.name}=/adapters/{a.name}" for a in adapters]
        assert f"--max-loras={model.max_loras or len(adapters)}" in args
        assert f"--max-lora-rank={max(a.rank for a in adapters)}" in args
        init = deployments(example_plan, name)["on-demand"]["spec"]["template"]["spec"]["initContainers"]
        fetchers = [c for c in init if c["name"].startswith("fetch-lora-")]
        assert [c["command"][-2] for c in fetchers] == [a.source for a in adapters]


def test_gpu_limit_equals_tensor_parallel_size_and_shm_is_memory_backed(example_plan):
    for name, model in models_of(example_plan).items():
        tp = model.tensor_parallel_size
        for deployment in deployments(example_plan, name).values():
            resources = container(deployment)["resources"]
            assert resources["limits"]["nvidia.com/gpu"] == tp and resources["requests"]["nvidia.com/gpu"] == tp
            volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
            assert volumes["shm"]["emptyDir"]["medium"] == "Memory"
            assert volumes["shm"]["emptyDir"]["sizeLimit"] == f"{2 * tp}Gi"


SPOT_PREFERRED = {
    "nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "preference": {"matchExpressions": [{"key": CAPACITY_TYPE_LABEL, "operator": "In", "values": ["spot"]}]}}
        ]
    }
}


def test_baseline_pods_require_on_demand_nodes_and_burst_pods_prefer_spot_in_their_pool(example_plan):
    """Burst pods may fall back to the pool's on-demand headroom when spot runs dry; the floor never moves to spot."""
    for name, model in models_of(example_plan).items():
        by_capacity = deployments(example_plan, name)
        assert set(by_capacity) == {"on-demand", "spot"}
        on_demand, spot = by_capacity["on-demand"]["spec"]["template"]["spec"], by_capacity["spot"]["spec"]["template"]["spec"]
        assert on_demand["nodeSelector"] == {POOL_LABEL: model.pool, CAPACITY_TYPE_LABEL: "on-demand"} and "affinity" not in on_demand
        assert spot["nodeSelector"] == {POOL_LABEL: model.pool} and spot["affinity"] == SPOT_PREFERRED
        for spec in (on_demand, spot):
            assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
        assert by_capacity["on-demand"]["spec"]["replicas"] == model.replicas.baseline
        if model.autoscaling.enabled:
            # KEDA owns the spot count, from replicas.spot up to maxSpotReplicas; the baseline is never scaled.
            assert "replicas" not in by_capacity["spot"]["spec"]
            (scaled,) = [o for o in example_plan.manifests[name] if o["kind"] == "ScaledObject"]
            assert scaled["spec"]["scaleTargetRef"]["name"] == f"{name}-spot"
            assert scaled["spec"]["minReplicaCount"] == model.replicas.spot
            assert scaled["spec"]["maxReplicaCount"] == model.autoscaling.max_spot_replicas
            (trigger,) = scaled["spec"]["triggers"]
            assert trigger["metadata"]["query"] == f'sum(vllm:num_requests_waiting{{model_name="{name}"}})'
        else:
            assert by_capacity["spot"]["spec"]["replicas"] == model.replicas.spot


def test_one_service_selects_both_deployments(example_plan):
    for name in models_of(example_plan):
        (service,) = [o for o in example_plan.manifests[name] if o["kind"] == "Service"]
        for deployment in deployments(example_plan, name).values():
            pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
            assert service["spec"]["selector"].items() <= pod_labels.items()


def test_pods_load_slowly_but_stop_gracefully(example_plan):
    for name in models_of(example_plan):
        for deployment in deployments(example_plan, name).values():
            spec = deployment["spec"]["template"]["spec"]
            vllm = container(deployment)
            startup = vllm["startupProbe"]
            assert startup["httpGet"]["path"] == "/health"
            assert startup["periodSeconds"] * startup["failureThreshold"] == 60 * example_plan.deployment.startup_minutes(name)
            assert vllm["readinessProbe"]["httpGet"]["path"] == vllm["livenessProbe"]["httpGet"]["path"] == "/health"
            assert vllm["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
            assert spec["terminationGracePeriodSeconds"] >= 60


def test_objects_carry_the_standard_labels(example_plan):
    for name in models_of(example_plan):
        for obj in example_plan.manifests[name]:
            labels = obj["metadata"]["labels"]
            assert labels["app.kubernetes.io/name"] == "vllm" and labels["app.kubernetes.io/instance"] == name
            assert labels["app.kubernetes.io/part-of"] == "llm-serving"


def test_s3_adapters_get_an_irsa_role_scoped_to_their_prefixes():
    plan = scenario("prod")  # llama-70b with two S3 adapters
    (policy,) = [p for p in of_type(plan, "aws:iam/rolePolicy:RolePolicy") if p.name.endswith("llama-70b-adapters")]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    get = next(s for s in statements if s["Action"] == ["s3:GetObject"])
    assert get["Resource"] == [
        "arn:aws:s3:::acme-ml-adapters/llama-3.1-70b/support-tone/*",
        "arn:aws:s3:::acme-ml-adapters/llama-3.1-70b/sql-assistant/*",
    ]
    listing = next(s for s in statements if s["Action"] == ["s3:ListBucket"])
    assert listing["Resource"] == "arn:aws:s3:::acme-ml-adapters" and "s3:prefix" in listing["Condition"]["StringLike"]
    (account,) = [o for o in plan.manifests["llama-70b"] if o["kind"] == "ServiceAccount" and o["metadata"]["name"] == "llama-70b"]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith("-llama-70b-adapters")


BAD_VALUES = {
    "negative tensor parallel": (lambda v: v["engine"].update(tensorParallelSize=-1), "/engine/tensorParallelSize"),
    "unknown quantization": (lambda v: v["engine"].update(quantization="int3"), "/engine/quantization"),
    "LoRA adapter without a source": (lambda v: v["lora"]["adapters"].append({"name": "x", "rank": 16}), "/lora/adapters/0"),
    "LoRA rank vLLM does not take": (lambda v: v["lora"]["adapters"].append({"name": "x", "source": "org/x", "rank": 4}), "/lora/adapters/0/rank"),
    "memory utilization above 1": (lambda v: v["engine"].update(gpuMemoryUtilization=1.5), "/engine/gpuMemoryUtilization"),
    "unknown value key": (lambda v: v.update(replicas=3), "replicas"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_values_schema_rejects_bad_values(case):
    edit, where = BAD_VALUES[case]
    values = copy.deepcopy(vllm_releases(scenario("dev"))["llama-8b"]["values"])
    edit(values)
    with pytest.raises(helm.HelmError, match=where):
        helm.template(VLLM_CHART, "bad", "default", values)


def test_secrets_are_kubernetes_secrets_and_never_appear_in_the_plan(decrypted_secrets):
    hf_token, api_key, openai_key = "hf_live_0123456789abcdef", "sk-live-0123456789abcdef", "sk-openai-0123456789abcdef"
    given = {"llm-serving:huggingFaceToken": hf_token, "llm-serving:apiKey": api_key, "llm-serving:openaiApiKey": openai_key}
    decrypted_secrets(given)  # as the Pulumi CLI hands over decrypted secrets
    plan = plan_module.run_plan("dev", SCENARIOS, as_of=AS_OF)
    printed = json.dumps(plan.to_json())
    assert hf_token not in printed and api_key not in printed and openai_key not in printed
    (secret,) = of_type(plan, "kubernetes:core/v1:Secret")
    assert plan.to_json()["resources"][plan.resources.index(secret)]["inputs"]["stringData"] == MASK
    env = {e["name"]: e for e in container(deployments(plan, "llama-8b")["on-demand"])["env"]}
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "model-credentials", "key": "hf-token"}
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "model-credentials", "key": "api-key"}
    assert all(secret not in json.dumps(plan.manifests) for secret in (hf_token, api_key, openai_key))
    router_env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in next(o for o in plan.manifests["router"] if o["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"] if "valueFrom" in e}
    assert router_env == {
        "LITELLM_MASTER_KEY": {"name": "model-credentials", "key": "api-key"},
        "VLLM_API_KEY": {"name": "model-credentials", "key": "api-key"},
        "OPENAI_API_KEY": {"name": "model-credentials", "key": "openai-api-key"},
    }
    assert not any("fallback" in w and "is not set" in w for w in plan.warnings)


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_every_stack_keeps_its_secrets_out_of_the_plan_in_every_output(stack, decrypted_secrets):
    given = {
        f"llm-serving:{key}": f"{prefix}-live-{stack}-0123456789abcdef"
        for key, prefix in (("huggingFaceToken", "hf"), ("apiKey", "sk"), ("openaiApiKey", "sk-openai"), ("anthropicApiKey", "sk-ant"))
    }
    decrypted_secrets(given)  # as the Pulumi CLI hands over decrypted secrets
    plan = plan_module.run_plan(stack, as_of=AS_OF)
    outputs = [json.dumps(plan.to_json()), json.dumps(plan.manifests), render_text(plan), render_text(plan, markdown=True)]
    for secret in given.values():
        assert not any(secret in output for output in outputs), f"{stack}: a secret printed in clear"
    for name in models_of(plan):
        for deployment in deployments(plan, name).values():
            env = {e["name"]: e for e in container(deployment)["env"]}
            assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "model-credentials", "key": "hf-token"}
    assert not any("huggingFaceToken is not set" in w for w in plan.warnings)
