"""EC2 vCPU quotas: how many vCPUs of each quota a stack's GPU pools may run at their maximums.

EC2 limits running instances per family in vCPUs, per region, with separate quotas for on-demand
and spot (Service Quotas, service code `ec2`; the codes below are the ones AWS's Service Quotas
console and API use, e.g. `aws service-quotas get-service-quota --service-code ec2 --quota-code
L-DB2E81BA`). A fresh account often has 0 for G and P, so the first `pulumi up` of a GPU stack
fails after the cluster is up unless they were raised beforehand.

A pool needs, at its node-group maximums: on-demand max nodes x vCPUs of its on-demand type,
and spot max nodes x vCPUs of its largest type (the spot group may launch any of them).
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.config.stack import StackConfig

# (capacity, family) -> (quota code, quota name), Service Quotas service `ec2`. No AWS page we could read
# lists the codes; they agree across independent deploy tools (e.g. determined-ai's AWS pre-flight) and a
# new-account check. docs/before-first-up.md shows how to confirm them in your account.
QUOTAS = {
    ("on-demand", "G"): ("L-DB2E81BA", "Running On-Demand G and VT instances"),
    ("on-demand", "P"): ("L-417A185B", "Running On-Demand P instances"),
    ("spot", "G"): ("L-3819A6DF", "All G and VT Spot Instance Requests"),
    ("spot", "P"): ("L-7212CCBC", "All P Spot Instance Requests"),
}


@dataclass(frozen=True)
class QuotaNeed:
    """The vCPUs one EC2 quota must allow for the stack's GPU pools at their maximums."""

    code: str
    name: str
    vcpus: int
    pools: tuple[str, ...]

    def increase_command(self, region: str) -> str:
        return (
            f"aws service-quotas request-service-quota-increase --service-code ec2 --quota-code {self.code} "
            f"--desired-value {self.vcpus} --region {region}"
        )

    def to_json(self) -> dict:
        return {"code": self.code, "name": self.name, "vcpus": self.vcpus, "pools": list(self.pools)}


def quota_needs(config: StackConfig) -> tuple[QuotaNeed, ...]:
    """Per EC2 GPU quota (all four, 0 where no pool uses it), the vCPUs needed at every pool's node-group maximums."""
    vcpus: dict[tuple[str, str], int] = {}
    pools: dict[tuple[str, str], list[str]] = {}
    for pool in config.gpu_pools:
        on_demand = config.instance(pool.instance_types[0])
        largest_spot = max(config.instance(t).vcpus for t in pool.instance_types)
        for capacity, family, need in (
            ("on-demand", on_demand.quota_family, pool.on_demand.max_nodes * on_demand.vcpus),
            ("spot", on_demand.quota_family, pool.spot.max * largest_spot),
        ):
            key = (capacity, family)
            vcpus[key] = vcpus.get(key, 0) + need
            pools.setdefault(key, []).append(pool.name)
    return tuple(QuotaNeed(*QUOTAS[key], vcpus.get(key, 0), tuple(pools.get(key, ()))) for key in QUOTAS)


def quota_shortfalls(needs: tuple[QuotaNeed, ...], granted: dict[str, float], region: str) -> list[tuple[QuotaNeed, str]]:
    """Each quota below what the stack needs, with a message naming it and the command that asks for more."""
    return [
        (
            need,
            f"EC2 quota {need.code} \"{need.name}\" in {region} allows {granted[need.code]:g} vCPUs but pool(s) "
            f"{', '.join(need.pools)} need {need.vcpus} at their maximums; request it with: {need.increase_command(region)}",
        )
        for need in needs
        if need.vcpus and granted[need.code] < need.vcpus
    ]
