"""The API router: one release of our chart `charts/router` (LiteLLM proxy, stateless), the single
OpenAI-compatible endpoint in front of the self-hosted models.

Each model (and each LoRA adapter, and the TEI embedding model) is a LiteLLM model routed to its
in-cluster Service; every chat model falls back to the hosted model when it errors or times out
after `retries`. Credentials are referenced as os.environ/NAME and come from the Secret.
Why LiteLLM: it speaks the OpenAI API on both sides, has per-model fallbacks, retries, timeouts and
cooldowns in one config file, and runs without its database for routing alone. Its known gap:
a stream that fails after the first token cannot fall back (LiteLLM issues 6532, 6294, 10972).
"""

from __future__ import annotations

from collections.abc import Sequence

from infra.config.models import ModelDeployment
from infra.config.serving import Embeddings, Fallback
from infra.names import FALLBACK_ROUTE, ROUTER_RELEASE

RELEASE = ROUTER_RELEASE
FALLBACK_MODEL = FALLBACK_ROUTE
VLLM_PORT = 8000


def litellm_config(models: Sequence[ModelDeployment], embeddings: Embeddings, fallback: Fallback, namespace: str, has_api_key: bool) -> dict:
    backend_key = "os.environ/VLLM_API_KEY" if has_api_key else "no-key"

    def self_hosted(name: str, service: str, port: int, mode: str = "chat") -> dict:
        return {
            "model_name": name,
            "litellm_params": {"model": f"openai/{name}", "api_base": f"http://{service}.{namespace}.svc:{port}/v1", "api_key": backend_key, "timeout": fallback.timeout_seconds},
            "model_info": {"mode": mode},
        }

    chat = [self_hosted(m.name, m.name, VLLM_PORT) for m in models]
    chat += [self_hosted(a.name, m.name, VLLM_PORT) for m in models for a in m.lora_adapters]
    model_list = list(chat)
    if embeddings.enabled:
        model_list.append(
            {
                "model_name": embeddings.route_name,
                "litellm_params": {"model": f"openai/{embeddings.model}", "api_base": f"http://embeddings.{namespace}.svc:80/v1", "api_key": "no-key"},
                "model_info": {"mode": "embedding"},
            }
        )
    model_list.append(
        {
            "model_name": FALLBACK_MODEL,
            "litellm_params": {"model": fallback.hosted_model, "api_key": f"os.environ/{fallback.provider.upper()}_API_KEY", "timeout": fallback.timeout_seconds},
            "model_info": {"mode": "chat"},
        }
    )
    config: dict = {
        "model_list": model_list,
        "router_settings": {
            "num_retries": fallback.retries,
            "timeout": fallback.timeout_seconds,
            "allowed_fails": fallback.allowed_fails,
            "cooldown_time": fallback.cooldown_seconds,
            "fallbacks": [{entry["model_name"]: [FALLBACK_MODEL]} for entry in chat],
        },
        "litellm_settings": {"request_timeout": fallback.timeout_seconds, "callbacks": ["prometheus"], "drop_params": True},
    }
    if has_api_key:
        config["general_settings"] = {"master_key": "os.environ/LITELLM_MASTER_KEY"}
    return config


def router_values(config: dict, fallback: Fallback, secret_name: str, secret_env: dict[str, str], monitored: bool) -> dict:
    return {
        "image": {"repository": "ghcr.io/berriai/litellm", "tag": "main-v1.77.3-stable", "pullPolicy": "IfNotPresent"},
        "replicas": fallback.replicas,
        "config": config,
        "secret": {"name": secret_name if secret_env else "", "env": secret_env},
        "service": {"port": 4000},
        "resources": {"cpu": "500m", "memory": "1Gi"},
        # A request may wait a full timeout on a replica, then the fallback's: let both finish on shutdown.
        "terminationGracePeriodSeconds": max(90, 2 * fallback.timeout_seconds + 15),
        "nodeSelector": {"llm-serving/role": "system"},
        "serviceMonitor": {"enabled": monitored, "interval": "15s"},
    }


def drain_seconds(fallback: Fallback, pre_stop_seconds: int) -> int:
    """Termination grace for a model server: at least the router's request timeout after preStop."""
    return max(120, fallback.timeout_seconds + pre_stop_seconds + 15)
