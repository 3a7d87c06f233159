"""The `monitoring` section: Prometheus, DCGM, alert thresholds and dashboards."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from infra.config.base import ConfigModel
from infra.config.limits import GP3_MAX_GIB

Severity = Literal["critical", "warning", "info"]


class AlertThresholds(ConfigModel):
    """When the alerts fire."""

    gpu_idle_percent: float = Field(5, ge=0, le=100, description="A pool whose GPUs average under this utilization (%)...", examples=[5])
    gpu_idle_minutes: int = Field(30, ge=1, description="...for this long raises the idle-GPU cost alarm.", examples=[30])
    requests_waiting: int = Field(20, ge=1, description="Requests waiting in one model's vLLM queues.", examples=[20])
    kv_cache_usage: float = Field(0.95, gt=0, le=1, description="KV cache usage (0-1) of a model's busiest replica.", examples=[0.95])
    ttft_p99_seconds: float = Field(2.0, gt=0, description="Time-to-first-token p99 target.", examples=[2.0])
    e2e_p99_seconds: float = Field(60.0, gt=0, alias="e2eP99Seconds", description="End-to-end request latency p99 target.", examples=[60.0])
    tei_queue: int = Field(64, ge=1, description="Texts waiting in a TEI replica's queue.", examples=[64])
    gpu_pending_minutes: int = Field(15, ge=1, description="A pod asking for GPUs that stays Pending this long (no node fits, or spot is short).", examples=[15])
    fallback_ratio: float = Field(0.10, gt=0, le=1, description="Share of router requests answered by a hosted fallback over 10 minutes.", examples=[0.1])


class SlackReceiver(ConfigModel):
    """Slack: the incoming-webhook URL is the Pulumi secret alertSlackWebhookUrl."""

    channel: str = Field(pattern=r"^[#@][\w.-]{1,80}$", description="Channel (or @user) to post to.", examples=["#llm-alerts"])
    severities: list[Severity] = Field(["critical", "warning"], min_length=1, description="Severities sent here.", examples=[["critical", "warning"]])


class PagerDutyReceiver(ConfigModel):
    """PagerDuty Events API v2: the routing key is the Pulumi secret alertPagerdutyRoutingKey."""

    severities: list[Severity] = Field(["critical"], min_length=1, description="Severities that page.", examples=[["critical"]])


class WebhookReceiver(ConfigModel):
    """A generic webhook (Alertmanager's JSON payload); a bearer token may be the Pulumi secret alertWebhookToken."""

    url: str = Field(pattern=r"^https://[^\s@]+$", description="HTTPS endpoint (put no credential in it: use alertWebhookToken).", examples=["https://hooks.example.com/alertmanager"])
    severities: list[Severity] = Field(["critical", "warning"], min_length=1, description="Severities sent here.", examples=[["critical"]])


class Alerting(ConfigModel):
    """Where Alertmanager delivers alerts; with none set, alerts are only visible in Alertmanager's UI."""

    slack: SlackReceiver | None = Field(None, description="Post to Slack.", examples=[{"channel": "#llm-alerts"}])
    pagerduty: PagerDutyReceiver | None = Field(None, description="Page through PagerDuty.", examples=[{"severities": ["critical"]}])
    webhook: WebhookReceiver | None = Field(None, description="Send to a webhook.", examples=[{"url": "https://hooks.example.com/alertmanager"}])


class Monitoring(ConfigModel):
    """kube-prometheus-stack, DCGM exporter, our alert and recording rules, and dashboards."""

    enabled: bool = Field(True, description="Deploy the monitoring stack.", examples=[True])
    retention_days: int = Field(15, ge=1, le=365, description="Prometheus retention in days.", examples=[15])
    storage_gib: int = Field(50, ge=10, le=GP3_MAX_GIB, description="Prometheus volume size (gp3) in GiB.", examples=[100])
    grafana: bool = Field(True, description="Deploy Grafana with the kit's dashboards.", examples=[True])
    alerts: AlertThresholds = Field(AlertThresholds(), description="Alert thresholds.", examples=[{"ttftP99Seconds": 1.5}])
    alerting: Alerting = Field(Alerting(), description="Alert receivers (URLs and keys are Pulumi secrets).", examples=[{"pagerduty": {"severities": ["critical"]}, "slack": {"channel": "#llm-alerts"}}])


