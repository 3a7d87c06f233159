"""The Kubernetes provider every Kubernetes resource uses, built from the cluster's outputs,
and the one way the program installs a pinned third-party Helm chart."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.catalog import helm_charts
from infra.config.cluster import AwsCredentials


def get_token_args(cluster_name: str, region: str, credentials: AwsCredentials) -> list[str]:
    """`aws eks get-token` arguments signing as the AWS provider's identity: the same profile and
    role (AWS CLI reference, eks get-token: --role-arn "Assume this role for credentials when signing
    the token"). `--profile` rather than AWS_PROFILE, which ambient AWS_ACCESS_KEY_ID/SECRET would
    override (pulumi-eks generateKubeconfig does the same)."""
    args = ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"]
    if credentials.role_arn:
        args += ["--role-arn", credentials.role_arn]
    if credentials.profile:
        args += ["--profile", credentials.profile]
    return args


def kubeconfig(cluster: aws.eks.Cluster, region: str, credentials: AwsCredentials = AwsCredentials()) -> pulumi.Output[str]:
    """A kubeconfig that authenticates with `aws eks get-token` as the AWS provider does."""

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
                                "args": get_token_args(name, region, credentials),
                            }
                        },
                    }
                ],
            }
        )

    return pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data).apply(render)


def provider(name: str, cluster: aws.eks.Cluster, region: str, credentials: AwsCredentials, opts: pulumi.ResourceOptions) -> k8s.Provider:
    return k8s.Provider(name, kubeconfig=kubeconfig(cluster, region, credentials), opts=opts)


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
