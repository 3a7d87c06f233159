"""The kit's vocabulary, defined once: node label keys, taints, namespaces and release names that the
program, the charts' values, the plan, the policy pack (a copy, compared by a test) and the tests share."""

# Label keys this kit puts on GPU nodes; stack config may not override them.
POOL_LABEL = "llm-serving/pool"
GPU_LABEL = "llm-serving/gpu"
CAPACITY_TYPE_LABEL = "llm-serving/capacity-type"
RESERVED_LABEL_PREFIXES = ("llm-serving/", "kubernetes.io/", "k8s.io/", "eks.amazonaws.com/", "k8s.amazonaws.com/")
SYSTEM_ROLE_LABEL = "llm-serving/role"  # on the system node group: cluster services run there
# On GPU nodes: the AMI family (al2023 | bottlerocket). Bottlerocket's NVIDIA variants ship their own
# device plugin, so the kit's device plugin DaemonSet selects al2023 nodes only.
AMI_FAMILY_LABEL = "llm-serving/ami-family"
# The GPU label the Cluster Autoscaler's AWS provider reads (kubernetes/autoscaler
# cluster-autoscaler/cloudprovider/aws/aws_cloud_provider.go @ 55c37cd5, `GPULabel`): a node that
# carries it but advertises no nvidia.com/gpu yet counts as not ready, so the autoscaler waits for the
# device plugin instead of scaling out again.
AUTOSCALER_GPU_LABEL = "k8s.amazonaws.com/accelerator"

# GPUs: the extended resource the NVIDIA device plugin advertises, and the taint on every GPU node so that only
# pods asking for GPUs land there (and pay for them): the toleration pods carry, and the EKS API's spelling of
# the same taint on a node group (NO_SCHEDULE is NoSchedule).
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
GPU_NODE_GROUP_TAINT = {"key": GPU_RESOURCE, "value": "true", "effect": "NO_SCHEDULE"}

# Namespaces.
SERVING_NAMESPACE = "llm-serving"
MONITORING_NAMESPACE = "monitoring"
KEDA_NAMESPACE = "keda"
KUBE_SYSTEM_NAMESPACE = "kube-system"

# Helm release names of the kit's singletons (each model's release is the model's name).
ROUTER_RELEASE = "router"
EMBEDDINGS_RELEASE = "embeddings"

# The router's model name for the hosted fallback (serving/router.py); no model or adapter may take it.
FALLBACK_ROUTE = "hosted-fallback"
