"""The NVIDIA device plugin: advertises `nvidia.com/gpu` on GPU nodes so pods can request GPUs.

The EKS AL2023 NVIDIA AMIs ship the driver and container toolkit; the plugin is the missing piece.
Bottlerocket's NVIDIA variants already run NVIDIA's device plugin (bottlerocket QUICKSTART-EKS.md;
EKS user guide, ml-eks-k8s-device-plugin), so a second one must not land there: the DaemonSet
selects GPU nodes of the AL2023 family only, and the program installs it only when some pool
uses AL2023. Its chart's default node affinity expects Node Feature Discovery labels this kit does
not install, hence the kit's own labels; it tolerates the GPU taint.
"""

from __future__ import annotations

import pulumi

from infra.cluster_services.kube import third_party_chart
from infra.names import AMI_FAMILY_LABEL, GPU_LABEL, GPU_TOLERATION

DEVICE_PLUGIN_VALUES = {
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": GPU_LABEL, "operator": "Exists"},
                            {"key": AMI_FAMILY_LABEL, "operator": "In", "values": ["al2023"]},
                        ]
                    }
                ]
            }
        }
    },
    "tolerations": [GPU_TOLERATION],
    "priorityClassName": "system-node-critical",
}


def device_plugin(name: str, opts: pulumi.ResourceOptions):
    return third_party_chart(name, "nvidia-device-plugin", namespace="kube-system", values=DEVICE_PLUGIN_VALUES, opts=opts)
