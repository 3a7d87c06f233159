"""The `models` section: one vLLM deployment per model (checkpoint, engine flags, replicas, LoRA
adapters, autoscaling, and what sizing needs when the catalog does not know the checkpoint)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from infra.config import vllm_flags
from infra.config.base import HF_REPO, ConfigModel, PlainName, config_error
from infra.config.limits import (
    ADAPTERS_PER_MODEL_MAX,
    HPA_STABILIZATION_MAX_SECONDS,
    KUBERNETES_INT32_MAX,
    RESERVED_MODEL_NAMES,
    RESERVED_ROUTE_NAMES,
)
from infra.config.redact import looks_like_secret

_S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<prefix>[^\s]+?)/?$")


def _check_adapter_source(value: str) -> str:
    if not (_S3_URI.match(value) or HF_REPO.match(value)):
        raise config_error("adapter_source", "not an adapter source: give s3://bucket/prefix or a Hugging Face repo id like org/adapter-name")
    if value.startswith("s3://") and re.search(r"[*?\[\]]", value):
        raise config_error("adapter_source_wildcard", "an S3 prefix with wildcards (*, ?) would grant read on more of the bucket than the adapter; give the adapter's exact prefix")
    return value


def _check_extra_arg(value: str) -> str:
    if looks_like_secret(value):
        raise config_error("secret_in_args", "looks like a credential; extraArgs print in the plan and the manifests: set secrets with pulumi config set --secret")
    reason = vllm_flags.problem(value)
    if reason:
        raise config_error("refused_flag", reason)
    return value


def _check_model_name(value: str) -> str:
    if value in RESERVED_MODEL_NAMES | RESERVED_ROUTE_NAMES:
        raise config_error("reserved_name", "the kit uses this name for its own release or router route; reserved: {names}", names=", ".join(sorted(RESERVED_MODEL_NAMES | RESERVED_ROUTE_NAMES)))
    return value


class LoraAdapter(ConfigModel):
    """A LoRA adapter served next to its base model (vLLM multi-LoRA)."""

    name: Annotated[str, PlainName, AfterValidator(_check_model_name)] = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$", description="Model name clients request for this adapter.", examples=["support-tone"])
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


class ModelShape(ConfigModel):
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


class ModelReplicas(ConfigModel):
    """How many copies of the model serve, and on which capacity."""

    baseline: int = Field(1, ge=1, le=KUBERNETES_INT32_MAX, description="Replicas pinned to on-demand nodes: the capacity a spot reclaim cannot take.", examples=[1])
    spot: int = Field(0, ge=0, le=KUBERNETES_INT32_MAX, description="Burst replicas on spot nodes.", examples=[2])


class Autoscaling(ConfigModel):
    """Scale a model's spot replicas on vLLM's waiting requests (KEDA); the on-demand baseline never scales."""

    enabled: bool = Field(False, description="Autoscale the spot replicas (needs monitoring).", examples=[True])
    max_spot_replicas: int = Field(4, ge=1, le=KUBERNETES_INT32_MAX, description="Most spot replicas (replicas.spot is the least).", examples=[6])
    waiting_requests_per_replica: int = Field(8, ge=1, le=KUBERNETES_INT32_MAX, description="Target waiting requests per replica before adding one.", examples=[8])
    scale_down_stabilization_seconds: int = Field(600, ge=0, le=HPA_STABILIZATION_MAX_SECONDS, description="How long load must stay low before replicas are removed.", examples=[600])


class Benchmark(ConfigModel):
    """A one-off `vllm bench serve` Job against the model's Service, with the stack's workload shape
    (economics.workload); its "Output token throughput" goes into measuredOutputTokensPerSecond."""

    enabled: bool = Field(False, description="Run the benchmark Job after the model is deployed.", examples=[True])
    num_prompts: int = Field(200, ge=10, le=10000, description="Requests to send (vllm bench serve --num-prompts).", examples=[500])
    max_concurrency: int | None = Field(
        None, ge=1, description="Requests in flight (--max-concurrency); default: the batch the plan's estimate packs within the latency target.", examples=[32]
    )


class ModelDeployment(ConfigModel):
    """One vLLM deployment of a model (a Helm release of charts/vllm)."""

    name: Annotated[str, PlainName, AfterValidator(_check_model_name)] = Field(pattern=r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$", description="Release and served model name (DNS label, up to 32 chars).", examples=["llama-70b"])
    hugging_face_id: str = Field(pattern=HF_REPO.pattern, description="Hugging Face model repo id.", examples=["hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4"])
    revision: str = Field(
        "main", pattern=r"^[\w./-]{1,100}$", description="Model revision: pin a commit hash in production so every pod loads the same weights.", examples=["main"]
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
    replicas: ModelReplicas = Field(ModelReplicas(), description="On-demand baseline and spot burst replicas.", examples=[{"baseline": 1, "spot": 2}])
    lora_adapters: list[LoraAdapter] = Field([], max_length=ADAPTERS_PER_MODEL_MAX, description="LoRA adapters to serve with this model.", examples=[[{"name": "support-tone", "source": "s3://acme-ml-adapters/support-tone", "rank": 16}]])
    max_loras: int | None = Field(None, ge=1, description="Adapters batched at once (vLLM --max-loras); default: all of them.", examples=[2])
    extra_args: list[Annotated[str, AfterValidator(_check_extra_arg)]] = Field(
        [], description="More vLLM flags, verbatim (not the ones the keys above set).", examples=[["--enable-chunked-prefill"]]
    )
    autoscaling: Autoscaling = Field(Autoscaling(), description="Spot replica autoscaling.", examples=[{"enabled": True, "maxSpotReplicas": 6}])
    startup_minutes: int | None = Field(
        None, ge=1, le=120, description="How long a replica may take to load weights and start before it is restarted; default: derived from its cold-start estimate (plan: sizing[].startup_minutes).", examples=[30]
    )
    kv_cache_dtype: Literal["auto", "fp8"] = Field("auto", description="vLLM --kv-cache-dtype: fp8 halves KV memory per token.", examples=["fp8"])
    architecture: str | None = Field(None, description="Catalog architecture to size with, when the checkpoint is not in the catalog (infra/catalog/models.yaml).", examples=["llama-3.1-70b"])
    shape: ModelShape | None = Field(None, description="Architecture of a model outside the catalog.", examples=[{"params": 8030261248, "layers": 32, "hiddenSize": 4096, "attentionHeads": 32, "kvHeads": 8, "headDim": 128, "intermediateSize": 14336, "vocabSize": 128256, "maxContext": 131072}])
    weight_bits: Literal[4, 8, 16] | None = Field(None, description="Stored weight precision, when neither quantization nor the catalog says it.", examples=[4])
    runtime_overhead_gib: float = Field(2.0, ge=0, description="GPU memory per GPU that is neither weights nor KV cache (CUDA context, activations, CUDA graphs).", examples=[2.0])
    compare_with: str | None = Field(
        None, description="Hosted API this model is judged against (its own hosted counterpart); default: economics.compareWith.", examples=["llama-3.1-70b-managed"]
    )
    benchmark: Benchmark = Field(Benchmark(), description="Measure, then trust: a vllm bench serve Job with the stack's workload shape.", examples=[{"enabled": True, "numPrompts": 500}])
    fallback: str | None = Field(
        None,
        pattern=r"^(none|(anthropic|openai)/[\w.:-]+)$",
        description="Hosted model this model falls back to (anthropic/<model> or openai/<model>), or none; default: fallback.hostedModel.",
        examples=["openai/gpt-4o-mini"],
    )
    measured_output_tokens_per_second: float | None = Field(
        None, gt=0, description="Output tokens/s one replica sustained in your own benchmark (e.g. `vllm bench serve` with your workload shape); replaces the estimate in cost figures.", examples=[1850.0]
    )

    @field_validator("lora_adapters")
    @classmethod
    def _unique_adapter_names(cls, value: list[LoraAdapter]) -> list[LoraAdapter]:
        names = [a.name for a in value]
        if len(set(names)) != len(names):
            raise config_error("duplicates", "adapter names must be unique")
        return value

    @property
    def lora_max_rank(self) -> int:
        return max((a.rank for a in self.lora_adapters), default=16)


