"""An in-process stand-in for the Pulumi engine and the cloud: it records every resource the real
program registers, with its resolved inputs, and answers the few invokes the program makes.

Outputs are the inputs plus the attributes AWS would compute (ids, ARNs, the cluster endpoint,
the OIDC issuer), with recognisably fake values. An invoke this module does not know fails
loudly, so a new lookup in the program cannot slip through as an empty answer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks
from pulumi.runtime.mocks import MockMonitor

ACCOUNT_ID = "123456789012"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker for a secret value
MASK = "[secret]"


def normalize(value: Any) -> Any:
    """Integers arrive from the engine as floats (4 -> 4.0); give them back as ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def unwrap_secrets(value: Any, *, mask: bool) -> Any:
    """Replace Pulumi secret envelopes by their value (for rendering) or by MASK (for printing)."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
            return MASK if mask else unwrap_secrets(value["value"], mask=False)
        return {k: unwrap_secrets(v, mask=mask) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v, mask=mask) for v in value]
    return value


@dataclass
class RegisteredResource:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    provider: str | None
    inputs: dict[str, Any] = field(default_factory=dict)  # secrets still wrapped; see unwrap_secrets
    ignore_changes: list[str] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)  # URNs


class PlanMocks(Mocks):
    """Answers resource registrations and invokes as AWS would, for one region."""

    def __init__(self, region: str):
        self.region = region
        self.registrations: dict[tuple[str, str], tuple[dict[str, Any], str | None, bool]] = {}
        self._lock = threading.Lock()

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict]:
        inputs = normalize(args.inputs)
        with self._lock:
            if (args.typ, args.name) in self.registrations:
                raise ValueError(f"two resources of type {args.typ} named {args.name}")
            self.registrations[(args.typ, args.name)] = (inputs, args.provider, bool(args.custom))
        return f"{args.name}-id", {**args.inputs, **self._computed(args.typ, args.name, inputs)}

    def _computed(self, typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        physical = inputs.get("name") or name
        computed: dict[str, Any] = {"arn": f"arn:aws:mock:{self.region}:{ACCOUNT_ID}:{typ.split(':')[-1].lower()}/{physical}"}
        if typ == "aws:eks/cluster:Cluster":
            computed |= {
                "endpoint": f"https://MOCK0123456789.gr7.{self.region}.eks.amazonaws.com",
                "certificateAuthority": {"data": "bW9jay1jZXJ0aWZpY2F0ZS1hdXRob3JpdHk="},
                "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{self.region}.amazonaws.com/id/MOCK0123456789"}]}],
                "arn": f"arn:aws:eks:{self.region}:{ACCOUNT_ID}:cluster/{physical}",
            }
        elif typ == "aws:iam/role:Role":
            computed |= {"arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{physical}", "name": physical}
        elif typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            computed["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{inputs['url'].removeprefix('https://')}"
        elif typ == "aws:kms/key:Key":
            computed |= {"keyId": f"{name}-key-id", "arn": f"arn:aws:kms:{self.region}:{ACCOUNT_ID}:key/{name}-key-id"}
        elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
            computed["latestVersion"] = 1
        return computed

    def call(self, args: MockCallArgs) -> tuple[dict, list]:
        zones = [f"{self.region}{letter}" for letter in "abcdef"]
        answers = {
            "aws:index/getAvailabilityZones:getAvailabilityZones": {"names": zones, "zoneIds": [f"use1-az{i}" for i in range(1, 7)], "id": self.region},
            "aws:index/getCallerIdentity:getCallerIdentity": {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/deployer/plan",
                "userId": "AROAMOCK:plan",
                "id": ACCOUNT_ID,
            },
            "aws:index/getPartition:getPartition": {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"},
        }
        if args.token not in answers:
            raise NotImplementedError(f"the offline plan does not answer invoke {args.token}; add it to infra/offline/mocks.py")
        return answers[args.token], []


class RecordingMonitor(MockMonitor):
    """The mock engine, also keeping each registration's URN and parent in registration order."""

    def __init__(self, mocks: PlanMocks):
        super().__init__(mocks)
        self.plan_mocks = mocks
        self.order: list[tuple[str, Any]] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.order.append((response.urn, request))
        return response

    def registered(self) -> list[RegisteredResource]:
        resources = []
        for urn, request in sorted(self.order, key=lambda entry: entry[0]):  # registration order is async; URN order is stable
            inputs, provider, custom = self.plan_mocks.registrations[(request.type, request.name)]
            resources.append(
                RegisteredResource(
                    urn=urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    custom=custom,
                    provider=provider,
                    inputs=inputs,
                    ignore_changes=list(request.ignoreChanges),
                    depends_on=list(request.dependencies),
                )
            )
        return resources
