"""The `fallback` and `embeddings` sections: the API router with its hosted fallback, and TEI."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from infra.config.base import HF_REPO, ConfigModel
from infra.config.limits import KUBERNETES_INT32_MAX


class Fallback(ConfigModel):
    """The API router (LiteLLM proxy) in front of the models: one OpenAI-compatible endpoint that falls
    back to a hosted API when a self-hosted model errors or times out."""

    enabled: bool = Field(True, description="Deploy the router.", examples=[True])
    hosted_model: str = Field(
        "openai/gpt-4o-mini",
        pattern=r"^(anthropic|openai)/[\w.:-]+$",
        description="LiteLLM id of the hosted model to fall back to: anthropic/<model> (needs anthropicApiKey) or openai/<model> (needs openaiApiKey).",
        examples=["anthropic/claude-3-5-sonnet-20240620"],
    )
    timeout_seconds: int = Field(60, ge=1, le=600, description="Per-request timeout before retrying or falling back.", examples=[60])
    retries: int = Field(1, ge=0, le=5, description="Retries on the self-hosted model before falling back.", examples=[1])
    allowed_fails: int = Field(3, ge=1, description="Failures within a minute before a backend is cooled down.", examples=[3])
    cooldown_seconds: int = Field(30, ge=1, description="How long a failing backend is skipped.", examples=[30])
    replicas: int = Field(2, ge=1, le=KUBERNETES_INT32_MAX, description="Router replicas.", examples=[2])

    @property
    def provider(self) -> str:
        return self.hosted_model.split("/", 1)[0]


class Embeddings(ConfigModel):
    """Text Embeddings Inference (TEI) serving one embedding model."""

    enabled: bool = Field(True, description="Deploy TEI.", examples=[True])
    model: str = Field("BAAI/bge-m3", pattern=HF_REPO.pattern, description="Hugging Face id of the embedding model.", examples=["BAAI/bge-m3"])
    revision: str = Field("main", pattern=r"^[\w./-]{1,100}$", description="Model revision (pin a commit hash in production).", examples=["main"])
    replicas: int = Field(2, ge=1, le=KUBERNETES_INT32_MAX, description="TEI replicas.", examples=[2])
    pool: str | None = Field(None, description="GPU pool to run on (one GPU per replica); null runs TEI on CPU on the system nodes.", examples=["l4"])
    capacity_type: Literal["on-demand", "spot"] = Field("on-demand", description="Capacity type of the GPU nodes TEI runs on.", examples=["on-demand"])
    max_batch_tokens: int = Field(16384, ge=1, description="TEI --max-batch-tokens.", examples=[16384])
    max_client_batch_size: int = Field(32, ge=1, description="TEI --max-client-batch-size.", examples=[32])
    auto_truncate: bool = Field(True, description="TEI --auto-truncate: truncate inputs longer than the model's maximum instead of failing them.", examples=[True])

    @property
    def route_name(self) -> str:
        """The model name clients ask the router for (the repo name, lower-case)."""
        return self.model.split("/")[-1].lower()


