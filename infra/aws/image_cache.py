"""Images through ECR: pull-through cache rules for the public registries the kit's images come from,
and the one function that turns an upstream image repository into its cached twin.

Why: nodes in private subnets reach Docker Hub through one to three NAT addresses, and Docker Hub
allows anonymous clients 10 pulls per hour per address; a spot wave of GPU nodes pulling a 12 GB
vLLM image blows through that. Through the cache, each image is fetched from upstream once (with
credentials where the registry requires them) and every node pulls it from ECR in-region; ECR
layers come from S3, so with the S3 gateway endpoint they bypass the NAT too.

Upstreams (ECR User Guide, "Sync an upstream registry with an Amazon ECR private registry"):
Docker Hub (registry-1.docker.io) and GitHub Container Registry (ghcr.io) need a Secrets Manager
secret named `ecr-pullthroughcache/...` holding {"username", "accessToken"}; registry.k8s.io, Quay
and ECR Public need none. nvcr.io (NVIDIA's device plugin and DCGM exporter) is not supported by
ECR pull-through cache; those images keep coming from nvcr.io.

Nodes pull with the node role, which the managed policy AmazonEC2ContainerRegistryReadOnly does
not allow to create the cached repository or import an image on first pull: the node role gets
ecr:CreateRepository and ecr:BatchImportUpstreamImage on the cache's prefixes only (ECR User Guide,
"IAM permissions required to sync an upstream registry").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.iam import policy_document
from infra.config.delivery import ImageCache


@dataclass(frozen=True)
class Upstream:
    prefix: str  # the ECR repository prefix of the rule
    url: str  # the rule's upstream_registry_url
    hosts: tuple[str, ...]  # registry hosts that image references name


UPSTREAMS = (
    Upstream("docker-hub", "registry-1.docker.io", ("docker.io", "registry-1.docker.io", "index.docker.io")),
    Upstream("ghcr", "ghcr.io", ("ghcr.io",)),
    Upstream("k8s", "registry.k8s.io", ("registry.k8s.io",)),
    Upstream("quay", "quay.io", ("quay.io",)),
    Upstream("ecr-public", "public.ecr.aws", ("public.ecr.aws",)),
)
CREDENTIALED = {"docker-hub", "ghcr"}


def split_registry(repository: str) -> tuple[str, str]:
    """(registry host, path) of an image repository; Docker Hub when the first part is not a host."""
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "docker.io", repository if rest else f"library/{repository}"  # Docker Hub official images live under library/


def cached_repository(repository: str, registry: str, prefixes: frozenset[str]) -> str:
    """The repository to pull `repository` from: `<registry>/<prefix>/<path>` when a rule covers its
    upstream (ECR User Guide: Docker Hub official images keep their `library/`), else unchanged."""
    host, path = split_registry(repository)
    for upstream in UPSTREAMS:
        if host in upstream.hosts and upstream.prefix in prefixes:
            return f"{registry}/{upstream.prefix}/{path}"
    return repository


@dataclass(frozen=True)
class ImageMirror:
    """What charts need to pull through the cache: the ECR registry host and the rules that exist."""

    registry: pulumi.Input[str] | None = None  # <account>.dkr.ecr.<region>.amazonaws.com; None: no cache
    prefixes: frozenset[str] = frozenset()

    def repository(self, upstream: str) -> pulumi.Input[str]:
        if self.registry is None:
            return upstream
        return pulumi.Output.from_input(self.registry).apply(lambda registry: cached_repository(upstream, registry, self.prefixes))

    def registry_for(self, host: str) -> pulumi.Input[str] | None:
        """For charts that take a registry per image: `<registry>/<prefix>` of `host`'s rule; None without one."""
        upstream = next((u for u in UPSTREAMS if host in u.hosts), None)
        if self.registry is None or upstream is None or upstream.prefix not in self.prefixes:
            return None
        return pulumi.Output.concat(self.registry, "/", upstream.prefix)


def rule_prefixes(cache: ImageCache) -> list[str]:
    """The rules a stack gets: every unauthenticated upstream, and each credentialed one it has a user for."""
    users = {"docker-hub": cache.docker_hub_username, "ghcr": cache.github_username}
    return [u.prefix for u in UPSTREAMS if u.prefix not in CREDENTIALED or users[u.prefix]]


def node_pull_policy(partition: str, region: str, account_id: str, prefixes: list[str]) -> str:
    return policy_document(
        {
            "Sid": "PullThroughCacheFirstPull",
            "Effect": "Allow",
            "Action": ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"],
            "Resource": [f"arn:{partition}:ecr:{region}:{account_id}:repository/{prefix}/*" for prefix in prefixes],
        }
    )


@dataclass(frozen=True)
class PullThroughCacheArgs:
    cluster_name: str
    region: str
    partition: pulumi.Input[str]
    account_id: pulumi.Input[str]
    node_role: aws.iam.Role
    cache: ImageCache
    credentials: Mapping[str, pulumi.Output[str] | None]  # rule prefix -> access token (a Pulumi secret)


class PullThroughCache(pulumi.ComponentResource):
    """ECR pull-through cache rules, their upstream credentials, and the node role's first-pull rights."""

    mirror: ImageMirror

    def __init__(self, name: str, args: PullThroughCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-serving:images:PullThroughCache", name, None, opts)
        prefixes = rule_prefixes(args.cache)
        users = {"docker-hub": args.cache.docker_hub_username, "ghcr": args.cache.github_username}
        for upstream in (u for u in UPSTREAMS if u.prefix in prefixes):
            credential_arn = None
            if upstream.prefix in CREDENTIALED:
                credential_arn = self._credential(name, args, upstream.prefix, users[upstream.prefix], args.credentials.get(upstream.prefix))
            aws.ecr.PullThroughCacheRule(
                f"{name}-{upstream.prefix}",
                ecr_repository_prefix=upstream.prefix,
                upstream_registry_url=upstream.url,
                credential_arn=credential_arn,
                opts=pulumi.ResourceOptions(parent=self),
            )
        aws.iam.RolePolicy(
            f"{name}-node-first-pull",
            role=args.node_role.id,
            policy=pulumi.Output.all(args.partition, args.account_id).apply(lambda a: node_pull_policy(a[0], args.region, a[1], prefixes)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        registry = pulumi.Output.concat(args.account_id, ".dkr.ecr.", args.region, ".amazonaws.com")
        self.mirror = ImageMirror(registry=registry, prefixes=frozenset(prefixes))
        self.register_outputs({"registry": registry, "rules": prefixes})

    def _credential(self, name: str, args: PullThroughCacheArgs, prefix: str, username: str, token: pulumi.Output[str] | None) -> pulumi.Output[str]:
        """The Secrets Manager secret the rule reads (its name must start with ecr-pullthroughcache/).
        Without the token in stack config, the secret is created empty and the plan warns."""
        secret = aws.secretsmanager.Secret(
            f"{name}-{prefix}",
            name=f"ecr-pullthroughcache/{args.cluster_name}-{prefix}",
            description=f"Upstream credentials of the ECR pull-through cache rule {prefix}/ (username and access token)",
            recovery_window_in_days=7,
            opts=pulumi.ResourceOptions(parent=self),
        )
        if token is not None:
            aws.secretsmanager.SecretVersion(
                f"{name}-{prefix}",
                secret_id=secret.id,
                secret_string=pulumi.Output.secret(token).apply(lambda value: json.dumps({"username": username, "accessToken": value})),
                opts=pulumi.ResourceOptions(parent=self),
            )
        return secret.arn
