"""The AWS lookups pre-flight needs, and the verdict, before the program registers any cloud resource.

Synchronous invokes through the stack's AWS provider (so the same region and credentials):
the caller's identity, the region's zones with their IDs, which zones offer the pools' instance
types and, under `pulumi up`, the account's EC2 vCPU quotas for the pools (Service Quotas). The
rules are in infra/config/preflight.py and infra/capacity/quotas.py; this module asks AWS and
raises ConfigError (one line per problem) when the stack cannot be created as configured.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.capacity.quotas import quota_shortfalls
from infra.config.preflight import AwsFacts, Mode, Preflight, Zone, preflight
from infra.config.problems import ConfigError, Problem
from infra.deployment import Deployment


def lookup_facts(deployment: Deployment, provider: aws.Provider) -> AwsFacts:
    config = deployment.config
    invoke = pulumi.InvokeOptions(provider=provider)
    caller = aws.get_caller_identity(opts=invoke)
    zones = aws.get_availability_zones(state="available", filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}], opts=invoke)
    instance_types = sorted({t for pool in config.gpu_pools for t in pool.instance_types})
    # Zone IDs, not names: the kit chooses zones by ID (names are shuffled per account).
    offerings = aws.ec2.get_instance_type_offerings(
        filters=[{"name": "instance-type", "values": instance_types}], location_type="availability-zone-id", opts=invoke
    )
    offered: dict[str, set[str]] = {}
    for instance_type, location in zip(offerings.instance_types, offerings.locations, strict=True):
        offered.setdefault(instance_type, set()).add(location)
    return AwsFacts(
        caller_arn=caller.arn,
        zones=tuple(Zone(name, zone_id) for name, zone_id in zip(zones.names, zones.zone_ids, strict=True)),
        offerings={t: frozenset(ids) for t, ids in offered.items()},
    )


def granted_quotas(deployment: Deployment, provider: aws.Provider) -> dict[str, float]:
    """The account's current value of each EC2 quota the stack uses (Service Quotas; vCPUs)."""
    invoke = pulumi.InvokeOptions(provider=provider)
    return {
        need.code: aws.servicequotas.get_service_quota(service_code="ec2", quota_code=need.code, opts=invoke).value
        for need in deployment.quotas
        if need.vcpus
    }


def check(deployment: Deployment, provider: aws.Provider, mode: Mode) -> Preflight:
    """Pre-flight the stack; raise ConfigError when it cannot be created (under `up`: also placeholders,
    the caller as an admin, and EC2 quotas below the pools' maximums)."""
    config = deployment.config
    verdict = preflight(config, lookup_facts(deployment, provider), mode)
    problems = list(verdict.problems)
    if mode is Mode.DEPLOY:
        shortfalls = quota_shortfalls(deployment.quotas, granted_quotas(deployment, provider), config.region)
        problems += [Problem(("gpuPools",), message, f"{need.vcpus} vCPUs") for need, message in shortfalls]
    if problems:
        raise ConfigError(deployment.stack, problems)
    return verdict
