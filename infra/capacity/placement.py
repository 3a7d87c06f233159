"""Placement: every pod of a stack placed on the nodes of its node groups, in each phase of the
stack's life, before anything is created.

A node offers what infra/capacity/nodes.py says: allocatable CPU, memory, GPUs and pod slots after
EKS's reservation and the DaemonSets. A pod goes to a node of a group it may run on (its pool's
on-demand group; its pool with spot preferred and on-demand allowed; the system nodes) that still
has room for all its requests: first an existing node (spot first for a spot Deployment), else a new
node of the group the autoscaler's priority expander picks (spot over on-demand) while the group is
below its maximum. The system node group is not autoscaled: it has its minimum. Packing is first
fit, which is what a scheduler achieves when pods fill whole nodes' GPUs; mixed sizes in one pool may
fragment more in a real cluster.

Phases, each from the configured deploy:
  deploy           the configured replicas; an on-demand floor (or a system pod) left unplaced is
                   an error, a spot replica left unplaced a warning
  full scale-out   every spot Deployment at its autoscaling maximum
  rolling update   one more replica of each Deployment (maxSurge 1) at deploy and at full
                   scale-out; where it does not fit the Deployment rolls with maxSurge 0, maxUnavailable 1
  node drain       the busiest node of each group cordoned and its pods evicted one per Deployment
                   at a time (PDB maxUnavailable 1): they move, wait for a node, or block the drain
  spot loss        every spot node gone and spot dry: spot replicas move to on-demand room
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

from infra.capacity.nodes import NodeGroup, node_groups
from infra.capacity.pods import Requests, Workload
from infra.config.problems import Problem
from infra.config.stack import StackConfig

# --- the simulated cluster -----------------------------------------------------------------------


@dataclass
class Node:
    group: NodeGroup
    cpu_m: int
    memory_mib: int
    gpus: int
    pods: int
    cordoned: bool = False
    placed: list[str] = field(default_factory=list)  # workload names, one entry per pod

    def fits(self, r: Requests) -> bool:
        return not self.cordoned and self.cpu_m >= r.cpu_m and self.memory_mib >= r.memory_mib and self.gpus >= r.gpus and self.pods >= 1

    def add(self, name: str, r: Requests) -> None:
        self.cpu_m, self.memory_mib, self.gpus, self.pods = self.cpu_m - r.cpu_m, self.memory_mib - r.memory_mib, self.gpus - r.gpus, self.pods - 1
        self.placed.append(name)


def fits_empty(group: NodeGroup, r: Requests) -> bool:
    return group.room.cpu_m >= r.cpu_m and group.room.memory_mib >= r.memory_mib and group.room.gpus >= r.gpus and group.pods >= 1


@dataclass
class Cluster:
    groups: tuple[NodeGroup, ...]
    nodes: list[Node] = field(default_factory=list)
    spot_available: bool = True
    pending: dict[str, int] = field(default_factory=dict)

    @classmethod
    def at_minimum(cls, groups: Sequence[NodeGroup]) -> Cluster:
        cluster = cls(tuple(groups))
        for group in groups:
            for _ in range(group.min_nodes):
                cluster.open(group)
        return cluster

    def open(self, group: NodeGroup) -> Node:
        node = Node(group, group.room.cpu_m, group.room.memory_mib, group.room.gpus, group.pods)
        self.nodes.append(node)
        return node

    def size(self, group: NodeGroup) -> int:
        return sum(1 for n in self.nodes if n.group == group)

    def allowed(self, w: Workload) -> list[NodeGroup]:
        """The groups a workload's pods may use, most preferred first."""
        if w.capacity == "system":
            return [g for g in self.groups if g.capacity == "system"]
        order = ["spot", "on-demand"] if w.capacity == "spot" else ["on-demand"]
        return [g for c in order for g in self.groups if g.pool == w.pool and g.capacity == c]

    def place_one(self, w: Workload) -> bool:
        groups = self.allowed(w)
        for group in groups:
            for node in self.nodes:
                if node.group == group and node.fits(w.requests):
                    node.add(w.name, w.requests)
                    return True
        for group in sorted(groups, key=lambda g: -g.priority):  # the priority expander
            if group.capacity == "spot" and not self.spot_available:
                continue
            if self.size(group) < group.max_nodes and fits_empty(group, w.requests):
                self.open(group).add(w.name, w.requests)
                return True
        self.pending[w.name] = self.pending.get(w.name, 0) + 1
        return False

    def place(self, w: Workload, count: int) -> int:
        return sum(self.place_one(w) for _ in range(count))

    def running(self, name: str, capacity: str | None = None) -> int:
        return sum(n.placed.count(name) for n in self.nodes if capacity is None or n.group.capacity == capacity)


# --- phases --------------------------------------------------------------------------------------


def deploy(groups: Sequence[NodeGroup], workloads: Sequence[Workload]) -> Cluster:
    """The configured replicas: system pods, then on-demand floors, then everything else."""
    cluster = Cluster.at_minimum(groups)
    for w in sorted(workloads, key=lambda w: (w.capacity != "system", not w.floor)):
        cluster.place(w, w.replicas)
    return cluster


def scale_out(cluster: Cluster, workloads: Sequence[Workload]) -> Cluster:
    cluster = copy.deepcopy(cluster)
    for w in workloads:
        cluster.place(w, w.max_replicas - w.replicas)
    return cluster


def has_surge_room(w: Workload, *clusters: Cluster) -> bool:
    """Whether one more replica fits in every given state (a rollout may start in any of them)."""
    return all(copy.deepcopy(c).place_one(w) for c in clusters)


def after_spot_loss(cluster: Cluster, workloads: Sequence[Workload]) -> Cluster:
    """Every spot node gone, spot dry: the replicas they ran are placed again where they may go."""
    cluster = copy.deepcopy(cluster)
    cluster.spot_available = False
    lost = [name for n in cluster.nodes if n.group.capacity == "spot" for name in n.placed]
    cluster.nodes = [n for n in cluster.nodes if n.group.capacity != "spot"]
    by_name = {w.name: w for w in workloads}
    for name in lost:
        cluster.place_one(by_name[name])
    return cluster


def drain(cluster: Cluster, group: NodeGroup, workloads: Sequence[Workload]) -> str:
    """Cordon the group's busiest node and evict its pods under PDBs of maxUnavailable 1 per Deployment."""
    cluster = copy.deepcopy(cluster)
    nodes = [n for n in cluster.nodes if n.group == group]
    if not nodes:
        return "no nodes"
    node = max(nodes, key=lambda n: len(n.placed))
    node.cordoned = True
    by_name = {w.name: w for w in workloads}
    waiting, blocked = [], []
    for name in sorted(set(node.placed)):
        on_node = node.placed.count(name)
        if cluster.pending.get(name):
            blocked.append(f"{name} already has a pending replica")  # its PDB allows no eviction
            continue
        if not cluster.place_one(by_name[name]):
            (blocked if on_node > 1 else waiting).append(name)
    if blocked:
        return "blocked: " + "; ".join(blocked)
    if waiting:
        return "completes; waits for a replacement node: " + ", ".join(waiting)
    return "completes"


# --- the result ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkloadPlacement:
    workload: Workload
    placed: int  # at deploy
    placed_on_demand: int  # of those, on on-demand nodes
    placed_full_scale_out: int
    after_spot_loss: int
    surge: bool  # room for one more replica during a rolling update

    def to_json(self) -> dict:
        w = self.workload
        return {
            "deployment": w.name,
            "pool": w.pool or "system",
            "capacity_type": w.capacity,
            "requests": {"cpu_m": w.requests.cpu_m, "memory_mib": w.requests.memory_mib, "gpus": w.requests.gpus},
            "replicas": w.replicas,
            "placed": self.placed,
            "placed_on_demand": self.placed_on_demand,
            "max_replicas": w.max_replicas,
            "placed_full_scale_out": self.placed_full_scale_out,
            "after_spot_loss": self.after_spot_loss,
            "rollout": {"max_surge": int(self.surge), "max_unavailable": 0 if self.surge else 1},
        }


@dataclass(frozen=True)
class GroupPlacement:
    group: NodeGroup
    nodes: int  # at deploy
    nodes_full_scale_out: int
    nodes_after_spot_loss: int
    used: Requests  # requested on its nodes at deploy
    drain: str

    def to_json(self) -> dict:
        g = self.group
        nodes = max(self.nodes, 1)
        return {
            "group": g.name,
            "instance_type": g.instance_type,
            "per_node": {"cpu_m": g.room.cpu_m, "memory_mib": g.room.memory_mib, "gpus": g.room.gpus, "pods": g.pods},
            "min_nodes": g.min_nodes,
            "max_nodes": g.max_nodes,
            "nodes": self.nodes,
            "nodes_full_scale_out": self.nodes_full_scale_out,
            "nodes_after_spot_loss": self.nodes_after_spot_loss,
            "requested": {
                "cpu": round(self.used.cpu_m / (g.room.cpu_m * nodes), 3) if self.nodes else 0.0,
                "memory": round(self.used.memory_mib / (g.room.memory_mib * nodes), 3) if self.nodes else 0.0,
                "gpus": round(self.used.gpus / (g.room.gpus * nodes), 3) if self.nodes and g.room.gpus else 0.0,
            },
            "drain": self.drain,
        }


@dataclass(frozen=True)
class Placement:
    workloads: tuple[WorkloadPlacement, ...]
    groups: tuple[GroupPlacement, ...]
    problems: tuple[Problem, ...]  # errors: a floor or a system pod that cannot be placed
    warnings: tuple[str, ...]

    def of(self, name: str) -> WorkloadPlacement:
        return next(p for p in self.workloads if p.workload.name == name)

    def group(self, name: str) -> GroupPlacement:
        return next(g for g in self.groups if g.group.name == name)

    def model_replicas(self, model: str, phase: str = "placed") -> int:
        return sum(getattr(p, phase) for p in self.workloads if p.workload.model == model)

    def nodes(self, pool: str, capacity: str) -> int:
        return next((g.nodes for g in self.groups if g.group.pool == pool and g.group.capacity == capacity), 0)

    def to_json(self) -> dict:
        return {"deployments": [p.to_json() for p in self.workloads], "node_groups": [g.to_json() for g in self.groups]}


def used_on(cluster: Cluster, group: NodeGroup, workloads: Sequence[Workload]) -> Requests:
    by_name = {w.name: w.requests for w in workloads}
    pods = [by_name[name] for n in cluster.nodes if n.group == group for name in n.placed]
    return Requests(sum(r.cpu_m for r in pods), sum(r.memory_mib for r in pods), sum(r.gpus for r in pods))


def groups_size(groups: Sequence[NodeGroup]) -> int:
    return sum(g.max_nodes for g in groups)


def problems_and_warnings(groups: Sequence[NodeGroup], workloads: Sequence[Workload], at_deploy: Cluster, full: Cluster) -> tuple[list[Problem], list[str]]:
    problems, warnings = [], []
    for w in workloads:
        allowed = at_deploy.allowed(w)
        where = f"pool {w.pool}" if w.pool else "the system nodes"
        if allowed and not any(fits_empty(g, w.requests) for g in allowed):
            group = max(allowed, key=lambda g: g.room.cpu_m)
            room = group.room
            problems.append(
                Problem(
                    group.origin or w.origin,
                    f"{w.name} requests {w.requests.cpu_m}m CPU, {w.requests.memory_mib}Mi memory and {w.requests.gpus} GPU(s) per replica, more than "
                    f"one {group.instance_type} node of {where} offers after Kubernetes' reservation and DaemonSets ({room.cpu_m}m CPU, {room.memory_mib}Mi, "
                    f"{room.gpus} GPUs); use a bigger instance type",
                    group.instance_type,
                )
            )
            continue
        missing = at_deploy.pending.get(w.name, 0)
        limit = ", ".join(f"{g.name} max {g.max_nodes} x {g.instance_type}" for g in allowed)
        placed = f"only {w.replicas - missing} of {w.replicas} replicas of {w.name} can be placed on {where} ({limit})"
        if missing and w.capacity == "system":
            problems.append(Problem(("systemNodes", "minNodes"), f"{placed}; the system group is not autoscaled: raise minNodes or pick bigger instanceTypes", groups_size(allowed)))
        elif missing and w.floor:
            problems.append(Problem(w.origin, f"{placed}; raise the node group's maximum or lower the replicas", w.replicas))
        elif missing:
            warnings.append(f"{w.name}: {missing} of {w.replicas} spot replicas cannot be placed on pool {w.pool} and stay pending (raise spot.max or onDemand.max)")
        short = full.pending.get(w.name, 0) - missing
        if short > 0 and not w.floor:
            warnings.append(f"{w.name}: at full scale-out {short} of its {w.max_replicas} replicas cannot be placed on pool {w.pool} (raise spot.max)")
    return problems, warnings


def place(groups: Sequence[NodeGroup], workloads: Sequence[Workload], warnings: Sequence[str] = ()) -> Placement:
    """Place the workloads on the groups in every phase. Workloads whose nodes are not modelled are left out."""
    workloads = [w for w in workloads if any(g.pool == w.pool and (w.pool or g.capacity == "system") for g in groups)]
    at_deploy = deploy(groups, workloads)
    full = scale_out(at_deploy, workloads)
    lost = after_spot_loss(at_deploy, workloads)
    problems, notes = problems_and_warnings(groups, workloads, at_deploy, full)
    placements = tuple(
        WorkloadPlacement(
            workload=w,
            placed=at_deploy.running(w.name),
            placed_on_demand=at_deploy.running(w.name, "on-demand"),
            placed_full_scale_out=full.running(w.name),
            after_spot_loss=lost.running(w.name),
            surge=w.max_replicas == 0 or has_surge_room(w, at_deploy, full),
        )
        for w in workloads
    )
    group_results = tuple(
        GroupPlacement(g, at_deploy.size(g), full.size(g), lost.size(g), used_on(at_deploy, g, workloads), drain(at_deploy, g, workloads)) for g in groups
    )
    for g in group_results:
        if g.drain.startswith("blocked"):
            notes.append(f"draining a node of {g.group.name} would block: {g.drain.removeprefix('blocked: ')}")
    return Placement(placements, group_results, tuple(problems), tuple(list(warnings) + notes))


def place_stack(config: StackConfig, workloads: Sequence[Workload]) -> Placement:
    groups, warnings = node_groups(config)
    return place(groups, workloads, warnings)
