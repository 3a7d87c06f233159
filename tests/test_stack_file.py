"""Stack files are read the way the Pulumi CLI (go-yaml v3, YAML 1.2) reads them: what the plan
validates is what `pulumi up` runs. A file the CLI would refuse, or that would exhaust the planner,
fails with one line `file:line:col: what`, exit status 2 and no traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pulumi.runtime
import pytest

from infra import PROJECT
from infra.config import load
from infra.config.problems import ConfigError
from infra.config.stack_file import StackFileError, load_stack_file
from infra.offline import cli
from infra.offline.mocks import PlanMocks, RecordingMonitor
from infra.offline.plan import read_stack_config
from tests.conftest import AS_OF

BAD_FILES = Path(__file__).parent / "bad_stack_files"

# stack -> what the one line must say (a line:column is expected where the parser knows one)
EXPECTED = {
    "duplicate-key": (":4:3: ", "key 'llm-serving:region' is given twice in one mapping (first at line 3)"),
    "duplicate-nested-key": (":8:7: ", "key 'spot' is given twice"),
    "alias-bomb": (":2:1: ", "aliases expand past 100,000 nodes"),
    "deep-nesting": (": ", "nested too deeply"),
    "not-utf8": (": ", "not UTF-8 text"),
    "syntax-error": (":5:1: ", "while parsing a flow sequence; expected ',' or ']'"),
    "tab-indent": (":3:1: ", "found character '\\t' that cannot start any token"),
    "not-a-mapping": (":2:1: ", "a stack file is a mapping with a `config:` key, got list"),
    "config-not-a-mapping": (": ", "`config:` must be a mapping of keys to values, got list"),
}


def test_every_bad_stack_file_has_an_expectation():
    assert {p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in BAD_FILES.glob("Pulumi.*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("stack", sorted(EXPECTED))
def test_a_file_the_pulumi_cli_would_refuse_fails_in_one_line_with_its_position(stack, capsys):
    where, what = EXPECTED[stack]
    assert cli.main(["plan", "--stack", stack, "--stacks-dir", str(BAD_FILES)]) == cli.EXIT_INVALID
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith(f"error: {BAD_FILES / f'Pulumi.{stack}.yaml'}{where}"), line
    assert what in line, line
    assert "Traceback" not in captured.err


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text(text)
    return path


def test_scalars_follow_yaml_1_2_like_the_pulumi_cli(tmp_path):
    text = "config:\n  a: on\n  b: off\n  c: yes\n  d: no\n  e: y\n  f: 010\n  g: 0o17\n  h: 1:30\n  i: 0x1F\n  j: True\n  k: 2001-01-01\n  l: 1_000\n  m: ~\n"
    assert load_stack_file(write(tmp_path, text))["config"] == {
        "a": "on", "b": "off", "c": "yes", "d": "no", "e": "y",  # YAML 1.1 would say booleans
        "f": 10, "g": 15, "h": "1:30",  # YAML 1.1: 8 (octal) and 90 (sexagesimal)
        "i": 31, "j": True, "k": "2001-01-01", "l": "1_000", "m": None,
    }  # fmt: skip


def test_config_values_reach_the_program_as_the_pulumi_cli_passes_them(tmp_path):
    path = write(tmp_path, "config:\n  llm-serving:region: us-east-1\n  llm-serving:tags: {team: on, shard: 010}\n  aws:region: us-east-1\n")
    values, secrets = read_stack_config(path)
    assert json.loads(values["llm-serving:tags"]) == {"team": "on", "shard": 10}
    assert values["aws:region"] == "us-east-1" and secrets == []


def test_merge_keys_and_small_aliases_still_work(tmp_path):
    text = "config:\n  base: &pool {instanceTypes: [g6.xlarge]}\n  llm-serving:gpuPools:\n    - <<: *pool\n      name: l4\n"
    assert load_stack_file(write(tmp_path, text))["config"]["llm-serving:gpuPools"] == [{"instanceTypes": ["g6.xlarge"], "name": "l4"}]


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path):
    rows = ['config:', '  a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    rows += [f"  {n}: &{n} [" + ",".join([f"*{p}"] * 10) + "]" for p, n in zip("abcdefghijklmnopqrstuvwxy", "bcdefghijklmnopqrstuvwxyz", strict=False)]
    with pytest.raises(StackFileError, match=re.escape("aliases expand past")):
        load_stack_file(write(tmp_path, "\n".join(rows)))


def test_the_pulumi_program_also_refuses_keys_under_a_misspelled_namespace():
    """Under `pulumi up` the CLI reads the file; the program sees every namespace's keys and refuses
    the misspelled one before anything is registered."""
    values = {f"{PROJECT}:region": "us-east-1", "llm-servng:gpuPools": '[{"name": "l4"}]', "aws:region": "us-east-1"}
    monitor = RecordingMonitor(PlanMocks("us-east-1"))
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_all_config(values, [])
    pulumi.runtime.set_mocks(monitor.plan_mocks, project=PROJECT, stack="typo", preview=True, monitor=monitor)
    with pytest.raises(ConfigError, match=re.escape("llm-servng:gpuPools: got")) as raised:
        load(AS_OF)
    assert "did you mean llm-serving:gpuPools?" in str(raised.value) and monitor.order == []
