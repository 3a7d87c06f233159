"""The `gpuPools` section: GPU node pools, each an on-demand baseline group and a diversified spot group."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from infra.catalog import gpu_instances
from infra.config.base import ConfigModel, GpuInstanceType, LabelKey, LabelValue, at_least, config_error


class OnDemandNodes(ConfigModel):
    """The on-demand node group of a pool: a baseline that survives spot reclaims."""

    baseline: int = Field(ge=1, description="On-demand nodes that always run.", examples=[1])
    max: int | None = Field(
        None, ge=1, description="Upper bound the autoscaler may grow on-demand to when spot is short (default: the baseline).", examples=[2]
    )

    @field_validator("max")
    @classmethod
    def _max_at_least_baseline(cls, value: int | None, info) -> int | None:
        return at_least(value, info, "baseline", this="max", other="baseline")

    @property
    def max_nodes(self) -> int:
        return self.max if self.max is not None else self.baseline


class SpotNodes(ConfigModel):
    """The spot node group of a pool, over all the pool's instance types."""

    min: int = Field(0, ge=0, description="Spot nodes that always run (spot can still be reclaimed).", examples=[0])
    max: int = Field(ge=0, description="Upper bound for spot nodes; 0 for no spot node group at all.", examples=[4])

    @field_validator("max")
    @classmethod
    def _max_at_least_min(cls, value: int, info) -> int:
        return at_least(value, info, "min", this="max", other="min")


class GpuPool(ConfigModel):
    """A pool of GPU nodes of one GPU model: an on-demand baseline group and a diversified spot group."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$", description="Pool name (lower-case, 2-20 chars); node label llm-serving/pool.", examples=["l40s"])
    instance_types: list[GpuInstanceType] = Field(
        min_length=1,
        description="GPU instance types, all with the same GPU model and count. The first is the on-demand type; spot uses them all.",
        examples=[["g6e.12xlarge", "g6e.24xlarge"]],
    )
    on_demand: OnDemandNodes = Field(description="On-demand baseline.", examples=[{"baseline": 1, "max": 2}])
    spot: SpotNodes = Field(description="Spot range.", examples=[{"min": 0, "max": 4}])
    root_volume_gib: int = Field(200, ge=50, le=16384, description="Root (Bottlerocket: data) volume in GiB; holds images and model weights.", examples=[300])
    ami_type: Literal["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"] = Field(
        "AL2023_x86_64_NVIDIA", description="EKS AMI type with NVIDIA drivers.", examples=["AL2023_x86_64_NVIDIA"]
    )
    labels: dict[LabelKey, LabelValue] = Field({}, description="Extra Kubernetes node labels.", examples=[{"team": "ml-platform"}])

    @field_validator("instance_types")
    @classmethod
    def _one_gpu_shape_per_pool(cls, value: list[str]) -> list[str]:
        shapes = {(gpu_instances()[t].gpu, gpu_instances()[t].gpus) for t in value}
        if len(shapes) > 1:
            found = ", ".join(f"{t} ({gpu_instances()[t].gpus}x {gpu_instances()[t].gpu})" for t in value)
            raise config_error(
                "mixed_gpu_shapes",
                "a pool needs one GPU model and count so pods schedule the same on every node, found {found}. Split them into pools.",
                found=found,
            )
        if len(set(value)) != len(value):
            raise config_error("duplicates", "instance types are listed twice")
        return value

    @property
    def gpu(self):
        """The catalog entry of the pool's primary (on-demand) instance type."""
        return gpu_instances()[self.instance_types[0]]


