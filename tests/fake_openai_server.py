"""An in-process OpenAI-compatible server (completions, chat, models) that injects failures.

``FakeOpenAIServer`` listens on 127.0.0.1 at a random port in a thread. Its answers are
deterministic, so tests compute the expected rollouts by hand:

- a completion of prompt P with seed S, sample j, is ``reply(P, S, j)`` (one digit);
- each character is one token with logprob ln(1/2) and top logprobs {token: ln 1/2, "~": ln 1/4},
  so each step's top-K entropy is 1/2 ln 2 + 1/4 ln 4 + (leftover 1/4) ln 4 = 1.5 ln 2;
- a prompt longer than ``context_chars`` gets vLLM's 400 "maximum context length" answer.

``fixed_reply`` makes every completion that text instead.

``faults`` is a list consumed one per request to /completions or /chat/completions: "429"
(with Retry-After), "500", "slow" (answers after ``slow_s``), "truncated" (half a JSON body),
"garbage" (not JSON), "400" (a bad request), "drip" (a body one byte per 50 ms), "huge" (a
300 MiB body).
``logprobs=False`` leaves the logprobs out of every answer.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LN_HALF = math.log(0.5)
LN_QUARTER = math.log(0.25)
STEP_ENTROPY = 1.5 * math.log(2)


def reply(prompt: str, seed: int, index: int) -> str:
    digest = hashlib.sha256(f"{prompt}|{seed}|{index}".encode()).digest()
    return str(digest[0] % 10)


class FakeOpenAIServer:
    def __init__(
        self,
        *,
        model: str = "tiny",
        root: str = "/models/tiny-v1",
        api_key: str | None = None,
        logprobs: bool = True,
        context_chars: int = 10_000,
        slow_s: float = 2.0,
        retry_after: str = "0",
        delay_s: float = 0.0,
        fixed_reply: str | None = None,
    ) -> None:
        self.fixed_reply = fixed_reply
        self.model = model
        self.root = root
        self.api_key = api_key
        self.logprobs = logprobs
        self.context_chars = context_chars
        self.slow_s = slow_s
        self.retry_after = retry_after
        self.delay_s = delay_s
        self.faults: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        # A client that timed out has gone: its broken pipe is expected, not worth a traceback.
        self._httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def next_fault(self) -> str | None:
        with self._lock:
            return self.faults.pop(0) if self.faults else None

    def sampling_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] != "/v1/models"]

    # -- answers ---------------------------------------------------------------------------------
    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt, seed, n = body["prompt"], body.get("seed", 0), body.get("n", 1)
        choices = []
        for j in range(n):
            text = self.fixed_reply if self.fixed_reply is not None else reply(prompt, seed, j)
            choice: dict[str, Any] = {"index": j, "text": text, "finish_reason": "stop"}
            if self.logprobs and body.get("logprobs") is not None:
                choice["logprobs"] = {
                    "tokens": list(text),
                    "token_logprobs": [LN_HALF] * len(text),
                    "top_logprobs": [{c: LN_HALF, "~": LN_QUARTER} for c in text],
                    "text_offset": list(range(len(text))),
                }
            else:
                choice["logprobs"] = None
            choices.append(choice)
        return {
            "id": "cmpl-1",
            "object": "text_completion",
            "model": self.model,
            "choices": choices,
        }

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = "\n".join(m["content"] for m in body["messages"])
        seed, n = body.get("seed", 0), body.get("n", 1)
        choices = []
        for j in range(n):
            text = self.fixed_reply if self.fixed_reply is not None else reply(prompt, seed, j)
            choice: dict[str, Any] = {
                "index": j,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
            if self.logprobs and body.get("logprobs"):
                choice["logprobs"] = {
                    "content": [
                        {
                            "token": c,
                            "logprob": LN_HALF,
                            "top_logprobs": [
                                {"token": c, "logprob": LN_HALF},
                                {"token": "~", "logprob": LN_QUARTER},
                            ],
                        }
                        for c in text
                    ]
                }
            choices.append(choice)
        return {
            "id": "chat-1",
            "object": "chat.completion",
            "model": self.model,
            "choices": choices,
        }


def _handler(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def _flood(self, *, drip: bool) -> None:
            """A 200 that never ends: one byte every 50 ms, or 1 MiB writes of 300 MiB."""
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(300 << 20))
            self.end_headers()
            self.close_connection = True
            chunk = b" " if drip else b" " * (1 << 20)
            try:
                for _ in range(300 if not drip else 600):
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    if drip:
                        time.sleep(0.05)
            except OSError:
                pass

        def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(obj).encode(), headers)

        def _authorized(self) -> bool:
            if server.api_key is None:
                return True
            auth = self.headers.get("Authorization", "")
            if auth == f"Bearer {server.api_key}":
                return True
            # Echoes the header, as some proxies do: the client must redact it.
            self._json(401, {"error": {"message": f"bad credentials {auth!r}"}})
            return False

        def do_GET(self) -> None:
            server.requests.append(
                {"path": self.path, "body": None, "headers": dict(self.headers.items())}
            )
            if not self._authorized():
                return
            if self.path == "/v1/models":
                entry = {"id": server.model, "object": "model", "owned_by": "fake"}
                if server.root is not None:
                    entry.update(root=server.root, max_model_len=2048)
                self._json(200, {"object": "list", "data": [entry]})
            else:
                self._json(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            server.requests.append(
                {"path": self.path, "body": body, "headers": dict(self.headers.items())}
            )
            with server._lock:
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                self._answer(body)
            finally:
                with server._lock:
                    server.in_flight -= 1

        def _answer(self, body: dict[str, Any]) -> None:
            if not self._authorized():
                return
            if server.delay_s:
                time.sleep(server.delay_s)
            if body.get("model") != server.model:
                self._json(404, {"error": {"message": f"model {body.get('model')!r} not found"}})
                return
            fault = server.next_fault()
            if fault == "429":
                self._json(
                    429, {"error": {"message": "slow down"}}, {"Retry-After": server.retry_after}
                )
                return
            if fault == "400":
                message = "Input validation error: `temperature` must be strictly positive"
                self._json(400, {"error": {"message": message}})
                return
            if fault == "500":
                self._json(500, {"error": {"message": "engine hiccup"}})
                return
            if fault == "slow":
                time.sleep(server.slow_s)
            if fault in ("drip", "huge"):
                self._flood(drip=fault == "drip")
                return
            if self.path == "/v1/completions":
                text = body["prompt"]
                answer = server.completion
            elif self.path == "/v1/chat/completions":
                text = "\n".join(m["content"] for m in body["messages"])
                answer = server.chat
            else:
                self._json(404, {"error": {"message": "no such endpoint"}})
                return
            if len(text) > server.context_chars:
                self._json(
                    400,
                    {
                        "error": {
                            "message": "This model's maximum context length is 2048 tokens. "
                            "However, you requested 3000 tokens.",
                            "type": "BadRequestError",
                        }
                    },
                )
                return
            payload = json.dumps(answer(body)).encode()
            if fault == "truncated":
                payload = payload[: len(payload) // 2]
            elif fault == "garbage":
                payload = b"<html>502 bad gateway</html>"
            self._send(200, payload)

    return Handler
