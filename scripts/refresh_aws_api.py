"""Write infra/catalog/aws_api.json from the installed (pinned) botocore's service models.

    .venv/bin/python scripts/refresh_aws_api.py

Run it after changing the botocore pin in pyproject.toml; tests/test_catalog.py fails until you do.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path

import botocore
import botocore.session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from infra.catalog.aws_api import SNAPSHOT


@cache
def enum(service: str, shape: str) -> frozenset[str]:
    """The allowed values of an enum shape in botocore's model, e.g. enum("eks", "AMITypes")."""
    return frozenset(botocore.session.get_session().get_service_model(service).shape_for(shape).enum)


def snapshot() -> dict:
    return {
        "botocore": botocore.__version__,
        "ec2_instance_types": sorted(enum("ec2", "InstanceType")),
        "eks_regions": sorted(botocore.session.get_session().get_available_regions("eks")),
    }


if __name__ == "__main__":
    SNAPSHOT.write_text(json.dumps(snapshot(), indent=1) + "\n")
