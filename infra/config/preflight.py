"""Pre-flight rules: what must hold in the AWS account before `pulumi up`, from the stack config and a
few AWS facts (zones, instance type offerings, the caller). Pure: the lookups are in
infra/aws/preflight.py, and the offline plan answers them from its mocks.

Two modes. The offline plan (Mode.PLAN) reports placeholders (documentation CIDRs, example account
IDs, the caller listed as an admin) as warnings, so the example stacks still plan; a real `pulumi
preview`/`up` (Mode.DEPLOY) refuses them before anything is created, because they cannot work:
- an RFC 5737 documentation range or a private range in `endpoint.publicCidrs` locks every real
  client (and the runner itself) out of a public API endpoint;
- an access entry for AWS's example account 123456789012 (or 111122223333) fails;
- an access entry for the identity running `up` duplicates the one EKS creates for the cluster
  creator (bootstrapClusterCreatorAdminPermissions) and fails with ResourceInUseException.

Zones are chosen by zone ID (names are shuffled per account), never one EKS refuses for a cluster
(UnsupportedAvailabilityZoneException); each GPU node group then spans only the VPC's zones that
offer its instance types, and a pool whose on-demand type none of them offers is refused.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from infra.config.cluster import NewVpc
from infra.config.problems import Problem
from infra.config.stack import StackConfig


class Mode(Enum):
    PLAN = "plan"  # the offline plan: placeholders are warnings
    DEPLOY = "deploy"  # pulumi preview / up: placeholders are refused


# RFC 5737 section 3: TEST-NET-1, -2 and -3, "for use in documentation".
DOCUMENTATION_NETWORKS = tuple(ipaddress.IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
# The account IDs AWS's documentation uses in example ARNs.
EXAMPLE_ACCOUNT_IDS = frozenset({"123456789012", "111122223333"})
# EKS user guide, network requirements, "Disallowed Availability Zone IDs" (awsdocs/amazon-eks-user-guide
# latest/ug/networking/network-reqs.adoc): a cluster subnet there fails with UnsupportedAvailabilityZoneException.
EKS_UNSUPPORTED_ZONE_IDS = frozenset({"use1-az3", "usw1-az2", "cac1-az3"})
CAPACITIES = ("on-demand", "spot")


@dataclass(frozen=True)
class Zone:
    name: str  # e.g. us-east-1a: a per-account alias
    zone_id: str  # e.g. use1-az4: the same physical zone in every account


@dataclass(frozen=True)
class AwsFacts:
    """What the AWS API says about the account and region."""

    caller_arn: str
    zones: tuple[Zone, ...]  # available, in the API's order
    offerings: Mapping[str, frozenset[str]]  # instance type -> zone IDs offering it


@dataclass(frozen=True)
class Preflight:
    """The verdict: zones to use, per pool and capacity the zone IDs its node group spans, what to
    refuse (problems) and what to say (warnings)."""

    zones: tuple[Zone, ...]  # empty for an existing VPC: its subnets decide
    pool_zones: Mapping[str, Mapping[str, tuple[str, ...]]]
    problems: tuple[Problem, ...]
    warnings: tuple[str, ...]


def placeholder_findings(config: StackConfig) -> list[Problem]:
    """Documentation or non-public CIDRs for a public endpoint, and example account IDs in admins."""
    findings = []
    endpoint = config.cluster.endpoint
    for i, cidr in enumerate(endpoint.public_cidrs if endpoint.public else []):
        network = ipaddress.IPv4Network(cidr)
        where = ("cluster", "endpoint", "publicCidrs", i)
        if any(network.overlaps(doc) for doc in DOCUMENTATION_NETWORKS):
            findings.append(Problem(where, "an RFC 5737 documentation range: no real client has such an address; put your VPN/CI egress ranges here", cidr))
        elif not network.is_global:
            findings.append(Problem(where, "not a public (globally routable) range: the public endpoint sees clients by their public addresses", cidr))
    for i, arn in enumerate(config.cluster.admins):
        if arn.split(":")[4] in EXAMPLE_ACCOUNT_IDS:
            findings.append(Problem(("cluster", "admins", i), "uses AWS's example account ID: its access entry would fail; use your own principals", arn))
    return findings


def principal_of(arn: str) -> str:
    """The IAM principal behind a caller ARN: an STS assumed-role session
    (arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION) is role NAME; users and roles are themselves."""
    match = re.fullmatch(r"arn:(aws[\w-]*):sts::(\d{12}):assumed-role/([^/]+)/.+", arn)
    return f"arn:{match[1]}:iam::{match[2]}:role/{match[3]}" if match else arn


def _same_principal(admin: str, caller: str) -> bool:
    # An assumed-role ARN drops the role's path: compare partition, account and role name.
    def key(arn: str) -> tuple[str, str, str]:
        parts = arn.split(":")
        kind, _, rest = parts[5].partition("/")
        return parts[1], parts[4], f"{kind}/{rest.rsplit('/', 1)[-1]}"

    return key(admin) == key(principal_of(caller))


def caller_findings(config: StackConfig, caller_arn: str) -> list[Problem]:
    return [
        Problem(
            ("cluster", "admins", i),
            "is the identity running `pulumi up`, which EKS makes cluster admin when it creates the cluster; a second access entry for it fails. Remove it from admins",
            arn,
        )
        for i, arn in enumerate(config.cluster.admins)
        if _same_principal(arn, caller_arn)
    ]


def _usable(facts: AwsFacts) -> list[Zone]:
    return [z for z in facts.zones if z.zone_id not in EKS_UNSUPPORTED_ZONE_IDS]


def choose_zones(config: StackConfig, facts: AwsFacts) -> tuple[tuple[Zone, ...], list[Problem]]:
    """The new VPC's zones: the configured names, or the first `zoneCount` zones EKS supports, in the
    API's order. Not ranked by the pools' instance types on purpose: changing a pool's type must
    not move the VPC (subnets, and the cluster on them, would be replaced); pick `zones` instead."""
    vpc = config.cluster.network.vpc
    if not isinstance(vpc, NewVpc):
        return (), []
    by_name = {z.name: z for z in facts.zones}
    if vpc.zones:
        problems, chosen = [], []
        for i, name in enumerate(vpc.zones):
            where = ("cluster", "network", "newVpc", "zones", i)
            zone = by_name.get(name)
            if zone is None:
                problems.append(Problem(where, f"not an available zone of {config.region}; available: {', '.join(by_name)}", name))
            elif zone.zone_id in EKS_UNSUPPORTED_ZONE_IDS:
                problems.append(Problem(where, f"is zone ID {zone.zone_id} in this account, where EKS cannot place a cluster; pick another", name))
            else:
                chosen.append(zone)
        return tuple(chosen), problems
    usable = _usable(facts)
    if len(usable) < vpc.zone_count:
        ids = ", ".join(z.zone_id for z in usable)
        return (), [Problem(("cluster", "network", "newVpc", "zoneCount"), f"{config.region} has {len(usable)} zones EKS supports ({ids})", vpc.zone_count)]
    return tuple(usable[: vpc.zone_count]), []


def pool_zones(config: StackConfig, zones: tuple[Zone, ...], facts: AwsFacts) -> tuple[dict[str, dict[str, tuple[str, ...]]], list[Problem]]:
    """Per pool: the chosen zones offering its on-demand type (on-demand group) and any of its types
    (spot group). A pool whose on-demand type no chosen zone offers is a problem."""
    result, problems = {}, []
    for i, pool in enumerate(config.gpu_pools):
        if not zones:  # existing VPC: the subnets decide
            result[pool.name] = {c: () for c in CAPACITIES}
            continue
        offered = {t: facts.offerings.get(t, frozenset()) for t in pool.instance_types}
        on_demand = tuple(z.zone_id for z in zones if z.zone_id in offered[pool.instance_types[0]])
        spot = tuple(z.zone_id for z in zones if any(z.zone_id in ids for ids in offered.values()))
        if not on_demand:
            problems.append(
                Problem(
                    ("gpuPools", i, "instanceTypes", 0),
                    f"not offered in any of the VPC's zones ({', '.join(z.zone_id for z in zones)}) in {config.region}; pick zones that offer it (newVpc.zones) or another type",
                    pool.instance_types[0],
                )
            )
        result[pool.name] = {"on-demand": on_demand, "spot": spot}
    return result, problems


def preflight(config: StackConfig, facts: AwsFacts, mode: Mode) -> Preflight:
    """Everything the AWS facts say about the stack: placeholders and the caller are warnings under
    the offline plan and problems under `pulumi up`; impossible zones are problems in both."""
    zones, zone_problems = choose_zones(config, facts)
    placement, offering_problems = pool_zones(config, zones, facts)
    refusable = placeholder_findings(config) + caller_findings(config, facts.caller_arn)
    problems = zone_problems + offering_problems + (refusable if mode is Mode.DEPLOY else [])
    warnings = [f"{p} (pulumi up refuses this)" for p in refusable] if mode is Mode.PLAN else []
    return Preflight(zones=zones, pool_zones=placement, problems=tuple(problems), warnings=tuple(warnings))
