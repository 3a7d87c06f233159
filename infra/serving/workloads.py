"""Serving: one release of our chart `charts/vllm` per model in stack config.

This module is the only place where stack config becomes chart values (`vllm_values`). Credentials
never pass through chart values: the program puts them in one Kubernetes Secret (from Pulumi
secrets) and the chart only names that Secret's keys. Models that read S3 (LoRA adapters, or their
weights from the stack's weight cache, see weights.py) get an IRSA role that can read exactly those
prefixes. Image repositories come from the pull-through cache when the stack has one.

Why `kubernetes.helm.v4.Chart` and not `helm.v3.Release`: Chart v4 renders the chart inside Pulumi,
so every Deployment, Service and PDB is its own resource in `pulumi preview`, and a reviewer sees
"Deployment llama-70b-spot: replicas 2 => 4" rather than one opaque Release whose values changed.
Pulumi also owns the objects' lifecycle and awaits their readiness, with no Helm release state to
drift.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra import CHARTS_DIR
from infra.aws.iam import irsa_role
from infra.aws.image_cache import ImageMirror
from infra.aws.weight_cache import revision_prefix
from infra.capacity.cold_start import ColdStart
from infra.capacity.placement import Placement
from infra.capacity.pods import VLLM_CPU_PER_GPU_M, VLLM_MEMORY_PER_GPU_MIB
from infra.catalog import image_pins
from infra.cluster_services.network_policies import MODEL_SERVER_CLIENTS, namespace_policies
from infra.cluster_services.node_autoscaler import NODE_PROVISION_SECONDS
from infra.config.delivery import WeightCache
from infra.config.load import Secrets
from infra.config.models import ModelDeployment
from infra.config.serving import Embeddings, Fallback, hosted_models_in_use
from infra.names import (
    CAPACITY_TYPE_LABEL,
    EMBEDDINGS_RELEASE,
    POOL_LABEL,
    SERVING_NAMESPACE,
)
from infra.serving.embeddings import embeddings_release
from infra.serving.router import RELEASE as ROUTER_RELEASE
from infra.serving.router import (
    drain_seconds,
    litellm_config,
    provider_key_env,
    router_values,
)
from infra.serving.weights import mirror_policy, read_policy, weights_values

NAMESPACE = SERVING_NAMESPACE
VLLM_CHART = CHARTS_DIR / "vllm"
ROUTER_CHART = CHARTS_DIR / "router"
CREDENTIALS_SECRET = "model-credentials"
HF_TOKEN_KEY, API_KEY_KEY = "hf-token", "api-key"
HOSTED_KEYS = {"anthropic": "anthropic-api-key", "openai": "openai-api-key"}
PRE_STOP_SECONDS = 15
# Spot replicas get a two-minute interruption notice: preStop plus grace stay well inside it, so vLLM
# drains its requests and exits before the instance stops (the router retries the rest elsewhere).
SPOT_PRE_STOP_SECONDS = 10
SPOT_GRACE_SECONDS = 90
VLLM_IMAGE, VLLM_TAG = image_pins()["vllm"].repository, image_pins()["vllm"].tag
S3_FETCHER_IMAGE, S3_FETCHER_TAG = image_pins()["s3-fetcher"].repository, image_pins()["s3-fetcher"].tag


def network_policy(router: bool) -> dict:
    """Who may reach vLLM and TEI: with the router on, its pods and Prometheus's (MODEL_SERVER_CLIENTS); without
    it the model servers are the endpoint, open to any pod in the cluster. Always rendered: the namespace
    denies every other ingress (cluster_services/network_policies.py)."""
    return {"enabled": True, "from": list(MODEL_SERVER_CLIENTS) if router else [{"namespaceSelector": {}}]}


def rollout(placement: Placement, deployment: str) -> dict[str, int]:
    """maxSurge 1 where placement found room for one more replica, else maxSurge 0, maxUnavailable 1."""
    surge = placement.of(deployment).surge
    return {"maxSurge": int(surge), "maxUnavailable": int(not surge)}


def await_seconds(model: ModelDeployment, startup_minutes: int) -> int:
    """Pulumi's wait for the on-demand Deployment: each replica's startup budget in turn (a rollout
    replaces them one by one), plus the autoscaler's wait for a new node."""
    return model.replicas.baseline * startup_minutes * 60 + NODE_PROVISION_SECONDS
BENCHMARK_OFF = {"enabled": False, "promptTokens": 512, "outputTokens": 256, "numPrompts": 200, "maxConcurrency": 32}


def benchmark_values(model: ModelDeployment, prompt_tokens: int, output_tokens: int, planned_batch: int) -> dict[str, Any]:
    """The benchmark Job's values: the stack's request shape, at the plan's batch unless set. Off, they are
    constant, so a change in sizing does not touch the chart's inputs."""
    b = model.benchmark
    if not b.enabled:
        return {**BENCHMARK_OFF}
    return {
        "enabled": b.enabled,
        "promptTokens": prompt_tokens,
        "outputTokens": output_tokens,
        "numPrompts": b.num_prompts,
        "maxConcurrency": b.max_concurrency or max(1, planned_batch),
    }


def vllm_values(
    model: ModelDeployment,
    *,
    secrets: Secrets,
    adapter_role_arn: pulumi.Input[str] | None,
    placement: Placement,
    startup_minutes: int,
    monitored: bool = False,
    fallback: Fallback = Fallback(enabled=False),
    images: ImageMirror = ImageMirror(),
    weights: dict[str, Any] | None = None,
    compile_cache: str = "",
    benchmark: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The chart values of one model, from its stack config and the deployment model (`benchmark`: from
    `benchmark_values`)."""
    has_secret = secrets.hugging_face_token is not None or secrets.api_key is not None
    return {
        "image": {"repository": images.repository(VLLM_IMAGE), "tag": VLLM_TAG, "pullPolicy": "IfNotPresent"},
        "model": {"id": model.hugging_face_id, "revision": model.revision, "servedModelName": model.name},
        "engine": {
            "tensorParallelSize": model.tensor_parallel_size,
            "quantization": model.quantization,
            "maxModelLen": model.max_model_len,
            "maxNumSeqs": model.max_num_seqs,
            "gpuMemoryUtilization": model.gpu_memory_utilization,
            "prefixCaching": model.prefix_caching,
            "kvCacheDtype": model.kv_cache_dtype,
            "extraArgs": list(model.extra_args),
        },
        "lora": {
            "adapters": [{"name": a.name, "source": a.source, "revision": a.revision, "rank": a.rank} for a in model.lora_adapters],
            "maxLoras": model.max_loras or max(len(model.lora_adapters), 1),
            "maxLoraRank": model.lora_max_rank,
            "s3FetcherImage": pulumi.Output.concat(images.repository(S3_FETCHER_IMAGE), ":", S3_FETCHER_TAG),
        },
        "weights": weights or {"uri": ""},
        "compileCache": {"hostPath": compile_cache},
        "placement": {
            "poolLabel": POOL_LABEL,
            "pool": model.pool,
            "capacityTypeLabel": CAPACITY_TYPE_LABEL,
            "onDemandReplicas": model.replicas.baseline,
            "spotReplicas": model.replicas.spot,
        },
        "secret": {
            "name": CREDENTIALS_SECRET if has_secret else "",
            "huggingFaceTokenKey": HF_TOKEN_KEY if secrets.hugging_face_token is not None else "",
            "apiKeyKey": API_KEY_KEY if secrets.api_key is not None else "",
        },
        "serviceAccount": {"roleArn": adapter_role_arn or ""},
        "service": {"port": 8000},
        # The requests placement placed (infra/capacity/pods.py), per GPU.
        "resources": {"cpuPerGpu": str(VLLM_CPU_PER_GPU_M // 1000), "memoryPerGpu": f"{VLLM_MEMORY_PER_GPU_MIB // 1024}Gi", "shmPerGpu": "2Gi", "cacheSize": "200Gi"},
        "rollout": {"onDemand": rollout(placement, f"{model.name}-on-demand"), "spot": rollout(placement, f"{model.name}-spot")},
        "pulumiAwait": {"onDemandTimeoutSeconds": await_seconds(model, startup_minutes), "spotSkipAwait": True},
        "startupMinutes": startup_minutes,
        "terminationGracePeriodSeconds": drain_seconds(fallback, PRE_STOP_SECONDS),
        "preStopSleepSeconds": PRE_STOP_SECONDS,
        "spotDrain": {"terminationGracePeriodSeconds": SPOT_GRACE_SECONDS, "preStopSleepSeconds": SPOT_PRE_STOP_SECONDS},
        "serviceMonitor": {"enabled": monitored, "interval": "15s", "labels": {}},
        "networkPolicy": network_policy(fallback.enabled),
        "benchmark": benchmark or {**BENCHMARK_OFF},
        "autoscaling": {
            "enabled": model.autoscaling.enabled,
            "maxSpotReplicas": model.autoscaling.max_spot_replicas,
            "waitingRequestsPerReplica": model.autoscaling.waiting_requests_per_replica,
            "scaleDownStabilizationSeconds": model.autoscaling.scale_down_stabilization_seconds,
            "prometheusAddress": "http://kube-prometheus-stack-prometheus.monitoring.svc:9090",
        },
    }


@dataclass(frozen=True)
class ServingArgs:
    models: Sequence[ModelDeployment]
    secrets: Secrets
    partition: pulumi.Input[str]
    oidc_provider: aws.iam.OpenIdConnectProvider
    embeddings: Embeddings
    embeddings_gpu: str | None  # GPU model of the embeddings pool; None for CPU
    monitored: bool  # create ServiceMonitors (the monitoring stack's CRDs must exist)
    fallback: Fallback
    placement: Placement  # the deployment model's: requests and rollout strategies come from it
    # What every release waits for: the monitoring stack and KEDA (their CRDs), the GPU node groups and
    # the device plugin. Pulumi does not pass a component's depends_on to its children, so the releases
    # name them themselves.
    cold_start: dict[str, ColdStart]  # per model, from the deployment model
    startup_minutes: dict[str, int]  # per model: the startup probe's budget
    weights_gib: dict[str, float]  # per model, from sizing
    prerequisites: Sequence[pulumi.Resource] = ()
    region: str = ""
    images: ImageMirror = ImageMirror()
    weight_cache: WeightCache = WeightCache()
    weights_bucket: pulumi.Input[str] | None = None  # the weight cache's bucket; None without one
    compile_cache: dict[str, str] = field(default_factory=dict)  # per model: host directory for vLLM's compile caches
    benchmarks: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # per model name, from benchmark_values


class Serving(pulumi.ComponentResource):
    """The serving namespace, its credentials Secret, one vLLM release per model, TEI, and the router."""

    charts: dict[str, k8s.helm.v4.Chart]

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-serving:serving:Serving", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": NAMESPACE, "labels": {"app.kubernetes.io/part-of": "llm-serving"}},
            opts=child,
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace, *args.prerequisites])
        namespace_policies(f"{name}-network-policies", NAMESPACE, pulumi.ResourceOptions(parent=self, depends_on=[namespace]))
        credentials = {
            key: value
            for key, value in (
                (HF_TOKEN_KEY, args.secrets.hugging_face_token),
                (API_KEY_KEY, args.secrets.api_key),
                (HOSTED_KEYS["anthropic"], args.secrets.anthropic_api_key),
                (HOSTED_KEYS["openai"], args.secrets.openai_api_key),
            )
            if value is not None
        }
        if credentials:
            k8s.core.v1.Secret(
                f"{name}-credentials",
                metadata={"name": CREDENTIALS_SECRET, "namespace": NAMESPACE},
                type="Opaque",
                string_data={key: pulumi.Output.secret(value) for key, value in credentials.items()},
                opts=in_namespace,
            )
        self.charts = {}
        for model in args.models:
            role = self._reader_role(name, model, args)
            self.charts[model.name] = k8s.helm.v4.Chart(
                f"{name}-{model.name}",
                name=model.name,
                # Relative to the working directory (infra/ under `pulumi up`, since Pulumi.yaml's `main`
                # sets it; the root for the offline plan), so the input is the same on every machine.
                chart=os.path.relpath(VLLM_CHART),
                namespace=NAMESPACE,
                values=vllm_values(
                    model,
                    secrets=args.secrets,
                    adapter_role_arn=role.arn if role else None,
                    startup_minutes=args.startup_minutes[model.name],
                    monitored=args.monitored,
                    fallback=args.fallback,
                    images=args.images,
                    weights=self._weights(name, model, args),
                    compile_cache=args.compile_cache.get(model.name, ""),
                    placement=args.placement,
                    benchmark=args.benchmarks.get(model.name),
                ),
                opts=in_namespace,
            )
        if args.embeddings.enabled:
            embeddings_release(
                f"{name}-embeddings",
                args.embeddings,
                args.embeddings_gpu,
                NAMESPACE,
                args.monitored,
                network_policy(args.fallback.enabled),
                rollout(args.placement, EMBEDDINGS_RELEASE),
                opts=in_namespace,
                images=args.images,
            )
        if args.fallback.enabled:
            self._router(name, args, credentials, in_namespace)
        self.register_outputs({"namespace": NAMESPACE, "models": list(self.charts)})

    def _router(self, name: str, args: ServingArgs, credentials: dict, opts: pulumi.ResourceOptions) -> None:
        env = {}
        if API_KEY_KEY in credentials:
            env |= {"LITELLM_MASTER_KEY": API_KEY_KEY, "VLLM_API_KEY": API_KEY_KEY}
        for hosted in hosted_models_in_use(list(args.models), args.fallback):
            key = HOSTED_KEYS[hosted.split("/", 1)[0]]
            if key in credentials:
                env[provider_key_env(hosted)] = key
        config = litellm_config(args.models, args.embeddings, args.fallback, NAMESPACE, has_api_key=API_KEY_KEY in credentials)
        k8s.helm.v4.Chart(
            f"{name}-router",
            name=ROUTER_RELEASE,
            chart=os.path.relpath(ROUTER_CHART),
            namespace=NAMESPACE,
            values=router_values(config, args.fallback, CREDENTIALS_SECRET, env, args.monitored, rollout(args.placement, ROUTER_RELEASE), images=args.images),
            opts=opts,
        )

    def _weights(self, name: str, model: ModelDeployment, args: ServingArgs) -> dict[str, Any]:
        """The chart's weights values; with the cache, also the mirror Job's IRSA role."""
        mirror_role = None
        if args.weights_bucket is not None:
            mirror_role = irsa_role(
                f"{name}-{model.name}-weights-mirror",
                oidc_provider=args.oidc_provider,
                namespace=NAMESPACE,
                service_account=f"{model.name}-weights-mirror",  # the chart's mirror Job service account
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.iam.RolePolicy(
                f"{name}-{model.name}-weights-mirror",
                role=mirror_role.id,
                policy=pulumi.Output.all(args.partition, args.weights_bucket).apply(lambda a: mirror_policy(a[0], a[1], model.hugging_face_id)),
                opts=pulumi.ResourceOptions(parent=self),
            )
        return weights_values(
            model,
            cache=args.weight_cache,
            bucket=args.weights_bucket,
            region=args.region,
            cold_start=args.cold_start[model.name],
            weights_gib=args.weights_gib[model.name],
            keep_revisions=[m.revision for m in args.models if m.hugging_face_id == model.hugging_face_id],
            mirror_role_arn=mirror_role.arn if mirror_role else None,
        )

    def _reader_role(self, name: str, model: ModelDeployment, args: ServingArgs) -> aws.iam.Role | None:
        """Read-only IRSA for the model's pods: its S3 LoRA adapters and its weights' revision prefix."""
        adapters: dict[str, list[str]] = defaultdict(list)
        for adapter in model.lora_adapters:
            if adapter.s3:
                bucket, prefix = adapter.s3
                adapters[bucket].append(prefix)
        if not adapters and args.weights_bucket is None:
            return None
        # The chart names the service account after the release, i.e. the model. The resource name
        # predates the weight cache and is kept so existing roles are not replaced.
        role = irsa_role(
            f"{name}-{model.name}-adapters",
            oidc_provider=args.oidc_provider,
            namespace=NAMESPACE,
            service_account=model.name,
            opts=pulumi.ResourceOptions(parent=self),
        )
        weights_prefix = revision_prefix(model.hugging_face_id, model.revision)

        def policy(values: list) -> str:
            partition, bucket = values
            buckets = {b: list(p) for b, p in adapters.items()}
            if bucket is not None:
                buckets.setdefault(bucket, []).append(weights_prefix)
            return read_policy(partition, buckets)

        aws.iam.RolePolicy(
            f"{name}-{model.name}-adapters",
            role=role.id,
            policy=pulumi.Output.all(args.partition, args.weights_bucket).apply(policy),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return role
