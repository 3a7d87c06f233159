"""Property-based tests (hypothesis) over mutations of the example stacks.

- Any mutation (wrong types, out-of-range or non-finite numbers, bad or colliding names, credentials
  pasted in odd places, keys removed) is either valid or refused with ConfigError: never another
  exception, every problem names a key path, no pasted credential is printed, and it takes < 10 s.
- Dropping any optional keys, or moving numbers within their documented ranges, always plans.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from infra import PROJECT  # noqa: E402
from infra.config.load import _decode, parse  # noqa: E402
from infra.config.problems import ConfigError  # noqa: E402
from infra.deployment import derive  # noqa: E402
from infra.offline import cli, plan, report  # noqa: E402
from infra.offline.plan import STACKS_DIR  # noqa: E402
from tests.conftest import AS_OF, EXAMPLE_STACKS, raw_config  # noqa: E402

SECRETS = ["hf_QwErTyUiOpAsDfGhJkLzXcVbNm123456", "sk-ant-api03-ZyXwVuTsRqPoNmLk0987", "AKIAJ7Q2EXAMPLE5KEYZ", "sk-proj-MnBvCxZlKjHgFdSa5678"]
EXAMPLES = {name: raw_config(name, STACKS_DIR) for name in EXAMPLE_STACKS}
PREFIX = f"{PROJECT}:"
SETTINGS = settings(max_examples=60, deadline=10_000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], derandomize=True, database=None)

# Values a careless or hostile stack file may put anywhere.
odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "on", "no", "yes", "null", "router", "embeddings", "hosted-fallback", "bge-m3", "0.0.0.0/0", "s3://bucket/*", "1:30", "-tp=8", "--max_model_len=1"]),
    st.sampled_from(SECRETS),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.sampled_from(["name", "max", "foo", SECRETS[0]]), st.integers(), max_size=2),
)


def paths(value: Any, at: tuple = ()) -> list[tuple]:
    """Every path into a nested config value (mappings and lists)."""
    found = [at] if at else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*at, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += paths(child, (*at, i))
    return found


def mutated(config: dict, path: tuple, action: str, value: Any) -> dict:
    config = copy.deepcopy(config)
    parent = config
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    if action == "delete":
        del parent[key]
    elif action == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[key]))
    elif action == "add" and isinstance(parent[key], dict):
        parent[key][value if isinstance(value, str) and value else "extraKey"] = value
    else:
        parent[key] = value
    return config


def raw_of(config: dict) -> dict:
    """The stack's keys as the program receives them: Pulumi passes structured values as JSON text."""
    raw = {}
    for key, value in config.items():
        name = key.removeprefix(PREFIX)
        if key.startswith(PREFIX):
            raw[name] = _decode(value if isinstance(value, str) else json.dumps(value))
    return raw


@st.composite
def mutations(draw):
    """One to three mutations of an example stack, each at any key or list item."""
    stack = draw(st.sampled_from(sorted(EXAMPLES)))
    config = EXAMPLES[stack]
    for _ in range(draw(st.integers(1, 3))):
        candidates = paths(config)
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "duplicate", "add"]))
        config = mutated(config, path, action, draw(odd_values))
    return stack, config


@SETTINGS
@given(mutations())
def test_any_mutation_is_valid_or_refused_in_lines_naming_key_paths_without_secrets(case):
    stack, config = case
    started = time.monotonic()
    try:
        deployment = derive(stack, parse(stack, raw_of(config), AS_OF), AS_OF)
        report.cost_report(deployment.cost), report.sizing_table(deployment.sizing)
    except ConfigError as error:
        message = str(error)
        assert error.problems, message
        for line in message.splitlines()[1:]:
            assert line.startswith(("  - llm-serving:", "  - stack name:")), line
        assert not [s for s in SECRETS if s in message], message
    assert time.monotonic() - started < 10


# Optional keys whose absence must still plan (each has a default), and numbers that may move
# within their ranges.
OPTIONAL = [
    ("cluster",), ("cluster", "endpoint"), ("cluster", "network"), ("cluster", "admins"), ("systemNodes",),
    ("fallback",), ("embeddings",), ("monitoring",), ("economics",), ("economics", "compareWith"), ("tags",),
    ("gpuPools", 0, "onDemand"), ("gpuPools", 0, "spot"), ("gpuPools", 0, "rootVolumeGib"),
    ("models", 0, "revision"), ("models", 0, "replicas"), ("models", 0, "tensorParallelSize"), ("models", 0, "maxNumSeqs"),
    ("models", 0, "gpuMemoryUtilization"), ("models", 0, "prefixCaching"), ("models", 0, "extraArgs"), ("models", 0, "autoscaling"),
]  # fmt: skip


def without(config: dict, path: tuple) -> dict:
    config = copy.deepcopy(config)
    parent = config
    head, *rest = path
    parent = config.get(PREFIX + head)
    if parent is None:
        return config
    if not rest:
        del config[PREFIX + head]
        return config
    for part in rest[:-1]:
        parent = parent[part] if isinstance(part, int) and isinstance(parent, list) and part < len(parent) else parent.get(part) if isinstance(parent, dict) else None
        if parent is None:
            return config
    if isinstance(parent, dict):
        parent.pop(rest[-1], None)
    return config


@st.composite
def valid_variants(draw):
    stack = draw(st.sampled_from(sorted(EXAMPLES)))
    config = EXAMPLES[stack]
    for path in draw(st.lists(st.sampled_from(OPTIONAL), max_size=6, unique=True)):
        if path in (("models", 0, "tensorParallelSize"), ("gpuPools", 0, "onDemand")) and stack == "prod":
            continue  # prod's first model needs its tensor parallelism to fit, and its pool's on-demand nodes for its floor of 3
        config = without(config, path)
    config = copy.deepcopy(config)
    models = config.get(PREFIX + "models", [])
    if models and draw(st.booleans()):
        models[0]["replicas"] = {"baseline": draw(st.integers(1, 2)), "spot": draw(st.integers(0, 2))}
        # Room for the added floor replica: placement refuses a floor the on-demand nodes cannot hold.
        pool = next(p for p in config[PREFIX + "gpuPools"] if p["name"] == models[0]["pool"])
        on_demand = pool.setdefault("onDemand", {"baseline": 1})
        on_demand["max"] = on_demand.get("max", on_demand["baseline"]) + 2
    economics = config.setdefault(PREFIX + "economics", {})
    if draw(st.booleans()):
        economics.pop("averageUtilization", None)
        economics["monthlyTokens"] = draw(st.integers(1, 10**12))
    return stack, config


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True, database=None)
@given(valid_variants())
def test_dropping_optional_keys_or_moving_numbers_in_range_still_plans(tmp_path_factory, monkeypatch_module, case):
    stack, config = case
    folder = tmp_path_factory.mktemp("valid")
    (folder / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
    planned = plan.run_plan(stack, folder, as_of=AS_OF)
    assert "configuration valid" in cli.render_text(planned)
    json.dumps(planned.to_json())


@pytest.fixture(scope="module")
def monkeypatch_module():
    """Chart rendering (helm template, seconds a plan) is proven by the chart tests; here the
    program's registrations are what must hold, so charts are not rendered."""
    patch = pytest.MonkeyPatch()
    patch.setattr(plan, "render_local_charts", lambda resources: {})
    yield patch
    patch.undo()


yaml_text = st.text(alphabet=st.sampled_from(list("config:llm-serving:region us-east-1\n  -[]{}&*!|>'\"#%@`,?<=~0.9xX\t")), max_size=200)


@settings(max_examples=80, deadline=10_000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], derandomize=True, database=None)
@given(text=st.one_of(yaml_text, st.builds(lambda body: "config:\n" + body, yaml_text)))
def test_any_stack_file_text_is_planned_or_refused_without_a_traceback(tmp_path, capsys, text):
    (tmp_path / "Pulumi.fuzz.yaml").write_text(text)
    status = cli.main(["plan", "--stack", "fuzz", "--stacks-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == cli.EXIT_INVALID, text
    head, *rest = err.splitlines()
    assert head.startswith("error: ") and "Traceback" not in err
    assert all(line.startswith("  - ") for line in rest), err
