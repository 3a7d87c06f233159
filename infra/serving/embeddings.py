"""Embeddings: one release of our chart `charts/tei` (Hugging Face Text Embeddings Inference), on CPU
on the system nodes or one GPU per replica in a GPU pool, with the image built for that GPU."""

from __future__ import annotations

import os

import pulumi
import pulumi_kubernetes as k8s

from infra import CHARTS_DIR
from infra.aws.image_cache import ImageMirror
from infra.capacity.pods import TEI_ON_CPU, TEI_ON_GPU
from infra.catalog import image_pins
from infra.cluster_services.node_autoscaler import NODE_PROVISION_SECONDS
from infra.config.serving import Embeddings
from infra.names import CAPACITY_TYPE_LABEL, EMBEDDINGS_RELEASE, POOL_LABEL, SYSTEM_ROLE_LABEL

TEI_CHART = CHARTS_DIR / "tei"
STARTUP_SECONDS = 600  # the chart's startupProbe: 60 failures x 10 s
RELEASE = EMBEDDINGS_RELEASE

TEI = image_pins()["tei"]  # one image per GPU architecture (catalog/images.yaml)
TEI_IMAGE = TEI.repository


def tei_values(embeddings: Embeddings, gpu: str | None, monitored: bool, network_policy: dict, rollout: dict, images: ImageMirror = ImageMirror()) -> dict:
    on_gpu = gpu is not None
    return {
        "image": {"repository": images.repository(TEI_IMAGE), "tag": TEI.tag_for(gpu), "pullPolicy": "IfNotPresent"},
        "model": {"id": embeddings.model, "revision": embeddings.revision},
        "engine": {
            "maxBatchTokens": embeddings.max_batch_tokens,
            "maxClientBatchSize": embeddings.max_client_batch_size,
            "autoTruncate": embeddings.auto_truncate,
        },
        "replicas": embeddings.replicas,
        "rollout": rollout,  # from placement: maxSurge 0 where there is no room for one more replica
        "pulumiTimeoutSeconds": embeddings.replicas * STARTUP_SECONDS + NODE_PROVISION_SECONDS,
        "placement": {
            "gpu": on_gpu,
            "poolLabel": POOL_LABEL,
            "pool": embeddings.pool or "",
            "capacityTypeLabel": CAPACITY_TYPE_LABEL,
            "capacityType": embeddings.capacity_type,
            "cpuNodeSelector": {SYSTEM_ROLE_LABEL: "system"},
        },
        "resources": (TEI_ON_GPU if on_gpu else TEI_ON_CPU).values(),  # what placement placed
        "service": {"port": 80},
        "serviceMonitor": {"enabled": monitored, "interval": "15s"},
        "networkPolicy": network_policy,
    }


def embeddings_release(
    name: str,
    embeddings: Embeddings,
    gpu: str | None,
    namespace: str,
    monitored: bool,
    network_policy: dict,
    rollout: dict,
    opts: pulumi.ResourceOptions,
    images: ImageMirror = ImageMirror(),
) -> k8s.helm.v4.Chart:
    return k8s.helm.v4.Chart(
        name,
        name=RELEASE,
        chart=os.path.relpath(TEI_CHART),
        namespace=namespace,
        values=tei_values(embeddings, gpu, monitored, network_policy, rollout, images),
        opts=opts,
    )
