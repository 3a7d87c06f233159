"""What-ifs without a stack: `python -m infra estimate` (one model on one instance type) and
`python -m infra advise` (which instance type, precision, tensor parallel, replicas and spot share
serve a monthly token volume cheapest, and whether a hosted API beats all of them).

Both use the same sizing, throughput calibration and catalog prices as the plan. Costs are GPU nodes
plus the operations overhead (default 30 %, as in stack config); the EKS control plane, NAT and system
nodes a stack adds are not counted here (the plan prices them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from infra.capacity.calibrate import vllm_default_max_num_seqs
from infra.capacity.economics import HOURS_PER_MONTH
from infra.capacity.sizing import ENGINE_VERSION, ServingSetup, fit, fit_problem, replica
from infra.capacity.throughput import LatencyTarget, Throughput, Workload, calibration, estimate
from infra.catalog import (
    GpuInstance,
    ModelArchitecture,
    api_prices,
    checkpoints,
    gpu_instance,
    gpu_instances,
    model_architectures,
)

DEFAULT_REGION = "us-east-1"
DEFAULT_OPS_OVERHEAD = 0.30
# --model-class -> (catalog architecture, hosted API to compare with)
MODEL_CLASSES = {
    "8b": ("llama-3.1-8b", "llama-3.1-8b-managed"),
    "14b": ("qwen3-14b", "gpt-4o-mini"),
    "32b": ("qwen3-32b", "gpt-4o-mini"),
    "70b": ("llama-3.1-70b", "llama-3.1-70b-managed"),
    "120b-moe": ("gpt-oss-120b", "gpt-4o-mini"),
    "235b-moe": ("qwen3-235b-a22b", "gpt-4o"),
    "405b": ("llama-3.1-405b", "gpt-4o"),
}
PRECISION_NAMES = {16: "bf16", 8: "fp8", 4: "awq-int4"}


class WhatIfError(ValueError):
    """Input the what-if cannot work with (one line for the user)."""


@dataclass(frozen=True)
class Option:
    """One way to serve the model on one replica, and what it delivers."""

    instance: GpuInstance
    architecture: str
    weight_bits: int
    setup: ServingSetup
    problem: str | None
    weights_gib: float
    kv_cache_gib: float
    max_concurrent_sequences: int
    throughput: Throughput

    @property
    def replica_usd_hour(self) -> float | None:
        price = self.instance.on_demand_usd_hour
        return None if price is None else price * self.setup.tensor_parallel / self.instance.gpus

    def usd_per_million(self, hourly: float, utilization: float = 1.0, ops: float = DEFAULT_OPS_OVERHEAD) -> float | None:
        t = self.throughput
        tokens = (t.output_tokens_per_second + t.input_tokens_per_second) * 3600 * utilization
        return hourly * (1 + ops) / tokens * 1e6 if tokens else None

    def to_json(self) -> dict:
        t = self.throughput
        hourly = self.replica_usd_hour
        return {
            "instance_type": self.instance.instance_type,
            "gpu": self.instance.gpu,
            "architecture": self.architecture,
            "weight_bits": self.weight_bits,
            "precision": PRECISION_NAMES[self.weight_bits],
            "tensor_parallel": self.setup.tensor_parallel,
            "kv_cache_dtype": "fp8" if self.setup.kv_cache_bytes == 1 else "auto",
            "fits": self.problem is None,
            "problem": self.problem,
            "weights_gib": round(self.weights_gib, 2),
            "kv_cache_gib": round(self.kv_cache_gib, 2),
            "max_concurrent_sequences": self.max_concurrent_sequences,
            "batch": t.batch,
            "batch_limited_by": t.limited_by,
            "output_tokens_per_second": round(t.output_tokens_per_second, 1),
            "output_tokens_per_second_low": round(t.low, 1),
            "output_tokens_per_second_high": round(t.high, 1),
            "input_tokens_per_second": round(t.input_tokens_per_second, 1),
            "ttft_ms": round(t.ttft_ms, 1),
            "itl_ms": round(t.itl_ms, 1),
            "usd_per_hour": None if hourly is None else round(hourly, 4),
            "usd_per_million_tokens_at_100%": None if hourly is None or not t.batch else round(self.usd_per_million(hourly), 4),
            "engine": f"vllm {ENGINE_VERSION}",
        }


def resolve_model(model: str | None, architecture: str | None, weight_bits: int | None) -> tuple[str, ModelArchitecture, int]:
    if model is not None:
        checkpoint = checkpoints().get(model)
        if checkpoint is None:
            raise WhatIfError(f"--model {model} is not in the catalog (infra/catalog/models.yaml); give --architecture NAME --weight-bits N instead")
        return checkpoint.architecture, model_architectures()[checkpoint.architecture], weight_bits or checkpoint.weight_bits
    if architecture not in model_architectures():
        raise WhatIfError(f"--architecture {architecture} is not in the catalog; known: {', '.join(model_architectures())}")
    return architecture, model_architectures()[architecture], weight_bits or 16


def instance_of(instance_type: str, region: str) -> GpuInstance:
    if instance_type not in gpu_instances():
        raise WhatIfError(f"--instance-type {instance_type} is not a catalog GPU instance type; known: {', '.join(gpu_instances())}")
    return gpu_instance(instance_type, region)


def option(
    instance: GpuInstance, name: str, shape: ModelArchitecture, bits: int, tp: int, workload: Workload, target: LatencyTarget | None,
    *, kv_fp8: bool = False, max_num_seqs: int | None = None, max_model_len: int | None = None, utilization: float = 0.9,
) -> Option:
    setup = ServingSetup(
        tensor_parallel=tp,
        weight_bits=bits,
        max_model_len=max_model_len or min(8192, shape.max_context),
        max_num_seqs=max_num_seqs or vllm_default_max_num_seqs(instance),
        gpu_memory_utilization=utilization,
        kv_cache_bytes=1 if kv_fp8 else 2,
    )
    group_quantized = bits == 4 and checkpoints_format(name) != "mxfp4"
    problem = "needs more GPUs than one node has" if tp > instance.gpus else fit_problem(shape, instance, setup, quantized=group_quantized)
    sizing = fit(shape, instance, setup)
    cal = calibration(ENGINE_VERSION)
    throughput = estimate(replica(shape, instance, setup, cal.constants), cal, workload, target) if problem is None else Throughput(0, 0, 0, "does not fit", math.inf, math.inf, 0, 0)
    return Option(instance, name, bits, setup, problem, sizing.weights_gib, sizing.kv_cache_gib, max(0, sizing.max_full_length_sequences), throughput)


def checkpoints_format(architecture: str) -> str | None:
    formats = {c.format for c in checkpoints().values() if c.architecture == architecture and c.weight_bits == 4}
    return "mxfp4" if formats == {"mxfp4"} else None


def smallest_tensor_parallel(instance: GpuInstance, name: str, shape: ModelArchitecture, bits: int, workload: Workload, target: LatencyTarget | None, **kwargs) -> Option:
    tried = [option(instance, name, shape, bits, tp, workload, target, **kwargs) for tp in (1, 2, 4, 8) if tp <= instance.gpus and shape.attention_heads % tp == 0]
    return next((o for o in tried if o.problem is None), tried[-1])


# --- advise ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    option: Option
    replicas: int
    spot_replicas: int
    monthly_usd: float
    usd_per_million_tokens: float
    usd_per_million_tokens_range: tuple[float, float]  # from the throughput band (pessimistic, optimistic)
    utilization: float

    def to_json(self) -> dict:
        return {
            **self.option.to_json(),
            "replicas": self.replicas,
            "spot_replicas": self.spot_replicas,
            "on_demand_replicas": self.replicas - self.spot_replicas,
            "expected_utilization": round(self.utilization, 4),
            "monthly_usd": round(self.monthly_usd, 2),
            "usd_per_million_tokens": round(self.usd_per_million_tokens, 4),
            "usd_per_million_tokens_high": round(self.usd_per_million_tokens_range[0], 4),
            "usd_per_million_tokens_low": round(self.usd_per_million_tokens_range[1], 4),
        }


def precisions_for(architecture: str) -> list[int]:
    """Stored precisions the catalog has checkpoints for, plus FP8 (vLLM quantizes BF16 online)."""
    bits = {c.weight_bits for c in checkpoints().values() if c.architecture == architecture}
    if 16 in bits:
        bits.add(8)
    return sorted(bits, reverse=True)


def candidate(o: Option, monthly_tokens: float, headroom: float, spot_share: float, ops: float) -> Candidate | None:
    if o.problem is not None or not o.throughput.batch or o.replica_usd_hour is None:
        return None
    t = o.throughput
    tokens_per_replica_month = (t.output_tokens_per_second + t.input_tokens_per_second) * 3600 * HOURS_PER_MONTH
    replicas = max(1, math.ceil(monthly_tokens / (tokens_per_replica_month * headroom)))
    spot = math.floor((replicas - 1) * spot_share)  # one on-demand replica at least: the floor a reclaim cannot take
    if spot and o.instance.spot_usd_hour is None:
        return None
    per_node = o.instance.gpus // o.setup.tensor_parallel  # whole nodes are billed, however many replicas they hold
    on_demand_nodes, spot_nodes = math.ceil((replicas - spot) / per_node), math.ceil(spot / per_node)
    node_hourly = on_demand_nodes * o.instance.on_demand_usd_hour + (spot_nodes * o.instance.spot_usd_hour if spot else 0.0)
    monthly = node_hourly * HOURS_PER_MONTH * (1 + ops)
    per_million = monthly / monthly_tokens * 1e6
    low_scale, high_scale = 1 / (1 + t.band_low), 1 / (1 + t.band_high)  # fewer tokens/s -> more replicas
    return Candidate(o, replicas, spot, monthly, per_million, (per_million * low_scale, per_million * high_scale), monthly_tokens / (replicas * tokens_per_replica_month))


def search(name: str, shape: ModelArchitecture, workload: Workload, target: LatencyTarget, monthly_tokens: float, region: str, headroom: float, ops: float) -> list[Candidate]:
    found = []
    for instance_type in gpu_instances():
        instance = gpu_instance(instance_type, region)
        for bits in precisions_for(name):
            if bits == 8 and instance.fp8_tflops is None and not any(c.architecture == name and c.weight_bits == 8 for c in checkpoints().values()):
                continue
            o = smallest_tensor_parallel(instance, name, shape, bits, workload, target)
            for spot_share in (0.0, 0.5):
                c = candidate(o, monthly_tokens, headroom, spot_share, ops)
                if c is not None:
                    found.append(c)
    unique = {(c.option.instance.instance_type, c.option.weight_bits, c.option.setup.tensor_parallel, c.spot_replicas): c for c in found}
    return sorted(unique.values(), key=lambda c: c.usd_per_million_tokens)


def verdict(best: Candidate | None, api_name: str, api_usd: float, monthly_tokens: float) -> str:
    api_monthly = monthly_tokens / 1e6 * api_usd
    if best is None:
        return f"no catalog instance type serves this model within the latency target: use the API ({api_name}, ${api_monthly:,.0f}/month)"
    pessimistic, optimistic = best.usd_per_million_tokens_range
    head = f"at {monthly_tokens / 1e9:,.2f}B tokens/month: self-hosting ${best.usd_per_million_tokens:.3f}/M tokens (${optimistic:.3f}-${pessimistic:.3f} within the estimate's band) vs {api_name} ${api_usd:.3f}/M"
    if pessimistic < api_usd:
        return f"self-host: {head}; saves about ${api_monthly - best.monthly_usd:,.0f}/month"
    if optimistic > api_usd:
        return f"use the API: {head}; the API saves about ${best.monthly_usd - api_monthly:,.0f}/month"
    return f"too close to call: {head}; benchmark the best candidate (vllm bench serve) and set measuredOutputTokensPerSecond"


def snippet(c: Candidate, model_id: str, monthly_tokens: float, workload: Workload, api_name: str) -> str:
    o = c.option
    quantization = {16: "", 8: "\n      quantization: fp8", 4: ""}[o.weight_bits]
    return f"""llm-serving:gpuPools:
  - name: serving
    instanceTypes: [{o.instance.instance_type}]
    onDemand:
      baseline: {math.ceil((c.replicas - c.spot_replicas) * o.setup.tensor_parallel / o.instance.gpus)}
    spot:
      max: {math.ceil(c.spot_replicas * o.setup.tensor_parallel / o.instance.gpus)}
llm-serving:models:
  - name: model
    huggingFaceId: {model_id}
    revision: main                 # pin a commit hash
    pool: serving
    tensorParallelSize: {o.setup.tensor_parallel}
    maxModelLen: {o.setup.max_model_len}
    maxNumSeqs: {o.setup.max_num_seqs}{quantization}
    replicas:
      baseline: {c.replicas - c.spot_replicas}
      spot: {c.spot_replicas}
llm-serving:economics:
  compareWith: {api_name}
  monthlyTokens: {int(monthly_tokens)}
  workload: {{promptTokens: {int(workload.prompt_tokens)}, outputTokens: {int(workload.output_tokens)}}}
"""


def checkpoint_for(name: str, bits: int) -> str:
    """A catalog checkpoint of this architecture at these bits (FP8 online from the BF16 one)."""
    exact = [repo for repo, c in checkpoints().items() if c.architecture == name and c.weight_bits == bits]
    if exact:
        return exact[0]
    return next(repo for repo, c in checkpoints().items() if c.architecture == name and c.weight_bits == 16)


def advise(monthly_tokens: float, workload: Workload, target: LatencyTarget, *, model: str | None, model_class: str | None,
           compare_with: str | None, region: str, headroom: float, ops: float, top: int) -> dict:
    if model is not None:
        name, shape, _ = resolve_model(model, None, None)
        default_api = next((api for arch, api in MODEL_CLASSES.values() if arch == name), "gpt-4o-mini")
    else:
        if model_class not in MODEL_CLASSES:
            raise WhatIfError(f"--model-class {model_class} is not known; known: {', '.join(MODEL_CLASSES)}")
        name, default_api = MODEL_CLASSES[model_class]
        shape = model_architectures()[name]
    api_name = compare_with or default_api
    if api_name not in api_prices():
        raise WhatIfError(f"--compare-with {api_name} is not in the catalog; known: {', '.join(api_prices())}")
    api = api_prices()[api_name]
    input_share = workload.prompt_tokens / (workload.prompt_tokens + workload.output_tokens)
    api_usd = api.blended(input_share)
    ranked = search(name, shape, workload, target, monthly_tokens, region, headroom, ops)
    best = ranked[0] if ranked else None
    return {
        "architecture": name,
        "monthly_tokens": int(monthly_tokens),
        "workload": {"prompt_tokens": workload.prompt_tokens, "output_tokens": workload.output_tokens},
        "slo": {"ttft_ms": target.ttft_ms, "itl_ms": target.itl_ms},
        "region": region,
        "api": {"name": api_name, "usd_per_million_input_tokens": api.input, "usd_per_million_output_tokens": api.output, "usd_per_million_tokens_blended": round(api_usd, 4),
                "monthly_usd": round(monthly_tokens / 1e6 * api_usd, 2)},
        "candidates": [c.to_json() for c in ranked[:top]],
        "break_even_monthly_tokens": None if best is None else break_even(best, api_usd),
        "verdict": verdict(best, api_name, api_usd, monthly_tokens),
        "snippet": None if best is None else snippet(best, checkpoint_for(name, best.option.weight_bits), monthly_tokens, workload, api_name),
    }


def break_even(best: Candidate, api_usd: float) -> int:
    """Monthly tokens at which the API's bill reaches the best candidate's fixed monthly cost."""
    return int(best.monthly_usd / api_usd * 1e6)
