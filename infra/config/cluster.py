"""The `cluster`, `cluster.network` and `systemNodes` sections: the VPC, the EKS control plane and
the CPU nodes for cluster services."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, field_validator

from infra.config.base import (
    Cidr,
    ConfigModel,
    Ec2InstanceType,
    IamPrincipalArn,
    IamRoleArn,
    KubernetesVersion,
    at_least,
    config_error,
)
from infra.config.limits import GP3_MAX_GIB, NODES_PER_NODE_GROUP, PRIVATE_RANGES, PUBLIC_CIDR_PREFIX_MIN


class NewVpc(ConfigModel):
    """A VPC created by the kit: private subnets for nodes, public subnets for load balancers and NAT."""

    cidr: Cidr = Field("10.0.0.0/16", description="The VPC's IPv4 CIDR block (a /16 to /20).", examples=["10.0.0.0/16"])
    zone_count: int = Field(3, ge=2, le=6, description="How many availability zones to span (EKS needs at least 2).", examples=[3])
    zones: list[str] | None = Field(
        None,
        min_length=2,
        description="Explicit zone names instead of the first `zoneCount` available ones (GPU capacity differs by zone).",
        examples=[["us-east-1a", "us-east-1b", "us-east-1c"]],
    )
    nat_gateways: Literal["single", "perZone"] = Field(
        "perZone", description="One NAT gateway for all zones (cheaper) or one per zone (survives a zone outage).", examples=["single"]
    )

    @field_validator("cidr")
    @classmethod
    def _prefix_leaves_room_for_subnets(cls, value: str) -> str:
        network = ipaddress.IPv4Network(value)
        if not 16 <= network.prefixlen <= 20:
            raise config_error("cidr_size", "the VPC needs a /16 to /20 block so every zone gets a private and a public subnet of /24 or larger")
        if not any(network.subnet_of(ipaddress.IPv4Network(private)) for private in PRIVATE_RANGES):
            raise config_error("cidr_not_private", "a VPC block must be private address space: inside {ranges}", ranges=", ".join(PRIVATE_RANGES))
        return value

    @field_validator("zones")
    @classmethod
    def _distinct_zones(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise config_error("duplicates", "zones are listed twice; each zone gets its own subnets, so list each once")
        if value is not None and len(value) > 6:
            raise config_error("too_many_zones", "at most 6 zones (the kit splits the VPC block into a private and a public subnet per zone)")
        return value

    @property
    def zone_total(self) -> int:
        return len(self.zones) if self.zones else self.zone_count


class ExistingVpc(ConfigModel):
    """A VPC you already have. Its subnets must carry the EKS and load-balancer tags themselves."""

    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]{8,17}$", description="The VPC id.", examples=["vpc-0a1b2c3d4e5f67890"])
    private_subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(
        min_length=2, description="Private subnets (at least two zones) for the control plane and nodes.", examples=[["subnet-0a1b2c3d", "subnet-1a2b3c4d"]]
    )
    public_subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(
        [], description="Public subnets for internet-facing load balancers (optional).", examples=[["subnet-2a3b4c5d", "subnet-3a4b5c6d"]]
    )


class NetworkConfig(ConfigModel):
    """Exactly one of `newVpc` and `existingVpc`; a new VPC with defaults when neither is given."""

    new_vpc: NewVpc | None = Field(None, description="Create a VPC.", examples=[{"cidr": "10.0.0.0/16", "zoneCount": 3}])
    existing_vpc: ExistingVpc | None = Field(None, description="Use an existing VPC.", examples=[{"vpcId": "vpc-0a1b2c3d4e5f67890"}])

    @property
    def vpc(self) -> NewVpc | ExistingVpc:
        return self.existing_vpc or self.new_vpc or NewVpc()


class EndpointAccess(ConfigModel):
    """Who can reach the Kubernetes API server."""

    private: bool = Field(True, description="Reachable from inside the VPC.", examples=[True])
    public: bool = Field(True, description="Reachable from the internet, from `publicCidrs` only.", examples=[True])
    public_cidrs: list[Cidr] = Field(
        [], description="CIDR blocks allowed to reach a public endpoint (required when `public` is true).", examples=[["203.0.113.0/24"]]
    )

    @field_validator("public_cidrs")
    @classmethod
    def _not_open_to_the_internet(cls, value: list[str]) -> list[str]:
        for cidr in value:
            if ipaddress.IPv4Network(cidr).prefixlen < PUBLIC_CIDR_PREFIX_MIN:
                raise config_error(
                    "cidr_open",
                    "{cidr} opens the API server to (a large part of) the internet; list your office, VPN or CI egress ranges, each /{minimum} or narrower (or set public: false)",
                    cidr=cidr,
                    minimum=PUBLIC_CIDR_PREFIX_MIN,
                )
        if len(set(value)) != len(value):
            raise config_error("duplicates", "a CIDR block is listed twice")
        return value


class ClusterConfig(ConfigModel):
    """The EKS cluster."""

    kubernetes_version: KubernetesVersion = Field(
        "1.35",  # only for a model built without parse(): parse() fills the dated default below
        description="EKS Kubernetes version (quoted); see infra/catalog/kubernetes_versions.yaml for its support dates. Unset: the newest the catalog has in EKS standard support on the plan date (`--as-of`; `pulumi up`: today), so pin it once the cluster exists.",
        examples=["1.35"],
        json_schema_extra={"dated_default": "newest in standard support on the plan date"},
    )
    support_type: Literal["STANDARD", "EXTENDED"] = Field(
        "STANDARD",
        description="EKS upgrade policy: STANDARD upgrades the cluster when its version leaves standard support; EXTENDED keeps it, billed at the extended-support rate.",
        examples=["STANDARD"],
    )
    node_repair: bool = Field(
        True,
        description="EKS node auto repair on every node group, with the EKS node monitoring agent add-on (without the agent, repair only sees kubelet readiness, not GPU faults).",
        examples=[True],
    )
    network: NetworkConfig = Field(NetworkConfig(), description="Where the cluster lives.", examples=[{"newVpc": {"zoneCount": 3}}])
    endpoint: EndpointAccess = Field(EndpointAccess(public=False), description="API server endpoint access (default: private only; reach it from inside the VPC or a VPN).", examples=[{"private": True, "public": True, "publicCidrs": ["203.0.113.0/24"]}])
    admins: list[IamPrincipalArn] = Field(
        [],
        description="IAM roles or users given cluster-admin through EKS access entries (not the identity that runs `pulumi up`: it is admin already).",
        examples=[["arn:aws:iam::123456789012:role/platform-admin"]],
    )
    log_types: list[Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]] = Field(
        ["api", "audit", "authenticator"], description="Control-plane log types sent to CloudWatch.", examples=[["api", "audit"]]
    )


class AwsCredentials(ConfigModel):
    """Which AWS credentials `pulumi up` uses: the AWS provider and the Kubernetes provider's
    `aws eks get-token` both use them, so Kubernetes calls are signed by the same identity."""

    profile: str | None = Field(None, pattern=r"^[\w.@+-]{1,64}$", description="Named profile from ~/.aws/config (default: the ambient credential chain).", examples=["ml-platform"])
    role_arn: IamRoleArn | None = Field(None, description="A role to assume on top of those credentials (e.g. a deploy role in CI).", examples=["arn:aws:iam::111122223333:role/llm-serving-deployer"])


class SystemNodes(ConfigModel):
    """The CPU node group for cluster services (CoreDNS, autoscaler, monitoring)."""

    instance_types: list[Ec2InstanceType] = Field(["m7i.large"], min_length=1, description="EC2 instance types.", examples=[["m7i.large"]])
    min_nodes: int = Field(2, ge=1, description="Minimum nodes.", examples=[2])
    max_nodes: int = Field(4, ge=1, le=NODES_PER_NODE_GROUP, description="Maximum nodes (at least `minNodes`).", examples=[4])
    root_volume_gib: int = Field(50, ge=20, le=GP3_MAX_GIB, description="Root volume size in GiB.", examples=[50])

    @field_validator("max_nodes")
    @classmethod
    def _max_at_least_min(cls, value: int, info) -> int:
        return at_least(value, info, "min_nodes", this="maxNodes", other="minNodes")


