"""The values the AWS APIs accept, read from botocore's own service models (no network).

Config validation and tests check instance types, AMI types, capacity types and taint
effects against these, so nothing reaches EKS that its API would refuse.
"""

from __future__ import annotations

from functools import cache

import botocore.session


@cache
def _service(name: str):
    return botocore.session.get_session().get_service_model(name)


@cache
def enum(service: str, shape: str) -> frozenset[str]:
    """The allowed values of an enum shape, e.g. enum("eks", "AMITypes")."""
    return frozenset(_service(service).shape_for(shape).enum)


def ec2_instance_types() -> frozenset[str]:
    return enum("ec2", "InstanceType")


@cache
def eks_regions() -> tuple[str, ...]:
    """Regions where EKS is available, from botocore's endpoint data."""
    return tuple(sorted(botocore.session.get_session().get_available_regions("eks")))
