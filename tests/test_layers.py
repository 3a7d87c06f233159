"""The package's layers import one way only, and derived numbers are computed once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import infra.capacity.economics as economics
import infra.capacity.placement as placement
import infra.capacity.sizing as sizing
from infra import REPO_ROOT
from infra.offline.plan import run_plan
from tests.conftest import AS_OF, SCENARIOS

# Lowest first: a module may import from its own layer or the ones before it, never after.
LAYERS = ["names", "catalog", "config", "capacity", "deployment", "aws", "cluster_services", "serving", "program", "offline"]


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "infra" or len(parts) == 1:
        return None  # third party, or the package root (PROJECT and paths only)
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def infra_modules() -> list[Path]:
    return sorted(p for p in (REPO_ROOT / "infra").rglob("*.py") if p.name != "__main__.py")


@pytest.mark.parametrize("path", infra_modules(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_a_module_imports_only_from_its_layer_or_below_and_only_at_the_top(path):
    module = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
    own = layer_of(module)
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            assert id(node) in top_level, f"{module}: import inside a function ({names})"
            for name in names:
                target = layer_of(name or "")
                if own is not None and target is not None:
                    assert target <= own, f"{module} ({LAYERS[own]}) imports {name} ({LAYERS[target]}), a layer above it"


def test_every_module_says_what_it_is_for():
    for path in infra_modules():
        assert ast.get_docstring(ast.parse(path.read_text())), f"{path} has no module docstring"


def test_sizing_and_cost_are_computed_once_per_plan(monkeypatch):
    """The program, the monitoring rules, the report and the JSON all read one deployment model."""
    calls = {"model sizing": 0, "pool cost": 0, "stack cost": 0, "placement": 0}

    def counting(kind, original):
        def wrapper(*args, **kwargs):
            calls[kind] += 1
            return original(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(sizing, "ModelSizing", counting("model sizing", sizing.ModelSizing))
    monkeypatch.setattr(economics, "PoolCost", counting("pool cost", economics.PoolCost))
    monkeypatch.setattr(economics, "platform_hourly", counting("stack cost", economics.platform_hourly))
    monkeypatch.setattr(placement, "Placement", counting("placement", placement.Placement))
    plan = run_plan("prod", SCENARIOS, as_of=AS_OF)
    plan.to_json()
    assert calls == {"model sizing": len(plan.deployment.config.models), "pool cost": len(plan.deployment.config.gpu_pools), "stack cost": 1, "placement": 1}
