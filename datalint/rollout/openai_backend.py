"""The served-model backend: rollouts from an OpenAI-compatible server (vLLM, SGLang, TGI, ...).

Prompt items go to ``POST {base}/completions`` and chat items (``messages``) to
``POST {base}/chat/completions``, one request per item carrying ``n``, ``temperature``,
``top_p``, ``max_tokens``, ``seed`` and top-K ``logprobs``; up to ``concurrency`` requests are in
flight at once (threads; the work is waiting on the network). Standard library only.

What comes back is data: a completion is graded by our verifiers like any other, and nothing in
an answer chooses what datalint does. Logprobs are optional on the wire: when the server sends
none, the rollout has none and the logprob features are missing (null), with one note. The
entropy is computed from the top-K logprobs as with the vLLM backend, a lower bound on the true
entropy (see ``vllm_backend.topk_entropy``).

Cache identity (``fingerprint``): the base URL, the served model name, the identity the server
reports for it in ``GET {base}/models`` (vLLM's ``root``: the path or hub id it loaded, and its
``max_model_len``) and the user's ``--model-revision``. docs/rollouts.md says what this can and
cannot tell apart. The API key is never part of it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from datalint.errors import DatalintError
from datalint.load.records import Item, Rollout
from datalint.rollout.base import SamplingParams, empty_rollout, warn_no_room
from datalint.rollout.served_http import (
    JsonClient,
    RetryPolicy,
    ServerError,
    ServerRejected,
    normalize_base_url,
    printable,
)
from datalint.rollout.vllm_backend import topk_entropy

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_CONCURRENCY = 8
DEFAULT_REQUEST_TIMEOUT_S = 300.0
DEFAULT_TOP_LOGPROBS = 20

# Rendered prompts carry their endpoint, so a plain prompt can never pass for a chat and the two
# never share a cache row.
COMPLETION_PREFIX = "completion\0"
CHAT_PREFIX = "chat\0"

# How servers say a prompt leaves no room for the completion (vLLM and OpenAI: "maximum context
# length"; vLLM: "'max_tokens' is too large"; TGI: "tokens + `max_new_tokens` must be <= N").
# Any other 400 is a real error: it must never turn into silently empty rollouts.
_NO_ROOM = re.compile(
    r"maximum context length|max_tokens.{0,3} is too large|"
    r"tokens \+ `?max_new_tokens`? must be <=",
    re.IGNORECASE,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OpenAISettings:
    """What ``--backend openai`` needs besides ``--model``; the key is read from the environment
    only when the backend is made, and is never stored here."""

    base_url: str | None = None
    api_key_env: str | None = None  # None: OPENAI_API_KEY if it is set
    concurrency: int = DEFAULT_CONCURRENCY
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    model_revision: str | None = None
    top_logprobs: int = DEFAULT_TOP_LOGPROBS
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def read_api_key(env_name: str | None) -> str | None:
    if env_name is None:
        return os.environ.get(DEFAULT_API_KEY_ENV) or None
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env_name):
        raise DatalintError(f"--api-key-env {env_name!r}: not an environment variable name")
    value = os.environ.get(env_name)
    if not value:
        raise DatalintError(f"--api-key-env {env_name}: that environment variable is not set")
    return value


class OpenAIBackend:
    name = "openai"

    def __init__(
        self, model: str | None, settings: OpenAISettings, *, api_key: str | None = None
    ) -> None:
        if not settings.base_url:
            raise DatalintError(
                "--backend openai needs --base-url (the server's URL including /v1)"
            )
        if settings.concurrency < 1:
            raise DatalintError("--concurrency must be at least 1")
        self.base_url = normalize_base_url(settings.base_url)
        self.model = model
        self.settings = settings
        self.hash_memo = None  # nothing local to hash
        # Big chunks keep every connection busy; a kill loses at most one chunk.
        self.chunk_rows = max(1024, 64 * settings.concurrency)
        self._client = JsonClient(
            self.base_url,
            api_key=api_key,
            timeout_s=settings.request_timeout_s,
            retry=settings.retry,
        )
        self._fingerprint: str | None = None
        self._identity: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._warned_no_logprobs = False

    # -- identity ------------------------------------------------------------------------------
    def served_identity(self) -> dict[str, Any]:
        """What the cache key is made of (no secret in it): asks the server once."""
        if self._identity is None:
            models = self._served_models()
            if self.model is None:
                if len(models) != 1:
                    names = ", ".join(printable(m, 60) for m in models) or "none"
                    raise DatalintError(
                        f"--backend openai needs --model: the server at {self.base_url} "
                        f"serves {names}"
                    )
                self.model = next(iter(models))
            entry = models.get(self.model) if models else None
            if models and entry is None:
                names = ", ".join(printable(m, 60) for m in models)
                raise DatalintError(
                    f"the server at {self.base_url} does not serve model {self.model!r} "
                    f"(it serves {names})"
                )
            entry = entry or {}
            root = entry.get("root")
            max_len = entry.get("max_model_len")
            self._identity = {
                "base_url": self.base_url,
                "model": self.model,
                "root": root if isinstance(root, str) else None,
                "max_model_len": max_len if _is_int(max_len) else None,
                "revision": self.settings.model_revision,
            }
        return self._identity

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            canonical = json.dumps(self.served_identity(), sort_keys=True, ensure_ascii=True)
            self._fingerprint = f"openai:{hashlib.sha256(canonical.encode()).hexdigest()}"
        return self._fingerprint

    def label(self) -> str:
        """A human name for this model in ``datalint cache info``."""
        identity = self.served_identity()
        revision = f"@{identity['revision']}" if identity["revision"] else ""
        return f"{identity['model']}{revision} at {self.base_url}"

    def _served_models(self) -> dict[str, dict[str, Any]]:
        """id -> entry from GET /models; empty when the server has no such endpoint."""
        try:
            listing = self._client.get("/models")
        except ServerRejected as error:
            if error.status in (404, 405, 501):
                print(
                    f"datalint: note: {self.base_url} has no /models endpoint; the cache keys on "
                    "the URL, the model name and --model-revision only",
                    file=sys.stderr,
                )
                return {}
            raise
        data = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(data, list):
            raise ServerError(f"{self.base_url}/models: the answer has no 'data' list")
        return {
            entry["id"]: entry
            for entry in data
            if isinstance(entry, dict) and isinstance(entry.get("id"), str)
        }

    # -- prompts -------------------------------------------------------------------------------
    def render(self, item: Item) -> str:
        if item.prompt is None and item.messages:
            messages = [
                {"role": str(m.get("role", "user")), "content": str(m.get("content", ""))}
                for m in item.messages
            ]
            return CHAT_PREFIX + json.dumps(messages, ensure_ascii=False, separators=(",", ":"))
        return COMPLETION_PREFIX + item.prompt_text

    def generate(
        self, prompts: list[str], params: SamplingParams, seeds: list[int]
    ) -> list[list[Rollout]]:
        if len(prompts) != len(seeds):
            raise ValueError("one seed per prompt is needed")
        if not prompts:
            return []
        self.served_identity()  # resolves --model before the first request
        jobs = [self._job(p, params, s) for p, s in zip(prompts, seeds, strict=True)]
        answers = run_bounded(jobs, self.settings.concurrency)
        warn_no_room(sum(1 for a in answers if a is None))
        results: list[list[Rollout]] = []
        for answer in answers:
            if answer is None:
                results.append([empty_rollout() for _ in range(params.n)])
                continue
            if params.temperature == 0:  # one greedy answer, copied: servers may refuse n > 1
                answer = [_copy(answer[0]) for _ in range(params.n)]
            results.append(answer)
        if not self._warned_no_logprobs and any(
            r.logprobs is None for rollouts in results for r in rollouts
        ):
            self._warned_no_logprobs = True
            print(
                f"datalint: note: {self.base_url} returned rollouts without logprobs; "
                "their logprob features are missing (null)",
                file=sys.stderr,
            )
        return results

    def _job(
        self, prompt: str, params: SamplingParams, seed: int
    ) -> Callable[[], list[Rollout] | None]:
        greedy = params.temperature == 0
        body: dict[str, Any] = {
            "model": self.model,
            "n": 1 if greedy else params.n,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_new_tokens,
            "seed": seed % (2**31),
        }
        want = 1 if greedy else params.n
        top_k = self.settings.top_logprobs
        if prompt.startswith(CHAT_PREFIX):
            body["messages"] = json.loads(prompt[len(CHAT_PREFIX) :])
            body["logprobs"] = True
            body["top_logprobs"] = top_k
            path, parse = "/chat/completions", _chat_choice
        else:
            body["prompt"] = prompt.removeprefix(COMPLETION_PREFIX)
            body["logprobs"] = top_k
            path, parse = "/completions", _completion_choice

        def call() -> list[Rollout] | None:
            try:
                answer = self._client.post(path, body)
            except ServerRejected as error:
                if error.status == 400 and _NO_ROOM.search(error.detail):
                    return None
                raise
            try:
                return _parse_choices(answer, want, lambda c: parse(c, top_k))
            except ValueError as error:
                raise ServerError(
                    f"{self.base_url}{path}: the answer is not a completion ({error})"
                ) from None

        return call


def run_bounded(jobs: list[Callable[[], T]], concurrency: int) -> list[T]:
    """Runs the jobs on at most ``concurrency`` daemon threads, results in order.

    The first failure stops new jobs from starting and is raised once the running ones end.
    Daemon threads, so Ctrl-C never waits for requests in flight.
    """
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []
    lock = threading.Lock()
    queue = iter(enumerate(jobs))

    def worker() -> None:
        while True:
            with lock:
                if errors:
                    return
                nxt = next(queue, None)
            if nxt is None:
                return
            index, job = nxt
            try:
                results[index] = job()
            except BaseException as error:
                with lock:
                    errors.append(error)
                return

    threads = [
        threading.Thread(target=worker, daemon=True, name=f"datalint-request-{i}")
        for i in range(min(concurrency, len(jobs)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


# -- parsing the answers: validate every field we read, trust none --------------------------------
def _parse_choices(
    answer: Any, want: int, parse: Callable[[dict[str, Any]], Rollout]
) -> list[Rollout]:
    if not isinstance(answer, dict) or not isinstance(answer.get("choices"), list):
        raise ValueError("no 'choices' list")
    choices = answer["choices"]
    if len(choices) != want or not all(isinstance(c, dict) for c in choices):
        raise ValueError(f"{len(choices)} choices where {want} were asked for")
    indices = [c.get("index", i) for i, c in enumerate(choices)]
    if sorted(indices) == list(range(want)):
        choices = [c for _, c in sorted(zip(indices, choices, strict=True), key=lambda p: p[0])]
    return [parse(c) for c in choices]


def _completion_choice(choice: dict[str, Any], top_k: int) -> Rollout:
    text = choice.get("text")
    if not isinstance(text, str):
        raise ValueError("a choice has no 'text'")
    raw = choice.get("logprobs")
    if not isinstance(raw, dict):
        return Rollout(completion=text)
    logprobs = _numbers(raw.get("token_logprobs"))
    tops = raw.get("top_logprobs")
    entropies = None
    if isinstance(tops, list) and logprobs is not None and len(tops) == len(logprobs):
        steps = [_numbers(list(t.values())) if isinstance(t, dict) else None for t in tops]
        entropies = _entropies(steps, top_k)
    return _rollout(text, logprobs, entropies)


def _chat_choice(choice: dict[str, Any], top_k: int) -> Rollout:
    message = choice.get("message")
    if not isinstance(message, dict):
        raise ValueError("a choice has no 'message'")
    content = message.get("content")
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise ValueError("a message 'content' is not a string")
    raw = choice.get("logprobs")
    tokens = raw.get("content") if isinstance(raw, dict) else None
    if not isinstance(tokens, list) or not all(isinstance(t, dict) for t in tokens):
        return Rollout(completion=content)
    logprobs = _numbers([t.get("logprob") for t in tokens])
    steps: list[list[float] | None] = []
    for token in tokens:
        top = token.get("top_logprobs")
        if not isinstance(top, list):
            steps.append(None)
            continue
        steps.append(_numbers([t.get("logprob") if isinstance(t, dict) else None for t in top]))
    return _rollout(content, logprobs, _entropies(steps, top_k))


def _rollout(text: str, logprobs: list[float] | None, entropies: list[float] | None) -> Rollout:
    return Rollout(
        completion=text,
        logprobs=logprobs,
        entropies=entropies,
        n_tokens=None if logprobs is None else len(logprobs),
    )


def _entropies(steps: list[list[float] | None], top_k: int) -> list[float] | None:
    """Per-step top-K entropy; None unless every step has its top logprobs.

    A server may add the sampled token to the top K when it ranks below them; the K largest are
    the top K either way.
    """
    if not steps or any(not step for step in steps):
        return None
    entropies = []
    for step in steps:
        assert step is not None
        top = sorted((v for v in step if v <= 0.0), reverse=True)[:top_k]
        entropies.append(topk_entropy(top) if top else float("nan"))
    return entropies


def _numbers(values: Any) -> list[float] | None:
    """Floats from a list of JSON numbers; None if it is not one (a null is -inf: no mass)."""
    if not isinstance(values, list):
        return None
    out: list[float] = []
    for value in values:
        if value is None:
            out.append(-math.inf)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out.append(float(value))
        else:
            return None
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _copy(rollout: Rollout) -> Rollout:
    return Rollout(
        completion=rollout.completion,
        logprobs=None if rollout.logprobs is None else list(rollout.logprobs),
        entropies=None if rollout.entropies is None else list(rollout.entropies),
        n_tokens=rollout.n_tokens,
    )
