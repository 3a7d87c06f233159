"""Every downstream limit a stack's configuration must respect, declared once with its source.

AWS (IAM, EKS, EC2, EBS, tags), Kubernetes (names, labels), vLLM, TEI and YAML itself refuse or
misread values past these; the config models and `checks.py` apply them, and the
configuration reference (reference.py) states each limit next to the keys it concerns
(`KEY_LIMITS`). A limit changes here, nowhere else.
"""

from __future__ import annotations

import re

from infra import PROJECT
from infra.names import EMBEDDINGS_RELEASE, FALLBACK_ROUTE, ROUTER_RELEASE

# --- AWS -------------------------------------------------------------------------------------------
# IAM CreateRole: RoleName is 1-64 of [\w+=,.@-] (IAM API reference, CreateRole). Pulumi auto-names a
# role "<logical name>-<7 random hex>", an 8-character suffix (pulumi/pulumi sdk resource.go autonaming).
IAM_ROLE_NAME_MAX = 64
PULUMI_AUTONAME_SUFFIX = 8
# EKS CreateNodegroup: nodegroupName 1-63, ^[0-9A-Za-z][A-Za-z0-9\-_]* (EKS API reference).
NODE_GROUP_NAME_MAX = 63
# EKS CreateCluster: name 1-100, ^[0-9A-Za-z][A-Za-z0-9\-_]* (EKS API reference).
CLUSTER_NAME_MAX = 100
# EKS service quotas (Amazon EKS User Guide, "Service quotas"): managed node groups per cluster 30,
# nodes per managed node group 450. Both are the defaults; raise them with AWS first, then here.
NODE_GROUPS_PER_CLUSTER = 30
NODES_PER_NODE_GROUP = 450
# EC2 tags (EC2 User Guide, "Tag restrictions"): 50 per resource, key 1-128, value 0-256, and the
# prefix aws: is reserved for AWS.
TAGS_PER_RESOURCE = 50
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
RESERVED_TAG_PREFIX = "aws:"
# Tags the kit itself puts on every resource (program.py default_tags, gpu_pools.py autoscaler tags):
# they count against the 50.
KIT_TAGS = 6
# EBS gp3 volumes: 1 GiB to 16 TiB (EBS User Guide, "Amazon EBS volume types").
GP3_MAX_GIB = 16384
# VPC: an IPv4 block is /16 to /28 (VPC User Guide, "VPC CIDR blocks"); RFC 1918 ranges and the
# RFC 6598 shared range 100.64.0.0/10 are what the VPC User Guide recommends for private VPCs.
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
# The kit splits the VPC block into a private and a public subnet per zone (network.py): with 6
# zones that is 12 equal subnets, so /20 leaves /24 subnets. EKS wants at least /28 with 6 free IPs
# per subnet, but GPU pods take one VPC IP each (VPC CNI): the kit asks for /24 subnets or larger.
SUBNET_PREFIX_MAX = 24
# EKS endpoint allow-list (EKS User Guide, "Cluster API server endpoint"): when the endpoint is
# public and private access is off, nodes reach the API over the internet through NAT, so the
# allow-list must contain the NAT gateways' addresses, which only exist after `pulumi up`.
PUBLIC_CIDR_PREFIX_MIN = 8  # an allow-list entry wider than a /8 is as good as open

# --- Kubernetes ------------------------------------------------------------------------------------
# DNS-1123 label (Kubernetes docs, "Object Names and IDs"): up to 63 lower-case alphanumerics or '-'.
DNS_LABEL_MAX = 63
# Label name segment: 63 characters; prefix a DNS subdomain up to 253 (Kubernetes docs, "Labels").
LABEL_NAME_MAX = 63
LABEL_PREFIX_MAX = 253
# Replica counts and other counts land in int32 fields of Kubernetes objects (Deployment.spec.replicas,
# HPA maxReplicas): the API server refuses larger values.
KUBERNETES_INT32_MAX = 2**31 - 1
# HPA behavior: stabilizationWindowSeconds must be 0-3600 (autoscaling/v2 HPAScalingRules; KEDA passes
# it through to the HPA).
HPA_STABILIZATION_MAX_SECONDS = 3600

# --- YAML ------------------------------------------------------------------------------------------
# Words YAML 1.1 (PyYAML, many Kubernetes tools, Helm's --set) reads as booleans or null. A pool,
# model or adapter named so renders as `true` or `null` in node selectors and object names.
YAML_AMBIGUOUS_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
# Alias expansion: a stack file is small; a document whose aliases expand past this many nodes is a
# billion-laughs bomb (go-yaml v3 refuses "excessive aliasing" in the same spirit).
YAML_MAX_EXPANDED_NODES = 100_000
YAML_MAX_BYTES = 1_000_000

# --- the kit's own names ---------------------------------------------------------------------------
# Model names become Helm release names next to the kit's own releases (infra/names.py).
RESERVED_MODEL_NAMES = frozenset({ROUTER_RELEASE, EMBEDDINGS_RELEASE})
# Router model names that the kit adds itself (serving/router.py).
RESERVED_ROUTE_NAMES = frozenset({FALLBACK_ROUTE})
# Stack names go into every AWS name: "<project>-<stack>-..." (program.py).
STACK_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
# The longest fixed IAM role suffix the kit uses after "<project>-<stack>-" (cluster_services/
# node_autoscaler.py: "cluster-autoscaler-role"); tests/test_limits.py compares with the plan.
LONGEST_FIXED_ROLE_SUFFIX = "cluster-autoscaler-role"
ADAPTER_ROLE = "{prefix}-serving-{model}-adapters"  # serving/workloads.py _adapter_role
NODE_GROUP = "{prefix}-{pool}-{capacity}"  # aws/gpu_pools.py
STACK_NAME_MAX = IAM_ROLE_NAME_MAX - PULUMI_AUTONAME_SUFFIX - len(f"{PROJECT}--{LONGEST_FIXED_ROLE_SUFFIX}")

# --- vLLM (v0.33.0, the chart's appVersion) ---------------------------------------------------------
# SchedulerConfig._verify_args: max_num_batched_tokens >= max_num_seqs. EngineArgs._set_default_args:
# the OpenAI server's default max_num_batched_tokens is 8192 on GPUs with >= 70 GiB (not A100), else
# 2048 (vllm/engine/arg_utils.py).
VLLM_DEFAULT_BATCHED_TOKENS_LARGE_GPU = 8192
VLLM_DEFAULT_BATCHED_TOKENS = 2048
VLLM_LARGE_GPU_GIB = 70

# --- TEI -------------------------------------------------------------------------------------------
# TEI reads the longest input from the model's Sentence Transformers config (max_seq_length) or
# max_position_embeddings (text-embeddings-inference router/src/lib.rs); a batch smaller than one
# input can never hold it. Values from each model's sentence_bert_config.json / config.json.
EMBEDDING_MAX_INPUT_TOKENS = {
    "BAAI/bge-m3": 8192,
    "BAAI/bge-large-en-v1.5": 512,
    "BAAI/bge-base-en-v1.5": 512,
    "BAAI/bge-small-en-v1.5": 512,
    "intfloat/multilingual-e5-large": 512,
    "sentence-transformers/all-MiniLM-L6-v2": 256,
    "nomic-ai/nomic-embed-text-v1.5": 8192,
}

# --- the kit's own scale ---------------------------------------------------------------------------
# Each model is a Helm release rendered and applied one by one; a stack beyond these is a mistake (a
# generated list, a pasted file), and would make the plan run for minutes.
MODELS_MAX = 20
ADAPTERS_PER_MODEL_MAX = 32

# --- economics -------------------------------------------------------------------------------------
MONTHLY_TOKENS_MAX = 10**15  # a quadrillion tokens a month: far past any single stack's capacity
PRICE_USD_MAX = 1_000.0  # per hour for an instance, per million tokens for an API

# The limits the configuration reference states next to each key (config reference), beyond the type's own bounds.
KEY_LIMITS: dict[str, str] = {
    "stack name": f"lower-case letters, digits and '-', at most {STACK_NAME_MAX} characters (IAM role names: {IAM_ROLE_NAME_MAX} with Pulumi's {PULUMI_AUTONAME_SUFFIX}-character suffix)",
    f"{PROJECT}:cluster.network.newVpc.cidr": f"inside {', '.join(PRIVATE_RANGES)}; /16 to /20 (subnets of /{SUBNET_PREFIX_MAX} or larger)",
    f"{PROJECT}:cluster.network.newVpc.zones": "distinct zones of the stack's region",
    f"{PROJECT}:cluster.endpoint.publicCidrs": f"no /0 and nothing wider than /{PUBLIC_CIDR_PREFIX_MIN}; with private: false nodes need the NAT addresses, so keep private: true",
    f"{PROJECT}:systemNodes.instanceTypes": "x86_64 types only (the AMIs are x86_64)",
    f"{PROJECT}:systemNodes.maxNodes": f"at most {NODES_PER_NODE_GROUP} (EKS nodes per managed node group)",
    f"{PROJECT}:systemNodes.rootVolumeGib": f"gp3: at most {GP3_MAX_GIB} GiB",
    f"{PROJECT}:gpuPools": f"at most {(NODE_GROUPS_PER_CLUSTER - 1) // 2} pools: 2 node groups each plus the system group, {NODE_GROUPS_PER_CLUSTER} per cluster (EKS quota)",
    f"{PROJECT}:gpuPools[].name": f"not a YAML boolean/null word ({', '.join(sorted(YAML_AMBIGUOUS_WORDS))}); node group name <project>-<stack>-<pool>-on-demand at most {NODE_GROUP_NAME_MAX} characters",
    f"{PROJECT}:gpuPools[].onDemand.max": f"at most {NODES_PER_NODE_GROUP} (EKS nodes per managed node group)",
    f"{PROJECT}:gpuPools[].spot.max": f"at most {NODES_PER_NODE_GROUP} (EKS nodes per managed node group)",
    f"{PROJECT}:gpuPools[].rootVolumeGib": f"gp3: at most {GP3_MAX_GIB} GiB",
    f"{PROJECT}:gpuPools[].labels": f"keys: [prefix/]name, name at most {LABEL_NAME_MAX}, prefix at most {LABEL_PREFIX_MAX}, not under the kit's or Kubernetes' prefixes; values at most {LABEL_NAME_MAX}",
    f"{PROJECT}:models[].name": f"not {', '.join(sorted(RESERVED_MODEL_NAMES | RESERVED_ROUTE_NAMES))}, nor a YAML boolean/null word, nor another route's name; adapter role name at most {IAM_ROLE_NAME_MAX} characters",
    f"{PROJECT}:models[].maxNumSeqs": f"at most vLLM's max_num_batched_tokens ({VLLM_DEFAULT_BATCHED_TOKENS_LARGE_GPU} on >= {VLLM_LARGE_GPU_GIB} GiB GPUs, {VLLM_DEFAULT_BATCHED_TOKENS} on smaller ones, or --max-num-batched-tokens)",
    f"{PROJECT}:models[].quantization": "matches the checkpoint's stored format (4-bit for AWQ/GPTQ)",
    f"{PROJECT}:models[].weightBits": "matches a catalog checkpoint's precision",
    f"{PROJECT}:models[].architecture": "matches a catalog checkpoint's architecture",
    f"{PROJECT}:models[].loraAdapters[].name": "unique across every model and adapter, not a model's name, the embedding model's or the fallback route's",
    f"{PROJECT}:models[].loraAdapters[].source": "no wildcards (*, ?) in an S3 prefix",
    f"{PROJECT}:models[].extraArgs": "not the flags the kit sets (any spelling: _ or -, short aliases, abbreviations, --no-), not flags that change the GPU count, not secrets, not --config",
    f"{PROJECT}:models[].autoscaling.scaleDownStabilizationSeconds": f"at most {HPA_STABILIZATION_MAX_SECONDS} (HPA)",
    f"{PROJECT}:embeddings.maxBatchTokens": "at least the embedding model's longest input (8192 for BAAI/bge-m3)",
    f"{PROJECT}:monitoring.storageGib": f"gp3: at most {GP3_MAX_GIB} GiB",
    f"{PROJECT}:economics.monthlyTokens": f"more than 0, at most {MONTHLY_TOKENS_MAX:.0e}",
    f"{PROJECT}:tags": f"at most {TAGS_PER_RESOURCE - KIT_TAGS} (AWS: {TAGS_PER_RESOURCE} per resource, {KIT_TAGS} are the kit's); keys 1-{TAG_KEY_MAX}, values up to {TAG_VALUE_MAX}, no {RESERVED_TAG_PREFIX} prefix",
}
