"""The kit's vocabulary, defined once: node label keys, taints, namespaces and release names that the
program, the charts' values, the plan, the policy pack (a copy, compared by a test) and the tests share."""

# Label keys this kit puts on GPU nodes; stack config may not override them.
POOL_LABEL = "llm-serving/pool"
GPU_LABEL = "llm-serving/gpu"
CAPACITY_TYPE_LABEL = "llm-serving/capacity-type"
RESERVED_LABEL_PREFIXES = ("llm-serving/", "kubernetes.io/", "k8s.io/", "eks.amazonaws.com/")
SYSTEM_ROLE_LABEL = "llm-serving/role"  # on the system node group: cluster services run there

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
