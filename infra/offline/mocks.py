"""An in-process stand-in for the Pulumi engine and the cloud: it records every resource the real
program registers, with its resolved inputs, and answers the few invokes the program makes.

Outputs are the inputs plus the attributes AWS would compute (ids, ARNs, the cluster endpoint,
the OIDC issuer), with recognisably fake values. An invoke this module does not know fails
loudly, so a new lookup in the program cannot slip through as an empty answer.

The mock account answers pre-flight's lookups the way a real one does, with illustrative data:
zones per region with zone IDs (names map to IDs in a shuffled, per-account order; an account
old enough to see the zone IDs EKS refuses: use1-az3, usw1-az2, cac1-az3), instance type
offerings per zone ID (every catalog GPU type everywhere except the gaps in UNOFFERED, made up
to exercise the zone filter, not AWS's real coverage), and EC2 quotas (a fresh account: 0 vCPUs
for G and P unless a test grants more).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks
from pulumi.runtime.mocks import MockMonitor

ACCOUNT_ID = "123456789012"
CALLER_ARN = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/deployer/plan"

# Region -> (zone name suffix, zone ID number) in this account's order.
ZONES = {
    "us-east-1": [("a", 4), ("b", 6), ("c", 1), ("d", 2), ("e", 3), ("f", 5)],
    "us-west-1": [("a", 3), ("b", 1), ("c", 2)],
    "us-west-2": [("a", 2), ("b", 1), ("c", 3), ("d", 4)],
    "ca-central-1": [("a", 1), ("b", 2), ("c", 3), ("d", 4)],
}
DEFAULT_ZONES = [("a", 1), ("b", 2), ("c", 3)]
# Zone ID -> instance type prefixes it does not offer (illustrative).
UNOFFERED = {"use1-az5": ("g6e.", "p5"), "use1-az3": ("g6e.",), "use1-az1": ("p5", "p4"), "usw2-az4": ("g6e.",)}
_DIRECTIONS = {"north": "n", "south": "s", "east": "e", "west": "w", "central": "c", "northeast": "ne", "southeast": "se", "northwest": "nw", "southwest": "sw"}


def zone_id_prefix(region: str) -> str:
    """us-east-1 -> use1, ap-southeast-2 -> apse2, ca-central-1 -> cac1 (AWS's zone ID scheme)."""
    area, direction, number = region.split("-")
    return f"{area}{_DIRECTIONS[direction]}{number}"


def zones_of(region: str) -> list[tuple[str, str]]:
    """The mock account's (zone name, zone ID) pairs of a region."""
    prefix = zone_id_prefix(region)
    return [(f"{region}{letter}", f"{prefix}-az{n}") for letter, n in ZONES.get(region, DEFAULT_ZONES)]


def offered(instance_type: str, zone_id: str) -> bool:
    return not instance_type.startswith(UNOFFERED.get(zone_id, ()))
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
    protect: bool = False


class PlanMocks(Mocks):
    """Answers resource registrations and invokes as AWS would, for one region."""

    def __init__(self, region: str, quotas: dict[str, float] | None = None):
        self.region = region
        self.quotas = dict(quotas or {})  # EC2 quota code -> vCPUs; absent: 0, as in a fresh account
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

    def _offerings(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("locationType") != "availability-zone-id":
            raise NotImplementedError("the mock answers instance type offerings by availability-zone-id only")
        wanted = [v for f in args.get("filters", []) if f["name"] == "instance-type" for v in f["values"]]
        pairs = [(t, zone_id) for t in wanted for _, zone_id in zones_of(self.region) if offered(t, zone_id)]
        return {
            "instanceTypes": [t for t, _ in pairs],
            "locations": [z for _, z in pairs],
            "locationTypes": ["availability-zone-id"] * len(pairs),
            "id": self.region,
        }

    def _quota(self, args: dict[str, Any]) -> dict[str, Any]:
        code = args["quotaCode"]
        return {"quotaCode": code, "serviceCode": args["serviceCode"], "value": float(self.quotas.get(code, 0.0)), "id": f"ec2/{code}"}

    def call(self, args: MockCallArgs) -> tuple[dict, list]:
        zones = zones_of(self.region)
        answers = {
            "aws:index/getAvailabilityZones:getAvailabilityZones": lambda _: {
                "names": [name for name, _ in zones],
                "zoneIds": [zone_id for _, zone_id in zones],
                "id": self.region,
            },
            "aws:index/getCallerIdentity:getCallerIdentity": lambda _: {
                "accountId": ACCOUNT_ID,
                "arn": CALLER_ARN,
                "userId": "AROAMOCK:plan",
                "id": ACCOUNT_ID,
            },
            "aws:index/getPartition:getPartition": lambda _: {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"},
            "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": self._offerings,
            "aws:servicequotas/getServiceQuota:getServiceQuota": self._quota,
        }
        if args.token not in answers:
            raise NotImplementedError(f"the offline plan does not answer invoke {args.token}; add it to infra/offline/mocks.py")
        return answers[args.token](normalize(dict(args.args))), []


class EngineLog(logging.Handler):
    """What the program logs to the engine (pulumi.log.*), kept instead of printed: under `pulumi up` the
    CLI shows it; the offline plan prints the same warnings itself, and tests compare the two."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, str]] = []  # (level name, message)
        self.logger = logging.Logger(f"{__name__}.engine")  # not registered globally: one per plan
        self.logger.propagate = False
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelname, record.getMessage()))

    def warnings(self) -> list[str]:
        return [message for level, message in self.records if level == "WARNING"]


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
                    protect=bool(request.protect),
                )
            )
        return resources
