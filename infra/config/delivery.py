"""The `weightCache` and `imageCache` sections: how weights and images reach a GPU node.

- `weightCache`: a per-stack S3 bucket holding a mirror of every model's checkpoint revision, which
  vLLM streams straight into GPU memory (Run:ai Model Streamer). Off: every pod downloads from
  Hugging Face, as before.
- `imageCache`: ECR pull-through cache rules for the public registries the kit's images come from,
  and the charts' image repositories pointed at them. Off: images come from their registries.
"""

from __future__ import annotations

from pydantic import Field

from infra.config.base import ConfigModel


class WeightCache(ConfigModel):
    """Model weights mirrored once into this stack's S3 bucket and streamed from there by every replica."""

    enabled: bool = Field(False, description="Mirror each model revision to S3 once and load it with --load-format runai_streamer.", examples=[True])
    streamer_concurrency: int | None = Field(
        None, ge=1, le=256, description="S3 clients per vLLM process (Run:ai RUNAI_STREAMER_CONCURRENCY); default: enough for the instance's network, at least 16.", examples=[32]
    )
    retired_revision_days: int = Field(
        7, ge=1, le=365, description="Days a revision no longer in stack config stays recoverable (S3 noncurrent versions) before S3 deletes it.", examples=[7]
    )
    mirror_wait_minutes: int = Field(
        120, ge=5, le=1440, description="How long a vLLM pod waits for its revision's mirror to complete before it fails and restarts.", examples=[120]
    )


class ImageCache(ConfigModel):
    """ECR pull-through cache for Docker Hub, GitHub Container Registry, registry.k8s.io, Quay and ECR Public."""

    enabled: bool = Field(False, description="Create pull-through cache rules and pull the kit's images through this account's ECR.", examples=[True])
    docker_hub_username: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$",
        description="Docker Hub user the cache pulls as (Docker Hub requires credentials); its token is the secret dockerHubAccessToken.",
        examples=["acme-ci"],
    )
    github_username: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$",
        description="GitHub user the cache pulls ghcr.io as (ghcr.io requires credentials); its token (read:packages) is the secret githubToken.",
        examples=["acme-ci"],
    )
