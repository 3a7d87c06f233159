"""Plan every stack and write one pull-request comment with what the change does to each.

    python scripts/pr_comment.py BASE_DIR OUT_DIR [AS_OF] > comment.md

AS_OF (YYYY-MM-DD) is the plan date; give the one the base was planned with, so that a base and a head
planned on different days do not differ by the calendar (default: the planner's, today). BASE_DIR holds the base branch's plans (BASE_DIR/<stack>/plan.json, from `plan --out`); a stack
missing there is reported as new. Each stack's plan, report and diff land in OUT_DIR/<stack>/.
Exits non-zero if any stack fails to plan, after writing the comment that says which and why.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = "<!-- llm-serving-plan -->"


def stacks() -> list[str]:
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))


def plan(stack: str, base: Path, out: Path, as_of: str | None) -> tuple[bool, str]:
    command = [sys.executable, "-m", "infra", "plan", "--stack", stack, "--out", str(out / stack), *(["--as-of", as_of] if as_of else [])]
    base_plan = base / stack / "plan.json"
    if base_plan.is_file():
        command += ["--diff", str(base_plan)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return False, f"### `{stack}`: the plan fails\n\n```\n{result.stderr.strip()}\n```\n"
    if not base_plan.is_file():
        report = (out / stack / "report.md").read_text()
        return True, f"### `{stack}`: new stack (no plan on the base branch)\n\n<details><summary>Plan</summary>\n\n{report}\n</details>\n"
    return True, result.stdout


def main(base: str, out: str, as_of: str | None = None) -> int:
    sections, ok = [], True
    for stack in stacks():
        planned, section = plan(stack, Path(base), Path(out), as_of)
        ok &= planned
        sections.append(section)
    print(f"{MARKER}\n## Offline plan\n\nWhat this pull request changes, stack by stack (no cloud access needed; `pulumi preview` runs separately where credentials are configured).\n")
    print("\n".join(sections))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
