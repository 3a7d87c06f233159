"""Cold start: how long one vLLM replica takes from a pending pod to Ready on a fresh GPU node.

Four parts, each computed from sourced figures (infra/catalog/cold_start.yaml, overridable per stack
under catalog.coldStart) and from the instance type's catalog columns (network, EBS, NVMe):

    node     EC2 launch, kubelet join, NVIDIA device plugin advertising GPUs    node_ready_seconds
    image    pull + unpack of the vLLM image: the slowest of the pull mode's measured rate, the
             instance's network, and writing the unpacked layers to the node's disk
    weights  with the weight cache: config files, then S3 -> GPU with the Run:ai streamer at
             min(network x measured efficiency, S3 connections x 5 Gbit/s); without it: download
             from Hugging Face onto the node's disk, then read it back into the GPUs
    engine   process start + torch.compile (grows with the weights; none with --enforce-eager)
             + CUDA graph capture (none with --enforce-eager)

A restart on the same node skips the node and the image, and, where the pool keeps vLLM's compile
cache on its NVMe array, most of torch.compile (same_node_restart_seconds).

The startup probe covers only what happens inside the vLLM container (weights and engine), so the
startup budget is startup_budget_factor times that, never under the floor. The estimate is for the
pool's primary (on-demand) instance type, as sizing is. Pure arithmetic: no Pulumi, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from infra.catalog import GIB, Figure, GpuInstance, cold_start_figures
from infra.config.delivery import WeightCache
from infra.config.models import ModelDeployment
from infra.config.pools import NodeDisks
from infra.config.stack import StackConfig

MIB = 2**20
EAGER_FLAG = "--enforce-eager"


def figures(overrides: Mapping[str, float]) -> dict[str, Figure]:
    """The catalog's figures with a stack's overrides (camelCase names, as in stack files)."""
    result = dict(cold_start_figures())
    for camel, value in overrides.items():
        name = snake(camel)
        result[name] = Figure(value=value, source="stack config catalog.coldStart." + camel)
    return result


def snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


@dataclass(frozen=True)
class Part:
    """One part of a cold start: its seconds, how they were computed, and the figures it used."""

    name: str  # node | image | weights | engine
    seconds: float
    basis: str
    sources: Mapping[str, str]  # figure name -> its source

    def to_json(self) -> dict:
        return {"seconds": round(self.seconds, 1), "basis": self.basis, "sources": dict(self.sources)}


@dataclass(frozen=True)
class ColdStart:
    """A model's cold start on a fresh node, by part, and what the program derives from it."""

    model: str
    instance_type: str
    parts: tuple[Part, ...]
    startup_minutes: int  # the startup probe's budget
    streamer_concurrency: int | None  # S3 clients per vLLM process; None without the weight cache
    distributed_streaming: bool  # each tensor-parallel rank streams its share (TP > 1 with the cache)
    same_node_restart: Part  # the engine part when the replica restarts on a node that kept its compile cache

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.parts)

    def part(self, name: str) -> Part:
        return next(p for p in self.parts if p.name == name)

    @property
    def in_container_seconds(self) -> float:
        """What the startup probe waits for (weights and engine start); also a new replica on a node
        that is already up with the image cached."""
        return self.part("weights").seconds + self.part("engine").seconds

    @property
    def same_node_restart_seconds(self) -> float:
        """A restarted replica on the same node: image cached, weights again, engine with the node's compile cache."""
        return self.part("weights").seconds + self.same_node_restart.seconds

    def to_json(self) -> dict:
        return {
            "instance_type": self.instance_type,
            "same_node_restart_seconds": round(self.same_node_restart_seconds),
            "parts": {p.name: p.to_json() for p in self.parts},
            "startup_probe_budget_minutes": self.startup_minutes,
            "streamer_concurrency": self.streamer_concurrency,
            "distributed_streaming": self.distributed_streaming,
        }


def disk_gb_per_second(disks: NodeDisks, instance: GpuInstance, f: Mapping[str, Figure]) -> tuple[float, str, dict[str, str]]:
    """Where the node writes images and emptyDirs, and how fast (GB/s)."""
    if disks.instance_store == "raid0" and instance.instance_store_gb:
        mib = f["nvme_raid0_mib_per_second"]
        return mib.value * MIB / 1e9, f"NVMe RAID0 at {mib.value:g} MiB/s", {"nvme_raid0_mib_per_second": mib.source}
    ebs_cap_mib = instance.ebs_mbps / 8 * 1e6 / MIB
    mib = min(disks.throughput_mibps, ebs_cap_mib)
    return mib * MIB / 1e9, f"gp3 at {mib:g} MiB/s", {"gp3 throughput": "stack config gpuPools[].disks.throughputMibps, capped by the instance's EBS bandwidth (catalog ebs_mbps)"}


def image_part(disks: NodeDisks, instance: GpuInstance, f: Mapping[str, Figure]) -> Part:
    mode = "parallel" if disks.fast_image_pull else "default"
    rate = f[f"pull_gb_per_second_{mode}"]
    compressed, unpacked = f["image_compressed_gb"], f["image_unpacked_gb"]
    disk, disk_basis, disk_sources = disk_gb_per_second(disks, instance, f)
    network = instance.network_gbps / 8
    limits = {
        f"{mode} pull at {rate.value:g} GB/s": compressed.value / rate.value,
        f"{unpacked.value:g} GB unpacked onto {disk_basis}": unpacked.value / disk,
        f"{instance.network_gbps:g} Gbit/s network": compressed.value / network,
    }
    slowest = max(limits, key=limits.get)
    return Part(
        "image",
        limits[slowest],
        f"{compressed.value:g} GB image, bound by {slowest}",
        {
            "image_compressed_gb": compressed.source,
            "image_unpacked_gb": unpacked.source,
            f"pull_gb_per_second_{mode}": rate.source,
            "network_gbps": "catalog gpu_instances.yaml network_gbps",
            **disk_sources,
        },
    )


def streamer_concurrency(cache: WeightCache, instance: GpuInstance, processes: int, f: Mapping[str, Figure]) -> int:
    """S3 clients per vLLM process: configured, or enough 5 Gbit/s connections to fill the link, within floor and ceiling."""
    if cache.streamer_concurrency is not None:
        return cache.streamer_concurrency
    needed = math.ceil(instance.network_gbps / f["s3_connection_gbps"].value / processes)
    return min(int(f["streamer_concurrency_ceiling"].value), max(int(f["streamer_concurrency_floor"].value), needed))


def weights_from_s3(weights_gb: float, tp: int, cache: WeightCache, instance: GpuInstance, f: Mapping[str, Figure]) -> tuple[Part, int]:
    processes = tp  # distributed streaming for TP > 1: every rank streams its share
    concurrency = streamer_concurrency(cache, instance, processes, f)
    link = instance.network_gbps * f["s3_link_efficiency"].value
    connections = concurrency * processes * f["s3_connection_gbps"].value
    gbps = min(link, connections)
    config_files = f["config_files_seconds"].value
    seconds = config_files + weights_gb * 8 / gbps
    bound = "network" if link <= connections else "S3 connections"
    return (
        Part(
            "weights",
            seconds,
            f"{weights_gb:.1f} GB from S3 at {gbps:g} Gbit/s ({bound}: {processes} process(es) x {concurrency} clients), plus {config_files:g} s of config files",
            {
                "s3_link_efficiency": f["s3_link_efficiency"].source,
                "s3_connection_gbps": f["s3_connection_gbps"].source,
                "streamer_concurrency_floor": f["streamer_concurrency_floor"].source,
                "streamer_concurrency_ceiling": f["streamer_concurrency_ceiling"].source,
                "config_files_seconds": f["config_files_seconds"].source,
                "network_gbps": "catalog gpu_instances.yaml network_gbps",
            },
        ),
        concurrency,
    )


def weights_from_hugging_face(weights_gb: float, disks: NodeDisks, instance: GpuInstance, f: Mapping[str, Figure]) -> Part:
    hub = f["hugging_face_gb_per_second"]
    disk, disk_basis, disk_sources = disk_gb_per_second(disks, instance, f)
    download = weights_gb / min(hub.value, disk, instance.network_gbps / 8)
    load = weights_gb / disk
    return Part(
        "weights",
        download + load,
        f"{weights_gb:.1f} GB downloaded from Hugging Face at {min(hub.value, disk):g} GB/s ({download:.0f} s), then read from {disk_basis} ({load:.0f} s)",
        {"hugging_face_gb_per_second": hub.source, **disk_sources},
    )


def engine_part(weights_gb: float, eager: bool, f: Mapping[str, Figure], *, compile_cached: bool = False) -> Part:
    start = f["process_start_seconds"].value
    sources = {"process_start_seconds": f["process_start_seconds"].source}
    if eager:
        return Part("engine", start, f"process start {start:g} s; --enforce-eager: no compile, no CUDA graphs", sources)
    if compile_cached:
        compile_s = f["compile_seconds_cached"].value
        sources["compile_seconds_cached"] = f["compile_seconds_cached"].source
    else:
        compile_s = f["compile_seconds_base"].value + f["compile_seconds_per_gb"].value * weights_gb
        sources |= {"compile_seconds_base": f["compile_seconds_base"].source, "compile_seconds_per_gb": f["compile_seconds_per_gb"].source}
    graphs = f["cuda_graph_seconds"].value
    sources["cuda_graph_seconds"] = f["cuda_graph_seconds"].source
    return Part("engine", start + compile_s + graphs, f"process start {start:g} s + torch.compile {compile_s:.0f} s + CUDA graphs {graphs:g} s", sources)


def estimate(config: StackConfig, model: ModelDeployment, weights_gib: float) -> ColdStart:
    """The cold start of one model's replica on a fresh node of its pool's primary instance type."""
    f = figures(config.catalog.cold_start)
    pool = config.pool(model.pool)
    instance = config.instance(pool.instance_types[0])
    weights_gb = weights_gib * GIB / 1e9
    node = f["node_ready_seconds"]
    parts = [Part("node", node.value, f"EC2 launch to an allocatable GPU: {node.value:g} s", {"node_ready_seconds": node.source})]
    parts.append(image_part(pool.disks, instance, f))
    concurrency = None
    if config.weight_cache.enabled:
        weights, concurrency = weights_from_s3(weights_gb, model.tensor_parallel_size, config.weight_cache, instance, f)
    else:
        weights = weights_from_hugging_face(weights_gb, pool.disks, instance, f)
    parts.append(weights)
    eager = EAGER_FLAG in model.extra_args
    parts.append(engine_part(weights_gb, eager, f))
    in_container = weights.seconds + parts[-1].seconds
    budget = max(f["startup_budget_floor_minutes"].value, math.ceil(f["startup_budget_factor"].value * in_container / 60))
    return ColdStart(
        model=model.name,
        instance_type=instance.instance_type,
        parts=tuple(parts),
        startup_minutes=int(budget),
        streamer_concurrency=concurrency,
        distributed_streaming=config.weight_cache.enabled and model.tensor_parallel_size > 1,
        same_node_restart=engine_part(weights_gb, eager, f, compile_cached=pool.disks.keeps_compile_cache),
    )
