"""The values the AWS APIs accept, from botocore's own service models (no network).

Config validation checks instance types and regions against these, so nothing reaches EKS that its API
would refuse. They are read from a snapshot of the pinned botocore's models (aws_api.json, written by
scripts/refresh_aws_api.py; tests/test_catalog.py keeps it equal to the installed botocore's): parsing
EC2's service model on every plan cost about 0.2 s of CPU.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("aws_api.json")


@cache
def _snapshot() -> dict:
    return json.loads(SNAPSHOT.read_text())


def ec2_instance_types() -> frozenset[str]:
    return frozenset(_snapshot()["ec2_instance_types"])


@cache
def eks_regions() -> tuple[str, ...]:
    """Regions where EKS is available, from botocore's endpoint data."""
    return tuple(_snapshot()["eks_regions"])
