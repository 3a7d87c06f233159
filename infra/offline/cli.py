"""`python -m infra plan --stack NAME [--json] [--out DIR] [--diff BASE.json]`: the offline plan,
for people and for CI.

  --as-of DATE    the plan's date (YYYY-MM-DD; default today): support windows, dated prices, retirements and
                  dated defaults are read on it, so the same stack and date give the same plan
  --json          print the plan as one JSON object (DESIGN.md's contract)
  --out DIR       also write DIR/plan.json, DIR/report.md and DIR/manifests/<release>.yaml
  --diff BASE     print what the plan changes against an earlier plan's JSON, as Markdown
                  (with --json: as JSON); with --out, also DIR/diff.md

Exit status: 0 the stack is valid and planned; 2 the stack file is not valid YAML (reported as
file:line:col), its configuration is invalid, a model does not fit, or there is no such stack;
1 anything unexpected.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import yaml

from infra.config import reference as config_reference
from infra.config.problems import ConfigError
from infra.config.stack_file import StackFileError
from infra.offline import report, support_matrix, whatif_cli
from infra.offline.diff import PlanDiff, diff_plans
from infra.offline.mocks import RegisteredResource
from infra.offline.plan import STACKS_DIR, Plan, StackNotFound, run_plan

EXIT_OK, EXIT_INVALID = 0, 2  # an unexpected exception exits 1


def plan_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; give YYYY-MM-DD, e.g. 2026-12-04") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="plan a stack offline: validate its config and show the resources it creates")
    plan.add_argument("--stack", required=True, help="stack name: stacks/Pulumi.<stack>.yaml")
    plan.add_argument("--as-of", type=plan_date, default=None, metavar="YYYY-MM-DD", help="the plan's date (default: today)")
    plan.add_argument("--json", action="store_true", help="print one JSON object instead of the readable view")
    plan.add_argument("--out", type=Path, metavar="DIR", help="write plan.json, report.md and manifests/<release>.yaml here")
    plan.add_argument("--diff", type=Path, metavar="BASE.json", help="show what changes against this earlier plan (JSON from --json or --out)")
    plan.add_argument("--stacks-dir", type=Path, default=STACKS_DIR, help=argparse.SUPPRESS)
    reference = commands.add_parser("config-reference", help="print the Markdown reference of every stack config key")
    reference.add_argument("--write", type=Path, metavar="MARKDOWN", help="replace the reference block in this Markdown file instead")
    matrix = commands.add_parser("support-matrix", help="print the Markdown support matrix: checkpoints x GPUs x regions the catalogs cover")
    matrix.add_argument("--write", type=Path, metavar="MARKDOWN", help="write it to this file instead (docs/support-matrix.md)")
    whatif_cli.add_parsers(commands)
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
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in rows)


def render_gpu_pools(plan: Plan) -> str:
    rows = [("node group", "capacity", "instance types", "min", "max")]
    for r in sorted(plan.resources, key=lambda r: r.name):
        if r.type == "aws:eks/nodeGroup:NodeGroup":
            scaling = r.inputs["scalingConfig"]
            rows.append((r.inputs["nodeGroupName"], r.inputs["capacityType"], ", ".join(r.inputs["instanceTypes"]), str(scaling["minSize"]), str(scaling["maxSize"])))
    return table(rows)


def render_quotas(plan: Plan) -> str:
    """The EC2 vCPU quotas the pools need at their maximums (`pulumi up` checks them first)."""
    rows = [("quota code", "quota name", "vCPUs needed", "pools")]
    rows += [(q.code, q.name, str(q.vcpus), ", ".join(q.pools) or "-") for q in plan.deployment.quotas]
    return table(rows)


def render_zones(plan: Plan) -> str:
    chosen = plan.preflight.zones
    if not chosen:
        return "existing VPC: every node group uses its private subnets"
    lines = ["VPC zones: " + ", ".join(f"{z.zone_id} ({z.name})" for z in chosen)]
    for pool, by_capacity in plan.preflight.pool_zones.items():
        lines.append(f"pool {pool}: " + "; ".join(f"{capacity} in {', '.join(ids) or 'none'}" for capacity, ids in by_capacity.items()))
    return "\n".join(lines)


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
                    v["engine"].get("quantization") or "from checkpoint",
                    str(v["placement"]["onDemandReplicas"]),
                    str(v["placement"]["spotReplicas"]),
                    ", ".join(a["name"] for a in v["lora"]["adapters"]) or "-",
                )
            )
    return table(rows) if len(rows) > 1 else "(no models)"


def render_placement(plan: Plan) -> tuple[str, str]:
    """Two tables: per Deployment where its replicas land in each phase, and per node group its nodes."""
    placement = plan.deployment.placement
    rows = [("deployment", "pool", "capacity", "requests (CPU, memory, GPUs)", "replicas", "placed", "on on-demand", "full scale-out", "after spot loss", "rollout")]
    for p in placement.workloads:
        w = p.workload
        rows.append(
            (
                w.name,
                w.pool or "system",
                w.capacity,
                f"{w.requests.cpu_m}m, {w.requests.memory_mib}Mi, {w.requests.gpus}",
                str(w.replicas),
                str(p.placed),
                str(p.placed_on_demand) if w.pool else "-",
                f"{p.placed_full_scale_out} of {w.max_replicas}",
                str(p.after_spot_loss),
                "surge 1" if p.surge else "surge 0, unavailable 1",
            )
        )
    groups = [("node group", "instance type", "per node (CPU, memory, GPUs)", "min", "max", "nodes", "full scale-out", "after spot loss", "CPU / memory / GPUs requested", "drain of one node")]
    for g in placement.groups:
        room, used = g.group.room, g.to_json()["requested"]
        groups.append(
            (
                g.group.name,
                g.group.instance_type,
                f"{room.cpu_m}m, {room.memory_mib}Mi, {room.gpus}",
                str(g.group.min_nodes),
                str(g.group.max_nodes),
                str(g.nodes),
                str(g.nodes_full_scale_out),
                str(g.nodes_after_spot_loss),
                f"{used['cpu']:.0%} / {used['memory']:.0%} / {used['gpus']:.0%}",
                g.drain,
            )
        )
    return table(rows), table(groups)


def render_text(plan: Plan, *, markdown: bool = False) -> str:
    """The readable plan: in the terminal as is; with `markdown`, headed and with the plain-text
    tables fenced so they survive rendering (report.md, PR comments)."""
    counts = Counter(r.type for r in plan.resources if not r.type.startswith("llm-serving:"))
    summary = ", ".join(f"{n} {t.split(':')[-1]}" for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def plain(text: str) -> str:
        return f"```\n{text}\n```" if markdown else text

    sections = [
        ("Node groups", plain(render_gpu_pools(plan))),
        ("Zones", plain(render_zones(plan))),
        ("EC2 vCPU quotas to allow before `pulumi up`", plain(render_quotas(plan))),
        ("Models (vLLM)", plain(render_models(plan))),
        ("Sizing", report.sizing_table(plan.sizing).rstrip()),
        *zip(("Placement: Deployments", "Placement: node groups"), map(plain, render_placement(plan)), strict=True),
        ("Cost", report.cost_report(plan.cost).rstrip()),
    ]
    if plan.sizing:
        sections.append(("Cold start (pending pod to Ready on a fresh node)", report.cold_start_table(plan.deployment).rstrip()))
    resilience = plan.resilience()
    if resilience:
        rows = [("model", "floor (on-demand)", "configured", "placed", "left after every spot node is reclaimed", "output tok/s left", "floor whole again", "placed whole again")]
        rows += [
            (
                m,
                str(r["floor"]),
                str(r["replicas_planned"]),
                str(r["replicas_placed"]),
                str(r["replicas_after_spot_loss"]),
                f"{r['output_tokens_per_second_after_spot_loss']:,.0f}",
                report.restored(r["floor_restored_seconds"], "raise the pool's onDemand.max"),
                report.restored(r["configured_restored_seconds"], "") + (" (new spot nodes, when spot has capacity)" if r["configured_restored_seconds"] else ""),
            )
            for m, r in resilience.items()
        ]
        sections.append(("Spot reclaim", plain(table(rows))))
    scaling = report.autoscaling_lines(plan.deployment)
    if scaling:
        sections.append(("Autoscaling", scaling))
    if plan.warnings:
        sections.append(("Warnings", "\n".join(f"{'-' if markdown else '  !'} {w}" for w in plan.warnings)))
    sections.append(("Resources by component", plain(render_tree(plan))))
    heading = "## {}\n\n" if markdown else "{}\n"
    return "\n\n".join(
        [f"Stack '{plan.stack}': configuration valid; {sum(counts.values())} resources ({summary})"]
        + [heading.format(title) + body for title, body in sections]
    )


def main(argv: list[str]) -> int:
    try:
        return _run(_parser().parse_args(argv))
    except BrokenPipeError:  # the reader closed the pipe early (`| head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    if args.command in ("estimate", "advise"):
        return whatif_cli.run(args)
    if args.command == "config-reference":
        if args.write:
            config_reference.write_into(args.write)
        else:
            print(config_reference.render(), end="")
        return EXIT_OK
    if args.command == "support-matrix":
        if args.write:
            support_matrix.write(args.write)
        else:
            print(support_matrix.page(), end="")
        return EXIT_OK
    try:
        plan = run_plan(args.stack, args.stacks_dir, as_of=args.as_of or date.today())  # the CLI's one read of the calendar
    except (ConfigError, StackNotFound, StackFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    plan_json = plan.to_json()
    changes = diff_plans(json.loads(args.diff.read_text()), plan_json) if args.diff else None
    if args.out:
        write_out(args.out, plan, plan_json, changes)
    if changes is not None:
        print(json.dumps(changes.to_json(), indent=2, sort_keys=True, default=str) if args.json else report.diff_report(changes), end="")
    else:
        print(json.dumps(plan_json, indent=2, sort_keys=True) if args.json else render_text(plan))
    return EXIT_OK


def write_out(folder: Path, plan: Plan, plan_json: dict, changes: PlanDiff | None) -> None:
    """The plan as files: what CI keeps as an artifact and diffs the next change against."""
    manifests = folder / "manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    (folder / "plan.json").write_text(json.dumps(plan_json, indent=2, sort_keys=True) + "\n")
    for release, objects in plan_json["manifests"].items():
        (manifests / f"{release}.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
    (folder / "report.md").write_text(f"# Plan of stack `{plan.stack}`\n\n{render_text(plan, markdown=True)}\n")
    if changes is not None:
        (folder / "diff.md").write_text(report.diff_report(changes))
