"""The Kubernetes provider every Kubernetes resource uses, built from the cluster's outputs,
and the one way the program installs a pinned third-party Helm chart."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.catalog import helm_charts


def kubeconfig(cluster: aws.eks.Cluster, region: str) -> pulumi.Output[str]:
    """A kubeconfig that authenticates with `aws eks get-token` as whoever runs Pulumi."""

    def render(args: list[Any]) -> str:
        name, endpoint, ca_data = args
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
                "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
                "current-context": name,
                "users": [
                    {
                        "name": name,
                        "user": {
                            "exec": {
                                "apiVersion": "client.authentication.k8s.io/v1beta1",
                                "command": "aws",
                                "args": ["eks", "get-token", "--cluster-name", name, "--region", region, "--output", "json"],
                            }
                        },
                    }
                ],
            }
        )

    return pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data).apply(render)


def provider(name: str, cluster: aws.eks.Cluster, region: str, opts: pulumi.ResourceOptions) -> k8s.Provider:
    return k8s.Provider(name, kubeconfig=kubeconfig(cluster, region), opts=opts)


def third_party_chart(
    name: str, catalog_key: str, *, namespace: str, values: dict[str, Any], opts: pulumi.ResourceOptions
) -> k8s.helm.v4.Chart:
    """A chart from its upstream repository at the version pinned in infra/catalog/helm_charts.yaml."""
    ref = helm_charts()[catalog_key]
    return k8s.helm.v4.Chart(
        name,
        name=catalog_key,  # the release name: stable Service names (e.g. kube-prometheus-stack-prometheus)
        chart=ref.chart,
        version=ref.version,
        repository_opts={"repo": ref.repo},
        namespace=namespace,
        values=values,
        opts=opts,
    )
