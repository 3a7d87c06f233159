"""Each namespace the kit creates gets a baseline of NetworkPolicies (one release of our chart
`charts/network-policies`): default-deny ingress, the ingress it admits, and one egress policy that lets its
pods reach what they need and never the instance metadata address.

What the pods need (egress): cluster DNS (CoreDNS, UDP/TCP 53); HTTPS (TCP 443) to any address outside the
link-local range, which is how they reach the S3 gateway endpoint, STS (IRSA), Hugging Face, the hosted APIs,
the cluster's API server and the alert receivers; and the pods of their own namespace. NetworkPolicies select
addresses, not names: narrowing HTTPS to the providers' hosts needs an egress proxy or an FQDN-aware policy
engine, which the VPC CNI's policy agent is not. Monitoring also scrapes every pod, and the kubelet and
node-exporter on the nodes' addresses; KEDA queries Prometheus.

Never the link-local range 169.254.0.0/16: instance metadata (169.254.169.254, where the node role's
credentials are), the EKS Pod Identity agent (169.254.170.23). Together with IMDS hop limit 1
(infra/aws/nodes.py) no pod reaches the node role.

kube-system is left alone: EKS manages its add-ons (CoreDNS, which every pod must reach; the VPC CNI,
kube-proxy and the node agents run on the host network, where NetworkPolicies do not apply).

Who may reach vLLM and TEI is `MODEL_SERVER_CLIENTS`, one entry per client: the router's pods and
Prometheus's pods. Another router in front of vLLM is one more entry.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import CHARTS_DIR
from infra.names import (
    KEDA_NAMESPACE,
    KUBE_SYSTEM_NAMESPACE,
    MONITORING_NAMESPACE,
    SERVING_NAMESPACE,
)

CHART = CHARTS_DIR / "network-policies"
LINK_LOCAL = "169.254.0.0/16"  # instance metadata 169.254.169.254, the Pod Identity agent 169.254.170.23
NAMESPACE_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace

# Prometheus's pods as the Prometheus Operator labels them (prometheus-operator pkg/prometheus/server/statefulset.go
# podSelectorLabels: app.kubernetes.io/name "prometheus", prometheus <name>); kube-prometheus-stack names its
# Prometheus kube-prometheus-stack-prometheus.
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus", "prometheus": "kube-prometheus-stack-prometheus"}
PROMETHEUS_PORT = 9090


def in_namespace(namespace: str, pod_labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A peer: pods of another namespace (all of them, or those with `pod_labels`)."""
    peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: namespace}}}
    if pod_labels:
        peer["podSelector"] = {"matchLabels": dict(pod_labels)}
    return peer


ROUTER_PODS = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "router"}}}  # charts/router, same namespace
PROMETHEUS_PODS = in_namespace(MONITORING_NAMESPACE, PROMETHEUS_POD_LABELS)
# Who may call vLLM and TEI (their charts' networkPolicy.from): one entry per client.
MODEL_SERVER_CLIENTS: list[dict[str, Any]] = [ROUTER_PODS, PROMETHEUS_PODS]

DNS = {
    "to": [in_namespace(KUBE_SYSTEM_NAMESPACE, {"k8s-app": "kube-dns"})],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}
# S3 (gateway endpoint), STS, Hugging Face, the hosted APIs, the API server, alert receivers: HTTPS anywhere but link-local.
HTTPS_OUTSIDE = {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [LINK_LOCAL]}}], "ports": [{"protocol": "TCP", "port": 443}]}
SAME_NAMESPACE = {"to": [{"podSelector": {}}]}


def default_deny_ingress() -> dict[str, Any]:
    return {"name": "default-deny-ingress", "podSelector": {}, "policyTypes": ["Ingress"]}


def egress(extra: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"name": "egress", "podSelector": {}, "policyTypes": ["Egress"], "egress": [DNS, HTTPS_OUTSIDE, SAME_NAMESPACE, *extra]}


def from_same_namespace() -> dict[str, Any]:
    return {"name": "from-same-namespace", "podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {}}]}]}


def from_api_server(name: str, pod_labels: dict[str, str], ports: Sequence[int]) -> dict[str, Any]:
    """Webhooks and aggregated APIs the API server calls. Its addresses (EKS's cross-account ENIs in the cluster's
    subnets) are not known here, so any address but link-local; the servers authenticate the caller by TLS."""
    return {
        "name": name,
        "podSelector": {"matchLabels": dict(pod_labels)},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [LINK_LOCAL]}}], "ports": [{"protocol": "TCP", "port": p} for p in ports]}],
    }


def serving_policies() -> list[dict[str, Any]]:
    """llm-serving: the router, vLLM and TEI charts carry their own ingress rules (the router: clients; vLLM and
    TEI: MODEL_SERVER_CLIENTS)."""
    return [default_deny_ingress(), egress()]


def monitoring_policies() -> list[dict[str, Any]]:
    scrape = [
        {"to": [{"namespaceSelector": {}}]},  # every pod's metrics port
        # the kubelet (cAdvisor) and node-exporter (host network) on the nodes' addresses
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [LINK_LOCAL]}}], "ports": [{"protocol": "TCP", "port": 10250}, {"protocol": "TCP", "port": 9100}]},
    ]
    return [
        default_deny_ingress(),
        from_same_namespace(),  # Grafana -> Prometheus, Prometheus -> Alertmanager and exporters, the operator
        {
            "name": "prometheus-from-keda",
            "podSelector": {"matchLabels": PROMETHEUS_POD_LABELS},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [in_namespace(KEDA_NAMESPACE)], "ports": [{"protocol": "TCP", "port": PROMETHEUS_PORT}]}],
        },
        # The Prometheus Operator's admission webhook (kube-prometheus-stack 79.7.1: container port "https" 10250).
        from_api_server("operator-webhook-from-api-server", {"app": "kube-prometheus-stack-operator"}, [10250]),
        egress(scrape),
    ]


def keda_policies() -> list[dict[str, Any]]:
    return [
        default_deny_ingress(),
        from_same_namespace(),  # the metrics API server -> the operator (gRPC 9666)
        # The external-metrics APIService (6443) and the admission webhooks (9443) (keda chart 2.20.2 Services).
        from_api_server("metrics-apiserver-from-api-server", {"app": "keda-operator-metrics-apiserver"}, [6443]),
        from_api_server("webhooks-from-api-server", {"app": "keda-admission-webhooks"}, [9443]),
        egress([{"to": [in_namespace(MONITORING_NAMESPACE, PROMETHEUS_POD_LABELS)], "ports": [{"protocol": "TCP", "port": PROMETHEUS_PORT}]}]),
    ]


POLICIES = {SERVING_NAMESPACE: serving_policies, MONITORING_NAMESPACE: monitoring_policies, KEDA_NAMESPACE: keda_policies}


def release_name(namespace: str) -> str:
    return f"{namespace}-network-policies"


def namespace_policies(name: str, namespace: str, opts: pulumi.ResourceOptions) -> k8s.helm.v4.Chart:
    """The namespace's baseline policies, installed once the namespace exists (opts depend on it)."""
    return k8s.helm.v4.Chart(
        name,
        name=release_name(namespace),
        chart=os.path.relpath(CHART),
        namespace=namespace,
        values={"policies": POLICIES[namespace]()},
        opts=opts,
    )
