"""Measure, then trust: models[].benchmark renders a `vllm bench serve` Job (real helm template) with the
stack's workload shape, at the plan's batch, allowed through the model's NetworkPolicy; off by default."""

from __future__ import annotations

from tests.conftest import validate_manifest


def bench_jobs(plan, release):
    return [o for o in plan.manifests[release] if o["kind"] == "Job" and o["metadata"]["labels"].get("llm-serving/benchmark") == "true"]


def test_no_benchmark_job_unless_asked(example_plan):
    for release in (s.model for s in example_plan.sizing):
        assert bench_jobs(example_plan, release) == []


def test_the_benchmark_job_sends_the_stacks_request_shape_at_the_plans_batch(plan_of, write_stack):
    def benchmark(config):
        config["llm-serving:models"][0]["benchmark"] = {"enabled": True, "numPrompts": 500}

    plan = plan_of(*write_stack("bench", base="prod", edit=benchmark))
    (job,) = bench_jobs(plan, "llama-70b")
    validate_manifest(job)
    (bench,) = job["spec"]["template"]["spec"]["containers"]
    (server,) = [c for o in plan.manifests["llama-70b"] if o["kind"] == "Deployment" for c in o["spec"]["template"]["spec"]["containers"] if c["name"] == "vllm"][:1]
    assert bench["image"] == server["image"] and bench["image"].endswith("vllm/vllm-openai:v0.33.0")  # the server's image (through the image cache in prod)
    assert bench["command"] == ["vllm", "bench", "serve"]
    (sizing,) = plan.sizing
    for arg in ("--random-input-len=1024", "--random-output-len=256", "--num-prompts=500", f"--max-concurrency={sizing.estimate.batch}",
                "--served-model-name=llama-70b", "--model=hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4", "--ignore-eos"):
        assert arg in bench["args"], arg
    assert any(a.startswith("--base-url=http://llama-70b.") and a.endswith(":8000") for a in bench["args"])
    # prod's models sit behind a NetworkPolicy (router and Prometheus only): the Job's pods are let in too
    (policy,) = [o for o in plan.manifests["llama-70b"] if o["kind"] == "NetworkPolicy"]
    peers = policy["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "benchmark", "app.kubernetes.io/instance": "llama-70b"}}} in peers
    assert bench_jobs(plan_of("prod"), "llama-70b") == []


def test_a_set_max_concurrency_wins_over_the_plans_batch(plan_of, write_stack):
    def benchmark(config):
        config["llm-serving:models"][0]["benchmark"] = {"enabled": True, "maxConcurrency": 7}

    (job,) = bench_jobs(plan_of(*write_stack("bench-c7", edit=benchmark)), "llama-8b")
    assert "--max-concurrency=7" in job["spec"]["template"]["spec"]["containers"][0]["args"]
