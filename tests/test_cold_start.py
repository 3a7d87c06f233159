"""The cold-start estimate: its parts, their sources, how it moves with the checkpoint, the instance
type and the cache settings, and where the plan uses it (startup budget, spot reclaim, JSON)."""

from __future__ import annotations

import copy

import pytest

from infra.capacity.cold_start import estimate
from infra.config import parse
from infra.config.problems import ConfigError
from infra.deployment import derive
from tests.conftest import AS_OF, raw_config

PARTS = ("node", "image", "weights", "engine")


def stack(name: str = "prod", edit=lambda config: None):
    raw = {key.removeprefix("llm-serving:"): value for key, value in copy.deepcopy(raw_config(name)).items()}
    edit(raw)
    return parse(name, raw, AS_OF)


def cold(config, model: int = 0):
    return derive("test", config, AS_OF).cold_start[config.models[model].name]


def test_prod_70b_awq_replica_is_ready_within_five_minutes_on_a_fresh_node_with_every_part_sourced():
    estimate_ = cold(stack())
    assert [p.name for p in estimate_.parts] == list(PARTS)
    assert estimate_.seconds <= 300
    for part in estimate_.parts:
        assert part.seconds > 0 and part.basis and part.sources and all(part.sources.values())


def test_the_plan_json_carries_the_total_and_its_parts(example_plan):
    for entry in example_plan.to_json()["sizing"]:
        parts = entry["cold_start"]["parts"]
        assert list(parts) == list(PARTS)
        assert abs(entry["cold_start_seconds"] - sum(p["seconds"] for p in parts.values())) < 1
        assert entry["startup_minutes"] >= 1


def test_without_the_weight_cache_weights_come_from_hugging_face_and_take_far_longer():
    cached = cold(stack())
    uncached = cold(stack(edit=lambda c: c.pop("weightCache")))
    assert "Hugging Face" in uncached.part("weights").basis and "S3" in cached.part("weights").basis
    assert uncached.part("weights").seconds > 20 * cached.part("weights").seconds
    assert uncached.seconds > 2 * cached.seconds
    assert uncached.streamer_concurrency is None and cached.streamer_concurrency >= 16


def test_a_bigger_checkpoint_takes_longer_to_stream_and_compile():
    def bf16(config):
        model = config["models"][0]
        model.update(huggingFaceId="meta-llama/Llama-3.1-70B-Instruct", quantization=None, maxModelLen=4096)
        config["gpuPools"][0]["instanceTypes"] = ["p5.48xlarge"]
        config["gpuPools"][1]["instanceTypes"] = ["g6.xlarge"]
        model["tensorParallelSize"] = 4

    def awq_on_p5(config):
        config["gpuPools"][0]["instanceTypes"] = ["p5.48xlarge"]

    small, big = cold(stack(edit=awq_on_p5)), cold(stack(edit=bf16))
    assert big.part("weights").seconds > small.part("weights").seconds
    assert big.part("engine").seconds > small.part("engine").seconds
    assert big.part("node").seconds == small.part("node").seconds


def test_the_instance_types_network_sets_the_streaming_speed():
    base = cold(stack())  # g6e.12xlarge: 100 Gbit/s
    wider = cold(stack(edit=lambda c: c["gpuPools"][0].update(instanceTypes=["g6e.48xlarge"])))  # 400 Gbit/s
    assert wider.part("weights").seconds < base.part("weights").seconds

    def on_l4(config):
        config["models"][0].update(huggingFaceId="hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4", tensorParallelSize=1, pool="l4", maxModelLen=4096, maxNumSeqs=32, loraAdapters=[], maxLoras=None, replicas={"baseline": 1})
        config["embeddings"] = {"enabled": False}  # the L4 pool's on-demand nodes hold the model only

    narrow = cold(stack(edit=on_l4))  # g6.xlarge: 2.5 Gbit/s, TP 1
    assert "network" in narrow.part("weights").basis and narrow.distributed_streaming is False


def test_parallel_image_pull_and_fast_disks_shorten_the_image_part():
    fast = cold(stack())
    slow = cold(stack(edit=lambda c: c["gpuPools"][0].pop("disks")))
    assert slow.part("image").seconds > 3 * fast.part("image").seconds
    assert "gp3 at 125" in slow.part("image").basis


def test_enforce_eager_skips_compile_and_cuda_graphs():
    eager = cold(stack(edit=lambda c: c["models"][0].update(extraArgs=["--enforce-eager"])))
    assert eager.part("engine").seconds < cold(stack()).part("engine").seconds
    assert "no compile" in eager.part("engine").basis


def test_stack_overrides_replace_a_figure_and_name_themselves_as_its_source():
    slow_nodes = cold(stack(edit=lambda c: c.setdefault("catalog", {}).update(coldStart={"nodeReadySeconds": 300})))
    assert slow_nodes.part("node").seconds == 300
    assert "catalog.coldStart.nodeReadySeconds" in slow_nodes.part("node").sources["node_ready_seconds"]


def test_startup_budget_derives_from_the_in_container_part_unless_configured():
    config = stack()
    deployment = derive("test", config, AS_OF)
    assert deployment.startup_minutes("llama-70b") == deployment.cold_start["llama-70b"].startup_minutes == 5  # the floor
    uncached = derive("test", stack(edit=lambda c: c.pop("weightCache")), AS_OF)
    assert uncached.startup_minutes("llama-70b") * 60 >= 2 * uncached.cold_start["llama-70b"].in_container_seconds
    pinned = derive("test", stack(edit=lambda c: c["models"][0].update(startupMinutes=45)), AS_OF)
    assert pinned.startup_minutes("llama-70b") == 45


def test_the_startup_budget_reaches_the_rendered_startup_probe(plan_of):
    plan = plan_of("prod")
    minutes = plan.deployment.startup_minutes("llama-70b")
    (probe,) = {
        c["startupProbe"]["failureThreshold"] * c["startupProbe"]["periodSeconds"]
        for o in plan.manifests["llama-70b"]
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    assert probe == minutes * 60


def test_spot_loss_says_when_the_floor_and_the_configured_replicas_are_whole_again():
    resilience = derive("test", stack(), AS_OF).resilience()["llama-70b"]
    assert resilience["floor_restored_seconds"] == 0  # the baseline nodes hold the floor
    assert resilience["configured_restored_seconds"] == round(cold(stack()).seconds)

    def baseline_too_small(config):
        config["gpuPools"][0]["onDemand"] = {"baseline": 2, "max": 3}

    # Placement runs the floor on a third on-demand node from the start, so a spot loss never takes it.
    assert derive("test", stack(edit=baseline_too_small), AS_OF).resilience()["llama-70b"]["floor_restored_seconds"] == 0

    def no_room_to_grow(config):
        config["gpuPools"][0]["onDemand"] = {"baseline": 2}

    with pytest.raises(ConfigError, match=r"replicas\.baseline"):  # a floor the on-demand nodes cannot hold is refused
        derive("test", stack(edit=no_room_to_grow), AS_OF)


@pytest.mark.parametrize(
    "edit, path",
    [
        (lambda c: c["gpuPools"][0].update(amiType="BOTTLEROCKET_x86_64_NVIDIA"), "gpuPools[0].disks"),
        (lambda c: c["gpuPools"][0]["disks"].update(iops=3000), "gpuPools[0].disks.iops"),
        (lambda c: c["imageCache"].pop("dockerHubUsername"), "imageCache.dockerHubUsername"),
        (lambda c: c.setdefault("catalog", {}).update(coldStart={"nodeReadySecs": 1}), "catalog.coldStart.nodeReadySecs"),
    ],
)
def test_bad_delivery_settings_fail_with_their_key_path(edit, path):
    with pytest.raises(ConfigError) as error:
        stack(edit=edit)
    assert f"llm-serving:{path}" in str(error.value)


def test_estimate_is_pure_and_repeatable():
    config = stack()
    sizing = derive("test", config, AS_OF).sizing[0]
    assert estimate(config, config.models[0], sizing.fit.weights_gib) == estimate(config, config.models[0], sizing.fit.weights_gib)
