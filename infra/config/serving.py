"""The `fallback` and `embeddings` sections: the API router (with its hosted fallback, hosted routes and
optional load balancer), and TEI."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from infra.config.base import HF_REPO, Cidr, ConfigModel, config_error
from infra.config.limits import KUBERNETES_INT32_MAX
from infra.config.models import ModelDeployment

# A LiteLLM hosted model id the kit can key: anthropic/<model> or openai/<model>.
HOSTED_MODEL = r"^(anthropic|openai)/[\w.:-]+$"
# The value of models[].fallback that turns a model's fallback off.
NO_FALLBACK = "none"


class HostedModel(ConfigModel):
    """A hosted model exposed as a route of its own (hybrid routing: frontier tasks to a hosted API, the
    high-volume narrow ones to the self-hosted models, behind one endpoint and one key)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9._-]{0,62}$", description="Model name clients request.", examples=["frontier"])
    model: str = Field(pattern=HOSTED_MODEL, description="LiteLLM id of the hosted model (its provider's key must be set).", examples=["anthropic/claude-sonnet-4-5"])

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0]


class RouterLoadBalancer(ConfigModel):
    """Reach the router from outside the cluster through an AWS Network Load Balancer (AWS Load Balancer
    Controller annotations), limited to an allow-list of source CIDRs."""

    enabled: bool = Field(False, description="Expose the router through a load balancer (off: in-cluster only).", examples=[True])
    scheme: Literal["internal", "internet-facing"] = Field("internal", description="internal (reachable from the VPC and peered networks) or internet-facing.", examples=["internal"])
    source_cidrs: list[Cidr] = Field([], description="Client CIDRs allowed through the load balancer (loadBalancerSourceRanges); required.", examples=[["10.0.0.0/8"]])
    certificate_arn: str | None = Field(
        None, pattern=r"^arn:aws(-cn|-us-gov)?:acm:[a-z0-9-]+:\d{12}:certificate/[\w-]+$", description="ACM certificate for TLS on port 443; without it the listener is plain TCP.",
        examples=["arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"],
    )


class Fallback(ConfigModel):
    """The API router (LiteLLM proxy) in front of the models: one OpenAI-compatible endpoint that falls
    back to a hosted API when a self-hosted model errors or times out."""

    enabled: bool = Field(True, description="Deploy the router.", examples=[True])
    hosted_model: str = Field(
        "openai/gpt-4o-mini",
        pattern=HOSTED_MODEL,
        description="LiteLLM id of the hosted model to fall back to: anthropic/<model> (needs anthropicApiKey) or openai/<model> (needs openaiApiKey).",
        examples=["anthropic/claude-3-5-sonnet-20240620"],
    )
    timeout_seconds: int = Field(60, ge=1, le=600, description="Per-attempt timeout (self-hosted and hosted) before retrying or falling back.", examples=[60])
    retries: int = Field(1, ge=0, le=5, description="Retries of a 5xx on the same model before falling back (a 429 falls back at once).", examples=[1])
    timeout_retries: int = Field(0, ge=0, le=2, description="Retries of a timed-out request on the same model before falling back (each costs timeoutSeconds).", examples=[0])
    allowed_fails: int = Field(3, ge=1, le=100, description="Failed requests a model may have within cooldownSeconds; one more and it is skipped (straight to its fallback) for cooldownSeconds.", examples=[3])
    cooldown_seconds: int = Field(30, ge=1, le=3600, description="How long a failing backend is skipped.", examples=[30])
    replicas: int = Field(2, ge=1, le=KUBERNETES_INT32_MAX, description="Router replicas.", examples=[2])
    allow_anonymous: bool = Field(False, description="Serve clients without an API key when llm-serving:apiKey is unset (otherwise `pulumi up` refuses).", examples=[False])
    hosted_models: list[HostedModel] = Field([], description="Hosted models served as routes of their own, with the same key and metrics.", examples=[[{"name": "frontier", "model": "anthropic/claude-sonnet-4-5"}]])
    load_balancer: RouterLoadBalancer = Field(RouterLoadBalancer(), description="Expose the router outside the cluster.", examples=[{"enabled": True, "scheme": "internal", "sourceCidrs": ["10.0.0.0/8"]}])

    @field_validator("hosted_models")
    @classmethod
    def _unique_route_names(cls, value: list[HostedModel]) -> list[HostedModel]:
        names = [h.name for h in value]
        if len(set(names)) != len(names):
            raise config_error("duplicates", "hosted model names must be unique")
        return value

    @property
    def provider(self) -> str:
        return self.hosted_model.split("/", 1)[0]

    @property
    def worst_case_seconds(self) -> int:
        """Longest a client waits for an answer: every attempt on the model times out, then every attempt
        on its hosted fallback (LiteLLM applies the same retry policy to the fallback's group)."""
        return 2 * (1 + self.timeout_retries) * self.timeout_seconds


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




def model_fallback(model: ModelDeployment, fallback: Fallback) -> str | None:
    """The hosted model a model (and its adapters) falls back to, or None."""
    if not fallback.enabled or model.fallback == NO_FALLBACK:
        return None
    return model.fallback or fallback.hosted_model


def hosted_models_in_use(models: list[ModelDeployment], fallback: Fallback) -> list[str]:
    """Every hosted model the router calls: the fallbacks in use and the hosted routes."""
    if not fallback.enabled:
        return []
    used = {m for m in (model_fallback(model, fallback) for model in models) if m}
    return sorted(used | {h.model for h in fallback.hosted_models})
