"""The Pulumi program: validated stack config in, the resource graph out.

Reads like a parts list: network, cluster, GPU pools, then the cluster services that make GPU
pools usable (device plugin, node autoscaler, storage). Every AWS resource uses one explicit
AWS provider for the configured region; every Kubernetes resource uses the provider built from
the cluster's outputs.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra import PROJECT
from infra.aws.cluster import Cluster, ClusterArgs
from infra.aws.gpu_pools import GpuNodePool, GpuNodePoolArgs
from infra.aws.network import Network, NetworkArgs
from infra.cluster_services.device_plugin import device_plugin
from infra.cluster_services.keda import keda
from infra.cluster_services.kube import kubeconfig, provider
from infra.cluster_services.monitoring import MonitoringArgs, MonitoringStack, PoolPrice
from infra.cluster_services.node_autoscaler import NodeAutoscaler, NodeAutoscalerArgs
from infra.cluster_services.storage import default_storage_class
from infra.config.load import Secrets, load, load_secrets
from infra.deployment import Deployment, derive
from infra.names import SERVING_NAMESPACE
from infra.serving.workloads import Serving, ServingArgs


def build(deployment: Deployment, secrets: Secrets = Secrets()) -> None:
    config, stack = deployment.config, deployment.stack
    name = f"{PROJECT}-{stack}"
    aws_provider = aws.Provider(
        f"{name}-aws",
        region=config.region,
        # Sorted, so the provider's inputs do not change when only the stack file's key order does.
        default_tags={"tags": dict(sorted({"project": PROJECT, "stack": stack, "managed-by": "pulumi", **config.tags}.items()))},
    )
    on_aws = pulumi.ResourceOptions(providers=[aws_provider])

    network = Network(name, NetworkArgs(cluster_name=name, vpc=config.cluster.network.vpc), opts=on_aws)
    cluster = Cluster(
        name,
        ClusterArgs(cluster_name=name, config=config.cluster, system_nodes=config.system_nodes, private_subnet_ids=network.private_subnet_ids),
        opts=on_aws,
    )
    pools = [
        GpuNodePool(
            f"{name}-{pool.name}",
            GpuNodePoolArgs(
                cluster_name=name,
                eks_cluster_name=cluster.eks.name,
                node_role_arn=cluster.node_role.arn,
                subnet_ids=network.private_subnet_ids,
                pool=pool,
                prerequisites=cluster.node_prerequisites,
            ),
            opts=on_aws,
        )
        for pool in config.gpu_pools
    ]

    k8s_provider = provider(f"{name}-k8s", cluster.eks, config.region, opts=pulumi.ResourceOptions(depends_on=[cluster.system_node_group]))
    on_cluster = pulumi.ResourceOptions(providers=[aws_provider, k8s_provider], depends_on=[cluster.system_node_group])
    device_plugin(f"{name}-nvidia-device-plugin", opts=on_cluster)
    NodeAutoscaler(
        f"{name}-cluster-autoscaler",
        NodeAutoscalerArgs(
            cluster_name=name,
            region=config.region,
            kubernetes_version=config.cluster.kubernetes_version,
            partition=cluster.partition,
            account_id=cluster.account_id,
            oidc_provider=cluster.oidc_provider,
        ),
        opts=on_cluster,
    )
    default_storage_class(f"{name}-gp3", opts=on_cluster)
    monitoring = None
    if config.monitoring.enabled:
        monitoring = MonitoringStack(f"{name}-monitoring", monitoring_args(deployment, secrets), opts=on_cluster)
    pod_autoscaler = keda(f"{name}-keda", opts=on_cluster) if any(m.autoscaling.enabled for m in config.models) else None
    if config.models or config.embeddings.enabled or config.fallback.enabled:
        prerequisites = [r for r in (monitoring, pod_autoscaler) if r]  # their CRDs: ServiceMonitor, ScaledObject
        after_monitoring = pulumi.ResourceOptions(depends_on=prerequisites) if prerequisites else None
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
            ),
            opts=pulumi.ResourceOptions.merge(on_cluster, after_monitoring),
        )

    pulumi.export("cluster_name", cluster.eks.name)
    pulumi.export("cluster_endpoint", cluster.eks.endpoint)
    pulumi.export("kubeconfig", pulumi.Output.secret(kubeconfig(cluster.eks, config.region)))
    pulumi.export("oidc_provider_arn", cluster.oidc_provider.arn)
    pulumi.export("vpc_id", network.vpc_id)
    pulumi.export(
        "gpu_node_groups",
        {pool.name: {capacity: group.node_group_name for capacity, group in p.node_groups.items()} for pool, p in zip(config.gpu_pools, pools)},
    )


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


def run() -> Deployment:
    """Entry point under `pulumi up` / `pulumi preview`: validate, derive the deployment model, then build."""
    deployment = derive(pulumi.get_stack(), load())
    build(deployment, load_secrets())
    return deployment
