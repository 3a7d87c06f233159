"""The API router: one release of our chart `charts/router` (LiteLLM proxy, stateless), the single
OpenAI-compatible endpoint in front of the self-hosted models and the hosted ones.

Routes: each model, each LoRA adapter (to its base model's Service), the TEI embedding model, and each
hosted model declared in `fallback.hostedModels` (hybrid routing). Each chat model falls back to its own
hosted model (`models[].fallback`, default `fallback.hostedModel`, or none) through a hidden route named
`hosted-fallback:<provider>/<model>`; the chart's pre-call guard (charts/router/files/fallback_guard.py)
refuses those names from clients, and the router reaches them only as fallbacks.

Why these settings (LiteLLM 1.106.2, litellm/router_utils/cooldown_handlers.py and litellm/router.py):
- `allowed_fails` equal to LiteLLM's default (3) counts as unset, and unset means a model group with one
  deployment (each of ours) is never cooled down. `allowed_fails_policy` with every failure type set is
  honoured for any number, single deployment or not: more than N failed requests (retries of one request
  count once, measured) within `cooldown_time` skip
  the deployment for `cooldown_time`.
- `num_retries` alone retries a timeout on the same backend before falling back (2 x timeout for a hang);
  `retry_policy` retries 5xx `retries` times, a 429 never (it falls back at once) and a timeout
  `timeoutRetries` times (default 0). The fallback group gets the same policy, so the worst case is
  `Fallback.worst_case_seconds`, which the router's termination grace covers.
- Prometheus metrics are open source since 1.80.0 (before, `/metrics` held only
  `litellm_not_a_premium_user_metric`); `/metrics` needs the master key, so the ServiceMonitor sends it.
- Without a master key the proxy refuses to start (litellm/proxy/auth/master_key_boot_check.py) unless
  `dangerously_permit_weak_or_unset_master_key` is set: set only when the stack opts in with
  `fallback.allowAnonymous`.
Known gap: a stream that fails after its first token cannot fall back; the client gets the chunks so far
and then an error event (measured by tests/test_router_live.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from infra.aws.image_cache import ImageMirror
from infra.capacity.pods import ROUTER
from infra.catalog import image_pins
from infra.config.models import ModelDeployment
from infra.config.serving import Embeddings, Fallback, model_fallback
from infra.names import FALLBACK_ROUTE, ROUTER_RELEASE

RELEASE = ROUTER_RELEASE
# Pinned together in catalog/images.yaml: the image the cluster runs and the PyPI release the live test runs.
LITELLM_VERSION = image_pins()["litellm"].version
IMAGE = {"repository": image_pins()["litellm"].repository, "tag": image_pins()["litellm"].tag, "pullPolicy": "IfNotPresent"}
FALLBACK_PREFIX = f"{FALLBACK_ROUTE}:"  # a fallback route: hosted-fallback:<provider>/<model>
GUARD_CALLBACK = "fallback_guard.guard"  # module in the chart's ConfigMap, next to config.yaml
VLLM_PORT = 8000
PRE_STOP_SECONDS = 10
# Failure types the cooldown counts (AllowedFailsPolicy in litellm/types/router.py).
COUNTED_FAILURES = ("TimeoutError", "RateLimitError", "InternalServerError", "ServiceUnavailableError", "BadGatewayError")


def fallback_route(hosted_model: str) -> str:
    return f"{FALLBACK_PREFIX}{hosted_model}"


def provider_key_env(hosted_model: str) -> str:
    return f"{hosted_model.split('/', 1)[0].upper()}_API_KEY"


def _hosted(name: str, hosted_model: str, fallback: Fallback) -> dict:
    return {
        "model_name": name,
        "litellm_params": {
            "model": hosted_model,
            "api_key": f"os.environ/{provider_key_env(hosted_model)}",
            "timeout": fallback.timeout_seconds,
            "stream_timeout": fallback.timeout_seconds,
        },
        "model_info": {"mode": "chat"},
    }


def _router_settings(fallback: Fallback, fallbacks: list[dict]) -> dict:
    return {
        "num_retries": fallback.retries,
        "retry_policy": {
            "TimeoutErrorRetries": fallback.timeout_retries,
            "RateLimitErrorRetries": 0,
            "InternalServerErrorRetries": fallback.retries,
            "ServiceUnavailableErrorRetries": fallback.retries,
        },
        "timeout": fallback.timeout_seconds,
        "allowed_fails_policy": {f"{kind}AllowedFails": fallback.allowed_fails for kind in COUNTED_FAILURES},
        "cooldown_time": fallback.cooldown_seconds,
        "fallbacks": fallbacks,
    }


def litellm_config(models: Sequence[ModelDeployment], embeddings: Embeddings, fallback: Fallback, namespace: str, has_api_key: bool) -> dict:
    backend_key = "os.environ/VLLM_API_KEY" if has_api_key else "no-key"

    def self_hosted(name: str, service: str) -> dict:
        params = {"model": f"openai/{name}", "api_base": f"http://{service}.{namespace}.svc:{VLLM_PORT}/v1", "api_key": backend_key}
        params |= {"timeout": fallback.timeout_seconds, "stream_timeout": fallback.timeout_seconds}
        return {"model_name": name, "litellm_params": params, "model_info": {"mode": "chat"}}

    model_list: list[dict] = []
    fallbacks: list[dict] = []
    for model in models:
        hosted = model_fallback(model, fallback)
        for name in [model.name, *(a.name for a in model.lora_adapters)]:
            model_list.append(self_hosted(name, model.name))
            if hosted:
                fallbacks.append({name: [fallback_route(hosted)]})
    if embeddings.enabled:
        model_list.append(
            {
                "model_name": embeddings.route_name,
                "litellm_params": {"model": f"openai/{embeddings.model}", "api_base": f"http://embeddings.{namespace}.svc:80/v1", "api_key": "no-key"},
                "model_info": {"mode": "embedding"},
            }
        )
    model_list += [_hosted(h.name, h.model, fallback) for h in fallback.hosted_models]
    for hosted in sorted({next(iter(f.values()))[0] for f in fallbacks}):
        model_list.append(_hosted(hosted, hosted.removeprefix(FALLBACK_PREFIX), fallback))
    general: dict = {"master_key": "os.environ/LITELLM_MASTER_KEY"} if has_api_key else {}
    if not has_api_key and fallback.allow_anonymous:
        general["dangerously_permit_weak_or_unset_master_key"] = True
    return {
        "model_list": model_list,
        "router_settings": _router_settings(fallback, fallbacks),
        "litellm_settings": {"request_timeout": fallback.timeout_seconds, "callbacks": ["prometheus", GUARD_CALLBACK], "drop_params": True},
        "general_settings": general,
    }


def load_balancer_values(fallback: Fallback) -> dict:
    """Service annotations for the AWS Load Balancer Controller (an NLB with IP targets)."""
    lb = fallback.load_balancer
    if not lb.enabled:
        return {"enabled": False}
    annotations = {
        "service.beta.kubernetes.io/aws-load-balancer-type": "external",
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
        "service.beta.kubernetes.io/aws-load-balancer-scheme": lb.scheme,
    }
    if lb.certificate_arn:
        annotations |= {
            "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": lb.certificate_arn,
            "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "443",
        }
    return {"enabled": True, "annotations": annotations, "sourceRanges": list(lb.source_cidrs), "port": 443 if lb.certificate_arn else 80}


def router_values(
    config: dict, fallback: Fallback, secret_name: str, secret_env: dict[str, str], monitored: bool, rollout: dict, images: ImageMirror = ImageMirror()
) -> dict:
    metrics_key = secret_env.get("LITELLM_MASTER_KEY", "")
    return {
        "image": {**IMAGE, "repository": images.repository(IMAGE["repository"])},
        "replicas": fallback.replicas,
        "rollout": rollout,  # from placement: maxSurge 0 where the system nodes have no room
        "config": config,
        "secret": {"name": secret_name if secret_env else "", "env": secret_env},
        "service": {"port": 4000},
        "loadBalancer": load_balancer_values(fallback),
        "resources": ROUTER.values(),  # what placement placed
        # A request may run its worst case (model, then fallback, every attempt timing out): let it finish on shutdown.
        "terminationGracePeriodSeconds": max(90, fallback.worst_case_seconds + PRE_STOP_SECONDS + 15),
        "preStopSleepSeconds": PRE_STOP_SECONDS,
        "nodeSelector": {"llm-serving/role": "system"},
        "serviceMonitor": {"enabled": monitored, "interval": "15s", "bearerTokenKey": metrics_key},
    }


def drain_seconds(fallback: Fallback, pre_stop_seconds: int) -> int:
    """Termination grace for a model server: at least the router's per-attempt timeout after preStop."""
    return max(120, fallback.timeout_seconds + pre_stop_seconds + 15)
