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
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("datalint-*.whl")
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    proc = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return venv


def test_wheel_ships_rules_and_pretrained(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("datalint-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped_rules = sorted(p.name for p in (REPO / "rules").glob("*.toml"))
    packaged = sorted(Path(n).name for n in names if n.startswith("datalint/_data/rules/"))
    assert packaged == shipped_rules
    assert "datalint/schema/item.schema.json" in names
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
        rollouts = [{"completion": str(r), "reward": r} for r in rewards]
        rows.append(
            {"prompt": f"{i}+{i}=", "answer": str(2 * i), "cohort": "c1", "rollouts": rollouts}
        )
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = run(core_venv, "check", str(data), "--format", "json", cwd=tmp_path)
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
