"""Alert delivery: the Alertmanager configuration (receivers from stack config, severities routed) and
the Kubernetes Secret holding the receivers' credentials.

Credentials never enter the configuration: Alertmanager reads them from files
(`api_url_file`, `routing_key_file`, `credentials_file`, all in Alertmanager >= 0.25, checked with
amtool 0.25) in the Secret that kube-prometheus-stack mounts under /etc/alertmanager/secrets/<name>/
(`alertmanager.alertmanagerSpec.secrets`, chart 79.7.1 values.yaml). So the configuration itself is
plain chart values a reviewer can read in the plan, and amtool can check it as rendered.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.config.load import Secrets
from infra.config.monitoring import Alerting

SECRET_NAME = "alert-receivers"
SECRETS_DIR = f"/etc/alertmanager/secrets/{SECRET_NAME}"
SLACK_KEY, PAGERDUTY_KEY, WEBHOOK_TOKEN_KEY = "slack-webhook-url", "pagerduty-routing-key", "webhook-token"


def _matcher(severities: list[str]) -> list[str]:
    return [f'severity =~ "{"|".join(severities)}"']


def alertmanager_config(alerting: Alerting, has_webhook_token: bool) -> dict:
    """Every alert goes to each receiver whose severities include it; Watchdog and the rest to 'null'."""
    receivers: list[dict] = [{"name": "null"}]
    routes: list[dict] = [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]
    if alerting.pagerduty:
        receivers.append({"name": "pagerduty", "pagerduty_configs": [{"routing_key_file": f"{SECRETS_DIR}/{PAGERDUTY_KEY}", "send_resolved": True}]})
        routes.append({"receiver": "pagerduty", "matchers": _matcher(alerting.pagerduty.severities), "continue": True})
    if alerting.slack:
        slack = {"api_url_file": f"{SECRETS_DIR}/{SLACK_KEY}", "channel": alerting.slack.channel, "send_resolved": True}
        receivers.append({"name": "slack", "slack_configs": [slack]})
        routes.append({"receiver": "slack", "matchers": _matcher(alerting.slack.severities), "continue": True})
    if alerting.webhook:
        webhook: dict = {"url": alerting.webhook.url, "send_resolved": True}
        if has_webhook_token:
            webhook["http_config"] = {"authorization": {"credentials_file": f"{SECRETS_DIR}/{WEBHOOK_TOKEN_KEY}"}}
        receivers.append({"name": "webhook", "webhook_configs": [webhook]})
        routes.append({"receiver": "webhook", "matchers": _matcher(alerting.webhook.severities), "continue": True})
    return {
        "global": {"resolve_timeout": "5m"},
        # A critical alert silences the warning of the same name and namespace (kube-prometheus-stack's default rule).
        "inhibit_rules": [{"source_matchers": ['severity = "critical"'], "target_matchers": ['severity =~ "warning|info"'], "equal": ["namespace", "alertname"]}],
        "route": {"receiver": "null", "group_by": ["alertname", "namespace"], "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h", "routes": routes},
        "receivers": receivers,
        "templates": ["/etc/alertmanager/config/*.tmpl"],
    }


def receiver_credentials(secrets: Secrets) -> dict[str, pulumi.Output[str]]:
    pairs = ((SLACK_KEY, secrets.alert_slack_webhook_url), (PAGERDUTY_KEY, secrets.alert_pagerduty_routing_key), (WEBHOOK_TOKEN_KEY, secrets.alert_webhook_token))
    return {key: value for key, value in pairs if value is not None}


def receivers_secret(name: str, namespace: str, credentials: dict[str, pulumi.Output[str]], opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
    return k8s.core.v1.Secret(
        name,
        metadata={"name": SECRET_NAME, "namespace": namespace},
        type="Opaque",
        string_data={key: pulumi.Output.secret(value) for key, value in credentials.items()},
        opts=opts,
    )
