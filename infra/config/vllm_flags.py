"""`models[].extraArgs` read the way vLLM's argument parser reads them, so a managed flag cannot slip
through under another spelling.

vLLM v0.33.0 parses `vllm serve` arguments with FlexibleArgumentParser (vllm/utils/argparse_utils.py),
an argparse.ArgumentParser that
  - turns `_` into `-` in a long flag's name up to the first `.` (`--max_model_len` is `--max-model-len`;
    `--hf-overrides.x` sets a key of `--hf-overrides`), and the later of two spellings wins;
  - accepts `--flag=value` and `--flag value`, short aliases (vllm/engine/arg_utils.py: `-tp`, `-pp`,
    `-dp`, `-dpl`, `-dpn`, `-dpr`, `-dpa`, `-dpp`, `-dpb`, `-dcp`, `-q`, `-O`), `--no-<flag>` for every
    boolean (argparse.BooleanOptionalAction), and unique prefixes of long flags (argparse's allow_abbrev);
  - reads more arguments from a YAML file given by `--config`.
`canonical` maps one item to the long flag vLLM would set; `problem` says why the kit refuses it.
"""

from __future__ import annotations

import re

# Flags the kit sets from typed keys (serving/workloads.py vllm_values and charts/vllm): extraArgs may
# not set them again under any spelling.
MANAGED = frozenset({
    "--model", "--revision", "--served-model-name", "--tensor-parallel-size", "--quantization", "--max-model-len",
    "--max-num-seqs", "--gpu-memory-utilization", "--enable-prefix-caching", "--enable-lora", "--max-loras",
    "--max-lora-rank", "--max-cpu-loras", "--lora-modules", "--download-dir", "--port", "--host", "--kv-cache-dtype",
}
)  # fmt: skip
# Flags that change how many GPUs (or nodes) one replica uses: the kit sizes, schedules and prices a
# replica as tensorParallelSize GPUs on one node (ParallelConfig world size = pp x tp x pcp; dp runs
# more engines).
GPU_COUNT = frozenset({
    "--pipeline-parallel-size", "--data-parallel-size", "--data-parallel-size-local", "--prefill-context-parallel-size",
    "--data-parallel-rank", "--data-parallel-start-rank", "--data-parallel-address", "--data-parallel-rpc-port",
    "--data-parallel-hybrid-lb", "--data-parallel-external-lb", "--nnodes", "--node-rank",
}
)  # fmt: skip
# Flags whose value is a credential: the kit passes these from Pulumi secrets (VLLM_API_KEY, HF_TOKEN).
SECRET = frozenset({"--api-key", "--hf-token"})
# Flags that pull in arguments the kit cannot see.
OPAQUE = frozenset({"--config"})
SHORT_ALIASES = {
    "-tp": "--tensor-parallel-size", "-pp": "--pipeline-parallel-size", "-dp": "--data-parallel-size",
    "-dpl": "--data-parallel-size-local", "-dpn": "--data-parallel-rank", "-dpr": "--data-parallel-start-rank",
    "-dpa": "--data-parallel-address", "-dpp": "--data-parallel-rpc-port", "-dpb": "--data-parallel-backend",
    "-dcp": "--decode-context-parallel-size", "-pcp": "--prefill-context-parallel-size", "-q": "--quantization",
    "-O": "--optimization-level",
}  # fmt: skip
_REFUSED = MANAGED | GPU_COUNT | SECRET | OPAQUE
_NUMBER = re.compile(r"^-\d")


def is_flag(item: str) -> bool:
    return item.startswith("-") and not _NUMBER.match(item)


def canonical(item: str) -> tuple[str, str | None]:
    """(the long flag vLLM reads, the value given in the same item or None) of a flag item."""
    item = item.strip()
    if item.startswith("--"):
        name, _, value = item.partition("=")
        if not _ and " " in name:
            name, _, value = name.partition(" ")
        name = name.split(".", 1)[0].replace("_", "-")
        return name, (value if _ else None)
    for alias in sorted(SHORT_ALIASES, key=len, reverse=True):
        if item.startswith(alias):
            rest = item[len(alias) :].lstrip("= ")
            return SHORT_ALIASES[alias], (rest or None)
    return item.split("=", 1)[0].split(" ", 1)[0], None


def _refused(flag: str) -> str | None:
    """The refused flag this one sets: itself, the flag of a --no- form, or the one it abbreviates."""
    if flag in _REFUSED:
        return flag
    if flag.startswith("--no-") and f"--{flag[5:]}" in _REFUSED:
        return f"--{flag[5:]}"
    prefixed = sorted(f for f in _REFUSED if f.startswith(flag) and len(flag) > 3)
    return prefixed[0] if prefixed else None


def problem(item: str) -> str | None:
    """Why the kit refuses this extraArgs item, or None."""
    if not is_flag(item):
        return None
    if re.search(r"\s", item.strip()):
        return "one flag per item: vLLM reads a flag and its value in one item as a single unknown argument; give --flag=value or two items"
    flag, _ = canonical(item)
    refused = _refused(flag)
    if refused is None:
        return None
    spelled = "" if refused == item.split("=", 1)[0] else f" (vLLM reads it as {refused})"
    if refused in SECRET:
        return f"{refused} carries a credential{spelled}: set it with pulumi config set --secret (huggingFaceToken, apiKey) instead"
    if refused in GPU_COUNT:
        return f"{refused} changes how many GPUs or nodes a replica uses{spelled}; the kit sizes a replica as tensorParallelSize GPUs on one node"
    if refused in OPAQUE:
        return f"{refused} loads flags from a file the kit cannot check{spelled}; list the flags here instead"
    return f"{refused} is set by the kit from its own key{spelled}; set that key instead"


def value_of(args: list[str], flag: str) -> str | None:
    """The value the last occurrence of `flag` gets in an extraArgs list (later wins, as in argparse)."""
    found = None
    for i, item in enumerate(args):
        if not is_flag(item):
            continue
        name, value = canonical(item)
        if name == flag:
            found = value if value is not None else (args[i + 1] if i + 1 < len(args) and not is_flag(args[i + 1]) else None)
    return found
