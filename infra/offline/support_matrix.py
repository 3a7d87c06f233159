"""The support matrix (docs/support-matrix.md), generated from the catalogs: which checkpoints fit which GPU
instance types and at what tensor parallel size, what each GPU type costs where, and which regions the
catalogs price. Every cell is the sizing arithmetic the plan itself runs (capacity/sizing.py `fit_problem`),
so the matrix cannot promise what a stack's plan would refuse. `python -m infra support-matrix --write
docs/support-matrix.md` regenerates it; a test keeps the file in step.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from infra.capacity.sizing import ServingSetup, fit_problem
from infra.catalog import Checkpoint, GpuInstance, checkpoints, gpu_instances, model_architectures, spot_prices
from infra.catalog.aws_api import eks_regions

MAX_MODEL_LEN = 8192  # the matrix's context length: a common chat setting (a stack's own maxModelLen decides its fit)
GPU_MEMORY_UTILIZATION = 0.9  # vLLM's default --gpu-memory-utilization


def smallest_tensor_parallel(checkpoint: Checkpoint, instance: GpuInstance) -> int | None:
    """The smallest TP (a power of two up to the node's GPUs) at which the checkpoint serves one MAX_MODEL_LEN
    sequence on this instance type; None when no TP on one node does."""
    shape = model_architectures()[checkpoint.architecture]
    max_len = min(MAX_MODEL_LEN, shape.max_context)
    for tp in (1, 2, 4, 8):
        if tp > instance.gpus:
            return None
        setup = ServingSetup(tensor_parallel=tp, weight_bits=checkpoint.weight_bits, max_model_len=max_len, max_num_seqs=1, gpu_memory_utilization=GPU_MEMORY_UTILIZATION)
        if fit_problem(shape, instance, setup, quantized=checkpoint.quantization is not None) is None:
            return tp
    return None


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    header = list(header)
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _usd(value: float | None) -> str:
    return f"${value:,.2f}" if value is not None else "—"


def node_kinds() -> dict[tuple[str, int], list[GpuInstance]]:
    """Instance types grouped by what decides a fit: the GPU model and the GPUs per node."""
    kinds: dict[tuple[str, int], list[GpuInstance]] = {}
    for instance in sorted(gpu_instances().values(), key=lambda i: (i.gpu_memory_gib * i.gpus, i.gpu, i.instance_type)):
        kinds.setdefault((instance.gpu, instance.gpus), []).append(instance)
    return kinds


def render() -> str:
    kinds = node_kinds()
    models = sorted(checkpoints().items())
    instances = [i for group in kinds.values() for i in group]
    lines = [
        f"Each cell: the smallest tensor parallel size at which the checkpoint fits one node with those GPUs and a "
        f"{MAX_MODEL_LEN:,}-token context (or the model's own, if shorter) at gpu-memory-utilization {GPU_MEMORY_UTILIZATION}; "
        "— where no tensor parallel size on one node does. The plan sizes each stack with its own settings.",
        "",
        *_table(
            ["checkpoint", "bits", *(f"{n}x {gpu}" for gpu, n in kinds)],
            ([f"`{name}`", str(c.weight_bits), *(f"TP {tp}" if (tp := smallest_tensor_parallel(c, group[0])) else "—" for group in kinds.values())] for name, c in models),
        ),
        "",
        "GPU instance types (`infra/catalog/gpu_instances.yaml`; on-demand prices us-east-1, spot prices per region in "
        "`infra/catalog/spot_prices.yaml`; every price is overridable per stack under `llm-serving:catalog`):",
        "",
        *_table(
            ["instance type", "GPUs", "GPU memory (driver)", "vCPUs", "on-demand $/hour", "spot prices recorded in"],
            (
                [
                    f"`{i.instance_type}`",
                    f"{i.gpus}x {i.gpu}",
                    f"{i.gpu_memory_gib:.1f} GiB",
                    str(i.vcpus),
                    _usd(i.on_demand_usd_hour),
                    ", ".join(sorted(r for r, prices in spot_prices().regions.items() if i.instance_type in prices)) or "—",
                ]
                for i in instances
            ),
        ),
        "",
        f"Regions: a stack may name any of the {len(eks_regions())} EKS regions botocore lists "
        f"(`infra/catalog/aws_api.json`): {', '.join(f'`{r}`' for r in eks_regions())}. "
        "Where a region has no recorded spot price for an instance type, the plan prices spot at on-demand and warns.",
    ]
    return "\n".join(lines) + "\n"


def page() -> str:
    """The whole of docs/support-matrix.md."""
    return (
        "# Support matrix\n\n"
        "Generated from the catalogs by `python -m infra support-matrix --write docs/support-matrix.md` (a test keeps it in\n"
        "step): what the kit can size, place and price without a stack. A checkpoint or instance type missing here can be\n"
        "added to `infra/catalog/models.yaml` or `gpu_instances.yaml` (with its source), or priced per stack under\n"
        "`llm-serving:catalog`.\n\n" + render()
    )


def write(path: Path) -> None:
    path.write_text(page())
