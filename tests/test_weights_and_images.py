"""How weights and images reach a GPU node: the weight cache (bucket, mirror Job, vLLM streaming from
S3, IRSA scoping), the ECR pull-through cache, and the GPU launch templates (gp3 speed, nodeadm user data).

The mirror Job's and the wait container's shell scripts are run for real, with a fake `aws` on PATH
that records its calls, so their order and idempotence are proven, not read back."""

from __future__ import annotations

import base64
import email
import json
import os
import stat
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from infra.aws.image_cache import cached_repository
from tests.conftest import of_type

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
BUCKET = "llm-serving-prod-weights-123456789012-us-east-1"
PREFIX = "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4/main"


def deployment(plan, name):
    return next(o for objects in plan.manifests.values() for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name)


def vllm(deployment_object):
    return next(c for c in deployment_object["spec"]["template"]["spec"]["containers"] if c["name"] == "vllm")


def flag(args, name):
    values = [a.split("=", 1)[1] for a in args if a.startswith(f"{name}=")]
    return values[0] if values else None


def mirror_job(plan, release):
    (job,) = [o for o in plan.manifests[release] if o["kind"] == "Job"]
    return job


def policy(plan, suffix):
    (found,) = [p for p in of_type(plan, ROLE_POLICY) if p.name.endswith(suffix)]
    return json.loads(found.inputs["policy"])["Statement"]


# --- vLLM streams from the weight cache -------------------------------------------------------------


def test_prod_vllm_streams_its_revision_from_s3_with_distributed_runai_streamer(plan_of):
    plan = plan_of("prod")
    for capacity in ("on-demand", "spot"):
        pod = deployment(plan, f"llama-70b-{capacity}")["spec"]["template"]["spec"]
        container = next(c for c in pod["containers"] if c["name"] == "vllm")
        args = container["args"]
        assert args[0] == f"s3://{BUCKET}/{PREFIX}"  # positional: `vllm serve <model>`
        assert flag(args, "--load-format") == "runai_streamer"
        concurrency = plan.deployment.cold_start["llama-70b"].streamer_concurrency
        assert json.loads(flag(args, "--model-loader-extra-config")) == {"concurrency": concurrency, "distributed": True}
        assert flag(args, "--revision") is None  # the revision is part of the S3 prefix
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
        assert pod["initContainers"][0]["name"] == "wait-for-weights"  # before the LoRA fetchers and vLLM


def test_without_the_weight_cache_vllm_downloads_from_hugging_face_as_before(plan_of):
    plan = plan_of("dev")
    args = vllm(deployment(plan, "llama-8b-on-demand"))["args"]
    assert args[0] == "meta-llama/Llama-3.1-8B-Instruct" and flag(args, "--revision") == "main"
    assert flag(args, "--load-format") is None
    assert not [o for o in plan.manifests["llama-8b"] if o["kind"] == "Job"]
    assert not [r for r in plan.resources if r.type.startswith("aws:s3/")]


def test_a_single_gpu_model_streams_without_distributed_loading(plan_of, write_stack):
    def cache_on(config):
        config["llm-serving:weightCache"] = {"enabled": True, "streamerConcurrency": 24}

    plan = plan_of(*write_stack("dev-cache", edit=cache_on))
    args = vllm(deployment(plan, "llama-8b-on-demand"))["args"]
    assert json.loads(flag(args, "--model-loader-extra-config")) == {"concurrency": 24}
    assert args[0].startswith("s3://llm-serving-dev-cache-weights-")


# --- IAM ----------------------------------------------------------------------------------------------


def test_the_pods_role_reads_its_weights_revision_and_adapters_and_nothing_else(plan_of):
    statements = policy(plan_of("prod"), "llama-70b-adapters")
    assert {a for s in statements for a in s["Action"]} == {"s3:GetObject", "s3:ListBucket"}
    assert all(s["Effect"] == "Allow" for s in statements)
    gets = {r for s in statements if s["Action"] == ["s3:GetObject"] for r in s["Resource"]}
    assert f"arn:aws:s3:::{BUCKET}/{PREFIX}/*" in gets
    assert not any(r.endswith(":::" + BUCKET + "/*") or "*" in r.removesuffix("/*") for r in gets)  # no bucket-wide or wildcard read
    (listing,) = [s for s in statements if s["Action"] == ["s3:ListBucket"] and s["Resource"] == f"arn:aws:s3:::{BUCKET}"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [PREFIX, f"{PREFIX}/*"]}}


def test_the_mirror_jobs_role_writes_only_under_its_checkpoint(plan_of):
    plan = plan_of("prod")
    statements = policy(plan, "llama-70b-weights-mirror")
    checkpoint = PREFIX.rsplit("/", 1)[0]
    write = next(s for s in statements if "s3:PutObject" in s["Action"])
    assert write["Resource"] == f"arn:aws:s3:::{BUCKET}/{checkpoint}/*"
    listing = next(s for s in statements if s["Action"] == ["s3:ListBucket"])
    assert listing["Condition"]["StringLike"]["s3:prefix"] == [checkpoint, f"{checkpoint}/*"]
    (account,) = [o for o in plan.manifests["llama-70b"] if o["kind"] == "ServiceAccount" and o["metadata"]["name"] == "llama-70b-weights-mirror"]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith("-llama-70b-weights-mirror")
    assert mirror_job(plan, "llama-70b")["spec"]["template"]["spec"]["serviceAccountName"] == "llama-70b-weights-mirror"


# --- the bucket ---------------------------------------------------------------------------------------


def test_the_weights_bucket_is_encrypted_private_owner_enforced_tls_only_and_expires_retired_revisions(plan_of):
    plan = plan_of("prod")
    by_type = {r.type.split(":")[-1]: r.inputs for r in plan.resources if r.type.startswith("aws:s3/")}
    assert by_type["Bucket"]["bucket"] == BUCKET
    block = by_type["BucketPublicAccessBlock"]
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    assert by_type["BucketOwnershipControls"]["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    assert by_type["BucketServerSideEncryptionConfiguration"]["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    assert by_type["BucketVersioning"]["versioningConfiguration"]["status"] == "Enabled"
    rules = {r["id"]: r for r in by_type["BucketLifecycleConfiguration"]["rules"]}
    assert rules["expire-retired-revisions"]["noncurrentVersionExpiration"]["noncurrentDays"] == 7
    assert rules["abort-incomplete-uploads"]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 1
    (deny,) = json.loads(by_type["BucketPolicy"]["policy"])["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]


def test_caches_route_s3_through_a_gateway_endpoint_on_the_private_route_tables(plan_of):
    (endpoint,) = of_type(plan_of("prod"), "aws:ec2/vpcEndpoint:VpcEndpoint")
    assert endpoint.inputs["serviceName"] == "com.amazonaws.us-east-1.s3" and endpoint.inputs["vpcEndpointType"] == "Gateway"
    assert len(endpoint.inputs["routeTableIds"]) == 3
    assert not of_type(plan_of("dev"), "aws:ec2/vpcEndpoint:VpcEndpoint")


# --- the mirror Job and the wait, run for real with a fake aws CLI -----------------------------------


def fake_aws(tmp_path: Path, head_object_exit: int) -> tuple[dict, Path]:
    """A PATH with an `aws` that logs its arguments and answers head-object with `head_object_exit`."""
    bin_dir, log = tmp_path / "bin", tmp_path / "aws.log"
    bin_dir.mkdir()
    script = bin_dir / "aws"
    script.write_text(f'#!/bin/sh\necho "$*" >> {log}\ncase "$2" in head-object) exit {head_object_exit};; esac\ncat > /dev/null 2>&1 || true\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}, log


def run_script(container: dict, scratch: Path, env: dict) -> subprocess.CompletedProcess:
    text = container["command"][2].replace("/scratch", str(scratch))
    return subprocess.run(["/bin/sh", "-c", text], env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def containers(job):
    spec = job["spec"]["template"]["spec"]
    return {c["name"]: c for c in spec["initContainers"] + spec["containers"]}


def test_the_mirror_job_uploads_then_writes_the_marker_then_retires_other_revisions(plan_of, tmp_path):
    job = containers(mirror_job(plan_of("prod"), "llama-70b"))
    env, log = fake_aws(tmp_path, head_object_exit=1)  # not mirrored yet
    scratch = tmp_path / "scratch"
    (scratch / "model").mkdir(parents=True)
    assert run_script(job["check"], scratch, env).returncode == 0 and not (scratch / "done").exists()
    assert run_script(job["upload"], scratch, env).returncode == 0
    calls = log.read_text().splitlines()[1:]  # after check's head-object
    assert calls[0].startswith("s3 sync") and f"s3://{BUCKET}/{PREFIX}/" in calls[0]
    assert calls[1].startswith("s3 cp") and calls[1].endswith(f"s3://{BUCKET}/{PREFIX}/.llm-serving-mirror-complete")
    assert calls[2].startswith("s3 rm --recursive") and calls[2].endswith('--exclude main/*')
    download = job["download"]
    assert download["command"][3:] == ["hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4", "main"]
    assert "allow_patterns" in download["command"][2] and "*.safetensors" in download["command"][2] and "*.json" in download["command"][2]


def test_the_mirror_job_does_nothing_when_the_revision_is_already_mirrored(plan_of, tmp_path):
    job = containers(mirror_job(plan_of("prod"), "llama-70b"))
    env, log = fake_aws(tmp_path, head_object_exit=0)  # the marker exists
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert run_script(job["check"], scratch, env).returncode == 0 and (scratch / "done").exists()
    assert run_script(job["upload"], scratch, env).returncode == 0
    assert [c.split()[1] for c in log.read_text().splitlines()] == ["head-object"]  # no upload, no delete


def test_a_new_revision_is_a_new_mirror_job_and_keeps_every_revision_stack_config_names(plan_of, write_stack):
    def second_revision(config):
        config["llm-serving:weightCache"] = {"enabled": True}
        twin = dict(config["llm-serving:models"][0], name="llama-8b-next", revision="0123456789abcdef0123456789abcdef01234567")
        config["llm-serving:models"].append(twin)
        config["llm-serving:gpuPools"][0]["onDemand"]["max"] = 2  # a node for the twin's floor

    plan = plan_of(*write_stack("dev-two-revisions", edit=second_revision))
    first, second = mirror_job(plan, "llama-8b"), mirror_job(plan, "llama-8b-next")
    assert first["metadata"]["name"] != second["metadata"]["name"]
    upload = containers(second)["upload"]["command"][2]
    assert '--exclude "main/*"' in upload and '--exclude "0123456789abcdef0123456789abcdef01234567/*"' in upload


def test_vllm_pods_wait_for_the_marker_before_loading(plan_of, tmp_path):
    pod = deployment(plan_of("prod"), "llama-70b-spot")["spec"]["template"]["spec"]
    wait = pod["initContainers"][0]
    env, log = fake_aws(tmp_path, head_object_exit=0)
    assert run_script(wait, tmp_path, env).returncode == 0
    assert log.read_text().split()[:6] == ["s3api", "head-object", "--bucket", BUCKET, "--key", f"{PREFIX}/.llm-serving-mirror-complete"]
    expired = dict(wait, command=[*wait["command"][:2], wait["command"][2].replace("* 60", "* 0")])
    missing = tmp_path / "missing"
    missing.mkdir()
    env, _ = fake_aws(missing, head_object_exit=1)
    assert run_script(expired, tmp_path, env).returncode == 1  # gives up at its deadline instead of waiting forever


# --- images -------------------------------------------------------------------------------------------


def test_upstream_images_map_to_their_pull_through_cache_repository():
    registry, rules = "1.dkr.ecr.us-east-1.amazonaws.com", frozenset({"docker-hub", "ghcr", "k8s", "quay", "ecr-public"})
    assert cached_repository("vllm/vllm-openai", registry, rules) == f"{registry}/docker-hub/vllm/vllm-openai"
    assert cached_repository("python", registry, rules) == f"{registry}/docker-hub/library/python"
    assert cached_repository("ghcr.io/berriai/litellm", registry, rules) == f"{registry}/ghcr/berriai/litellm"
    assert cached_repository("registry.k8s.io/autoscaling/cluster-autoscaler", registry, rules) == f"{registry}/k8s/autoscaling/cluster-autoscaler"
    assert cached_repository("nvcr.io/nvidia/k8s-device-plugin", registry, rules) == "nvcr.io/nvidia/k8s-device-plugin"  # not supported by ECR
    assert cached_repository("ghcr.io/berriai/litellm", registry, frozenset({"docker-hub"})) == "ghcr.io/berriai/litellm"  # no rule: upstream


def test_prod_has_a_pull_through_rule_per_upstream_with_credentials_where_required(plan_of):
    plan = plan_of("prod")
    rules = {r.inputs["ecrRepositoryPrefix"]: r.inputs for r in of_type(plan, "aws:ecr/pullThroughCacheRule:PullThroughCacheRule")}
    assert {p: r["upstreamRegistryUrl"] for p, r in rules.items()} == {
        "docker-hub": "registry-1.docker.io",
        "ghcr": "ghcr.io",
        "k8s": "registry.k8s.io",
        "quay": "quay.io",
        "ecr-public": "public.ecr.aws",
    }
    secrets = {s.inputs["name"] for s in of_type(plan, "aws:secretsmanager/secret:Secret")}
    assert secrets == {"ecr-pullthroughcache/llm-serving-prod-docker-hub", "ecr-pullthroughcache/llm-serving-prod-ghcr"}
    assert all(rules[p].get("credentialArn") for p in ("docker-hub", "ghcr"))
    assert not any(rules[p].get("credentialArn") for p in ("k8s", "quay", "ecr-public"))
    (first_pull,) = policy(plan, "images-node-first-pull")
    assert sorted(first_pull["Action"]) == ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
    assert sorted(first_pull["Resource"]) == sorted(f"arn:aws:ecr:us-east-1:123456789012:repository/{p}/*" for p in rules)


def test_prod_pulls_the_kits_images_through_the_cache_and_dev_from_upstream(plan_of):
    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com/"
    for stack, expect_cache in (("prod", True), ("dev", False)):
        plan = plan_of(stack)
        images = {
            c["image"]
            for objects in plan.manifests.values()
            for o in objects
            if o["kind"] in ("Deployment", "Job")
            for c in o["spec"]["template"]["spec"]["containers"] + o["spec"]["template"]["spec"].get("initContainers", [])
        }
        assert images and all(i.startswith(ecr) == expect_cache for i in images), images
        charts = {r.inputs["chart"]: r.inputs["values"] for r in plan.resources if r.type == "kubernetes:helm.sh/v4:Chart"}
        assert charts["cluster-autoscaler"]["image"]["repository"].startswith(ecr) == expect_cache
        if "keda" in charts:
            assert charts["keda"].get("global", {}).get("image", {}).get("registry") == (f"{ecr}ghcr" if expect_cache else None)


# --- launch templates ---------------------------------------------------------------------------------


def launch_template(plan, pool):
    return next(r for r in of_type(plan, "aws:ec2/launchTemplate:LaunchTemplate") if r.inputs.get("tagSpecifications", [{}])[0].get("tags", {}).get("llm-serving/pool") == pool)


def node_config(template) -> dict | None:
    if not template.inputs.get("userData"):
        return None
    message = email.message_from_string(base64.b64decode(template.inputs["userData"]).decode())
    assert message.is_multipart()
    (part,) = [p for p in message.get_payload() if p.get_content_type() == "application/node.eks.aws"]
    return yaml.safe_load(part.get_payload())


def test_prod_gpu_nodes_get_fast_gp3_nvme_raid0_and_parallel_image_pulls(plan_of):
    plan = plan_of("prod")
    pool = plan.deployment.config.gpu_pools[0]
    template = launch_template(plan, pool.name)
    ebs = template.inputs["blockDeviceMappings"][0]["ebs"]
    assert (ebs["throughput"], ebs["iops"]) == (1000, 16000)
    assert node_config(template) == {
        "apiVersion": "node.eks.aws/v1alpha1",
        "kind": "NodeConfig",
        "spec": {"instance": {"localStorage": {"strategy": "RAID0"}}, "featureGates": {"FastImagePull": True}},
    }


def test_pools_without_disk_settings_keep_the_gp3_baseline_and_no_user_data(plan_of):
    template = launch_template(plan_of("dev"), "l4")
    ebs = template.inputs["blockDeviceMappings"][0]["ebs"]
    assert (ebs["throughput"], ebs["iops"]) == (125, 3000)
    assert node_config(template) is None


NODECONFIG_CRD = Path(__file__).parent / "schemas" / "node.eks.aws_nodeconfigs.yaml"


def nodeconfig_schema() -> dict:
    (version,) = yaml.safe_load(NODECONFIG_CRD.read_text())["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


def test_the_launch_templates_nodeconfig_validates_against_nodeadms_own_schema(plan_of):
    config = node_config(launch_template(plan_of("prod"), "l40s"))
    jsonschema.validate(config, nodeconfig_schema())
    wrong = {**config, "spec": {"instance": {"localStorage": {"strategy": "RAID5"}}}}
    with pytest.raises(jsonschema.ValidationError):  # the schema does check what the kit sets
        jsonschema.validate(wrong, nodeconfig_schema())


def test_pools_on_nvme_keep_vllms_compile_cache_on_the_node(plan_of):
    for stack, expected in (("prod", "/mnt/k8s-disks/0/vllm-cache/llama-70b"), ("dev", None)):
        pod = deployment(plan_of(stack), f"{'llama-70b' if stack == 'prod' else 'llama-8b'}-spot")["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        env = {e["name"]: e.get("value") for e in next(c for c in pod["containers"] if c["name"] == "vllm")["env"]}
        if expected is None:
            assert "compile-cache" not in volumes and "VLLM_CACHE_ROOT" not in env
            continue
        assert volumes["compile-cache"]["hostPath"] == {"path": expected, "type": "DirectoryOrCreate"}
        assert env["VLLM_CACHE_ROOT"].startswith("/compile-cache/") and env["TRITON_CACHE_DIR"].startswith("/compile-cache/")
    cold = plan_of("prod").deployment.cold_start["llama-70b"]
    assert cold.same_node_restart.seconds < cold.part("engine").seconds


def cpu(value: str) -> float:
    return float(value[:-1]) / 1000 if str(value).endswith("m") else float(value)


def test_the_mirror_job_fits_beside_a_waiting_replica_on_the_smallest_gpu_node(plan_of, write_stack):
    def cache_on(config):
        config["llm-serving:weightCache"] = {"enabled": True}

    plan = plan_of(*write_stack("dev-small-node", edit=cache_on))
    job = mirror_job(plan, "llama-8b")["spec"]["template"]["spec"]
    replica = deployment(plan, "llama-8b-on-demand")["spec"]["template"]["spec"]
    job_cpu = max(cpu(c["resources"]["requests"]["cpu"]) for c in job["initContainers"] + job["containers"])
    replica_cpu = sum(cpu(c["resources"]["requests"]["cpu"]) for c in replica["containers"])
    assert job_cpu + replica_cpu <= 3.9  # g6.xlarge: 4 vCPUs, about 3.9 allocatable (Karpenter instance-type reference: 3920m)
