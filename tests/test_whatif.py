"""`python -m infra estimate` and `advise`: worked examples (the seed's arithmetic among them), exit
codes, JSON keys, and bad input refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from infra import REPO_ROOT
from infra.capacity.economics import cost_per_million_tokens
from infra.capacity.sizing import ServingSetup
from infra.capacity.throughput import Throughput
from infra.catalog import gpu_instance
from infra.offline.whatif import Option, candidate


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"})


def h100_at_2_dollars(output_tps: float, input_tps: float = 0.0) -> Option:
    """A 1-GPU H100 at $2/hour with a given throughput (the seed's worked example)."""
    instance = replace(gpu_instance("p5.4xlarge", "us-east-1"), on_demand_usd_hour=2.0, spot_usd_hour=0.9)
    throughput = Throughput(output_tps, input_tps, 64, "max-num-seqs", 50, 200, -0.3, 0.5)
    return Option(instance, "llama-3.1-8b", 16, ServingSetup(1, 16, 8192, 256, 0.9), None, 15, 50, 6, throughput)


def test_the_seeds_arithmetic_an_h100_at_2_dollars_serving_1111_tokens_per_second():
    # 1,111 tok/s x 3,600 s = 4.0M tokens/hour; $2 / 4.0M = $0.50 per million at 100 %, $5.00 at 10 %
    option = h100_at_2_dollars(1111)
    assert option.usd_per_million(2.0, 1.0, ops=0.0) == pytest.approx(0.50, abs=0.001)
    assert option.usd_per_million(2.0, 0.10, ops=0.0) == pytest.approx(5.00, abs=0.01)
    assert option.usd_per_million(2.0, 1.0, ops=0.0) == pytest.approx(cost_per_million_tokens(2.0, 1111, 1.0), rel=1e-9)


def test_advise_bills_whole_nodes_and_keeps_one_on_demand_replica():
    option = h100_at_2_dollars(1111)
    # 2B tokens/month at 70 % headroom: 1,111 tok/s is 2.92B/month per replica -> 1 replica, no spot
    one = candidate(option, 2e9, 0.7, 0.5, 0.0)
    assert (one.replicas, one.spot_replicas) == (1, 0) and one.monthly_usd == pytest.approx(2.0 * 730)
    assert one.usd_per_million_tokens == pytest.approx(2.0 * 730 / 2000)
    # 10B tokens/month: 5 replicas, half of the 4 beyond the floor on spot at the dated regional price
    five = candidate(option, 10e9, 0.7, 0.5, 0.0)
    assert (five.replicas, five.spot_replicas) == (5, 2)
    assert five.monthly_usd == pytest.approx((3 * 2.0 + 2 * 0.9) * 730)
    # with no recorded spot price, no spot candidate is offered
    assert candidate(replace(option, instance=replace(option.instance, spot_usd_hour=None)), 10e9, 0.7, 0.5, 0.0) is None


def test_estimate_prints_fit_throughput_with_its_band_and_cost_as_json():
    result = cli("estimate", "--instance-type", "p5.48xlarge", "--model", "meta-llama/Llama-3.1-70B-Instruct", "--tensor-parallel", "4", "--json")
    assert result.returncode == 0, result.stderr
    e = json.loads(result.stdout)
    for key in ("fits", "weights_gib", "kv_cache_gib", "max_concurrent_sequences", "output_tokens_per_second", "input_tokens_per_second", "usd_per_hour", "usd_per_million_tokens_at_100%"):
        assert key in e, key
    assert e["fits"] and e["weights_gib"] == pytest.approx(131.4, abs=0.1)
    assert e["output_tokens_per_second_low"] < e["output_tokens_per_second"] < e["output_tokens_per_second_high"]
    assert e["usd_per_hour"] == pytest.approx(55.04 / 2)  # half of an 8-GPU node at TP 4


def test_estimate_by_architecture_and_fp8_kv_cache_holds_more_sequences():
    auto = json.loads(cli("estimate", "--instance-type", "g6e.xlarge", "--architecture", "llama-3.1-8b", "--weight-bits", "8", "--json").stdout)
    fp8 = json.loads(cli("estimate", "--instance-type", "g6e.xlarge", "--architecture", "llama-3.1-8b", "--weight-bits", "8", "--kv-cache-dtype", "fp8", "--json").stdout)
    assert fp8["max_concurrent_sequences"] >= 2 * auto["max_concurrent_sequences"] - 1


def test_estimate_exits_2_when_the_model_does_not_fit_and_on_bad_input():
    too_big = cli("estimate", "--instance-type", "g6.xlarge", "--architecture", "llama-3.1-70b", "--weight-bits", "16")
    assert too_big.returncode == 2 and "does not fit" in too_big.stdout
    unknown = cli("estimate", "--instance-type", "g6.xlarge", "--model", "acme/not-a-model")
    assert unknown.returncode == 2 and unknown.stdout.startswith("error: --model acme/not-a-model is not in the catalog") and "Traceback" not in unknown.stderr
    assert cli("estimate", "--instance-type", "x9.huge", "--architecture", "llama-3.1-8b").returncode == 2


def test_advise_answers_self_hosting_at_2b_tokens_a_month_in_one_command_within_seconds():
    started = time.monotonic()
    result = cli("advise", "--monthly-tokens", "2e9", "--prompt-tokens", "512", "--output-tokens", "256", "--model-class", "70b", "--json")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 20  # a few seconds on a quiet machine; generous for shared CI
    advice = json.loads(result.stdout)
    assert advice["candidates"] and {"instance_type", "tensor_parallel", "precision", "replicas", "usd_per_million_tokens"} <= set(advice["candidates"][0])
    costs = [c["usd_per_million_tokens"] for c in advice["candidates"]]
    assert costs == sorted(costs)
    assert advice["verdict"].startswith(("self-host", "use the API", "too close to call"))
    assert "llm-serving:models:" in advice["snippet"] and advice["api"]["name"] == "llama-3.1-70b-managed"


def test_advise_says_self_host_when_even_the_pessimistic_estimate_beats_the_api():
    # 8B at 50B tokens/month against GPT-4o's prices: self-hosting wins by far
    advice = json.loads(cli("advise", "--monthly-tokens", "5e10", "--prompt-tokens", "512", "--output-tokens", "256", "--model-class", "8b", "--compare-with", "gpt-4o", "--json").stdout)
    assert advice["verdict"].startswith("self-host") and advice["candidates"][0]["usd_per_million_tokens_high"] < advice["api"]["usd_per_million_tokens_blended"]


def test_advise_refuses_an_unknown_api_in_one_line():
    result = cli("advise", "--monthly-tokens", "2e9", "--model-class", "8b", "--compare-with", "nope")
    assert result.returncode == 2 and result.stdout.startswith("error: --compare-with nope is not in the catalog")
