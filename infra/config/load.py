"""Reading a stack's configuration the way the Pulumi engine hands it to the program, and its secrets.

Only this package reads `pulumi.Config`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import pulumi
from pulumi.runtime import config as pulumi_runtime_config
from pydantic import ValidationError

from infra import PROJECT
from infra.catalog import default_kubernetes_version
from infra.config.checks import cross_checks, secret_requirements
from infra.config.limit_checks import number_problems, secret_value_problems, stack_name_problems
from infra.config.preflight import Mode
from infra.config.problems import ConfigError, Problem, problem_from
from infra.config.stack import StackConfig
from infra.config.stack_file import namespace_problems

# Keys that hold credentials. They never enter StackConfig: they are read as Pulumi secrets and
# only ever travel as secret Outputs into Kubernetes Secrets.
SECRET_KEYS = {
    "huggingFaceToken": "Hugging Face token for gated or private models (HF_TOKEN in the vLLM pods)",
    "apiKey": "API key clients must send (the router's master key, and VLLM_API_KEY in the vLLM pods)",
    "anthropicApiKey": "Anthropic API key for a fallback.hostedModel of anthropic/...",
    "openaiApiKey": "OpenAI API key for a fallback.hostedModel of openai/...",
    "dockerHubAccessToken": "Docker Hub access token of imageCache.dockerHubUsername (stored in Secrets Manager for the ECR pull-through cache)",
    "githubToken": "GitHub token (read:packages) of imageCache.githubUsername (stored in Secrets Manager for the ECR pull-through cache)",
    "grafanaAdminPassword": "Grafana's admin password (user admin)",
    "alertSlackWebhookUrl": "Slack incoming-webhook URL for monitoring.alerting.slack",
    "alertPagerdutyRoutingKey": "PagerDuty Events API v2 routing key for monitoring.alerting.pagerduty",
    "alertWebhookToken": "Bearer token sent to monitoring.alerting.webhook.url (optional)",
}

@dataclass(frozen=True)
class Secrets:
    """Credentials from stack config, as secret Outputs (None when the stack does not set them)."""

    hugging_face_token: pulumi.Output[str] | None = None
    api_key: pulumi.Output[str] | None = None
    anthropic_api_key: pulumi.Output[str] | None = None
    openai_api_key: pulumi.Output[str] | None = None
    docker_hub_access_token: pulumi.Output[str] | None = None
    github_token: pulumi.Output[str] | None = None
    grafana_admin_password: pulumi.Output[str] | None = None
    alert_slack_webhook_url: pulumi.Output[str] | None = None
    alert_pagerduty_routing_key: pulumi.Output[str] | None = None
    alert_webhook_token: pulumi.Output[str] | None = None


def _secret_problems() -> list[Problem]:
    problems = []
    for key in SECRET_KEYS:
        full = f"{PROJECT}:{key}"
        if pulumi.Config(PROJECT).get(key) is not None and not pulumi_runtime_config.is_config_secret(full):
            problems.append(Problem((key,), f"stored in plain text; set it with: pulumi config set --secret {full} <value>", "[plain text, not shown]"))
    return problems


def load_secrets() -> Secrets:
    config = pulumi.Config(PROJECT)
    return Secrets(
        hugging_face_token=config.get_secret("huggingFaceToken"),
        api_key=config.get_secret("apiKey"),
        anthropic_api_key=config.get_secret("anthropicApiKey"),
        openai_api_key=config.get_secret("openaiApiKey"),
        docker_hub_access_token=config.get_secret("dockerHubAccessToken"),
        github_token=config.get_secret("githubToken"),
        grafana_admin_password=config.get_secret("grafanaAdminPassword"),
        alert_slack_webhook_url=config.get_secret("alertSlackWebhookUrl"),
        alert_pagerduty_routing_key=config.get_secret("alertPagerdutyRoutingKey"),
        alert_webhook_token=config.get_secret("alertWebhookToken"),
    )


def with_dated_defaults(raw: dict[str, Any], as_of: date) -> dict[str, Any]:
    """The stack's keys with the defaults that depend on the plan's date filled in: a stack that names no
    Kubernetes version gets the newest in EKS standard support on `as_of`."""
    cluster = raw.get("cluster", {})
    if not isinstance(cluster, dict) or "kubernetesVersion" in cluster:
        return raw
    return {**raw, "cluster": {**cluster, "kubernetesVersion": default_kubernetes_version(as_of)}}


def parse(stack: str, raw: dict[str, Any], as_of: date, secret_problems: list[Problem] | None = None) -> StackConfig:
    """Validate the `llm-serving:` keys of a stack (namespace stripped, secrets left out) into a StackConfig,
    on the plan's date `as_of` (support windows, dated defaults)."""
    raw = with_dated_defaults(raw, as_of)
    problems = list(secret_problems or []) + number_problems(raw)
    if problems:
        raise ConfigError(stack, problems)
    plain_secrets = secret_value_problems(raw)
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as exc:
        invalid = [problem_from(e) for e in exc.errors()]
        at = {p.loc for p in invalid}  # a key already refused (an unknown key, say) is reported once
        raise ConfigError(stack, [p for p in plain_secrets if p.loc not in at] + invalid) from None
    problems = plain_secrets + stack_name_problems(stack, config) + cross_checks(config, as_of)
    if problems:
        raise ConfigError(stack, problems)
    return config


def _decode(text: str) -> Any:
    """Pulumi hands structured config over as JSON text and plain values as text."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, (dict, list)) else text


def raw_from_pulumi() -> dict[str, Any]:
    """The stack's `llm-serving:` keys as the Pulumi engine (or the offline plan) set them."""
    prefix = f"{PROJECT}:"
    keys = set(pulumi_runtime_config.get_config_env()) | set(pulumi_runtime_config.CONFIG.get())
    config = pulumi.Config(PROJECT)
    names = [key[len(prefix) :] for key in sorted(keys) if key.startswith(prefix)]
    return {name: _decode(config.get(name)) for name in names if name not in SECRET_KEYS}


def _all_config() -> dict[str, Any]:
    """Every config key of the stack, in every namespace, as the engine set them."""
    return {**pulumi_runtime_config.get_config_env(), **pulumi_runtime_config.CONFIG.get()}


def secret_keys_set() -> frozenset[str]:
    """The secret keys (SECRET_KEYS) the stack sets, by name; their values stay Outputs in Secrets."""
    config = pulumi.Config(PROJECT)
    return frozenset(key for key in SECRET_KEYS if config.get(key) is not None)


def load(as_of: date, mode: Mode = Mode.DEPLOY) -> StackConfig:
    """The current stack's validated configuration. Under `pulumi up` (Mode.DEPLOY) a missing secret the
    stack needs is an error; the offline plan (Mode.PLAN), which never has secrets, lists it among its
    warnings instead (checks.secret_requirements). Keys under a misspelled namespace are refused too."""
    config = parse(pulumi.get_stack(), raw_from_pulumi(), as_of, _secret_problems() + namespace_problems(_all_config()))
    missing = secret_requirements(config, secret_keys_set())
    if missing and mode is Mode.DEPLOY:
        raise ConfigError(pulumi.get_stack(), missing)
    return config
