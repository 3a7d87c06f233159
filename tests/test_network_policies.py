"""Every namespace the kit creates denies ingress by default, admits only what it names, and lets its pods out to
DNS, HTTPS and their own namespace, never to the instance metadata address."""

from __future__ import annotations

import ipaddress
from typing import Any

from infra.cluster_services.network_policies import (
    MODEL_SERVER_CLIENTS,
    PROMETHEUS_PODS,
    ROUTER_PODS,
)
from tests.conftest import of_type, validate_manifest

IMDS = ipaddress.ip_address("169.254.169.254")


def policies(plan) -> list[dict[str, Any]]:
    return [o for objects in plan.manifests.values() for o in objects if o["kind"] == "NetworkPolicy"]


def kit_namespaces(plan) -> set[str]:
    return {n.inputs["metadata"]["name"] for n in of_type(plan, "kubernetes:core/v1:Namespace")}


def reaches(peer: dict[str, Any], address) -> bool:
    block = peer.get("ipBlock")
    if block is None:
        return False  # a pod or namespace selector selects pods, never the metadata address
    inside = address in ipaddress.ip_network(block["cidr"])
    return inside and not any(address in ipaddress.ip_network(e) for e in block.get("except", []))


def test_every_kit_namespace_denies_ingress_by_default_and_has_an_egress_policy(example_plan):
    found = policies(example_plan)
    for obj in found:
        validate_manifest(obj)
    for namespace in kit_namespaces(example_plan):
        mine = [p for p in found if p["metadata"]["namespace"] == namespace]
        assert any(p["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]} for p in mine), f"{namespace}: no default-deny ingress"
        (egress,) = [p for p in mine if "Egress" in p["spec"]["policyTypes"]]
        assert egress["spec"]["podSelector"] == {}  # every pod of the namespace
        ports = {(port["protocol"], port["port"]) for rule in egress["spec"]["egress"] for port in rule.get("ports", [])}
        assert {("UDP", 53), ("TCP", 53), ("TCP", 443)} <= ports


def test_no_egress_rule_reaches_instance_metadata(example_plan):
    for policy in policies(example_plan):
        for rule in policy["spec"].get("egress", []):
            assert rule.get("to"), f"{policy['metadata']['name']}: an egress rule without `to` allows every address, 169.254.169.254 included"
            assert not any(reaches(peer, IMDS) for peer in rule["to"]), policy["metadata"]["name"]


def test_model_servers_admit_the_router_and_prometheus_pods_only(plan_of):
    plan = plan_of("prod")
    assert MODEL_SERVER_CLIENTS == [ROUTER_PODS, PROMETHEUS_PODS]
    assert "podSelector" in PROMETHEUS_PODS  # Prometheus's pods, not every pod of the monitoring namespace
    for objects in plan.manifests.values():
        for policy in [o for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["labels"].get("app.kubernetes.io/name") in ("vllm", "tei")]:
            peers = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
            assert [p for p in peers if p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component") != "benchmark"] == MODEL_SERVER_CLIENTS
            assert all("podSelector" in p for p in peers)


def test_keda_reaches_prometheus_and_prometheus_admits_it(plan_of):
    plan = plan_of("prod")
    by_name = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in policies(plan)}
    keda_out = by_name[("keda", "egress")]["spec"]["egress"]
    assert {"to": [PROMETHEUS_PODS], "ports": [{"protocol": "TCP", "port": 9090}]} in keda_out
    admitted = by_name[("monitoring", "prometheus-from-keda")]["spec"]
    assert admitted["ingress"][0]["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}}]
