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
from infra.cluster_services.dashboards import dashboards_json
from infra.cluster_services.kube import third_party_chart
from infra.config.monitoring import Monitoring
from infra.names import CAPACITY_TYPE_LABEL, GPU_LABEL, MONITORING_NAMESPACE, POOL_LABEL, SYSTEM_ROLE_LABEL

NAMESPACE = MONITORING_NAMESPACE
MONITORING_CHART = CHARTS_DIR / "llm-monitoring"


@dataclass(frozen=True)
class PoolPrice:
    name: str
    on_demand_node_usd_hour: float
    spot_node_usd_hour: float
    configured_usd_hour: float


def requests(r: Requests) -> dict:
    """Requests only, as placement placed them (kube-prometheus-stack 79.7.1 leaves `resources: {}`)."""
    return {"requests": r.values()}


def prometheus_stack_values(monitoring: Monitoring) -> dict:
    on_system_nodes = {SYSTEM_ROLE_LABEL: "system"}
    return {
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
        "alertmanager": {"alertmanagerSpec": {"nodeSelector": on_system_nodes, "resources": requests(ALERTMANAGER)}},
        "grafana": {
            "enabled": monitoring.grafana,
            "nodeSelector": on_system_nodes,
            "resources": requests(GRAFANA),
            "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "searchNamespace": "ALL"}},
        },
        "kube-state-metrics": {
            "nodeSelector": on_system_nodes,
            # Export the kit's node labels, so GPU metrics and node counts can be grouped by pool.
            "metricLabelsAllowlist": [f"nodes=[{POOL_LABEL},{CAPACITY_TYPE_LABEL},{GPU_LABEL}]"],
        },
        # node-exporter runs on every node, GPU nodes included.
        "prometheus-node-exporter": {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
        "prometheusOperator": {"nodeSelector": on_system_nodes},
    }


DCGM_EXPORTER_VALUES = {
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
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


def rules_values(monitoring: Monitoring, pools: list[PoolPrice], serving_namespace: str, break_even_usd_per_million: float) -> dict:
    alerts = monitoring.alerts
    return {
        "servingNamespace": serving_namespace,
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
        },
        "dashboards": dashboards_json() if monitoring.grafana else {},
    }


@dataclass(frozen=True)
class MonitoringArgs:
    monitoring: Monitoring
    pools: list[PoolPrice]
    serving_namespace: str
    break_even_usd_per_million: float


class MonitoringStack(pulumi.ComponentResource):
    """Prometheus, Grafana and Alertmanager, GPU metrics, and the kit's rules and dashboards."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-serving:monitoring:Monitoring", name, None, opts)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata={"name": NAMESPACE, "labels": {"app.kubernetes.io/part-of": "llm-serving"}}, opts=pulumi.ResourceOptions(parent=self)
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        stack = third_party_chart(
            f"{name}-kube-prometheus-stack",
            "kube-prometheus-stack",
            namespace=NAMESPACE,
            values=prometheus_stack_values(args.monitoring),
            opts=in_namespace,
        )
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[namespace, stack])  # ServiceMonitor / PrometheusRule CRDs
        third_party_chart(f"{name}-dcgm-exporter", "dcgm-exporter", namespace=NAMESPACE, values=DCGM_EXPORTER_VALUES, opts=after_crds)
        k8s.helm.v4.Chart(
            f"{name}-rules",
            name="llm-serving-monitoring",
            chart=os.path.relpath(MONITORING_CHART),
            namespace=NAMESPACE,
            values=rules_values(args.monitoring, args.pools, args.serving_namespace, args.break_even_usd_per_million),
            opts=after_crds,
        )
        self.register_outputs({"namespace": NAMESPACE})
