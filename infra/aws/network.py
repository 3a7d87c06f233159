"""Network: a VPC across N zones, or an existing one passed through.

A new VPC gets one private subnet per zone for nodes and pods (large: the VPC CNI gives every
pod a VPC address), one small public subnet per zone for NAT and internet-facing load
balancers, an internet gateway, and NAT (one, or one per zone). Subnets carry the tags EKS and
the AWS load balancer controller look for. Zones come from pre-flight (infra/config/preflight.py),
by zone ID.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.config.cluster import ExistingVpc, NewVpc
from infra.config.preflight import Zone


def plan_subnets(cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """Private and public subnet CIDRs for `zones` zones: privates take equal large blocks,
    publics share the last block (e.g. /16 over 3 zones: three /18 private, three /20 public)."""
    vpc = ipaddress.IPv4Network(cidr)
    blocks = list(vpc.subnets(prefixlen_diff=math.ceil(math.log2(zones + 1))))
    private = blocks[:zones]
    public = list(blocks[-1].subnets(prefixlen_diff=math.ceil(math.log2(zones))))[:zones]
    return [str(n) for n in private], [str(n) for n in public]


@dataclass(frozen=True)
class NetworkArgs:
    cluster_name: str
    vpc: NewVpc | ExistingVpc
    zones: Sequence[Zone] = ()  # a new VPC's zones (pre-flight's choice)
    # A gateway endpoint for S3 on the private route tables: weights streamed from the weight cache and
    # ECR image layers (served from S3) bypass the NAT gateways (free; no NAT bandwidth or data charge).
    s3_gateway_endpoint_region: str | None = None


class Network(pulumi.ComponentResource):
    """The VPC and subnets the cluster runs in."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids_by_zone: dict[str, pulumi.Output[str]]  # zone ID -> subnet; empty for an existing VPC

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-serving:network:Network", name, None, opts)
        if isinstance(args.vpc, ExistingVpc):
            self.vpc_id = pulumi.Output.from_input(args.vpc.vpc_id)
            self.private_subnet_ids = [pulumi.Output.from_input(s) for s in args.vpc.private_subnet_ids]
            self.public_subnet_ids = [pulumi.Output.from_input(s) for s in args.vpc.public_subnet_ids]
            self.private_subnet_ids_by_zone = {}
        else:
            self._s3_endpoint_region = args.s3_gateway_endpoint_region
            self._create_vpc(name, args.cluster_name, args.vpc, args.zones)
        self.register_outputs(
            {"vpc_id": self.vpc_id, "private_subnet_ids": self.private_subnet_ids, "public_subnet_ids": self.public_subnet_ids}
        )

    def _create_vpc(self, name: str, cluster_name: str, vpc: NewVpc, zones: Sequence[Zone]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        private_cidrs, public_cidrs = plan_subnets(vpc.cidr, len(zones))
        cluster_tag = {f"kubernetes.io/cluster/{cluster_name}": "shared"}

        main = aws.ec2.Vpc(
            f"{name}-vpc", cidr_block=vpc.cidr, enable_dns_hostnames=True, enable_dns_support=True, tags={"Name": name}, opts=child
        )
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=main.id, tags={"Name": name}, opts=child)
        public_routes = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=main.id, routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": gateway.id}], tags={"Name": f"{name}-public"}, opts=child
        )

        def subnet(kind: str, i: int, zone: Zone, cidr: str, role_tag: str, routes: aws.ec2.RouteTable) -> aws.ec2.Subnet:
            created = aws.ec2.Subnet(
                f"{name}-{kind}-{i}",
                vpc_id=main.id,
                cidr_block=cidr,
                availability_zone=zone.name,  # this account's name for zone.zone_id (from the same lookup)
                tags={"Name": f"{name}-{kind}-{i}", role_tag: "1", **cluster_tag},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-{kind}-{i}", subnet_id=created.id, route_table_id=routes.id, opts=child)
            return created

        public_subnets, nat_gateways = [], []
        for i, (zone, cidr) in enumerate(zip(zones, public_cidrs, strict=False)):
            public = subnet("public", i, zone, cidr, "kubernetes.io/role/elb", public_routes)
            public_subnets.append(public)
            if vpc.nat_gateways == "perZone" or i == 0:
                address = aws.ec2.Eip(f"{name}-nat-{i}", domain="vpc", tags={"Name": f"{name}-nat-{i}"}, opts=child)
                nat_gateways.append(
                    aws.ec2.NatGateway(
                        f"{name}-nat-{i}",
                        allocation_id=address.id,
                        subnet_id=public.id,
                        tags={"Name": f"{name}-nat-{i}"},
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
                    )
                )

        private_subnets, private_routes = [], []
        for i, (zone, cidr) in enumerate(zip(zones, private_cidrs, strict=False)):
            nat = nat_gateways[i] if vpc.nat_gateways == "perZone" else nat_gateways[0]
            routes = aws.ec2.RouteTable(
                f"{name}-private-{i}",
                vpc_id=main.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
                tags={"Name": f"{name}-private-{i}"},
                opts=child,
            )
            private_subnets.append(subnet("private", i, zone, cidr, "kubernetes.io/role/internal-elb", routes))
            private_routes.append(routes)
        if region := self._s3_endpoint_region:
            aws.ec2.VpcEndpoint(
                f"{name}-s3",
                vpc_id=main.id,
                service_name=f"com.amazonaws.{region}.s3",
                vpc_endpoint_type="Gateway",
                route_table_ids=[r.id for r in private_routes],
                tags={"Name": f"{name}-s3"},
                opts=child,
            )

        self.vpc_id = main.id
        self.private_subnet_ids = [s.id for s in private_subnets]
        self.private_subnet_ids_by_zone = {zone.zone_id: s.id for zone, s in zip(zones, private_subnets, strict=False)}
        self.public_subnet_ids = [s.id for s in public_subnets]
