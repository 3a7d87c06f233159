"""`python -m infra plan --stack NAME [--json]`: the offline plan, for people and for CI.

Exit status: 0 the stack is valid and planned; 2 the stack's configuration is invalid (or no
such stack); 1 anything unexpected.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

from infra import config_reference, report
from infra.config import ConfigError
from infra.mocks import RegisteredResource
from infra.plan import STACKS_DIR, Plan, StackNotFound, run_plan

EXIT_OK, EXIT_ERROR, EXIT_INVALID = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="plan a stack offline: validate its config and show the resources it creates")
    plan.add_argument("--stack", required=True, help="stack name: stacks/Pulumi.<stack>.yaml")
    plan.add_argument("--json", action="store_true", help="print one JSON object instead of the readable view")
    plan.add_argument("--stacks-dir", type=Path, default=STACKS_DIR, help=argparse.SUPPRESS)
    reference = commands.add_parser("config-reference", help="print the Markdown reference of every stack config key")
    reference.add_argument("--write", type=Path, metavar="README", help="replace the reference block in this Markdown file instead")
    return parser


def render_tree(plan: Plan) -> str:
    """The resource tree by component, one line per resource."""
    children: dict[str, list[RegisteredResource]] = defaultdict(list)
    for resource in plan.resources:
        children[resource.parent].append(resource)
    roots = [r for r in plan.resources if r.parent not in {x.urn for x in plan.resources}]
    lines: list[str] = []

    def walk(resource: RegisteredResource, depth: int) -> None:
        lines.append(f"{'  ' * depth}{resource.name}  ({resource.type})")
        for child in children[resource.urn]:
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return "\n".join(lines)


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def render_gpu_pools(plan: Plan) -> str:
    rows = [("node group", "capacity", "instance types", "min", "max")]
    for r in sorted(plan.resources, key=lambda r: r.name):
        if r.type == "aws:eks/nodeGroup:NodeGroup":
            scaling = r.inputs["scalingConfig"]
            rows.append((r.inputs["nodeGroupName"], r.inputs["capacityType"], ", ".join(r.inputs["instanceTypes"]), str(scaling["minSize"]), str(scaling["maxSize"])))
    return table(rows)


def render_models(plan: Plan) -> str:
    rows = [("model", "weights", "pool", "GPUs/replica", "quantization", "on-demand", "spot", "LoRA adapters")]
    for r in sorted(plan.resources, key=lambda r: r.name):
        if r.type == "kubernetes:helm.sh/v4:Chart" and r.inputs["chart"].endswith("charts/vllm"):
            v = r.inputs["values"]
            rows.append(
                (
                    v["model"]["servedModelName"],
                    f"{v['model']['id']}@{v['model']['revision']}",
                    v["placement"]["pool"],
                    str(v["engine"]["tensorParallelSize"]),
                    v["engine"]["quantization"] or "from checkpoint",
                    str(v["placement"]["onDemandReplicas"]),
                    str(v["placement"]["spotReplicas"]),
                    ", ".join(a["name"] for a in v["lora"]["adapters"]) or "-",
                )
            )
    return table(rows) if len(rows) > 1 else "(no models)"


def render_text(plan: Plan) -> str:
    counts = Counter(r.type for r in plan.resources if not r.type.startswith("llm-serving:"))
    summary = ", ".join(f"{n} {t.split(':')[-1]}" for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return "\n\n".join(
        [
            f"Stack '{plan.stack}': configuration valid; {sum(counts.values())} resources ({summary})",
            "Node groups\n" + render_gpu_pools(plan),
            "Models (vLLM)\n" + render_models(plan),
            "Sizing\n" + report.sizing_table(plan.sizing).rstrip(),
            "Cost\n" + report.cost_report(plan.cost).rstrip(),
            *(["Warnings\n" + "\n".join(f"  ! {w}" for w in plan.warnings)] if plan.warnings else []),
            "Resources by component\n" + render_tree(plan),
        ]
    )


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.command == "config-reference":
        if args.write:
            config_reference.write_into(args.write)
        else:
            print(config_reference.render(), end="")
        return EXIT_OK
    try:
        plan = run_plan(args.stack, args.stacks_dir)
    except (ConfigError, StackNotFound) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(json.dumps(plan.to_json(), indent=2, sort_keys=True) if args.json else render_text(plan))
    return EXIT_OK
