"""Monitoring: kube-prometheus-stack (Prometheus, Alertmanager, Grafana, kube-state-metrics),
NVIDIA's DCGM exporter on the GPU nodes, and our chart `charts/llm-monitoring` with the kit's alert
rules, live-cost recording rules and dashboards. This module computes all their values.

GPU metrics are joined to pools through the node: the DCGM exporter's ServiceMonitor adds a `node`
label, and kube-state-metrics exports the kit's node labels (llm-serving/pool, capacity-type) as
`kube_node_labels`. vLLM metrics carry the pool through the pod label the ServiceMonitor copies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra import CHARTS_DIR
from infra.capacity.pods import ALERTMANAGER, GRAFANA, PROMETHEUS, Requests
from infra.cluster_services.alerting import SECRET_NAME as RECEIVERS_SECRET
from infra.cluster_services.alerting import (
    WEBHOOK_TOKEN_KEY,
    alertmanager_config,
    receiver_credentials,
    receivers_secret,
)
from infra.cluster_services.dashboards import dashboards_json
from infra.cluster_services.kube import third_party_chart
from infra.cluster_services.network_policies import namespace_policies
from infra.config.load import Secrets
from infra.config.monitoring import Monitoring
from infra.names import (
    CAPACITY_TYPE_LABEL,
    GPU_LABEL,
    GPU_TOLERATION,
    MONITORING_NAMESPACE,
    POOL_LABEL,
    SYSTEM_ROLE_LABEL,
)

NAMESPACE = MONITORING_NAMESPACE
MONITORING_CHART = CHARTS_DIR / "llm-monitoring"
GRAFANA_ADMIN_SECRET = "grafana-admin"
# The Role Grafana's sidecar runs under (charts/llm-monitoring templates/grafana-role.yaml): ConfigMaps in this
# namespace only. The grafana chart's own Role (or, with rbac.namespaced false, ClusterRole) always grants
# get/list/watch on Secrets too (grafana chart 10.2.0 in kube-prometheus-stack 79.7.1, templates/role.yaml and
# clusterrole.yaml); with `rbac.useExistingRole` it binds this one instead (templates/rolebinding.yaml).
GRAFANA_ROLE = "grafana-sidecar-configmaps"
# kube-state-metrics 6.4.1's default collectors (charts/kube-state-metrics/values.yaml `collectors`) less
# `secrets`: that collector is what puts list/watch on every Secret in its ClusterRole (templates/role.yaml
# `if has "secrets" $.Values.collectors`), and no rule or dashboard of the kit reads kube_secret_*.
KUBE_STATE_METRICS_COLLECTORS = (
    "certificatesigningrequests", "configmaps", "cronjobs", "daemonsets", "deployments", "endpoints",
    "horizontalpodautoscalers", "ingresses", "jobs", "leases", "limitranges", "mutatingwebhookconfigurations",
    "namespaces", "networkpolicies", "nodes", "persistentvolumeclaims", "persistentvolumes", "poddisruptionbudgets",
    "pods", "replicasets", "replicationcontrollers", "resourcequotas", "services", "statefulsets", "storageclasses",
    "validatingwebhookconfigurations", "volumeattachments",
)  # fmt: skip


@dataclass(frozen=True)
class PoolPrice:
    name: str
    on_demand_node_usd_hour: float
    spot_node_usd_hour: float
    configured_usd_hour: float


def requests(r: Requests) -> dict:
    """Requests only, as placement placed them (kube-prometheus-stack 79.7.1 leaves `resources: {}`)."""
    return {"requests": r.values()}


def prometheus_stack_values(monitoring: Monitoring, receiver_keys: frozenset[str] = frozenset(), grafana_secret: bool = False) -> dict:
    on_system_nodes = {SYSTEM_ROLE_LABEL: "system"}
    alertmanager_spec: dict = {"nodeSelector": on_system_nodes, "resources": requests(ALERTMANAGER)}
    if receiver_keys:
        alertmanager_spec["secrets"] = [RECEIVERS_SECRET]  # mounted at /etc/alertmanager/secrets/<name>/
    # EKS runs the control plane out of reach: nothing can scrape these, and their rules would fire forever
    # (kube-prometheus-stack 79.7.1 values.yaml: kubeControllerManager/kubeScheduler/kubeEtcd/kubeProxy.enabled).
    unscrapable = {component: {"enabled": False} for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")}
    return unscrapable | {
        "prometheus": {
            "prometheusSpec": {
                "retention": f"{monitoring.retention_days}d",
                "nodeSelector": on_system_nodes,
                "resources": requests(PROMETHEUS),
                # Select every ServiceMonitor and PrometheusRule in the cluster, not only this release's.
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {"storageClassName": "gp3", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": f"{monitoring.storage_gib}Gi"}}}
                    }
                },
            }
        },
        "alertmanager": {"config": alertmanager_config(monitoring.alerting, WEBHOOK_TOKEN_KEY in receiver_keys), "alertmanagerSpec": alertmanager_spec},
        "grafana": {
            "enabled": monitoring.grafana,
            # The admin password comes from a Secret the program makes from a Pulumi secret, never the chart's default
            # (grafana chart in kube-prometheus-stack 79.7.1: admin.existingSecret, userKey, passwordKey).
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET if grafana_secret else "", "userKey": "admin-user", "passwordKey": "admin-password"},
            "nodeSelector": on_system_nodes,
            "resources": requests(GRAFANA),
            # Dashboards and data sources are ConfigMaps in this namespace (the kit's in charts/llm-monitoring, the
            # chart's own beside them): the sidecars watch ConfigMaps here only, under GRAFANA_ROLE, never a Secret.
            "rbac": {"namespaced": True, "useExistingRole": GRAFANA_ROLE},
            "sidecar": {
                "dashboards": {"enabled": True, "label": "grafana_dashboard", "resource": "configmap"},
                "datasources": {"resource": "configmap"},
            },
        },
        "kube-state-metrics": {
            "nodeSelector": on_system_nodes,
            "collectors": list(KUBE_STATE_METRICS_COLLECTORS),
            # Export the kit's node labels, so GPU metrics and node counts can be grouped by pool.
            "metricLabelsAllowlist": [f"nodes=[{POOL_LABEL},{CAPACITY_TYPE_LABEL},{GPU_LABEL}]"],
        },
        # node-exporter runs on every node, GPU nodes included.
        "prometheus-node-exporter": {"tolerations": [GPU_TOLERATION]},
        "prometheusOperator": {"nodeSelector": on_system_nodes},
    }


DCGM_EXPORTER_VALUES = {
    "tolerations": [GPU_TOLERATION],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": GPU_LABEL, "operator": "Exists"}]}]}
        }
    },
    "serviceMonitor": {
        "enabled": True,
        "interval": "15s",
        # The node a GPU sits in, to join with kube_node_labels (pool, capacity type).
        "relabelings": [{"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node", "action": "replace"}],
    },
}


def rules_values(monitoring: Monitoring, pools: list[PoolPrice], serving_namespace: str, break_even_usd_per_million: float, model_floors: dict[str, int] | None = None) -> dict:
    alerts = monitoring.alerts
    return {
        "servingNamespace": serving_namespace,
        "models": [{"name": name, "floor": floor} for name, floor in (model_floors or {}).items()],
        "pools": [
            {
                "name": p.name,
                "onDemandNodeUsdHour": round(p.on_demand_node_usd_hour, 4),
                "spotNodeUsdHour": round(p.spot_node_usd_hour, 4),
                "configuredUsdHour": round(p.configured_usd_hour, 4),
            }
            for p in pools
        ],
        "breakEvenUsdPerMillionTokens": round(break_even_usd_per_million, 4),
        "alerts": {
            "gpuIdlePercent": alerts.gpu_idle_percent,
            "gpuIdleMinutes": alerts.gpu_idle_minutes,
            "requestsWaiting": alerts.requests_waiting,
            "kvCacheUsage": alerts.kv_cache_usage,
            "ttftP99Seconds": alerts.ttft_p99_seconds,
            "e2eP99Seconds": alerts.e2e_p99_seconds,
            "teiQueue": alerts.tei_queue,
            "gpuPendingMinutes": alerts.gpu_pending_minutes,
            "fallbackRatio": alerts.fallback_ratio,
        },
        "dashboards": dashboards_json() if monitoring.grafana else {},
        "grafanaRole": {"enabled": monitoring.grafana, "name": GRAFANA_ROLE},
    }


@dataclass(frozen=True)
class MonitoringArgs:
    monitoring: Monitoring
    pools: list[PoolPrice]
    serving_namespace: str
    break_even_usd_per_million: float
    model_floors: dict[str, int]  # model -> on-demand replicas that must stay ready
    secrets: Secrets = Secrets()


class MonitoringStack(pulumi.ComponentResource):
    """Prometheus, Grafana and Alertmanager, GPU metrics, and the kit's rules and dashboards."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-serving:monitoring:Monitoring", name, None, opts)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata={"name": NAMESPACE, "labels": {"app.kubernetes.io/part-of": "llm-serving"}}, opts=pulumi.ResourceOptions(parent=self)
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        namespace_policies(f"{name}-network-policies", NAMESPACE, in_namespace)
        credentials = receiver_credentials(args.secrets)
        prerequisites = [namespace]
        if credentials:
            prerequisites.append(receivers_secret(f"{name}-alert-receivers", NAMESPACE, credentials, in_namespace))
        grafana_password = args.secrets.grafana_admin_password
        if grafana_password is not None and args.monitoring.grafana:
            prerequisites.append(
                k8s.core.v1.Secret(
                    f"{name}-grafana-admin",
                    metadata={"name": GRAFANA_ADMIN_SECRET, "namespace": NAMESPACE},
                    type="Opaque",
                    string_data={"admin-user": "admin", "admin-password": pulumi.Output.secret(grafana_password)},
                    opts=in_namespace,
                )
            )
        stack = third_party_chart(
            f"{name}-kube-prometheus-stack",
            "kube-prometheus-stack",
            namespace=NAMESPACE,
            values=prometheus_stack_values(args.monitoring, frozenset(credentials), grafana_password is not None),
            opts=pulumi.ResourceOptions(parent=self, depends_on=prerequisites),
        )
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[namespace, stack])  # ServiceMonitor / PrometheusRule CRDs
        third_party_chart(f"{name}-dcgm-exporter", "dcgm-exporter", namespace=NAMESPACE, values=DCGM_EXPORTER_VALUES, opts=after_crds)
        k8s.helm.v4.Chart(
            f"{name}-rules",
            name="llm-serving-monitoring",
            chart=os.path.relpath(MONITORING_CHART),
            namespace=NAMESPACE,
            values=rules_values(args.monitoring, args.pools, args.serving_namespace, args.break_even_usd_per_million, args.model_floors),
            opts=after_crds,
        )
        self.register_outputs({"namespace": NAMESPACE})
