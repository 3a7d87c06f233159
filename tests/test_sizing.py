"""Sizing: memory arithmetic against model shapes and the fit checks. The throughput estimate and its
calibration are tested in tests/test_throughput.py."""

from __future__ import annotations

import pytest

from infra.capacity.sizing import (
    ServingSetup,
    fit,
    fit_problem,
    kv_bytes_per_token_per_gpu,
    weight_bytes,
)
from infra.catalog import GIB, checkpoints, gpu_instances, model_architectures
from tests.conftest import scenario

ARCH = model_architectures()
A100_80 = gpu_instances()["p4de.24xlarge"]
H100_NODE = gpu_instances()["p5.48xlarge"]
H100_SINGLE = gpu_instances()["p5.4xlarge"]

def bf16(tp: int, max_model_len: int = 4096, util: float = 0.9) -> ServingSetup:
    return ServingSetup(tensor_parallel=tp, weight_bits=16, max_model_len=max_model_len, max_num_seqs=256, gpu_memory_utilization=util)


@pytest.mark.parametrize("model, kib", [("llama-3.1-8b", 128), ("llama-3.1-70b", 320), ("llama-3.1-405b", 504)])
def test_kv_bytes_per_token_match_the_published_shapes(model, kib):
    assert kv_bytes_per_token_per_gpu(ARCH[model], bf16(1)) == kib * 1024


def test_kv_heads_split_across_tensor_parallel_and_replicate_beyond_them():
    llama_70b = ARCH["llama-3.1-70b"]  # 8 KV heads
    assert kv_bytes_per_token_per_gpu(llama_70b, bf16(4)) == 320 * 1024 // 4
    assert kv_bytes_per_token_per_gpu(llama_70b, bf16(8)) == 320 * 1024 // 8
    qwen_7b = ARCH["qwen2.5-7b"]  # 4 KV heads: at TP 8 each GPU still holds one
    assert kv_bytes_per_token_per_gpu(qwen_7b, bf16(8)) == kv_bytes_per_token_per_gpu(qwen_7b, bf16(4))


def test_weight_bytes_by_precision():
    llama_70b = ARCH["llama-3.1-70b"]
    assert weight_bytes(llama_70b, 16) == llama_70b.params * 2
    embeddings = llama_70b.vocab_size * llama_70b.hidden_size * 2
    four_bit = weight_bytes(llama_70b, 4)
    per_quantized_param = (four_bit - embeddings * 2) / (llama_70b.params - embeddings)
    assert 0.5 < per_quantized_param < 0.53  # 4 bits plus a scale and zero point per group of 128
    assert 36 < four_bit / GIB < 38  # the AWQ checkpoint is about 37 GiB
    assert weight_bytes(llama_70b, 8) == pytest.approx(llama_70b.params - embeddings + embeddings * 2)


def test_every_checkpoint_names_a_catalog_architecture():
    for repo, checkpoint in checkpoints().items():
        assert checkpoint.architecture in ARCH, repo
        assert checkpoint.weight_bits in (4, 8, 16)


def test_kv_cache_is_what_the_memory_budget_leaves():
    sizing = fit(ARCH["llama-3.1-8b"], A100_80, bf16(1))
    assert sizing.budget_gib_per_gpu == pytest.approx(80 * 0.9)
    assert sizing.kv_cache_gib == pytest.approx(72 - sizing.weights_gib - 2.0)
    assert sizing.kv_cache_tokens == int(sizing.kv_cache_gib * GIB // (128 * 1024))
    assert sizing.max_full_length_sequences == sizing.kv_cache_tokens // 4096


def test_mla_caches_one_latent_per_layer_on_every_gpu():
    deepseek = ARCH["deepseek-v3"]  # kv_lora_rank 512 + qk_rope_head_dim 64 = 576, 61 layers
    assert kv_bytes_per_token_per_gpu(deepseek, bf16(1)) == 61 * 576 * 2
    assert kv_bytes_per_token_per_gpu(deepseek, bf16(8)) == 61 * 576 * 2  # not split by tensor parallel


def test_an_fp8_kv_cache_halves_kv_bytes_per_token():
    fp8_kv = ServingSetup(tensor_parallel=1, weight_bits=8, max_model_len=4096, max_num_seqs=256, gpu_memory_utilization=0.9, kv_cache_bytes=1)
    assert kv_bytes_per_token_per_gpu(ARCH["llama-3.1-8b"], fp8_kv) * 2 == kv_bytes_per_token_per_gpu(ARCH["llama-3.1-8b"], bf16(1))


def test_70b_in_16_bit_on_one_80gb_gpu_is_refused_with_what_would_fit():
    problem = fit_problem(ARCH["llama-3.1-70b"], H100_SINGLE, bf16(1, 8192, 0.92), quantized=False)
    assert "needs 131.4 GiB of 16-bit weights" in problem
    assert "tensor parallel 2" in problem and "needs a pool with 2+ GPUs per node" in problem
    assert "4-bit AWQ/GPTQ" in problem and "37.0 GiB" in problem


def test_weights_that_fit_but_leave_no_room_for_one_sequence_are_refused():
    # 70B at FP8 on one H100 leaves ~3 GiB of KV cache: about 10k tokens, not a 32k-token sequence.
    problem = fit_problem(ARCH["llama-3.1-70b"], H100_SINGLE, ServingSetup(1, 8, 32768, 64, 0.92), quantized=True)
    assert "cannot hold one maxModelLen sequence of 32768 tokens" in problem and "shorter maxModelLen" in problem


def test_tensor_parallel_must_divide_the_attention_heads():
    problem = fit_problem(ARCH["qwen2.5-7b"], H100_NODE, bf16(8), quantized=False)
    assert "does not divide the model's 28 attention heads; use one of [1, 2, 4]" in problem


def test_4_bit_group_quantization_must_split_evenly_across_tensor_parallel():
    setup = ServingSetup(4, 4, 8192, 128, 0.9)
    assert "29568 columns make 231 groups" in fit_problem(ARCH["qwen2.5-72b"], H100_NODE, setup, quantized=True)
    assert fit_problem(ARCH["llama-3.1-70b"], H100_NODE, setup, quantized=True) is None  # 224 groups


def test_a_longer_context_than_the_model_has_is_refused():
    problem = fit_problem(ARCH["mistral-7b"], H100_SINGLE, bf16(1, 65536), quantized=False)
    assert "exceeds the model's context of 32768 tokens" in problem


def test_plan_reports_sizing_for_every_model(example_plan):
    for entry in example_plan.to_json()["sizing"]:
        assert {"model", "gpu", "tensor_parallel", "quantization", "weights_gib", "kv_cache_gib", "fits", "max_concurrent_sequences", "estimated_output_tokens_per_second"} <= set(entry)
        assert entry["fits"] is True and entry["weights_gib"] > 0 and entry["estimated_output_tokens_per_second"] > 0


def test_the_70b_awq_model_is_sized_on_l40s_at_tensor_parallel_4():
    (llama,) = scenario("prod").to_json()["sizing"]
    assert (llama["gpu"], llama["tensor_parallel"], llama["quantization"], llama["weight_bits"]) == ("L40S", 4, "awq_marlin", 4)
    assert llama["weights_gib"] == pytest.approx(37.0, abs=0.1)


def test_the_plan_warns_that_long_sequences_cannot_fill_the_batch():
    warnings = scenario("prod").warnings
    assert any("llama-70b: the KV cache" in w and "far fewer than maxNumSeqs 256" in w for w in warnings)


def test_a_measured_throughput_replaces_the_estimate(plan_of, write_stack):
    def measured(config):
        config["llm-serving:models"][0]["measuredOutputTokensPerSecond"] = 1234.5

    (sizing,) = plan_of(*write_stack("measured", edit=measured)).to_json()["sizing"]
    assert sizing["estimated_output_tokens_per_second"] == 1234.5 and sizing["throughput_source"] == "measured (stack config)"
    # a measured figure carries no estimate band
    assert sizing["estimate_band"] is None and sizing["estimated_output_tokens_per_second_low"] == sizing["estimated_output_tokens_per_second_high"] == 1234.5


def test_a_model_outside_the_catalog_is_sized_from_its_shape(plan_of, write_stack):
    def custom(config):
        model = config["llm-serving:models"][0]
        model["huggingFaceId"] = "acme/llama-8b-finetune"
        model["shape"] = {
            "params": 8030261248, "layers": 32, "hiddenSize": 4096, "attentionHeads": 32, "kvHeads": 8,
            "headDim": 128, "intermediateSize": 14336, "vocabSize": 128256, "maxContext": 131072,
        }

    custom_plan = plan_of(*write_stack("custom-shape", edit=custom))
    assert custom_plan.to_json()["sizing"][0]["weights_gib"] == scenario("dev").to_json()["sizing"][0]["weights_gib"]


def gated_warnings(plan) -> list[str]:
    return [w for w in plan.warnings if "is gated on Hugging Face" in w]


def test_a_gated_checkpoint_without_a_token_is_warned_about(plan_of, write_stack):
    (warning,) = gated_warnings(scenario("dev"))  # meta-llama/Llama-3.1-8B-Instruct, no token
    assert warning.startswith("llm-serving:models[0].huggingFaceId meta-llama/Llama-3.1-8B-Instruct is gated")
    assert "pulumi config set --secret llm-serving:huggingFaceToken" in warning

    def with_token(config):
        config["llm-serving:huggingFaceToken"] = {"secure": "v1:AAAA"}  # as `pulumi config set --secret` writes it

    def open_checkpoint(config):
        config["llm-serving:models"][0]["huggingFaceId"] = "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4"

    assert gated_warnings(plan_of(*write_stack("with-token", edit=with_token))) == []
    assert gated_warnings(plan_of(*write_stack("open-checkpoint", edit=open_checkpoint))) == []
