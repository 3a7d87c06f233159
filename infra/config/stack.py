"""The root of a stack's configuration: every section, composed, and the lookups across them."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from infra.catalog import ApiPrice, GpuInstance, api_prices, gpu_instance, with_overrides
from infra.config.base import ConfigModel, Region, config_error
from infra.config.cluster import AwsCredentials, ClusterConfig, SystemNodes
from infra.config.delivery import ImageCache, WeightCache
from infra.config.economics import CatalogOverrides, Economics, InstancePrice
from infra.config.limits import (
    KIT_TAGS,
    MODELS_MAX,
    NODE_GROUPS_PER_CLUSTER,
    RESERVED_TAG_PREFIX,
    TAG_KEY_MAX,
    TAG_VALUE_MAX,
    TAGS_PER_RESOURCE,
)
from infra.config.models import ModelDeployment
from infra.config.monitoring import Monitoring
from infra.config.pools import GpuPool
from infra.config.serving import Embeddings, Fallback


class StackConfig(ConfigModel):
    """Everything a stack file may say, under the `llm-serving:` namespace."""

    region: Region = Field(description="AWS region for every resource.", examples=["us-east-1"])
    cluster: ClusterConfig = Field(ClusterConfig(), description="The EKS cluster.", examples=[{"kubernetesVersion": "1.35", "endpoint": {"public": True, "publicCidrs": ["203.0.113.0/24"]}}])
    system_nodes: SystemNodes = Field(SystemNodes(), description="CPU nodes for cluster services.", examples=[{"instanceTypes": ["m7i.large"], "minNodes": 2, "maxNodes": 4}])
    gpu_pools: list[GpuPool] = Field(min_length=1, max_length=(NODE_GROUPS_PER_CLUSTER - 1) // 2, description="GPU node pools.", examples=[[{"name": "l4", "instanceTypes": ["g6.xlarge"], "onDemand": {"baseline": 1}, "spot": {"max": 3}}]])
    models: list[ModelDeployment] = Field([], max_length=MODELS_MAX, description="Models to serve with vLLM.", examples=[[{"name": "llama-8b", "huggingFaceId": "meta-llama/Llama-3.1-8B-Instruct", "revision": "main", "pool": "l4", "replicas": {"baseline": 1}}]])
    fallback: Fallback = Field(Fallback(), description="The API router and its hosted fallback.", examples=[{"hostedModel": "openai/gpt-4o-mini", "timeoutSeconds": 60}])
    embeddings: Embeddings = Field(Embeddings(enabled=False), description="Embeddings served by TEI (off unless configured).", examples=[{"model": "BAAI/bge-m3", "replicas": 2, "pool": "l4"}])
    monitoring: Monitoring = Field(Monitoring(), description="Prometheus, DCGM, alerts and dashboards.", examples=[{"retentionDays": 30, "storageGib": 100}])
    economics: Economics = Field(Economics(), description="Traffic expectation and the API to compare with.", examples=[{"compareWith": "llama-3.1-70b-managed", "monthlyTokens": 5_000_000_000}])
    catalog: CatalogOverrides = Field(CatalogOverrides(), description="Overrides of catalog numbers.", examples=[{"instances": {"g6e.12xlarge": {"onDemandUsdHour": 9.8}}}])
    weight_cache: WeightCache = Field(WeightCache(), description="Model weights mirrored to S3 once and streamed to the GPUs from there.", examples=[{"enabled": True}])
    image_cache: ImageCache = Field(ImageCache(), description="ECR pull-through cache for the kit's images.", examples=[{"enabled": True, "dockerHubUsername": "acme-ci"}])
    tags: dict[str, str] = Field({}, description="Extra AWS tags on every resource.", examples=[{"cost-center": "ml-platform"}])
    aws: AwsCredentials = Field(AwsCredentials(), description="AWS credentials for `pulumi up` (default: the ambient credential chain).", examples=[{"profile": "ml-platform"}])

    @field_validator("gpu_pools", "models")
    @classmethod
    def _unique_names(cls, value: list, info) -> list:
        names = [item.name for item in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            what = {"gpu_pools": "pool", "models": "model"}[info.field_name]
            raise config_error("duplicates", "{what} names must be unique; repeated: {names}", what=what, names=", ".join(duplicates))
        return value

    @field_validator("tags")
    @classmethod
    def _aws_tag_limits(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > TAGS_PER_RESOURCE - KIT_TAGS:
            raise config_error("too_many_tags", "{count} tags; AWS allows {limit} per resource and the kit sets {kit}", count=len(value), limit=TAGS_PER_RESOURCE, kit=KIT_TAGS)
        for key, tag in value.items():
            if not 1 <= len(key) <= TAG_KEY_MAX or len(tag) > TAG_VALUE_MAX:
                raise config_error("tag_length", "tag '{key}': AWS tag keys are 1-{kmax} characters and values up to {vmax}", key=key[:40], kmax=TAG_KEY_MAX, vmax=TAG_VALUE_MAX)
            if key.lower().startswith(RESERVED_TAG_PREFIX):
                raise config_error("tag_reserved", "tag '{key}': keys starting with {prefix} are reserved for AWS", key=key[:40], prefix=RESERVED_TAG_PREFIX)
            if not re.fullmatch(r"[\w .:/=+@-]*", key + tag):
                raise config_error("tag_characters", "tag '{key}': AWS tags allow letters, digits, spaces and _ . : / = + - @", key=key[:40])
        return value

    def pool(self, name: str) -> GpuPool:
        return next(p for p in self.gpu_pools if p.name == name)

    def instance(self, instance_type: str) -> GpuInstance:
        """A GPU instance type's catalog entry in this stack's region, with this stack's price overrides."""
        override = self.catalog.instances.get(instance_type, InstancePrice())
        return with_overrides(gpu_instance(instance_type, self.region), override.on_demand_usd_hour, override.spot_usd_hour, override.spot_discount)

    def api_prices(self) -> dict[str, ApiPrice]:
        """The catalog's hosted API prices with this stack's additions and overrides."""
        overrides = {name: ApiPrice(input=price.input, output=price.output) for name, price in self.catalog.api_prices.items()}
        return {**api_prices(), **overrides}


