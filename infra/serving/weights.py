"""How a model's weights reach its GPUs, as chart values and IAM: from Hugging Face (no weight cache),
or streamed from the stack's S3 weight cache after a one-time mirror Job.

With the cache, per model:
- the chart's mirror Job (charts/vllm templates/weights-mirror-job.yaml) copies the pinned revision
  from Hugging Face to s3://<bucket>/<hf-id>/<revision>/ once: it skips when the revision's marker
  object exists, writes the marker last, then deletes the checkpoint's other revisions that stack
  config no longer names (versioning keeps them recoverable; the bucket's lifecycle expires them).
  Its IRSA role may write and delete under s3://<bucket>/<hf-id>/ only.
- every vLLM pod first waits in an init container until the marker exists (the Job and the pods
  start together on `pulumi up`; a pod never streams a half-written revision), then vLLM loads
  `s3://…` with `--load-format runai_streamer`. The pod's IRSA role may read that one revision's
  prefix (s3:GetObject on <prefix>/*, s3:ListBucket limited to the prefix) and its S3 LoRA adapters.

What the pinned image (vllm/vllm-openai:v0.33.0) brings, checked in the vllm 0.33.0 source:
- docker/Dockerfile installs `runai-model-streamer[s3,gcs,azure]>=0.15.7` in the OpenAI server image;
- vllm/model_executor/model_loader/runai_streamer_loader.py accepts exactly the extra-config keys
  distributed, concurrency and memory_limit (others are a ValueError); `concurrency` becomes
  RUNAI_STREAMER_CONCURRENCY; `distributed` (default false) lets each tensor-parallel rank stream
  its share instead of every rank reading every file;
- vllm/config/model.py maybe_pull_model_tokenizer_for_runai pulls *.json, *.model and *.py from the
  s3:// prefix into VLLM_ASSETS_CACHE first, so the mirror keeps config and tokenizer files next to
  the *.safetensors (the loader reads safetensors only).
Credentials come from boto3's default chain, i.e. IRSA; the region from AWS_REGION.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi

from infra.aws.iam import policy_document
from infra.aws.weight_cache import MIRROR_MARKER, revision_prefix
from infra.capacity.cold_start import ColdStart
from infra.config.delivery import WeightCache
from infra.config.models import ModelDeployment

# The mirror Job's scratch space: the checkpoint plus room for Hugging Face's partial downloads.
SCRATCH_HEADROOM = 1.2


def loader_extra_config(cold_start: ColdStart) -> str:
    """vLLM --model-loader-extra-config: concurrency always, distributed for tensor parallel."""
    config: dict[str, Any] = {"concurrency": cold_start.streamer_concurrency}
    if cold_start.distributed_streaming:
        config["distributed"] = True
    return json.dumps(config, separators=(",", ":"), sort_keys=True)


def weights_values(
    model: ModelDeployment,
    *,
    cache: WeightCache,
    bucket: pulumi.Input[str] | None,
    region: str,
    cold_start: ColdStart,
    weights_gib: float,
    keep_revisions: list[str],
    mirror_role_arn: pulumi.Input[str] | None,
) -> dict[str, Any]:
    """The chart's `weights` values: empty `uri` without the cache (vLLM downloads model.id)."""
    if bucket is None:
        return {"uri": ""}
    prefix = revision_prefix(model.hugging_face_id, model.revision)
    return {
        "uri": pulumi.Output.concat("s3://", bucket, "/", prefix),
        "bucket": bucket,
        "prefix": prefix,
        "marker": MIRROR_MARKER,
        "region": region,
        "loaderExtraConfig": loader_extra_config(cold_start),
        "waitMinutes": cache.mirror_wait_minutes,
        "mirror": {
            "roleArn": mirror_role_arn or "",
            "keepRevisions": sorted(set(keep_revisions)),
            "scratchGi": max(10, round(weights_gib * SCRATCH_HEADROOM)),
        },
    }


def read_policy(partition: str, buckets: dict[str, list[str]]) -> str:
    """Read-only access to the given S3 prefixes and nothing else (weights and LoRA adapters)."""
    statements = []
    for bucket, prefixes in sorted(buckets.items()):
        statements.append({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"arn:{partition}:s3:::{bucket}/{prefix}/*" for prefix in prefixes]})
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": f"arn:{partition}:s3:::{bucket}",
                "Condition": {"StringLike": {"s3:prefix": [p for prefix in prefixes for p in (prefix, f"{prefix}/*")]}},
            }
        )
    return policy_document(*statements)


def mirror_policy(partition: str, bucket: str, hugging_face_id: str) -> str:
    """The mirror Job's rights: read, write and delete objects of one checkpoint (all its revisions)."""
    return policy_document(
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            "Resource": f"arn:{partition}:s3:::{bucket}/{hugging_face_id}/*",
        },
        {
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": f"arn:{partition}:s3:::{bucket}",
            "Condition": {"StringLike": {"s3:prefix": [hugging_face_id, f"{hugging_face_id}/*"]}},
        },
    )
