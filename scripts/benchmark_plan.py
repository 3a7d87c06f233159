"""Benchmark the offline plan: wall time of `python -m infra plan --json` (interpreter start included,
as a user or CI sees it) for the example stacks and for generated stacks of 1, 10 and 20 model (20: the most a stack may hold, infra/config/limits.py MODELS_MAX)
deployments with 10 LoRA adapters each, how the time grows per model, and how often each release is
rendered (it must be once).

    .venv/bin/python scripts/benchmark_plan.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.config.limits import MODELS_MAX  # noqa: E402 (needs the sys.path line above)
from infra.offline import helm, plan  # noqa: E402


def generated_stack(models: int) -> dict:
    """prod's cluster with `models` 8B deployments on its L4 pool, each serving 10 S3 LoRA adapters."""
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    config = document["config"]
    config["llm-serving:models"] = [
        {
            "name": f"model-{i:02d}",
            "huggingFaceId": "meta-llama/Llama-3.1-8B-Instruct",
            "revision": "main",
            "pool": "l4",
            "maxModelLen": 4096,
            "maxNumSeqs": 16,
            "replicas": {"baseline": 1, "spot": 1},
            "loraAdapters": [{"name": f"model-{i:02d}-adapter-{j}", "source": f"s3://acme-ml-adapters/model-{i:02d}/adapter-{j}", "rank": 16} for j in range(10)],
        }
        for i in range(models)
    ]
    config["llm-serving:economics"] = {"compareWith": "llama-3.1-8b-managed", "averageUtilization": 0.3}
    # One L4 node per floor replica plus TEI's two, and a spot node per burst replica: placement refuses less.
    l4 = next(p for p in config["llm-serving:gpuPools"] if p["name"] == "l4")
    l4["onDemand"] = {"baseline": 2, "max": models + 2}
    l4["spot"] = {"min": 0, "max": max(models, 1)}
    return document


def wall_time(stack: str, stacks_dir: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "infra", "plan", "--stack", stack, "--stacks-dir", str(stacks_dir), "--json"], cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def renders_per_release(stack: str, stacks_dir: Path) -> Counter:
    """Run the plan in-process, counting helm renders per release."""
    counts: Counter = Counter()
    original = helm.template

    def counting(chart, release, namespace, values):
        counts[release] += 1
        return original(chart, release, namespace, values)

    helm.template = counting
    try:
        plan.run_plan(stack, stacks_dir, as_of=date.today())
    finally:
        helm.template = original
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per stack (the median is reported)")
    args = parser.parse_args()

    rows = []
    for stack in sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (ROOT / "stacks").glob("Pulumi.*.yaml")):
        rows.append((f"{stack} (example)", 1, wall_time(stack, ROOT / "stacks", args.repeat), renders_per_release(stack, ROOT / "stacks")))
    with tempfile.TemporaryDirectory() as folder:
        for models in (1, 10, MODELS_MAX):
            name = f"gen{models}"
            (Path(folder) / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(generated_stack(models)))
            rows.append((f"{models} models x 10 LoRA", models, wall_time(name, Path(folder), args.repeat), renders_per_release(name, Path(folder))))

    print("| stack | models | plan wall time (s) | helm renders per release |")
    print("|---|---|---|---|")
    for label, models, seconds, renders in rows:
        print(f"| {label} | {models} | {seconds:.2f} | {max(renders.values(), default=0)} |")
    one, ten, most = (seconds for label, _, seconds, _ in rows[-3:])
    print(f"\nper added model: {(ten - one) / 9 * 1000:.0f} ms (1 -> 10), {(most - ten) / (MODELS_MAX - 10) * 1000:.0f} ms (10 -> {MODELS_MAX})")
    assert all(max(r.values(), default=1) == 1 for *_, r in rows), "a release was rendered more than once"
    return 0


if __name__ == "__main__":
    sys.exit(main())
