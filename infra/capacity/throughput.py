"""Throughput: how many output and prompt tokens per second one vLLM replica serves, engine-aware, with
the error band measured against published results (infra/catalog/calibration.yaml).

Per replica of tensor parallel TP, on a GPU with memory bandwidth B, dense BF16 compute F16 and FP8
compute F8 (None on Ampere):

    compute rate F   = F8 when the weights are FP8 and the GPU has FP8 tensor cores, else F16
    dequant          = 1 + WEIGHT_ONLY_DEQUANT when the weights are 4-bit, or FP8 on a GPU without FP8
                       (weight-only kernels unpack every weight they multiply: a compute cost at large batches)
    decode step t(b) = max(memory, compute) / TP_EFFICIENCY^log2(TP) + STEP_OVERHEAD + b x SEQUENCE_OVERHEAD
      memory         = (weights read + LoRA weights + b x context x KV bytes per token) / (B x BANDWIDTH_EFFICIENCY)
                       weights read: dense: every weight on the GPU; MoE: the dense part plus the experts b
                       tokens route to, 1 - (1 - k/E)^b of them
      compute        = 2 x (active params + LoRA params) x b / TP x dequant / (F x COMPUTE_EFFICIENCY)
    prefill(b)       = b x P x (1 - prefix-cache hit rate) x 2 x active params / TP x dequant / (F x COMPUTE_EFFICIENCY)
    output tok/s     = b x O / (prefill(b) + O x t(b))       b requests in flight, continuous batching
    batch b          = min(client concurrency, max-num-seqs, KV tokens / (P + O), the largest b that meets
                       the latency target: inter-token latency (prefill(b) + O x t(b)) / O and time to first
                       token prefill(1) + t(b))

The five constants are fitted per engine generation (vLLM >= 0.8, the V1 engine) on the published
measurements, and the band is the spread of leave-one-out held-out errors (infra/capacity/calibrate.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from infra.catalog import ModelArchitecture, calibration_fit


@dataclass(frozen=True)
class Constants:
    """The model's fitted constants."""

    bandwidth_efficiency: float  # share of peak memory bandwidth a decode step achieves
    compute_efficiency: float  # share of peak tensor FLOP/s prefill and large-batch decode achieve
    tp_efficiency: float  # speed kept per doubling of tensor parallel (communication)
    step_overhead_ms: float  # fixed time per decode step (scheduling, launches, sampling)
    weight_only_dequant: float  # extra compute of weight-only quantized kernels, as a fraction
    allreduce_us: float = 0.0  # latency of one tensor-parallel all-reduce (two per layer per step when TP > 1)
    sequence_overhead_us: float = 0.0  # CPU time per sequence per step (scheduling, detokenizing, sampling)
    burst_fill: float = 1.0  # share of the batch cap a burst benchmark keeps busy (calibration only, see below)


@dataclass(frozen=True)
class Calibration:
    """Constants and measured held-out error for one engine generation."""

    engine: str
    min_version: tuple[int, int]
    constants: Constants
    band_low: float  # 10th percentile of (measured / estimate - 1), held out
    band_high: float  # 90th percentile
    median_abs_error: float
    measurements: int


@dataclass(frozen=True)
class Workload:
    """The average request, and how many arrive at once."""

    prompt_tokens: float
    output_tokens: float
    prefix_hit_rate: float = 0.0  # share of prompt tokens the prefix cache serves
    concurrency: int | None = None  # None: as many as the engine and the latency target allow
    burst: bool = False  # a benchmark that sends every request at once and waits for the last: the batch
    # drains as short requests finish while long ones run on, so on average only burst_fill of the cap is busy


@dataclass(frozen=True)
class LatencyTarget:
    ttft_ms: float
    itl_ms: float


@dataclass(frozen=True)
class Lora:
    """Adapters served next to the base model: the largest rank, and how many ride in one batch."""

    rank: int
    adapters_per_batch: int


@dataclass(frozen=True)
class Throughput:
    """One replica's estimate and its held-out band."""

    output_tokens_per_second: float
    input_tokens_per_second: float
    batch: int
    limited_by: str
    itl_ms: float
    ttft_ms: float
    band_low: float
    band_high: float
    prefill_share: float = 0.0  # share of GPU time spent on prompts (prices input against output tokens)

    @property
    def low(self) -> float:
        return self.output_tokens_per_second * (1 + self.band_low)

    @property
    def high(self) -> float:
        return self.output_tokens_per_second * (1 + self.band_high)

    def band_text(self) -> str:
        return f"{self.band_low:+.0%}/{self.band_high:+.0%}".replace("-", "\u2212")


def _version(text: str) -> tuple[int, int]:
    parts = text.lstrip("v").split(".")
    return int(parts[0]), int(parts[1])


def calibration(engine_version: str, engine: str = "vllm") -> Calibration:
    """The constants fitted for this engine version (the newest generation at or below it)."""
    fitted = [entry for entry in calibration_fit()["engines"] if entry["engine"] == engine and _version(entry["min_version"]) <= _version(engine_version)]
    if not fitted:
        raise ValueError(f"no throughput calibration for {engine} {engine_version}; calibrated: {[e['min_version'] for e in calibration_fit()['engines']]}")
    entry = max(fitted, key=lambda e: _version(e["min_version"]))
    held_out = entry["held_out"]
    return Calibration(
        engine=engine,
        min_version=_version(entry["min_version"]),
        constants=Constants(**entry["constants"]),
        band_low=held_out["band_low"],
        band_high=held_out["band_high"],
        median_abs_error=held_out["median_abs_error"],
        measurements=held_out["measurements"],
    )


@dataclass(frozen=True)
class Replica:
    """What the model needs from the hardware, per GPU, computed once per shape and setup."""

    tensor_parallel: int
    weight_bytes_per_gpu: float
    architecture: ModelArchitecture  # for the share of MoE weights a batch reads
    active_params: float
    kv_bytes_per_token_per_gpu: int
    kv_tokens: int
    max_num_seqs: int
    bandwidth: float  # bytes/s
    flops: float  # FLOP/s at the weights' compute precision
    dequant: float
    lora_bytes_per_gpu: float
    lora_params: float


def _tp_factor(r: Replica, c: Constants) -> float:
    return c.tp_efficiency ** math.log2(r.tensor_parallel)


def decode_step(r: Replica, c: Constants, batch: int, context: float) -> float:
    """Seconds per decode step with `batch` sequences of average `context` tokens."""
    weights = r.weight_bytes_per_gpu * r.architecture.expert_share_read(batch)
    memory = (weights + r.lora_bytes_per_gpu + batch * context * r.kv_bytes_per_token_per_gpu) / (r.bandwidth * c.bandwidth_efficiency)
    compute = 2 * (r.active_params + r.lora_params) * batch / r.tensor_parallel * r.dequant / (r.flops * c.compute_efficiency)
    communication = 2 * r.architecture.layers * c.allreduce_us / 1e6 if r.tensor_parallel > 1 else 0.0
    return max(memory, compute) / _tp_factor(r, c) + communication + c.step_overhead_ms / 1000 + batch * c.sequence_overhead_us / 1e6


def prefill(r: Replica, c: Constants, batch: int, w: Workload) -> float:
    """Seconds to prefill `batch` prompts (the uncached part)."""
    tokens = batch * w.prompt_tokens * (1 - w.prefix_hit_rate)
    return tokens * 2 * r.active_params / r.tensor_parallel * r.dequant / (r.flops * c.compute_efficiency) / _tp_factor(r, c)


def _wave(r: Replica, c: Constants, batch: int, w: Workload) -> float:
    """Seconds for `batch` requests in flight to go from prompt to their last output token."""
    return prefill(r, c, batch, w) + w.output_tokens * decode_step(r, c, batch, w.prompt_tokens + w.output_tokens / 2)


def latency_ms(r: Replica, c: Constants, batch: int, w: Workload) -> tuple[float, float]:
    """(time to first token, inter-token latency) in ms at `batch` requests in flight."""
    itl = _wave(r, c, batch, w) / w.output_tokens
    ttft = prefill(r, c, 1, w) + decode_step(r, c, batch, w.prompt_tokens)
    return ttft * 1000, itl * 1000


def _capacity(r: Replica, w: Workload) -> tuple[int, str]:
    limits = {"max-num-seqs": r.max_num_seqs, "KV cache": int(r.kv_tokens // (w.prompt_tokens + w.output_tokens))}
    if w.concurrency is not None:
        limits["client concurrency"] = w.concurrency
    reason = min(limits, key=limits.get)
    return limits[reason], reason


def _within_target(r: Replica, c: Constants, w: Workload, cap: int, target: LatencyTarget) -> int:
    """The largest batch up to `cap` whose latency meets the target (0 when not even one request does)."""
    def meets(batch: int) -> bool:
        ttft, itl = latency_ms(r, c, batch, w)
        return ttft <= target.ttft_ms and itl <= target.itl_ms

    if not meets(1):
        return 0
    low, high = 1, cap
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if meets(middle) else (low, middle - 1)
    return low


def estimate(r: Replica, cal: Calibration, w: Workload, target: LatencyTarget | None = None) -> Throughput:
    """One replica's throughput for the workload, within the latency target when one is given."""
    c = cal.constants
    batch, reason = _capacity(r, w)
    if w.burst:
        batch = max(1, round(batch * c.burst_fill))
    if target is not None and batch >= 1:
        allowed = _within_target(r, c, w, batch, target)
        if allowed < batch:
            batch, reason = max(allowed, 1), ("latency target" if allowed else "latency target (missed even at one request)")
    if batch < 1:
        return Throughput(0.0, 0.0, 0, reason, math.inf, math.inf, cal.band_low, cal.band_high)
    wave = _wave(r, c, batch, w)
    output = batch * w.output_tokens / wave
    ttft, itl = latency_ms(r, c, batch, w)
    return Throughput(output, output * w.prompt_tokens / w.output_tokens, batch, reason, itl, ttft, cal.band_low, cal.band_high, prefill(r, c, batch, w) / wave)
