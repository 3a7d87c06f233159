"""Sizing: will a model fit its GPUs, how big is its KV cache, and how fast will a replica serve.

Memory, per GPU of a replica (tensor parallel TP):
    budget   = GPU memory x gpu-memory-utilization
    weights  = weight bytes / TP            16-bit: 2 bytes/param; 8-bit: 1; 4-bit AWQ/GPTQ: 0.5 plus a
                                            16-bit scale and a 4-bit zero point per group of 128, with
                                            embeddings and LM head kept in 16-bit
    KV cache = budget - weights - runtime overhead (CUDA context, activations, CUDA graphs; 2 GiB default)
    KV bytes per token (per GPU) = 2 x layers x ceil(KV heads / TP) x head dim x KV dtype bytes

KV dtype: "auto" is the model's data type (BF16, 2 bytes) even for FP8 checkpoints; fp8 is 1 byte.
MLA models (DeepSeek V3/R1) cache one latent of kv_latent_dim per layer and token, on every GPU.

Throughput per replica comes from infra/capacity/throughput.py (prefill and decode, FP8 compute,
weight-only dequantization, MoE, LoRA, latency target) with the band measured on published results;
`measuredOutputTokensPerSecond` replaces it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from infra.capacity.throughput import (
    Constants,
    LatencyTarget,
    Lora,
    Replica,
    Throughput,
    Workload,
    calibration,
    estimate,
)
from infra.catalog import GIB, GpuInstance, ModelArchitecture, checkpoints, image_pins, model_architectures
from infra.config.models import ModelDeployment
from infra.config.problems import Problem
from infra.config.stack import StackConfig

# The vLLM release the chart deploys (catalog/images.yaml): it picks the throughput calibration.
ENGINE_VERSION = image_pins()["vllm"].version
LORA_TARGETS = 7  # q, k, v, o, gate, up, down projections per layer (vLLM's default target modules)
DEFAULT_RUNTIME_OVERHEAD_GIB = 2.0
QUANT_GROUP_SIZE = 128
SEVERE_KV_SHORTFALL = 0.25  # warn when full-length sequences that fit < this share of max-num-seqs


@dataclass(frozen=True)
class ServingSetup:
    """How one replica runs: what vLLM's flags say."""

    tensor_parallel: int
    weight_bits: int
    max_model_len: int
    max_num_seqs: int
    gpu_memory_utilization: float
    kv_cache_bytes: int = 2  # per element: 2 for BF16/FP16 ("auto"), 1 for FP8
    runtime_overhead_gib: float = DEFAULT_RUNTIME_OVERHEAD_GIB


@dataclass(frozen=True)
class Fit:
    weights_gib: float  # whole replica
    weights_gib_per_gpu: float
    budget_gib_per_gpu: float
    kv_cache_gib: float  # whole replica (may be negative: it does not fit)
    kv_cache_tokens: int
    kv_bytes_per_token_per_gpu: int
    max_full_length_sequences: int

    @property
    def weights_fit(self) -> bool:
        return self.kv_cache_gib > 0

    def fits(self, max_model_len: int) -> bool:
        return self.weights_fit and self.kv_cache_tokens >= max_model_len


def weight_bytes(shape: ModelArchitecture, bits: int) -> float:
    if bits >= 16:
        return shape.params * 2
    embeddings = shape.vocab_size * shape.hidden_size * (1 if shape.tied_embeddings else 2)
    quantized = shape.params - embeddings
    group_overhead = (16 + bits) / 8 / QUANT_GROUP_SIZE if bits == 4 else 0.0
    return quantized * (bits / 8 + group_overhead) + embeddings * 2


def kv_bytes_per_token_per_gpu(shape: ModelArchitecture, setup: ServingSetup) -> int:
    if shape.kv_latent_dim is not None:  # MLA: one latent per layer, replicated on every GPU
        return shape.layers * shape.kv_latent_dim * setup.kv_cache_bytes
    kv_heads_per_gpu = math.ceil(shape.kv_heads / setup.tensor_parallel)  # heads are replicated when TP > KV heads
    return 2 * shape.layers * kv_heads_per_gpu * shape.head_dim * setup.kv_cache_bytes


def fit(shape: ModelArchitecture, gpu: GpuInstance, setup: ServingSetup) -> Fit:
    tp = setup.tensor_parallel
    budget = gpu.gpu_memory_gib * setup.gpu_memory_utilization
    weights_per_gpu = weight_bytes(shape, setup.weight_bits) / tp / GIB
    kv_per_gpu = budget - weights_per_gpu - setup.runtime_overhead_gib
    per_token = kv_bytes_per_token_per_gpu(shape, setup)
    tokens = max(0, int(kv_per_gpu * GIB // per_token))
    return Fit(
        weights_gib=weights_per_gpu * tp,
        weights_gib_per_gpu=weights_per_gpu,
        budget_gib_per_gpu=budget,
        kv_cache_gib=kv_per_gpu * tp,
        kv_cache_tokens=tokens,
        kv_bytes_per_token_per_gpu=per_token,
        max_full_length_sequences=tokens // setup.max_model_len,
    )


def replica(shape: ModelArchitecture, gpu: GpuInstance, setup: ServingSetup, constants: Constants, lora: Lora | None = None) -> Replica:
    tp = setup.tensor_parallel
    sizing = fit(shape, gpu, setup)
    fp8_compute = setup.weight_bits == 8 and gpu.fp8_tflops is not None
    weight_only = setup.weight_bits == 4 or (setup.weight_bits == 8 and not fp8_compute)
    total = weight_bytes(shape, setup.weight_bits)
    lora_params = 0.0 if lora is None else shape.layers * LORA_TARGETS * lora.rank * 2 * shape.hidden_size
    return Replica(
        tensor_parallel=tp,
        weight_bytes_per_gpu=total / tp,
        architecture=shape,
        active_params=shape.active_params,
        kv_bytes_per_token_per_gpu=sizing.kv_bytes_per_token_per_gpu,
        kv_tokens=sizing.kv_cache_tokens,
        max_num_seqs=setup.max_num_seqs,
        bandwidth=gpu.bandwidth_gbs * 1e9,
        flops=(gpu.fp8_tflops if fp8_compute else gpu.bf16_tflops) * 1e12,
        dequant=1 + constants.weight_only_dequant if weight_only else 1.0,
        lora_bytes_per_gpu=0.0 if lora is None else lora_params * 2 * lora.adapters_per_batch / tp,
        lora_params=lora_params,
    )


def fit_problem(shape: ModelArchitecture, gpu: GpuInstance, setup: ServingSetup, quantized: bool) -> str | None:
    """Why a replica cannot run as configured, with what would fit instead; None when it fits."""
    tp = setup.tensor_parallel
    if shape.attention_heads % tp:
        divisors = [n for n in (1, 2, 4, 8) if shape.attention_heads % n == 0 and n <= gpu.gpus]
        return f"tensor parallel {tp} does not divide the model's {shape.attention_heads} attention heads; use one of {divisors}"
    if quantized and setup.weight_bits == 4 and (shape.intermediate_size // QUANT_GROUP_SIZE) % tp:
        return (
            f"4-bit AWQ/GPTQ weights come in groups of {QUANT_GROUP_SIZE}: the MLP's {shape.intermediate_size} columns make "
            f"{shape.intermediate_size // QUANT_GROUP_SIZE} groups, which tensor parallel {tp} does not divide (vLLM fails to load); pick another TP"
        )
    if setup.max_model_len > shape.max_context:
        return f"maxModelLen {setup.max_model_len} exceeds the model's context of {shape.max_context} tokens"
    sizing = fit(shape, gpu, setup)
    if sizing.fits(setup.max_model_len):
        return None
    usable = sizing.budget_gib_per_gpu - setup.runtime_overhead_gib
    where = f"{tp}x {gpu.gpu} ({gpu.gpu_memory_gib:.1f} GiB each x gpu-memory-utilization {setup.gpu_memory_utilization} - {setup.runtime_overhead_gib:g} GiB overhead = {usable:.1f} GiB usable per GPU)"
    if not sizing.weights_fit:
        problem = f"needs {sizing.weights_gib:.1f} GiB of {setup.weight_bits}-bit weights ({sizing.weights_gib_per_gpu:.1f} GiB per GPU), more than {where} offer"
    else:
        problem = (
            f"its weights fit ({sizing.weights_gib_per_gpu:.1f} GiB per GPU) but the KV cache left ({sizing.kv_cache_gib:.1f} GiB, "
            f"{sizing.kv_cache_tokens} tokens) cannot hold one maxModelLen sequence of {setup.max_model_len} tokens on {where}"
        )
    return f"{problem}. What would fit: {'; or '.join(alternatives(shape, gpu, setup)) or 'a GPU with more memory'}"


def alternatives(shape: ModelArchitecture, gpu: GpuInstance, setup: ServingSetup) -> list[str]:
    options = []
    for tp in (2, 4, 8):
        if tp <= setup.tensor_parallel or shape.attention_heads % tp:
            continue
        bigger = ServingSetup(**{**asdict(setup), "tensor_parallel": tp})
        candidate = fit(shape, gpu, bigger)
        if candidate.fits(setup.max_model_len):
            node = "" if tp <= gpu.gpus else f" (needs a pool with {tp}+ GPUs per node; this pool has {gpu.gpus})"
            options.append(f"tensor parallel {tp} ({candidate.weights_gib_per_gpu:.1f} GiB of weights per GPU, {candidate.kv_cache_tokens} KV tokens){node}")
            break
    for bits, how in ((8, "FP8 (quantization: fp8)"), (4, "4-bit AWQ/GPTQ (an AWQ checkpoint with quantization: awq_marlin)")):
        if bits >= setup.weight_bits:
            continue
        smaller = fit(shape, gpu, ServingSetup(**{**asdict(setup), "weight_bits": bits}))
        if smaller.fits(setup.max_model_len):
            options.append(f"{how}: {smaller.weights_gib:.1f} GiB of weights at tensor parallel {setup.tensor_parallel}")
    shorter = setup.max_model_len // 2
    if fit(shape, gpu, setup).weights_fit and shorter >= 128:
        options.append(f"a shorter maxModelLen (at most {fit(shape, gpu, setup).kv_cache_tokens} tokens)")
    return options


# --- a stack's models ----------------------------------------------------------------------------

QUANTIZATION_BITS = {"awq": 4, "awq_marlin": 4, "gptq": 4, "gptq_marlin": 4, "fp8": 8}


@dataclass(frozen=True)
class ModelSizing:
    """What one model deployment needs and delivers, per replica."""

    model: str
    pool: str
    instance_type: str
    gpu: str
    tensor_parallel: int
    quantization: str | None
    weight_bits: int
    max_model_len: int
    max_num_seqs: int
    fit: Fit
    output_tokens_per_second: float
    throughput_source: str  # "estimate (vLLM x.y calibration)" or "measured (stack config)"
    replicas_on_demand: int
    replicas_spot: int
    estimate: Throughput  # the model's estimate, kept next to a measured override
    compare_with: str | None  # the hosted API this model is judged against

    @property
    def measured(self) -> bool:
        return self.throughput_source.startswith("measured")

    @property
    def band(self) -> tuple[float, float]:
        """(low, high) output tok/s: the held-out error band, none for a measured figure."""
        if self.measured:
            return self.output_tokens_per_second, self.output_tokens_per_second
        return self.estimate.low, self.estimate.high

    @property
    def input_tokens_per_second(self) -> float:
        return self.output_tokens_per_second * self.estimate.input_tokens_per_second / self.estimate.output_tokens_per_second if self.estimate.output_tokens_per_second else 0.0

    @property
    def fits(self) -> bool:
        return self.fit.fits(self.max_model_len)

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "pool": self.pool,
            "instance_type": self.instance_type,
            "gpu": self.gpu,
            "tensor_parallel": self.tensor_parallel,
            "quantization": self.quantization,
            "weight_bits": self.weight_bits,
            "weights_gib": round(self.fit.weights_gib, 2),
            "kv_cache_gib": round(self.fit.kv_cache_gib, 2),
            "kv_cache_tokens": self.fit.kv_cache_tokens,
            "fits": self.fits,
            "max_model_len": self.max_model_len,
            "max_num_seqs": self.max_num_seqs,
            "max_concurrent_sequences": self.fit.max_full_length_sequences,
            "estimated_output_tokens_per_second": round(self.output_tokens_per_second, 1),
            "estimated_output_tokens_per_second_low": round(self.band[0], 1),
            "estimated_output_tokens_per_second_high": round(self.band[1], 1),
            "estimate_band": None if self.measured else {"low": self.estimate.band_low, "high": self.estimate.band_high},
            "estimated_input_tokens_per_second": round(self.input_tokens_per_second, 1),
            "batch": self.estimate.batch,
            "batch_limited_by": self.estimate.limited_by,
            "estimated_ttft_ms": round(self.estimate.ttft_ms, 1),
            "estimated_itl_ms": round(self.estimate.itl_ms, 1),
            "throughput_source": self.throughput_source,
            "compare_with": self.compare_with,
            "replicas": {"on_demand": self.replicas_on_demand, "spot": self.replicas_spot},
        }


def architecture_of(model: ModelDeployment) -> ModelArchitecture | None:
    """The model's shape: from stack config, the named catalog architecture, or the checkpoint catalog."""
    if model.shape is not None:
        values = model.shape.model_dump()
        values["active_params"] = values["active_params"] or values["params"]
        return ModelArchitecture(**values)
    if model.architecture is not None:
        return model_architectures().get(model.architecture)
    checkpoint = checkpoints().get(model.hugging_face_id)
    return model_architectures()[checkpoint.architecture] if checkpoint else None


def weight_bits_of(model: ModelDeployment) -> int | None:
    if model.weight_bits is not None:
        return model.weight_bits
    if model.quantization in QUANTIZATION_BITS:
        return QUANTIZATION_BITS[model.quantization]
    checkpoint = checkpoints().get(model.hugging_face_id)
    if checkpoint:
        return checkpoint.weight_bits
    return None if model.quantization else 16


def group_quantized(model: ModelDeployment, bits: int) -> bool:
    """4-bit AWQ/GPTQ weights in groups of 128 (not gpt-oss's MXFP4, which vLLM pads)."""
    checkpoint = checkpoints().get(model.hugging_face_id)
    return bits == 4 and not (checkpoint is not None and checkpoint.format == "mxfp4")


def lora_of(model: ModelDeployment) -> Lora | None:
    if not model.lora_adapters:
        return None
    return Lora(rank=model.lora_max_rank, adapters_per_batch=min(model.max_loras or len(model.lora_adapters), len(model.lora_adapters)))


def setup_of(model: ModelDeployment, bits: int) -> ServingSetup:
    return ServingSetup(
        tensor_parallel=model.tensor_parallel_size,
        weight_bits=bits,
        max_model_len=model.max_model_len,
        max_num_seqs=model.max_num_seqs,
        gpu_memory_utilization=model.gpu_memory_utilization,
        kv_cache_bytes=1 if model.kv_cache_dtype == "fp8" else 2,
        runtime_overhead_gib=model.runtime_overhead_gib,
    )


def stack_problems(config: StackConfig) -> list[Problem]:
    """Every model that cannot run as configured: one problem each, with what would fit instead."""
    problems = []
    for i, model in enumerate(config.models):
        shape = architecture_of(model)
        if shape is None:
            problems.append(
                Problem(("models", i, "huggingFaceId"), "the catalog does not know this model's shape; set models[].architecture to a catalog entry or give models[].shape", model.hugging_face_id)
            )
            continue
        bits = weight_bits_of(model)
        if bits is None:
            problems.append(Problem(("models", i, "weightBits"), f"quantization {model.quantization} does not say the weight precision; set weightBits (4, 8 or 16)", None))
            continue
        checkpoint = checkpoints().get(model.hugging_face_id)
        if model.quantization in ("awq", "awq_marlin", "gptq", "gptq_marlin") and checkpoint and checkpoint.weight_bits == 16:
            problems.append(Problem(("models", i, "quantization"), f"{model.quantization} needs a 4-bit checkpoint, and {model.hugging_face_id} is 16-bit; use an AWQ/GPTQ repo, or fp8", model.quantization))
            continue
        pool = config.pool(model.pool)
        problem = fit_problem(shape, config.instance(pool.instance_types[0]), setup_of(model, bits), quantized=group_quantized(model, bits))
        if problem:
            problems.append(Problem(("models", i), f"{model.name} on pool {pool.name}: {problem}", f"TP {model.tensor_parallel_size}, {bits}-bit"))
    return problems


def size_model(config: StackConfig, model: ModelDeployment) -> ModelSizing:
    """Sizing of a model of a valid stack (stack_problems found nothing)."""
    shape, bits = architecture_of(model), weight_bits_of(model)
    pool = config.pool(model.pool)
    instance = config.instance(pool.instance_types[0])
    setup = setup_of(model, bits)
    shape_of_requests = config.economics.workload
    workload = Workload(shape_of_requests.prompt_tokens, shape_of_requests.output_tokens, shape_of_requests.prefix_cache_hit_rate if model.prefix_caching else 0.0)
    slo = config.economics.slo
    cal = calibration(ENGINE_VERSION)
    estimated = estimate(replica(shape, instance, setup, cal.constants, lora_of(model)), cal, workload, LatencyTarget(slo.ttft_ms, slo.itl_ms))
    measured = model.measured_output_tokens_per_second
    return ModelSizing(
        model=model.name,
        pool=pool.name,
        instance_type=instance.instance_type,
        gpu=instance.gpu,
        tensor_parallel=model.tensor_parallel_size,
        quantization=model.quantization,
        weight_bits=bits,
        max_model_len=model.max_model_len,
        max_num_seqs=model.max_num_seqs,
        fit=fit(shape, instance, setup),
        output_tokens_per_second=measured if measured else estimated.output_tokens_per_second,
        throughput_source="measured (stack config)" if measured else f"estimate (vLLM {ENGINE_VERSION}, {estimated.band_text()})",
        replicas_on_demand=model.replicas.baseline,
        replicas_spot=model.replicas.spot,
        estimate=estimated,
        compare_with=model.compare_with or config.economics.compare_with,
    )


def kv_warnings(sizings: Sequence[ModelSizing]) -> list[str]:
    notes = []
    for s in sizings:
        if s.fit.max_full_length_sequences < SEVERE_KV_SHORTFALL * s.max_num_seqs:
            average = s.fit.kv_cache_tokens // s.max_num_seqs
            notes.append(
                f"{s.model}: the KV cache ({s.fit.kv_cache_tokens:,} tokens) holds {s.fit.max_full_length_sequences} sequences of "
                f"maxModelLen {s.max_model_len}, far fewer than maxNumSeqs {s.max_num_seqs}; a full batch needs requests averaging "
                f"under {average:,} tokens, longer ones queue or are preempted"
            )
    return notes
