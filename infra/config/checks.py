"""Rules across fields that no single field can check, and advisories: valid, but worth a second look."""

from __future__ import annotations

import re

import pulumi

from infra import PROJECT
from infra.catalog import checkpoints, model_architectures
from infra.config.cluster import NewVpc
from infra.config.problems import Problem
from infra.config.stack import StackConfig


def cross_checks(config: StackConfig) -> list[Problem]:
    problems = []
    vpc = config.cluster.network.vpc
    if isinstance(vpc, NewVpc) and vpc.zones:
        for i, zone in enumerate(vpc.zones):
            if not re.fullmatch(re.escape(config.region) + r"[a-z]", zone):
                problems.append(Problem(("cluster", "network", "newVpc", "zones", i), f"not a zone of region {config.region} (e.g. {config.region}a)", zone))
    if config.cluster.network.new_vpc and config.cluster.network.existing_vpc:
        problems.append(Problem(("cluster", "network"), "give newVpc or existingVpc, not both", "both"))
    endpoint = config.cluster.endpoint
    if not (endpoint.private or endpoint.public):
        problems.append(Problem(("cluster", "endpoint"), "at least one of private and public must be true", endpoint.model_dump(by_alias=True)))
    if endpoint.public and not endpoint.public_cidrs:
        problems.append(
            Problem(("cluster", "endpoint", "publicCidrs"), "a public endpoint needs an explicit allow-list, e.g. [\"203.0.113.0/24\"] (or set public: false)", [])
        )
    pools = {p.name: p for p in config.gpu_pools}
    for i, model in enumerate(config.models):
        pool = pools.get(model.pool)
        if pool is None:
            problems.append(Problem(("models", i, "pool"), f"no such GPU pool; pools: {', '.join(pools)}", model.pool))
            continue
        gpus = pool.gpu.gpus
        if model.tensor_parallel_size > gpus:
            problems.append(
                Problem(
                    ("models", i, "tensorParallelSize"),
                    f"a replica must fit on one node, and pool {pool.name} has {gpus} GPU(s) per node ({pool.instance_types[0]}); use at most {gpus} or a pool with bigger nodes",
                    model.tensor_parallel_size,
                )
            )
        if model.max_loras is not None and model.max_loras > max(len(model.lora_adapters), 1):
            problems.append(Problem(("models", i, "maxLoras"), f"more than the {len(model.lora_adapters)} adapter(s) listed", model.max_loras))
        if model.autoscaling.enabled and model.autoscaling.max_spot_replicas < model.replicas.spot:
            problems.append(Problem(("models", i, "autoscaling", "maxSpotReplicas"), f"below replicas.spot ({model.replicas.spot}), the floor it scales from", model.autoscaling.max_spot_replicas))
        if model.autoscaling.enabled and not config.monitoring.enabled:
            problems.append(Problem(("models", i, "autoscaling", "enabled"), "scales on Prometheus metrics: set monitoring.enabled: true", True))
        if model.architecture is not None and model.architecture not in model_architectures():
            problems.append(Problem(("models", i, "architecture"), f"not in the catalog; known: {', '.join(model_architectures())} (or give models[{i}].shape)", model.architecture))
    if config.embeddings.enabled and config.embeddings.pool is not None and config.embeddings.pool not in pools:
        problems.append(Problem(("embeddings", "pool"), f"no such GPU pool; pools: {', '.join(pools)} (or null for CPU)", config.embeddings.pool))
    economics = config.economics
    if economics.compare_with is not None and economics.compare_with not in config.api_prices():
        problems.append(Problem(("economics", "compareWith"), f"no such API in the catalog or catalog.apiPrices; known: {', '.join(config.api_prices())}", economics.compare_with))
    if economics.monthly_tokens is not None and economics.average_utilization is not None:
        problems.append(Problem(("economics",), "give monthlyTokens or averageUtilization, not both", "both"))
    for pool_index, pool in enumerate(config.gpu_pools):
        if config.instance(pool.instance_types[0]).on_demand_usd_hour is None:
            problems.append(
                Problem(
                    ("gpuPools", pool_index, "instanceTypes", 0),
                    f"the catalog has no price for {pool.instance_types[0]}; set {PROJECT}:catalog.instances.{pool.instance_types[0]}.onDemandUsdHour",
                    pool.instance_types[0],
                )
            )
    return problems




def gated_checkpoint_warnings(config: StackConfig) -> list[str]:
    """A gated checkpoint (catalog: gated) downloads only with a Hugging Face token."""
    if pulumi.Config(PROJECT).get("huggingFaceToken") is not None:
        return []
    catalog = checkpoints()
    return [
        f"{PROJECT}:models[{i}].huggingFaceId {model.hugging_face_id} is gated on Hugging Face but {PROJECT}:huggingFaceToken is not set: "
        f"vLLM cannot download it (401) until you accept its licence on huggingface.co and run pulumi config set --secret {PROJECT}:huggingFaceToken hf_..."
        for i, model in enumerate(config.models)
        if model.hugging_face_id in catalog and catalog[model.hugging_face_id].gated
    ]


def advisories(config: StackConfig) -> list[str]:
    """Warnings the plan prints for a valid stack."""
    notes = []
    for i, model in enumerate(config.models):
        where = f"{PROJECT}:models[{i}]"
        if not re.fullmatch(r"[0-9a-f]{40}", model.revision):
            notes.append(f"{where}.revision is {model.revision!r}: pin a commit hash so every replica loads the same weights")
        if model.quantization == "awq":
            notes.append(f"{where}.quantization is 'awq', which selects vLLM's slow AWQ kernel; 'awq_marlin' (or null) uses the fast one")
    notes += gated_checkpoint_warnings(config)
    fallback = config.fallback
    key = f"{fallback.provider}ApiKey"
    if fallback.enabled and pulumi.Config(PROJECT).get(key) is None:
        notes.append(f"{PROJECT}:fallback.hostedModel is {fallback.hosted_model} but {PROJECT}:{key} is not set: the fallback will be refused (401) until you run pulumi config set --secret {PROJECT}:{key} ...")
    return notes


