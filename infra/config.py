"""Stack configuration: the one typed boundary between a stack file and the program.

Only this module reads `pulumi.Config`. Everything downstream takes the frozen pydantic
models below. A bad value fails here, before any resource is registered, with one line per
problem naming the stack, the key path (e.g. `llm-serving:gpuPools[0].spot.max`), the value
and what is allowed.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pulumi
from pulumi.runtime import config as pulumi_runtime_config
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from infra import PROJECT
from infra.aws_api import ec2_instance_types, eks_regions
from infra.catalog import ApiPrice, GpuInstance, api_prices, gpu_instances, helm_charts, model_architectures, with_overrides

# Label keys this kit puts on GPU nodes; stack config may not override them.
POOL_LABEL = "llm-serving/pool"
GPU_LABEL = "llm-serving/gpu"
CAPACITY_TYPE_LABEL = "llm-serving/capacity-type"
RESERVED_LABEL_PREFIXES = ("llm-serving/", "kubernetes.io/", "k8s.io/", "eks.amazonaws.com/")


_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def _error(kind: str, message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, message, context)


def _suggest(value: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(value, sorted(choices), n=3, cutoff=0.6)
    return f" Did you mean {', '.join(close)}?" if close else ""


# --- value validators -----------------------------------------------------------------------------


def _at_least(value: int | None, info, lower: str, *, this: str, other: str) -> int | None:
    """Field validator body: `this` (the value) must not be below the already-validated field `lower`."""
    low = info.data.get(lower)
    if value is not None and low is not None and value < low:
        raise _error("range", "{this} ({value}) is below {other} ({low}); it must be at least {other}", this=this, value=value, other=other, low=low)
    return value


def _check_gpu_instance_type(value: str) -> str:
    catalog = gpu_instances()
    if value not in catalog:
        raise _error(
            "gpu_instance_type",
            "not a GPU instance type in the catalog.{hint} Allowed: {allowed}",
            hint=_suggest(value, catalog),
            allowed=", ".join(catalog),
        )
    return value


def _check_ec2_instance_type(value: str) -> str:
    if value not in ec2_instance_types():
        raise _error(
            "ec2_instance_type",
            "not an EC2 instance type (checked against botocore's EC2 service model).{hint}",
            hint=_suggest(value, ec2_instance_types()),
        )
    return value


def _check_cidr(value: str) -> str:
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise _error("cidr", "not an IPv4 CIDR block ({reason}); e.g. 10.0.0.0/16", reason=str(exc)) from None
    return value


def _check_kubernetes_version(value: Any) -> Any:
    supported = tuple(helm_charts()["cluster-autoscaler"].image_tags)
    if isinstance(value, float):
        raise _error("version_as_number", 'quote the version so YAML keeps it a string, e.g. "1.33"')
    if value not in supported:
        raise _error("kubernetes_version", "unsupported Kubernetes version; allowed: {allowed}", allowed=", ".join(supported))
    return value


def _check_region(value: str) -> str:
    regions = eks_regions()
    if value not in regions:
        raise _error(
            "region",
            "not an AWS region where EKS is available.{hint} Allowed: {allowed}",
            hint=_suggest(value, regions),
            allowed=", ".join(regions),
        )
    return value


def _check_label_key(key: str) -> str:
    prefix, _, name = key.rpartition("/")
    if not _LABEL_NAME.match(name) or (prefix and not _LABEL_PREFIX.match(prefix)):
        raise _error("label_key", "not a valid Kubernetes label key ([prefix/]name, name up to 63 alphanumerics, '-', '_', '.')")
    if key.startswith(RESERVED_LABEL_PREFIXES):
        raise _error("label_key_reserved", "label keys under {reserved} are set by the kit or by EKS", reserved=", ".join(RESERVED_LABEL_PREFIXES))
    return key


def _check_label_value(value: str) -> str:
    if value and not _LABEL_NAME.match(value):
        raise _error("label_value", "not a valid Kubernetes label value (up to 63 alphanumerics, '-', '_', '.')")
    return value


GpuInstanceType = Annotated[str, AfterValidator(_check_gpu_instance_type)]
Ec2InstanceType = Annotated[str, AfterValidator(_check_ec2_instance_type)]
Cidr = Annotated[str, AfterValidator(_check_cidr)]
KubernetesVersion = Annotated[str, BeforeValidator(_check_kubernetes_version)]
Region = Annotated[str, AfterValidator(_check_region)]
LabelKey = Annotated[str, AfterValidator(_check_label_key)]
LabelValue = Annotated[str, AfterValidator(_check_label_value)]
IamPrincipalArn = Annotated[str, Field(pattern=r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")]


# --- the schema -----------------------------------------------------------------------------------


class _Config(BaseModel):
    """Camel-case keys as in stack files; unknown keys are errors; values are immutable."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class NewVpc(_Config):
    """A VPC created by the kit: private subnets for nodes, public subnets for load balancers and NAT."""

    cidr: Cidr = Field("10.0.0.0/16", description="The VPC's IPv4 CIDR block (a /16 to /20).", examples=["10.0.0.0/16"])
    zone_count: int = Field(3, ge=2, le=6, description="How many availability zones to span (EKS needs at least 2).", examples=[3])
    zones: list[str] | None = Field(
        None,
        min_length=2,
        description="Explicit zone names instead of the first `zoneCount` available ones (GPU capacity differs by zone).",
        examples=[["us-east-1a", "us-east-1b", "us-east-1c"]],
    )
    nat_gateways: Literal["single", "perZone"] = Field(
        "perZone", description="One NAT gateway for all zones (cheaper) or one per zone (survives a zone outage).", examples=["single"]
    )

    @field_validator("cidr")
    @classmethod
    def _prefix_leaves_room_for_subnets(cls, value: str) -> str:
        if not 16 <= ipaddress.IPv4Network(value).prefixlen <= 20:
            raise _error("cidr_size", "the VPC needs a /16 to /20 block so every zone gets a private and a public subnet")
        return value

    @property
    def zone_total(self) -> int:
        return len(self.zones) if self.zones else self.zone_count


class ExistingVpc(_Config):
    """A VPC you already have. Its subnets must carry the EKS and load-balancer tags themselves."""

    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]{8,17}$", description="The VPC id.", examples=["vpc-0a1b2c3d4e5f67890"])
    private_subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(
        min_length=2, description="Private subnets (at least two zones) for the control plane and nodes.", examples=[["subnet-0a1b2c3d", "subnet-1a2b3c4d"]]
    )
    public_subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(
        [], description="Public subnets for internet-facing load balancers (optional).", examples=[["subnet-2a3b4c5d", "subnet-3a4b5c6d"]]
    )


class Network(_Config):
    """Exactly one of `newVpc` and `existingVpc`; a new VPC with defaults when neither is given."""

    new_vpc: NewVpc | None = Field(None, description="Create a VPC.", examples=[{"cidr": "10.0.0.0/16", "zoneCount": 3}])
    existing_vpc: ExistingVpc | None = Field(None, description="Use an existing VPC.", examples=[{"vpcId": "vpc-0a1b2c3d4e5f67890"}])

    @property
    def vpc(self) -> NewVpc | ExistingVpc:
        return self.existing_vpc or self.new_vpc or NewVpc()


class EndpointAccess(_Config):
    """Who can reach the Kubernetes API server."""

    private: bool = Field(True, description="Reachable from inside the VPC.", examples=[True])
    public: bool = Field(True, description="Reachable from the internet, from `publicCidrs` only.", examples=[True])
    public_cidrs: list[Cidr] = Field(
        [], description="CIDR blocks allowed to reach a public endpoint (required when `public` is true).", examples=[["203.0.113.0/24"]]
    )


class ClusterConfig(_Config):
    """The EKS cluster."""

    kubernetes_version: KubernetesVersion = Field("1.33", description="EKS Kubernetes version (quoted).", examples=["1.33"])
    network: Network = Field(Network(), description="Where the cluster lives.", examples=[{"newVpc": {"zoneCount": 3}}])
    endpoint: EndpointAccess = Field(description="API server endpoint access.", examples=[{"private": True, "public": True, "publicCidrs": ["203.0.113.0/24"]}])
    admins: list[IamPrincipalArn] = Field(
        [],
        description="IAM roles or users given cluster-admin through EKS access entries (not the identity that runs `pulumi up`: it is admin already).",
        examples=[["arn:aws:iam::123456789012:role/platform-admin"]],
    )
    log_types: list[Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]] = Field(
        ["api", "audit", "authenticator"], description="Control-plane log types sent to CloudWatch.", examples=[["api", "audit"]]
    )


class SystemNodes(_Config):
    """The CPU node group for cluster services (CoreDNS, autoscaler, monitoring)."""

    instance_types: list[Ec2InstanceType] = Field(["m7i.large"], min_length=1, description="EC2 instance types.", examples=[["m7i.large"]])
    min_nodes: int = Field(2, ge=1, description="Minimum nodes.", examples=[2])
    max_nodes: int = Field(4, ge=1, description="Maximum nodes (at least `minNodes`).", examples=[4])
    root_volume_gib: int = Field(50, ge=20, le=16384, description="Root volume size in GiB.", examples=[50])

    @field_validator("max_nodes")
    @classmethod
    def _max_at_least_min(cls, value: int, info) -> int:
        return _at_least(value, info, "min_nodes", this="maxNodes", other="minNodes")


class OnDemandNodes(_Config):
    """The on-demand node group of a pool: a baseline that survives spot reclaims."""

    baseline: int = Field(ge=1, description="On-demand nodes that always run.", examples=[1])
    max: int | None = Field(
        None, ge=1, description="Upper bound the autoscaler may grow on-demand to when spot is short (default: the baseline).", examples=[2]
    )

    @field_validator("max")
    @classmethod
    def _max_at_least_baseline(cls, value: int | None, info) -> int | None:
        return _at_least(value, info, "baseline", this="max", other="baseline")

    @property
    def max_nodes(self) -> int:
        return self.max if self.max is not None else self.baseline


class SpotNodes(_Config):
    """The spot node group of a pool, over all the pool's instance types."""

    min: int = Field(0, ge=0, description="Spot nodes that always run (spot can still be reclaimed).", examples=[0])
    max: int = Field(ge=1, description="Upper bound for spot nodes.", examples=[4])

    @field_validator("max")
    @classmethod
    def _max_at_least_min(cls, value: int, info) -> int:
        return _at_least(value, info, "min", this="max", other="min")


class GpuPool(_Config):
    """A pool of GPU nodes of one GPU model: an on-demand baseline group and a diversified spot group."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$", description="Pool name (lower-case, 2-20 chars); node label llm-serving/pool.", examples=["l40s"])
    instance_types: list[GpuInstanceType] = Field(
        min_length=1,
        description="GPU instance types, all with the same GPU model and count. The first is the on-demand type; spot uses them all.",
        examples=[["g6e.12xlarge", "g6e.24xlarge"]],
    )
    on_demand: OnDemandNodes = Field(description="On-demand baseline.", examples=[{"baseline": 1, "max": 2}])
    spot: SpotNodes = Field(description="Spot range.", examples=[{"min": 0, "max": 4}])
    root_volume_gib: int = Field(200, ge=50, le=16384, description="Root (Bottlerocket: data) volume in GiB; holds images and model weights.", examples=[300])
    ami_type: Literal["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"] = Field(
        "AL2023_x86_64_NVIDIA", description="EKS AMI type with NVIDIA drivers.", examples=["AL2023_x86_64_NVIDIA"]
    )
    labels: dict[LabelKey, LabelValue] = Field({}, description="Extra Kubernetes node labels.", examples=[{"team": "ml-platform"}])

    @field_validator("instance_types")
    @classmethod
    def _one_gpu_shape_per_pool(cls, value: list[str]) -> list[str]:
        shapes = {(gpu_instances()[t].gpu, gpu_instances()[t].gpus) for t in value}
        if len(shapes) > 1:
            found = ", ".join(f"{t} ({gpu_instances()[t].gpus}x {gpu_instances()[t].gpu})" for t in value)
            raise _error(
                "mixed_gpu_shapes",
                "a pool needs one GPU model and count so pods schedule the same on every node, found {found}. Split them into pools.",
                found=found,
            )
        if len(set(value)) != len(value):
            raise _error("duplicates", "instance types are listed twice")
        return value

    @property
    def gpu(self):
        """The catalog entry of the pool's primary (on-demand) instance type."""
        return gpu_instances()[self.instance_types[0]]


# Flags the kit sets from typed keys; `extraArgs` may not set them a second time.
MANAGED_VLLM_FLAGS = (
    "--model", "--revision", "--served-model-name", "--tensor-parallel-size", "--quantization", "--max-model-len",
    "--max-num-seqs", "--gpu-memory-utilization", "--enable-prefix-caching", "--no-enable-prefix-caching",
    "--enable-lora", "--max-loras", "--max-lora-rank", "--max-cpu-loras", "--lora-modules", "--api-key",
    "--download-dir", "--port", "--host", "--kv-cache-dtype",
)
_S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<prefix>[^\s]+?)/?$")
_HF_REPO = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


def _check_adapter_source(value: str) -> str:
    if not (_S3_URI.match(value) or _HF_REPO.match(value)):
        raise _error("adapter_source", "not an adapter source: give s3://bucket/prefix or a Hugging Face repo id like org/adapter-name")
    return value


def _check_extra_arg(value: str) -> str:
    flag = value.split("=", 1)[0]
    if flag in MANAGED_VLLM_FLAGS:
        raise _error("managed_flag", "{flag} is set by the kit from its own key; set that key instead", flag=flag)
    return value


class LoraAdapter(_Config):
    """A LoRA adapter served next to its base model (vLLM multi-LoRA)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$", description="Model name clients request for this adapter.", examples=["support-tone"])
    source: Annotated[str, AfterValidator(_check_adapter_source)] = Field(
        description="Where the adapter lives: s3://bucket/prefix (read through IRSA) or a Hugging Face repo id.",
        examples=["s3://acme-ml-adapters/llama-70b/support-tone"],
    )
    revision: str = Field("main", description="Hugging Face revision (commit, branch or tag); ignored for S3.", examples=["main"])
    # vLLM 0.33 accepts these ranks (MaxLoRARanks in vllm/config/lora.py).
    rank: Literal[1, 8, 16, 32, 64, 128, 256, 320, 512] = Field(description="The adapter's LoRA rank.", examples=[16])

    @property
    def s3(self) -> tuple[str, str] | None:
        """(bucket, prefix) for an S3 source."""
        match = _S3_URI.match(self.source)
        return (match["bucket"], match["prefix"]) if match else None


class ModelShape(_Config):
    """The architecture of a model outside the catalog, from its config.json."""

    params: int = Field(gt=0, description="Total parameters.", examples=[8030261248])
    active_params: int | None = Field(None, gt=0, description="Parameters used per token (MoE); default: params.", examples=[12900000000])
    layers: int = Field(gt=0, description="num_hidden_layers.", examples=[32])
    hidden_size: int = Field(gt=0, description="hidden_size.", examples=[4096])
    attention_heads: int = Field(gt=0, description="num_attention_heads.", examples=[32])
    kv_heads: int = Field(gt=0, description="num_key_value_heads.", examples=[8])
    head_dim: int = Field(gt=0, description="head_dim (hidden_size / num_attention_heads when absent).", examples=[128])
    intermediate_size: int = Field(gt=0, description="intermediate_size.", examples=[14336])
    vocab_size: int = Field(gt=0, description="vocab_size.", examples=[128256])
    tied_embeddings: bool = Field(False, description="tie_word_embeddings.", examples=[False])
    max_context: int = Field(gt=0, description="max_position_embeddings.", examples=[131072])


class ModelReplicas(_Config):
    """How many copies of the model serve, and on which capacity."""

    baseline: int = Field(ge=1, description="Replicas pinned to on-demand nodes: the capacity a spot reclaim cannot take.", examples=[1])
    spot: int = Field(0, ge=0, description="Burst replicas on spot nodes.", examples=[2])


class Autoscaling(_Config):
    """Scale a model's spot replicas on vLLM's waiting requests (KEDA); the on-demand baseline never scales."""

    enabled: bool = Field(False, description="Autoscale the spot replicas (needs monitoring).", examples=[True])
    max_spot_replicas: int = Field(4, ge=1, description="Most spot replicas (replicas.spot is the least).", examples=[6])
    waiting_requests_per_replica: int = Field(8, ge=1, description="Target waiting requests per replica before adding one.", examples=[8])
    scale_down_stabilization_seconds: int = Field(600, ge=0, description="How long load must stay low before replicas are removed.", examples=[600])


class ModelDeployment(_Config):
    """One vLLM deployment of a model (a Helm release of charts/vllm)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$", description="Release and served model name (DNS label, up to 32 chars).", examples=["llama-70b"])
    hugging_face_id: str = Field(pattern=_HF_REPO.pattern, description="Hugging Face model repo id.", examples=["hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4"])
    revision: str = Field(
        pattern=r"^[\w./-]{1,100}$", description="Model revision: pin a commit hash in production so every pod loads the same weights.", examples=["main"]
    )
    pool: str = Field(description="Name of the GPU pool the model runs on.", examples=["l40s"])
    quantization: Literal["awq", "awq_marlin", "gptq", "gptq_marlin", "fp8", "compressed-tensors"] | None = Field(
        None, description="vLLM --quantization; null lets vLLM read it from the checkpoint (prefer awq_marlin over awq: faster kernels).", examples=["awq_marlin"]
    )
    tensor_parallel_size: int = Field(1, ge=1, le=8, description="GPUs per replica (vLLM --tensor-parallel-size); at most the GPUs of one node.", examples=[4])
    max_model_len: int = Field(8192, ge=128, description="Longest context (prompt + output) in tokens (vLLM --max-model-len).", examples=[16384])
    max_num_seqs: int = Field(128, ge=1, description="Sequences batched at once (vLLM --max-num-seqs).", examples=[256])
    gpu_memory_utilization: float = Field(0.9, gt=0.1, le=0.98, description="Share of GPU memory vLLM may use (vLLM --gpu-memory-utilization).", examples=[0.92])
    prefix_caching: bool = Field(True, description="Automatic prefix caching (vLLM --enable-prefix-caching / --no-enable-prefix-caching).", examples=[True])
    replicas: ModelReplicas = Field(description="On-demand baseline and spot burst replicas.", examples=[{"baseline": 1, "spot": 2}])
    lora_adapters: list[LoraAdapter] = Field([], description="LoRA adapters to serve with this model.", examples=[[{"name": "support-tone", "source": "s3://acme-ml-adapters/support-tone", "rank": 16}]])
    max_loras: int | None = Field(None, ge=1, description="Adapters batched at once (vLLM --max-loras); default: all of them.", examples=[2])
    extra_args: list[Annotated[str, AfterValidator(_check_extra_arg)]] = Field(
        [], description="More vLLM flags, verbatim (not the ones the keys above set).", examples=[["--enable-chunked-prefill"]]
    )
    autoscaling: Autoscaling = Field(Autoscaling(), description="Spot replica autoscaling.", examples=[{"enabled": True, "maxSpotReplicas": 6}])
    startup_minutes: int = Field(20, ge=1, le=120, description="How long a replica may take to download and load weights before it is restarted.", examples=[30])
    kv_cache_dtype: Literal["auto", "fp8"] = Field("auto", description="vLLM --kv-cache-dtype: fp8 halves KV memory per token.", examples=["fp8"])
    architecture: str | None = Field(None, description="Catalog architecture to size with, when the checkpoint is not in the catalog (infra/catalog/models.yaml).", examples=["llama-3.1-70b"])
    shape: ModelShape | None = Field(None, description="Architecture of a model outside the catalog.", examples=[{"params": 8030261248, "layers": 32, "hiddenSize": 4096, "attentionHeads": 32, "kvHeads": 8, "headDim": 128, "intermediateSize": 14336, "vocabSize": 128256, "maxContext": 131072}])
    weight_bits: Literal[4, 8, 16] | None = Field(None, description="Stored weight precision, when neither quantization nor the catalog says it.", examples=[4])
    runtime_overhead_gib: float = Field(2.0, ge=0, description="GPU memory per GPU that is neither weights nor KV cache (CUDA context, activations, CUDA graphs).", examples=[2.0])
    measured_output_tokens_per_second: float | None = Field(
        None, gt=0, description="Output tokens/s one replica sustained in your own benchmark; replaces the roofline estimate in cost figures.", examples=[1850.0]
    )

    @field_validator("lora_adapters")
    @classmethod
    def _unique_adapter_names(cls, value: list[LoraAdapter]) -> list[LoraAdapter]:
        names = [a.name for a in value]
        if len(set(names)) != len(names):
            raise _error("duplicates", "adapter names must be unique")
        return value

    @property
    def lora_max_rank(self) -> int:
        return max((a.rank for a in self.lora_adapters), default=16)


class Fallback(_Config):
    """The API router (LiteLLM proxy) in front of the models: one OpenAI-compatible endpoint that falls
    back to a hosted API when a self-hosted model errors or times out."""

    enabled: bool = Field(True, description="Deploy the router.", examples=[True])
    hosted_model: str = Field(
        "openai/gpt-4o-mini",
        pattern=r"^(anthropic|openai)/[\w.:-]+$",
        description="LiteLLM id of the hosted model to fall back to: anthropic/<model> (needs anthropicApiKey) or openai/<model> (needs openaiApiKey).",
        examples=["anthropic/claude-3-5-sonnet-20240620"],
    )
    timeout_seconds: int = Field(60, ge=1, le=600, description="Per-request timeout before retrying or falling back.", examples=[60])
    retries: int = Field(1, ge=0, le=5, description="Retries on the self-hosted model before falling back.", examples=[1])
    allowed_fails: int = Field(3, ge=1, description="Failures within a minute before a backend is cooled down.", examples=[3])
    cooldown_seconds: int = Field(30, ge=1, description="How long a failing backend is skipped.", examples=[30])
    replicas: int = Field(2, ge=1, description="Router replicas.", examples=[2])

    @property
    def provider(self) -> str:
        return self.hosted_model.split("/", 1)[0]


class Embeddings(_Config):
    """Text Embeddings Inference (TEI) serving one embedding model."""

    enabled: bool = Field(True, description="Deploy TEI.", examples=[True])
    model: str = Field("BAAI/bge-m3", pattern=_HF_REPO.pattern, description="Hugging Face id of the embedding model.", examples=["BAAI/bge-m3"])
    revision: str = Field("main", pattern=r"^[\w./-]{1,100}$", description="Model revision (pin a commit hash in production).", examples=["main"])
    replicas: int = Field(2, ge=1, description="TEI replicas.", examples=[2])
    pool: str | None = Field(None, description="GPU pool to run on (one GPU per replica); null runs TEI on CPU on the system nodes.", examples=["l4"])
    capacity_type: Literal["on-demand", "spot"] = Field("on-demand", description="Capacity type of the GPU nodes TEI runs on.", examples=["on-demand"])
    max_batch_tokens: int = Field(16384, ge=1, description="TEI --max-batch-tokens.", examples=[16384])
    max_client_batch_size: int = Field(32, ge=1, description="TEI --max-client-batch-size.", examples=[32])
    auto_truncate: bool = Field(True, description="TEI --auto-truncate: truncate inputs longer than the model's maximum instead of failing them.", examples=[True])


class AlertThresholds(_Config):
    """When the alerts fire."""

    gpu_idle_percent: float = Field(5, ge=0, le=100, description="A pool whose GPUs average under this utilization (%)...", examples=[5])
    gpu_idle_minutes: int = Field(30, ge=1, description="...for this long raises the idle-GPU cost alarm.", examples=[30])
    requests_waiting: int = Field(20, ge=1, description="Requests waiting in one model's vLLM queues.", examples=[20])
    kv_cache_usage: float = Field(0.95, gt=0, le=1, description="KV cache usage (0-1) of a model's busiest replica.", examples=[0.95])
    ttft_p99_seconds: float = Field(2.0, gt=0, description="Time-to-first-token p99 target.", examples=[2.0])
    e2e_p99_seconds: float = Field(60.0, gt=0, alias="e2eP99Seconds", description="End-to-end request latency p99 target.", examples=[60.0])
    tei_queue: int = Field(64, ge=1, description="Texts waiting in a TEI replica's queue.", examples=[64])


class Monitoring(_Config):
    """kube-prometheus-stack, DCGM exporter, our alert and recording rules, and dashboards."""

    enabled: bool = Field(True, description="Deploy the monitoring stack.", examples=[True])
    retention_days: int = Field(15, ge=1, le=365, description="Prometheus retention in days.", examples=[15])
    storage_gib: int = Field(50, ge=10, description="Prometheus volume size (gp3) in GiB.", examples=[100])
    grafana: bool = Field(True, description="Deploy Grafana with the kit's dashboards.", examples=[True])
    alerts: AlertThresholds = Field(AlertThresholds(), description="Alert thresholds.", examples=[{"ttftP99Seconds": 1.5}])


class InstancePrice(_Config):
    """Prices of one GPU instance type, replacing the catalog's."""

    on_demand_usd_hour: float | None = Field(None, gt=0, description="On-demand USD per hour.", examples=[10.493])
    spot_discount: float | None = Field(None, ge=0, lt=1, description="Spot discount as a fraction of on-demand.", examples=[0.6])


class HostedApiPrice(_Config):
    """A hosted API's price in USD per million tokens."""

    input: float = Field(ge=0, description="USD per million input tokens.", examples=[3.0])
    output: float = Field(ge=0, description="USD per million output tokens.", examples=[15.0])


class CatalogOverrides(_Config):
    """Numbers that replace the catalog's for this stack (prices change; yours may be negotiated)."""

    instances: dict[GpuInstanceType, InstancePrice] = Field({}, description="Per GPU instance type.", examples=[{"g6e.12xlarge": {"onDemandUsdHour": 9.8, "spotDiscount": 0.6}}])
    api_prices: dict[str, HostedApiPrice] = Field({}, description="Hosted APIs to compare with, added to or replacing the catalog's.", examples=[{"my-provider-70b": {"input": 0.6, "output": 0.6}}])


class RequestShape(_Config):
    """The average request, for throughput and cost per token."""

    prompt_tokens: int = Field(512, ge=1, description="Average prompt tokens per request.", examples=[512])
    output_tokens: int = Field(256, ge=1, description="Average generated tokens per request.", examples=[256])


class Economics(_Config):
    """The traffic you expect and the hosted API to compare with."""

    compare_with: str | None = Field(None, description="Hosted API to compare with (infra/catalog/api_prices.yaml or catalog.apiPrices).", examples=["llama-3.1-70b-managed"])
    monthly_tokens: int | None = Field(None, ge=0, description="Expected tokens per month (prompt + output). Sets the expected utilization.", examples=[5_000_000_000])
    average_utilization: float | None = Field(None, gt=0, le=1, description="Expected average utilization of the baseline, if you think in utilization instead of tokens.", examples=[0.35])
    ops_overhead: float = Field(0.30, ge=0, le=5, description="Operations overhead on top of the cloud bill (people, tooling), as a fraction.", examples=[0.3])
    workload: RequestShape = Field(
        RequestShape(), description="The average request; its prompt/output split also weights the API's input and output prices.", examples=[{"promptTokens": 512, "outputTokens": 256}]
    )


class StackConfig(_Config):
    """Everything a stack file may say, under the `llm-serving:` namespace."""

    region: Region = Field(description="AWS region for every resource.", examples=["us-east-1"])
    cluster: ClusterConfig = Field(description="The EKS cluster.", examples=[{"kubernetesVersion": "1.33", "endpoint": {"public": True, "publicCidrs": ["203.0.113.0/24"]}}])
    system_nodes: SystemNodes = Field(SystemNodes(), description="CPU nodes for cluster services.", examples=[{"instanceTypes": ["m7i.large"], "minNodes": 2, "maxNodes": 4}])
    gpu_pools: list[GpuPool] = Field(min_length=1, description="GPU node pools.", examples=[[{"name": "l4", "instanceTypes": ["g6.xlarge"], "onDemand": {"baseline": 1}, "spot": {"max": 3}}]])
    models: list[ModelDeployment] = Field([], description="Models to serve with vLLM.", examples=[[{"name": "llama-8b", "huggingFaceId": "meta-llama/Llama-3.1-8B-Instruct", "revision": "main", "pool": "l4", "replicas": {"baseline": 1}}]])
    fallback: Fallback = Field(Fallback(), description="The API router and its hosted fallback.", examples=[{"hostedModel": "openai/gpt-4o-mini", "timeoutSeconds": 60}])
    embeddings: Embeddings = Field(Embeddings(enabled=False), description="Embeddings served by TEI (off unless configured).", examples=[{"model": "BAAI/bge-m3", "replicas": 2, "pool": "l4"}])
    monitoring: Monitoring = Field(Monitoring(), description="Prometheus, DCGM, alerts and dashboards.", examples=[{"retentionDays": 30, "storageGib": 100}])
    economics: Economics = Field(Economics(), description="Traffic expectation and the API to compare with.", examples=[{"compareWith": "llama-3.1-70b-managed", "monthlyTokens": 5_000_000_000}])
    catalog: CatalogOverrides = Field(CatalogOverrides(), description="Overrides of catalog numbers.", examples=[{"instances": {"g6e.12xlarge": {"onDemandUsdHour": 9.8}}}])
    tags: dict[str, str] = Field({}, description="Extra AWS tags on every resource.", examples=[{"cost-center": "ml-platform"}])

    @field_validator("gpu_pools", "models")
    @classmethod
    def _unique_names(cls, value: list, info) -> list:
        names = [item.name for item in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            what = {"gpu_pools": "pool", "models": "model"}[info.field_name]
            raise _error("duplicates", "{what} names must be unique; repeated: {names}", what=what, names=", ".join(duplicates))
        return value

    def pool(self, name: str) -> GpuPool:
        return next(p for p in self.gpu_pools if p.name == name)

    def instance(self, instance_type: str) -> GpuInstance:
        """A GPU instance type's catalog entry with this stack's price overrides."""
        override = self.catalog.instances.get(instance_type, InstancePrice())
        return with_overrides(gpu_instances()[instance_type], override.on_demand_usd_hour, override.spot_discount)

    def api_prices(self) -> dict[str, ApiPrice]:
        """The catalog's hosted API prices with this stack's additions and overrides."""
        overrides = {name: ApiPrice(input=price.input, output=price.output) for name, price in self.catalog.api_prices.items()}
        return {**api_prices(), **overrides}


# --- errors ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a stack's configuration."""

    loc: tuple[str | int, ...]
    message: str
    value: Any = None
    missing: bool = False

    @property
    def path(self) -> str:
        head, *rest = self.loc
        text = f"{PROJECT}:{head}"
        for part in rest:
            if part == "[key]":  # pydantic's marker for an invalid dict key; the key itself precedes it
                continue
            text += f"[{part}]" if isinstance(part, int) else f".{part}"
        return text

    def __str__(self) -> str:
        if self.missing:
            return f"{self.path}: missing required key; {self.message}"
        shown = json.dumps(self.value, default=str)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return f"{self.path}: got {shown}; {self.message}"


class ConfigError(pulumi.RunError):
    """A stack's configuration is invalid. Raised before any resource is registered."""

    def __init__(self, stack: str, problems: list[Problem]):
        self.stack = stack
        self.problems = problems
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Stack '{stack}' has an invalid configuration ({count}):\n{lines}")


def _models_in(annotation: Any) -> list[type[_Config]]:
    """The config models an annotation can hold, looking through Optional, list, dict and Annotated."""
    if isinstance(annotation, type) and issubclass(annotation, _Config):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _field_at(loc: tuple[str | int, ...]):
    """The model holding the key at `loc`, and that key's field (None for an unknown key)."""
    models: list[type[_Config]] = [StackConfig]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = [f for m in models for f in m.model_fields.values() if f.alias == part]
        models = [m for f in fields for m in _models_in(f.annotation)]
    for model in models:
        for field in model.model_fields.values():
            if field.alias == loc[-1]:
                return model, field
    return (models[0] if models else None), None


def _problem(error: dict) -> Problem:
    loc = tuple(error["loc"])
    model, field = _field_at(loc) if loc else (StackConfig, None)
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(f.alias for f in model.model_fields.values()) if model else "none"
        return Problem(loc, f"unknown key; allowed keys here: {allowed}", error["input"])
    if kind == "missing":
        example = f"e.g. {json.dumps(field.examples[0])}" if field and field.examples else ""
        described = f"{field.description} " if field and field.description else ""
        return Problem(loc, f"{described}{example}".strip(), missing=True)
    return Problem(loc, error["msg"].removeprefix("Value error, "), error["input"])


# --- cross-field checks (things one field cannot see) ---------------------------------------------


def _cross_checks(config: StackConfig) -> list[Problem]:
    problems = []
    vpc = config.cluster.network.vpc
    if isinstance(vpc, NewVpc) and vpc.zones:
        for i, zone in enumerate(vpc.zones):
            if not re.fullmatch(re.escape(config.region) + r"[a-z]", zone):
                problems.append(Problem(("cluster", "network", "newVpc", "zones", i), f"not a zone of region {config.region} (e.g. {config.region}a)", zone))
    if config.cluster.network.new_vpc and config.cluster.network.existing_vpc:
        problems.append(Problem(("cluster", "network"), "give newVpc or existingVpc, not both", "both"))
    endpoint = config.cluster.endpoint
    if not (endpoint.private or endpoint.public):
        problems.append(Problem(("cluster", "endpoint"), "at least one of private and public must be true", endpoint.model_dump(by_alias=True)))
    if endpoint.public and not endpoint.public_cidrs:
        problems.append(
            Problem(("cluster", "endpoint", "publicCidrs"), "a public endpoint needs an explicit allow-list, e.g. [\"203.0.113.0/24\"] (or set public: false)", [])
        )
    pools = {p.name: p for p in config.gpu_pools}
    for i, model in enumerate(config.models):
        pool = pools.get(model.pool)
        if pool is None:
            problems.append(Problem(("models", i, "pool"), f"no such GPU pool; pools: {', '.join(pools)}", model.pool))
            continue
        gpus = pool.gpu.gpus
        if model.tensor_parallel_size > gpus:
            problems.append(
                Problem(
                    ("models", i, "tensorParallelSize"),
                    f"a replica must fit on one node, and pool {pool.name} has {gpus} GPU(s) per node ({pool.instance_types[0]}); use at most {gpus} or a pool with bigger nodes",
                    model.tensor_parallel_size,
                )
            )
        if model.max_loras is not None and model.max_loras > max(len(model.lora_adapters), 1):
            problems.append(Problem(("models", i, "maxLoras"), f"more than the {len(model.lora_adapters)} adapter(s) listed", model.max_loras))
        if model.autoscaling.enabled and model.autoscaling.max_spot_replicas < model.replicas.spot:
            problems.append(Problem(("models", i, "autoscaling", "maxSpotReplicas"), f"below replicas.spot ({model.replicas.spot}), the floor it scales from", model.autoscaling.max_spot_replicas))
        if model.autoscaling.enabled and not config.monitoring.enabled:
            problems.append(Problem(("models", i, "autoscaling", "enabled"), "scales on Prometheus metrics: set monitoring.enabled: true", True))
        if model.architecture is not None and model.architecture not in model_architectures():
            problems.append(Problem(("models", i, "architecture"), f"not in the catalog; known: {', '.join(model_architectures())} (or give models[{i}].shape)", model.architecture))
    if config.embeddings.enabled and config.embeddings.pool is not None and config.embeddings.pool not in pools:
        problems.append(Problem(("embeddings", "pool"), f"no such GPU pool; pools: {', '.join(pools)} (or null for CPU)", config.embeddings.pool))
    economics = config.economics
    if economics.compare_with is not None and economics.compare_with not in config.api_prices():
        problems.append(Problem(("economics", "compareWith"), f"no such API in the catalog or catalog.apiPrices; known: {', '.join(config.api_prices())}", economics.compare_with))
    if economics.monthly_tokens is not None and economics.average_utilization is not None:
        problems.append(Problem(("economics",), "give monthlyTokens or averageUtilization, not both", "both"))
    for pool_index, pool in enumerate(config.gpu_pools):
        if config.instance(pool.instance_types[0]).on_demand_usd_hour is None:
            problems.append(
                Problem(
                    ("gpuPools", pool_index, "instanceTypes", 0),
                    f"the catalog has no price for {pool.instance_types[0]}; set {PROJECT}:catalog.instances.{pool.instance_types[0]}.onDemandUsdHour",
                    pool.instance_types[0],
                )
            )
    if problems:
        return problems
    from infra import sizing  # imported here: sizing reads these config models, so it cannot load before them

    return [Problem(loc, message, value) for loc, message, value in sizing.stack_problems(config)]


# --- advice: valid, but worth a second look ----------------------------------------------------------


def advisories(config: StackConfig) -> list[str]:
    """Warnings the plan prints for a valid stack."""
    notes = []
    for i, model in enumerate(config.models):
        where = f"{PROJECT}:models[{i}]"
        if not re.fullmatch(r"[0-9a-f]{40}", model.revision):
            notes.append(f"{where}.revision is {model.revision!r}: pin a commit hash so every replica loads the same weights")
        if model.quantization == "awq":
            notes.append(f"{where}.quantization is 'awq', which selects vLLM's slow AWQ kernel; 'awq_marlin' (or null) uses the fast one")
    fallback = config.fallback
    key = f"{fallback.provider}ApiKey"
    if fallback.enabled and pulumi.Config(PROJECT).get(key) is None:
        notes.append(f"{PROJECT}:fallback.hostedModel is {fallback.hosted_model} but {PROJECT}:{key} is not set: the fallback will be refused (401) until you run pulumi config set --secret {PROJECT}:{key} ...")
    return notes


# --- loading --------------------------------------------------------------------------------------

# Keys that hold credentials. They never enter StackConfig: they are read as Pulumi secrets and
# only ever travel as secret Outputs into Kubernetes Secrets.
SECRET_KEYS = {
    "huggingFaceToken": "Hugging Face token for gated or private models (HF_TOKEN in the vLLM pods)",
    "apiKey": "API key clients must send (the router's master key, and VLLM_API_KEY in the vLLM pods)",
    "anthropicApiKey": "Anthropic API key for a fallback.hostedModel of anthropic/...",
    "openaiApiKey": "OpenAI API key for a fallback.hostedModel of openai/...",
}


@dataclass(frozen=True)
class Secrets:
    """Credentials from stack config, as secret Outputs (None when the stack does not set them)."""

    hugging_face_token: pulumi.Output[str] | None = None
    api_key: pulumi.Output[str] | None = None
    anthropic_api_key: pulumi.Output[str] | None = None
    openai_api_key: pulumi.Output[str] | None = None


def _secret_problems() -> list[Problem]:
    problems = []
    for key in SECRET_KEYS:
        full = f"{PROJECT}:{key}"
        if pulumi.Config(PROJECT).get(key) is not None and not pulumi_runtime_config.is_config_secret(full):
            problems.append(Problem((key,), f"stored in plain text; set it with: pulumi config set --secret {full} <value>", "[plain text, not shown]"))
    return problems


def load_secrets() -> Secrets:
    config = pulumi.Config(PROJECT)
    return Secrets(
        hugging_face_token=config.get_secret("huggingFaceToken"),
        api_key=config.get_secret("apiKey"),
        anthropic_api_key=config.get_secret("anthropicApiKey"),
        openai_api_key=config.get_secret("openaiApiKey"),
    )


def parse(stack: str, raw: dict[str, Any], secret_problems: list[Problem] | None = None) -> StackConfig:
    """Validate the `llm-serving:` keys of a stack (namespace stripped, secrets left out) into a StackConfig."""
    problems = list(secret_problems or [])
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(stack, problems + [_problem(e) for e in exc.errors()]) from None
    problems += _cross_checks(config)
    if problems:
        raise ConfigError(stack, problems)
    return config


def _decode(text: str) -> Any:
    """Pulumi hands structured config over as JSON text and plain values as text."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, (dict, list)) else text


def raw_from_pulumi() -> dict[str, Any]:
    """The stack's `llm-serving:` keys as the Pulumi engine (or the offline plan) set them."""
    prefix = f"{PROJECT}:"
    keys = set(pulumi_runtime_config.get_config_env()) | set(pulumi_runtime_config.CONFIG.get())
    config = pulumi.Config(PROJECT)
    names = [key[len(prefix) :] for key in sorted(keys) if key.startswith(prefix)]
    return {name: _decode(config.get(name)) for name in names if name not in SECRET_KEYS}


def load() -> StackConfig:
    """The current stack's validated configuration."""
    return parse(pulumi.get_stack(), raw_from_pulumi(), _secret_problems())
