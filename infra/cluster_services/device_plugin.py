"""The NVIDIA device plugin: advertises `nvidia.com/gpu` on GPU nodes so pods can request GPUs.

The EKS NVIDIA AMIs ship the driver and container toolkit; the plugin is the missing piece. Its
chart's default node affinity expects Node Feature Discovery labels this kit does not install,
so the DaemonSet is pinned to nodes carrying the kit's GPU label instead, tolerating the taint.
"""

from __future__ import annotations

import pulumi

from infra.cluster_services.kube import third_party_chart
from infra.names import GPU_LABEL

DEVICE_PLUGIN_VALUES = {
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": GPU_LABEL, "operator": "Exists"}]}]
            }
        }
    },
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "priorityClassName": "system-node-critical",
}


def device_plugin(name: str, opts: pulumi.ResourceOptions):
    return third_party_chart(name, "nvidia-device-plugin", namespace="kube-system", values=DEVICE_PLUGIN_VALUES, opts=opts)
