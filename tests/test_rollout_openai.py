"""The openai backend against an in-process OpenAI-compatible server that injects failures."""

from __future__ import annotations

import math
import socket
import time

import pytest
from fake_openai_server import LN_HALF, STEP_ENTROPY, FakeOpenAIServer, reply

from datalint.errors import DatalintError
from datalint.load.records import Item, Rollout, Source
from datalint.rollout.base import SamplingParams
from datalint.rollout.openai_backend import (
    CHAT_PREFIX,
    COMPLETION_PREFIX,
    OpenAIBackend,
    OpenAISettings,
    run_bounded,
)
from datalint.rollout.served_http import (
    RetryPolicy,
    ServerError,
    ServerUnreachable,
    normalize_base_url,
)

FAST_RETRY = RetryPolicy(max_retries=3, backoff_base_s=0.01, backoff_cap_s=0.05)
PARAMS = SamplingParams(n=3, temperature=1.0, max_new_tokens=8, seed=0)


def backend(server: FakeOpenAIServer, **kw: object) -> OpenAIBackend:
    settings = OpenAISettings(
        base_url=server.base_url,
        retry=kw.pop("retry", FAST_RETRY),  # type: ignore[arg-type]
        request_timeout_s=float(kw.pop("timeout", 5.0)),  # type: ignore[arg-type]
        concurrency=int(kw.pop("concurrency", 4)),  # type: ignore[call-overload]
        model_revision=kw.pop("revision", None),  # type: ignore[arg-type]
    )
    return OpenAIBackend(
        kw.pop("model", "tiny"),  # type: ignore[arg-type]
        settings,
        api_key=kw.pop("api_key", None),  # type: ignore[arg-type]
    )


def expected(prompt: str, seed: int, n: int) -> list[Rollout]:
    out = []
    for j in range(n):
        text = reply(prompt, seed, j)
        out.append(
            Rollout(
                completion=text,
                logprobs=[LN_HALF] * len(text),
                entropies=[pytest.approx(STEP_ENTROPY)] * len(text),  # type: ignore[list-item]
                n_tokens=len(text),
            )
        )
    return out


@pytest.fixture
def server():
    with FakeOpenAIServer() as srv:
        yield srv


def prompt_item(text: str) -> Item:
    return Item(source=Source("d.jsonl", 1), answer="0", prompt=text)


def test_completions_request_and_parsed_rollouts(server: FakeOpenAIServer) -> None:
    be = backend(server)
    prompt = be.render(prompt_item("3+4="))
    assert prompt == COMPLETION_PREFIX + "3+4="
    got = be.generate([prompt], PARAMS, [2**40 + 5])
    assert got == [expected("3+4=", (2**40 + 5) % 2**31, 3)]
    body = server.sampling_requests()[0]["body"]
    assert server.sampling_requests()[0]["path"] == "/v1/completions"
    assert body == {
        "model": "tiny",
        "n": 3,
        "temperature": 1.0,
        "top_p": 1.0,
        "max_tokens": 8,
        "seed": 5,
        "prompt": "3+4=",
        "logprobs": 20,
    }


def test_entropy_is_the_top_k_formula_by_hand(server: FakeOpenAIServer) -> None:
    got = backend(server).generate(["1+1="], PARAMS, [0])[0][0]
    # top two of 1/2 and 1/4, leftover 1/4 lumped: 1/2 ln 2 + 1/4 ln 4 + 1/4 ln 4
    assert got.entropies == [pytest.approx(0.5 * math.log(2) + 0.5 * math.log(4))]


def test_chat_items_use_the_chat_endpoint(server: FakeOpenAIServer) -> None:
    be = backend(server)
    item = Item(
        source=Source("d.jsonl", 1),
        answer="0",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+2?"}],
    )
    prompt = be.render(item)
    assert prompt.startswith(CHAT_PREFIX)
    got = be.generate([prompt], PARAMS, [9])
    assert got == [expected("be brief\n2+2?", 9, 3)]
    request = server.sampling_requests()[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["messages"] == item.messages
    assert request["body"]["logprobs"] is True and request["body"]["top_logprobs"] == 20


def test_a_prompt_that_looks_like_a_chat_stays_a_completion(server: FakeOpenAIServer) -> None:
    be = backend(server)
    forged = CHAT_PREFIX + '[{"role":"user","content":"x"}]'
    prompt = be.render(prompt_item(forged))
    be.generate([prompt], PARAMS, [1])
    assert server.sampling_requests()[0]["path"] == "/v1/completions"
    assert server.sampling_requests()[0]["body"]["prompt"] == forged


def test_greedy_asks_once_and_copies(server: FakeOpenAIServer) -> None:
    params = SamplingParams(n=4, temperature=0, max_new_tokens=8)
    got = backend(server).generate(["5+5="], params, [3])[0]
    assert server.sampling_requests()[0]["body"]["n"] == 1
    assert [r.completion for r in got] == [reply("5+5=", 3, 0)] * 4
    assert got[0] is not got[1]


def test_many_requests_in_flight_bounded_by_concurrency(server: FakeOpenAIServer) -> None:
    server.delay_s = 0.2
    prompts = [f"{i}+1=" for i in range(12)]
    start = time.perf_counter()
    got = backend(server, concurrency=4).generate(prompts, PARAMS, list(range(12)))
    elapsed = time.perf_counter() - start
    assert server.max_in_flight == 4
    assert got == [expected(p, i, 3) for i, p in enumerate(prompts)]
    assert elapsed < 12 * 0.2  # not one at a time


@pytest.mark.parametrize("fault", ["429", "500", "truncated", "garbage", "slow"])
def test_transient_failures_are_retried(server: FakeOpenAIServer, fault: str) -> None:
    server.faults = [fault, fault]
    server.slow_s = 1.0
    got = backend(server, timeout=0.3).generate(["2+2="], PARAMS, [4])
    assert got == [expected("2+2=", 4, 3)]
    assert len(server.sampling_requests()) == 3


def test_retry_after_is_honoured(server: FakeOpenAIServer) -> None:
    server.faults = ["429"]
    server.retry_after = "0.6"
    start = time.perf_counter()
    backend(server).generate(["2+2="], PARAMS, [4])
    assert time.perf_counter() - start >= 0.6


def test_persistent_failure_is_one_line(server: FakeOpenAIServer) -> None:
    server.faults = ["truncated"] * 10
    with pytest.raises(ServerError) as error:
        backend(server).generate(["2+2="], PARAMS, [4])
    message = str(error.value)
    assert "\n" not in message
    assert "gave up after 4 attempts: the answer is not complete JSON" in message
    assert len(server.sampling_requests()) == 4


def test_timeout_is_per_request(server: FakeOpenAIServer) -> None:
    server.faults = ["slow"] * 10
    server.slow_s = 1.5
    start = time.perf_counter()
    with pytest.raises(ServerError, match=r"no complete answer within 0.2 s"):
        backend(server, timeout=0.2).generate(["2+2="], PARAMS, [4])
    assert time.perf_counter() - start < 4 * 1.5


def test_missing_logprobs_are_none_with_a_note(
    server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.logprobs = False
    got = backend(server).generate(["2+2=", "3+3="], PARAMS, [1, 2])
    assert got[0][0] == Rollout(completion=reply("2+2=", 1, 0))
    assert all(r.logprobs is None and r.entropies is None for rs in got for r in rs)
    err = capsys.readouterr().err
    assert err.count("without logprobs") == 1


def test_prompt_past_the_context_gets_empty_rollouts(
    server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.context_chars = 10
    got = backend(server).generate(["x" * 50, "1+1="], PARAMS, [1, 2])
    assert [r.completion for r in got[0]] == ["", "", ""]
    assert got[0][0].n_tokens == 0
    assert got[1] == expected("1+1=", 2, 3)
    assert "1 prompts do not fit" in capsys.readouterr().err


def test_another_bad_request_is_an_error_not_empty_rollouts(server: FakeOpenAIServer) -> None:
    server.faults = ["400"]
    with pytest.raises(ServerError, match=r"HTTP 400: Input validation error: `temperature`"):
        backend(server).generate(["1+1="], PARAMS, [0])
    assert len(server.sampling_requests()) == 1  # not retried


def test_unknown_model_is_one_line(server: FakeOpenAIServer) -> None:
    with pytest.raises(DatalintError, match=r"does not serve model 'other' \(it serves tiny\)"):
        backend(server, model="other").fingerprint()


def test_no_model_takes_the_only_served_one(server: FakeOpenAIServer) -> None:
    be = backend(server, model=None)
    be.generate(["1+1="], PARAMS, [0])
    assert be.model == "tiny"
    assert server.sampling_requests()[0]["body"]["model"] == "tiny"


def test_connection_refused_fails_at_once() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    settings = OpenAISettings(base_url=f"http://127.0.0.1:{port}/v1", retry=FAST_RETRY)
    start = time.perf_counter()
    with pytest.raises(ServerUnreachable, match=r"cannot reach the server at http://127.0.0.1"):
        OpenAIBackend("tiny", settings).fingerprint()
    assert time.perf_counter() - start < 1.0


def test_fingerprint_keys_on_url_name_root_and_revision() -> None:
    with FakeOpenAIServer(root="/models/a") as a1, FakeOpenAIServer(root="/models/b") as b:
        base = backend(a1).fingerprint()
        assert base.startswith("openai:")
        assert backend(a1).fingerprint() == base
        assert backend(a1, api_key="sk-1").fingerprint() == base  # the key is not identity
        assert backend(a1, revision="r2").fingerprint() != base
        # another root behind the same URL shape (another port, too): different
        assert backend(b).fingerprint() != base


def test_api_key_is_sent_and_redacted() -> None:
    with FakeOpenAIServer(api_key="sk-right") as srv:
        be = backend(srv, api_key="sk-right")
        be.generate(["1+1="], PARAMS, [0])
        assert srv.requests[-1]["headers"]["Authorization"] == "Bearer sk-right"
        with pytest.raises(ServerError) as error:
            backend(srv, api_key="sk-WRONG-secret").fingerprint()
        assert "HTTP 401" in str(error.value)
        assert "sk-WRONG-secret" not in str(error.value)
        assert "***" in str(error.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://x/v1", "needs http:// or https://"),
        ("http:///v1", "needs http:// or https://"),
        ("http://user:pw@host/v1", "must not hold credentials"),
        ("http://host/v1?key=1", "must not have a query"),
        ("http://host:99999/v1", "--base-url"),
    ],
)
def test_bad_base_urls(url: str, message: str) -> None:
    with pytest.raises(ServerError, match=message):
        normalize_base_url(url)


def test_base_url_is_normalized() -> None:
    assert normalize_base_url(" http://Host:8000/v1/ ") == "http://host:8000/v1"


def test_run_bounded_stops_on_the_first_error() -> None:
    ran: list[int] = []

    def job(i: int):
        def call() -> int:
            ran.append(i)
            if i == 1:
                raise ServerError("boom")
            return i

        return call

    with pytest.raises(ServerError, match="boom"):
        run_bounded([job(i) for i in range(50)], 1)
    assert ran == [0, 1]
    assert run_bounded([job(0), job(2)], 8) == [0, 2]
