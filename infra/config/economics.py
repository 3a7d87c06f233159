"""The `economics` and `catalog` sections: expected traffic, the API to compare with, and this
stack's overrides of catalog numbers."""

from __future__ import annotations

from pydantic import Field

from infra.config.base import ConfigModel, GpuInstanceType
from infra.config.limits import MONTHLY_TOKENS_MAX, PRICE_USD_MAX


class InstancePrice(ConfigModel):
    """Prices of one GPU instance type, replacing the catalog's."""

    on_demand_usd_hour: float | None = Field(None, gt=0, le=PRICE_USD_MAX, description="On-demand USD per hour.", examples=[10.493])
    spot_usd_hour: float | None = Field(None, gt=0, le=PRICE_USD_MAX, description="Spot USD per hour, replacing the catalog's dated regional price (infra/catalog/spot_prices.yaml).", examples=[4.1])
    spot_discount: float | None = Field(None, ge=0, lt=1, description="Spot discount as a fraction of on-demand, when you think in discounts (spotUsdHour wins).", examples=[0.6])


class HostedApiPrice(ConfigModel):
    """A hosted API's price in USD per million tokens."""

    input: float = Field(ge=0, le=PRICE_USD_MAX, description="USD per million input tokens.", examples=[3.0])
    output: float = Field(ge=0, le=PRICE_USD_MAX, description="USD per million output tokens.", examples=[15.0])


class CatalogOverrides(ConfigModel):
    """Numbers that replace the catalog's for this stack (prices change; yours may be negotiated)."""

    instances: dict[GpuInstanceType, InstancePrice] = Field({}, description="Per GPU instance type.", examples=[{"g6e.12xlarge": {"onDemandUsdHour": 9.8, "spotDiscount": 0.6}}])
    api_prices: dict[str, HostedApiPrice] = Field({}, description="Hosted APIs to compare with, added to or replacing the catalog's.", examples=[{"my-provider-70b": {"input": 0.6, "output": 0.6}}])
    cold_start: dict[str, float] = Field(
        {}, description="Cold-start figures (infra/catalog/cold_start.yaml, camelCase names) measured on your own cluster.", examples=[{"nodeReadySeconds": 120}]
    )


class RequestShape(ConfigModel):
    """The average request, for throughput and cost per token."""

    prompt_tokens: int = Field(512, ge=1, le=10_000_000, description="Average prompt tokens per request.", examples=[512])
    output_tokens: int = Field(256, ge=1, le=10_000_000, description="Average generated tokens per request.", examples=[256])
    prefix_cache_hit_rate: float = Field(
        0.0, ge=0, lt=1, description="Share of prompt tokens vLLM's prefix cache serves (shared system prompts, chat history); discounts prefill. Read it from vllm:prefix_cache_hits / vllm:prefix_cache_queries.", examples=[0.3]
    )


class LatencyObjective(ConfigModel):
    """The latency a replica must keep; it caps how many requests the throughput estimate packs into a batch."""

    ttft_ms: float = Field(2000, gt=0, description="Time to first token, ms (mean, at the planned batch).", examples=[2000])
    itl_ms: float = Field(100, gt=0, description="Inter-token latency, ms: 100 ms is 10 tokens/s per stream, about reading speed.", examples=[100])


class Economics(ConfigModel):
    """The traffic you expect and the hosted API to compare with."""

    compare_with: str | None = Field(None, description="Hosted API to compare with (infra/catalog/api_prices.yaml or catalog.apiPrices).", examples=["llama-3.1-70b-managed"])
    monthly_tokens: int | None = Field(None, gt=0, le=MONTHLY_TOKENS_MAX, description="Expected tokens per month (prompt + output). Sets the expected utilization.", examples=[5_000_000_000])
    average_utilization: float | None = Field(None, gt=0, le=1, description="Expected average utilization of the baseline, if you think in utilization instead of tokens.", examples=[0.35])
    ops_overhead: float = Field(0.30, ge=0, le=5, description="Operations overhead on top of the cloud bill (people, tooling), as a fraction.", examples=[0.3])
    slo: LatencyObjective = Field(LatencyObjective(), description="Latency target for the throughput estimate (chat-service defaults).", examples=[{"ttftMs": 2000, "itlMs": 100}])
    workload: RequestShape = Field(
        RequestShape(), description="The average request; its prompt/output split also weights the API's input and output prices.", examples=[{"promptTokens": 512, "outputTokens": 256}]
    )


