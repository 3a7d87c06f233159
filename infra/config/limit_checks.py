"""Rules across fields that come from downstream limits (limits.py): the names the stack name and
pool/model names compose into (IAM, EKS), router route names, vLLM's and TEI's batch limits, and
model overrides that contradict a catalog checkpoint. Numbers too large for JSON/Go/Helm are
refused before validation."""

from __future__ import annotations

import math
from typing import Any

from infra import PROJECT
from infra.catalog import checkpoints
from infra.config import vllm_flags
from infra.config.limits import (
    ADAPTER_ROLE,
    CLUSTER_NAME_MAX,
    EMBEDDING_MAX_INPUT_TOKENS,
    IAM_ROLE_NAME_MAX,
    NODE_GROUP,
    NODE_GROUP_NAME_MAX,
    PULUMI_AUTONAME_SUFFIX,
    RESERVED_ROUTE_NAMES,
    STACK_NAME,
    STACK_NAME_MAX,
    VLLM_DEFAULT_BATCHED_TOKENS,
    VLLM_DEFAULT_BATCHED_TOKENS_LARGE_GPU,
    VLLM_LARGE_GPU_GIB,
)
from infra.config.problems import Problem
from infra.config.redact import looks_like_secret
from infra.config.stack import StackConfig

# Numbers past 2^53 lose precision as JSON/Go float64 (Pulumi config, Helm values).
NUMBER_MAX = 2**53
# What --quantization may say for a checkpoint, by the quant_method its config.json stores. vLLM's
# ModelConfig._verify_quantization (vllm/config/model.py) refuses a method other than the checkpoint's,
# except the Marlin kernels for AWQ/GPTQ checkpoints; an unquantized checkpoint may be quantized
# online to fp8.
CHECKPOINT_QUANTIZATION = {
    None: {None, "fp8"},
    "awq": {None, "awq", "awq_marlin"},
    "gptq": {None, "gptq", "gptq_marlin"},
    "fbgemm_fp8": {None},
    "fp8": {None, "fp8"},
    "compressed-tensors": {None, "compressed-tensors"},
}
# AWQ/GPTQ asked of a 16-bit checkpoint: capacity/sizing.py says it, with what would fit instead.
LEFT_TO_SIZING = {(None, q) for q in ("awq", "awq_marlin", "gptq", "gptq_marlin")}


def number_problems(raw: Any, loc: tuple = ()) -> list[Problem]:
    """Every number in the raw config that is not finite or too large to travel as JSON."""
    if isinstance(raw, dict):
        return [p for key, value in raw.items() for p in number_problems(value, (*loc, str(key)))]
    if isinstance(raw, list):
        return [p for i, value in enumerate(raw) for p in number_problems(value, (*loc, i))]
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return []
    if isinstance(raw, float) and not math.isfinite(raw):
        return [Problem(loc or ("",), "not a finite number", str(raw))]
    if abs(raw) > NUMBER_MAX:
        return [Problem(loc or ("",), f"too large: numbers travel as JSON and Helm values (float64), exact only up to {NUMBER_MAX:,}", raw)]
    return []


def secret_value_problems(raw: Any, loc: tuple = ()) -> list[Problem]:
    """Every key or string value outside the secret keys that looks like a credential: it would be
    stored, planned and rendered in clear."""
    if isinstance(raw, dict):
        found = []
        for key, value in raw.items():
            if looks_like_secret(str(key)):
                found.append(Problem((*loc, str(key)), _PLAIN_SECRET, str(key)))
            else:
                found += secret_value_problems(value, (*loc, str(key)))
        return found
    if isinstance(raw, list):
        return [p for i, value in enumerate(raw) for p in secret_value_problems(value, (*loc, i))]
    if isinstance(raw, str) and looks_like_secret(raw):
        return [Problem(loc or ("",), _PLAIN_SECRET, raw)]
    return []


_PLAIN_SECRET = f"looks like a credential in plain text; it would print in the plan, the manifests and the state: store it with pulumi config set --secret {PROJECT}:<secret key>"


def stack_name_problems(stack: str, config: StackConfig) -> list[Problem]:
    """The stack name and the AWS names it composes into: <project>-<stack>-..."""
    if not STACK_NAME.match(stack) or len(stack) > STACK_NAME_MAX:
        return [
            Problem(
                (),
                f"stack names go into every AWS name ({PROJECT}-<stack>-...): use lower-case letters, digits and '-', "
                f"at most {STACK_NAME_MAX} characters (IAM role names are at most {IAM_ROLE_NAME_MAX} with Pulumi's {PULUMI_AUTONAME_SUFFIX}-character suffix)",
                stack,
            )
        ]
    prefix = f"{PROJECT}-{stack}"
    problems = []
    if len(prefix) > CLUSTER_NAME_MAX:
        problems.append(Problem((), f"the EKS cluster name {prefix} is over {CLUSTER_NAME_MAX} characters", stack))
    for i, pool in enumerate(config.gpu_pools):
        name = NODE_GROUP.format(prefix=prefix, pool=pool.name, capacity="on-demand")
        if len(name) > NODE_GROUP_NAME_MAX:
            problems.append(Problem(("gpuPools", i, "name"), f"node group name {name} is {len(name)} characters, EKS allows {NODE_GROUP_NAME_MAX}; shorten the pool or stack name", pool.name))
    role_max = IAM_ROLE_NAME_MAX - PULUMI_AUTONAME_SUFFIX
    for i, model in enumerate(config.models):
        name = ADAPTER_ROLE.format(prefix=prefix, model=model.name)
        if any(a.s3 for a in model.lora_adapters) and len(name) > role_max:
            problems.append(
                Problem(("models", i, "name"), f"IAM role {name} is {len(name)} characters; with Pulumi's {PULUMI_AUTONAME_SUFFIX}-character suffix IAM allows {role_max}; shorten the model or stack name", model.name)
            )
    return problems


def route_problems(config: StackConfig) -> list[Problem]:
    """Every name the router serves must be unique: models, adapters, the embedding model, the fallback."""
    owners: dict[str, list[tuple]] = {}
    for i, model in enumerate(config.models):
        owners.setdefault(model.name, []).append(("models", i, "name"))
        for j, adapter in enumerate(model.lora_adapters):
            owners.setdefault(adapter.name, []).append(("models", i, "loraAdapters", j, "name"))
    problems = []
    for name, locs in owners.items():
        for loc in locs[1:]:
            problems.append(Problem(loc, f"the router already serves {name!r} for {Problem(locs[0], '').path}; model and adapter names must be unique across the stack", name))
    if config.embeddings.enabled and config.fallback.enabled and config.embeddings.route_name in owners:
        loc = owners[config.embeddings.route_name][0]
        problems.append(Problem(loc, f"the router serves the embedding model {config.embeddings.model} as {config.embeddings.route_name!r}; rename this one", config.embeddings.route_name))
    if config.embeddings.route_name in RESERVED_ROUTE_NAMES:
        problems.append(Problem(("embeddings", "model"), f"its route name {config.embeddings.route_name!r} is the kit's own", config.embeddings.model))
    return problems


def engine_problems(config: StackConfig) -> list[Problem]:
    """vLLM and TEI limits that depend on more than one field."""
    problems = []
    pools = {p.name: p for p in config.gpu_pools}
    for i, model in enumerate(config.models):
        pool = pools.get(model.pool)
        given = vllm_flags.value_of(list(model.extra_args), "--max-num-batched-tokens")
        if given is not None and given.isdigit():
            batched, why = int(given), "--max-num-batched-tokens in extraArgs"
        elif pool is not None:
            large = pool.gpu.gpu_memory_gib >= VLLM_LARGE_GPU_GIB and "A100" not in pool.gpu.gpu
            batched = VLLM_DEFAULT_BATCHED_TOKENS_LARGE_GPU if large else VLLM_DEFAULT_BATCHED_TOKENS
            why = f"vLLM's default max_num_batched_tokens on {pool.gpu.gpu}"
        else:
            continue
        if model.max_num_seqs > batched:
            problems.append(
                Problem(("models", i, "maxNumSeqs"), f"vLLM refuses max_num_seqs above max_num_batched_tokens ({batched}, {why}); lower it or add --max-num-batched-tokens to extraArgs", model.max_num_seqs)
            )
        problems += checkpoint_problems(i, model)
    embeddings = config.embeddings
    longest = EMBEDDING_MAX_INPUT_TOKENS.get(embeddings.model)
    if embeddings.enabled and longest and embeddings.max_batch_tokens < longest:
        problems.append(
            Problem(("embeddings", "maxBatchTokens"), f"below {embeddings.model}'s longest input ({longest} tokens): TEI could never batch a full-length input; use at least {longest}", embeddings.max_batch_tokens)
        )
    return problems


def checkpoint_problems(i: int, model) -> list[Problem]:
    """Overrides that contradict what the catalog knows about the checkpoint."""
    checkpoint = checkpoints().get(model.hugging_face_id)
    if checkpoint is None:
        return []
    problems = []
    allowed = CHECKPOINT_QUANTIZATION.get(checkpoint.quantization, {checkpoint.quantization})
    if model.quantization is not None and model.quantization not in allowed and (checkpoint.quantization, model.quantization) not in LEFT_TO_SIZING:
        stored = f"quantized with {checkpoint.quantization}" if checkpoint.quantization else "not quantized"
        options = ", ".join(sorted(q for q in allowed if q)) or "none"
        problems.append(
            Problem(("models", i, "quantization"), f"{model.hugging_face_id} is {stored}; vLLM refuses a different --quantization: use null (read from the checkpoint) or {options}", model.quantization)
        )
    if model.weight_bits is not None and model.quantization is None and model.weight_bits != checkpoint.weight_bits:
        problems.append(Problem(("models", i, "weightBits"), f"{model.hugging_face_id} is {checkpoint.weight_bits}-bit in the catalog; remove weightBits or use a matching checkpoint", model.weight_bits))
    if model.architecture is not None and model.architecture != checkpoint.architecture:
        problems.append(Problem(("models", i, "architecture"), f"{model.hugging_face_id} is {checkpoint.architecture} in the catalog; remove architecture", model.architecture))
    if model.shape is not None:
        problems.append(Problem(("models", i, "shape"), f"{model.hugging_face_id} is {checkpoint.architecture} in the catalog; remove shape (it would size a different model)", "shape"))
    return problems
