"""infra/catalog/: snapshots kept in step with their sources."""

from __future__ import annotations

import json

import yaml

from infra.catalog import gpu_instances, image_pins
from infra.catalog.aws_api import SNAPSHOT
from scripts.refresh_aws_api import snapshot
from tests.conftest import ROOT


def test_the_aws_api_snapshot_is_the_pinned_botocores():
    assert json.loads(SNAPSHOT.read_text()) == snapshot(), "regenerate with: .venv/bin/python scripts/refresh_aws_api.py"


def test_our_charts_default_to_the_images_the_catalog_pins():
    pins = image_pins()
    chart = {name: yaml.safe_load((ROOT / "charts" / name / "Chart.yaml").read_text()) for name in ("vllm", "router", "tei")}
    assert chart["vllm"]["appVersion"] == pins["vllm"].tag == f"v{pins['vllm'].version}"
    assert yaml.safe_load((ROOT / "charts/vllm/values.yaml").read_text())["image"] == {"repository": pins["vllm"].repository, "tag": pins["vllm"].tag, "pullPolicy": "IfNotPresent"}
    assert chart["router"]["appVersion"] == pins["litellm"].tag == f"v{pins['litellm'].version}"
    assert chart["tei"]["appVersion"] == pins["tei"].version


def test_tei_has_an_image_for_every_catalog_gpu_and_for_cpu():
    assert {i.gpu for i in gpu_instances().values()} | {"cpu"} <= set(image_pins()["tei"].tags_by_gpu)
