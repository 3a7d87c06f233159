"""The weight cache: one S3 bucket per stack holding a mirror of each model's checkpoint revision
at s3://<bucket>/<hugging-face-id>/<revision>/, which vLLM streams straight into GPU memory.

Protections, each its own resource so a reviewer sees it in the plan:
- server-side encryption SSE-S3 (AES256). Not SSE-KMS: every replica opens tens of parallel ranged
  GETs, and each GET of an SSE-KMS object is a KMS request against the account's KMS quota.
- every public access block on; object ownership BucketOwnerEnforced (ACLs disabled);
- a bucket policy denying any request not made over TLS;
- versioning, so a revision the mirror Job retires stays recoverable for `retiredRevisionDays`
  (noncurrent versions), after which a lifecycle rule deletes it; incomplete multipart uploads
  are aborted after a day.

Who reads and writes is decided per model in infra/serving (IRSA roles scoped to one prefix).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import PROJECT
from infra.aws.iam import policy_document
from infra.config.delivery import WeightCache

MIRROR_MARKER = ".llm-serving-mirror-complete"  # written last by the mirror Job; its presence means "complete"


def bucket_name(stack: str, account_id: str, region: str) -> str:
    """Globally unique, valid S3 bucket name (3-63 chars, lower-case letters, digits, hyphens)."""
    stack_part = re.sub(r"[^a-z0-9-]", "-", stack.lower())[:20].strip("-") or "stack"
    return f"{PROJECT}-{stack_part}-weights-{account_id}-{region}"[:63].rstrip("-")


def revision_prefix(hugging_face_id: str, revision: str) -> str:
    """Where one checkpoint revision lives in the bucket (no leading or trailing slash)."""
    return f"{hugging_face_id}/{revision}"


def tls_only_policy(bucket_arn: str) -> str:
    return policy_document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )


def lifecycle_rules(cache: WeightCache) -> list[dict]:
    return [
        {
            "id": "expire-retired-revisions",
            "status": "Enabled",
            "filter": {},
            "noncurrent_version_expiration": {"noncurrent_days": cache.retired_revision_days},
            "expiration": {"expired_object_delete_marker": True},
        },
        {"id": "abort-incomplete-uploads", "status": "Enabled", "filter": {}, "abort_incomplete_multipart_upload": {"days_after_initiation": 1}},
    ]


@dataclass(frozen=True)
class WeightCacheArgs:
    stack: str
    region: str
    partition: pulumi.Input[str]
    account_id: pulumi.Input[str]
    cache: WeightCache


class WeightCacheBucket(pulumi.ComponentResource):
    """The stack's weights bucket and its protections."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]

    def __init__(self, name: str, args: WeightCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-serving:storage:WeightCache", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        physical = pulumi.Output.from_input(args.account_id).apply(lambda account: bucket_name(args.stack, account, args.region))
        bucket = aws.s3.Bucket(name, bucket=physical, force_destroy=False, opts=child)
        aws.s3.BucketPublicAccessBlock(
            name,
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(name, bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child)
        aws.s3.BucketServerSideEncryptionConfiguration(
            name, bucket=bucket.id, rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}], opts=child
        )
        versioning = aws.s3.BucketVersioning(name, bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=child)
        aws.s3.BucketLifecycleConfiguration(
            name, bucket=bucket.id, rules=lifecycle_rules(args.cache), opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning])
        )
        arn = pulumi.Output.concat("arn:", args.partition, ":s3:::", bucket.bucket)
        aws.s3.BucketPolicy(name, bucket=bucket.id, policy=arn.apply(tls_only_policy), opts=child)
        self.bucket_name = bucket.bucket
        self.bucket_arn = arn
        self.register_outputs({"bucket": self.bucket_name})
