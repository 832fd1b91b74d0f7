"""The built wheel, installed alone into a fresh venv (core dependencies only, no torch), works:
it finds the shipped rules and predictor through importlib.resources and lints replayed rollouts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)]
    subprocess.run([*build, str(REPO)], check=True, capture_output=True)
    (built,) = out.glob("datalint-*.whl")
    return built


@pytest.fixture(scope="module")
def core_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    proc = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return venv


def test_wheel_ships_rules_and_pretrained(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    shipped_rules = sorted(p.name for p in (REPO / "rules").glob("*.toml"))
    packaged = sorted(Path(n).name for n in names if n.startswith("datalint/_data/rules/"))
    assert packaged == shipped_rules
    assert "datalint/load/schema/item.schema.json" in names
    for p in (REPO / "pretrained").rglob("*"):
        if p.is_file():
            assert f"datalint/_data/pretrained/{p.relative_to(REPO / 'pretrained')}" in names


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(venv / "bin" / "datalint"), *args], capture_output=True, text=True, cwd=cwd, env=env
    )


def test_installed_wheel_lists_rules_without_the_checkout(core_venv: Path, tmp_path: Path) -> None:
    proc = run(core_venv, "rules", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    codes = [r["code"] for r in json.loads(proc.stdout)]
    assert codes == sorted(p.stem for p in (REPO / "rules").glob("*.toml"))
    assert run(core_venv, "rule", "S001", cwd=tmp_path).stdout.startswith("# S001 invalid-json")


def test_core_install_has_no_torch_and_lints_replayed_rollouts(
    core_venv: Path, tmp_path: Path
) -> None:
    probe = subprocess.run(
        [str(core_venv / "bin" / "python"), "-c", "import torch"], capture_output=True
    )
    assert probe.returncode != 0, "the core install must not pull torch"
    data = tmp_path / "d.jsonl"
    rows = []
    for i, rewards in enumerate([[1, 0, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 0, 0]]):
        rollouts = [{"completion": str(2 * i) if r else "x", "reward": r} for r in rewards]
        rows.append(
            {"prompt": f"{i}+{i}=", "answer": str(2 * i), "cohort": "c1", "rollouts": rollouts}
        )
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    # the data's own rollouts are ignored unless trusted: with no torch, nothing can sample
    proc = run(core_venv, "check", str(data), "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cohorts"] == []
    assert "--trust-rollouts" in proc.stderr and "datalint[hf]" in proc.stderr
    proc = run(core_venv, "check", str(data), "--format", "json", "--trust-rollouts", cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    (cohort,) = report["cohorts"]
    assert cohort["features"]["frac_nondegenerate"] == pytest.approx(0.5)
    assert cohort["features"]["mean_logprob"] is None
    assert report["summary"]["lift_score"] is not None
    # items without rollouts and no torch: the model stages are skipped, and stderr says why
    bare = tmp_path / "bare.jsonl"
    bare.write_text('{"prompt": "1+1=", "answer": "2"}\n')
    proc = run(core_venv, "check", str(bare), "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "skipped" in proc.stderr and "datalint[hf]" in proc.stderr
    proc = run(core_venv, "check", str(bare), "--require-model", cwd=tmp_path)
    assert proc.returncode == 2 and "datalint[hf]" in proc.stderr


def test_core_install_replays_a_rollouts_file_to_the_live_features(
    core_venv: Path, tmp_path: Path
) -> None:
    """The GPU-box step (`datalint rollout`, with torch) then CI (`check --rollouts`, core only)."""
    data = tmp_path / "d.jsonl"
    lines = (REPO / "examples" / "vendor.jsonl").read_text().splitlines()[:16]
    data.write_text("\n".join(lines) + "\n")
    dev = [sys.executable, "-m", "datalint"]
    common = ["--cache-dir", str(tmp_path / "cache"), "--max-new-tokens", "8"]
    made = subprocess.run(
        [*dev, "rollout", str(data), "-o", str(tmp_path / "r.jsonl"), *common],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    live = subprocess.run(
        [*dev, "check", str(data), "--format", "json", *common],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    replayed = run(
        core_venv,
        "check",
        str(data),
        "--format",
        "json",
        "--rollouts",
        str(tmp_path / "r.jsonl"),
        cwd=tmp_path,
    )
    assert replayed.returncode == live.returncode, replayed.stderr
    live_cohorts = json.loads(live.stdout)["cohorts"]
    assert json.loads(replayed.stdout)["cohorts"] == live_cohorts
    assert all(c["features"]["mean_logprob"] is not None for c in live_cohorts)
