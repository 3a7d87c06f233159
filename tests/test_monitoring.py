"""Monitoring: the kit's Prometheus rules checked and unit-tested by a real promtool, dashboards that
query only metrics the stack exports, TEI, and the monitoring stack's values."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.catalog import _load, gpu_instances, image_pins
from infra.offline import plan as plan_module
from tests.conftest import AS_OF, of_type, scenario

PROMTOOL = shutil.which("promtool")


@pytest.fixture
def monitored_plan(example_plan):
    """An example stack's plan, for the checks of the monitoring stack (skipped where it is turned off)."""
    if not example_plan.deployment.config.monitoring.enabled:
        pytest.skip(f"stack {example_plan.stack} sets monitoring.enabled: false")
    return example_plan


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    assert PROMTOOL, "promtool missing: run `make setup` (scripts/install_promtool.sh)"
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def rule_groups(plan) -> list[dict]:
    (rule,) = [o for o in plan.manifests["llm-serving-monitoring"] if o["kind"] == "PrometheusRule"]
    return rule["spec"]["groups"]


def write_rules(plan, folder: Path) -> Path:
    path = folder / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule_groups(plan)}))
    return path


def alert(plan, name: str, pool: str | None = None) -> dict:
    return next(r for g in rule_groups(plan) for r in g["rules"] if r.get("alert") == name and (pool is None or r["labels"].get("pool") == pool))


def test_rules_pass_promtool_check(monitored_plan, tmp_path):
    result = promtool("check", "rules", str(write_rules(monitored_plan, tmp_path)), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alerts_the_kit_promises_exist(monitored_plan):
    alerts = {r["alert"] for g in rule_groups(monitored_plan) for r in g["rules"] if "alert" in r}
    assert alerts >= {
        "GpuPoolIdle", "VllmRequestsWaiting", "VllmKvCacheNearlyFull", "VllmTimeToFirstTokenHigh",
        "VllmEndToEndLatencyHigh", "ServingPodCrashLooping", "GpuNodesLost", "GpuNodeNotReady", "TeiQueueHigh",
    }
    for pool in monitored_plan.deployment.config.gpu_pools:
        idle = alert(monitored_plan, "GpuPoolIdle", pool.name)
        assert "/hour at its configured nodes" in idle["annotations"]["description"]


ON_DEMAND_L4_NODE = 'kube_node_labels{node="n1",label_llm_serving_pool="l4",label_llm_serving_capacity_type="on-demand"}'
SPOT_L4_NODE = 'kube_node_labels{node="n2",label_llm_serving_pool="l4",label_llm_serving_capacity_type="spot"}'
TOKENS_1000_PER_SECOND = {"series": 'vllm:generation_tokens_total{model_name="llama-8b",llm_serving_pool="l4"}', "values": "0+60000x30"}


def promtool_unit_tests(plan, folder: Path, tests: list[dict]) -> subprocess.CompletedProcess:
    """`promtool test rules` on the plan's rules with these test cases, evaluated every minute."""
    write_rules(plan, folder)
    (folder / "test.yaml").write_text(yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}))
    return promtool("test", "rules", "test.yaml", cwd=folder)


def rounded(expr: str, labels: str, value: float) -> dict:
    """An expression test at 20 minutes; promtool compares floats exactly, so round to 1e-4."""
    return {"expr": f"round({expr}, 0.0001)", "eval_time": "20m", "exp_samples": [{"labels": labels, "value": value}]}


def test_idle_gpu_alarm_fires_after_its_window_and_not_before(tmp_path):
    plan = scenario("dev")  # one l4 pool
    idle = alert(plan, "GpuPoolIdle", "l4")
    window = int(idle["for"].removesuffix("m"))
    node = {"series": ON_DEMAND_L4_NODE, "values": "1x90"}
    result = promtool_unit_tests(
        plan,
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [node, {"series": 'DCGM_FI_DEV_GPU_UTIL{node="n1",gpu="0"}', "values": "0x90"}],
                "alert_rule_test": [
                    {"eval_time": f"{window - 2}m", "alertname": "GpuPoolIdle", "exp_alerts": []},
                    {
                        "eval_time": f"{window + 5}m",
                        "alertname": "GpuPoolIdle",
                        "exp_alerts": [{"exp_labels": {"severity": "warning", "pool": "l4"}, "exp_annotations": idle["annotations"]}],
                    },
                ],
            },
            {
                "interval": "1m",
                "input_series": [node, {"series": 'DCGM_FI_DEV_GPU_UTIL{node="n1",gpu="0"}', "values": "60x90"}],  # busy GPUs: no alarm
                "alert_rule_test": [{"eval_time": f"{window + 5}m", "alertname": "GpuPoolIdle", "exp_alerts": []}],
            },
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_live_cost_per_million_tokens_for_a_known_token_rate_and_pool_price(plan_of, write_stack, tmp_path):
    def price(config):  # $3.60 per on-demand L4 node-hour: at 1,000 tokens/s that is exactly $1 per million tokens
        config["llm-serving:catalog"] = {"instances": {"g6.xlarge": {"onDemandUsdHour": 3.6, "spotDiscount": 0.5}}}

    plan = plan_of(*write_stack("priced", edit=price))
    result = promtool_unit_tests(
        plan,
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [{"series": ON_DEMAND_L4_NODE, "values": "1x30"}, TOKENS_1000_PER_SECOND],
                "promql_expr_test": [
                    rounded("llm_serving:pool_cost_usd_per_hour", '{pool="l4"}', 3.6),
                    rounded("llm_serving:pool_tokens:rate5m", '{pool="l4"}', 1000),
                    rounded("llm_serving:pool_cost_usd_per_million_tokens", '{pool="l4"}', 1),
                    rounded("llm_serving:cost_usd_per_million_tokens", "{}", 1),
                ],
            },
            {
                # A spot node joins: $1.80 more per hour for the same 1,000 tokens/s, $1.50 per million.
                "interval": "1m",
                "input_series": [{"series": ON_DEMAND_L4_NODE, "values": "1x30"}, {"series": SPOT_L4_NODE, "values": "1x30"}, TOKENS_1000_PER_SECOND],
                "promql_expr_test": [rounded("llm_serving:pool_cost_usd_per_million_tokens", '{pool="l4"}', 1.5)],
            },
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- dashboards -----------------------------------------------------------------------------------

PROMQL_WORDS = {
    "sum", "avg", "max", "min", "count", "by", "without", "on", "ignoring", "group_left", "group_right", "rate",
    "increase", "histogram_quantile", "label_replace", "vector", "offset", "and", "or", "unless", "bool",
}


def exported_metrics() -> set[str]:
    inventory = _load("metrics.yaml")
    names = set()
    for source in inventory.values():
        names.update(source.get("gauges", []))
        names.update(f"{c}_total" for c in source.get("counters", []))
        names.update(f"{h}_{suffix}" for h in source.get("histograms", []) for suffix in ("bucket", "sum", "count"))
    return names


def metric_names(expr: str) -> set[str]:
    bare = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    bare = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", bare)  # label lists
    bare = re.sub(r'"[^"]*"', "", bare)  # strings
    bare = re.sub(r"\[[^\]]*\]", "", bare)  # ranges
    bare = re.sub(r"\b\d+(\.\d+)?(e[+-]?\d+|[smhdwy])?\b", "", bare)  # numbers (1e6) and durations (offset 10m)
    return {t for t in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", bare) if t not in PROMQL_WORDS and not re.fullmatch(r"\d+e\d+", t)}


def dashboards(plan) -> dict[str, dict]:
    maps = [o for o in plan.manifests["llm-serving-monitoring"] if o["kind"] == "ConfigMap"]
    return {name: json.loads(text) for cm in maps for name, text in cm["data"].items()}


def test_dashboards_are_valid_json_picked_up_by_grafana(monitored_plan):
    boards = dashboards(monitored_plan)
    assert set(boards) == {"llm-serving-vllm.json", "llm-serving-gpus.json", "llm-serving-cost.json"}
    for cm in (o for o in monitored_plan.manifests["llm-serving-monitoring"] if o["kind"] == "ConfigMap"):
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    for board in boards.values():
        assert board["uid"] and board["panels"] and all(p["targets"] for p in board["panels"])


def test_every_query_uses_only_metrics_the_stack_exports(monitored_plan):
    recorded = {r["record"] for g in rule_groups(monitored_plan) for r in g["rules"] if "record" in r}
    known = exported_metrics() | recorded
    queries = [t["expr"] for board in dashboards(monitored_plan).values() for panel in board["panels"] for t in panel["targets"]]
    queries += [r["expr"] for g in rule_groups(monitored_plan) for r in g["rules"]]
    used = set().union(*(metric_names(q) for q in queries))
    assert used, "no metric found: the extraction is broken"
    assert used <= known, f"not exported by anything in the stack: {sorted(used - known)}"
    assert {"vllm:generation_tokens_total", "DCGM_FI_DEV_GPU_UTIL", "te_queue_size", "kube_node_labels"} <= used


def test_metric_extraction_finds_names_and_skips_labels():
    assert metric_names('sum by (model_name) (rate(vllm:prompt_tokens_total{pool="a"}[5m])) * 1e6') == {"vllm:prompt_tokens_total"}


# --- TEI and the monitoring stack -----------------------------------------------------------------


def tei_deployment(plan) -> dict:
    (deployment,) = [o for o in plan.manifests["embeddings"] if o["kind"] == "Deployment"]
    return deployment


def test_tei_runs_the_image_built_for_its_node(example_plan):
    config = example_plan.deployment.config
    embeddings = config.embeddings
    if not embeddings.enabled:
        assert "embeddings" not in example_plan.manifests
        return
    spec = tei_deployment(example_plan)["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    if embeddings.pool:
        pool = config.pool(embeddings.pool)
        assert container["image"].endswith(":" + image_pins()["tei"].tag_for(pool.gpu.gpu)) and container["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert spec["nodeSelector"] == {"llm-serving/pool": pool.name, "llm-serving/capacity-type": embeddings.capacity_type}
    else:
        assert container["image"].endswith(":cpu-1.9") and "nvidia.com/gpu" not in container["resources"]["limits"]
        assert spec["nodeSelector"] == {"llm-serving/role": "system"}
    assert f"--model-id={embeddings.model}" in container["args"] and ("--auto-truncate" in container["args"]) == embeddings.auto_truncate
    assert any(a.startswith("--max-batch-tokens=") for a in container["args"])
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"


def test_every_gpu_model_in_the_catalog_has_a_tei_image():
    assert {i.gpu for i in gpu_instances().values()} <= set(image_pins()["tei"].tags_by_gpu)


def test_plan_manifests_carry_tei_rules_dashboards_and_scrape_targets(monitored_plan):
    config = monitored_plan.deployment.config
    kinds = {(release, o["kind"]) for release, objects in monitored_plan.manifests.items() for o in objects}
    if config.embeddings.enabled:
        assert {("embeddings", "Deployment"), ("embeddings", "Service"), ("embeddings", "ServiceMonitor"), ("embeddings", "PodDisruptionBudget")} <= kinds
    assert {("llm-serving-monitoring", "PrometheusRule"), ("llm-serving-monitoring", "ConfigMap")} <= kinds
    for model in config.models:
        (monitor,) = [o for o in monitored_plan.manifests[model.name] if o["kind"] == "ServiceMonitor"]
        assert monitor["spec"]["podTargetLabels"] == ["llm-serving/pool", "llm-serving/capacity-type"]
        assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_monitoring_stack_values(monitored_plan):
    charts = {c.inputs["chart"]: c.inputs for c in of_type(monitored_plan, "kubernetes:helm.sh/v4:Chart") if "repositoryOpts" in c.inputs}
    monitoring = monitored_plan.deployment.config.monitoring
    stack = charts["kube-prometheus-stack"]["values"]
    spec = stack["prometheus"]["prometheusSpec"]
    assert spec["retention"] == f"{monitoring.retention_days}d"
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == f"{monitoring.storage_gib}Gi"
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False and spec["ruleSelectorNilUsesHelmValues"] is False
    assert stack["kube-state-metrics"]["metricLabelsAllowlist"] == ["nodes=[llm-serving/pool,llm-serving/capacity-type,llm-serving/gpu]"]
    dcgm = charts["dcgm-exporter"]["values"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in dcgm["tolerations"]
    assert dcgm["serviceMonitor"]["relabelings"] == [{"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node", "action": "replace"}]


# --- alerts that reach someone --------------------------------------------------------------------

AMTOOL = shutil.which("amtool")


def alertmanager_values(plan) -> dict:
    charts = {c.inputs["chart"]: c.inputs for c in of_type(plan, "kubernetes:helm.sh/v4:Chart") if "repositoryOpts" in c.inputs}
    return charts["kube-prometheus-stack"]["values"]


def test_rendered_alertmanager_config_passes_amtool_and_holds_no_credential(example_plan, tmp_path):
    assert AMTOOL, "amtool missing: run `make setup` (scripts/install_amtool.sh)"
    values = alertmanager_values(example_plan)
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(values["alertmanager"]["config"]))
    result = subprocess.run([AMTOOL, "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    text = path.read_text()
    assert "hooks.slack.com" not in text and "routing_key:" not in text and "api_url:" not in text
    assert all(values[c] == {"enabled": False} for c in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"))


def test_prod_pages_pagerduty_for_critical_and_posts_warnings_to_slack(plan_of, tmp_path):
    values = alertmanager_values(plan_of("prod"))
    config = values["alertmanager"]["config"]
    routes = {r["receiver"]: r for r in config["route"]["routes"]}
    assert routes["pagerduty"]["matchers"] == ['severity =~ "critical"'] and routes["slack"]["matchers"] == ['severity =~ "critical|warning"']
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["pagerduty"]["pagerduty_configs"][0]["routing_key_file"] == "/etc/alertmanager/secrets/alert-receivers/pagerduty-routing-key"
    (path := tmp_path / "am.yaml").write_text(yaml.safe_dump(config))
    for labels, expected in (("severity=critical alertname=X", "pagerduty,slack"), ("severity=warning alertname=X", "slack"), ("severity=info alertname=X", "null")):
        result = subprocess.run([AMTOOL, "config", "routes", "test", "--config.file", str(path), *labels.split()], capture_output=True, text=True, timeout=60)
        assert result.stdout.strip() == expected, (labels, result.stdout, result.stderr)


def test_receiver_credentials_and_grafana_password_are_kubernetes_secrets_never_in_the_plan(plan_of, write_stack, decrypted_secrets):
    slack, pager, grafana = "https://hooks.slack.com/services/T000/B000/XXXXSECRET", "pd-routing-key-0123456789", "grafana-pass-0123456789"
    given = {"llm-serving:alertSlackWebhookUrl": slack, "llm-serving:alertPagerdutyRoutingKey": pager, "llm-serving:grafanaAdminPassword": grafana}
    decrypted_secrets(given)  # as the Pulumi CLI hands over decrypted secrets
    plan = plan_module.run_plan("prod", as_of=AS_OF)
    printed = json.dumps(plan.to_json())
    assert slack not in printed and pager not in printed and grafana not in printed
    secrets = {s.inputs["metadata"]["name"] for s in of_type(plan, "kubernetes:core/v1:Secret")}
    assert {"alert-receivers", "grafana-admin"} <= secrets
    values = alertmanager_values(plan)
    assert values["alertmanager"]["alertmanagerSpec"]["secrets"] == ["alert-receivers"]
    assert values["grafana"]["admin"]["existingSecret"] == "grafana-admin"
    assert not any("grafanaAdminPassword" in w or "alertPagerdutyRoutingKey" in w for w in plan.warnings)


def test_model_below_its_floor_pages_and_a_full_model_does_not(plan_of, tmp_path):
    plan = plan_of("prod")
    floor = alert(plan, "ModelBelowReplicaFloor")
    assert floor["labels"] == {"severity": "critical", "model": "llama-70b"}

    def fired(ready_count: int) -> dict:
        annotations = {k: v.replace("{{ $value }}", str(ready_count)) for k, v in floor["annotations"].items()}
        return {"exp_labels": floor["labels"], "exp_annotations": annotations}

    def ready(n):
        return {"series": 'kube_deployment_status_replicas_available{namespace="llm-serving",deployment="llama-70b-on-demand"}', "values": f"{n}x20"}
    spot = {"series": 'kube_deployment_status_replicas_available{namespace="llm-serving",deployment="llama-70b-spot"}', "values": "2x20"}
    result = promtool_unit_tests(plan, tmp_path, [
        {"interval": "1m", "input_series": [ready(0), spot], "alert_rule_test": [
            {"eval_time": "3m", "alertname": "ModelBelowReplicaFloor", "exp_alerts": []},
            {"eval_time": "10m", "alertname": "ModelBelowReplicaFloor", "exp_alerts": [fired(2)]}]},
        {"interval": "1m", "input_series": [ready(1), spot], "alert_rule_test": [{"eval_time": "10m", "alertname": "ModelBelowReplicaFloor", "exp_alerts": []}]},
        {"interval": "1m", "input_series": [], "alert_rule_test": [{"eval_time": "10m", "alertname": "ModelBelowReplicaFloor", "exp_alerts": [fired(0)]}]},
    ])
    assert result.returncode == 0, result.stdout + result.stderr


def firing_only(plan, folder: Path, tests: list[dict]) -> subprocess.CompletedProcess:
    """`promtool test rules` on when alerts fire and with which labels: annotations (which quote live values) left out."""
    groups = [{**g, "rules": [{k: v for k, v in r.items() if k != "annotations"} for r in g["rules"]]} for g in rule_groups(plan)]
    (folder / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    (folder / "test.yaml").write_text(yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}))
    return promtool("test", "rules", "test.yaml", cwd=folder)


def test_gpu_pod_pending_too_long_fires_only_for_gpu_pods(plan_of, tmp_path):
    plan = plan_of("prod")
    window = int(alert(plan, "GpuPodPendingTooLong")["for"].removesuffix("m"))
    def pending(pod):
        return {"series": f'kube_pod_status_phase{{namespace="llm-serving",pod="{pod}",phase="Pending"}}', "values": "1x40"}
    gpu = {"series": 'kube_pod_container_resource_requests{namespace="llm-serving",pod="llama-70b-spot-x",container="vllm",resource="nvidia_com_gpu"}', "values": "4x40"}
    cpu = {"series": 'kube_pod_container_resource_requests{namespace="llm-serving",pod="router-y",container="litellm",resource="cpu"}', "values": "0.5x40"}
    expected = {"severity": "warning", "namespace": "llm-serving", "pod": "llama-70b-spot-x"}
    result = firing_only(plan, tmp_path, [
        {"interval": "1m", "input_series": [pending("llama-70b-spot-x"), pending("router-y"), gpu, cpu], "alert_rule_test": [
            {"eval_time": f"{window - 2}m", "alertname": "GpuPodPendingTooLong", "exp_alerts": []},
            {"eval_time": f"{window + 2}m", "alertname": "GpuPodPendingTooLong", "exp_alerts": [{"exp_labels": expected}]}]},
    ])
    assert result.returncode == 0, result.stdout + result.stderr


def test_fallback_rate_and_failing_fallbacks_alert_on_litellm_metrics(plan_of, tmp_path):
    plan = plan_of("prod")
    total = {"series": 'litellm_proxy_total_requests_metric_total{requested_model="llama-70b"}', "values": "0+600x40"}  # 10 requests/s
    def fell_back(per_minute):
        return {"series": 'litellm_deployment_successful_fallbacks_total{requested_model="llama-70b",fallback_model="hosted-fallback:anthropic/claude-3-5-sonnet-20240620"}', "values": f"0+{per_minute}x40"}
    failed = {"series": 'litellm_deployment_failed_fallbacks_total{requested_model="llama-70b",fallback_model="hosted-fallback:anthropic/claude-3-5-sonnet-20240620"}', "values": "0x10 1+1x30"}
    result = firing_only(plan, tmp_path, [
        {"interval": "1m", "input_series": [total, fell_back(60)], "alert_rule_test": [  # 1 of 10 fell back: above prod's 5 %
            {"eval_time": "30m", "alertname": "RouterFallbackRateHigh", "exp_alerts": [{"exp_labels": {"severity": "warning"}}]}]},
        {"interval": "1m", "input_series": [total, fell_back(6)], "alert_rule_test": [  # 1 %: quiet
            {"eval_time": "30m", "alertname": "RouterFallbackRateHigh", "exp_alerts": []}]},
        {"interval": "1m", "input_series": [failed], "alert_rule_test": [
            {"eval_time": "5m", "alertname": "HostedFallbackFailing", "exp_alerts": []},
            {"eval_time": "15m", "alertname": "HostedFallbackFailing", "exp_alerts": [{"exp_labels": {
                "severity": "critical", "requested_model": "llama-70b", "fallback_model": "hosted-fallback:anthropic/claude-3-5-sonnet-20240620"}}]}]},
    ])
    assert result.returncode == 0, result.stdout + result.stderr
