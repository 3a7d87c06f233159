"""The docs document every stack config key, with an example, exactly as the models define it; the README
stays a front page whose every chapter link resolves, and its ten-line example stack plans."""

from __future__ import annotations

import re

import pytest

from infra.config import reference as config_reference
from infra.config.problems import ConfigError
from infra.offline import support_matrix
from tests.conftest import ROOT


def test_the_config_reference_matches_the_models():
    reference = (ROOT / "docs" / "configuration.md").read_text()
    block = re.search(r"<!-- config-reference:start -->\n(.*)<!-- config-reference:end -->", reference, re.S)
    assert block, "docs/configuration.md lacks the config-reference markers"
    assert block.group(1) == config_reference.render(), "regenerate with: .venv/bin/python -m infra config-reference --write docs/configuration.md"


def test_every_config_key_has_a_description_and_an_example():
    for row in config_reference.rows() + config_reference.secret_rows():
        assert row.description and row.example, row.path


def test_readme_quick_start_names_the_two_commands_ci_uses():
    readme = (ROOT / "README.md").read_text()
    assert "make plan" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def markdown_links(path):
    """Relative link targets in a Markdown file (no URLs, no anchors-only), resolved against its folder."""
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text())
    return [(path.parent / t).resolve() for t in targets if "://" not in t and not t.startswith("mailto:")]


def test_the_readme_is_a_front_page_linking_every_chapter():
    readme = ROOT / "README.md"
    assert len(readme.read_text().splitlines()) < 250, "README.md is the front page: move chapters to docs/"
    linked = set(markdown_links(readme))
    chapters = {p.resolve() for p in (ROOT / "docs").glob("*.md")}
    assert chapters <= linked, f"chapters the README does not link: {sorted(p.name for p in chapters - linked)}"


def test_every_relative_link_in_the_docs_resolves():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in markdown_links(page):
            assert target.exists(), f"{page.relative_to(ROOT)} links to {target} which does not exist"


def test_the_readmes_ten_line_stack_plans(plan_of, tmp_path):
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"## A stack in ten lines\n.*?```yaml\n(.*?)```", readme, re.S)
    assert example, "README.md lacks its example stack"
    assert len(example.group(1).strip().splitlines()) <= 12
    (tmp_path / "Pulumi.tenlines.yaml").write_text(example.group(1))
    plan = plan_of("tenlines", tmp_path)
    assert [s.model for s in plan.deployment.sizing] == ["llama-8b"] and plan.deployment.sizing[0].fit.fits


def test_the_support_matrix_matches_the_catalogs():
    assert (ROOT / "docs" / "support-matrix.md").read_text() == support_matrix.page(), (
        "regenerate with: .venv/bin/python -m infra support-matrix --write docs/support-matrix.md"
    )


def matrix_cell(checkpoint: str, column: str) -> str:
    lines = support_matrix.render().splitlines()
    header = next(line for line in lines if line.startswith("| checkpoint |"))
    row = next(line for line in lines if line.startswith(f"| `{checkpoint}` |"))
    return dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")], strict=True))[column]


def test_the_support_matrix_says_what_the_plan_says(plan_of, write_stack):
    """A cell is the plan's own fit: dev's L4 node serves the 8B at TP 1, and the plan refuses the 70B there."""
    assert matrix_cell("meta-llama/Llama-3.1-8B-Instruct", "1x L4") == "TP 1"
    assert plan_of("dev").deployment.sizing[0].fit.fits
    assert matrix_cell("meta-llama/Llama-3.1-70B-Instruct", "1x L4") == "—"

    def seventy_b(config):
        config["llm-serving:models"][0]["huggingFaceId"] = "meta-llama/Llama-3.1-70B-Instruct"

    with pytest.raises(ConfigError, match=r"does not fit|needs .* GiB"):
        plan_of(*write_stack("seventyb", edit=seventy_b))


def guide_stacks() -> dict[str, str]:
    """The stack files docs/getting-started.md builds, by step (each block after a `<!-- stack: NAME -->` marker)."""
    guide = (ROOT / "docs" / "getting-started.md").read_text()
    return dict(re.findall(r"<!-- stack: ([\w-]+) -->\n```yaml\n(.*?)```", guide, re.S))


@pytest.mark.parametrize("step", ["step-1", "step-2", "step-3"])
def test_every_stack_in_the_getting_started_guide_plans(step, plan_of, tmp_path):
    (tmp_path / f"Pulumi.{step}.yaml").write_text(guide_stacks()[step])
    plan = plan_of(step, tmp_path)
    assert plan.deployment.sizing[0].fit.fits
    if step == "step-2":
        assert plan.deployment.config.models[0].autoscaling.enabled and plan.deployment.config.gpu_pools[0].spot.max == 3
    if step == "step-3":
        assert "verdict" in plan.deployment.cost["api"]
