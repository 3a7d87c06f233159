"""What survives a spot reclaim: every spot node gone, the pods that may stay packed onto the
on-demand nodes that remain (a pod never spans nodes), pods pinned to on-demand first.

Pure arithmetic over nodes and pods. The deployment model feeds it from stack config; a test
feeds it from the planned graph (node groups and rendered Deployments) and checks they agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class GpuPods:
    """The replicas of one Deployment that need GPUs."""

    release: str
    pool: str
    capacity_type: str  # "on-demand", "spot", or "any"
    gpus_per_pod: int
    replicas: int


@dataclass(frozen=True)
class Survivor:
    release: str
    replicas_planned: int
    replicas_after_spot_loss: int


def after_spot_loss(on_demand_gpus: dict[str, list[int]], pods: Iterable[GpuPods]) -> dict[str, Survivor]:
    """Per release, the replicas planned and those left. `on_demand_gpus` holds, per pool, the GPUs
    of each on-demand node at the baseline."""
    free = {pool: list(nodes) for pool, nodes in on_demand_gpus.items()}
    planned: dict[str, int] = {}
    kept: dict[str, int] = {}
    # Pods pinned to on-demand first (they were there before the reclaim), then any that may move.
    for group in sorted(pods, key=lambda p: p.capacity_type != "on-demand"):
        planned[group.release] = planned.get(group.release, 0) + group.replicas
        kept.setdefault(group.release, 0)
        if group.capacity_type == "spot":
            continue
        for _ in range(group.replicas):
            node = next((i for i, left in enumerate(free.get(group.pool, [])) if left >= group.gpus_per_pod), None)
            if node is None:
                break
            free[group.pool][node] -= group.gpus_per_pod
            kept[group.release] += 1
    return {release: Survivor(release, planned[release], kept[release]) for release in planned}
