"""Calibration: fit the throughput model's constants on published measurements and measure its error on
measurements it was not fitted on (leave-one-out cross-validation).

    PYTHONPATH=$PWD .venv/bin/python -m infra.capacity.calibrate            print the fit and held-out error
    PYTHONPATH=$PWD .venv/bin/python -m infra.capacity.calibrate --write    rewrite infra/catalog/calibration_fit.yaml

The fit minimises the squared log error (over- and under-estimates weigh alike) by coordinate descent
in log space, from a fixed start, so it is deterministic. Held out: each measurement is predicted by
constants fitted on all the others; the band is the 10th..90th percentile of measured / predicted - 1.
tests/test_throughput.py re-runs both and fails when the file is stale or the error regresses.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import yaml

from infra.capacity.sizing import ServingSetup, replica
from infra.capacity.throughput import Calibration, Constants, Workload, estimate
from infra.catalog import GpuInstance, Measurement, gpu_instances, measurements, model_architectures

FIT_FILE = Path(__file__).resolve().parent.parent / "catalog" / "calibration_fit.yaml"
GENERATIONS = {"0.8": "vLLM V1 engine (0.8 and newer)"}
START = Constants(bandwidth_efficiency=0.7, compute_efficiency=0.5, tp_efficiency=0.85, step_overhead_ms=2.0, weight_only_dequant=0.5, allreduce_us=10.0, sequence_overhead_us=20.0, burst_fill=0.5)
BOUNDS = {"bandwidth_efficiency": (0.05, 1.0), "compute_efficiency": (0.02, 1.0), "tp_efficiency": (0.4, 1.0), "step_overhead_ms": (0.01, 50.0), "weight_only_dequant": (0.0, 10.0), "allreduce_us": (0.01, 1000.0), "sequence_overhead_us": (0.01, 1000.0), "burst_fill": (0.02, 1.0)}


def vllm_default_max_num_seqs(gpu: GpuInstance) -> int:
    """vLLM's max-num-seqs when not set: 1024 on GPUs of 70 GiB or more that are not A100, else 256
    (vllm/engine/arg_utils.py, EngineArgs.get_batch_defaults, OPENAI_API_SERVER context)."""
    return 1024 if gpu.gpu_memory_gib >= 70 and not gpu.gpu.startswith("A100") else 256


def gpu_named(name: str) -> GpuInstance:
    return next(i for i in gpu_instances().values() if i.gpu == name)


@dataclass(frozen=True)
class Case:
    """A measurement with what the model needs to predict it."""

    measurement: Measurement
    shape: object
    gpu: GpuInstance
    setup: ServingSetup
    workload: Workload

    def predict(self, constants: Constants) -> float:
        cal = Calibration("vllm", (0, 8), constants, 0.0, 0.0, 0.0, 0)
        output = estimate(replica(self.shape, self.gpu, self.setup, constants), cal, self.workload).output_tokens_per_second
        m = self.measurement
        return output * (m.prompt_tokens + m.output_tokens) / m.output_tokens if m.metric == "total" else output


def case_of(m: Measurement) -> Case:
    gpu = gpu_named(m.gpu)
    setup = ServingSetup(
        tensor_parallel=m.tensor_parallel,
        weight_bits=m.weight_bits,
        max_model_len=4096,
        max_num_seqs=m.max_num_seqs or vllm_default_max_num_seqs(gpu),
        gpu_memory_utilization=0.9,  # vLLM's default; the sources run `vllm serve MODEL` without it
    )
    return Case(m, model_architectures()[m.architecture], gpu, setup, Workload(m.prompt_tokens, m.output_tokens, 0.0, m.concurrency, burst=m.concurrency is None))


def cases(generation: str = "0.8") -> list[Case]:
    floor = tuple(int(x) for x in generation.split("."))
    return [case_of(m) for m in measurements() if tuple(int(x) for x in m.engine_version.split(".")[:2]) >= floor]


def loss(constants: Constants, training: Sequence[Case]) -> float:
    return sum(math.log(c.predict(constants) / c.measurement.value) ** 2 for c in training)


def fit_constants(training: Sequence[Case], start: Constants = START) -> Constants:
    """Coordinate descent in log space: try x*e^{+-step} per constant, halve the step when nothing improves."""
    best, best_loss, step = start, loss(start, training), 0.8
    while step > 0.005:
        improved = False
        for f in fields(Constants):
            low, high = BOUNDS[f.name]
            for direction in (1, -1):
                value = min(high, max(low, getattr(best, f.name) * math.exp(direction * step)))
                candidate = replace(best, **{f.name: value})
                candidate_loss = loss(candidate, training)
                if candidate_loss < best_loss - 1e-12:
                    best, best_loss, improved = candidate, candidate_loss, True
        if not improved:
            step /= 2
    return best


@dataclass(frozen=True)
class HeldOut:
    """Leave-one-out errors: measured / predicted - 1, per measurement id."""

    errors: dict[str, float]

    def percentile(self, q: float) -> float:
        values = sorted(self.errors.values())
        position = q * (len(values) - 1)
        low, high = math.floor(position), math.ceil(position)
        return values[low] + (values[high] - values[low]) * (position - low)

    @property
    def median_abs_error(self) -> float:
        # error relative to the estimate, symmetric in log space: |log(measured / predicted)| as a %
        return statistics.median(math.expm1(abs(math.log1p(e))) for e in self.errors.values())


def leave_one_out(all_cases: Sequence[Case], start: Constants) -> HeldOut:
    errors = {}
    for i, held in enumerate(all_cases):
        constants = fit_constants([c for j, c in enumerate(all_cases) if j != i], start)
        errors[held.measurement.id] = held.measurement.value / held.predict(constants) - 1
    return HeldOut(errors)


def calibrate(generation: str = "0.8") -> dict:
    all_cases = cases(generation)
    constants = fit_constants(all_cases)
    held = leave_one_out(all_cases, constants)
    in_sample = {c.measurement.id: round(c.measurement.value / c.predict(constants) - 1, 4) for c in all_cases}
    return {
        "engine": "vllm",
        "min_version": generation,
        "description": GENERATIONS[generation],
        "constants": {k: round(v, 4) for k, v in asdict(constants).items()},
        "held_out": {
            "method": "leave-one-out",
            "measurements": len(all_cases),
            "median_abs_error": round(held.median_abs_error, 4),
            "band_low": round(held.percentile(0.10), 4),
            "band_high": round(held.percentile(0.90), 4),
            "worst_under": round(min(held.errors.values()), 4),
            "worst_over": round(max(held.errors.values()), 4),
            "errors": {k: round(v, 4) for k, v in held.errors.items()},
        },
        "in_sample_errors": in_sample,
    }


HEADER = """# Generated by `python -m infra.capacity.calibrate --write` from calibration.yaml: the throughput
# model's constants per engine generation, and its error on measurements it was not fitted on
# (leave-one-out). Errors are measured / estimated - 1; the band is their 10th..90th percentile.
# Do not edit by hand: tests/test_throughput.py refits and fails when this file is stale.
"""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.capacity.calibrate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"rewrite {FIT_FILE.name}")
    args = parser.parse_args(argv)
    result = {"engines": [calibrate(generation) for generation in GENERATIONS]}
    text = HEADER + yaml.safe_dump(result, sort_keys=False, width=160)
    if args.write:
        FIT_FILE.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
