"""The router's configuration from stack config: secure by default (what `pulumi up` refuses and the
offline plan warns about), per-model fallbacks, hosted routes, and the optional load balancer."""

from __future__ import annotations

from importlib import import_module

import pytest
import yaml

from infra.config.preflight import Mode
from infra.config.problems import ConfigError
from infra.serving.router import FALLBACK_PREFIX

load_module = import_module("infra.config.load")
program_module = import_module("infra.program")  # the module (infra.config re-exports its `load` function)


def router_config(plan) -> dict:
    (config_map,) = [o for o in plan.manifests["router"] if o["kind"] == "ConfigMap"]
    return yaml.safe_load(config_map["data"]["config.yaml"])


def test_pulumi_up_refuses_a_router_without_a_key_and_names_the_command(plan_of, monkeypatch):
    with pytest.raises(ConfigError) as error:
        plan_of("dev", mode=Mode.DEPLOY)  # as under `pulumi up`: the missing secrets are refused before pre-flight
    text = str(error.value)
    assert "llm-serving:apiKey" in text and "pulumi config set --secret llm-serving:apiKey" in text and "fallback.allowAnonymous" in text
    assert "pulumi config set --secret llm-serving:openaiApiKey" in text and "pulumi config set --secret llm-serving:grafanaAdminPassword" in text


def test_the_offline_plan_warns_instead_and_the_router_fails_closed(plan_of):
    plan = plan_of("dev")
    assert any(w.startswith("llm-serving:apiKey") and "pulumi up refuses" in w for w in plan.warnings)
    general = router_config(plan)["general_settings"]
    assert "master_key" not in general and "dangerously_permit_weak_or_unset_master_key" not in general  # LiteLLM refuses to start


def test_anonymous_access_is_an_explicit_opt_in(plan_of, write_stack, monkeypatch):
    def anonymous(config):
        config["llm-serving:fallback"]["allowAnonymous"] = True
        config["llm-serving:monitoring"]["grafana"] = False
        config["llm-serving:openaiApiKey"] = {"secure": "v1:placeholder"}

    stack = write_stack("anon", edit=anonymous)
    # Config and secrets loaded as under `pulumi up` (the rest of the plan stays offline: the example's placeholders).
    monkeypatch.setattr(program_module, "load", lambda as_of, mode: load_module.load(as_of, Mode.DEPLOY))
    plan = plan_of(*stack)
    assert router_config(plan)["general_settings"] == {"dangerously_permit_weak_or_unset_master_key": True}


def test_each_model_falls_back_to_its_own_hosted_model_or_none(plan_of, write_stack):
    def per_model(config):
        config["llm-serving:models"][0]["fallback"] = "none"
        config["llm-serving:models"].append(
            {"name": "llama-8b-b", "huggingFaceId": "meta-llama/Llama-3.1-8B-Instruct", "revision": "main", "pool": "l4", "replicas": {"baseline": 1}, "fallback": "anthropic/claude-haiku-4-5"}
        )
        config["llm-serving:fallback"]["hostedModels"] = [{"name": "frontier", "model": "openai/gpt-5"}]
        l4 = next(p for p in config["llm-serving:gpuPools"] if p["name"] == "l4")
        l4["onDemand"]["max"] = l4["onDemand"].get("max", l4["onDemand"]["baseline"]) + 1  # a node for the added model's floor

    plan = plan_of(*write_stack("per-model", edit=per_model))
    config = router_config(plan)
    assert config["router_settings"]["fallbacks"] == [{"llama-8b-b": [f"{FALLBACK_PREFIX}anthropic/claude-haiku-4-5"]}]
    routes = {m["model_name"]: m["litellm_params"] for m in config["model_list"]}
    assert routes["frontier"] == {"model": "openai/gpt-5", "api_key": "os.environ/OPENAI_API_KEY", "timeout": 60, "stream_timeout": 60}
    assert f"{FALLBACK_PREFIX}openai/gpt-4o-mini" not in routes  # no model falls back to the stack-wide default any more
    assert any("anthropicApiKey" in w for w in plan.warnings)


def test_a_hosted_route_may_not_shadow_a_model(plan_of, write_stack):
    def shadow(config):
        config["llm-serving:fallback"]["hostedModels"] = [{"name": "llama-8b", "model": "openai/gpt-5"}]

    with pytest.raises(ConfigError, match=r"fallback.hostedModels\[0\].name: got \"llama-8b\"; already the name"):
        plan_of(*write_stack("shadow", edit=shadow))


def test_the_load_balancer_is_an_allow_listed_nlb_with_tls_when_a_certificate_is_given(plan_of, write_stack):
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"

    def exposed(config):
        config["llm-serving:fallback"]["loadBalancer"] = {"enabled": True, "scheme": "internet-facing", "sourceCidrs": ["198.51.100.0/24"], "certificateArn": arn}

    plan = plan_of(*write_stack("exposed", edit=exposed))
    (service,) = [o for o in plan.manifests["router"] if o["kind"] == "Service" and o["spec"]["type"] == "LoadBalancer"]
    annotations = service["metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internet-facing"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"] == arn
    assert service["spec"]["loadBalancerSourceRanges"] == ["198.51.100.0/24"] and service["spec"]["ports"][0]["port"] == 443


def test_a_load_balancer_without_an_allow_list_is_refused(plan_of, write_stack):
    def open_to_all(config):
        config["llm-serving:fallback"]["loadBalancer"] = {"enabled": True}

    with pytest.raises(ConfigError, match=r"loadBalancer\.sourceCidrs"):
        plan_of(*write_stack("open", edit=open_to_all))
