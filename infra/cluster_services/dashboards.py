"""Grafana dashboards as data: serving (throughput, latency, queue, KV cache), GPUs (DCGM) and cost
(live $ per million tokens against the break-even price). Every query uses only metrics the stack
exports or the kit's recording rules define (tests/test_monitoring.py checks it)."""

from __future__ import annotations

import json

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}  # kube-prometheus-stack's default Grafana data source


def _panel(index: int, title: str, targets: list[tuple[str, str]], unit: str = "short") -> dict:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(65 + i), "expr": expr, "legendFormat": legend, "datasource": DATASOURCE} for i, (expr, legend) in enumerate(targets)],
    }


def _dashboard(uid: str, title: str, panels: list[tuple]) -> dict:
    return {
        "uid": uid,
        "title": title,
        "tags": ["llm-serving"],
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "panels": [_panel(i, *panel) for i, panel in enumerate(panels)],
    }


def p99(histogram: str) -> str:
    return f"histogram_quantile(0.99, sum by (model_name, le) (rate({histogram}_bucket[5m])))"


SERVING = _dashboard(
    "llm-serving-vllm",
    "LLM serving: vLLM",
    [
        ("Generated tokens/s by model", [("llm_serving:model_generation_tokens:rate5m", "{{model_name}}")], "short"),
        ("Prompt tokens/s by model", [("sum by (model_name) (rate(vllm:prompt_tokens_total[5m]))", "{{model_name}}")], "short"),
        ("Time to first token, p99", [(p99("vllm:time_to_first_token_seconds"), "{{model_name}}")], "s"),
        ("Inter-token latency, p99", [(p99("vllm:inter_token_latency_seconds"), "{{model_name}}")], "s"),
        ("End-to-end latency, p99", [(p99("vllm:e2e_request_latency_seconds"), "{{model_name}}")], "s"),
        (
            "Requests running and waiting",
            [("sum by (model_name) (vllm:num_requests_running)", "{{model_name}} running"), ("sum by (model_name) (vllm:num_requests_waiting)", "{{model_name}} waiting")],
            "short",
        ),
        ("KV cache usage (busiest replica)", [("max by (model_name) (vllm:kv_cache_usage_perc)", "{{model_name}}")], "percentunit"),
        (
            "Prefix cache hit rate",
            [("sum by (model_name) (rate(vllm:prefix_cache_hits_total[5m])) / sum by (model_name) (rate(vllm:prefix_cache_queries_total[5m]))", "{{model_name}}")],
            "percentunit",
        ),
        ("Preemptions/s", [("sum by (model_name) (rate(vllm:num_preemptions_total[5m]))", "{{model_name}}")], "short"),
        (
            "Embeddings (TEI): requests/s and queue",
            [("sum(rate(te_request_count_total[5m]))", "requests/s"), ("max(te_queue_size)", "queued texts")],
            "short",
        ),
    ],
)

GPUS = _dashboard(
    "llm-serving-gpus",
    "LLM serving: GPUs",
    [
        ("GPU utilization by pool", [("llm_serving:pool_gpu_utilization:avg", "{{pool}}")], "percent"),
        ("GPU utilization by GPU", [("DCGM_FI_DEV_GPU_UTIL", "{{node}} gpu {{gpu}}")], "percent"),
        ("GPU memory used", [("DCGM_FI_DEV_FB_USED", "{{node}} gpu {{gpu}}")], "decmbytes"),
        ("GPU memory free", [("DCGM_FI_DEV_FB_FREE", "{{node}} gpu {{gpu}}")], "decmbytes"),
        ("GPU power", [("DCGM_FI_DEV_POWER_USAGE", "{{node}} gpu {{gpu}}")], "watt"),
        ("GPU nodes by pool and capacity type", [("llm_serving:pool_nodes:count", "{{pool}} {{capacity_type}}")], "short"),
    ],
)

COST = _dashboard(
    "llm-serving-cost",
    "LLM serving: cost",
    [
        (
            "Live $ per million tokens against the hosted API's price (break-even)",
            [("llm_serving:cost_usd_per_million_tokens", "self-hosted, all pools"), ("llm_serving:break_even_usd_per_million_tokens", "hosted API")],
            "currencyUSD",
        ),
        ("$ per million tokens by pool", [("llm_serving:pool_cost_usd_per_million_tokens", "{{pool}}")], "currencyUSD"),
        ("$ per million generated tokens by pool", [("llm_serving:pool_cost_usd_per_million_output_tokens", "{{pool}}")], "currencyUSD"),
        ("GPU node cost per hour by pool", [("llm_serving:pool_cost_usd_per_hour", "{{pool}}")], "currencyUSD"),
        ("Tokens/s by pool (prompt + generated)", [("llm_serving:pool_tokens:rate5m", "{{pool}}")], "short"),
        ("GPU utilization by pool", [("llm_serving:pool_gpu_utilization:avg", "{{pool}}")], "percent"),
    ],
)

DASHBOARDS = {"llm-serving-vllm.json": SERVING, "llm-serving-gpus.json": GPUS, "llm-serving-cost.json": COST}


def dashboards_json() -> dict[str, str]:
    return {name: json.dumps(board, indent=1, sort_keys=True) for name, board in DASHBOARDS.items()}
