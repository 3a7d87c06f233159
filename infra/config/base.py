"""What every config section is built from: the base model (camel-case keys, unknown keys refused,
frozen), the error helper, and the validated value types (instance types, CIDRs, regions, labels)."""

from __future__ import annotations

import difflib
import ipaddress
import re
import typing
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from infra.catalog import gpu_instances, kubernetes_versions
from infra.catalog.aws_api import ec2_instance_types, eks_regions
from infra.config.limits import LABEL_PREFIX_MAX, YAML_AMBIGUOUS_WORDS
from infra.names import RESERVED_LABEL_PREFIXES

_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")

def config_error(kind: str, message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, message, context)


def suggest(value: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(value, sorted(choices), n=3, cutoff=0.6)
    return f" Did you mean {', '.join(close)}?" if close else ""


# --- value validators -----------------------------------------------------------------------------


def at_least(value: int | None, info, lower: str, *, this: str, other: str) -> int | None:
    """Field validator body: `this` (the value) must not be below the already-validated field `lower`."""
    low = info.data.get(lower)
    if value is not None and low is not None and value < low:
        raise config_error("range", "{this} ({value}) is below {other} ({low}); it must be at least {other}", this=this, value=value, other=other, low=low)
    return value


def _one_of(value: str, choices: typing.Collection[str], kind: str, what: str) -> str:
    """`value` if it is one of `choices`, else an error naming close matches and every allowed value."""
    if value not in choices:
        raise config_error(kind, "not {what}.{hint} Allowed: {allowed}", what=what, hint=suggest(value, choices), allowed=", ".join(choices))
    return value


def _check_gpu_instance_type(value: str) -> str:
    return _one_of(value, gpu_instances(), "gpu_instance_type", "a GPU instance type in the catalog")


# Graviton (arm64) families carry a "g" right after the generation digit (m7g, c6gn, r8gd, t4g, g5g,
# x2gd, im4gn, is4gen, hpc7g) or are a1 (EC2 docs, "Amazon EC2 instance type naming conventions":
# g = AWS Graviton processors). The kit's AMIs (EKS AL2023/Bottlerocket x86_64) cannot boot them.
_ARM64_FAMILY = re.compile(r"^(a1|[a-z]+[0-9]+g[a-z]*)\.")


def is_arm64(instance_type: str) -> bool:
    return bool(_ARM64_FAMILY.match(instance_type))


def _check_ec2_instance_type(value: str) -> str:
    if value not in ec2_instance_types():
        raise config_error(
            "ec2_instance_type",
            "not an EC2 instance type (checked against botocore's EC2 service model).{hint}",
            hint=suggest(value, ec2_instance_types()),
        )
    if is_arm64(value):
        raise config_error("arm64_instance_type", "an arm64 (Graviton) instance type; the kit's node AMIs are x86_64, so it would never join. Use an x86_64 type such as m7i.large")
    return value


def _check_plain_name(value: str) -> str:
    """Names that YAML 1.1 readers (Helm --set, kubectl, many tools) turn into booleans or null."""
    if value in YAML_AMBIGUOUS_WORDS:
        raise config_error(
            "yaml_ambiguous_name",
            "YAML 1.1 tools read this name as a boolean or null, and it would render as true/false/null in node selectors and object names; pick another name (not {words})",
            words=", ".join(sorted(YAML_AMBIGUOUS_WORDS)),
        )
    return value


def _check_cidr(value: str) -> str:
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise config_error("cidr", "not an IPv4 CIDR block ({reason}); e.g. 10.0.0.0/16", reason=str(exc)) from None
    return value


def _check_kubernetes_version(value: Any) -> Any:
    supported = tuple(kubernetes_versions())
    if isinstance(value, float):
        raise config_error("version_as_number", 'quote the version so YAML keeps it a string, e.g. "1.35"')
    if value not in supported:
        raise config_error("kubernetes_version", "unsupported Kubernetes version; allowed: {allowed}", allowed=", ".join(supported))
    return value


def _check_region(value: str) -> str:
    return _one_of(value, eks_regions(), "region", "an AWS region where EKS is available")


def _check_label_key(key: str) -> str:
    prefix, _, name = key.rpartition("/")
    if not _LABEL_NAME.match(name) or (prefix and (len(prefix) > LABEL_PREFIX_MAX or not _LABEL_PREFIX.match(prefix))):
        raise config_error("label_key", "not a valid Kubernetes label key ([prefix/]name, name up to 63 alphanumerics, '-', '_', '.')")
    if key.startswith(RESERVED_LABEL_PREFIXES):
        raise config_error("label_key_reserved", "label keys under {reserved} are set by the kit or by EKS", reserved=", ".join(RESERVED_LABEL_PREFIXES))
    return key


def _check_label_value(value: str) -> str:
    if value and not _LABEL_NAME.match(value):
        raise config_error("label_value", "not a valid Kubernetes label value (up to 63 alphanumerics, '-', '_', '.')")
    return value


GpuInstanceType = Annotated[str, AfterValidator(_check_gpu_instance_type)]
Ec2InstanceType = Annotated[str, AfterValidator(_check_ec2_instance_type)]
Cidr = Annotated[str, AfterValidator(_check_cidr)]
KubernetesVersion = Annotated[str, BeforeValidator(_check_kubernetes_version)]
Region = Annotated[str, AfterValidator(_check_region)]
PlainName = AfterValidator(_check_plain_name)
LabelKey = Annotated[str, AfterValidator(_check_label_key)]
LabelValue = Annotated[str, AfterValidator(_check_label_value)]
IamPrincipalArn = Annotated[str, Field(pattern=r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")]
IamRoleArn = Annotated[str, Field(pattern=r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]+$")]



HF_REPO = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


class ConfigModel(BaseModel):
    """Camel-case keys as in stack files; unknown keys are errors; values are immutable."""

    # allow_inf_nan=False: .inf and .nan are refused by every float field (they crash cost arithmetic).
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, allow_inf_nan=False)


