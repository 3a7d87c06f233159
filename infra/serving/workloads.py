"""Serving: one release of our chart `charts/vllm` per model in stack config.

This module is the only place where stack config becomes chart values (`vllm_values`). Credentials
never pass through chart values: the program puts them in one Kubernetes Secret (from Pulumi
secrets) and the chart only names that Secret's keys. Models with S3 LoRA adapters get an IRSA
role that can read exactly those buckets and prefixes.

Why `kubernetes.helm.v4.Chart` and not `helm.v3.Release`: Chart v4 renders the chart inside Pulumi,
so every Deployment, Service and PDB is its own resource in `pulumi preview`, and a reviewer sees
"Deployment llama-70b-spot: replicas 2 => 4" rather than one opaque Release whose values changed.
Pulumi also owns the objects' lifecycle and awaits their readiness, with no Helm release state to
drift.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra import CHARTS_DIR
from infra.aws.iam import irsa_role, policy_document
from infra.config.load import Secrets
from infra.config.models import ModelDeployment
from infra.config.serving import Embeddings, Fallback, hosted_models_in_use
from infra.names import CAPACITY_TYPE_LABEL, POOL_LABEL, SERVING_NAMESPACE
from infra.serving.embeddings import embeddings_release
from infra.serving.router import RELEASE as ROUTER_RELEASE
from infra.serving.router import drain_seconds, litellm_config, provider_key_env, router_values

NAMESPACE = SERVING_NAMESPACE
VLLM_CHART = CHARTS_DIR / "vllm"
ROUTER_CHART = CHARTS_DIR / "router"
CREDENTIALS_SECRET = "model-credentials"
HF_TOKEN_KEY, API_KEY_KEY = "hf-token", "api-key"
HOSTED_KEYS = {"anthropic": "anthropic-api-key", "openai": "openai-api-key"}
PRE_STOP_SECONDS = 15
# Who may reach vLLM and TEI when the router is on: the router's pods, and Prometheus's namespace.
ALLOWED_PEERS = [
    {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "router"}}},
    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
]


def network_policy(enabled: bool) -> dict:
    return {"enabled": enabled, "from": ALLOWED_PEERS if enabled else []}


def vllm_values(
    model: ModelDeployment,
    *,
    secrets: Secrets,
    adapter_role_arn: pulumi.Input[str] | None,
    monitored: bool = False,
    fallback: Fallback = Fallback(enabled=False),
) -> dict[str, Any]:
    """The chart values of one model, from its stack config."""
    has_secret = secrets.hugging_face_token is not None or secrets.api_key is not None
    return {
        "image": {"repository": "vllm/vllm-openai", "tag": "v0.33.0", "pullPolicy": "IfNotPresent"},
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
            "s3FetcherImage": "amazon/aws-cli:2.31.9",
        },
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
        "resources": {"cpuPerGpu": "2", "memoryPerGpu": "8Gi", "shmPerGpu": "2Gi", "cacheSize": "200Gi"},
        "startupMinutes": model.startup_minutes,
        "terminationGracePeriodSeconds": drain_seconds(fallback, PRE_STOP_SECONDS),
        "preStopSleepSeconds": PRE_STOP_SECONDS,
        "serviceMonitor": {"enabled": monitored, "interval": "15s", "labels": {}},
        "networkPolicy": network_policy(fallback.enabled),
        "autoscaling": {
            "enabled": model.autoscaling.enabled,
            "maxSpotReplicas": model.autoscaling.max_spot_replicas,
            "waitingRequestsPerReplica": model.autoscaling.waiting_requests_per_replica,
            "scaleDownStabilizationSeconds": model.autoscaling.scale_down_stabilization_seconds,
            "prometheusAddress": "http://kube-prometheus-stack-prometheus.monitoring.svc:9090",
        },
    }


def adapter_read_policy(partition: str, buckets: dict[str, list[str]]) -> str:
    """Read-only access to the given S3 prefixes and nothing else."""
    statements = []
    for bucket, prefixes in sorted(buckets.items()):
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:{partition}:s3:::{bucket}/{prefix}/*" for prefix in prefixes],
            }
        )
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": f"arn:{partition}:s3:::{bucket}",
                "Condition": {"StringLike": {"s3:prefix": [p for prefix in prefixes for p in (prefix, f"{prefix}/*")]}},
            }
        )
    return policy_document(*statements)


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
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
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
            role = self._adapter_role(name, model, args)
            self.charts[model.name] = k8s.helm.v4.Chart(
                f"{name}-{model.name}",
                name=model.name,
                # Relative to the working directory (infra/ under `pulumi up`, since Pulumi.yaml's `main`
                # sets it; the root for the offline plan), so the input is the same on every machine.
                chart=os.path.relpath(VLLM_CHART),
                namespace=NAMESPACE,
                values=vllm_values(model, secrets=args.secrets, adapter_role_arn=role.arn if role else None, monitored=args.monitored, fallback=args.fallback),
                opts=in_namespace,
            )
        if args.embeddings.enabled:
            embeddings_release(
                f"{name}-embeddings", args.embeddings, args.embeddings_gpu, NAMESPACE, args.monitored, network_policy(args.fallback.enabled), opts=in_namespace
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
            values=router_values(config, args.fallback, CREDENTIALS_SECRET, env, args.monitored),
            opts=opts,
        )

    def _adapter_role(self, name: str, model: ModelDeployment, args: ServingArgs) -> aws.iam.Role | None:
        buckets: dict[str, list[str]] = defaultdict(list)
        for adapter in model.lora_adapters:
            if adapter.s3:
                bucket, prefix = adapter.s3
                buckets[bucket].append(prefix)
        if not buckets:
            return None
        # The chart names the service account after the release, i.e. the model.
        role = irsa_role(
            f"{name}-{model.name}-adapters",
            oidc_provider=args.oidc_provider,
            namespace=NAMESPACE,
            service_account=model.name,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{name}-{model.name}-adapters",
            role=role.id,
            policy=pulumi.Output.from_input(args.partition).apply(lambda partition: adapter_read_policy(partition, buckets)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return role
