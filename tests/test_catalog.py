"""infra/catalog/: snapshots kept in step with their sources."""

from __future__ import annotations

import json

from infra.catalog.aws_api import SNAPSHOT
from scripts.refresh_aws_api import snapshot


def test_the_aws_api_snapshot_is_the_pinned_botocores():
    assert json.loads(SNAPSHOT.read_text()) == snapshot(), "regenerate with: .venv/bin/python scripts/refresh_aws_api.py"
