"""Placement: every pod placed on the node groups in each phase, and the rendered objects doing what
placement decided (rollout strategy, disruption budgets, spot fallback, Pulumi await budgets, drains
inside the spot notice)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from infra.capacity.nodes import NodeGroup, allocatable, kube_reserved_cpu_m, kube_reserved_memory_mib, max_pods
from infra.capacity.placement import place
from infra.capacity.pods import ALERTMANAGER, GRAFANA, PROMETHEUS, ROUTER, TEI_ON_CPU, Requests, Workload
from infra.catalog import gpu_instances, node_shapes
from infra.offline import helm
from infra.offline.cli import render_text
from infra.offline.diff import diff_plans
from infra.offline.report import diff_report
from tests.conftest import EXAMPLE_STACKS, ROOT, dated, example_plan_of, of_type, scenario, validate_manifest

SPOT_NOTICE_SECONDS = 120


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra", *dated(args)], cwd=ROOT, capture_output=True, text=True, timeout=300)


def deployments(plan) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for objects in plan.manifests.values() for o in objects if o["kind"] == "Deployment"}


# --- node shapes ---------------------------------------------------------------------------------

# awslabs/amazon-eks-ami nodeadm formulas applied to the instance types' vCPUs and ENI max pods
# (deploy research, item 7): type -> (kube-reserved CPU m, kube-reserved memory Mi, pods a managed node group admits)
NODEADM = {
    "m7i.large": (70, 574, 29),
    "m7i.xlarge": (80, 893, 58),
    "g6.xlarge": (80, 893, 58),
    "g6.12xlarge": (190, 2829, 234),
    "g6.48xlarge": (550, 8362, 250),
    "g6e.12xlarge": (190, 3467, 250),
    "g5.48xlarge": (550, 4050, 250),
    "p5.48xlarge": (550, 1355, 100),
    "p5en.48xlarge": (550, 2433, 198),
}


@pytest.mark.parametrize("instance_type", sorted(NODEADM))
def test_kube_reserved_and_max_pods_follow_nodeadm_and_the_managed_node_group_cap(instance_type):
    shape = node_shapes()[instance_type]
    assert (kube_reserved_cpu_m(shape.vcpu), kube_reserved_memory_mib(shape.eni_max_pods), max_pods(shape)) == NODEADM[instance_type]


def test_every_gpu_instance_type_and_example_system_type_has_a_node_shape():
    system_types = {t for stack in EXAMPLE_STACKS for t in example_plan_of(stack).deployment.config.system_nodes.instance_types}
    assert set(gpu_instances()) | system_types <= set(node_shapes())


def system_group(instance_type: str = "m7i.large", nodes: int = 2) -> NodeGroup:
    room, slots = allocatable(node_shapes()[instance_type], 0, [])
    return NodeGroup("system", None, "system", instance_type, (instance_type,), room, slots, nodes, nodes, 10, ("systemNodes", "instanceTypes"))


def test_a_cpu_request_larger_than_any_node_is_an_error_naming_the_instance_types():
    too_big = Workload("embeddings", "embeddings", Requests(4000, 1024), 1, 1, None, "system", True, ("embeddings", "replicas"))
    placement = place([system_group()], [too_big])
    (problem,) = placement.problems
    assert problem.path == "llm-serving:systemNodes.instanceTypes" and "4000m CPU" in problem.message and "1930m CPU" in problem.message
    fitting = Workload("embeddings", "embeddings", Requests(1000, 1024), 1, 1, None, "system", True, ("embeddings", "replicas"))
    assert not place([system_group()], [fitting]).problems


def test_system_nodes_too_small_for_tei_exit_2_naming_the_system_node_types(write_stack):
    def tiny(config):
        config["llm-serving:systemNodes"]["instanceTypes"] = ["t3.medium"]  # 4 GiB: less than TEI's 4 GiB after reservations

    stack, folder = write_stack("tiny", base="dev", edit=tiny)
    result = cli("plan", "--stack", stack, "--stacks-dir", str(folder))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "systemNodes.instanceTypes" in line]
    assert "embeddings requests 1000m CPU, 4096Mi memory" in line


# --- floors and bursts ---------------------------------------------------------------------------


def test_a_floor_that_cannot_be_placed_exits_2_naming_the_replicas_and_the_pool(write_stack):
    def one_node(config):
        config["llm-serving:gpuPools"][0]["onDemand"] = {"baseline": 1}  # 1 node of 4 GPUs for a floor of 3 TP-4 replicas

    stack, folder = write_stack("prod", base="prod", edit=one_node)
    result = cli("plan", "--stack", stack, "--stacks-dir", str(folder))
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "replicas.baseline" in line]
    assert "llm-serving:models[0].replicas.baseline: got 3" in line
    assert "only 1 of 3 replicas of llama-70b-on-demand" in line and "l40s on-demand max 1 x g6e.12xlarge" in line


def test_a_floor_above_the_baseline_runs_on_the_on_demand_maximum(plan_of, write_stack):
    def headroom(config):
        config["llm-serving:gpuPools"][0]["onDemand"] = {"baseline": 1, "max": 4}

    plan = plan_of(*write_stack("prod", base="prod", edit=headroom))
    assert plan.deployment.placement.group("l40s on-demand").nodes == 3  # the autoscaler adds 2 on-demand nodes for the floor
    assert plan.deployment.pool("l40s").on_demand_nodes == 3


def test_burst_replicas_that_cannot_be_placed_warn_and_are_not_counted(plan_of, write_stack):
    def more_spot(config):
        config["llm-serving:gpuPools"][0]["spot"] = {"min": 0, "max": 1}
        config["llm-serving:models"][0]["replicas"]["spot"] = 3

    plan = plan_of(*write_stack("dev", base="dev", edit=more_spot))
    assert "llama-8b-spot: 2 of 3 spot replicas cannot be placed on pool l4 and stay pending (raise spot.max or onDemand.max)" in plan.warnings
    (sizing,) = plan.sizing
    assert plan.resilience()["llama-8b"]["replicas_placed"] == 2
    assert plan.cost["capacity_output_tokens_per_second"] == round(2 * sizing.output_tokens_per_second, 1)


def test_spot_replicas_move_to_on_demand_headroom_when_every_spot_node_is_gone(example_plan):
    placement = example_plan.deployment.placement
    for p in placement.workloads:
        if p.workload.capacity != "spot":
            continue
        group = placement.group(f"{p.workload.pool} on-demand")
        assert group.nodes_after_spot_loss <= group.group.max_nodes
    if example_plan.stack == "prod":  # onDemand.max 4 leaves one node for one TP-4 spot replica
        assert placement.of("llama-70b-spot").after_spot_loss == 1 and placement.group("l40s on-demand").nodes_after_spot_loss == 4


# --- what the charts render ----------------------------------------------------------------------


def test_each_deployment_rolls_as_placement_decides(example_plan):
    placement, rendered = example_plan.deployment.placement, deployments(example_plan)
    checked = 0
    for p in placement.workloads:
        if p.workload.name not in rendered:
            continue  # third-party charts (monitoring, KEDA, CoreDNS) keep their own strategies
        strategy = rendered[p.workload.name]["spec"]["strategy"]["rollingUpdate"]
        assert strategy == {"maxSurge": int(p.surge), "maxUnavailable": int(not p.surge)}, p.workload.name
        checked += 1
    assert checked == len(rendered)


@pytest.mark.parametrize(
    "name, expected",
    [("dev", {"llama-8b-on-demand": 0, "llama-8b-spot": 1}), ("prod", {"llama-70b-on-demand": 1, "llama-70b-spot": 1, "embeddings": 0})],
)
def test_the_scenarios_surge_where_their_pools_have_room(name, expected):
    rendered = deployments(scenario(name))
    for deployment, surge in expected.items():
        assert rendered[deployment]["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == surge, deployment


def test_an_on_demand_pool_with_a_spare_node_surges(plan_of, write_stack):
    def spare(config):
        config["llm-serving:gpuPools"][0]["onDemand"] = {"baseline": 1, "max": 2}

    plan = plan_of(*write_stack("dev", base="dev", edit=spare))
    assert deployments(plan)["llama-8b-on-demand"]["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_every_pdb_allows_a_disruption_evicts_unhealthy_pods_and_covers_one_deployment(example_plan):
    rendered = deployments(example_plan)
    budgets = [o for objects in example_plan.manifests.values() for o in objects if o["kind"] == "PodDisruptionBudget"]
    assert budgets
    covered = []
    for pdb in budgets:
        spec = pdb["spec"]
        assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow", pdb["metadata"]["name"]
        (target,) = [d for d in rendered.values() if spec["selector"]["matchLabels"].items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        replicas = target["spec"].get("replicas", 1)
        assert spec.get("maxUnavailable", 0) >= 1 or spec["minAvailable"] < replicas, pdb["metadata"]["name"]
        covered.append(target["metadata"]["name"])
    assert len(covered) == len(set(covered))
    assert {n for n in rendered if n.endswith(("-on-demand", "-spot"))} <= set(covered)  # vLLM: on-demand and spot each their own


def test_a_single_router_replica_has_no_budget_and_two_have_one(plan_of, write_stack):
    def router(replicas):
        return lambda config: config["llm-serving:fallback"].update(replicas=replicas)

    for replicas, budgets in ((1, 0), (2, 1)):
        plan = plan_of(*write_stack(f"r{replicas}", base="dev", edit=router(replicas)))
        assert sum(o["kind"] == "PodDisruptionBudget" for o in plan.manifests["router"]) == budgets


def test_pulumi_waits_for_the_floor_for_its_startup_budget_and_not_for_burst_replicas(example_plan):
    rendered = deployments(example_plan)
    for model in example_plan.deployment.config.models:
        on_demand = rendered[f"{model.name}-on-demand"]["metadata"]["annotations"]
        budget = model.replicas.baseline * example_plan.deployment.startup_minutes(model.name) * 60 + 15 * 60
        assert on_demand["pulumi.com/timeoutSeconds"] == str(budget) and budget > 600  # Pulumi's default is 10 minutes
        assert "pulumi.com/skipAwait" not in on_demand
        if model.replicas.spot or model.autoscaling.enabled:
            assert rendered[f"{model.name}-spot"]["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
    embeddings = example_plan.deployment.config.embeddings
    if embeddings.enabled:
        tei = rendered["embeddings"]["metadata"]["annotations"]["pulumi.com/timeoutSeconds"]
        assert tei == str(embeddings.replicas * 600 + 900)  # startupProbe 60 x 10 s per replica, plus a new node


def test_spot_replicas_drain_well_within_the_interruption_notice(example_plan):
    for name, deployment in deployments(example_plan).items():
        if not name.endswith("-spot"):
            continue
        spec = deployment["spec"]["template"]["spec"]
        pre_stop = int(spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
        assert pre_stop < spec["terminationGracePeriodSeconds"] <= SPOT_NOTICE_SECONDS - 30


def test_readiness_probes_allow_a_busy_server_more_than_one_second(example_plan):
    for name, deployment in deployments(example_plan).items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert container["readinessProbe"]["timeoutSeconds"] >= 5, name


def test_every_serving_release_waits_for_the_gpu_node_groups_and_the_device_plugin(example_plan):
    """Each release names them itself: Pulumi does not pass a component's depends_on to its children."""
    (serving,) = of_type(example_plan, "llm-serving:serving:Serving")
    # the namespace's NetworkPolicies run no pods, so they wait for nothing
    releases = [r for r in of_type(example_plan, "kubernetes:helm.sh/v4:Chart") if r.parent == serving.urn and not r.inputs["chart"].endswith("network-policies")]
    groups = [r.urn for r in of_type(example_plan, "aws:eks/nodeGroup:NodeGroup") if "llm-serving/pool" in r.inputs["labels"]]
    (plugin,) = [r.urn for r in of_type(example_plan, "kubernetes:helm.sh/v4:Chart") if r.inputs["chart"] == "nvidia-device-plugin"]
    assert releases and groups
    for release in releases:
        assert set(groups) | {plugin} <= set(release.depends_on), release.name


def test_rendered_requests_on_the_system_nodes_are_the_ones_placed(example_plan):
    rendered = deployments(example_plan)
    placed = {p.workload.name: p.workload.requests for p in example_plan.deployment.placement.workloads}
    router = rendered["router"]["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    assert router == ROUTER.values() == placed["router"].values()
    if example_plan.deployment.config.embeddings.enabled and example_plan.deployment.config.embeddings.pool is None:
        tei = rendered["embeddings"]["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
        assert tei == TEI_ON_CPU.values() and placed["embeddings"] == TEI_ON_CPU
        assert example_plan.deployment.placement.of("embeddings").placed == 1  # dev: 1 CPU on 2-vCPU system nodes
    (stack,) = [r for r in of_type(example_plan, "kubernetes:helm.sh/v4:Chart") if r.inputs["chart"] == "kube-prometheus-stack"]
    values = stack.inputs["values"]
    assert values["prometheus"]["prometheusSpec"]["resources"] == {"requests": PROMETHEUS.values()}
    assert values["alertmanager"]["alertmanagerSpec"]["resources"] == {"requests": ALERTMANAGER.values()}
    assert values["grafana"]["resources"] == {"requests": GRAFANA.values()}


def test_helm_lint_passes_for_tei_and_the_router_with_the_programs_values(example_plan):
    for release in of_type(example_plan, "kubernetes:helm.sh/v4:Chart"):
        if release.inputs["chart"].endswith(("charts/tei", "charts/router")):
            helm.lint(release.inputs["chart"], release.inputs["values"])


# --- the plan, its JSON and the diff -------------------------------------------------------------


def test_the_plan_shows_placement_in_json_and_text(example_plan):
    placement = example_plan.to_json()["placement"]
    names = {d["deployment"] for d in placement["deployments"]}
    assert {f"{m.name}-on-demand" for m in example_plan.deployment.config.models} <= names
    assert {g["group"] for g in placement["node_groups"]} >= {"system"}
    text = render_text(example_plan)
    assert "Placement: Deployments" in text and "Placement: node groups" in text and "drain of one node" in text


def test_the_diff_shows_placed_capacity_and_new_warnings(plan_of, write_stack):
    def less_spot(config):
        config["llm-serving:gpuPools"][0]["spot"]["max"] = 1
        config["llm-serving:gpuPools"][0]["onDemand"] = {"baseline": 3}

    head = plan_of(*write_stack("prod", base="prod", edit=less_spot)).to_json()
    changes = diff_plans(json.loads(json.dumps(plan_of("prod").to_json())), head)
    assert changes.capacity["llama-70b: replicas placed"] == (5, 4)
    assert changes.capacity["llama-70b: floor (on-demand)"] == (3, 3)
    assert any("llama-70b-spot: 1 of 2 spot replicas cannot be placed" in w for w in changes.warnings["added"])
    comment = diff_report(changes)
    assert "| llama-70b: replicas placed | 5 | 4 | -1 (-20%) |" in comment and "⚠️ new: llama-70b-spot" in comment


def test_system_pods_beyond_the_system_nodes_exit_2_naming_min_nodes(write_stack):
    def one_system_node(config):
        config["llm-serving:systemNodes"]["minNodes"] = 1  # 1.78 CPUs left on one m7i.large; the system pods request 2.47

    stack, folder = write_stack("small", base="dev", edit=one_system_node)
    result = cli("plan", "--stack", stack, "--stacks-dir", str(folder))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "llm-serving:systemNodes.minNodes: got 1; only 0 of 1 replicas of embeddings can be placed on the system nodes" in result.stderr


def test_spot_embeddings_prefer_spot_and_place_as_rendered(plan_of, write_stack):
    def spot_tei(config):
        config["llm-serving:embeddings"]["capacityType"] = "spot"

    plan = plan_of(*write_stack("prod", base="prod", edit=spot_tei))
    tei = deployments(plan)["embeddings"]["spec"]["template"]["spec"]
    assert tei["nodeSelector"] == {"llm-serving/pool": "l4"}
    assert tei["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["preference"]["matchExpressions"][0]["values"] == ["spot"]
    for objects in plan.manifests.values():
        for obj in objects:
            validate_manifest(obj)
    placed = plan.deployment.placement.of("embeddings")
    assert (placed.placed, placed.placed_on_demand) == (2, 2)  # the 2 on-demand L4 baseline nodes are idle: the scheduler uses them first
    assert placed.surge  # one more replica goes to a spot node
