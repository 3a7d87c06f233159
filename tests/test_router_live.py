"""The router, run for real: the LiteLLM proxy at the image's exact version (its own virtualenv,
`.venv/litellm`, from `make setup`) with the ConfigMap the plan renders for a stack, in front of fake
vLLM, TEI and hosted (Anthropic- and OpenAI-compatible) backends on 127.0.0.1.

One proxy serves the whole module (about 6 s to start); each failure scenario uses its own route, since
LiteLLM counts failures per route (deployment). The stack: prod with a small timeout and cooldown, a
second model with its own fallback, and a hosted route. Times measured here are printed (pytest -s) and
quoted in docs/router-and-alerts.md.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from infra.offline.plan import STACKS_DIR, run_plan
from infra.serving.router import FALLBACK_PREFIX, LITELLM_VERSION
from tests.conftest import AS_OF, ROOT
from tests.fake_backends import FakeBackend

PROXY = Path(os.environ.get("LLM_SERVING_LITELLM", ROOT / ".venv" / "litellm" / "bin" / "litellm"))
TIMEOUT, COOLDOWN, ALLOWED_FAILS, RETRIES = 2, 4, 1, 1
MEASURED: dict[str, float] = {}
SEEN: dict[str, str] = {}  # what clients got in the failure cases, printed with the times


def live_stack(config: dict) -> None:
    config["llm-serving:fallback"] |= {"timeoutSeconds": TIMEOUT, "cooldownSeconds": COOLDOWN, "allowedFails": ALLOWED_FAILS, "retries": RETRIES, "timeoutRetries": 0}
    config["llm-serving:fallback"]["hostedModels"] = [{"name": "frontier", "model": "anthropic/claude-sonnet-4-5"}]
    l4 = next(p for p in config["llm-serving:gpuPools"] if p["name"] == "l4")
    l4["onDemand"]["max"] = l4["onDemand"].get("max", l4["onDemand"]["baseline"]) + 1  # a node for the added model's floor
    config["llm-serving:models"].append(
        {"name": "llama-8b", "huggingFaceId": "meta-llama/Llama-3.1-8B-Instruct", "revision": "main", "pool": "l4", "replicas": {"baseline": 1}, "fallback": "openai/gpt-4o-mini"}
    )
    for key in ("apiKey", "anthropicApiKey", "openaiApiKey"):  # set (encrypted) in the stack, as after `pulumi config set --secret`
        config[f"llm-serving:{key}"] = {"secure": "v1:AAAAAAAAAAAAAAAA:placeholder"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proxy:
    """The LiteLLM proxy as a child process on loopback, killed at teardown or after `lifetime` seconds."""

    def __init__(self, folder: Path, env: dict[str, str], lifetime: float = 120):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "proxy.log"
        command = [str(PROXY), "--config", str(folder / "config.yaml"), "--host", "127.0.0.1", "--port", str(self.port), "--num_workers", "1"]
        self.process = subprocess.Popen(command, cwd=folder, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        self._watchdog = threading.Timer(lifetime, self.stop)
        self._watchdog.daemon = True
        self._watchdog.start()

    def wait_ready(self, seconds: float = 60) -> float:
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            assert self.process.poll() is None, f"the proxy exited: {self.log.read_text()[-3000:]}"
            try:
                urllib.request.urlopen(f"{self.url}/health/readiness", timeout=1)
                return time.monotonic() - start
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"the proxy did not start in {seconds} s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self._watchdog.cancel()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class Router:
    """The running proxy, its backends, and the key clients use."""

    def __init__(self, proxy: Proxy, key: str, backends: dict[str, FakeBackend], config: dict):
        self.proxy, self.key, self.backends, self.config = proxy, key, backends, config

    def request(self, path: str, body: dict | None = None, key: str | None = "default", timeout: float = 30) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {self.key if key == 'default' else key}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.proxy.url + path, data=data, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def chat(self, model: str, **extra) -> tuple[int, dict, float]:
        start = time.monotonic()
        status, body = self.request("/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra})
        return status, json.loads(body), time.monotonic() - start

    def answer(self, model: str) -> tuple[str, float]:
        status, body, seconds = self.chat(model)
        assert status == 200, body
        return body["choices"][0]["message"]["content"], seconds


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    assert PROXY.exists(), f"LiteLLM proxy missing at {PROXY}: run `make setup` (or set LLM_SERVING_LITELLM)"
    version = subprocess.run([str(PROXY.parent / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"], capture_output=True, text=True)
    assert version.stdout.strip() == LITELLM_VERSION, f"the test proxy is litellm {version.stdout.strip()}, the image {LITELLM_VERSION}: run `make setup`"
    folder = tmp_path_factory.mktemp("router")
    document = yaml.safe_load((STACKS_DIR / "Pulumi.prod.yaml").read_text())
    live_stack(document["config"])
    (folder / "Pulumi.live.yaml").write_text(yaml.safe_dump(document))
    plan = run_plan("live", folder, as_of=AS_OF)
    (config_map,) = [o for o in plan.manifests["router"] if o["kind"] == "ConfigMap"]
    (deployment,) = [o for o in plan.manifests["router"] if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"].endswith(f":v{LITELLM_VERSION}")

    backends = {name: FakeBackend(name) for name in ("llama-70b", "llama-8b", "embeddings", "anthropic", "openai")}
    config = yaml.safe_load(config_map["data"]["config.yaml"])
    for entry in config["model_list"]:  # in-cluster Service -> its fake on loopback
        base = entry["litellm_params"].get("api_base")
        if base:
            service = base.removeprefix("http://").split(".")[0]
            entry["litellm_params"]["api_base"] = backends[service].url + "/v1"
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "fallback_guard.py").write_text(config_map["data"]["fallback_guard.py"])

    key = "sk-live-" + secrets.token_hex(16)
    values = {"LITELLM_MASTER_KEY": key, "VLLM_API_KEY": key, "ANTHROPIC_API_KEY": "sk-ant-fake", "OPENAI_API_KEY": "sk-openai-fake"}
    env = {name: values[name] for name in (e["name"] for e in container["env"]) if name in values}
    env |= {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert set(values) <= set(env), f"the Deployment does not pass {set(values) - set(env)}"
    env |= {
        "PATH": os.environ["PATH"],
        "HOME": str(folder),
        "ANTHROPIC_API_BASE": backends["anthropic"].url,  # the hosted APIs, faked on loopback
        "OPENAI_API_BASE": backends["openai"].url + "/v1",
    }
    proxy = Proxy(folder, env)
    try:
        MEASURED["startup_s"] = proxy.wait_ready()
        yield Router(proxy, key, backends, config)
    finally:
        proxy.stop()
        for backend in backends.values():
            backend.stop()
        print("\nrouter live measurements:", json.dumps({k: round(v, 2) for k, v in MEASURED.items()}))
        print("router live answers:", json.dumps(SEEN))


# --- routes, auth --------------------------------------------------------------------------------


def test_clients_need_the_master_key(router):
    chat = {"model": "llama-70b", "messages": [{"role": "user", "content": "hi"}]}
    for path, body in (("/v1/chat/completions", chat), ("/v1/models", None), ("/metrics/", None)):
        status, answer = router.request(path, body, key=None)
        assert status == 401, (path, status, answer[:200])
        # A wrong key is taken for a virtual key, which needs LiteLLM's database: refused with 400 "No connected db."
        status, answer = router.request(path, body, key="sk-wrong-key-000")
        assert status in (400, 401), (path, status, answer[:200])
    assert not [c for c in router.backends["llama-70b"].calls if c.path.endswith("/chat/completions")]


def test_each_model_and_adapter_reaches_its_vllm_with_the_backend_key(router):
    for route, backend in (("llama-70b", "llama-70b"), ("support-tone", "llama-70b"), ("sql-assistant", "llama-70b"), ("llama-8b", "llama-8b")):
        text, _ = router.answer(route)
        assert text == f"answer from {backend}", route
        call = router.backends[backend].calls[-1]
        assert call.model == route and call.authorization == f"Bearer {router.key}"


def test_embeddings_reach_tei(router):
    status, body = router.request("/v1/embeddings", {"model": "bge-m3", "input": ["a", "b"]})
    assert status == 200, body
    assert len(json.loads(body)["data"]) == 2 and router.backends["embeddings"].served("/embeddings") == 1


def test_a_hosted_model_is_a_route_of_its_own(router):
    text, _ = router.answer("frontier")
    assert text == "answer from anthropic"
    call = router.backends["anthropic"].calls[-1]
    assert call.path == "/v1/messages" and call.model == "claude-sonnet-4-5" and call.authorization == "sk-ant-fake"


def test_clients_cannot_call_the_fallback_routes(router):
    hidden = [e["model_name"] for e in router.config["model_list"] if e["model_name"].startswith(FALLBACK_PREFIX)]
    assert sorted(hidden) == ["hosted-fallback:anthropic/claude-3-5-sonnet-20240620", "hosted-fallback:openai/gpt-4o-mini"]
    before = len(router.backends["anthropic"].calls) + len(router.backends["openai"].calls)
    for name in hidden:
        status, body, _ = router.chat(name)
        assert status == 404, body
        SEEN["fallback_route_called_directly"] = json.dumps(body)[:200]
    assert len(router.backends["anthropic"].calls) + len(router.backends["openai"].calls) == before


# --- fallback ------------------------------------------------------------------------------------


def fallback_after(router: Router, mode: str, route: str, backend: str, hosted: str) -> tuple[float, int]:
    """Break `backend`, ask `route`; the hosted fake must answer. Returns (seconds, attempts on backend)."""
    primary = router.backends[backend]
    calls = len(primary.calls)
    primary.set(mode)
    try:
        text, seconds = router.answer(route)
    finally:
        primary.set("ok")
    assert text == f"answer from {hosted}", (mode, route)
    return seconds, len(primary.calls) - calls


def test_a_5xx_falls_back_after_the_configured_retries(router):
    seconds, attempts = fallback_after(router, "fail500", "support-tone", "llama-70b", "anthropic")
    MEASURED["fallback_on_500_s"] = seconds
    # LiteLLM backs off before retrying a route with one deployment (litellm.calculate_retry_after: 0.5-8 s).
    assert attempts == 1 + RETRIES and seconds < 8


def test_a_429_falls_back_at_once(router):
    seconds, attempts = fallback_after(router, "fail429", "sql-assistant", "llama-70b", "anthropic")
    MEASURED["fallback_on_429_s"] = seconds
    assert attempts == 1 and seconds < 2


def test_a_hang_falls_back_after_one_timeout_to_the_models_own_fallback(router):
    seconds, attempts = fallback_after(router, "hang", "llama-8b", "llama-8b", "openai")
    MEASURED["fallback_on_hang_s"] = seconds
    assert attempts == 1 and TIMEOUT - 0.1 < seconds < TIMEOUT + 1.5


def test_a_failing_model_is_cooled_down_for_cooldown_seconds_then_recovers(router):
    primary = router.backends["llama-70b"]
    primary.set("fail500")
    try:
        for _ in range(ALLOWED_FAILS + 1):  # LiteLLM counts one failure per failed request (retries included)
            cooled_at = time.monotonic()  # the cooldown starts at the first failed attempt of the last request
            assert router.answer("llama-70b")[0] == "answer from anthropic"
    finally:
        primary.set("ok")
    calls = len(primary.calls)
    assert router.answer("llama-70b")[0] == "answer from anthropic"  # healthy again, but cooled down: skipped
    time.sleep(max(0.0, cooled_at + COOLDOWN - 1 - time.monotonic()))
    assert router.answer("llama-70b")[0] == "answer from anthropic"  # a second before the cooldown ends: still skipped
    assert len(primary.calls) == calls
    while router.answer("llama-70b")[0] != "answer from llama-70b":
        assert time.monotonic() - cooled_at < COOLDOWN + 3, "the model was not used again after its cooldown"
        time.sleep(0.2)
    MEASURED["back_after_cooldown_s"] = time.monotonic() - cooled_at
    assert MEASURED["back_after_cooldown_s"] >= COOLDOWN - 1


# --- streaming -----------------------------------------------------------------------------------


def stream(router: Router, model: str) -> tuple[int, list[str]]:
    body = json.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()
    req = urllib.request.Request(router.proxy.url + "/v1/chat/completions", data=body, headers={"Authorization": f"Bearer {router.key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as response:
        return response.status, [line.decode().strip() for line in response if line.strip()]


def test_streaming_passes_chunks_through(router):
    status, events = stream(router, "llama-8b")
    assert status == 200 and events[-1] == "data: [DONE]"
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "answer from llama-8b"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_a_backend_dying_mid_stream_reaches_the_client_as_an_error_not_a_normal_end(router):
    router.backends["llama-8b"].set("die_midstream")
    try:
        status, events = stream(router, "llama-8b")
    finally:
        router.backends["llama-8b"].set("ok")
    assert status == 200  # the headers went out with the first chunk
    payloads = [json.loads(e.removeprefix("data: ")) for e in events if e != "data: [DONE]"]
    SEEN["mid_stream_last_event"] = events[-1][:300]
    assert "data: [DONE]" not in events
    assert "error" in payloads[-1], payloads[-1]
    assert not any(p.get("choices") and p["choices"][0].get("finish_reason") == "stop" for p in payloads)


def test_when_model_and_fallback_both_hang_the_client_gets_an_error_after_two_timeouts(router):
    for name in ("llama-8b", "openai"):
        router.backends[name].set("hang")
    try:
        status, body, seconds = router.chat("llama-8b")
    finally:
        for name in ("llama-8b", "openai"):
            router.backends[name].set("ok")
    MEASURED["both_hang_error_s"] = seconds
    MEASURED["both_hang_status"] = status
    SEEN["both_hang_body"] = json.dumps(body)[:300]
    assert status >= 400 and "error" in body
    assert 2 * TIMEOUT - 0.2 < seconds < 2 * TIMEOUT + 2  # Fallback.worst_case_seconds with timeoutRetries 0


# --- metrics (last: the scenarios above have run) -------------------------------------------------


def test_metrics_carry_requests_latency_fallbacks_and_cooldowns(router):
    status, body = router.request("/metrics/")
    assert status == 200
    text = body.decode()
    for series in (
        'litellm_proxy_total_requests_metric_total{',
        'litellm_request_total_latency_metric_bucket{',
        'litellm_deployment_successful_fallbacks_total{',
        'litellm_deployment_cooled_down_total{',
        'litellm_deployment_failure_responses_total{',
        'litellm_deployment_failed_fallbacks_total{',
    ):
        assert series in text, series
    fallbacks = [line for line in text.splitlines() if line.startswith("litellm_deployment_successful_fallbacks_total{")]
    assert any('requested_model="support-tone"' in line and 'fallback_model="hosted-fallback:anthropic/' in line for line in fallbacks), fallbacks
    assert any('model_group="frontier"' in line for line in text.splitlines() if line.startswith("litellm_deployment_total_requests_total{"))
