"""The `estimate` and `advise` subcommands: their arguments, and their readable and JSON output.

  python -m infra estimate --instance-type T (--model HF_ID | --architecture NAME --weight-bits {16,8,4})
      [--tensor-parallel N] [--kv-cache-dtype auto|fp8] [--prompt-tokens P] [--output-tokens O]
      [--max-num-seqs S] [--max-model-len L] [--gpu-memory-utilization U] [--ttft-ms T --itl-ms I] [--json]
  python -m infra advise --monthly-tokens N --prompt-tokens P --output-tokens O [--ttft-ms T --itl-ms I]
      (--model HF_ID | --model-class 8b|70b|...) [--compare-with API] [--json]

Exit status: 0 answered; 2 bad input, or (estimate) the model does not fit as asked.
"""

from __future__ import annotations

import argparse
import json

from infra.capacity.throughput import LatencyTarget, Workload
from infra.config.economics import LatencyObjective
from infra.offline.whatif import (
    DEFAULT_OPS_OVERHEAD,
    DEFAULT_REGION,
    MODEL_CLASSES,
    WhatIfError,
    advise,
    instance_of,
    option,
    resolve_model,
    smallest_tensor_parallel,
)

SLO = LatencyObjective()


def _shared(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt-tokens", type=float, default=512, help="average prompt tokens per request (default 512)")
    parser.add_argument("--output-tokens", type=float, default=256, help="average output tokens per request (default 256)")
    parser.add_argument("--prefix-cache-hit-rate", type=float, default=0.0, help="share of prompt tokens served from the prefix cache (default 0)")
    parser.add_argument("--ttft-ms", type=float, default=SLO.ttft_ms, help=f"time-to-first-token target, ms (default {SLO.ttft_ms:g})")
    parser.add_argument("--itl-ms", type=float, default=SLO.itl_ms, help=f"inter-token latency target, ms (default {SLO.itl_ms:g})")
    parser.add_argument("--region", default=DEFAULT_REGION, help=f"AWS region for prices (default {DEFAULT_REGION})")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def add_parsers(commands: argparse._SubParsersAction) -> None:
    est = commands.add_parser("estimate", help="what one model does on one instance type: fit, KV cache, throughput with its band, $/M tokens")
    est.add_argument("--instance-type", required=True, help="catalog GPU instance type, e.g. p5.48xlarge")
    model = est.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", help="catalog checkpoint (Hugging Face id)")
    model.add_argument("--architecture", help="catalog architecture, e.g. llama-3.1-70b")
    est.add_argument("--weight-bits", type=int, choices=(16, 8, 4), help="stored weight precision (default: the checkpoint's, or 16)")
    est.add_argument("--tensor-parallel", type=int, choices=(1, 2, 4, 8), help="GPUs per replica (default: the fewest that fit)")
    est.add_argument("--kv-cache-dtype", choices=("auto", "fp8"), default="auto", help="vLLM --kv-cache-dtype (auto: the model's BF16)")
    est.add_argument("--max-num-seqs", type=int, help="vLLM --max-num-seqs (default: vLLM's for the GPU)")
    est.add_argument("--max-model-len", type=int, help="vLLM --max-model-len (default: min(8192, the model's context))")
    est.add_argument("--gpu-memory-utilization", type=float, default=0.9, help="vLLM --gpu-memory-utilization (default 0.9)")
    _shared(est)
    adv = commands.add_parser("advise", help="cheapest way to serve a monthly volume, against hosted APIs, with a stack snippet")
    adv.add_argument("--monthly-tokens", type=float, required=True, help="prompt + output tokens per month, e.g. 2e9")
    which = adv.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="catalog checkpoint (Hugging Face id)")
    which.add_argument("--model-class", choices=sorted(MODEL_CLASSES), help="a model size class")
    adv.add_argument("--compare-with", help="hosted API from the catalog (default: the class's counterpart)")
    adv.add_argument("--headroom", type=float, default=0.7, help="plan replicas to run at most this busy on average (default 0.7)")
    adv.add_argument("--ops-overhead", type=float, default=DEFAULT_OPS_OVERHEAD, help="operations overhead on the GPU bill (default 0.3)")
    adv.add_argument("--top", type=int, default=5, help="candidates to show (default 5)")
    _shared(adv)


def _workload(args: argparse.Namespace) -> tuple[Workload, LatencyTarget]:
    if args.prompt_tokens <= 0 or args.output_tokens <= 0 or not 0 <= args.prefix_cache_hit_rate < 1:
        raise WhatIfError("--prompt-tokens and --output-tokens must be positive, --prefix-cache-hit-rate in [0, 1)")
    return Workload(args.prompt_tokens, args.output_tokens, args.prefix_cache_hit_rate), LatencyTarget(args.ttft_ms, args.itl_ms)


def run_estimate(args: argparse.Namespace) -> tuple[dict, bool]:
    workload, target = _workload(args)
    instance = instance_of(args.instance_type, args.region)
    name, shape, bits = resolve_model(args.model, args.architecture, args.weight_bits)
    kwargs = {"kv_fp8": args.kv_cache_dtype == "fp8", "max_num_seqs": args.max_num_seqs, "max_model_len": args.max_model_len, "utilization": args.gpu_memory_utilization}
    if args.tensor_parallel:
        o = option(instance, name, shape, bits, args.tensor_parallel, workload, target, **kwargs)
    else:
        o = smallest_tensor_parallel(instance, name, shape, bits, workload, target, **kwargs)
    return o.to_json(), o.problem is None


def render_estimate(e: dict) -> str:
    lines = [f"{e['architecture']} ({e['precision']}, KV {e['kv_cache_dtype']}) on {e['instance_type']} at tensor parallel {e['tensor_parallel']} ({e['engine']} calibration)"]
    if not e["fits"]:
        return "\n".join([*lines, f"  does not fit: {e['problem']}"])
    rate = e["usd_per_hour"]
    lines += [
        f"  fits: yes; weights {e['weights_gib']:.1f} GiB, KV cache {e['kv_cache_gib']:.1f} GiB, {e['max_concurrent_sequences']} sequences of max-model-len at once",
        f"  output: {e['output_tokens_per_second']:,.0f} tok/s per replica (likely {e['output_tokens_per_second_low']:,.0f}-{e['output_tokens_per_second_high']:,.0f}), input {e['input_tokens_per_second']:,.0f} tok/s",
        f"  batch {e['batch']} ({e['batch_limited_by']}); TTFT {e['ttft_ms']:,.0f} ms, inter-token {e['itl_ms']:,.0f} ms",
        f"  cost: ${rate:,.2f}/hour per replica, ${e['usd_per_million_tokens_at_100%']:,.3f} per million tokens at 100% (incl. 30% ops)" if rate is not None else "  cost: no on-demand price in the catalog",
    ]
    return "\n".join(lines)


def render_advice(a: dict) -> str:
    api = a["api"]
    lines = [
        f"{a['architecture']}: {a['monthly_tokens'] / 1e9:,.2f}B tokens/month of {a['workload']['prompt_tokens']:g} prompt + {a['workload']['output_tokens']:g} output tokens, "
        f"TTFT <= {a['slo']['ttft_ms']:g} ms, inter-token <= {a['slo']['itl_ms']:g} ms, {a['region']}",
        "",
        f"{'instance':<14} {'precision':<9} {'TP':>2} {'replicas':>8} {'spot':>4} {'busy':>5} {'tok/s/replica':>13} {'$/month':>10} {'$/M tokens':>10}  (band)",
    ]
    for c in a["candidates"]:
        lines.append(
            f"{c['instance_type']:<14} {c['precision']:<9} {c['tensor_parallel']:>2} {c['replicas']:>8} {c['spot_replicas']:>4} {c['expected_utilization']:>5.0%} "
            f"{c['output_tokens_per_second']:>13,.0f} {c['monthly_usd']:>10,.0f} {c['usd_per_million_tokens']:>10.3f}  ({c['usd_per_million_tokens_low']:.3f}-{c['usd_per_million_tokens_high']:.3f})"
        )
    lines += ["", f"API {api['name']}: ${api['usd_per_million_input_tokens']}/M input, ${api['usd_per_million_output_tokens']}/M output, ${api['usd_per_million_tokens_blended']:.3f}/M blended (${api['monthly_usd']:,.0f}/month)"]
    if a["break_even_monthly_tokens"] is not None:
        lines.append(f"Break-even: the best candidate's fixed cost equals the API's bill at {a['break_even_monthly_tokens'] / 1e9:,.2f}B tokens/month")
    lines += ["", f"Verdict: {a['verdict']}"]
    if a["snippet"]:
        lines += ["", "Stack snippet (best candidate):", a["snippet"]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Dispatch `estimate` or `advise`; returns the exit status."""
    try:
        if args.command == "estimate":
            result, fits = run_estimate(args)
            print(json.dumps(result, indent=2, sort_keys=True) if args.json else render_estimate(result))
            return 0 if fits else 2
        workload, target = _workload(args)
        result = advise(args.monthly_tokens, workload, target, model=args.model, model_class=args.model_class, compare_with=args.compare_with,
                        region=args.region, headroom=args.headroom, ops=args.ops_overhead, top=args.top)
        print(json.dumps(result, indent=2, sort_keys=True) if args.json else render_advice(result))
        return 0
    except WhatIfError as exc:
        print(f"error: {exc}")
        return 2
