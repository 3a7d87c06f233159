"""Sizing: will a model fit its GPUs, how big is its KV cache, and how fast will a replica serve.

Memory, per GPU of a replica (tensor parallel TP):
    budget   = GPU memory x gpu-memory-utilization
    weights  = weight bytes / TP            16-bit: 2 bytes/param; 8-bit: 1; 4-bit AWQ/GPTQ: 0.5 plus a
                                            16-bit scale and a 4-bit zero point per group of 128, with
                                            embeddings and LM head kept in 16-bit
    KV cache = budget - weights - runtime overhead (CUDA context, activations, CUDA graphs; 2 GiB default)
    KV bytes per token (per GPU) = 2 x layers x ceil(KV heads / TP) x head dim x KV dtype bytes

Throughput, per replica, as a roofline: a decode step reads the GPU's weights plus the batch's KV cache
from memory, or is bound by compute (2 x active params FLOPs per token), whichever is slower; prefill
is compute bound. The batch is what the KV cache holds of the average request, capped by max-num-seqs.
Measured against published vLLM results, the ideal is scaled by EFFICIENCY and by TP_SCALING per
doubling of tensor parallel (communication); see tests/test_sizing.py for the fit and its error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from infra.catalog import GIB, GpuInstance, ModelArchitecture, checkpoints, model_architectures
from infra.config.models import ModelDeployment
from infra.config.problems import Problem
from infra.config.stack import StackConfig

# Calibrated on the two published vLLM offline results the kit is held to (sglang
# benchmark/benchmark_vllm_060): Llama-3.1-8B BF16 on 1x A100-80GB, 4,132 output tok/s, and
# Llama-3.1-70B BF16 at TP 4 on H100, 3,701 output tok/s.
EFFICIENCY = 0.455
TP_SCALING = 0.85
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
class Workload:
    """The average request."""

    prompt_tokens: int
    output_tokens: int


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


def output_tokens_per_second(shape: ModelArchitecture, gpu: GpuInstance, setup: ServingSetup, workload: Workload) -> float:
    """Roofline estimate of one replica's output tokens/s with every request sent at once."""
    sizing = fit(shape, gpu, setup)
    request_tokens = workload.prompt_tokens + workload.output_tokens
    batch = min(setup.max_num_seqs, sizing.kv_cache_tokens // request_tokens)
    if batch < 1:
        return 0.0
    tp = setup.tensor_parallel
    flops = gpu.bf16_tflops * 1e12
    average_context = workload.prompt_tokens + workload.output_tokens / 2
    step_bytes = sizing.weights_gib_per_gpu * GIB + batch * average_context * sizing.kv_bytes_per_token_per_gpu
    memory_time = step_bytes / (gpu.bandwidth_gbs * 1e9)
    compute_time = 2 * shape.active_params * batch / tp / flops
    decode_step = max(memory_time, compute_time)
    prefill = batch * workload.prompt_tokens * 2 * shape.active_params / tp / flops
    ideal = batch * workload.output_tokens / (prefill + workload.output_tokens * decode_step)
    return ideal * EFFICIENCY * TP_SCALING ** math.log2(tp)


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
    throughput_source: str  # "roofline estimate" or "measured (stack config)"
    replicas_on_demand: int
    replicas_spot: int

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
            "throughput_source": self.throughput_source,
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
        problem = fit_problem(shape, config.instance(pool.instance_types[0]), setup_of(model, bits), quantized=model.quantization is not None or bits == 4)
        if problem:
            problems.append(Problem(("models", i), f"{model.name} on pool {pool.name}: {problem}", f"TP {model.tensor_parallel_size}, {bits}-bit"))
    return problems


def size_model(config: StackConfig, model: ModelDeployment) -> ModelSizing:
    """Sizing of a model of a valid stack (stack_problems found nothing)."""
    shape, bits = architecture_of(model), weight_bits_of(model)
    pool = config.pool(model.pool)
    instance = config.instance(pool.instance_types[0])
    setup = setup_of(model, bits)
    workload = Workload(config.economics.workload.prompt_tokens, config.economics.workload.output_tokens)
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
        output_tokens_per_second=measured if measured else output_tokens_per_second(shape, instance, setup, workload),
        throughput_source="measured (stack config)" if measured else "roofline estimate",
        replicas_on_demand=model.replicas.baseline,
        replicas_spot=model.replicas.spot,
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
