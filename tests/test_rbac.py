"""Who may read Secrets: every ClusterRole (and namespaced Role) in the whole rendered set, the pinned
third-party charts with the values the program passes included, that grants get, list or watch on Secrets.
Only the controllers in ALLOWED may, each for its reason."""

from __future__ import annotations

from typing import Any

import pytest

from tests.third_party_charts import charts_folder, render_third_party

READS = {"get", "list", "watch", "*"}
# ClusterRole name -> why it must read Secrets cluster-wide.
ALLOWED_CLUSTER_ROLES = {
    # It writes each Prometheus's and Alertmanager's generated configuration as a Secret and reads the Secrets
    # that ServiceMonitors name for scrape credentials, in the monitored namespaces (the router's ServiceMonitor
    # names the router key in llm-serving): a controller that must (kube-prometheus-stack 79.7.1
    # templates/prometheus-operator/clusterrole.yaml).
    "kube-prometheus-stack-operator": "the Prometheus Operator writes generated configs and reads scrape credentials",
}
# (namespace, Role name) -> why it may read Secrets in that one namespace.
ALLOWED_ROLES = {
    # The admission webhook's certificate Job (kube-prometheus-stack templates/prometheus-operator/admission-webhooks/
    # job-patch/role.yaml): a Helm hook, in the monitoring namespace only.
    ("monitoring", "kube-prometheus-stack-admission"): "the webhook certificate Job creates and reads its one Secret",
    # KEDA's own TLS certificates, by name, and (restrict.secret) list/watch in its own namespace only.
    ("keda", "keda-operator-certs"): "KEDA reads and rotates its own webhook/metrics certificates",
    ("keda", "keda-operator-minimal-rbac"): "KEDA reads Secrets only in its own namespace (permissions.operator.restrict.secret)",
}


def reads_secrets(role: dict[str, Any]) -> bool:
    for rule in role.get("rules") or []:
        groups, resources, verbs = set(rule.get("apiGroups") or []), set(rule.get("resources") or []), set(rule.get("verbs") or [])
        if groups & {"", "*"} and resources & {"secrets", "*"} and verbs & READS:
            return True
    return False


def secret_readers(manifests: dict[str, list[dict[str, Any]]]) -> tuple[set[str], set[tuple[str, str]]]:
    objects = [o for objects in manifests.values() for o in objects]
    cluster_roles = {o["metadata"]["name"] for o in objects if o["kind"] == "ClusterRole" and reads_secrets(o)}
    roles = {(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects if o["kind"] == "Role" and reads_secrets(o)}
    return cluster_roles, roles


def test_only_the_controllers_that_must_read_secrets_can(example_plan):
    rendered = {**example_plan.manifests, **render_third_party(example_plan, charts_folder())}
    cluster_roles, roles = secret_readers(rendered)
    assert cluster_roles <= set(ALLOWED_CLUSTER_ROLES), f"ClusterRoles reading Secrets outside the allow-list: {sorted(cluster_roles - set(ALLOWED_CLUSTER_ROLES))}"
    assert roles <= set(ALLOWED_ROLES), f"Roles reading Secrets outside the allow-list: {sorted(roles - set(ALLOWED_ROLES))}"
    if example_plan.deployment.config.monitoring.enabled:
        assert "kube-prometheus-stack-operator" in cluster_roles  # the check sees the chart's roles at all


def test_grafana_binds_the_configmap_only_role_in_its_own_namespace(example_plan):
    if not (example_plan.deployment.config.monitoring.enabled and example_plan.deployment.config.monitoring.grafana):
        pytest.skip("no Grafana in this stack")
    stack = render_third_party(example_plan, charts_folder())["kube-prometheus-stack"]
    grafana = [o for o in stack if "grafana" in o["metadata"]["name"] and o["kind"] in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")]
    assert [o["kind"] for o in grafana] == ["RoleBinding"], [(o["kind"], o["metadata"]["name"]) for o in grafana]
    (binding,) = grafana
    (role,) = [o for o in example_plan.manifests["llm-serving-monitoring"] if o["kind"] == "Role"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "monitoring"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]
