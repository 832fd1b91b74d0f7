"""Replay: rollouts files written by `datalint rollout`, matching rules, bad files, no torch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fake_backend import fake_rollouts

from datalint.load.records import Item, Source
from datalint.rollout.base import SamplingParams, prompt_hash, rollout_to_dict
from datalint.rollout.replay import ReplayError, read_rollouts_file, replay_rollouts
from datalint.rollout.stage import obtain_rollouts

REPO = Path(__file__).resolve().parents[1]


def item(line: int, prompt: str, id_: str | None = None) -> Item:
    return Item(source=Source("data.jsonl", line), answer="0", prompt=prompt, id=id_)


def write_file(path: Path, lines: list[dict]) -> str:
    header = {"datalint": "rollouts", "version": 1, "backend": "fake", "params": {}}
    path.write_text("\n".join(json.dumps(x) for x in [header, *lines]) + "\n")
    return str(path)


def entry(prompt: str, tag: str, id_: str | None = None) -> dict:
    line: dict = {"prompt_sha256": prompt_hash(prompt)}
    if id_ is not None:
        line["id"] = id_
    line["rollouts"] = [rollout_to_dict(r) for r in fake_rollouts(tag, 0, 2)]
    return line


def test_match_by_id_else_by_prompt_hash(tmp_path: Path) -> None:
    path = write_file(
        tmp_path / "r.jsonl",
        [entry("1+1=", "by-id", "a"), entry("2+2=", "by-hash"), entry("3+3=", "unused", "c")],
    )
    items = [item(1, "2+2="), item(2, "1+1=", "a")]
    assert replay_rollouts(items, read_rollouts_file(path)) == [
        fake_rollouts("by-hash", 0, 2),
        fake_rollouts("by-id", 0, 2),
    ]


def test_duplicate_prompts_take_lines_in_order_then_share_the_last(tmp_path: Path) -> None:
    path = write_file(tmp_path / "r.jsonl", [entry("5=", "first"), entry("5=", "second")])
    out = replay_rollouts([item(1, "5="), item(2, "5="), item(3, "5=")], read_rollouts_file(path))
    assert out == [fake_rollouts(t, 0, 2) for t in ("first", "second", "second")]


def test_stale_id_and_missing_item_are_one_line_errors(tmp_path: Path) -> None:
    path = write_file(tmp_path / "r.jsonl", [entry("1+1=", "x", "a")])
    with pytest.raises(ReplayError, match=r"r\.jsonl:2: rollouts for id 'a' were made for another"):
        replay_rollouts([item(4, "1+2=", "a")], read_rollouts_file(path))
    with pytest.raises(ReplayError, match=r"no rollouts for the item at data\.jsonl:7"):
        replay_rollouts([item(7, "9+9=")], read_rollouts_file(path))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"r\.jsonl:2: invalid JSON"),
        ("[1, 2]", r"r\.jsonl:2: each line must be a JSON object"),
        ('{"id": "a"}', r"r\.jsonl:2: a line needs a 'rollouts' list"),
        ('{"id": "a", "rollouts": [{"completion": 3}]}', r"r\.jsonl:2: .*'completion'"),
        ('{"rollouts": []}', r"r\.jsonl:2: a line needs an 'id' or a 'prompt_sha256'"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"datalint": "rollouts", "version": 1}\n' + line + "\n")
    with pytest.raises(ReplayError, match=message):
        read_rollouts_file(str(path))


def test_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="cannot read rollouts file"):
        read_rollouts_file(str(tmp_path / "missing.jsonl"))
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ReplayError, match="not a UTF-8"):
        read_rollouts_file(str(binary))


def test_rollouts_without_logprobs_replay_as_missing_not_zero(tmp_path: Path) -> None:
    line = {"id": "a", "rollouts": [{"completion": "4"}, {"completion": "5", "reward": 1}]}
    path = write_file(tmp_path / "r.jsonl", [line])
    (got,) = replay_rollouts([item(1, "2+2=", "a")], read_rollouts_file(path))
    assert [r.logprobs for r in got] == [None, None]
    assert [r.entropies for r in got] == [None, None]
    assert got[1].reward == 1.0


def test_obtain_rollouts_with_a_file_never_samples(tmp_path: Path) -> None:
    path = write_file(tmp_path / "r.jsonl", [entry("1+1=", "x", "a")])
    out = obtain_rollouts(
        [item(1, "1+1=", "a")],
        backend_name="no-such-backend",  # would raise if a backend were built
        model="/nonexistent",
        params=SamplingParams(),
        rollouts_file=path,
        cache_dir=str(tmp_path / "cache"),
        use_cache=True,
        progress=False,
    )
    assert out == [fake_rollouts("x", 0, 2)]
    assert not (tmp_path / "cache").exists()


NO_TORCH = textwrap.dedent(
    """
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"torch", "transformers", "vllm"}:
                raise ImportError(f"blocked {name}")
    sys.meta_path.insert(0, Block())
    sys.path.insert(0, sys.argv[1])
    from datalint.load.records import Item, Source
    from datalint.rollout.base import SamplingParams
    from datalint.rollout.stage import obtain_rollouts
    items = [Item(source=Source("d", 1), answer="2", prompt="1+1=", id="a")]
    out = obtain_rollouts(items, backend_name="transformers", model=None, params=SamplingParams(),
                          rollouts_file=sys.argv[2], cache_dir=None, use_cache=True, progress=False)
    assert "torch" not in sys.modules
    print(out[0][0].completion)
    """
)


def test_replay_runs_with_the_core_install_alone(tmp_path: Path) -> None:
    path = write_file(tmp_path / "r.jsonl", [entry("1+1=", "x", "a")])
    script = tmp_path / "no_torch.py"
    script.write_text(NO_TORCH)
    done = subprocess.run(
        [sys.executable, str(script), str(REPO), path], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == fake_rollouts("x", 0, 2)[0].completion
