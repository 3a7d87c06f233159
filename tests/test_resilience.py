"""Reliability and hardening: what survives a spot reclaim, the router and its fallback, network
isolation of the model servers, IAM scoping, and pod security."""

from __future__ import annotations

import json

import pytest
import yaml

from infra.capacity.resilience import after_spot_loss
from infra.offline.graph import gpu_pods, on_demand_nodes
from tests.conftest import of_type


def test_the_planned_graph_survives_spot_loss_as_the_deployment_model_says(example_plan):
    from_graph = after_spot_loss(on_demand_nodes(example_plan.resources), gpu_pods(example_plan.manifests))
    assert from_graph == dict(example_plan.deployment.survivors)


def test_removing_every_spot_node_leaves_each_model_at_least_its_floor(example_plan):
    survivors = example_plan.deployment.survivors
    for model in example_plan.deployment.config.models:
        assert survivors[model.name].replicas_after_spot_loss >= model.replicas.baseline, model.name
        assert survivors[model.name].replicas_planned > survivors[model.name].replicas_after_spot_loss or not model.replicas.spot
    report = example_plan.resilience()
    assert all(r["output_tokens_per_second_after_spot_loss"] > 0 for r in report.values())


def test_a_baseline_too_small_for_the_floor_is_caught(plan_of, write_stack):
    def small_baseline(config):
        config["llm-serving:gpuPools"][0]["onDemand"] = {"baseline": 1, "max": 4}  # 1 node for a floor of 3 TP-4 replicas

    plan = plan_of(*write_stack("small-baseline", base="large", edit=small_baseline))
    assert plan.resilience()["llama-70b"]["replicas_after_spot_loss"] == 1
    assert any("llama-70b: only 1 of its 3 on-demand replicas fit" in w for w in plan.warnings)


@pytest.fixture
def routed_plan(example_plan):
    """An example stack's plan, for the checks of the router (skipped where it is turned off)."""
    if not example_plan.deployment.config.fallback.enabled:
        pytest.skip(f"stack {example_plan.stack} sets fallback.enabled: false")
    return example_plan


def router_config(plan) -> dict:
    (config_map,) = [o for o in plan.manifests["router"] if o["kind"] == "ConfigMap"]
    return yaml.safe_load(config_map["data"]["config.yaml"])


def test_the_router_routes_every_model_to_its_service_and_falls_back_to_the_hosted_api(routed_plan):
    config = router_config(routed_plan)
    fallback = routed_plan.deployment.config.fallback
    routes = {m["model_name"]: m["litellm_params"] for m in config["model_list"]}
    for model in routed_plan.deployment.config.models:
        assert routes[model.name]["api_base"] == f"http://{model.name}.llm-serving.svc:8000/v1"
        for adapter in model.lora_adapters:
            assert routes[adapter.name]["api_base"] == routes[model.name]["api_base"]
    assert routes["hosted-fallback"]["model"] == fallback.hosted_model
    assert routes["hosted-fallback"]["api_key"] == f"os.environ/{fallback.hosted_model.split('/')[0].upper()}_API_KEY"
    settings = config["router_settings"]
    chat = [m["model_name"] for m in config["model_list"] if m["model_info"]["mode"] == "chat" and m["model_name"] != "hosted-fallback"]
    assert settings["fallbacks"] == [{name: ["hosted-fallback"]} for name in chat]
    assert settings["timeout"] == fallback.timeout_seconds and settings["num_retries"] == fallback.retries
    assert all(not str(p.get("api_key", "")).startswith(("sk-", "hf_")) for p in routes.values())  # credentials only by reference


def test_the_router_has_health_checks_a_pdb_and_a_scrape_target(routed_plan):
    kinds = {o["kind"]: o for o in routed_plan.manifests["router"]}
    assert {"Deployment", "Service", "PodDisruptionBudget", "ServiceMonitor", "ConfigMap"} <= set(kinds)
    (container,) = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("ghcr.io/berriai/litellm:main-v")
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/liveliness"


def test_model_servers_drain_for_at_least_the_request_timeout(example_plan):
    timeout = example_plan.deployment.config.fallback.timeout_seconds
    for release, objects in example_plan.manifests.items():
        for obj in objects:
            if obj["kind"] == "Deployment" and obj["metadata"]["labels"]["app.kubernetes.io/name"] == "vllm":
                spec = obj["spec"]["template"]["spec"]
                pre_stop = int(spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
                assert spec["terminationGracePeriodSeconds"] >= timeout + pre_stop


def test_only_the_router_and_prometheus_reach_vllm_and_tei(example_plan):
    for release, objects in example_plan.manifests.items():
        servers = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["labels"]["app.kubernetes.io/name"] in ("vllm", "tei")]
        if not servers:
            continue
        (policy,) = [o for o in objects if o["kind"] == "NetworkPolicy"]
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        (rule,) = policy["spec"]["ingress"]
        assert rule["from"] == [
            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "router"}}},
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
        ]
        for server in servers:
            assert policy["spec"]["podSelector"]["matchLabels"].items() <= server["spec"]["template"]["metadata"]["labels"].items()
    (cni,) = [a for a in of_type(example_plan, "aws:eks/addon:Addon") if a.inputs["addonName"] == "vpc-cni"]
    assert json.loads(cni.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}


def test_no_iam_policy_grants_a_wildcard_action_or_a_wildcard_action_on_everything(example_plan):
    policies = [json.loads(p.inputs["policy"]) for p in of_type(example_plan, "aws:iam/rolePolicy:RolePolicy")]
    assert policies
    for policy in policies:
        for statement in policy["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert "*" not in actions
            if statement["Resource"] == "*":
                assert all("*" not in action for action in actions), statement


def test_serving_pods_drop_privileges(example_plan):
    for objects in example_plan.manifests.values():
        for obj in objects:
            if obj["kind"] != "Deployment":
                continue
            spec = obj["spec"]["template"]["spec"]
            assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", obj["metadata"]["name"]
            assert spec["automountServiceAccountToken"] is False
            for container in spec.get("initContainers", []) + spec["containers"]:
                assert container["securityContext"]["allowPrivilegeEscalation"] is False
                assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
