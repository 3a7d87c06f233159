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
