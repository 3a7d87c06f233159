"""Checkov over every manifest the plan renders: no failed check, and every skipped check carries
its reason in a `checkov.io/skipN` annotation on the object it skips."""

from __future__ import annotations

import json
import subprocess

import yaml

from tests.conftest import ROOT

CHECKOV = ROOT / ".venv" / "checkov" / "bin" / "checkov"


def run_checkov(folder) -> dict:
    assert CHECKOV.exists(), "checkov missing: run `make setup`"
    result = subprocess.run([str(CHECKOV), "-d", str(folder), "--framework", "kubernetes", "-o", "json"], capture_output=True, text=True, timeout=300)
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_passes_every_rendered_manifest_or_says_why_not(example_plan, tmp_path):
    for release, objects in example_plan.manifests.items():
        (tmp_path / f"{release}.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
    report = run_checkov(tmp_path)
    results = report["results"]
    assert results["failed_checks"] == [], [(f["check_id"], f["resource"], f["check_name"]) for f in results["failed_checks"]]
    assert report["summary"]["passed"] > 100 and report["summary"]["parsing_errors"] == 0

    objects = {f"{o['kind']}.{o['metadata'].get('namespace', 'default')}.{o['metadata']['name']}": o for objs in example_plan.manifests.values() for o in objs}
    for skipped in results["skipped_checks"]:
        annotations = objects[skipped["resource"]]["metadata"].get("annotations", {})
        reasons = [v.split("=", 1)[1] for k, v in annotations.items() if k.startswith("checkov.io/skip") and v.startswith(skipped["check_id"] + "=")]
        assert reasons and len(reasons[0]) > 20, f"{skipped['check_id']} skipped on {skipped['resource']} without a reason"
