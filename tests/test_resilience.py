"""Reliability and hardening: what survives a spot reclaim, the router and its fallback, network
isolation of the model servers, IAM scoping, and pod security."""

from __future__ import annotations

import json

import pytest
import yaml

from infra.capacity.placement import place
from infra.offline.graph import gpu_node_groups, gpu_workloads
from infra.serving.router import FALLBACK_PREFIX, LITELLM_VERSION, fallback_route
from tests.conftest import of_type


def test_the_planned_graph_places_as_the_deployment_model_says(example_plan):
    """The node groups the program registers and the Deployments the charts render, placed again,
    give the deployment model's placement: requests, replicas, node selection and pool sizes agree."""
    from_graph = place(gpu_node_groups(example_plan.resources), gpu_workloads(example_plan.manifests))
    model = example_plan.deployment.placement
    gpu_deployments = [p for p in model.workloads if p.workload.pool is not None]
    assert gpu_deployments
    phases = ("placed", "placed_on_demand", "placed_full_scale_out", "after_spot_loss", "surge")
    for expected in gpu_deployments:
        got = from_graph.of(expected.workload.name)
        assert (got.workload.requests, got.workload.replicas, got.workload.max_replicas) == (
            expected.workload.requests,
            expected.workload.replicas,
            expected.workload.max_replicas,
        )
        assert {k: getattr(got, k) for k in phases} == {k: getattr(expected, k) for k in phases}, expected.workload.name
    for group in from_graph.groups:
        assert group.nodes == model.group(group.group.name).nodes


def test_removing_every_spot_node_leaves_each_model_at_least_its_floor(example_plan):
    report = example_plan.resilience()
    for model in example_plan.deployment.config.models:
        left = report[model.name]
        assert left["replicas_after_spot_loss"] >= model.replicas.baseline, model.name
        assert left["replicas_placed"] > left["replicas_after_spot_loss"] or not model.replicas.spot
    assert all(r["output_tokens_per_second_after_spot_loss"] > 0 for r in report.values())


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
    hidden = fallback_route(fallback.hosted_model)
    assert routes[hidden]["model"] == fallback.hosted_model
    assert routes[hidden]["api_key"] == f"os.environ/{fallback.hosted_model.split('/')[0].upper()}_API_KEY"
    settings = config["router_settings"]
    chat = [m["model_name"] for m in config["model_list"] if m["model_info"]["mode"] == "chat" and not m["model_name"].startswith(FALLBACK_PREFIX)]
    assert settings["fallbacks"] == [{name: [hidden]} for name in chat]
    assert settings["timeout"] == fallback.timeout_seconds and settings["num_retries"] == fallback.retries
    # allowed_fails equal to LiteLLM's default counts as unset (no cooldown of a one-deployment route): the policy form is always honoured
    assert set(settings["allowed_fails_policy"].values()) == {fallback.allowed_fails} and "allowed_fails" not in settings
    assert settings["retry_policy"]["TimeoutErrorRetries"] == fallback.timeout_retries
    assert all(not str(p.get("api_key", "")).startswith(("sk-", "hf_")) for p in routes.values())  # credentials only by reference


def test_the_router_has_health_checks_a_scrape_target_and_a_pdb_from_two_replicas_on(routed_plan):
    kinds = {o["kind"]: o for o in routed_plan.manifests["router"]}
    assert {"Deployment", "Service", "ServiceMonitor", "ConfigMap"} <= set(kinds)
    assert ("PodDisruptionBudget" in kinds) == (kinds["Deployment"]["spec"]["replicas"] > 1)
    (container,) = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
    # prod pulls through the image cache (tests/test_weights_and_images.py), dev from ghcr.io
    assert container["image"].endswith(f"berriai/litellm:v{LITELLM_VERSION}")
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/liveliness"


def test_the_router_drains_for_longer_than_its_worst_case_request(routed_plan):
    fallback = routed_plan.deployment.config.fallback
    worst = 2 * (1 + fallback.timeout_retries) * fallback.timeout_seconds
    (deployment,) = [o for o in routed_plan.manifests["router"] if o["kind"] == "Deployment"]
    spec = deployment["spec"]["template"]["spec"]
    pre_stop = int(spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
    assert spec["terminationGracePeriodSeconds"] > worst + pre_stop


def test_on_demand_model_servers_drain_for_at_least_the_request_timeout(example_plan):
    timeout = example_plan.deployment.config.fallback.timeout_seconds
    for objects in example_plan.manifests.values():
        for obj in objects:
            if obj["kind"] == "Deployment" and obj["metadata"]["labels"]["app.kubernetes.io/name"] == "vllm" and obj["metadata"]["name"].endswith("-on-demand"):
                spec = obj["spec"]["template"]["spec"]
                pre_stop = int(spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
                assert spec["terminationGracePeriodSeconds"] >= timeout + pre_stop


def test_only_the_router_and_prometheus_reach_vllm_and_tei(example_plan):
    for objects in example_plan.manifests.values():
        servers = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["labels"]["app.kubernetes.io/name"] in ("vllm", "tei")]
        if not servers:
            continue
        (policy,) = [o for o in objects if o["kind"] == "NetworkPolicy"]
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        (rule,) = policy["spec"]["ingress"]
        if example_plan.deployment.config.fallback.enabled:
            # Prometheus's pods, not the whole monitoring namespace
            assert rule["from"] == [
                {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "router"}}},
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus", "prometheus": "kube-prometheus-stack-prometheus"}},
                },
            ]
        else:
            assert rule["from"] == [{"namespaceSelector": {}}]  # no router: the model servers are the endpoint
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
