"""The throughput model: its calibration against published measurements (held-out error, staleness),
and the behaviours it models (FP8 compute, weight-only dequantization, MoE, latency target, prefix
cache, LoRA), each on a worked example."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from infra import REPO_ROOT
from infra.capacity import calibrate
from infra.capacity.sizing import ENGINE_VERSION, ServingSetup, replica
from infra.capacity.throughput import LatencyTarget, Lora, Workload, calibration, estimate
from infra.catalog import calibration_fit, gpu_instances, measurements, model_architectures

ARCH = model_architectures()
H100 = gpu_instances()["p5.4xlarge"]
A100 = gpu_instances()["p4de.24xlarge"]
CAL = calibration(ENGINE_VERSION)
CHAT = Workload(prompt_tokens=512, output_tokens=256)


def setup(bits: int = 16, tp: int = 1, max_num_seqs: int = 256) -> ServingSetup:
    return ServingSetup(tensor_parallel=tp, weight_bits=bits, max_model_len=8192, max_num_seqs=max_num_seqs, gpu_memory_utilization=0.9)


def tok_s(arch: str, gpu, s: ServingSetup, w: Workload = CHAT, target: LatencyTarget | None = None, lora: Lora | None = None) -> float:
    return estimate(replica(ARCH[arch], gpu, s, CAL.constants, lora), CAL, w, target).output_tokens_per_second


def claimed() -> tuple[float, float, float]:
    """The held-out error docs/economics.md states: median, band low, band high (fractions)."""
    text = (REPO_ROOT / "docs" / "economics.md").read_text()
    median = re.search(r"median held-out error is ([\d.]+) %", text)
    band = re.search(r"band is \u2212([\d.]+) %/\+([\d.]+) %", text)
    assert median and band, "docs/economics.md must state the median held-out error and the band"
    return float(median[1]) / 100, -float(band[1]) / 100, float(band[2]) / 100


def test_the_calibration_has_enough_sourced_measurements_mostly_from_the_v1_engine():
    rows = measurements()
    assert len(rows) >= 20
    v1 = [m for m in rows if tuple(int(x) for x in m.engine_version.split(".")[:2]) >= (0, 8)]
    assert len(v1) > len(rows) / 2
    for m in rows:
        assert m.source and m.date and m.value > 0 and m.architecture in ARCH, m.id


def test_the_fitted_constants_and_held_out_error_in_the_catalog_are_not_stale():
    """Refit from calibration.yaml: the committed calibration_fit.yaml must be what the fit gives."""
    (stored,) = calibration_fit()["engines"]
    fresh = calibrate.calibrate("0.8")
    assert fresh["constants"] == stored["constants"]
    assert fresh["held_out"] == stored["held_out"]


def test_held_out_error_does_not_regress_past_what_the_docs_claim():
    median, low, high = claimed()
    held = calibration_fit()["engines"][0]["held_out"]
    assert held["method"] == "leave-one-out" and held["measurements"] == len(measurements())
    assert held["median_abs_error"] <= median
    assert low <= held["band_low"] and held["band_high"] <= high


def test_the_plan_uses_the_calibration_of_the_vllm_release_the_chart_deploys(example_plan):
    images = [c["image"] for objects in example_plan.to_json()["manifests"].values() for o in objects
              if o.get("kind") == "Deployment" for c in o["spec"]["template"]["spec"]["containers"] if "vllm-openai" in c["image"]]
    assert images and all(image.endswith(f":v{ENGINE_VERSION}") for image in images)


def test_an_engine_older_than_any_calibration_is_refused():
    assert calibration("0.33.0").min_version == (0, 8)
    with pytest.raises(ValueError, match=r"no throughput calibration for vllm 0\.6\.0"):
        calibration("0.6.0")


def test_fp8_weights_compute_faster_on_hopper_but_not_on_ampere():
    prefill_heavy = Workload(prompt_tokens=4000, output_tokens=200)
    assert tok_s("qwen3-32b", H100, setup(8), prefill_heavy) > 1.5 * tok_s("qwen3-32b", H100, setup(16), prefill_heavy)
    assert replica(ARCH["qwen3-32b"], H100, setup(8), CAL.constants).flops == H100.fp8_tflops * 1e12
    # A100 has no FP8 tensor cores: W8A16 reads half the bytes but computes in BF16 and unpacks weights
    costly = replace(CAL.constants, weight_only_dequant=0.5)
    ampere = replica(ARCH["qwen3-32b"], A100, setup(8), costly)
    assert ampere.flops == A100.bf16_tflops * 1e12 and ampere.dequant == 1.5
    assert replica(ARCH["qwen3-32b"], H100, setup(8), costly).dequant == 1.0  # native FP8: no unpacking


def test_4_bit_weights_win_at_one_request_and_pay_any_dequantization_cost_at_large_batches():
    one = replace(CHAT, concurrency=1)
    assert tok_s("llama-3.1-8b", A100, setup(4), one) > 1.5 * tok_s("llama-3.1-8b", A100, setup(16), one)
    # the mechanism, with a dequantization cost set (the fit puts it near 0 on the published data)
    costly = replace(CAL.constants, weight_only_dequant=0.5)
    r4, r16 = replica(ARCH["llama-3.1-8b"], A100, setup(4), costly), replica(ARCH["llama-3.1-8b"], A100, setup(16), costly)
    assert r4.dequant == 1.5 and r16.dequant == 1.0
    cal = replace(CAL, constants=costly)
    big_batch = replace(CHAT, concurrency=256)
    assert estimate(r4, cal, big_batch).output_tokens_per_second < estimate(replace(r4, dequant=1.0), cal, big_batch).output_tokens_per_second


def test_moe_reads_only_the_experts_its_batch_routes_to():
    gpt_oss = ARCH["gpt-oss-120b"]  # 128 experts, 4 per token; 5.1B of 116.8B parameters active
    assert gpt_oss.expert_share_read(1) == pytest.approx(gpt_oss.active_params / gpt_oss.params)
    assert gpt_oss.expert_share_read(32) == pytest.approx(1 - (1 - 4 / 128) ** 32, abs=0.02)  # ~64 % of experts
    assert gpt_oss.expert_share_read(1024) == pytest.approx(1.0, abs=1e-6)
    assert ARCH["llama-3.1-70b"].expert_share_read(1) == 1.0
    one = replace(CHAT, concurrency=1)
    assert tok_s("gpt-oss-120b", H100, setup(4), one) > tok_s("qwen3-32b", H100, setup(16), one)


def test_a_latency_target_caps_the_batch_and_is_met():
    loose, tight = LatencyTarget(60_000, 10_000), LatencyTarget(2000, 40)
    r = replica(ARCH["llama-3.1-8b"], H100, setup(16, max_num_seqs=1024), CAL.constants)
    free, capped = estimate(r, CAL, CHAT, loose), estimate(r, CAL, CHAT, tight)
    assert capped.batch < free.batch and capped.limited_by == "latency target"
    assert capped.itl_ms <= 40 and capped.ttft_ms <= 2000
    assert capped.output_tokens_per_second < free.output_tokens_per_second


def test_prefix_cache_hits_discount_prefill():
    rag = Workload(prompt_tokens=4000, output_tokens=200)
    cached = replace(rag, prefix_hit_rate=0.5)
    assert tok_s("qwen3-14b", H100, setup(), cached) > 1.3 * tok_s("qwen3-14b", H100, setup(), rag)


def test_lora_adapters_cost_throughput():
    lora = Lora(rank=64, adapters_per_batch=4)
    assert tok_s("llama-3.1-8b", H100, setup(), lora=lora) < tok_s("llama-3.1-8b", H100, setup())


def test_every_estimate_in_the_plan_carries_its_band(example_plan):
    for entry in example_plan.to_json()["sizing"]:
        low, mid, high = entry["estimated_output_tokens_per_second_low"], entry["estimated_output_tokens_per_second"], entry["estimated_output_tokens_per_second_high"]
        assert low < mid < high
        assert entry["estimate_band"] == {"low": CAL.band_low, "high": CAL.band_high}
        assert entry["throughput_source"].startswith(f"estimate (vLLM {ENGINE_VERSION}, \u2212")
