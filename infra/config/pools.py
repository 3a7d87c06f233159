"""The `gpuPools` section: GPU node pools, each an on-demand baseline group and a diversified spot group."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from infra.catalog import gpu_instances
from infra.config.base import ConfigModel, GpuInstanceType, LabelKey, LabelValue, PlainName, at_least, config_error
from infra.config.limits import GP3_MAX_GIB, NODES_PER_NODE_GROUP


class OnDemandNodes(ConfigModel):
    """The on-demand node group of a pool: a baseline that survives spot reclaims."""

    baseline: int = Field(1, ge=1, le=NODES_PER_NODE_GROUP, description="On-demand nodes that always run.", examples=[1])
    max: int | None = Field(
        None, ge=1, le=NODES_PER_NODE_GROUP, description="Upper bound the autoscaler may grow on-demand to when spot is short (default: the baseline).", examples=[2]
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

    min: int = Field(0, ge=0, le=NODES_PER_NODE_GROUP, description="Spot nodes that always run (spot can still be reclaimed).", examples=[0])
    max: int = Field(2, ge=0, le=NODES_PER_NODE_GROUP, description="Upper bound for spot nodes; 0 for no spot node group at all.", examples=[4])

    @field_validator("max")
    @classmethod
    def _max_at_least_min(cls, value: int, info) -> int:
        return at_least(value, info, "min", this="max", other="min")


class NodeDisks(ConfigModel):
    """Where a GPU node keeps images, emptyDirs and caches, and how fast that is."""

    throughput_mibps: int = Field(
        125, ge=125, le=1000, description="gp3 throughput of the root (Bottlerocket: data) volume in MiB/s (gp3 baseline 125, up to 1000).", examples=[1000]
    )
    iops: int = Field(3000, ge=3000, le=16000, description="gp3 IOPS of that volume (baseline 3000, up to 16000).", examples=[16000])
    instance_store: Literal["none", "raid0"] = Field(
        "none",
        description="raid0: the instance's NVMe disks as one RAID0 array holding containerd, kubelet (emptyDirs) and pod logs (AL2023 nodeadm localStorage).",
        examples=["raid0"],
    )
    fast_image_pull: bool = Field(
        False, description="Pull and unpack image layers in parallel (AL2023 nodeadm FastImagePull: the SOCI snapshotter's parallel mode).", examples=[True]
    )

    @property
    def keeps_compile_cache(self) -> bool:
        """vLLM's compile caches persist on the node (a hostPath on the NVMe RAID0 array)."""
        return self.instance_store == "raid0"

    @field_validator("iops")
    @classmethod
    def _enough_iops_for_the_throughput(cls, value: int, info) -> int:
        # gp3 allows at most 0.25 MiB/s of throughput per provisioned IOPS (EBS User Guide, gp3 volumes).
        throughput = info.data.get("throughput_mibps")
        if throughput is not None and value * 0.25 < throughput:
            raise config_error("gp3_ratio", "gp3 allows at most 0.25 MiB/s per IOPS: throughputMibps {throughput} needs iops of at least {need}", throughput=throughput, need=throughput * 4)
        return value


class GpuPool(ConfigModel):
    """A pool of GPU nodes of one GPU model: an on-demand baseline group and a diversified spot group."""

    name: Annotated[str, PlainName] = Field(pattern=r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$", description="Pool name (lower-case, 2-20 chars); node label llm-serving/pool.", examples=["l40s"])
    instance_types: list[GpuInstanceType] = Field(
        min_length=1,
        description="GPU instance types, all with the same GPU model and count. The first is the on-demand type; spot uses them all.",
        examples=[["g6e.12xlarge", "g6e.24xlarge"]],
    )
    on_demand: OnDemandNodes = Field(OnDemandNodes(), description="On-demand baseline (default: one node).", examples=[{"baseline": 1, "max": 2}])
    spot: SpotNodes = Field(SpotNodes(), description="Spot range (default: 0 to 2 nodes).", examples=[{"min": 0, "max": 4}])
    root_volume_gib: int = Field(200, ge=50, le=GP3_MAX_GIB, description="Root (Bottlerocket: data) volume in GiB; holds images and model weights.", examples=[300])
    disks: NodeDisks = Field(NodeDisks(), description="Disk throughput, NVMe instance store and image pull mode of the pool's nodes.", examples=[{"throughputMibps": 1000, "iops": 16000, "instanceStore": "raid0", "fastImagePull": True}])
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


