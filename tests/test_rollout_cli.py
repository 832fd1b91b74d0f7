"""`datalint rollout`: writes a file that replays to exactly the live rollouts; clean failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from datalint.cli.rollout import rollout_command
from datalint.load import read_items_quietly
from datalint.rollout.base import SamplingParams
from datalint.rollout.replay import read_rollouts_file, replay_rollouts
from datalint.rollout.stage import obtain_rollouts

DATA = [
    {"id": "a", "prompt": "1+2=", "answer": "3"},
    {"id": "b", "prompt": "33+4=", "answer": "37"},
    {"prompt": "5+5=", "answer": "10"},
    {"prompt": "7*8=", "answer": "56"},
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    from tiny_hf_model import build_tiny_model

    torch.set_num_threads(1)
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in DATA))
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(rollout_command, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_rollout_file_replays_to_the_live_rollouts(
    tmp_path: Path, data_file: Path, model_dir: Path
) -> None:
    out = tmp_path / "rollouts.jsonl"
    code, stdout, stderr = invoke(
        str(data_file), "-o", str(out), "--model", str(model_dir), "--rollouts-per-item", "3",
        "--max-new-tokens", "8", "--seed", "5", "--cache-dir", str(tmp_path / "cache"),
    )  # fmt: skip
    assert code == 0, stderr
    assert stdout == ""  # stdout stays clean for reports
    assert "wrote rollouts for 4 items" in stderr and "4 sampled" in stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[0]["datalint"] == "rollouts"
    assert lines[0]["params"] == {
        "n": 3, "temperature": 1.0, "max_new_tokens": 8, "seed": 5, "top_p": 1.0
    }  # fmt: skip
    assert [x.get("id") for x in lines[1:]] == ["a", "b", None, None]
    assert [x["line"] for x in lines[1:]] == [1, 2, 3, 4]

    items = read_items_quietly(str(data_file))
    live = obtain_rollouts(
        items,
        backend_name="transformers",
        model=str(model_dir),
        params=SamplingParams(n=3, max_new_tokens=8, seed=5),
        rollouts_file=None,
        cache_dir=None,
        use_cache=False,
        progress=False,
    )
    replayed = replay_rollouts(items, read_rollouts_file(str(out)))
    assert replayed == live  # same completions, logprobs, entropies and token counts, exactly
    assert all(len(group) == 3 for group in live)

    # A second run is served by the cache and writes the same file.
    again = tmp_path / "again.jsonl.gz"
    code, _, stderr = invoke(
        str(data_file), "-o", str(again), "--model", str(model_dir), "--rollouts-per-item", "3",
        "--max-new-tokens", "8", "--seed", "5", "--cache-dir", str(tmp_path / "cache"),
    )  # fmt: skip
    assert code == 0 and "0 sampled, 4 from the cache" in stderr
    assert replay_rollouts(items, read_rollouts_file(str(again))) == live


def test_missing_model_is_exit_2_with_one_line(tmp_path: Path, data_file: Path) -> None:
    code, _, stderr = invoke(
        str(data_file), "-o", str(tmp_path / "r.jsonl"), "--model", str(tmp_path / "nope")
    )
    assert code == 2
    assert stderr.strip().count("\n") == 0 and "not a directory" in stderr
    assert not (tmp_path / "r.jsonl").exists()


def test_missing_data_is_exit_2(tmp_path: Path) -> None:
    code, _, stderr = invoke(str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "r.jsonl"))
    assert code == 2 and "none.jsonl" in stderr and "Traceback" not in stderr
