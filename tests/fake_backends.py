"""Fake model servers on loopback for the live router test: an OpenAI-compatible one (vLLM's and TEI's
API: chat completions, streamed or not, and embeddings) and an Anthropic-compatible one (Messages API).

Each server listens on 127.0.0.1 on a free port, serves from daemon threads, and stops itself after
`lifetime` seconds whatever happens to the test. Its behaviour is switched at run time (`mode`):
  ok            answer normally
  fail500       HTTP 500
  fail429       HTTP 429
  hang          accept the request and answer nothing (until `hang_seconds` or the server stops)
  die_midstream stream two chunks, then drop the connection without ending the chunked body (what a
                vLLM pod killed mid-answer looks like on the wire)
Every request is recorded (path, model, Authorization header) so a test can see which backend served.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("ok", "fail500", "fail429", "hang", "die_midstream")


@dataclass
class Call:
    path: str
    model: str | None
    authorization: str | None
    stream: bool


@dataclass
class FakeBackend:
    """One fake server. `name` goes into every answer, so a client can tell who answered."""

    name: str
    mode: str = "ok"
    hang_seconds: float = 10.0
    lifetime: float = 120.0
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stopped = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        self._deadline = threading.Timer(self.lifetime, self.stop)
        self._deadline.daemon = True
        self._deadline.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def set(self, mode: str) -> None:
        assert mode in MODES, mode
        self.mode = mode

    def served(self, path: str = "") -> int:
        return sum(1 for c in self.calls if c.path.endswith(path))

    def stop(self) -> None:
        if not self._stopped.is_set():
            self._stopped.set()
            self._deadline.cancel()
            self._server.shutdown()
            self._server.server_close()

    def hang(self) -> None:
        self._stopped.wait(self.hang_seconds)


def _chat_answer(backend: str, model: str) -> dict:
    return {
        "id": f"chatcmpl-{backend}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": f"answer from {backend}"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


def _chunk(backend: str, model: str, content: str, finish: str | None = None) -> bytes:
    delta = {"content": content} if content else {}
    body = {"id": f"chatcmpl-{backend}", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


def _anthropic_answer(backend: str, model: str) -> dict:
    return {
        "id": f"msg_{backend}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": f"answer from {backend}"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 3},
    }


class _Handler(BaseHTTPRequestHandler):
    backend: FakeBackend  # set per server by _handler_for
    protocol_version = "HTTP/1.1"  # chunked streaming, as uvicorn serves vLLM

    def log_message(self, *args) -> None:  # quiet
        pass

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def do_GET(self) -> None:
        self.backend.calls.append(Call(self.path, None, self.headers.get("Authorization"), False))
        self._json(200, {"object": "list", "data": [{"id": self.backend.name, "object": "model"}]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        model = request.get("model")
        stream = bool(request.get("stream"))
        auth = self.headers.get("Authorization") or self.headers.get("x-api-key")
        self.backend.calls.append(Call(self.path, model, auth, stream))
        mode = self.backend.mode
        if mode == "fail500":
            return self._json(500, {"error": {"message": f"{self.backend.name} failed", "type": "internal_error"}})
        if mode == "fail429":
            return self._json(429, {"error": {"message": f"{self.backend.name} overloaded", "type": "rate_limit"}})
        if mode == "hang":
            self.backend.hang()
            self.close_connection = True
            return
        if self.path.endswith("/embeddings"):
            inputs = request.get("input")
            items = inputs if isinstance(inputs, list) else [inputs]
            data = [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(len(items))]
            return self._json(200, {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": 2, "total_tokens": 2}})
        if self.path.endswith("/messages"):
            return self._json(200, _anthropic_answer(self.backend.name, model))
        if not stream:
            return self._json(200, _chat_answer(self.backend.name, model))
        return self._stream(model, mode)

    def _stream(self, model: str | None, mode: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._write_chunk(_chunk(self.backend.name, model, "answer "))
        self._write_chunk(_chunk(self.backend.name, model, f"from {self.backend.name}"))
        if mode == "die_midstream":
            time.sleep(0.2)
            self.close_connection = True
            self.connection.shutdown(2)  # no terminating chunk: the body is cut off
            return
        self._write_chunk(_chunk(self.backend.name, model, "", finish="stop"))
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _handler_for(backend: FakeBackend) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"backend": backend})
