"""Pod autoscaling: KEDA (pinned chart), which scales each model's spot Deployment on vLLM's waiting
requests (the ScaledObject lives in charts/vllm). Node autoscaling is infra/node_autoscaler.py."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.aws.image_cache import ImageMirror
from infra.cluster_services.kube import third_party_chart
from infra.cluster_services.network_policies import namespace_policies
from infra.names import KEDA_NAMESPACE, SYSTEM_ROLE_LABEL

NAMESPACE = KEDA_NAMESPACE


def keda_values(images: ImageMirror = ImageMirror()) -> dict:
    values: dict = {
        "nodeSelector": {SYSTEM_ROLE_LABEL: "system"},
        # The narrowest RBAC the kit's use allows (kedacore/charts keda 2.20.2, templates/manager/clusterrole.yaml
        # and minimal-rbac.yaml): the kit's ScaledObjects query Prometheus with no TriggerAuthentication, so the
        # operator reads Secrets only in its own namespace (its certificates), not list/watch cluster-wide; and
        # they scale Deployments, which the chart grants on its own, so no `get` on every resource of every group
        # (`rbac.scaledRefKinds` defaults to apiGroup "*", kind "*").
        "permissions": {"operator": {"restrict": {"secret": True}}},
        "rbac": {"enabledCustomScaledRefKinds": False},
    }
    # Every KEDA image comes from ghcr.io; the chart's templates take global.image.registry before each
    # image's own registry (kedacore/charts keda/templates/*/deployment.yaml, checked at chart 2.20.2).
    registry = images.registry_for("ghcr.io")
    if registry is not None:
        values["global"] = {"image": {"registry": registry}}
    return values


def keda(name: str, opts: pulumi.ResourceOptions, images: ImageMirror = ImageMirror()) -> k8s.helm.v4.Chart:
    namespace = k8s.core.v1.Namespace(f"{name}-namespace", metadata={"name": NAMESPACE}, opts=opts)
    namespace_policies(f"{name}-network-policies", NAMESPACE, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[namespace])))
    return third_party_chart(
        name,
        "keda",
        namespace=NAMESPACE,
        values=keda_values(images),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[namespace])),
    )
