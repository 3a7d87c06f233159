"""Rules across fields that no single field can check, and advisories: valid, but worth a second look."""

from __future__ import annotations

import re
from datetime import date

from infra import PROJECT
from infra.catalog import checkpoints, cold_start_figures, kubernetes_versions, model_architectures
from infra.config.cluster import NewVpc
from infra.config.limit_checks import engine_problems, route_problems
from infra.config.problems import Problem
from infra.config.serving import hosted_models_in_use
from infra.config.stack import StackConfig


def cross_checks(config: StackConfig, as_of: date) -> list[Problem]:
    return (
        cluster_checks(config, as_of)
        + route_problems(config)
        + engine_problems(config)
        + model_checks(config)
        + _router_checks(config)
        + economics_checks(config)
        + delivery_checks(config)
    )


def cluster_checks(config: StackConfig, as_of: date) -> list[Problem]:
    """The network, the API endpoint and the Kubernetes version on the plan date."""
    problems = []
    vpc = config.cluster.network.vpc
    if isinstance(vpc, NewVpc) and vpc.zones:
        for i, zone in enumerate(vpc.zones):
            # Zone names are the region and a letter a-f (us-east-1 has the most: a to f).
            if not re.fullmatch(re.escape(config.region) + r"[a-f]", zone):
                problems.append(Problem(("cluster", "network", "newVpc", "zones", i), f"not a zone of region {config.region} (e.g. {config.region}a, letters a-f)", zone))
    if config.cluster.network.new_vpc and config.cluster.network.existing_vpc:
        problems.append(Problem(("cluster", "network"), "give newVpc or existingVpc, not both", "both"))
    endpoint = config.cluster.endpoint
    if not (endpoint.private or endpoint.public):
        problems.append(Problem(("cluster", "endpoint"), "at least one of private and public must be true", endpoint.model_dump(by_alias=True)))
    if endpoint.public and not endpoint.public_cidrs:
        problems.append(
            Problem(("cluster", "endpoint", "publicCidrs"), "a public endpoint needs an explicit allow-list, e.g. [\"203.0.113.0/24\"] (or set public: false)", [])
        )
    version = kubernetes_versions()[config.cluster.kubernetes_version]
    supported = [v for v, k in kubernetes_versions().items() if k.released <= as_of and k.in_standard_support(as_of)]
    # With no catalog version in standard support the catalog's calendar is stale: a warning (advisories), since
    # no version the kit knows would be accepted.
    if config.cluster.support_type == "STANDARD" and not version.in_standard_support(as_of) and supported:
        problems.append(
            Problem(
                ("cluster", "kubernetesVersion"),
                f"left EKS standard support on {version.end_of_standard_support} (plan date {as_of}); with supportType STANDARD EKS would upgrade it at once. "
                f"Use {', '.join(supported)}, or set supportType: EXTENDED (billed at the extended-support rate)",
                config.cluster.kubernetes_version,
            )
        )
    if endpoint.public and not endpoint.private:
        problems.append(
            Problem(
                ("cluster", "endpoint", "private"),
                "with private access off, nodes reach the API server over the internet through the NAT gateways, whose addresses exist only after "
                "`pulumi up` and are not in publicCidrs, so nodes would never join; keep private: true (the default)",
                False,
            )
        )
    return problems


def model_checks(config: StackConfig) -> list[Problem]:
    """Each model against its pool, its autoscaling and the catalogs; the embeddings' pool."""
    problems = []
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
        if model.compare_with is not None and model.compare_with not in config.api_prices():
            problems.append(Problem(("models", i, "compareWith"), f"no such API in the catalog or catalog.apiPrices; known: {', '.join(config.api_prices())}", model.compare_with))
        if model.architecture is not None and model.architecture not in model_architectures():
            problems.append(Problem(("models", i, "architecture"), f"not in the catalog; known: {', '.join(model_architectures())} (or give models[{i}].shape)", model.architecture))
    if config.embeddings.enabled and config.embeddings.pool is not None and config.embeddings.pool not in pools:
        problems.append(Problem(("embeddings", "pool"), f"no such GPU pool; pools: {', '.join(pools)} (or null for CPU)", config.embeddings.pool))
    return problems


def economics_checks(config: StackConfig) -> list[Problem]:
    """The APIs compared with, the traffic expectation, and a price for every pool's on-demand type."""
    problems = []
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


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def delivery_checks(config: StackConfig) -> list[Problem]:
    """Node disks, the image cache and cold-start overrides."""
    problems = []
    for i, pool in enumerate(config.gpu_pools):
        disks = pool.disks
        if pool.ami_type.startswith("BOTTLEROCKET") and (disks.instance_store != "none" or disks.fast_image_pull):
            problems.append(
                Problem(("gpuPools", i, "disks"), "instanceStore raid0 and fastImagePull are set through AL2023's nodeadm; the kit does not configure them on Bottlerocket", pool.ami_type)
            )
        if disks.instance_store == "raid0":
            without = [t for t in pool.instance_types if not config.instance(t).instance_store_gb]
            if without:
                problems.append(Problem(("gpuPools", i, "disks", "instanceStore"), f"{', '.join(without)} have no NVMe instance store (catalog instance_store_gb)", "raid0"))
    if config.image_cache.enabled and config.image_cache.docker_hub_username is None:
        problems.append(
            Problem(("imageCache", "dockerHubUsername"), "the vLLM image comes from Docker Hub, whose pull-through cache rule needs credentials: give the Docker Hub user (its token is the secret dockerHubAccessToken)", None)
        )
    known = {_camel(name) for name in cold_start_figures()}
    for name in config.catalog.cold_start:
        if name not in known:
            problems.append(Problem(("catalog", "coldStart", name), f"not a cold-start figure; known: {', '.join(sorted(known))}", name))
    return problems


def _router_checks(config: StackConfig) -> list[Problem]:
    problems = []
    fallback = config.fallback
    lb = fallback.load_balancer
    if lb.enabled and not lb.source_cidrs:
        problems.append(Problem(("fallback", "loadBalancer", "sourceCidrs"), "a load balancer needs an explicit allow-list of client CIDRs, e.g. [\"10.0.0.0/8\"]", []))
    routes = {m.name for m in config.models} | {a.name for m in config.models for a in m.lora_adapters}
    for i, hosted in enumerate(fallback.hosted_models):
        if hosted.name in routes:
            problems.append(Problem(("fallback", "hostedModels", i, "name"), "already the name of a model or adapter route", hosted.name))
    return problems


def gated_checkpoint_warnings(config: StackConfig, secrets_set: frozenset[str]) -> list[str]:
    """A gated checkpoint (catalog: gated) downloads only with a Hugging Face token."""
    if "huggingFaceToken" in secrets_set:
        return []
    catalog = checkpoints()
    return [
        f"{PROJECT}:models[{i}].huggingFaceId {model.hugging_face_id} is gated on Hugging Face but {PROJECT}:huggingFaceToken is not set: "
        f"vLLM cannot download it (401) until you accept its licence on huggingface.co and run pulumi config set --secret {PROJECT}:huggingFaceToken hf_..."
        for i, model in enumerate(config.models)
        if model.hugging_face_id in catalog and catalog[model.hugging_face_id].gated
    ]


def advisories(config: StackConfig, as_of: date, secrets_set: frozenset[str]) -> list[str]:
    """Warnings the plan prints for a valid stack, on the plan's date, given the secret keys the stack sets."""
    notes = []
    versions = kubernetes_versions()
    version = versions[config.cluster.kubernetes_version]
    days_left = (version.end_of_standard_support - as_of).days
    if not any(k.in_standard_support(as_of) for k in versions.values()):
        notes.append(
            f"{PROJECT}:cluster.kubernetesVersion {version.version}: no Kubernetes version in the catalog is in EKS standard support on {as_of} "
            f"({version.version}'s ended {version.end_of_standard_support}): refresh infra/catalog/kubernetes_versions.yaml from EKS's calendar"
        )
    elif not version.in_standard_support(as_of):  # billed at the extended rate from the end date itself
        notes.append(
            f"{PROJECT}:cluster.kubernetesVersion {version.version} is in EKS extended support since {version.end_of_standard_support} "
            f"(until {version.end_of_extended_support}): the control plane is billed at the extended rate; upgrade to leave it"
        )
    elif days_left < 90:
        notes.append(f"{PROJECT}:cluster.kubernetesVersion {version.version} leaves EKS standard support on {version.end_of_standard_support} ({days_left} days)")
    for i, model in enumerate(config.models):
        where = f"{PROJECT}:models[{i}]"
        if not re.fullmatch(r"[0-9a-f]{40}", model.revision):
            notes.append(f"{where}.revision is {model.revision!r}: pin a commit hash so every replica loads the same weights")
        if model.quantization == "awq":
            notes.append(f"{where}.quantization is 'awq', which selects vLLM's slow AWQ kernel; 'awq_marlin' (or null) uses the fast one")
        if config.weight_cache.enabled and not re.fullmatch(r"[0-9a-f]{40}", model.revision):
            notes.append(f"{where}.revision is {model.revision!r}: the weight cache mirrors it once; later commits to that branch are not mirrored until you pin a new revision")
    cache = config.image_cache
    for user, key in ((cache.docker_hub_username, "dockerHubAccessToken"), (cache.github_username, "githubToken")):
        if cache.enabled and user and key not in secrets_set:
            notes.append(f"{PROJECT}:imageCache names {user} but {PROJECT}:{key} is not set: its pull-through cache rule has an empty secret and pulls through it fail until you run pulumi config set --secret {PROJECT}:{key} ...")
    notes += gated_checkpoint_warnings(config, secrets_set)
    return notes


def _set_secret(key: str) -> str:
    return f"pulumi config set --secret {PROJECT}:{key} <value>"


def secret_requirements(config: StackConfig, secrets_set: frozenset[str]) -> list[Problem]:
    """Secrets the stack needs to be safe and to work: `pulumi up` refuses without them, the offline plan
    (which never has secrets) lists them as warnings."""
    problems = []

    def in_set(key: str) -> bool:
        return key in secrets_set

    fallback = config.fallback
    if fallback.enabled and not in_set("apiKey") and not fallback.allow_anonymous:
        problems.append(
            Problem(
                ("apiKey",),
                f"not set, so the router would serve anyone who reaches it: {_set_secret('apiKey')} (or opt in with {PROJECT}:fallback.allowAnonymous: true)",
                "[not set]",
            )
        )
    for hosted in hosted_models_in_use(config.models, fallback):
        key = f"{hosted.split('/', 1)[0]}ApiKey"
        if not in_set(key):
            problems.append(Problem((key,), f"not set, but the router calls {hosted} (a fallback or hosted route): {_set_secret(key)}", "[not set]"))
    monitoring = config.monitoring
    if monitoring.enabled and monitoring.grafana and not in_set("grafanaAdminPassword"):
        problems.append(Problem(("grafanaAdminPassword",), f"not set, and Grafana must not keep its chart's default password: {_set_secret('grafanaAdminPassword')}", "[not set]"))
    alerting = monitoring.alerting
    for receiver, key in ((alerting.slack, "alertSlackWebhookUrl"), (alerting.pagerduty, "alertPagerdutyRoutingKey")):
        if monitoring.enabled and receiver is not None and not in_set(key):
            problems.append(Problem((key,), f"not set, but monitoring.alerting names this receiver: {_set_secret(key)}", "[not set]"))
    return problems


