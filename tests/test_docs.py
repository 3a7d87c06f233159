"""The README documents every stack config key, with an example, exactly as the models define it."""

from __future__ import annotations

import re

from infra.config import reference as config_reference
from tests.conftest import ROOT


def test_readme_config_reference_matches_the_models():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- config-reference:start -->\n(.*)<!-- config-reference:end -->", readme, re.S)
    assert block, "README.md lacks the config-reference markers"
    assert block.group(1) == config_reference.render(), "regenerate with: .venv/bin/python -m infra config-reference --write README.md"


def test_every_config_key_has_a_description_and_an_example():
    for row in config_reference.rows() + config_reference.secret_rows():
        assert row.description and row.example, row.path


def test_readme_quick_start_names_the_two_commands_ci_uses():
    readme = (ROOT / "README.md").read_text()
    assert "make plan" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
