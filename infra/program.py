"""The Pulumi program: validated stack config in, the resource graph out.

Reads like a parts list: pre-flight, network, cluster, GPU pools, then the cluster services that
make GPU pools usable (device plugin, node autoscaler, storage). Every AWS resource uses one
explicit AWS provider for the configured region and credentials; every Kubernetes resource uses
the provider built from the cluster's outputs, signing with the same credentials.

Pre-flight (infra/aws/preflight.py) runs before any cloud resource is registered: under `pulumi
up` it refuses placeholders, the caller listed as an admin and EC2 quotas too small for the
pools; under the offline plan (Mode.PLAN) those are warnings. With the caches on, the image pull-through
cache and the weight cache (an S3 bucket) come before the GPU pools that read them.
"""

from __future__ import annotations

from datetime import date

import pulumi
import pulumi_aws as aws

from infra import PROJECT
from infra.aws.cluster import Cluster, ClusterArgs
from infra.aws.gpu_pools import GpuNodePool, GpuNodePoolArgs, ami_family
from infra.aws.image_cache import ImageMirror, PullThroughCache, PullThroughCacheArgs
from infra.aws.network import Network, NetworkArgs
from infra.aws.nodes import RAID0_MOUNT
from infra.aws.preflight import check
from infra.aws.weight_cache import WeightCacheArgs, WeightCacheBucket
from infra.cluster_services.device_plugin import device_plugin
from infra.cluster_services.keda import keda
from infra.cluster_services.kube import kubeconfig, provider
from infra.cluster_services.monitoring import MonitoringArgs, MonitoringStack, PoolPrice
from infra.cluster_services.node_autoscaler import NodeAutoscaler, NodeAutoscalerArgs
from infra.cluster_services.storage import default_storage_class
from infra.config.load import Secrets, load, load_secrets, secret_keys_set
from infra.config.preflight import Mode, Preflight
from infra.config.stack import StackConfig
from infra.deployment import Deployment, derive
from infra.names import SERVING_NAMESPACE
from infra.serving.workloads import Serving, ServingArgs, benchmark_values


def stack_tags(config: StackConfig, stack: str) -> dict[str, str]:
    """Tags on every AWS resource, and on the instances and volumes node groups launch.
    Sorted, so the inputs do not change when only the stack file's key order does."""
    return dict(sorted({"project": PROJECT, "stack": stack, "managed-by": "pulumi", **config.tags}.items()))


def aws_provider_for(name: str, config: StackConfig, tags: dict[str, str]) -> aws.Provider:
    """The AWS provider: the stack's region, and its profile / role when set (the Kubernetes
    provider's `aws eks get-token` uses the same, infra/cluster_services/kube.py)."""
    credentials = config.aws
    return aws.Provider(
        f"{name}-aws",
        region=config.region,
        profile=credentials.profile,
        assume_roles=[aws.ProviderAssumeRoleArgs(role_arn=credentials.role_arn)] if credentials.role_arn else None,
        default_tags={"tags": tags},
    )


def gpu_subnets(network: Network, preflight: Preflight, pool: str) -> dict[str, list[pulumi.Output[str]]]:
    """Per capacity type, the private subnets in the zones that offer the pool's instance types
    (every private subnet of an existing VPC)."""
    if not network.private_subnet_ids_by_zone:
        return {capacity: network.private_subnet_ids for capacity in preflight.pool_zones[pool]}
    return {capacity: [network.private_subnet_ids_by_zone[z] for z in zones] for capacity, zones in preflight.pool_zones[pool].items()}


def build(deployment: Deployment, secrets: Secrets = Secrets(), mode: Mode = Mode.DEPLOY) -> Preflight:
    config, stack = deployment.config, deployment.stack
    name = f"{PROJECT}-{stack}"
    tags = stack_tags(config, stack)
    aws_provider = aws_provider_for(name, config, tags)
    on_aws = pulumi.ResourceOptions(providers=[aws_provider])
    preflight = check(deployment, aws_provider, mode)

    caches = config.weight_cache.enabled or config.image_cache.enabled
    network = Network(
        name,
        NetworkArgs(cluster_name=name, vpc=config.cluster.network.vpc, zones=preflight.zones, s3_gateway_endpoint_region=config.region if caches else None),
        opts=on_aws,
    )
    cluster = Cluster(
        name,
        ClusterArgs(
            cluster_name=name,
            config=config.cluster,
            system_nodes=config.system_nodes,
            private_subnet_ids=network.private_subnet_ids,
            instance_tags=tags,
        ),
        opts=on_aws,
    )
    images = ImageMirror()
    if config.image_cache.enabled:
        images = PullThroughCache(
            f"{name}-images",
            PullThroughCacheArgs(
                cluster_name=name,
                region=config.region,
                partition=cluster.partition,
                account_id=cluster.account_id,
                node_role=cluster.node_role,
                cache=config.image_cache,
                credentials={"docker-hub": secrets.docker_hub_access_token, "ghcr": secrets.github_token},
            ),
            opts=on_aws,
        ).mirror
    weights_bucket = None
    if config.weight_cache.enabled:
        weights_bucket = WeightCacheBucket(
            f"{name}-weights",
            WeightCacheArgs(stack=stack, region=config.region, partition=cluster.partition, account_id=cluster.account_id, cache=config.weight_cache),
            opts=on_aws,
        ).bucket_name
    pools = [
        GpuNodePool(
            f"{name}-{pool.name}",
            GpuNodePoolArgs(
                cluster_name=name,
                eks_cluster_name=cluster.eks.name,
                node_role_arn=cluster.node_role.arn,
                subnet_ids=gpu_subnets(network, preflight, pool.name),
                pool=pool,
                node_groups=[p.group for p in deployment.placement.groups if p.group.pool == pool.name],
                prerequisites=cluster.node_prerequisites,
                instance_tags=tags,
                node_repair=config.cluster.node_repair,
            ),
            opts=on_aws,
        )
        for pool in config.gpu_pools
    ]

    k8s_provider = provider(f"{name}-k8s", cluster.eks, config.region, config.aws, opts=pulumi.ResourceOptions(depends_on=[cluster.system_node_group]))
    on_cluster = pulumi.ResourceOptions(providers=[aws_provider, k8s_provider], depends_on=[cluster.system_node_group])
    gpu_device_plugin = None
    if any(ami_family(pool.ami_type) == "al2023" for pool in config.gpu_pools):  # Bottlerocket ships its own
        gpu_device_plugin = device_plugin(f"{name}-nvidia-device-plugin", opts=on_cluster)
    NodeAutoscaler(
        f"{name}-cluster-autoscaler",
        NodeAutoscalerArgs(
            cluster_name=name,
            region=config.region,
            kubernetes_version=config.cluster.kubernetes_version,
            partition=cluster.partition,
            account_id=cluster.account_id,
            oidc_provider=cluster.oidc_provider,
            images=images,
        ),
        opts=on_cluster,
    )
    default_storage_class(f"{name}-gp3", opts=on_cluster)
    monitoring = None
    if config.monitoring.enabled:
        monitoring = MonitoringStack(f"{name}-monitoring", monitoring_args(deployment, secrets), opts=on_cluster)
    pod_autoscaler = keda(f"{name}-keda", opts=on_cluster, images=images) if any(m.autoscaling.enabled for m in config.models) else None
    if config.models or config.embeddings.enabled or config.fallback.enabled:
        # Monitoring and KEDA for their CRDs (ServiceMonitor, ScaledObject); the GPU node groups and the
        # device plugin so GPU pods are schedulable when Pulumi starts waiting for them.
        gpu_node_groups = [group for p in pools for group in p.node_groups.values()]
        prerequisites = [r for r in (monitoring, pod_autoscaler, gpu_device_plugin, *gpu_node_groups) if r]
        Serving(
            f"{name}-serving",
            ServingArgs(
                models=config.models,
                secrets=secrets,
                partition=cluster.partition,
                oidc_provider=cluster.oidc_provider,
                embeddings=config.embeddings,
                embeddings_gpu=config.instance(config.pool(config.embeddings.pool).instance_types[0]).gpu if config.embeddings.pool else None,
                monitored=config.monitoring.enabled,
                fallback=config.fallback,
                placement=deployment.placement,
                prerequisites=prerequisites,
                cold_start=dict(deployment.cold_start),
                startup_minutes={m.name: deployment.startup_minutes(m.name) for m in config.models},
                weights_gib={s.model: s.fit.weights_gib for s in deployment.sizing},
                region=config.region,
                images=images,
                weight_cache=config.weight_cache,
                weights_bucket=weights_bucket,
                compile_cache={m.name: f"{RAID0_MOUNT}/vllm-cache/{m.name}" for m in config.models if config.pool(m.pool).disks.keeps_compile_cache},
                benchmarks={
                    m.name: benchmark_values(m, config.economics.workload.prompt_tokens, config.economics.workload.output_tokens, s.estimate.batch)
                    for m, s in zip(config.models, deployment.sizing, strict=True)
                },
            ),
            opts=on_cluster,
        )

    pulumi.export("cluster_name", cluster.eks.name)
    pulumi.export("cluster_endpoint", cluster.eks.endpoint)
    pulumi.export("kubeconfig", pulumi.Output.secret(kubeconfig(cluster.eks, config.region, config.aws)))
    pulumi.export("oidc_provider_arn", cluster.oidc_provider.arn)
    pulumi.export("vpc_id", network.vpc_id)
    pulumi.export(
        "gpu_node_groups",
        {pool.name: {capacity: group.node_group_name for capacity, group in p.node_groups.items()} for pool, p in zip(config.gpu_pools, pools, strict=True)},
    )
    return preflight


def monitoring_args(deployment: Deployment, secrets: Secrets = Secrets()) -> MonitoringArgs:
    """Node prices and configured cost per pool, and the API price to break even with, for the rules."""
    pools = [PoolPrice(p.pool, p.on_demand_usd_hour, p.spot_usd_hour, round(p.hourly_usd, 4)) for p in deployment.pools]
    return MonitoringArgs(
        monitoring=deployment.config.monitoring,
        pools=pools,
        serving_namespace=SERVING_NAMESPACE,
        break_even_usd_per_million=deployment.break_even_usd_per_million_tokens,
        model_floors={m.name: m.replicas.baseline for m in deployment.config.models},
        secrets=secrets,
    )


def run(as_of: date, mode: Mode = Mode.DEPLOY) -> tuple[Deployment, Preflight]:
    """Entry point under `pulumi up` / `pulumi preview` (Mode.DEPLOY) and of the offline plan
    (Mode.PLAN), on the plan's date `as_of`: validate, derive the deployment model, pre-flight, then build.
    Every warning the offline plan prints is logged to the engine, so `pulumi preview` and `up` show it too."""
    deployment = derive(pulumi.get_stack(), load(as_of, mode), as_of, secret_keys_set())
    preflight = build(deployment, load_secrets(), mode)
    for warning in (*deployment.warnings, *preflight.warnings):
        pulumi.log.warn(warning)
    return deployment, preflight
